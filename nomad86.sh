#!/usr/bin/env bash
# One entry point for newcomers and CI.
#   ./nomad86.sh run [OPTIONS...]   install what is missing, build, boot the default guest
#   ./nomad86.sh test               install what is missing, build, run the whole test suite
#   ./nomad86.sh bench              build, then time the benchmark workloads
#   ./nomad86.sh build              install what is missing and build
set -euo pipefail
cd "$(dirname "$0")"

PACKAGES=(meson ninja-build g++ pkg-config nasm python3
          libasmjit-dev libzydis-dev libsdl2-dev libboost-dev doctest-dev
          zlib1g-dev gdb)

install_missing() {
    local missing=()
    for p in "${PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    echo "nomad86: installing ${missing[*]}" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

build() {
    install_missing
    if [ ! -f build/build.ninja ]; then
        meson setup build --werror --buildtype=debugoptimized >&2
    fi
    ninja -C build >&2
}

cmd="${1:-run}"
[ $# -gt 0 ] && shift
case "$cmd" in
    run)
        build
        exec build/nomad86 -nographic "$@"
        ;;
    test)
        build
        exec python3 tests/run_tests.py build "$@"
        ;;
    bench)
        build
        exec python3 bench/run_bench.py build "$@"
        ;;
    build)
        build
        ;;
    *)
        echo "usage: $0 run|test|bench|build" >&2
        exit 2
        ;;
esac
