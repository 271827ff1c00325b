#!/usr/bin/env python3
"""What the default Linux guest's boot actually exercises: boots its
self-check (roms/make-guest.sh) under nomad86 with `-d int,ioport,mmio,unimp,guest_errors`,
reads the CPU's control registers and MSRs through the monitor when the
self-check passes, and prints

  - each device the guest touched: port and memory-mapped accesses, and
    which ports; the ports and physical pages it probed where nothing answers;
  - each interrupt and exception vector delivered, by kind (exception,
    hardware interrupt with its PIC line, software INT) and privilege level;
  - the CPU features the kernel switched on (CR0, CR4, EFER, the SYSENTER
    MSRs) and the paging mode;
  - what nomad86 reported as unimplemented or misprogrammed;
  - the kernel's own lines about the hardware it found.

    bench/boot_exercised.py [BUILD_DIR] [--accel interp|jit]

The log of a boot is about 30 MB; it goes to a temporary directory."""

import collections
import os
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import boot_bench  # noqa: E402

EXCEPTIONS = ["#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "coprocessor overrun", "#TS", "#NP",
              "#SS", "#GP", "#PF", "reserved", "#MF", "#AC", "#MC", "#XM"]
CR0_BITS = [(0, "PE"), (1, "MP"), (2, "EM"), (3, "TS"), (4, "ET"), (5, "NE"), (16, "WP"), (18, "AM"), (29, "NW"),
            (30, "CD"), (31, "PG")]
CR4_BITS = [(0, "VME"), (1, "PVI"), (2, "TSD"), (3, "DE"), (4, "PSE"), (5, "PAE"), (6, "MCE"), (7, "PGE"), (8, "PCE"),
            (9, "OSFXSR"), (10, "OSXMMEXCPT")]
# The kernel's lines that name hardware it found or chose.
KERNEL_LINE = re.compile(rb"\] (x86/fpu|tsc|clocksource|Serial|serial|\S*ttyS\d|rtc|i8042|serio|ACPI|APIC|IOAPIC|"
                         rb"PCI|pci|smpboot|CPU\d*:|Calibrating|TSC|Switched|e820|BIOS-e820|NX|PAE|DMI|Memory|"
                         rb"Console|printk|input|Freeing|Run /init|Unpacking|Trying to unpack|Spectre|mce|MCE)")
INT_LINE = re.compile(r"^\d+: v=([0-9a-f]+) e=[0-9a-f]+ i=(\d) cpl=(\d)")
PORT_LINE = re.compile(r"^ioport (read|write)\s+([0-9a-f]{4})/(\d) (?:->|<-) ([0-9a-f]+) \((.*)\)$")
MMIO_LINE = re.compile(r"^mmio (read|write)\s+([0-9a-f]+)/(\d) (?:->|<-) ([0-9a-f]+) \((.*)\)$")


def bits(value, table):
    return " ".join(name for bit, name in table if value >> bit & 1) or "none"


def ranges(numbers, gap=1):
    """'0020-0021 00a0' style runs of sorted numbers."""
    out, start, prev = [], None, None
    for n in sorted(numbers):
        if start is None:
            start = prev = n
        elif n <= prev + gap:
            prev = n
        else:
            out.append((start, prev))
            start = prev = n
    if start is not None:
        out.append((start, prev))
    return out


def boot(build, accel, log_path):
    kernel, initrd = boot_bench.guest()
    port = boot_bench.free_port()
    cmd = [os.path.join(build, "nomad86"), "-accel", accel, "-m", "256", "-display", "none", "-serial", "stdio",
           "-no-reboot", "-kernel", kernel, "-initrd", initrd, "-append", boot_bench.APPEND,
           "-d", "int,ioport,mmio,unimp,guest_errors", "-D", log_path,
           "-monitor", "tcp:127.0.0.1:%d,server,nowait" % port]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    os.set_blocking(proc.stdout.fileno(), False)
    out, state, start = b"", None, time.perf_counter()
    while proc.poll() is None and time.perf_counter() - start < boot_bench.TIMEOUT:
        chunk = proc.stdout.read() or b""
        if not chunk:
            time.sleep(0.05)
            continue
        out += chunk
        if state is None and boot_bench.PASS in out:
            state = boot_bench.monitor_cmd(port, "info state cpu")
    if proc.poll() is None:
        proc.kill()
    proc.wait()
    out += proc.stdout.read() or b""
    if boot_bench.PASS not in out or state is None:
        raise SystemExit("the self-check did not pass (status %s); the log is %s" % (proc.returncode, log_path))
    return out, state


def pic_bases(port_writes):
    """The vector base each PIC was given (ICW2: the write to its odd port after an ICW1)."""
    bases, expect_icw2 = {}, set()
    for port, value in port_writes:
        if port in (0x20, 0xa0) and value & 0x10:
            expect_icw2.add(port + 1)
        elif port in expect_icw2:
            bases[port - 1] = value & 0xf8
            expect_icw2.discard(port)
    return bases.get(0x20), bases.get(0xa0)


def vector_name(vector, software, master, slave):
    if software:
        return "software INT %02xh" % vector + (" (system call)" if vector == 0x80 else "")
    if vector < 32:
        return "exception %s" % EXCEPTIONS[vector] if vector < len(EXCEPTIONS) else "exception %d" % vector
    for base, first in ((master, 0), (slave, 8)):
        if base is not None and base <= vector < base + 8:
            return "hardware interrupt, PIC IRQ%d" % (first + vector - base)
    return "hardware interrupt"


def main():
    build = sys.argv[1] if len(sys.argv) > 1 and not sys.argv[1].startswith("-") else "build"
    accel = sys.argv[sys.argv.index("--accel") + 1] if "--accel" in sys.argv else "jit"
    with tempfile.TemporaryDirectory() as tmp:
        log_path = os.path.join(tmp, "boot.log")
        console, state = boot(build, accel, log_path)
        ports = collections.defaultdict(lambda: [0, 0, set()])  # device -> reads, writes, ports
        pages = collections.defaultdict(lambda: [0, 0, set()])  # device -> reads, writes, 4 KiB pages
        vectors = collections.Counter()
        notes = collections.Counter()
        port_writes = []
        with open(log_path, errors="replace") as f:
            for line in f:
                line = line.rstrip("\n")
                m = PORT_LINE.match(line)
                if m:
                    kind, port, value, who = m.group(1), int(m.group(2), 16), int(m.group(4), 16), m.group(5)
                    ports[who][0 if kind == "read" else 1] += 1
                    ports[who][2].add(port)
                    if kind == "write":
                        port_writes.append((port, value))
                    continue
                m = MMIO_LINE.match(line)
                if m:
                    entry = pages[m.group(5)]
                    entry[0 if m.group(1) == "read" else 1] += 1
                    entry[2].add(int(m.group(2), 16) >> 12)
                    continue
                m = INT_LINE.match(line)
                if m:
                    vectors[(int(m.group(1), 16), m.group(2) == "1", int(m.group(3)))] += 1
                    continue
                if line.startswith(("unimp:", "pic", "pit", "rtc", "uart", "i8042", "triple")):
                    notes[line] += 1

    print("nomad86 -accel %s, the default guest's self-check boot (it passed)\n" % accel)
    print("devices, by port I/O and memory-mapped access:")
    print("  %-16s %10s %10s  %s" % ("device", "reads", "writes", "where"))
    for who, (r, w, where) in sorted(ports.items(), key=lambda kv: -(kv[1][0] + kv[1][1])):
        print("  %-16s %10d %10d  ports %s" % (who, r, w, " ".join(
            "%04x" % a if a == b else "%04x-%04x" % (a, b) for a, b in ranges(where))))
    for who, (r, w, where) in sorted(pages.items(), key=lambda kv: -(kv[1][0] + kv[1][1])):
        print("  %-16s %10d %10d  memory %s" % (who, r, w, " ".join(
            "%08x-%08x" % (a << 12, (b << 12) + 0xfff) for a, b in ranges(where))))
    if not pages:
        print("  (no memory-mapped device was accessed)")

    master, slave = pic_bases(port_writes)
    print("\ninterrupts and exceptions delivered (PIC vector bases: master %s, slave %s):" %
          ("%02xh" % master if master is not None else "never set", "%02xh" % slave if slave is not None else "never set"))
    by_vector = collections.defaultdict(dict)
    for (vector, software, cpl), n in vectors.items():
        by_vector[(vector, software)][cpl] = n
    for (vector, software), per_cpl in sorted(by_vector.items()):
        print("  %02xh %-44s %s" % (vector, vector_name(vector, software, master, slave),
                                     "  ".join("CPL%d: %d" % (c, per_cpl[c]) for c in sorted(per_cpl))))

    regs = dict(re.findall(r"^cpu\.([\w.]+) = (\S+)", state, re.M))
    cr0, cr4, efer = (int(regs.get(k, "0"), 16) for k in ("cr0", "cr4", "efer"))
    print("\nCPU features the kernel turned on (at the self-check's end):")
    print("  CR0  %08x  %s" % (cr0, bits(cr0, CR0_BITS)))
    print("  CR4  %08x  %s" % (cr4, bits(cr4, CR4_BITS)))
    print("  EFER %08x  %s" % (efer, "NXE" if efer >> 11 & 1 else "no NXE"))
    print("  paging: %s" % ("off" if not cr0 >> 31 & 1 else "PAE, 3 levels" if cr4 >> 5 & 1 else "32-bit, 2 levels"))
    sysenter = int(regs.get("msr.sysenter_cs", "0"), 16)
    print("  SYSENTER: %s" % ("set up (CS %04x)" % sysenter if sysenter else "not set up (system calls use INT 80h)"))
    print("  x87: FCW %s, last opcode %s" % (regs.get("fpu.fcw", "?"), regs.get("fpu.fop", "?")))

    print("\nreported by nomad86 (-d unimp,guest_errors):")
    for line, n in sorted(notes.items()):
        print("  %5d x %s" % (n, line))
    if not notes:
        print("  nothing")

    print("\nthe kernel's own lines about the hardware:")
    seen = set()
    for line in console.splitlines():
        text = re.sub(rb"^\[\s*[\d.]+\] ", b"", line).decode(errors="replace").strip()
        if KERNEL_LINE.search(line) and text not in seen:
            seen.add(text)
            print("  " + text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
