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

#define N86_OP_FUNCTOR(Name, fn)                                                   \
    struct Name {                                                                  \
        template <typename T>                                                      \
        static T run(T d, T s, uint32_t& f) { return alu::fn(d, s, f); }           \
    };

N86_OP_FUNCTOR(Add, h_add)
N86_OP_FUNCTOR(Adc, h_adc)
N86_OP_FUNCTOR(Sub, h_sub)
N86_OP_FUNCTOR(Sbb, h_sbb)
N86_OP_FUNCTOR(And, h_and)
N86_OP_FUNCTOR(Or, h_or)
N86_OP_FUNCTOR(Xor, h_xor)

void commit_flags(Cpu& cpu, uint32_t f) {
    cpu.s.rflags = (cpu.s.rflags & ~uint64_t(flags::ARITH)) | (f & flags::ARITH);
}

template <typename Op, bool kWriteBack>
void exec_binary(Cpu& cpu, const DecodedInsn& insn) {
    const unsigned size = insn.ops[0].size;
    const uint64_t d = cpu.read_operand(insn, 0);
    const uint64_t s = alu::read_src(cpu, insn, 1, size);
    uint32_t f = uint32_t(cpu.s.rflags);
    const uint64_t r = by_size(size, [&](auto t) {
        using T = decltype(t);
        return uint64_t(Op::run(T(d), T(s), f));
    });
    if constexpr (kWriteBack) cpu.write_operand(insn, 0, r);
    commit_flags(cpu, f);
}

template <int kWhich>  // 0 INC, 1 DEC, 2 NEG
void exec_unary(Cpu& cpu, const DecodedInsn& insn) {
    const unsigned size = insn.ops[0].size;
    const uint64_t d = cpu.read_operand(insn, 0);
    uint32_t f = uint32_t(cpu.s.rflags);
    const uint64_t r = by_size(size, [&](auto t) {
        using T = decltype(t);
        if constexpr (kWhich == 0) return uint64_t(alu::h_inc(T(d), f));
        else if constexpr (kWhich == 1) return uint64_t(alu::h_dec(T(d), f));
        else return uint64_t(alu::h_neg(T(d), f));
    });
    cpu.write_operand(insn, 0, r);
    commit_flags(cpu, f);
}

void exec_not(Cpu& cpu, const DecodedInsn& insn) {
    cpu.write_operand(insn, 0, ~cpu.read_operand(insn, 0));
}

}  // namespace

void register_alu_handlers(HandlerTable& t) {
    t[ZYDIS_MNEMONIC_ADD] = exec_binary<Add, true>;
    t[ZYDIS_MNEMONIC_ADC] = exec_binary<Adc, true>;
    t[ZYDIS_MNEMONIC_SUB] = exec_binary<Sub, true>;
    t[ZYDIS_MNEMONIC_SBB] = exec_binary<Sbb, true>;
    t[ZYDIS_MNEMONIC_AND] = exec_binary<And, true>;
    t[ZYDIS_MNEMONIC_OR] = exec_binary<Or, true>;
    t[ZYDIS_MNEMONIC_XOR] = exec_binary<Xor, true>;
    t[ZYDIS_MNEMONIC_CMP] = exec_binary<Sub, false>;
    t[ZYDIS_MNEMONIC_TEST] = exec_binary<And, false>;
    t[ZYDIS_MNEMONIC_INC] = exec_unary<0>;
    t[ZYDIS_MNEMONIC_DEC] = exec_unary<1>;
    t[ZYDIS_MNEMONIC_NEG] = exec_unary<2>;
    t[ZYDIS_MNEMONIC_NOT] = exec_not;
}

}  // namespace nomad86
