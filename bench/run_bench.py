#!/usr/bin/env python3
"""Times guest workloads from the host side. For each workload: nomad86's
wall time and guest instructions per second, and, when qemu-system-i386 is
installed, QEMU TCG's time on the same ROM and the ratio, measured in the
same run (absolute times drift on shared machines; ratios are what to report)."""

import shutil
import subprocess
import sys
import time

BUILD = sys.argv[1] if len(sys.argv) > 1 and not sys.argv[1].startswith("-") else "build"
REPEAT = 3
WORKLOADS = [
    # name, rom, guest instructions executed
    ("alu_loop", BUILD + "/bench/alu_loop.rom", 20_000_000 * 10),
]


def timed(cmd):
    best = None
    for _ in range(REPEAT):
        start = time.perf_counter()
        proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True)
        elapsed = time.perf_counter() - start
        if proc.returncode != 33:
            raise SystemExit("%s: exit status %d (expected 33)\n%s" % (cmd[0], proc.returncode, proc.stderr.decode()))
        best = elapsed if best is None else min(best, elapsed)
    return best


def tracing_cost():
    """The price of tracing: the same workload with logging off, with log
    items on that never fire in the hot path, and with -d exec to /dev/null."""
    name, rom, insns = WORKLOADS[0]
    base = [BUILD + "/nomad86", "-bios", rom, "-display", "none", "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"]
    rows = [("tracing off", []), ("-d unimp,guest_errors", ["-d", "unimp,guest_errors"]),
            ("-d exec -D /dev/null", ["-d", "exec", "-D", "/dev/null"])]
    times = [(label, timed(base + extra)) for label, extra in rows]
    print("\n%-24s %10s %10s" % ("tracing (" + name + ")", "time (s)", "vs off"))
    for label, t in times:
        print("%-24s %10.3f %10.3f" % (label, t, t / times[0][1]))


def main():
    if "--tracing" in sys.argv:
        tracing_cost()
        return
    qemu = shutil.which("qemu-system-i386")
    print("%-10s %12s %14s %12s %10s" % ("workload", "nomad86 (s)", "guest MIPS", "qemu (s)", "qemu/nomad"))
    for name, rom, insns in WORKLOADS:
        common = ["-bios", rom, "-display", "none", "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04", "-m", "128M"]
        t = timed([BUILD + "/nomad86"] + common)
        q = timed([qemu, "-accel", "tcg", "-serial", "none", "-monitor", "none"] + common) if qemu else None
        print("%-10s %12.3f %14.1f %12s %10s" % (name, t, insns / t / 1e6, "%.3f" % q if q else "n/a",
                                                 "%.2f" % (q / t) if q else "n/a"))


if __name__ == "__main__":
    main()
