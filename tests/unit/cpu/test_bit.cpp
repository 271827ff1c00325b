// BT/BTS/BTR/BTC with register and immediate offsets and bit strings in
// memory; BSF/BSR including a zero source.
#include <doctest/doctest.h>

#include "tests/unit/cpu_rig.h"

using namespace nomad86;

namespace {

constexpr uint32_t kCode = test::RealModeRig::kCode;

using Rig = test::RealModeRig;

}  // namespace

TEST_CASE("bit: BT register with immediate and register offsets") {
    Rig r;
    r.s.gpr[kRax] = 0x0008;
    r.s.gpr[kRbx] = 19;  // modulo 16 -> 3
    r.run({0x0f, 0xba, 0xe0, 0x03, 0x0f, 0xa3, 0xd8, 0x0f, 0xba, 0xe0, 0x04}, 1);  // bt ax,3 ; bt ax,bx ; bt ax,4
    CHECK(r.f(flags::CF));
    r.setf(0);
    r.step();
    CHECK(r.f(flags::CF));
    r.step();
    CHECK(!r.f(flags::CF));
    CHECK(r.s.gpr[kRax] == 0x0008);
}

TEST_CASE("bit: BTS with a negative register offset addresses below the operand") {
    Rig r;
    r.s.gpr[kRbx] = 0xffff;  // -1: bit 15 of the word at 0x1fe
    r.poke(0x101fe, {0x00, 0x00, 0x00, 0x00});
    r.setf(flags::CF);
    r.run({0x0f, 0xab, 0x1e, 0x00, 0x02});  // bts [0x200], bx
    CHECK(r.peek(0x101fe, 2) == 0x8000);
    CHECK(r.peek(0x10200, 2) == 0);
    CHECK(!r.f(flags::CF));
}

TEST_CASE("bit: BTR with a register offset beyond the operand") {
    Rig r;
    r.s.gpr[kRbx] = 17;  // bit 1 of the word at 0x202
    r.poke(0x10200, {0xff, 0xff, 0xff, 0xff});
    r.run({0x0f, 0xb3, 0x1e, 0x00, 0x02});  // btr [0x200], bx
    CHECK(r.peek(0x10200, 4) == 0xfffdffff);
    CHECK(r.f(flags::CF));
}

TEST_CASE("bit: 32-bit BTC with a large negative offset") {
    Rig r;
    r.s.gpr[kRbx] = uint32_t(-33);  // dword at 0x200 - 8, bit 31
    r.poke(0x101f8, {0, 0, 0, 0, 0, 0, 0, 0});
    r.run({0x66, 0x0f, 0xbb, 0x1e, 0x00, 0x02});  // btc [0x200], ebx
    CHECK(r.peek(0x101f8, 4) == 0x80000000);
    CHECK(!r.f(flags::CF));
}

TEST_CASE("bit: BTC with an immediate offset stays in the operand") {
    Rig r;
    r.poke(0x10200, {0x02, 0x00, 0x00, 0x00});
    r.run({0x0f, 0xba, 0x3e, 0x00, 0x02, 0x21});  // btc word [0x200], 33 -> bit 1
    CHECK(r.peek(0x10200, 4) == 0);
    CHECK(r.f(flags::CF));
}

TEST_CASE("bit: BSF and BSR") {
    Rig r;
    r.s.gpr[kRbx] = 0x0101;
    r.run({0x0f, 0xbc, 0xc3, 0x0f, 0xbd, 0xcb}, 2);  // bsf ax, bx ; bsr cx, bx
    CHECK(r.s.gpr[kRax] == 0);
    CHECK(r.s.gpr[kRcx] == 8);
    CHECK(!r.f(flags::ZF));
}

TEST_CASE("bit: BSF/BSR of zero set ZF and keep the destination") {
    Rig r;
    r.s.gpr[kRax] = 0x1234;
    r.s.gpr[kRcx] = 0x12345678;
    r.s.gpr[kRbx] = 0;
    r.run({0x0f, 0xbc, 0xc3, 0x66, 0x0f, 0xbd, 0xcb}, 1);  // bsf ax, bx ; bsr ecx, ebx
    CHECK(r.f(flags::ZF));
    CHECK(r.s.gpr[kRax] == 0x1234);
    r.setf(0);
    r.step();
    CHECK(r.f(flags::ZF));
    CHECK(r.s.gpr[kRcx] == 0x12345678);
}

TEST_CASE("bit: F3 0F BC/BD are BSF/BSR (no TZCNT/LZCNT on this CPU)") {
    // Linux's __ffs/_find_first_bit use "rep; bsf", which pre-BMI1 CPUs run as BSF.
    Rig r;
    r.s.gpr[kRbx] = 0x0110;
    r.run({0xf3, 0x0f, 0xbc, 0xc3, 0xf3, 0x0f, 0xbd, 0xcb}, 2);  // rep bsf ax, bx ; rep bsr cx, bx
    CHECK(r.s.gpr[kRax] == 4);
    CHECK(r.s.gpr[kRcx] == 8);  // LZCNT would give 7
    CHECK(!r.f(flags::ZF));
    CHECK(!r.f(flags::CF));

    Rig z;
    z.s.gpr[kRax] = 0x1234;
    z.s.gpr[kRbx] = 0;
    z.run({0xf3, 0x0f, 0xbc, 0xc3}, 1);  // rep bsf ax, bx: zero source
    CHECK(z.f(flags::ZF));
    CHECK(!z.f(flags::CF));               // TZCNT would set CF
    CHECK(z.s.gpr[kRax] == 0x1234);       // and write 16
}
