// MUL/IMUL (1, 2, 3 operands) and DIV/IDIV with #DE delivery.
#include <doctest/doctest.h>

#include "tests/unit/cpu_rig.h"

using namespace nomad86;

namespace {

constexpr uint32_t kCode = test::RealModeRig::kCode;

struct Rig : test::RealModeRig {
    Rig() {
        // IVT entry 0 (#DE) -> 2000:0040.
        poke(0, {0x40, 0x00, 0x00, 0x20});
    }
    // True if #DE was delivered for the instruction at 1000:0100.
    bool divide_error() {
        const uint64_t sp = s.gpr[kRsp] & 0xffff;
        return s.seg[kCs].selector == 0x2000 && s.rip == 0x40 && sp == 0xfffe - 6 &&
               peek(0x10000 + sp, 2) == 0x100 && peek(0x10000 + sp + 2, 2) == 0x1000;
    }
};

}  // namespace

TEST_CASE("muldiv: MUL r/m8 sets CF/OF only when AH is significant") {
    Rig r;
    r.s.gpr[kRax] = 0x80;
    r.s.gpr[kRbx] = 0x0302;
    r.run({0xf6, 0xe3, 0xf6, 0xe7}, 1);  // mul bl ; mul bh
    CHECK(r.s.gpr[kRax] == 0x0100);
    CHECK(r.f(flags::CF));
    CHECK(r.f(flags::OF));
    r.s.gpr[kRax] = 0x02;
    r.step();
    CHECK(r.s.gpr[kRax] == 0x0006);
    CHECK(!r.f(flags::CF));
    CHECK(!r.f(flags::OF));
}

TEST_CASE("muldiv: MUL r/m16 writes DX:AX") {
    Rig r;
    r.s.gpr[kRax] = 0x1234;
    r.s.gpr[kRbx] = 0x0100;
    r.run({0xf7, 0xe3});  // mul bx
    CHECK(r.s.gpr[kRax] == 0x3400);
    CHECK(r.s.gpr[kRdx] == 0x0012);
    CHECK(r.f(flags::CF));
}

TEST_CASE("muldiv: IMUL one operand: sign extension decides CF/OF") {
    Rig r;
    r.s.gpr[kRax] = 0xfe;  // -2
    r.s.gpr[kRbx] = 0xff03;
    r.run({0xf6, 0xeb, 0xf6, 0xef}, 1);  // imul bl ; imul bh
    CHECK(r.s.gpr[kRax] == 0xfffa);
    CHECK(!r.f(flags::CF));
    CHECK(!r.f(flags::OF));
    r.s.gpr[kRax] = 0x80;  // -128 * -1 = 128 does not fit AL
    r.step();
    CHECK(r.s.gpr[kRax] == 0x0080);
    CHECK(r.f(flags::CF));
    CHECK(r.f(flags::OF));
}

TEST_CASE("muldiv: IMUL two and three operands") {
    Rig r;
    r.s.gpr[kRax] = 0x0100;
    r.s.gpr[kRbx] = 0x0100;
    r.s.gpr[kRcx] = 5;
    // imul ax, bx ; imul dx, cx, -1 ; imul si, cx, 0x1234
    r.run({0x0f, 0xaf, 0xc3, 0x6b, 0xd1, 0xff, 0x69, 0xf1, 0x34, 0x12}, 1);
    CHECK(r.s.gpr[kRax] == 0);
    CHECK(r.f(flags::CF));
    CHECK(r.f(flags::OF));
    r.step();
    CHECK(r.s.gpr[kRdx] == 0xfffb);
    CHECK(!r.f(flags::CF));
    r.step();
    CHECK(r.s.gpr[kRsi] == 0x5b04);  // 5 * 0x1234 = 0x5b04
    CHECK(!r.f(flags::OF));
}

TEST_CASE("muldiv: 32-bit IMUL overflow") {
    Rig r;
    r.s.gpr[kRax] = 0x10000;
    r.s.gpr[kRbx] = 0x10000;
    r.run({0x66, 0x0f, 0xaf, 0xc3});  // imul eax, ebx
    CHECK(r.s.gpr[kRax] == 0);
    CHECK(r.f(flags::CF));
    CHECK(r.f(flags::OF));
}

TEST_CASE("muldiv: DIV r/m8 and r/m16") {
    Rig r;
    r.s.gpr[kRax] = 0x0107;
    r.s.gpr[kRbx] = 0x0010;
    r.run({0xf6, 0xf3, 0xf7, 0xf1}, 1);  // div bl ; div cx
    CHECK(r.s.gpr[kRax] == 0x0710);  // 263 / 16 = 16 rem 7
    r.s.gpr[kRdx] = 1;
    r.s.gpr[kRax] = 0;
    r.s.gpr[kRcx] = 2;
    r.step();
    CHECK(r.s.gpr[kRax] == 0x8000);
    CHECK(r.s.gpr[kRdx] == 0);
}

TEST_CASE("muldiv: DIV by zero delivers #DE with IP at the DIV") {
    Rig r;
    r.s.gpr[kRax] = 0x1234;
    r.s.gpr[kRbx] = 0;
    r.run({0xf6, 0xf3});  // div bl
    CHECK(r.divide_error());
    CHECK(r.s.gpr[kRax] == 0x1234);
}

TEST_CASE("muldiv: DIV quotient overflow is #DE") {
    Rig r;
    r.s.gpr[kRax] = 0x1000;
    r.s.gpr[kRbx] = 0x10;
    r.run({0xf6, 0xf3});  // div bl: 0x1000 / 0x10 = 0x100
    CHECK(r.divide_error());
    CHECK(r.s.gpr[kRax] == 0x1000);
}

TEST_CASE("muldiv: IDIV -128 / -1 is #DE; -7 / 2 truncates toward zero") {
    Rig r;
    r.s.gpr[kRax] = 0xff80;
    r.s.gpr[kRbx] = 0xff;
    r.run({0xf6, 0xfb});  // idiv bl
    CHECK(r.divide_error());
    Rig r2;
    r2.s.gpr[kRax] = 0xfff9;  // -7
    r2.s.gpr[kRbx] = 2;
    r2.run({0xf6, 0xfb});
    CHECK(r2.s.gpr[kRax] == 0xfffd);  // AL = -3, AH = -1
}

TEST_CASE("muldiv: IDIV r/m8 may produce -128") {
    Rig r;
    r.s.gpr[kRax] = 0xff00;  // -256
    r.s.gpr[kRbx] = 2;
    r.run({0xf6, 0xfb});  // idiv bl
    CHECK(r.s.gpr[kRax] == 0x0080);
}

TEST_CASE("muldiv: 32-bit IDIV and the most negative dividend by -1") {
    Rig r;
    r.s.gpr[kRdx] = 0xffffffff;
    r.s.gpr[kRax] = 0xffffff00;  // -256
    r.s.gpr[kRbx] = 0x10;
    r.run({0x66, 0xf7, 0xfb});  // idiv ebx
    CHECK(r.s.gpr[kRax] == 0xfffffff0);
    CHECK(r.s.gpr[kRdx] == 0);
    Rig r2;
    r2.s.gpr[kRdx] = 0x80000000;
    r2.s.gpr[kRax] = 0;
    r2.s.gpr[kRbx] = 0xffffffff;
    r2.run({0x66, 0xf7, 0xfb});
    CHECK(r2.divide_error());
    CHECK(r2.s.gpr[kRdx] == 0x80000000);
}
