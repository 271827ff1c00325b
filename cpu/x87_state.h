// The guest x87's stack, tags and status word, and the pieces every x87
// handler shares: the #NM / pending-#MF prologue, FIP/FDP/FOP bookkeeping,
// memory operands of any size, stack faults, and merging what the host
// engine (cpu/x87_float.h) reported into the guest status word under the
// guest's masks.
//
// Exception rules (SDM vol. 1 ch. 8): the flags are always set; an
// unmasked invalid-operation, denormal or zero-divide leaves the destination
// and the stack untouched; an unmasked overflow or underflow stores the
// biased result in a register (the host computes it under the guest's
// OM/UM), and a store to memory does not happen at all. ES and B summarise
// "some flag is set whose exception is unmasked"; the next waiting x87
// instruction (or WAIT/FWAIT) then raises #MF when CR0.NE=1, or asserts
// FERR# (IRQ 13 on the PC, see devices/fpu_error.h) when CR0.NE=0.
#pragma once
#include <cstdint>

#include "cpu/cpu_state.h"
#include "cpu/handlers.h"
#include "cpu/x87_float.h"

namespace nomad86 {

class Cpu;

// The check WAIT/FWAIT and every waiting x87 instruction make first: with
// an unmasked exception pending (FSW.ES), #MF if CR0.NE=1, else FERR# is
// asserted and execution continues (the PC's IGNNE# path). Does not check
// CR0.EM/TS/MP (the caller does).
void x87_check_pending(Cpu& cpu);

// The x87 instructions Cpu::x87_direct_for_jit() runs: those whose handler
// raises nothing once its prologue (begin()) passes and its memory operand,
// of 2, 4 or 8 bytes, is reachable, and that read and write no general
// register or EFLAGS (the loads, stores, arithmetic and compares on ST(i)
// or memory, FXCH, FCHS, FABS, FXAM, the constants). Whether the operand is
// written: x87_direct_stores().
bool x87_runs_direct(const DecodedInsn& insn);
bool x87_direct_stores(const DecodedInsn& insn);

// Registered by register_x87_handlers (cpu/x87_transcendental.cpp).
void register_x87_transcendental_handlers(HandlerTable& t);

namespace x87 {

inline unsigned top(const FpuState& f) { return (f.fsw >> 11) & 7; }
inline void set_top(FpuState& f, unsigned t) { f.fsw = uint16_t((f.fsw & ~0x3800u) | ((t & 7) << 11)); }
inline unsigned phys(const FpuState& f, unsigned i) { return (top(f) + i) & 7; }
inline unsigned tag(const FpuState& f, unsigned p) { return (f.ftw >> (2 * p)) & 3; }
inline void set_tag(FpuState& f, unsigned p, unsigned t) {
    f.ftw = uint16_t((f.ftw & ~(3u << (2 * p))) | ((t & 3) << (2 * p)));
}
inline bool empty(const FpuState& f, unsigned i) { return tag(f, phys(f, i)) == 3; }
inline F80 st(const FpuState& f, unsigned i) { return F80::from_bytes(f.st[phys(f, i)].data()); }
inline void set_st(FpuState& f, unsigned i, const F80& v) {
    const unsigned p = phys(f, i);
    v.to_bytes(f.st[p].data());
    set_tag(f, p, tag_of(v));
}
inline void push(FpuState& f, const F80& v) {
    set_top(f, top(f) - 1);
    set_st(f, 0, v);
}
inline void pop(FpuState& f) {
    set_tag(f, phys(f, 0), 3);
    set_top(f, top(f) + 1);
}
inline void set_cc(FpuState& f, uint16_t mask, uint16_t value) {
    f.fsw = uint16_t((f.fsw & ~mask) | (value & mask));
}
// ES and B from the flags and the masks.
inline void update_es(FpuState& f) {
    if (f.fsw & ~f.fcw & kExceptionMask) f.fsw |= kES | kBusy;
    else f.fsw &= uint16_t(~(kES | kBusy));
}
// Recomputes every non-empty tag from its register (FLDENV, FRSTOR, FXRSTOR).
void retag(FpuState& f, uint16_t loaded_tags);
// The full tag word as FSTENV/FSAVE store it.
uint16_t full_tag_word(const FpuState& f);

// #NM when CR0.EM or CR0.TS; then, for waiting instructions, the pending
// exception check.
void begin(Cpu& cpu, bool waiting);
// FIP/FCS/FOP (and FDP/FDS for a memory operand): every non-control instruction.
void note_pointers(Cpu& cpu, const DecodedInsn& insn);
// Lowers FERR# once no unmasked exception is pending (FNCLEX, FNINIT, loads).
void sync_ferr(Cpu& cpu);

// The instruction's memory operand, or null.
const Operand* mem_op(const DecodedInsn& insn);
// The ST(i) of a register form (0 when it has none).
unsigned sti(const DecodedInsn& insn);
// Memory of any size through segment checks; the whole range is checked
// before anything is read or written.
void read_bytes(Cpu& cpu, const DecodedInsn& insn, const Operand& op, uint8_t* buf, unsigned n);
void write_bytes(Cpu& cpu, const DecodedInsn& insn, const Operand& op, const uint8_t* buf, unsigned n);

// Merges a host status word: the exception flags and the condition codes
// (the host ran with the guest's, so what the instruction left alone is
// the guest's). Returns false when an unmasked IE/DE/ZE suppresses the
// result.
bool commit(FpuState& f, uint16_t host_sw);
// Stack underflow / overflow (#IS): IE|SF with C1=0 / C1=1, and the codes
// in `clear` cleared. Return true when IE is masked (the caller then
// produces the masked response).
bool stack_underflow(FpuState& f, uint16_t clear = 0);
bool stack_overflow(FpuState& f, uint16_t clear = 0);

// Shapes shared by the arithmetic and transcendental handlers; `modrm` is
// the D9 register-form byte the host runs.
// ST(0) <- op(ST(0)); a stack fault also clears `clear_on_fault`.
void unary_st0(Cpu& cpu, const DecodedInsn& insn, uint8_t modrm, uint16_t clear_on_fault);
// ST(0) <- op(ST(0), ST(1)) with no pop (FPREM, FPREM1, FSCALE).
void binary_st0(Cpu& cpu, const DecodedInsn& insn, uint8_t modrm, uint16_t clear_on_fault);
// ST(1) <- op(ST(0), ST(1)), then pop (FYL2X, FYL2XP1, FPATAN).
void binary_pop(Cpu& cpu, const DecodedInsn& insn, uint8_t modrm);
// ST(0) <- second result, then push the first (FPTAN, FSINCOS, FXTRACT).
// `c2_aborts`: the C2-out-of-range kind (a stack fault clears C2).
void two_results(Cpu& cpu, const DecodedInsn& insn, uint8_t modrm, bool c2_aborts);

}  // namespace x87
}  // namespace nomad86
