// 80-bit extended-precision values and the host x87 engine.
//
// The host (x86-64) has the same x87 unit as the guest, so arithmetic is
// done by the host itself: the guest's operands are loaded into host
// registers, the guest's precision and rounding control are put in the host
// control word, the very same opcode/ModRM the guest executed runs on the
// host (emitted as raw bytes, so there is no assembler operand-order
// ambiguity), and the result and the host status word are read back. The
// guest's TOP, tags and stack faults stay in C++ (cpu/x87_state.h); the host
// only ever holds two or three values of its own, and is re-initialised
// after each operation, so whatever happens there never leaks into the
// program (the host stack is empty at every function boundary by the ABI).
#pragma once
#include <cstdint>
#include <cstring>

namespace nomad86::x87 {

// One 80-bit extended value, laid out as in memory (and in FpuState::st):
// 64-bit significand with explicit integer bit, then sign and exponent.
struct alignas(16) F80 {
    uint64_t mant = 0;
    uint16_t se = 0;  // bit 15 sign, bits 0-14 biased exponent

    static F80 from_bytes(const uint8_t* p) {
        F80 f;
        memcpy(&f.mant, p, 8);
        memcpy(&f.se, p + 8, 2);
        return f;
    }
    void to_bytes(uint8_t* p) const {
        memcpy(p, &mant, 8);
        memcpy(p + 8, &se, 2);
    }
    unsigned exp() const { return se & 0x7fff; }
    bool sign() const { return se & 0x8000; }
    bool integer_bit() const { return mant >> 63; }
    bool is_zero() const { return exp() == 0 && mant == 0; }
    bool is_denormal() const { return exp() == 0 && mant != 0; }  // includes pseudo-denormals
    bool is_inf() const { return exp() == 0x7fff && mant == (1ull << 63); }
    bool is_nan() const { return exp() == 0x7fff && integer_bit() && (mant << 1) != 0; }
    bool is_snan() const { return is_nan() && !((mant >> 62) & 1); }
    // Pseudo-NaN, pseudo-infinity, unnormal: the formats the 387 and later reject.
    bool is_unsupported() const { return exp() != 0 && !integer_bit(); }
    bool operator==(const F80& o) const { return mant == o.mant && se == o.se; }
};

// The QNaN floating-point indefinite.
constexpr F80 kIndefinite{0xc000000000000000ull, 0xffff};

// Tag of a value: 0 valid, 1 zero, 2 special (NaN, infinity, denormal,
// unsupported); 3 (empty) is for the caller.
unsigned tag_of(const F80& v);

// Status word bits.
constexpr uint16_t kIE = 1u << 0, kDE = 1u << 1, kZE = 1u << 2, kOE = 1u << 3, kUE = 1u << 4, kPE = 1u << 5;
constexpr uint16_t kSF = 1u << 6, kES = 1u << 7, kC0 = 1u << 8, kC1 = 1u << 9, kC2 = 1u << 10, kC3 = 1u << 14,
                   kBusy = 1u << 15;
constexpr uint16_t kExceptionMask = 0x3f;
constexpr uint16_t kCcMask = kC0 | kC1 | kC2 | kC3;

// One host x87 operation. The host is put in the guest's state as far as
// the instruction can see it: in[0] as host ST(0), in[1] as ST(1) (host TOP
// is then 6), the guest's control word (precision, rounding and every mask:
// the host suppresses exactly what the guest's processor would) and the
// guest's condition codes (instructions that leave some unchanged leave
// them so on the host too). Then the instruction `opcode` (D8-DF) `modrm`
// runs; a memory form (mod=00) addresses `mem` (16 bytes, read and/or
// written). Afterwards out[0] is host ST(0) and out[1] host ST(1) (whatever
// the instruction left there) and *eflags the arithmetic flags (LAHF
// layout) the instruction left (FCOMI). Returns the host status word right
// after the instruction: exception flags, condition codes, and the host
// TOP, which tells whether the instruction pushed (5) or popped (7).
uint16_t host_exec(uint8_t opcode, uint8_t modrm, const F80 in[2], F80 out[2], uint8_t* mem, uint16_t guest_fcw,
                   uint16_t guest_fsw, uint8_t* eflags = nullptr);

// The host control word used for a guest control word.
constexpr uint16_t host_fcw(uint16_t guest_fcw) { return uint16_t((guest_fcw & 0x0f3f) | 0x0040); }

// How the host stack moved: -1 pushed, +1 popped, 0 neither.
constexpr int host_stack_delta(uint16_t host_sw) { return int((host_sw >> 11) & 7) - 6; }

}  // namespace nomad86::x87
