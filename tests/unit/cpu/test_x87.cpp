// The x87: loads, stores, arithmetic, compares, control, environment and
// state images, exceptions (masked responses, #MF, FERR#), and bit-identity
// with the host's x87 on random operands (tests/unit/cpu/x87_rig.h).
#include <doctest/doctest.h>

#include <cmath>

#include "cpu/x87_state.h"
#include "tests/unit/cpu/x87_rig.h"

using namespace nomad86;
using namespace nomad86::test;
using x87::F80;

namespace {

// Guest code in flat 32-bit mode at 0x1000 addressing data at EBX=0x2000.
struct Prog : X87Rig {
    std::vector<uint8_t> code;
    unsigned n = 0;
    Prog() {
        flat32(kCode);
        s.gpr[kRbx] = kData;
    }
    Prog& b(std::initializer_list<uint8_t> bytes) {
        code.insert(code.end(), bytes);
        n++;
        return *this;
    }
    // Runs what was added since the last run.
    void go() {
        const uint64_t start = s.rip;
        poke(start, code);
        cpu.flush_decoded_blocks();
        step(n);
        code.clear();
        n = 0;
    }
    void put80(uint32_t off, const F80& v) { memory.write_bytes(GuestPhys(kData + off), &v, 10); }
    F80 get80(uint32_t off) {
        F80 v;
        memory.read_bytes(GuestPhys(kData + off), &v, 10);
        return v;
    }
    void put(uint32_t off, uint64_t v, unsigned size) { memory.write(GuestPhys(kData + off), size, v); }
    uint64_t get(uint32_t off, unsigned size) { return memory.read(GuestPhys(kData + off), size); }
    FpuState& f() { return s.fpu; }
    uint16_t fsw() const { return s.fpu.fsw; }
    unsigned top() const { return (s.fpu.fsw >> 11) & 7; }
    F80 st(unsigned i) { return x87::st(s.fpu, i); }
    // A 32-bit interrupt gate for `vector` to `handler` (IDT at 0).
    void gate(uint8_t vector, uint32_t handler) {
        const uint64_t g = (handler & 0xffff) | (uint64_t(0x08) << 16) | (uint64_t(0x8e00) << 32) |
                           (uint64_t(handler >> 16) << 48);
        memory.write(GuestPhys(vector * 8), 8, g);
        s.idtr = {0, 0x7ff};
    }
};

}  // namespace

TEST_CASE("x87: FLD1 FLD1 FADDP FSTP m64 gives 2.0, TOP and tags follow") {
    Prog p;
    p.b({0xdb, 0xe3}).b({0xd9, 0xe8}).b({0xd9, 0xe8}).go();
    CHECK(p.top() == 6);
    CHECK(p.f().ftw == 0x0fff);  // R6 and R7 valid, others empty
    p.b({0xde, 0xc1}).go();      // FADDP ST(1), ST(0)
    CHECK(p.top() == 7);
    CHECK(from_f80(p.st(0)) == 2.0L);
    p.b({0xdd, 0x5b, 0x00}).go();  // FSTP qword [ebx]
    double d;
    uint64_t raw = p.get(0, 8);
    memcpy(&d, &raw, 8);
    CHECK(d == 2.0);
    CHECK(p.top() == 0);
    CHECK(p.f().ftw == 0xffff);
}

TEST_CASE("x87: rounding control changes the rounded m32 result of 1/3") {
    uint32_t results[4];
    for (unsigned rc = 0; rc < 4; rc++) {
        Prog p;
        p.put(0, 0x037f | (rc << 10), 2);
        p.b({0xdb, 0xe3}).b({0xd9, 0x6b, 0x00});                 // FNINIT; FLDCW [ebx]
        p.b({0xd9, 0xe8}).b({0xd9, 0xe8}).b({0xd9, 0xe8});       // 1 1 1
        p.b({0xde, 0xc1}).b({0xd9, 0xe8}).b({0xde, 0xf1});       // FADDP -> 2; FLD1; FDIVRP -> 1/2? (ST1/ST0)
        p.go();
        // ST(0) = 1 / 2 (exact): make it 1/3 instead.
        p.b({0xdb, 0xe3}).b({0xd9, 0x6b, 0x00}).b({0xd9, 0xe8}).b({0xd9, 0xe8}).b({0xd9, 0xe8});
        p.b({0xde, 0xc1}).b({0xde, 0xc1});                       // 3
        p.b({0xd9, 0xe8}).b({0xde, 0xf1});                       // FLD1; FDIVRP ST(1),ST(0): 1/3
        p.b({0xd9, 0x5b, 0x10}).go();                            // FSTP dword [ebx+0x10]
        results[rc] = uint32_t(p.get(0x10, 4));
        CHECK((p.fsw() & x87::kPE));
    }
    CHECK(results[0] == 0x3eaaaaab);  // nearest
    CHECK(results[1] == 0x3eaaaaaa);  // down
    CHECK(results[2] == 0x3eaaaaab);  // up
    CHECK(results[3] == 0x3eaaaaaa);  // toward zero
}

TEST_CASE("x87: precision control rounds the significand of FDIV to 24 and 53 bits") {
    for (unsigned pc : {0u, 2u, 3u}) {
        Prog p;
        p.put(0, 0x007f | (pc << 8), 2);
        p.put80(0x10, to_f80(1.0L));
        p.put80(0x20, to_f80(3.0L));
        p.b({0xdb, 0xe3}).b({0xd9, 0x6b, 0x00}).b({0xdb, 0x6b, 0x10}).b({0xdb, 0x6b, 0x20});
        p.b({0xde, 0xf9}).go();  // FDIVP ST(1), ST(0): 1/3
        const uint64_t m = p.st(0).mant;
        if (pc == 0) CHECK(m == 0xaaaaab0000000000ull);
        if (pc == 2) CHECK(m == 0xaaaaaaaaaaaaa800ull);
        if (pc == 3) CHECK(m == 0xaaaaaaaaaaaaaaabull);
        CHECK(from_f80(p.st(0)) != 0);
    }
}

TEST_CASE("x87: masked zero divide gives infinity; unmasked leaves the destination and raises #MF next") {
    Prog p;
    p.put80(0x10, to_f80(1.0L));
    p.b({0xdb, 0xe3}).b({0xdb, 0x6b, 0x10}).b({0xd9, 0xee}).b({0xde, 0xf9}).go();  // 1 / 0
    CHECK(p.st(0).is_inf());
    CHECK((p.fsw() & (x87::kZE | x87::kES)) == x87::kZE);

    Prog q;
    q.s.cr0 |= cr0::NE;
    q.gate(kMF, 0x3000);
    q.put80(0x10, to_f80(1.0L));
    q.put(0, 0x037b, 2);  // ZE unmasked
    q.b({0xdb, 0xe3}).b({0xd9, 0x6b, 0x00}).b({0xdb, 0x6b, 0x10}).b({0xd9, 0xee});
    q.go();
    const uint32_t fdiv_at = uint32_t(q.s.rip);
    q.b({0xd8, 0xf9}).go();  // FDIVR ST(0), ST(1): 1 / 0 into ST(0)
    CHECK((q.fsw() & (x87::kZE | x87::kES | x87::kBusy)) == (x87::kZE | x87::kES | x87::kBusy));
    CHECK(q.st(0).is_zero());  // unchanged
    CHECK(q.s.fpu.fip == fdiv_at);
    CHECK(q.s.fpu.fop == 0x0f9);
    const uint32_t next = uint32_t(q.s.rip);
    q.b({0xd9, 0xe8}).go();  // FLD1: waiting -> #MF before it executes
    CHECK(q.s.rip == 0x3000);
    CHECK(q.peek(q.s.gpr[kRsp], 4) == next);  // the faulting-at instruction is the FLD1
    CHECK(q.top() == 6);                      // FLD1 did not push
    // FNSTSW AX and FNCLEX do not wait.
    q.b({0xdf, 0xe0}).b({0xdb, 0xe2}).b({0xd9, 0xe8}).go();
    CHECK(((q.s.gpr[kRax] & 0xffff) & x87::kES) != 0);
    CHECK(q.top() == 5);
}

namespace {
struct FerrSink : IrqSink {
    int raises = 0;
    bool level = false;
    void set_irq(unsigned, bool l) override {
        if (l && !level) raises++;
        level = l;
    }
};
}  // namespace

TEST_CASE("x87: with CR0.NE=0 a pending unmasked exception asserts FERR# instead of #MF") {
    Prog p;
    FerrSink sink;
    p.cpu.ferr_line.connect(&sink, 0);
    p.s.cr0 &= ~cr0::NE;
    p.put(0, 0x037e, 2);  // IE unmasked
    p.b({0xdb, 0xe3}).b({0xd9, 0x6b, 0x00}).b({0xd9, 0xe8}).b({0xd9, 0xee}).b({0xd9, 0xe8});
    p.go();
    p.b({0xd9, 0xfa}).go();  // FSQRT of 1: fine
    CHECK(sink.raises == 0);
    p.b({0xd9, 0xe0}).b({0xd9, 0xfa}).go();  // FCHS; FSQRT(-1): invalid, unmasked
    CHECK((p.fsw() & (x87::kIE | x87::kES)) == (x87::kIE | x87::kES));
    CHECK(from_f80(p.st(0)) == -1.0L);  // destination unchanged
    CHECK(sink.raises == 0);
    p.b({0xd9, 0xc9}).go();  // FXCH: waiting, no #MF with NE=0, FERR# instead, and it executes
    CHECK(sink.raises == 1);
    CHECK(sink.level);
    const uint64_t after_fxch = X87Rig::kCode + 2 + 3 + 2 + 2 + 2 + 2 + 2 + 2 + 2;
    CHECK(p.s.rip == after_fxch);
    p.b({0xdb, 0xe2}).go();  // FNCLEX drops FERR#
    CHECK(!sink.level);
}

TEST_CASE("x87: stack overflow and underflow (#IS) with masked responses") {
    Prog p;
    p.b({0xdb, 0xe3});
    for (int i = 0; i < 8; i++) p.b({0xd9, 0xe8});
    p.go();
    CHECK(p.f().ftw == 0);
    CHECK(p.fsw() == 0);
    p.b({0xd9, 0xeb}).go();  // a ninth push
    CHECK((p.fsw() & (x87::kIE | x87::kSF | x87::kC1)) == (x87::kIE | x87::kSF | x87::kC1));
    CHECK(p.st(0) == x87::kIndefinite);
    CHECK(p.top() == 7);

    Prog q;
    q.b({0xdb, 0xe3}).b({0xd9, 0xe8}).b({0xd8, 0xc1}).go();  // FADD ST(0), ST(1) with ST(1) empty
    CHECK((q.fsw() & (x87::kIE | x87::kSF | x87::kC1)) == (x87::kIE | x87::kSF));
    CHECK(q.st(0) == x87::kIndefinite);

    // Unmasked: nothing changes but the flags.
    Prog r;
    r.put(0, 0x037e, 2);
    r.b({0xdb, 0xe3}).b({0xd9, 0x6b, 0x00}).b({0xd9, 0xe8}).b({0xd8, 0xc1}).go();
    CHECK((r.fsw() & (x87::kIE | x87::kSF | x87::kES)) == (x87::kIE | x87::kSF | x87::kES));
    CHECK(from_f80(r.st(0)) == 1.0L);
    // FST m32 from an empty stack with IE masked stores the single indefinite.
    Prog t;
    t.put(0x10, 0x12345678, 4);
    t.b({0xdb, 0xe3}).b({0xd9, 0x53, 0x10}).go();
    CHECK(t.get(0x10, 4) == 0xffc00000u);
    CHECK((t.fsw() & (x87::kIE | x87::kSF)) == (x87::kIE | x87::kSF));
}

TEST_CASE("x87: FIST/FISTP and FBSTP, including out-of-range values") {
    Prog p;
    p.put80(0x10, to_f80(-2.5L));
    p.b({0xdb, 0xe3}).b({0xdb, 0x6b, 0x10}).b({0xdb, 0x53, 0x20}).go();  // FIST dword: round to even
    CHECK(uint32_t(p.get(0x20, 4)) == uint32_t(-2));
    CHECK((p.fsw() & x87::kPE));
    p.put80(0x10, to_f80(999999999999999999.0L));
    p.b({0xdb, 0xe3}).b({0xdb, 0x6b, 0x10}).b({0xdf, 0x73, 0x30}).go();  // FBSTP
    CHECK(p.get(0x30, 8) == 0x9999999999999999ull);
    CHECK(p.get(0x38, 2) == 0x0099);
    CHECK(p.top() == 0);
    p.put80(0x10, to_f80(-1e18L));
    p.b({0xdb, 0xe3}).b({0xdb, 0x6b, 0x10}).b({0xdf, 0x73, 0x30}).go();  // too large: BCD indefinite
    CHECK(p.get(0x30, 8) == 0xc000000000000000ull);
    CHECK(p.get(0x38, 2) == 0xffff);
    CHECK((p.fsw() & x87::kIE));
    p.put80(0x10, to_f80(123456789012345678.0L));
    p.b({0xdb, 0xe3}).b({0xdf, 0x63, 0x30}).b({0xdb, 0x7b, 0x40}).go();  // FBLD of the indefinite ...
    p.put(0x30, 0x0000000000012345ull, 8);
    p.put(0x38, 0x8000, 2);
    p.b({0xdb, 0xe3}).b({0xdf, 0x63, 0x30}).go();  // FBLD -12345
    CHECK(from_f80(p.st(0)) == -12345.0L);
    p.put80(0x10, to_f80(3e10L));
    p.b({0xdb, 0xe3}).b({0xdb, 0x6b, 0x10}).b({0xdb, 0x5b, 0x20}).go();  // FISTP dword: overflow
    CHECK(p.get(0x20, 4) == 0x80000000u);
    CHECK((p.fsw() & x87::kIE));
}

TEST_CASE("x87: FCOM, FUCOM, FTST, FCOMI and their flags") {
    struct Case { long double a, b; uint16_t cc; uint32_t fl; };
    const long double nan = __builtin_nanl("");
    const Case cases[] = {
        {1, 2, x87::kC0, flags::CF},
        {2, 1, 0, 0},
        {2, 2, x87::kC3, flags::ZF},
        {nan, 1, x87::kC0 | x87::kC2 | x87::kC3, flags::CF | flags::PF | flags::ZF},
    };
    for (const Case& c : cases) {
        Prog p;
        p.put80(0x10, to_f80(c.a));
        p.put80(0x20, to_f80(c.b));
        p.b({0xdb, 0xe3}).b({0xdb, 0x6b, 0x20}).b({0xdb, 0x6b, 0x10}).b({0xdd, 0xe1}).go();  // FUCOM ST(1)
        CHECK((p.fsw() & x87::kCcMask) == c.cc);
        CHECK(!(p.fsw() & x87::kIE));  // QNaN: no invalid for FUCOM
        p.b({0xd8, 0xd1}).go();        // FCOM ST(1)
        CHECK((p.fsw() & x87::kCcMask) == c.cc);
        CHECK(bool(p.fsw() & x87::kIE) == std::isnan(c.a));
        p.s.status_flags |= flags::OF | flags::SF | flags::AF;
        p.b({0xdb, 0xe9}).go();  // FUCOMI ST(0), ST(1)
        CHECK((p.cpu.eflags() & flags::ARITH) == c.fl);
        p.b({0xdf, 0xf1}).go();  // FCOMIP
        CHECK(p.top() == 7);
        p.b({0xde, 0xd9}).go();  // FCOMPP with ST(1) empty: underflow, unordered
        CHECK((p.fsw() & (x87::kSF | x87::kC0 | x87::kC2 | x87::kC3)) == (x87::kSF | x87::kC0 | x87::kC2 | x87::kC3));
    }
    Prog t;
    t.put80(0x10, to_f80(-0.0L));
    t.b({0xdb, 0xe3}).b({0xdb, 0x6b, 0x10}).b({0xd9, 0xe4}).go();  // FTST -0: equal
    CHECK((t.fsw() & x87::kCcMask) == x87::kC3);
}

TEST_CASE("x87: FXAM classes") {
    struct Case { F80 v; uint16_t cc; };
    const Case cases[] = {
        {F80{0x8000000000000000ull, 0x3fff}, x87::kC2},                      // normal
        {F80{0x8000000000000000ull, 0xbfff}, x87::kC2 | x87::kC1},           // negative normal
        {F80{0, 0}, x87::kC3},                                               // zero
        {F80{0x8000000000000000ull, 0x7fff}, x87::kC2 | x87::kC0},           // infinity
        {F80{0xc000000000000000ull, 0x7fff}, x87::kC0},                      // NaN
        {F80{0x0000000000000001ull, 0x0000}, x87::kC3 | x87::kC2},           // denormal
        {F80{0x4000000000000000ull, 0x3fff}, 0},                             // unnormal: unsupported
    };
    for (const Case& c : cases) {
        Prog p;
        p.put80(0x10, c.v);
        p.b({0xdb, 0xe3}).b({0xdb, 0x6b, 0x10}).b({0xd9, 0xe5}).go();
        CHECK((p.fsw() & x87::kCcMask) == c.cc);
    }
    Prog e;
    e.b({0xdb, 0xe3}).b({0xd9, 0xe5}).go();  // empty
    CHECK((e.fsw() & (x87::kC0 | x87::kC2 | x87::kC3)) == (x87::kC3 | x87::kC0));
}

TEST_CASE("x87: FPREM reports a partial remainder in C2 until the reduction completes") {
    Prog p;
    p.put80(0x10, to_f80(1e300L));
    p.put80(0x20, to_f80(3.0L));
    p.b({0xdb, 0xe3}).b({0xdb, 0x6b, 0x20}).b({0xdb, 0x6b, 0x10}).go();
    int rounds = 0;
    do {
        p.b({0xd9, 0xf8}).go();
        rounds++;
    } while ((p.fsw() & x87::kC2) && rounds < 100);
    CHECK(rounds > 1);  // the exponent difference (~995) needs several partial steps
    CHECK(!(p.fsw() & x87::kC2));
    CHECK(from_f80(p.st(0)) == fmodl(1e300L, 3.0L));
    // A one-step remainder sets the quotient's low bits: 7 rem 2 -> q=3: C0=0? q=3: Q0=1 (C1), Q1=1 (C3), Q2=0 (C0).
    Prog q;
    q.put80(0x10, to_f80(7.0L));
    q.put80(0x20, to_f80(2.0L));
    q.b({0xdb, 0xe3}).b({0xdb, 0x6b, 0x20}).b({0xdb, 0x6b, 0x10}).b({0xd9, 0xf8}).go();
    CHECK(from_f80(q.st(0)) == 1.0L);
    CHECK((q.fsw() & x87::kCcMask) == (x87::kC1 | x87::kC3));
}

TEST_CASE("x87: control instructions: FNSTCW/FLDCW, FNSTSW, FXCH, FFREE, FINCSTP/FDECSTP, FCMOVcc") {
    Prog p;
    p.b({0xdb, 0xe3}).b({0xd9, 0x7b, 0x00}).b({0xdd, 0x7b, 0x02}).go();
    CHECK(p.get(0, 2) == 0x037f);
    CHECK(p.get(2, 2) == 0);
    p.put(0, 0x0c7f, 2);
    p.b({0xd9, 0x6b, 0x00}).b({0xd9, 0x7b, 0x04}).go();
    CHECK(p.get(4, 2) == 0x0c7f);
    p.put80(0x10, to_f80(5.0L));
    p.b({0xd9, 0xe8}).b({0xdb, 0x6b, 0x10}).b({0xd9, 0xc9}).go();  // 1 5 ; FXCH
    CHECK(from_f80(p.st(0)) == 1.0L);
    CHECK(from_f80(p.st(1)) == 5.0L);
    p.b({0xdd, 0xc1}).go();  // FFREE ST(1)
    CHECK(x87::empty(p.f(), 1));
    CHECK(p.top() == 6);
    p.b({0xd9, 0xf7}).go();  // FINCSTP
    CHECK(p.top() == 7);
    CHECK(x87::empty(p.f(), 0));
    p.b({0xd9, 0xf6}).go();  // FDECSTP
    CHECK(p.top() == 6);
    p.b({0xd9, 0xe8}).b({0xd9, 0xee}).go();  // ST0 = 0, ST1 = 1
    p.s.status_flags |= flags::ZF;
    p.b({0xda, 0xc9}).go();  // FCMOVE ST(0), ST(1)
    CHECK(from_f80(p.st(0)) == 1.0L);
    p.b({0xd9, 0xee}).b({0xdb, 0xc9}).go();  // FLDZ; FCMOVNE: ZF set, no move
    CHECK(from_f80(p.st(0)) == 0.0L);
}

TEST_CASE("x87: #NM with CR0.EM or CR0.TS, before anything else") {
    Prog p;
    p.gate(kNM, 0x3000);
    p.s.cr0 |= cr0::TS;
    p.b({0xdb, 0xe3}).go();
    CHECK(p.s.rip == 0x3000);
    Prog q;
    q.gate(kNM, 0x3000);
    q.s.cr0 |= cr0::EM;
    q.b({0xd9, 0xe8}).go();
    CHECK(q.s.rip == 0x3000);
}

namespace {
// Fills the FPU with recognisable state: three values, a control word,
// pending flags, pointers.
void fill(Prog& p) {
    p.put80(0x10, to_f80(1.5L));
    p.put(0, 0x0e7f, 2);
    p.b({0xdb, 0xe3}).b({0xd9, 0x6b, 0x00}).b({0xdb, 0x6b, 0x10}).b({0xd9, 0xeb}).b({0xd9, 0xee});
    p.b({0xd8, 0xf1}).go();  // 0 / pi: fine; then leave a PE from FLDPI? set a flag by hand:
    p.s.fpu.fsw |= x87::kPE;
}
}  // namespace

TEST_CASE("x87: FNSAVE/FRSTOR round trip in the 32-bit protected-mode layout") {
    Prog p;
    fill(p);
    const FpuState before = p.s.fpu;
    p.b({0xdd, 0x73, 0x40}).go();  // FNSAVE [ebx+0x40] (108 bytes)
    CHECK(p.s.fpu.fcw == 0x037f);
    CHECK(p.s.fpu.ftw == 0xffff);
    CHECK(p.get(0x40, 4) == (0xffff0000u | before.fcw));
    CHECK(p.get(0x44, 4) == (0xffff0000u | before.fsw));
    CHECK(p.get(0x48, 4) == (0xffff0000u | x87::full_tag_word(before)));
    CHECK(p.get(0x4c, 4) == before.fip);
    CHECK(p.get(0x50, 4) == ((uint32_t(before.fop) << 16) | before.fcs));
    CHECK(p.get(0x54, 4) == before.fdp);
    CHECK((p.get(0x58, 4) & 0xffff) == before.fds);
    F80 st0;
    p.memory.read_bytes(GuestPhys(X87Rig::kData + 0x40 + 28), &st0, 10);
    CHECK(st0.is_zero());  // ST(0) first
    p.b({0xdd, 0x63, 0x40}).go();  // FRSTOR
    CHECK(p.s.fpu.fcw == before.fcw);
    CHECK(p.s.fpu.fsw == before.fsw);
    CHECK(p.s.fpu.ftw == before.ftw);
    CHECK(p.s.fpu.st == before.st);
    CHECK(p.s.fpu.fip == before.fip);
    CHECK(p.s.fpu.fop == before.fop);
    // Full tag word: ST0 zero (01), ST1 pi valid (00), ST2 1.5 valid (00).
    const unsigned t = x87::top(p.s.fpu);
    const uint16_t expected_tw = uint16_t((0xffff & ~(0x3f << 2 * t)) | (1 << 2 * t));
    CHECK(x87::full_tag_word(p.s.fpu) == expected_tw);
}

TEST_CASE("x87: FNSAVE/FRSTOR and FNSTENV/FLDENV in the 16-bit real-mode layout") {
    RealModeRig r;
    r.s.fpu = FpuState{};
    // FNINIT; FLD1; FLDPI; FLD tword [0x200]; FNSAVE [0x300]; FRSTOR [0x300]; FNSTENV [0x400]
    r.memory.write_bytes(GuestPhys(RealModeRig::kBase + 0x200), "\0\0\0\0\0\0\0\xc0\x01\x40", 10);  // 3.0? no: 1.5*2^2
    r.run({0xdb, 0xe3, 0xd9, 0xe8, 0xd9, 0xeb, 0xdb, 0x2e, 0x00, 0x02}, 4);
    const FpuState before = r.s.fpu;
    CHECK(before.fip == 0x106);
    CHECK(before.fcs == 0x1000);
    CHECK(before.fdp == 0x200);
    CHECK(before.fop == 0x32e);  // DB 2E
    r.poke(RealModeRig::kCode + 10, {0xdd, 0x36, 0x00, 0x03});
    r.step(1);
    CHECK(r.peek(RealModeRig::kBase + 0x300, 2) == 0x037f);
    CHECK(r.peek(RealModeRig::kBase + 0x302, 2) == before.fsw);
    const uint32_t fip_lin = 0x10000 + 0x106, fdp_lin = 0x10000 + 0x200;
    CHECK(r.peek(RealModeRig::kBase + 0x306, 2) == (fip_lin & 0xffff));
    CHECK(r.peek(RealModeRig::kBase + 0x308, 2) == (((fip_lin >> 4) & 0xf000) | 0x32e));
    CHECK(r.peek(RealModeRig::kBase + 0x30a, 2) == (fdp_lin & 0xffff));
    CHECK(r.peek(RealModeRig::kBase + 0x30c, 2) == ((fdp_lin >> 4) & 0xf000));
    CHECK(r.s.fpu.ftw == 0xffff);
    r.poke(RealModeRig::kCode + 14, {0xdd, 0x26, 0x00, 0x03, 0xd9, 0x36, 0x00, 0x04});
    r.step(2);
    CHECK(r.s.fpu.st == before.st);
    CHECK(r.s.fpu.fsw == before.fsw);
    CHECK(r.s.fpu.ftw == before.ftw);
    CHECK(r.peek(RealModeRig::kBase + 0x400, 2) == 0x037f);
    CHECK(r.s.fpu.fcw == 0x037f);  // FNSTENV masked all (already masked)
    // 32-bit operand size in real mode: 28-byte real-mode layout.
    r.poke(RealModeRig::kCode + 22, {0x66, 0xd9, 0x36, 0x00, 0x05});
    r.step(1);
    CHECK(r.peek(RealModeRig::kBase + 0x500, 4) == 0xffff037fu);
    CHECK(r.peek(RealModeRig::kBase + 0x50c, 4) == (0xffff0000u | (fip_lin & 0xffff)));
    CHECK(r.peek(RealModeRig::kBase + 0x510, 4) == (((fip_lin >> 4) & 0x0ffff000u) | 0x32e));
    // FLDENV of that image restores the control word even after a change.
    r.s.fpu.fcw = 0x0040;
    r.poke(RealModeRig::kCode + 27, {0x66, 0xd9, 0x26, 0x00, 0x05});
    r.step(1);
    CHECK(r.s.fpu.fcw == 0x037f);
    CHECK(r.s.fpu.fip == fip_lin);
}

TEST_CASE("x87: FLDENV with an unmasked flag set makes the next waiting instruction raise #MF") {
    Prog p;
    p.s.cr0 |= cr0::NE;
    p.gate(kMF, 0x3000);
    // A 16-bit protected-mode environment (operand-size prefix): FCW unmasks ZE, FSW has ZE.
    p.put(0x10, 0x037b, 2);
    p.put(0x12, x87::kZE, 2);
    p.put(0x14, 0xffff, 2);
    p.b({0xdb, 0xe3}).b({0x66, 0xd9, 0x63, 0x10}).go();
    CHECK((p.fsw() & x87::kES));
    p.b({0xd9, 0xe8}).go();
    CHECK(p.s.rip == 0x3000);
}

TEST_CASE("x87: FXSAVE/FXRSTOR round trip, alignment check") {
    Prog p;
    fill(p);
    const FpuState before = p.s.fpu;
    p.s.cr4 |= cr4::OSFXSR;
    p.s.gpr[kRbx] = 0x4000;
    p.b({0x0f, 0xae, 0x03}).go();  // FXSAVE [ebx]
    CHECK(p.peek(0x4000, 2) == before.fcw);
    CHECK(p.peek(0x4002, 2) == before.fsw);
    CHECK(p.peek(0x4004, 1) == 0xe0);  // R5-R7 in use (TOP=5)
    CHECK(p.peek(0x4018, 4) == 0x1f80);
    p.b({0xdb, 0xe3}).b({0x0f, 0xae, 0x0b}).go();  // FNINIT; FXRSTOR [ebx]
    CHECK(p.s.fpu.fcw == before.fcw);
    CHECK(p.s.fpu.fsw == before.fsw);
    CHECK(p.s.fpu.ftw == before.ftw);
    CHECK(p.s.fpu.st == before.st);
    Prog q;
    q.gate(kGP, 0x3000);
    q.s.gpr[kRbx] = 0x4008;
    q.b({0x0f, 0xae, 0x03}).go();
    CHECK(q.s.rip == 0x3000);
}

TEST_CASE("x87: unmasked overflow stores the exponent-biased result in the register and nothing to memory") {
    Prog p;
    p.s.cr0 |= cr0::NE;
    p.put(0, 0x0377, 2);  // OE unmasked
    p.put80(0x10, F80{0x8000000000000000ull, 0x7ff0});
    p.put(0x20, 0x1122334455667788ull, 8);
    p.b({0xdb, 0xe3}).b({0xd9, 0x6b, 0x00}).b({0xdb, 0x6b, 0x10}).b({0xdc, 0xc8}).go();  // FMUL ST(0), ST(0)
    CHECK((p.fsw() & (x87::kOE | x87::kES)) == (x87::kOE | x87::kES));
    CHECK(p.st(0).exp() == ((0x7ff0 - 0x3fff) * 2 + 0x3fff - 24576));
    p.b({0xdb, 0xe2}).b({0xdd, 0x53, 0x20}).go();  // FNCLEX; FST qword: overflow, unmasked: no store
    CHECK(p.get(0x20, 8) == 0x1122334455667788ull);
    CHECK((p.fsw() & x87::kOE));
}

// ---------------------------------------------------------------- bit-identity with the host

namespace {
struct DiffCase {
    const char* name;
    std::vector<uint8_t> op;
    unsigned mem_size;
    bool mem_int;
    bool flags;
};

void run_cases(const std::vector<DiffCase>& cases, unsigned per_case, unsigned* total) {
    X87Rig rig;
    REQUIRE(rig.native.ok());
    uint64_t seed = 1;
    for (const DiffCase& c : cases) {
        std::string first;
        const unsigned bad = differential(rig, c.op, per_case, seed++, c.mem_size, c.mem_int, c.flags, &first);
        INFO(std::string(c.name) << " " << hex_bytes(c.op.data(), unsigned(c.op.size())) << ": " << first);
        CHECK(bad == 0);
        *total += per_case;
    }
}
}  // namespace

TEST_CASE("x87: arithmetic, loads, stores and compares are bit-identical with the host x87") {
    std::vector<DiffCase> cases;
    static const char* const kArith[] = {"fadd", "fmul", "fcom", "fcomp", "fsub", "fsubr", "fdiv", "fdivr"};
    for (unsigned reg = 0; reg < 8; reg++) {
        for (uint8_t rm : {uint8_t(1), uint8_t(0)}) {
            cases.push_back({kArith[reg], {0xd8, uint8_t(0xc0 | reg << 3 | rm)}, 0, false, false});
            if (reg != 2 && reg != 3) {
                cases.push_back({kArith[reg], {0xdc, uint8_t(0xc0 | reg << 3 | rm)}, 0, false, false});
                cases.push_back({kArith[reg], {0xde, uint8_t(0xc0 | reg << 3 | rm)}, 0, false, false});
            }
        }
        cases.push_back({kArith[reg], {0xd8, uint8_t(0x43 | reg << 3), 0x30}, 4, false, false});
        cases.push_back({kArith[reg], {0xdc, uint8_t(0x43 | reg << 3), 0x30}, 8, false, false});
        cases.push_back({kArith[reg], {0xda, uint8_t(0x43 | reg << 3), 0x30}, 4, true, false});
        cases.push_back({kArith[reg], {0xde, uint8_t(0x43 | reg << 3), 0x30}, 2, true, false});
    }
    // Loads.
    cases.push_back({"fld m32", {0xd9, 0x43, 0x30}, 4, false, false});
    cases.push_back({"fld m64", {0xdd, 0x43, 0x30}, 8, false, false});
    cases.push_back({"fld m80", {0xdb, 0x6b, 0x30}, 0, false, false});
    cases.push_back({"fild m16", {0xdf, 0x43, 0x30}, 2, true, false});
    cases.push_back({"fild m32", {0xdb, 0x43, 0x30}, 4, true, false});
    cases.push_back({"fild m64", {0xdf, 0x6b, 0x30}, 8, true, false});
    cases.push_back({"fbld", {0xdf, 0x63, 0x30}, 8, true, false});
    cases.push_back({"fld st1", {0xd9, 0xc1}, 0, false, false});
    cases.push_back({"fld st0", {0xd9, 0xc0}, 0, false, false});
    for (uint8_t k = 0xe8; k <= 0xee; k++) cases.push_back({"fldconst", {0xd9, k}, 0, false, false});
    // Stores.
    cases.push_back({"fst m32", {0xd9, 0x53, 0x30}, 0, false, false});
    cases.push_back({"fstp m32", {0xd9, 0x5b, 0x30}, 0, false, false});
    cases.push_back({"fst m64", {0xdd, 0x53, 0x30}, 0, false, false});
    cases.push_back({"fstp m64", {0xdd, 0x5b, 0x30}, 0, false, false});
    cases.push_back({"fstp m80", {0xdb, 0x7b, 0x30}, 0, false, false});
    cases.push_back({"fist m16", {0xdf, 0x53, 0x30}, 0, false, false});
    cases.push_back({"fistp m16", {0xdf, 0x5b, 0x30}, 0, false, false});
    cases.push_back({"fist m32", {0xdb, 0x53, 0x30}, 0, false, false});
    cases.push_back({"fistp m32", {0xdb, 0x5b, 0x30}, 0, false, false});
    cases.push_back({"fistp m64", {0xdf, 0x7b, 0x30}, 0, false, false});
    cases.push_back({"fbstp", {0xdf, 0x73, 0x30}, 0, false, false});
    cases.push_back({"fst st1", {0xdd, 0xd1}, 0, false, false});
    cases.push_back({"fstp st1", {0xdd, 0xd9}, 0, false, false});
    cases.push_back({"fstp st0", {0xdd, 0xd8}, 0, false, false});
    // Compares (memory and register), with EFLAGS for FCOMI.
    cases.push_back({"fcom m32", {0xd8, 0x53, 0x30}, 4, false, false});
    cases.push_back({"fcomp m64", {0xdc, 0x5b, 0x30}, 8, false, false});
    cases.push_back({"ficom m16", {0xde, 0x53, 0x30}, 2, true, false});
    cases.push_back({"ficomp m32", {0xda, 0x5b, 0x30}, 4, true, false});
    cases.push_back({"fcompp", {0xde, 0xd9}, 0, false, false});
    cases.push_back({"fucom", {0xdd, 0xe1}, 0, false, false});
    cases.push_back({"fucomp", {0xdd, 0xe9}, 0, false, false});
    cases.push_back({"fucompp", {0xda, 0xe9}, 0, false, false});
    cases.push_back({"fcomi", {0xdb, 0xf1}, 0, false, true});
    cases.push_back({"fucomi", {0xdb, 0xe9}, 0, false, true});
    cases.push_back({"fcomip", {0xdf, 0xf1}, 0, false, true});
    cases.push_back({"fucomip", {0xdf, 0xe9}, 0, false, true});
    cases.push_back({"ftst", {0xd9, 0xe4}, 0, false, false});
    cases.push_back({"fxam", {0xd9, 0xe5}, 0, false, false});
    // Unary and stack.
    cases.push_back({"fchs", {0xd9, 0xe0}, 0, false, false});
    cases.push_back({"fabs", {0xd9, 0xe1}, 0, false, false});
    cases.push_back({"fsqrt", {0xd9, 0xfa}, 0, false, false});
    cases.push_back({"frndint", {0xd9, 0xfc}, 0, false, false});
    cases.push_back({"fxch", {0xd9, 0xc9}, 0, false, false});
    cases.push_back({"ffree", {0xdd, 0xc1}, 0, false, false});
    cases.push_back({"fincstp", {0xd9, 0xf7}, 0, false, false});
    cases.push_back({"fdecstp", {0xd9, 0xf6}, 0, false, false});
    cases.push_back({"fnop", {0xd9, 0xd0}, 0, false, false});
    unsigned total = 0;
    run_cases(cases, 2000, &total);
    MESSAGE("x87 differential: " << cases.size() << " encodings, " << total << " random cases");
}

TEST_CASE("x87: stack-fault corner cases as the hardware does them") {
    // FLD ST(i) from an empty register onto a full stack: an underflow
    // (C1=0), and the masked response still pushes the indefinite.
    Prog p;
    p.b({0xdb, 0xe3});
    for (int i = 0; i < 8; i++) p.b({0xd9, 0xe8});
    p.go();
    p.b({0xdd, 0xc2}).b({0xd9, 0xc2}).go();  // FFREE ST(2); FLD ST(2)
    CHECK((p.fsw() & (x87::kIE | x87::kSF | x87::kC1)) == (x87::kIE | x87::kSF));
    CHECK(p.st(0) == x87::kIndefinite);
    // A compare with an empty operand is unordered even with IE unmasked,
    // but then nothing is popped; FCOMIP sets ZF PF CF likewise.
    Prog q;
    q.put(0, 0x037e, 2);
    q.b({0xdb, 0xe3}).b({0xd9, 0x6b, 0x00}).b({0xd9, 0xe8}).b({0xde, 0xd9}).go();  // FCOMPP with ST(1) empty
    CHECK((q.fsw() & (x87::kC0 | x87::kC2 | x87::kC3 | x87::kES)) == (x87::kC0 | x87::kC2 | x87::kC3 | x87::kES));
    CHECK(q.top() == 7);
    q.b({0xdb, 0xe2}).b({0xdf, 0xf1}).go();  // FNCLEX; FCOMIP ST(0), ST(1)
    CHECK((q.cpu.eflags() & (flags::ZF | flags::PF | flags::CF)) == (flags::ZF | flags::PF | flags::CF));
    CHECK(q.top() == 7);
}

TEST_CASE("x87: the host engine leaves its own stack empty: many integer loads, adds and stores in a row") {
    // Each host_exec() starts from the host's empty x87 stack. A load that
    // left a value behind would overflow it after eight, and every result
    // after that would be the indefinite (and a store that took one too
    // many would hide it: so each kind runs on its own).
    const uint16_t fcw = 0x037f, fsw = 0;
    uint8_t mem[16] = {};
    x87::F80 in[2] = {to_f80(0.5L), to_f80(0.0L)}, out[2];
    for (int64_t n = -10; n <= 10; n++) {
        memcpy(mem, &n, 8);
        const uint16_t sw = x87::host_exec(0xdf, 0x28, in, out, mem, fcw, fsw);  // FILD m64
        CHECK(x87::host_stack_delta(sw) == -1);
        CHECK(from_f80(out[0]) == (long double)n);
    }
    for (int64_t n = -10; n <= 10; n++) {
        const double d = double(n) / 4;
        memcpy(mem, &d, 8);
        in[0] = to_f80((long double)n);
        const uint16_t sw = x87::host_exec(0xdc, 0x00, in, out, mem, fcw, fsw);  // FADD m64
        CHECK(x87::host_stack_delta(sw) == 0);
        CHECK(from_f80(out[0]) == (long double)n * 1.25L);
    }
    for (int64_t n = -10; n <= 10; n++) {
        in[0] = to_f80((long double)n * 3);
        const uint16_t sw = x87::host_exec(0xdf, 0x38, in, out, mem, fcw, fsw | x87::kC3);  // FISTP m64
        CHECK(x87::host_stack_delta(sw) == 1);
        CHECK((sw & x87::kC3) != 0);  // C0/C2/C3 are left as they were
        int64_t stored = 0;
        memcpy(&stored, mem, 8);
        CHECK(stored == n * 3);
    }
}
