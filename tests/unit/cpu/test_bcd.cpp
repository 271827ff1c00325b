// DAA, DAS, AAA, AAS, AAM, AAD on known hardware values.
#include <doctest/doctest.h>

#include "tests/unit/cpu_rig.h"

using namespace nomad86;

namespace {

constexpr uint32_t kCode = test::RealModeRig::kCode;

using Rig = test::RealModeRig;

}  // namespace

TEST_CASE("bcd: ADD then DAA: 79 + 35 = 114") {
    Rig r;
    r.s.gpr[kRax] = 0x79;
    r.run({0x04, 0x35, 0x27}, 2);  // add al, 0x35 ; daa
    CHECK((r.s.gpr[kRax] & 0xff) == 0x14);
    CHECK(r.f(flags::CF));
    CHECK(r.f(flags::AF));
    CHECK(!r.f(flags::ZF));
}

TEST_CASE("bcd: DAA with only the low-nibble adjust keeps CF clear") {
    Rig r;
    r.s.gpr[kRax] = 0x0f;
    r.run({0x27});
    CHECK((r.s.gpr[kRax] & 0xff) == 0x15);
    CHECK(!r.f(flags::CF));
    CHECK(r.f(flags::AF));
    CHECK(!r.f(flags::PF));  // 0x15 has three bits set
}

TEST_CASE("bcd: SUB then DAS: 35 - 47 = 88 with borrow") {
    Rig r;
    r.s.gpr[kRax] = 0x35;
    r.run({0x2c, 0x47, 0x2f}, 2);  // sub al, 0x47 ; das
    CHECK((r.s.gpr[kRax] & 0xff) == 0x88);
    CHECK(r.f(flags::CF));
    CHECK(r.f(flags::AF));
    CHECK(r.f(flags::SF));
}

TEST_CASE("bcd: AAA carries into AH") {
    Rig r;
    r.s.gpr[kRax] = 0x010b;
    r.run({0x37});
    CHECK(r.s.gpr[kRax] == 0x0201);
    CHECK(r.f(flags::CF));
    CHECK(r.f(flags::AF));
}

TEST_CASE("bcd: AAA without adjust clears CF/AF and the high nibble") {
    Rig r;
    r.s.gpr[kRax] = 0x0135;
    r.setf(flags::CF);
    r.run({0x37});
    CHECK(r.s.gpr[kRax] == 0x0105);
    CHECK(!r.f(flags::CF));
    CHECK(!r.f(flags::AF));
}

TEST_CASE("bcd: AAS borrows from AH") {
    Rig r;
    r.s.gpr[kRax] = 0x020b;
    r.run({0x3f});
    CHECK(r.s.gpr[kRax] == 0x0105);
    CHECK(r.f(flags::CF));
    CHECK(r.f(flags::AF));
}

TEST_CASE("bcd: AAM and AAD with base 10 and 16") {
    Rig r;
    r.s.gpr[kRax] = 0x004f;  // 79
    r.run({0xd4, 0x0a, 0xd5, 0x0a, 0xd4, 0x10, 0xd5, 0x10}, 1);
    CHECK(r.s.gpr[kRax] == 0x0709);
    CHECK(!r.f(flags::ZF));
    r.step();  // aad
    CHECK(r.s.gpr[kRax] == 0x004f);
    r.step();  // aam 16
    CHECK(r.s.gpr[kRax] == 0x040f);
    r.step();  // aad 16
    CHECK(r.s.gpr[kRax] == 0x004f);
}

TEST_CASE("bcd: AAM sets ZF/PF from AL") {
    Rig r;
    r.s.gpr[kRax] = 0x0014;  // 20 -> AH 2, AL 0
    r.run({0xd4, 0x0a});
    CHECK(r.s.gpr[kRax] == 0x0200);
    CHECK(r.f(flags::ZF));
    CHECK(r.f(flags::PF));
}

TEST_CASE("bcd: AAM 0 raises #DE") {
    Rig r;
    r.poke(0, {0x40, 0x00, 0x00, 0x20});  // IVT 0 -> 2000:0040
    r.s.gpr[kRax] = 0x0014;
    r.run({0xd4, 0x00});
    CHECK(r.s.seg[kCs].selector == 0x2000);
    CHECK(r.s.rip == 0x40);
    CHECK(r.peek(0x10000 + (r.s.gpr[kRsp] & 0xffff), 2) == 0x100);
    CHECK(r.s.gpr[kRax] == 0x0014);
}
