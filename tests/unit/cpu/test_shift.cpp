// Shifts, rotates, SHLD/SHRD: count masking, count 0, OF, rotate through CF.
#include <doctest/doctest.h>

#include "tests/unit/cpu_rig.h"

using namespace nomad86;

namespace {

constexpr uint32_t kCode = test::RealModeRig::kCode;

using Rig = test::RealModeRig;

}  // namespace

TEST_CASE("shift: SHL by 1 sets CF and OF") {
    Rig r;
    r.s.gpr[kRax] = 0x81;
    r.run({0xd0, 0xe0});  // shl al, 1
    CHECK((r.s.gpr[kRax] & 0xff) == 0x02);
    CHECK(r.f(flags::CF));
    CHECK(r.f(flags::OF));
    CHECK(!r.f(flags::ZF));
}

TEST_CASE("shift: count 0 changes neither operand nor flags") {
    Rig r;
    r.s.gpr[kRax] = 0x81;
    r.s.gpr[kRcx] = 0x20;  // masked to 0
    r.setf(flags::ZF | flags::OF | flags::AF);
    r.run({0xc0, 0xe0, 0x00, 0xd3, 0xe8}, 2);  // shl al, 0 ; shr ax, cl
    CHECK(r.s.gpr[kRax] == 0x81);
    CHECK(r.arith() == (flags::ZF | flags::OF | flags::AF));
    CHECK(r.s.rip == 0x105);
}

TEST_CASE("shift: 16-bit SHL by 16 clears the operand, CF is the last bit out") {
    Rig r;
    r.s.gpr[kRax] = 0x0001;
    r.s.gpr[kRcx] = 16;
    r.run({0xd3, 0xe0});  // shl ax, cl
    CHECK(r.s.gpr[kRax] == 0);
    CHECK(r.f(flags::CF));
    CHECK(r.f(flags::ZF));
}

TEST_CASE("shift: count is masked to 5 bits") {
    Rig r;
    r.s.gpr[kRax] = 0x4000;
    r.s.gpr[kRcx] = 33;  // -> 1
    r.run({0xd3, 0xe0});  // shl ax, cl
    CHECK(r.s.gpr[kRax] == 0x8000);
    CHECK(!r.f(flags::CF));
    CHECK(r.f(flags::OF));
    CHECK(r.f(flags::SF));
}

TEST_CASE("shift: SAR keeps the sign, SHR sets OF from the old MSB") {
    Rig r;
    r.s.gpr[kRax] = 0x8181;
    r.run({0xd0, 0xf8, 0xd0, 0xec}, 1);  // sar al, 1 ; shr ah, 1
    CHECK((r.s.gpr[kRax] & 0xff) == 0xc0);
    CHECK(r.f(flags::CF));
    CHECK(!r.f(flags::OF));
    r.step();
    CHECK((r.s.gpr[kRax] >> 8) == 0x40);
    CHECK(r.f(flags::CF));
    CHECK(r.f(flags::OF));
}

TEST_CASE("shift: RCR through carry") {
    Rig r;
    r.s.gpr[kRax] = 0x01;
    r.setf(flags::CF);
    r.run({0xd0, 0xd8});  // rcr al, 1
    CHECK((r.s.gpr[kRax] & 0xff) == 0x80);
    CHECK(r.f(flags::CF));
    CHECK(r.f(flags::OF));
}

TEST_CASE("shift: RCL rotates modulo 9 (8-bit) and 17 (16-bit)") {
    Rig r;
    r.s.gpr[kRax] = 0x55;
    r.s.gpr[kRbx] = 0x1234;
    r.setf(flags::CF);
    r.run({0xc0, 0xd0, 0x09, 0xc1, 0xd3, 0x11}, 1);  // rcl al, 9 ; rcl bx, 17
    CHECK((r.s.gpr[kRax] & 0xff) == 0x55);
    CHECK(r.f(flags::CF));
    r.setf(0);
    r.step();
    CHECK(r.s.gpr[kRbx] == 0x1234);
    CHECK(!r.f(flags::CF));
}

TEST_CASE("shift: RCL by 2 brings CF in") {
    Rig r;
    r.s.gpr[kRax] = 0x40;
    r.setf(flags::CF);
    r.run({0xc0, 0xd0, 0x02});  // rcl al, 2
    CHECK((r.s.gpr[kRax] & 0xff) == 0x02);  // 0x40 -> 0x81 (CF 0) -> 0x02 (CF 1)
    CHECK(r.f(flags::CF));
}

TEST_CASE("shift: ROL changes only CF and OF") {
    Rig r;
    r.s.gpr[kRax] = 0x80;
    r.setf(flags::ZF | flags::PF);
    r.run({0xd0, 0xc0});  // rol al, 1
    CHECK((r.s.gpr[kRax] & 0xff) == 0x01);
    CHECK(r.arith() == (flags::ZF | flags::PF | flags::CF | flags::OF));
}

TEST_CASE("shift: ROR of a word by 4") {
    Rig r;
    r.s.gpr[kRax] = 0x1234;
    r.run({0xc1, 0xc8, 0x04});  // ror ax, 4
    CHECK(r.s.gpr[kRax] == 0x4123);
    CHECK(!r.f(flags::CF));
}

TEST_CASE("shift: SHLD 16-bit and SHRD 32-bit") {
    Rig r;
    r.s.gpr[kRdx] = 0x1234;
    r.s.gpr[kRax] = 0xabcd;
    r.s.gpr[kRbx] = 0x12345678;
    r.s.gpr[kRcx] = 0xaabbccdd;
    r.run({0x0f, 0xa4, 0xc2, 0x04, 0x66, 0x0f, 0xac, 0xcb, 0x08}, 1);  // shld dx,ax,4 ; shrd ebx,ecx,8
    CHECK(r.s.gpr[kRdx] == 0x234a);
    CHECK(r.f(flags::CF));  // bit 12 of 0x1234
    r.step();
    CHECK(r.s.gpr[kRbx] == 0xdd123456);
    CHECK(!r.f(flags::CF));  // bit 7 of 0x78
    CHECK(r.f(flags::SF));
}

TEST_CASE("shift: SHRD by CL with count 0 leaves flags") {
    Rig r;
    r.s.gpr[kRdx] = 0x1234;
    r.s.gpr[kRcx] = 0;
    r.setf(flags::CF | flags::SF);
    r.run({0x0f, 0xad, 0xc2});  // shrd dx, ax, cl
    CHECK(r.s.gpr[kRdx] == 0x1234);
    CHECK(r.arith() == (flags::CF | flags::SF));
}

TEST_CASE("shift: 32-bit SHL by 31 and a memory operand") {
    Rig r;
    r.s.gpr[kRax] = 3;
    r.poke(0x10200, {0x01, 0x80});
    r.run({0x66, 0xc1, 0xe0, 0x1f, 0xd1, 0x26, 0x00, 0x02}, 1);  // shl eax,31 ; shl word [0x200],1
    CHECK(r.s.gpr[kRax] == 0x80000000);
    CHECK(r.f(flags::CF));
    r.step();
    CHECK(r.peek(0x10200, 2) == 0x0002);
    CHECK(r.f(flags::CF));
    CHECK(r.f(flags::OF));
}
