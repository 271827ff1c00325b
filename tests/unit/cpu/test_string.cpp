// MOVS/CMPS/SCAS/LODS/STOS/INS/OUTS with REP prefixes, DF, address sizes,
// segment overrides and the restartable chunked REP.
#include <doctest/doctest.h>

#include "tests/unit/cpu_rig.h"

using namespace nomad86;

namespace {

constexpr uint32_t kCode = test::RealModeRig::kCode;
constexpr uint32_t kBase = test::RealModeRig::kBase;

using Rig = test::RealModeRig;

}  // namespace

TEST_CASE("string: REP MOVSB forward") {
    Rig r;
    r.poke(kBase + 0x200, {1, 2, 3, 4, 5, 6});
    r.s.gpr[kRcx] = 5;
    r.s.gpr[kRsi] = 0x200;
    r.s.gpr[kRdi] = 0x300;
    r.run({0xf3, 0xa4});
    CHECK(r.peek(kBase + 0x300, 4) == 0x04030201);
    CHECK(r.peek(kBase + 0x304, 2) == 0x0005);
    CHECK(r.s.gpr[kRcx] == 0);
    CHECK(r.s.gpr[kRsi] == 0x205);
    CHECK(r.s.gpr[kRdi] == 0x305);
    CHECK(r.s.rip == 0x102);
}

TEST_CASE("string: REP MOVSB backward with DF") {
    Rig r;
    r.poke(kBase + 0x200, {1, 2, 3, 4, 5});
    r.s.gpr[kRcx] = 5;
    r.s.gpr[kRsi] = 0x204;
    r.s.gpr[kRdi] = 0x304;
    r.setf(flags::DF);
    r.run({0xf3, 0xa4});
    CHECK(r.peek(kBase + 0x300, 4) == 0x04030201);
    CHECK(r.peek(kBase + 0x304, 1) == 5);
    CHECK(r.s.gpr[kRsi] == 0x1ff);
    CHECK(r.s.gpr[kRdi] == 0x2ff);
}

TEST_CASE("string: REP STOSD with 32-bit address size uses ECX/EDI") {
    Rig r;
    r.s.gpr[kRax] = 0xdeadbeef;
    r.s.gpr[kRcx] = 3;
    r.s.gpr[kRdi] = 0x300;
    r.run({0xf3, 0x66, 0x67, 0xab});  // rep stosd (a32)
    CHECK(r.peek(kBase + 0x300, 4) == 0xdeadbeef);
    CHECK(r.peek(kBase + 0x308, 4) == 0xdeadbeef);
    CHECK(r.peek(kBase + 0x30c, 4) == 0);
    CHECK(r.s.gpr[kRcx] == 0);
    CHECK(r.s.gpr[kRdi] == 0x30c);
}

TEST_CASE("string: 16-bit address size counts CX only and wraps DI") {
    Rig r;
    r.s.gpr[kRax] = 0xab;
    r.s.gpr[kRcx] = 0x10002;
    r.s.gpr[kRdi] = 0xffff;
    r.run({0xf3, 0xaa});  // rep stosb
    CHECK(r.s.gpr[kRcx] == 0x10000);
    CHECK(r.s.gpr[kRdi] == 0x0001);
    CHECK(r.peek(kBase + 0xffff, 1) == 0xab);
    CHECK(r.peek(kBase + 0x0000, 1) == 0xab);
}

TEST_CASE("string: REPE CMPSB stops at the first difference") {
    Rig r;
    r.poke(kBase + 0x200, {'a', 'b', 'c', 'X', 'e'});
    r.poke(kBase + 0x300, {'a', 'b', 'c', 'Y', 'e'});
    r.s.gpr[kRcx] = 10;
    r.s.gpr[kRsi] = 0x200;
    r.s.gpr[kRdi] = 0x300;
    r.run({0xf3, 0xa6});
    CHECK(r.s.gpr[kRcx] == 6);
    CHECK(r.s.gpr[kRsi] == 0x204);
    CHECK(r.s.gpr[kRdi] == 0x304);
    CHECK(!r.f(flags::ZF));
    CHECK(r.f(flags::CF));  // 'X' < 'Y'
}

TEST_CASE("string: REPNE SCASW finds a word, backwards too") {
    Rig r;
    r.poke(kBase + 0x300, {0x01, 0x00, 0x02, 0x00, 0x34, 0x12, 0x04, 0x00});
    r.s.gpr[kRax] = 0x1234;
    r.s.gpr[kRcx] = 10;
    r.s.gpr[kRdi] = 0x300;
    r.run({0xf2, 0xaf, 0xf2, 0xaf}, 1);
    CHECK(r.s.gpr[kRcx] == 7);
    CHECK(r.s.gpr[kRdi] == 0x306);
    CHECK(r.f(flags::ZF));
    r.setf(flags::DF);
    r.s.gpr[kRdi] = 0x306;
    r.s.gpr[kRcx] = 10;
    r.step();
    CHECK(r.s.gpr[kRcx] == 8);
    CHECK(r.s.gpr[kRdi] == 0x302);
    CHECK(r.f(flags::ZF));
}

TEST_CASE("string: REP with CX = 0 does nothing") {
    Rig r;
    r.s.gpr[kRcx] = 0;
    r.s.gpr[kRsi] = 0x200;
    r.s.gpr[kRdi] = 0x300;
    r.setf(flags::ZF | flags::CF);
    r.poke(kBase + 0x200, {1});
    r.run({0xf3, 0xa6, 0xf3, 0xa4}, 2);
    CHECK(r.s.gpr[kRsi] == 0x200);
    CHECK(r.s.gpr[kRdi] == 0x300);
    CHECK(r.f(flags::ZF));
    CHECK(r.f(flags::CF));
    CHECK(r.peek(kBase + 0x300, 1) == 0);
    CHECK(r.s.rip == 0x104);
}

TEST_CASE("string: segment override applies to the source; destination is ES") {
    Rig r;
    r.s.seg[kEs].selector = 0x2000;
    r.s.seg[kEs].base = 0x20000;
    r.poke(0x20200, {0x77});
    r.poke(kBase + 0x200, {0x11});
    r.s.gpr[kRsi] = 0x200;
    r.s.gpr[kRdi] = 0x300;
    r.run({0x26, 0xa4, 0xa4}, 2);  // es: movsb ; movsb
    CHECK(r.peek(0x20300, 1) == 0x77);
    CHECK(r.peek(0x20301, 1) == 0x00);  // second read DS:0x201 (zero)
    CHECK(r.s.gpr[kRsi] == 0x202);
}

TEST_CASE("string: LODSW and LODSB") {
    Rig r;
    r.poke(kBase + 0x200, {0x34, 0x12, 0x56});
    r.s.gpr[kRsi] = 0x200;
    r.s.gpr[kRax] = 0xffffffff;
    r.run({0xad, 0xac}, 2);
    CHECK(r.s.gpr[kRax] == 0xffff1256);
    CHECK(r.s.gpr[kRsi] == 0x203);
}

TEST_CASE("string: a long REP is split into restartable chunks") {
    Rig r;
    r.s.gpr[kRax] = 0x5a;
    r.s.gpr[kRcx] = 10000;
    r.s.gpr[kRdi] = 0x1000;
    r.run({0xf3, 0xaa});
    CHECK(r.s.gpr[kRcx] > 0);
    CHECK(r.s.gpr[kRcx] < 10000);
    CHECK(r.s.rip == 0x100);  // still at the instruction
    r.step(2);  // 10000 = 4096 + 4096 + 1808
    CHECK(r.s.gpr[kRcx] == 0);
    CHECK(r.s.gpr[kRdi] == 0x1000 + 10000);
    CHECK(r.s.rip == 0x102);
    CHECK(r.peek(kBase + 0x1000 + 9999, 1) == 0x5a);
}

TEST_CASE("string: a fault in the middle of REP keeps the progress") {
    Rig r;
    r.poke(13 * 4, {0x40, 0x00, 0x00, 0x20});  // IVT 13 -> 2000:0040
    r.s.gpr[kRcx] = 5;
    r.s.gpr[kRsi] = 0x200;
    r.s.gpr[kRdi] = 0xfffb;  // the third word (at 0xffff) crosses the limit: #GP
    r.run({0xf3, 0xa5});  // rep movsw
    CHECK(r.s.gpr[kRcx] == 3);
    CHECK(r.s.gpr[kRsi] == 0x204);
    CHECK(r.s.gpr[kRdi] == 0xffff);
    CHECK(r.s.seg[kCs].selector == 0x2000);
    CHECK(r.peek(kBase + (r.s.gpr[kRsp] & 0xffff), 2) == 0x100);  // restarts at the REP
}

namespace {
struct Port : IoHandler {
    std::vector<uint32_t> written;
    uint32_t next = 0x40;
    uint32_t io_read(uint16_t, unsigned) override { return next++; }
    void io_write(uint16_t, unsigned, uint32_t v) override { written.push_back(v); }
};
}  // namespace

TEST_CASE("string: REP INSB and REP OUTSW go through the port") {
    Rig r;
    Port port;
    r.io.register_ports(0x300, 2, &port, "test", IoBus::kByte | IoBus::kWord);
    r.s.gpr[kRdx] = 0x300;
    r.s.gpr[kRcx] = 3;
    r.s.gpr[kRdi] = 0x400;
    r.poke(kBase + 0x200, {0x11, 0x22, 0x33, 0x44});
    r.run({0xf3, 0x6c, 0xf3, 0x6f}, 1);  // rep insb ; rep outsw
    CHECK(r.peek(kBase + 0x400, 4) == 0x00424140);
    CHECK(r.s.gpr[kRdi] == 0x403);
    r.s.gpr[kRcx] = 2;
    r.s.gpr[kRsi] = 0x200;
    r.step();
    REQUIRE(port.written.size() == 2);
    CHECK(port.written[0] == 0x2211);
    CHECK(port.written[1] == 0x4433);
    CHECK(r.s.gpr[kRsi] == 0x204);
}

// REP MOVS/STOS going up run in bulk, a page at a time, between host
// pointers; these pin down that the bulk path gives the element-by-element
// result.
TEST_CASE("string: overlapping REP MOVSB with the destination one ahead repeats the first byte") {
    Rig r;
    r.poke(kBase + 0x200, {0x77, 1, 2, 3, 4, 5, 6, 7, 8});
    r.s.gpr[kRcx] = 8;
    r.s.gpr[kRsi] = 0x200;
    r.s.gpr[kRdi] = 0x201;
    r.run({0xf3, 0xa4});
    CHECK(r.peek(kBase + 0x200, 8) == 0x7777777777777777ull);
    CHECK(r.peek(kBase + 0x208, 1) == 0x77);
    CHECK(r.s.gpr[kRcx] == 0);
    CHECK(r.s.gpr[kRsi] == 0x208);
    CHECK(r.s.gpr[kRdi] == 0x209);
}

TEST_CASE("string: REP MOVSD across page boundaries copies every dword") {
    Rig r;
    std::vector<uint8_t> src(0x2000);
    for (size_t i = 0; i < src.size(); i++) src[i] = uint8_t(i * 7 + 3);
    r.poke(kBase + 0x1ff6, src);  // source and destination both straddle pages, differently
    r.s.gpr[kRcx] = 0x700;
    r.s.gpr[kRsi] = 0x1ff6;
    r.s.gpr[kRdi] = 0x6002;
    r.run({0xf3, 0x66, 0xa5});  // rep movsd (o32)
    CHECK(r.s.gpr[kRcx] == 0);
    CHECK(r.s.gpr[kRsi] == 0x1ff6 + 0x1c00);
    CHECK(r.s.gpr[kRdi] == 0x6002 + 0x1c00);
    bool same = true;
    for (uint64_t i = 0; i < 0x1c00; i++) same = same && r.peek(kBase + 0x6002 + i, 1) == src[i];
    CHECK(same);
    CHECK(r.peek(kBase + 0x6002 + 0x1c00, 1) == 0);
}

TEST_CASE("string: REP STOSW fills with AX, words at a time") {
    Rig r;
    r.s.gpr[kRax] = 0x1234;
    r.s.gpr[kRcx] = 0x900;  // crosses a page
    r.s.gpr[kRdi] = 0x0ffe;
    r.run({0xf3, 0xab});
    CHECK(r.s.gpr[kRcx] == 0);
    CHECK(r.s.gpr[kRdi] == 0x0ffe + 0x1200);
    CHECK(r.peek(kBase + 0x0ffe, 4) == 0x12341234);
    CHECK(r.peek(kBase + 0x0ffe + 0x11fe, 2) == 0x1234);
    CHECK(r.peek(kBase + 0x0ffe + 0x1200, 2) == 0);
}

TEST_CASE("string: REP MOVSB over the next instruction of its own block runs the new instruction") {
    Rig r;
    // rep movsb copies one byte over the INC AX (40) that follows it in the
    // same decoded block: INC BX (43) must run instead.
    r.poke(kBase + 0x200, {0x43});
    r.s.gpr[kRcx] = 2;
    r.s.gpr[kRsi] = 0x1ff;
    r.s.gpr[kRdi] = 0x101;  // 0x100: f3 a4, 0x102: 40 -> copies [0x1ff..0x200] to [0x101..0x102]
    r.poke(kBase + 0x1ff, {0xa4, 0x43});
    r.poke(kCode, {0xf3, 0xa4, 0x40});
    r.cpu.run(2);  // one run: the block holding both instructions
    CHECK(r.peek(kBase + 0x102, 1) == 0x43);
    CHECK((r.s.gpr[kRax] & 0xffff) == 0);
    CHECK((r.s.gpr[kRbx] & 0xffff) == 1);
}

TEST_CASE("string: REP MOVSD with the destination two bytes ahead reads each dword before writing it") {
    Rig r;
    std::vector<uint8_t> bytes(24);
    for (size_t i = 0; i < bytes.size(); i++) bytes[i] = uint8_t(0x10 + i);
    r.poke(kBase + 0x200, bytes);
    // The reference: one dword at a time, as the SDM defines REP MOVS.
    std::vector<uint8_t> want = bytes;
    for (size_t e = 0; e < 4; e++) {
        uint8_t element[4];
        for (size_t k = 0; k < 4; k++) element[k] = want[4 * e + k];
        for (size_t k = 0; k < 4; k++) want[2 + 4 * e + k] = element[k];
    }
    r.s.gpr[kRcx] = 4;
    r.s.gpr[kRsi] = 0x200;
    r.s.gpr[kRdi] = 0x202;
    r.run({0xf3, 0x66, 0xa5});  // rep movsd (o32)
    bool same = true;
    for (size_t i = 0; i < want.size(); i++) same = same && r.peek(kBase + 0x200 + i, 1) == want[i];
    CHECK(same);
    CHECK(r.s.gpr[kRdi] == 0x212);
}
