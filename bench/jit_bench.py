#!/usr/bin/env python3
"""CPU-bound jobs in the default Linux guest, timed from the host, under
nomad86's interpreter and JIT, under QEMU with TCG (where qemu-system-i386 is
installed), and natively with the same static busybox (on a host that
runs no i386 binaries, the host architecture's build of the same Debian
busybox-static version, and the table says so).

The guest boots with nomad86.bench=1: its /init (roms/guest-init.sh) runs
each job between "nomad86 bench: START <job>" and "nomad86 bench: END <job>"
lines on the serial console; a job's time is the host time between the two
lines. Natively, the same /init script runs one job at a time with a PATH of
busybox applets.

    bench/jit_bench.py [BUILD_DIR] [--accels jit,interp] [--no-qemu]   (./nomad86.sh bench --jit)

One run of each engine, in the same invocation: compare ratios, not
absolute times, on a shared machine."""

import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import boot_bench  # noqa: E402  (guest images, the monitor)

ROOT = boot_bench.ROOT
APPEND = "console=ttyS0 nomad86.bench=1"
TIMEOUT = 1800
# Whole lines only; an END line carries the job's output in parentheses.
LINE = re.compile(rb"nomad86 bench: (START|END) (\S+)(?: \((.*)\))?\r?\n")


def run_guest(cmd, monitor_port=None):
    """Seconds to the banner, per job, and (nomad86) the JIT's statistics."""
    result = {"jobs": {}, "results": {}, "ok": False}
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    os.set_blocking(proc.stdout.fileno(), False)
    out, seen, started = b"", 0, {}
    while proc.poll() is None and time.perf_counter() - start < TIMEOUT:
        chunk = proc.stdout.read() or b""
        if not chunk:
            time.sleep(0.01)
            continue
        now = time.perf_counter()
        out += chunk
        if "banner" not in result and boot_bench.BANNER in out:
            result["banner"] = now - start
        for m in LINE.finditer(out, seen):
            seen = m.end()
            kind, job = m.group(1).decode(), m.group(2).decode()
            if kind == "START":
                started[job] = now
            elif job in started:
                result["jobs"][job] = now - started[job]
                result["results"][job] = (m.group(3) or b"").decode(errors="replace").strip()
                if monitor_port and job == "seq-gzip":
                    result["jit"] = boot_bench.monitor_cmd(monitor_port, "info jit")
    try:
        proc.wait(timeout=max(1, TIMEOUT - (time.perf_counter() - start)))
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    result["ok"] = proc.returncode == 0 and len(result["jobs"]) == len(jobs())
    return result


def jobs():
    text = open(os.path.join(ROOT, "roms", "guest-init.sh")).read()
    return re.search(r'BENCH_JOBS="([^"]*)"', text).group(1).split()


def runs_here(exe):
    try:
        return subprocess.run([exe, "true"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0
    except OSError:  # ENOEXEC: a kernel without IA32 emulation runs no i386 binary
        return False


def host_busybox(guest_busybox):
    """The busybox to run natively: the guest's own i386 binary where this
    host runs i386 binaries, else the host architecture's build of the same
    Debian busybox-static version (fetched once with apt-get download, kept
    beside the guest image). Returns (path, label)."""
    if runs_here(guest_busybox):
        return guest_busybox, "native"
    cache = os.path.dirname(guest_busybox)
    version = ""
    with open(os.path.join(cache, "versions")) as f:
        for line in f:
            if line.startswith("busybox:"):
                version = line.split()[-1]
    arch = subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True).stdout.strip()
    path = os.path.join(cache, "busybox-" + arch)
    if not os.path.exists(path):
        with tempfile.TemporaryDirectory() as dl:
            got = subprocess.run(["apt-get", "-q", "download", "busybox-static=" + version], cwd=dl,
                                 capture_output=True, text=True)
            if got.returncode != 0:
                raise SystemExit("apt-get download busybox-static=%s failed:\n%s" % (version, got.stderr))
            deb = [n for n in os.listdir(dl) if n.endswith(".deb")][0]
            subprocess.run(["dpkg-deb", "-x", os.path.join(dl, deb), os.path.join(dl, "x")], check=True)
            shutil.copy(os.path.join(dl, "x", "bin", "busybox"), path + ".tmp")
            os.chmod(path + ".tmp", 0o755)
            os.replace(path + ".tmp", path)
    print("this host runs no i386 binaries: native is busybox-static %s built for %s" % (version, arch))
    return path, "native " + arch


def run_native(busybox):
    """Each job with the host CPU: the same script and busybox, not PID 1."""
    times, results = {}, {}
    with tempfile.TemporaryDirectory() as applets:
        subprocess.run([busybox, "--install", "-s", applets], check=True)
        env = dict(os.environ, PATH=applets, NOMAD86_KEEP_PATH="1")
        for job in jobs():
            start = time.perf_counter()
            done = subprocess.run([busybox, "sh", os.path.join(ROOT, "roms", "guest-init.sh"),
                                   "nomad86.bench-job=" + job], env=env, check=True, stdout=subprocess.PIPE)
            times[job] = time.perf_counter() - start
            # (The script's banner comes first: the job's output is its last line.)
            lines = done.stdout.decode(errors="replace").strip().splitlines()
            results[job] = " ".join(lines[-1].split()) if lines else ""
    return {"jobs": times, "results": results, "ok": True}


def main():
    build = sys.argv[1] if len(sys.argv) > 1 and not sys.argv[1].startswith("-") else "build"
    kernel, initrd = boot_bench.guest()
    busybox = os.path.join(os.path.dirname(kernel), "busybox")
    common = ["-m", "256", "-display", "none", "-serial", "stdio", "-no-reboot",
              "-kernel", kernel, "-initrd", initrd, "-append", APPEND]
    exe = os.path.join(build, "nomad86")
    accels = sys.argv[sys.argv.index("--accels") + 1].split(",") if "--accels" in sys.argv else ["interp", "jit"]
    native_busybox, native_label = host_busybox(busybox)
    runs = [(native_label, run_native(native_busybox))]
    for accel in accels:
        port = boot_bench.free_port()
        runs.append(("nomad86 " + accel, run_guest([exe, "-accel", accel] + common +
                                                   ["-monitor", "tcp:127.0.0.1:%d,server,nowait" % port], port)))
    qemu = shutil.which("qemu-system-i386") if "--no-qemu" not in sys.argv else None
    if qemu:
        runs.append(("qemu TCG", run_guest([qemu, "-accel", "tcg", "-monitor", "none"] + common)))

    names = jobs()
    native = runs[0][1]["jobs"]
    print("seconds (ratio to native)")
    print("%-14s" % "job" + "".join("%20s" % name for name, _ in runs))
    for job in names:
        row = "%-14s" % job
        for _, r in runs:
            t = r["jobs"].get(job)
            row += "%20s" % ("n/a" if t is None else "%.2f (%.1fx)" % (t, t / native[job]))
        print(row)
    row = "%-14s" % "geomean"
    for _, r in runs:
        ratios = [r["jobs"][j] / native[j] for j in names if j in r["jobs"]]
        row += "%20s" % ("%.1fx" % math.exp(sum(map(math.log, ratios)) / len(ratios)) if len(ratios) == len(names)
                         else "n/a")
    print(row)
    row = "%-14s" % "boot (banner)"
    for _, r in runs:
        row += "%20s" % ("%.1f s" % r["banner"] if "banner" in r else "-")
    print(row)
    by_name = dict(runs)
    jit, interp, tcg = by_name.get("nomad86 jit"), by_name.get("nomad86 interp"), by_name.get("qemu TCG")
    for job in names:
        parts = []
        if jit and interp and job in jit["jobs"] and job in interp["jobs"]:
            parts.append("jit %.1fx faster than interp" % (interp["jobs"][job] / jit["jobs"][job]))
        if jit and tcg and job in jit["jobs"] and job in tcg["jobs"]:
            parts.append("jit / qemu TCG %.2fx" % (jit["jobs"][job] / tcg["jobs"][job]))
        if parts:
            print("%-14s %s" % (job, ", ".join(parts)))
    if jit and jit.get("jit"):
        print("\nnomad86 jit, info jit after the last job:\n" + jit["jit"].replace("(qemu)", "").strip())
    # A time is worth nothing if the job computed something else than the
    # host did (a broken engine can finish "fast").
    for name, r in runs[1:]:
        for job, out in r["results"].items():
            want = runs[0][1]["results"].get(job)
            if " ".join(out.split()) != want:
                print("%s: %s printed %r, natively %r" % (name, job, out, want))
                r["ok"] = False
    bad = [name for name, r in runs if not r["ok"]]
    if bad:
        print("incomplete runs: " + ", ".join(bad))
    return 0 if not bad else 1


if __name__ == "__main__":
    sys.exit(main())
