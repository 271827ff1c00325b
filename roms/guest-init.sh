#!/bin/sh
# /init of nomad86's default guest (the initramfs roms/make-guest.sh builds).
# Runs under busybox sh as PID 1: mounts proc, sys and devtmpfs, prints a
# banner, then
#   - with nomad86.selftest=1 on the kernel command line: runs the self-check,
#     prints one line per check and then exactly "nomad86 selftest: PASS" or
#     "nomad86 selftest: FAIL <checks>", and powers off; with
#     nomad86.selftest-wait=1 as well, it stops half-way, after the sort check,
#     and waits for a line on the console (the migration test moves the
#     machine to another nomad86 there, then types the line on that one);
#   - with nomad86.bench=1: runs the benchmark jobs (bench/jit_bench.py),
#     each between "nomad86 bench: START <job>" and "... END <job>" lines,
#     and powers off;
#   - otherwise: an interactive shell on the console (job control via
#     cttyhack); `poweroff`, `reboot` or leaving the shell ends the machine.
# Not PID 1 (testing it on a host in a chroot): nothing is mounted, nothing is
# powered off, and "nomad86.selftest=1" may be given as an argument instead;
# the exit status is 0 for PASS.

# (NOMAD86_KEEP_PATH: bench/jit_bench.py runs the benchmark jobs on the host
# with a PATH of busybox applets.)
[ -n "$NOMAD86_KEEP_PATH" ] || export PATH=/bin:/sbin:/usr/bin:/usr/sbin
export HOME=/root TERM="${TERM:-vt100}"

if [ $$ -eq 1 ]; then
    /bin/busybox mkdir -p /bin /sbin /usr/bin /usr/sbin /proc /sys /dev /tmp /root /etc
    /bin/busybox --install -s
    mount -t proc proc /proc
    mount -t sysfs sysfs /sys
    grep -q '^[^ ]* /dev ' /proc/mounts || mount -t devtmpfs devtmpfs /dev
    mkdir -p /dev/pts && mount -t devpts devpts /dev/pts
    hostname nomad86
fi

echo "nomad86 guest: Linux $(uname -r) on $(uname -m)"

# --- the self-check ------------------------------------------------------------
FAILED=""
check() {   # check NAME DETAIL STATUS
    if [ "$3" -eq 0 ]; then
        echo "nomad86 selftest: $1 ok ($2)"
    else
        echo "nomad86 selftest: $1 FAILED ($2)"
        FAILED="$FAILED $1"
    fi
}

check_arith() {
    a=$(( (7 * 191) % 1000 )) b=$(( 1 << 20 )) c=$(( -17 / 5 )) d=$(( 0x7fffffff + 1 ))
    [ "$a $b $c $d" = "337 1048576 -3 2147483648" ]
    check arith "$a $b $c $d" $?
}

check_md5sum() {
    # `seq 1 10000 | md5sum` computed with GNU coreutils on the host.
    want=72d4ff27a28afbc066d5804999d5a504
    got=$(seq 1 10000 | md5sum | cut -d' ' -f1)
    [ "$got" = "$want" ]
    check md5sum "$got" $?
}

check_sort() {
    got=$(printf '5\n10\n-3\n1\n33\n2\n10\n' | sort -nr | tr '\n' ' ')
    [ "$got" = "33 10 10 5 2 1 -3 " ]
    check sort "$got" $?
}

check_gzip() {
    want=$(seq 1 20000 | md5sum | cut -d' ' -f1)
    got=$(seq 1 20000 | gzip -9 -c | gunzip -c | md5sum | cut -d' ' -f1)
    size=$(seq 1 20000 | gzip -9 -c | wc -c)
    [ "$got" = "$want" ] && [ "$size" -gt 1000 ] && [ "$size" -lt 108894 ]
    check gzip "108894 -> $size bytes, round trip $got" $?
}

check_rtc() {
    year=$(date +%Y)
    ok=0
    [ "$year" -ge 2024 ] && [ "$year" -le 2100 ] || ok=1
    if [ -r /sys/class/rtc/rtc0/since_epoch ]; then
        rtc=$(cat /sys/class/rtc/rtc0/since_epoch)
        now=$(date +%s)
        diff=$(( now > rtc ? now - rtc : rtc - now ))
        [ "$diff" -le 86400 ] || ok=1
        detail="$(date) ; rtc0 $(cat /sys/class/rtc/rtc0/name 2>/dev/null) $(date -d "@$rtc" +%Y-%m-%dT%H:%M:%S)"
    elif hwclock -r >/dev/null 2>&1; then
        detail="$(date) ; hwclock $(hwclock -r 2>&1)"
    else
        # The guest kernel has rtc-cmos built in: no RTC there is a failure.
        # Outside the guest (a chroot on a host) only the year is checked.
        [ $$ -eq 1 ] && ok=1
        detail="$(date) ; no rtc0"
    fi
    check rtc "$detail" $ok
}

check_awk() {
    # Debian's busybox-static awk has no libm (no atan2, exp, sqrt, ^), so the
    # floating point is plain + - * /: pi by Machin's formula with the arctan
    # series, sqrt(2) by Newton's method, and printf's %f, %e and %d.
    got=$(awk 'function at(x,  s, t, k) {
                   s = 0; t = x
                   for (k = 1; k < 60; k += 2) { s += t / k; t = -t * x * x }
                   return s
               }
               BEGIN {
                   pi = 16 * at(1 / 5) - 4 * at(1 / 239)
                   r = 1; for (i = 0; i < 8; i++) r = (r + 2 / r) / 2
                   printf "%.4f %.9f %.6f %.3e %d %s", pi, pi, r, 1 / 3 * 1e-5, int(-7.5), 0.5 + 0.25
               }' 2>&1)
    [ "$got" = "3.1416 3.141592654 1.414214 3.333e-06 -7 0.75" ]
    check awk "$got" $?
}

check_crypto() {
    # Linux tests each crypto algorithm as it registers it (the crypto
    # manager's self-tests): RSA and DH alone run about 3 G instructions of
    # multi-precision multiply-and-carry, nearly half of all the boot runs.
    # An algorithm whose test failed is listed without "selftest : passed".
    total=$(grep -c '^selftest' /proc/crypto)
    passed=$(grep -c '^selftest *: passed' /proc/crypto)
    failed=$(dmesg | grep -c 'alg:.*fail')
    [ "$total" -ge 20 ] && [ "$passed" = "$total" ] && [ "$failed" = 0 ]
    check crypto "$passed of $total algorithms passed their self-tests, $failed failures logged" $?
}

selftest() {
    check_crypto
    check_arith
    check_md5sum
    check_sort
    case " $(cat /proc/cmdline 2>/dev/null) " in
        *" nomad86.selftest-wait=1 "*)
            echo "nomad86 selftest: waiting for a line on the console"
            read -r _ ;;
    esac
    check_gzip
    check_rtc
    check_awk
    if [ -z "$FAILED" ]; then
        echo "nomad86 selftest: PASS"
        return 0
    fi
    echo "nomad86 selftest: FAIL$FAILED"
    return 1
}

# --- the benchmark jobs ----------------------------------------------------------
# Fixed CPU-bound work; bench/jit_bench.py times each from the host, between
# its START and END lines, and runs the same commands natively with the same
# busybox. "bench_jobs list" names them, "bench_jobs run NAME" runs one.
bench_job() {
    case "$1" in
        shell-loop) i=0; while [ $i -lt 100000 ]; do i=$((i + 1)); done; echo "$i" ;;
        md5sum-64m) dd if=/dev/zero bs=1048576 count=64 2>/dev/null | md5sum ;;
        seq-sort) seq 1 200000 | sort -r | tail -n 1 ;;
        seq-gzip) seq 1 300000 | gzip -6 -c | wc -c ;;
    esac
}
BENCH_JOBS="shell-loop md5sum-64m seq-sort seq-gzip"

run_bench() {
    for job in $BENCH_JOBS; do
        echo "nomad86 bench: START $job"
        result=$(bench_job "$job")
        echo "nomad86 bench: END $job ($result)"
    done
}

# --- what to run ---------------------------------------------------------------
halt_machine() {    # halt_machine poweroff|reboot
    sync
    if [ $$ -eq 1 ]; then
        # The kernel powers off at once; what the tty layer still holds for
        # the serial port (the self-check's last lines; nomad86's UART sends
        # about 90 KB/s, real ones 11.5 KB/s at 115200 baud) would be lost,
        # as on real hardware. Drain it.
        sleep 1
        "$1" -f
        while :; do sleep 1; done     # the kernel never returns here
    fi
}

case " $(cat /proc/cmdline 2>/dev/null) $* " in
    *" nomad86.selftest=1 "*)
        selftest
        status=$?
        halt_machine poweroff
        exit $status
        ;;
    *" nomad86.bench=1 "*)
        run_bench
        halt_machine poweroff
        exit 0
        ;;
    *" nomad86.bench-job="*)
        # Outside the guest: one job, for the native baseline.
        for arg in "$@"; do
            case "$arg" in nomad86.bench-job=*) bench_job "${arg#nomad86.bench-job=}" ;; esac
        done
        exit 0
        ;;
esac

# busybox poweroff/reboot/halt (without -f) signal PID 1: USR2, TERM, USR1.
trap 'echo "nomad86 guest: powering off"; halt_machine poweroff' USR2 USR1
trap 'echo "nomad86 guest: rebooting"; halt_machine reboot' TERM
export PS1='nomad86:\w# '
echo "nomad86 guest: shell on the console; 'poweroff' or exit to stop"
# cttyhack finds the console's real tty (ttyS0 with console=ttyS0) and makes it
# the controlling terminal, so the shell has job control and Ctrl-C.
setsid cttyhack sh -l </dev/console >/dev/console 2>&1 &
wait $!
echo "nomad86 guest: shell exited, powering off"
halt_machine poweroff
