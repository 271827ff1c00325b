// Control transfers: Jcc, JMP/CALL/RET near and far, LOOP, call gates, IRET.
#include <doctest/doctest.h>

#include "tests/unit/cpu_pm_rig.h"

namespace nomad86 {
namespace {

using test::Pm;
using test::place;


bool expected_cc(unsigned cc, uint32_t f) {
    const bool cf = f & flags::CF, zf = f & flags::ZF, sf = f & flags::SF, of = f & flags::OF, pf = f & flags::PF;
    switch (cc) {
    case 0x0: return of;
    case 0x1: return !of;
    case 0x2: return cf;
    case 0x3: return !cf;
    case 0x4: return zf;
    case 0x5: return !zf;
    case 0x6: return cf || zf;
    case 0x7: return !cf && !zf;
    case 0x8: return sf;
    case 0x9: return !sf;
    case 0xa: return pf;
    case 0xb: return !pf;
    case 0xc: return sf != of;
    case 0xd: return sf == of;
    case 0xe: return zf || sf != of;
    default: return !zf && sf == of;
    }
}

TEST_CASE("Jcc: all 16 conditions, short and near forms") {
    test::CpuRig r;
    Pm pm(r);
    const uint32_t flag_sets[] = {0,
                                  flags::CF,
                                  flags::ZF,
                                  flags::SF,
                                  flags::OF,
                                  flags::PF,
                                  flags::SF | flags::OF,
                                  flags::CF | flags::ZF | flags::SF | flags::OF | flags::PF,
                                  flags::ZF | flags::SF};
    for (unsigned cc = 0; cc < 16; cc++) {
        for (uint32_t f : flag_sets) {
            CAPTURE(cc);
            CAPTURE(f);
            r.s.set_rflags(flags::FIXED1 | f);
            place(r, 0x1000, {uint8_t(0x70 + cc), 0x10});
            r.step();
            CHECK(r.s.rip == (expected_cc(cc, f) ? 0x1012u : 0x1002u));
            place(r, 0x1100, {0x0f, uint8_t(0x80 + cc), 0x00, 0xff, 0xff, 0xff});  // rel32 -0x100
            r.step();
            CHECK(r.s.rip == (expected_cc(cc, f) ? 0x1006u : 0x1106u));
        }
    }
}

TEST_CASE("JMP near: 16-bit operand size truncates EIP; beyond the CS limit is #GP(0)") {
    test::CpuRig r;
    r.real_mode(0, 0xfff0);
    r.poke(0xfff0, {0xe9, 0x20, 0x00});
    r.step();
    CHECK(r.s.rip == 0x13);

    Pm pm(r);
    place(r, 0x12340, {0x66, 0xe9, 0x00, 0x00});
    r.step();
    CHECK(r.s.rip == 0x2344);

    r.s.seg[kCs].limit = 0x5fff;
    place(r, 0x1000, {0xe9, 0xfb, 0x5f, 0x00, 0x00});  // to 0x7000
    r.step();
    REQUIRE(pm.in_handler(kGP));
    CHECK(pm.stack(0) == 0);
    CHECK(pm.stack(1) == 0x1000);
}

TEST_CASE("CALL near relative and indirect, RET and RET imm16") {
    test::CpuRig r;
    Pm pm(r);
    place(r, 0x1000, {0xe8, 0xfb, 0x1f, 0x00, 0x00});  // call 0x3000
    r.poke(0x3000, {0xc2, 0x08, 0x00});                  // ret 8
    r.step();
    CHECK(r.s.rip == 0x3000);
    CHECK(r.s.gpr[kRsp] == Pm::kStack - 4);
    CHECK(r.peek(Pm::kStack - 4, 4) == 0x1005);
    r.step();
    CHECK(r.s.rip == 0x1005);
    CHECK(r.s.gpr[kRsp] == Pm::kStack + 8);

    r.s.gpr[kRbx] = 0x3100;
    r.poke(0x3100, {0xc3});
    place(r, 0x1000, {0xff, 0xd3});  // call ebx
    r.step();
    CHECK(r.s.rip == 0x3100);
    CHECK(r.peek(r.s.gpr[kRsp], 4) == 0x1002);
    r.step();
    CHECK(r.s.rip == 0x1002);
}

TEST_CASE("LOOP/LOOPE/LOOPNE count by address size; JECXZ/JCXZ") {
    test::CpuRig r;
    Pm pm(r);
    r.s.gpr[kRcx] = 3;
    place(r, 0x1000, {0xe2, 0xfe});  // loop $
    r.step();
    CHECK(r.s.rip == 0x1000);
    CHECK(r.s.gpr[kRcx] == 2);
    r.step(2);
    CHECK(r.s.rip == 0x1002);
    CHECK(r.s.gpr[kRcx] == 0);

    r.s.gpr[kRcx] = 0x10000;  // CX = 0: wraps to 0xffff, taken
    place(r, 0x1000, {0x67, 0xe2, 0xfd});
    r.step();
    CHECK(r.s.rip == 0x1000);
    CHECK(r.s.gpr[kRcx] == 0x1ffff);

    r.s.gpr[kRcx] = 5;
    r.s.set_rflags(flags::FIXED1);  // ZF = 0
    place(r, 0x1000, {0xe1, 0xfe});  // loope $
    r.step();
    CHECK(r.s.rip == 0x1002);
    CHECK(r.s.gpr[kRcx] == 4);
    place(r, 0x1000, {0xe0, 0xfe});  // loopne $
    r.step();
    CHECK(r.s.rip == 0x1000);
    CHECK(r.s.gpr[kRcx] == 3);

    r.s.gpr[kRcx] = 0;
    place(r, 0x1000, {0xe3, 0x10});  // jecxz
    r.step();
    CHECK(r.s.rip == 0x1012);
    r.s.gpr[kRcx] = 0x10000;
    place(r, 0x1000, {0xe3, 0x10});
    r.step();
    CHECK(r.s.rip == 0x1002);
    place(r, 0x1000, {0x67, 0xe3, 0x10});  // jcxz: CX is 0
    r.step();
    CHECK(r.s.rip == 0x1013);
}

TEST_CASE("real mode to protected mode: LGDT, MOV CR0, far JMP") {
    test::CpuRig r;
    r.real_mode(0, 0x7c00);
    r.memory.write(GuestPhys(0x800), 8, 0);
    r.memory.write(GuestPhys(0x808), 8, 0x00cf9b000000ffffull);
    r.memory.write(GuestPhys(0x810), 8, 0x00cf93000000ffffull);
    r.poke(0x7d00, {0x17, 0x00, 0x00, 0x08, 0x00, 0x00});
    r.poke(0x7c00, {0x0f, 0x01, 0x16, 0x00, 0x7d,                       // lgdt [0x7d00]
                    0x0f, 0x20, 0xc0,                                   // mov eax, cr0
                    0x0f, 0x22, 0xc0,                                   // mov cr0, eax
                    0x66, 0xea, 0x00, 0x7e, 0x00, 0x00, 0x08, 0x00});  // jmp dword 0x08:0x7e00
    r.poke(0x7e00, {0xf4});
    r.step(2);
    CHECK(r.s.gdtr.base == 0x800);
    CHECK(r.s.gdtr.limit == 0x17);
    CHECK(r.s.gpr[kRax] == (cr0::CD | cr0::NW | cr0::ET));
    r.s.gpr[kRax] |= cr0::PE;
    r.step();
    CHECK(r.s.protected_mode());
    CHECK(r.s.cpl == 0);
    r.step();
    CHECK(r.s.seg[kCs].selector == 0x08);
    CHECK(r.s.seg[kCs].base == 0);
    CHECK(r.s.seg[kCs].limit == 0xffffffffu);
    CHECK(r.s.seg[kCs].big());
    CHECK(r.s.seg[kCs].is_code());
    CHECK(r.s.cpl == 0);
    CHECK(r.s.rip == 0x7e00);
    CHECK((r.peek(0x808 + 5, 1) & 1) == 1);  // accessed bit written back
    CHECK(r.cpu.run(5) == Cpu::StopReason::kHalted);
    CHECK(r.s.rip == 0x7e01);
}

TEST_CASE("far JMP: #GP and #NP error codes for bad targets") {
    test::CpuRig r;
    Pm pm(r);
    pm.set_gdt(7, Pm::seg(0, 0xfffff, 0x1b, 0xc));   // 0x38: not present code
    pm.set_gdt(8, Pm::seg(0, 0xfff, 0x9b, 0x4));     // 0x40: code, limit 0xfff
    pm.set_gdt(9, Pm::seg(0, 0xfffff, 0x9f, 0xc));   // 0x48: conforming code DPL 0
    struct Case {
        uint16_t sel;
        uint32_t off;
        uint8_t vector;
        uint32_t error;
    };
    const Case cases[] = {
        {0x0080, 0x1000, kGP, 0x80},  // beyond the GDT limit
        {0x0010, 0x1000, kGP, 0x10},  // a data segment
        {0x000b, 0x1000, kGP, 0x08},  // RPL 3 > CPL 0 to non-conforming code
        {0x0038, 0x1000, kNP, 0x38},  // not present
        {0x0003, 0x1000, kGP, 0x00},  // null
        {0x0040, 0x2000, kGP, 0x00},  // offset beyond the limit
        {0x0028, 0x1000, kGP, 0x28},  // a TSS: task switch, unimplemented
    };
    for (const Case& c : cases) {
        CAPTURE(c.sel);
        Pm fresh(r);
        fresh.set_gdt(7, Pm::seg(0, 0xfffff, 0x1b, 0xc));
        fresh.set_gdt(8, Pm::seg(0, 0xfff, 0x9b, 0x4));
        fresh.set_gdt(5, Pm::seg(Pm::kTss, 0xe8, 0x89, 0));
        place(r, 0x1000, {0xea, uint8_t(c.off), uint8_t(c.off >> 8), uint8_t(c.off >> 16), uint8_t(c.off >> 24),
                          uint8_t(c.sel), uint8_t(c.sel >> 8)});
        r.step();
        REQUIRE(fresh.in_handler(c.vector));
        CHECK(fresh.stack(0) == c.error);
        CHECK(fresh.stack(1) == 0x1000);
        CHECK(fresh.stack(2) == 0x08);
    }
    // A conforming DPL 0 segment from CPL 3: allowed, CPL stays 3.
    Pm user(r);
    user.set_gdt(9, Pm::seg(0, 0xfffff, 0x9f, 0xc));
    user.user(0x1000, 0x7000);
    place(r, 0x1000, {0xea, 0x00, 0x30, 0x00, 0x00, 0x48, 0x00});
    r.poke(0x3000, {0xf4});
    r.step();
    CHECK(r.s.rip == 0x3000);
    CHECK(r.s.seg[kCs].selector == 0x4b);
    CHECK(r.s.cpl == 3);
}

TEST_CASE("CALL through a 32-bit call gate from CPL 3 to CPL 0 copies parameters; RETF returns and nulls DS") {
    test::CpuRig r;
    Pm pm(r);
    pm.set_gdt(6, Pm::gate(0x08, 0x5000, 0xc, 3, true, 2));  // 0x30
    pm.user(0x1000, 0x7000);
    r.memory.write(GuestPhys(0x7000), 4, 0x11111111);
    r.memory.write(GuestPhys(0x7004), 4, 0x22222222);
    place(r, 0x1000, {0x9a, 0x00, 0x00, 0x00, 0x00, 0x33, 0x00});  // call 0x33:0
    r.poke(0x5000, {0xca, 0x08, 0x00});                            // retf 8
    r.step();
    CHECK(r.s.rip == 0x5000);
    CHECK(r.s.cpl == 0);
    CHECK(r.s.seg[kCs].selector == 0x08);
    CHECK(r.s.seg[kSs].selector == 0x10);
    CHECK(r.s.gpr[kRsp] == 0x9000 - 24);
    CHECK(pm.stack(0) == 0x1007);
    CHECK(pm.stack(1) == 0x1b);
    CHECK(pm.stack(2) == 0x11111111);
    CHECK(pm.stack(3) == 0x22222222);
    CHECK(pm.stack(4) == 0x7000);
    CHECK(pm.stack(5) == 0x23);
    // The kernel loads its own DS; the return to CPL 3 must drop it.
    r.s.seg[kDs] = Cpu::cache_from_descriptor(0x10, Pm::seg(0, 0xfffff, 0x93, 0xc));
    r.step();
    CHECK(r.s.rip == 0x1007);
    CHECK(r.s.cpl == 3);
    CHECK(r.s.seg[kCs].selector == 0x1b);
    CHECK(r.s.seg[kSs].selector == 0x23);
    CHECK(r.s.gpr[kRsp] == 0x7008);
    CHECK(r.s.seg[kDs].selector == 0);
    CHECK_FALSE(r.s.seg[kDs].present());
    CHECK(r.s.seg[kEs].selector == 0x23);
    CHECK(r.s.seg[kEs].present());
}

TEST_CASE("CALL through a 16-bit call gate: 16-bit frame and parameter") {
    test::CpuRig r;
    Pm pm(r);
    pm.set_gdt(6, Pm::gate(0x08, 0x5000, 0x4, 3, true, 1));
    pm.user(0x1000, 0x7000);
    r.memory.write(GuestPhys(0x7000), 2, 0xbeef);
    place(r, 0x1000, {0x9a, 0x00, 0x00, 0x00, 0x00, 0x33, 0x00});
    r.poke(0x5000, {0xf4});
    r.step();
    CHECK(r.s.rip == 0x5000);
    CHECK(r.s.gpr[kRsp] == 0x9000 - 10);
    CHECK(r.peek(0x9000 - 10, 2) == 0x1007);
    CHECK(r.peek(0x9000 - 8, 2) == 0x1b);
    CHECK(r.peek(0x9000 - 6, 2) == 0xbeef);
    CHECK(r.peek(0x9000 - 4, 2) == 0x7000);
    CHECK(r.peek(0x9000 - 2, 2) == 0x23);
}

TEST_CASE("call gate privilege checks") {
    test::CpuRig r;
    {
        Pm pm(r);
        pm.set_gdt(10, Pm::gate(0x08, 0x5000, 0xc, 0));  // 0x50: DPL 0 gate
        pm.user(0x1000, 0x7000);
        place(r, 0x1000, {0x9a, 0x00, 0x00, 0x00, 0x00, 0x53, 0x00});
        r.step();
        REQUIRE(pm.in_handler(kGP));
        CHECK(pm.stack(0) == 0x50);
        CHECK(r.s.cpl == 0);
        CHECK(pm.stack(2) == 0x1b);  // the fault came from CPL 3
    }
    {
        Pm pm(r);
        pm.set_gdt(6, Pm::gate(0x08, 0x5000, 0xc, 3));
        pm.user(0x1000, 0x7000);
        place(r, 0x1000, {0xea, 0x00, 0x00, 0x00, 0x00, 0x33, 0x00});  // JMP cannot raise privilege
        r.step();
        REQUIRE(pm.in_handler(kGP));
        CHECK(pm.stack(0) == 0x08);
    }
    {
        Pm pm(r);
        pm.set_gdt(6, Pm::gate(0x08, 0x5000, 0xc, 3, false));
        pm.user(0x1000, 0x7000);
        place(r, 0x1000, {0x9a, 0x00, 0x00, 0x00, 0x00, 0x33, 0x00});
        r.step();
        REQUIRE(pm.in_handler(kNP));
        CHECK(pm.stack(0) == 0x30);
    }
}

TEST_CASE("real mode far CALL and RETF") {
    test::CpuRig r;
    r.real_mode(0, 0x7c00);
    r.poke(0x7c00, {0x9a, 0x00, 0x01, 0x00, 0x20});  // call 2000:0100
    r.poke(0x20100, {0xcb});
    r.step();
    CHECK(r.s.seg[kCs].selector == 0x2000);
    CHECK(r.s.seg[kCs].base == 0x20000);
    CHECK(r.s.rip == 0x100);
    CHECK(r.peek(0xfffa, 2) == 0x7c05);
    CHECK(r.peek(0xfffc, 2) == 0);
    r.step();
    CHECK(r.s.seg[kCs].selector == 0);
    CHECK(r.s.rip == 0x7c05);
    CHECK(r.s.gpr[kRsp] == 0xfffe);
}

TEST_CASE("RETF to a not-present segment faults with state unchanged") {
    test::CpuRig r;
    Pm pm(r);
    pm.set_gdt(7, Pm::seg(0, 0xfffff, 0x1b, 0xc));
    r.s.gpr[kRsp] = 0x8000;
    r.memory.write(GuestPhys(0x8000), 4, 0x1234);
    r.memory.write(GuestPhys(0x8004), 4, 0x38);
    place(r, 0x1000, {0xcb});
    r.step();
    REQUIRE(pm.in_handler(kNP));
    CHECK(pm.stack(0) == 0x38);
    CHECK(pm.stack(1) == 0x1000);
    CHECK(r.s.gpr[kRsp] == 0x8000 - 16);  // ESP restored, then the #NP frame pushed
    CHECK(r.s.seg[kCs].selector == 0x08);
}

TEST_CASE("IRETD at CPL 3 cannot change IF or IOPL; NT=1 is #GP") {
    test::CpuRig r;
    Pm pm(r);
    pm.user(0x1000, 0x7000);
    r.memory.write(GuestPhys(0x7000), 4, 0x2000);
    r.memory.write(GuestPhys(0x7004), 4, 0x1b);
    r.memory.write(GuestPhys(0x7008), 4, 0x3000 | flags::FIXED1 | flags::CF);  // IOPL 3, IF 0
    r.poke(0x2000, {0xf4});
    place(r, 0x1000, {0xcf});
    r.step();
    CHECK(r.s.rip == 0x2000);
    CHECK(r.s.gpr[kRsp] == 0x700c);
    CHECK(r.cpu.flag(flags::IF));
    CHECK(r.s.iopl() == 0);
    CHECK(r.cpu.flag(flags::CF));

    Pm pm2(r);
    r.s.system_flags |= flags::NT;
    place(r, 0x1000, {0xcf});
    r.step();
    REQUIRE(pm2.in_handler(kGP));
    CHECK(pm2.stack(0) == 0);
}

}  // namespace
}  // namespace nomad86
