// A bench for the x87 tests: one x87 program run twice, natively on the
// host's own x87 and in the emulator, byte for byte the same code. The
// programs address their data only through EBX ([ebx+disp8]), whose
// encoding means [rbx+disp8] in 64-bit mode, so the very bytes the guest
// executes in 32-bit protected mode also run on the host.
//
// Data block (at host buffer / guest 0x2000), offsets:
//   0x00 guest FCW     0x02 FSW after the op   0x04 FSW at the end
//   0x06 0x037f (host FCW restored at the end) 0x08 LAHF after the op
//   0x0a FSW after the second store
//   0x10 operand a (m80)   0x20 operand b (m80)   0x30 memory operand (16)
//   0x40 ST(0) after the op (m80)   0x50 ST(1) after the op (m80)
#pragma once
#include <sys/mman.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "cpu/x87_float.h"
#include "tests/unit/cpu_rig.h"

namespace nomad86::test {

// The host's long double is the x87's 80-bit format: conversions both ways.
inline x87::F80 to_f80(long double v) {
    uint8_t b[16] = {};
    memcpy(b, &v, 10);
    return x87::F80::from_bytes(b);
}
inline long double from_f80(const x87::F80& f) {
    uint8_t b[16] = {};
    f.to_bytes(b);
    long double v = 0;
    memcpy(&v, b, 10);
    return v;
}


struct X87Data {
    uint8_t b[0x60];
};

class NativeCode {
public:
    NativeCode() {
        mem_ = mmap(nullptr, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    }
    ~NativeCode() { munmap(mem_, 4096); }
    bool ok() const { return mem_ != MAP_FAILED; }
    // Runs `code` (a RET is appended) with RBX = data.
    void run(const std::vector<uint8_t>& code, void* data) {
        memcpy(mem_, code.data(), code.size());
        static_cast<uint8_t*>(mem_)[code.size()] = 0xc3;
        void* fn = mem_;
        asm volatile(
            "sub $256, %%rsp\n\t"
            "push %%rbx\n\t"
            "mov %[data], %%rbx\n\t"
            "call *%[fn]\n\t"
            "pop %%rbx\n\t"
            "add $256, %%rsp\n\t"
            :
            : [fn] "r"(fn), [data] "r"(data)
            : "memory", "cc", "rax", "st", "st(1)", "st(2)", "st(3)", "st(4)", "st(5)", "st(6)", "st(7)");
    }

private:
    void* mem_;
};

struct X87Rig : CpuRig {
    static constexpr uint32_t kCode = 0x1000, kData = 0x2000;
    NativeCode native;

    // Runs the program in the emulator (flat 32-bit, CPL 0, EBX = kData),
    // one step per instruction.
    void emulate(const std::vector<uint8_t>& code, unsigned insns, X87Data& d) {
        if (code != last_code_) {  // a new program: fresh machine state (and decoded blocks)
            flat32(kCode);
            s.cr0 |= cr0::NE;
            poke(kCode, code);
            cpu.flush_decoded_blocks();
            last_code_ = code;
        }
        s.rip = kCode;
        memory.write_bytes(GuestPhys(kData), d.b, sizeof(d.b));
        s.gpr[kRbx] = kData;
        step(insns);
        memory.read_bytes(GuestPhys(kData), d.b, sizeof(d.b));
    }

private:
    std::vector<uint8_t> last_code_;
};

// The standard frame around one instruction `op` (its ModRM addressing
// [ebx+disp8] when it has a memory operand):
//   FNINIT; FLDCW [0]; FLD m80 [0x20]; FLD m80 [0x10]; op;
//   FNSTSW [2]; LAHF; MOV [8],AH; FNCLEX; FSTP m80 [0x40]; FNSTSW [4];
//   FNCLEX; FSTP m80 [0x50]; FNSTSW [0xa]; FNINIT; FLDCW [6]
// (FNCLEX before each FSTP: an unmasked fault must not trap the next one).
inline std::vector<uint8_t> frame(const std::vector<uint8_t>& op, unsigned* insns) {
    std::vector<uint8_t> c = {0xdb, 0xe3, 0xd9, 0x6b, 0x00, 0xdb, 0x6b, 0x20, 0xdb, 0x6b, 0x10};
    c.insert(c.end(), op.begin(), op.end());
    const uint8_t tail[] = {0xdd, 0x7b, 0x02, 0x9f, 0x88, 0x63, 0x08, 0xdb, 0xe2, 0xdb, 0x7b, 0x40,
                            0xdd, 0x7b, 0x04, 0xdb, 0xe2, 0xdb, 0x7b, 0x50, 0xdd, 0x7b, 0x0a,
                            0xdb, 0xe3, 0xd9, 0x6b, 0x06};
    c.insert(c.end(), std::begin(tail), std::end(tail));
    *insns = 17;
    return c;
}

// Random 80-bit operands biased towards the interesting places: zeros,
// denormals and pseudo-denormals, unnormals, infinities, NaNs (quiet,
// signalling, indefinite), values near 1, near the integer and BCD limits,
// and the format extremes.
class X87Random {
public:
    explicit X87Random(uint64_t seed) : rng_(seed) {}
    uint64_t bits() { return rng_(); }
    unsigned below(unsigned n) { return unsigned(rng_() % n); }

    x87::F80 value() {
        x87::F80 v;
        v.mant = bits();
        const uint16_t sign = below(2) ? 0x8000 : 0;
        unsigned e;
        switch (below(16)) {
        case 0: e = 0; if (below(2)) v.mant = 0; else if (below(2)) v.mant &= ~(1ull << 63); break;
        case 1: e = 0x7fff; v.mant = below(3) ? (1ull << 63) : (v.mant | (1ull << 63)); break;
        case 2: e = 0x7fff; v.mant = (v.mant | (1ull << 63)) & ~(1ull << 62); if (!(v.mant << 1)) v.mant |= 1; break;
        case 3: e = 1 + below(64); break;
        case 4: e = 0x7ffe - below(64); break;
        case 5: e = 0x3fff + 40 + below(30); break;  // around the int64 / BCD limits
        case 6: e = 0x3fff + below(16); v.mant &= ~((1ull << below(64)) - 1); break;  // short significands
        case 7: e = 0x3fff - 70 + below(140); v.mant &= ~(1ull << 63); break;  // unnormals
        case 8: e = 0x3fff + 62 + below(4); break;  // near 2^63 (range limit of FSIN and friends)
        default: e = 0x3fff - 80 + below(160); break;
        }
        if (e != 0 && below(8) != 0 && (below(16) != 7)) v.mant |= 1ull << 63;
        if (below(40) == 0) return x87::kIndefinite;
        v.se = uint16_t(sign | e);
        return v;
    }
    // A random control word: any precision and rounding control, and
    // sometimes unmasked exceptions.
    uint16_t fcw() {
        uint16_t cw = uint16_t(0x0040 | (below(4) << 8) | (below(4) << 10));
        cw |= below(3) ? 0x3f : uint16_t(bits() & 0x3f);
        return cw;
    }
    // Memory operand of `size` bytes: floats with specials, or integers.
    void memory(uint8_t* p, unsigned size, bool integer) {
        uint64_t v = bits();
        if (integer) {
            switch (below(4)) {
            case 0: v = below(2) ? 0 : ~uint64_t(0); break;
            case 1: v >>= below(64); break;
            default: break;
            }
        } else if (size == 4) {
            uint32_t f = uint32_t(v);
            const uint32_t exps[] = {0, 0xff, 1, 0xfe, 0x7f, uint32_t(below(256))};
            f = (f & 0x807fffff) | (exps[below(6)] << 23);
            v = f;
        } else if (size == 8) {
            const uint64_t exps[] = {0, 0x7ff, 1, 0x7fe, 0x3ff, uint64_t(below(2048))};
            v = (v & 0x800fffffffffffffull) | (exps[below(6)] << 52);
            if (below(8) == 0) v &= 0xfff0000000000000ull;
        }
        memcpy(p, &v, size);
    }

private:
    std::mt19937_64 rng_;
};

inline std::string hex_bytes(const uint8_t* p, unsigned n) {
    std::string s;
    char buf[4];
    for (unsigned i = n; i-- > 0;) {
        snprintf(buf, sizeof(buf), "%02x", p[i]);
        s += buf;
    }
    return s;
}

// Runs `op` on `count` random inputs natively and emulated; returns the
// number of mismatches (and reports the first few). `mem_size`/`mem_int`
// describe the memory operand at 0x30 (0: none); `flags` compares LAHF.
inline unsigned differential(X87Rig& rig, const std::vector<uint8_t>& op, unsigned count, uint64_t seed,
                             unsigned mem_size, bool mem_int, bool flags, std::string* first_failure) {
    X87Random rnd(seed);
    unsigned insns = 0;
    const std::vector<uint8_t> code = frame(op, &insns);
    unsigned bad = 0;
    for (unsigned n = 0; n < count; n++) {
        X87Data d{};
        for (auto& byte : d.b) byte = uint8_t(rnd.bits());
        const uint16_t cw = rnd.fcw();
        memcpy(d.b + 0, &cw, 2);
        const uint16_t host_cw = 0x037f;
        memcpy(d.b + 6, &host_cw, 2);
        x87::F80 a = rnd.value(), b = rnd.value();
        if (rnd.below(8) == 0) b = a;
        a.to_bytes(d.b + 0x10);
        b.to_bytes(d.b + 0x20);
        if (mem_size) rnd.memory(d.b + 0x30, mem_size, mem_int);
        X87Data h = d, e = d;
        rig.native.run(code, h.b);
        rig.emulate(code, insns, e);
        if (!flags) h.b[8] = e.b[8] = 0;
        if (memcmp(h.b, e.b, sizeof(h.b)) != 0) {
            if (bad++ == 0 && first_failure) {
                *first_failure = "cw=" + hex_bytes(d.b, 2) + " a=" + hex_bytes(d.b + 0x10, 10) +
                                 " b=" + hex_bytes(d.b + 0x20, 10) + " m=" + hex_bytes(d.b + 0x30, 10) +
                                 "\n host: sw=" + hex_bytes(h.b + 2, 2) + "/" + hex_bytes(h.b + 4, 2) + "/" + hex_bytes(h.b + 10, 2) +
                                 " fl=" + hex_bytes(h.b + 8, 1) + " r0=" + hex_bytes(h.b + 0x40, 10) +
                                 " r1=" + hex_bytes(h.b + 0x50, 10) + " m=" + hex_bytes(h.b + 0x30, 10) +
                                 "\n emu:  sw=" + hex_bytes(e.b + 2, 2) + "/" + hex_bytes(e.b + 4, 2) + "/" + hex_bytes(e.b + 10, 2) +
                                 " fl=" + hex_bytes(e.b + 8, 1) + " r0=" + hex_bytes(e.b + 0x40, 10) +
                                 " r1=" + hex_bytes(e.b + 0x50, 10) + " m=" + hex_bytes(e.b + 0x30, 10);
            }
        }
    }
    return bad;
}

}  // namespace nomad86::test
