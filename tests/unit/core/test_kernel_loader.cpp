// Direct kernel boot: Linux's 32-bit boot protocol and Multiboot v1, with
// synthetic images built here (core/linux_boot.h, core/multiboot.h).
#include <doctest/doctest.h>

#include <cstring>
#include <string>
#include <vector>

#include "core/kernel_image.h"
#include "core/linux_boot.h"
#include "core/machine.h"
#include "core/multiboot.h"
#include "frontend/options.h"

using namespace nomad86;

namespace {

void put(std::vector<uint8_t>& v, size_t off, unsigned size, uint64_t value) {
    if (v.size() < off + size) v.resize(off + size);
    put_le(v.data() + off, size, value);
}

uint32_t rd(PhysicalMemory& m, uint64_t addr, unsigned size = 4) { return uint32_t(m.read(GuestPhys(addr), size)); }

std::string rd_string(PhysicalMemory& m, uint64_t addr) {
    std::string s;
    for (char c; (c = char(m.read(GuestPhys(addr++), 1))) != 0;) s += c;
    return s;
}

// mov al,0x10; out 0xf4,al; hlt
const std::vector<uint8_t> kExitPayload = {0xb0, 0x10, 0xe6, 0xf4, 0xf4};

// A bzImage: setup sectors with a 2.xx setup header, then `payload` as the
// protected-mode kernel.
struct BzImage {
    unsigned setup_sects = 1;
    uint16_t version = 0x20f;
    uint8_t loadflags = 0x01;
    uint32_t initrd_addr_max = 0x37ffffff;
    uint32_t cmdline_size = 255;
    uint64_t pref_address = 0x100000;
    uint32_t init_size = 0x40000;
    std::vector<uint8_t> payload = kExitPayload;

    std::vector<uint8_t> build() const {
        const size_t setup = (setup_sects ? setup_sects + 1 : 5) * 512;
        std::vector<uint8_t> v(setup, 0);
        v[0x1f1] = uint8_t(setup_sects);
        put(v, 0x1fe, 2, 0xaa55);
        v[0x200] = 0xeb;
        v[0x201] = 0x6a;  // the header ends at 0x202 + 0x6a = 0x26c
        std::memcpy(&v[0x202], "HdrS", 4);
        put(v, 0x206, 2, version);
        v[0x211] = loadflags;
        put(v, 0x214, 4, 0x100000);
        put(v, 0x22c, 4, initrd_addr_max);
        put(v, 0x230, 4, 0x200000);
        put(v, 0x238, 4, cmdline_size);
        put(v, 0x258, 8, pref_address);
        put(v, 0x260, 4, init_size);
        v.insert(v.end(), payload.begin(), payload.end());
        return v;
    }
};

KernelBoot linux_boot_of(const BzImage& bz, std::string cmdline = "", std::vector<uint8_t> initrd = {}) {
    KernelBoot boot;
    boot.kernel = bz.build();
    boot.kernel_name = "bzImage";
    boot.cmdline = std::move(cmdline);
    if (!initrd.empty()) boot.modules.push_back({std::move(initrd), "initrd.img"});
    return boot;
}

std::string load_error(const KernelBoot& boot, uint64_t ram) {
    PhysicalMemory mem(ram);
    CpuState cpu;
    try {
        load_kernel_image(boot, mem, cpu);
    } catch (const MachineError& e) {
        return e.what();
    }
    return "";
}

void check_flat_entry(const CpuState& s, uint32_t eip) {
    CHECK(s.rip == eip);
    CHECK(s.protected_mode());
    CHECK((s.cr0 & cr0::PG) == 0);
    CHECK((s.rflags() & flags::IF) == 0);
    CHECK(s.cpl == 0);
    CHECK(s.seg[kCs].selector == 0x10);
    CHECK(s.seg[kCs].base == 0);
    CHECK(s.seg[kCs].limit == 0xffffffffu);
    CHECK(s.seg[kCs].is_code());
    CHECK(s.seg[kCs].big());
    CHECK(s.seg[kCs].readable());
    for (SegReg r : {kDs, kEs, kSs, kFs, kGs}) {
        CHECK(s.seg[r].selector == 0x18);
        CHECK(s.seg[r].base == 0);
        CHECK(s.seg[r].limit == 0xffffffffu);
        CHECK(s.seg[r].writable());
        CHECK(s.seg[r].big());
    }
}

}  // namespace

TEST_CASE("kernel format detection") {
    CHECK(detect_kernel_format(BzImage{}.build()) == KernelFormat::kLinux);
    CHECK(detect_kernel_format(std::vector<uint8_t>(4096, 0x90)) == KernelFormat::kUnknown);
    CHECK(detect_kernel_format({}) == KernelFormat::kUnknown);
    std::vector<uint8_t> mb(64, 0);
    put(mb, 20, 4, multiboot::kHeaderMagic);
    put(mb, 24, 4, 0);
    put(mb, 28, 4, uint32_t(-multiboot::kHeaderMagic));
    CHECK(detect_kernel_format(mb) == KernelFormat::kMultiboot);
    CHECK(find_multiboot_header(mb) == 20);
    put(mb, 28, 4, 0);  // bad checksum
    CHECK(detect_kernel_format(mb) == KernelFormat::kUnknown);
}

TEST_CASE("linux: boot_params, command line, initrd and entry state") {
    PhysicalMemory mem(32 * MiB);
    CpuState s;
    std::vector<uint8_t> initrd(10000, 0xab);
    initrd[0] = 'I';
    BzImage bz;
    load_kernel_image(linux_boot_of(bz, "console=ttyS0 root=/dev/ram0", initrd), mem, s);

    const uint32_t bp = linux_boot::kBootParamsAddr;
    check_flat_entry(s, 0x100000);
    CHECK(s.gpr[kRsi] == bp);
    CHECK(s.gpr[kRbp] == 0);
    CHECK(s.gpr[kRdi] == 0);
    CHECK(s.gpr[kRbx] == 0);
    // The boot GDT: 0x10 flat code, 0x18 flat data.
    CHECK(mem.read(GuestPhys(s.gdtr.base + 0x10), 8) == 0x00cf9b000000ffffull);
    CHECK(mem.read(GuestPhys(s.gdtr.base + 0x18), 8) == 0x00cf93000000ffffull);
    CHECK(s.gdtr.limit >= 0x1f);

    // The protected-mode kernel at 1 MiB.
    CHECK(rd(mem, 0x100000) == 0xf4e610b0u);
    // The setup header, copied.
    CHECK(rd(mem, bp + 0x202) == 0x53726448u);  // "HdrS"
    CHECK(rd(mem, bp + 0x206, 2) == 0x20f);
    CHECK(rd(mem, bp + 0x1f1, 1) == 1);
    CHECK(rd(mem, bp + 0x238) == 255);
    CHECK(rd(mem, bp + 0x210, 1) == 0xff);  // type_of_loader
    CHECK(rd(mem, bp + 0x211, 1) == 0x81);  // LOADED_HIGH | CAN_USE_HEAP
    CHECK(rd(mem, bp + 0x214) == 0x100000);
    // Command line.
    CHECK(rd(mem, bp + 0x228) == linux_boot::kCmdlineAddr);
    CHECK(rd_string(mem, rd(mem, bp + 0x228)) == "console=ttyS0 root=/dev/ram0");
    // Initrd: page-aligned, at the top of RAM.
    const uint32_t ramdisk = rd(mem, bp + 0x218);
    CHECK(rd(mem, bp + 0x21c) == 10000);
    CHECK(ramdisk % 4096 == 0);
    CHECK(ramdisk + 10000 <= 32 * MiB);
    CHECK(ramdisk + 10000 + 4096 > 32 * MiB);
    CHECK(rd(mem, ramdisk, 1) == 'I');
    CHECK(rd(mem, ramdisk + 9999, 1) == 0xab);
    // e820.
    CHECK(rd(mem, bp + 0x1e8, 1) == 4);
    const uint64_t want[4][3] = {{0, 0x9fc00, 1}, {0x9fc00, 0x400, 2}, {0xf0000, 0x10000, 2},
                                 {0x100000, 31 * MiB, 1}};
    for (unsigned i = 0; i < 4; i++) {
        const uint64_t e = bp + 0x2d0 + 20 * i;
        CAPTURE(i);
        CHECK(mem.read(GuestPhys(e), 8) == want[i][0]);
        CHECK(mem.read(GuestPhys(e + 8), 8) == want[i][1]);
        CHECK(rd(mem, e + 16) == want[i][2]);
    }
    CHECK(rd(mem, bp + 0x1e0) == 31 * 1024);  // alt_mem_k
}

TEST_CASE("linux: the initrd stays below initrd_addr_max; no initrd leaves the fields zero") {
    PhysicalMemory mem(64 * MiB);
    CpuState s;
    BzImage bz;
    bz.initrd_addr_max = 16 * MiB - 1;
    load_kernel_image(linux_boot_of(bz, "", std::vector<uint8_t>(5000, 1)), mem, s);
    const uint32_t bp = linux_boot::kBootParamsAddr;
    CHECK(rd(mem, bp + 0x218) == ((16 * MiB - 5000) & ~0xfffu));
    CHECK(rd_string(mem, linux_boot::kCmdlineAddr).empty());

    PhysicalMemory mem2(64 * MiB);
    CpuState s2;
    load_kernel_image(linux_boot_of(bz, "quiet"), mem2, s2);
    CHECK(rd(mem2, bp + 0x218) == 0);
    CHECK(rd(mem2, bp + 0x21c) == 0);
}

TEST_CASE("linux: refusals, one line each") {
    BzImage old;
    old.version = 0x203;
    CHECK(load_error(linux_boot_of(old), 32 * MiB).find("too old") != std::string::npos);

    BzImage zimage;
    zimage.loadflags = 0;
    CHECK(load_error(linux_boot_of(zimage), 32 * MiB).find("zImage") != std::string::npos);

    BzImage big;
    big.init_size = 8 * MiB;
    CHECK(load_error(linux_boot_of(big), 4 * MiB).find("too small") != std::string::npos);
    CHECK(load_error(linux_boot_of(big), 16 * MiB).empty());

    CHECK(load_error(linux_boot_of(BzImage{}, "", std::vector<uint8_t>(1536 * KiB, 0)), 2 * MiB).find("initrd") !=
          std::string::npos);
    CHECK(load_error(linux_boot_of(BzImage{}, "", std::vector<uint8_t>(512 * KiB, 0)), 2 * MiB).empty());

    BzImage short_cmdline;
    short_cmdline.cmdline_size = 8;
    CHECK(load_error(linux_boot_of(short_cmdline, "123456789"), 32 * MiB).find("command line") != std::string::npos);

    KernelBoot junk;
    junk.kernel.assign(8192, 0x55);
    const std::string msg = load_error(junk, 32 * MiB);
    CHECK(msg.find("not a Linux bzImage") != std::string::npos);
    CHECK(msg.find('\n') == std::string::npos);

    BzImage truncated;
    truncated.payload.clear();
    CHECK(load_error(linux_boot_of(truncated), 32 * MiB).find("truncated") != std::string::npos);
}

TEST_CASE("linux: the machine re-enters the kernel on every reset") {
    MachineConfig cfg;
    cfg.ram_size = 16 * MiB;
    cfg.serial.kind = CharDevSpec::Kind::kNull;
    cfg.debugcon.kind = CharDevSpec::Kind::kNull;
    cfg.debug_exit = DebugExitSpec{true, 0xf4, 4};
    cfg.no_reboot = true;
    Machine m(cfg, std::vector<uint8_t>(64 * KiB, 0xf4), VirtualClock::Mode::kManual);
    CHECK_FALSE(m.has_kernel());
    m.load_kernel(linux_boot_of(BzImage{}, "x"));
    CHECK(m.has_kernel());
    CHECK(m.cpu().state().rip == 0x100000);
    // Scribble over the kernel and the CPU, then reset.
    m.memory().write(GuestPhys(0x100000), 4, 0);
    m.cpu().state().rip = 0x1234;
    m.reset();
    check_flat_entry(m.cpu().state(), 0x100000);
    CHECK(rd(m.memory(), 0x100000) == 0xf4e610b0u);
    // And it runs: the payload writes 0x10 to isa-debug-exit.
    m.run_for(100);
    CHECK(m.exit_requested());
    CHECK(m.exit_status() == 33);
}

TEST_CASE("linux: a failed load leaves the machine without a kernel") {
    MachineConfig cfg;
    cfg.ram_size = 2 * MiB;
    cfg.serial.kind = CharDevSpec::Kind::kNull;
    cfg.debugcon.kind = CharDevSpec::Kind::kNull;
    Machine m(cfg, std::vector<uint8_t>(64 * KiB, 0xf4), VirtualClock::Mode::kManual);
    BzImage big;
    big.init_size = 4 * MiB;
    CHECK_THROWS_AS(m.load_kernel(linux_boot_of(big)), MachineError);
    CHECK_FALSE(m.has_kernel());
}

namespace {

constexpr uint32_t kMbLoad = 0x200000;

// An a.out-kludge Multiboot image loaded at 2 MiB: header at offset 0x40,
// code at 0x80, 0x100 bytes in the file, bss to load + 0x3000.
std::vector<uint8_t> aout_kernel(uint32_t extra_flags = 0, uint32_t load = kMbLoad) {
    std::vector<uint8_t> v(0x100, 0x90);
    const uint32_t flags = multiboot::kAoutKludge | multiboot::kPageAlign | extra_flags;
    put(v, 0x40, 4, multiboot::kHeaderMagic);
    put(v, 0x44, 4, flags);
    put(v, 0x48, 4, uint32_t(0) - multiboot::kHeaderMagic - flags);
    put(v, 0x4c, 4, load + 0x40);    // header_addr
    put(v, 0x50, 4, load);           // load_addr
    put(v, 0x54, 4, load + 0x100);   // load_end_addr
    put(v, 0x58, 4, load + 0x3000);  // bss_end_addr
    put(v, 0x5c, 4, load + 0x80);    // entry_addr
    put(v, 0x80, 4, 0xdeadbeef);
    return v;
}

// An ELF32 i386 Multiboot kernel: a header with flags 0 and two PT_LOAD
// segments, the second linked at 0xC0000000 + its physical address.
std::vector<uint8_t> elf_kernel(uint8_t elf_class = 1) {
    std::vector<uint8_t> v(0x400, 0);
    std::memcpy(v.data(), "\x7f" "ELF", 4);
    v[4] = elf_class;
    v[5] = 1;
    v[6] = 1;
    put(v, 16, 2, 2);      // ET_EXEC
    put(v, 18, 2, 3);      // EM_386
    put(v, 20, 4, 1);
    put(v, 24, 4, 0xc0301004);  // e_entry: virtual
    put(v, 28, 4, 52);     // e_phoff
    put(v, 40, 2, 52);
    put(v, 42, 2, 32);     // e_phentsize
    put(v, 44, 2, 2);      // e_phnum
    auto ph = [&](unsigned i, uint32_t off, uint32_t vaddr, uint32_t paddr, uint32_t filesz, uint32_t memsz) {
        const size_t p = 52 + 32 * i;
        put(v, p, 4, 1);
        put(v, p + 4, 4, off);
        put(v, p + 8, 4, vaddr);
        put(v, p + 12, 4, paddr);
        put(v, p + 16, 4, filesz);
        put(v, p + 20, 4, memsz);
    };
    ph(0, 0x200, 0x300000, 0x300000, 0x10, 0x20);
    ph(1, 0x300, 0xc0301000, 0x301000, 0x8, 0x8);
    put(v, 0x120, 4, multiboot::kHeaderMagic);
    put(v, 0x124, 4, 0);
    put(v, 0x128, 4, uint32_t(0) - multiboot::kHeaderMagic);
    for (int i = 0; i < 0x10; i++) v[0x200 + i] = uint8_t(0x10 + i);
    put(v, 0x300, 4, 0x11223344);
    put(v, 0x304, 4, 0x55667788);
    return v;
}

}  // namespace

TEST_CASE("multiboot: a.out kludge, modules, info structure, entry state") {
    PhysicalMemory mem(32 * MiB);
    CpuState s;
    const std::vector<uint8_t> junk(0x3000, 0xcc);
    mem.write_bytes(GuestPhys(kMbLoad), junk.data(), junk.size());  // the bss must be zeroed

    KernelBoot boot;
    boot.kernel = aout_kernel();
    boot.kernel_name = "kernel.bin";
    boot.cmdline = "hello world";
    boot.modules.push_back({std::vector<uint8_t>(5000, 0x11), "a.bin arg1 arg2"});
    boot.modules.push_back({std::vector<uint8_t>(3, 0x22), "b.bin"});
    load_kernel_image(boot, mem, s);

    check_flat_entry(s, kMbLoad + 0x80);
    CHECK(s.gpr[kRax] == multiboot::kBootloaderMagic);
    const uint32_t mbi = uint32_t(s.gpr[kRbx]);
    CHECK(mbi == multiboot::kInfoAddr);
    // The image and its bss.
    CHECK(rd(mem, kMbLoad + 0x80) == 0xdeadbeef);
    CHECK(rd(mem, kMbLoad + 0x40) == multiboot::kHeaderMagic);
    CHECK(rd(mem, kMbLoad + 0x100) == 0);
    CHECK(rd(mem, kMbLoad + 0x2ffc) == 0);

    const uint32_t fl = rd(mem, mbi);
    CHECK((fl & multiboot::kInfoMemory));
    CHECK((fl & multiboot::kInfoCmdline));
    CHECK((fl & multiboot::kInfoMods));
    CHECK((fl & multiboot::kInfoMmap));
    CHECK(rd(mem, mbi + 4) == 640);
    CHECK(rd(mem, mbi + 8) == 31 * 1024);
    CHECK(rd_string(mem, rd(mem, mbi + 16)) == "kernel.bin hello world");
    CHECK(rd_string(mem, rd(mem, mbi + 64)) == "nomad86");

    // Modules: page-aligned after the bss, in order.
    CHECK(rd(mem, mbi + 20) == 2);
    const uint32_t mods = rd(mem, mbi + 24);
    const uint32_t a_start = rd(mem, mods), a_end = rd(mem, mods + 4);
    const uint32_t b_start = rd(mem, mods + 16), b_end = rd(mem, mods + 20);
    CHECK(a_start == kMbLoad + 0x3000);
    CHECK(a_end == a_start + 5000);
    CHECK(b_start == kMbLoad + 0x3000 + 0x2000);
    CHECK(b_end == b_start + 3);
    CHECK(rd(mem, a_start, 1) == 0x11);
    CHECK(rd(mem, a_end - 1, 1) == 0x11);
    CHECK(rd(mem, b_start, 1) == 0x22);
    CHECK(rd_string(mem, rd(mem, mods + 8)) == "a.bin arg1 arg2");
    CHECK(rd_string(mem, rd(mem, mods + 24)) == "b.bin");

    // mmap: size-prefixed 24-byte entries.
    CHECK(rd(mem, mbi + 44) == 4 * 24);
    const uint32_t mmap = rd(mem, mbi + 48);
    CHECK(rd(mem, mmap) == 20);
    CHECK(mem.read(GuestPhys(mmap + 4), 8) == 0);
    CHECK(mem.read(GuestPhys(mmap + 12), 8) == 0x9fc00);
    CHECK(rd(mem, mmap + 20) == 1);
    CHECK(rd(mem, mmap + 24 + 20) == 2);
    CHECK(mem.read(GuestPhys(mmap + 72 + 4), 8) == 0x100000);
    CHECK(mem.read(GuestPhys(mmap + 72 + 12), 8) == 31 * MiB);
    CHECK(rd(mem, mmap + 72 + 20) == 1);
}

TEST_CASE("multiboot: ELF segments at their physical addresses, a virtual entry translated") {
    PhysicalMemory mem(32 * MiB);
    CpuState s;
    const std::vector<uint8_t> junk(0x20, 0xcc);
    mem.write_bytes(GuestPhys(0x300000), junk.data(), junk.size());
    KernelBoot boot;
    boot.kernel = elf_kernel();
    boot.cmdline = "elf";
    load_kernel_image(boot, mem, s);
    check_flat_entry(s, 0x301004);
    CHECK(rd(mem, 0x300000) == 0x13121110u);
    CHECK(rd(mem, 0x30000c) == 0x1f1e1d1cu);
    CHECK(rd(mem, 0x300010) == 0);  // memsz > filesz: zeroed
    CHECK(rd(mem, 0x30001c) == 0);
    CHECK(rd(mem, 0x301000) == 0x11223344u);
    CHECK(rd(mem, 0x301004) == 0x55667788u);
    CHECK(s.gpr[kRax] == multiboot::kBootloaderMagic);
    CHECK(rd_string(mem, rd(mem, uint32_t(s.gpr[kRbx]) + 16)) == "elf");
    CHECK(rd(mem, uint32_t(s.gpr[kRbx]) + 20) == 0);  // no modules
}

TEST_CASE("multiboot: a kernel loaded low keeps its modules out of the boot data and the legacy hole") {
    PhysicalMemory mem(8 * MiB);
    CpuState s;
    KernelBoot boot;
    boot.kernel = aout_kernel(0, 0x1000);  // 0x1000-0x4000 with its bss
    boot.modules.push_back({std::vector<uint8_t>(0x1000, 1), "fits"});
    boot.modules.push_back({std::vector<uint8_t>(0x8000, 2), "after the boot data"});
    boot.modules.push_back({std::vector<uint8_t>(0x90000, 3), "above 1 MiB"});
    load_kernel_image(boot, mem, s);
    const uint32_t mods = rd(mem, uint32_t(s.gpr[kRbx]) + 24);
    CHECK(rd(mem, mods) == 0x4000);
    CHECK(rd(mem, mods + 16) == multiboot::kDataEnd);
    CHECK(rd(mem, mods + 32) == 0x100000);
    CHECK(rd(mem, 0x100000, 1) == 3);
    CHECK(s.rip == 0x1080);

    KernelBoot clash;
    clash.kernel = aout_kernel(0, 0x8000);
    CHECK(load_error(clash, 8 * MiB).find("overlaps the boot data") != std::string::npos);
}

TEST_CASE("multiboot: refusals") {
    KernelBoot boot;
    boot.kernel = elf_kernel(2);
    CHECK(load_error(boot, 32 * MiB).find("64-bit") != std::string::npos);

    boot.kernel = elf_kernel();
    boot.kernel[0] = 'X';  // not ELF, no a.out kludge
    CHECK(load_error(boot, 32 * MiB).find("not ELF") != std::string::npos);

    boot.kernel = aout_kernel(1u << 5);  // an unknown required feature
    CHECK(load_error(boot, 32 * MiB).find("unsupported") != std::string::npos);

    boot.kernel = aout_kernel();  // loads at 2 MiB
    CHECK(load_error(boot, 2 * MiB).find("too small") != std::string::npos);

    boot.modules.push_back({std::vector<uint8_t>(2 * MiB, 0), "big.img"});
    const std::string msg = load_error(boot, 4 * MiB);
    CHECK(msg.find("big.img") != std::string::npos);
    CHECK(msg.find("does not fit") != std::string::npos);
}

TEST_CASE("multiboot: QEMU's -initrd module list syntax") {
    const std::vector<ModuleSpec> mods = parse_multiboot_modules("a.bin x y,b.bin,,c z,c.bin");
    REQUIRE(mods.size() == 3);
    CHECK(mods[0].path == "a.bin");
    CHECK(mods[0].cmdline == "a.bin x y");
    CHECK(mods[1].path == "b.bin,c");
    CHECK(mods[1].cmdline == "b.bin,c z");
    CHECK(mods[2].path == "c.bin");
    CHECK(mods[2].cmdline == "c.bin");
    CHECK(parse_multiboot_modules("").empty());
}

TEST_CASE("options: -kernel, -initrd, -append") {
    CommandLine cmd;
    std::string err;
    REQUIRE(parse_command_line({"-kernel", "vmlinuz", "-initrd", "initrd.img", "-append", "console=ttyS0"}, &cmd, &err));
    CHECK(cmd.machine.kernel_path == "vmlinuz");
    CHECK(cmd.machine.initrd_path == "initrd.img");
    CHECK(cmd.machine.append == "console=ttyS0");

    CommandLine c2;
    CHECK_FALSE(parse_command_line({"-append", "x"}, &c2, &err));
    CHECK(err == "-append only allowed with -kernel option");
    CommandLine c3;
    CHECK_FALSE(parse_command_line({"-initrd", "x"}, &c3, &err));
    CHECK(err == "-initrd only allowed with -kernel option");
    CommandLine c4;
    CHECK_FALSE(parse_command_line({"-kernel"}, &c4, &err));
    CHECK(usage_text().find("-kernel") != std::string::npos);
}
