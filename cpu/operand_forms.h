// Operand forms: handlers whose operand kinds and sizes are fixed when the
// block is decoded. A generic handler asks every operand at run time what
// it is (register, memory, immediate; which size) and goes through the
// out-of-line operand functions; the hot instructions of real code (MOV,
// ALU ops, shifts, INC/DEC, MOVZX on 32-bit registers, memory and
// immediates) also come as instances of the same handler template with
// those questions answered at compile time, so the interpreter runs them
// with no dispatch on operand kind or size (Bochs' per-form handlers).
//
// Each form is the same template code as the generic handler: one
// definition of each instruction's semantics, read through one of these
// accessors. The block decoder picks the instance (operand_form()).
#pragma once
#include <array>
#include <cstdint>
#include <type_traits>

#include "cpu/cpu.h"
#include "cpu/insn.h"

namespace nomad86 {

// The forms that have instances. Sizes are the operands' own: `R32M8` is a
// 32-bit register and a byte in memory (MOVZX). "R8" is AL..BL, never AH..BH.
enum class OperandForm : uint8_t {
    kGeneric,
    kR32,      // one operand
    kM32,
    kR32R32,
    kR32Imm,
    kR32M32,
    kM32R32,
    kM32Imm,
    kR8M8,
    kM8R8,
    kM8Imm,
    kR32M8,
    kR32M16,
    kR32R8,
    kR32R16,
    kR8,
    kM8,
    kCount
};

// What the decoder calls: the form of a decoded instruction's visible
// operands (kGeneric when it has no instance, e.g. a high-byte register).
OperandForm operand_form(const DecodedInsn& insn);

namespace operand {

constexpr uint64_t mask_of(unsigned size) { return size >= 8 ? ~uint64_t(0) : (uint64_t(1) << (8 * size)) - 1; }

// Kind and size known only at run time (the generic handler).
struct Any {
    static uint64_t read(Cpu& cpu, const DecodedInsn& insn, unsigned i) { return cpu.read_operand(insn, i); }
    static void write(Cpu& cpu, const DecodedInsn& insn, unsigned i, uint64_t v) { cpu.write_operand(insn, i, v); }
    static unsigned size(const DecodedInsn& insn, unsigned i) { return insn.ops[i].size; }
    // A source operand as the destination's size sees it: an immediate as
    // its encoding extended it, truncated to that size (read_operand
    // would truncate a sign-extended imm8 to its one encoded byte).
    static uint64_t read_as(Cpu& cpu, const DecodedInsn& insn, unsigned i, unsigned dst_size) {
        if (insn.ops[i].kind == OpKind::kImm) return insn.ops[i].imm & mask_of(dst_size);
        return cpu.read_operand(insn, i);
    }
};

// A general register (for one byte: AL, CL, DL, BL).
template <unsigned kSize>
struct Gpr {
    static uint64_t read(Cpu& cpu, const DecodedInsn& insn, unsigned i) {
        return cpu.s.gpr[insn.ops[i].reg] & mask_of(kSize);
    }
    static void write(Cpu& cpu, const DecodedInsn& insn, unsigned i, uint64_t v) {
        cpu.set_reg(insn.ops[i].reg, kSize, v);
    }
    static constexpr unsigned size(const DecodedInsn&, unsigned) { return kSize; }
    static uint64_t read_as(Cpu& cpu, const DecodedInsn& insn, unsigned i, unsigned) { return read(cpu, insn, i); }
};

// Memory with 32-bit addressing (operand_form() checks the address size).
template <unsigned kSize>
struct Mem {
    static uint64_t address(Cpu& cpu, const Operand& op) {
        uint32_t ea = uint32_t(op.disp);
        if (op.base != kNoReg) ea += uint32_t(cpu.s.gpr[op.base]);
        if (op.index != kNoReg) ea += uint32_t(cpu.s.gpr[op.index]) << op.scale_shift;
        return ea;
    }
    static uint64_t read(Cpu& cpu, const DecodedInsn& insn, unsigned i) {
        const Operand& op = insn.ops[i];
        return cpu.read_mem_sized<kSize>(SegReg(op.seg), address(cpu, op));
    }
    static void write(Cpu& cpu, const DecodedInsn& insn, unsigned i, uint64_t v) {
        const Operand& op = insn.ops[i];
        cpu.write_mem_sized<kSize>(SegReg(op.seg), address(cpu, op), v);
    }
    static constexpr unsigned size(const DecodedInsn&, unsigned) { return kSize; }
    static uint64_t read_as(Cpu& cpu, const DecodedInsn& insn, unsigned i, unsigned) { return read(cpu, insn, i); }
};

// An immediate of a destination of kSize bytes.
template <unsigned kSize>
struct Imm {
    static uint64_t read(Cpu&, const DecodedInsn& insn, unsigned i) { return insn.ops[i].imm & mask_of(kSize); }
    static uint64_t read_as(Cpu& cpu, const DecodedInsn& insn, unsigned i, unsigned) { return read(cpu, insn, i); }
};

// The accessor of an operand kind and size.
enum class Kind : uint8_t { kAny, kGpr, kMem, kImm };
template <Kind kKind, unsigned kSize> struct Of { using type = Any; };
template <unsigned kSize> struct Of<Kind::kGpr, kSize> { using type = Gpr<kSize>; };
template <unsigned kSize> struct Of<Kind::kMem, kSize> { using type = Mem<kSize>; };
template <unsigned kSize> struct Of<Kind::kImm, kSize> { using type = Imm<kSize>; };

}  // namespace operand

// Each form's destination and source (kind, size), in OperandForm order.
struct FormSpec {
    operand::Kind dst;
    uint8_t dst_size;
    operand::Kind src;
    uint8_t src_size;
};
constexpr std::array<FormSpec, size_t(OperandForm::kCount)> form_specs() {
    using enum operand::Kind;
    return {{
        {kAny, 0, kAny, 0}, {kGpr, 4, kAny, 0}, {kMem, 4, kAny, 0},                         // kGeneric kR32 kM32
        {kGpr, 4, kGpr, 4}, {kGpr, 4, kImm, 4}, {kGpr, 4, kMem, 4}, {kMem, 4, kGpr, 4},     // kR32R32 .. kM32R32
        {kMem, 4, kImm, 4}, {kGpr, 1, kMem, 1}, {kMem, 1, kGpr, 1}, {kMem, 1, kImm, 1},     // kM32Imm .. kM8Imm
        {kGpr, 4, kMem, 1}, {kGpr, 4, kMem, 2}, {kGpr, 4, kGpr, 1}, {kGpr, 4, kGpr, 2},     // kR32M8 .. kR32R16
        {kGpr, 1, kAny, 0}, {kMem, 1, kAny, 0},                                             // kR8 kM8
    }};
}
inline constexpr auto kFormSpecs = form_specs();

// The accessor pair (destination, source) of a form.
template <OperandForm kForm>
struct FormOperands {
    static constexpr FormSpec kSpec = kFormSpecs[size_t(kForm)];
    using Dst = typename operand::Of<kSpec.dst, kSpec.dst_size>::type;
    using Src = typename operand::Of<kSpec.src, kSpec.src_size>::type;
};
// The table is in enum order (spot checks at both ends and in the middle).
static_assert(std::is_same_v<FormOperands<OperandForm::kGeneric>::Dst, operand::Any>);
static_assert(std::is_same_v<FormOperands<OperandForm::kM32Imm>::Src, operand::Imm<4>>);
static_assert(std::is_same_v<FormOperands<OperandForm::kR32M16>::Src, operand::Mem<2>>);
static_assert(std::is_same_v<FormOperands<OperandForm::kM8>::Dst, operand::Mem<1>>);

}  // namespace nomad86
