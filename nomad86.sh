#!/usr/bin/env bash
# One entry point for newcomers and CI.
#   ./nomad86.sh run [OPTIONS...]   install what is missing, build, make the guest image
#                                   (roms/make-guest.sh, cached), boot Linux to a shell here
#   ./nomad86.sh demo [OPTIONS...]  build, boot nomad86's own demo firmware instead
#   ./nomad86.sh test               install what is missing, build, make the guest image,
#                                   run the whole test suite
#   ./nomad86.sh bench [--boot|--jit|--console|--migration]  build, then time the
#                                   benchmark workloads (--boot: Linux boot time vs
#                                   QEMU, memory, MIPS; --jit: CPU-bound jobs in Linux,
#                                   interp/jit/QEMU/native; --console: serial output
#                                   speed vs QEMU)
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
        mapfile -t guest < <(roms/make-guest.sh)
        [ ${#guest[@]} -eq 2 ] || { echo "nomad86: roms/make-guest.sh failed" >&2; exit 1; }
        echo "nomad86: booting Linux (about 10 s; the kernel unpacks itself silently for the first 3);" \
             "Ctrl-A x quits, 'poweroff' in the guest ends it" >&2
        exec build/nomad86 -m 256 -nographic -kernel "${guest[0]}" -initrd "${guest[1]}" \
            -append "console=ttyS0" "$@"
        ;;
    demo)
        build
        exec build/nomad86 -nographic "$@"
        ;;
    test)
        build
        mapfile -t guest < <(roms/make-guest.sh)
        [ ${#guest[@]} -eq 2 ] || { echo "nomad86: roms/make-guest.sh failed" >&2; exit 1; }
        NOMAD86_GUEST_KERNEL="${guest[0]}" NOMAD86_GUEST_INITRD="${guest[1]}" \
            exec python3 tests/run_tests.py build "$@"
        ;;
    bench)
        build
        if [ "${1:-}" = "--boot" ]; then
            exec python3 bench/boot_bench.py build
        fi
        if [ "${1:-}" = "--jit" ]; then
            exec python3 bench/jit_bench.py build
        fi
        if [ "${1:-}" = "--console" ]; then
            exec python3 bench/console_bench.py build
        fi
        if [ "${1:-}" = "--migration" ]; then
            exec python3 bench/migration_bench.py build
        fi
        exec python3 bench/run_bench.py build "$@"
        ;;
    build)
        build
        ;;
    *)
        echo "usage: $0 run|demo|test|bench|build" >&2
        exit 2
        ;;
esac
