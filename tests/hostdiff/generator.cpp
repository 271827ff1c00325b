#include "tests/hostdiff/generator.h"

#include <cstddef>
#include <cstring>
#include <initializer_list>

namespace nomad86::hostdiff {
namespace {

enum : unsigned { EAX, ECX, EDX, EBX, ESP, EBP, ESI, EDI };

uint64_t mix(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

class Rng {
public:
    explicit Rng(uint64_t s) : x_(s) {}
    uint64_t next() {  // splitmix64
        uint64_t z = (x_ += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return z ^ (z >> 31);
    }
    uint32_t below(uint32_t n) { return uint32_t(next() % n); }
    bool chance(unsigned percent) { return below(100) < percent; }
    template <typename T>
    T pick(std::initializer_list<T> l) { return l.begin()[below(uint32_t(l.size()))]; }

private:
    uint64_t x_;
};

// Interesting 32-bit values: edges of every operand size, small numbers,
// BCD-looking bytes and plain random bits.
uint32_t value(Rng& r) {
    switch (r.below(10)) {
    case 0: return r.pick<uint32_t>({0, 1, 2, 0xffffffff, 0xfffffffe});
    case 1: return r.pick<uint32_t>({0x7f, 0x80, 0xff, 0x7fff, 0x8000, 0xffff, 0x7fffffff, 0x80000000});
    case 2: return r.below(64);
    case 3: return uint32_t(int32_t(r.below(64)) - 32);
    case 4: return (r.below(10) << 4) | r.below(16);  // BCD-ish byte
    case 5: return uint32_t(r.next()) & 0xff;
    case 6: return uint32_t(r.next()) & 0xffff;
    default: return uint32_t(r.next());
    }
}

// The encoder for one test: prefixes, opcode, ModRM operand, immediates;
// it also owns the test's registers (which it may pin for addressing).
class Builder {
public:
    Builder(TestCase& t, Rng& r) : t_(t), r_(r) {}

    void byte(uint8_t b) { t_.bytes[t_.len++] = b; }
    void bytes(std::initializer_list<uint8_t> l) {
        for (uint8_t b : l) byte(b);
    }
    void imm(uint32_t v, unsigned size) {
        for (unsigned i = 0; i < size; i++) byte(uint8_t(v >> (8 * i)));
    }
    // Operand size 1, 2 or 4; 2 emits the 66 prefix.
    unsigned opsize(bool allow8 = true) {
        const unsigned s = allow8 ? r_.pick<unsigned>({1, 2, 4, 4}) : r_.pick<unsigned>({2, 4, 4});
        if (s == 2) byte(0x66);
        return s;
    }
    void maybe_segment_override(bool allow_cs = true) {
        if (!r_.chance(15)) return;
        byte(allow_cs ? r_.pick<uint8_t>({0x26, 0x2e, 0x36, 0x3e}) : r_.pick<uint8_t>({0x26, 0x36, 0x3e}));
    }
    void pin(unsigned reg) { pinned_ |= 1u << reg; }
    void set(unsigned reg, uint32_t v) {
        t_.gpr[reg] = v;
        pin(reg);
    }

    // ModRM with `reg` in the reg field and a register (rm) or a memory
    // operand of `size` bytes whose effective address lands inside the
    // window's middle (so that offsets up to `slack` bytes either way stay
    // in the window). Registers used for addressing are pinned.
    // Returns the effective address (0 for a register operand).
    uint32_t modrm(unsigned reg, bool mem, unsigned size = 4, unsigned slack = 0) {
        if (!mem) {
            byte(uint8_t(0xc0 | (reg << 3) | r_.below(8)));
            return 0;
        }
        const uint32_t lo = layout::kWindowAddr + 16 + slack;
        const uint32_t hi = layout::kWindowAddr + 0x300 - 16 - slack - size;  // below the stack area
        const uint32_t ea = lo + r_.below(hi - lo + 1);
        // Free registers for base/index: not pinned, not ESP.
        unsigned free[8], nfree = 0;
        for (unsigned i = 0; i < 8; i++)
            if (i != ESP && !(pinned_ & (1u << i))) free[nfree++] = i;
        const unsigned form = nfree ? r_.below(5) : 0;
        if (form == 0) {  // [disp32]
            byte(uint8_t((reg << 3) | 5));
            imm(ea, 4);
            return ea;
        }
        const int32_t disp = r_.chance(30) ? 0 : int32_t(r_.below(256)) - 128;
        const unsigned base = free[r_.below(nfree)];
        if (form <= 2) {  // [base + disp]
            const unsigned mod = (disp == 0 && base != EBP) ? 0 : (disp >= -128 && disp <= 127 && r_.chance(80)) ? 1 : 2;
            byte(uint8_t((mod << 6) | (reg << 3) | base));
            set(base, ea - uint32_t(disp));
            if (mod == 1) imm(uint32_t(disp), 1);
            if (mod == 2) imm(uint32_t(disp), 4);
            return ea;
        }
        // [base + index*scale + disp] with SIB; base may be ESP (the stack pointer is in the window).
        const unsigned scale = r_.below(4);
        unsigned index = free[r_.below(nfree)];
        if (form == 4 || index == base) {  // ESP base
            const uint32_t idx = r_.below(16);
            set(index, idx);
            const int32_t d = int32_t(ea - t_.gpr[ESP] - (idx << scale));
            const bool d8 = d >= -128 && d <= 127;
            byte(uint8_t(((d8 ? 1u : 2u) << 6) | (reg << 3) | 4));
            byte(uint8_t((scale << 6) | (index << 3) | ESP));
            imm(uint32_t(d), d8 ? 1 : 4);
            return ea;
        }
        const uint32_t idx = r_.below(16);
        set(index, idx);
        const unsigned mod = (disp == 0 && base != EBP) ? 0 : 1;
        byte(uint8_t((mod << 6) | (reg << 3) | 4));
        byte(uint8_t((scale << 6) | (index << 3) | base));
        set(base, ea - (idx << scale) - uint32_t(mod ? disp : 0));
        if (mod) imm(uint32_t(disp), 1);
        return ea;
    }

    Rng& rng() { return r_; }
    TestCase& test() { return t_; }

private:
    TestCase& t_;
    Rng& r_;
    uint32_t pinned_ = 1u << ESP;
};

// A shift/rotate count: 0, 1, width-1, width, width+1, 31, 32, larger, random.
uint8_t shift_count(Rng& r, unsigned size) {
    const unsigned w = size * 8;
    return uint8_t(r.pick<unsigned>({0, 1, 1, w - 1, w, w + 1, 31, 32, 33, 63, 255, unsigned(r.below(256)), 2, 9, 17}));
}

// ---------------------------------------------------------------- groups

void gen_alu(Builder& b) {
    Rng& r = b.rng();
    const unsigned kind = r.below(10);
    if (kind <= 3) {  // ADD OR ADC SBB AND SUB XOR CMP: r/m,r / r,r/m
        // LOCK on a register destination is #UD (memory LOCK forms are left
        // out: a split locked access would stall the host).
        const bool mem = r.chance(50);
        if (!mem && r.chance(4)) b.byte(0xf0);
        const unsigned op = r.below(8), size = b.opsize(), dir = r.below(2);
        b.byte(uint8_t(op * 8 + dir * 2 + (size > 1)));
        b.modrm(r.below(8), mem, size);
    } else if (kind == 4) {  // op AL/eAX, imm
        const unsigned op = r.below(8), size = b.opsize();
        b.byte(uint8_t(op * 8 + 4 + (size > 1)));
        b.imm(value(r), size);
    } else if (kind <= 6) {  // 80/81/83 /op imm
        const unsigned op = r.below(8), size = b.opsize();
        const bool sx = size > 1 && r.chance(40);
        b.byte(size == 1 ? 0x80 : sx ? 0x83 : 0x81);
        b.modrm(op, r.chance(50), size);
        b.imm(value(r), sx ? 1 : size);
    } else if (kind == 7) {  // INC/DEC r/m (FE/FF), INC/DEC r32/r16 (40-4F)
        const unsigned size = b.opsize();
        if (size > 1 && r.chance(40)) {
            b.byte(uint8_t(0x40 + r.below(16)));
        } else {
            b.byte(size == 1 ? 0xfe : 0xff);
            b.modrm(r.below(2), r.chance(50), size);
        }
    } else if (kind == 8) {  // TEST / NOT / NEG
        const unsigned size = b.opsize(), which = r.below(4);
        if (which == 0) {
            b.byte(size == 1 ? 0x84 : 0x85);
            b.modrm(r.below(8), r.chance(50), size);
        } else if (which == 1) {
            b.byte(size == 1 ? 0xa8 : 0xa9);
            b.imm(value(r), size);
        } else {
            b.byte(size == 1 ? 0xf6 : 0xf7);
            const unsigned ext = which == 2 ? r.pick<unsigned>({0, 1}) : r.pick<unsigned>({2, 3});  // TEST(/1 alias) NOT NEG
            b.modrm(ext, r.chance(50), size);
            if (ext <= 1) b.imm(value(r), size);
        }
    } else {  // CBW/CWDE, CWD/CDQ, MOVZX/MOVSX, LEA, XCHG reg
        switch (r.below(4)) {
        case 0:
            if (r.chance(50)) b.byte(0x66);
            b.byte(r.pick<uint8_t>({0x98, 0x99}));
            break;
        case 1: {
            if (r.chance(30)) b.byte(0x66);
            b.bytes({0x0f, r.pick<uint8_t>({0xb6, 0xb7, 0xbe, 0xbf})});
            b.modrm(r.below(8), r.chance(50), 2);
            break;
        }
        case 2:
            if (r.chance(30)) b.byte(0x66);
            b.byte(0x8d);
            b.modrm(r.below(8), true, 4);
            break;
        default: {  // XCHG register forms only (a memory XCHG is a locked access)
            const unsigned size = b.opsize();
            if (size > 1 && r.chance(30)) {
                b.byte(uint8_t(0x90 + r.below(8)));
            } else {
                b.byte(size == 1 ? 0x86 : 0x87);
                b.modrm(r.below(8), false, size);
            }
        }
        }
    }
}

void gen_shift(Builder& b) {
    Rng& r = b.rng();
    if (r.chance(20)) {  // SHLD/SHRD imm8 or CL
        const unsigned size = b.opsize(false);
        const bool cl = r.chance(50);
        const uint8_t count = shift_count(r, size);
        b.bytes({0x0f, uint8_t((r.chance(50) ? 0xa4 : 0xac) + (cl ? 1 : 0))});
        if (cl) b.set(ECX, (value(r) & ~0xffu) | count);
        b.modrm(r.below(8), r.chance(50), size);
        if (!cl) b.imm(count, 1);
        return;
    }
    const unsigned size = b.opsize(), ext = r.below(8);  // ROL ROR RCL RCR SHL SHR SAL(/6) SAR
    const unsigned form = r.below(3);                   // imm8, 1, CL
    const uint8_t count = shift_count(r, size);
    const uint8_t base = form == 0 ? 0xc0 : form == 1 ? 0xd0 : 0xd2;
    b.byte(uint8_t(base + (size > 1)));
    if (form == 2) b.set(ECX, (value(r) & ~0xffu) | count);
    b.modrm(ext, r.chance(50), size);
    if (form == 0) b.imm(count, 1);
}

void gen_muldiv(Builder& b) {
    Rng& r = b.rng();
    TestCase& t = b.test();
    const unsigned kind = r.below(10);
    if (kind <= 6) {  // F6/F7 /4 MUL /5 IMUL /6 DIV /7 IDIV
        const unsigned size = b.opsize(), ext = 4 + r.below(4);
        // Steer the dividend high half: small (no overflow) or random (may #DE).
        if (ext >= 6 && r.chance(60)) {
            if (size == 1) {
                t.gpr[EAX] = (t.gpr[EAX] & ~0xff00u) | ((r.below(4)) << 8);
            } else {
                const uint32_t hi = r.pick<uint32_t>({0, 1, 0xffffffff, r.below(16)});
                t.gpr[EDX] = size == 2 ? ((t.gpr[EDX] & ~0xffffu) | (hi & 0xffff)) : hi;
            }
            b.pin(EAX);
            b.pin(EDX);
        }
        b.byte(size == 1 ? 0xf6 : 0xf7);
        const bool mem = r.chance(40);
        const unsigned rm_reg = r.below(8);
        if (!mem) {
            b.byte(uint8_t(0xc0 | (ext << 3) | rm_reg));
            if (r.chance(15) && rm_reg != ESP) t.gpr[rm_reg] = 0;  // divide by zero (or a zero multiplier)
        } else {
            b.modrm(ext, true, size);
        }
    } else if (kind <= 8) {  // IMUL r, r/m
        const unsigned size = b.opsize(false);
        b.bytes({0x0f, 0xaf});
        b.modrm(r.below(8), r.chance(40), size);
    } else {  // IMUL r, r/m, imm (69 / 6B)
        const unsigned size = b.opsize(false);
        const bool i8 = r.chance(50);
        b.byte(i8 ? 0x6b : 0x69);
        b.modrm(r.below(8), r.chance(40), size);
        b.imm(value(r), i8 ? 1 : size);
    }
}

void gen_bcd(Builder& b) {
    Rng& r = b.rng();
    TestCase& t = b.test();
    // AL/AH: BCD digits, near-BCD and random bytes.
    const uint32_t al = r.chance(50) ? ((r.below(16) << 4) | r.below(16)) : value(r) & 0xff;
    t.gpr[EAX] = (t.gpr[EAX] & 0xffff0000u) | (value(r) & 0xff) << 8 | al;
    switch (r.below(6)) {
    case 0: b.byte(0x27); break;  // DAA
    case 1: b.byte(0x2f); break;  // DAS
    case 2: b.byte(0x37); break;  // AAA
    case 3: b.byte(0x3f); break;  // AAS
    case 4: b.bytes({0xd4, uint8_t(r.pick<uint32_t>({10, 10, 0, 1, 16, 255, value(r) & 0xff}))}); break;  // AAM
    default: b.bytes({0xd5, uint8_t(r.pick<uint32_t>({10, 10, 0, 1, 16, 255, value(r) & 0xff}))}); break;  // AAD
    }
}

void gen_bit(Builder& b) {
    Rng& r = b.rng();
    TestCase& t = b.test();
    const unsigned kind = r.below(3);
    const unsigned size = b.opsize(false);
    if (kind == 0) {  // BT/BTS/BTR/BTC r/m, r: a register bit offset reaches outside the addressed word
        const unsigned reg = r.below(8);
        const bool mem = r.chance(60);
        b.bytes({0x0f, r.pick<uint8_t>({0xa3, 0xab, 0xb3, 0xbb})});
        if (mem && reg != ESP) {
            const int32_t off = int32_t(r.below(4096)) - 2048;  // +-256 bytes
            b.set(reg, size == 2 ? ((t.gpr[reg] & 0xffff0000u) | (uint32_t(off) & 0xffff)) : uint32_t(off));
            b.modrm(reg, true, size, 264);
        } else {
            b.modrm(reg, false, size);
        }
    } else if (kind == 1) {  // BT/BTS/BTR/BTC r/m, imm8 (0F BA /4-/7)
        b.bytes({0x0f, 0xba});
        b.modrm(4 + r.below(4), r.chance(50), size);
        b.imm(r.chance(50) ? r.below(size * 8) : value(r), 1);
    } else {  // BSF / BSR, sometimes of zero
        b.bytes({0x0f, r.pick<uint8_t>({0xbc, 0xbd})});
        const unsigned reg = r.below(8);
        const bool mem = r.chance(40);
        const std::size_t before = t.len;
        b.modrm(reg, mem, size);
        if (!mem && r.chance(20)) {
            const unsigned src = t.bytes[before] & 7;
            if (src != ESP) t.gpr[src] = r.chance(50) ? 0 : (size == 2 ? t.gpr[src] & 0xffff0000u : 0);
        }
    }
}

void gen_string(Builder& b) {
    Rng& r = b.rng();
    TestCase& t = b.test();
    // ESI/EDI in the window's middle, small ECX: at most 8 elements of 4 bytes either way.
    b.set(ESI, layout::kWindowAddr + 0x60 + r.below(0x200));
    b.set(EDI, layout::kWindowAddr + 0x60 + r.below(0x200));
    if (r.chance(30)) t.gpr[EDI] = t.gpr[ESI] + r.below(9) - 4;  // overlapping moves
    b.set(ECX, r.below(9));
    // Compare loops: make equal runs likely.
    const bool io = r.chance(5);
    const unsigned rep = r.below(4);  // none, REP/REPE (F3), REPNE (F2), none
    if (rep == 1) b.byte(0xf3);
    if (rep == 2) b.byte(0xf2);
    if (io) {  // INS/OUTS at CPL 3 with IOPL 0: #GP(0)
        b.set(EDX, r.pick<uint32_t>({0x80, 0x3f8, 0x60}));
        b.byte(r.pick<uint8_t>({0x6c, 0x6d, 0x6e, 0x6f}));
        return;
    }
    const uint8_t op = r.pick<uint8_t>({0xa4, 0xa6, 0xaa, 0xac, 0xae});  // MOVS CMPS STOS LODS SCAS
    if (op == 0xa4 || op == 0xa6 || op == 0xac) b.maybe_segment_override();
    const unsigned size = r.pick<unsigned>({1, 2, 4});
    if (size == 2) {  // the 66 prefix may come before or after REP
        if (r.chance(50)) {
            b.byte(0x66);
        } else {
            // insert 66 at the front
            for (unsigned i = t.len; i > 0; i--) t.bytes[i] = t.bytes[i - 1];
            t.bytes[0] = 0x66;
            t.len++;
        }
    }
    b.byte(uint8_t(op + (size > 1)));
    if (op == 0xa6 || op == 0xae) {  // make runs of equal data so REPE/REPNE stop at different places
        const uint32_t fill = value(r);
        for (uint32_t a = 0; a < 40; a++) {
            const uint8_t v = uint8_t(fill >> (8 * (a % 4)));
            if (r.chance(85)) t.window[t.gpr[EDI] - layout::kWindowAddr - 20 + a] = v;
            if (op == 0xa6 && r.chance(85)) t.window[t.gpr[ESI] - layout::kWindowAddr - 20 + a] = v;
        }
        if (op == 0xae && r.chance(70)) t.gpr[EAX] = fill;
    }
}

void gen_cmov_setcc(Builder& b) {
    Rng& r = b.rng();
    const uint8_t cc = uint8_t(r.below(16));
    if (r.chance(50)) {  // CMOVcc r, r/m
        const unsigned size = b.opsize(false);
        b.bytes({0x0f, uint8_t(0x40 + cc)});
        b.modrm(r.below(8), r.chance(50), size);
    } else {  // SETcc r/m8
        b.bytes({0x0f, uint8_t(0x90 + cc)});
        b.modrm(r.below(8), r.chance(50), 1);
    }
}

void gen_cmpxchg_xadd_bswap(Builder& b) {
    Rng& r = b.rng();
    TestCase& t = b.test();
    switch (r.below(4)) {
    case 0: {  // CMPXCHG r/m, r: make the comparison succeed half the time
        const unsigned size = b.opsize();
        b.bytes({0x0f, uint8_t(size == 1 ? 0xb0 : 0xb1)});
        const bool mem = r.chance(50), equal = r.chance(50);
        if (equal) b.pin(EAX);
        const std::size_t at = t.len;
        const uint32_t ea = b.modrm(r.below(8), mem, size);
        if (equal && mem) {
            for (unsigned i = 0; i < size; i++) t.window[ea - layout::kWindowAddr + i] = uint8_t(t.gpr[EAX] >> (8 * i));
        } else if (equal) {
            const unsigned rm = t.bytes[at] & 7;
            if (size == 1 && rm >= 4) {
                t.gpr[EAX] = (t.gpr[EAX] & ~0xffu) | ((t.gpr[rm - 4] >> 8) & 0xff);
            } else if (rm != ESP) {
                t.gpr[EAX] = t.gpr[rm];
            }
        }
        break;
    }
    case 1: {  // XADD r/m, r
        const unsigned size = b.opsize();
        b.bytes({0x0f, uint8_t(size == 1 ? 0xc0 : 0xc1)});
        b.modrm(r.below(8), r.chance(50), size);
        break;
    }
    case 2:  // BSWAP r32
        b.bytes({0x0f, uint8_t(0xc8 + r.below(8))});
        break;
    default: {  // CMPXCHG8B m64 (register form: #UD); memory equal to EDX:EAX half the time
        b.bytes({0x0f, 0xc7});
        const bool mem = r.chance(90);
        b.pin(EAX);
        b.pin(EDX);
        b.pin(EBX);
        b.pin(ECX);
        const uint32_t ea = b.modrm(1, mem, 8);
        if (mem && r.chance(50)) {
            for (unsigned i = 0; i < 4; i++) {
                t.window[ea - layout::kWindowAddr + i] = uint8_t(t.gpr[EAX] >> (8 * i));
                t.window[ea - layout::kWindowAddr + 4 + i] = uint8_t(t.gpr[EDX] >> (8 * i));
            }
        }
        break;
    }
    }
}

// A random 80-bit value: zeros, infinities, quiet and signalling NaNs, the
// real indefinite, denormals, pseudo-denormals and unnormals, small integers,
// and normals with exponents near 1.0 or near the extremes.
void random_f80(Rng& r, uint8_t* out) {
    uint64_t mant = r.next();
    unsigned exp;
    switch (r.below(12)) {
    case 0: mant = 0, exp = 0; break;                                     // +-0
    case 1: mant = 1ull << 63, exp = 0x7fff; break;                       // +-inf
    case 2: mant |= 3ull << 62, exp = 0x7fff; break;                      // QNaN (or indefinite)
    case 3: mant = (mant & ~(1ull << 62)) | (1ull << 63) | 1, exp = 0x7fff; break;  // SNaN
    case 4: mant &= ~(1ull << 63), exp = 0; break;                        // denormal
    case 5: mant = (mant & ~(1ull << 63)), exp = 1 + r.below(0x7ffe); break;        // unnormal (invalid)
    case 6: {                                                             // small integer
        const uint64_t v = r.below(1000) + 1;
        const unsigned lz = unsigned(__builtin_clzll(v));
        mant = v << lz, exp = 0x3fff + 63 - lz;
        break;
    }
    case 7: mant |= 1ull << 63, exp = r.chance(50) ? 1 + r.below(64) : 0x7ffe - r.below(64); break;  // extremes
    default: mant |= 1ull << 63, exp = 0x3fff + r.below(128) - 64; break;  // ordinary
    }
    if (r.chance(50)) exp |= 0x8000;
    memcpy(out, &mant, 8);
    const uint16_t se = uint16_t(exp);
    memcpy(out + 8, &se, 2);
}

// Memory operand values for x87 loads: floats and integers of each size.
void random_fp_memory(Rng& r, uint8_t* p, unsigned size) {
    if (size == 10) return random_f80(r, p);
    uint8_t f80[10];
    random_f80(r, f80);
    if (r.chance(50)) return;  // keep the window's random bytes
    if (size == 4) {  // a float: special exponents too
        const uint32_t v = r.pick<uint32_t>({0, 0x80000000u, 0x7f800000u, 0xff800000u, 0x7fc00000u, 0x7f800001u,
                                             0x00000001u, 0x007fffffu, 0x3f800000u, 0xc0490fdbu, uint32_t(r.next())});
        memcpy(p, &v, 4);
    } else if (size == 8) {
        const uint64_t v = r.pick<uint64_t>({0, 0x8000000000000000ull, 0x7ff0000000000000ull, 0x7ff8000000000000ull,
                                             0x7ff0000000000001ull, 1ull, 0x3ff0000000000000ull, r.next()});
        memcpy(p, &v, 8);
    } else if (size == 2) {
        const uint16_t v = uint16_t(value(r));
        memcpy(p, &v, 2);
    }
}

void gen_x87(Builder& b) {
    Rng& r = b.rng();
    TestCase& t = b.test();
    // The state: random TOP, some empty registers, random contents.
    const unsigned top = r.below(8);
    uint16_t ftw = 0;
    for (unsigned i = 0; i < 8; i++) {
        random_f80(r, &t.fpu[fpu_image::kSt0 + 10 * i]);
        const unsigned phys = (top + i) & 7;
        const bool empty = r.chance(i < 2 ? 10 : 30);
        ftw = uint16_t(ftw | ((empty ? 3u : 0u) << (2 * phys)));  // FRSTOR only looks at empty vs not
    }
    // FCW: precision and rounding control random; exceptions mostly masked.
    uint16_t fcw = uint16_t(0x0040 | (r.pick<unsigned>({3, 3, 2, 0}) << 8) | (r.below(4) << 10));
    fcw |= r.chance(85) ? 0x3f : uint16_t(r.below(64));
    // FSW: TOP, random condition codes; sticky flags sometimes (ES only if unmasked ones are set).
    uint16_t fsw = uint16_t((top << 11) | (r.below(16) & 0x7) << 8 | (r.chance(50) ? 0x4000 : 0));
    if (r.chance(20)) fsw |= uint16_t(r.below(64));
    if (fsw & ~fcw & 0x3f) fsw |= 0x8080;
    memcpy(&t.fpu[fpu_image::kFcw], &fcw, 2);
    memcpy(&t.fpu[fpu_image::kFsw], &fsw, 2);
    memcpy(&t.fpu[fpu_image::kFtw], &ftw, 2);

    auto mem = [&](uint8_t opcode, unsigned ext, unsigned size) {
        b.byte(opcode);
        const uint32_t ea = b.modrm(ext, true, size);
        random_fp_memory(r, &t.window[ea - layout::kWindowAddr], size);
    };
    const uint8_t i = uint8_t(r.below(8));
    switch (r.below(16)) {
    case 0: b.bytes({0xd9, uint8_t(0xc0 + i)}); break;  // FLD ST(i)
    case 1: {  // FLD m32/m64/m80, FILD m16/m32/m64
        const unsigned k = r.below(6);
        const uint8_t ops[] = {0xd9, 0xdd, 0xdb, 0xdf, 0xdb, 0xdf};
        const unsigned ext[] = {0, 0, 5, 0, 0, 5}, size[] = {4, 8, 10, 2, 4, 8};
        mem(ops[k], ext[k], size[k]);
        break;
    }
    case 2: {  // FST/FSTP m32/m64, FSTP m80, FIST/FISTP m16/m32, FISTP m64, FISTTP is SSE3: not here
        const unsigned k = r.below(9);
        const uint8_t ops[] = {0xd9, 0xd9, 0xdd, 0xdd, 0xdb, 0xdf, 0xdf, 0xdb, 0xdf};
        const unsigned ext[] = {2, 3, 2, 3, 7, 2, 3, 2, 7}, size[] = {4, 4, 8, 8, 10, 2, 2, 4, 8};
        mem(ops[k], ext[k], size[k]);
        break;
    }
    case 3: b.bytes({r.pick<uint8_t>({0xdd, 0xdd}), uint8_t((r.chance(50) ? 0xd0 : 0xd8) + i)}); break;  // FST/FSTP ST(i)
    case 4:
    case 5: {  // arithmetic and compares, ST(0) with ST(i), ST(i) with ST(0), pop forms
        const uint8_t op = r.pick<uint8_t>({0xd8, 0xdc, 0xde});
        unsigned ext = r.below(8);
        if (op == 0xde && (ext == 2)) ext = 0;
        if (op == 0xde && ext == 3) { b.bytes({0xde, 0xd9}); break; }  // FCOMPP
        b.bytes({op, uint8_t(0xc0 | (ext << 3) | i)});
        break;
    }
    case 6:
    case 7: {  // arithmetic and compares with memory: m32real, m64real, m32int, m16int
        const unsigned k = r.below(4);
        const uint8_t ops[] = {0xd8, 0xdc, 0xda, 0xde};
        const unsigned size[] = {4, 8, 4, 2};
        mem(ops[k], r.below(8), size[k]);
        break;
    }
    case 8:
    case 9: {  // D9 E0-FF: FCHS FABS FTST FXAM, constants, transcendental and misc
        static const uint8_t kOps[] = {0xe0, 0xe1, 0xe4, 0xe5, 0xe8, 0xe9, 0xea, 0xeb, 0xec, 0xed, 0xee, 0xf0, 0xf1,
                                       0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa, 0xfb, 0xfc, 0xfd, 0xfe, 0xff};
        b.bytes({0xd9, kOps[r.below(sizeof(kOps))]});
        break;
    }
    case 10: b.bytes({0xd9, uint8_t(0xc8 + i)}); break;  // FXCH
    case 11: {  // FUCOM/FUCOMP/FUCOMPP, FFREE, FCOMI/FUCOMI(P)
        switch (r.below(5)) {
        case 0: b.bytes({0xdd, uint8_t(0xe0 + i)}); break;
        case 1: b.bytes({0xdd, uint8_t(0xe8 + i)}); break;
        case 2: b.bytes({0xda, 0xe9}); break;
        case 3: b.bytes({0xdd, uint8_t(0xc0 + i)}); break;
        default: b.bytes({r.pick<uint8_t>({0xdb, 0xdf}), uint8_t(r.pick<uint8_t>({0xe8, 0xf0}) + i)}); break;
        }
        break;
    }
    case 12: b.bytes({r.pick<uint8_t>({0xda, 0xdb}), uint8_t(0xc0 + r.below(32))}); break;  // FCMOVcc
    case 13: {  // control: FNSTSW AX / m16, FNSTCW m16, FLDCW m16, FNCLEX, FNINIT
        switch (r.below(6)) {
        case 0: b.bytes({0xdf, 0xe0}); break;
        case 1: b.byte(0xdd), b.modrm(7, true, 2); break;
        case 2: b.byte(0xd9), b.modrm(7, true, 2); break;
        case 3: {
            b.byte(0xd9);
            const uint32_t ea = b.modrm(5, true, 2);
            const uint16_t cw = uint16_t(0x1040 | (r.below(4) << 8) | (r.below(4) << 10) | (r.chance(80) ? 0x3f : r.below(64)));
            memcpy(&t.window[ea - layout::kWindowAddr], &cw, 2);
            break;
        }
        case 4: b.bytes({0xdb, 0xe2}); break;
        default: b.bytes({0xdb, 0xe3}); break;
        }
        break;
    }
    default: {  // FADD/FMUL/FSUB/FDIV family with ST(0), ST(i) again (the bulk of real code)
        b.bytes({0xd8, uint8_t(0xc0 | (r.pick<unsigned>({0, 1, 4, 5, 6, 7}) << 3) | i)});
        break;
    }
    }
}

}  // namespace

TestCase generate(Group group, uint64_t seed, uint64_t index) {
    TestCase t;
    t.group = group;
    // Hashed, not added: consecutive indices must not share a stream.
    Rng r(mix(seed ^ mix(index ^ (uint64_t(group) << 56) ^ 0x6a09e667f3bcc909ull)));
    for (auto& v : t.gpr) v = value(r);
    t.gpr[ESP] = layout::kStackTop;
    t.eflags = (uint32_t(r.next()) & kComparedFlags) | 0x2;
    for (std::size_t i = 0; i < t.window.size(); i += 8) {
        const uint64_t v = r.chance(20) ? value(r) : r.next();
        for (std::size_t k = 0; k < 8; k++) t.window[i + k] = uint8_t(v >> (8 * k));
    }
    Builder b(t, r);
    switch (group) {
    case Group::kAlu: gen_alu(b); break;
    case Group::kShift: gen_shift(b); break;
    case Group::kMulDiv: gen_muldiv(b); break;
    case Group::kBcd: gen_bcd(b); break;
    case Group::kBit: gen_bit(b); break;
    case Group::kString: gen_string(b); break;
    case Group::kCmovSetcc: gen_cmov_setcc(b); break;
    case Group::kCmpxchgXaddBswap: gen_cmpxchg_xadd_bswap(b); break;
    case Group::kX87: gen_x87(b); break;
    case Group::kCount: break;
    }
    return t;
}

}  // namespace nomad86::hostdiff
