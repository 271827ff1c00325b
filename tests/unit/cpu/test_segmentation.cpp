// Segmentation: descriptor decoding, segment register loads and their faults.
#include <doctest/doctest.h>

#include "tests/unit/cpu_pm_rig.h"

namespace nomad86 {
namespace {

using test::Pm;
using test::place;

// Calls load_segment and returns the exception it raised (vector 0xff: none).
CpuException try_load(test::CpuRig& r, SegReg seg, uint16_t sel) {
    try {
        r.cpu.load_segment(seg, sel);
    } catch (const CpuException& e) {
        return e;
    }
    return CpuException{0xff, false, 0};
}

TEST_CASE("cache_from_descriptor decodes base, limit with granularity, attributes") {
    const SegmentCache c = Cpu::cache_from_descriptor(0x2b, Pm::seg(0x12345678, 0xabcde, 0xf3, 0xc));
    CHECK(c.selector == 0x2b);
    CHECK(c.base == 0x12345678);
    CHECK(c.limit == 0xabcdefff);
    CHECK(c.dpl() == 3);
    CHECK(c.present());
    CHECK(c.writable());
    CHECK(c.big());
    const SegmentCache b = Cpu::cache_from_descriptor(0x08, Pm::seg(0x1000, 0x1ffff, 0x9a, 0x0));
    CHECK(b.limit == 0x1ffff);
    CHECK(b.is_code());
    CHECK_FALSE(b.big());
}

TEST_CASE("load_segment: data segments, accessed bit, privilege and presence checks") {
    test::CpuRig r;
    Pm pm(r);
    pm.set_gdt(7, Pm::seg(0x40000, 0xffff, 0x92, 0x0));  // 0x38 data, not yet accessed
    pm.set_gdt(8, Pm::seg(0, 0xfffff, 0x12, 0xc));       // 0x40 not present data
    pm.set_gdt(9, Pm::seg(0, 0xfffff, 0x98, 0xc));       // 0x48 execute-only code
    pm.set_gdt(10, Pm::seg(0, 0xfffff, 0x9a, 0xc));      // 0x50 readable code
    pm.set_gdt(11, Pm::seg(0, 0xfffff, 0x72, 0xc));      // 0x58 DPL 3 not-present data

    CHECK(try_load(r, kDs, 0x38).vector == 0xff);
    CHECK(r.s.seg[kDs].base == 0x40000);
    CHECK(r.s.seg[kDs].limit == 0xffff);
    CHECK((r.s.seg[kDs].attr & SegmentCache::kAccessed) != 0);
    CHECK((r.peek(Pm::kGdt + 7 * 8 + 5, 1) & 1) == 1);

    struct Case {
        SegReg seg;
        uint16_t sel;
        uint8_t vector;
        uint32_t error;
    };
    const Case cases[] = {
        {kDs, 0x80, kGP, 0x80},  // beyond the GDT limit
        {kDs, 0x40, kNP, 0x40},  // not present
        {kEs, 0x48, kGP, 0x48},  // execute-only code
        {kFs, 0x28, kGP, 0x28},  // system descriptor (TSS)
        {kGs, 0x13, kGP, 0x10},  // RPL 3 > DPL 0
        {kSs, 0x00, kGP, 0x00},  // null SS
        {kSs, 0x50, kGP, 0x50},  // code into SS
        {kSs, 0x23, kGP, 0x20},  // RPL 3 != CPL 0
        {kSs, 0x40, kSS, 0x40},  // not present stack
        {kDs, 0x0c, kGP, 0x0c},  // LDT reference with no LDT (LDTR null)
    };
    r.s.ldtr = SegmentCache{0, 0, 0, 0};
    for (const Case& c : cases) {
        CAPTURE(c.sel);
        const CpuException e = try_load(r, c.seg, c.sel);
        CHECK(e.vector == c.vector);
        CHECK(e.has_error);
        CHECK(e.error_code == c.error);
    }
    CHECK(try_load(r, kFs, 0x50).vector == 0xff);  // readable code is fine for data registers
    CHECK(r.s.seg[kFs].selector == 0x50);

    // CPL 3: a DPL 0 segment is refused, the DPL 3 one (not present) is #NP.
    pm.user(0x1000, 0x7000);
    CHECK(try_load(r, kDs, 0x13).error_code == 0x10);
    const CpuException np = try_load(r, kDs, 0x5b);
    CHECK(np.vector == kNP);
    CHECK(np.error_code == 0x58);
    CHECK(try_load(r, kSs, 0x23).vector == 0xff);
}

TEST_CASE("load_segment: a null DS loads and faults on use") {
    test::CpuRig r;
    Pm pm(r);
    CHECK(try_load(r, kDs, 0x0003).vector == 0xff);
    CHECK(r.s.seg[kDs].selector == 3);
    CHECK_FALSE(r.s.seg[kDs].present());
    bool faulted = false;
    try {
        r.cpu.read_mem(kDs, 0x100, 4);
    } catch (const CpuException& e) {
        faulted = e.vector == kGP && e.error_code == 0;
    }
    CHECK(faulted);
}

TEST_CASE("32-bit MOV forms through based, limited, read-only and expand-down data segments") {
    // The interpreter's operand forms take an inline path only for present
    // expand-up data segments whose limit holds the access; everything else
    // must still add the base and fault as the general path does.
    test::CpuRig r;
    Pm pm(r);
    pm.set_gdt(6, Pm::seg(0x20000, 0xfff, 0x93, 0x4));  // 0x30: base 0x20000, limit 0xfff, writable
    pm.set_gdt(7, Pm::seg(0x20000, 0xfff, 0x91, 0x4));  // 0x38: the same, read-only
    pm.set_gdt(8, Pm::seg(0x20000, 0xfff, 0x97, 0x4));  // 0x40: expand-down, writable, B=1
    r.memory.write(GuestPhys(0x20010), 4, 0x11223344);
    r.memory.write(GuestPhys(0x22000), 4, 0x55667788);

    REQUIRE(try_load(r, kDs, 0x30).vector == 0xff);
    place(r, 0x1000, {0xa1, 0x10, 0x00, 0x00, 0x00});
    r.step();  // mov eax, [0x10]
    CHECK(r.s.gpr[kRax] == 0x11223344);
    place(r, 0x1000, {0xa3, 0x20, 0x00, 0x00, 0x00});
    r.step();  // mov [0x20], eax
    CHECK(r.memory.read(GuestPhys(0x20020), 4) == 0x11223344);
    place(r, 0x1000, {0x8b, 0x05, 0xfe, 0x0f, 0x00, 0x00});
    r.step();  // mov eax, [0xffe]: last byte past the limit
    CHECK(pm.in_handler(kGP));
    CHECK(pm.stack(0) == 0);

    test::CpuRig r2;
    Pm pm2(r2);
    pm2.set_gdt(7, Pm::seg(0x20000, 0xfff, 0x91, 0x4));
    REQUIRE(try_load(r2, kDs, 0x38).vector == 0xff);
    place(r2, 0x1000, {0xc7, 0x05, 0x20, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00});
    r2.step();  // mov dword [0x20], 1
    CHECK(pm2.in_handler(kGP));
    CHECK(r2.memory.read(GuestPhys(0x20020), 4) == 0);

    test::CpuRig r3;
    Pm pm3(r3);
    pm3.set_gdt(8, Pm::seg(0x20000, 0xfff, 0x97, 0x4));
    r3.memory.write(GuestPhys(0x22000), 4, 0x55667788);
    REQUIRE(try_load(r3, kDs, 0x40).vector == 0xff);
    place(r3, 0x1000, {0xa1, 0x00, 0x20, 0x00, 0x00});
    r3.step();  // mov eax, [0x2000]: above the limit, valid
    CHECK(r3.s.gpr[kRax] == 0x55667788);
    place(r3, 0x1000, {0xa1, 0x10, 0x00, 0x00, 0x00});
    r3.step();  // mov eax, [0x10]: at or below the limit
    CHECK(pm3.in_handler(kGP));
}

TEST_CASE("an instruction of a block that runs past the CS limit raises #GP(0) at that instruction") {
    // The block loop checks the limit once per block when the whole block
    // lies inside it; this block does not, so its third NOP must fault.
    test::CpuRig r;
    Pm pm(r);
    pm.set_gdt(6, Pm::seg(0, 0x1001, 0x9b, 0x4));  // 0x30: code, base 0, limit 0x1001, 32-bit
    r.poke(0x1000, {0x90, 0x90, 0x90, 0x90});
    r.s.seg[kCs] = Cpu::cache_from_descriptor(0x30, Pm::seg(0, 0x1001, 0x9b, 0x4));
    r.s.rip = 0x1000;
    r.cpu.run(100);  // a budget larger than the block: the plain block loop
    CHECK(pm.in_handler(kGP));
    CHECK(pm.stack(0) == 0);       // error code
    CHECK(pm.stack(1) == 0x1002);  // EIP of the NOP past the limit
}

TEST_CASE("load_segment through the LDT") {
    test::CpuRig r;
    Pm pm(r);
    pm.set_gdt(8, Pm::seg(0x30000, 0x17, 0x82, 0));
    r.s.ldtr = Cpu::cache_from_descriptor(0x40, Pm::seg(0x30000, 0x17, 0x82, 0));
    r.memory.write(GuestPhys(0x30008), 8, Pm::seg(0x55000, 0xfff, 0x92, 0));
    CHECK(try_load(r, kEs, 0x0c).vector == 0xff);
    CHECK(r.s.seg[kEs].base == 0x55000);
    CHECK(r.s.seg[kEs].limit == 0xfff);
    CHECK(try_load(r, kEs, 0x1c).error_code == 0x1c);  // beyond the LDT limit
}

TEST_CASE("real mode keeps the limit (unreal mode); V86 mode forces 64 KiB DPL 3") {
    test::CpuRig r;
    r.real_mode(0, 0x7c00);
    r.s.seg[kDs].limit = 0xffffffff;
    r.s.seg[kDs].attr |= SegmentCache::kG | SegmentCache::kDB;
    r.cpu.load_segment(kDs, 0x1234);
    CHECK(r.s.seg[kDs].selector == 0x1234);
    CHECK(r.s.seg[kDs].base == 0x12340);
    CHECK(r.s.seg[kDs].limit == 0xffffffff);
    CHECK(r.s.seg[kDs].big());
    CHECK(r.cpu.read_mem(kDs, 0x100000, 4) == r.peek(0x12340 + 0x100000, 4));

    Pm pm(r);
    r.s.system_flags |= flags::VM;
    r.s.cpl = 3;
    r.cpu.load_segment(kEs, 0xb800);
    CHECK(r.s.seg[kEs].base == 0xb8000);
    CHECK(r.s.seg[kEs].limit == 0xffff);
    CHECK(r.s.seg[kEs].dpl() == 3);
    CHECK(r.s.seg[kEs].writable());
    CHECK_FALSE(r.s.seg[kEs].big());
}

TEST_CASE("read_descriptor checks the table limit with the requested vector") {
    test::CpuRig r;
    Pm pm(r);
    CHECK(r.cpu.read_descriptor(0x08, kGP) == 0x00cf9b000000ffffull);
    bool ts = false;
    try {
        r.cpu.read_descriptor(0x83, kTS);
    } catch (const CpuException& e) {
        ts = e.vector == kTS && e.error_code == 0x80;
    }
    CHECK(ts);
}

TEST_CASE("update_cpl") {
    test::CpuRig r;
    Pm pm(r);
    r.cpu.update_cpl(3);
    CHECK(r.s.cpl == 3);
    r.cpu.update_cpl(0);
    CHECK(r.s.cpl == 0);
}

TEST_CASE("V86: an interrupt goes to ring 0 with the segment registers pushed and nulled; IRETD returns") {
    test::CpuRig r;
    Pm pm(r);
    r.s.idtr.limit = 0x21 * 8 - 1;
    pm.set_idt(0x20, Pm::gate(0x08, 0x4800, 0xe, 0));
    r.poke(0x4800, {0xcf});  // IRETD
    r.s.set_rflags(flags::FIXED1 | flags::IF | flags::VM | (3u << flags::IOPL_SHIFT));
    r.s.cpl = 3;
    for (SegReg s : {kCs, kSs, kDs, kEs, kFs, kGs}) r.cpu.load_segment_real(s, 0x2000);
    r.cpu.load_segment_real(kDs, 0x3000);
    r.s.rip = 0x100;
    r.s.gpr[kRsp] = 0xfffe;
    r.poke(0x20100, {0xf4});
    struct Pic final : InterruptAcknowledge {
        uint8_t acknowledge() override { return 0x20; }
    } pic;
    r.cpu.set_interrupt_controller(&pic);
    r.cpu.set_irq(0, true);
    r.cpu.run(1);  // the delivery, then the handler's IRETD
    r.cpu.set_irq(0, false);
    // After the IRETD we are back in V86 at 2000:0100.
    CHECK(r.s.v86_mode());
    CHECK(r.s.cpl == 3);
    CHECK(r.s.seg[kCs].selector == 0x2000);
    CHECK(r.s.seg[kDs].selector == 0x3000);
    CHECK(r.s.seg[kDs].base == 0x30000);
    CHECK(r.s.rip == 0x100);
    CHECK(r.s.gpr[kRsp] == 0xfffe);
    // The ring-0 frame: EIP CS EFLAGS ESP SS ES DS FS GS.
    const uint64_t f = 0x9000 - 36;
    CHECK(r.peek(f, 4) == 0x100);
    CHECK(r.peek(f + 4, 4) == 0x2000);
    CHECK((r.peek(f + 8, 4) & flags::VM) != 0);
    CHECK(r.peek(f + 12, 4) == 0xfffe);
    CHECK(r.peek(f + 16, 4) == 0x2000);
    CHECK(r.peek(f + 20, 4) == 0x2000);
    CHECK(r.peek(f + 24, 4) == 0x3000);
}

}  // namespace
}  // namespace nomad86
