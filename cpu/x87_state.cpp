#include "cpu/x87_state.h"

#include <cstring>

#include "cpu/cpu.h"

namespace nomad86 {

void x87_check_pending(Cpu& cpu) {
    if (!(cpu.s.fpu.fsw & x87::kES)) return;
    if (cpu.s.cr0 & cr0::NE) cpu.raise(kMF);
    // MS-DOS compatible reporting: FERR# goes to the chipset, which raises
    // IRQ 13 and (after the handler's write to port 0xF0) IGNNE#; the
    // instruction goes on ignoring the error, as with IGNNE# asserted.
    cpu.ferr_line.raise();
}

bool Cpu::x87_direct_for_jit(const DecodedInsn& insn, uint8_t* operand, uint64_t eip) {
    // begin()'s checks, made here so that the handler cannot fail them.
    if ((s.cr0 & (cr0::EM | cr0::TS)) || (s.fpu.fsw & x87::kES)) return false;
    insn_rip_ = eip;  // FIP
    x87_direct_operand_ = operand;
    insn.handler(*this, insn);
    x87_direct_operand_ = nullptr;
    return true;
}

namespace x87 {

void retag(FpuState& f, uint16_t loaded_tags) {
    for (unsigned p = 0; p < 8; p++) {
        if (((loaded_tags >> (2 * p)) & 3) == 3) set_tag(f, p, 3);
        else set_tag(f, p, tag_of(F80::from_bytes(f.st[p].data())));
    }
}

uint16_t full_tag_word(const FpuState& f) {
    uint16_t tw = 0;
    for (unsigned p = 0; p < 8; p++) {
        unsigned t = tag(f, p) == 3 ? 3 : tag_of(F80::from_bytes(f.st[p].data()));
        tw |= uint16_t(t << (2 * p));
    }
    return tw;
}

void begin(Cpu& cpu, bool waiting) {
    if (cpu.s.cr0 & (cr0::EM | cr0::TS)) cpu.raise(kNM);
    if (waiting) x87_check_pending(cpu);
}

const Operand* mem_op(const DecodedInsn& insn) {
    for (unsigned i = 0; i < insn.num_ops; i++)
        if (insn.ops[i].kind == OpKind::kMem) return &insn.ops[i];
    return nullptr;
}

unsigned sti(const DecodedInsn& insn) {
    unsigned r = 0;
    for (unsigned i = 0; i < insn.num_ops; i++)
        if (insn.ops[i].kind == OpKind::kReg && insn.ops[i].reg_class == RegClass::kFpu && insn.ops[i].reg > r)
            r = insn.ops[i].reg;
    return r;
}

void note_pointers(Cpu& cpu, const DecodedInsn& insn) {
    FpuState& f = cpu.s.fpu;
    const uint64_t rip = cpu.current_insn_rip();
    f.fip = rip;
    f.fcs = cpu.s.seg[kCs].selector;
    // FOP: the low 3 bits of the opcode and the ModRM byte, as decoded
    // (the block cache drops a block whose bytes change, so these are the
    // bytes being executed).
    f.fop = uint16_t(((insn.opcode & 7) << 8) | insn.modrm);
    if (const Operand* m = mem_op(insn)) {
        f.fdp = cpu.effective_address(insn, *m);
        f.fds = cpu.s.seg[m->seg].selector;
    }
}

void sync_ferr(Cpu& cpu) {
    if (!(cpu.s.fpu.fsw & kES)) cpu.ferr_line.lower();
}

void read_bytes(Cpu& cpu, const DecodedInsn& insn, const Operand& op, uint8_t* buf, unsigned n) {
    if (uint8_t* direct = cpu.x87_direct_operand()) {
        memcpy(buf, direct, n);
        return;
    }
    const uint64_t ea = cpu.effective_address(insn, op);
    const SegReg seg = SegReg(op.seg);
    cpu.check_read(seg, ea, n);
    unsigned i = 0;
    while (i < n) {
        const unsigned chunk = n - i >= 8 ? 8 : n - i >= 4 ? 4 : n - i >= 2 ? 2 : 1;
        uint64_t v = cpu.read_mem(seg, ea + i, chunk);
        memcpy(buf + i, &v, chunk);
        i += chunk;
    }
}

void write_bytes(Cpu& cpu, const DecodedInsn& insn, const Operand& op, const uint8_t* buf, unsigned n) {
    if (uint8_t* direct = cpu.x87_direct_operand()) {
        memcpy(direct, buf, n);
        return;
    }
    const uint64_t ea = cpu.effective_address(insn, op);
    const SegReg seg = SegReg(op.seg);
    cpu.check_write(seg, ea, n);
    unsigned i = 0;
    while (i < n) {
        const unsigned chunk = n - i >= 8 ? 8 : n - i >= 4 ? 4 : n - i >= 2 ? 2 : 1;
        uint64_t v = 0;
        memcpy(&v, buf + i, chunk);
        cpu.write_mem(seg, ea + i, chunk, v);
        i += chunk;
    }
}

bool commit(FpuState& f, uint16_t host_sw) {
    const uint16_t exc = host_sw & kExceptionMask;
    f.fsw = uint16_t((f.fsw & ~kCcMask) | (host_sw & kCcMask) | exc);
    update_es(f);
    return !(exc & ~f.fcw & (kIE | kDE | kZE));
}

bool stack_underflow(FpuState& f, uint16_t clear) {
    f.fsw = uint16_t((f.fsw & ~(kC1 | clear)) | kIE | kSF);
    update_es(f);
    return f.fcw & kIE;
}

bool stack_overflow(FpuState& f, uint16_t clear) {
    f.fsw = uint16_t((f.fsw & ~clear) | kIE | kSF | kC1);
    update_es(f);
    return f.fcw & kIE;
}

void unary_st0(Cpu& cpu, const DecodedInsn& insn, uint8_t modrm, uint16_t clear_on_fault) {
    begin(cpu, true);
    note_pointers(cpu, insn);
    FpuState& f = cpu.s.fpu;
    if (empty(f, 0)) {
        if (stack_underflow(f, clear_on_fault)) set_st(f, 0, kIndefinite);
        return;
    }
    F80 in[2] = {st(f, 0), st(f, 0)}, out[2];
    const uint16_t sw = host_exec(0xd9, modrm, in, out, nullptr, f.fcw, f.fsw);
    if (commit(f, sw)) set_st(f, 0, out[0]);
}

void binary_st0(Cpu& cpu, const DecodedInsn& insn, uint8_t modrm, uint16_t clear_on_fault) {
    begin(cpu, true);
    note_pointers(cpu, insn);
    FpuState& f = cpu.s.fpu;
    if (empty(f, 0) || empty(f, 1)) {
        if (stack_underflow(f, clear_on_fault)) set_st(f, 0, kIndefinite);
        return;
    }
    F80 in[2] = {st(f, 0), st(f, 1)}, out[2];
    const uint16_t sw = host_exec(0xd9, modrm, in, out, nullptr, f.fcw, f.fsw);
    if (commit(f, sw)) set_st(f, 0, out[0]);
}

void binary_pop(Cpu& cpu, const DecodedInsn& insn, uint8_t modrm) {
    begin(cpu, true);
    note_pointers(cpu, insn);
    FpuState& f = cpu.s.fpu;
    if (empty(f, 0) || empty(f, 1)) {
        if (stack_underflow(f)) {
            set_st(f, 1, kIndefinite);
            pop(f);
        }
        return;
    }
    F80 in[2] = {st(f, 0), st(f, 1)}, out[2];
    const uint16_t sw = host_exec(0xd9, modrm, in, out, nullptr, f.fcw, f.fsw);
    commit(f, sw);
    if (host_stack_delta(sw) == 1) {
        set_st(f, 1, out[0]);
        pop(f);
    }
}

void two_results(Cpu& cpu, const DecodedInsn& insn, uint8_t modrm, bool c2_aborts) {
    begin(cpu, true);
    note_pointers(cpu, insn);
    FpuState& f = cpu.s.fpu;
    if (empty(f, 0) || !empty(f, 7)) {
        const uint16_t clear = c2_aborts ? kC2 : 0;
        const bool masked = empty(f, 0) ? stack_underflow(f, clear) : stack_overflow(f, clear);
        if (masked) {
            push(f, kIndefinite);
            set_st(f, 1, kIndefinite);
        }
        return;
    }
    F80 in[2] = {st(f, 0), st(f, 0)}, out[2];
    const uint16_t sw = host_exec(0xd9, modrm, in, out, nullptr, f.fcw, f.fsw);
    commit(f, sw);
    if (host_stack_delta(sw) == -1) {
        set_st(f, 0, out[1]);
        push(f, out[0]);
    }
}

}  // namespace x87
}  // namespace nomad86
