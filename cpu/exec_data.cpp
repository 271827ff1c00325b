// Data movement, the stack, CMOVcc/SETcc, flag instructions and other small
// instructions of the integer set: MOV (GPR, memory, immediate, moffs,
// segment registers), MOVZX, MOVSX, XCHG, XADD, CMPXCHG, CMPXCHG8B, BSWAP,
// LEA, CBW/CWDE, CWD/CDQ, LAHF/SAHF, XLAT, PUSH/POP (GPR, memory,
// immediate, segment registers), PUSHA/POPA, PUSHF/POPF, CMOVcc, SETcc,
// CLC/STC/CMC/CLD/STD, NOP, ENTER/LEAVE, BOUND, LDS/LES/LSS/LFS/LGS, SALC,
// WAIT.
//
// Every access that can fault happens before any register is committed.
#include "cpu/alu_flags.h"
#include "cpu/cpu.h"
#include "cpu/handlers.h"
#include "cpu/x87_state.h"

namespace nomad86 {

namespace {

using alu::size_mask;

uint64_t sign_extend(uint64_t v, unsigned size) {
    const unsigned shift = 64 - 8 * size;
    return uint64_t(int64_t(v << shift) >> shift);
}

// ---------------------------------------------------------------- MOV family

void exec_mov(Cpu& cpu, const DecodedInsn& insn) {
    // (MOV to/from CRn/DRn never arrives here: the decoder routes it to
    // exec_mov_control_debug.)
    const Operand& dst = insn.ops[0];
    const Operand& src = insn.ops[1];
    if (dst.kind == OpKind::kReg && dst.reg_class == RegClass::kSeg) {
        if (dst.reg == kCs || dst.reg >= kNumSegRegs) cpu.raise(kUD);
        const uint16_t sel = uint16_t(cpu.read_operand(insn, 1));
        cpu.load_segment(SegReg(dst.reg), sel);
        if (dst.reg == kSs) {
            cpu.s.interrupt_shadow = true;
            cpu.end_block();
        }
        return;
    }
    if (src.kind == OpKind::kReg && src.reg_class == RegClass::kSeg) {
        if (src.reg >= kNumSegRegs) cpu.raise(kUD);
        // A 32-bit register destination receives the selector zero-extended;
        // a memory destination is written with 16 bits (its size is 2).
        cpu.write_operand(insn, 0, cpu.s.seg[src.reg].selector);
        return;
    }
    cpu.write_operand(insn, 0, alu::read_src(cpu, insn, 1, dst.size));
}

// The register and memory forms of MOV (exec_mov is the generic one, with
// segment registers).
struct Mov {
    template <typename Dst, typename Src>
    static void run(Cpu& cpu, const DecodedInsn& insn) {
        Dst::write(cpu, insn, 0, Src::read_as(cpu, insn, 1, Dst::size(insn, 0)));
    }
};

struct Movzx {
    template <typename Dst, typename Src>
    static void run(Cpu& cpu, const DecodedInsn& insn) { Dst::write(cpu, insn, 0, Src::read(cpu, insn, 1)); }
};

struct Movsx {
    template <typename Dst, typename Src>
    static void run(Cpu& cpu, const DecodedInsn& insn) {
        Dst::write(cpu, insn, 0, sign_extend(Src::read(cpu, insn, 1), Src::size(insn, 1)));
    }
};

void exec_xchg(Cpu& cpu, const DecodedInsn& insn) {
    const uint64_t a = cpu.read_operand(insn, 0);
    const uint64_t b = cpu.read_operand(insn, 1);
    // The memory operand (if any) is written first.
    if (insn.ops[1].kind == OpKind::kMem) {
        cpu.write_operand(insn, 1, a);
        cpu.write_operand(insn, 0, b);
    } else {
        cpu.write_operand(insn, 0, b);
        cpu.write_operand(insn, 1, a);
    }
}

void commit_arith(Cpu& cpu, uint32_t f) {
    cpu.set_status_flags(f & flags::ARITH);
}

void exec_xadd(Cpu& cpu, const DecodedInsn& insn) {
    const unsigned size = insn.ops[0].size;
    const uint64_t d = cpu.read_operand(insn, 0);
    const uint64_t s = cpu.read_operand(insn, 1);
    uint32_t f = uint32_t(cpu.s.status_flags);
    const uint64_t sum = alu::by_size(size, [&](auto t) {
        using T = decltype(t);
        return uint64_t(alu::h_add(T(d), T(s), f));
    });
    // SRC <- DEST, then DEST <- SUM (so XADD r, r with the same register
    // ends with the sum); a memory destination is written first.
    if (insn.ops[0].kind == OpKind::kMem) {
        cpu.write_operand(insn, 0, sum);
        cpu.write_operand(insn, 1, d);
    } else {
        cpu.write_operand(insn, 1, d);
        cpu.write_operand(insn, 0, sum);
    }
    commit_arith(cpu, f);
}

void exec_cmpxchg(Cpu& cpu, const DecodedInsn& insn) {
    const unsigned size = insn.ops[0].size;
    const uint64_t d = cpu.read_operand(insn, 0);
    const uint64_t s = cpu.read_operand(insn, 1);
    const uint64_t acc = cpu.reg(kRax, size);
    uint32_t f = uint32_t(cpu.s.status_flags);
    alu::by_size(size, [&](auto t) {
        using T = decltype(t);
        return uint64_t(alu::h_sub(T(acc), T(d), f));
    });
    if (acc == d) {
        cpu.write_operand(insn, 0, s);
    } else {
        // The destination is written back with its own value (locked RMW).
        if (insn.ops[0].kind == OpKind::kMem) cpu.write_operand(insn, 0, d);
        cpu.set_reg(kRax, size, d);
    }
    commit_arith(cpu, f);
}

void exec_cmpxchg8b(Cpu& cpu, const DecodedInsn& insn) {
    const Operand& op = insn.ops[0];
    if (op.kind != OpKind::kMem) cpu.raise(kUD);
    const uint64_t ea = cpu.effective_address(insn, op);
    const uint64_t amask = size_mask(insn.addrsize);
    const SegReg seg = SegReg(op.seg);
    const uint64_t lo = cpu.read_mem(seg, ea, 4);
    const uint64_t hi = cpu.read_mem(seg, (ea + 4) & amask, 4);
    const bool equal = lo == cpu.reg(kRax, 4) && hi == cpu.reg(kRdx, 4);
    const uint64_t nlo = equal ? cpu.reg(kRbx, 4) : lo;
    const uint64_t nhi = equal ? cpu.reg(kRcx, 4) : hi;
    cpu.check_write(seg, ea, 4);
    cpu.check_write(seg, (ea + 4) & amask, 4);
    cpu.write_mem(seg, ea, 4, nlo);
    cpu.write_mem(seg, (ea + 4) & amask, 4, nhi);
    if (!equal) {
        cpu.set_reg(kRax, 4, lo);
        cpu.set_reg(kRdx, 4, hi);
    }
    cpu.set_flag(flags::ZF, equal);
}

void exec_bswap(Cpu& cpu, const DecodedInsn& insn) {
    // With a 16-bit operand the result is undefined; Intel CPUs produce 0.
    if (insn.ops[0].size == 2) return cpu.write_operand(insn, 0, 0);
    cpu.write_operand(insn, 0, __builtin_bswap32(uint32_t(cpu.read_operand(insn, 0))));
}

struct Lea {
    template <typename Dst, typename>
    static void run(Cpu& cpu, const DecodedInsn& insn) {
        if (insn.ops[1].kind != OpKind::kMem) cpu.raise(kUD);
        Dst::write(cpu, insn, 0, cpu.effective_address(insn, insn.ops[1]));
    }
};

void exec_cbw(Cpu& cpu, const DecodedInsn& insn) {
    const unsigned size = insn.opsize;  // 2: CBW, 4: CWDE
    cpu.set_reg(kRax, size, sign_extend(cpu.reg(kRax, size / 2), size / 2));
}

void exec_cwd(Cpu& cpu, const DecodedInsn& insn) {
    const unsigned size = insn.opsize;  // 2: CWD, 4: CDQ
    const bool neg = cpu.reg(kRax, size) >> (8 * size - 1);
    cpu.set_reg(kRdx, size, neg ? ~uint64_t(0) : 0);
}

void exec_lahf(Cpu& cpu, const DecodedInsn&) {
    cpu.s.gpr[kRax] = (cpu.s.gpr[kRax] & ~0xff00ull) | (uint64_t(cpu.eflags() & 0xff) << 8);
}

void exec_sahf(Cpu& cpu, const DecodedInsn&) {
    const uint32_t ah = uint32_t(cpu.s.gpr[kRax] >> 8) & 0xff;
    constexpr uint32_t kMask = flags::SF | flags::ZF | flags::AF | flags::PF | flags::CF;
    cpu.merge_status_flags(ah, kMask);
}

void exec_xlat(Cpu& cpu, const DecodedInsn& insn) {
    const SegReg seg = insn.seg_override != kNoReg ? SegReg(insn.seg_override) : kDs;
    const uint64_t ea = (cpu.reg(kRbx, insn.addrsize) + cpu.reg(kRax, 1)) & size_mask(insn.addrsize);
    cpu.set_reg(kRax, 1, cpu.read_mem(seg, ea, 1));
}

// ---------------------------------------------------------------- stack

void set_sp(Cpu& cpu, uint64_t sp) {
    const uint64_t mask = cpu.stack_pointer_mask();
    cpu.s.gpr[kRsp] = (cpu.s.gpr[kRsp] & ~mask) | (sp & mask);
}

uint64_t get_sp(Cpu& cpu) { return cpu.s.gpr[kRsp] & cpu.stack_pointer_mask(); }

void exec_push(Cpu& cpu, const DecodedInsn& insn) {
    const Operand& op = insn.ops[0];
    const unsigned size = insn.opsize;
    if (op.kind == OpKind::kReg && op.reg_class == RegClass::kSeg) {
        // With a 32-bit operand size, current Intel CPUs move ESP by 4 but
        // write only the 16-bit selector.
        const uint64_t sp = (get_sp(cpu) - size) & cpu.stack_pointer_mask();
        cpu.write_mem(kSs, sp, 2, cpu.s.seg[op.reg].selector);
        set_sp(cpu, sp);
        return;
    }
    // PUSH ESP pushes the value before the decrement: the operand is read
    // first. PUSH imm8 is sign-extended to the operand size.
    const uint64_t v = alu::read_src(cpu, insn, 0, size);
    cpu.push(size, v);
}

// PUSH/POP of a 32-bit register or memory operand (exec_push and exec_pop
// are the generic ones, with segment registers and immediates).
struct Push {
    template <typename Dst, typename>
    static void run(Cpu& cpu, const DecodedInsn& insn) {
        cpu.push(4, Dst::read(cpu, insn, 0));  // PUSH ESP: the value before the decrement
    }
};

struct Pop {
    template <typename Dst, typename>
    static void run(Cpu& cpu, const DecodedInsn& insn) {
        Dst::write(cpu, insn, 0, cpu.pop(4));  // see exec_pop on ESP-based destinations
    }
};

void exec_pop(Cpu& cpu, const DecodedInsn& insn) {
    const Operand& op = insn.ops[0];
    const unsigned size = insn.opsize;
    if (op.kind == OpKind::kReg && op.reg_class == RegClass::kSeg) {
        if (op.reg == kCs) cpu.raise(kUD);
        // Reads 16 bits; a 32-bit operand size still moves ESP by 4. The
        // stack width is the one before the load (POP SS may change SS.B).
        const uint64_t mask = cpu.stack_pointer_mask();
        const uint64_t sp = get_sp(cpu);
        const uint16_t sel = uint16_t(cpu.peek(2));
        cpu.load_segment(SegReg(op.reg), sel);
        cpu.s.gpr[kRsp] = (cpu.s.gpr[kRsp] & ~mask) | ((sp + size) & mask);
        if (op.reg == kSs) {
            cpu.s.interrupt_shadow = true;
            cpu.end_block();
        }
        return;
    }
    // A memory destination addressed with ESP uses ESP after the increment
    // (write_operand computes the address now). POP ESP leaves the popped
    // value in ESP. A faulting write restores ESP (the loop does).
    const uint64_t v = cpu.pop(size);
    cpu.write_operand(insn, 0, v);
}

void exec_pusha(Cpu& cpu, const DecodedInsn& insn) {
    const unsigned size = insn.opsize;
    const uint64_t mask = cpu.stack_pointer_mask();
    const uint64_t sp = get_sp(cpu);
    uint64_t values[8];
    for (unsigned r = 0; r < 8; r++) values[r] = cpu.reg(r, size);  // ESP as before the instruction
    for (unsigned r = 0; r < 8; r++) cpu.check_write(kSs, (sp - size * (r + 1)) & mask, size);
    for (unsigned r = 0; r < 8; r++) cpu.write_mem(kSs, (sp - size * (r + 1)) & mask, size, values[r]);
    set_sp(cpu, sp - 8 * size);
}

void exec_popa(Cpu& cpu, const DecodedInsn& insn) {
    const unsigned size = insn.opsize;
    uint64_t values[8];
    for (unsigned i = 0; i < 8; i++) values[7 - i] = cpu.peek(size, i * size);  // DI first
    for (unsigned r = 0; r < 8; r++)
        if (r != kRsp) cpu.set_reg(r, size, values[r]);
    set_sp(cpu, get_sp(cpu) + 8 * size);
}

void exec_pushf(Cpu& cpu, const DecodedInsn& insn) {
    if (cpu.s.v86_mode() && cpu.s.iopl() < 3) cpu.raise(kGP, 0);
    // VM and RF are cleared in the pushed image.
    cpu.push(insn.opsize, cpu.eflags() & ~(flags::VM | flags::RF));
}

void exec_popf(Cpu& cpu, const DecodedInsn& insn) {
    const unsigned size = insn.opsize;
    if (cpu.s.v86_mode() && cpu.s.iopl() < 3) cpu.raise(kGP, 0);
    uint32_t value = uint32_t(cpu.pop(size));
    uint32_t mask = flags::ARITH | flags::TF | flags::IF | flags::DF | flags::IOPL | flags::NT;
    if (size == 4) {
        // RF is cleared; VM, VIF and VIP are unaffected.
        mask |= flags::AC | flags::ID | flags::RF;
        value &= ~flags::RF;
    }
    if (cpu.s.v86_mode()) {
        mask &= ~flags::IOPL;
    } else if (cpu.s.protected_mode()) {
        if (cpu.s.cpl > 0) mask &= ~flags::IOPL;
        if (cpu.s.cpl > cpu.s.iopl()) mask &= ~flags::IF;
    }
    cpu.set_eflags(value, mask);
}

void exec_enter(Cpu& cpu, const DecodedInsn& insn) {
    const unsigned size = insn.opsize;
    const uint64_t alloc = insn.ops[0].imm & 0xffff;
    const unsigned level = unsigned(insn.ops[1].imm) & 0x1f;
    const uint64_t mask = cpu.stack_pointer_mask();
    cpu.push(size, cpu.reg(kRbp, size));
    const uint64_t frame = get_sp(cpu);
    if (level > 0) {
        uint64_t bp = cpu.s.gpr[kRbp] & mask;
        for (unsigned i = 1; i < level; i++) {
            bp = (bp - size) & mask;
            cpu.push(size, cpu.read_mem(kSs, bp, size));
        }
        cpu.push(size, frame);
    }
    const uint64_t new_sp = (get_sp(cpu) - alloc) & mask;
    // The new top of stack must be inside the stack segment (#SS(0)).
    if (alloc) cpu.check_write(kSs, new_sp, 1);
    cpu.set_reg(kRbp, size, frame);
    set_sp(cpu, new_sp);
}

void exec_leave(Cpu& cpu, const DecodedInsn& insn) {
    const unsigned size = insn.opsize;
    const uint64_t mask = cpu.stack_pointer_mask();
    const uint64_t sp = cpu.s.gpr[kRbp] & mask;
    const uint64_t v = cpu.read_mem(kSs, sp, size);
    set_sp(cpu, sp + size);
    cpu.set_reg(kRbp, size, v);
}

// ---------------------------------------------------------------- conditions and flags

template <unsigned kCc>
struct Cmov {
    template <typename Dst, typename Src>
    static void run(Cpu& cpu, const DecodedInsn& insn) {
        // The source is read (and may fault) even when the condition is false;
        // outside 64-bit mode a false condition leaves the destination alone.
        const uint64_t v = Src::read(cpu, insn, 1);
        if (cpu.condition(kCc)) Dst::write(cpu, insn, 0, v);
    }
};

template <unsigned kCc>
struct Set {
    template <typename Dst, typename>
    static void run(Cpu& cpu, const DecodedInsn& insn) {
        Dst::write(cpu, insn, 0, cpu.condition(kCc) ? 1 : 0);
    }
};

void exec_clc(Cpu& cpu, const DecodedInsn&) { cpu.set_flag(flags::CF, false); }
void exec_stc(Cpu& cpu, const DecodedInsn&) { cpu.set_flag(flags::CF, true); }
void exec_cmc(Cpu& cpu, const DecodedInsn&) { cpu.set_flag(flags::CF, !cpu.flag(flags::CF)); }
void exec_cld(Cpu& cpu, const DecodedInsn&) { cpu.set_flag(flags::DF, false); }
void exec_std(Cpu& cpu, const DecodedInsn&) { cpu.set_flag(flags::DF, true); }
void exec_nop(Cpu&, const DecodedInsn&) {}

void exec_salc(Cpu& cpu, const DecodedInsn&) { cpu.set_reg(kRax, 1, cpu.flag(flags::CF) ? 0xff : 0); }

void exec_wait(Cpu& cpu, const DecodedInsn&) {
    if ((cpu.s.cr0 & cr0::MP) && (cpu.s.cr0 & cr0::TS)) cpu.raise(kNM);
    x87_check_pending(cpu);  // #MF (CR0.NE) or FERR for an unmasked x87 exception
}

// ---------------------------------------------------------------- BOUND, far pointers

void exec_bound(Cpu& cpu, const DecodedInsn& insn) {
    const Operand& m = insn.ops[1];
    if (m.kind != OpKind::kMem) cpu.raise(kUD);
    const unsigned size = insn.ops[0].size;
    const uint64_t ea = cpu.effective_address(insn, m);
    const int64_t lower = int64_t(sign_extend(cpu.read_mem(SegReg(m.seg), ea, size), size));
    const int64_t upper =
        int64_t(sign_extend(cpu.read_mem(SegReg(m.seg), (ea + size) & size_mask(insn.addrsize), size), size));
    const int64_t index = int64_t(sign_extend(cpu.read_operand(insn, 0), size));
    if (index < lower || index > upper) cpu.raise(kBR);
}

template <SegReg kSeg>
void exec_load_far_pointer(Cpu& cpu, const DecodedInsn& insn) {
    const Operand& m = insn.ops[1];
    if (m.kind != OpKind::kMem) cpu.raise(kUD);
    const unsigned size = insn.ops[0].size;
    const uint64_t ea = cpu.effective_address(insn, m);
    const uint64_t offset = cpu.read_mem(SegReg(m.seg), ea, size);
    const uint16_t sel = uint16_t(cpu.read_mem(SegReg(m.seg), (ea + size) & size_mask(insn.addrsize), 2));
    cpu.load_segment(kSeg, sel);
    cpu.write_operand(insn, 0, offset);
}

}  // namespace

void register_data_handlers(HandlerTable& t) {
    using F = OperandForm;
    t[ZYDIS_MNEMONIC_MOV] = exec_mov;
    register_form_instances<Mov, F::kR32R32, F::kR32Imm, F::kR32M32, F::kM32R32, F::kM32Imm, F::kR8M8, F::kM8R8,
                            F::kM8Imm>(t, ZYDIS_MNEMONIC_MOV);
    register_forms<Movzx, F::kR32M8, F::kR32M16, F::kR32R8, F::kR32R16>(t, ZYDIS_MNEMONIC_MOVZX);
    register_forms<Movsx, F::kR32M8, F::kR32M16, F::kR32R8, F::kR32R16>(t, ZYDIS_MNEMONIC_MOVSX);
    t[ZYDIS_MNEMONIC_XCHG] = exec_xchg;
    t[ZYDIS_MNEMONIC_XADD] = exec_xadd;
    t[ZYDIS_MNEMONIC_CMPXCHG] = exec_cmpxchg;
    t[ZYDIS_MNEMONIC_CMPXCHG8B] = exec_cmpxchg8b;
    t[ZYDIS_MNEMONIC_BSWAP] = exec_bswap;
    register_forms<Lea, F::kR32M32, F::kR32M8, F::kR32M16>(t, ZYDIS_MNEMONIC_LEA);
    t[ZYDIS_MNEMONIC_CBW] = exec_cbw;
    t[ZYDIS_MNEMONIC_CWDE] = exec_cbw;
    t[ZYDIS_MNEMONIC_CWD] = exec_cwd;
    t[ZYDIS_MNEMONIC_CDQ] = exec_cwd;
    t[ZYDIS_MNEMONIC_LAHF] = exec_lahf;
    t[ZYDIS_MNEMONIC_SAHF] = exec_sahf;
    t[ZYDIS_MNEMONIC_XLAT] = exec_xlat;
    t[ZYDIS_MNEMONIC_PUSH] = exec_push;
    t[ZYDIS_MNEMONIC_POP] = exec_pop;
    register_form_instances<Push, F::kR32, F::kM32>(t, ZYDIS_MNEMONIC_PUSH);
    register_form_instances<Pop, F::kR32, F::kM32>(t, ZYDIS_MNEMONIC_POP);
    t[ZYDIS_MNEMONIC_PUSHA] = exec_pusha;
    t[ZYDIS_MNEMONIC_PUSHAD] = exec_pusha;
    t[ZYDIS_MNEMONIC_POPA] = exec_popa;
    t[ZYDIS_MNEMONIC_POPAD] = exec_popa;
    t[ZYDIS_MNEMONIC_PUSHF] = exec_pushf;
    t[ZYDIS_MNEMONIC_PUSHFD] = exec_pushf;
    t[ZYDIS_MNEMONIC_POPF] = exec_popf;
    t[ZYDIS_MNEMONIC_POPFD] = exec_popf;
    t[ZYDIS_MNEMONIC_ENTER] = exec_enter;
    t[ZYDIS_MNEMONIC_LEAVE] = exec_leave;
    register_conditional<Cmov, F::kR32R32, F::kR32M32>(t, "cmov");
    register_conditional<Set, F::kR8, F::kM8>(t, "set");
    t[ZYDIS_MNEMONIC_CLC] = exec_clc;
    t[ZYDIS_MNEMONIC_STC] = exec_stc;
    t[ZYDIS_MNEMONIC_CMC] = exec_cmc;
    t[ZYDIS_MNEMONIC_CLD] = exec_cld;
    t[ZYDIS_MNEMONIC_STD] = exec_std;
    t[ZYDIS_MNEMONIC_NOP] = exec_nop;
    t[ZYDIS_MNEMONIC_PAUSE] = exec_nop;
    t[ZYDIS_MNEMONIC_SALC] = exec_salc;
    t[ZYDIS_MNEMONIC_FWAIT] = exec_wait;
    t[ZYDIS_MNEMONIC_BOUND] = exec_bound;
    t[ZYDIS_MNEMONIC_LDS] = exec_load_far_pointer<kDs>;
    t[ZYDIS_MNEMONIC_LES] = exec_load_far_pointer<kEs>;
    t[ZYDIS_MNEMONIC_LSS] = exec_load_far_pointer<kSs>;
    t[ZYDIS_MNEMONIC_LFS] = exec_load_far_pointer<kFs>;
    t[ZYDIS_MNEMONIC_LGS] = exec_load_far_pointer<kGs>;
}

}  // namespace nomad86
