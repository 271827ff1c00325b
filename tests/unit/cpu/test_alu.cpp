// ADD..CMP, TEST, INC/DEC/NEG/NOT: results and all six arithmetic flags.
#include <doctest/doctest.h>

#include "tests/unit/cpu_rig.h"

using namespace nomad86;

namespace {

constexpr uint32_t kCode = test::RealModeRig::kCode;

using Rig = test::RealModeRig;

}  // namespace

TEST_CASE("alu: ADD AL,imm8 carry out sets CF, ZF, AF, PF") {
    Rig r;
    r.s.gpr[kRax] = 0x1201;
    r.run({0x04, 0xff});  // add al, 0xff
    CHECK(r.s.gpr[kRax] == 0x1200);
    CHECK(r.arith() == (flags::CF | flags::ZF | flags::AF | flags::PF));
    CHECK(r.s.rip == 0x102);
}

TEST_CASE("alu: ADC consumes CF and sets OF/SF/AF") {
    Rig r;
    r.s.gpr[kRax] = 0x7fff;
    r.s.gpr[kRbx] = 0;
    r.setf(flags::CF);
    r.run({0x11, 0xd8});  // adc ax, bx
    CHECK(r.s.gpr[kRax] == 0x8000);
    CHECK(r.arith() == (flags::OF | flags::SF | flags::AF | flags::PF));
}

TEST_CASE("alu: SBB borrows through CF") {
    Rig r;
    r.s.gpr[kRax] = 0;
    r.setf(flags::CF);
    r.run({0x1c, 0x00});  // sbb al, 0
    CHECK((r.s.gpr[kRax] & 0xff) == 0xff);
    CHECK(r.arith() == (flags::CF | flags::AF | flags::SF | flags::PF));
}

TEST_CASE("alu: SUB signed overflow, half borrow, odd parity") {
    Rig r;
    r.s.gpr[kRax] = 0x80;
    r.run({0x2c, 0x01});  // sub al, 1
    CHECK((r.s.gpr[kRax] & 0xff) == 0x7f);
    CHECK(r.arith() == (flags::OF | flags::AF));
}

TEST_CASE("alu: INC and DEC preserve CF") {
    Rig r;
    r.s.gpr[kRax] = 0xffff;
    r.s.gpr[kRbx] = 0;
    r.setf(flags::CF);
    r.run({0x40, 0x4b}, 1);  // inc ax
    CHECK(r.s.gpr[kRax] == 0);
    CHECK(r.arith() == (flags::CF | flags::ZF | flags::AF | flags::PF));
    r.setf(0);
    r.step();  // dec bx
    CHECK(r.s.gpr[kRbx] == 0xffff);
    CHECK(r.arith() == (flags::SF | flags::AF | flags::PF));
}

TEST_CASE("alu: sign-extended imm8 uses the full operand size") {
    Rig r;
    r.s.gpr[kRax] = 5;
    r.run({0x83, 0xc0, 0xff, 0x66, 0x83, 0xc3, 0xff}, 2);  // add ax,-1 ; add ebx,-1
    CHECK(r.s.gpr[kRax] == 4);
    CHECK(r.s.gpr[kRbx] == 0xffffffff);
    CHECK(r.f(flags::SF));
    CHECK(!r.f(flags::CF));
}

TEST_CASE("alu: NEG of 0 clears CF; NEG of 0x80 overflows") {
    Rig r;
    r.s.gpr[kRax] = 0x8000;  // AL = 0, AH = 0x80
    r.setf(flags::CF);
    r.run({0xf6, 0xd8, 0xf6, 0xdc}, 1);  // neg al ; neg ah
    CHECK(r.arith() == (flags::ZF | flags::PF));
    r.step();
    CHECK(r.s.gpr[kRax] == 0x8000);
    CHECK(r.f(flags::CF));
    CHECK(r.f(flags::OF));
    CHECK(r.f(flags::SF));
}

TEST_CASE("alu: NOT changes no flags") {
    Rig r;
    r.s.gpr[kRax] = 0x0f;
    r.setf(flags::ZF | flags::CF);
    r.run({0xf6, 0xd0});  // not al
    CHECK((r.s.gpr[kRax] & 0xff) == 0xf0);
    CHECK(r.arith() == (flags::ZF | flags::CF));
}

TEST_CASE("alu: CMP does not write, TEST clears CF and OF") {
    Rig r;
    r.s.gpr[kRax] = 3;
    r.s.gpr[kRbx] = 0x80;
    r.setf(flags::CF | flags::OF);
    r.run({0x3c, 0x05, 0xf6, 0xc3, 0x80}, 1);  // cmp al,5 ; test bl,0x80
    CHECK(r.s.gpr[kRax] == 3);
    CHECK(r.arith() == (flags::CF | flags::SF | flags::AF));
    r.step();
    CHECK(r.arith() == flags::SF);
}

TEST_CASE("alu: memory destination and high-byte registers") {
    Rig r;
    r.s.gpr[kRbx] = 0x200;
    r.s.gpr[kRax] = 0x3405;
    r.poke(0x10200, {0xfe, 0x00});
    r.run({0x00, 0x07, 0x30, 0xe4}, 2);  // add [bx], al ; xor ah, ah
    CHECK(r.peek(0x10200, 2) == 0x0003);  // byte add: 0xfe + 5 carries out
    CHECK(r.f(flags::CF) == false);
    CHECK(r.s.gpr[kRax] == 0x0005);
    CHECK(r.f(flags::ZF));
}

TEST_CASE("alu: PF looks at the low byte only") {
    Rig r;
    r.s.gpr[kRax] = 0x0003;
    r.s.gpr[kRbx] = 0x0001;
    r.run({0x05, 0x00, 0x01, 0x81, 0xc3, 0x00, 0x01}, 1);  // add ax,0x100 ; add bx,0x100
    CHECK(r.s.gpr[kRax] == 0x0103);
    CHECK(r.f(flags::PF));
    r.step();
    CHECK(r.s.gpr[kRbx] == 0x0101);
    CHECK(!r.f(flags::PF));
}

TEST_CASE("alu: 32-bit ADD carry and OF in flat protected mode") {
    test::CpuRig r;
    r.flat32(0x1000);
    r.s.gpr[kRax] = 0x7fffffff;
    r.s.gpr[kRcx] = 0xffffffff;
    r.poke(0x1000, {0x40, 0x01, 0xc8});  // inc eax ; add eax, ecx
    r.step();
    CHECK(r.s.gpr[kRax] == 0x80000000);
    CHECK(r.cpu.flag(flags::OF));
    r.step();
    CHECK(r.s.gpr[kRax] == 0x7fffffff);
    CHECK(r.cpu.flag(flags::CF));
    CHECK(r.cpu.flag(flags::OF));
}
