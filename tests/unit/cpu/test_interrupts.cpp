// Interrupt and exception delivery: real-mode IVT, protected-mode gates with
// the stack switch, #DF and triple fault, HLT woken by INTR.
#include <doctest/doctest.h>

#include "tests/unit/cpu_pm_rig.h"

namespace nomad86 {
namespace {

using test::Pm;
using test::place;

struct FakePic final : InterruptAcknowledge {
    uint8_t vector = 0;
    int acks = 0;
    uint8_t acknowledge() override {
        acks++;
        return vector;
    }
};

TEST_CASE("real mode: INT n and IRET round trip through the IVT") {
    test::CpuRig r;
    r.real_mode(0, 0x7c00);
    r.s.set_rflags(flags::FIXED1 | flags::IF | flags::CF);
    r.poke(0x21 * 4, {0x00, 0x05, 0x40, 0x00});  // 0040:0500 -> linear 0x900
    r.poke(0x900, {0xcf});                        // IRET
    r.poke(0x7c00, {0xcd, 0x21, 0xf4});           // INT 21h; HLT
    r.step();
    CHECK(r.s.seg[kCs].selector == 0x40);
    CHECK(r.s.seg[kCs].base == 0x400);
    CHECK(r.s.rip == 0x500);
    CHECK(r.s.gpr[kRsp] == 0xfff8);
    CHECK(r.peek(0xfff8, 2) == 0x7c02);  // IP after the INT
    CHECK(r.peek(0xfffa, 2) == 0);       // CS
    CHECK(r.peek(0xfffc, 2) == (flags::FIXED1 | flags::IF | flags::CF));
    CHECK_FALSE(r.cpu.flag(flags::IF));
    r.step();  // IRET
    CHECK(r.s.seg[kCs].selector == 0);
    CHECK(r.s.rip == 0x7c02);
    CHECK(r.s.gpr[kRsp] == 0xfffe);
    CHECK(r.cpu.flag(flags::IF));
    CHECK(r.cpu.flag(flags::CF));
}

TEST_CASE("real mode: INT3 and INTO are traps; INTO only with OF") {
    test::CpuRig r;
    r.real_mode(0, 0x7c00);
    r.poke(3 * 4, {0x00, 0x06, 0x00, 0x00});
    r.poke(4 * 4, {0x00, 0x07, 0x00, 0x00});
    r.poke(0x600, {0xf4});
    r.poke(0x700, {0xf4});
    r.poke(0x7c00, {0xce, 0xce, 0xcc});  // INTO; INTO; INT3
    r.step();
    CHECK(r.s.rip == 0x7c01);  // OF clear: no trap
    r.s.status_flags |= flags::OF;
    r.step();
    CHECK(r.s.rip == 0x700);  // a trap retires the INTO; the handler has not run yet
    CHECK(r.peek(0xfff8, 2) == 0x7c02);
    r.real_mode(0, 0x7c02);
    r.step();
    CHECK(r.s.rip == 0x600);
    CHECK(r.peek(0xfff8, 2) == 0x7c03);
}

TEST_CASE("real mode: a vector beyond the IVT limit escalates to triple fault") {
    test::CpuRig r;
    r.real_mode(0, 0x7c00);
    r.s.idtr.limit = 0x1f;  // vectors 0-7 only: #GP (13) and #DF (8)... #DF is vector 8: 8*4+3 > 0x1f
    r.poke(0x7c00, {0xcd, 0x21});
    CHECK(r.cpu.run(10) == Cpu::StopReason::kShutdown);
    CHECK(r.cpu.shutdown());
}

TEST_CASE("protected mode: #GP from CPL 3 through an interrupt gate switches to the TSS stack") {
    test::CpuRig r;
    Pm pm(r);
    pm.user(0x1000, 0x7000);
    // INT 40h whose gate has DPL 0: #GP(40h*8+2) at CPL 3.
    pm.set_idt(0x40, Pm::gate(0x08, 0x4800, 0xe, 0));
    r.s.idtr.limit = 0x41 * 8 - 1;
    r.poke(0x1000, {0xcd, 0x40});
    r.step();
    REQUIRE(pm.in_handler(kGP));
    CHECK(r.s.cpl == 0);
    CHECK(r.s.seg[kCs].selector == 0x08);
    CHECK(r.s.seg[kSs].selector == 0x10);
    CHECK(r.s.gpr[kRsp] == 0x9000 - 24);
    CHECK(pm.stack(0) == 0x40 * 8 + 2);  // error code: IDT bit, no EXT (software INT)
    CHECK(pm.stack(1) == 0x1000);        // EIP of the faulting INT
    CHECK(pm.stack(2) == 0x1b);
    CHECK(pm.stack(3) == (flags::FIXED1 | flags::IF));
    CHECK(pm.stack(4) == 0x7000);
    CHECK(pm.stack(5) == 0x23);
    CHECK_FALSE(r.cpu.flag(flags::IF));  // interrupt gate
}

TEST_CASE("protected mode: INT 80h from CPL 3 through a trap gate and IRETD back") {
    test::CpuRig r;
    Pm pm(r);
    pm.user(0x1000, 0x7000);
    r.s.idtr.limit = 0x81 * 8 - 1;
    pm.set_idt(0x80, Pm::gate(0x08, 0x4800, 0xf, 3));
    r.poke(0x4800, {0xcf});  // IRETD
    r.poke(0x1000, {0xcd, 0x80, 0xf4});
    r.s.seg[kDs] = Cpu::cache_from_descriptor(0x23, Pm::seg(0, 0xfffff, 0xf3, 0xc));
    r.step();
    CHECK(r.s.rip == 0x4800);
    CHECK(r.s.cpl == 0);
    CHECK(r.s.gpr[kRsp] == 0x9000 - 20);
    CHECK(pm.stack(0) == 0x1002);  // trap: the next EIP
    CHECK(r.cpu.flag(flags::IF));  // trap gate keeps IF
    CHECK((r.peek(Pm::kGdt + 2 * 8 + 5, 1) & 1) == 1);  // SS0 descriptor marked accessed
    // A ring-0 DS the return must null: loaded while in the kernel.
    r.s.seg[kDs] = Cpu::cache_from_descriptor(0x10, Pm::seg(0, 0xfffff, 0x93, 0xc));
    r.step();  // IRETD to CPL 3
    CHECK(r.s.rip == 0x1002);
    CHECK(r.s.cpl == 3);
    CHECK(r.s.seg[kCs].selector == 0x1b);
    CHECK(r.s.seg[kSs].selector == 0x23);
    CHECK(r.s.gpr[kRsp] == 0x7000);
    CHECK(r.s.seg[kDs].selector == 0);
    CHECK_FALSE(r.s.seg[kDs].present());
    CHECK(r.s.seg[kEs].selector == 0x23);
}

TEST_CASE("protected mode: software INT to a DPL 0 gate at CPL 0 works, gate not present is #NP") {
    test::CpuRig r;
    Pm pm(r);
    r.s.idtr.limit = 0x41 * 8 - 1;
    pm.set_idt(0x40, Pm::gate(0x08, 0x4800, 0xe, 0, false));
    r.poke(0x1000, {0xcd, 0x40});
    r.step();
    REQUIRE(pm.in_handler(kNP));
    CHECK(r.s.gpr[kRsp] == Pm::kStack - 16);  // same privilege: no stack switch
    CHECK(pm.stack(0) == 0x40 * 8 + 2);
    CHECK(pm.stack(1) == 0x1000);
    CHECK(pm.stack(2) == 0x08);
}

TEST_CASE("protected mode: #DF when the #GP gate is not present, error code 0") {
    test::CpuRig r;
    Pm pm(r);
    pm.set_idt(kGP, Pm::gate(0x08, uint32_t(Pm::handler(kGP)), 0xe, 0, false));
    r.poke(0x1000, {0xcd, 0x50});  // beyond the IDT limit: #GP(0x282)
    r.step();
    REQUIRE(pm.in_handler(kDF));
    CHECK(pm.stack(0) == 0);
    CHECK(pm.stack(1) == 0x1000);
    CHECK(pm.stack(2) == 0x08);
    CHECK_FALSE(r.cpu.shutdown());
}

TEST_CASE("protected mode: a fault while delivering #DF is a triple fault") {
    test::CpuRig r;
    Pm pm(r);
    pm.set_idt(kGP, Pm::gate(0x08, uint32_t(Pm::handler(kGP)), 0xe, 0, false));
    pm.set_idt(kDF, Pm::gate(0x08, uint32_t(Pm::handler(kDF)), 0xe, 0, false));
    r.poke(0x1000, {0xcd, 0x50});
    CHECK(r.cpu.run(10) == Cpu::StopReason::kShutdown);
    CHECK(r.cpu.shutdown());
}

TEST_CASE("protected mode: a benign exception then #GP is delivered serially, not as #DF") {
    test::CpuRig r;
    Pm pm(r);
    // #UD's gate points at a null selector: #GP(EXT) while delivering #UD.
    pm.set_idt(kUD, Pm::gate(0x00, 0x1234, 0xe, 0));
    r.poke(0x1000, {0x0f, 0x0b});  // UD2
    r.step();
    REQUIRE(pm.in_handler(kGP));
    CHECK(pm.stack(0) == 1);  // EXT
}

TEST_CASE("HLT sleeps until INTR, then the handler runs and returns after the HLT") {
    test::CpuRig r;
    Pm pm(r);
    FakePic pic;
    pic.vector = 0x20;
    r.cpu.set_interrupt_controller(&pic);
    r.s.idtr.limit = 0x21 * 8 - 1;
    pm.set_idt(0x20, Pm::gate(0x08, 0x4800, 0xe, 0));
    r.poke(0x4800, {0xcf});  // IRETD
    r.poke(0x1000, {0xf4, 0xf4});
    CHECK(r.cpu.run(10) == Cpu::StopReason::kHalted);
    CHECK(r.s.rip == 0x1001);
    CHECK(r.cpu.run(10) == Cpu::StopReason::kHalted);  // still asleep
    CHECK(pic.acks == 0);
    r.cpu.set_irq(0, true);
    r.step();  // delivery, then the handler's IRETD
    r.cpu.set_irq(0, false);
    CHECK(pic.acks == 1);
    CHECK(r.s.rip == 0x1001);
    CHECK_FALSE(r.s.halted);
    CHECK(r.cpu.flag(flags::IF));
    CHECK(r.s.gpr[kRsp] == Pm::kStack);
    CHECK(r.cpu.run(10) == Cpu::StopReason::kHalted);  // the second HLT
    CHECK(r.s.rip == 0x1002);
}

TEST_CASE("INTR is held off while IF is clear") {
    test::CpuRig r;
    Pm pm(r);
    FakePic pic;
    pic.vector = 0x20;
    r.cpu.set_interrupt_controller(&pic);
    r.s.set_rflags(flags::FIXED1);
    r.poke(0x1000, {0xf4});
    r.cpu.set_irq(0, true);
    r.cpu.run(5);
    CHECK(pic.acks == 0);
    CHECK(r.s.halted);
}

}  // namespace
}  // namespace nomad86
