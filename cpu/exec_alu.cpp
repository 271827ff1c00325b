// ADD, ADC, SUB, SBB, AND, OR, XOR, CMP, TEST, INC, DEC, NEG, NOT.
// Result and all six arithmetic flags come from the host instruction
// (cpu/alu_flags.h). The destination is written before the flags, so a
// faulting memory write leaves them untouched. An invalid LOCK prefix (on
// CMP/TEST or with a register destination) never reaches here: Zydis
// rejects the encoding and the decoder turns it into #UD.
#include "cpu/alu_flags.h"
#include "cpu/cpu.h"
#include "cpu/handlers.h"

namespace nomad86 {

namespace {

using alu::by_size;

// kReadsFlags: the operation consumes a flag (CF for ADC/SBB). The others
// neither read the old status flags nor keep any of them, so their result
// flags are stored without loading the old ones.
#define N86_OP_FUNCTOR(Name, fn, reads)                                            \
    struct Name {                                                                  \
        static constexpr bool kReadsFlags = reads;                                 \
        template <typename T>                                                      \
        static T run(T d, T s, uint32_t& f) { return alu::fn(d, s, f); }           \
    };

N86_OP_FUNCTOR(Add, h_add, false)
N86_OP_FUNCTOR(Adc, h_adc, true)
N86_OP_FUNCTOR(Sub, h_sub, false)
N86_OP_FUNCTOR(Sbb, h_sbb, true)
N86_OP_FUNCTOR(And, h_and, false)
N86_OP_FUNCTOR(Or, h_or, false)
N86_OP_FUNCTOR(Xor, h_xor, false)

// Dst op= Src (operand accessors: cpu/operand_forms.h).
template <typename Op, bool kWriteBack>
struct Binary {
    template <typename Dst, typename Src>
    static void run(Cpu& cpu, const DecodedInsn& insn) {
        const unsigned size = Dst::size(insn, 0);
        const uint64_t d = Dst::read(cpu, insn, 0);
        const uint64_t s = Src::read_as(cpu, insn, 1, size);
        uint32_t f = Op::kReadsFlags ? uint32_t(cpu.s.status_flags) : 0;
        const uint64_t r = by_size(size, [&](auto t) {
            using T = decltype(t);
            return uint64_t(Op::run(T(d), T(s), f));
        });
        if constexpr (kWriteBack) Dst::write(cpu, insn, 0, r);
        cpu.set_status_flags(f & flags::ARITH);
    }
};

template <int kWhich>  // 0 INC, 1 DEC, 2 NEG
struct Unary {
    template <typename Dst, typename>
    static void run(Cpu& cpu, const DecodedInsn& insn) {
        const unsigned size = Dst::size(insn, 0);
        const uint64_t d = Dst::read(cpu, insn, 0);
        uint32_t f = 0;
        const uint64_t r = by_size(size, [&](auto t) {
            using T = decltype(t);
            if constexpr (kWhich == 0) return uint64_t(alu::h_inc(T(d), f));
            else if constexpr (kWhich == 1) return uint64_t(alu::h_dec(T(d), f));
            else return uint64_t(alu::h_neg(T(d), f));
        });
        Dst::write(cpu, insn, 0, r);
        // INC and DEC keep CF.
        if constexpr (kWhich == 2) cpu.set_status_flags(f & flags::ARITH);
        else cpu.merge_status_flags(f, flags::ARITH & ~flags::CF);
    }
};

struct Not {
    template <typename Dst, typename>
    static void run(Cpu& cpu, const DecodedInsn& insn) {
        Dst::write(cpu, insn, 0, ~Dst::read(cpu, insn, 0));
    }
};

template <typename H>
void register_binary(HandlerTable& t, ZydisMnemonic m) {
    using F = OperandForm;
    register_forms<H, F::kR32R32, F::kR32Imm, F::kR32M32, F::kM32R32, F::kM32Imm, F::kR8M8, F::kM8R8, F::kM8Imm>(t,
                                                                                                                m);
}

}  // namespace

void register_alu_handlers(HandlerTable& t) {
    using F = OperandForm;
    register_binary<Binary<Add, true>>(t, ZYDIS_MNEMONIC_ADD);
    register_binary<Binary<Adc, true>>(t, ZYDIS_MNEMONIC_ADC);
    register_binary<Binary<Sub, true>>(t, ZYDIS_MNEMONIC_SUB);
    register_binary<Binary<Sbb, true>>(t, ZYDIS_MNEMONIC_SBB);
    register_binary<Binary<And, true>>(t, ZYDIS_MNEMONIC_AND);
    register_binary<Binary<Or, true>>(t, ZYDIS_MNEMONIC_OR);
    register_binary<Binary<Xor, true>>(t, ZYDIS_MNEMONIC_XOR);
    register_binary<Binary<Sub, false>>(t, ZYDIS_MNEMONIC_CMP);
    register_binary<Binary<And, false>>(t, ZYDIS_MNEMONIC_TEST);
    register_forms<Unary<0>, F::kR32, F::kM32>(t, ZYDIS_MNEMONIC_INC);
    register_forms<Unary<1>, F::kR32, F::kM32>(t, ZYDIS_MNEMONIC_DEC);
    register_forms<Unary<2>, F::kR32, F::kM32>(t, ZYDIS_MNEMONIC_NEG);
    register_forms<Not, F::kR32, F::kM32>(t, ZYDIS_MNEMONIC_NOT);
}

}  // namespace nomad86
