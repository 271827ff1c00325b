// Everything the command line decides about a machine, as plain data. The
// front end fills it from QEMU-style options; tests build it directly.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/types.h"

namespace nomad86 {

// Where a character device's bytes go: -serial / -debugcon.
struct CharDevSpec {
    enum class Kind { kNone, kNull, kStdio, kFile };
    Kind kind = Kind::kNone;
    std::string path;  // for kFile
};

struct DebugExitSpec {
    bool enabled = false;
    uint16_t iobase = 0x501;  // QEMU's default for isa-debug-exit
    uint16_t iosize = 0x02;
};

struct MachineConfig {
    uint64_t ram_size = 128 * MiB;
    std::string bios_path;        // empty: the project's own firmware ROM
    std::string kernel_path;      // -kernel: direct boot of a Linux bzImage or a Multiboot kernel
    std::string initrd_path;      // -initrd: Linux initrd, or Multiboot modules "FILE ARGS,FILE ARGS"
    std::string append;           // -append: the kernel command line
    CharDevSpec serial;           // COM1
    CharDevSpec debugcon;         // port 0xE9
    DebugExitSpec debug_exit;
    bool no_reboot = false;       // triple fault / reset request exits instead
    uint32_t log_mask = 0;        // -d
    std::string log_file;         // -D
    std::vector<std::pair<uint64_t, uint64_t>> log_filter;  // -dfilter, inclusive ranges
    bool one_insn_per_block = false;  // -one-insn-per-tb
    bool jit_perfmap = false;         // -perfmap: /tmp/perf-PID.map for perf
    // -accel: the JIT (default) or the interpreter alone; verify=on runs
    // both in lockstep; tb-size is the JIT's code budget.
    enum class Accel { kJit, kInterp };
    Accel accel = Accel::kJit;
    bool jit_verify = false;
    uint64_t jit_cache_bytes = 64 * MiB;
    bool nographic = false;
};

}  // namespace nomad86
