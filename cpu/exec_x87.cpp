// The x87 FPU: loads and stores, arithmetic, compares, stack and control
// instructions, environment and state images (FSTENV/FLDENV, FSAVE/FRSTOR
// in their 16/32-bit real/protected layouts, FXSAVE/FXRSTOR). The numeric
// work is the host's own x87 (cpu/x87_float.h); the stack, the tags and
// the exception policy are here and in cpu/x87_state.cpp. Transcendentals
// are in cpu/x87_transcendental.cpp.
#include "cpu/cpu.h"
#include "cpu/handlers.h"
#include "cpu/x87_state.h"

namespace nomad86 {

using namespace x87;

namespace {

// ---------------------------------------------------------------- loads

// FLD m32/m64/m80, FILD m16/m32/m64, FBLD m80, and the constants (no memory
// operand: `modrm` is the D9 E8-EE byte).
void load_via_host(Cpu& cpu, const DecodedInsn& insn, uint8_t opcode, uint8_t modrm) {
    begin(cpu, true);
    FpuState& f = cpu.s.fpu;
    uint8_t buf[16] = {};
    if (const Operand* m = mem_op(insn)) read_bytes(cpu, insn, *m, buf, m->size);
    note_pointers(cpu, insn);
    if (!empty(f, 7)) {
        if (stack_overflow(f)) push(f, kIndefinite);
        return;
    }
    F80 in[2] = {}, out[2];
    const uint16_t sw = host_exec(opcode, modrm, in, out, buf, f.fcw, f.fsw);
    commit(f, sw);
    if (host_stack_delta(sw) == -1) push(f, out[0]);  // an unmasked fault left the stack alone
}

void exec_fld(Cpu& cpu, const DecodedInsn& insn) {
    if (mem_op(insn)) {
        load_via_host(cpu, insn, insn.opcode, uint8_t(insn.modrm_reg << 3));
        return;
    }
    begin(cpu, true);
    note_pointers(cpu, insn);
    FpuState& f = cpu.s.fpu;
    const unsigned i = sti(insn);
    // An empty source is an underflow even when the push would overflow
    // (the masked response pushes the indefinite over ST(7) regardless).
    if (empty(f, i)) {
        if (stack_underflow(f)) push(f, kIndefinite);
        return;
    }
    if (!empty(f, 7)) {
        if (stack_overflow(f)) push(f, kIndefinite);
        return;
    }
    const F80 v = st(f, i);
    set_cc(f, kC1, 0);
    push(f, v);
}

void exec_fild(Cpu& cpu, const DecodedInsn& insn) { load_via_host(cpu, insn, insn.opcode, uint8_t(insn.modrm_reg << 3)); }

void exec_fconst(Cpu& cpu, const DecodedInsn& insn) {
    uint8_t modrm;
    switch (insn.mnemonic) {
    case ZYDIS_MNEMONIC_FLD1: modrm = 0xe8; break;
    case ZYDIS_MNEMONIC_FLDL2T: modrm = 0xe9; break;
    case ZYDIS_MNEMONIC_FLDL2E: modrm = 0xea; break;
    case ZYDIS_MNEMONIC_FLDPI: modrm = 0xeb; break;
    case ZYDIS_MNEMONIC_FLDLG2: modrm = 0xec; break;
    case ZYDIS_MNEMONIC_FLDLN2: modrm = 0xed; break;
    default: modrm = 0xee; break;  // FLDZ
    }
    load_via_host(cpu, insn, 0xd9, modrm);
}

// ---------------------------------------------------------------- stores

// FST/FSTP m32/m64/m80, FIST/FISTP m16/m32/m64, FBSTP.
void store_via_host(Cpu& cpu, const DecodedInsn& insn, bool popping) {
    begin(cpu, true);
    FpuState& f = cpu.s.fpu;
    const Operand& m = *mem_op(insn);
    uint8_t buf[16] = {};
    F80 in[2], out[2];
    uint16_t sw;
    const bool underflow = empty(f, 0);
    if (underflow) {
        if (!(f.fcw & kIE)) {
            note_pointers(cpu, insn);
            stack_underflow(f);
            return;
        }
        in[0] = in[1] = kIndefinite;  // masked: what the format makes of the indefinite
        sw = host_exec(insn.opcode, uint8_t(insn.modrm_reg << 3), in, out, buf, f.fcw, f.fsw);
        write_bytes(cpu, insn, m, buf, m.size);
        note_pointers(cpu, insn);
        stack_underflow(f);
        if (popping) pop(f);
        return;
    }
    in[0] = in[1] = st(f, 0);
    sw = host_exec(insn.opcode, uint8_t(insn.modrm_reg << 3), in, out, buf, f.fcw, f.fsw);
    bool stored = true;
    if (sw & ~f.fcw & kExceptionMask) {
        // An unmasked exception: did the store happen? Run it again over a
        // different background; a result that was written does not depend on it.
        uint8_t again[16];
        memset(again, 0xa5, sizeof(again));
        F80 out2[2];
        host_exec(insn.opcode, uint8_t(insn.modrm_reg << 3), in, out2, again, f.fcw, f.fsw);
        stored = memcmp(buf, again, m.size) == 0;
    }
    if (stored) write_bytes(cpu, insn, m, buf, m.size);
    note_pointers(cpu, insn);
    commit(f, sw);
    if (popping && host_stack_delta(sw) == 1) pop(f);
}

void exec_fst(Cpu& cpu, const DecodedInsn& insn) {
    const bool popping = insn.mnemonic == ZYDIS_MNEMONIC_FSTP || insn.mnemonic == ZYDIS_MNEMONIC_FSTPNCE;
    if (mem_op(insn)) {
        store_via_host(cpu, insn, popping);
        return;
    }
    begin(cpu, true);
    note_pointers(cpu, insn);
    FpuState& f = cpu.s.fpu;
    const unsigned i = sti(insn);
    if (empty(f, 0)) {
        if (!stack_underflow(f)) return;
        set_st(f, i, kIndefinite);
    } else {
        set_st(f, i, st(f, 0));
        set_cc(f, kC1, 0);
    }
    if (popping) pop(f);
}

void exec_fist(Cpu& cpu, const DecodedInsn& insn) {
    store_via_host(cpu, insn, insn.mnemonic != ZYDIS_MNEMONIC_FIST);
}

// ---------------------------------------------------------------- arithmetic

// FADD/FSUB/FSUBR/FMUL/FDIV/FDIVR: D8 (ST(0) op= ST(i) or m32), DC (ST(i)
// op= ST(0) or ST(0) op= m64), DE (the popping register forms, m16int),
// DA (m32int). ModRM.reg picks the operation as on hardware, and the host
// runs the same encoding with ST(1) standing for ST(i).
void exec_arith(Cpu& cpu, const DecodedInsn& insn) {
    begin(cpu, true);
    FpuState& f = cpu.s.fpu;
    const Operand* m = mem_op(insn);
    uint8_t buf[16] = {};
    if (m) read_bytes(cpu, insn, *m, buf, m->size);
    note_pointers(cpu, insn);
    const unsigned i = m ? 0 : sti(insn);
    const unsigned dest = (m || insn.opcode == 0xd8) ? 0 : i;
    const bool popping = !m && insn.opcode == 0xde;
    if (empty(f, 0) || empty(f, i)) {
        if (stack_underflow(f)) {
            set_st(f, dest, kIndefinite);
            if (popping) pop(f);
        }
        return;
    }
    F80 in[2] = {st(f, 0), st(f, i)}, out[2];
    const uint8_t modrm = m ? uint8_t(insn.modrm_reg << 3) : uint8_t(0xc1 | (insn.modrm_reg << 3));
    const uint16_t sw = host_exec(insn.opcode, modrm, in, out, buf, f.fcw, f.fsw);
    const bool done = commit(f, sw);
    if (popping) {
        if (host_stack_delta(sw) == 1) {
            set_st(f, dest, out[0]);
            pop(f);
        }
    } else if (done) {
        set_st(f, dest, insn.opcode == 0xdc && !m ? out[1] : out[0]);
    }
}

void exec_fchs_fabs(Cpu& cpu, const DecodedInsn& insn) {
    begin(cpu, true);
    note_pointers(cpu, insn);
    FpuState& f = cpu.s.fpu;
    if (empty(f, 0)) {
        if (stack_underflow(f)) set_st(f, 0, kIndefinite);
        return;
    }
    F80 v = st(f, 0);
    if (insn.mnemonic == ZYDIS_MNEMONIC_FCHS) v.se ^= 0x8000;
    else v.se &= 0x7fff;
    set_st(f, 0, v);
    set_cc(f, kC1, 0);
}

void exec_fsqrt(Cpu& cpu, const DecodedInsn& insn) { unary_st0(cpu, insn, 0xfa, 0); }
void exec_frndint(Cpu& cpu, const DecodedInsn& insn) { unary_st0(cpu, insn, 0xfc, 0); }

// ---------------------------------------------------------------- compares

void exec_fcom(Cpu& cpu, const DecodedInsn& insn) {
    begin(cpu, true);
    FpuState& f = cpu.s.fpu;
    const Operand* m = mem_op(insn);
    uint8_t buf[16] = {};
    if (m) read_bytes(cpu, insn, *m, buf, m->size);
    note_pointers(cpu, insn);
    unsigned pops = 0;
    bool unordered = false;
    switch (insn.mnemonic) {
    case ZYDIS_MNEMONIC_FCOMP: case ZYDIS_MNEMONIC_FICOMP: pops = 1; break;
    case ZYDIS_MNEMONIC_FUCOMP: pops = 1; unordered = true; break;
    case ZYDIS_MNEMONIC_FCOMPP: pops = 2; break;
    case ZYDIS_MNEMONIC_FUCOMPP: pops = 2; unordered = true; break;
    case ZYDIS_MNEMONIC_FUCOM: unordered = true; break;
    default: break;
    }
    const bool ftst = insn.mnemonic == ZYDIS_MNEMONIC_FTST;
    const unsigned i = (m || ftst) ? 0 : pops == 2 ? 1 : sti(insn);
    if (empty(f, 0) || empty(f, i)) {
        // "Unordered" whether IE is masked or not; only the pops wait for the mask.
        const bool masked = stack_underflow(f);
        set_cc(f, kC0 | kC2 | kC3, kC0 | kC2 | kC3);
        if (masked)
            for (unsigned k = 0; k < pops; k++) pop(f);
        return;
    }
    F80 in[2] = {st(f, 0), st(f, i)}, out[2];
    // The same compare on the host, ST(1) standing for ST(i).
    uint8_t op, modrm;
    if (ftst) op = 0xd9, modrm = 0xe4;
    else if (m) op = insn.opcode, modrm = uint8_t(insn.modrm_reg << 3);
    else if (pops == 2) op = unordered ? 0xda : 0xde, modrm = unordered ? 0xe9 : 0xd9;
    else if (unordered) op = 0xdd, modrm = pops ? 0xe9 : 0xe1;
    else op = 0xd8, modrm = pops ? 0xd9 : 0xd1;
    const uint16_t sw = host_exec(op, modrm, in, out, buf, f.fcw, f.fsw);
    commit(f, sw);
    const unsigned popped = (((sw >> 11) & 7) + 2) & 7;  // host TOP was 6
    for (unsigned k = 0; k < popped && k < 2; k++) pop(f);
}

void exec_fcomi(Cpu& cpu, const DecodedInsn& insn) {
    begin(cpu, true);
    note_pointers(cpu, insn);
    FpuState& f = cpu.s.fpu;
    const bool unordered = insn.mnemonic == ZYDIS_MNEMONIC_FUCOMI || insn.mnemonic == ZYDIS_MNEMONIC_FUCOMIP;
    const bool popping = insn.mnemonic == ZYDIS_MNEMONIC_FCOMIP || insn.mnemonic == ZYDIS_MNEMONIC_FUCOMIP;
    const unsigned i = sti(insn);
    constexpr uint32_t kAll = flags::ZF | flags::PF | flags::CF | flags::OF | flags::SF | flags::AF;
    if (empty(f, 0) || empty(f, i)) {
        const bool masked = stack_underflow(f);
        cpu.set_eflags(flags::ZF | flags::PF | flags::CF, kAll);
        if (masked && popping) pop(f);
        return;
    }
    F80 in[2] = {st(f, 0), st(f, i)}, out[2];
    uint8_t host_flags = 0;
    const uint16_t sw = host_exec(popping ? 0xdf : 0xdb, unordered ? 0xe9 : 0xf1, in, out, nullptr, f.fcw, f.fsw, &host_flags);
    commit(f, sw);
    uint32_t fl = 0;
    if (host_flags & 0x40) fl |= flags::ZF;
    if (host_flags & 0x04) fl |= flags::PF;
    if (host_flags & 0x01) fl |= flags::CF;
    cpu.set_eflags(fl, kAll);
    if (host_stack_delta(sw) == 1) pop(f);
}

void exec_fxam(Cpu& cpu, const DecodedInsn& insn) {
    begin(cpu, true);
    note_pointers(cpu, insn);
    FpuState& f = cpu.s.fpu;
    const F80 v = st(f, 0);
    if (empty(f, 0)) {
        set_cc(f, kCcMask, uint16_t(kC3 | kC0 | (v.sign() ? kC1 : 0)));
        return;
    }
    F80 in[2] = {v, v}, out[2];
    const uint16_t sw = host_exec(0xd9, 0xe5, in, out, nullptr, f.fcw, f.fsw);
    set_cc(f, kCcMask, sw);
}

void exec_fcmov(Cpu& cpu, const DecodedInsn& insn) {
    begin(cpu, true);
    note_pointers(cpu, insn);
    FpuState& f = cpu.s.fpu;
    const unsigned i = sti(insn);
    if (empty(f, 0) || empty(f, i)) {
        if (stack_underflow(f)) set_st(f, 0, kIndefinite);
        return;
    }
    bool c;  // C1 is left alone
    switch (insn.mnemonic) {
    case ZYDIS_MNEMONIC_FCMOVB: c = cpu.flag(flags::CF); break;
    case ZYDIS_MNEMONIC_FCMOVE: c = cpu.flag(flags::ZF); break;
    case ZYDIS_MNEMONIC_FCMOVBE: c = cpu.flag(flags::CF) || cpu.flag(flags::ZF); break;
    case ZYDIS_MNEMONIC_FCMOVU: c = cpu.flag(flags::PF); break;
    case ZYDIS_MNEMONIC_FCMOVNB: c = !cpu.flag(flags::CF); break;
    case ZYDIS_MNEMONIC_FCMOVNE: c = !cpu.flag(flags::ZF); break;
    case ZYDIS_MNEMONIC_FCMOVNBE: c = !cpu.flag(flags::CF) && !cpu.flag(flags::ZF); break;
    default: c = !cpu.flag(flags::PF); break;  // FCMOVNU
    }
    if (c) set_st(f, 0, st(f, i));
}

// ---------------------------------------------------------------- stack

void exec_fxch(Cpu& cpu, const DecodedInsn& insn) {
    begin(cpu, true);
    note_pointers(cpu, insn);
    FpuState& f = cpu.s.fpu;
    const unsigned i = sti(insn);
    if (empty(f, 0) || empty(f, i)) {
        if (!stack_underflow(f)) return;
        // Masked: an empty register takes part as the indefinite.
        const F80 a = empty(f, 0) ? kIndefinite : st(f, 0);
        const F80 b = empty(f, i) ? kIndefinite : st(f, i);
        set_st(f, 0, b);
        set_st(f, i, a);
        return;
    }
    const F80 a = st(f, 0), b = st(f, i);
    set_st(f, 0, b);
    set_st(f, i, a);
    set_cc(f, kC1, 0);
}

void exec_ffree(Cpu& cpu, const DecodedInsn& insn) {
    begin(cpu, true);
    note_pointers(cpu, insn);
    FpuState& f = cpu.s.fpu;
    set_tag(f, phys(f, sti(insn)), 3);
    if (insn.mnemonic == ZYDIS_MNEMONIC_FFREEP) set_top(f, top(f) + 1);
}

void exec_fincdecstp(Cpu& cpu, const DecodedInsn& insn) {
    begin(cpu, true);
    note_pointers(cpu, insn);
    FpuState& f = cpu.s.fpu;
    set_top(f, top(f) + (insn.mnemonic == ZYDIS_MNEMONIC_FINCSTP ? 1 : 7));
    set_cc(f, kC1, 0);
}

void exec_fnop(Cpu& cpu, const DecodedInsn& insn) {
    begin(cpu, true);
    note_pointers(cpu, insn);
}

// ---------------------------------------------------------------- control

void exec_control_nop(Cpu& cpu, const DecodedInsn&) { begin(cpu, false); }  // FENI/FDISI/FSETPM: no-ops on the 387+

void exec_fninit(Cpu& cpu, const DecodedInsn&) {
    begin(cpu, false);
    FpuState& f = cpu.s.fpu;
    f.fcw = 0x037f;
    f.fsw = 0;
    f.ftw = 0xffff;
    f.fop = 0;
    f.fip = f.fdp = 0;
    f.fcs = f.fds = 0;
    sync_ferr(cpu);
}

void exec_fnclex(Cpu& cpu, const DecodedInsn&) {
    begin(cpu, false);
    cpu.s.fpu.fsw &= uint16_t(~(kExceptionMask | kSF | kES | kBusy));
    sync_ferr(cpu);
}

void exec_fnstsw(Cpu& cpu, const DecodedInsn& insn) {
    begin(cpu, false);
    if (mem_op(insn)) cpu.write_operand(insn, 0, cpu.s.fpu.fsw);
    else cpu.set_reg(kRax, 2, cpu.s.fpu.fsw);
}

void exec_fnstcw(Cpu& cpu, const DecodedInsn& insn) {
    begin(cpu, false);
    cpu.write_operand(insn, 0, cpu.s.fpu.fcw);
}

uint16_t sanitize_fcw(uint32_t v) { return uint16_t((v & ~0xe0c0u) | 0x0040u); }

void exec_fldcw(Cpu& cpu, const DecodedInsn& insn) {
    begin(cpu, true);
    const uint16_t v = uint16_t(cpu.read_operand(insn, 0));
    cpu.s.fpu.fcw = sanitize_fcw(v);
    update_es(cpu.s.fpu);
    sync_ferr(cpu);
}

// ---------------------------------------------------------------- environment and state images

bool real_format(const Cpu& cpu) { return !cpu.s.protected_mode() || cpu.s.v86_mode(); }

void put16(uint8_t* p, uint32_t v) { p[0] = uint8_t(v); p[1] = uint8_t(v >> 8); }
void put32(uint8_t* p, uint32_t v) { put16(p, v); put16(p + 2, v >> 16); }
uint32_t get16(const uint8_t* p) { return uint32_t(p[0]) | uint32_t(p[1]) << 8; }
uint32_t get32(const uint8_t* p) { return get16(p) | get16(p + 2) << 16; }

// The 14- or 28-byte environment image; returns its size.
unsigned build_env(const Cpu& cpu, bool big, uint8_t* out) {
    const FpuState& f = cpu.s.fpu;
    const uint16_t tw = full_tag_word(f);
    const bool real = real_format(cpu);
    const uint32_t fip_lin = uint32_t((uint32_t(f.fcs) << 4) + uint32_t(f.fip));
    const uint32_t fdp_lin = uint32_t((uint32_t(f.fds) << 4) + uint32_t(f.fdp));
    if (!big) {
        put16(out + 0, f.fcw);
        put16(out + 2, f.fsw);
        put16(out + 4, tw);
        if (real) {
            put16(out + 6, fip_lin);
            put16(out + 8, ((fip_lin >> 4) & 0xf000) | (f.fop & 0x7ff));
            put16(out + 10, fdp_lin);
            put16(out + 12, (fdp_lin >> 4) & 0xf000);
        } else {
            put16(out + 6, uint32_t(f.fip));
            put16(out + 8, f.fcs);
            put16(out + 10, uint32_t(f.fdp));
            put16(out + 12, f.fds);
        }
        return 14;
    }
    put32(out + 0, 0xffff0000u | f.fcw);
    put32(out + 4, 0xffff0000u | f.fsw);
    put32(out + 8, 0xffff0000u | tw);
    if (real) {
        put32(out + 12, 0xffff0000u | (fip_lin & 0xffff));
        put32(out + 16, ((fip_lin >> 4) & 0x0ffff000u) | (f.fop & 0x7ff));
        put32(out + 20, 0xffff0000u | (fdp_lin & 0xffff));
        put32(out + 24, (fdp_lin >> 4) & 0x0ffff000u);
    } else {
        put32(out + 12, uint32_t(f.fip));
        put32(out + 16, (uint32_t(f.fop & 0x7ff) << 16) | f.fcs);
        put32(out + 20, uint32_t(f.fdp));
        put32(out + 24, 0xffff0000u | f.fds);
    }
    return 28;
}

void load_env(Cpu& cpu, bool big, const uint8_t* in) {
    FpuState& f = cpu.s.fpu;
    const bool real = real_format(cpu);
    uint16_t tw;
    if (!big) {
        f.fcw = sanitize_fcw(get16(in + 0));
        f.fsw = uint16_t(get16(in + 2));
        tw = uint16_t(get16(in + 4));
        if (real) {
            f.fip = get16(in + 6) | ((get16(in + 8) & 0xf000) << 4);
            f.fop = uint16_t(get16(in + 8) & 0x7ff);
            f.fdp = get16(in + 10) | ((get16(in + 12) & 0xf000) << 4);
            f.fcs = f.fds = 0;
        } else {
            f.fip = get16(in + 6);
            f.fcs = uint16_t(get16(in + 8));
            f.fdp = get16(in + 10);
            f.fds = uint16_t(get16(in + 12));
        }
    } else {
        f.fcw = sanitize_fcw(get32(in + 0));
        f.fsw = uint16_t(get32(in + 4));
        tw = uint16_t(get32(in + 8));
        if (real) {
            f.fip = (get32(in + 12) & 0xffff) | ((get32(in + 16) & 0x0ffff000u) << 4);
            f.fop = uint16_t(get32(in + 16) & 0x7ff);
            f.fdp = (get32(in + 20) & 0xffff) | ((get32(in + 24) & 0x0ffff000u) << 4);
            f.fcs = f.fds = 0;
        } else {
            f.fip = get32(in + 12);
            f.fcs = uint16_t(get32(in + 16));
            f.fop = uint16_t((get32(in + 16) >> 16) & 0x7ff);
            f.fdp = get32(in + 20);
            f.fds = uint16_t(get32(in + 24));
        }
    }
    retag(f, tw);
    update_es(f);
}

void exec_fnstenv(Cpu& cpu, const DecodedInsn& insn) {
    begin(cpu, false);
    uint8_t img[28];
    const unsigned n = build_env(cpu, insn.opsize == 4, img);
    write_bytes(cpu, insn, *mem_op(insn), img, n);
    cpu.s.fpu.fcw |= kExceptionMask;
    update_es(cpu.s.fpu);
    sync_ferr(cpu);
}

void exec_fldenv(Cpu& cpu, const DecodedInsn& insn) {
    begin(cpu, true);
    uint8_t img[28];
    const bool big = insn.opsize == 4;
    read_bytes(cpu, insn, *mem_op(insn), img, big ? 28 : 14);
    load_env(cpu, big, img);
    sync_ferr(cpu);
}

void exec_fnsave(Cpu& cpu, const DecodedInsn& insn) {
    begin(cpu, false);
    uint8_t img[108];
    const unsigned n = build_env(cpu, insn.opsize == 4, img);
    for (unsigned i = 0; i < 8; i++) memcpy(img + n + 10 * i, cpu.s.fpu.st[phys(cpu.s.fpu, i)].data(), 10);
    write_bytes(cpu, insn, *mem_op(insn), img, n + 80);
    exec_fninit(cpu, insn);
}

void exec_frstor(Cpu& cpu, const DecodedInsn& insn) {
    begin(cpu, true);
    uint8_t img[108];
    const bool big = insn.opsize == 4;
    const unsigned n = big ? 28 : 14;
    read_bytes(cpu, insn, *mem_op(insn), img, n + 80);
    FpuState& f = cpu.s.fpu;
    load_env(cpu, big, img);  // sets TOP first, so ST(i) below is the image's
    const uint16_t tw = f.ftw;
    for (unsigned i = 0; i < 8; i++) memcpy(f.st[phys(f, i)].data(), img + n + 10 * i, 10);
    retag(f, tw);
    sync_ferr(cpu);
}

// FXSAVE/FXRSTOR: the x87 part of the 512-byte image; MXCSR and the XMM
// registers (SSE is not implemented nor advertised) are saved as their
// reset values when CR4.OSFXSR is set, as a processor without SSE state
// changes would.
uint64_t fx_linear(Cpu& cpu, const DecodedInsn& insn) {
    const Operand& m = *mem_op(insn);
    return cpu.s.seg[m.seg].base + cpu.effective_address(insn, m);
}

void exec_fxsave(Cpu& cpu, const DecodedInsn& insn) {
    begin(cpu, false);
    if (fx_linear(cpu, insn) & 15) cpu.raise(kGP, 0);
    const FpuState& f = cpu.s.fpu;
    const bool sse = cpu.s.cr4 & cr4::OSFXSR;
    uint8_t img[288] = {};
    put16(img + 0, f.fcw);
    put16(img + 2, f.fsw);
    uint8_t abridged = 0;
    for (unsigned p = 0; p < 8; p++)
        if (tag(f, p) != 3) abridged |= uint8_t(1u << p);
    img[4] = abridged;
    put16(img + 6, f.fop & 0x7ff);
    put32(img + 8, uint32_t(f.fip));
    put16(img + 12, f.fcs);
    put32(img + 16, uint32_t(f.fdp));
    put16(img + 20, f.fds);
    put32(img + 24, 0x1f80);
    put32(img + 28, 0xffbf);
    for (unsigned i = 0; i < 8; i++) memcpy(img + 32 + 16 * i, f.st[phys(f, i)].data(), 10);
    write_bytes(cpu, insn, *mem_op(insn), img, sse ? 288 : 160);
}

void exec_fxrstor(Cpu& cpu, const DecodedInsn& insn) {
    begin(cpu, false);
    if (fx_linear(cpu, insn) & 15) cpu.raise(kGP, 0);
    uint8_t img[160];
    read_bytes(cpu, insn, *mem_op(insn), img, 160);
    if ((cpu.s.cr4 & cr4::OSFXSR) && (get32(img + 24) & ~0xffbfu)) cpu.raise(kGP, 0);
    FpuState& f = cpu.s.fpu;
    f.fcw = sanitize_fcw(get16(img + 0));
    f.fsw = uint16_t(get16(img + 2));
    f.fop = uint16_t(get16(img + 6) & 0x7ff);
    f.fip = get32(img + 8);
    f.fcs = uint16_t(get16(img + 12));
    f.fdp = get32(img + 16);
    f.fds = uint16_t(get16(img + 20));
    uint16_t tw = 0;
    for (unsigned p = 0; p < 8; p++)
        if (!((img[4] >> p) & 1)) tw |= uint16_t(3u << (2 * p));
    for (unsigned i = 0; i < 8; i++) memcpy(f.st[phys(f, i)].data(), img + 32 + 16 * i, 10);
    retag(f, tw);
    update_es(f);
    sync_ferr(cpu);
}

}  // namespace

bool x87_runs_direct(const DecodedInsn& insn) {
    if (insn.opcode_map != 0 || (insn.prefixes & kPrefixLock)) return false;
    const Operand* m = mem_op(insn);
    if (m && m->size != 2 && m->size != 4 && m->size != 8) return false;  // (not m80, nor FBLD/FBSTP)
    switch (insn.mnemonic) {
    case ZYDIS_MNEMONIC_FLD: case ZYDIS_MNEMONIC_FILD:
    case ZYDIS_MNEMONIC_FLD1: case ZYDIS_MNEMONIC_FLDL2T: case ZYDIS_MNEMONIC_FLDL2E: case ZYDIS_MNEMONIC_FLDPI:
    case ZYDIS_MNEMONIC_FLDLG2: case ZYDIS_MNEMONIC_FLDLN2: case ZYDIS_MNEMONIC_FLDZ:
    case ZYDIS_MNEMONIC_FST: case ZYDIS_MNEMONIC_FSTP: case ZYDIS_MNEMONIC_FIST: case ZYDIS_MNEMONIC_FISTP:
    case ZYDIS_MNEMONIC_FADD: case ZYDIS_MNEMONIC_FADDP: case ZYDIS_MNEMONIC_FIADD:
    case ZYDIS_MNEMONIC_FSUB: case ZYDIS_MNEMONIC_FSUBP: case ZYDIS_MNEMONIC_FISUB:
    case ZYDIS_MNEMONIC_FSUBR: case ZYDIS_MNEMONIC_FSUBRP: case ZYDIS_MNEMONIC_FISUBR:
    case ZYDIS_MNEMONIC_FMUL: case ZYDIS_MNEMONIC_FMULP: case ZYDIS_MNEMONIC_FIMUL:
    case ZYDIS_MNEMONIC_FDIV: case ZYDIS_MNEMONIC_FDIVP: case ZYDIS_MNEMONIC_FIDIV:
    case ZYDIS_MNEMONIC_FDIVR: case ZYDIS_MNEMONIC_FDIVRP: case ZYDIS_MNEMONIC_FIDIVR:
    case ZYDIS_MNEMONIC_FCHS: case ZYDIS_MNEMONIC_FABS:
    case ZYDIS_MNEMONIC_FCOM: case ZYDIS_MNEMONIC_FCOMP: case ZYDIS_MNEMONIC_FCOMPP:
    case ZYDIS_MNEMONIC_FUCOM: case ZYDIS_MNEMONIC_FUCOMP: case ZYDIS_MNEMONIC_FUCOMPP:
    case ZYDIS_MNEMONIC_FICOM: case ZYDIS_MNEMONIC_FICOMP: case ZYDIS_MNEMONIC_FTST:
    case ZYDIS_MNEMONIC_FXAM: case ZYDIS_MNEMONIC_FXCH: return true;
    default: return false;
    }
}

bool x87_direct_stores(const DecodedInsn& insn) {
    switch (insn.mnemonic) {
    case ZYDIS_MNEMONIC_FST: case ZYDIS_MNEMONIC_FSTP: case ZYDIS_MNEMONIC_FIST: case ZYDIS_MNEMONIC_FISTP:
        return mem_op(insn) != nullptr;
    default: return false;
    }
}

void register_x87_handlers(HandlerTable& t) {
    t[ZYDIS_MNEMONIC_FLD] = exec_fld;
    t[ZYDIS_MNEMONIC_FILD] = exec_fild;
    t[ZYDIS_MNEMONIC_FBLD] = exec_fild;
    for (auto m : {ZYDIS_MNEMONIC_FLD1, ZYDIS_MNEMONIC_FLDL2T, ZYDIS_MNEMONIC_FLDL2E, ZYDIS_MNEMONIC_FLDPI,
                   ZYDIS_MNEMONIC_FLDLG2, ZYDIS_MNEMONIC_FLDLN2, ZYDIS_MNEMONIC_FLDZ})
        t[m] = exec_fconst;
    t[ZYDIS_MNEMONIC_FST] = exec_fst;
    t[ZYDIS_MNEMONIC_FSTP] = exec_fst;
    t[ZYDIS_MNEMONIC_FSTPNCE] = exec_fst;
    t[ZYDIS_MNEMONIC_FIST] = exec_fist;
    t[ZYDIS_MNEMONIC_FISTP] = exec_fist;
    t[ZYDIS_MNEMONIC_FBSTP] = exec_fist;
    for (auto m : {ZYDIS_MNEMONIC_FADD, ZYDIS_MNEMONIC_FADDP, ZYDIS_MNEMONIC_FIADD, ZYDIS_MNEMONIC_FSUB,
                   ZYDIS_MNEMONIC_FSUBP, ZYDIS_MNEMONIC_FISUB, ZYDIS_MNEMONIC_FSUBR, ZYDIS_MNEMONIC_FSUBRP,
                   ZYDIS_MNEMONIC_FISUBR, ZYDIS_MNEMONIC_FMUL, ZYDIS_MNEMONIC_FMULP, ZYDIS_MNEMONIC_FIMUL,
                   ZYDIS_MNEMONIC_FDIV, ZYDIS_MNEMONIC_FDIVP, ZYDIS_MNEMONIC_FIDIV, ZYDIS_MNEMONIC_FDIVR,
                   ZYDIS_MNEMONIC_FDIVRP, ZYDIS_MNEMONIC_FIDIVR})
        t[m] = exec_arith;
    t[ZYDIS_MNEMONIC_FCHS] = exec_fchs_fabs;
    t[ZYDIS_MNEMONIC_FABS] = exec_fchs_fabs;
    t[ZYDIS_MNEMONIC_FSQRT] = exec_fsqrt;
    t[ZYDIS_MNEMONIC_FRNDINT] = exec_frndint;
    for (auto m : {ZYDIS_MNEMONIC_FCOM, ZYDIS_MNEMONIC_FCOMP, ZYDIS_MNEMONIC_FCOMPP, ZYDIS_MNEMONIC_FUCOM,
                   ZYDIS_MNEMONIC_FUCOMP, ZYDIS_MNEMONIC_FUCOMPP, ZYDIS_MNEMONIC_FICOM, ZYDIS_MNEMONIC_FICOMP,
                   ZYDIS_MNEMONIC_FTST})
        t[m] = exec_fcom;
    for (auto m : {ZYDIS_MNEMONIC_FCOMI, ZYDIS_MNEMONIC_FCOMIP, ZYDIS_MNEMONIC_FUCOMI, ZYDIS_MNEMONIC_FUCOMIP})
        t[m] = exec_fcomi;
    t[ZYDIS_MNEMONIC_FXAM] = exec_fxam;
    for (auto m : {ZYDIS_MNEMONIC_FCMOVB, ZYDIS_MNEMONIC_FCMOVE, ZYDIS_MNEMONIC_FCMOVBE, ZYDIS_MNEMONIC_FCMOVU,
                   ZYDIS_MNEMONIC_FCMOVNB, ZYDIS_MNEMONIC_FCMOVNE, ZYDIS_MNEMONIC_FCMOVNBE, ZYDIS_MNEMONIC_FCMOVNU})
        t[m] = exec_fcmov;
    t[ZYDIS_MNEMONIC_FXCH] = exec_fxch;
    t[ZYDIS_MNEMONIC_FFREE] = exec_ffree;
    t[ZYDIS_MNEMONIC_FFREEP] = exec_ffree;
    t[ZYDIS_MNEMONIC_FINCSTP] = exec_fincdecstp;
    t[ZYDIS_MNEMONIC_FDECSTP] = exec_fincdecstp;
    t[ZYDIS_MNEMONIC_FNOP] = exec_fnop;
    t[ZYDIS_MNEMONIC_FENI8087_NOP] = exec_control_nop;
    t[ZYDIS_MNEMONIC_FDISI8087_NOP] = exec_control_nop;
    t[ZYDIS_MNEMONIC_FSETPM287_NOP] = exec_control_nop;
    t[ZYDIS_MNEMONIC_FNINIT] = exec_fninit;
    t[ZYDIS_MNEMONIC_FNCLEX] = exec_fnclex;
    t[ZYDIS_MNEMONIC_FNSTSW] = exec_fnstsw;
    t[ZYDIS_MNEMONIC_FNSTCW] = exec_fnstcw;
    t[ZYDIS_MNEMONIC_FLDCW] = exec_fldcw;
    t[ZYDIS_MNEMONIC_FNSTENV] = exec_fnstenv;
    t[ZYDIS_MNEMONIC_FLDENV] = exec_fldenv;
    t[ZYDIS_MNEMONIC_FNSAVE] = exec_fnsave;
    t[ZYDIS_MNEMONIC_FRSTOR] = exec_frstor;
    t[ZYDIS_MNEMONIC_FXSAVE] = exec_fxsave;
    t[ZYDIS_MNEMONIC_FXRSTOR] = exec_fxrstor;
    register_x87_transcendental_handlers(t);
}

}  // namespace nomad86
