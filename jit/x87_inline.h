// Host code for the x87 instructions programs run most (loads, stores and
// arithmetic on doubles and singles, compares, FXCH, FXAM ...) emitted in
// the block itself, where a direct call of the interpreter's handler
// (Cpu::x87_direct_for_jit) cost 40-50 ns each: the guest's registers,
// TOP and tags stay in CpuState, and the numeric work is the host's own
// x87 on copies of them, as cpu/x87_float.h does it.
//
// Only the usual state takes this path: CR0.EM and TS clear, no exception
// pending (FSW.ES), and the control word 0x037F (every exception masked,
// 64-bit precision, round to nearest), which is the host's own, so no
// FLDCW is needed; and no exception flag set on the host that the guest's
// status word lacks, so the host's flags after the instruction are the
// guest's old ones plus this instruction's without an FNCLEX (50 ns on a
// recent AMD host). A stack fault, an operand's empty register, anything
// else jumps to the caller's fallback before anything changed.
#pragma once
#include <asmjit/x86.h>

#include "cpu/insn.h"

namespace nomad86::jit {

// Whether emit_x87_inline() handles the instruction: FLD/FILD and
// FST/FSTP of 16-, 32- and 64-bit memory as listed in x87_inline.cpp, the
// memory forms of FADD FMUL FSUB FSUBR FDIV FDIVR on singles and doubles,
// FLD/FST/FSTP/FXCH/FCOM/FCOMP/FUCOM/FUCOMP ST(i), FCHS, FABS, FXAM.
bool x87_inlinable(const DecodedInsn& insn);

// Whether this thread's host x87 runs the control word the inline code
// assumes (0x037F, the x86-64 ABI's).
bool host_x87_default();

// The instruction's effect on the FPU's registers, tags, status word and,
// for a store, `operand` (the memory operand's host address, from the
// inline TLB path). Not the instruction pointers (FIP, FCS, FOP, FDP,
// FDS), which the caller stores. Jumps to `fallback` with nothing changed
// when the state is not the usual one. Clobbers rax, rcx, rdx, r8, r11 and
// the host's EFLAGS.
void emit_x87_inline(asmjit::x86::Assembler& a, const asmjit::x86::Gp& state, const DecodedInsn& insn,
                     const asmjit::x86::Mem& operand, const asmjit::Label& fallback);

}  // namespace nomad86::jit
