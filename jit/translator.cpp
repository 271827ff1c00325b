#include "jit/translator.h"

#include <cinttypes>
#include <cstddef>
#include <cstdio>
#include <type_traits>
#include <vector>

#include <Zydis/Zydis.h>

#include "cpu/cpu.h"

namespace nomad86::jit {

namespace {

using namespace asmjit;

static_assert(std::is_standard_layout_v<CpuState>, "generated code addresses CpuState fields by offset");
constexpr int32_t kGprOffset = int32_t(offsetof(CpuState, gpr));
constexpr int32_t kRipOffset = int32_t(offsetof(CpuState, rip));
constexpr int32_t kFlagsOffset = int32_t(offsetof(CpuState, rflags));

// Fixed registers of generated code (all callee-saved in the SysV ABI, so
// they survive helper calls).
const x86::Gp kState = x86::rbx;
const x86::Gp kCpu = x86::rbp;
const x86::Gp kEntryRip = x86::r12;

// The helper: one interpreter step. Returns false when the block must end.
bool jit_step(Cpu* cpu, const DecodedInsn* insn, uint64_t ip_mask, RuntimeCounters* counters) {
    counters->helper_insns++;
    return cpu->step_for_jit(*insn, ip_mask);
}

enum class Form { kHelper, kNop, kMov, kAlu, kUnary, kLea, kMovExtend };

// A general register operand the generated code can address in CpuState.
bool is_plain_reg(const Operand& op) {
    if (op.kind != OpKind::kReg) return false;
    if (op.reg_class == RegClass::kGpr) return op.reg < 8 && (op.size == 1 || op.size == 2 || op.size == 4);
    if (op.reg_class == RegClass::kGprHigh8) return op.reg < 4 && op.size == 1;
    return false;
}

bool is_reg_or_imm_of(const Operand& src, const Operand& dst) {
    return src.kind == OpKind::kImm || (is_plain_reg(src) && src.size == dst.size);
}

Form form_of(const DecodedInsn& insn) {
    if (insn.prefixes & kPrefixLock) return Form::kHelper;
    const Operand* op = insn.ops;
    switch (insn.mnemonic) {
    case ZYDIS_MNEMONIC_NOP:
        return insn.num_ops == 0 ? Form::kNop : Form::kHelper;
    case ZYDIS_MNEMONIC_MOV:
        return insn.num_ops == 2 && is_plain_reg(op[0]) && is_reg_or_imm_of(op[1], op[0]) ? Form::kMov : Form::kHelper;
    case ZYDIS_MNEMONIC_ADD:
    case ZYDIS_MNEMONIC_ADC:
    case ZYDIS_MNEMONIC_SUB:
    case ZYDIS_MNEMONIC_SBB:
    case ZYDIS_MNEMONIC_AND:
    case ZYDIS_MNEMONIC_OR:
    case ZYDIS_MNEMONIC_XOR:
    case ZYDIS_MNEMONIC_CMP:
    case ZYDIS_MNEMONIC_TEST:
        return insn.num_ops == 2 && is_plain_reg(op[0]) && is_reg_or_imm_of(op[1], op[0]) ? Form::kAlu : Form::kHelper;
    case ZYDIS_MNEMONIC_INC:
    case ZYDIS_MNEMONIC_DEC:
    case ZYDIS_MNEMONIC_NEG:
    case ZYDIS_MNEMONIC_NOT:
        return insn.num_ops == 1 && is_plain_reg(op[0]) ? Form::kUnary : Form::kHelper;
    case ZYDIS_MNEMONIC_LEA:
        return insn.num_ops == 2 && is_plain_reg(op[0]) && op[0].size >= 2 && op[1].kind == OpKind::kMem &&
                       (insn.addrsize == 2 || insn.addrsize == 4)
                   ? Form::kLea
                   : Form::kHelper;
    case ZYDIS_MNEMONIC_MOVZX:
    case ZYDIS_MNEMONIC_MOVSX:
        return insn.num_ops == 2 && is_plain_reg(op[0]) && op[0].size >= 2 && is_plain_reg(op[1]) &&
                       op[1].size < op[0].size
                   ? Form::kMovExtend
                   : Form::kHelper;
    default:
        return Form::kHelper;
    }
}

// The arithmetic flags an inline form writes and reads (the host
// instruction computes them; undefined ones come out as the host makes
// them, exactly as in the interpreter, which runs the same instruction).
uint32_t flags_written(const DecodedInsn& insn, Form form) {
    if (form == Form::kAlu) return flags::ARITH;
    if (form != Form::kUnary) return 0;
    switch (insn.mnemonic) {
    case ZYDIS_MNEMONIC_INC:
    case ZYDIS_MNEMONIC_DEC: return flags::ARITH & ~flags::CF;
    case ZYDIS_MNEMONIC_NEG: return flags::ARITH;
    default: return 0;  // NOT
    }
}

uint32_t flags_read(const DecodedInsn& insn, Form form) {
    if (form == Form::kAlu && (insn.mnemonic == ZYDIS_MNEMONIC_ADC || insn.mnemonic == ZYDIS_MNEMONIC_SBB))
        return flags::CF;
    return 0;
}

x86::Gp sized(const x86::Gp& r, unsigned size) {
    switch (size) {
    case 1: return r.r8();
    case 2: return r.r16();
    case 4: return r.r32();
    default: return r.r64();
    }
}

// Where a register operand lives in CpuState (AH..BH: byte 1 of the slot).
x86::Mem reg_slot(const Operand& op) {
    const int32_t off = kGprOffset + 8 * op.reg + (op.reg_class == RegClass::kGprHigh8 ? 1 : 0);
    return x86::ptr(kState, off, op.size);
}

x86::Mem gpr_slot(unsigned reg, unsigned size) { return x86::ptr(kState, kGprOffset + int32_t(8 * reg), size); }

Imm sized_imm(uint64_t v, unsigned size) {
    switch (size) {
    case 1: return Imm(int8_t(v));
    case 2: return Imm(int16_t(v));
    default: return Imm(int32_t(v));
    }
}

// Records asmjit's first error instead of throwing (asmjit is built
// without exceptions; nothing may unwind through generated code anyway).
class ErrorRecorder final : public ErrorHandler {
public:
    void handleError(Error err, const char* message, BaseEmitter*) override {
        if (!failed) {
            failed = true;
            text = std::string(DebugUtils::errorAsString(err)) + ": " + message;
        }
    }
    bool failed = false;
    std::string text;
};

class BlockEmitter {
public:
    BlockEmitter(x86::Assembler& a, Cpu& cpu, RuntimeCounters& counters, uint64_t ip_mask)
        : a_(a), cpu_(cpu), counters_(counters), ip_mask_(ip_mask) {}

    void prologue() {
        a_.push(kState);
        a_.push(kCpu);
        a_.push(kEntryRip);
        a_.push(x86::r13);
        a_.sub(x86::rsp, 8);  // 16-byte alignment at helper calls
        a_.mov(kCpu, x86::rdi);
        a_.mov(kState, x86::rsi);
        a_.mov(kEntryRip, x86::qword_ptr(kState, kRipOffset));
        epilogue_ = a_.newLabel();
    }

    // s.rip = (entry + offset) & ip_mask
    void store_rip(uint32_t offset) {
        a_.lea(x86::eax, x86::ptr(kEntryRip, int32_t(offset)));
        if (ip_mask_ == 0xffff) a_.movzx(x86::eax, x86::ax);
        a_.mov(x86::qword_ptr(kState, kRipOffset), x86::rax);
    }

    // A helper step; on false, leave with `inline_before` inline
    // instructions retired.
    void helper(const DecodedInsn& insn, uint32_t offset, bool rip_current, unsigned inline_before) {
        if (!rip_current) store_rip(offset);
        a_.mov(x86::rdi, kCpu);
        a_.mov(x86::rsi, Imm(reinterpret_cast<uint64_t>(&insn)));
        a_.mov(x86::rdx, Imm(ip_mask_));
        a_.mov(x86::rcx, Imm(reinterpret_cast<uint64_t>(&counters_)));
        a_.call(Imm(reinterpret_cast<uint64_t>(&jit_step)));
        a_.test(x86::al, x86::al);
        a_.jz(exit_with(inline_before));
    }

    void inline_insn(const DecodedInsn& insn, Form form, bool store_flags) {
        const Operand* op = insn.ops;
        switch (form) {
        case Form::kNop: break;
        case Form::kMov: emit_mov(op[0], op[1]); break;
        case Form::kAlu: emit_alu(insn, store_flags); break;
        case Form::kUnary: emit_unary(insn, store_flags); break;
        case Form::kLea: emit_lea(insn); break;
        case Form::kMovExtend: emit_move_extend(insn); break;
        case Form::kHelper: break;
        }
    }

    // Falls off the end: EIP after the last instruction when that one was
    // inline (a helper set it already).
    void finish(uint32_t end_offset, bool rip_current, unsigned inline_total) {
        if (!rip_current) store_rip(end_offset);
        retire(inline_total);
        a_.bind(epilogue_);
        a_.add(x86::rsp, 8);
        a_.pop(x86::r13);
        a_.pop(kEntryRip);
        a_.pop(kCpu);
        a_.pop(kState);
        a_.ret();
        // The early exits, one per distinct retired count.
        for (auto& [count, label] : exits_) {
            a_.bind(label);
            retire(count);
            a_.jmp(epilogue_);
        }
    }

private:
    Label exit_with(unsigned inline_before) {
        for (auto& [count, label] : exits_)
            if (count == inline_before) return label;
        exits_.emplace_back(inline_before, a_.newLabel());
        return exits_.back().second;
    }

    void retire(unsigned n) {
        if (n == 0) return;
        a_.mov(x86::rax, Imm(reinterpret_cast<uint64_t>(cpu_.instret_counter())));
        a_.add(x86::qword_ptr(x86::rax), n);
        a_.mov(x86::rax, Imm(reinterpret_cast<uint64_t>(cpu_.step_counter())));
        a_.add(x86::qword_ptr(x86::rax), n);
    }

    // A 4-byte register write zeroes bits 32-63 of the slot, as
    // Cpu::set_reg does; narrower writes keep the rest.
    void store_reg(const Operand& dst, const x86::Gp& value64) {
        if (dst.size == 4 && dst.reg_class == RegClass::kGpr)
            a_.mov(gpr_slot(dst.reg, 8), value64.r64());
        else
            a_.mov(reg_slot(dst), sized(value64, dst.size));
    }

    void capture_flags(uint32_t mask) {
        // Host EFLAGS -> the guest's arithmetic flags in `mask`.
        a_.pushfq();
        a_.pop(x86::rcx);
        a_.and_(x86::ecx, Imm(int32_t(mask)));
        a_.and_(x86::qword_ptr(kState, kFlagsOffset), Imm(int32_t(~mask)));
        a_.or_(x86::qword_ptr(kState, kFlagsOffset), x86::rcx);
    }

    void emit_mov(const Operand& dst, const Operand& src) {
        const x86::Gp v = sized(x86::rax, dst.size);
        if (src.kind == OpKind::kImm) {
            if (dst.size == 4) a_.mov(x86::eax, Imm(uint32_t(src.imm)));
            else a_.mov(v, sized_imm(src.imm, dst.size));
        } else {
            a_.mov(v, reg_slot(src));
        }
        store_reg(dst, x86::rax);
    }

    void emit_alu(const DecodedInsn& insn, bool store_flags) {
        const Operand& dst = insn.ops[0];
        const Operand& src = insn.ops[1];
        const unsigned size = dst.size;
        const x86::Gp d = sized(x86::rax, size);
        const x86::Gp s = sized(x86::rdx, size);
        a_.mov(d, reg_slot(dst));
        const bool imm = src.kind == OpKind::kImm;
        if (!imm) a_.mov(s, reg_slot(src));
        const Imm iv = imm ? sized_imm(src.imm, size) : Imm(0);
        bool write_back = true;
        // ADC/SBB take the guest's CF (BT leaves it in the host's CF; the
        // other flags are all written by the instruction itself).
        if (insn.mnemonic == ZYDIS_MNEMONIC_ADC || insn.mnemonic == ZYDIS_MNEMONIC_SBB)
            a_.bt(x86::dword_ptr(kState, kFlagsOffset), Imm(0));
        switch (insn.mnemonic) {
        case ZYDIS_MNEMONIC_ADD: imm ? a_.add(d, iv) : a_.add(d, s); break;
        case ZYDIS_MNEMONIC_ADC: imm ? a_.adc(d, iv) : a_.adc(d, s); break;
        case ZYDIS_MNEMONIC_SUB: imm ? a_.sub(d, iv) : a_.sub(d, s); break;
        case ZYDIS_MNEMONIC_SBB: imm ? a_.sbb(d, iv) : a_.sbb(d, s); break;
        case ZYDIS_MNEMONIC_AND: imm ? a_.and_(d, iv) : a_.and_(d, s); break;
        case ZYDIS_MNEMONIC_OR: imm ? a_.or_(d, iv) : a_.or_(d, s); break;
        case ZYDIS_MNEMONIC_XOR: imm ? a_.xor_(d, iv) : a_.xor_(d, s); break;
        case ZYDIS_MNEMONIC_CMP:
            imm ? a_.cmp(d, iv) : a_.cmp(d, s);
            write_back = false;
            break;
        default:  // TEST
            imm ? a_.test(d, iv) : a_.test(d, s);
            write_back = false;
            break;
        }
        // The result first, then the flags (MOV and PUSHFQ keep EFLAGS).
        if (write_back) store_reg(dst, x86::rax);
        if (store_flags) capture_flags(flags::ARITH);
    }

    void emit_unary(const DecodedInsn& insn, bool store_flags) {
        const Operand& dst = insn.ops[0];
        const x86::Gp d = sized(x86::rax, dst.size);
        a_.mov(d, reg_slot(dst));
        switch (insn.mnemonic) {
        case ZYDIS_MNEMONIC_INC: a_.inc(d); break;
        case ZYDIS_MNEMONIC_DEC: a_.dec(d); break;
        case ZYDIS_MNEMONIC_NEG: a_.neg(d); break;
        default: a_.not_(d); break;
        }
        store_reg(dst, x86::rax);
        const uint32_t w = flags_written(insn, Form::kUnary);
        if (store_flags && w) capture_flags(w);
    }

    void emit_lea(const DecodedInsn& insn) {
        const Operand& m = insn.ops[1];
        a_.mov(x86::eax, Imm(uint32_t(uint64_t(m.disp))));
        if (m.base != kNoReg) a_.add(x86::eax, gpr_slot(m.base, 4));
        if (m.index != kNoReg) {
            a_.mov(x86::edx, gpr_slot(m.index, 4));
            if (m.scale_shift) a_.shl(x86::edx, Imm(m.scale_shift));
            a_.add(x86::eax, x86::edx);
        }
        if (insn.addrsize == 2) a_.movzx(x86::eax, x86::ax);
        store_reg(insn.ops[0], x86::rax);
    }

    void emit_move_extend(const DecodedInsn& insn) {
        const Operand& src = insn.ops[1];
        if (insn.mnemonic == ZYDIS_MNEMONIC_MOVZX) a_.movzx(x86::eax, reg_slot(src));
        else a_.movsx(x86::eax, reg_slot(src));
        store_reg(insn.ops[0], x86::rax);
    }

    x86::Assembler& a_;
    Cpu& cpu_;
    RuntimeCounters& counters_;
    uint64_t ip_mask_;
    Label epilogue_;
    std::vector<std::pair<unsigned, Label>> exits_;
};

}  // namespace

bool translates_inline(const DecodedInsn& insn) { return form_of(insn) != Form::kHelper; }

Translation Translator::translate(const DecodedBlock& block, const uint8_t* bytes, size_t nbytes,
                                  uint64_t entry_linear, bool want_listing) {
    Translation out;
    const size_t n = block.insns.size();
    std::vector<Form> forms(n);
    for (size_t i = 0; i < n; i++) forms[i] = form_of(block.insns[i]);

    // Flag liveness, backwards: helpers and the block's exit read them all.
    std::vector<bool> store_flags(n, false);
    uint32_t live = flags::ARITH;
    for (size_t i = n; i-- > 0;) {
        if (forms[i] == Form::kHelper) {
            live = flags::ARITH;
            continue;
        }
        const uint32_t w = flags_written(block.insns[i], forms[i]);
        store_flags[i] = (w & live) != 0;
        live = (live & ~w) | flags_read(block.insns[i], forms[i]);
    }

    CodeHolder code;
    code.init(runtime_.environment());
    ErrorRecorder errors;
    code.setErrorHandler(&errors);
    StringLogger listing;
    if (want_listing) {
        listing.addFlags(FormatFlags::kMachineCode);
        code.setLogger(&listing);
    }
    x86::Assembler a(&code);
    const uint64_t ip_mask = block.key.mode == DecodeMode::kProt32 ? 0xffffffffull : 0xffffull;
    BlockEmitter e(a, cpu_, counters_, ip_mask);
    e.prologue();
    uint32_t offset = 0;
    unsigned inline_count = 0;
    bool rip_current = true;  // s.rip holds this instruction's EIP
    for (size_t i = 0; i < n; i++) {
        const DecodedInsn& insn = block.insns[i];
        if (want_listing) {
            char hex[48] = {0};
            for (unsigned k = 0; k < insn.length && k < 15 && offset + k < nbytes; k++)
                snprintf(hex + 3 * k, 4, "%02x ", bytes[offset + k]);
            const std::string text = offset + insn.length <= nbytes
                                         ? cpu_.disassemble(block.key.mode, bytes + offset, insn.length,
                                                            entry_linear + offset)
                                         : std::string("?");
            char line[160];
            snprintf(line, sizeof line, "0x%08" PRIx64 ":  %-30s %s%s", uint64_t((entry_linear + offset) & 0xffffffffu),
                     hex, text.c_str(), forms[i] == Form::kHelper ? "   [helper]" : "");
            a.comment(line);
        }
        if (forms[i] == Form::kHelper) {
            e.helper(insn, offset, rip_current, inline_count);
            out.helper_insns++;
            rip_current = true;  // the step left EIP at the next instruction
        } else {
            e.inline_insn(insn, forms[i], store_flags[i]);
            inline_count++;
            rip_current = false;
        }
        offset += insn.length;
    }
    e.finish(offset, rip_current, inline_count);
    out.inline_insns = inline_count;
    if (errors.failed) {
        out.error = errors.text;
        return out;
    }
    void* fn = nullptr;
    const Error err = runtime_.add(&fn, &code);
    if (err != kErrorOk) {
        out.error = DebugUtils::errorAsString(err);
        return out;
    }
    out.fn = reinterpret_cast<BlockFn>(fn);
    out.code_size = code.codeSize();
    if (want_listing) out.listing = listing.data();
    return out;
}

}  // namespace nomad86::jit
