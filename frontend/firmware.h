// Finding and reading firmware images.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace nomad86 {

// Reads a file whole (at most max_size bytes). On failure returns false
// with the reason in *error.
bool read_file(const std::string& path, std::vector<uint8_t>* out, std::string* error,
               uint64_t max_size = 64 * 1024 * 1024);

// The project's own firmware: next to the executable (build/roms/) or in
// the build tree recorded at configure time.
std::string default_firmware_path();

}  // namespace nomad86
