// Direct kernel boot (-kernel/-initrd/-append): what a kernel image is, the
// images the machine keeps to re-enter the kernel on every reset, and the
// pieces the two boot protocols share (the e820 layout, the flat boot GDT).
// Linux: core/linux_boot.h; Multiboot v1: core/multiboot.h.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "cpu/cpu_state.h"
#include "mmu/phys_memory.h"

namespace nomad86 {

enum class KernelFormat { kUnknown, kLinux, kMultiboot };

// A Linux bzImage has "HdrS" at 0x202; a Multiboot v1 kernel has a valid
// header in its first 8 KiB. The Linux header is tried first, as QEMU does.
KernelFormat detect_kernel_format(const std::vector<uint8_t>& image);

// One -initrd file: for Linux the initrd, for Multiboot a module with its
// command line ("path args", as QEMU passes it).
struct BootModule {
    std::vector<uint8_t> data;
    std::string cmdline;
};

// Everything direct kernel boot needs, kept by the machine so that a system
// reset re-enters the kernel (as QEMU's direct boot does).
struct KernelBoot {
    std::vector<uint8_t> kernel;
    std::string kernel_name;  // the -kernel path (Multiboot prepends it to the command line, as QEMU)
    std::string cmdline;      // -append
    std::vector<BootModule> modules;  // Linux: at most one (the initrd)
};

// Loads `boot` into RAM and sets `cpu` to the kernel's entry state. The CPU
// state should be the reset state. Throws MachineError (one line) on an
// image that is neither format, or one that does not fit in RAM.
void load_kernel_image(const KernelBoot& boot, PhysicalMemory& memory, CpuState& cpu);

// ---- shared by the protocols ----

struct E820Entry {
    uint64_t addr;
    uint64_t size;
    uint32_t type;  // 1 usable, 2 reserved
};
constexpr uint32_t kE820Ram = 1, kE820Reserved = 2;

// The PC's memory map for `ram_size` bytes: usable 0-0x9FC00, reserved EBDA
// 0x9FC00-0xA0000 and BIOS 0xF0000-0x100000, usable 1 MiB to the end of RAM.
std::vector<E820Entry> pc_e820_map(uint64_t ram_size);

// Where the boot GDT lives and its selectors (Linux's __BOOT_CS/__BOOT_DS).
constexpr uint32_t kBootGdtAddr = 0x6000;
constexpr uint16_t kBootCs = 0x10, kBootDs = 0x18;

// Writes the boot GDT (null, null, flat code 0x10, flat data 0x18) and puts
// the CPU in 32-bit flat protected mode at CPL 0 with paging and interrupts
// off, EIP = entry, ESP = stack; the general registers are zeroed.
void enter_flat32(PhysicalMemory& memory, CpuState& cpu, uint32_t entry, uint32_t stack);

// Little-endian helpers for building boot structures in host buffers.
inline uint32_t get_le(const uint8_t* p, unsigned size) {
    uint32_t v = 0;
    for (unsigned i = 0; i < size; i++) v |= uint32_t(p[i]) << (8 * i);
    return v;
}
inline void put_le(uint8_t* p, unsigned size, uint64_t v) {
    for (unsigned i = 0; i < size; i++) p[i] = uint8_t(v >> (8 * i));
}

// "0x1234" for messages.
std::string hex_addr(uint64_t v);
// "128 MiB" / "1536 KiB" for messages.
std::string ram_text(uint64_t bytes);

}  // namespace nomad86
