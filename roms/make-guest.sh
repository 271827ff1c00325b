#!/usr/bin/env bash
# Build (or reuse) nomad86's default Linux guest from Debian's i386 packages.
#
#   roms/make-guest.sh [--refresh] [OUTDIR]
#
# OUTDIR defaults to $NOMAD86_GUEST_DIR, else
# ${XDG_CACHE_HOME:-$HOME/.cache}/nomad86/guest (outside the build directory,
# so wiping build/ does not cost a download). On success it prints two lines,
#   OUTDIR/vmlinuz
#   OUTDIR/initramfs.cpio.gz
# and exits 0; messages go to stderr. Boot them with, e.g.,
#   -kernel OUTDIR/vmlinuz -initrd OUTDIR/initramfs.cpio.gz
#   -append "console=ttyS0 [nomad86.selftest=1]"
#
# What it does:
#  1. Packages (skipped, "cached", when OUTDIR/vmlinuz and OUTDIR/busybox exist
#     and --refresh is not given): a private apt state in OUTDIR/apt (its own
#     lists, package cache and an empty dpkg status) over copies of this
#     machine's own sources (/etc/apt/sources.list, /etc/apt/sources.list.d/
#     *.list and *.sources, as they are), with APT::Architecture(s) = i386.
#     `apt-get update` there, `apt-cache depends linux-image-686` names the
#     current kernel package (linux-image-6.1.0-N-686 on Debian 12), and
#     `apt-get download` fetches it and busybox-static. `dpkg-deb -x` gives
#     boot/vmlinuz-* and bin/busybox. The rest of the machine's apt
#     configuration (apt.conf.d: proxies, pinning) applies as usual; nothing
#     under /etc/apt, /var/lib/apt or /var/cache/apt is written.
#  2. Initramfs (rebuilt, without network, whenever roms/guest-init.sh or
#     roms/mkcpio.py or the busybox changes): /bin/busybox, /bin/sh, the
#     directories, /dev/console (5,1) and /dev/ttyS0 (4,64) as archive
#     entries, and /init = roms/guest-init.sh. roms/mkcpio.py writes it, so
#     no root, cpio or mknod is needed.
#
# Needs: bash, apt, dpkg-deb, python3, flock, sha256sum (Debian 12 base plus
# python3). Concurrent runs on the same OUTDIR wait for each other.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
refresh=0
if [ "${1:-}" = "--refresh" ]; then refresh=1; shift; fi
if [ $# -gt 1 ] || [ "${1:-}" = "-h" ] || [ "${1:-}" = "--help" ]; then
    sed -n '2,13p' "$0" >&2
    exit 2
fi
out=${1:-${NOMAD86_GUEST_DIR:-${XDG_CACHE_HOME:-${HOME:?HOME is not set}/.cache}/nomad86/guest}}
mkdir -p "$out"
out=$(cd "$out" && pwd)
case "$out$here" in *[[:space:]]*) echo "make-guest: paths with white space are not supported: $out, $here" >&2; exit 1;; esac

say() { echo "make-guest: $*" >&2; }
die() { say "error: $*"; exit 1; }

exec 9>"$out/.lock"
flock 9

fetch_packages() {
    local apt="$out/apt" conf="$out/apt/apt.conf" f n=0
    mkdir -p "$apt/state/lists/partial" "$apt/cache/archives/partial" "$apt/sources.list.d"
    : > "$apt/state/status"
    # The machine's own sources, copied as they are (no mirror is named here).
    rm -f "$apt/sources.list" "$apt/sources.list.d/"*
    if [ -f /etc/apt/sources.list ]; then
        cp /etc/apt/sources.list "$apt/sources.list"
        grep -qE '^[[:space:]]*deb[[:space:]]' "$apt/sources.list" && n=$((n + 1))
    else
        : > "$apt/sources.list"
    fi
    for f in /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        cp "$f" "$apt/sources.list.d/"
        n=$((n + 1))
    done
    [ "$n" -gt 0 ] || die "no apt sources in /etc/apt/sources.list or /etc/apt/sources.list.d"
    {
        echo "Dir::State \"$apt/state\";"
        echo "Dir::State::status \"$apt/state/status\";"
        echo "Dir::Cache \"$apt/cache\";"
        echo "Dir::Etc::sourcelist \"$apt/sources.list\";"
        echo "Dir::Etc::sourceparts \"$apt/sources.list.d\";"
        echo "APT::Architecture \"i386\";"
        echo "APT::Architectures { \"i386\"; };"
        echo "Acquire::Languages \"none\";"
        echo "Acquire::Retries \"3\";"
        # As root apt drops to _apt, who cannot write into root's cache dir.
        [ "$(id -u)" -eq 0 ] && echo "APT::Sandbox::User \"root\";"
    } > "$conf"
    local aptc=(-c "$conf")

    say "apt-get update (private state in $apt, architecture i386)"
    if ! apt-get "${aptc[@]}" -q update >&2; then
        say "warning: apt-get update reported errors; going on with the indexes it did fetch"
    fi
    local kpkg
    kpkg=$(apt-cache "${aptc[@]}" depends linux-image-686 2>/dev/null |
           sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*-686\)$/\1/p' | head -n1)
    [ -n "$kpkg" ] || die "apt-cache depends linux-image-686 named no kernel package (i386 indexes missing?)"
    say "linux-image-686 -> $kpkg"

    local dl="$out/download"
    rm -rf "$dl"
    mkdir -p "$dl"
    (cd "$dl" && apt-get "${aptc[@]}" -q download "$kpkg" busybox-static >&2) ||
        die "apt-get download $kpkg busybox-static failed"
    local kdeb bdeb
    kdeb=$(ls "$dl"/"$kpkg"_*_i386.deb)
    bdeb=$(ls "$dl"/busybox-static_*_i386.deb)
    say "downloaded $(du -ch "$kdeb" "$bdeb" | tail -n1 | cut -f1)"
    mkdir -p "$dl/k" "$dl/b"
    dpkg-deb -x "$kdeb" "$dl/k"
    dpkg-deb -x "$bdeb" "$dl/b"
    local vmlinuz
    vmlinuz=$(ls "$dl"/k/boot/vmlinuz-* | head -n1)
    [ -f "$vmlinuz" ] || die "no boot/vmlinuz-* in $kdeb"
    [ -f "$dl/b/bin/busybox" ] || die "no bin/busybox in $bdeb"
    {
        echo "kernel: $(dpkg-deb -f "$kdeb" Package) $(dpkg-deb -f "$kdeb" Version) ($(basename "$vmlinuz"))"
        echo "busybox: $(dpkg-deb -f "$bdeb" Package) $(dpkg-deb -f "$bdeb" Version)"
    } > "$out/versions.tmp"
    install -m 0644 "$vmlinuz" "$out/vmlinuz.tmp"
    install -m 0755 "$dl/b/bin/busybox" "$out/busybox.tmp"
    mv -f "$out/versions.tmp" "$out/versions"
    mv -f "$out/busybox.tmp" "$out/busybox"
    mv -f "$out/vmlinuz.tmp" "$out/vmlinuz"      # last: its presence means "complete"
    # Keep only apt.conf and the copied sources: the indexes are stale by the
    # next --refresh anyway, and they are most of the space.
    rm -rf "$dl" "$apt/cache" "$apt/state/lists"
}

if [ "$refresh" -eq 0 ] && [ -s "$out/vmlinuz" ] && [ -s "$out/busybox" ]; then
    say "cached packages in $out ($(paste -sd' ' "$out/versions" 2>/dev/null || echo '?'))"
else
    fetch_packages
    say "$(paste -sd' ' "$out/versions")"
fi

# The initramfs depends on /init, the archive writer and busybox only.
stamp=$(cat "$here/guest-init.sh" "$here/mkcpio.py" "$out/busybox" | sha256sum | cut -d' ' -f1)
if [ -s "$out/initramfs.cpio.gz" ] && [ "$(cat "$out/initramfs.stamp" 2>/dev/null)" = "$stamp" ]; then
    say "cached initramfs"
else
    say "writing initramfs.cpio.gz"
    rm -f "$out/initramfs.stamp"
    python3 "$here/mkcpio.py" "$out/initramfs.cpio.gz" <<EOF
dir /bin 755
dir /sbin 755
dir /usr 755
dir /usr/bin 755
dir /usr/sbin 755
dir /dev 755
dir /proc 555
dir /sys 555
dir /tmp 1777
dir /root 700
dir /etc 755
dir /mnt 755
nod /dev/console 600 c 5 1
nod /dev/ttyS0 660 c 4 64
nod /dev/null 666 c 1 3
file /bin/busybox 755 $out/busybox
slink /bin/sh busybox 777
file /init 755 $here/guest-init.sh
EOF
    echo "$stamp" > "$out/initramfs.stamp"
fi

echo "$out/vmlinuz"
echo "$out/initramfs.cpio.gz"
