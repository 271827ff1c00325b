// The mnemonic -> handler table the block decoder consults. Each instruction
// group file (cpu/exec_*.cpp) registers its handlers; a mnemonic nobody
// registered decodes to the #UD handler, which logs it under -d unimp.
#pragma once
#include <array>
#include <unordered_map>
#include <utility>

#include <Zydis/Zydis.h>

#include "cpu/insn.h"
#include "cpu/operand_forms.h"

namespace nomad86 {

struct HandlerTable {
    // The handler of each mnemonic (t[mnemonic] = handler).
    std::array<InsnHandler, ZYDIS_MNEMONIC_MAX_VALUE + 1> generic{};
    // Instances for operand forms (cpu/operand_forms.h), where a mnemonic has them.
    std::unordered_map<uint32_t, InsnHandler> forms;

    InsnHandler& operator[](size_t mnemonic) { return generic[mnemonic]; }
    InsnHandler operator[](size_t mnemonic) const { return generic[mnemonic]; }
    void set_form(ZydisMnemonic m, OperandForm form, InsnHandler h) { forms[form_key(m, form)] = h; }
    // The instance for `form`, or nullptr.
    InsnHandler for_form(uint16_t m, OperandForm form) const {
        if (form == OperandForm::kGeneric) return nullptr;
        auto it = forms.find(form_key(m, form));
        return it == forms.end() ? nullptr : it->second;
    }

private:
    static uint32_t form_key(uint32_t m, OperandForm form) { return m * uint32_t(OperandForm::kCount) + uint32_t(form); }
};

// H::run<Dst, Src> for each of kForms (FormOperands gives the accessors).
template <typename H, OperandForm... kForms>
void register_form_instances([[maybe_unused]] HandlerTable& t, [[maybe_unused]] ZydisMnemonic m) {
    (t.set_form(m, kForms, &H::template run<typename FormOperands<kForms>::Dst, typename FormOperands<kForms>::Src>),
     ...);
}
// The same plus the generic instance as the mnemonic's handler.
template <typename H, OperandForm... kForms>
void register_forms(HandlerTable& t, ZydisMnemonic m) {
    t[m] = &H::template run<operand::Any, operand::Any>;
    register_form_instances<H, kForms...>(t, m);
}

// The mnemonic of `prefix` ("j", "cmov", "set") with condition code cc
// (the low nibble of the opcode): "j" and 4 give JZ.
ZydisMnemonic condition_mnemonic(const char* prefix, unsigned cc);

// Instructions with a condition code (Jcc, CMOVcc, SETcc): H<cc> for each
// of the 16 codes, so the condition folds to a flag test in each instance.
template <template <unsigned> class H, OperandForm... kForms, size_t... kCc>
void register_conditional(HandlerTable& t, const char* prefix, std::index_sequence<kCc...>) {
    (register_forms<H<kCc>, kForms...>(t, condition_mnemonic(prefix, kCc)), ...);
}
template <template <unsigned> class H, OperandForm... kForms>
void register_conditional(HandlerTable& t, const char* prefix) {
    register_conditional<H, kForms...>(t, prefix, std::make_index_sequence<16>());
}

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
