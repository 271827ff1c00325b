// Control transfers: JMP/Jcc/JCXZ/LOOP, CALL/RET near and far (real mode,
// protected mode code segments and call gates with the stack switch), INT n,
// INT3, INTO, INT1 and IRET.
//
// Far transfers read every stack value and check every descriptor before
// they change any state, because the interpreter loop restores only RIP,
// RSP and RFLAGS when an instruction faults.
#include <cinttypes>

#include "cpu/cpu.h"
#include "cpu/handlers.h"

namespace nomad86 {


namespace {

constexpr uint64_t opmask(unsigned size) { return size == 2 ? 0xffffull : 0xffffffffull; }

bool legacy_mode(const Cpu& cpu) { return !cpu.s.protected_mode() || cpu.s.v86_mode(); }


// Sets ESP (SP for a 16-bit stack) to `value`.
void set_sp(Cpu& cpu, uint64_t value) {
    const uint64_t mask = cpu.stack_pointer_mask();
    cpu.s.gpr[kRsp] = (cpu.s.gpr[kRsp] & ~mask) | (value & mask);
}

void near_jump(Cpu& cpu, uint64_t target, unsigned opsize) {
    target &= opmask(opsize);
    if (target > cpu.s.seg[kCs].limit) cpu.raise(kGP, 0);
    cpu.s.rip = target;
}

// Loads CS from a checked descriptor with RPL = cpl and makes cpl current.
void commit_cs(Cpu& cpu, uint16_t sel, SegmentCache c, unsigned cpl) {
    cpu.write_descriptor_accessed(sel);
    c.selector = uint16_t((sel & 0xfffc) | cpl);
    c.attr |= SegmentCache::kAccessed;
    cpu.s.seg[kCs] = c;
    cpu.update_cpl(uint8_t(cpl));
    cpu.end_block();
}

[[noreturn]] void unimplemented_task_switch(Cpu& cpu, const char* what, uint16_t sel) {
    if (cpu.log().enabled(kLogUnimp))
        cpu.log().log(kLogUnimp, "unimp: %s to selector %04x (task switching) raises #GP\n", what, sel);
    cpu.raise(kGP, sel & 0xfffcu);
}

// The checks of a JMP/CALL directly to a code segment.
void check_direct_code(Cpu& cpu, uint16_t sel, const SegmentCache& c) {
    const uint32_t err = sel & 0xfffcu;
    if (c.conforming()) {
        if (c.dpl() > cpu.s.cpl) cpu.raise(kGP, err);
    } else if ((sel & 3u) > cpu.s.cpl || c.dpl() != cpu.s.cpl) {
        cpu.raise(kGP, err);
    }
    if (!c.present()) cpu.raise(kNP, err);
}

struct CallGate {
    uint16_t selector;
    uint32_t offset;
    unsigned params;
    bool is32;
};

// Checks a call gate descriptor (privilege, presence) and decodes it.
CallGate check_call_gate(Cpu& cpu, uint16_t gate_sel, uint64_t d) {
    const SegmentCache g = Cpu::cache_from_descriptor(gate_sel, d);
    const uint32_t err = gate_sel & 0xfffcu;
    if (g.dpl() < cpu.s.cpl || (gate_sel & 3u) > g.dpl()) cpu.raise(kGP, err);
    if (!g.present()) cpu.raise(kNP, err);
    CallGate cg;
    cg.is32 = g.type() == 0xc;
    cg.selector = uint16_t(d >> 16);
    cg.offset = uint32_t(d & 0xffff);
    if (cg.is32) cg.offset |= uint32_t(d >> 32) & 0xffff0000u;
    cg.params = unsigned(d >> 32) & 0x1f;
    return cg;
}

// The target code segment of a call gate: present code with DPL <= CPL.
SegmentCache gate_target(Cpu& cpu, const CallGate& cg) {
    if ((cg.selector & 0xfffc) == 0) cpu.raise(kGP, 0);
    const uint32_t err = cg.selector & 0xfffcu;
    SegmentCache c = Cpu::cache_from_descriptor(cg.selector, cpu.read_descriptor(cg.selector, kGP));
    if (!c.is_code() || c.dpl() > cpu.s.cpl) cpu.raise(kGP, err);
    if (!c.present()) cpu.raise(kNP, err);
    return c;
}

void far_jump(Cpu& cpu, uint16_t sel, uint64_t off, unsigned opsize) {
    CpuState& s = cpu.s;
    if (legacy_mode(cpu)) {
        off &= opmask(opsize);
        if (off > s.seg[kCs].limit) cpu.raise(kGP, 0);
        cpu.load_segment_real(kCs, sel);
        s.rip = off;
        cpu.end_block();
        return;
    }
    if ((sel & 0xfffc) == 0) cpu.raise(kGP, 0);
    const uint64_t d = cpu.read_descriptor(sel, kGP);
    const SegmentCache c = Cpu::cache_from_descriptor(sel, d);
    if (c.is_code()) {
        check_direct_code(cpu, sel, c);
        off &= opmask(opsize);
        if (off > c.limit) cpu.raise(kGP, 0);
        commit_cs(cpu, sel, c, s.cpl);
        s.rip = off;
        return;
    }
    if (c.is_data()) cpu.raise(kGP, sel & 0xfffcu);
    switch (c.type()) {
    case 0x4:
    case 0xc: {
        const CallGate cg = check_call_gate(cpu, sel, d);
        const SegmentCache t = gate_target(cpu, cg);
        if (t.conforming() ? t.dpl() > s.cpl : t.dpl() != s.cpl) cpu.raise(kGP, cg.selector & 0xfffcu);
        if (cg.offset > t.limit) cpu.raise(kGP, 0);
        commit_cs(cpu, cg.selector, t, s.cpl);
        s.rip = cg.offset;
        return;
    }
    case 0x1:
    case 0x5:
    case 0x9: unimplemented_task_switch(cpu, "JMP far to a TSS or task gate", sel);
    default: cpu.raise(kGP, sel & 0xfffcu);
    }
}

void far_call(Cpu& cpu, uint16_t sel, uint64_t off, unsigned opsize) {
    CpuState& s = cpu.s;
    const uint16_t old_cs = s.seg[kCs].selector;
    const uint64_t old_eip = s.rip;
    if (legacy_mode(cpu)) {
        off &= opmask(opsize);
        if (off > s.seg[kCs].limit) cpu.raise(kGP, 0);
        cpu.push(opsize, old_cs);
        cpu.push(opsize, old_eip & opmask(opsize));
        cpu.load_segment_real(kCs, sel);
        s.rip = off;
        cpu.end_block();
        return;
    }
    if ((sel & 0xfffc) == 0) cpu.raise(kGP, 0);
    const uint64_t d = cpu.read_descriptor(sel, kGP);
    const SegmentCache c = Cpu::cache_from_descriptor(sel, d);
    if (c.is_code()) {
        check_direct_code(cpu, sel, c);
        off &= opmask(opsize);
        if (off > c.limit) cpu.raise(kGP, 0);
        const uint64_t mask = cpu.stack_pointer_mask();
        cpu.check_write(kSs, (s.gpr[kRsp] - 2 * opsize) & mask, 2 * opsize);
        cpu.push(opsize, old_cs);
        cpu.push(opsize, old_eip & opmask(opsize));
        commit_cs(cpu, sel, c, s.cpl);
        s.rip = off;
        return;
    }
    if (c.is_data()) cpu.raise(kGP, sel & 0xfffcu);
    switch (c.type()) {
    case 0x4:
    case 0xc: break;
    case 0x1:
    case 0x5:
    case 0x9: unimplemented_task_switch(cpu, "CALL far to a TSS or task gate", sel);
    default: cpu.raise(kGP, sel & 0xfffcu);
    }
    const CallGate cg = check_call_gate(cpu, sel, d);
    const SegmentCache t = gate_target(cpu, cg);
    const unsigned ps = cg.is32 ? 4 : 2;
    if (!t.conforming() && t.dpl() < s.cpl) {
        // More privilege: switch to the inner stack from the TSS and copy
        // the parameters.
        const unsigned new_cpl = t.dpl();
        uint16_t ss;
        uint32_t esp;
        SegmentCache ss_cache;
        tss_inner_stack(cpu, new_cpl, 0, &ss, &esp, &ss_cache);
        const unsigned frame = (4 + cg.params) * ps;
        const uint64_t new_mask = ss_cache.big() ? 0xffffffffull : 0xffffull;
        if (!ss_cache.contains((esp - frame) & new_mask, frame)) cpu.raise(kSS, ss & 0xfffcu);
        if (cg.offset > t.limit) cpu.raise(kGP, 0);
        uint32_t params[32];
        const uint64_t old_mask = cpu.stack_pointer_mask();
        for (unsigned i = 0; i < cg.params; i++)
            params[i] = uint32_t(cpu.read_mem(kSs, (s.gpr[kRsp] + i * ps) & old_mask, ps));
        const uint16_t old_ss = s.seg[kSs].selector;
        const uint32_t old_esp = uint32_t(s.gpr[kRsp] & (ps == 4 ? 0xffffffffull : 0xffffull));
        // Commit.
        cpu.write_descriptor_accessed(ss);
        s.seg[kSs] = ss_cache;
        set_sp(cpu, esp);
        commit_cs(cpu, cg.selector, t, new_cpl);
        cpu.push(ps, old_ss);
        cpu.push(ps, old_esp);
        for (unsigned i = cg.params; i-- > 0;) cpu.push(ps, params[i]);
        cpu.push(ps, old_cs);
        cpu.push(ps, old_eip & opmask(ps));
        s.rip = cg.offset;
        return;
    }
    // Same privilege through the gate.
    const uint64_t mask = cpu.stack_pointer_mask();
    cpu.check_write(kSs, (s.gpr[kRsp] - 2 * ps) & mask, 2 * ps);
    if (cg.offset > t.limit) cpu.raise(kGP, 0);
    cpu.push(ps, old_cs);
    cpu.push(ps, old_eip & opmask(ps));
    commit_cs(cpu, cg.selector, t, s.cpl);
    s.rip = cg.offset;
}

// On a return to an outer privilege level, data segment registers the new
// CPL may not use are nulled.
void null_inaccessible_segments(Cpu& cpu) {
    for (SegReg r : {kEs, kFs, kGs, kDs}) {
        const SegmentCache& c = cpu.s.seg[r];
        if ((c.is_data() || (c.is_code() && !c.conforming())) && c.dpl() < cpu.s.cpl)
            cpu.s.seg[r] = SegmentCache{0, 0, 0, 0};
    }
}

// Checks the code segment a RET far or IRET returns to; returns its cache.
SegmentCache check_return_cs(Cpu& cpu, uint16_t sel) {
    if ((sel & 0xfffc) == 0) cpu.raise(kGP, 0);
    const uint32_t err = sel & 0xfffcu;
    SegmentCache c = Cpu::cache_from_descriptor(sel, cpu.read_descriptor(sel, kGP));
    if (!c.is_code()) cpu.raise(kGP, err);
    const unsigned rpl = sel & 3;
    if (rpl < cpu.s.cpl) cpu.raise(kGP, err);
    if (c.conforming() ? c.dpl() > rpl : c.dpl() != rpl) cpu.raise(kGP, err);
    if (!c.present()) cpu.raise(kNP, err);
    return c;
}

// Checks the SS a return to an outer level loads.
SegmentCache check_return_ss(Cpu& cpu, uint16_t ss, unsigned rpl) {
    if ((ss & 0xfffc) == 0) cpu.raise(kGP, 0);
    const uint32_t err = ss & 0xfffcu;
    SegmentCache c = Cpu::cache_from_descriptor(ss, cpu.read_descriptor(ss, kGP));
    if ((ss & 3u) != rpl || !c.writable() || c.dpl() != rpl) cpu.raise(kGP, err);
    if (!c.present()) cpu.raise(kSS, err);
    return c;
}

// Loads SS and ESP for a return to an outer level (after CS is loaded).
void commit_outer_stack(Cpu& cpu, uint16_t ss, SegmentCache c, uint64_t new_sp, unsigned opsize, uint64_t imm) {
    cpu.write_descriptor_accessed(ss);
    c.attr |= SegmentCache::kAccessed;
    cpu.s.seg[kSs] = c;
    if (opsize == 4) cpu.s.gpr[kRsp] = new_sp & 0xffffffffull;
    else cpu.s.gpr[kRsp] = (cpu.s.gpr[kRsp] & ~0xffffull) | (new_sp & 0xffff);
    set_sp(cpu, cpu.s.gpr[kRsp] + imm);
}

void far_return(Cpu& cpu, unsigned opsize, uint64_t imm) {
    CpuState& s = cpu.s;
    const uint64_t off = cpu.peek(opsize, 0);
    const uint16_t sel = uint16_t(cpu.peek(2, opsize));
    if (legacy_mode(cpu)) {
        if (off > s.seg[kCs].limit) cpu.raise(kGP, 0);
        set_sp(cpu, s.gpr[kRsp] + 2 * opsize + imm);
        cpu.load_segment_real(kCs, sel);
        s.rip = off;
        cpu.end_block();
        return;
    }
    const SegmentCache c = check_return_cs(cpu, sel);
    const unsigned rpl = sel & 3;
    if (rpl == s.cpl) {
        if (off > c.limit) cpu.raise(kGP, 0);
        set_sp(cpu, s.gpr[kRsp] + 2 * opsize + imm);
        commit_cs(cpu, sel, c, rpl);
        s.rip = off;
        return;
    }
    const uint64_t new_sp = cpu.peek(opsize, 2 * opsize + imm);
    const uint16_t ss = uint16_t(cpu.peek(2, 3 * opsize + imm));
    const SegmentCache ssc = check_return_ss(cpu, ss, rpl);
    if (off > c.limit) cpu.raise(kGP, 0);
    commit_cs(cpu, sel, c, rpl);
    commit_outer_stack(cpu, ss, ssc, new_sp, opsize, imm);
    null_inaccessible_segments(cpu);
    s.rip = off;
}

// ---------------------------------------------------------------- handlers

void read_far_pointer(Cpu& cpu, const DecodedInsn& insn, uint16_t* sel, uint64_t* off) {
    const Operand& op = insn.ops[0];
    if (op.kind == OpKind::kFarPtr) {
        *sel = op.far_selector;
        *off = op.imm;
        return;
    }
    if (op.kind != OpKind::kMem) cpu.raise(kUD);
    const uint64_t ea = cpu.effective_address(insn, op);
    *off = cpu.read_mem(SegReg(op.seg), ea, insn.opsize);
    *sel = uint16_t(cpu.read_mem(SegReg(op.seg), (ea + insn.opsize) & opmask(insn.addrsize), 2));
}

void exec_jmp(Cpu& cpu, const DecodedInsn& insn) {
    const Operand& op = insn.ops[0];
    if (op.kind == OpKind::kImm) {
        near_jump(cpu, cpu.s.rip + op.imm, insn.opsize);
    } else if (op.kind == OpKind::kFarPtr || (insn.opcode == 0xff && insn.modrm_reg == 5)) {
        uint16_t sel;
        uint64_t off;
        read_far_pointer(cpu, insn, &sel, &off);
        far_jump(cpu, sel, off, insn.opsize);
    } else {
        near_jump(cpu, cpu.read_operand(insn, 0), insn.opsize);
    }
}

void exec_call(Cpu& cpu, const DecodedInsn& insn) {
    const Operand& op = insn.ops[0];
    if (op.kind == OpKind::kFarPtr || (insn.opcode == 0xff && insn.modrm_reg == 3)) {
        uint16_t sel;
        uint64_t off;
        read_far_pointer(cpu, insn, &sel, &off);
        far_call(cpu, sel, off, insn.opsize);
        return;
    }
    const unsigned os = insn.opsize;
    uint64_t target = op.kind == OpKind::kImm ? cpu.s.rip + op.imm : cpu.read_operand(insn, 0);
    target &= opmask(os);
    if (target > cpu.s.seg[kCs].limit) cpu.raise(kGP, 0);
    cpu.push(os, cpu.s.rip & opmask(os));
    cpu.s.rip = target;
}

void exec_ret(Cpu& cpu, const DecodedInsn& insn) {
    const uint64_t imm = insn.num_ops > 0 && insn.ops[0].kind == OpKind::kImm ? (insn.ops[0].imm & 0xffff) : 0;
    const unsigned os = insn.opsize;
    if (insn.opcode == 0xca || insn.opcode == 0xcb) {
        far_return(cpu, os, imm);
        return;
    }
    const uint64_t target = cpu.peek(os, 0) & opmask(os);
    if (target > cpu.s.seg[kCs].limit) cpu.raise(kGP, 0);
    set_sp(cpu, cpu.s.gpr[kRsp] + os + imm);
    cpu.s.rip = target;
}

template <unsigned kCc>
struct Jcc {
    template <typename, typename>
    static void run(Cpu& cpu, const DecodedInsn& insn) {
        if (cpu.condition(kCc)) near_jump(cpu, cpu.s.rip + insn.ops[0].imm, insn.opsize);
    }
};

void exec_jcxz(Cpu& cpu, const DecodedInsn& insn) {
    if (cpu.reg(kRcx, insn.addrsize) == 0) near_jump(cpu, cpu.s.rip + insn.ops[0].imm, insn.opsize);
}

void exec_loop(Cpu& cpu, const DecodedInsn& insn) {
    const uint64_t count = (cpu.reg(kRcx, insn.addrsize) - 1) & opmask(insn.addrsize);
    bool taken = count != 0;
    if (insn.mnemonic == ZYDIS_MNEMONIC_LOOPE) taken = taken && cpu.flag(flags::ZF);
    if (insn.mnemonic == ZYDIS_MNEMONIC_LOOPNE) taken = taken && !cpu.flag(flags::ZF);
    if (taken) near_jump(cpu, cpu.s.rip + insn.ops[0].imm, insn.opsize);
    cpu.set_reg(kRcx, insn.addrsize, count);
}

void exec_int(Cpu& cpu, const DecodedInsn& insn) {
    if (cpu.s.v86_mode() && cpu.s.iopl() < 3) cpu.raise(kGP, 0);
    cpu.deliver_interrupt(uint8_t(insn.ops[0].imm), InterruptSource::kSoftware, false, 0);
}

void exec_int3(Cpu& cpu, const DecodedInsn&) { cpu.deliver_interrupt(kBP, InterruptSource::kSoftware, false, 0); }

void exec_into(Cpu& cpu, const DecodedInsn&) {
    if (cpu.flag(flags::OF)) cpu.deliver_interrupt(kOF, InterruptSource::kSoftware, false, 0);
}

// INT1 (ICEBP, F1): a #DB trap without the gate DPL check.
void exec_int1(Cpu& cpu, const DecodedInsn&) {
    cpu.deliver_interrupt(kDB, InterruptSource::kException, false, 0);
}

void iret_to_v86(Cpu& cpu, uint64_t off, uint32_t fl) {
    CpuState& s = cpu.s;
    const uint32_t esp = uint32_t(cpu.peek(4, 12));
    const uint16_t ss = uint16_t(cpu.peek(2, 16));
    const uint16_t es = uint16_t(cpu.peek(2, 20));
    const uint16_t ds = uint16_t(cpu.peek(2, 24));
    const uint16_t fs = uint16_t(cpu.peek(2, 28));
    const uint16_t gs = uint16_t(cpu.peek(2, 32));
    const uint16_t cs = uint16_t(cpu.peek(2, 4));
    if (off > 0xffff) cpu.raise(kGP, 0);
    cpu.set_eflags(fl, 0xffffffffu);  // VM, IOPL, VIF, VIP all from the stack at CPL 0
    cpu.load_segment_real(kCs, cs);
    cpu.load_segment_real(kSs, ss);
    cpu.load_segment_real(kEs, es);
    cpu.load_segment_real(kDs, ds);
    cpu.load_segment_real(kFs, fs);
    cpu.load_segment_real(kGs, gs);
    s.gpr[kRsp] = esp;
    s.rip = off;
    cpu.update_cpl(3);
    cpu.end_block();
}

void exec_iret(Cpu& cpu, const DecodedInsn& insn) {
    CpuState& s = cpu.s;
    const unsigned os = insn.opsize;
    if (s.protected_mode() && !s.v86_mode() && cpu.flag(flags::NT)) {
        if (cpu.log().enabled(kLogUnimp))
            cpu.log().log(kLogUnimp, "unimp: IRET with NT=1 (task return to %04x) raises #GP\n",
                          unsigned(cpu.read_linear(GuestVirt(s.tr.base), 2, true)));
        cpu.raise(kGP, 0);
    }
    if (s.v86_mode() && s.iopl() < 3) cpu.raise(kGP, 0);
    const uint64_t off = cpu.peek(os, 0);
    const uint16_t sel = uint16_t(cpu.peek(2, os));
    const uint32_t fl = uint32_t(cpu.peek(os, 2 * os));
    if (legacy_mode(cpu)) {
        if (off > s.seg[kCs].limit) cpu.raise(kGP, 0);
        uint32_t mask = os == 4 ? 0x257fd5u : 0xffffu;
        if (s.v86_mode()) mask &= ~flags::IOPL;  // V86 with IOPL 3: IOPL stays
        set_sp(cpu, s.gpr[kRsp] + 3 * os);
        cpu.load_segment_real(kCs, sel);
        s.rip = off;
        cpu.set_eflags(fl, mask);
        cpu.end_block();
        return;
    }
    if (os == 4 && (fl & flags::VM) && s.cpl == 0) {
        iret_to_v86(cpu, off, fl);
        return;
    }
    const SegmentCache c = check_return_cs(cpu, sel);
    const unsigned rpl = sel & 3;
    // The flags IRET may change, by the privilege before the return.
    uint32_t mask = flags::ARITH | flags::TF | flags::DF | flags::NT;
    if (os == 4) mask |= flags::RF | flags::AC | flags::ID;
    if (s.cpl <= s.iopl()) mask |= flags::IF;
    if (s.cpl == 0) {
        mask |= flags::IOPL;
        if (os == 4) mask |= flags::VIF | flags::VIP;
    }
    if (rpl == s.cpl) {
        if (off > c.limit) cpu.raise(kGP, 0);
        set_sp(cpu, s.gpr[kRsp] + 3 * os);
        commit_cs(cpu, sel, c, rpl);
        cpu.set_eflags(fl, mask);
        s.rip = off;
        return;
    }
    const uint64_t new_sp = cpu.peek(os, 3 * os);
    const uint16_t ss = uint16_t(cpu.peek(2, 4 * os));
    const SegmentCache ssc = check_return_ss(cpu, ss, rpl);
    if (off > c.limit) cpu.raise(kGP, 0);
    commit_cs(cpu, sel, c, rpl);
    commit_outer_stack(cpu, ss, ssc, new_sp, os, 0);
    cpu.set_eflags(fl, mask);
    null_inaccessible_segments(cpu);
    s.rip = off;
}

}  // namespace

void register_control_handlers(HandlerTable& t) {
    t[ZYDIS_MNEMONIC_JMP] = exec_jmp;
    t[ZYDIS_MNEMONIC_CALL] = exec_call;
    t[ZYDIS_MNEMONIC_RET] = exec_ret;
    register_conditional<Jcc>(t, "j");
    t[ZYDIS_MNEMONIC_JCXZ] = exec_jcxz;
    t[ZYDIS_MNEMONIC_JECXZ] = exec_jcxz;
    t[ZYDIS_MNEMONIC_LOOP] = exec_loop;
    t[ZYDIS_MNEMONIC_LOOPE] = exec_loop;
    t[ZYDIS_MNEMONIC_LOOPNE] = exec_loop;
    t[ZYDIS_MNEMONIC_INT] = exec_int;
    t[ZYDIS_MNEMONIC_INT3] = exec_int3;
    t[ZYDIS_MNEMONIC_INTO] = exec_into;
    t[ZYDIS_MNEMONIC_INT1] = exec_int1;
    t[ZYDIS_MNEMONIC_IRET] = exec_iret;
    t[ZYDIS_MNEMONIC_IRETD] = exec_iret;
}

}  // namespace nomad86
