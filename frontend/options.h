// The command line, in QEMU's spelling wherever QEMU has the option.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "core/machine_config.h"

namespace nomad86 {

// Where the GDB stub listens: -gdb tcp:[HOST]:PORT, -s = tcp::1234.
struct GdbSpec {
    bool enabled = false;
    std::string host;  // empty: all interfaces, as QEMU
    uint16_t port = 1234;
};

// -monitor stdio | tcp:HOST:PORT,server,nowait | unix:PATH,server,nowait | none
struct MonitorSpec {
    enum class Kind { kDefault, kNone, kStdio, kTcp, kUnix };
    Kind kind = Kind::kDefault;
    std::string host;  // kTcp
    uint16_t port = 0; // kTcp
    std::string path;  // kUnix
};

struct CommandLine {
    MachineConfig machine;
    GdbSpec gdb;
    MonitorSpec monitor;
    bool start_paused = false;  // -S
    std::string incoming;       // -incoming tcp:HOST:PORT | file:PATH (checked by main)
    bool show_help = false;
    bool show_version = false;
    bool show_log_items = false;  // -d help
};

// Parses argv. On a bad option returns false with a one-line message in *error.
bool parse_command_line(const std::vector<std::string>& args, CommandLine* out, std::string* error);

// Parses a QEMU memory size: a number of MiB, or a number with a suffix
// K, M, G or T (also lower case, optional trailing B). Returns false if
// malformed.
bool parse_size(const std::string& text, uint64_t* bytes);

std::string usage_text();

}  // namespace nomad86
