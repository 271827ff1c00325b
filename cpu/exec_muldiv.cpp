// MUL, IMUL (one, two and three operands), DIV, IDIV.
// Products and flags come from the host instruction (CF/OF as the SDM
// defines them; SF/ZF/AF/PF as current hardware leaves them). DIV and IDIV
// check for #DE (zero divisor, quotient out of range, including IDIV of the
// most negative dividend by -1) in C++ first, then run the host instruction
// for its (undefined) flags, which can no longer trap.
#include "cpu/alu_flags.h"
#include "cpu/cpu.h"
#include "cpu/handlers.h"

namespace nomad86 {

namespace {

void commit_flags(Cpu& cpu, uint32_t f) {
    cpu.set_status_flags(f & flags::ARITH);
}

// MUL / IMUL r/m: AX = AL * r/m8, DX:AX = AX * r/m16, EDX:EAX = EAX * r/m32.
template <bool kSigned>
void exec_mul_acc(Cpu& cpu, const DecodedInsn& insn) {
    const unsigned size = insn.ops[0].size;
    const uint64_t src = cpu.read_operand(insn, 0);
    const uint64_t a = cpu.reg(kRax, size);
    uint32_t f = uint32_t(cpu.s.status_flags);
    alu::by_size(size, [&](auto t) {
        using T = decltype(t);
        T lo, hi;
        if constexpr (kSigned) alu::h_imul1(T(a), T(src), lo, hi, f);
        else alu::h_mul(T(a), T(src), lo, hi, f);
        if constexpr (sizeof(T) == 1) {
            cpu.set_reg(kRax, 2, uint16_t(lo | (uint16_t(hi) << 8)));
        } else {
            cpu.set_reg(kRax, sizeof(T), lo);
            cpu.set_reg(kRdx, sizeof(T), hi);
        }
        return 0;
    });
    commit_flags(cpu, f);
}

uint64_t imul2(unsigned size, uint64_t a, uint64_t b, uint32_t& f) {
    return size == 2 ? alu::h_imul2(uint16_t(a), uint16_t(b), f) : alu::h_imul2(uint32_t(a), uint32_t(b), f);
}

// IMUL r, r/m (operand accessors: cpu/operand_forms.h).
struct Imul2 {
    template <typename Dst, typename Src>
    static void run(Cpu& cpu, const DecodedInsn& insn) {
        const uint64_t a = Dst::read(cpu, insn, 0);
        const uint64_t b = Src::read(cpu, insn, 1);
        uint32_t f = uint32_t(cpu.s.status_flags);
        Dst::write(cpu, insn, 0, imul2(Dst::size(insn, 0), a, b, f));
        commit_flags(cpu, f);
    }
};

void exec_imul(Cpu& cpu, const DecodedInsn& insn) {
    if (insn.num_ops == 1) return exec_mul_acc<true>(cpu, insn);
    if (insn.num_ops == 2) return Imul2::run<operand::Any, operand::Any>(cpu, insn);
    const unsigned size = insn.ops[0].size;
    const uint64_t a = cpu.read_operand(insn, 1);
    const uint64_t b = alu::read_src(cpu, insn, 2, size);
    uint32_t f = uint32_t(cpu.s.status_flags);
    cpu.write_operand(insn, 0, imul2(size, a, b, f));
    commit_flags(cpu, f);
}

template <bool kSigned>
void exec_div(Cpu& cpu, const DecodedInsn& insn) {
    const unsigned size = insn.ops[0].size;
    const unsigned bits = 8 * size;
    const uint64_t divisor = cpu.read_operand(insn, 0);
    if (divisor == 0) cpu.raise(kDE);
    uint64_t lo, hi;
    if (size == 1) {
        lo = cpu.reg(kRax, 1);
        hi = (cpu.reg(kRax, 2) >> 8) & 0xff;
    } else {
        lo = cpu.reg(kRax, size);
        hi = cpu.reg(kRdx, size);
    }
    const uint64_t dividend = (hi << bits) | lo;  // at most 64 bits
    if constexpr (kSigned) {
        const int64_t n = bits == 32 ? int64_t(dividend) : int64_t(dividend << (64 - 2 * bits)) >> (64 - 2 * bits);
        const int64_t d = int64_t(divisor << (64 - bits)) >> (64 - bits);
        if (d == -1 && n == INT64_MIN) cpu.raise(kDE);
        const int64_t q = n / d;
        const int64_t limit = int64_t(1) << (bits - 1);
        if (q < -limit || q >= limit) cpu.raise(kDE);
    } else {
        const uint64_t q = dividend / divisor;
        if (q > alu::size_mask(size)) cpu.raise(kDE);
    }
    uint32_t f = uint32_t(cpu.s.status_flags);
    alu::by_size(size, [&](auto t) {
        using T = decltype(t);
        T q, r;
        if constexpr (kSigned) alu::h_idiv(T(lo), T(hi), T(divisor), q, r, f);
        else alu::h_div(T(lo), T(hi), T(divisor), q, r, f);
        if constexpr (sizeof(T) == 1) {
            cpu.set_reg(kRax, 2, uint16_t(q | (uint16_t(r) << 8)));
        } else {
            cpu.set_reg(kRax, sizeof(T), q);
            cpu.set_reg(kRdx, sizeof(T), r);
        }
        return 0;
    });
    commit_flags(cpu, f);
}

}  // namespace

void register_muldiv_handlers(HandlerTable& t) {
    t[ZYDIS_MNEMONIC_MUL] = exec_mul_acc<false>;
    t[ZYDIS_MNEMONIC_IMUL] = exec_imul;
    // Only the two-operand forms (IMUL r/m32 alone would look like kR32).
    register_form_instances<Imul2, OperandForm::kR32R32, OperandForm::kR32M32>(t, ZYDIS_MNEMONIC_IMUL);
    t[ZYDIS_MNEMONIC_DIV] = exec_div<false>;
    t[ZYDIS_MNEMONIC_IDIV] = exec_div<true>;
}

}  // namespace nomad86
