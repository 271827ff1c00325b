// The undefined-effects table (Intel SDM vol. 2, each instruction's "Flags
// Affected"). Flags an instruction leaves unmodified are compared (they must
// keep their input value); only "undefined" ones are masked.
#include "tests/hostdiff/flag_rules.h"

#include <Zydis/Zydis.h>

#include <cstring>

namespace nomad86::hostdiff {
namespace {

constexpr uint16_t kC0 = 0x0100, kC1 = 0x0200, kC2 = 0x0400, kC3 = 0x4000;
constexpr uint32_t CF = kFlagCF, PF = kFlagPF, AF = kFlagAF, ZF = kFlagZF, SF = kFlagSF, OF = kFlagOF;

struct Decoded {
    ZydisDecodedInstruction insn;
    ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
    bool ok = false;
};

Decoded decode(const TestCase& t) {
    Decoded d;
    ZydisDecoder dec;
    ZydisDecoderInit(&dec, ZYDIS_MACHINE_MODE_LEGACY_32, ZYDIS_STACK_WIDTH_32);
    d.ok = ZYAN_SUCCESS(ZydisDecoderDecodeFull(&dec, t.bytes.data(), t.len, &d.insn, d.ops));
    return d;
}

// GPR index and bit mask of a Zydis register (8/16/32-bit GPRs).
bool gpr_of(ZydisRegister reg, unsigned* index, uint32_t* bits) {
    const ZydisRegisterClass cls = ZydisRegisterGetClass(reg);
    const unsigned id = unsigned(ZydisRegisterGetId(reg));
    switch (cls) {
    case ZYDIS_REGCLASS_GPR32: *index = id, *bits = 0xffffffffu; return true;
    case ZYDIS_REGCLASS_GPR16: *index = id, *bits = 0xffffu; return true;
    case ZYDIS_REGCLASS_GPR8:
        if (id >= 4 && id < 8) *index = id - 4, *bits = 0xff00u;  // AH CH DH BH
        else *index = id, *bits = 0xffu;
        return id < 8;
    default: return false;
    }
}

// The value of operand `op` in the test's initial state (register, memory in
// the window, or immediate), truncated to its size.
uint64_t operand_value(const TestCase& t, const ZydisDecodedOperand& op) {
    const uint64_t size_mask = op.size >= 64 ? ~0ull : (1ull << op.size) - 1;
    if (op.type == ZYDIS_OPERAND_TYPE_IMMEDIATE) return op.imm.value.u & size_mask;
    if (op.type == ZYDIS_OPERAND_TYPE_REGISTER) {
        unsigned i;
        uint32_t bits;
        if (!gpr_of(op.reg.value, &i, &bits)) return 0;
        return (t.gpr[i] & bits) >> (bits == 0xff00u ? 8 : 0);
    }
    if (op.type == ZYDIS_OPERAND_TYPE_MEMORY) {
        uint32_t ea = uint32_t(op.mem.disp.value);
        unsigned i;
        uint32_t bits;
        if (op.mem.base != ZYDIS_REGISTER_NONE && gpr_of(op.mem.base, &i, &bits)) ea += t.gpr[i];
        if (op.mem.index != ZYDIS_REGISTER_NONE && gpr_of(op.mem.index, &i, &bits)) ea += t.gpr[i] * op.mem.scale;
        uint64_t v = 0;
        const unsigned n = op.size / 8;
        for (unsigned k = 0; k < n && k < 8; k++) {
            const uint32_t a = ea + k - layout::kWindowAddr;
            if (a < layout::kWindowSize) v |= uint64_t(t.window[a]) << (8 * k);
        }
        return v;
    }
    return 0;
}

uint32_t operand_ea(const TestCase& t, const ZydisDecodedOperand& op) {
    uint32_t ea = uint32_t(op.mem.disp.value);
    unsigned i;
    uint32_t bits;
    if (op.mem.base != ZYDIS_REGISTER_NONE && gpr_of(op.mem.base, &i, &bits)) ea += t.gpr[i];
    if (op.mem.index != ZYDIS_REGISTER_NONE && gpr_of(op.mem.index, &i, &bits)) ea += t.gpr[i] * op.mem.scale;
    return ea;
}

void undefined_destination(const TestCase& t, const ZydisDecodedOperand& dst, Undefined& u) {
    if (dst.type == ZYDIS_OPERAND_TYPE_REGISTER) {
        unsigned i;
        uint32_t bits;
        if (gpr_of(dst.reg.value, &i, &bits)) u.gpr_bits[i] |= bits;
    } else if (dst.type == ZYDIS_OPERAND_TYPE_MEMORY) {
        u.mem_addr = operand_ea(t, dst);
        u.mem_size = dst.size / 8;
    }
}

// The masked shift/rotate count (imm8, CL or the implicit 1), & 0x1f.
unsigned shift_count(const TestCase& t, const Decoded& d) {
    const ZydisDecodedOperand& c = d.ops[d.insn.operand_count_visible - 1];
    return unsigned(operand_value(t, c)) & 0x1f;
}

}  // namespace

Undefined undefined_effects(const TestCase& t) {
    Undefined u;
    const Decoded d = decode(t);
    if (!d.ok) return u;
    const unsigned width = d.insn.operand_width;
    switch (d.insn.mnemonic) {
    // "The OF and CF flags are cleared; the SF, ZF, and PF flags are set
    // according to the result. The state of the AF flag is undefined."
    case ZYDIS_MNEMONIC_AND:
    case ZYDIS_MNEMONIC_OR:
    case ZYDIS_MNEMONIC_XOR:
    case ZYDIS_MNEMONIC_TEST:
        u.flags = AF;
        u.rule = "AND/OR/XOR/TEST: AF undefined";
        break;
    // SAL/SAR/SHL/SHR: "The CF flag contains the value of the last bit
    // shifted out ...; it is undefined for SHL and SHR instructions where the
    // count is greater than or equal to the size (in bits) of the destination
    // operand. The OF flag is affected only for 1-bit shifts; otherwise, it is
    // undefined. ... If the count is 0, the flags are not affected. For a
    // non-zero count, the AF flag is undefined."
    case ZYDIS_MNEMONIC_SHL:
    case ZYDIS_MNEMONIC_SHR:
    case ZYDIS_MNEMONIC_SAR: {
        const unsigned n = shift_count(t, d);
        if (n == 0) break;
        u.flags = AF | (n != 1 ? OF : 0);
        if (d.insn.mnemonic != ZYDIS_MNEMONIC_SAR && n >= width) u.flags |= CF;
        u.rule = "SHL/SHR/SAR: AF undefined for count>0, OF for count>1, CF for SHL/SHR count>=width";
        break;
    }
    // RCL/RCR/ROL/ROR: "The OF flag is defined only for the 1-bit rotates;
    // it is undefined in all other cases (except RCL and RCR instructions
    // only: a zero-bit rotate does nothing, that is affects no flags)."
    // Masked count 0: "no flags are affected" for all four.
    case ZYDIS_MNEMONIC_ROL:
    case ZYDIS_MNEMONIC_ROR:
    case ZYDIS_MNEMONIC_RCL:
    case ZYDIS_MNEMONIC_RCR: {
        const unsigned n = shift_count(t, d);
        if (n > 1) u.flags = OF;
        u.rule = "ROL/ROR/RCL/RCR: OF undefined unless the masked count is 0 or 1";
        break;
    }
    // SHLD/SHRD: "If the count is 1 or greater, the CF flag is filled with the
    // last bit shifted out ... For a 1-bit shift, the OF flag is set if a sign
    // change occurred; otherwise, it is cleared. For shifts greater than 1 bit,
    // the OF flag is undefined. ... If the count is greater than the operand
    // size, the result is undefined (and all flags undefined). AF undefined."
    case ZYDIS_MNEMONIC_SHLD:
    case ZYDIS_MNEMONIC_SHRD: {
        const unsigned n = shift_count(t, d);
        if (n == 0) break;
        u.flags = AF | (n != 1 ? OF : 0);
        u.rule = "SHLD/SHRD: AF undefined, OF for count>1";
        if (n > width) {
            u.flags = CF | PF | AF | ZF | SF | OF;
            undefined_destination(t, d.ops[0], u);
            u.rule = "SHLD/SHRD: count > operand size: result and flags undefined";
        }
        break;
    }
    // MUL/IMUL: "The SF, ZF, AF, and PF flags are undefined."
    case ZYDIS_MNEMONIC_MUL:
    case ZYDIS_MNEMONIC_IMUL:
        u.flags = SF | ZF | AF | PF;
        u.rule = "MUL/IMUL: SF ZF AF PF undefined";
        break;
    // DIV/IDIV: "The CF, OF, SF, ZF, AF, and PF flags are undefined."
    case ZYDIS_MNEMONIC_DIV:
    case ZYDIS_MNEMONIC_IDIV:
        u.flags = CF | OF | SF | ZF | AF | PF;
        u.rule = "DIV/IDIV: all arithmetic flags undefined";
        break;
    // DAA/DAS: "The OF flag is undefined."
    case ZYDIS_MNEMONIC_DAA:
    case ZYDIS_MNEMONIC_DAS:
        u.flags = OF;
        u.rule = "DAA/DAS: OF undefined";
        break;
    // AAA/AAS: "The OF, SF, ZF, and PF flags are undefined."
    case ZYDIS_MNEMONIC_AAA:
    case ZYDIS_MNEMONIC_AAS:
        u.flags = OF | SF | ZF | PF;
        u.rule = "AAA/AAS: OF SF ZF PF undefined";
        break;
    // AAM/AAD: "The OF, AF, and CF flags are undefined."
    case ZYDIS_MNEMONIC_AAM:
    case ZYDIS_MNEMONIC_AAD:
        u.flags = OF | AF | CF;
        u.rule = "AAM/AAD: OF AF CF undefined";
        break;
    // BT/BTS/BTR/BTC: "The ZF flag is unaffected. The OF, SF, AF, and PF
    // flags are undefined."
    case ZYDIS_MNEMONIC_BT:
    case ZYDIS_MNEMONIC_BTS:
    case ZYDIS_MNEMONIC_BTR:
    case ZYDIS_MNEMONIC_BTC:
        u.flags = OF | SF | AF | PF;
        u.rule = "BT*: OF SF AF PF undefined";
        break;
    // BSF/BSR: "The ZF flag is set to 1 if the source operand is 0; otherwise
    // cleared. The CF, OF, SF, AF, and PF flags are undefined." and "If the
    // content of the source operand is 0, the content of the destination
    // operand is undefined."
    case ZYDIS_MNEMONIC_BSF:
    case ZYDIS_MNEMONIC_BSR:
        u.flags = CF | OF | SF | AF | PF;
        u.rule = "BSF/BSR: CF OF SF AF PF undefined";
        if (operand_value(t, d.ops[1]) == 0) {
            undefined_destination(t, d.ops[0], u);
            u.rule = "BSF/BSR: source 0: destination and CF OF SF AF PF undefined";
        }
        break;
    // BSWAP: "When the BSWAP instruction references a 16-bit register, the
    // result is undefined."
    case ZYDIS_MNEMONIC_BSWAP:
        if (width == 16) {
            undefined_destination(t, d.ops[0], u);
            u.rule = "BSWAP r16: result undefined";
        }
        break;
    // x87 (SDM "FPU Flags Affected"). Arithmetic, loads, stores, FXCH,
    // FINCSTP/FDECSTP, FCMOVcc: "C1: set to 0 if stack underflow occurred;
    // set if result rounded up [or 1 on stack overflow]; C0, C2, C3 undefined."
    case ZYDIS_MNEMONIC_FLD: case ZYDIS_MNEMONIC_FILD: case ZYDIS_MNEMONIC_FST: case ZYDIS_MNEMONIC_FSTP:
    case ZYDIS_MNEMONIC_FIST: case ZYDIS_MNEMONIC_FISTP: case ZYDIS_MNEMONIC_FADD: case ZYDIS_MNEMONIC_FADDP:
    case ZYDIS_MNEMONIC_FIADD: case ZYDIS_MNEMONIC_FSUB: case ZYDIS_MNEMONIC_FSUBP: case ZYDIS_MNEMONIC_FISUB:
    case ZYDIS_MNEMONIC_FSUBR: case ZYDIS_MNEMONIC_FSUBRP: case ZYDIS_MNEMONIC_FISUBR: case ZYDIS_MNEMONIC_FMUL:
    case ZYDIS_MNEMONIC_FMULP: case ZYDIS_MNEMONIC_FIMUL: case ZYDIS_MNEMONIC_FDIV: case ZYDIS_MNEMONIC_FDIVP:
    case ZYDIS_MNEMONIC_FIDIV: case ZYDIS_MNEMONIC_FDIVR: case ZYDIS_MNEMONIC_FDIVRP: case ZYDIS_MNEMONIC_FIDIVR:
    case ZYDIS_MNEMONIC_FCHS: case ZYDIS_MNEMONIC_FABS: case ZYDIS_MNEMONIC_FLD1: case ZYDIS_MNEMONIC_FLDL2T:
    case ZYDIS_MNEMONIC_FLDL2E: case ZYDIS_MNEMONIC_FLDPI: case ZYDIS_MNEMONIC_FLDLG2: case ZYDIS_MNEMONIC_FLDLN2:
    case ZYDIS_MNEMONIC_FLDZ: case ZYDIS_MNEMONIC_F2XM1: case ZYDIS_MNEMONIC_FYL2X: case ZYDIS_MNEMONIC_FYL2XP1:
    case ZYDIS_MNEMONIC_FPATAN: case ZYDIS_MNEMONIC_FXTRACT: case ZYDIS_MNEMONIC_FSQRT: case ZYDIS_MNEMONIC_FRNDINT:
    case ZYDIS_MNEMONIC_FSCALE: case ZYDIS_MNEMONIC_FXCH: case ZYDIS_MNEMONIC_FINCSTP: case ZYDIS_MNEMONIC_FDECSTP:
    case ZYDIS_MNEMONIC_FCMOVB: case ZYDIS_MNEMONIC_FCMOVE: case ZYDIS_MNEMONIC_FCMOVBE: case ZYDIS_MNEMONIC_FCMOVU:
    case ZYDIS_MNEMONIC_FCMOVNB: case ZYDIS_MNEMONIC_FCMOVNE: case ZYDIS_MNEMONIC_FCMOVNBE: case ZYDIS_MNEMONIC_FCMOVNU:
        u.fsw = kC0 | kC2 | kC3;
        u.rule = "x87 arithmetic/load/store/FXCH/FCMOV: C0 C2 C3 undefined";
        break;
    // FSIN/FCOS/FPTAN/FSINCOS: "C2 set to 1 if outside range; C0, C3 undefined."
    case ZYDIS_MNEMONIC_FSIN: case ZYDIS_MNEMONIC_FCOS: case ZYDIS_MNEMONIC_FPTAN: case ZYDIS_MNEMONIC_FSINCOS:
        u.fsw = kC0 | kC3;
        u.rule = "FSIN/FCOS/FPTAN/FSINCOS: C0 C3 undefined";
        break;
    // FFREE, FNSTSW, FNSTCW, FLDCW, FNCLEX: "C0, C1, C2, C3 undefined."
    case ZYDIS_MNEMONIC_FFREE: case ZYDIS_MNEMONIC_FNSTSW: case ZYDIS_MNEMONIC_FNSTCW: case ZYDIS_MNEMONIC_FLDCW:
    case ZYDIS_MNEMONIC_FNCLEX:
        u.fsw = kC0 | kC1 | kC2 | kC3;
        u.rule = "FFREE/FNSTSW/FNSTCW/FLDCW/FNCLEX: C0-C3 undefined";
        break;
    default:
        break;  // everything else (FCOM*, FUCOM*, FTST, FXAM, FPREM*, FCOMI*, FNINIT): all defined
    }
    return u;
}

std::string disassemble(const TestCase& t) {
    ZydisDisassembledInstruction di;
    if (!ZYAN_SUCCESS(ZydisDisassembleIntel(ZYDIS_MACHINE_MODE_LEGACY_32, layout::kInsnAddr, t.bytes.data(), t.len, &di)))
        return "(undecodable)";
    return di.text;
}

}  // namespace nomad86::hostdiff
