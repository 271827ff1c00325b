// Result and arithmetic flags of integer instructions, computed by running
// the very same instruction on the (x86-64) host. The guest's six arithmetic
// flags are loaded into the host's EFLAGS first, so instructions that consume
// CF (ADC, SBB, RCL, RCR) or leave some flags unchanged (INC/DEC keep CF,
// rotates keep SF/ZF/AF/PF, count-0 shifts keep everything) behave exactly as
// on hardware, and flags the SDM leaves undefined come out as a current Intel
// CPU produces them. The only place with inline assembly for these groups.
//
// Shared by cpu/exec_alu.cpp, exec_shift.cpp, exec_muldiv.cpp, exec_bit.cpp,
// exec_string.cpp (CMPS/SCAS) and exec_data.cpp (CMPXCHG, XADD).
#pragma once
#include <cstdint>
#include <type_traits>

#include "cpu/cpu.h"
#include "cpu/cpu_state.h"
#include "cpu/insn.h"

#if !defined(__x86_64__)
#error "cpu/alu_flags.h computes flags with x86-64 host instructions"
#endif

namespace nomad86::alu {

constexpr uint64_t size_mask(unsigned size) { return size >= 8 ? ~uint64_t(0) : (uint64_t(1) << (8 * size)) - 1; }

inline bool parity8(uint64_t v) { return !__builtin_parity(unsigned(v & 0xff)); }

// Guest arithmetic flags in, host arithmetic flags out, through RAX as
// scratch (the operands never live there: it is an early-clobbered output).
// POPF and PUSHF are microcoded and slow (POPF cost about 15 cycles, as much
// as the rest of an interpreted IMUL), so the flags go in with SAHF (SF ZF
// AF PF CF from AH) after an ADD that sets OF to the guest's, and come out
// with LAHF and SETO. Instructions whose result flags do not depend on the
// incoming ones load nothing (N86_NO_FLAGS_IN), ADC/SBB only CF (N86_CF_IN).
#define N86_FLAGS_IN                                                                                      \
    "movl %k[fi], %%eax\n\tshll $20, %%eax\n\taddl %%eax, %%eax\n\t" /* OF = bit 11 */                 \
    "movl %k[fi], %%eax\n\tmovb %%al, %%ah\n\tsahf\n\t"
#define N86_NO_FLAGS_IN ""
#define N86_CF_IN "btl $0, %k[fi]\n\t"
#define N86_FLAGS_OUT "\n\tlahf\n\tseto %%al"

// The arithmetic flags in N86_FLAGS_OUT's AX.
inline uint32_t flags_from_ax(uint64_t ax) {
    return (uint32_t(ax >> 8) & (flags::ARITH & 0xff)) | (uint32_t(ax & 1) << 11);
}

// The widening multiply and the divide hold RAX themselves: they load and
// store the flags through the stack, stepping over the red zone first
// since the compiler may keep data there (LEA leaves the flags alone).
#define N86_POPF_IN "lea -128(%%rsp), %%rsp\n\tpushq %[fi]\n\tpopfq\n\t"
#define N86_PUSHF_OUT "\n\tpushfq\n\tpopq %[fo]\n\tlea 128(%%rsp), %%rsp"

// Two-operand instruction `dst op= src` (ADD, ADC, SUB, SBB, AND, OR, XOR,
// CMP, TEST, BT*, BSF, BSR, IMUL r,r/m ...). T is uint8_t/16/32.
#define N86_DEFINE_OP2_IN(name, text, flags_in)                                                           \
    template <typename T>                                                                                 \
    inline T name(T d, T src, uint32_t& f) {                                                              \
        uint64_t ax;                                                                                      \
        asm(flags_in text " %[s], %[d]" N86_FLAGS_OUT                                                     \
            : [d] "+r"(d), "=&a"(ax)                                                                      \
            : [s] "r"(src), [fi] "r"(uint64_t(f & flags::ARITH))                                          \
            : "cc");                                                                                      \
        f = (f & ~flags::ARITH) | flags_from_ax(ax);                                                      \
        return d;                                                                                         \
    }

#define N86_DEFINE_OP2(name, text) N86_DEFINE_OP2_IN(name, text, N86_FLAGS_IN)

// All six flags are outputs only (AND/OR/XOR leave AF undefined; Intel
// clears it whatever it was).
N86_DEFINE_OP2_IN(h_add, "add", N86_NO_FLAGS_IN)
N86_DEFINE_OP2_IN(h_sub, "sub", N86_NO_FLAGS_IN)
N86_DEFINE_OP2_IN(h_and, "and", N86_NO_FLAGS_IN)
N86_DEFINE_OP2_IN(h_or, "or", N86_NO_FLAGS_IN)
N86_DEFINE_OP2_IN(h_xor, "xor", N86_NO_FLAGS_IN)
// CF is the only input.
N86_DEFINE_OP2_IN(h_adc, "adc", N86_CF_IN)
N86_DEFINE_OP2_IN(h_sbb, "sbb", N86_CF_IN)
N86_DEFINE_OP2(h_bsf, "bsf")
N86_DEFINE_OP2(h_bsr, "bsr")
N86_DEFINE_OP2(h_bt, "bt")
N86_DEFINE_OP2(h_bts, "bts")
N86_DEFINE_OP2(h_btr, "btr")
N86_DEFINE_OP2(h_btc, "btc")

// One-operand instruction (INC, DEC, NEG).
// `kept` are the guest flags the instruction leaves alone (INC/DEC keep CF):
// they are merged back in C++ instead of being loaded into the host.
#define N86_DEFINE_OP1(name, text, kept)                                                                  \
    template <typename T>                                                                                 \
    inline T name(T d, uint32_t& f) {                                                                     \
        uint64_t ax;                                                                                      \
        asm(N86_NO_FLAGS_IN text " %[d]" N86_FLAGS_OUT                                                    \
            : [d] "+r"(d), "=&a"(ax)                                                                      \
            :                                                                                             \
            : "cc");                                                                                      \
        constexpr uint32_t kOut = flags::ARITH & ~uint32_t(kept);                                         \
        f = (f & ~kOut) | (flags_from_ax(ax) & kOut);                                                     \
        return d;                                                                                         \
    }

N86_DEFINE_OP1(h_inc, "inc", flags::CF)
N86_DEFINE_OP1(h_dec, "dec", flags::CF)
N86_DEFINE_OP1(h_neg, "neg", 0)

// Shifts and rotates by CL (count as given; the host masks it to 5 bits
// for 8/16/32-bit operands exactly as the guest does).
#define N86_DEFINE_SHIFT(name, text)                                                                      \
    template <typename T>                                                                                 \
    inline T name(T d, uint8_t count, uint32_t& f) {                                                      \
        uint64_t ax;                                                                                      \
        asm(N86_FLAGS_IN text " %%cl, %[d]" N86_FLAGS_OUT                                                 \
            : [d] "+r"(d), "=&a"(ax)                                                                      \
            : "c"(count), [fi] "r"(uint64_t(f & flags::ARITH))                                            \
            : "cc");                                                                                      \
        f = (f & ~flags::ARITH) | flags_from_ax(ax);                                                      \
        return d;                                                                                         \
    }

N86_DEFINE_SHIFT(h_shl, "shl")
N86_DEFINE_SHIFT(h_shr, "shr")
N86_DEFINE_SHIFT(h_sar, "sar")
N86_DEFINE_SHIFT(h_rol, "rol")
N86_DEFINE_SHIFT(h_ror, "ror")
N86_DEFINE_SHIFT(h_rcl, "rcl")
N86_DEFINE_SHIFT(h_rcr, "rcr")

// Double shifts (16/32-bit only).
#define N86_DEFINE_DSHIFT(name, text)                                                                     \
    template <typename T>                                                                                 \
    inline T name(T d, T src, uint8_t count, uint32_t& f) {                                               \
        static_assert(sizeof(T) >= 2);                                                                    \
        uint64_t ax;                                                                                      \
        asm(N86_FLAGS_IN text " %%cl, %[s], %[d]" N86_FLAGS_OUT                                           \
            : [d] "+r"(d), "=&a"(ax)                                                                      \
            : [s] "r"(src), "c"(count), [fi] "r"(uint64_t(f & flags::ARITH))                              \
            : "cc");                                                                                      \
        f = (f & ~flags::ARITH) | flags_from_ax(ax);                                                      \
        return d;                                                                                         \
    }

N86_DEFINE_DSHIFT(h_shld, "shld")
N86_DEFINE_DSHIFT(h_shrd, "shrd")

// Widening multiply of the accumulator: lo:hi = a * src (MUL / IMUL one
// operand). For 8-bit operands the 16-bit product is in lo.
#define N86_DEFINE_MUL(name, text)                                                                        \
    template <typename T>                                                                                 \
    inline void name(T a, T src, T& lo, T& hi, uint32_t& f) {                                             \
        uint64_t fo;                                                                                      \
        if constexpr (sizeof(T) == 1) {                                                                   \
            uint16_t ax = a;                                                                              \
            asm(N86_POPF_IN text " %[s]" N86_PUSHF_OUT                                                   \
                : "+a"(ax), [fo] "=&r"(fo)                                                                \
                : [s] "q"(src), [fi] "r"(uint64_t(f & flags::ARITH))                                      \
                : "cc", "memory");                                                                        \
            lo = T(ax);                                                                                   \
            hi = T(ax >> 8);                                                                              \
        } else {                                                                                          \
            T l = a, h;                                                                                   \
            asm(N86_POPF_IN text " %[s]" N86_PUSHF_OUT                                                   \
                : "+a"(l), "=d"(h), [fo] "=&r"(fo)                                                        \
                : [s] "r"(src), [fi] "r"(uint64_t(f & flags::ARITH))                                      \
                : "cc", "memory");                                                                        \
            lo = l;                                                                                       \
            hi = h;                                                                                       \
        }                                                                                                 \
        f = (f & ~flags::ARITH) | (uint32_t(fo) & flags::ARITH);                                          \
    }

N86_DEFINE_MUL(h_mul, "mul")
N86_DEFINE_MUL(h_imul1, "imul")

// Division of hi:lo by src. The caller has checked for #DE (zero divisor,
// quotient overflow): the host instruction cannot trap here.
#define N86_DEFINE_DIV(name, text)                                                                        \
    template <typename T>                                                                                 \
    inline void name(T lo, T hi, T src, T& quot, T& rem, uint32_t& f) {                                   \
        uint64_t fo;                                                                                      \
        if constexpr (sizeof(T) == 1) {                                                                   \
            uint16_t ax = uint16_t(lo | (uint16_t(hi) << 8));                                             \
            asm(N86_POPF_IN text " %[s]" N86_PUSHF_OUT                                                   \
                : "+a"(ax), [fo] "=&r"(fo)                                                                \
                : [s] "q"(src), [fi] "r"(uint64_t(f & flags::ARITH))                                      \
                : "cc", "memory");                                                                        \
            quot = T(ax);                                                                                 \
            rem = T(ax >> 8);                                                                             \
        } else {                                                                                          \
            T l = lo, h = hi;                                                                             \
            asm(N86_POPF_IN text " %[s]" N86_PUSHF_OUT                                                   \
                : "+a"(l), "+d"(h), [fo] "=&r"(fo)                                                        \
                : [s] "r"(src), [fi] "r"(uint64_t(f & flags::ARITH))                                      \
                : "cc", "memory");                                                                        \
            quot = l;                                                                                     \
            rem = h;                                                                                      \
        }                                                                                                 \
        f = (f & ~flags::ARITH) | (uint32_t(fo) & flags::ARITH);                                          \
    }

N86_DEFINE_DIV(h_div, "div")
N86_DEFINE_DIV(h_idiv, "idiv")

// Two- and three-operand IMUL (16/32-bit only): d = d * src, truncated.
N86_DEFINE_OP2(h_imul2, "imul")

// Dispatches a host operation on the operand size (1, 2, 4 bytes).
// `fn` is a generic lambda taking a type tag: [&](auto t) { using T = decltype(t); ... }.
template <typename Fn>
inline auto by_size(unsigned size, Fn&& fn) {
    switch (size) {
    case 1: return fn(uint8_t{});
    case 2: return fn(uint16_t{});
    default: return fn(uint32_t{});
    }
}

// Reads operand i; immediates are taken as the encoding extended them and
// truncated to `size` (read_operand would truncate a sign-extended imm8 to
// its one encoded byte).
inline uint64_t read_src(Cpu& cpu, const DecodedInsn& insn, unsigned i, unsigned size) {
    const Operand& op = insn.ops[i];
    if (op.kind == OpKind::kImm) return op.imm & size_mask(size);
    return cpu.read_operand(insn, i);
}

}  // namespace nomad86::alu
