// The decoded-block front end: blocks are decoded once, keyed by physical
// address, and thrown away when the guest writes to their bytes.
#include <doctest/doctest.h>

#include "tests/unit/cpu_rig.h"

using namespace nomad86;
using nomad86::test::CpuRig;

TEST_CASE("decoder: code that rewrites the next instruction of its own block runs the new instruction") {
    CpuRig rig;
    // CS=DS=0x100, linear 0x1000:
    //   0: mov byte [0x0008], 0x40   ; turns the DEC AX below into INC AX
    //   5: nop; nop; nop
    //   8: dec ax                    ; 0x48, rewritten to 0x40 before it runs
    rig.poke(0x1000, {0xc6, 0x06, 0x08, 0x00, 0x40, 0x90, 0x90, 0x90, 0x48, 0xf4});
    rig.real_mode(0x100, 0);
    rig.s.gpr[kRax] = 0;
    rig.step(5);
    CHECK(rig.s.rip == 9);
    CHECK((rig.s.gpr[kRax] & 0xffff) == 1);  // INC ran, not DEC (which would give 0xffff)
}

TEST_CASE("decoder: an instruction crossing a page is re-decoded when its second page is written") {
    CpuRig rig;
    // mov ax, imm16 at 0x1ffe: opcode and low byte in one page, high byte in the next.
    rig.poke(0x1ffe, {0xb8, 0x34, 0x12, 0x90});
    rig.real_mode(0, 0x1ffe);
    rig.step(1);
    CHECK((rig.s.gpr[kRax] & 0xffff) == 0x1234);
    rig.memory.write(GuestPhys(0x2000), 1, 0x56);  // a store to the second page only
    rig.s.rip = 0x1ffe;
    rig.step(1);
    CHECK((rig.s.gpr[kRax] & 0xffff) == 0x5634);
}

TEST_CASE("decoder: two linear aliases of one physical page share decoded code and its invalidation") {
    CpuRig rig;
    // The same bytes reached as 0100:0000 and 0000:1000.
    rig.poke(0x1000, {0xb0, 0x11, 0x90});  // mov al, 0x11
    rig.real_mode(0x100, 0);
    rig.step(1);
    CHECK((rig.s.gpr[kRax] & 0xff) == 0x11);
    rig.memory.write(GuestPhys(0x1001), 1, 0x22);
    rig.real_mode(0, 0x1000);
    rig.step(1);
    CHECK((rig.s.gpr[kRax] & 0xff) == 0x22);
}

TEST_CASE("decoder: undefined opcodes raise #UD in the guest, never abort the host") {
    CpuRig rig;
    // IVT entry 6 -> 0000:0x3000 where a NOP waits.
    rig.poke(6 * 4, {0x00, 0x30, 0x00, 0x00});
    rig.poke(0x3000, {0x90, 0x90});
    rig.poke(0x1000, {0x0f, 0xff});  // UD0
    rig.real_mode(0, 0x1000);
    rig.s.gpr[kRsp] = 0x8000;
    rig.step(1);  // #UD delivered: the step ends at the handler
    CHECK(rig.s.rip == 0x3000);
    CHECK(rig.peek(0x8000 - 6, 2) == 0x1000);  // pushed IP = the faulting instruction
}

TEST_CASE("decoder: 3E on an indirect CALL is the DS override (Zydis calls it NOTRACK)") {
    CpuRig rig;
    rig.real_mode(0x100, 0);
    rig.s.seg[kDs].selector = 0x200;
    rig.s.seg[kDs].base = 0x2000;
    rig.s.gpr[kRbp] = 0x10;
    rig.s.gpr[kRsi] = 0;
    rig.poke(0x2010, {0x34, 0x12});  // DS:BP -> 0x1234
    rig.poke(0x1010, {0x78, 0x56});  // SS:BP (SS = CS = 0x100) -> 0x5678
    rig.poke(0x1000, {0x3e, 0xff, 0x12});  // call near [ds:bp+si]
    rig.step(1);
    CHECK(rig.s.rip == 0x1234);
}

TEST_CASE("decoder: 0F 1A-1E forms claimed by MPX/CET/CLDEMOTE are hint NOPs on this CPU") {
    CpuRig rig;
    // IVT entry 6 -> 0000:0x3000: a #UD would end up there.
    rig.poke(6 * 4, {0x00, 0x30, 0x00, 0x00});
    rig.poke(0x3000, {0x90, 0x90});
    rig.poke(0x1000, {0xf3, 0x0f, 0x1e, 0xfb,   // endbr32
                      0x0f, 0x1a, 0x07,         // bndldx bnd0, [bx]
                      0x0f, 0x1c, 0x07,         // cldemote [bx]
                      0x90});
    rig.real_mode(0, 0x1000);
    rig.s.gpr[kRsp] = 0x8000;
    rig.step(3);
    CHECK(rig.s.rip == 0x100a);
}
