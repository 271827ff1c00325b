// The mnemonic -> handler table the block decoder consults. Each instruction
// group file (cpu/exec_*.cpp) registers its handlers; a mnemonic nobody
// registered decodes to the #UD handler, which logs it under -d unimp.
#pragma once
#include <array>

#include <Zydis/Zydis.h>

#include "cpu/insn.h"

namespace nomad86 {

using HandlerTable = std::array<InsnHandler, ZYDIS_MNEMONIC_MAX_VALUE + 1>;

// Built once on first use and immutable afterwards.
const HandlerTable& handler_table();

// #UD for anything without a handler (logs with -d unimp).
void exec_unimplemented(Cpu& cpu, const DecodedInsn& insn);

// An x87 instruction while no FPU is implemented: #NM when CR0.EM or
// CR0.TS says so (the trap x87 emulators rely on), else #UD, logged.
void exec_x87_unavailable(Cpu& cpu, const DecodedInsn& insn);

// MOV to/from CRn/DRn (cpu/exec_system.cpp); the decoder selects it.
void exec_mov_control_debug(Cpu& cpu, const DecodedInsn& insn);

// One per instruction group file.
void register_data_handlers(HandlerTable& t);     // exec_data.cpp: MOV, XCHG, stack, CMOV/SETcc, flags ops...
void register_alu_handlers(HandlerTable& t);      // exec_alu.cpp: ADD..CMP, INC/DEC/NEG/NOT, TEST
void register_shift_handlers(HandlerTable& t);    // exec_shift.cpp: shifts, rotates, SHLD/SHRD
void register_muldiv_handlers(HandlerTable& t);   // exec_muldiv.cpp: MUL/IMUL/DIV/IDIV
void register_bcd_handlers(HandlerTable& t);      // exec_bcd.cpp: DAA/DAS/AAA/AAS/AAM/AAD
void register_bit_handlers(HandlerTable& t);      // exec_bit.cpp: BT*, BSF/BSR
void register_string_handlers(HandlerTable& t);   // exec_string.cpp: MOVS..OUTS with REP
void register_control_handlers(HandlerTable& t);  // exec_control.cpp: JMP/Jcc/CALL/RET/LOOP/INT/IRET
void register_system_handlers(HandlerTable& t);   // exec_system.cpp: descriptor tables, CRs, MSRs, I/O, HLT...
void register_x87_handlers(HandlerTable& t);      // exec_x87.cpp: the x87 FPU, FXSAVE/FXRSTOR

}  // namespace nomad86
