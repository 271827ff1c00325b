// What nomad86-singlestep masks or skips, and why: see conformance_table.h.
#include "tests/singlestep/conformance_table.h"

#include <cstring>
#include <vector>

#include <Zydis/Zydis.h>

namespace nomad86::singlestep {

namespace {

constexpr uint16_t CF = 0x0001, PF = 0x0004, AF = 0x0010, ZF = 0x0040, SF = 0x0080, OF = 0x0800;

bool always(const moo::Test&) { return true; }

// The legacy prefixes in front of the opcode.
size_t prefix_length(const moo::Test& t) {
    size_t i = 0;
    while (i < t.bytes.size()) {
        switch (t.bytes[i]) {
        case 0x26: case 0x2e: case 0x36: case 0x3e: case 0x64: case 0x65:
        case 0xf0: case 0xf2: case 0xf3: i++; continue;
        default: return i;
        }
    }
    return i;
}

bool has_prefix(const moo::Test& t, uint8_t p) {
    const size_t n = prefix_length(t);
    for (size_t i = 0; i < n; i++)
        if (t.bytes[i] == p) return true;
    return false;
}

struct Decoded {
    bool ok = false;
    ZydisDecodedInstruction insn;
    ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
};

Decoded decode(const std::vector<uint8_t>& bytes) {
    Decoded d;
    ZydisDecoder dec;
    ZydisDecoderInit(&dec, ZYDIS_MACHINE_MODE_REAL_16, ZYDIS_STACK_WIDTH_16);
    d.ok = ZYAN_SUCCESS(ZydisDecoderDecodeFull(&dec, bytes.data(), bytes.size(), &d.insn, d.ops));
    return d;
}

// The masked shift/rotate count of a C0/C1/D0-D3 test (0x1f: the 286 masks
// the count to 5 bits as the 386 does).
unsigned shift_count(const moo::Test& t) {
    const size_t p = prefix_length(t);
    if (p >= t.bytes.size()) return 0;
    switch (t.bytes[p]) {
    case 0xd0: case 0xd1: return 1;
    case 0xd2: case 0xd3: return t.init.regs[moo::kCx] & 0x1f;
    default: {  // C0/C1: imm8 ends the instruction (BYTS goes on with the HLT)
        const Decoded d = decode(t.bytes);
        return d.ok && d.insn.length >= 1 ? t.bytes[d.insn.length - 1] & 0x1f : 0;
    }
    }
}
unsigned shift_width(const moo::Test& t) {
    const size_t p = prefix_length(t);
    return p < t.bytes.size() && (t.bytes[p] & 1) ? 16 : 8;
}
bool count_nonzero(const moo::Test& t) { return shift_count(t) != 0; }
bool count_above_1(const moo::Test& t) { return shift_count(t) > 1; }
bool count_at_least_width(const moo::Test& t) { return shift_count(t) >= shift_width(t); }


uint16_t init_reg16(const moo::Test& t, ZydisRegister r) {
    switch (r) {
    case ZYDIS_REGISTER_AX: return t.init.regs[moo::kAx];
    case ZYDIS_REGISTER_BX: return t.init.regs[moo::kBx];
    case ZYDIS_REGISTER_CX: return t.init.regs[moo::kCx];
    case ZYDIS_REGISTER_DX: return t.init.regs[moo::kDx];
    case ZYDIS_REGISTER_SP: return t.init.regs[moo::kSp];
    case ZYDIS_REGISTER_BP: return t.init.regs[moo::kBp];
    case ZYDIS_REGISTER_SI: return t.init.regs[moo::kSi];
    case ZYDIS_REGISTER_DI: return t.init.regs[moo::kDi];
    case ZYDIS_REGISTER_ES: return t.init.regs[moo::kEs];
    case ZYDIS_REGISTER_CS: return t.init.regs[moo::kCs];
    case ZYDIS_REGISTER_SS: return t.init.regs[moo::kSs];
    case ZYDIS_REGISTER_DS: return t.init.regs[moo::kDs];
    case ZYDIS_REGISTER_AL: return t.init.regs[moo::kAx] & 0xff;
    case ZYDIS_REGISTER_CL: return t.init.regs[moo::kCx] & 0xff;
    case ZYDIS_REGISTER_DL: return t.init.regs[moo::kDx] & 0xff;
    case ZYDIS_REGISTER_BL: return t.init.regs[moo::kBx] & 0xff;
    case ZYDIS_REGISTER_AH: return t.init.regs[moo::kAx] >> 8;
    case ZYDIS_REGISTER_CH: return t.init.regs[moo::kCx] >> 8;
    case ZYDIS_REGISTER_DH: return t.init.regs[moo::kDx] >> 8;
    case ZYDIS_REGISTER_BH: return t.init.regs[moo::kBx] >> 8;
    default: return 0;
    }
}

// The 16-bit offset of an explicit memory operand under the initial registers.
uint32_t mem_offset(const moo::Test& t, const ZydisDecodedOperand& op) {
    uint32_t ea = uint32_t(op.mem.disp.has_displacement ? op.mem.disp.value : 0);
    if (op.mem.base != ZYDIS_REGISTER_NONE) ea += init_reg16(t, op.mem.base);
    if (op.mem.index != ZYDIS_REGISTER_NONE) ea += init_reg16(t, op.mem.index);
    return ea & 0xffff;
}

// A byte of the initial RAM (0 if the test does not list it).
uint8_t init_byte(const moo::Test& t, uint32_t addr) {
    for (auto [a, v] : t.init.ram)
        if (a == addr) return v;
    return 0;
}

// The value of operand i under the initial state (register or memory).
uint32_t operand_value(const moo::Test& t, const Decoded& d, unsigned i) {
    const ZydisDecodedOperand& op = d.ops[i];
    if (op.type == ZYDIS_OPERAND_TYPE_REGISTER) return init_reg16(t, op.reg.value);
    if (op.type != ZYDIS_OPERAND_TYPE_MEMORY) return 0;
    const uint32_t base = uint32_t(init_reg16(t, op.mem.segment)) << 4;
    const uint32_t off = mem_offset(t, op);
    uint32_t v = init_byte(t, base + off);
    if (op.size == 16) v |= uint32_t(init_byte(t, base + ((off + 1) & 0xffff))) << 8;
    return v;
}

// IDIV: does the SDM's rule raise #DE for this test's operands?
bool sdm_idiv_faults(const moo::Test& t, const Decoded& d) {
    const bool word = d.ops[0].size == 16;
    const int32_t divisor = word ? int16_t(operand_value(t, d, 0)) : int8_t(operand_value(t, d, 0));
    if (divisor == 0) return true;
    const int32_t dividend = word ? int32_t(uint32_t(t.init.regs[moo::kDx]) << 16 | t.init.regs[moo::kAx])
                                  : int16_t(t.init.regs[moo::kAx]);
    const int64_t q = int64_t(dividend) / divisor;
    return word ? (q > 0x7fff || q < -0x8000) : (q > 0x7f || q < -0x80);
}

// The 286's #DE outcome for IDIV is not the SDM's.
bool idiv_fault_disagrees(const moo::Test& t) {
    Decoded d = decode(t.bytes);
    if (!d.ok) return false;
    const bool hw = t.has_exception && t.exception_vector == 0;
    return hw != sdm_idiv_faults(t, d);
}

// The 286 raised its segment-overrun INT 13 where the 386 behaves otherwise:
// it had already committed part of the instruction (registers other than the
// interrupt's CS:IP, SP-6 and FLAGS changed), or the access was through SS
// (the 386 raises #SS, vector 12).
bool int13_not_restartable_or_stack(const moo::Test& t) {
    if (!t.has_exception || t.exception_vector != 13) return false;
    static const unsigned kKept[] = {moo::kAx, moo::kBx, moo::kCx, moo::kDx, moo::kSs, moo::kDs,
                                     moo::kEs, moo::kBp, moo::kSi, moo::kDi};
    for (unsigned r : kKept)
        if (t.final_state.has(r) && t.final_state.regs[r] != t.init.regs[r]) return true;
    const uint16_t sp = t.final_state.has(moo::kSp) ? t.final_state.regs[moo::kSp] : t.init.regs[moo::kSp];
    if (sp != uint16_t(t.init.regs[moo::kSp] - 6)) return true;
    Decoded d = decode(t.bytes);
    if (!d.ok) return false;
    // An explicit operand outside SS that crosses FFFFH: #GP(0) on the 386+
    // too, and nothing was committed: compared as usual.
    for (unsigned i = 0; i < d.insn.operand_count_visible; i++)
        if (d.ops[i].type == ZYDIS_OPERAND_TYPE_MEMORY && d.ops[i].mem.segment != ZYDIS_REGISTER_SS &&
            mem_offset(t, d.ops[i]) + d.ops[i].size / 8 > 0x10000)
            return false;
    for (unsigned i = 0; i < d.insn.operand_count; i++)
        if (d.ops[i].type == ZYDIS_OPERAND_TYPE_MEMORY && d.ops[i].mem.segment == ZYDIS_REGISTER_SS) return true;
    return false;
}

// The 286 raised INT 13 for an instruction longer than its 10-byte limit.
bool longer_than_286_limit(const moo::Test& t) {
    if (!t.has_exception || t.exception_vector != 13) return false;
    // BYTS stops where the 286 gave up: pad it for the length decode.
    std::vector<uint8_t> b = t.bytes;
    b.resize(b.size() + 16, 0);
    Decoded d = decode(b);
    const size_t p = prefix_length(t);
    if (!d.ok && p + 1 < t.bytes.size() && (b[p] == 0xc6 || b[p] == 0xc7)) {
        // C6/C7 /1-/7 (#UD on both CPUs once decoded): its length is MOV's.
        b[p + 1] &= 0xc7;
        d = decode(b);
    }
    return d.ok && d.insn.length > 10;
}

// MOV to/from FS or GS (ModRM.reg 4 or 5 of 8C/8E).
bool fs_gs_operand(const moo::Test& t) {
    const size_t p = prefix_length(t);
    return p + 1 < t.bytes.size() && (((t.bytes[p + 1] >> 3) & 7) == 4 || ((t.bytes[p + 1] >> 3) & 7) == 5);
}

// AAM with an immediate of 0.
bool aam_zero(const moo::Test& t) {
    const size_t p = prefix_length(t);
    return p + 1 < t.bytes.size() && t.bytes[p + 1] == 0;
}

// An ESC (x87) memory operand running past offset FFFF without a fault on the 286.
bool esc_operand_past_limit(const moo::Test& t) {
    if (t.has_exception) return false;
    Decoded d = decode(t.bytes);
    if (!d.ok) return false;
    for (unsigned i = 0; i < d.insn.operand_count_visible; i++)
        if (d.ops[i].type == ZYDIS_OPERAND_TYPE_MEMORY && mem_offset(t, d.ops[i]) + d.ops[i].size / 8 > 0x10000)
            return true;
    return false;
}

// LOCK in front of an instruction the SDM does not allow it on: anything but
// ADD ADC AND BTC BTR BTS CMPXCHG DEC INC NEG NOT OR SBB SUB XOR XADD XCHG
// with a memory destination.
bool illegal_lock(const moo::Test& t) {
    if (!has_prefix(t, 0xf0)) return false;
    std::vector<uint8_t> b;
    for (size_t i = 0; i < t.bytes.size(); i++)
        if (!(i < prefix_length(t) && t.bytes[i] == 0xf0)) b.push_back(t.bytes[i]);
    ZydisDecoder dec;
    ZydisDecoderInit(&dec, ZYDIS_MACHINE_MODE_REAL_16, ZYDIS_STACK_WIDTH_16);
    ZydisDecodedInstruction insn;
    ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
    if (ZYAN_FAILED(ZydisDecoderDecodeFull(&dec, b.data(), b.size(), &insn, ops))) return true;
    switch (insn.mnemonic) {
    case ZYDIS_MNEMONIC_ADD: case ZYDIS_MNEMONIC_ADC: case ZYDIS_MNEMONIC_AND: case ZYDIS_MNEMONIC_BTC:
    case ZYDIS_MNEMONIC_BTR: case ZYDIS_MNEMONIC_BTS: case ZYDIS_MNEMONIC_CMPXCHG: case ZYDIS_MNEMONIC_DEC:
    case ZYDIS_MNEMONIC_INC: case ZYDIS_MNEMONIC_NEG: case ZYDIS_MNEMONIC_NOT: case ZYDIS_MNEMONIC_OR:
    case ZYDIS_MNEMONIC_SBB: case ZYDIS_MNEMONIC_SUB: case ZYDIS_MNEMONIC_XOR: case ZYDIS_MNEMONIC_XADD:
    case ZYDIS_MNEMONIC_XCHG:
        return !(insn.operand_count_visible > 0 && ops[0].type == ZYDIS_OPERAND_TYPE_MEMORY);
    default:
        return true;
    }
}

const Rule kRules[] = {
    {"9D CF", always, Action::kMaskFlags, 0xf000,
     "POPF/IRET loading FLAGS bits 12-15 (IOPL, NT, bit 15) in real mode: SDM Vol. 3A ch. 22 (Architecture "
     "Compatibility, the EFLAGS register): on the Intel 286 in real-address mode bits 12-15 of FLAGS are always "
     "clear (the 8086 sets them); on the Intel386 and later POPF/IRET write IOPL and NT in real mode (Vol. 2B "
     "'POPF' Operation: real-address mode, all non-reserved flags can be modified). The initial FLAGS of every "
     "test have these bits cleared by the runner, as ../shared/README.md prescribes."},
    {"*", illegal_lock, Action::kSkip, 0,
     "LOCK on an instruction or form that cannot be locked: SDM Vol. 2A 'LOCK': 'An undefined opcode exception "
     "will also be generated if the LOCK prefix is used with any instruction not in the above list' (and only "
     "'forms of the instructions where the destination operand is a memory operand'). The 286 ignores such a LOCK."},

    // Flags the SDM leaves undefined: the 286 leaves its own values there.
    {"08 09 0A 0B 0C 0D 20 21 22 23 24 25 30 31 32 33 34 35 80.1 80.4 80.6 81.1 81.4 81.6 82.1 82.4 82.6 83.1 "
     "83.4 83.6 84 85 A8 A9 F6.0 F6.1 F7.0 F7.1",
     always, Action::kMaskFlags, AF,
     "AND/OR/XOR/TEST: SDM Vol. 2 'Flags Affected': 'The OF and CF flags are cleared; the SF, ZF, and PF flags "
     "are set according to the result. The state of the AF flag is undefined.'"},
    {"F6.4 F7.4", always, Action::kMaskFlags, SF | ZF | AF | PF,
     "MUL: SDM Vol. 2 'MUL' Flags Affected: 'The SF, ZF, AF, and PF flags are undefined.'"},
    {"F6.5 F7.5 69 6B", always, Action::kMaskFlags, SF | ZF | AF | PF,
     "IMUL: SDM Vol. 2 'IMUL' Flags Affected: 'The SF, ZF, AF, and PF flags are undefined.'"},
    {"F6.6 F6.7 F7.6 F7.7", always, Action::kMaskFlags, CF | OF | SF | ZF | AF | PF,
     "DIV/IDIV: SDM Vol. 2 'DIV'/'IDIV' Flags Affected: 'The CF, OF, SF, ZF, AF, and PF flags are undefined.'"},
    {"27 2F", always, Action::kMaskFlags, OF,
     "DAA/DAS: SDM Vol. 2 'DAA'/'DAS' Flags Affected: 'The OF flag is undefined.'"},
    {"37 3F", always, Action::kMaskFlags, OF | SF | ZF | PF,
     "AAA/AAS: SDM Vol. 2 'AAA'/'AAS' Flags Affected: 'The OF, SF, ZF, and PF flags are undefined.'"},
    {"D4 D5", always, Action::kMaskFlags, OF | AF | CF,
     "AAM/AAD: SDM Vol. 2 'AAM'/'AAD' Flags Affected: 'The SF, ZF, and PF flags are set according to the "
     "resulting binary value in the AL register. The OF, AF, and CF flags are undefined.'"},
    {"C0.4 C0.5 C0.6 C0.7 C1.4 C1.5 C1.6 C1.7 D0.4 D0.5 D0.6 D0.7 D1.4 D1.5 D1.6 D1.7 D2.4 D2.5 D2.6 D2.7 "
     "D3.4 D3.5 D3.6 D3.7",
     count_nonzero, Action::kMaskFlags, AF,
     "SAL/SAR/SHL/SHR (/6 is SHL's alias): SDM Vol. 2 'SAL/SAR/SHL/SHR' Flags Affected: 'If the count is 0, the "
     "flags are not affected. ... For a non-zero count, the AF flag is undefined.'"},
    {"C0.4 C0.5 C0.6 C0.7 C1.4 C1.5 C1.6 C1.7 D0.4 D0.5 D0.6 D0.7 D1.4 D1.5 D1.6 D1.7 D2.4 D2.5 D2.6 D2.7 "
     "D3.4 D3.5 D3.6 D3.7",
     count_above_1, Action::kMaskFlags, OF,
     "SAL/SAR/SHL/SHR: SDM Vol. 2 'SAL/SAR/SHL/SHR' Flags Affected: 'The OF flag is affected only for 1-bit "
     "shifts ...; otherwise, it is undefined.'"},
    {"C0.4 C0.5 C0.6 C1.4 C1.5 C1.6 D0.4 D0.5 D0.6 D1.4 D1.5 D1.6 D2.4 D2.5 D2.6 D3.4 D3.5 D3.6",
     count_at_least_width, Action::kMaskFlags, CF,
     "SHL/SHR: SDM Vol. 2 'SAL/SAR/SHL/SHR' Flags Affected: 'The CF flag contains the value of the last bit "
     "shifted out of the destination operand; it is undefined for SHL and SHR instructions where the count is "
     "greater than or equal to the size (in bits) of the destination operand.'"},
    {"C0.0 C0.1 C0.2 C0.3 C1.0 C1.1 C1.2 C1.3 D0.0 D0.1 D0.2 D0.3 D1.0 D1.1 D1.2 D1.3 D2.0 D2.1 D2.2 D2.3 "
     "D3.0 D3.1 D3.2 D3.3",
     count_above_1, Action::kMaskFlags, OF,
     "RCL/RCR/ROL/ROR: SDM Vol. 2 'RCL/RCR/ROL/ROR' Flags Affected: 'If the masked count is 0, the flags are "
     "not affected. If the masked count is 1, then the OF flag is affected, otherwise (masked count is greater "
     "than 1) the OF flag is undefined.'"},
    {"8C 8E", fs_gs_operand, Action::kSkip, 0,
     "MOV to/from FS or GS: the 286 has no FS/GS (ModRM.reg 4/5 is #UD, INT 6, there); SDM Vol. 3A ch. 22 "
     "(Architecture Compatibility): the FS and GS segment registers were introduced with the Intel386; Vol. 2B "
     "'MOV' encodes them as Sreg 4 and 5."},
    {"D4", aam_zero, Action::kMaskFlags, SF | ZF | PF,
     "AAM 0: SDM Vol. 2A 'AAM' Protected/Real-Address Mode Exceptions: '#DE If an immediate value of 0 is used.'; "
     "a fault is reported with the machine state as it was before the faulting instruction (SDM Vol. 3A 6.5, "
     "'Faults'), while the 286 has already set SF, ZF and PF from AL when it raises INT 0, so the FLAGS it pushed differ there."},
    {"F6.7 F7.7", idiv_fault_disagrees, Action::kSkip, 0,
     "IDIV where the 286's divide-error decision differs from the SDM's: SDM Vol. 2A 'IDIV' Operation: "
     "'IF (temp > 7FH) or (temp < 80H) THEN #DE' (word: 7FFFH/8000H); the 286 microcode faults or not by "
     "its own microcode test: the rule is computed from the test's operands and the test is skipped only when "
     "the 286 decided otherwise (e.g. IDIV DH with AX=8C60h, DH=67h: the quotient -287 is out of range, the "
     "386+ raises #DE; the 286 stored AL=80h, AH=E0h)."},
    {"*", int13_not_restartable_or_stack, Action::kSkip, 0,
     "The 286's real-mode INT 13 (segment overrun: a word access at offset FFFFH) where it is not the 386+ "
     "fault: the 286 had already updated SI/DI/CX/SP or other registers, or the access was through SS. SDM "
     "Vol. 3A ch. 22 (Architecture Compatibility, exceptions and segment wraparound): on the 386+ an access past "
     "the limit is #GP(0), or #SS(0) for stack accesses (Vol. 3A ch. 20, 8086 emulation: real-address mode exceptions), "
     "and a fault restores the state to before the instruction (Vol. 3A 6.5 'Faults')."},
    {"*", longer_than_286_limit, Action::kSkip, 0,
     "An instruction longer than 10 bytes (redundant prefixes): the 286's limit is 10 bytes and it raises "
     "INT 13; SDM Vol. 3A ch. 22 (Architecture "
     "Compatibility, instruction length limit): the Intel 286 has a 10-byte limit, later processors 15 bytes; "
     "Vol. 2A 2.1 (Instruction Format): instructions are at most 15 bytes, a longer one raises #GP, so an 11-15 "
     "byte instruction executes on 386+."},
    {"D8", esc_operand_past_limit, Action::kSkip, 0,
     "ESC (x87) with a memory operand extending past offset FFFFH that the 286 (no coprocessor attached) "
     "completed: SDM Vol. 2A (x87 instructions) Real-Address Mode Exceptions: '#GP If a memory operand "
     "effective address is outside the CS, DS, ES, FS, or GS segment limit.'"},
};

bool in_groups(const char* groups, const std::string& stem) {
    if (std::strcmp(groups, "*") == 0) return true;
    const char* p = groups;
    while (*p) {
        while (*p == ' ') p++;
        const char* e = p;
        while (*e && *e != ' ') e++;
        if (size_t(e - p) == stem.size() && std::strncmp(p, stem.c_str(), stem.size()) == 0) return true;
        p = e;
    }
    return false;
}

}  // namespace

Verdict classify(const std::string& stem, const moo::Test& t) {
    Verdict v;
    for (const Rule& r : kRules) {
        if (!in_groups(r.groups, stem) || !r.applies(t)) continue;
        if (r.action == Action::kSkip) {
            v.skip = &r;
            return v;
        }
        v.flag_mask |= r.flags;
    }
    return v;
}

const Rule* rules(size_t* count) {
    *count = sizeof(kRules) / sizeof(kRules[0]);
    return kRules;
}

}  // namespace nomad86::singlestep
