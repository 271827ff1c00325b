#!/usr/bin/env python3
"""Times the default Linux guest's console output: boots it (-nographic, the
serial port on a pipe), waits for the shell prompt, types `seq 1 20000`
(128,894 bytes on the serial port, each line ending in CR LF, through the UART's FIFO and THRE
interrupts with the guest halting in between), and reports host-side
seconds from the command to the line after its output, and bytes per
second, under nomad86's JIT and, where qemu-system-i386 is installed, QEMU
with TCG.

    bench/console_bench.py [BUILD_DIR]        (./nomad86.sh bench --console)

Both run once, one after the other: on a shared machine the ratio means
more than either time."""

import os
import shutil
import subprocess
import sys
import time

from boot_bench import guest  # roms/make-guest.sh's kernel and initramfs

PROMPT = b"nomad86:/# "
COMMAND = b"seq 1 20000; echo seq-$((3+4))-done\n"
DONE = b"seq-7-done"
SEQ_BYTES = sum(len(str(k)) + 2 for k in range(1, 20001))  # "N\r\n" each
TIMEOUT = 300


def read_until(proc, out, marker, start, deadline):
    """Reads the guest's output until `marker` appears after offset `start`;
    returns (output, whether it came)."""
    while marker not in out[start:]:
        if proc.poll() is not None or time.perf_counter() > deadline:
            return out, False
        chunk = proc.stdout.read() or b""
        if not chunk:
            time.sleep(0.005)
        out += chunk
    return out, True


def run(cmd):
    """Seconds from typing the command to its last line, or None."""
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    os.set_blocking(proc.stdout.fileno(), False)
    deadline = time.perf_counter() + TIMEOUT
    try:
        out, ok = read_until(proc, b"", PROMPT, 0, deadline)
        if not ok:
            return None
        time.sleep(1)  # the rest of the prompt's line and the shell's terminal queries
        out += proc.stdout.read() or b""
        mark = len(out)
        proc.stdin.write(COMMAND)
        proc.stdin.flush()
        sent = time.perf_counter()
        # (The typed command echoes "seq-$((3+4))-done", not DONE.)
        out, ok = read_until(proc, out, DONE, mark, deadline)
        return time.perf_counter() - sent if ok else None
    finally:
        proc.kill()
        proc.wait()


def main():
    build = sys.argv[1] if len(sys.argv) > 1 and not sys.argv[1].startswith("-") else "build"
    kernel, initrd = guest()
    common = ["-m", "256", "-nographic", "-no-reboot", "-kernel", kernel, "-initrd", initrd,
              "-append", "console=ttyS0"]
    runs = [("nomad86 (jit)", run([os.path.join(build, "nomad86")] + common))]
    qemu = shutil.which("qemu-system-i386")
    if qemu:
        runs.append(("qemu TCG", run([qemu, "-accel", "tcg"] + common)))
    print("seq 1 20000 on the serial console (%d bytes)" % SEQ_BYTES)
    print("%-16s %10s %12s" % ("", "seconds", "KB/s"))
    for name, secs in runs:
        if secs is None:
            print("%-16s %10s %12s" % (name, "failed", "-"))
        else:
            print("%-16s %10.2f %12.1f" % (name, secs, SEQ_BYTES / secs / 1000))
    if len(runs) == 2 and runs[0][1] and runs[1][1]:
        print("nomad86 / qemu, time: %.2fx" % (runs[0][1] / runs[1][1]))
    return 0 if all(secs is not None for _, secs in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
