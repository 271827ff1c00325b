// The x87 transcendental and scaling instructions: their stack shapes and
// condition codes, and bit-identity with the host's x87 on random operands.
#include <doctest/doctest.h>

#include <cmath>

#include "cpu/x87_state.h"
#include "tests/unit/cpu/x87_rig.h"

using namespace nomad86;
using namespace nomad86::test;
using x87::F80;

namespace {

// FNINIT; FLD m80 [b]; FLD m80 [a]; op — in the emulator.
struct TRig : X87Rig {
    void run(long double a, long double b, std::initializer_list<uint8_t> op, bool two = true) {
        flat32(kCode);
        s.gpr[kRbx] = kData;
        std::vector<uint8_t> code = {0xdb, 0xe3};
        unsigned n = 1;
        if (two) {
            code.insert(code.end(), {0xdb, 0x6b, 0x20});
            n++;
        }
        code.insert(code.end(), {0xdb, 0x6b, 0x10});
        code.insert(code.end(), op);
        n += 2;
        poke(kCode, code);
        cpu.flush_decoded_blocks();
        const F80 fa = to_f80(a), fb = to_f80(b);
        memory.write_bytes(GuestPhys(kData + 0x10), &fa, 10);
        memory.write_bytes(GuestPhys(kData + 0x20), &fb, 10);
        step(n);
    }
    F80 st(unsigned i) { return x87::st(s.fpu, i); }
    unsigned top() const { return x87::top(s.fpu); }
};

}  // namespace

TEST_CASE("x87: FSIN/FCOS/FPTAN/FSINCOS out of range set C2 and leave ST(0) alone") {
    TRig r;
    const long double big = ldexpl(1.0L, 63);
    for (uint8_t op : {0xfe, 0xff, 0xf2, 0xfb}) {
        r.run(big, 0, {0xd9, op}, false);
        CHECK((r.s.fpu.fsw & x87::kC2));
        CHECK(from_f80(r.st(0)) == big);
        CHECK(r.top() == 7);
    }
    r.run(0.5L, 0, {0xd9, 0xfe}, false);  // in range: C2 clear
    CHECK(!(r.s.fpu.fsw & x87::kC2));
    CHECK(fabsl(from_f80(r.st(0)) - sinl(0.5L)) < 1e-18L);
}

TEST_CASE("x87: FPTAN pushes 1.0, FSINCOS pushes the cosine, FXTRACT splits") {
    TRig r;
    r.run(0.25L, 0, {0xd9, 0xf2}, false);
    CHECK(r.top() == 6);
    CHECK(from_f80(r.st(0)) == 1.0L);
    CHECK(fabsl(from_f80(r.st(1)) - tanl(0.25L)) < 1e-18L);
    r.run(1.0L, 0, {0xd9, 0xfb}, false);
    CHECK(fabsl(from_f80(r.st(0)) - cosl(1.0L)) < 1e-18L);
    CHECK(fabsl(from_f80(r.st(1)) - sinl(1.0L)) < 1e-18L);
    r.run(-48.0L, 0, {0xd9, 0xf4}, false);
    CHECK(from_f80(r.st(0)) == -1.5L);
    CHECK(from_f80(r.st(1)) == 5.0L);
    r.run(0.0L, 0, {0xd9, 0xf4}, false);  // zero: divide-by-zero, exponent -inf
    CHECK((r.s.fpu.fsw & x87::kZE));
    CHECK(from_f80(r.st(0)) == 0.0L);
    CHECK(r.st(1).is_inf());
    CHECK(r.st(1).sign());
}

TEST_CASE("x87: FYL2X, FYL2XP1, FPATAN pop; F2XM1, FSCALE, FPREM1") {
    TRig r;
    r.run(8.0L, 3.0L, {0xd9, 0xf1});  // 3 * log2(8)
    CHECK(r.top() == 7);
    CHECK(from_f80(r.st(0)) == 9.0L);
    r.run(1.0L, 2.0L, {0xd9, 0xf9});  // 2 * log2(1 + 1)
    CHECK(from_f80(r.st(0)) == 2.0L);
    r.run(1.0L, 1.0L, {0xd9, 0xf3});  // atan(1/1)
    CHECK(fabsl(from_f80(r.st(0)) - atanl(1.0L)) < 1e-18L);
    r.run(0.5L, 0, {0xd9, 0xf0}, false);
    CHECK(fabsl(from_f80(r.st(0)) - (sqrtl(2.0L) - 1)) < 1e-18L);
    r.run(3.0L, 4.7L, {0xd9, 0xfd});  // 3 * 2^trunc(4.7)
    CHECK(from_f80(r.st(0)) == 48.0L);
    CHECK(r.top() == 6);
    r.run(7.0L, 2.0L, {0xd9, 0xf5});  // IEEE remainder: 7 - 4*2 = -1
    CHECK(from_f80(r.st(0)) == -1.0L);
    CHECK(!(r.s.fpu.fsw & x87::kC2));
    r.run(1.0L, 0, {0xd9, 0xf1}, false);  // FYL2X with ST(1) empty: underflow, indefinite, pop
    CHECK((r.s.fpu.fsw & (x87::kIE | x87::kSF)) == (x87::kIE | x87::kSF));
    CHECK(r.st(0) == x87::kIndefinite);
    CHECK(r.top() == 0);
}

TEST_CASE("x87: transcendentals are bit-identical with the host x87") {
    X87Rig rig;
    REQUIRE(rig.native.ok());
    static const struct { const char* name; uint8_t modrm; } kOps[] = {
        {"f2xm1", 0xf0}, {"fyl2x", 0xf1}, {"fptan", 0xf2}, {"fpatan", 0xf3}, {"fxtract", 0xf4},
        {"fprem1", 0xf5}, {"fprem", 0xf8}, {"fyl2xp1", 0xf9}, {"fsincos", 0xfb}, {"fscale", 0xfd},
        {"fsin", 0xfe}, {"fcos", 0xff},
    };
    unsigned total = 0;
    uint64_t seed = 1000;
    for (const auto& op : kOps) {
        std::string first;
        const unsigned bad = differential(rig, {0xd9, op.modrm}, 5000, seed++, 0, false, false, &first);
        INFO(op.name << ": " << first);
        CHECK(bad == 0);
        total += 5000;
    }
    MESSAGE("x87 transcendental differential: " << total << " random cases");
}
