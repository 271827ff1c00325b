// System instructions: CLI/STI, I/O permission, HLT, LAR/LSL/VERR/VERW, CPUID, MSRs, CRs/DRs, tables.
#include <doctest/doctest.h>

#include <vector>

#include "tests/unit/cpu_pm_rig.h"

namespace nomad86 {
namespace {

using test::Pm;
using test::place;


struct FakePort final : IoHandler {
    int reads = 0, writes = 0;
    uint32_t last = 0;
    uint32_t io_read(uint16_t, unsigned) override {
        reads++;
        return 0x5a;
    }
    void io_write(uint16_t, unsigned, uint32_t v) override {
        writes++;
        last = v;
    }
};

TEST_CASE("CLI/STI: IOPL against CPL") {
    test::CpuRig r;
    Pm pm(r);
    pm.user(0x1000, 0x7000);
    place(r, 0x1000, {0xfa});
    r.step();
    REQUIRE(pm.in_handler(kGP));
    CHECK(pm.stack(0) == 0);

    Pm pm2(r);
    pm2.user(0x1000, 0x7000);
    r.s.system_flags |= 3u << flags::IOPL_SHIFT;
    place(r, 0x1000, {0xfa, 0xfb, 0xfb});
    r.step();
    CHECK(r.s.rip == 0x1001);
    CHECK_FALSE(r.cpu.flag(flags::IF));
    r.step();
    CHECK(r.cpu.flag(flags::IF));
    CHECK(r.s.interrupt_shadow);
}

TEST_CASE("IN/OUT through the TSS I/O permission bitmap") {
    test::CpuRig r;
    FakePort dev;
    r.io.register_ports(0x70, 2, &dev, "fake", IoBus::kByte);
    Pm pm(r);
    std::vector<uint8_t> map(0x81, 0xff);
    map[0x70 / 8] = 0xfe;  // only port 0x70 allowed
    r.poke(Pm::kTss + 0x68, map);
    pm.user(0x1000, 0x7000);
    place(r, 0x1000, {0xe4, 0x70});  // in al, 0x70
    r.step();
    CHECK(r.s.rip == 0x1002);
    CHECK((r.s.gpr[kRax] & 0xff) == 0x5a);
    CHECK(dev.reads == 1);

    struct Denied {
        std::initializer_list<uint8_t> code;
        uint16_t dx;
    };
    const Denied denied[] = {
        {{0xe6, 0x71}, 0},          // out 0x71, al: bit set
        {{0x66, 0xe5, 0x70}, 0},    // in ax, 0x70: needs 0x71 too
        {{0xec}, 0x400},            // in al, dx: beyond the TSS limit
        {{0x6e}, 0x71},             // outsb: the string forms check too
        {{0xf3, 0x6c}, 0x71},       // rep insb with ECX = 0: still #GP
    };
    for (const Denied& d : denied) {
        Pm again(r);
        again.user(0x1000, 0x7000);
        r.s.gpr[kRdx] = d.dx;
        r.s.gpr[kRcx] = 0;
        r.s.gpr[kRsi] = r.s.gpr[kRdi] = 0x3000;
        place(r, 0x1000, d.code);
        r.step();
        REQUIRE(again.in_handler(kGP));
        CHECK(again.stack(0) == 0);
    }
    CHECK(dev.writes == 0);
    CHECK(dev.reads == 1);

    // CPL 0 <= IOPL: no bitmap check.
    Pm kernel(r);
    r.s.gpr[kRax] = 0x33;
    place(r, 0x1000, {0xe6, 0x71});
    r.step();
    CHECK(r.s.rip == 0x1002);
    CHECK(dev.writes == 1);
    CHECK(dev.last == 0x33);
}

TEST_CASE("HLT is privileged") {
    test::CpuRig r;
    Pm pm(r);
    pm.user(0x1000, 0x7000);
    place(r, 0x1000, {0xf4});
    r.step();
    REQUIRE(pm.in_handler(kGP));
    CHECK(pm.stack(1) == 0x1000);
}

TEST_CASE("LAR, LSL, VERR, VERW") {
    test::CpuRig r;
    Pm pm(r);
    pm.set_gdt(7, Pm::seg(0x1000, 0x12345, 0x9a | 0x00, 0x0));  // 0x38 exec/read code, byte granular
    pm.set_gdt(8, Pm::seg(0, 0xfffff, 0x98, 0xc));                // 0x40 execute-only code
    pm.set_gdt(9, Pm::gate(0x08, 0x1000, 0xe, 0));                  // 0x48 interrupt gate
    struct Q {
        uint16_t sel;
        bool lar;
        uint32_t ar;
        bool lsl;
        uint32_t limit;
        bool verr, verw;
    };
    const Q qs[] = {
        {0x08, true, 0x00cf9b00, true, 0xffffffff, true, false},
        {0x10, true, 0x00cf9300, true, 0xffffffff, true, true},
        {0x28, true, 0x00008b00, true, 0xe8, false, false},       // busy TSS (LTR'd): LAR/LSL ok
        {0x38, true, 0x00019a00, true, 0x12345, true, false},
        {0x40, true, 0x00cf9800, true, 0xffffffff, false, false},
        {0x48, false, 0, false, 0, false, false},                 // gates: no
        {0x00, false, 0, false, 0, false, false},                 // null
        {0x80, false, 0, false, 0, false, false},                 // beyond the GDT
    };
    // The rig's TSS descriptor in the GDT is "available"; make it busy to match the cache.
    pm.set_gdt(5, Pm::seg(Pm::kTss, 0xe8, 0x8b, 0));
    for (const Q& q : qs) {
        CAPTURE(q.sel);
        r.s.gpr[kRbx] = q.sel;
        r.s.gpr[kRax] = 0xdeadbeef;
        place(r, 0x1000, {0x0f, 0x02, 0xc3});  // lar eax, ebx
        r.step();
        CHECK(r.cpu.flag(flags::ZF) == q.lar);
        CHECK(r.s.gpr[kRax] == (q.lar ? q.ar : 0xdeadbeef));
        place(r, 0x1000, {0x0f, 0x03, 0xc3});  // lsl eax, ebx
        r.step();
        CHECK(r.cpu.flag(flags::ZF) == q.lsl);
        if (q.lsl) CHECK(r.s.gpr[kRax] == q.limit);
        place(r, 0x1000, {0x0f, 0x00, 0xe3});  // verr bx
        r.step();
        CHECK(r.cpu.flag(flags::ZF) == q.verr);
        place(r, 0x1000, {0x0f, 0x00, 0xeb});  // verw bx
        r.step();
        CHECK(r.cpu.flag(flags::ZF) == q.verw);
    }
    // From CPL 3, a DPL 0 data segment is invisible; the DPL 3 one is not.
    pm.user(0x1000, 0x7000);
    r.s.gpr[kRbx] = 0x10;
    place(r, 0x1000, {0x0f, 0x02, 0xc3});
    r.step();
    CHECK_FALSE(r.cpu.flag(flags::ZF));
    r.s.gpr[kRbx] = 0x23;
    place(r, 0x1000, {0x0f, 0x00, 0xeb});
    r.step();
    CHECK(r.cpu.flag(flags::ZF));
    // Not in real mode.
    r.real_mode(0, 0x7c00);
    r.poke(0x7c00, {0x0f, 0x02, 0xc3});
    r.poke(6 * 4, {0x00, 0x06, 0x00, 0x00});
    r.poke(0x600, {0xf4});
    r.step();
    CHECK(r.s.rip == 0x600);  // #UD: the step ends at the handler
}

TEST_CASE("ARPL") {
    test::CpuRig r;
    Pm pm(r);
    r.s.gpr[kRax] = 0x10;
    r.s.gpr[kRbx] = 0x23;
    place(r, 0x1000, {0x63, 0xd8});  // arpl ax, bx
    r.step();
    CHECK(r.s.gpr[kRax] == 0x13);
    CHECK(r.cpu.flag(flags::ZF));
    place(r, 0x1000, {0x63, 0xd8});
    r.step();
    CHECK(r.s.gpr[kRax] == 0x13);
    CHECK_FALSE(r.cpu.flag(flags::ZF));
}

TEST_CASE("CPUID") {
    test::CpuRig r;
    Pm pm(r);
    auto cpuid = [&](uint32_t leaf) {
        r.s.gpr[kRax] = leaf;
        place(r, 0x1000, {0x0f, 0xa2});
        r.step();
    };
    cpuid(0);
    CHECK(r.s.gpr[kRax] == 2);
    CHECK(r.s.gpr[kRbx] == 0x756e6547);  // "Genu"
    CHECK(r.s.gpr[kRdx] == 0x49656e69);  // "ineI"
    CHECK(r.s.gpr[kRcx] == 0x6c65746e);  // "ntel"
    cpuid(1);
    CHECK(r.s.gpr[kRax] == 0x633);
    CHECK(r.s.gpr[kRdx] == ((1u << 0) | (1u << 3) | (1u << 4) | (1u << 5) | (1u << 6) | (1u << 8) | (1u << 13) |
                             (1u << 15) | (1u << 24)));  // FPU PSE TSC MSR PAE CX8 PGE CMOV FXSR
    CHECK(r.s.gpr[kRcx] == 0);
    cpuid(2);
    const uint64_t l2a = r.s.gpr[kRax], l2d = r.s.gpr[kRdx];
    cpuid(7);  // beyond the max basic leaf: leaf 2's data
    CHECK(r.s.gpr[kRax] == l2a);
    CHECK(r.s.gpr[kRdx] == l2d);
    cpuid(0x80000000);
    CHECK(r.s.gpr[kRax] == 0x80000004);
    cpuid(0x80000001);
    CHECK(r.s.gpr[kRdx] == (1u << 20));  // NX; no long mode, no SYSCALL
}

TEST_CASE("RDMSR/WRMSR") {
    test::CpuRig r;
    Pm pm(r);
    r.s.gpr[kRcx] = 0x1b;
    place(r, 0x1000, {0x0f, 0x32});
    r.step();
    CHECK(r.s.gpr[kRax] == 0xfee00900);
    CHECK(r.s.gpr[kRdx] == 0);

    r.s.gpr[kRcx] = 0x174;
    r.s.gpr[kRax] = 0x08;
    r.s.gpr[kRdx] = 0;
    place(r, 0x1000, {0x0f, 0x30});
    r.step();
    CHECK(r.s.msr.sysenter_cs == 0x08);

    // IA32_BIOS_SIGN_ID (0x8B): Linux writes 0, runs CPUID and reads the
    // microcode revision from EDX; no update is loaded, so it reads 0.
    r.s.gpr[kRcx] = 0x8b;
    r.s.gpr[kRax] = 0;
    r.s.gpr[kRdx] = 0;
    place(r, 0x1000, {0x0f, 0x30});
    r.step();
    r.s.gpr[kRax] = 0xdead;
    r.s.gpr[kRdx] = 0xbeef;
    place(r, 0x1000, {0x0f, 0x32});
    r.step();
    CHECK(!pm.in_handler(kGP));
    CHECK(r.s.gpr[kRax] == 0);
    CHECK(r.s.gpr[kRdx] == 0);

    r.s.gpr[kRcx] = 0x12345678;  // unknown
    place(r, 0x1000, {0x0f, 0x32});
    r.step();
    REQUIRE(pm.in_handler(kGP));
    CHECK(pm.stack(0) == 0);

    Pm pm2(r);
    r.s.gpr[kRcx] = 0xc0000080;  // EFER: LME is not writable yet
    r.s.gpr[kRax] = efer::LME;
    r.s.gpr[kRdx] = 0;
    place(r, 0x1000, {0x0f, 0x30});
    r.step();
    REQUIRE(pm2.in_handler(kGP));

    Pm pm3(r);
    pm3.user(0x1000, 0x7000);
    r.s.gpr[kRcx] = 0x1b;
    place(r, 0x1000, {0x0f, 0x32});
    r.step();
    REQUIRE(pm3.in_handler(kGP));
}

TEST_CASE("RDTSC honours CR4.TSD") {
    test::CpuRig r;
    Pm pm(r);
    r.clock.advance_by(5000);
    place(r, 0x1000, {0x0f, 0x31});
    r.step();
    CHECK(r.s.rip == 0x1002);
    CHECK(r.s.gpr[kRax] == 5000);
    r.s.cr4 |= cr4::TSD;
    pm.user(0x1000, 0x7000);
    place(r, 0x1000, {0x0f, 0x31});
    r.step();
    REQUIRE(pm.in_handler(kGP));
}

TEST_CASE("MOV CR/DR: checks and aliases") {
    test::CpuRig r;
    Pm pm(r);
    r.s.gpr[kRax] = cr0::PG;  // PG without PE
    place(r, 0x1000, {0x0f, 0x22, 0xc0});
    r.step();
    REQUIRE(pm.in_handler(kGP));

    Pm pm2(r);
    r.s.gpr[kRax] = cr4::VME;  // not implemented: reserved
    place(r, 0x1000, {0x0f, 0x22, 0xe0});
    r.step();
    REQUIRE(pm2.in_handler(kGP));

    Pm pm3(r);
    r.s.gpr[kRax] = cr4::TSD | cr4::PSE;
    place(r, 0x1000, {0x0f, 0x22, 0xe0});
    r.step();
    CHECK(r.s.cr4 == (cr4::TSD | cr4::PSE));
    r.s.gpr[kRbx] = 0x12345000;
    place(r, 0x1000, {0x0f, 0x22, 0xdb});  // mov cr3, ebx
    r.step();
    CHECK(r.s.cr3 == 0x12345000);
    place(r, 0x1000, {0x0f, 0x20, 0xd9});  // mov ecx, cr3
    r.step();
    CHECK(r.s.gpr[kRcx] == 0x12345000);

    r.s.gpr[kRax] = 0x1;
    place(r, 0x1000, {0x0f, 0x23, 0xe0});  // mov dr4, eax -> DR6
    r.step();
    CHECK(r.s.dr[6] == 0xffff0ff1);
    place(r, 0x1000, {0x0f, 0x21, 0xf9});  // mov ecx, dr7
    r.step();
    CHECK(r.s.gpr[kRcx] == 0x400);
    r.s.cr4 |= cr4::DE;
    place(r, 0x1000, {0x0f, 0x21, 0xe1});  // mov ecx, dr4: #UD with DE
    r.step();
    REQUIRE(pm3.in_handler(kUD));

    Pm pm4(r);
    pm4.user(0x1000, 0x7000);
    place(r, 0x1000, {0x0f, 0x20, 0xc0});  // mov eax, cr0 at CPL 3
    r.step();
    REQUIRE(pm4.in_handler(kGP));
}

TEST_CASE("LMSW cannot clear PE; SMSW; CLTS") {
    test::CpuRig r;
    Pm pm(r);
    r.s.cr0 |= cr0::TS;
    r.s.gpr[kRax] = 0x0a;  // MP, TS; PE clear
    place(r, 0x1000, {0x0f, 0x01, 0xf0});  // lmsw ax
    r.step();
    CHECK(r.s.protected_mode());
    CHECK((r.s.cr0 & 0xf) == (cr0::PE | cr0::MP | cr0::TS));
    place(r, 0x1000, {0x0f, 0x06});  // clts
    r.step();
    CHECK((r.s.cr0 & cr0::TS) == 0);
    place(r, 0x1000, {0x0f, 0x01, 0xe1});  // smsw ecx
    r.step();
    CHECK(r.s.gpr[kRcx] == r.s.cr0);
}

TEST_CASE("LGDT with 16-bit operand size loads a 24-bit base; SGDT/SIDT store") {
    test::CpuRig r;
    r.real_mode(0, 0x7c00);
    r.poke(0x7d00, {0xff, 0x01, 0xdd, 0xcc, 0xbb, 0xaa});
    r.poke(0x7c00, {0x0f, 0x01, 0x16, 0x00, 0x7d,    // lgdt [0x7d00]
                    0x66, 0x0f, 0x01, 0x1e, 0x00, 0x7d,  // lidt dword [0x7d00]
                    0x0f, 0x01, 0x06, 0x10, 0x7d});   // sgdt [0x7d10]
    r.step(3);
    CHECK(r.s.gdtr.base == 0xbbccdd);
    CHECK(r.s.gdtr.limit == 0x1ff);
    CHECK(r.s.idtr.base == 0xaabbccdd);
    CHECK(r.peek(0x7d10, 2) == 0x1ff);
    CHECK(r.peek(0x7d12, 4) == 0xbbccdd);
}

TEST_CASE("LTR marks the TSS busy; STR; LLDT") {
    test::CpuRig r;
    Pm pm(r);
    pm.set_gdt(7, Pm::seg(0x20000, 0x67, 0x89, 0));  // 0x38 available TSS
    pm.set_gdt(8, Pm::seg(0x30000, 0xff, 0x82, 0));  // 0x40 LDT
    r.s.gpr[kRax] = 0x38;
    place(r, 0x1000, {0x0f, 0x00, 0xd8});  // ltr ax
    r.step();
    CHECK(r.s.tr.selector == 0x38);
    CHECK(r.s.tr.base == 0x20000);
    CHECK(r.s.tr.type() == 0xb);
    CHECK((r.peek(Pm::kGdt + 7 * 8 + 5, 1) & 0xf) == 0xb);
    place(r, 0x1000, {0x0f, 0x00, 0xc9});  // str cx
    r.step();
    CHECK((r.s.gpr[kRcx] & 0xffff) == 0x38);
    place(r, 0x1000, {0x0f, 0x00, 0xd8});  // ltr again: busy now -> #GP(0x38)
    r.step();
    REQUIRE(pm.in_handler(kGP));
    CHECK(pm.stack(0) == 0x38);

    Pm pm2(r);
    pm2.set_gdt(8, Pm::seg(0x30000, 0xff, 0x82, 0));
    r.s.gpr[kRax] = 0x40;
    place(r, 0x1000, {0x0f, 0x00, 0xd0});  // lldt ax
    r.step();
    CHECK(r.s.ldtr.selector == 0x40);
    CHECK(r.s.ldtr.base == 0x30000);
    CHECK(r.s.ldtr.limit == 0xff);
    r.s.gpr[kRax] = 0x10;  // a data segment is no LDT
    place(r, 0x1000, {0x0f, 0x00, 0xd0});
    r.step();
    REQUIRE(pm2.in_handler(kGP));
    CHECK(pm2.stack(0) == 0x10);
}

TEST_CASE("UD2 raises #UD") {
    test::CpuRig r;
    Pm pm(r);
    place(r, 0x1000, {0x0f, 0x0b});
    r.step();
    REQUIRE(pm.in_handler(kUD));
    CHECK(pm.stack(0) == 0x1000);
}

}  // namespace
}  // namespace nomad86
