#!/usr/bin/env python3
"""Two or more nomad86 binaries on the JIT benchmark's jobs, interleaved:
A, B, B, A, ... for ROUNDS rounds, then the minimum and median seconds per
job and binary. On a shared machine a single run of one binary varies by
tens of percent; interleaving spreads that noise over all binaries alike,
so this is the way to see whether a change made the JIT faster. The order
alternates (A, B in even rounds, B, A in odd ones): the machine's speed
also drifts within a session, and a fixed order charges that drift to
the binary that always runs second.

    bench/jit_ab.py EXE,EXE[,EXE...] [ROUNDS]

Each binary needs its own build directory around it (the firmware it loads
lies there). A run whose jobs printed something else than the first
binary's is reported: a broken build must not look fast."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import boot_bench  # noqa: E402
import jit_bench  # noqa: E402


def main():
    if len(sys.argv) < 2 or sys.argv[1].startswith("-"):
        print(__doc__)
        return 2
    exes = sys.argv[1].split(",")
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    kernel, initrd = boot_bench.guest()
    common = ["-m", "256", "-display", "none", "-serial", "stdio", "-no-reboot",
              "-kernel", kernel, "-initrd", initrd, "-append", jit_bench.APPEND]
    times = {exe: {} for exe in exes}
    reference, wrong = None, False
    for r in range(rounds):
        for exe in (exes if r % 2 == 0 else exes[::-1]):
            out = jit_bench.run_guest([exe, "-accel", "jit"] + common)
            if reference is None:
                reference = out["results"]
            if not out["ok"] or out["results"] != reference:
                print("round %d, %s: incomplete or different output %r" % (r, exe, out["results"]))
                wrong = True
            for job, t in out["jobs"].items():
                times[exe].setdefault(job, []).append(t)
            print("round %d %s: %s" % (r, exe, " ".join("%s %.2f" % jt for jt in out["jobs"].items())), flush=True)
    print("seconds, min / median over %d rounds" % rounds)
    for exe in exes:
        print("%s: %s" % (exe, ", ".join("%s %.2f / %.2f" % (job, min(v), sorted(v)[len(v) // 2])
                                          for job, v in times[exe].items())))
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
