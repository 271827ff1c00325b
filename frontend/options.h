// The command line, in QEMU's spelling wherever QEMU has the option.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "core/machine_config.h"

namespace nomad86 {

struct CommandLine {
    MachineConfig machine;
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
