// Multiboot v1 (the GNU Multiboot Specification 0.6.96) as QEMU's -kernel
// loads it: the header in the first 8 KiB, an ELF32 kernel by its PT_LOAD
// segments or an a.out-kludge one by the header's addresses, the -initrd
// files as page-aligned modules after the kernel, and the information
// structure with memory sizes, an e820-style mmap and the command lines.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/kernel_image.h"

namespace nomad86 {

namespace multiboot {
constexpr uint32_t kHeaderMagic = 0x1badb002;
constexpr uint32_t kBootloaderMagic = 0x2badb002;  // EAX at entry
constexpr uint32_t kSearchBytes = 8192;
// Header flags.
constexpr uint32_t kPageAlign = 1u << 0, kMemoryInfo = 1u << 1, kVideoMode = 1u << 2, kAoutKludge = 1u << 16;
// Info flags.
constexpr uint32_t kInfoMemory = 1u << 0, kInfoBootDevice = 1u << 1, kInfoCmdline = 1u << 2,
                   kInfoMods = 1u << 3, kInfoMmap = 1u << 6, kInfoLoaderName = 1u << 9;
// Where the boot data lives (QEMU's places: the mmap at 0x9000, the info
// structure at 0x9500), then the module list and the strings up to 64 KiB.
constexpr uint32_t kMmapAddr = 0x9000;
constexpr uint32_t kInfoAddr = 0x9500;
constexpr uint32_t kModsAddr = 0x9600;
constexpr uint32_t kDataEnd = 0x10000;
constexpr uint32_t kStackTop = 0x7c00;
constexpr uint32_t kInfoSize = 88;
constexpr uint32_t kModSize = 16;
constexpr uint32_t kMmapEntrySize = 24;
}  // namespace multiboot

// Offset of a valid Multiboot header (magic, flags, checksum summing to 0,
// 4-aligned, within the first 8 KiB), or -1.
long find_multiboot_header(const std::vector<uint8_t>& image);

// QEMU's -initrd syntax for Multiboot modules: "FILE[ ARGS][,FILE[ ARGS]...]",
// ",," for a literal comma. Each entry's command line is the whole entry;
// its file is the text before the first space.
struct ModuleSpec {
    std::string path;
    std::string cmdline;
};
std::vector<ModuleSpec> parse_multiboot_modules(const std::string& spec);

// Loads a Multiboot kernel and its modules and sets the entry state:
// EAX = 0x2BADB002, EBX = the info structure, flat 32-bit protected mode,
// EIP = the kernel's entry. The command line is "kernel_name cmdline" (as
// QEMU passes it). Throws MachineError on a malformed image or one that
// does not fit.
void load_multiboot(const KernelBoot& boot, PhysicalMemory& memory, CpuState& cpu);

}  // namespace nomad86
