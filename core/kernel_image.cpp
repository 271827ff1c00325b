#include "core/kernel_image.h"

#include <cstdio>

#include "core/acpi_tables.h"
#include "core/linux_boot.h"
#include "core/machine.h"
#include "core/multiboot.h"

namespace nomad86 {

KernelFormat detect_kernel_format(const std::vector<uint8_t>& image) {
    if (is_linux_bzimage(image)) return KernelFormat::kLinux;
    if (find_multiboot_header(image) >= 0) return KernelFormat::kMultiboot;
    return KernelFormat::kUnknown;
}

void load_kernel_image(const KernelBoot& boot, PhysicalMemory& memory, CpuState& cpu) {
    // Direct boot stands in for the BIOS, which would have published these.
    acpi::install_tables(memory);
    switch (detect_kernel_format(boot.kernel)) {
    case KernelFormat::kMultiboot:
        load_multiboot(boot, memory, cpu);
        return;
    case KernelFormat::kLinux:
        load_linux(boot, memory, cpu);
        return;
    case KernelFormat::kUnknown:
        break;
    }
    throw MachineError("not a Linux bzImage (no 'HdrS' header at 0x202) nor a Multiboot kernel "
                       "(no Multiboot header in the first 8 KiB)");
}

std::vector<E820Entry> pc_e820_map(uint64_t ram_size) {
    std::vector<E820Entry> map = {
        {0, 0x9fc00, kE820Ram},
        {0x9fc00, 0x400, kE820Reserved},
        {0xf0000, 0x10000, kE820Reserved},
    };
    if (ram_size > PhysicalMemory::kLegacyHoleEnd)
        map.push_back({PhysicalMemory::kLegacyHoleEnd, ram_size - PhysicalMemory::kLegacyHoleEnd, kE820Ram});
    return map;
}

void enter_flat32(PhysicalMemory& memory, CpuState& cpu, uint32_t entry, uint32_t stack) {
    // null, null, 0x10: flat code (execute/read), 0x18: flat data (read/write),
    // both base 0, limit 4 GiB, 32-bit, accessed (so the CPU need not write
    // the descriptors back).
    const uint64_t gdt[] = {0, 0, 0x00cf9b000000ffffull, 0x00cf93000000ffffull};
    memory.write_bytes(GuestPhys(kBootGdtAddr), gdt, sizeof(gdt));
    cpu.gdtr = {kBootGdtAddr, uint16_t(sizeof(gdt) - 1)};
    cpu.idtr = {0, 0};
    cpu.cr0 = cr0::PE | cr0::ET;  // paging off, caches on
    cpu.cr4 = 0;
    cpu.efer = 0;
    const uint16_t flat = SegmentCache::kP | SegmentCache::kS | SegmentCache::kDB | SegmentCache::kG;
    for (int i = 0; i < kNumSegRegs; i++) {
        cpu.seg[i].selector = kBootDs;
        cpu.seg[i].base = 0;
        cpu.seg[i].limit = 0xffffffff;
        cpu.seg[i].attr = uint16_t(flat | 0x3);  // read/write data, accessed
    }
    cpu.seg[kCs].selector = kBootCs;
    cpu.seg[kCs].attr = uint16_t(flat | 0xb);  // execute/read code, accessed
    cpu.cpl = 0;
    cpu.gpr.fill(0);
    cpu.gpr[kRsp] = stack;
    cpu.rip = entry;
    cpu.set_rflags(flags::FIXED1);  // IF off
    cpu.halted = false;
    cpu.interrupt_shadow = false;
}

std::string hex_addr(uint64_t v) {
    char buf[24];
    snprintf(buf, sizeof buf, "%#llx", static_cast<unsigned long long>(v));
    return buf;
}

std::string ram_text(uint64_t bytes) {
    if (bytes % MiB == 0) return std::to_string(bytes / MiB) + " MiB";
    return std::to_string(bytes / KiB) + " KiB";
}

}  // namespace nomad86
