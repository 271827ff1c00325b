#include "cpu/operand_forms.h"

namespace nomad86 {

namespace {

bool is_gpr(const Operand& op, unsigned size) {
    return op.kind == OpKind::kReg && op.reg_class == RegClass::kGpr && op.size == size;
}
bool is_mem(const Operand& op, unsigned size) { return op.kind == OpKind::kMem && op.size == size; }
bool is_imm(const Operand& op) { return op.kind == OpKind::kImm; }

}  // namespace

OperandForm operand_form(const DecodedInsn& insn) {
    const Operand& d = insn.ops[0];
    const Operand& s = insn.ops[1];
    // Memory forms compute 32-bit addresses (operand::Mem).
    if (insn.addrsize != 4 && (d.kind == OpKind::kMem || (insn.num_ops > 1 && s.kind == OpKind::kMem)))
        return OperandForm::kGeneric;
    if (insn.num_ops == 1) {
        if (is_gpr(d, 4)) return OperandForm::kR32;
        if (is_mem(d, 4)) return OperandForm::kM32;
        if (is_gpr(d, 1)) return OperandForm::kR8;
        if (is_mem(d, 1)) return OperandForm::kM8;
        return OperandForm::kGeneric;
    }
    if (insn.num_ops != 2) return OperandForm::kGeneric;
    if (is_gpr(d, 4)) {
        if (is_gpr(s, 4)) return OperandForm::kR32R32;
        if (is_imm(s)) return OperandForm::kR32Imm;
        if (is_mem(s, 4)) return OperandForm::kR32M32;
        if (is_mem(s, 1)) return OperandForm::kR32M8;
        if (is_mem(s, 2)) return OperandForm::kR32M16;
        if (is_gpr(s, 1)) return OperandForm::kR32R8;
        if (is_gpr(s, 2)) return OperandForm::kR32R16;
        return OperandForm::kGeneric;
    }
    if (is_mem(d, 4)) {
        if (is_gpr(s, 4)) return OperandForm::kM32R32;
        if (is_imm(s)) return OperandForm::kM32Imm;
        return OperandForm::kGeneric;
    }
    if (is_gpr(d, 1) && is_mem(s, 1)) return OperandForm::kR8M8;
    if (is_mem(d, 1)) {
        if (is_gpr(s, 1)) return OperandForm::kM8R8;
        if (is_imm(s)) return OperandForm::kM8Imm;
    }
    return OperandForm::kGeneric;
}

}  // namespace nomad86
