#include "core/linux_boot.h"

#include <algorithm>
#include <array>
#include <cstring>

#include "core/machine.h"

namespace nomad86 {

using namespace linux_boot;

bool is_linux_bzimage(const std::vector<uint8_t>& image) {
    return image.size() >= kHeader + 4 && std::memcmp(image.data() + kHeader, "HdrS", 4) == 0;
}

void load_linux(const KernelBoot& boot, PhysicalMemory& memory, CpuState& cpu) {
    const std::vector<uint8_t>& image = boot.kernel;
    const uint64_t ram = memory.ram_size();
    if (!is_linux_bzimage(image)) throw MachineError("not a Linux bzImage (no 'HdrS' header at 0x202)");
    if (image.size() < 0x268) throw MachineError("bzImage is truncated (" + std::to_string(image.size()) + " bytes)");
    auto hdr = [&](unsigned off, unsigned size) { return get_le(image.data() + off, size); };

    const unsigned version = hdr(kVersion, 2);
    if (version < kMinProtocol) {
        char buf[96];
        snprintf(buf, sizeof buf, "Linux boot protocol %u.%02u is too old (%u.%02u or newer is needed)",
                 version >> 8, version & 0xff, kMinProtocol >> 8, kMinProtocol & 0xff);
        throw MachineError(buf);
    }
    if (!(hdr(kLoadflags, 1) & kLoadedHigh))
        throw MachineError("a zImage (kernel not loaded high) is not supported; use a bzImage");
    unsigned setup_sects = hdr(kSetupSects, 1);
    if (setup_sects == 0) setup_sects = 4;
    const uint64_t setup_size = uint64_t(setup_sects + 1) * 512;
    if (image.size() <= setup_size)
        throw MachineError("bzImage is truncated: " + std::to_string(image.size()) + " bytes, its setup alone is " +
                           std::to_string(setup_size));
    const uint64_t pm_size = image.size() - setup_size;

    // The kernel decompresses itself at pref_address (LOAD_PHYSICAL_ADDR)
    // and needs init_size bytes there (2.10+); before 2.10, assume the
    // image's size four times over.
    uint64_t run_base = kKernelAddr, run_size = pm_size * 4;
    if (version >= 0x20a) {
        run_base = std::max<uint64_t>(kKernelAddr, hdr(kPrefAddress, 4) | uint64_t(hdr(kPrefAddress + 4, 4)) << 32);
        run_size = std::max<uint64_t>(hdr(kInitSize, 4), pm_size);
    }
    const uint64_t kernel_end = std::max(kKernelAddr + pm_size, run_base + run_size);
    if (kernel_end > ram)
        throw MachineError("-m " + ram_text(ram) + " is too small for this kernel: it needs RAM up to " +
                           hex_addr(kernel_end) + " (" + ram_text((kernel_end + MiB - 1) / MiB * MiB) + ")");

    // The zero page: the setup header copied at 0x1F1, to its end (0x202 +
    // the byte at 0x201, the jump's offset).
    std::array<uint8_t, 4096> bp{};
    const size_t header_end = std::min<size_t>(image.size(), kJump + 2 + image[kJump + 1]);
    std::memcpy(bp.data() + kSetupSects, image.data() + kSetupSects, header_end - kSetupSects);
    bp[kTypeOfLoaderOff] = kTypeOfLoader;
    bp[kLoadflags] = uint8_t(bp[kLoadflags] | kCanUseHeap);
    put_le(&bp[kHeapEndPtr], 2, 0xfe00 - 0x200);
    put_le(&bp[kCode32Start], 4, kKernelAddr);
    put_le(&bp[kAltMemK], 4, ram > MiB ? (ram - MiB) / KiB : 0);

    // e820
    const std::vector<E820Entry> map = pc_e820_map(ram);
    for (size_t i = 0; i < map.size(); i++) {
        uint8_t* e = &bp[kE820Table + 20 * i];
        put_le(e, 8, map[i].addr);
        put_le(e + 8, 8, map[i].size);
        put_le(e + 16, 4, map[i].type);
    }
    bp[kE820Entries] = uint8_t(map.size());

    // Command line.
    const uint32_t cmdline_max = hdr(kCmdlineSize, 4);
    if (boot.cmdline.size() > cmdline_max)
        throw MachineError("kernel command line is " + std::to_string(boot.cmdline.size()) +
                           " bytes; this kernel takes at most " + std::to_string(cmdline_max));
    if (kCmdlineAddr + boot.cmdline.size() + 1 > PhysicalMemory::kLegacyHoleStart)
        throw MachineError("kernel command line is too long (" + std::to_string(boot.cmdline.size()) + " bytes)");
    put_le(&bp[kCmdLinePtr], 4, kCmdlineAddr);

    // Initrd: as high as it goes below initrd_addr_max and the end of RAM,
    // page-aligned, above the kernel.
    if (boot.modules.size() > 1) throw MachineError("a Linux kernel takes one -initrd file");
    if (!boot.modules.empty() && !boot.modules[0].data.empty()) {
        const std::vector<uint8_t>& initrd = boot.modules[0].data;
        const uint64_t addr_max = uint64_t(hdr(kInitrdAddrMax, 4));
        const uint64_t top = std::min<uint64_t>(addr_max + 1, ram);
        const uint64_t size = initrd.size();
        const uint64_t addr = size <= top ? (top - size) & ~(kPageSize - 1) : 0;
        if (size > top || addr < kernel_end)
            throw MachineError("initrd (" + std::to_string(size) + " bytes) does not fit in RAM between the kernel (end " +
                               hex_addr(kernel_end) + ") and " + hex_addr(top) + " (-m " + ram_text(ram) + ")");
        memory.write_bytes(GuestPhys(addr), initrd.data(), initrd.size());
        put_le(&bp[kRamdiskImage], 4, addr);
        put_le(&bp[kRamdiskSize], 4, size);
    }

    const uint8_t zero = 0;
    memory.write_bytes(GuestPhys(kCmdlineAddr), boot.cmdline.data(), boot.cmdline.size());
    memory.write_bytes(GuestPhys(kCmdlineAddr + boot.cmdline.size()), &zero, 1);
    memory.write_bytes(GuestPhys(kBootParamsAddr), bp.data(), bp.size());
    memory.write_bytes(GuestPhys(kKernelAddr), image.data() + setup_size, pm_size);

    enter_flat32(memory, cpu, kKernelAddr, kStackTop);
    cpu.gpr[kRsi] = kBootParamsAddr;
}

}  // namespace nomad86
