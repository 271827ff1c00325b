// BT, BTS, BTR, BTC, BSF, BSR.
// BTx with a register bit offset and a memory operand addresses a bit
// string: the offset is signed, and the operand-sized unit at
// EA + (offset >> log2(bits)) * (bits / 8) holds bit (offset mod bits). With
// an immediate or a register destination the offset is taken modulo the
// operand width. BSF/BSR with a zero source set ZF and leave the destination
// unchanged, as Intel CPUs do. Flags come from the host instruction.
#include "cpu/alu_flags.h"
#include "cpu/cpu.h"
#include "cpu/handlers.h"

namespace nomad86 {

namespace {

enum class BitOp { kBt, kBts, kBtr, kBtc };

template <BitOp kOp>
void exec_bt(Cpu& cpu, const DecodedInsn& insn) {
    const Operand& dst = insn.ops[0];
    const unsigned size = dst.size;
    const unsigned bits = 8 * size;
    const uint64_t offset = alu::read_src(cpu, insn, 1, size);
    uint64_t value;
    uint64_t ea = 0;
    const bool mem = dst.kind == OpKind::kMem;
    if (mem) {
        ea = cpu.effective_address(insn, dst);
        if (insn.ops[1].kind == OpKind::kReg) {
            // Signed bit offset of the operand size.
            const int64_t sbit = int64_t(offset << (64 - bits)) >> (64 - bits);
            const int64_t unit = sbit >> (bits == 16 ? 4 : 5);
            ea = (ea + uint64_t(unit * int64_t(size))) & alu::size_mask(insn.addrsize);
        }
        value = cpu.read_mem(SegReg(dst.seg), ea, size);
    } else {
        value = cpu.read_operand(insn, 0);
    }
    const uint64_t bit = offset & (bits - 1);
    uint32_t f = uint32_t(cpu.s.status_flags);
    const uint64_t r = size == 2 ? [&]() -> uint64_t {
        switch (kOp) {
        case BitOp::kBt: return alu::h_bt(uint16_t(value), uint16_t(bit), f);
        case BitOp::kBts: return alu::h_bts(uint16_t(value), uint16_t(bit), f);
        case BitOp::kBtr: return alu::h_btr(uint16_t(value), uint16_t(bit), f);
        default: return alu::h_btc(uint16_t(value), uint16_t(bit), f);
        }
    }() : [&]() -> uint64_t {
        switch (kOp) {
        case BitOp::kBt: return alu::h_bt(uint32_t(value), uint32_t(bit), f);
        case BitOp::kBts: return alu::h_bts(uint32_t(value), uint32_t(bit), f);
        case BitOp::kBtr: return alu::h_btr(uint32_t(value), uint32_t(bit), f);
        default: return alu::h_btc(uint32_t(value), uint32_t(bit), f);
        }
    }();
    if constexpr (kOp != BitOp::kBt) {
        if (mem) cpu.write_mem(SegReg(dst.seg), ea, size, r);
        else cpu.write_operand(insn, 0, r);
    }
    cpu.set_status_flags(f & flags::ARITH);
}

template <bool kReverse>
void exec_bitscan(Cpu& cpu, const DecodedInsn& insn) {
    const unsigned size = insn.ops[0].size;
    const uint64_t src = cpu.read_operand(insn, 1);
    const uint64_t d = cpu.read_operand(insn, 0);
    uint32_t f = uint32_t(cpu.s.status_flags);
    uint64_t r;
    if (size == 2) r = kReverse ? alu::h_bsr(uint16_t(d), uint16_t(src), f) : alu::h_bsf(uint16_t(d), uint16_t(src), f);
    else r = kReverse ? alu::h_bsr(uint32_t(d), uint32_t(src), f) : alu::h_bsf(uint32_t(d), uint32_t(src), f);
    if (src != 0) cpu.write_operand(insn, 0, r);
    cpu.set_status_flags(f & flags::ARITH);
}

}  // namespace

void register_bit_handlers(HandlerTable& t) {
    t[ZYDIS_MNEMONIC_BT] = exec_bt<BitOp::kBt>;
    t[ZYDIS_MNEMONIC_BTS] = exec_bt<BitOp::kBts>;
    t[ZYDIS_MNEMONIC_BTR] = exec_bt<BitOp::kBtr>;
    t[ZYDIS_MNEMONIC_BTC] = exec_bt<BitOp::kBtc>;
    t[ZYDIS_MNEMONIC_BSF] = exec_bitscan<false>;
    t[ZYDIS_MNEMONIC_BSR] = exec_bitscan<true>;
}

}  // namespace nomad86
