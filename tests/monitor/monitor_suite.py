"""The HMP monitor over its transports: -monitor tcp:, -monitor unix:, and
Ctrl-A c on the -nographic terminal. tests/run_tests.py calls
run(build_dir, record) with record(name, ok, detail)."""

import os
import socket
import subprocess
import tempfile
import time

PROMPT = b"(qemu) "


class Failure(Exception):
    pass


class Client:
    """One monitor connection: reads up to the prompt, runs commands."""

    def __init__(self, sock):
        self.sock = sock
        self.sock.settimeout(0.2)
        self.buf = b""

    def read_until(self, marker, seconds=10):
        deadline = time.time() + seconds
        while marker not in self.buf:
            if time.time() > deadline:
                raise Failure("timed out waiting for %r, got %r" % (marker, self.buf[-400:]))
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            if not data:
                raise Failure("connection closed while waiting for %r, got %r" % (marker, self.buf[-400:]))
            self.buf += data
        i = self.buf.index(marker) + len(marker)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def greeting(self):
        text = self.read_until(PROMPT)
        if b"monitor - type 'help' for more information\r\n" not in text:
            raise Failure("no banner: %r" % text)
        return text

    def cmd(self, line, expect=None):
        self.sock.sendall(line.encode() + b"\r\n")
        out = self.read_until(PROMPT)[:-len(PROMPT)].decode(errors="replace")
        if expect is not None and expect not in out:
            raise Failure("%r: expected %r in %r" % (line, expect, out))
        return out

    def close(self):
        self.sock.close()


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def connect(family, address, seconds=10):
    deadline = time.time() + seconds
    while True:
        s = socket.socket(family, socket.SOCK_STREAM)
        try:
            s.connect(address)
            return Client(s)
        except OSError:
            s.close()
            if time.time() > deadline:
                raise Failure("cannot connect to %r" % (address,))
            time.sleep(0.05)


def start(exe, monitor_arg, tmp):
    err = open(os.path.join(tmp, "stderr.txt"), "wb")
    proc = subprocess.Popen([exe, "-display", "none", "-serial", "null", "-monitor", monitor_arg],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
    err.close()
    return proc


def stop_process(proc):
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def check_alive(proc, what):
    if proc.poll() is not None:
        raise Failure("nomad86 exited (status %s) after %s" % (proc.returncode, what))


def session_commands(c, proc):
    """The everyday commands on one connection."""
    c.cmd("info status", "VM status: running")
    c.cmd("stop", None)
    c.cmd("info status", "VM status: paused")
    regs = c.cmd("info registers")
    for want in ["EAX=", "EBX=", "EIP=", "EFL=", "ES =", "CS =", "GDT=     ", "IDT=     ", "CR0=", "EFER=", "FCW="]:
        if want not in regs:
            raise Failure("info registers lacks %r: %r" % (want, regs))
    out = c.cmd("xp /16xb 0xffff0")
    if not out.startswith("00000000000ffff0: 0x") or out.count("\r\n") != 2:
        raise Failure("xp /16xb: %r" % out)
    out = c.cmd("x /4xw 0x1000")
    if not out.startswith("00001000: 0x") or len(out.split()) != 5:
        raise Failure("x /4xw: %r" % out)
    out = c.cmd("x /2i $pc")
    if not out.startswith("0x") or out.count("\r\n") != 2:
        raise Failure("x /2i $pc: %r" % out)
    out = c.cmd("step")
    if not out.startswith("0x"):
        raise Failure("step: %r" % out)
    c.cmd("info status", "VM status: paused")
    c.cmd("cont")
    c.cmd("info status", "VM status: running")
    c.cmd("info pic", "pic0: irr=")
    c.cmd("info mem", "PG disabled")
    c.cmd("x /4xb 0x100000000", "Cannot access memory")
    c.cmd("frobnicate", "unknown command: 'frobnicate'")
    c.cmd("help", "system_reset")
    c.cmd("system_reset")
    c.cmd("info status", "VM status: running")
    check_alive(proc, "the command session")


def abuse(c, proc, reconnect):
    """Garbage, an overlong line, a peer that leaves mid-line: the emulator keeps running."""
    c.sock.sendall(b"\x00\xff\xfe\x80\x1b[A\x07garbage\x01\r\n")
    out = c.read_until(PROMPT).decode(errors="replace")
    if "unknown command" not in out:
        raise Failure("garbage: %r" % out)
    c.cmd("info status", "VM status: running")
    c.sock.sendall(b"A" * 100000 + b"\r\n")
    out = c.read_until(PROMPT, 20).decode(errors="replace")
    if "line too long" not in out:
        raise Failure("overlong line: %r" % out[-300:])
    c.cmd("info status", "VM status: running")
    c.sock.sendall(b"info sta")
    c.close()
    time.sleep(0.2)
    check_alive(proc, "a peer left mid-line")
    c2 = reconnect()
    c2.greeting()
    c2.cmd("info status", "VM status: running")
    # A second client waits while the first is served, then gets its turn.
    c3 = reconnect()
    c2.cmd("info status", "VM status: running")
    c2.close()
    c3.greeting()
    c3.cmd("info status", "VM status: running")
    return c3


def quit_and_wait(c, proc):
    c.sock.sendall(b"quit\r\n")
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        raise Failure("did not exit after quit")
    c.close()
    if proc.returncode != 0:
        raise Failure("exit status %d after quit" % proc.returncode)


def run_socket_test(record, name, exe, monitor_arg, family, address, tmp, after=None):
    proc = start(exe, monitor_arg, tmp)
    try:
        c = connect(family, address)
        c.greeting()
        session_commands(c, proc)
        record(name + ": commands", True)
        c = abuse(c, proc, lambda: connect(family, address))
        record(name + ": garbage, overlong line, disconnect mid-line, next client", True)
        quit_and_wait(c, proc)
        if after:
            after()
        record(name + ": quit exits with status 0", True)
    except Failure as e:
        err = ""
        try:
            with open(os.path.join(tmp, "stderr.txt"), "rb") as f:
                err = f.read().decode(errors="replace")[-500:]
        except OSError:
            pass
        record(name, False, str(e) + (" stderr: " + err if err else ""))
    finally:
        stop_process(proc)


def run_mux_test(record, exe):
    name = "monitor: Ctrl-A c switches serial and monitor on -nographic"
    proc = subprocess.Popen([exe, "-nographic"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
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
            if marker not in out:
                raise Failure("waiting for %r, got %r" % (marker, out[-500:]))
            i = out.index(marker) + len(marker)
            seen = out[:i]
            out = out[i:]
            return seen

        def send(data):
            proc.stdin.write(data)
            proc.stdin.flush()

        read_until(b"\n> ", 30)
        send(b"\x01c")
        read_until(PROMPT, 10)
        send(b"info status\r")
        read_until(b"VM status: running", 10)
        read_until(PROMPT, 10)
        send(b"stop\r")
        read_until(PROMPT, 10)
        send(b"info status\r")
        read_until(b"VM status: paused", 10)
        send(b"cont\r")
        read_until(PROMPT, 10)
        send(b"\x01c")
        send(b"back to serial\r")
        read_until(b"back to serial", 10)
        send(b"\x01x")
        proc.wait(timeout=10)
        if proc.returncode != 0:
            raise Failure("exit status %d" % proc.returncode)
        record(name, True)
    except (Failure, subprocess.TimeoutExpired) as e:
        record(name, False, str(e))
    finally:
        stop_process(proc)


def run(build_dir, record):
    exe = os.path.join(build_dir, "nomad86")
    with tempfile.TemporaryDirectory(prefix="nomad86-monitor-") as tmp:
        port = free_port()
        run_socket_test(record, "monitor tcp", exe, "tcp:127.0.0.1:%d,server,nowait" % port, socket.AF_INET,
                        ("127.0.0.1", port), tmp)

        path = os.path.join(tmp, "mon.sock")
        # A stale socket from an earlier run is replaced.
        stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        stale.bind(path)
        stale.close()

        def socket_removed():
            if os.path.exists(path):
                raise Failure("the socket file %s is still there after exit" % path)
        run_socket_test(record, "monitor unix", exe, "unix:%s,server,nowait" % path, socket.AF_UNIX, path, tmp,
                        after=socket_removed)
    run_mux_test(record, exe)


if __name__ == "__main__":
    import sys
    failures = []

    def _record(name, ok, detail=""):
        print(("PASS " if ok else "FAIL ") + name + ("" if ok or not detail else ": " + detail), flush=True)
        if not ok:
            failures.append(name)
    run(sys.argv[1] if len(sys.argv) > 1 else "build", _record)
    sys.exit(1 if failures else 0)
