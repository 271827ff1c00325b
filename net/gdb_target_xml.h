// The target descriptions the GDB stub serves (qXfer:features:read) and the
// register numbering that goes with them: `g`/`G`/`p`/`P` use exactly the
// order of the description. The i386 layout is QEMU's i386-32bit.xml (what
// gdb expects after `set architecture i386`); the x86-64 one is QEMU's
// i386-64bit.xml, served once the CPU is in long mode.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace nomad86 {
struct CpuState;
}

namespace nomad86::gdb {

enum class GdbArch : uint8_t { kI386, kX86_64 };

// The architecture to describe for the CPU's current mode (x86-64 when
// EFER.LMA is set).
GdbArch arch_for(const CpuState& s);

// The XML document for `annex` ("target.xml"), or empty for an unknown annex.
std::string_view target_xml(GdbArch arch, std::string_view annex);

// Number of registers in the description and each one's size in bytes.
int register_count(GdbArch arch);
size_t register_size(GdbArch arch, int regno);

// Register `regno` as raw little-endian bytes (register_size(regno) long);
// empty for an invalid number.
std::string read_register(const CpuState& s, GdbArch arch, int regno);
// Writes register `regno` from `len` raw bytes; false for an invalid number
// or a wrong length. Registers we do not model (SSE) accept and drop writes.
bool write_register(CpuState& s, GdbArch arch, int regno, const uint8_t* data, size_t len);

}  // namespace nomad86::gdb
