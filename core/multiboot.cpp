#include "core/multiboot.h"

#include <algorithm>
#include <cstring>

#include "core/machine.h"

namespace nomad86 {

using namespace multiboot;

long find_multiboot_header(const std::vector<uint8_t>& image) {
    const size_t limit = std::min<size_t>(image.size(), kSearchBytes);
    for (size_t off = 0; off + 12 <= limit; off += 4) {
        const uint8_t* p = image.data() + off;
        if (get_le(p, 4) != kHeaderMagic) continue;
        if (uint32_t(get_le(p, 4) + get_le(p + 4, 4) + get_le(p + 8, 4)) == 0) return long(off);
    }
    return -1;
}

std::vector<ModuleSpec> parse_multiboot_modules(const std::string& spec) {
    std::vector<ModuleSpec> out;
    std::string entry;
    auto finish = [&] {
        if (entry.empty()) return;
        out.push_back({entry.substr(0, entry.find(' ')), entry});
        entry.clear();
    };
    for (size_t i = 0; i < spec.size(); i++) {
        if (spec[i] == ',') {
            if (i + 1 < spec.size() && spec[i + 1] == ',') {
                entry += ',';
                i++;
            } else {
                finish();
            }
        } else {
            entry += spec[i];
        }
    }
    finish();
    return out;
}

namespace {

// One piece of the kernel to place: file bytes, then zeros up to mem_size.
struct Segment {
    uint64_t addr;
    const uint8_t* data;
    uint64_t file_size;
    uint64_t mem_size;
};

uint64_t align_page(uint64_t v) { return (v + kPageSize - 1) & ~(kPageSize - 1); }

// The a.out kludge: the header's own addresses say where the image goes.
std::vector<Segment> aout_segments(const std::vector<uint8_t>& image, size_t off, uint32_t* entry) {
    if (off + 32 > image.size()) throw MachineError("Multiboot header is truncated (a.out-kludge fields missing)");
    const uint8_t* h = image.data() + off;
    const uint32_t header_addr = get_le(h + 12, 4), load_addr = get_le(h + 16, 4), load_end = get_le(h + 20, 4),
                   bss_end = get_le(h + 24, 4);
    *entry = get_le(h + 28, 4);
    if (header_addr < load_addr || header_addr - load_addr > off)
        throw MachineError("Multiboot header_addr " + hex_addr(header_addr) + " and load_addr " + hex_addr(load_addr) +
                           " put the image before the start of the file");
    const uint64_t load_offset = off - (header_addr - load_addr);
    uint64_t file_size = image.size() - load_offset;
    if (load_end) {
        if (load_end < load_addr) throw MachineError("Multiboot load_end_addr is below load_addr");
        file_size = load_end - load_addr;
        if (load_offset + file_size > image.size())
            throw MachineError("Multiboot load_end_addr " + hex_addr(load_end) + " is past the end of the file");
    }
    uint64_t mem_size = file_size;
    if (bss_end) {
        if (bss_end < load_addr + file_size) throw MachineError("Multiboot bss_end_addr is below load_end_addr");
        mem_size = bss_end - load_addr;
    }
    return {{load_addr, image.data() + load_offset, file_size, mem_size}};
}

// An ELF32 i386 image: its PT_LOAD segments at their physical addresses.
std::vector<Segment> elf_segments(const std::vector<uint8_t>& image, uint32_t* entry) {
    const uint8_t* e = image.data();
    if (image.size() < 52 || std::memcmp(e, "\x7f" "ELF", 4) != 0)
        throw MachineError("Multiboot kernel is not ELF and its header has no a.out-kludge addresses (flag 16)");
    if (e[4] == 2) throw MachineError("cannot load a 64-bit ELF Multiboot kernel; give a 32-bit one");
    if (e[4] != 1 || e[5] != 1 || get_le(e + 18, 2) != 3)
        throw MachineError("Multiboot kernel is not a little-endian 32-bit i386 ELF file");
    *entry = get_le(e + 24, 4);
    const uint32_t phoff = get_le(e + 28, 4), phentsize = get_le(e + 42, 2), phnum = get_le(e + 44, 2);
    if (phentsize < 32 || uint64_t(phoff) + uint64_t(phnum) * phentsize > image.size())
        throw MachineError("Multiboot ELF kernel's program headers are outside the file");
    std::vector<Segment> segs;
    bool entry_physical = false;
    const uint8_t* entry_segment = nullptr;
    for (unsigned i = 0; i < phnum; i++) {
        const uint8_t* ph = e + phoff + uint64_t(i) * phentsize;
        if (get_le(ph, 4) != 1) continue;  // PT_LOAD
        const uint32_t offset = get_le(ph + 4, 4), vaddr = get_le(ph + 8, 4), paddr = get_le(ph + 12, 4),
                       filesz = get_le(ph + 16, 4), memsz = get_le(ph + 20, 4);
        if (uint64_t(offset) + filesz > image.size())
            throw MachineError("Multiboot ELF kernel's segment " + std::to_string(i) + " is past the end of the file");
        if (filesz > memsz) throw MachineError("Multiboot ELF kernel's segment " + std::to_string(i) + " has filesz > memsz");
        segs.push_back({paddr, e + offset, filesz, memsz});
        if (*entry >= paddr && *entry - paddr < memsz) entry_physical = true;
        if (*entry >= vaddr && *entry - vaddr < memsz && !entry_segment) entry_segment = ph;
    }
    if (segs.empty()) throw MachineError("Multiboot ELF kernel has no loadable segment");
    // A kernel linked high gives a virtual entry: translate it as QEMU does.
    if (!entry_physical && entry_segment) *entry = *entry - get_le(entry_segment + 8, 4) + get_le(entry_segment + 12, 4);
    return segs;
}

}  // namespace

void load_multiboot(const KernelBoot& boot, PhysicalMemory& memory, CpuState& cpu) {
    const std::vector<uint8_t>& image = boot.kernel;
    const uint64_t ram = memory.ram_size();
    const long off = find_multiboot_header(image);
    if (off < 0) throw MachineError("not a Multiboot kernel (no Multiboot header in the first 8 KiB)");
    const uint32_t hflags = get_le(image.data() + off + 4, 4);
    // Bits 0-15 are requirements: refuse the ones we do not know. Video
    // mode (bit 2) is a wish; like QEMU we boot without it.
    if (hflags & 0xfff8)
        throw MachineError("Multiboot header requires unsupported features (flags " + hex_addr(hflags) + ")");

    uint32_t entry = 0;
    std::vector<Segment> segs =
        (hflags & kAoutKludge) ? aout_segments(image, size_t(off), &entry) : elf_segments(image, &entry);

    uint64_t kernel_end = 0;
    for (const Segment& s : segs) {
        if (s.mem_size == 0) continue;
        const uint64_t end = s.addr + s.mem_size;
        if (end > ram)
            throw MachineError("-m " + ram_text(ram) + " is too small for this kernel: it loads up to " + hex_addr(end));
        if (!memory.is_ram(GuestPhys(s.addr), s.mem_size))
            throw MachineError("Multiboot kernel segment " + hex_addr(s.addr) + "-" + hex_addr(end) +
                               " is not in RAM (the 640 KiB-1 MiB hole)");
        if (s.addr < kDataEnd && end > kBootGdtAddr)
            throw MachineError("Multiboot kernel segment " + hex_addr(s.addr) + "-" + hex_addr(end) +
                               " overlaps the boot data at " + hex_addr(kBootGdtAddr) + "-" + hex_addr(kDataEnd));
        kernel_end = std::max(kernel_end, end);
    }

    // Modules, page-aligned after the kernel.
    std::vector<uint64_t> mod_start;
    uint64_t cursor = align_page(kernel_end);
    for (const BootModule& m : boot.modules) {
        // Keep modules out of the boot data and the 640 KiB-1 MiB hole (a
        // kernel loaded low puts them there otherwise).
        const uint64_t size = m.data.size();
        if (cursor < kDataEnd && cursor + size > kBootGdtAddr) cursor = kDataEnd;
        if (cursor < PhysicalMemory::kLegacyHoleEnd && cursor + size > PhysicalMemory::kLegacyHoleStart)
            cursor = PhysicalMemory::kLegacyHoleEnd;
        if (cursor + size > ram)
            throw MachineError("-initrd module '" + m.cmdline + "' (" + std::to_string(m.data.size()) +
                               " bytes) does not fit in RAM after the kernel (-m " + ram_text(ram) + ")");
        mod_start.push_back(cursor);
        cursor = align_page(cursor + m.data.size());
    }

    // Strings after the module list.
    std::vector<uint8_t> strings;
    const uint32_t strings_addr = kModsAddr + uint32_t(boot.modules.size()) * kModSize;
    auto add_string = [&](const std::string& s) {
        const uint32_t addr = strings_addr + uint32_t(strings.size());
        strings.insert(strings.end(), s.begin(), s.end());
        strings.push_back(0);
        return addr;
    };
    const std::string cmdline = boot.kernel_name.empty() ? boot.cmdline : boot.kernel_name + " " + boot.cmdline;
    const uint32_t cmdline_addr = add_string(cmdline);
    const uint32_t loader_name_addr = add_string("nomad86");
    std::vector<uint8_t> mods(boot.modules.size() * kModSize);
    for (size_t i = 0; i < boot.modules.size(); i++) {
        put_le(&mods[i * kModSize], 4, mod_start[i]);
        put_le(&mods[i * kModSize + 4], 4, mod_start[i] + boot.modules[i].data.size());
        put_le(&mods[i * kModSize + 8], 4, add_string(boot.modules[i].cmdline));
    }
    if (uint64_t(strings_addr) + strings.size() > kDataEnd)
        throw MachineError("Multiboot command lines and modules take more than the " +
                           std::to_string(kDataEnd - kModsAddr) + " bytes of boot data space");

    const std::vector<E820Entry> map = pc_e820_map(ram);
    std::vector<uint8_t> mmap(map.size() * kMmapEntrySize);
    for (size_t i = 0; i < map.size(); i++) {
        uint8_t* p = &mmap[i * kMmapEntrySize];
        put_le(p, 4, kMmapEntrySize - 4);
        put_le(p + 4, 8, map[i].addr);
        put_le(p + 12, 8, map[i].size);
        put_le(p + 20, 4, map[i].type);
    }

    std::vector<uint8_t> info(kInfoSize);
    put_le(&info[0], 4, kInfoMemory | kInfoBootDevice | kInfoCmdline | kInfoMods | kInfoMmap | kInfoLoaderName);
    put_le(&info[4], 4, 640);
    put_le(&info[8], 4, ram > MiB ? (ram - MiB) / KiB : 0);
    put_le(&info[12], 4, 0x8000ffff);  // boot_device: none, as QEMU
    put_le(&info[16], 4, cmdline_addr);
    put_le(&info[20], 4, boot.modules.size());
    put_le(&info[24], 4, kModsAddr);
    put_le(&info[44], 4, mmap.size());
    put_le(&info[48], 4, kMmapAddr);
    put_le(&info[64], 4, loader_name_addr);

    // Everything checked: write it.
    for (const Segment& s : segs) {
        memory.write_bytes(GuestPhys(s.addr), s.data, s.file_size);
        if (s.mem_size > s.file_size) {
            std::vector<uint8_t> zeros(s.mem_size - s.file_size);
            memory.write_bytes(GuestPhys(s.addr + s.file_size), zeros.data(), zeros.size());
        }
    }
    for (size_t i = 0; i < boot.modules.size(); i++)
        memory.write_bytes(GuestPhys(mod_start[i]), boot.modules[i].data.data(), boot.modules[i].data.size());
    memory.write_bytes(GuestPhys(kMmapAddr), mmap.data(), mmap.size());
    memory.write_bytes(GuestPhys(kInfoAddr), info.data(), info.size());
    memory.write_bytes(GuestPhys(kModsAddr), mods.data(), mods.size());
    memory.write_bytes(GuestPhys(strings_addr), strings.data(), strings.size());

    enter_flat32(memory, cpu, entry, kStackTop);
    cpu.gpr[kRax] = kBootloaderMagic;
    cpu.gpr[kRbx] = kInfoAddr;
}

}  // namespace nomad86
