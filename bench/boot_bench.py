#!/usr/bin/env python3
"""Boots the default Linux guest (roms/make-guest.sh) to its self-check under
nomad86 (its interpreter, then its JIT) and, where qemu-system-i386 is installed, under QEMU with TCG, and
reports host-side seconds to the guest's banner (the shell would start
there), to the self-check's PASS line, and to the process's exit after the
guest powers off; for nomad86 also its resident memory (at the banner and
its peak) and the guest instructions per second over the boot.

    bench/boot_bench.py [BUILD_DIR]        (./nomad86.sh bench --boot)

One run each, in the same invocation: compare the ratio, not the absolute
times, on a shared machine."""

import os
import re
import shutil
import socket
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BANNER = b"nomad86 guest: Linux"
PASS = b"nomad86 selftest: PASS"
# The boot's phases end at these console lines: the kernel's first line
# (before it: QEMU's firmware, and the kernel unpacking itself, silently),
# then the end of its initialisation (the crypto manager's self-tests are
# nearly half of it), then the banner of the initramfs's /init.
PHASE_ENDS = (("unpack", b"Linux version"), ("kernel init", b"Freeing unused kernel image"), ("to banner", BANNER))
APPEND = "console=ttyS0 nomad86.selftest=1"
TIMEOUT = 1200


def guest():
    p = subprocess.run([os.path.join(ROOT, "roms", "make-guest.sh")], capture_output=True, text=True)
    paths = p.stdout.split()
    if p.returncode != 0 or len(paths) != 2:
        raise SystemExit("roms/make-guest.sh failed:\n" + p.stderr)
    return paths


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kib(pid, field):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def monitor_cmd(port, command):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        buf = b""
        while not buf.rstrip().endswith(b"(qemu)"):
            buf += s.recv(4096)
        s.sendall(command.encode() + b"\n")
        buf = b""
        while not buf.rstrip().endswith(b"(qemu)"):
            d = s.recv(4096)
            if not d:
                break
            buf += d
        return buf.decode(errors="replace")


def boot(cmd, monitor_port=None):
    """Returns a dict of timings (seconds from start) and measurements."""
    result = {}
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    out = b""
    os.set_blocking(proc.stdout.fileno(), False)
    while proc.poll() is None and time.perf_counter() - start < TIMEOUT:
        chunk = proc.stdout.read() or b""
        if not chunk:
            time.sleep(0.02)
            continue
        out += chunk
        now = time.perf_counter() - start
        for phase, line in PHASE_ENDS:
            if phase not in result and line in out:
                result[phase] = now
        if "banner" not in result and BANNER in out:
            result["banner"] = now
            result["rss_banner_kib"] = rss_kib(proc.pid, "VmRSS")
            if monitor_port:
                text = monitor_cmd(monitor_port, "info cpustats")
                m = re.search(r"instructions (\d+)\s+guest seconds ([\d.]+)", text)
                if m:
                    result["insns"] = int(m.group(1))
                    result["guest_s"] = float(m.group(2))
        if "pass" not in result and PASS in out:
            result["pass"] = time.perf_counter() - start
        if PASS in out:
            hwm = rss_kib(proc.pid, "VmHWM")
            if hwm:
                result["rss_peak_kib"] = hwm
    try:
        proc.wait(timeout=max(1, TIMEOUT - (time.perf_counter() - start)))
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    out += proc.stdout.read() or b""
    result["exit"] = time.perf_counter() - start
    result["status"] = proc.returncode
    result["ok"] = PASS in out and proc.returncode == 0
    return result


def phase_seconds(r):
    """Each phase's own seconds (None when its start or end line never came)."""
    seconds, prev = {}, 0.0
    for phase, _ in PHASE_ENDS:
        end = r.get(phase)
        seconds[phase] = end - prev if end is not None and prev is not None else None
        prev = end
    return seconds


def main():
    build = sys.argv[1] if len(sys.argv) > 1 and not sys.argv[1].startswith("-") else "build"
    kernel, initrd = guest()
    common = ["-m", "256", "-display", "none", "-serial", "stdio", "-no-reboot",
              "-kernel", kernel, "-initrd", initrd, "-append", APPEND]
    runs = []
    for accel in ("interp", "jit"):
        port = free_port()
        runs.append(("nomad86 (%s)" % accel, boot([os.path.join(build, "nomad86"), "-accel", accel] + common +
                                                  ["-monitor", "tcp:127.0.0.1:%d,server,nowait" % port], port)))
    qemu = shutil.which("qemu-system-i386")
    if qemu:
        runs.append(("qemu TCG", boot([qemu, "-accel", "tcg", "-monitor", "none"] + common)))

    def fmt(v, spec="%.1f"):
        return spec % v if v is not None else "n/a"

    print("%-18s %12s %12s %12s %8s" % ("boot to", "banner (s)", "PASS (s)", "exit (s)", "ok"))
    for name, r in runs:
        print("%-18s %12s %12s %12s %8s" % (name, fmt(r.get("banner")), fmt(r.get("pass")), fmt(r.get("exit")),
                                           "yes" if r["ok"] else "NO (%s)" % r["status"]))
    n = runs[0][1]
    qemu_run = dict(runs).get("qemu TCG")
    print("\nphases (s)        " + "".join("%16s" % phase for phase, _ in PHASE_ENDS))
    q = phase_seconds(qemu_run) if qemu_run else {}
    for name, r in runs:
        d = phase_seconds(r)
        cells = []
        for phase, _ in PHASE_ENDS:
            cell = fmt(d[phase])
            if r is not qemu_run and d[phase] and q.get(phase):
                cell += " (%.1fx)" % (d[phase] / q[phase])
            cells.append(cell)
        print("%-18s" % name + "".join("%16s" % c for c in cells))
    print("(in brackets: the phase's time over QEMU's)\n")
    for name, r in runs[:2]:
        if qemu_run and r.get("banner") and qemu_run.get("banner"):
            print("%s / qemu, time to banner: %.2fx" % (name, r["banner"] / qemu_run["banner"]))
        if r.get("insns"):
            print("%s guest instructions to the banner: %d in %.1f guest s = %.1f MIPS (host %.1f s)" %
                  (name, r["insns"], r["guest_s"], r["insns"] / r["guest_s"] / 1e6, r["banner"]))
    print("nomad86 resident memory with -m 256: %s MiB at the banner, %s MiB peak (budget 320 MiB)" %
          (fmt(n.get("rss_banner_kib") and n["rss_banner_kib"] / 1024),
           fmt(n.get("rss_peak_kib") and n["rss_peak_kib"] / 1024)))
    return 0 if all(r["ok"] for _, r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
