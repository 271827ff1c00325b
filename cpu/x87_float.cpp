#include "cpu/x87_float.h"

#include <array>
#include <utility>

namespace nomad86::x87 {

unsigned tag_of(const F80& v) {
    if (v.is_zero()) return 1;
    if (v.exp() == 0 || v.exp() == 0x7fff || !v.integer_bit()) return 2;
    return 0;
}

namespace {

// An FNSAVE/FRSTOR image in the 32-bit protected-mode layout.
struct SaveImage {
    uint32_t fcw, fsw, ftw, fip, fcs_fop, fdp, fds;
    uint8_t st[8][10];
};
static_assert(sizeof(SaveImage) == 108);

using HostFn = uint16_t (*)(const SaveImage* img, F80* out, uint8_t* mem, uint8_t* fl);

// The host sequence: save the host control word, FRSTOR the prepared
// state, run the instruction, take the status word and the flags, then
// FNCLEX (FNSTSW and FNCLEX never wait, so an exception the guest's masks
// left pending is dropped before any waiting instruction) and mask
// everything before storing both registers; FNINIT + FLDCW give the host
// back an empty stack and its own control word.
template <unsigned Op, unsigned Modrm>
uint16_t host_op(const SaveImage* img, F80* out, uint8_t* mem, uint8_t* fl) {
    uint16_t sw, saved;
    const uint16_t all_masked = 0x037f;
    uint8_t flags;
    asm volatile(
        "fnstcw %[saved]\n\t"
        "frstor %[img]\n\t"
        ".byte %c[op], %c[modrm]\n\t"
        "fnstsw %[sw]\n\t"
        "lahf\n\t"
        "mov %%ah, %[flags]\n\t"
        "fnclex\n\t"
        "fldcw %[masked]\n\t"
        "fstpt %[out0]\n\t"
        "fstpt %[out1]\n\t"
        "fninit\n\t"
        "fldcw %[saved]\n\t"
        : [sw] "=m"(sw), [saved] "=m"(saved), [out0] "=m"(out[0]), [out1] "=m"(out[1]), [flags] "=m"(flags),
          "+a"(mem)
        : [img] "m"(*img), [masked] "m"(all_masked), [op] "i"(Op), [modrm] "i"(Modrm)
        : "memory", "cc", "st", "st(1)", "st(2)", "st(3)", "st(4)", "st(5)", "st(6)", "st(7)");
    if (fl) *fl = flags;
    return sw;
}

// Encodings the engine runs: every memory form with [rax] (mod=00, rm=000),
// every register form with ST(1) (rm=001), and the D9/DB/DE/DA/DF register
// forms without an operand.
// The same without FRSTOR (a microcoded load of the whole 108-byte image,
// the dearest part of an x87 helper) for the memory forms that use ST(0)
// and memory only: the two values pushed onto the host's empty stack (the
// ABI's; FNINIT empties it again after) make the image's R6/R7 and tags,
// with TOP counted from where it started. What FRSTOR loaded besides is the guest's C0/C2/C3, which these
// forms leave as they were: host_exec() puts them back.
template <unsigned Op, unsigned Modrm>
uint16_t host_op_light(const F80* in, F80* out, uint8_t* mem, uint16_t fcw) {
    uint16_t sw, sw_before, saved;
    const uint16_t all_masked = 0x037f;
    asm volatile(
        "fnstcw %[saved]\n\t"
        "fnclex\n\t"
        "fldcw %[fcw]\n\t"
        "fnstsw %[before]\n\t"
        "fldt %[in1]\n\t"
        "fldt %[in0]\n\t"
        ".byte %c[op], %c[modrm]\n\t"
        "fnstsw %[sw]\n\t"
        "fnclex\n\t"
        "fldcw %[masked]\n\t"
        "fstpt %[out0]\n\t"
        "fstpt %[out1]\n\t"
        "fninit\n\t"  // (a load pushed a third value, a store popped one)
        "fldcw %[saved]\n\t"
        : [sw] "=m"(sw), [before] "=m"(sw_before), [saved] "=m"(saved), [out0] "=m"(out[0]), [out1] "=m"(out[1]),
          "+a"(mem)
        : [in0] "m"(in[0]), [in1] "m"(in[1]), [fcw] "m"(fcw), [masked] "m"(all_masked), [op] "i"(Op),
          [modrm] "i"(Modrm)
        : "memory", "cc", "st", "st(1)", "st(2)", "st(3)", "st(4)", "st(5)", "st(6)", "st(7)");
    // TOP as if it had started at 8 (the image's 6 after the two pushes).
    const unsigned top = (((sw >> 11) & 7) - ((sw_before >> 11) & 7) + 8) & 7;
    return uint16_t((sw & ~0x3800u) | (top << 11));
}
using LightFn = uint16_t (*)(const F80* in, F80* out, uint8_t* mem, uint16_t fcw);

// How a light form moves the host stack when nothing unmasked aborts it:
// the integer loads push, the popping integer stores pop.
constexpr int light_stack_delta(unsigned op, unsigned modrm) {
    const unsigned reg = (modrm >> 3) & 7;
    if (op == 0xdb || op == 0xdf) return reg == 0 || reg == 5 ? 1 : reg == 3 || reg == 7 ? -1 : 0;
    return 0;
}

// host_op_light() without its FNCLEX, FLDCW and FNINIT, each of which costs
// 50-70 ns on a recent AMD host, several times the rest of the operation.
// That is exact when every exception is masked (nothing is left pending,
// the stack moves by the form's fixed delta and is emptied by as many
// stores), the host already runs the guest's control word, and no
// exception flag is set on the host that the guest's status word lacks:
// the host's flags afterwards are then the guest's old ones plus this
// operation's, which is what commit() makes of them. Returns false,
// touching nothing, when those do not hold (host_op_light() then runs, and
// its FNINIT leaves the host's flags clear again).
template <unsigned Op, unsigned Modrm>
bool host_op_quick(const F80* in, F80* out, uint8_t* mem, uint16_t fcw, uint16_t guest_fsw, uint16_t* sw_out) {
    uint16_t cw, before, sw;
    asm volatile("fnstcw %[cw]\n\tfnstsw %[before]" : [cw] "=m"(cw), [before] "=m"(before));
    if ((fcw & kExceptionMask) != kExceptionMask || cw != fcw || (before & (kES | kSF)) ||
        (before & kExceptionMask & ~guest_fsw))
        return false;
    constexpr int delta = light_stack_delta(Op, Modrm);
#define NOMAD86_X87_QUICK(stores)                                                                          \
    asm volatile("fldt %[in1]\n\tfldt %[in0]\n\t.byte %c[op], %c[modrm]\n\tfnstsw %[sw]\n\t" stores      \
                 : [sw] "=m"(sw), [out0] "=m"(out[0]), [out1] "=m"(out[1]), "+a"(mem)                   \
                 : [in0] "m"(in[0]), [in1] "m"(in[1]), [op] "i"(Op), [modrm] "i"(Modrm)                 \
                 : "memory", "cc", "st", "st(1)", "st(2)")
    if constexpr (delta > 0) NOMAD86_X87_QUICK("fstpt %[out0]\n\tfstpt %[out1]\n\tfstp %%st(0)");
    else if constexpr (delta == 0) NOMAD86_X87_QUICK("fstpt %[out0]\n\tfstpt %[out1]");
    else NOMAD86_X87_QUICK("fstpt %[out0]");
#undef NOMAD86_X87_QUICK
    if constexpr (delta < 0) out[1] = in[1];
    const unsigned top = (((sw >> 11) & 7) - ((before >> 11) & 7) + 8) & 7;
    *sw_out = uint16_t((sw & ~0x3800u) | (top << 11));
    return true;
}
using QuickFn = bool (*)(const F80* in, F80* out, uint8_t* mem, uint16_t fcw, uint16_t guest_fsw, uint16_t* sw);

// The forms host_op_light() runs: arithmetic with a memory operand (D8, DA,
// DC, DE, not the compares /2 /3 whose C0/C2/C3 are results), the integer
// loads (DB /0, DF /0, DF /5) and stores (DB /2 /3, DF /2 /3 /7).
constexpr bool light(unsigned op, unsigned modrm) {
    if ((modrm & 0xc7) != 0) return false;
    const unsigned reg = (modrm >> 3) & 7;
    switch (op) {
    case 0xd8: case 0xda: case 0xdc: case 0xde: return reg != 2 && reg != 3;
    case 0xdb: return reg == 0 || reg == 2 || reg == 3;
    case 0xdf: return reg == 0 || reg == 2 || reg == 3 || reg == 5 || reg == 7;
    default: return false;
    }
}

constexpr bool needed(unsigned op, unsigned modrm) {
    const unsigned mod = modrm >> 6, rm = modrm & 7, reg = (modrm >> 3) & 7;
    if (mod == 0) {
        if (rm != 0) return false;
        switch (op) {
        case 0xd9: return reg != 1 && reg != 4 && reg != 5 && reg != 6 && reg != 7;  // FLD/FST/FSTP m32
        case 0xdb: return reg != 1 && reg != 4 && reg != 6;                          // no FISTTP/env
        case 0xdd: return reg == 0 || reg == 2 || reg == 3;                          // FLD/FST/FSTP m64
        case 0xdf: return reg != 1;                                                  // no FISTTP
        default: return true;                                                        // D8 DA DC DE
        }
    }
    if (mod != 3) return false;
    if (op == 0xd9) return reg >= 4 && modrm != 0xe2 && modrm != 0xe3 && modrm != 0xe6 && modrm != 0xe7 &&
                           modrm != 0xef;
    if (rm != 1) return false;
    switch (op) {
    case 0xd8: return true;
    case 0xdc: return true;
    case 0xde: return true;
    case 0xdd: return reg == 4 || reg == 5;  // FUCOM/FUCOMP ST(1)
    case 0xda: return reg == 5;              // FUCOMPP
    case 0xdb: case 0xdf: return reg == 5 || reg == 6;  // FUCOMI/FCOMI(P) ST(1)
    default: return false;
    }
}

// The tables of host routines, by opcode - 0xd8 and ModRM / kStride, for
// each kind (FullOps: host_op(), LightOps: host_op_light()); a routine is
// instantiated only where its kind wants it.
struct FullOps {
    using Fn = HostFn;
    static constexpr unsigned kStride = 1;
    static constexpr bool wanted(unsigned op, unsigned modrm) { return needed(op, modrm); }
    template <unsigned Op, unsigned Modrm> static constexpr Fn fn() { return &host_op<Op, Modrm>; }
};
struct LightOps {
    using Fn = LightFn;
    static constexpr unsigned kStride = 8;  // the memory forms: ModRM = reg << 3
    static constexpr bool wanted(unsigned op, unsigned modrm) { return light(op, modrm); }
    template <unsigned Op, unsigned Modrm> static constexpr Fn fn() { return &host_op_light<Op, Modrm>; }
};
struct QuickOps {
    using Fn = QuickFn;
    static constexpr unsigned kStride = 8;
    static constexpr bool wanted(unsigned op, unsigned modrm) { return light(op, modrm); }
    template <unsigned Op, unsigned Modrm> static constexpr Fn fn() { return &host_op_quick<Op, Modrm>; }
};

template <typename Kind, unsigned Op, unsigned Index>
constexpr typename Kind::Fn table_entry() {
    if constexpr (Kind::wanted(Op, Index * Kind::kStride)) return Kind::template fn<Op, Index * Kind::kStride>();
    else return nullptr;
}

template <typename Kind, unsigned Op, size_t... I>
constexpr std::array<typename Kind::Fn, sizeof...(I)> make_row(std::index_sequence<I...>) {
    return {table_entry<Kind, Op, unsigned(I)>()...};
}

template <typename Kind>
constexpr auto make_table() {
    constexpr auto index = std::make_index_sequence<256 / Kind::kStride>{};
    return std::array{make_row<Kind, 0xd8>(index), make_row<Kind, 0xd9>(index), make_row<Kind, 0xda>(index),
                      make_row<Kind, 0xdb>(index), make_row<Kind, 0xdc>(index), make_row<Kind, 0xdd>(index),
                      make_row<Kind, 0xde>(index), make_row<Kind, 0xdf>(index)};
}

const auto kTable = make_table<FullOps>();
const auto kLightTable = make_table<LightOps>();
const auto kQuickTable = make_table<QuickOps>();

// FLD and FST/FSTP of an IEEE single (kExpBits 8) or double (11) whose
// conversion is exact, without the host FPU: a normal or zero value loads
// exactly, and an extended value a single or double holds exactly stores
// exactly, with no exception either way and C1 = 0 (no stack fault, not
// rounded up); C0, C2 and C3 keep their values as the host leaves them.
// Everything else (denormals, NaNs, infinities, rounding) goes to the host.
// These are most of the x87 instructions real programs run (loads and
// stores of doubles around the arithmetic), and FRSTOR/FNINIT on the host
// cost far more than the conversion.
template <unsigned kExpBits>
bool convert_exactly(uint8_t modrm, const F80 in[2], F80 out[2], uint8_t* mem, uint16_t guest_fsw, uint16_t* sw) {
    constexpr unsigned kBytes = kExpBits == 8 ? 4 : 8;
    constexpr unsigned kFracBits = kBytes * 8 - 1 - kExpBits;
    constexpr uint64_t kExpMax = (1u << kExpBits) - 1;
    constexpr int kBias = int(kExpMax >> 1);
    const uint16_t kept = guest_fsw & (kC0 | kC2 | kC3);
    if (modrm == 0x00) {  // FLD
        uint64_t bits = 0;
        memcpy(&bits, mem, kBytes);
        const uint64_t sign = bits >> (kBytes * 8 - 1);
        const uint64_t e = (bits >> kFracBits) & kExpMax;
        const uint64_t frac = bits & ((uint64_t(1) << kFracBits) - 1);
        F80 v;
        if (e == 0 && frac == 0) {
            v.se = uint16_t(sign << 15);
        } else if (e != 0 && e != kExpMax) {
            v.mant = (uint64_t(1) << 63) | (frac << (63 - kFracBits));
            v.se = uint16_t((sign << 15) | uint64_t(int(e) - kBias + 16383));
        } else {
            return false;
        }
        out[0] = v;
        out[1] = in[0];
        *sw = uint16_t((5u << 11) | kept);
        return true;
    }
    // FST (0x10) / FSTP (0x18)
    const F80& v = in[0];
    uint64_t bits;
    if (v.is_zero()) {
        bits = 0;
    } else {
        const int e = int(v.exp()) - 16383 + kBias;
        if (v.exp() == 0x7fff || !v.integer_bit() || e <= 0 || e >= int(kExpMax) ||
            (v.mant << (1 + kFracBits)) != 0)
            return false;
        bits = (uint64_t(e) << kFracBits) | ((v.mant << 1) >> (64 - kFracBits));
    }
    bits |= uint64_t(v.sign()) << (kBytes * 8 - 1);
    memcpy(mem, &bits, kBytes);
    const bool pop = modrm == 0x18;
    out[0] = pop ? in[1] : in[0];
    out[1] = in[1];
    *sw = uint16_t(((pop ? 7u : 6u) << 11) | kept);
    return true;
}

// The register compares (FCOM/FUCOM and their pops, FCOMI/FUCOMI(P),
// FTST) and FXAM of values that are zero or normal finite, without the host
// FPU: no exception is possible then (NaNs, infinities, denormals and
// unsupported formats go to the host), C1 = 0 (FXAM: the sign), and the
// result is exact whatever the precision and rounding control. TOP as the
// host would leave it (6 plus the pops); FCOMI and FUCOMI leave C0-C3 as
// the guest had them (hardware keeps C1 too, checked by hostdiff). `out`
// is not produced (no caller of these encodings reads it).
bool compare_exactly(uint8_t opcode, uint8_t modrm, const F80 in[2], uint16_t guest_fsw, uint16_t* sw,
                     uint8_t* eflags) {
    const bool fxam = opcode == 0xd9 && modrm == 0xe5;
    const bool ftst = opcode == 0xd9 && modrm == 0xe4;
    unsigned pops = 0;
    bool to_eflags = false;
    switch (opcode << 8 | modrm) {
    case 0xd8d1: case 0xdde1: case 0xd9e4: case 0xd9e5: break;  // FCOM, FUCOM, FTST, FXAM
    case 0xd8d9: case 0xdde9: pops = 1; break;                   // FCOMP, FUCOMP
    case 0xded9: case 0xdae9: pops = 2; break;                   // FCOMPP, FUCOMPP
    case 0xdbe9: case 0xdbf1: to_eflags = true; break;           // FUCOMI, FCOMI
    case 0xdfe9: case 0xdff1: to_eflags = true; pops = 1; break; // FUCOMIP, FCOMIP
    default: return false;
    }
    const F80 a = in[0];
    const F80 b = ftst ? F80{} : in[1];
    if (tag_of(a) > 1 || (!fxam && tag_of(b) > 1)) return false;
    const uint16_t top = uint16_t(((6 + pops) & 7) << 11);
    if (fxam) {
        *sw = uint16_t(top | (a.sign() ? kC1 : 0) | (a.is_zero() ? kC3 : kC2));
        return true;
    }
    // -1, 0, 1 as a <, =, > b; +0 and -0 are equal.
    auto magnitude_order = [](const F80& x, const F80& y) {
        if (x.exp() != y.exp()) return x.exp() < y.exp() ? -1 : 1;
        return x.mant == y.mant ? 0 : (x.mant < y.mant ? -1 : 1);
    };
    const bool a_neg = a.sign() && !a.is_zero(), b_neg = b.sign() && !b.is_zero();
    int order;
    if (a.is_zero() && b.is_zero()) order = 0;
    else if (a_neg != b_neg) order = a_neg ? -1 : 1;
    else order = a_neg ? -magnitude_order(a, b) : magnitude_order(a, b);
    if (to_eflags) {
        // LAHF's view: bit 1 always set; ZF 0x40, PF 0x04, CF 0x01.
        *eflags = uint8_t(0x02 | (order == 0 ? 0x40 : 0) | (order < 0 ? 0x01 : 0));
        *sw = uint16_t(top | (guest_fsw & kCcMask));  // (the host leaves C1 too)
        return true;
    }
    *sw = uint16_t(top | (order == 0 ? kC3 : 0) | (order < 0 ? kC0 : 0));
    return true;
}

}  // namespace

uint16_t host_exec(uint8_t opcode, uint8_t modrm, const F80 in[2], F80 out[2], uint8_t* mem, uint16_t guest_fcw,
                   uint16_t guest_fsw, uint8_t* eflags) {
    if ((opcode == 0xd9 || opcode == 0xdd) && (modrm == 0x00 || modrm == 0x10 || modrm == 0x18) && !eflags) {
        uint16_t sw;
        if (opcode == 0xd9 ? convert_exactly<8>(modrm, in, out, mem, guest_fsw, &sw)
                           : convert_exactly<11>(modrm, in, out, mem, guest_fsw, &sw))
            return sw;
    }
    if (modrm >= 0xc0) {
        uint16_t sw;
        uint8_t host_flags = 0;
        if (compare_exactly(opcode, modrm, in, guest_fsw, &sw, &host_flags)) {
            out[0] = in[0];
            out[1] = in[1];
            if (eflags) *eflags = host_flags;
            return sw;
        }
    }
    if (opcode >= 0xd8 && opcode <= 0xdf && (modrm & 0xc7) == 0 && !eflags) {
        if (LightFn light_fn = kLightTable[opcode - 0xd8][modrm >> 3]) {
            uint16_t sw;
            if (!kQuickTable[opcode - 0xd8][modrm >> 3](in, out, mem, host_fcw(guest_fcw), guest_fsw, &sw))
                sw = light_fn(in, out, mem, host_fcw(guest_fcw));
            const uint16_t kept = kC0 | kC2 | kC3;
            return uint16_t((sw & ~kept) | (guest_fsw & kept));
        }
    }
    HostFn fn = (opcode >= 0xd8 && opcode <= 0xdf) ? kTable[opcode - 0xd8][modrm] : nullptr;
    if (!fn) __builtin_trap();  // a programming error: the caller asked for an encoding we never emit
    SaveImage img{};
    img.fcw = 0xffff0000u | host_fcw(guest_fcw);
    img.fsw = 0xffff0000u | (6u << 11) | (guest_fsw & kCcMask);
    // R6 = ST(0), R7 = ST(1), the rest empty.
    img.ftw = 0xffff0000u | 0x0fffu | (tag_of(in[0]) << 12) | (tag_of(in[1]) << 14);
    in[0].to_bytes(img.st[0]);
    in[1].to_bytes(img.st[1]);
    return fn(&img, out, mem, eflags);
}

}  // namespace nomad86::x87
