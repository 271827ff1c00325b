#!/usr/bin/env python3
"""Where the JIT spends one benchmark job's time: samples the nomad86
process with `perf record` (cpu-clock, so it works without a PMU) from the
job's START line to its END line, and names each sample.

Translated code is named from the -perfmap file (/tmp/perf-PID.map). That
file only grows: when the code cache frees a translation and reuses its
memory, the map holds both names for the same host addresses, and perf
report takes the first, the dead one (a shared jump-lookup routine once
showed up as a kernel block with 8% of a job's samples). Here the latest
entry covering an address wins, as it did at run time.

    bench/jit_profile.py JOB [BUILD_DIR] [--top N]

JOB is one of the benchmark's jobs (shell-loop, md5sum-64m, seq-sort,
seq-gzip). Prints the job's seconds, the share of samples in translated
guest-user and guest-kernel blocks, in the shared routines (jump-cache
lookups, TLB refills, helper steps), in nomad86's own C++ and elsewhere,
then the top symbols. Needs perf (linux-perf) on the host."""

import bisect
import collections
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import boot_bench  # noqa: E402
import jit_bench  # noqa: E402


class PerfMap:
    """Host address -> name, the latest map entry winning where entries overlap."""

    def __init__(self, path):
        self.starts, self.ends, self.names = [], [], []
        with open(path) as f:
            for line in f:
                parts = line.split(None, 2)
                if len(parts) == 3:
                    start = int(parts[0], 16)
                    self._paint(start, start + int(parts[1], 16), parts[2].strip())

    def _paint(self, start, end, name):
        # Cut away what the new entry covers from the entries it overlaps.
        i = bisect.bisect_right(self.starts, start) - 1
        if i >= 0 and self.ends[i] > start:
            old_end, old_name = self.ends[i], self.names[i]
            self.ends[i] = start
            if old_end > end:  # the old entry continues past the new one
                self._insert(end, old_end, old_name)
        i = bisect.bisect_left(self.starts, start)
        while i < len(self.starts) and self.starts[i] < end:
            if self.ends[i] > end:
                self.starts[i] = end
                break
            del self.starts[i], self.ends[i], self.names[i]
        self._insert(start, end, name)

    def _insert(self, start, end, name):
        i = bisect.bisect_left(self.starts, start)
        self.starts.insert(i, start)
        self.ends.insert(i, end)
        self.names.insert(i, name)

    def name(self, addr):
        i = bisect.bisect_right(self.starts, addr) - 1
        return self.names[i] if i >= 0 and addr < self.ends[i] else None


def group_of(name, dso):
    if name.startswith("guest_"):
        return "guest kernel blocks" if int(name[6:14], 16) >= 0xC0000000 else "guest user blocks"
    if name.startswith("jit_jump_lookup"):
        return "jump-cache lookups"
    if name.startswith("jit_"):
        return "other shared routines"
    return "nomad86 C++" if dso.endswith("nomad86") else "elsewhere (" + os.path.basename(dso) + ")"


def main():
    args = [a for a in sys.argv[1:]]
    top = 25
    if "--top" in args:
        top = int(args.pop(args.index("--top") + 1))
        args.remove("--top")
    if not args or args[0].startswith("-"):
        print(__doc__)
        return 2
    job, build = args[0], (args[1] if len(args) > 1 else "build")
    if job not in jit_bench.jobs():
        print("jit_profile: no job %r (jobs: %s)" % (job, " ".join(jit_bench.jobs())), file=sys.stderr)
        return 2
    if not shutil.which("perf"):
        print("jit_profile: perf is not installed (apt-get install linux-perf)", file=sys.stderr)
        return 2
    kernel, initrd = boot_bench.guest()
    cmd = [os.path.join(build, "nomad86"), "-accel", "jit", "-perfmap", "-m", "256", "-display", "none",
           "-serial", "stdio", "-no-reboot", "-kernel", kernel, "-initrd", initrd, "-append", jit_bench.APPEND]
    data = tempfile.NamedTemporaryFile(prefix="nomad86-profile-", suffix=".data", delete=False).name
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    os.set_blocking(proc.stdout.fileno(), False)
    out, perf, started, seconds = b"", None, 0.0, None
    start_line, end_line = ("nomad86 bench: START " + job).encode(), ("nomad86 bench: END " + job).encode()
    deadline = time.perf_counter() + jit_bench.TIMEOUT
    while proc.poll() is None and time.perf_counter() < deadline:
        chunk = proc.stdout.read() or b""
        if not chunk:
            time.sleep(0.005)
            continue
        out += chunk
        if perf is None and start_line in out:
            perf = subprocess.Popen(["perf", "record", "-q", "-F", "2000", "-p", str(proc.pid), "-o", data],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            started = time.perf_counter()
        if perf is not None and end_line in out:
            seconds = time.perf_counter() - started
            perf.send_signal(2)
            perf.wait()
            break
    proc.kill()
    proc.wait()
    map_path = "/tmp/perf-%d.map" % proc.pid
    if seconds is None:
        print("jit_profile: the guest never finished %s" % job, file=sys.stderr)
        return 1
    script = subprocess.run(["perf", "script", "-i", data, "-F", "ip,sym,dso"], capture_output=True, text=True).stdout
    perfmap = PerfMap(map_path) if os.path.exists(map_path) else None
    names, groups, total = collections.Counter(), collections.Counter(), 0
    for line in script.splitlines():
        parts = line.split()
        if not parts:
            continue
        ip = int(parts[0], 16)
        dso = parts[-1].strip("()") if len(parts) > 1 else "?"
        name = perfmap.name(ip) if perfmap else None
        if name is None:
            name = " ".join(parts[1:-1]) or "?"
        names[name] += 1
        groups[group_of(name, dso)] += 1
        total += 1
    for path in (data, map_path):
        if os.path.exists(path):
            os.unlink(path)
    if not total:
        print("jit_profile: perf recorded no samples", file=sys.stderr)
        return 1
    print("%s: %.2f s under perf, %d samples" % (job, seconds, total))
    for group, count in groups.most_common():
        print("  %5.1f%%  %s" % (100.0 * count / total, group))
    print("top symbols:")
    for name, count in names.most_common(top):
        print("  %5.2f%%  %s" % (100.0 * count / total, name[:110]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
