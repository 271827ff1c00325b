#!/usr/bin/env python3
"""nomad86's whole test suite: unit tests, command-line checks, guest-level
ROM tests and an end-to-end run of the default guest. Ends with the line
`N passed, M failed` and a non-zero exit status if anything failed."""

import concurrent.futures
import os
import re
import subprocess
import sys
import tempfile
import time

BUILD = sys.argv[1] if len(sys.argv) > 1 else "build"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXE = os.path.join(BUILD, "nomad86")
GUEST_TIMEOUT = 20

results = []  # (name, ok, detail)


def record(name, ok, detail=""):
    results.append((name, ok, detail))
    print(("PASS " if ok else "FAIL ") + name + ("" if ok or not detail else ": " + detail), flush=True)


# Suites this host cannot run at all (the reason is printed): neither passed
# nor failed, and counted in the summary line.
skipped = []


def skip(name, reason):
    skipped.append((name, reason))
    print("SKIP %s: %s" % (name, reason), flush=True)


def run_unit_tests():
    exe = os.path.join(BUILD, "tests", "nomad86-unit-tests")
    proc = subprocess.run([exe], capture_output=True, text=True, timeout=600)
    out = proc.stdout + proc.stderr
    m = re.search(r"test cases:\s*(\d+)\s*\|\s*(\d+) passed\s*\|\s*(\d+) failed", out)
    if not m:
        record("unit tests", False, "no doctest summary (exit %d)\n%s" % (proc.returncode, out[-3000:]))
        return
    passed, failed = int(m.group(2)), int(m.group(3))
    for i in range(passed):
        results.append(("unit test %d" % i, True, ""))
    if failed or proc.returncode != 0:
        print(out[-20000:])
        for i in range(max(failed, 1)):
            results.append(("unit test failure %d" % i, False, ""))
    print("unit tests: %d passed, %d failed" % (passed, failed), flush=True)


def expect_serial(source):
    try:
        with open(source, errors="replace") as f:
            for line in f:
                m = re.match(r"\s*;\s*expect-serial:\s?(.*)$", line.rstrip("\n"))
                if m:
                    return m.group(1).encode().decode("unicode_escape").encode("latin-1")
    except OSError:
        pass
    return None


# Every guest test runs under each engine: the JIT (the default), the
# interpreter, and both in lockstep.
ACCELS = ["jit", "interp", "jit,verify=on"]


def run_guest(job):
    rom, accel = job
    name = os.path.splitext(os.path.basename(rom))[0]
    source = os.path.join(ROOT, "tests", "guests", name + ".asm")
    name = "%s [%s]" % (name, accel)
    with tempfile.TemporaryDirectory() as tmp:
        serial = os.path.join(tmp, "serial.out")
        cmd = [EXE, "-bios", rom, "-display", "none", "-serial", "file:" + serial, "-debugcon", "stdio",
               "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04", "-no-reboot", "-m", "128M", "-accel", accel]
        start = time.time()
        try:
            proc = subprocess.run(cmd, capture_output=True, timeout=GUEST_TIMEOUT, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired as e:
            out = (e.stdout or b"").decode(errors="replace")
            return ("guest " + name, False, "timed out after %ds; debugcon:\n%s" % (GUEST_TIMEOUT, out[-2000:]))
        out = proc.stdout.decode(errors="replace")
        if proc.returncode != 33:
            return ("guest " + name, False, "exit status %d (33 = pass); debugcon:\n%s%s" %
                    (proc.returncode, out[-3000:], proc.stderr.decode(errors="replace")[-1000:]))
        want = expect_serial(source)
        if want is not None:
            got = open(serial, "rb").read() if os.path.exists(serial) else b""
            if got != want:
                return ("guest " + name, False, "serial output %r, expected %r" % (got, want))
        return ("guest " + name, True, "%.2fs" % (time.time() - start))


def runs_forever(rom):
    """A guest that is driven by another suite (the migration guest) says
    `; runs-forever` in its source: it has no verdict to wait for."""
    source = os.path.join(ROOT, "tests", "guests", os.path.splitext(os.path.basename(rom))[0] + ".asm")
    try:
        with open(source) as f:
            return any(line.strip() == "; runs-forever" for line in f)
    except OSError:
        return False


def run_guests():
    rom_dir = os.path.join(BUILD, "tests", "guests")
    roms = sorted(os.path.join(rom_dir, f) for f in os.listdir(rom_dir) if f.endswith(".rom")) \
        if os.path.isdir(rom_dir) else []
    roms = [r for r in roms if not runs_forever(r)]
    if not roms:
        record("guest tests present", False, "no ROMs in " + rom_dir)
        return
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        for name, ok, detail in pool.map(run_guest, [(rom, accel) for rom in roms for accel in ACCELS]):
            record(name, ok, "" if ok else detail)


def run_cli(name, args, want_status_nonzero=True, want_in_stderr=None, stdin=None, timeout=10):
    try:
        proc = subprocess.run([EXE] + args, capture_output=True, timeout=timeout, input=stdin)
    except subprocess.TimeoutExpired:
        record(name, False, "hung")
        return None
    err = proc.stderr.decode(errors="replace")
    if proc.returncode < 0:
        record(name, False, "killed by signal %d" % -proc.returncode)
        return None
    if want_status_nonzero and proc.returncode == 0:
        record(name, False, "exit status 0")
        return None
    if want_in_stderr and want_in_stderr not in err:
        record(name, False, "stderr %r lacks %r" % (err, want_in_stderr))
        return None
    if want_status_nonzero and len(err.strip().splitlines()) != 1:
        record(name, False, "expected a one-line message, got %r" % err)
        return None
    record(name, True)
    return proc


def run_cli_tests():
    with tempfile.TemporaryDirectory() as tmp:
        empty = os.path.join(tmp, "empty.rom")
        open(empty, "wb").close()
        odd = os.path.join(tmp, "odd.rom")
        open(odd, "wb").write(b"\xf4" * 70000)
        huge = os.path.join(tmp, "huge.rom")
        open(huge, "wb").write(b"\xf4" * (2 * 1024 * 1024))
        unreadable = os.path.join(tmp, "unreadable.rom")
        open(unreadable, "wb").write(b"\xf4" * 65536)
        os.chmod(unreadable, 0)
        run_cli("cli: missing -bios file", ["-bios", os.path.join(tmp, "nope.rom")], want_in_stderr="nope.rom")
        run_cli("cli: empty -bios file", ["-bios", empty], want_in_stderr="empty")
        run_cli("cli: wrongly sized -bios file", ["-bios", odd], want_in_stderr="64 KiB")
        run_cli("cli: too large -bios file", ["-bios", huge], want_in_stderr="1 MiB")
        run_cli("cli: -bios is a directory", ["-bios", tmp], want_in_stderr="directory")
        if os.getuid() != 0:  # root reads anything
            run_cli("cli: unreadable -bios file", ["-bios", unreadable], want_in_stderr="unreadable.rom")
        run_cli("cli: unknown option", ["-frobnicate"], want_in_stderr="unknown option")
        run_cli("cli: -m malformed", ["-m", "12Q"], want_in_stderr="malformed")
        run_cli("cli: -m out of range", ["-m", "100G"], want_in_stderr="out of range")
        run_cli("cli: -m too small", ["-m", "64K"], want_in_stderr="out of range")
        run_cli("cli: -m without value", ["-m"], want_in_stderr="missing argument")
        run_cli("cli: bad -d item", ["-d", "nonsense"], want_in_stderr="nonsense")
        run_cli("cli: bad -serial", ["-serial", "bogus"], want_in_stderr="bogus")
        p = run_cli("cli: --help", ["--help"], want_status_nonzero=False)
        if p is not None and b"-bios" not in p.stdout:
            record("cli: --help lists -bios", False, "")
        p = run_cli("cli: --version", ["--version"], want_status_nonzero=False)
        if p is not None and not re.search(rb"nomad86 version \d", p.stdout):
            record("cli: --version format", False, repr(p.stdout))


def run_trace_check():
    """-d in_asm,exec,cpu with -one-insn-per-tb and -dfilter: a per-instruction
    trace limited to the filtered range, with Zydis disassembly."""
    name = "trace: -d in_asm,exec,cpu -one-insn-per-tb -dfilter"
    rom = os.path.join(BUILD, "tests", "guests", "real_arith.rom")
    with tempfile.TemporaryDirectory() as tmp:
        log = os.path.join(tmp, "trace.log")
        proc = subprocess.run([EXE, "-bios", rom, "-display", "none", "-device",
                               "isa-debug-exit,iobase=0xf4,iosize=0x04", "-one-insn-per-tb", "-d",
                               "in_asm,exec,cpu", "-D", log, "-dfilter", "0xf0000..0xf0002"],
                              capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
        text = open(log, errors="replace").read() if os.path.exists(log) else ""
    traces = re.findall(r"^Trace: f000:0000000([0-9a-f]) ", text, re.M)
    ok = proc.returncode == 33 and traces[:3] == ["0", "1", "2"] and "0x000f0000:  fa" in text \
        and "cli" in text and "EAX=" in text and "f000:00000003" not in text
    record(name, ok, "" if ok else "exit %d, traces %r, log head:\n%s" % (proc.returncode, traces[:5], text[:1500]))


def run_demo():
    """Boots the default guest the README boots, types into it, quits with Ctrl-A x."""
    name = "e2e: default guest boots, echoes typed text, Ctrl-A x quits"
    proc = subprocess.Popen([EXE, "-nographic"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        os.set_blocking(proc.stdout.fileno(), False)
        out = b""

        def read_until(marker, seconds):
            nonlocal out
            deadline = time.time() + seconds
            while time.time() < deadline and marker not in out:
                out += proc.stdout.read() or b""
                time.sleep(0.05)
            return marker in out

        # The prompt at the start of a line: the firmware is in its echo loop.
        read_until(b"\n> ", 30)
        proc.stdin.write(b"hello nomad\r")
        proc.stdin.flush()
        read_until(b"hello nomad", 10)
        proc.stdin.write(b"\x01x")
        proc.stdin.flush()
        proc.wait(timeout=10)
        out += proc.stdout.read() or b""
    except subprocess.TimeoutExpired:
        proc.kill()
        record(name, False, "did not exit after Ctrl-A x")
        return
    text = out.decode(errors="replace")
    for want in ["nomad86 demo firmware", "GenuineIntel", "RAM:    128 MiB", "ticks, ok", "ok (sum", "hello nomad"]:
        if want not in text:
            record(name, False, "missing %r in output:\n%s" % (want, text[-2000:]))
            return
    if proc.returncode != 0:
        record(name, False, "exit status %d" % proc.returncode)
        return
    record(name, True)


def run_tool_suite(name, cmd, timeout):
    """A conformance tool whose last line is `N passed, M failed`: one result
    for the suite, with its counts shown."""
    if not os.path.exists(cmd[0]):
        record(name, False, "%s is missing" % cmd[0])
        return
    start = time.time()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        record(name, False, "timed out after %ds" % timeout)
        return
    lines = (proc.stdout or "").strip().splitlines()
    if proc.returncode == 77 and lines and lines[-1].endswith("skipped"):
        skip(name, lines[-2] if len(lines) > 1 else "the tool skipped")
        return
    m = re.match(r"(\d+) passed, (\d+) failed", lines[-1]) if lines else None
    if not m:
        record(name, False, "no summary line (exit %d)\n%s%s" % (proc.returncode, (proc.stdout or "")[-2000:],
                                                                  (proc.stderr or "")[-2000:]))
        return
    ok = int(m.group(2)) == 0 and proc.returncode == 0
    detail = "%s passed, %s failed in %.1fs" % (m.group(1), m.group(2), time.time() - start)
    if not ok:
        print("\n".join(lines[-40:]))
    print("%s: %s" % (name, detail), flush=True)
    record(name, ok, "" if ok else detail)


def run_conformance():
    """Both conformance runners under each engine (the JIT translates every
    test block from its first run; verify=on checks it against the
    interpreter as well)."""
    shared = os.path.join(ROOT, "..", "shared", "conformance", "80286-real-mode")
    tool = os.path.join(BUILD, "nomad86-singlestep")
    seed = int.from_bytes(os.urandom(4), "little")
    print("hostdiff seed: %d (replay: %s/nomad86-hostdiff --count 200000 --seed %d)" % (seed, BUILD, seed), flush=True)
    for accel in ACCELS:
        if not os.path.isdir(shared):
            record("conformance: 80286 real-mode tests [%s]" % accel, False, "shared data missing at " + shared)
        else:
            run_tool_suite("conformance: 80286 real-mode tests [%s]" % accel, [tool, "--accel", accel, shared], 600)
        run_tool_suite("conformance: host-CPU differential [%s]" % accel,
                       [os.path.join(BUILD, "nomad86-hostdiff"), "--count", "200000", "--seed", str(seed),
                        "--accel", accel], 600)


def run_python_suite(relpath, label):
    """A suite in its own module exposing run(build_dir, record)."""
    import importlib.util
    path = os.path.join(ROOT, relpath)
    if not os.path.exists(path):
        record(label, False, path + " is missing")
        return
    spec = importlib.util.spec_from_file_location(label.replace(" ", "_"), path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
        module.run(BUILD, record)
    except Exception as e:  # a broken suite is a failure, not a crash of the runner
        record(label, False, "%s: %s" % (type(e).__name__, e))


def main():
    if not os.path.exists(EXE):
        print("nomad86 executable missing: %s" % EXE)
        print("0 passed, 1 failed")
        return 1
    start = time.time()
    run_unit_tests()
    run_cli_tests()
    run_guests()
    run_trace_check()
    run_demo()
    run_python_suite("tests/gdb/gdb_suite.py", "gdb suite")
    run_python_suite("tests/monitor/monitor_suite.py", "monitor suite")
    run_python_suite("tests/kernel/kernel_suite.py", "kernel suite")
    run_conformance()
    run_python_suite("tests/migration/migration_suite.py", "migration suite")
    run_python_suite("tests/linux/linux_suite.py", "linux suite")
    passed = sum(1 for r in results if r[1])
    failed = sum(1 for r in results if not r[1])
    print("test suite time: %.1fs" % (time.time() - start))
    for name, reason in skipped:
        print("skipped: %s (%s)" % (name, reason))
    print("%d passed, %d failed" % (passed, failed) + (", %d skipped" % len(skipped) if skipped else ""))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
