"""Snapshots and live migration (issue 7), with two nomad86 processes on
loopback driven through their monitors. The guest is tests/guests/
migrate_dirty.asm: it increments the first byte of every page of a 64 MiB
region over and over and prints "A", then "B" after every pass.

The strongest check: the destination is started with -S, so it stays
paused when the machine arrives; the source is paused too once it gave the
machine up. Both RAMs (pmemsave) and both register sets must then be
identical, byte for byte; after `cont` the destination prints more "B"s.
tests/run_tests.py calls run(build_dir, record)."""

import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "monitor"))
from monitor_suite import Failure, connect, free_port  # noqa: E402

REGION = 0x400000
REGION_PAGES = 16384
RAM = "128M"


class Vm:
    """One nomad86 process with its monitor and serial output in files.
    rom=None runs the migration guest; rom="" the default firmware.
    console=True puts the serial port on the process's stdio (output to the
    same file), so that type_line() can send the guest input."""
    live = []  # killed after each test, whatever happened

    def __init__(self, build, tmp, name, extra, rom=None, ram=RAM, accel="jit", exe=None, console=False):
        self.tmp = tmp
        self.name = name
        self.serial = os.path.join(tmp, name + ".serial")
        self.stderr_path = os.path.join(tmp, name + ".stderr")
        self.mport = free_port()
        if rom is None:
            rom = os.path.join(build, "tests", "guests", "migrate_dirty.rom")
        cmd = [exe or os.path.join(build, "nomad86")] + (["-bios", rom] if rom else []) + [
               "-display", "none", "-m", ram, "-accel", accel,
               "-serial", "stdio" if console else "file:" + self.serial,
               "-monitor", "tcp:127.0.0.1:%d,server,nowait" % self.mport] + extra
        with open(self.stderr_path, "wb") as err, open(self.serial if console else os.devnull, "wb") as out:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE if console else subprocess.DEVNULL,
                                         stdout=out, stderr=err)
        Vm.live.append(self)
        self.mon = connect(socket.AF_INET, ("127.0.0.1", self.mport))
        self.mon.greeting()

    def cmd(self, line, expect=None):
        return self.mon.cmd(line, expect)

    def output(self):
        try:
            with open(self.serial, "rb") as f:
                return f.read()
        except OSError:
            return b""

    def stderr(self):
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def type_line(self, text):
        self.proc.stdin.write(text.encode() + b"\n")
        self.proc.stdin.flush()

    def info_migrate(self):
        out = self.cmd("info migrate")
        fields = {}
        for line in out.splitlines():
            if ":" in line:
                k, v = line.split(":", 1)
                fields[k.strip()] = v.strip()
        return fields

    def wait_status(self, want, seconds=30):
        deadline = time.time() + seconds
        while time.time() < deadline:
            st = self.info_migrate().get("Migration status", "")
            if st.split(" ")[0] in want:
                return st
            time.sleep(0.05)
        raise Failure("%s: migration status stayed %r (wanted %s): %r" % (self.name, st, want, self.info_migrate()))

    def wait_output(self, count_b, seconds=20):
        deadline = time.time() + seconds
        while time.time() < deadline:
            if self.output().count(b"B") >= count_b:
                return
            time.sleep(0.05)
        raise Failure("%s: fewer than %d 'B's on the serial port: %r" % (self.name, count_b, self.output()[-200:]))

    def ram(self):
        path = os.path.join(self.tmp, self.name + ".ram")
        self.cmd("pmemsave 0 %d %s" % (128 << 20, path))
        with open(path, "rb") as f:
            return f.read()

    def registers(self):
        return self.cmd("info registers")

    def exited(self, seconds):
        try:
            return self.proc.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            return None

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdin:
            self.proc.stdin.close()


def check_invariant(ram):
    """The region holds a prefix of x+1 and a suffix of x (one step)."""
    vals = ram[REGION:REGION + REGION_PAGES * 4096:4096]
    last = vals[-1]
    k = 0
    while k < len(vals) and vals[k] == (last + 1) & 0xff:
        k += 1
    if any(v != last for v in vals[k:]):
        bad = next(i for i in range(k, len(vals)) if vals[i] != last)
        raise Failure("RAM invariant broken: page %d holds %d, pages %d.. hold %d, pages below %d hold %d" %
                      (bad, vals[bad], k, last, k, (last + 1) & 0xff))
    if ram[REGION + 4096 * REGION_PAGES - 1] != 0 or ram[REGION + 1] != 0:
        raise Failure("RAM invariant broken: bytes the guest never writes are not zero")
    return k, last


def compare_machines(src, dst):
    """Both paused: the same RAM and registers, and the invariant holds."""
    a, b = src.ram(), dst.ram()
    if a != b:
        diff = [i for i in range(0, len(a), 4096) if a[i:i + 4096] != b[i:i + 4096]]
        raise Failure("RAM differs between source and destination in %d pages (first at %#x)" %
                      (len(diff), diff[0]))
    ra, rb = src.registers(), dst.registers()
    if ra != rb:
        raise Failure("registers differ:\n%s\nvs\n%s" % (ra, rb))
    return check_invariant(b)


def resumes(dst, src_b_count):
    """The destination carries on printing where the source stopped."""
    before = dst.output().count(b"B")
    dst.cmd("cont")
    dst.wait_output(before + 3)
    if src_b_count == 0:
        raise Failure("the source had printed no 'B' before migrating")


def pair(build, tmp, dst_extra=(), src_extra=(), dst_ram=RAM):
    port = free_port()
    dst = Vm(build, tmp, "dst", ["-incoming", "tcp:127.0.0.1:%d" % port, "-S"] + list(dst_extra), ram=dst_ram)
    dst.cmd("cont", "Migration is not finalized yet")  # nothing runs before the machine arrived
    dst.cmd("info status", "VM status: paused (inmigrate)")
    src = Vm(build, tmp, "src", list(src_extra))
    src.wait_output(2)
    return src, dst, port


def test_file(build, tmp):
    src = Vm(build, tmp, "src", [])
    src.wait_output(2)
    path = os.path.join(tmp, "snap")
    src.cmd("migrate file:%s" % path, None)
    src.cmd("info migrate", "Migration status: completed")
    if src.cmd("info status").strip() != "VM status: running":
        raise Failure("the source stopped after migrate file:")
    n = src.output().count(b"B")
    src.wait_output(n + 2)  # it keeps running
    src.kill()
    dst = Vm(build, tmp, "dst", ["-incoming", "file:" + path, "-S"])
    check_invariant(dst.ram())
    resumes(dst, n)
    dst.kill()


def test_precopy_rounds(build, tmp):
    src, dst, port = pair(build, tmp)
    src.cmd("migrate_set_parameter max-bandwidth 24M")
    src.cmd("migrate -d tcp:127.0.0.1:%d" % port)
    deadline = time.time() + 30
    while int(src.info_migrate().get("dirty sync count", "0")) < 3:
        if time.time() > deadline:
            raise Failure("no third pre-copy round: %r" % src.info_migrate())
        time.sleep(0.1)
    st = src.info_migrate()
    if st["Migration status"] != "active":
        raise Failure("converged at 24M/s already: %r" % st)
    src.cmd("migrate_set_parameter max-bandwidth 10G")
    src.wait_status(["completed"])
    if src.cmd("info status").strip() != "VM status: paused (postmigrate)":
        raise Failure("the source runs on after completing: %r" % src.cmd("info status"))
    dst.wait_status(["completed"])
    compare_machines(src, dst)
    resumes(dst, src.output().count(b"B"))
    rounds = int(src.info_migrate()["dirty sync count"])
    for vm in (src, dst):
        vm.kill()
    return "%d rounds" % rounds


def test_auto_converge(build, tmp):
    src, dst, port = pair(build, tmp)
    src.cmd("migrate_set_capability auto-converge on")
    src.cmd("migrate_set_parameter downtime-limit 20")
    src.cmd("migrate_set_parameter max-bandwidth 200M")
    src.cmd("migrate -d tcp:127.0.0.1:%d" % port)
    src.wait_status(["completed"], 60)
    st = src.info_migrate()
    if int(st.get("cpu throttle percentage", "0")) <= 0:
        raise Failure("converged without throttling the guest: %r" % st)
    dst.wait_status(["completed"])
    compare_machines(src, dst)
    resumes(dst, 1)
    for vm in (src, dst):
        vm.kill()
    return "%s rounds, throttle %s%%, downtime %s" % (st.get("dirty sync count"), st.get("cpu throttle percentage"),
                                                     st.get("downtime"))


def test_postcopy(build, tmp):
    src, dst, port = pair(build, tmp)
    src.cmd("migrate_set_capability postcopy-ram on")
    src.cmd("migrate_set_parameter max-bandwidth 16M")
    src.cmd("migrate -d tcp:127.0.0.1:%d" % port)
    time.sleep(1.0)  # part of round one
    src.cmd("migrate_start_postcopy")
    dst.wait_status(["postcopy-active", "completed"])
    # The destination is paused (-S), yet reading its RAM pulls what it lacks.
    check_invariant(dst.ram())
    src.wait_status(["completed"])
    compare_machines(src, dst)
    resumes(dst, 1)
    for vm in (src, dst):
        vm.kill()


def test_postcopy_running(build, tmp):
    """Post-copy with the destination running at once: its accesses to
    pages it lacks stall and are requested over the return path."""
    port = free_port()
    dst = Vm(build, tmp, "dst", ["-incoming", "tcp:127.0.0.1:%d" % port])
    src = Vm(build, tmp, "src", [])
    src.wait_output(2)
    src.cmd("migrate_set_capability postcopy-ram on")
    src.cmd("migrate_set_parameter max-bandwidth 8M")
    # The background push is capped too: unthrottled, it can deliver all
    # 128 MiB before the destination's guest reaches a page it lacks, and
    # then nothing is ever requested. At 32M the push needs ~4 s, while the
    # guest walks onto a new page every few microseconds.
    src.cmd("migrate_set_parameter max-postcopy-bandwidth 32M")
    src.cmd("migrate -d tcp:127.0.0.1:%d" % port)
    time.sleep(0.5)
    src.cmd("migrate_start_postcopy")
    dst.wait_output(3)
    src.wait_status(["completed"], 60)
    dst.cmd("stop")
    check_invariant(dst.ram())
    st = dst.info_migrate()
    requests = int(st.get("postcopy request count", "0"))
    if requests == 0:
        raise Failure("the running destination requested no page: %r" % st)
    for vm in (src, dst):
        vm.kill()
    return "%d page requests, latency %s" % (requests, st.get("postcopy request latency"))


def test_postcopy_recover(build, tmp):
    """The connection breaks in post-copy (the source's end is cut by a
    proxy we kill); the destination waits, migrate_recover + migrate -r
    finish the job."""
    port = free_port()
    dst = Vm(build, tmp, "dst", ["-incoming", "tcp:127.0.0.1:%d" % port])
    src = Vm(build, tmp, "src", [])
    src.wait_output(2)
    proxy_port = free_port()
    proxy = subprocess.Popen([sys.executable, "-c", PROXY, str(proxy_port), str(port)])
    try:
        time.sleep(0.3)
        src.cmd("migrate_set_capability postcopy-ram on")
        src.cmd("migrate_set_parameter max-bandwidth 4M")
        src.cmd("migrate_set_parameter max-postcopy-bandwidth 4M")
        src.cmd("migrate -d tcp:127.0.0.1:%d" % proxy_port)
        time.sleep(0.5)
        src.cmd("migrate_start_postcopy")
        dst.wait_status(["postcopy-active"])
        time.sleep(0.3)
        proxy.kill()
        proxy.wait()
        src.wait_status(["postcopy-paused"])
        dst.wait_status(["postcopy-paused"])
        port2 = free_port()
        dst.cmd("migrate_recover tcp:127.0.0.1:%d" % port2, None)
        src.cmd("migrate_set_parameter max-postcopy-bandwidth 0")
        src.cmd("migrate -r tcp:127.0.0.1:%d" % port2, None)
        src.wait_status(["completed"], 60)
        dst.wait_status(["completed"], 60)
        n = dst.output().count(b"B")
        dst.wait_output(n + 2)
        dst.cmd("stop")
        check_invariant(dst.ram())
    finally:
        proxy.kill()
        for vm in (src, dst):
            vm.kill()


# A TCP relay (argv: listen port, target port) whose death cuts a connection.
PROXY = r"""
import socket, sys, threading
ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", int(sys.argv[1]))); ls.listen(1)
a, _ = ls.accept(); b = socket.create_connection(("127.0.0.1", int(sys.argv[2])))
def pump(x, y):
    while True:
        d = x.recv(65536)
        if not d: break
        y.sendall(d)
threading.Thread(target=pump, args=(b, a), daemon=True).start()
pump(a, b)
"""


def test_cancel(build, tmp):
    src, dst = slow_migration(build, tmp)
    src.cmd("migrate_cancel")
    src.wait_status(["cancelled"])
    n = src.output().count(b"B")
    src.wait_output(n + 3)  # the source runs on
    status = dst.exited(10)
    if status in (None, 0):
        raise Failure("the destination did not fail after the cancel (status %r)" % status)
    check_invariant(src.ram())
    src.kill()


def test_refuse(build, tmp):
    src, dst, port = pair(build, tmp, dst_ram="64M")
    src.cmd("migrate -d tcp:127.0.0.1:%d" % port)
    src.wait_status(["failed"])
    st = src.info_migrate()
    if "RAM size differs" not in st.get("error description", ""):
        raise Failure("no reason given: %r" % st)
    n = src.output().count(b"B")
    src.wait_output(n + 3)
    if dst.exited(10) in (None, 0):
        raise Failure("the refusing destination did not exit with an error")
    src.kill()


def slow_migration(build, tmp):
    """A pre-copy that is half a second into its first round."""
    src, dst, port = pair(build, tmp)
    src.cmd("migrate_set_parameter max-bandwidth 8M")
    src.cmd("migrate -d tcp:127.0.0.1:%d" % port)
    src.wait_status(["active"])
    time.sleep(0.5)
    return src, dst


def test_destination_killed(build, tmp):
    src, dst = slow_migration(build, tmp)
    dst.kill()
    src.wait_status(["failed"])
    n = src.output().count(b"B")
    src.wait_output(n + 3)
    if src.cmd("info status").strip() != "VM status: running":
        raise Failure("the source is not running after the failure")
    # Nothing lost: a second migration to a fresh destination completes.
    port2 = free_port()
    dst2 = Vm(build, tmp, "dst2", ["-incoming", "tcp:127.0.0.1:%d" % port2, "-S"])
    src.cmd("migrate_set_parameter max-bandwidth 10G")
    src.cmd("migrate -d tcp:127.0.0.1:%d" % port2)
    src.wait_status(["completed"])
    dst2.wait_status(["completed"])
    compare_machines(src, dst2)
    for vm in (src, dst2):
        vm.kill()


def test_source_killed(build, tmp):
    src, dst = slow_migration(build, tmp)
    src.kill()
    status = dst.exited(10)
    if status in (None, 0) or status < 0:
        raise Failure("the destination did not exit with an error status (%r)" % status)
    if "incoming migration failed" not in dst.stderr():
        raise Failure("no message from the destination: %r" % dst.stderr())


def test_hostile_files(build, tmp):
    """Corrupt snapshots: each is refused with a message and status 1."""
    src = Vm(build, tmp, "src", [], ram="16M")
    src.wait_output(0)
    good = os.path.join(tmp, "good")
    src.cmd("migrate file:" + good, None)
    src.kill()
    with open(good, "rb") as f:
        data = f.read()
    rng = random.Random(7)
    cases = [("empty", b""), ("garbage", bytes(rng.randrange(256) for _ in range(5000)))]
    for cut in sorted(set([1, 7, 8, 20, 100, 4096, len(data) // 2, len(data) - 13, len(data) - 1])):
        cases.append(("truncated at %d" % cut, data[:cut]))
    for _ in range(12):
        pos = rng.randrange(len(data))
        bad = bytearray(data)
        bad[pos] ^= 1 << rng.randrange(8)
        cases.append(("bit flip at %d" % pos, bytes(bad)))
    huge = bytearray(data)
    huge[4:8] = (0x7fffffff).to_bytes(4, "little")  # HELLO's length
    cases.append(("oversized record", bytes(huge)))
    # A well-framed record out of order: the END record (8 + 16 + 4 bytes)
    # repeated at the start.
    cases.append(("reordered", data[-28:] + data))
    results = []
    for name, blob in cases:
        path = os.path.join(tmp, "bad")
        with open(path, "wb") as f:
            f.write(blob)
        proc = subprocess.run([os.path.join(build, "nomad86"), "-bios",
                               os.path.join(build, "tests", "guests", "migrate_dirty.rom"), "-display", "none",
                               "-m", "16M", "-serial", "null", "-incoming", "file:" + path],
                              capture_output=True, timeout=20, stdin=subprocess.DEVNULL)
        err = proc.stderr.decode(errors="replace")
        if proc.returncode != 1 or "-incoming:" not in err or err.count("\n") != 1:
            raise Failure("%s: status %d, stderr %r" % (name, proc.returncode, err))
        results.append(name)
    return "%d corrupt files refused" % len(results)


def test_hostile_stream(build, tmp):
    """A 'source' that sends garbage after a valid start: the destination
    says why and exits 1; an oversized length is refused before any
    allocation."""
    for payload in [b"\x01\x00\x00\x00\xff\xff\xff\x7f", b"\x63" * 64, b"\x02\x00\x00\x00\x08\x00\x00\x00" + b"x" * 12]:
        port = free_port()
        dst = Vm(build, tmp, "dst", ["-incoming", "tcp:127.0.0.1:%d" % port])
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(payload)
        status = dst.exited(10)
        s.close()
        if status != 1 or "incoming migration failed" not in dst.stderr():
            raise Failure("payload %r: status %r, stderr %r" % (payload[:16], status, dst.stderr()))


LINUX_TIMEOUT = 600


def test_linux(build, tmp):
    """A Linux guest migrated in the middle of its self-check passes on the
    destination (serial output continues there, timers fire). The guest
    computes while the pre-copy runs, then waits half-way for a line on the
    console (nomad86.selftest-wait=1), which only the destination gets: the
    rest of the self-check cannot finish on the source, however slowly the
    migration goes on a loaded machine."""
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "linux"))
    from linux_suite import guest_images
    kernel, initrd, problem = guest_images()
    if problem:
        raise Failure(problem)
    common = ["-no-reboot", "-kernel", kernel, "-initrd", initrd,
              "-append", "console=ttyS0 nomad86.selftest=1 nomad86.selftest-wait=1"]
    port = free_port()
    dst = Vm(build, tmp, "dst", ["-incoming", "tcp:127.0.0.1:%d" % port] + common, rom="", ram="256M", console=True)
    src = Vm(build, tmp, "src", common, rom="", ram="256M")
    deadline = time.time() + LINUX_TIMEOUT
    while b"nomad86 selftest: " not in src.output():
        if time.time() > deadline or src.proc.poll() is not None:
            raise Failure("the source never started its self-check: %r" % src.output()[-300:])
        time.sleep(0.1)
    # A snapshot first (the source runs on), then the live migration; the
    # machine resumed from the file must pass as well.
    snap = os.path.join(tmp, "linux.snap")
    src.cmd("migrate file:" + snap, None)
    src.cmd("migrate -d tcp:127.0.0.1:%d" % port)
    src.wait_status(["completed"], 120)
    st = src.info_migrate()
    given_up = src.output()
    restored = Vm(build, tmp, "restored", ["-incoming", "file:" + snap] + common, rom="", ram="256M", console=True)
    for vm in (dst, restored):
        vm.type_line("go")
        status = vm.exited(240)  # the rest of the self-check takes seconds
        out = vm.output()
        if status != 0 or b"nomad86 selftest: PASS" not in out or b"selftest: gzip ok" not in out:
            raise Failure("%s did not pass (status %r): %r" % (vm.name, status, out[-600:]))
    if b"PASS" in src.output() or b"gzip ok" in given_up:
        raise Failure("the source ran past the wait: %r" % src.output()[-300:])
    src.kill()
    return "migrated after %d bytes of console, downtime %s" % (len(given_up), st.get("downtime"))


TESTS = [
    ("migration: snapshot to a file and back (-incoming file:), the guest goes on", test_file),
    ("migration: pre-copy forced through rounds by max-bandwidth, then converging; RAM and registers equal",
     test_precopy_rounds),
    ("migration: auto-converge throttles a dirtying guest until it converges (downtime-limit 20 ms)",
     test_auto_converge),
    ("migration: post-copy (paused destination pulls pages on access)", test_postcopy),
    ("migration: post-copy with the destination running, page requests on the return path", test_postcopy_running),
    ("migration: post-copy broken mid-way, then migrate_recover + migrate -r", test_postcopy_recover),
    ("migration: migrate_cancel mid-way, the source runs on", test_cancel),
    ("migration: the destination refuses another machine (-m), the source says why and runs on", test_refuse),
    ("migration: destination killed mid-stream, the source runs on and migrates again", test_destination_killed),
    ("migration: source killed mid-stream, the destination fails cleanly", test_source_killed),
    ("migration: hostile snapshot files are refused with one line", test_hostile_files),
    ("migration: a hostile incoming stream is refused", test_hostile_stream),
    ("migration: Linux migrated (and snapshotted to a file) in the middle of its self-check passes on the "
     "destination (and when restored)", test_linux),
]


def run(build, record, only=None):
    for name, fn in TESTS:
        if only and only not in name:
            continue
        start = time.time()
        with tempfile.TemporaryDirectory() as tmp:
            try:
                detail = fn(build, tmp) or ""
                for vm in Vm.live:  # a sanitizer build reports on stderr
                    vm.kill()
                    if "AddressSanitizer" in vm.stderr() or "runtime error:" in vm.stderr():
                        raise Failure("%s: sanitizer report: %s" % (vm.name, vm.stderr()[-1500:]))
                print("%s: ok in %.1fs %s" % (name, time.time() - start, detail), flush=True)
                record(name, True)
            except Exception as e:  # Failure, timeouts, OS errors: all are failures of this test
                record(name, False, "%s: %s" % (type(e).__name__, e))
            finally:
                for vm in Vm.live:
                    vm.kill()
                Vm.live.clear()


if __name__ == "__main__":
    results = []
    run(sys.argv[1], lambda n, ok, d="": (results.append(ok), print(("PASS " if ok else "FAIL ") + n, d)),
        sys.argv[2] if len(sys.argv) > 2 else None)
    sys.exit(0 if all(results) else 1)
