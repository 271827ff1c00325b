#!/usr/bin/env python3
"""Live migration on loopback, nomad86 beside QEMU (where qemu-system-i386 is
installed) driven through the same monitor commands, at -m 256:

  idle-linux        the default Linux guest sitting at its shell prompt
  dirty-autoconv    tests/guests/migrate_dirty.rom (increments a byte in every
                    page of 64 MiB, over and over) with auto-converge on
  dirty-postcopy    the same guest, switched to post-copy after 1 s

For each: total time, downtime, bytes sent, pre-copy rounds (dirty sync
count) and, for post-copy, the pages the running destination requested and
their latency (nomad86's destination measures it; QEMU 7.2 does not report
it). Default parameters otherwise (max-bandwidth 128 MiB/s, downtime-limit
300 ms, as QEMU). One run each, in the same invocation: compare ratios.

    bench/migration_bench.py [BUILD_DIR]      (./nomad86.sh bench --migration)"""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build")
PROMPT = b"nomad86:/# "


sys.path.insert(0, os.path.join(ROOT, "tests", "migration"))
from migration_suite import Vm, free_port  # noqa: E402  (the suite's driver of one process)


def wait_output(vm, marker, seconds):
    deadline = time.time() + seconds
    while not marker(vm.output()):
        if time.time() > deadline or vm.proc.poll() is not None:
            raise SystemExit("guest output never showed what was waited for: %r" % vm.output()[-300:])
        time.sleep(0.1)


def number(text):
    m = re.match(r"\s*([0-9.]+)", text or "")
    return float(m.group(1)) if m else None


def scenario(kind, exe, tmp, name, guest):
    """Runs one migration; returns a dict of figures."""
    qemu = kind == "qemu"
    if name == "idle-linux":
        kernel, initrd = guest
        args, rom = ["-kernel", kernel, "-initrd", initrd, "-append", "console=ttyS0"], ""
    else:
        args, rom = [], None  # the migration guest
    accel = "tcg" if qemu else "jit"
    port = free_port()
    postcopy = name == "dirty-postcopy"
    # The same commands on both: QEMU wants the capability on the
    # destination too, so both defer and then listen.
    dst = Vm(BUILD, tmp, kind + "-dst", args + ["-incoming", "defer"], rom=rom, ram="256M", accel=accel, exe=exe)
    src = Vm(BUILD, tmp, kind + "-src", args, rom=rom, ram="256M", accel=accel, exe=exe)
    try:
        if postcopy:
            dst.cmd("migrate_set_capability postcopy-ram on")
        dst.cmd("migrate_incoming tcp:127.0.0.1:%d" % port)
        if name == "idle-linux":
            wait_output(src, lambda out: PROMPT in out, 300)
            time.sleep(2)
        else:
            wait_output(src, lambda out: out.count(b"B") >= 2, 60)
        if name == "dirty-autoconv":
            src.cmd("migrate_set_capability auto-converge on")
        if postcopy:
            src.cmd("migrate_set_capability postcopy-ram on")
        src.cmd("migrate -d tcp:127.0.0.1:%d" % port)
        if postcopy:
            time.sleep(1)
            src.cmd("migrate_start_postcopy")
        deadline = time.time() + 300
        while True:
            st = src.info_migrate()
            status = st.get("Migration status", "")
            if status in ("completed", "failed", "cancelled") or time.time() > deadline:
                break
            time.sleep(0.1)
        result = {
            "status": status,
            "total ms": number(st.get("total time")),
            "downtime ms": number(st.get("downtime")),
            "MiB sent": (number(st.get("transferred ram")) or 0) / 1024,
            "rounds": number(st.get("dirty sync count")),
        }
        if postcopy:
            result["requests"] = number(st.get("postcopy request count"))
            if not qemu:
                time.sleep(0.5)
                d = dst.info_migrate()
                lat = d.get("postcopy request latency", "")
                m = re.search(r"avg ([0-9.]+) ms", lat)
                result["request latency ms"] = float(m.group(1)) if m else None
        return result
    finally:
        src.kill()
        dst.kill()


def main():
    qemu = shutil.which("qemu-system-i386")
    p = subprocess.run([os.path.join(ROOT, "roms", "make-guest.sh")], capture_output=True, text=True)
    guest = p.stdout.split()
    if p.returncode != 0 or len(guest) != 2:
        raise SystemExit("roms/make-guest.sh failed:\n" + p.stderr)
    names = ["idle-linux", "dirty-autoconv", "dirty-postcopy"]
    cols = ["status", "total ms", "downtime ms", "MiB sent", "rounds", "requests", "request latency ms"]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            for kind, exe in [("nomad86", os.path.join(BUILD, "nomad86")), ("qemu", qemu)]:
                if not exe:
                    continue
                r = scenario(kind, exe, tmp, name, guest)
                rows.append((name, kind, r))
                print("%-15s %-8s %s" % (name, kind, r), flush=True)
    print()
    print("%-15s %-8s" % ("scenario", "engine") + "".join("%14s" % c for c in cols))
    for name, kind, r in rows:
        cells = []
        for c in cols:
            v = r.get(c)
            cells.append("%14s" % ("-" if v is None else ("%.3f" % v if isinstance(v, float) and v < 100 else
                                                          "%.0f" % v if isinstance(v, float) else v)))
        print("%-15s %-8s" % (name, kind) + "".join(cells))
    for name in names:
        ours = next((r for n, k, r in rows if n == name and k == "nomad86"), None)
        theirs = next((r for n, k, r in rows if n == name and k == "qemu"), None)
        if ours and theirs and ours["downtime ms"] and theirs["downtime ms"]:
            print("%-15s downtime: QEMU/nomad86 = %.1fx; total time: nomad86/QEMU = %.2f" %
                  (name, theirs["downtime ms"] / ours["downtime ms"], (ours["total ms"] or 0) / (theirs["total ms"] or 1)))


if __name__ == "__main__":
    main()
