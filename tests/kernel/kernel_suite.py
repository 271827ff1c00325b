"""Direct kernel boot (-kernel/-initrd/-append) through the real binary: a
Multiboot a.out-kludge kernel and a fake Linux bzImage (tests/kernel/*.asm,
built into BUILD/tests/kernel/) that check what the loader handed them and
exit through isa-debug-exit, plus the bad-input cases (one line on stderr,
non-zero exit).

tests/run_tests.py calls run(build_dir, record); record(name, ok, detail)
records one result. Runnable alone: python3 tests/kernel/kernel_suite.py BUILD_DIR.
"""
import os
import subprocess
import sys
import tempfile

TIMEOUT = 20
GUEST_ARGS = ["-display", "none", "-debugcon", "stdio", "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
              "-no-reboot"]
PASS_STATUS = 33  # the guest writes 0x10: (0x10 << 1) | 1


def _run(exe, args):
    try:
        p = subprocess.run([exe] + args, capture_output=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        return None
    return p


def _boot(record, name, exe, args, want_stdout):
    p = _run(exe, args + GUEST_ARGS)
    if p is None:
        record(name, False, "timed out after %ds" % TIMEOUT)
        return
    ok = p.returncode == PASS_STATUS and want_stdout in p.stdout
    record(name, ok, "" if ok else "exit %d, stdout %r, stderr %r" % (p.returncode, p.stdout[-500:], p.stderr[-500:]))


def _refuse(record, name, exe, args, want_in_stderr):
    p = _run(exe, args + GUEST_ARGS)
    if p is None:
        record(name, False, "timed out after %ds (expected a refusal)" % TIMEOUT)
        return
    err = p.stderr.decode(errors="replace")
    lines = err.splitlines()
    ok = p.returncode != 0 and len(lines) == 1 and want_in_stderr in err and lines[0].startswith("nomad86: ")
    record(name, ok, "" if ok else "exit %d, stderr %r" % (p.returncode, err[-500:]))


def run(build_dir, record):
    exe = os.path.join(build_dir, "nomad86")
    images = os.path.join(build_dir, "tests", "kernel")
    mb_kernel = os.path.join(images, "mb_kernel.bin")
    bzimage = os.path.join(images, "bzimage.bin")
    for path in (mb_kernel, bzimage):
        if not os.path.exists(path):
            record("kernel: image " + os.path.basename(path), False, path + " is missing")
            return
    with tempfile.TemporaryDirectory() as tmp:
        module = os.path.join(tmp, "module.bin")
        with open(module, "wb") as f:
            f.write(b"MODULE-OK" + b"x" * (4096 + 17 - 9))  # mb_kernel.asm checks the size
        initrd = os.path.join(tmp, "initrd.img")
        with open(initrd, "wb") as f:
            f.write(b"INITRD-OK" + b"y" * (8192 + 100 - 9))  # bzimage.asm checks the size
        big = os.path.join(tmp, "big.img")
        with open(big, "wb") as f:
            f.write(bytes(1536 * 1024))
        junk = os.path.join(tmp, "notakernel.bin")
        with open(junk, "wb") as f:
            f.write(b"this is not a kernel\n" * 500)

        _boot(record, "kernel: multiboot a.out kernel with a module", exe,
              ["-kernel", mb_kernel, "-m", "32M", "-initrd", module + " modarg", "-append", "hello-multiboot v=1"],
              b"multiboot: ok")
        _boot(record, "kernel: linux bzImage with initrd and command line", exe,
              ["-kernel", bzimage, "-m", "32M", "-initrd", initrd, "-append", "console=ttyS0 hello-linux"],
              b"linux: ok")

        _refuse(record, "kernel: not a kernel", exe, ["-kernel", junk], "not a Linux bzImage")
        _refuse(record, "kernel: missing kernel file", exe, ["-kernel", os.path.join(tmp, "nope")],
                "cannot read kernel '%s': No such file or directory" % os.path.join(tmp, "nope"))
        _refuse(record, "kernel: missing initrd file", exe,
                ["-kernel", bzimage, "-initrd", os.path.join(tmp, "nope.img")], "cannot read initrd")
        _refuse(record, "kernel: missing multiboot module", exe,
                ["-kernel", mb_kernel, "-initrd", os.path.join(tmp, "nope.mod") + " arg"], "nope.mod")
        _refuse(record, "kernel: initrd too large for -m 2M", exe,
                ["-kernel", bzimage, "-m", "2M", "-initrd", big], "does not fit")
        _refuse(record, "kernel: multiboot module too large for -m 2M", exe,
                ["-kernel", mb_kernel, "-m", "2M", "-initrd", big], "does not fit")
        _refuse(record, "kernel: -m too small for the kernel", exe, ["-kernel", bzimage, "-m", "1M"], "too small")
        _refuse(record, "kernel: -append without -kernel", exe, ["-append", "x"],
                "-append only allowed with -kernel option")
        _refuse(record, "kernel: -initrd without -kernel", exe, ["-initrd", initrd],
                "-initrd only allowed with -kernel option")


if __name__ == "__main__":
    results = []

    def _record(name, ok, detail=""):
        results.append(ok)
        print(("PASS " if ok else "FAIL ") + name + ("" if ok or not detail else ": " + detail), flush=True)

    run(sys.argv[1] if len(sys.argv) > 1 else "build", _record)
    print("%d passed, %d failed" % (results.count(True), results.count(False)))
    sys.exit(0 if all(results) else 1)
