"""End-to-end boots of the default Linux guest (roms/make-guest.sh: Debian's
i386 kernel and a busybox initramfs) through the real binary:

  - the self-check boot: passes only on "nomad86 selftest: PASS", and the
    guest's power-off must end nomad86 with status 0; it runs four times,
    under the JIT (the default), the interpreter (-accel interp), both in
    lockstep (-accel jit,verify=on, which stops at the first block where
    the two disagree), and the JIT with a 1 MiB code cache that is flushed
    whole thousands of times (-accel jit,tb-size=1);
  - an interactive shell driven through tmux: wait for the prompt, type a
    command, read its output on the screen, then `poweroff` (status 0);
  - a kernel panic (rdinit pointing nowhere, panic=-1, -no-reboot): the panic
    is on the console and the process ends with status 1.

The boots run side by side: under the JIT each takes about 35 s of one
core, under the interpreter about two minutes, in lockstep five to ten. The images come from $NOMAD86_GUEST_KERNEL/$NOMAD86_GUEST_INITRD
(set by ./nomad86.sh test) or from running roms/make-guest.sh.

tests/run_tests.py calls run(build_dir, record). Runnable alone:
python3 tests/linux/linux_suite.py BUILD_DIR
"""
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Seconds; the lockstep boot is the long one, five to ten minutes with the
# others beside it on two cores (sanitizer builds: set NOMAD86_BOOT_TIMEOUT
# higher).
BOOT_TIMEOUT = int(os.environ.get("NOMAD86_BOOT_TIMEOUT", "1500"))
PROMPT = "nomad86:/# "


def guest_images():
    kernel, initrd = os.environ.get("NOMAD86_GUEST_KERNEL"), os.environ.get("NOMAD86_GUEST_INITRD")
    if kernel and initrd:
        return kernel, initrd, ""
    p = subprocess.run([os.path.join(ROOT, "roms", "make-guest.sh")], capture_output=True, text=True)
    lines = p.stdout.split()
    if p.returncode != 0 or len(lines) != 2:
        return None, None, "roms/make-guest.sh failed (exit %d): %s" % (p.returncode, p.stderr[-1500:])
    return lines[0], lines[1], ""


def linux_args(kernel, initrd, append):
    return ["-m", "256", "-kernel", kernel, "-initrd", initrd, "-append", append]


class Boot:
    """A boot in the background with its serial console captured to a file."""

    def __init__(self, exe, args, tmp, name):
        self.path = os.path.join(tmp, name + ".log")
        self.out = open(self.path, "wb")
        self.start = time.time()
        self.proc = subprocess.Popen([exe, "-display", "none", "-serial", "stdio", "-no-reboot"] + args,
                                     stdout=self.out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def finish(self):
        """Waits for the exit; returns (status or None on timeout, console text, seconds)."""
        try:
            status = self.proc.wait(timeout=max(1, BOOT_TIMEOUT - (time.time() - self.start)))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            status = None
        self.out.close()
        return status, open(self.path, errors="replace").read(), time.time() - self.start


def check_selftest(boot, record, accel):
    name = "linux: self-check guest boots, prints PASS, powers off with status 0 [%s]" % accel
    status, text, seconds = boot.finish()
    ok = status == 0 and "nomad86 selftest: PASS" in text and "selftest: FAIL" not in text
    print("linux: self-check boot [%s] took %.0fs (exit %s)" % (accel, seconds, status), flush=True)
    record(name, ok, "" if ok else "exit %s after %.0fs, console tail:\n%s" % (status, seconds, text[-3000:]))


def check_panic(boot, record):
    name = "linux: a kernel panic is on the console and ends -no-reboot with status 1"
    status, text, seconds = boot.finish()
    # 1: -no-reboot after a reset nobody announced (core/machine.cpp guest_reset).
    ok = status == 1 and "Kernel panic - not syncing" in text
    record(name, ok, "" if ok else "exit %s after %.0fs, console tail:\n%s" % (status, seconds, text[-3000:]))


def run_interactive(exe, kernel, initrd, record):
    """The shell through a real terminal (tmux): prompt, typing, output, poweroff."""
    name = "linux: interactive shell in tmux: prompt, typed command, its output, 20000 lines of output, poweroff ends with status 0"
    if not shutil.which("tmux"):
        record(name, False, "tmux is not installed")
        return
    session = "nomad86-linux-%d" % os.getpid()
    cmd = " ".join(shlex.quote(a) for a in [exe, "-nographic"] +
                   linux_args(kernel, initrd, "console=ttyS0"))
    # The status is printed on the pane, then the pane stays for reading.
    script = "%s; echo NOMAD86-EXIT=$?; sleep 3600" % cmd
    # A server of its own (-L), whose history holds all 20000 lines below;
    # a user's tmux and its options are left alone.
    tmux = ["tmux", "-L", session]
    subprocess.run(tmux + ["start-server", ";", "set-option", "-g", "history-limit", "30000", ";",
                           "new-session", "-d", "-s", session, "-x", "160", "-y", "50", script], check=True)

    def screen():
        p = subprocess.run(tmux + ["capture-pane", "-p", "-J", "-S", "-30000", "-t", session],
                           capture_output=True, text=True)
        return p.stdout

    def wait_for(text, seconds):
        deadline = time.time() + seconds
        while time.time() < deadline:
            s = screen()
            if text in s:
                return True
            time.sleep(1)
        return False

    def keys(text):
        subprocess.run(tmux + ["send-keys", "-t", session, "-l", text], check=True)
        subprocess.run(tmux + ["send-keys", "-t", session, "Enter"], check=True)

    try:
        start = time.time()
        if not wait_for(PROMPT, BOOT_TIMEOUT):
            record(name, False, "no shell prompt %r within %ds; screen:\n%s" % (PROMPT, BOOT_TIMEOUT, screen()[-3000:]))
            return
        print("linux: interactive shell prompt after %.0fs" % (time.time() - start), flush=True)
        keys("echo nomad$((6*7)) $(uname -m) $(cat /proc/cmdline)")
        if not wait_for("nomad42 i686 console=ttyS0", 60):
            record(name, False, "typed command's output not on the screen:\n%s" % screen()[-3000:])
            return
        # 109 KB through the UART's FIFO and THRE interrupts, the CPU
        # halting between characters: every line arrives, in order, none
        # lost or doubled. (How fast is bench/console_bench.py's question;
        # the deadline only bounds a hang.)
        keys("seq 1 20000; echo seq-$((3+4))-done")
        if not wait_for("seq-7-done", 240):
            record(name, False, "20000 lines of output did not end within 240 s:\n%s" % screen()[-3000:])
            return
        lines = screen().splitlines()
        end = max(i for i, line in enumerate(lines) if line.strip() == "seq-7-done")
        tail = [line.strip() for line in lines[end - 20000:end]]
        want = [str(k) for k in range(1, 20001)]
        if tail != want:
            bad = next(i for i, (got, exp) in enumerate(zip(tail, want)) if got != exp) if len(tail) == len(want) else 0
            record(name, False, "the lines of seq 1 20000 are not 1..20000 (first difference at %d: %r):\n%s" %
                   (bad, tail[bad:bad + 3], "\n".join(lines[end - 20:end + 1])))
            return
        keys("poweroff")
        if not wait_for("NOMAD86-EXIT=", 120):
            record(name, False, "nomad86 did not end after poweroff:\n%s" % screen()[-3000:])
            return
        s = screen()
        ok = "NOMAD86-EXIT=0" in s
        record(name, ok, "" if ok else "exit status not 0:\n%s" % s[-3000:])
    finally:
        subprocess.run(tmux + ["kill-server"], capture_output=True)


def run(build_dir, record):
    exe = os.path.abspath(os.path.join(build_dir, "nomad86"))
    kernel, initrd, problem = guest_images()
    if problem:
        record("linux: guest image", False, problem)
        return
    with tempfile.TemporaryDirectory() as tmp:
        # jit,tb-size=1: a 1 MiB code cache, flushed whole thousands of times.
        accels = ["jit", "interp", "jit,verify=on", "jit,tb-size=1"]
        selftests = [Boot(exe, ["-accel", a] + linux_args(kernel, initrd, "console=ttyS0 nomad86.selftest=1"), tmp,
                          "selftest-" + a.replace(",", "-").replace("=", "-")) for a in accels]
        panic = Boot(exe, linux_args(kernel, initrd, "console=ttyS0 rdinit=/nonexistent panic=-1"), tmp, "panic")
        try:
            run_interactive(exe, kernel, initrd, record)
        finally:
            for boot, accel in zip(selftests, accels):
                check_selftest(boot, record, accel)
            check_panic(panic, record)


if __name__ == "__main__":
    results = []

    def _record(name, ok, detail=""):
        results.append(ok)
        print("%s: %s%s" % ("PASS" if ok else "FAIL", name, ("\n" + detail) if detail else ""), flush=True)

    run(sys.argv[1] if len(sys.argv) > 1 else "build", _record)
    sys.exit(0 if results and all(results) else 1)
