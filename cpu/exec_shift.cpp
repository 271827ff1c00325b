// SHL/SAL, SHR, SAR, ROL, ROR, RCL, RCR, SHLD, SHRD.
// The count is masked to 5 bits; a masked count of 0 changes neither the
// destination nor the flags (no write is done). Everything else -- the
// modulo-9/17 rotate through carry, OF for counts other than 1, AF, and the
// undefined result of a 16-bit SHLD/SHRD with a count above 16 -- is what
// the host's identical instruction produces (cpu/alu_flags.h).
#include "cpu/alu_flags.h"
#include "cpu/cpu.h"
#include "cpu/handlers.h"

namespace nomad86 {

namespace {

enum class ShiftOp { kShl, kShr, kSar, kRol, kRor, kRcl, kRcr };

// Dst shifted by Src (operand accessors: cpu/operand_forms.h).
template <ShiftOp kOp>
struct Shift {
    template <typename Dst, typename Src>
    static void run(Cpu& cpu, const DecodedInsn& insn) {
        const unsigned size = Dst::size(insn, 0);
        const uint8_t count = uint8_t(Src::read(cpu, insn, 1)) & 0x1f;
        const uint64_t d = Dst::read(cpu, insn, 0);
        if (count == 0) return;
        uint32_t f = uint32_t(cpu.s.status_flags);
        const uint64_t r = alu::by_size(size, [&](auto t) {
            using T = decltype(t);
            switch (kOp) {
            case ShiftOp::kShl: return uint64_t(alu::h_shl(T(d), count, f));
            case ShiftOp::kShr: return uint64_t(alu::h_shr(T(d), count, f));
            case ShiftOp::kSar: return uint64_t(alu::h_sar(T(d), count, f));
            case ShiftOp::kRol: return uint64_t(alu::h_rol(T(d), count, f));
            case ShiftOp::kRor: return uint64_t(alu::h_ror(T(d), count, f));
            case ShiftOp::kRcl: return uint64_t(alu::h_rcl(T(d), count, f));
            default: return uint64_t(alu::h_rcr(T(d), count, f));
            }
        });
        Dst::write(cpu, insn, 0, r);
        cpu.set_status_flags(f & flags::ARITH);
    }
};

template <ShiftOp kOp>
void register_shift(HandlerTable& t, ZydisMnemonic m) {
    register_forms<Shift<kOp>, OperandForm::kR32Imm, OperandForm::kM32Imm, OperandForm::kR32R8>(t, m);
}

template <bool kLeft>
void exec_double_shift(Cpu& cpu, const DecodedInsn& insn) {
    const unsigned size = insn.ops[0].size;
    const uint8_t count = uint8_t(cpu.read_operand(insn, 2)) & 0x1f;
    const uint64_t d = cpu.read_operand(insn, 0);
    const uint64_t s = cpu.read_operand(insn, 1);
    if (count == 0) return;
    uint32_t f = uint32_t(cpu.s.status_flags);
    uint64_t r;
    if (size == 2) {
        r = kLeft ? alu::h_shld(uint16_t(d), uint16_t(s), count, f) : alu::h_shrd(uint16_t(d), uint16_t(s), count, f);
    } else {
        r = kLeft ? alu::h_shld(uint32_t(d), uint32_t(s), count, f) : alu::h_shrd(uint32_t(d), uint32_t(s), count, f);
    }
    cpu.write_operand(insn, 0, r);
    cpu.set_status_flags(f & flags::ARITH);
}

}  // namespace

void register_shift_handlers(HandlerTable& t) {
    register_shift<ShiftOp::kShl>(t, ZYDIS_MNEMONIC_SHL);
    register_shift<ShiftOp::kShr>(t, ZYDIS_MNEMONIC_SHR);
    register_shift<ShiftOp::kSar>(t, ZYDIS_MNEMONIC_SAR);
    register_shift<ShiftOp::kRol>(t, ZYDIS_MNEMONIC_ROL);
    register_shift<ShiftOp::kRor>(t, ZYDIS_MNEMONIC_ROR);
    register_shift<ShiftOp::kRcl>(t, ZYDIS_MNEMONIC_RCL);
    register_shift<ShiftOp::kRcr>(t, ZYDIS_MNEMONIC_RCR);
    t[ZYDIS_MNEMONIC_SHLD] = exec_double_shift<true>;
    t[ZYDIS_MNEMONIC_SHRD] = exec_double_shift<false>;
}

}  // namespace nomad86
