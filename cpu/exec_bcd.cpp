// DAA, DAS, AAA, AAS, AAM, AAD. These do not exist in 64-bit mode, so they
// follow the SDM's pseudo-code in C++. Flags the SDM leaves undefined:
//  - DAA/DAS: OF is the signed overflow of the whole adjustment as one
//    addition/subtraction (old AL +/- 06h/60h/66h), as Intel CPUs compute it.
//  - AAA/AAS: SF, ZF, PF are computed from the final AL (after the AND 0Fh);
//    OF is cleared.
//  - AAM: CF, OF, AF are cleared (the result flags of an AND of AL).
//  - AAD: CF, OF, AF are those of the 8-bit addition AL + (AH * imm8),
//    which is how the hardware computes AL.
#include "cpu/alu_flags.h"
#include "cpu/cpu.h"
#include "cpu/handlers.h"

namespace nomad86 {

namespace {

uint32_t szp(uint8_t al) {
    uint32_t f = 0;
    if (al == 0) f |= flags::ZF;
    if (al & 0x80) f |= flags::SF;
    if (alu::parity8(al)) f |= flags::PF;
    return f;
}

void set_arith(Cpu& cpu, uint32_t f) {
    cpu.set_status_flags(f & flags::ARITH);
}

template <bool kSub>
void exec_daa_das(Cpu& cpu, const DecodedInsn&) {
    const uint8_t old_al = uint8_t(cpu.reg(kRax, 1));
    const bool old_cf = cpu.flag(flags::CF);
    uint8_t al = old_al;
    uint8_t adjust = 0;
    bool cf = false, af = false;
    if ((al & 0x0f) > 9 || cpu.flag(flags::AF)) {
        cf = old_cf || (kSub ? al < 6 : al > 0xf9);
        al = uint8_t(kSub ? al - 6 : al + 6);
        adjust |= 0x06;
        af = true;
    }
    if (old_al > 0x99 || old_cf) {
        al = uint8_t(kSub ? al - 0x60 : al + 0x60);
        adjust |= 0x60;
        cf = true;
    } else if (!kSub) {
        cf = false;  // DAA only: DAS keeps the borrow of the low adjust (SDM)
    }
    uint32_t f = szp(al);
    if (cf) f |= flags::CF;
    if (af) f |= flags::AF;
    // Signed overflow of old_al +/- adjust.
    const bool of = kSub ? ((old_al ^ adjust) & (old_al ^ al) & 0x80) : (~(old_al ^ adjust) & (old_al ^ al) & 0x80);
    if (of) f |= flags::OF;
    cpu.set_reg(kRax, 1, al);
    set_arith(cpu, f);
}

template <bool kSub>
void exec_aaa_aas(Cpu& cpu, const DecodedInsn&) {
    uint16_t ax = uint16_t(cpu.reg(kRax, 2));
    bool adjust = (ax & 0x0f) > 9 || cpu.flag(flags::AF);
    if (adjust) {
        if (kSub) {
            ax = uint16_t(ax - 6);
            ax = uint16_t(ax - 0x100);
        } else {
            ax = uint16_t(ax + 0x106);
        }
    }
    ax &= 0xff0f;
    uint32_t f = szp(uint8_t(ax));
    if (adjust) f |= flags::AF | flags::CF;
    cpu.set_reg(kRax, 2, ax);
    set_arith(cpu, f);
}

void exec_aam(Cpu& cpu, const DecodedInsn& insn) {
    const uint8_t base = uint8_t(insn.ops[0].imm);
    if (base == 0) cpu.raise(kDE);
    const uint8_t al = uint8_t(cpu.reg(kRax, 1));
    const uint8_t q = al / base, r = al % base;
    cpu.set_reg(kRax, 2, uint16_t(r | (q << 8)));
    set_arith(cpu, szp(r));
}

void exec_aad(Cpu& cpu, const DecodedInsn& insn) {
    const uint8_t base = uint8_t(insn.ops[0].imm);
    const uint16_t ax = uint16_t(cpu.reg(kRax, 2));
    uint32_t f = uint32_t(cpu.s.status_flags);
    const uint8_t al = alu::h_add(uint8_t(ax), uint8_t((ax >> 8) * base), f);
    cpu.set_reg(kRax, 2, al);
    set_arith(cpu, f);
}

}  // namespace

void register_bcd_handlers(HandlerTable& t) {
    t[ZYDIS_MNEMONIC_DAA] = exec_daa_das<false>;
    t[ZYDIS_MNEMONIC_DAS] = exec_daa_das<true>;
    t[ZYDIS_MNEMONIC_AAA] = exec_aaa_aas<false>;
    t[ZYDIS_MNEMONIC_AAS] = exec_aaa_aas<true>;
    t[ZYDIS_MNEMONIC_AAM] = exec_aam;
    t[ZYDIS_MNEMONIC_AAD] = exec_aad;
}

}  // namespace nomad86
