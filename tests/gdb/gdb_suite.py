"""GDB remote stub tests: a real gdb in batch mode, and a raw socket that
sends garbage, against nomad86 running tests/gdb/gdb_target.asm.

tests/run_tests.py calls run(build_dir, record); record(name, ok, detail)
records one result. Runnable alone: python3 tests/gdb/gdb_suite.py BUILD_DIR.
Everything listens on 127.0.0.1 only.
"""
import os
import re
import shutil
import socket
import subprocess
import sys
import time

HOST = "127.0.0.1"
GDB_TIMEOUT = 60


def _free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _listening(port):
    """True once something listens on 127.0.0.1:port (without connecting:
    a connection would attach to the stub)."""
    want = "0100007F:%04X" % port
    try:
        with open("/proc/net/tcp") as f:
            for line in f.readlines()[1:]:
                cols = line.split()
                if cols[1] == want and cols[3] == "0A":
                    return True
    except OSError:
        pass
    return False


class Emulator:
    def __init__(self, build_dir, rom, paused=True):
        self.port = None
        self.proc = None
        for _ in range(5):
            port = _free_port()
            args = [os.path.join(build_dir, "nomad86"), "-bios", rom, "-display", "none",
                    "-serial", "null", "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
                    "-no-reboot", "-gdb", "tcp:%s:%d" % (HOST, port)]
            if paused:
                args.append("-S")
            proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            deadline = time.time() + 10
            while time.time() < deadline and proc.poll() is None and not _listening(port):
                time.sleep(0.02)
            if proc.poll() is None and _listening(port):
                self.port, self.proc = port, proc
                return
            proc.kill()
            proc.communicate()
        raise RuntimeError("nomad86 did not start listening")

    def wait(self, timeout=20):
        """Exit status, or None if it is still running after `timeout`."""
        try:
            self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        return self.proc.returncode

    def alive(self):
        return self.proc.poll() is None

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.communicate()


def _gdb(port, commands, arch="i8086"):
    args = ["gdb", "-batch", "-nx", "-ex", "set architecture " + arch,
            "-ex", "set remotetimeout 10", "-ex", "target remote %s:%d" % (HOST, port)]
    for c in commands:
        args += ["-ex", c]
    try:
        p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=GDB_TIMEOUT, text=True, stdin=subprocess.DEVNULL)
        return p.stdout
    except subprocess.TimeoutExpired as e:
        out = e.stdout or b""
        return (out.decode(errors="replace") if isinstance(out, bytes) else out) + "\n<gdb timed out>"


def _reg(out, name, value):
    return re.search(r"^%s\s+%s\s" % (re.escape(name), re.escape(value)), out, re.M) is not None


def _check(record, name, ok, out):
    record(name, ok, "" if ok else out[-4000:])


def _session_tests(build_dir, rom, record):
    """One gdb session walks the whole guest; each stage is one result."""
    emu = Emulator(build_dir, rom)
    try:
        out = _gdb(emu.port, [
            "echo @@regs\\n",
            "break *0xF0100", "continue",
            "info registers eip eflags cs eax ebx",
            "x/4xb 0xF0100",
            "echo @@int\\n",
            "break *0xF0110", "continue", "stepi",
            "info registers eip cs",
            "echo @@farjmp\\n",
            "delete", "break *0xF0140", "continue",
            "set architecture i386", "stepi",
            "info registers eip cs cr0",
            "echo @@watch\\n",
            "break *0xF1040", "continue", "p/x $ecx",
            "watch *(unsigned int *)0x700", "continue", "p/x $pc",
            "echo @@phys\\n",
            "maint packet Qqemu.PhyMemMode:1", "x/2xb 0xF1040",
            "maint packet Qqemu.PhyMemMode:0",
            "maint packet qqemu.sstep",
            "echo @@bad\\n",
            "x/4xb 0xE0000000",
            "echo @@monitor\\n",
            "monitor info registers",
            "echo @@detach\\n",
            "detach",
        ])
    finally:
        status = emu.wait()
        if status is None:
            emu.kill()

    def part(tag):
        m = re.search(r"@@%s\n(.*?)(?=@@|\Z)" % tag, out, re.S)
        return m.group(1) if m else ""

    p = part("regs")
    _check(record, "gdb: break, continue, registers, memory",
           _reg(p, "eip", "0x100") and _reg(p, "cs", "0xf000") and _reg(p, "eax", "0x1234")
           and _reg(p, "ebx", "0x5678") and re.search(r"eflags\s+0x46\s", p) is not None
           and "0xf0100:\t0x90\t0x90\t0x90\t0x90" in p, out)
    p = part("int")
    _check(record, "gdb: stepi on INT n lands in the handler",
           _reg(p, "eip", "0x180") and _reg(p, "cs", "0xf000"), out)
    p = part("farjmp")
    _check(record, "gdb: stepi across the far jump into protected mode",
           _reg(p, "eip", "0xf1000") and _reg(p, "cs", "0x8")
           and re.search(r"^cr0\s+0x[0-9a-f]*1\s.*\bPE\b", p, re.M) is not None, out)
    p = part("watch")
    _check(record, "gdb: write watchpoint fires after the writing instruction",
           "$1 = 0xdeadbeef" in p and "Old value = 0" in p and "New value = 3405705229" in p
           and "= 0xf105a" in p, out)
    p = part("phys")
    _check(record, "gdb: maint packet Qqemu.PhyMemMode:1",
           p.count('received: "OK"') == 2 and "0xf1040:\t0x90\t0x90" in p
           and 'received: "0x7"' in p, out)
    p = part("bad")
    _check(record, "gdb: unmapped memory is an error",
           "Cannot access memory at address 0xe0000000" in p, out)
    p = part("monitor")
    _check(record, "gdb: monitor command through qRcmd",
           "not supported" not in p and "error" not in p.lower(), out)
    p = part("detach")
    _check(record, "gdb: detach lets the guest finish (status 33)",
           "detached" in p and status == 33, out + "\nexit status: %r" % status)


def _packet(payload):
    return ("$%s#%02x" % (payload, sum(payload.encode("latin-1")) & 0xFF)).encode("latin-1")


class _Raw:
    def __init__(self, port):
        self.s = socket.create_connection((HOST, port), timeout=10)
        self.buf = b""

    def send(self, data):
        self.s.sendall(data)

    def reply(self):
        """The next packet's payload (acks skipped)."""
        while True:
            m = re.search(rb"\$([^#]*)#[0-9a-f]{2}", self.buf)
            if m:
                self.buf = self.buf[m.end():]
                self.send(b"+")
                return m.group(1).decode("latin-1")
            chunk = self.s.recv(65536)
            if not chunk:
                raise EOFError("connection closed")
            self.buf += chunk

    def expect_nack(self):
        deadline = time.time() + 10
        while b"-" not in self.buf and time.time() < deadline:
            self.buf += self.s.recv(65536)
        ok = b"-" in self.buf
        self.buf = self.buf[self.buf.index(b"-") + 1:] if ok else self.buf
        return ok

    def close(self):
        self.s.close()


def _bad_input_test(build_dir, rom, record):
    name = "gdb: garbage, bad checksum, oversized packet, ^C, disconnect mid-packet"
    emu = Emulator(build_dir, rom)
    log = []
    ok = True
    try:
        r = _Raw(emu.port)

        def expect(what, got, want):
            nonlocal ok
            log.append("%s: %r" % (what, got))
            if not (want(got) if callable(want) else got == want):
                ok = False
                log.append("  ^ unexpected")

        r.send(b"hello\r\n\xff\x00\x01garbage+++")
        r.send(b"$g#00")
        expect("bad checksum", r.expect_nack(), True)
        r.send(b"$" + b"a" * 40000 + b"#00")
        expect("oversized", r.reply(), lambda x: x.startswith("E"))
        r.send(_packet("qNoSuchThing"))
        expect("unknown", r.reply(), "")
        r.send(_packet("me0000000,4"))
        expect("unmapped", r.reply(), "E14")
        r.send(_packet("mf0100,4"))
        expect("memory", r.reply(), "90909090")
        r.send(_packet("Z9,0,1"))
        expect("bad Z type", r.reply(), "")
        r.send(_packet("mzz,4"))
        expect("bad m", r.reply(), lambda x: x.startswith("E"))
        r.send(_packet("*x"))
        expect("malformed RLE", r.reply(), lambda x: x.startswith("E"))
        r.send(_packet("?"))
        expect("stop reason", r.reply(), lambda x: x.startswith("T05"))
        # Run to protected mode, keep the guest spinning once it runs on
        # (clear its exit flag), let it go, then interrupt it.
        r.send(_packet("Z0,f1040,1"))
        expect("Z0", r.reply(), "OK")
        r.send(_packet("c"))
        expect("breakpoint", r.reply(), lambda x: x.startswith("T05"))
        r.send(_packet("z0,f1040,1"))
        expect("z0", r.reply(), "OK")
        r.send(_packet("M800,4:00000000"))
        expect("write", r.reply(), "OK")
        r.send(_packet("c"))
        time.sleep(0.3)
        r.send(b"\x03")
        expect("^C", r.reply(), lambda x: x.startswith("T02"))
        r.send(_packet("p8"))
        expect("eip after ^C", r.reply(), lambda x: len(x) == 8 and 0xF1060 <= int(x[6:8] + x[4:6] + x[2:4] + x[0:2], 16) < 0xF1070)
        # Read and access watchpoints on the spin flag the loop reads.
        for z, stop in (("3", "rwatch"), ("4", "awatch")):
            r.send(_packet("Z%s,800,4" % z))
            expect("Z" + z, r.reply(), "OK")
            r.send(_packet("c"))
            expect(stop, r.reply(), lambda x, stop=stop: x.startswith("T05%s:800;" % stop))
            r.send(_packet("z%s,800,4" % z))
            expect("z" + z, r.reply(), "OK")
        # Resume, then vanish in the middle of a packet.
        r.send(_packet("vCont;c"))
        time.sleep(0.1)
        r.send(b"$m f01")
        r.close()
        time.sleep(0.5)
        expect("emulator alive after disconnect", emu.alive(), True)
        # A later gdb attaches, releases the guest, detaches: status 33.
        out = _gdb(emu.port, ["p/x $eip", "set var *(unsigned int *)0x800 = 1", "detach"], arch="i386")
        log.append(out)
        if "detached" not in out:
            ok = False
        status = emu.wait()
        expect("exit status", status, 33)
    except Exception as e:  # noqa: BLE001 - any failure is the test's result
        ok = False
        log.append("exception: %r" % e)
    finally:
        if emu.alive():
            emu.kill()
    record(name, ok, "" if ok else "\n".join(log)[-4000:])


def run(build_dir, record):
    rom = os.path.join(build_dir, "tests", "gdb", "gdb_target.rom")
    if not shutil.which("gdb"):
        record("gdb stub tests", False, "gdb is not installed")
        return
    if not os.path.exists(rom):
        record("gdb stub tests", False, "missing " + rom)
        return
    for test in (_session_tests, _bad_input_test):
        try:
            test(build_dir, rom, record)
        except Exception as e:  # noqa: BLE001
            record("gdb: " + test.__name__, False, repr(e))


if __name__ == "__main__":
    results = []

    def _rec(name, ok, detail=""):
        results.append(ok)
        print("%s %s" % ("PASS" if ok else "FAIL", name))
        if not ok and detail:
            print(detail)

    run(sys.argv[1] if len(sys.argv) > 1 else "build", _rec)
    print("%d passed, %d failed" % (results.count(True), results.count(False)))
    sys.exit(0 if all(results) else 1)
