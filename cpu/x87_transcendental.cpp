// The x87's transcendental and scaling instructions: FSIN, FCOS, FSINCOS,
// FPTAN, FPATAN, F2XM1, FYL2X, FYL2XP1, FSCALE, FXTRACT, FPREM, FPREM1.
// The host x87 computes them (bit-identical by construction: the same
// microcode on the same 80-bit operands under the guest's control word);
// here are their stack shapes and condition codes: C2 = "operand out of
// range, nothing done" for FSIN/FCOS/FSINCOS/FPTAN (|x| >= 2^63), and for
// FPREM/FPREM1 C2 = "partial remainder, run again" with the three low
// quotient bits in C0, C3, C1.
#include "cpu/cpu.h"
#include "cpu/x87_state.h"

namespace nomad86 {

using namespace x87;

namespace {

void exec_f2xm1(Cpu& cpu, const DecodedInsn& insn) { unary_st0(cpu, insn, 0xf0, 0); }
void exec_fsin(Cpu& cpu, const DecodedInsn& insn) { unary_st0(cpu, insn, 0xfe, kC2); }
void exec_fcos(Cpu& cpu, const DecodedInsn& insn) { unary_st0(cpu, insn, 0xff, kC2); }
void exec_fsincos(Cpu& cpu, const DecodedInsn& insn) { two_results(cpu, insn, 0xfb, true); }
void exec_fptan(Cpu& cpu, const DecodedInsn& insn) { two_results(cpu, insn, 0xf2, true); }
void exec_fxtract(Cpu& cpu, const DecodedInsn& insn) { two_results(cpu, insn, 0xf4, false); }
void exec_fpatan(Cpu& cpu, const DecodedInsn& insn) { binary_pop(cpu, insn, 0xf3); }
void exec_fyl2x(Cpu& cpu, const DecodedInsn& insn) { binary_pop(cpu, insn, 0xf1); }
void exec_fyl2xp1(Cpu& cpu, const DecodedInsn& insn) { binary_pop(cpu, insn, 0xf9); }
void exec_fscale(Cpu& cpu, const DecodedInsn& insn) { binary_st0(cpu, insn, 0xfd, 0); }
void exec_fprem(Cpu& cpu, const DecodedInsn& insn) { binary_st0(cpu, insn, 0xf8, kC2); }
void exec_fprem1(Cpu& cpu, const DecodedInsn& insn) { binary_st0(cpu, insn, 0xf5, kC2); }

}  // namespace

void register_x87_transcendental_handlers(HandlerTable& t) {
    t[ZYDIS_MNEMONIC_F2XM1] = exec_f2xm1;
    t[ZYDIS_MNEMONIC_FSIN] = exec_fsin;
    t[ZYDIS_MNEMONIC_FCOS] = exec_fcos;
    t[ZYDIS_MNEMONIC_FSINCOS] = exec_fsincos;
    t[ZYDIS_MNEMONIC_FPTAN] = exec_fptan;
    t[ZYDIS_MNEMONIC_FXTRACT] = exec_fxtract;
    t[ZYDIS_MNEMONIC_FPATAN] = exec_fpatan;
    t[ZYDIS_MNEMONIC_FYL2X] = exec_fyl2x;
    t[ZYDIS_MNEMONIC_FYL2XP1] = exec_fyl2xp1;
    t[ZYDIS_MNEMONIC_FSCALE] = exec_fscale;
    t[ZYDIS_MNEMONIC_FPREM] = exec_fprem;
    t[ZYDIS_MNEMONIC_FPREM1] = exec_fprem1;
}

}  // namespace nomad86
