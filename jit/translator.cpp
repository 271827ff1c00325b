#include "jit/translator.h"

#include <array>
#include <cinttypes>
#include <cstddef>
#include <cstdio>
#include <functional>
#include <type_traits>
#include <optional>
#include <vector>

#include <Zydis/Zydis.h>

#include "cpu/cpu.h"
#include "cpu/x87_state.h"
#include "jit/x87_inline.h"

namespace nomad86::jit {

namespace {

using namespace asmjit;

static_assert(std::is_standard_layout_v<CpuState>, "generated code addresses CpuState fields by offset");
constexpr int32_t kGprOffset = int32_t(offsetof(CpuState, gpr));
constexpr int32_t kRipOffset = int32_t(offsetof(CpuState, rip));
constexpr int32_t kSystemFlagsOffset = int32_t(offsetof(CpuState, system_flags));
constexpr int32_t kStatusFlagsOffset = int32_t(offsetof(CpuState, status_flags));
constexpr int32_t kCr0Offset = int32_t(offsetof(CpuState, cr0));
constexpr int32_t kCr4Offset = int32_t(offsetof(CpuState, cr4));
constexpr int32_t kCplOffset = int32_t(offsetof(CpuState, cpl));
constexpr int32_t kSegOffset = int32_t(offsetof(CpuState, seg));
constexpr int32_t kSegAttr = int32_t(offsetof(SegmentCache, attr));
constexpr int32_t kSegLimit = int32_t(offsetof(SegmentCache, limit));
constexpr int32_t kSegBase = int32_t(offsetof(SegmentCache, base));

// The segment checks the fast path takes: present, S=1, data, expand-up
// (and writable for stores). Anything else (code segments, expand-down,
// null selectors) goes the interpreter's way.
constexpr uint32_t kSegReadMask = SegmentCache::kP | SegmentCache::kS | 0x8 | 0x4;
constexpr uint32_t kSegReadWant = SegmentCache::kP | SegmentCache::kS;
constexpr uint32_t kSegWriteMask = kSegReadMask | 0x2;
constexpr uint32_t kSegWriteWant = kSegReadWant | 0x2;

// A block assumes of the state it is entered in (EntryState), checked once
// at its entry instead of at every memory access: the CPL and the paging
// mode it was translated under (which tag of the TLB its accesses compare,
// whether they translate at all), and the segments that were flat then
// (base 0, limit 4 GiB, present writable data with D/B set), whose
// accesses need no segment check (and, for SS, no check of the stack's
// width). An entry that finds the state otherwise refuses, and the
// interpreter runs the block. A helper step can change any of it, so the
// accesses after one check everything again.
bool segment_is_flat(const SegmentCache& sc) {
    return ((sc.attr & (kSegWriteMask | SegmentCache::kDB)) == (kSegWriteWant | SegmentCache::kDB)) &
           (sc.base == 0) & (sc.limit == 0xffffffffu);
}

}  // namespace

uint32_t entry_bits_now(const CpuState& s) {
    EntryState now;
    now.known = now.checked = true;
    now.paging = s.cr0 & cr0::PG;
    now.cpl = s.cpl;
    // Without branches: this runs after every helper step.
    unsigned flat = 0;
    for (unsigned seg = 0; seg < kNumSegRegs; seg++) flat |= unsigned(segment_is_flat(s.seg[seg])) << seg;
    now.flat_segments = uint8_t(flat);
    const SegmentCache& cs = s.seg[kCs];
    return entry_bits(now) | (unsigned((cs.base == 0) & (cs.limit == 0xffffffffu)) * kEntryCsFlat);
}

namespace {

uint64_t jit_read_tsc(Cpu* cpu) { return cpu->read_tsc(); }

bool jit_x87_direct(Cpu* cpu, const DecodedInsn* insn, uint8_t* operand, uint64_t eip, RuntimeCounters* counters) {
    if (!cpu->x87_direct_for_jit(*insn, operand, eip)) return false;
    counters->x87_direct_insns++;
    return true;
}

void jit_journal_store(PhysicalMemory* memory, uint64_t addr, unsigned size) { memory->journal_store(addr, size); }

// Fixed registers of generated code (all callee-saved in the SysV ABI, so
// they survive helper calls).
const x86::Gp kState = x86::rbx;
const x86::Gp kCpu = x86::rbp;
// The guest's RFLAGS while generated code runs: loaded on entry, stored to
// CpuState before every helper call and every exit, reloaded after a
// helper. Kept in a register, a flag write is a few register operations
// instead of two read-modify-writes of CpuState that every later flag
// writer would wait for.
const x86::Gp kFlags = x86::r13;
// EIP at the current block's entry: the base of every EIP the block
// computes.
const x86::Gp kEntryRip = x86::r14;
// The CPU's step counter while generated code runs (Cpu::step_counter()
// is stale then): stored for each helper call and on the way out to the
// dispatcher, reloaded after the call.
const x86::Gp kSteps = x86::r15;
// A chained jump or a jump-cache hit enters the next block with these
// three current: kFlags equal to CpuState's RFLAGS, kEntryRip to its RIP
// (the target's EIP), kSteps. So a chain of small blocks carries its EIP,
// flags and step count in registers: none of them makes a trip through
// memory (a store and its reload, some 5 cycles each) per block.
// The host address of the current memory access (scratch: no call comes
// between the fast path and the access but the journal's, which saves it).
const x86::Gp kHost = x86::r11;
// The guest's EFLAGS from CpuState's two words (CpuState::status_flags)
// into `flags`; clobbers `scratch` and the host's EFLAGS.
void emit_load_flags(x86::Assembler& a, const x86::Gp& flags, const x86::Gp& scratch) {
    a.mov(flags, x86::qword_ptr(kState, kSystemFlagsOffset));
    a.mov(scratch, x86::qword_ptr(kState, kStatusFlagsOffset));
    a.xor_(scratch, flags);
    a.and_(scratch.r32(), Imm(int32_t(flags::ARITH)));
    a.xor_(flags, scratch);
}
// The whole register into both words, as CpuState::set_rflags does.
void emit_store_flags(x86::Assembler& a, const x86::Gp& flags) {
    a.mov(x86::qword_ptr(kState, kSystemFlagsOffset), flags);
    a.mov(x86::qword_ptr(kState, kStatusFlagsOffset), flags);
}

// The helper: one interpreter step. Returns false when the block must end.
// `kKeepsEntryState`: the instruction is one of keeps_entry_state()'s.
template <bool kKeepsEntryState>
bool jit_step(Cpu* cpu, const DecodedInsn* insn, uint64_t ip_mask, RuntimeCounters* counters) {
    counters->helper_insns++;
    counters->helper_by_mnemonic[insn->mnemonic]++;
    const bool go_on = cpu->step_for_jit(*insn, ip_mask);
    // The step may have changed what chained blocks' entries check (a
    // segment load, CPL, CR0). When the block ends instead, the dispatcher
    // sets the bits again before it enters the next one.
    if (!kKeepsEntryState && go_on) *cpu->executor_mode_bits() = entry_bits_now(cpu->s);
    return go_on;
}

// Instructions run as helpers that change no segment register, CPL or CR0
// unless they raise an exception (which ends the block): after them the
// entry bits need no recomputing. The common helpers; anything else
// recomputes.
bool keeps_entry_state(const DecodedInsn& insn) {
    switch (insn.mnemonic) {
    case ZYDIS_MNEMONIC_MOVSB: case ZYDIS_MNEMONIC_MOVSW: case ZYDIS_MNEMONIC_MOVSD:
    case ZYDIS_MNEMONIC_STOSB: case ZYDIS_MNEMONIC_STOSW: case ZYDIS_MNEMONIC_STOSD:
    case ZYDIS_MNEMONIC_LODSB: case ZYDIS_MNEMONIC_LODSW: case ZYDIS_MNEMONIC_LODSD:
    case ZYDIS_MNEMONIC_SCASB: case ZYDIS_MNEMONIC_SCASW: case ZYDIS_MNEMONIC_SCASD:
    case ZYDIS_MNEMONIC_CMPSB: case ZYDIS_MNEMONIC_CMPSW: case ZYDIS_MNEMONIC_CMPSD:
    case ZYDIS_MNEMONIC_BT: case ZYDIS_MNEMONIC_BTS: case ZYDIS_MNEMONIC_BTR: case ZYDIS_MNEMONIC_BTC:
    case ZYDIS_MNEMONIC_BSF: case ZYDIS_MNEMONIC_BSR: case ZYDIS_MNEMONIC_SHLD: case ZYDIS_MNEMONIC_SHRD:
    case ZYDIS_MNEMONIC_CMPXCHG: case ZYDIS_MNEMONIC_CMPXCHG8B: case ZYDIS_MNEMONIC_XADD:
    case ZYDIS_MNEMONIC_SAHF: case ZYDIS_MNEMONIC_LAHF: case ZYDIS_MNEMONIC_CPUID:
    case ZYDIS_MNEMONIC_MUL: case ZYDIS_MNEMONIC_IMUL: case ZYDIS_MNEMONIC_DIV: case ZYDIS_MNEMONIC_IDIV:
    case ZYDIS_MNEMONIC_FLD: case ZYDIS_MNEMONIC_FST: case ZYDIS_MNEMONIC_FSTP: case ZYDIS_MNEMONIC_FILD:
    case ZYDIS_MNEMONIC_FIST: case ZYDIS_MNEMONIC_FISTP: case ZYDIS_MNEMONIC_FXCH: case ZYDIS_MNEMONIC_FLDZ:
    case ZYDIS_MNEMONIC_FLD1: case ZYDIS_MNEMONIC_FCHS: case ZYDIS_MNEMONIC_FABS:
    case ZYDIS_MNEMONIC_FADD: case ZYDIS_MNEMONIC_FADDP: case ZYDIS_MNEMONIC_FIADD:
    case ZYDIS_MNEMONIC_FSUB: case ZYDIS_MNEMONIC_FSUBP: case ZYDIS_MNEMONIC_FSUBR: case ZYDIS_MNEMONIC_FSUBRP:
    case ZYDIS_MNEMONIC_FMUL: case ZYDIS_MNEMONIC_FMULP: case ZYDIS_MNEMONIC_FIMUL:
    case ZYDIS_MNEMONIC_FDIV: case ZYDIS_MNEMONIC_FDIVP: case ZYDIS_MNEMONIC_FDIVR: case ZYDIS_MNEMONIC_FDIVRP:
    case ZYDIS_MNEMONIC_FCOM: case ZYDIS_MNEMONIC_FCOMP: case ZYDIS_MNEMONIC_FCOMPP: case ZYDIS_MNEMONIC_FUCOM:
    case ZYDIS_MNEMONIC_FUCOMP: case ZYDIS_MNEMONIC_FUCOMPP: case ZYDIS_MNEMONIC_FCOMI: case ZYDIS_MNEMONIC_FCOMIP:
    case ZYDIS_MNEMONIC_FUCOMI: case ZYDIS_MNEMONIC_FUCOMIP: case ZYDIS_MNEMONIC_FTST: case ZYDIS_MNEMONIC_FXAM:
    case ZYDIS_MNEMONIC_FNSTSW: case ZYDIS_MNEMONIC_FNSTCW: case ZYDIS_MNEMONIC_FLDCW: case ZYDIS_MNEMONIC_FWAIT:
        return true;
    default:
        return false;
    }
}

// The refill routine's call (Translator::refill_routine): `write_user` is
// 2 for a store plus 1 for a CPL-3 access. Returns the linear-to-host
// addend, 0 for the interpreter's way (Cpu::refill_tlb_for_jit).
uintptr_t jit_refill_tlb(Cpu* cpu, uint32_t linear, uint32_t last_vpn, uint32_t write_user,
                         RuntimeCounters* counters) {
    counters->tlb_refills++;
    const uintptr_t addend = cpu->refill_tlb_for_jit(linear, last_vpn, write_user & 2, write_user & 1);
    if (!addend) counters->tlb_refills_declined++;
    return addend;
}

// kHelper: a call to jit_step(). The others are emitted inline; the k*Mem*
// forms access guest memory through the inline TLB fast path (a miss in
// the TLB's first way asks the refill routine first) and fall back to
// jit_step() for the whole instruction when any condition of that path
// does not hold (so every fault, MMIO access or code-page write is the
// interpreter's business).
// kShift and kImul load the guest's flags into the host's first, as the
// interpreter does, so flags the SDM leaves undefined come out alike; so do
// kDoubleShift (SHLD/SHRD r, r, imm/CL), kBitScan (BSF/BSR r, r) and
// kBitTest (BT/BTS/BTR/BTC r, r/imm), all on registers only.
// kLeave: LEAVE with a 32-bit operand and stack.
// kFlagOp: CLC/STC/CMC/CLD/STD and SAHF, on kFlags.
// kFnstswAx: FNSTSW AX (CR0.EM/TS, whose #NM is the helper's).
// kCmpxchgMem: CMPXCHG m, r (the host's own CMPXCHG on the host byte).
// kBitTestMem: BT/BTS/BTR/BTC m, r/imm (a register offset addresses the bit
// string: the unit it picks is found before the fast path), flags passed
// through as kBitTest's.
// LOCK: one CPU sees guest memory, so a locked read-modify-write is the
// plain one; LOCK on anything else is #UD, the helper's.
// kString: LODS, STOS and SCAS without a REP prefix and with 32-bit
// addressing (a REP is the helper's), through the same fast path; DF
// picks the direction at run time.
// kBranch (Jcc, JMP rel) ends the block with EIP set.
// kPush/kPop/kCall/kRet use the stack through the same fast path (32-bit
// stack and code only; anything else is the helper's).
enum class Form {
    kHelper, kNop, kMov, kAlu, kUnary, kLea, kMovExtend, kShift, kImul, kBranch,
    kLoad, kStore, kAluLoad, kAluMem, kPush, kPop, kCall, kRet, kSetcc, kCmov, kCmovLoad, kExtendLoad, kUnaryMem,
    kJmpIndirect, kCallIndirect, kFlagOp, kMulAcc, kMulAccMem, kXchg, kXchgMem, kRdtsc,
    kDoubleShift, kBitScan, kBitTest, kLeave, kFnstswAx, kCmpxchgMem, kBitTestMem, kString, kX87, kX87Mem
};

// Forms that end the block with EIP set by themselves.
bool sets_eip(Form f) {
    return f == Form::kBranch || f == Form::kCall || f == Form::kRet || f == Form::kJmpIndirect ||
           f == Form::kCallIndirect;
}
// Forms that use the stack through the fast path.
bool uses_stack(Form f) {
    return f == Form::kPush || f == Form::kPop || f == Form::kCall || f == Form::kRet || f == Form::kCallIndirect ||
           f == Form::kLeave;
}

bool touches_memory(Form f) {
    switch (f) {
    case Form::kLoad:
    case Form::kStore:
    case Form::kAluLoad:
    case Form::kAluMem:
    case Form::kPush:
    case Form::kPop:
    case Form::kLeave:
    case Form::kCall:
    case Form::kRet:
    case Form::kCmovLoad:
    case Form::kExtendLoad:
    case Form::kUnaryMem:
    case Form::kMulAccMem:
    case Form::kXchgMem:
    case Form::kCmpxchgMem:
    case Form::kBitTestMem:
    case Form::kString:
    case Form::kX87Mem:
    case Form::kJmpIndirect:  // (its slow path: a target beyond the CS limit)
    case Form::kCallIndirect: return true;
    default: return false;
    }
}
// Forms with an out-of-line fallback to a helper step.
// (kMulAcc: DIV's #DE is the helper's.)
// (kRdtsc: CR4.TSD, whose #GP is the helper's; kFnstswAx: CR0.EM/TS.)
bool has_slow_path(Form f) {
    return touches_memory(f) || f == Form::kBranch || f == Form::kMulAcc || f == Form::kRdtsc ||
           f == Form::kFnstswAx || f == Form::kX87;
}
// Forms whose code leaves the host's EFLAGS alone except by the flag
// computation of the guest instruction itself, so that flags computed
// before them may stay in EFLAGS across them (their checks and slow paths,
// where emitted, release them first: BlockEmitter::release_eflags).
bool keeps_eflags(Form f) {
    switch (f) {
    case Form::kNop:
    case Form::kMov:
    case Form::kLea:
    case Form::kMovExtend:
    case Form::kLoad:
    case Form::kStore:
    case Form::kExtendLoad:
    case Form::kAlu:
    case Form::kAluLoad:
    case Form::kAluMem:
    case Form::kUnary:
    case Form::kUnaryMem:
    case Form::kSetcc:
    case Form::kCmov:
    case Form::kCmovLoad:
    case Form::kBranch:
    case Form::kPush:
    case Form::kPop:
    case Form::kXchg:
    case Form::kXchgMem:
    case Form::kString: return true;
    default: return false;
    }
}
// Forms that load the guest's flags into the host and store them all back
// (when any flag is live after them: dead, their flags are not computed).
bool passes_flags_through(Form f) {
    return f == Form::kShift || f == Form::kImul || f == Form::kMulAcc || f == Form::kMulAccMem ||
           f == Form::kDoubleShift || f == Form::kBitScan || f == Form::kBitTest || f == Form::kBitTestMem;
}
// Those among them whose code before the host instruction leaves EFLAGS
// alone (only MOVs), so flags of an earlier instruction still in EFLAGS
// may go in as they are (BlockEmitter::have_all_host_flags): a rotate
// after an ADD costs no capture and no reload.
bool takes_host_flags(Form f) {
    return f == Form::kShift || f == Form::kDoubleShift || f == Form::kBitScan || f == Form::kImul;
}
// Forms whose code between their memory access and their own flag
// computation (if any) leaves EFLAGS alone: a capture owed before the
// access may stay owed across it (BlockEmitter::mem_access).
bool keeps_owed_flags(Form f) {
    return f == Form::kLoad || f == Form::kStore || f == Form::kExtendLoad || f == Form::kAluLoad ||
           f == Form::kAluMem || f == Form::kUnaryMem || f == Form::kString;
}
// BMI2 (SHLX/SHRX, RORX: shifts that leave EFLAGS alone) for the
// flag-free TLB probe; without it every probe releases the flags first.
bool host_has_bmi2() {
    static const bool have = __builtin_cpu_supports("bmi2");
    return have;
}
bool is_scas(const DecodedInsn& insn) {
    return insn.mnemonic == ZYDIS_MNEMONIC_SCASB || insn.mnemonic == ZYDIS_MNEMONIC_SCASW ||
           insn.mnemonic == ZYDIS_MNEMONIC_SCASD;
}
// RCL/RCR: the result depends on CF, so its flags go in whether or not
// any flag is live afterwards.
bool reads_carry(const DecodedInsn& insn) {
    return insn.mnemonic == ZYDIS_MNEMONIC_RCL || insn.mnemonic == ZYDIS_MNEMONIC_RCR;
}

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

// A memory operand of 1, 2 or 4 bytes with 16- or 32-bit addressing.
bool is_plain_mem(const DecodedInsn& insn, const Operand& op) {
    return op.kind == OpKind::kMem && (op.size == 1 || op.size == 2 || op.size == 4) &&
           (insn.addrsize == 2 || insn.addrsize == 4) && op.seg < kNumSegRegs;
}

// FF /2 (CALL) or FF /4 (JMP) with a 32-bit register or memory operand.
bool is_near_indirect(const DecodedInsn& insn, unsigned digit) {
    const Operand& op = insn.ops[0];
    return insn.opcode_map == 0 && insn.opcode == 0xff && insn.modrm_reg == digit && insn.opsize == 4 &&
           insn.num_ops == 1 && op.size == 4 && (is_plain_reg(op) || is_plain_mem(insn, op));
}

// A shift count the generated code takes: an immediate or CL.
bool is_shift_count(const Operand& op) {
    return op.kind == OpKind::kImm ||
           (op.kind == OpKind::kReg && op.reg_class == RegClass::kGpr && op.reg == kRcx && op.size == 1);
}

Form form_of_unlocked(const DecodedInsn& insn);

Form form_of(const DecodedInsn& insn) {
    const Form f = form_of_unlocked(insn);
    if (!(insn.prefixes & kPrefixLock)) return f;
    switch (f) {
    case Form::kCmpxchgMem:
    case Form::kUnaryMem:  // INC DEC NEG NOT
        return f;
    case Form::kAluMem:
        return insn.mnemonic == ZYDIS_MNEMONIC_CMP || insn.mnemonic == ZYDIS_MNEMONIC_TEST ? Form::kHelper : f;
    default:
        return Form::kHelper;
    }
}

Form form_of_unlocked(const DecodedInsn& insn) {
    const Operand* op = insn.ops;
    if (insn.opcode_map == 1 && (insn.opcode & 0xf0) == 0x90)  // SETcc r/m8
        return insn.num_ops == 1 && is_plain_reg(op[0]) ? Form::kSetcc : Form::kHelper;
    if (insn.opcode_map == 1 && (insn.opcode & 0xf0) == 0x40) {  // CMOVcc r, r/m
        if (insn.num_ops != 2 || !is_plain_reg(op[0]) || op[0].size < 2) return Form::kHelper;
        if (is_plain_reg(op[1]) && op[1].size == op[0].size) return Form::kCmov;
        if (is_plain_mem(insn, op[1]) && op[1].size == op[0].size) return Form::kCmovLoad;
        return Form::kHelper;
    }
    if (x87_runs_direct(insn)) {
        for (unsigned k = 0; k < insn.num_ops; k++)
            if (op[k].kind == OpKind::kMem)
                return (insn.addrsize == 2 || insn.addrsize == 4) && op[k].seg < kNumSegRegs ? Form::kX87Mem
                                                                                             : Form::kHelper;
        return Form::kX87;
    }
    switch (insn.mnemonic) {
    case ZYDIS_MNEMONIC_NOP:
    case ZYDIS_MNEMONIC_PAUSE:  // a spin-wait hint: the interpreter's NOP
        return insn.num_ops == 0 ? Form::kNop : Form::kHelper;
    case ZYDIS_MNEMONIC_MOV:
        if (insn.num_ops != 2) return Form::kHelper;
        if (is_plain_reg(op[0]) && is_reg_or_imm_of(op[1], op[0])) return Form::kMov;
        if (is_plain_reg(op[0]) && is_plain_mem(insn, op[1]) && op[1].size == op[0].size) return Form::kLoad;
        if (is_plain_mem(insn, op[0]) && is_reg_or_imm_of(op[1], op[0])) return Form::kStore;
        return Form::kHelper;
    case ZYDIS_MNEMONIC_ADD:
    case ZYDIS_MNEMONIC_ADC:
    case ZYDIS_MNEMONIC_SUB:
    case ZYDIS_MNEMONIC_SBB:
    case ZYDIS_MNEMONIC_AND:
    case ZYDIS_MNEMONIC_OR:
    case ZYDIS_MNEMONIC_XOR:
    case ZYDIS_MNEMONIC_CMP:
    case ZYDIS_MNEMONIC_TEST:
        if (insn.num_ops != 2) return Form::kHelper;
        if (is_plain_reg(op[0]) && is_reg_or_imm_of(op[1], op[0])) return Form::kAlu;
        if (is_plain_reg(op[0]) && is_plain_mem(insn, op[1]) && op[1].size == op[0].size) return Form::kAluLoad;
        if (is_plain_mem(insn, op[0]) && is_reg_or_imm_of(op[1], op[0])) return Form::kAluMem;
        return Form::kHelper;
    case ZYDIS_MNEMONIC_INC:
    case ZYDIS_MNEMONIC_DEC:
    case ZYDIS_MNEMONIC_NEG:
    case ZYDIS_MNEMONIC_NOT:
        if (insn.num_ops == 1 && is_plain_reg(op[0])) return Form::kUnary;
        if (insn.num_ops == 1 && is_plain_mem(insn, op[0])) return Form::kUnaryMem;
        return Form::kHelper;
    case ZYDIS_MNEMONIC_SHL:
    case ZYDIS_MNEMONIC_SHR:
    case ZYDIS_MNEMONIC_SAR:
    case ZYDIS_MNEMONIC_ROL:
    case ZYDIS_MNEMONIC_ROR:
    case ZYDIS_MNEMONIC_RCL:
    case ZYDIS_MNEMONIC_RCR:
        return insn.num_ops == 2 && is_plain_reg(op[0]) && is_shift_count(op[1]) ? Form::kShift : Form::kHelper;
    case ZYDIS_MNEMONIC_SHLD:
    case ZYDIS_MNEMONIC_SHRD:
        return insn.num_ops == 3 && is_plain_reg(op[0]) && op[0].size >= 2 && is_plain_reg(op[1]) &&
                       op[1].size == op[0].size && is_shift_count(op[2])
                   ? Form::kDoubleShift
                   : Form::kHelper;
    case ZYDIS_MNEMONIC_BSF:
    case ZYDIS_MNEMONIC_BSR:
        return insn.num_ops == 2 && is_plain_reg(op[0]) && op[0].size >= 2 && is_plain_reg(op[1]) &&
                       op[1].size == op[0].size
                   ? Form::kBitScan
                   : Form::kHelper;
    case ZYDIS_MNEMONIC_BT:
    case ZYDIS_MNEMONIC_BTS:
    case ZYDIS_MNEMONIC_BTR:
    case ZYDIS_MNEMONIC_BTC:
        if (insn.num_ops != 2 || op[0].size < 2 || !is_reg_or_imm_of(op[1], op[0])) return Form::kHelper;
        if (is_plain_reg(op[0])) return Form::kBitTest;
        return is_plain_mem(insn, op[0]) ? Form::kBitTestMem : Form::kHelper;
    case ZYDIS_MNEMONIC_LEAVE:
        return insn.opsize == 4 ? Form::kLeave : Form::kHelper;
    case ZYDIS_MNEMONIC_MUL:
    case ZYDIS_MNEMONIC_DIV:
        // EDX:EAX = EAX * r/m32; EAX, EDX = EDX:EAX / r/m32.
        if (insn.num_ops != 1 || op[0].size != 4) return Form::kHelper;
        if (is_plain_reg(op[0])) return Form::kMulAcc;
        if (is_plain_mem(insn, op[0])) return Form::kMulAccMem;
        return Form::kHelper;
    case ZYDIS_MNEMONIC_IMUL:
        if (insn.num_ops == 1 && op[0].size == 4 && is_plain_reg(op[0])) return Form::kMulAcc;
        if (insn.num_ops == 1 && op[0].size == 4 && is_plain_mem(insn, op[0])) return Form::kMulAccMem;
        if (!is_plain_reg(op[0]) || op[0].size < 2) return Form::kHelper;
        if (insn.num_ops == 2 && is_plain_reg(op[1]) && op[1].size == op[0].size) return Form::kImul;
        if (insn.num_ops == 3 && is_plain_reg(op[1]) && op[1].size == op[0].size && op[2].kind == OpKind::kImm)
            return Form::kImul;
        return Form::kHelper;
    case ZYDIS_MNEMONIC_JMP:
        if (insn.num_ops == 1 && op[0].kind == OpKind::kImm && op[0].relative) return Form::kBranch;
        return is_near_indirect(insn, 4) ? Form::kJmpIndirect : Form::kHelper;
    case ZYDIS_MNEMONIC_XCHG:
        // (No LOCK to honour: one CPU. The memory operand is checked for a
        // write before anything moves.)
        if (insn.num_ops != 2 || op[0].size != op[1].size) return Form::kHelper;
        if (is_plain_reg(op[0]) && is_plain_reg(op[1])) return Form::kXchg;
        if ((is_plain_mem(insn, op[0]) && is_plain_reg(op[1])) || (is_plain_reg(op[0]) && is_plain_mem(insn, op[1])))
            return Form::kXchgMem;
        return Form::kHelper;
    case ZYDIS_MNEMONIC_RDTSC:
        return Form::kRdtsc;
    case ZYDIS_MNEMONIC_LODSB:
    case ZYDIS_MNEMONIC_LODSW:
    case ZYDIS_MNEMONIC_LODSD:
    case ZYDIS_MNEMONIC_STOSB:
    case ZYDIS_MNEMONIC_STOSW:
    case ZYDIS_MNEMONIC_STOSD:
    case ZYDIS_MNEMONIC_SCASB:
    case ZYDIS_MNEMONIC_SCASW:
    case ZYDIS_MNEMONIC_SCASD:
        return !(insn.prefixes & (kPrefixRep | kPrefixRepne)) && insn.addrsize == 4 &&
                       (insn.opsize == 1 || insn.opsize == 2 || insn.opsize == 4)
                   ? Form::kString
                   : Form::kHelper;
    case ZYDIS_MNEMONIC_CLC:
    case ZYDIS_MNEMONIC_STC:
    case ZYDIS_MNEMONIC_CMC:
    case ZYDIS_MNEMONIC_CLD:
    case ZYDIS_MNEMONIC_STD:
    case ZYDIS_MNEMONIC_SAHF:
        return Form::kFlagOp;
    case ZYDIS_MNEMONIC_CMPXCHG:  // (the accumulator is implicit)
        return insn.num_ops == 2 && is_plain_mem(insn, op[0]) && is_plain_reg(op[1]) && op[1].size == op[0].size
                   ? Form::kCmpxchgMem
                   : Form::kHelper;
    case ZYDIS_MNEMONIC_FNSTSW:  // (DF E0; the memory form is the helper's)
        return insn.num_ops == 1 && op[0].kind == OpKind::kReg ? Form::kFnstswAx : Form::kHelper;
    case ZYDIS_MNEMONIC_PUSH:
        return insn.opsize == 4 && insn.num_ops == 1 &&
                       (op[0].kind == OpKind::kImm || (is_plain_reg(op[0]) && op[0].size == 4) ||
                        (op[0].kind == OpKind::kMem && op[0].size == 4))
                   ? Form::kPush
                   : Form::kHelper;
    case ZYDIS_MNEMONIC_POP:
        return insn.opsize == 4 && insn.num_ops == 1 && is_plain_reg(op[0]) && op[0].size == 4 ? Form::kPop
                                                                                               : Form::kHelper;
    case ZYDIS_MNEMONIC_CALL:
        if (insn.opsize == 4 && insn.num_ops == 1 && op[0].kind == OpKind::kImm && op[0].relative) return Form::kCall;
        return is_near_indirect(insn, 2) ? Form::kCallIndirect : Form::kHelper;
    case ZYDIS_MNEMONIC_RET:
        // C3 and C2 iw (CA/CB are far returns).
        return insn.opsize == 4 && (insn.opcode == 0xc3 || insn.opcode == 0xc2) ? Form::kRet : Form::kHelper;
    case ZYDIS_MNEMONIC_JB:
    case ZYDIS_MNEMONIC_JBE:
    case ZYDIS_MNEMONIC_JL:
    case ZYDIS_MNEMONIC_JLE:
    case ZYDIS_MNEMONIC_JNB:
    case ZYDIS_MNEMONIC_JNBE:
    case ZYDIS_MNEMONIC_JNL:
    case ZYDIS_MNEMONIC_JNLE:
    case ZYDIS_MNEMONIC_JNO:
    case ZYDIS_MNEMONIC_JNP:
    case ZYDIS_MNEMONIC_JNS:
    case ZYDIS_MNEMONIC_JNZ:
    case ZYDIS_MNEMONIC_JO:
    case ZYDIS_MNEMONIC_JP:
    case ZYDIS_MNEMONIC_JS:
    case ZYDIS_MNEMONIC_JZ:
        return insn.num_ops == 1 && op[0].kind == OpKind::kImm && op[0].relative ? Form::kBranch : Form::kHelper;
    case ZYDIS_MNEMONIC_LEA:
        return insn.num_ops == 2 && is_plain_reg(op[0]) && op[0].size >= 2 && op[1].kind == OpKind::kMem &&
                       (insn.addrsize == 2 || insn.addrsize == 4)
                   ? Form::kLea
                   : Form::kHelper;
    case ZYDIS_MNEMONIC_MOVZX:
    case ZYDIS_MNEMONIC_MOVSX:
        if (insn.num_ops != 2 || !is_plain_reg(op[0]) || op[0].size < 2 || op[1].size >= op[0].size)
            return Form::kHelper;
        if (is_plain_reg(op[1])) return Form::kMovExtend;
        if (is_plain_mem(insn, op[1])) return Form::kExtendLoad;
        return Form::kHelper;
    default:
        return Form::kHelper;
    }
}

// The arithmetic flags an inline form writes and reads (the host
// instruction computes them; undefined ones come out as the host makes
// them, exactly as in the interpreter, which runs the same instruction).
uint32_t flags_written(const DecodedInsn& insn, Form form) {
    if (form == Form::kUnaryMem) return flags_written(insn, Form::kUnary);
    if (form == Form::kAlu || form == Form::kAluLoad || form == Form::kAluMem || form == Form::kCmpxchgMem)
        return flags::ARITH;
    if (form == Form::kString) return is_scas(insn) ? flags::ARITH : 0;
    if (form == Form::kImul || form == Form::kMulAcc || form == Form::kMulAccMem) return flags::CF | flags::OF;
    // (The flags the SDM defines; these forms pass all of them through.)
    if (form == Form::kBitScan) return flags::ZF;
    if (form == Form::kBitTest || form == Form::kBitTestMem) return flags::CF;
    if (form == Form::kDoubleShift) {
        const Operand& count = insn.ops[2];
        return count.kind == OpKind::kImm && (count.imm & 0x1f) != 0 ? flags::ARITH : 0;
    }
    if (form == Form::kShift) {
        // Only a count known to be non-zero writes them.
        const Operand& count = insn.ops[1];
        if (count.kind != OpKind::kImm || (count.imm & 0x1f) == 0) return 0;
        const bool rotate = insn.mnemonic == ZYDIS_MNEMONIC_ROL || insn.mnemonic == ZYDIS_MNEMONIC_ROR ||
                            insn.mnemonic == ZYDIS_MNEMONIC_RCL || insn.mnemonic == ZYDIS_MNEMONIC_RCR;
        return rotate ? flags::CF | flags::OF : flags::ARITH;
    }
    if (form != Form::kUnary) return 0;
    switch (insn.mnemonic) {
    case ZYDIS_MNEMONIC_INC:
    case ZYDIS_MNEMONIC_DEC: return flags::ARITH & ~flags::CF;
    case ZYDIS_MNEMONIC_NEG: return flags::ARITH;
    default: return 0;  // NOT
    }
}

uint32_t flags_read(const DecodedInsn& insn, Form form) {
    // The fast path's fallback is a helper step, which reads them all; the
    // flag-loading forms take them all into the host; a branch tests them.
    // CLC/STC/CMC change kFlags in place: whatever is pending must be there.
    if (has_slow_path(form) || form == Form::kSetcc || form == Form::kCmov || form == Form::kFlagOp)
        return flags::ARITH;
    if (passes_flags_through(form)) return reads_carry(insn) ? flags::CF : 0;
    if (form == Form::kAlu && (insn.mnemonic == ZYDIS_MNEMONIC_ADC || insn.mnemonic == ZYDIS_MNEMONIC_SBB))
        return flags::CF;
    return 0;
}

// The flags condition code `cc` (as in Jcc's low nibble) tests.
uint32_t flags_tested(unsigned cc) {
    static constexpr uint32_t kTested[8] = {
        flags::OF, flags::CF, flags::ZF, flags::CF | flags::ZF,
        flags::SF, flags::PF, flags::SF | flags::OF, flags::ZF | flags::SF | flags::OF,
    };
    return kTested[(cc >> 1) & 7];
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

// [base + disp] in SS with 32-bit addressing, base the run's (ESP or EBP):
// an operand a stack run may reach (plan_stack_runs, BlockEmitter::in_stack_run).
bool is_frame_operand(const DecodedInsn& insn, const Operand& m, unsigned base) {
    return m.kind == OpKind::kMem && m.base == base && m.index == kNoReg && m.seg == kSs && insn.addrsize == 4;
}

bool is_esp(const Operand& op) { return op.kind == OpKind::kReg && op.reg_class == RegClass::kGpr && op.reg == kRsp; }

// ADD/SUB ESP, imm32 (within a page either way): the ESP changes a stack
// run follows.
bool is_esp_adjust(const DecodedInsn& insn, Form form) {
    if (form != Form::kAlu || (insn.mnemonic != ZYDIS_MNEMONIC_ADD && insn.mnemonic != ZYDIS_MNEMONIC_SUB)) return false;
    if (!is_esp(insn.ops[0]) || insn.ops[0].size != 4 || insn.ops[1].kind != OpKind::kImm) return false;
    const int32_t imm = int32_t(uint32_t(insn.ops[1].imm));
    return imm >= -4096 && imm <= 4096;
}

// ADD/SUB ESP, imm that a stack run leaves to its pending ESP change: its
// flags are dead. (One before a Jcc never is: that Jcc reads them.)
bool defers_esp_adjust(const DecodedInsn& insn, Form form, bool store_flags) {
    return !store_flags && is_esp_adjust(insn, form);
}

// Where a branch at the end of a block goes, when that is a block of the
// same physical page (chainable), and how many inline instructions the
// block has retired by then.
struct ExitTargets {
    unsigned retired = 0;
    std::optional<uint64_t> taken, not_taken;
};

// What of an EntryState a jump cache lookup depends on, as a key of
// Translator::jump_lookup_routine(), and back.
uint32_t jump_lookup_key(const EntryState& s) {
    if (!s.known) return 0;
    return 1u | (s.checked ? 2u : 0) | (s.paging ? 4u : 0) | (uint32_t(s.cpl & 3) << 3) | (uint32_t(s.flat_segments) << 8);
}
EntryState entry_state_of_key(uint32_t key) {
    EntryState s;
    s.known = key & 1;
    s.checked = key & 2;
    s.paging = key & 4;
    s.cpl = uint8_t((key >> 3) & 3);
    s.flat_segments = uint8_t(key >> 8);
    return s;
}

class BlockEmitter {
public:
    // `jump_lookup`: Translator::jump_lookup_routine() (null: the jump
    // cache lookups are emitted in place).
    BlockEmitter(x86::Assembler& a, Cpu& cpu, RuntimeCounters& counters, uint64_t ip_mask, bool journal_stores,
                 const ChainHooks& hooks, const Translator::SharedRoutines& routines,
                 std::function<const void*(uint32_t)> jump_lookup = {})
        : a_(a), cpu_(cpu), counters_(counters), ip_mask_(ip_mask), journal_stores_(journal_stores),
          last_exit_(hooks.last_exit), hooks_(hooks), routines_(routines), jump_lookup_(std::move(jump_lookup)),
          ram_(cpu.memory().fast_path_view()) {}

    bool failed() const { return emitter_failed_; }

    // A stack run (plan_stack_runs): one TLB check for the bytes
    // [base + lo, base + lo + len) that the run's instructions access
    // (base ESP, or EBP for a frame reached through it),
    // then each of those accesses is the host base plus a constant.
    // When the check fails, a copy of the run emitted the ordinary way
    // runs instead (out of line), so a frame that straddles a page or a
    // TLB miss costs one check more, never a helper per instruction.
    // Returns false, and emits nothing, where the block's assumptions do
    // not cover it: the run is then emitted the ordinary way.
    bool begin_stack_run(unsigned base, int32_t lo, uint32_t len, bool write) {
        if (!assumptions_hold_ || !(assumed_.flat_segments & (1u << kSs)) || journal_stores_) return false;
        a_.comment("stack run: one check for the accesses below");
        cold_runs_.push_back(ColdRun{a_.newLabel(), a_.newLabel(), {}, {}, {}});
        if (cached(base)) a_.lea(x86::edx, x86::ptr(host_reg(base), lo));
        else {
            a_.mov(x86::edx, gpr_slot(base, 4));
            a_.lea(x86::edx, x86::ptr(x86::rdx, lo));
        }
        // A capture owed may stay owed across the check (mem_access's probe
        // that leaves EFLAGS alone): the run is mostly PUSH, POP and MOV,
        // and the flags of the ALU instruction before it die inside. A
        // declined refill captures them before the ordinary copy.
        mem_access(kSs, len, write, cold_runs_.back().entry, true);
        cold_runs_.back().at_entry = owed();
        if (deferred_) cold_runs_.back().at_entry.deferred = cold_runs_.back().at_entry.host_valid = 0;
        // (kept for a slow path inside the run, whose call clobbers kHost)
        a_.mov(stack_run_base(), kHost);
        stack_run_ = StackRun{base, 0, lo, lo + int32_t(len), write, true, 0};
        return true;
    }
    // ESP before the next instruction of the run, relative to its start,
    // and whether that instruction reads ESP other than through the run
    // (so ESP must be whole before it).
    void set_stack_delta(int32_t delta, bool reads_esp) {
        stack_run_->esp_delta = delta;
        if (reads_esp) settle_esp();
    }
    void end_stack_run() {
        settle_esp();
        cold_runs_.back().at_after = owed();
        stack_run_.reset();
        host_disp_ = 0;
        a_.bind(cold_runs_.back().after);
    }

    // Chained exits emitted so far: (label at the jmp, target phys).
    struct ChainSiteLabel {
        Label site;
        Label through_cache;  // invalid: none
        uint64_t target_phys;
        EntryState state;
    };
    const std::vector<ChainSiteLabel>& chain_sites() const { return chain_sites_; }
    const Label& chain_entry() const { return chain_entry_; }
    const Label& fast_entry() const { return fast_entry_; }
    const Label& warm_entry() const { return warm_entry_; }
    // Which guest register each host copy holds (see CacheMap).
    CacheMap cache_map() const {
        CacheMap map = kNoCopies;
        for (unsigned r = 0; r < 8; r++)
            if (cache_of_[r] >= 0) map = (map & ~(0xfu << (4 * cache_of_[r]))) | (CacheMap(r) << (4 * cache_of_[r]));
        return map;
    }

    // The frame, then the chain entry with the checks every entry makes:
    // the block fits the run's step budget (0 while events are pending),
    // and all of it lies inside CS (the interpreter checks each
    // instruction's end).
    void prologue(unsigned insns, uint32_t bytes, const EntryState& assumed) {
        assumed_ = assumed;
        for (const x86::Gp& r : kSavedRegs) a_.push(r);
        // The frame: a scratch slot at [rsp], a stack run's host base at
        // [rsp+16], and 16-byte alignment at helper calls. Chained blocks
        // share it.
        a_.sub(x86::rsp, kFrameBytes);
        a_.mov(kCpu, x86::rdi);
        a_.mov(kState, x86::rsi);
        // What a chained jump brings in registers (see kSteps).
        emit_load_flags(a_, kFlags, x86::rax);
        a_.mov(kEntryRip, x86::qword_ptr(kState, kRipOffset));
        a_.mov(kSteps, in_cpu(cpu_.step_counter(), 8));
        epilogue_ = a_.newLabel();
        done_ = a_.newLabel();
        bail_ = a_.newLabel();
        chain_entry_ = a_.newLabel();
        fast_entry_ = a_.newLabel();
        warm_entry_ = a_.newLabel();
        a_.bind(chain_entry_);
        // The state checks (EntryState), which a chained jump from a block
        // that established them skips: CS (flat: it holds any block),
        const int32_t cs = kSegOffset + int32_t(kCs * sizeof(SegmentCache));
        if (!assumed.known) {
            a_.lea(x86::rax, x86::ptr(kEntryRip, int32_t(bytes - 1)));
            a_.mov(x86::ecx, x86::dword_ptr(kState, cs + kSegLimit));
            a_.cmp(x86::rax, x86::rcx);
            a_.ja(bail_);
        }
        // then CPL, paging and the flat data segments: every bit the block
        // needs is set in the executor's summary of the state now.
        // (entry_bits(), not entry_needs(): a block that runs into a second
        // page has its CS limit checked above, not `known`, and its inline
        // accesses' assumptions still hold whenever these bits do. With
        // entry_needs() it asked for every bit, and never ran.)
        const uint32_t needs = (assumed.known ? kEntryCsFlat : 0) | (assumed.checked ? entry_bits(assumed) : 0);
        if (needs) {
            a_.mov(x86::eax, in_cpu(cpu_.executor_mode_bits(), 4));
            a_.not_(x86::eax);
            a_.test(x86::eax, Imm(int32_t(needs)));
            a_.jnz(bail_);
        }
        a_.bind(fast_entry_);
        reload_cached();
        // A chained jump from a block whose host copies are these
        // (cache_map_carries()) comes in here, past the reloads.
        a_.bind(warm_entry_);
        // The check every entry makes: the block fits the run's step
        // budget, which is 0 while events are pending.
        a_.lea(x86::rax, x86::ptr(kSteps, int32_t(insns)));
        a_.cmp(x86::rax, in_cpu(cpu_.jit_run_end_counter(), 8));
        a_.ja(bail_);
    }

    // Guest registers read often in this block get a host register that
    // holds a copy. A write goes to the copy only (write-back: `dirty_`);
    // the slots are written before whatever reads CpuState (a call, an
    // exit, a slow path's step), and the copies reloaded after every
    // call, which clobbers them.
    // Each guest register has a home among the host registers (r mod 5),
    // or the next free one after it, so that blocks caching the same
    // registers agree on where (a chained jump between them then skips
    // the reloads: CacheMap).
    void cache_registers(const std::array<bool, 8>& wanted) {
        std::array<bool, kCacheRegs.size()> taken{};
        for (unsigned r = 0; r < 8; r++) {
            cache_of_[r] = -1;
            if (!wanted[r]) continue;
            for (unsigned k = 0; k < kCacheRegs.size(); k++) {
                const unsigned slot = (r + k) % kCacheRegs.size();
                if (taken[slot]) continue;
                taken[slot] = true;
                cache_of_[r] = int8_t(slot);
                break;
            }
        }
    }
    void reload_cached() {
        for (unsigned r = 0; r < 8; r++)
            if (cache_of_[r] >= 0) a_.mov(kCacheRegs[size_t(cache_of_[r])], gpr_slot(r, 8));
        dirty_ = 0;
    }
    // The host copies of the registers in `regs` that are newer than
    // their slots, into the slots (MOV: EFLAGS are kept).
    void write_back(uint8_t regs) {
        for (unsigned r = 0; r < 8; r++)
            if (regs & dirty_ & (1u << r)) a_.mov(gpr_slot(r, 8), host_reg(r));
        dirty_ &= uint8_t(~regs);
    }
    void write_back_all() { write_back(0xff); }
    void mark_dirty(unsigned r) { dirty_ |= uint8_t(1u << r); }
    bool cached(unsigned r) const { return r < 8 && cache_of_[r] >= 0; }
    // A whole 32-bit general register with a host copy.
    bool is_cached_dword(const Operand& op) const {
        return op.kind == OpKind::kReg && op.reg_class == RegClass::kGpr && op.size == 4 && cached(op.reg);
    }
    x86::Gp host_reg(unsigned r) const { return kCacheRegs[size_t(cache_of_[r])]; }
    // A general register operand as an instruction operand: its host copy
    // when it has one, else its CpuState slot.
    // (AH..BH of a register with a copy: from the slot, written first.)
    Operand_ reg_src(const Operand& op) {
        if (op.reg_class == RegClass::kGpr && cached(op.reg)) return sized(host_reg(op.reg), op.size);
        if (cached(op.reg)) write_back(uint8_t(1u << op.reg));
        return reg_slot(op);
    }
    Operand_ gpr_src(unsigned r, unsigned size) const {
        if (cached(r)) return sized(host_reg(r), size);
        return gpr_slot(r, size);
    }
    // After a store into the slot of guest register r by other means than
    // store_reg (a byte or word write, SETcc): its copy follows.
    void refresh(unsigned r) {
        if (cached(r)) a_.mov(host_reg(r), gpr_slot(r, 8));
    }
    void mov_from(const x86::Gp& dst, const Operand_& src) { a_.emit(x86::Inst::kIdMov, dst, src); }

    // A helper step ran: the entry's assumptions no longer hold for what
    // follows in this block.
    void forget_assumptions() { assumptions_hold_ = false; }

    // dst = EIP at the block's entry + offset (a 32-bit dst wraps it),
    // flags untouched.
    void entry_rip_plus(const x86::Gp& dst, int32_t offset) { a_.lea(dst, x86::ptr(kEntryRip, offset)); }

    // EIP and the flags a chained jump carries in registers, into CpuState.
    void store_entry_state() {
        a_.mov(x86::qword_ptr(kState, kRipOffset), kEntryRip);
        emit_store_flags(a_, kFlags);
    }

    // The flags into kFlags and the registers into CpuState, before a
    // chained jump (whose target reloads the registers from there).
    void sync_registers() {
        release_eflags();
        write_back_all();
    }
    // The same and the flags into CpuState, before anything outside the
    // block reads them (the dispatcher, the jump cache's lookup).
    void sync_state() {
        sync_registers();
        emit_store_flags(a_, kFlags);
    }

    // rax = (entry + offset) & ip_mask
    void rip_in_rax(uint32_t offset) {
        entry_rip_plus(x86::eax, int32_t(offset));
        if (ip_mask_ == 0xffff) a_.movzx(x86::eax, x86::ax);
    }
    // s.rip = the same (and rax)
    void store_rip(uint32_t offset) {
        rip_in_rax(offset);
        a_.mov(x86::qword_ptr(kState, kRipOffset), x86::rax);
    }

    // A helper step; on false, leave with `inline_before` inline
    // instructions retired.
    void helper(const DecodedInsn& insn, uint32_t offset, bool rip_current, unsigned inline_before) {
        if (!rip_current) store_rip(offset);
        call_step(insn);
        a_.jz(exit_with(inline_before));
        forget_assumptions();
    }

    void inline_insn(const DecodedInsn& insn, Form form, bool store_flags, uint32_t offset, unsigned inline_before,
                     const ExitTargets& targets = {}) {
        const Operand* op = insn.ops;
        if (stack_run_)
            cold_runs_.back().insns.push_back(
                ColdInsn{&insn, form, store_flags, offset, inline_before, targets});
        form_ = form;
        Label slow, resume;
        const size_t slow_index = slow_paths_.size();
        if (has_slow_path(form)) {
            slow = a_.newLabel();
            resume = a_.newLabel();
            slow_paths_.push_back(SlowPath{slow, resume, &insn, offset, inline_before, stack_run_.has_value(),
                                           stack_run_ ? stack_run_->esp_pending : 0, 0, 0, dirty_, 0});
        }
        if (stack_run_ && stack_run_->base == kRsp && defers_esp_adjust(insn, form, store_flags)) {
            // One more change pending (plan_stack_runs tracked it).
            const int32_t imm = int32_t(uint32_t(op[1].imm));
            stack_run_->esp_pending += insn.mnemonic == ZYDIS_MNEMONIC_ADD ? imm : -imm;
            // Its flags are dead, and they replace any owed capture's; the
            // host's EFLAGS do not have them.
            deferred_ = host_valid_ = 0;
            return;
        }
        const bool keeps = keeps_eflags(form);
        // (A flag-passing form whose flags are not stored has no flag live
        // after it (translate()), nor then any capture owed from before.)
        const bool all_dead = passes_flags_through(form) && !store_flags && !reads_carry(insn) && !has_slow_path(form);
        if (!keeps && all_dead) deferred_ = host_valid_ = 0;
        else if (!keeps && !(store_flags && takes_host_flags(form))) release_eflags();
        wrote_flags_ = false;
        switch (form) {
        case Form::kNop: break;
        case Form::kMov: emit_mov(op[0], op[1]); break;
        case Form::kAlu: emit_alu(insn, store_flags); break;
        case Form::kUnary: emit_unary(insn, store_flags); break;
        case Form::kUnaryMem: emit_unary(insn, store_flags, slow); break;
        case Form::kLea: emit_lea(insn); break;
        case Form::kMovExtend: emit_move_extend(insn); break;
        case Form::kLoad:
            mem_address(insn, op[1], false, slow);
            if (is_cached_dword(op[0])) {
                a_.mov(host_reg(op[0].reg).r32(), host_mem(4));
                mark_dirty(op[0].reg);
                break;
            }
            a_.mov(sized(x86::rax, op[0].size), host_mem(op[0].size));
            store_reg(op[0], x86::rax);
            break;
        case Form::kStore:
            mem_address(insn, op[0], true, slow);
            if (op[1].kind == OpKind::kImm) {
                a_.mov(host_mem(op[0].size), sized_imm(op[1].imm, op[0].size));
            } else {
                mov_from(sized(x86::rax, op[0].size), reg_src(op[1]));
                a_.mov(host_mem(op[0].size), sized(x86::rax, op[0].size));
            }
            break;
        case Form::kAluLoad: emit_alu(insn, store_flags, slow); break;
        case Form::kAluMem: emit_alu(insn, store_flags, slow); break;
        case Form::kShift: emit_shift(insn, store_flags); break;
        case Form::kDoubleShift: emit_double_shift(insn, store_flags); break;
        case Form::kBitScan: emit_bit_scan(insn, store_flags); break;
        case Form::kBitTest: emit_bit_test(insn, store_flags); break;
        case Form::kLeave: emit_leave(slow); break;
        case Form::kImul: emit_imul(insn, store_flags); break;
        case Form::kBranch: emit_branch(insn, offset + insn.length, slow, targets); break;
        case Form::kPush: emit_push(insn, slow); break;
        case Form::kSetcc:
            have_host_flags(insn.opcode & 0xf);
            a_.set(x86::CondCode(insn.opcode & 0xf), x86::al);
            store_reg(op[0], x86::rax);
            break;
        case Form::kCmov:
        case Form::kCmovLoad: {
            // The source is read even when the condition is false (it may
            // fault); a false condition writes the old value back.
            const x86::Gp d = sized(x86::rdx, op[0].size), v = sized(x86::r8, op[0].size);
            if (form == Form::kCmovLoad) {
                mem_address(insn, op[1], false, slow);
                a_.mov(v, host_mem(op[0].size));
            } else {
                mov_from(v, reg_src(op[1]));
            }
            have_host_flags(insn.opcode & 0xf);
            mov_from(d, reg_src(op[0]));
            a_.cmov(x86::CondCode(insn.opcode & 0xf), d, v);
            store_reg(op[0], x86::rdx);
            break;
        }
        case Form::kExtendLoad:
        {
            mem_address(insn, op[1], false, slow);
            // (Into a 32-bit destination's host copy directly.)
            const bool in_place = is_cached_dword(op[0]);
            const x86::Gp d = in_place ? host_reg(op[0].reg).r32() : x86::eax;
            if (insn.mnemonic == ZYDIS_MNEMONIC_MOVZX) a_.movzx(d, host_mem(op[1].size));
            else a_.movsx(d, host_mem(op[1].size));
            if (in_place) mark_dirty(op[0].reg);
            else store_reg(op[0], x86::rax);
            break;
        }
        case Form::kPop: emit_pop(insn, slow); break;
        case Form::kCall: emit_call(insn, offset + insn.length, slow, targets); break;
        case Form::kRet: emit_ret(insn, slow, targets.retired); break;
        case Form::kJmpIndirect:
        case Form::kCallIndirect: emit_near_indirect(insn, form == Form::kCallIndirect, offset, slow, targets.retired); break;
        case Form::kFlagOp: emit_flag_op(insn); break;
        case Form::kMulAcc:
        case Form::kMulAccMem: emit_mul_acc(insn, store_flags, slow); break;
        case Form::kXchg:
        case Form::kXchgMem: emit_xchg(insn, slow); break;
        case Form::kRdtsc: emit_rdtsc(slow); break;
        case Form::kFnstswAx: emit_fnstsw_ax(slow); break;
        case Form::kString: emit_string(insn, store_flags, slow); break;
        case Form::kCmpxchgMem: emit_cmpxchg(insn, store_flags, slow); break;
        case Form::kBitTestMem: emit_bit_test_mem(insn, store_flags, slow); break;
        case Form::kX87:
        case Form::kX87Mem: emit_x87(insn, offset, slow); break;
        case Form::kHelper: break;
        }
        // (What clobbered EFLAGS without computing flags left none valid.)
        if (!keeps && !wrote_flags_) host_valid_ = 0;
        if (has_slow_path(form)) {
            a_.bind(resume);
            if (stack_run_) slow_paths_[slow_index].esp_after = stack_run_->esp_pending;
            slow_paths_[slow_index].host_valid = host_valid_;
            slow_paths_[slow_index].dirty_after = dirty_;
        }
    }

    // A Jcc inside a superblock: taken, it leaves as a block-ending one
    // does; not taken, the code after it runs on. The target needs no CS
    // limit check (the entry checked a flat CS, which a helper step cannot
    // change without ending the block).
    void side_exit(const DecodedInsn& insn, uint32_t next_offset, const ExitTargets& targets) {
        if (insn.ops[0].imm == 0) {
            // Both ways lead to the next part (`jz $+2`): it runs on, as the
            // interpreter's block after this one would.
            return;
        }
        Label not_taken = a_.newLabel();
        have_host_flags(insn.opcode & 0xf);
        a_.j(x86::CondCode((insn.opcode & 0xf) ^ 1), not_taken);
        const Owed kept = owed();
        entry_rip_plus(x86::eax, int32_t(uint32_t(next_offset + insn.ops[0].imm)));
        leave_to(targets.retired, targets.taken);
        a_.bind(not_taken);
        set_owed(kept);
    }

    // Translator::jump_lookup_routine()'s code: jump_through_cache() for
    // a block whose entry established entry_state_of_key(key), and the
    // way out to the dispatcher when it misses.
    void jump_lookup_routine(uint32_t key) {
        assumed_ = entry_state_of_key(key);
        assumptions_hold_ = true;
        jump_lookup_ = {};
        done_ = a_.newLabel();
        jump_through_cache();
        a_.bind(done_);
        a_.xor_(x86::eax, x86::eax);
        emit_epilogue();
    }

    // Falls off the end: EIP after the last instruction when that one was
    // inline (a helper set it already).
    // `mode_kept`: the block's last instruction cannot have changed CS or
    // the paging mode, so the jump cache may find the next block.

    void finish(uint32_t end_offset, bool rip_current, unsigned inline_total, bool mode_kept) {
        if (!rip_current) store_rip(end_offset);
        sync_state();
        retire(inline_total);
        if (mode_kept) jump_to_stored_eip(!rip_current);
        a_.bind(done_);
        a_.xor_(x86::eax, x86::eax);
        a_.bind(epilogue_);
        emit_epilogue();
        // The stack runs' ordinary copies, for when their check fails: the
        // code the instructions would have had without the run (the
        // assumptions held at its start and nothing in it drops them).
        for (const ColdRun& run : cold_runs_) {
            a_.bind(run.entry);
            a_.comment("stack run: its ordinary copy");
            const bool held = assumptions_hold_;
            assumptions_hold_ = true;
            set_owed(run.at_entry);
            for (const ColdInsn& c : run.insns)
                inline_insn(*c.insn, c.form, c.store_flags, c.offset, c.inline_before, c.targets);
            assumptions_hold_ = held;
            // The run's end as the fast copy leaves it: no capture owed
            // that it does not owe, the host's EFLAGS valid where its are.
            if (deferred_ & ~run.at_after.deferred) release_eflags();
            if (run.at_after.host_valid & ~host_valid_) load_guest_flags();
            write_back(dirty_ & ~run.at_after.dirty);
            a_.jmp(run.after);
        }
        // First-way TLB misses: the refill routine preserves every register
        // but rax, the addend it returns (0: the instruction's slow path),
        // and EFLAGS, which may hold flags still owed (the way back to the
        // fast path tests rax without a compare). Before the slow path,
        // which reads kFlags, the owed flags are captured.
        for (const TlbRefill& r : refills_) {
            a_.bind(r.miss);
            a_.lea(x86::ecx, x86::ptr(x86::rdx, int32_t(r.size - 1)));
            a_.call(Imm(reinterpret_cast<uint64_t>(r.routine)));
            a_.mov(x86::rcx, x86::rax);
            Label declined = a_.newLabel();
            a_.jecxz(x86::rcx, declined);
            a_.jmp(r.hit);
            a_.bind(declined);
            if (r.owed) capture_flags(r.owed);
            a_.jmp(r.slow);
        }
        // The fast paths' fallbacks: the interpreter runs the instruction.
        // Exits after this point count it among the inline instructions, so
        // the step's own retirement is taken back.
        // (None for a fast path that never falls back: an access inside a
        // stack run.)
        for (const SlowPath& p : slow_paths_) {
            if (!a_.code()->labelEntry(p.entry)->links()) continue;
            a_.bind(p.entry);
            // (The fast path owed no capture where it could come here, and
            // had written no register of the instruction's yet.)
            set_owed(Owed{0, 0, p.dirty_before});
            if (p.esp_before) add_to_esp(p.esp_before);
            store_rip(p.offset);
            call_step(*p.insn, true);
            a_.jz(exit_with(p.inline_before));
            if (p.esp_after) add_to_esp(-p.esp_after);
            // What comes after the fast path may test the host's EFLAGS.
            if (p.host_valid) load_guest_flags();
            write_back(dirty_ & ~p.dirty_after);
            if (p.in_stack_run) a_.mov(kHost, stack_run_base());
            a_.jmp(p.resume);
        }
        // The early exits, one per distinct retired count.
        for (auto& [count, label] : exits_) {
            a_.bind(label);
            retire(count);
            a_.jmp(done_);
        }
        // The entry checks failed: nothing of this block ran. (A chained
        // jump brought EIP and the flags in registers only.)
        a_.bind(bail_);
        store_entry_state();
        a_.mov(x86::eax, Imm(1));
        a_.jmp(epilogue_);
        // Unlinked chain exits: note which jump this was, then leave.
        for (const ChainStub& c : chain_stubs_) {
            a_.bind(c.stub);
            store_entry_state();
            a_.lea(x86::rcx, x86::ptr(c.site));
            a_.mov(x86::rax, Imm(reinterpret_cast<uint64_t>(last_exit_)));
            a_.mov(x86::qword_ptr(x86::rax), x86::rcx);
            a_.jmp(done_);
            // Where the engine points a jump it cannot link (its target's
            // last instruction runs into the next page, whose mapping a
            // patched jump would not check): on through the jump cache,
            // which checks both pages, instead of the dispatcher each time.
            if (c.through_cache.isValid()) {
                a_.bind(c.through_cache);
                store_entry_state();
                const bool held = assumptions_hold_;
                assumptions_hold_ = c.assumptions_held;  // what held at the jump
                a_.mov(x86::eax, kEntryRip.r32());
                jump_through_cache();
                assumptions_hold_ = held;
            }
        }
    }

private:
    // What the code emitted so far owes CpuState, at one point of it.
    // Flags are captured late (see release_eflags): `deferred` are the
    // guest's arithmetic flags whose newest value is only in the host's
    // EFLAGS (kFlags owes a capture of them), `host_valid` those the
    // host's EFLAGS hold exactly as the guest has them now (a superset).
    // Registers are written back late (see write_back): `dirty` has a bit
    // per guest register whose host copy is newer than its CpuState slot.
    struct Owed {
        uint32_t deferred = 0, host_valid = 0;
        uint8_t dirty = 0;
    };
    // An inline access's first-way TLB miss: `routine` may refill the entry
    // and hand back the addend (on to `hit`), else the instruction's `slow`.
    // `size` is the access's (or the stretch's) length, `owed` the flags
    // its probe left owed in EFLAGS (captured before the slow path).
    struct TlbRefill {
        Label miss, hit, slow;
        const void* routine;
        unsigned size;
        uint32_t owed;
    };
    struct SlowPath {
        Label entry, resume;
        const DecodedInsn* insn;
        uint32_t offset;
        unsigned inline_before;
        bool in_stack_run;  // the run's host base goes back into kHost
        // The run's ESP change pending when the instruction starts (made
        // whole for the step) and where the fast path resumes (taken back
        // from ESP after it).
        int32_t esp_before, esp_after;
        uint32_t host_valid;  // the flags the host's EFLAGS hold at `resume`
        uint8_t dirty_before, dirty_after;  // (Owed) where it leaves, at `resume`
    };
    // An open stack run: ESP now and the bytes [lo, hi) it checked, all
    // relative to its base register at its start (EBP does not move in
    // an EBP run: esp_delta stays 0), and whether kHost holds the host
    // address of byte lo (else the frame slot does: another access used
    // kHost since).
    // ESP itself moves late: pushes and pops add to `esp_pending`, and
    // the register (and its CpuState slot) takes the sum where something
    // reads it: an instruction that names ESP, a slow path (before its
    // helper step; after it the register goes back to what the fast path
    // has), a call or return, the run's end.
    struct StackRun {
        unsigned base;  // kRsp or kRbp (whose runs keep no ESP pending)
        int32_t esp_delta;
        int32_t lo, hi;
        bool write;
        bool base_in_host;
        int32_t esp_pending = 0;
    };
    // An access at base + `offset` (the base as the open run has it now):
    // when it lies inside what the run checked (for a store, checked for
    // stores), its host operand is the run's base plus a constant; else
    // false, and the access takes the ordinary way. (So the emitter stays
    // right even where plan_stack_runs() saw an access otherwise.)
    bool in_stack_run(int32_t offset, unsigned size, bool write) {
        if (!stack_run_) return false;
        const int64_t at = int64_t(stack_run_->esp_delta) + offset;
        if ((write && !stack_run_->write) || at < stack_run_->lo || at + int64_t(size) > stack_run_->hi) return false;
        if (!stack_run_->base_in_host) {
            a_.mov(kHost, stack_run_base());
            stack_run_->base_in_host = true;
        }
        host_disp_ = int32_t(at - stack_run_->lo);
        return true;
    }
    // The open run's pending ESP change into ESP.
    void settle_esp() {
        if (!stack_run_ || stack_run_->esp_pending == 0) return;
        add_to_esp(stack_run_->esp_pending);
        stack_run_->esp_pending = 0;
    }
    // An access about to read ESP the ordinary way: with a change pending
    // that plan_stack_runs() did not foresee, the translation fails (and
    // the interpreter runs the block) rather than use a stale ESP.
    void check_esp_settled(bool uses_esp) {
        if (uses_esp && stack_run_ && stack_run_->esp_pending != 0) emitter_failed_ = true;
    }
    // What inline_insn() was given for an instruction of a stack run, to
    // emit it again in the run's ordinary copy.
    struct ColdInsn {
        const DecodedInsn* insn;
        Form form;
        bool store_flags;
        uint32_t offset;
        unsigned inline_before;
        ExitTargets targets;
    };
    struct ColdRun {
        Label entry, after;
        std::vector<ColdInsn> insns;
        Owed at_entry, at_after;  // the fast copy's, at its check and at `after`
    };
    // The frame slot that keeps a stack run's host base.
    static x86::Mem stack_run_base() { return x86::qword_ptr(x86::rsp, 16); }
    // The host operand of the access the fast path just found.
    x86::Mem host_mem(unsigned size) const { return x86::ptr(kHost, host_disp_, size); }

    // A jump target in eax beyond the CS limit raises #GP: the slow
    // path's. (A flat CS, which the entry checked, holds every target.)
    void check_in_cs_limit(const Label& slow) {
        if (assumptions_hold_ && assumed_.known) return;
        release_eflags();
        a_.cmp(x86::eax, x86::dword_ptr(kState, kSegOffset + int32_t(kCs * sizeof(SegmentCache)) + kSegLimit));
        a_.ja(slow);
    }

    // jit_step(cpu, insn, ip_mask, counters) through the shared step
    // routine (Translator::build_step_routine); ZF set when the block must
    // end. `take_back`: on success the step's own retirement is taken
    // back (a slow path: the block's exits count it as inline).
    void call_step(const DecodedInsn& insn, bool take_back = false) {
        release_eflags();
        write_back_all();
        a_.mov(x86::rsi, Imm(reinterpret_cast<uint64_t>(&insn)));
        const unsigned k = (keeps_entry_state(insn) ? 4 : 0) + (ip_mask_ == 0xffff ? 2 : 0) + (take_back ? 1 : 0);
        a_.call(Imm(reinterpret_cast<uint64_t>(routines_.step[k])));
        reload_cached();
        a_.test(x86::al, x86::al);
    }

    Label exit_with(unsigned inline_before) {
        for (auto& [count, label] : exits_)
            if (count == inline_before) return label;
        exits_.emplace_back(inline_before, a_.newLabel());
        return exits_.back().second;
    }

    // Back to the dispatcher, eax its result: the frame every block and
    // the routines they jump to share (prologue()).
    void emit_epilogue() {
        a_.mov(in_cpu(cpu_.step_counter(), 8), kSteps);
        a_.add(x86::rsp, kFrameBytes);
        for (size_t k = kSavedRegs.size(); k-- > 0;) a_.pop(kSavedRegs[k]);
        a_.ret();
    }

    // A field of the Cpu object, addressed from kCpu (its layout is the
    // compiler's, but the offset of a member of this object is fixed).
    x86::Mem in_cpu(const void* field, unsigned size) const {
        const ptrdiff_t off = static_cast<const char*>(field) - reinterpret_cast<const char*>(&cpu_);
        return x86::ptr(kCpu, int32_t(off), size);
    }

    // (LEA: EFLAGS are kept.)
    void retire(unsigned n) {
        if (n) a_.lea(kSteps, x86::ptr(kSteps, int32_t(n)));
    }

    // The effective address of a memory operand (its offset in the
    // segment, wrapped to the address size) in edx.
    // One LEA over the registers' host copies (or their values loaded
    // from CpuState); only the low 32 bits of the sum are kept, which is
    // the guest's wrap (16-bit addressing then drops bits 16-31).
    // (`target`: the register to compute it in instead, a 32-bit one.)
    void effective_address(const DecodedInsn& insn, const Operand& m, x86::Gp target = x86::edx) {
        check_esp_settled(m.base == kRsp || m.index == kRsp);
        const int32_t disp = int32_t(uint32_t(uint64_t(m.disp)));
        // A register's value as a 64-bit base or index (only its low 32
        // bits reach the result).
        auto value_of = [&](unsigned r, const x86::Gp& scratch) {
            if (cached(r)) return host_reg(r);
            a_.mov(scratch.r32(), gpr_slot(r, 4));
            return scratch;
        };
        // (No LEA where the value loaded is the address already.)
        if (m.base != kNoReg) {
            const x86::Gp base = value_of(m.base, x86::rdx);
            if (m.index != kNoReg) a_.lea(target, x86::ptr(base, value_of(m.index, x86::rcx), m.scale_shift, disp));
            else if (disp != 0 || base != target.r64()) a_.lea(target, x86::ptr(base, disp));
        } else if (m.index != kNoReg && m.scale_shift == 0) {
            const x86::Gp index = value_of(m.index, x86::rdx);
            if (disp != 0 || index != target.r64()) a_.lea(target, x86::ptr(index, disp));
        } else {
            // (The index read before the target is written: LEA EAX,
            // [EAX*4 + 4] may compute into EAX's own host copy.)
            if (m.index != kNoReg) {  // [index*scale + disp]
                release_eflags();
                mov_from(x86::ecx, gpr_src(m.index, 4));
                a_.shl(x86::ecx, Imm(m.scale_shift));
                a_.lea(target, x86::ptr(x86::rcx, disp));
            } else {
                a_.mov(target, Imm(uint32_t(disp)));
            }
        }
        if (insn.addrsize == 2) a_.movzx(target, target.r16());
    }

    // The inline fast path of a guest data access (after v86's
    // gen_safe_read/write): the segment checks, the software-TLB lookup and
    // the RAM page checks, each failing to `slow`; on success the host
    // address is in kHost and, for a store, the page is marked dirty. The one
    // place that decides between the fast and the slow path.
    void mem_address(const DecodedInsn& insn, const Operand& m, bool write, const Label& slow) {
        if (stack_run_ && is_frame_operand(insn, m, stack_run_->base) &&
            in_stack_run(int32_t(uint32_t(uint64_t(m.disp))), m.size, write))
            return;
        effective_address(insn, m);
        mem_access(m.seg, m.size, write, slow, keeps_owed_flags(form_));
    }

    // The same for the offset in edx in segment `seg_index`. `keep_owed`:
    // the instruction's code after the access leaves EFLAGS alone until
    // its own flag computation, so a capture owed may stay owed across a
    // flag-free probe (below).
    void mem_access(unsigned seg_index, unsigned size, bool write, const Label& slow, bool keep_owed = false) {
        host_disp_ = 0;
        if (stack_run_) stack_run_->base_in_host = false;  // kHost is this access's now
        const int32_t seg = kSegOffset + int32_t(seg_index * sizeof(SegmentCache));
        const bool assumed = assumptions_hold_;
        const bool flat = assumed && (assumed_.flat_segments & (1u << seg_index));
        // (Paging off: the TLB holds identity translations for this path,
        // Cpu::refill_tlb_for_jit(); only -accel jit,verify=on's stores
        // still take the page-flags way below.)
        const bool through_tlb = assumed && (assumed_.paging || !(write && journal_stores_));
        // Plain RAM (for a store: already dirty, no decoded code, see
        // Tlb::write_host_page) has its own keys, and then linear + addend
        // is the host byte; anything else takes the slow path, whose store
        // makes the page qualify. (-accel jit,verify=on: stores go the long
        // way, which knows the physical address the journal records.)
        const bool direct = through_tlb && !(write && journal_stores_);
        const bool user = assumed_.cpl == 3;
        // A miss asks the refill routine (out of line), which takes the
        // second way or walks the tables; without one, the slow path.
        const void* routine = direct ? routines_.refill[(write ? 2 : 0) + (user ? 1 : 0)] : nullptr;
        // With a capture owed, the probe leaves EFLAGS alone (BMI2's
        // shifts, a sum instead of a compare, JECXZ): the PUSHFQ and merge
        // of a capture cost more than the probe itself, and most accesses
        // follow an ALU instruction whose flags die a few instructions on.
        // Its miss stub captures them before a slow path.
        const bool flag_free = keep_owed && flat && routine && deferred_ && host_has_bmi2();
        if (!flag_free) release_eflags();
        if (!flat) {
            a_.movzx(x86::eax, x86::word_ptr(kState, seg + kSegAttr));
            a_.and_(x86::eax, Imm(write ? kSegWriteMask : kSegReadMask));
            a_.cmp(x86::eax, Imm(write ? kSegWriteWant : kSegReadWant));
            a_.jne(slow);
            a_.lea(x86::rcx, x86::ptr(x86::rdx, int32_t(size - 1)));
            a_.mov(x86::eax, x86::dword_ptr(kState, seg + kSegLimit));
            a_.cmp(x86::rcx, x86::rax);
            a_.ja(slow);
            a_.add(x86::edx, x86::dword_ptr(kState, seg + kSegBase));  // linear, wrapped to 32 bits
        }
        // (A flat segment: linear = offset. An access that runs past 4 GiB
        // also crosses a page, which the checks below send to `slow`.)
        const AccessKind kind = write ? AccessKind::kWrite : AccessKind::kRead;
        Label have_page = a_.newLabel();
        if (through_tlb) {
            static_assert(Tlb::kEntryBytes == 64, "the index scaling below is << 6");
            const int32_t entries = in_cpu(cpu_.tlb().entries_data(), 0).offset();
            const int32_t addend = entries + int32_t(Tlb::kHostAddendOffset);
            if (direct) {
                // The TLB entry of the access's first page, whose key for
                // this kind and the block's CPL plus the access's last
                // byte is below 4096 exactly when that byte lies in the
                // entry's page and the page is plain RAM (Tlb::ram_key()):
                // an access that crosses a page never matches.
                const int32_t key = entries + int32_t(write ? Tlb::kRamWriteKeyOffset : Tlb::kRamReadKeyOffset) +
                                    4 * (user ? 1 : 0);
                const TlbRefill refill{routine ? a_.newLabel() : slow, a_.newLabel(), slow, routine, size,
                                       flag_free ? deferred_ : 0};
                if (flag_free) {
                    // The set (linear bits 12 and up, Tlb::kSetBits of
                    // them) in the low bits of rax, zeros above them to
                    // bit 51: shifted left to the top of the register,
                    // then rotated down.
                    a_.mov(x86::ecx, Imm(64 - kPageShift - Tlb::kSetBits));
                    a_.shlx(x86::rax, x86::rdx, x86::rcx);
                    a_.rorx(x86::rax, x86::rax, Imm(64 - Tlb::kSetBits));
                    a_.lea(x86::eax, x86::ptr(0, x86::rax, 3));  // * 8 (32 bits), and * 8 again below
                    a_.mov(x86::ecx, x86::dword_ptr(kCpu, x86::rax, 3, key));
                    a_.lea(x86::ecx, x86::ptr(x86::rcx, x86::rdx, 0, int32_t(size - 1)));
                    // ECX = bits 12-43 of the zero-extended sum: zero on a hit.
                    a_.rorx(x86::rcx, x86::rcx, Imm(kPageShift));
                    Label hit = a_.newLabel();
                    a_.jecxz(x86::ecx, hit);
                    a_.jmp(refill.miss);
                    a_.bind(hit);
                    a_.mov(x86::rax, x86::qword_ptr(kCpu, x86::rax, 3, addend));
                } else {
                    a_.mov(x86::eax, x86::edx);
                    a_.shr(x86::eax, Imm(kPageShift - 6));  // the entry's byte offset: set << 6
                    a_.and_(x86::eax, Imm((Tlb::kEntries - 1) << 6));
                    a_.mov(x86::ecx, x86::dword_ptr(kCpu, x86::rax, 0, key));
                    a_.lea(x86::ecx, x86::ptr(x86::rcx, x86::rdx, 0, int32_t(size - 1)));
                    a_.shr(x86::ecx, Imm(kPageShift));
                    a_.jnz(refill.miss);
                    a_.mov(x86::rax, x86::qword_ptr(kCpu, x86::rax, 0, addend));
                }
                a_.bind(refill.hit);
                a_.lea(kHost, x86::ptr(x86::rax, x86::rdx));
                if (routine) refills_.push_back(refill);
                return;
            }
            // -accel jit,verify=on's stores: the entry's tag for this kind
            // and privilege must equal the VPN of the last byte (an access
            // that crosses a page never matches: the tag has the first
            // page's set bits), and the physical page goes on below.
            if (size > 1) a_.lea(x86::ecx, x86::ptr(x86::rdx, int32_t(size - 1)));
            else a_.mov(x86::ecx, x86::edx);
            a_.shr(x86::ecx, Imm(kPageShift));
            a_.mov(x86::eax, x86::edx);
            a_.shr(x86::eax, Imm(kPageShift - 6));
            a_.and_(x86::eax, Imm((Tlb::kEntries - 1) << 6));
            const int32_t tag = int32_t(Tlb::kTagsOffset + 4 * Tlb::tag_index(kind, user));
            a_.cmp(x86::dword_ptr(kCpu, x86::rax, 0, entries + tag), x86::ecx);
            a_.jne(slow);
            a_.mov(x86::eax, x86::dword_ptr(kCpu, x86::rax, 0, entries + int32_t(Tlb::kPhysPageOffset)));
        } else {
            // The access inside one page.
            a_.mov(x86::eax, x86::edx);
            a_.and_(x86::eax, Imm(kPageSize - 1));
            a_.cmp(x86::eax, Imm(kPageSize - size));
            a_.ja(slow);
        }
        // Paging off: physical = linear with the A20 mask.
        Label paged = a_.newLabel();
        if (!assumed) {
            a_.test(x86::dword_ptr(kState, kCr0Offset), Imm(int32_t(cr0::PG)));
            a_.jnz(paged);
        }
        const bool linear_is_phys = assumed && !assumed_.paging;
        if (!(assumed && assumed_.paging)) {
            a_.mov(x86::rax, Imm(reinterpret_cast<uint64_t>(ram_.a20_mask)));
            a_.and_(x86::edx, x86::dword_ptr(x86::rax));
            a_.mov(x86::eax, x86::edx);
            a_.shr(x86::eax, Imm(kPageShift));
            if (!linear_is_phys) a_.jmp(have_page);
        }
        // TLB: the tag for this access kind and privilege equals the VPN.
        a_.bind(paged);
        if (!assumed) {
            a_.mov(x86::eax, x86::edx);
            a_.shr(x86::eax, Imm(kPageShift));
            a_.mov(x86::ecx, x86::eax);
            a_.and_(x86::ecx, Imm(Tlb::kEntries - 1));
            a_.shl(x86::ecx, Imm(6));  // * Tlb::kEntryBytes
            a_.lea(x86::r8, in_cpu(cpu_.tlb().entries_data(), 0));
            a_.add(x86::r8, x86::rcx);
            a_.xor_(x86::ecx, x86::ecx);
            a_.cmp(x86::byte_ptr(kState, kCplOffset), Imm(3));
            a_.sete(x86::cl);  // user access: the tag one slot on
            const int32_t tag = int32_t(Tlb::kTagsOffset + 4 * Tlb::tag_index(kind, false));
            a_.cmp(x86::dword_ptr(x86::r8, x86::rcx, 2, tag), x86::eax);
            a_.jne(slow);
            a_.mov(x86::eax, x86::dword_ptr(x86::r8, int32_t(Tlb::kPhysPageOffset)));
        }
        a_.bind(have_page);
        // Plain RAM (and, for a store, no decoded code on the page).
        a_.cmp(x86::rax, Imm(int64_t(ram_.pages)));
        a_.jae(slow);
        const uint32_t refuse = write ? (PhysicalMemory::kNotRam | PhysicalMemory::kCodePage) : PhysicalMemory::kNotRam;
        a_.mov(x86::rcx, Imm(reinterpret_cast<uint64_t>(ram_.page_flags)));
        a_.test(x86::byte_ptr(x86::rcx, x86::rax), Imm(refuse));
        a_.jnz(slow);
        if (write) a_.or_(x86::byte_ptr(x86::rcx, x86::rax), Imm(PhysicalMemory::kDirtyMigration));
        a_.mov(kHost, Imm(reinterpret_cast<uint64_t>(ram_.ram)));
        a_.shl(x86::rax, Imm(kPageShift));
        a_.and_(x86::edx, Imm(kPageSize - 1));
        a_.or_(x86::rax, x86::rdx);
        if (write && journal_stores_) {
            // -accel jit,verify=on: the store goes into the verifier's journal.
            write_back_all();
            a_.push(x86::rax);
            a_.push(x86::rax);  // twice: the stack stays 16-byte aligned
            a_.mov(x86::rdi, Imm(reinterpret_cast<uint64_t>(&cpu_.memory())));
            a_.mov(x86::rsi, x86::rax);
            a_.mov(x86::edx, Imm(size));
            a_.call(Imm(reinterpret_cast<uint64_t>(&jit_journal_store)));
            a_.pop(x86::rax);
            a_.pop(x86::rax);
            reload_cached();
            a_.mov(kHost, Imm(reinterpret_cast<uint64_t>(ram_.ram)));
        }
        a_.add(kHost, x86::rax);
    }

    // A 4-byte register write zeroes bits 32-63 of the slot, as
    // Cpu::set_reg does; narrower writes keep the rest. EFLAGS are kept
    // (flags computed before may stay there).
    void store_reg(const Operand& dst, const x86::Gp& value64) {
        if (dst.size == 4 && dst.reg_class == RegClass::kGpr) {
            store_gpr32(dst.reg, value64);
        } else if (dst.reg_class == RegClass::kGpr && cached(dst.reg)) {
            // AL/AX into the host copy, then the whole slot from it: a
            // narrow store followed by a wide reload of the same slot would
            // miss store forwarding (a stall of a dozen cycles or more).
            a_.mov(sized(host_reg(dst.reg), dst.size), sized(value64, dst.size));
            mark_dirty(dst.reg);
        } else {
            // (AH..BH of a register with a copy: through the slot.)
            if (cached(dst.reg)) write_back(uint8_t(1u << dst.reg));
            a_.mov(reg_slot(dst), sized(value64, dst.size));
            refresh(dst.reg);
        }
    }

    // A 32-bit general register from the zero-extended value in value64.
    void store_gpr32(unsigned r, const x86::Gp& value64) {
        if (!cached(r)) {
            a_.mov(gpr_slot(r, 8), value64.r64());
            return;
        }
        a_.mov(host_reg(r), value64.r64());
        mark_dirty(r);
    }

    // A host instruction just computed the guest's flags `written` (the
    // others in EFLAGS are as they were): owed to kFlags when `keep` (a
    // later reader may need kFlags), else dead.
    void wrote_flags(uint32_t written, bool keep) {
        host_valid_ |= written;
        deferred_ = keep ? deferred_ | written : deferred_ & ~written;
        wrote_flags_ = true;
    }
    // Before code that clobbers EFLAGS or reads kFlags (an access's checks,
    // a call, an exit): the capture owed, if any, is made now. A flag
    // written and overwritten in between, with only EFLAGS-neutral code
    // between (MOV, LEA, an access inside a stack run, SETcc), is never
    // captured at all.
    void release_eflags() {
        if (deferred_) capture_flags(deferred_);
        deferred_ = host_valid_ = 0;
    }
    Owed owed() const { return Owed{deferred_, host_valid_, dirty_}; }
    void set_owed(const Owed& o) {
        deferred_ = o.deferred;
        host_valid_ = o.host_valid;
        dirty_ = o.dirty;
    }
    // Condition `cc` about to be tested on the host's EFLAGS: from kFlags
    // unless they hold every flag it tests already.
    void have_host_flags(unsigned cc) {
        if (flags_tested(cc) & ~host_valid_) load_guest_flags();
    }

    void capture_flags(uint32_t mask) {
        // Host EFLAGS -> the guest's arithmetic flags in `mask`:
        // kFlags = (kFlags & ~mask) | (host & mask), two operations deep
        // on kFlags (the chain from one capture to the next). LAHF and
        // SETO, not PUSHFQ, which is microcoded: about 1 ns more per
        // capture on the host, and nearly every block exit captures. rax
        // (often the next EIP by now) waits in rcx meanwhile.
        a_.mov(x86::rcx, x86::rax);
        a_.lahf();                      // ah = SF ZF 0 AF 0 PF 1 CF
        a_.seto(x86::al);
        a_.xchg(x86::rax, x86::rcx);    // cx = that byte << 8 | OF
        a_.shl(x86::cl, Imm(3));        // OF at bit 3 of the low byte,
        a_.rol(x86::cx, Imm(8));        // and the bytes swapped: OF at bit 11
        a_.and_(x86::ecx, Imm(int32_t(mask)));
        a_.and_(kFlags, Imm(int32_t(~mask)));
        a_.or_(kFlags, x86::rcx);
    }

    void emit_mov(const Operand& dst, const Operand& src) {
        if (is_cached_dword(dst)) {
            const x86::Gp h = host_reg(dst.reg).r32();
            if (src.kind == OpKind::kImm) a_.mov(h, Imm(uint32_t(src.imm)));
            else mov_from(h, reg_src(src));
            mark_dirty(dst.reg);
            return;
        }
        const x86::Gp v = sized(x86::rax, dst.size);
        if (src.kind == OpKind::kImm) {
            if (dst.size == 4) a_.mov(x86::eax, Imm(uint32_t(src.imm)));
            else a_.mov(v, sized_imm(src.imm, dst.size));
        } else {
            mov_from(v, reg_src(src));
        }
        store_reg(dst, x86::rax);
    }

    // ADD..TEST with a register, or (kAluLoad, kAluMem) a memory operand
    // reached through the fast path, whose fallback is `slow`.
    void emit_alu(const DecodedInsn& insn, bool store_flags, const Label& slow = Label()) {
        const Operand& dst = insn.ops[0];
        const Operand& src = insn.ops[1];
        const unsigned size = dst.size;
        const uint16_t m = insn.mnemonic;
        const bool read_only = m == ZYDIS_MNEMONIC_CMP || m == ZYDIS_MNEMONIC_TEST;
        // ADD ADC SUB SBB CMP define every flag they write, so any form of
        // the host's instruction computes the same ones: a memory or
        // immediate operand goes in as it is. AND OR XOR TEST leave AF
        // undefined, which may differ between forms: their source goes
        // through a register, as in the interpreter.
        const bool any_form = m == ZYDIS_MNEMONIC_ADD || m == ZYDIS_MNEMONIC_ADC || m == ZYDIS_MNEMONIC_SUB ||
                              m == ZYDIS_MNEMONIC_SBB || m == ZYDIS_MNEMONIC_CMP;
        const bool dst_mem = dst.kind == OpKind::kMem;
        // A 32-bit destination with a host copy is operated on in place.
        const bool in_place = !dst_mem && is_cached_dword(dst);
        const x86::Gp d = in_place ? host_reg(dst.reg).r32() : sized(x86::rax, size);
        // (A general register with a host copy is the source as it is.)
        const bool src_cached = src.kind == OpKind::kReg && src.reg_class == RegClass::kGpr && cached(src.reg);
        const x86::Gp s = sized(src_cached ? host_reg(src.reg) : x86::Gp(x86::rdx), size);
        // A memory destination of ADD..CMP is operated on in memory.
        const bool in_memory = dst_mem && any_form;
        if (dst_mem) {
            mem_address(insn, dst, !read_only, slow);
            if (!in_memory) a_.mov(d, host_mem(size));
        } else if (src.kind == OpKind::kMem) {
            mem_address(insn, src, false, slow);
            if (!in_place) mov_from(d, reg_src(dst));
        } else if (!in_place) {
            mov_from(d, reg_src(dst));
        }
        Operand_ source = s;
        if (src.kind == OpKind::kMem) {
            if (any_form) source = host_mem(size);
            else a_.mov(s, host_mem(size));
        } else if (src.kind == OpKind::kImm) {
            if (any_form) source = sized_imm(src.imm, size);
            else a_.mov(s, sized_imm(src.imm, size));
        } else if (!src_cached) {
            mov_from(s, reg_src(src));
        }
        // ADC/SBB take the guest's CF (BT leaves it in the host's CF; the
        // other flags are all written by the instruction itself).
        if ((m == ZYDIS_MNEMONIC_ADC || m == ZYDIS_MNEMONIC_SBB) && !(host_valid_ & flags::CF)) {
            release_eflags();
            a_.bt(kFlags.r32(), Imm(0));
        }
        x86::Inst::Id id = x86::Inst::kIdTest;
        switch (m) {
        case ZYDIS_MNEMONIC_ADD: id = x86::Inst::kIdAdd; break;
        case ZYDIS_MNEMONIC_ADC: id = x86::Inst::kIdAdc; break;
        case ZYDIS_MNEMONIC_SUB: id = x86::Inst::kIdSub; break;
        case ZYDIS_MNEMONIC_SBB: id = x86::Inst::kIdSbb; break;
        case ZYDIS_MNEMONIC_AND: id = x86::Inst::kIdAnd; break;
        case ZYDIS_MNEMONIC_OR: id = x86::Inst::kIdOr; break;
        case ZYDIS_MNEMONIC_XOR: id = x86::Inst::kIdXor; break;
        case ZYDIS_MNEMONIC_CMP: id = x86::Inst::kIdCmp; break;
        default: break;  // TEST
        }
        if (in_memory) a_.emit(id, host_mem(size), source);
        else a_.emit(id, d, source);
        // (MOV keeps EFLAGS.)
        if (!read_only && !in_memory) {
            if (dst_mem) a_.mov(host_mem(size), d);
            else if (in_place) mark_dirty(dst.reg);
            else store_reg(dst, x86::rax);
        }
        wrote_flags(flags::ARITH, store_flags);
    }

    // A flag-passing instruction about to take the guest's flags in from
    // the host's EFLAGS: loaded from kFlags unless EFLAGS hold them all
    // already (the flags of a previous instruction, whose capture stays
    // owed: the instruction's own flags then include it).
    void have_all_host_flags() {
        if ((host_valid_ & flags::ARITH) != flags::ARITH) load_guest_flags();
    }

    // The guest's arithmetic flags into the host's EFLAGS without POPF
    // (slow, and it would load TF/AC/DF): SAHF takes SF ZF AF PF CF from
    // AH, and OF comes from an ADD that overflows exactly when it is set.
    void load_guest_flags() {
        release_eflags();
        a_.mov(x86::eax, kFlags.r32());
        a_.mov(x86::ecx, x86::eax);
        a_.and_(x86::ecx, Imm(int32_t(flags::OF)));
        a_.shl(x86::ecx, Imm(31 - 11));  // OF (bit 11) to bit 31
        a_.add(x86::ecx, x86::ecx);      // OF = bit 31
        a_.mov(x86::ah, x86::al);
        a_.sahf();
        host_valid_ = flags::ARITH;
    }

    // SHL/SHR/SAR/ROL/ROR/RCL/RCR by an immediate or CL: a count that masks
    // to zero leaves result and flags alone, on the host as in the guest.
    void emit_shift(const DecodedInsn& insn, bool store_flags) {
        const Operand& dst = insn.ops[0];
        const Operand& count = insn.ops[1];
        const x86::Gp d = sized(x86::rdx, dst.size);
        if (store_flags || reads_carry(insn)) have_all_host_flags();
        // The count in CL even when it is an immediate, as the interpreter
        // runs it: OF after a multi-bit rotate differs between the forms.
        if (count.kind == OpKind::kImm) a_.mov(x86::cl, Imm(uint8_t(count.imm)));
        else mov_from(x86::cl, gpr_src(kRcx, 1));
        // A 32-bit register with a host copy is shifted in place when the
        // count is a nonzero immediate (with a zero count the host need not
        // rewrite the register, whose copy must stay zero-extended).
        const bool in_place = is_cached_dword(dst) && count.kind == OpKind::kImm && (count.imm & 31) != 0;
        if (in_place) {
            shift_by_cl(insn.mnemonic, host_reg(dst.reg).r32());
            mark_dirty(dst.reg);
            if (store_flags) wrote_flags(flags::ARITH, true);
            return;
        }
        mov_from(d, reg_src(dst));
        shift_by_cl(insn.mnemonic, d);
        store_reg(dst, x86::rdx);
        if (store_flags) wrote_flags(flags::ARITH, true);
    }
    void shift_by_cl(uint16_t mnemonic, const x86::Gp& d) {
        switch (mnemonic) {
        case ZYDIS_MNEMONIC_SHL: a_.shl(d, x86::cl); break;
        case ZYDIS_MNEMONIC_SHR: a_.shr(d, x86::cl); break;
        case ZYDIS_MNEMONIC_SAR: a_.sar(d, x86::cl); break;
        case ZYDIS_MNEMONIC_ROL: a_.rol(d, x86::cl); break;
        case ZYDIS_MNEMONIC_ROR: a_.ror(d, x86::cl); break;
        case ZYDIS_MNEMONIC_RCL: a_.rcl(d, x86::cl); break;
        default: a_.rcr(d, x86::cl); break;
        }
    }

    // SHLD/SHRD r, r, imm/CL (16/32-bit): as emit_shift, the count in CL.
    void emit_double_shift(const DecodedInsn& insn, bool store_flags) {
        const Operand& dst = insn.ops[0];
        const Operand& count = insn.ops[2];
        const x86::Gp d = sized(x86::rdx, dst.size);
        const x86::Gp src = sized(x86::r8, dst.size);
        if (store_flags) have_all_host_flags();
        if (count.kind == OpKind::kImm) a_.mov(x86::cl, Imm(uint8_t(count.imm)));
        else mov_from(x86::cl, gpr_src(kRcx, 1));
        mov_from(d, reg_src(dst));
        mov_from(src, reg_src(insn.ops[1]));
        if (insn.mnemonic == ZYDIS_MNEMONIC_SHLD) a_.shld(d, src, x86::cl);
        else a_.shrd(d, src, x86::cl);
        store_reg(dst, x86::rdx);
        if (store_flags) wrote_flags(flags::ARITH, true);
    }

    // BSF/BSR r, r (16/32-bit): a zero source leaves the destination as
    // it was, on the host as in the interpreter (exec_bit.cpp).
    void emit_bit_scan(const DecodedInsn& insn, bool store_flags) {
        const Operand& dst = insn.ops[0];
        const x86::Gp d = sized(x86::rdx, dst.size);
        if (store_flags) have_all_host_flags();
        mov_from(d, reg_src(dst));
        a_.emit(insn.mnemonic == ZYDIS_MNEMONIC_BSF ? x86::Inst::kIdBsf : x86::Inst::kIdBsr, d,
                reg_src(insn.ops[1]));
        store_reg(dst, x86::rdx);
        if (store_flags) wrote_flags(flags::ARITH, true);
    }

    // BT/BTS/BTR/BTC r, r/imm (16/32-bit): the bit offset modulo the
    // operand width, as the interpreter hands it to the host.
    void emit_bit_test(const DecodedInsn& insn, bool store_flags) {
        const Operand& dst = insn.ops[0];
        const Operand& offset = insn.ops[1];
        const x86::Gp d = sized(x86::rdx, dst.size);
        const x86::Gp bit = bit_index(offset, dst.size);
        if (store_flags) load_guest_flags();
        mov_from(d, reg_src(dst));
        if (bit_op(insn, d, bit)) store_reg(dst, x86::rdx);
        if (store_flags) wrote_flags(flags::ARITH, true);
    }

    // A register bit offset modulo the operand's width, in r8 (sized);
    // an immediate one stays in the instruction.
    x86::Gp bit_index(const Operand& offset, unsigned size) {
        const x86::Gp bit = sized(x86::r8, size);
        if (offset.kind != OpKind::kImm) {
            mov_from(bit, reg_src(offset));
            a_.and_(bit, Imm(8 * size - 1));
        }
        return bit;
    }

    // The host's BT/BTS/BTR/BTC (the guest's mnemonic) on d by `bit` or
    // the immediate; true when it wrote d.
    bool bit_op(const DecodedInsn& insn, const x86::Gp& d, const x86::Gp& bit) {
        x86::Inst::Id id = x86::Inst::kIdBt;
        if (insn.mnemonic == ZYDIS_MNEMONIC_BTS) id = x86::Inst::kIdBts;
        if (insn.mnemonic == ZYDIS_MNEMONIC_BTR) id = x86::Inst::kIdBtr;
        if (insn.mnemonic == ZYDIS_MNEMONIC_BTC) id = x86::Inst::kIdBtc;
        const Operand& offset = insn.ops[1];
        if (offset.kind == OpKind::kImm) a_.emit(id, d, Imm(uint8_t(offset.imm & (8 * d.size() - 1))));
        else a_.emit(id, d, bit);
        return id != x86::Inst::kIdBt;
    }

    // BT/BTS/BTR/BTC m16/m32, r/imm. A register offset is signed and picks
    // the operand-sized unit at EA + (offset >> 4 or 5) * size (wrapped to
    // the address size), as the interpreter computes it; the bit in the
    // unit is offset mod 16 or 32.
    void emit_bit_test_mem(const DecodedInsn& insn, bool store_flags, const Label& slow) {
        const Operand& dst = insn.ops[0];
        const Operand& offset = insn.ops[1];
        const unsigned size = dst.size;
        effective_address(insn, dst);
        if (offset.kind != OpKind::kImm) {
            if (size == 2) a_.emit(x86::Inst::kIdMovsx, x86::ecx, reg_src(offset));
            else mov_from(x86::ecx, reg_src(offset));
            a_.sar(x86::ecx, Imm(size == 2 ? 4 : 5));
            a_.lea(x86::edx, x86::ptr(x86::rdx, x86::rcx, size == 2 ? 1 : 2));
            if (insn.addrsize == 2) a_.movzx(x86::edx, x86::dx);
        }
        mem_access(dst.seg, size, insn.mnemonic != ZYDIS_MNEMONIC_BT, slow);
        const x86::Gp d = sized(x86::rdx, size);
        const x86::Gp bit = bit_index(offset, size);
        if (store_flags) load_guest_flags();
        a_.mov(d, host_mem(size));
        if (bit_op(insn, d, bit)) a_.mov(host_mem(size), d);  // (MOV keeps the flags)
        if (store_flags) wrote_flags(flags::ARITH, true);
    }

    // IMUL r, r and IMUL r, r, imm (16/32-bit).
    void emit_imul(const DecodedInsn& insn, bool store_flags) {
        const Operand& dst = insn.ops[0];
        const x86::Gp d = sized(x86::rdx, dst.size);
        const x86::Gp b = sized(x86::r8, dst.size);
        if (store_flags) have_all_host_flags();
        // Register to register, the interpreter's form (see emit_shift).
        if (insn.num_ops == 2) {
            mov_from(d, reg_src(dst));
            mov_from(b, reg_src(insn.ops[1]));
        } else {
            mov_from(d, reg_src(insn.ops[1]));
            a_.mov(b, sized_imm(insn.ops[2].imm, dst.size));
        }
        a_.imul(d, b);
        store_reg(dst, x86::rdx);
        if (store_flags) wrote_flags(flags::ARITH, true);
    }

    // Jcc rel / JMP rel, the block's last instruction: EIP becomes the
    // target or the next instruction. A target beyond the CS limit (#GP)
    // is the helper's business.
    void emit_branch(const DecodedInsn& insn, uint32_t next_offset, const Label& slow, const ExitTargets& targets) {
        const bool conditional = insn.mnemonic != ZYDIS_MNEMONIC_JMP;
        if (ip_mask_ == 0xffff && insn.opsize == 4) {
            // 16-bit code, 32-bit displacement: EIP wraps before the add.
            release_eflags();
            a_.jmp(slow);
            return;
        }
        Label not_taken = a_.newLabel();
        if (conditional) {
            have_host_flags(insn.opcode & 0xf);
            a_.j(x86::CondCode((insn.opcode & 0xf) ^ 1), not_taken);
        }
        const Owed kept = owed();
        const int32_t disp = int32_t(uint32_t(next_offset + insn.ops[0].imm));
        entry_rip_plus(x86::eax, disp);
        if (insn.opsize == 2) a_.movzx(x86::eax, x86::ax);
        check_in_cs_limit(slow);
        leave_to(targets.retired, targets.taken);
        a_.bind(not_taken);
        set_owed(kept);
        if (conditional) {
            rip_in_rax(next_offset);
            leave_to(targets.retired, targets.not_taken);
        }
    }

    // The stack slot a 4-byte push writes (`push`) or a pop reads, through
    // the fast path: its host address in kHost. Only for a 32-bit stack
    // (SS.B); else, and whenever the fast path does not apply, `slow`.
    // (LEAVE pops from EBP: `stack_pointer`.)
    void stack_access(bool push, const Label& slow, unsigned stack_pointer = kRsp) {
        if (stack_pointer == kRsp && stack_run_ && stack_run_->base == kRsp && in_stack_run(push ? -4 : 0, 4, push))
            return;
        check_esp_settled(stack_pointer == kRsp);
        // (A flat SS, which the entry checked, is a 32-bit stack.)
        if (!(assumptions_hold_ && (assumed_.flat_segments & (1u << kSs)))) {
            release_eflags();
            const int32_t ss = kSegOffset + int32_t(kSs * sizeof(SegmentCache));
            a_.test(x86::word_ptr(kState, ss + kSegAttr), Imm(SegmentCache::kDB));
            a_.jz(slow);
        }
        // Up to the access EFLAGS are left alone: a capture owed may stay
        // owed across a flag-free probe (mem_access).
        mov_from(x86::edx, gpr_src(stack_pointer, 4));
        if (push) a_.lea(x86::edx, x86::ptr(x86::rdx, -4));
        mem_access(kSs, 4, push, slow, true);
    }

    // ESP += delta, in its low 32 bits only (a 32-bit stack's mask). In a
    // stack run, later (StackRun::esp_pending), except for a CALL or RET,
    // which leave the block.
    void adjust_esp(int32_t delta) {
        if (stack_run_ && stack_run_->base == kRsp) {
            stack_run_->esp_pending += delta;
            if (form_ == Form::kCall || form_ == Form::kRet) settle_esp();
            return;
        }
        add_to_esp(delta);
    }
    void add_to_esp(int32_t delta) {
        if (!cached(kRsp)) {
            release_eflags();
            a_.add(gpr_slot(kRsp, 4), Imm(delta));
            return;
        }
        // (LEA: a capture owed stays owed, the host's EFLAGS valid.)
        const x86::Gp esp = host_reg(kRsp).r32();
        a_.lea(esp, x86::ptr(esp.r64(), delta));
        mark_dirty(kRsp);
    }

    void emit_push(const DecodedInsn& insn, const Label& slow) {
        const Operand& src = insn.ops[0];
        if (src.kind == OpKind::kMem) {
            // PUSH m32 (gcc's argument pushes): the load first, its address
            // from ESP before the push; the value waits in the frame's pad
            // slot while the stack access clobbers the scratch registers.
            // Nothing is committed before the store: either access failing
            // sends the whole instruction to the helper.
            mem_address(insn, src, false, slow);
            a_.mov(x86::eax, host_mem(4));
            a_.mov(x86::dword_ptr(x86::rsp), x86::eax);
            stack_access(true, slow);
            a_.mov(x86::eax, x86::dword_ptr(x86::rsp));
            a_.mov(host_mem(4), x86::eax);
            adjust_esp(-4);
            return;
        }
        stack_access(true, slow);
        // The value after the address: PUSH ESP pushes ESP before the push.
        if (src.kind == OpKind::kImm) a_.mov(x86::eax, Imm(uint32_t(src.imm)));
        else mov_from(x86::eax, reg_src(src));
        a_.mov(host_mem(4), x86::eax);
        adjust_esp(-4);
    }

    // LEAVE (32-bit operand, 32-bit stack): EBP from [EBP], ESP = old EBP
    // + 4; nothing moves before the read has passed its checks.
    void emit_leave(const Label& slow) {
        stack_access(false, slow, kRbp);
        a_.mov(x86::eax, host_mem(4));
        mov_from(x86::ecx, gpr_src(kRbp, 4));
        a_.lea(x86::ecx, x86::ptr(x86::rcx, 4));  // (EFLAGS alone: a capture may be owed)
        store_gpr32(kRsp, x86::rcx);
        store_gpr32(kRbp, x86::rax);
    }

    void emit_pop(const DecodedInsn& insn, const Label& slow) {
        stack_access(false, slow);
        a_.mov(x86::eax, host_mem(4));
        adjust_esp(4);
        store_reg(insn.ops[0], x86::rax);  // after ESP: POP ESP keeps the value
    }

    // CALL rel32: the return address pushed, EIP = target (a target beyond
    // the CS limit is the helper's #GP).
    void emit_call(const DecodedInsn& insn, uint32_t next_offset, const Label& slow, const ExitTargets& targets) {
        if (ip_mask_ == 0xffff) {
            a_.jmp(slow);
            return;
        }
        const int32_t disp = int32_t(uint32_t(next_offset + insn.ops[0].imm));
        entry_rip_plus(x86::eax, disp);
        check_in_cs_limit(slow);
        stack_access(true, slow);
        entry_rip_plus(x86::eax, int32_t(next_offset));
        a_.mov(host_mem(4), x86::eax);
        adjust_esp(-4);
        entry_rip_plus(x86::eax, disp);
        leave_to(targets.retired, targets.taken);
    }

    // RET / RET imm16: EIP from the stack (checked against the CS limit
    // before ESP moves, as the interpreter does).
    void emit_ret(const DecodedInsn& insn, const Label& slow, unsigned retired) {
        if (ip_mask_ == 0xffff) {
            a_.jmp(slow);
            return;
        }
        const uint32_t release = insn.num_ops > 0 && insn.ops[0].kind == OpKind::kImm ? uint32_t(insn.ops[0].imm & 0xffff) : 0;
        stack_access(false, slow);
        a_.mov(x86::eax, host_mem(4));
        check_in_cs_limit(slow);
        adjust_esp(int32_t(4 + release));
        a_.mov(x86::qword_ptr(kState, kRipOffset), x86::rax);
        sync_state();
        retire(retired);
        jump_through_cache();
    }

    // A 32-bit register or memory operand into dst (memory through the
    // fast path, falling back to `slow`).
    void load_rm32(const DecodedInsn& insn, const Operand& op, const x86::Gp& dst, const Label& slow) {
        if (op.kind == OpKind::kMem) {
            mem_address(insn, op, false, slow);
            a_.mov(dst, host_mem(4));
        } else {
            mov_from(dst, reg_src(op));
        }
    }

    // JMP r/m32, CALL r/m32: the target read (through the fast path for
    // memory), checked against the CS limit, for CALL the return address
    // pushed, then on through the jump cache. Nothing is committed before
    // every check passed: any failure runs the whole instruction as a
    // helper step.
    void emit_near_indirect(const DecodedInsn& insn, bool call, uint32_t offset, const Label& slow, unsigned retired) {
        if (ip_mask_ == 0xffff) {
            a_.jmp(slow);
            return;
        }
        load_rm32(insn, insn.ops[0], x86::eax, slow);
        check_in_cs_limit(slow);
        if (call) {
            // The target waits in the frame's scratch slot while the push
            // clobbers the scratch registers.
            a_.mov(x86::dword_ptr(x86::rsp), x86::eax);
            stack_access(true, slow);
            entry_rip_plus(x86::eax, int32_t(offset + insn.length));
            a_.mov(host_mem(4), x86::eax);
            adjust_esp(-4);
            a_.mov(x86::eax, x86::dword_ptr(x86::rsp));
        }
        a_.mov(x86::qword_ptr(kState, kRipOffset), x86::rax);
        sync_state();
        retire(retired);
        jump_through_cache();
    }

    // MUL/IMUL r/m32 (EDX:EAX = EAX * src) and DIV r/m32 (EAX, EDX =
    // EDX:EAX / src): the host's own instruction. A divisor of zero or a
    // quotient too wide (EDX >= divisor) is #DE: the helper's business.
    void emit_mul_acc(const DecodedInsn& insn, bool store_flags, const Label& slow) {
        load_rm32(insn, insn.ops[0], x86::r8d, slow);
        const bool divide = insn.mnemonic == ZYDIS_MNEMONIC_DIV;
        if (divide) {
            mov_from(x86::edx, gpr_src(kRdx, 4));
            a_.cmp(x86::edx, x86::r8d);
            a_.jae(slow);
        }
        if (store_flags) load_guest_flags();  // (clobbers eax and ecx)
        mov_from(x86::eax, gpr_src(kRax, 4));
        if (divide) mov_from(x86::edx, gpr_src(kRdx, 4));
        switch (insn.mnemonic) {
        case ZYDIS_MNEMONIC_MUL: a_.mul(x86::r8d); break;
        case ZYDIS_MNEMONIC_IMUL: a_.imul(x86::r8d); break;
        default: a_.div(x86::r8d); break;
        }
        store_edx_eax();
        if (store_flags) wrote_flags(flags::ARITH, true);
    }

    // XCHG of two registers, or of a register and memory (through the
    // fast path for a store, so that a read-only page goes the
    // interpreter's way before anything moves).
    void emit_xchg(const DecodedInsn& insn, const Label& slow) {
        const bool mem_first = insn.ops[0].kind == OpKind::kMem;
        const bool mem = mem_first || insn.ops[1].kind == OpKind::kMem;
        const unsigned size = insn.ops[0].size;
        if (!mem) {
            mov_from(sized(x86::rax, size), reg_src(insn.ops[0]));
            mov_from(sized(x86::rdx, size), reg_src(insn.ops[1]));
            store_reg(insn.ops[0], x86::rdx);
            store_reg(insn.ops[1], x86::rax);
            return;
        }
        const Operand& m = insn.ops[mem_first ? 0 : 1];
        const Operand& r = insn.ops[mem_first ? 1 : 0];
        mem_address(insn, m, true, slow);
        a_.mov(sized(x86::rax, size), host_mem(size));
        mov_from(sized(x86::rdx, size), reg_src(r));
        a_.mov(host_mem(size), sized(x86::rdx, size));
        store_reg(r, x86::rax);
    }

    // RDTSC: the interpreter's time stamp (the guest clock), read by a
    // call; with CR4.TSD set (#GP outside ring 0) the helper decides.
    void emit_rdtsc(const Label& slow) {
        a_.test(x86::dword_ptr(kState, kCr4Offset), Imm(int32_t(cr4::TSD)));
        a_.jnz(slow);
        write_back_all();
        a_.mov(x86::rdi, kCpu);
        a_.call(Imm(reinterpret_cast<uint64_t>(&jit_read_tsc)));
        reload_cached();
        a_.mov(x86::rdx, x86::rax);
        a_.shr(x86::rdx, Imm(32));
        a_.mov(x86::eax, x86::eax);
        store_edx_eax();
    }

    // An x87 instruction (x87_runs_direct()) by a direct call of its
    // handler, Cpu::x87_direct_for_jit(): no interpreter step, so the
    // entry's assumptions and the registers' copies hold after it. A memory
    // operand comes through the inline fast path, all of it in one page of
    // plain RAM; a miss, or the call declining (#NM, #MF or FERR# due), is
    // the helper's step.
    // The commonest ones are host code in the block (jit/x87_inline.h),
    // with that call as their fallback.
    void emit_x87(const DecodedInsn& insn, uint32_t offset, const Label& slow) {
        const Operand* m = x87::mem_op(insn);
        if (m) mem_address(insn, *m, x87_direct_stores(insn), slow);
        const bool in_block = x87_inline_ && x87_inlinable(insn);
        const uint8_t dirty_in_block = dirty_;
        Label call, done;
        if (in_block) {
            call = a_.newLabel();
            done = a_.newLabel();
            emit_x87_inline(a_, kState, insn, m ? host_mem(m->size) : x86::Mem(), call);
            note_x87_pointers(insn, offset, m);
            a_.jmp(done);
            a_.bind(call);
        }
        if (m) a_.lea(x86::rdx, host_mem(m->size));
        else a_.xor_(x86::edx, x86::edx);
        // (FDP: the handler computes the operand's offset from CpuState.)
        write_back_all();
        rip_in_rax(offset);
        a_.mov(x86::rcx, x86::rax);
        a_.mov(x86::rdi, kCpu);
        a_.mov(x86::rsi, Imm(reinterpret_cast<uint64_t>(&insn)));
        a_.mov(x86::r8, Imm(reinterpret_cast<uint64_t>(&counters_)));
        a_.call(Imm(reinterpret_cast<uint64_t>(&jit_x87_direct)));
        reload_cached();
        if (stack_run_) stack_run_->base_in_host = false;  // (kHost is caller-saved)
        a_.test(x86::al, x86::al);
        a_.jz(slow);
        if (in_block) {
            a_.bind(done);
            // (The call's way wrote the copies back and reloaded them: the
            // block's way still owes its write-backs.)
            dirty_ = dirty_in_block;
        }
    }

    // What x87::note_pointers() records for an instruction run in the
    // block: FIP and FCS, FOP, and for a memory operand FDP (its offset)
    // and FDS.
    void note_x87_pointers(const DecodedInsn& insn, uint32_t offset, const Operand* m) {
        constexpr int32_t fpu = int32_t(offsetof(CpuState, fpu));
        auto selector = [](unsigned seg) {
            return x86::word_ptr(kState, kSegOffset + int32_t(seg * sizeof(SegmentCache)) +
                                             int32_t(offsetof(SegmentCache, selector)));
        };
        rip_in_rax(offset);
        a_.mov(x86::qword_ptr(kState, fpu + int32_t(offsetof(FpuState, fip))), x86::rax);
        a_.movzx(x86::eax, selector(kCs));
        a_.mov(x86::word_ptr(kState, fpu + int32_t(offsetof(FpuState, fcs))), x86::ax);
        a_.mov(x86::word_ptr(kState, fpu + int32_t(offsetof(FpuState, fop))),
               Imm(int32_t(((insn.opcode & 7) << 8) | insn.modrm)));
        if (!m) return;
        effective_address(insn, *m);
        a_.mov(x86::qword_ptr(kState, fpu + int32_t(offsetof(FpuState, fdp))), x86::rdx);
        a_.movzx(x86::eax, selector(m->seg));
        a_.mov(x86::word_ptr(kState, fpu + int32_t(offsetof(FpuState, fds))), x86::ax);
    }

    // A general register as an operand, for the implicit ones (EAX, EDX).
    static Operand gpr_operand(unsigned reg, unsigned size) {
        Operand op;
        op.kind = OpKind::kReg;
        op.size = uint8_t(size);
        op.reg_class = RegClass::kGpr;
        op.reg = uint8_t(reg);
        return op;
    }

    // EDX = edx, EAX = eax (MUL, DIV, RDTSC); flags untouched.
    void store_edx_eax() {
        store_reg(gpr_operand(kRdx, 4), x86::rdx);
        store_reg(gpr_operand(kRax, 4), x86::rax);
    }

    // CMPXCHG m, r: the accumulator compared with the destination; equal,
    // the source is stored, else the accumulator takes the destination (which
    // is written back unchanged, as the hardware does: the page must be
    // writable either way). Flags as CMP.
    void emit_cmpxchg(const DecodedInsn& insn, bool store_flags, const Label& slow) {
        const unsigned size = insn.ops[0].size;
        mem_address(insn, insn.ops[0], true, slow);
        mov_from(sized(x86::rdx, size), reg_src(insn.ops[1]));
        mov_from(sized(x86::rax, size), gpr_src(kRax, size));
        a_.cmpxchg(host_mem(size), sized(x86::rdx, size));
        store_reg(gpr_operand(kRax, size), x86::rax);
        if (store_flags) wrote_flags(flags::ARITH, true);
    }

    // FNSTSW AX: the status word as the FPU keeps it (TOP included), unless
    // CR0.EM or TS make it #NM.
    void emit_fnstsw_ax(const Label& slow) {
        a_.test(x86::dword_ptr(kState, kCr0Offset), Imm(int32_t(cr0::EM | cr0::TS)));
        a_.jnz(slow);
        a_.movzx(x86::eax, x86::word_ptr(kState, int32_t(offsetof(CpuState, fpu) + offsetof(FpuState, fsw))));
        store_reg(gpr_operand(kRax, 2), x86::rax);
    }

    // CLC/STC/CMC/CLD/STD and SAHF (SF ZF AF PF CF from AH), on the flags
    // register.
    void emit_flag_op(const DecodedInsn& insn) {
        if (insn.mnemonic == ZYDIS_MNEMONIC_SAHF) {
            constexpr int32_t kSahfMask = int32_t(flags::SF | flags::ZF | flags::AF | flags::PF | flags::CF);
            mov_from(x86::ecx, gpr_src(kRax, 4));
            a_.shr(x86::ecx, Imm(8));
            a_.and_(x86::ecx, Imm(kSahfMask));
            a_.and_(kFlags, Imm(~kSahfMask));
            a_.or_(kFlags, x86::rcx);
            return;
        }
        switch (insn.mnemonic) {
        case ZYDIS_MNEMONIC_CLC: a_.and_(kFlags, Imm(int32_t(~flags::CF))); break;
        case ZYDIS_MNEMONIC_STC: a_.or_(kFlags, Imm(int32_t(flags::CF))); break;
        case ZYDIS_MNEMONIC_CMC: a_.xor_(kFlags, Imm(int32_t(flags::CF))); break;
        case ZYDIS_MNEMONIC_CLD: a_.and_(kFlags, Imm(int32_t(~flags::DF))); break;
        default: a_.or_(kFlags, Imm(int32_t(flags::DF))); break;  // STD
        }
    }

    // EIP (in eax and stored) known only now: the jump cache's entry for
    // CS.base + EIP, if it is for this CPL and the page still translates
    // to its block's, else the dispatcher, which fills the entry.
    void jump_through_cache() {
        if (!hooks_.jump_cache) {
            a_.jmp(done_);
            return;
        }
        if (jump_lookup_) {
            // The shared copy for what this block's entry established (the
            // dispatcher if it cannot be built).
            const void* routine = jump_lookup_(jump_lookup_key(assumptions_hold_ ? assumed_ : EntryState{}));
            if (routine) a_.jmp(Imm(reinterpret_cast<uint64_t>(routine)));
            else a_.jmp(done_);
            return;
        }
        Label miss = a_.newLabel();
        a_.mov(kEntryRip.r32(), x86::eax);  // (what the target's entry expects)
        // What this block's entry checked need not be looked at again:
        // the paging mode, CS flat, the CPL.
        const bool known = assumptions_hold_ && assumed_.known;
        const bool checked = known && assumed_.checked;
        a_.mov(x86::ecx, x86::eax);
        if (!known)
            a_.add(x86::ecx, x86::dword_ptr(kState, kSegOffset + int32_t(kCs * sizeof(SegmentCache)) + kSegBase));
        static_assert(kJumpCacheWays == 2 && sizeof(JumpCacheEntry) == 32);
        a_.imul(x86::edx, x86::ecx, Imm(int32_t(kJumpCacheHashFactor)));  // jump_cache_set(), times the set size
        a_.shr(x86::edx, Imm(32 - kJumpCacheSetBits));
        a_.shl(x86::edx, Imm(6));
        a_.mov(x86::r8, Imm(reinterpret_cast<uint64_t>(hooks_.jump_cache)));
        a_.add(x86::r8, x86::rdx);
        Label way_found = a_.newLabel();
        a_.cmp(x86::dword_ptr(x86::r8, int32_t(offsetof(JumpCacheEntry, linear))), x86::ecx);
        a_.je(way_found);
        a_.add(x86::r8, Imm(int32_t(sizeof(JumpCacheEntry))));
        a_.cmp(x86::dword_ptr(x86::r8, int32_t(offsetof(JumpCacheEntry, linear))), x86::ecx);
        a_.jne(miss);
        a_.bind(way_found);
        if (checked) {
            a_.cmp(x86::byte_ptr(x86::r8, int32_t(offsetof(JumpCacheEntry, cpl))), Imm(assumed_.cpl));
        } else {
            a_.movzx(x86::eax, x86::byte_ptr(kState, kCplOffset));
            a_.cmp(x86::byte_ptr(x86::r8, int32_t(offsetof(JumpCacheEntry, cpl))), x86::al);
        }
        a_.jne(miss);
        // The page's translation is the block's page. Paging off: the same
        // number (an address that A20 wraps never matches, and misses).
        a_.shr(x86::ecx, Imm(kPageShift));
        Label identity = a_.newLabel();
        if (!checked) {
            a_.test(x86::dword_ptr(kState, kCr0Offset), Imm(int32_t(cr0::PG)));
            a_.jz(identity);
        }
        if (!checked || assumed_.paging) fetched_page(miss, !checked);
        a_.bind(identity);
        a_.cmp(x86::dword_ptr(x86::r8, int32_t(offsetof(JumpCacheEntry, phys_page))), x86::ecx);
        a_.jne(miss);
        // A block that runs into the next page: that page's too (only where
        // this block's entry established the paging mode and the CPL).
        Label one_page = a_.newLabel();
        a_.cmp(x86::byte_ptr(x86::r8, int32_t(offsetof(JumpCacheEntry, two_pages))), Imm(0));
        a_.je(one_page);
        if (!checked) {
            a_.jmp(miss);
        } else {
            a_.mov(x86::ecx, x86::dword_ptr(x86::r8, int32_t(offsetof(JumpCacheEntry, linear))));
            a_.add(x86::ecx, Imm(int32_t(kPageSize)));  // (wraps at 4 GiB)
            a_.shr(x86::ecx, Imm(kPageShift));
            if (assumed_.paging) fetched_page(miss, false);
            a_.cmp(x86::dword_ptr(x86::r8, int32_t(offsetof(JumpCacheEntry, next_phys_page))), x86::ecx);
            a_.jne(miss);
        }
        a_.bind(one_page);
        a_.mov(x86::rax, Imm(reinterpret_cast<uint64_t>(hooks_.jump_cache_hits)));
        a_.add(x86::qword_ptr(x86::rax), Imm(1));
        if (assumptions_hold_ && assumed_.known) {
            // This block's entry established what the target checks: in
            // past its checks.
            Label full = a_.newLabel();
            a_.test(x86::dword_ptr(x86::r8, int32_t(offsetof(JumpCacheEntry, needs))),
                    Imm(int32_t(~entry_allows(assumed_))));
            a_.jnz(full);
            a_.movzx(x86::ecx, x86::word_ptr(x86::r8, int32_t(offsetof(JumpCacheEntry, fast_delta))));
            a_.add(x86::rcx, x86::qword_ptr(x86::r8, int32_t(offsetof(JumpCacheEntry, code))));
            a_.jmp(x86::rcx);
            a_.bind(full);
        }
        a_.jmp(x86::qword_ptr(x86::r8, int32_t(offsetof(JumpCacheEntry, code))));
        a_.bind(miss);
        a_.mov(x86::rax, Imm(reinterpret_cast<uint64_t>(hooks_.jump_cache_missed)));
        a_.mov(x86::byte_ptr(x86::rax), Imm(1));
        a_.jmp(done_);
    }

    // ecx = a linear page number -> the physical page either way of the
    // TLB lets this CPL fetch from there (Tlb::fetches_from()), else
    // `miss`. The CPL is the block's or, with `cpl_in_eax`, eax. (At a
    // block's end: everything but kState, kCpu and what the next block
    // takes in registers is free.)
    void fetched_page(const Label& miss, bool cpl_in_eax) {
        const int32_t tag = int32_t(Tlb::kTagsOffset + 4 * Tlb::tag_index(AccessKind::kExecute, false)) +
                            (!cpl_in_eax && assumed_.cpl == 3 ? 4 : 0);
        a_.mov(x86::edx, x86::ecx);
        a_.and_(x86::edx, Imm(Tlb::kEntries - 1));
        a_.shl(x86::edx, Imm(6));  // * Tlb::kEntryBytes
        x86::Gp tags = x86::rdx;
        if (cpl_in_eax) {
            a_.cmp(x86::al, Imm(3));
            a_.sete(x86::al);
            a_.lea(x86::rsi, x86::ptr(x86::rdx, x86::rax, 2));  // the user tag one slot on
            tags = x86::rsi;
        }
        const int32_t first = in_cpu(cpu_.tlb().entries_data(), 0).offset();
        const int32_t second = in_cpu(cpu_.tlb().second_way_data(), 0).offset();
        const int32_t phys = int32_t(Tlb::kPhysPageOffset);
        Label in_second = a_.newLabel(), found = a_.newLabel();
        a_.cmp(x86::dword_ptr(kCpu, tags, 0, first + tag), x86::ecx);
        a_.jne(in_second);
        a_.mov(x86::ecx, x86::dword_ptr(kCpu, x86::rdx, 0, first + phys));
        a_.jmp(found);
        a_.bind(in_second);
        a_.cmp(x86::dword_ptr(kCpu, tags, 0, second + tag), x86::ecx);
        a_.jne(miss);
        a_.mov(x86::ecx, x86::dword_ptr(kCpu, x86::rdx, 0, second + phys));
        a_.bind(found);
    }

    // EIP is stored (`in_rax`: and in rax) and the mode stays (no far
    // transfer, no mode change): a 32-bit block goes on through the jump
    // cache (a target on another page, the instruction after a near
    // indirect JMP or CALL run as a helper) instead of returning to the
    // dispatcher for every such exit.
    void jump_to_stored_eip(bool in_rax) {
        if (!hooks_.jump_cache || ip_mask_ != 0xffffffffull) {
            a_.jmp(done_);
            return;
        }
        if (!in_rax) a_.mov(x86::eax, x86::dword_ptr(kState, kRipOffset));
        jump_through_cache();
    }

    // Ends the block with the next EIP in rax: stores it, retires the
    // block's inline instructions, then either a chainable jump
    // (target_phys known: the next block's EIP goes in kEntryRip) or the
    // plain exit.
    void leave_to(unsigned retired, std::optional<uint64_t> target_phys) {
        if (!target_phys || !last_exit_) {
            a_.mov(x86::qword_ptr(kState, kRipOffset), x86::rax);
            sync_state();
            retire(retired);
            jump_to_stored_eip(true);
            return;
        }
        // A chainable jump: EIP and the flags go on in kEntryRip and
        // kFlags; the stub below, or the next block's failed entry check
        // (bail_), stores them before the dispatcher reads them.
        sync_registers();
        retire(retired);
        a_.mov(kEntryRip, x86::rax);
        Label site = a_.newLabel(), stub = a_.newLabel();
        a_.bind(site);
        a_.long_().jmp(stub);  // rel32, so that it can be patched
        // A helper step may have changed what the entry checked.
        // Only for a target that can be such an instruction: one that
        // starts within an instruction's longest length (15 bytes) of the
        // page's end, the first of its own block (BlockDecoder). (And only
        // 32-bit code has the jump cache.)
        const bool may_cross = (*target_phys & (kPageSize - 1)) > kPageSize - 15;
        const Label through_cache =
            may_cross && hooks_.jump_cache && ip_mask_ == 0xffffffffull ? a_.newLabel() : Label();
        chain_sites_.push_back(
            ChainSiteLabel{site, through_cache, *target_phys, assumptions_hold_ ? assumed_ : EntryState{}});
        chain_stubs_.push_back(ChainStub{site, stub, through_cache, assumptions_hold_});
    }

    // INC/DEC/NEG/NOT of a register, or (with `slow`) of memory through the
    // fast path.
    void emit_unary(const DecodedInsn& insn, bool store_flags, const Label& slow = Label()) {
        const Operand& dst = insn.ops[0];
        const bool mem = dst.kind == OpKind::kMem;
        // A 32-bit register with a host copy is operated on in place.
        const bool in_place = is_cached_dword(dst);
        const x86::Gp d = in_place ? host_reg(dst.reg).r32() : sized(x86::rax, dst.size);
        if (mem) {
            mem_address(insn, dst, true, slow);
            a_.mov(d, host_mem(dst.size));
        } else if (!in_place) {
            mov_from(d, reg_src(dst));
        }
        switch (insn.mnemonic) {
        case ZYDIS_MNEMONIC_INC: a_.inc(d); break;
        case ZYDIS_MNEMONIC_DEC: a_.dec(d); break;
        case ZYDIS_MNEMONIC_NEG: a_.neg(d); break;
        default: a_.not_(d); break;
        }
        if (mem) a_.mov(host_mem(dst.size), d);
        else if (in_place) mark_dirty(dst.reg);
        else store_reg(dst, x86::rax);
        if (const uint32_t w = flags_written(insn, Form::kUnary)) wrote_flags(w, store_flags);
    }

    // LODS (AL/AX/EAX from DS:ESI, or the override), STOS (to ES:EDI) and
    // SCAS (the accumulator compared with ES:EDI); then ESI or EDI moves
    // by the operand size, down when DF is set, computed without touching
    // EFLAGS (SCAS's flags, or flags still owed, are there).
    void emit_string(const DecodedInsn& insn, bool store_flags, const Label& slow) {
        const unsigned size = insn.opsize;
        const uint16_t m = insn.mnemonic;
        const bool lods = m == ZYDIS_MNEMONIC_LODSB || m == ZYDIS_MNEMONIC_LODSW || m == ZYDIS_MNEMONIC_LODSD;
        const bool stos = m == ZYDIS_MNEMONIC_STOSB || m == ZYDIS_MNEMONIC_STOSW || m == ZYDIS_MNEMONIC_STOSD;
        const unsigned index = lods ? kRsi : kRdi;
        const unsigned seg = lods ? (insn.seg_override != kNoReg ? insn.seg_override : unsigned(kDs)) : unsigned(kEs);
        mov_from(x86::edx, gpr_src(index, 4));
        mem_access(seg, size, stos, slow, keeps_owed_flags(form_));
        const x86::Gp acc = sized(x86::rax, size);
        if (lods) {
            a_.mov(acc, host_mem(size));
            Operand dst;
            dst.kind = OpKind::kReg;
            dst.size = uint8_t(size);
            dst.reg = kRax;
            store_reg(dst, x86::rax);
        } else {
            mov_from(acc, gpr_src(kRax, size));
            if (stos) a_.mov(host_mem(size), acc);
            else a_.cmp(acc, host_mem(size));  // (CMP defines every flag: any form)
        }
        // ecx = DF ? -1 : 0 (DF, bit 10, shifted to the sign, then spread).
        a_.mov(x86::ecx, Imm(31 - 10));
        a_.shlx(x86::ecx, kFlags.r32(), x86::ecx);
        a_.mov(x86::eax, Imm(31));
        a_.sarx(x86::ecx, x86::ecx, x86::eax);
        // index + size + 2 * size * ecx (mod 2^32): + size, or - size.
        const uint32_t shift = size == 1 ? 1 : size == 2 ? 2 : 3;
        if (cached(index)) {
            const x86::Gp h = host_reg(index);
            a_.lea(h.r32(), x86::ptr(h, x86::rcx, shift, int32_t(size)));
            mark_dirty(index);
        } else {
            a_.mov(x86::eax, gpr_slot(index, 4));
            a_.lea(x86::eax, x86::ptr(x86::rax, x86::rcx, shift, int32_t(size)));
            a_.mov(gpr_slot(index, 8), x86::rax);
        }
        if (is_scas(insn)) wrote_flags(flags::ARITH, store_flags);
    }

    // (Into a 32-bit destination's host copy directly.)
    void emit_lea(const DecodedInsn& insn) {
        const Operand& dst = insn.ops[0];
        if (is_cached_dword(dst)) {
            effective_address(insn, insn.ops[1], host_reg(dst.reg).r32());
            mark_dirty(dst.reg);
            return;
        }
        effective_address(insn, insn.ops[1]);
        store_reg(dst, x86::rdx);
    }

    void emit_move_extend(const DecodedInsn& insn) {
        const Operand& src = insn.ops[1];
        a_.emit(insn.mnemonic == ZYDIS_MNEMONIC_MOVZX ? x86::Inst::kIdMovzx : x86::Inst::kIdMovsx, x86::eax,
                reg_src(src));
        store_reg(insn.ops[0], x86::rax);
    }

    x86::Assembler& a_;
    Cpu& cpu_;
    RuntimeCounters& counters_;
    uint64_t ip_mask_;
    bool journal_stores_;
    const uint8_t** last_exit_;
    ChainHooks hooks_;
    Translator::SharedRoutines routines_;
    std::function<const void*(uint32_t)> jump_lookup_;
    // The common x87 instructions as host code in the block (emit_x87()).
    const bool x87_inline_ = host_x87_default();
    uint32_t deferred_ = 0, host_valid_ = 0;  // (Owed)
    uint8_t dirty_ = 0;                       // (Owed)
    bool wrote_flags_ = false;                // by the instruction being emitted
    EntryState assumed_;
    bool assumptions_hold_ = true;
    // Host registers that hold copies of guest registers (caller-saved:
    // reloaded after every call), and which guest register each holds.
    static constexpr std::array<x86::Gp, 5> kCacheRegs{x86::rsi, x86::rdi, x86::r9, x86::r10, x86::r12};
    static_assert(kCacheRegs.size() * 4 == 20 && kNoCopies == 0xfffff, "CacheMap: 4 bits per copy");
    static constexpr int32_t kFrameBytes = 24;
    // The callee-saved registers generated code uses, pushed in this order
    // below the frame.
    static constexpr std::array<x86::Gp, 6> kSavedRegs{kState, kCpu, x86::r12, x86::r13, kEntryRip, kSteps};
    std::array<int8_t, 8> cache_of_{-1, -1, -1, -1, -1, -1, -1, -1};
    PhysicalMemory::FastPathView ram_;
    Label epilogue_, done_, bail_, chain_entry_, fast_entry_, warm_entry_;
    std::vector<ChainSiteLabel> chain_sites_;
    struct ChainStub {
        Label site, stub, through_cache;
        bool assumptions_held;  // at the jump
    };
    std::vector<ChainStub> chain_stubs_;
    std::vector<std::pair<unsigned, Label>> exits_;
    std::vector<SlowPath> slow_paths_;
    std::vector<TlbRefill> refills_;
    std::optional<StackRun> stack_run_;
    Form form_ = Form::kHelper;      // the instruction inline_insn() is emitting
    bool emitter_failed_ = false;    // check_esp_settled() found ESP stale
    std::vector<ColdRun> cold_runs_;
    int32_t host_disp_ = 0;  // kHost + host_disp_: the access's host byte
};

}  // namespace

// Stack runs: x86-32 code reaches its frame through ESP (pushes and pops,
// arguments and locals at [ESP + disp]) or through a frame pointer
// ([EBP + disp]), and between two changes of that register by other means
// every such address is its value at some start plus a constant. A run is
// a stretch of a block's inline instructions with at least two such
// accesses through one base (other instructions, other accesses included,
// may lie between them): the block checks the whole stretch of stack they
// touch once (BlockEmitter::begin_stack_run).
struct StackRunPlan {
    size_t first = 0, last = 0;  // the run's first and last accessing instructions
    unsigned base = kRsp;        // ESP, or EBP (a frame pointer's frame)
    int32_t lo = 0, hi = 0;      // bytes [base + lo, base + hi) at the first
    bool write = false;
    unsigned accesses = 0;
};
// A wider stretch more often straddles a page, when the run takes its
// ordinary copy.
constexpr int32_t kMaxStackRunBytes = 256;
// (So a stretch's last byte lies in its first page or the next, which
// Tlb::no_ram_key() relies on for an empty entry never to match.)
static_assert(kMaxStackRunBytes <= int32_t(kPageSize));

// What one instruction does in a run through `base`, ESP then being `delta`
// from the run's start (0 in an EBP run): `ok` false when it cannot be in one.
struct StackUse {
    bool ok = false;
    bool access = false;     // it accesses the frame (is_frame_operand, the stack)
    int32_t lo = 0, hi = 0;  // those bytes, relative to the run's base at its start
    bool write = false;
    int32_t esp_after = 0;
    bool ends = false;       // it leaves the block: the run ends with it
    bool reads_esp = false;  // it reads ESP other than through the run
};

// Whether the form writes its first operand (the rest are read; XCHG and
// CMPXCHG are checked apart).
bool writes_first_operand(const DecodedInsn& insn, Form form) {
    switch (form) {
    case Form::kAlu:
    case Form::kAluLoad:
    case Form::kAluMem:
        return insn.mnemonic != ZYDIS_MNEMONIC_CMP && insn.mnemonic != ZYDIS_MNEMONIC_TEST;
    case Form::kBitTest:
    case Form::kBitTestMem: return insn.mnemonic != ZYDIS_MNEMONIC_BT;
    case Form::kPush:
    case Form::kMulAcc:
    case Form::kMulAccMem:
    case Form::kFlagOp:
    case Form::kNop: return false;
    default: return true;
    }
}

StackUse stack_use(const DecodedInsn& insn, Form form, int32_t delta, unsigned base) {
    StackUse u;
    u.esp_after = delta;
    // Inside a run: inline forms other than jumps and LEAVE (a slow path
    // there puts the run's base back before it resumes).
    // (Nor the x87's direct calls, which clobber kHost and read ESP from CpuState.)
    if (form == Form::kHelper || form == Form::kLeave || form == Form::kX87 || form == Form::kX87Mem ||
        (sets_eip(form) && form != Form::kCall && form != Form::kRet))
        return u;
    auto add = [&](int32_t lo, unsigned size, bool write) {
        if (!u.access) {
            u.lo = lo;
            u.hi = lo + int32_t(size);
        }
        u.lo = std::min(u.lo, lo);
        u.hi = std::max(u.hi, lo + int32_t(size));
        u.access = true;
        u.write |= write;
    };
    const Operand* op = insn.ops;
    const bool writes_first = writes_first_operand(insn, form);
    const bool esp_run = base == kRsp;
    // EBP does not change in an EBP run.
    for (unsigned k = 0; !esp_run && k < insn.num_ops; k++) {
        const bool ebp = op[k].kind == OpKind::kReg && op[k].reg_class == RegClass::kGpr && op[k].reg == kRbp;
        if (ebp && ((k == 0 && writes_first) || form == Form::kXchg || form == Form::kXchgMem ||
                    form == Form::kCmpxchgMem))
            return u;
    }
    // ESP changes only by the stack forms and ADD/SUB ESP, imm.
    for (unsigned k = 0; esp_run && k < insn.num_ops; k++) {
        if (!is_esp(op[k])) continue;
        u.reads_esp = true;
        if (form == Form::kXchg || form == Form::kXchgMem || form == Form::kCmpxchgMem) return u;
        if (k > 0 || !writes_first || form == Form::kPush) continue;
        if (!is_esp_adjust(insn, form)) return u;
        const int32_t imm = int32_t(uint32_t(op[1].imm));
        u.esp_after = insn.mnemonic == ZYDIS_MNEMONIC_ADD ? delta + imm : delta - imm;
    }
    // Its operands at [base + disp] (BT m's unit is found at run time:
    // the ordinary way, as BlockEmitter::in_stack_run() decides too).
    // Any other memory operand that uses ESP reads it, and so does LEA's,
    // which is no access.
    for (unsigned k = 0; k < insn.num_ops; k++) {
        if (op[k].kind != OpKind::kMem) continue;
        const int64_t disp = int64_t(int32_t(uint32_t(uint64_t(op[k].disp))));
        const bool in_run = touches_memory(form) && form != Form::kBitTestMem && is_frame_operand(insn, op[k], base) &&
                            disp >= -4096 && disp <= 4096;
        if (!in_run) {
            if (esp_run && (op[k].base == kRsp || op[k].index == kRsp)) u.reads_esp = true;
            continue;
        }
        const bool write = k == 0 && (writes_first || form == Form::kXchgMem || form == Form::kCmpxchgMem);
        add(delta + int32_t(disp), op[k].size, write || (k == 1 && form == Form::kXchgMem));
    }
    // (The stack's own accesses are an EBP run's ordinary ones.)
    if (!esp_run) {
        u.ends = form == Form::kCall || form == Form::kRet;
        u.ok = true;
        return u;
    }
    switch (form) {
    case Form::kPush:
        add(delta - 4, 4, true);
        u.esp_after = delta - 4;
        break;
    case Form::kPop:
        add(delta, 4, false);
        u.esp_after = delta + 4;
        break;
    case Form::kCall:
        add(delta - 4, 4, true);
        u.ends = true;
        break;
    case Form::kRet:
        add(delta, 4, false);
        u.ends = true;
        break;
    default: break;
    }
    u.ok = true;
    return u;
}

// The block's stack runs, ESP before each instruction of one relative to
// the run's start (`delta`), and which of those read ESP otherwise.
std::vector<StackRunPlan> plan_stack_runs(const std::vector<const DecodedInsn*>& list, const std::vector<Form>& forms,
                                          const std::vector<bool>& side_exit, std::vector<int32_t>& delta,
                                          std::vector<bool>& reads_esp) {
    std::vector<StackRunPlan> runs;
    std::optional<StackRunPlan> cur;
    int32_t esp = 0;
    auto close = [&] {
        if (cur && cur->accesses >= 2) runs.push_back(*cur);
        cur.reset();
    };
    for (size_t i = 0; i < list.size(); i++) {
        if (side_exit[i]) {
            close();
            continue;
        }
        // A new run is an ESP run where the instruction reaches the stack
        // through ESP, else an EBP run where it does through EBP.
        unsigned base = kRsp;
        auto first_use = [&] {
            StackUse v = stack_use(*list[i], forms[i], 0, kRsp);
            base = kRsp;
            if (v.ok && v.access) return v;
            StackUse w = stack_use(*list[i], forms[i], 0, kRbp);
            if (w.ok && w.access) base = kRbp;
            return base == kRbp ? w : v;
        };
        StackUse u = cur ? stack_use(*list[i], forms[i], esp, cur->base) : first_use();
        if (!u.ok) {
            close();
            u = first_use();
            if (!u.ok) continue;
        }
        if (cur && u.access && (std::max(cur->hi, u.hi) - std::min(cur->lo, u.lo) > kMaxStackRunBytes)) {
            close();
            u = first_use();
        }
        if (!cur) {
            if (!u.access) continue;  // a run starts with an access
            cur = StackRunPlan{i, i, base, u.lo, u.hi, false, 0};
            esp = 0;
        }
        delta[i] = esp;
        reads_esp[i] = u.reads_esp;
        if (u.access) {
            cur->lo = std::min(cur->lo, u.lo);
            cur->hi = std::max(cur->hi, u.hi);
            cur->write |= u.write;
            cur->accesses++;
            cur->last = i;
        }
        esp = u.esp_after;
        if (u.ends || esp < -4096 || esp > 4096) close();
    }
    close();
    return runs;
}

bool translates_inline(const DecodedInsn& insn) { return form_of(insn) != Form::kHelper; }

bool falls_through_inline(const DecodedInsn& insn) {
    return form_of(insn) == Form::kBranch && insn.mnemonic != ZYDIS_MNEMONIC_JMP && insn.opsize == 4;
}

const void* Translator::add_routine(CodeHolder& code, const std::string& name) {
    void* fn = nullptr;
    const size_t size = code.codeSize();
    if (runtime_.add(&fn, &code) != kErrorOk) return nullptr;
    if (routine_namer_) routine_namer_(fn, size, name);
    return fn;
}

const void* Translator::jump_lookup_routine(uint32_t key) {
    if (auto it = jump_lookups_.find(key); it != jump_lookups_.end()) return it->second;
    CodeHolder code;
    code.init(runtime_.environment());
    ErrorRecorder errors;
    code.setErrorHandler(&errors);
    x86::Assembler a(&code);
    BlockEmitter e(a, cpu_, counters_, 0xffffffffull, journal_stores_, hooks_, routines_);
    e.jump_lookup_routine(key);
    const void* fn = errors.failed ? nullptr : add_routine(code, "jit_jump_lookup_" + std::to_string(key));
    if (fn) jump_lookups_[key] = fn;
    return fn;
}

const void* Translator::build_refill_routine(bool write, bool user) {
    // Called from the middle of an inline access (edx its first byte, ecx
    // its last), where any caller-saved register may hold a live value and
    // EFLAGS flags still owed: all of them but rax are kept. The stack is
    // 16-byte aligned at the call, as at every call from generated code.
    CodeHolder code;
    code.init(runtime_.environment());
    x86::Assembler a(&code);
    a.pushfq();
    // An access (or a stack run's stretch) that crosses a page is
    // declined at once, without the call: a hot frame that straddles a
    // page under the guest's stack randomisation would otherwise call on
    // every pass.
    Label declined = a.newLabel();
    a.push(x86::rcx);
    a.mov(x86::eax, x86::edx);
    a.shr(x86::eax, Imm(kPageShift));
    a.shr(x86::ecx, Imm(kPageShift));
    a.cmp(x86::eax, x86::ecx);
    a.pop(x86::rcx);
    a.jne(declined);
    static constexpr std::array<x86::Gp, 8> kSaved{x86::rcx, x86::rdx, x86::rsi, x86::rdi,
                                                   x86::r8,  x86::r9,  x86::r10, x86::r11};
    for (const x86::Gp& r : kSaved) a.push(r);
    a.mov(x86::rdi, kCpu);
    a.mov(x86::esi, x86::edx);  // the access's linear address
    a.mov(x86::edx, x86::ecx);
    a.shr(x86::edx, Imm(kPageShift));  // its last byte's page
    a.mov(x86::ecx, Imm((write ? 2 : 0) + (user ? 1 : 0)));
    a.mov(x86::r8, Imm(reinterpret_cast<uint64_t>(&counters_)));
    a.call(Imm(reinterpret_cast<uint64_t>(&jit_refill_tlb)));
    for (size_t k = kSaved.size(); k-- > 0;) a.pop(kSaved[k]);
    a.popfq();
    a.ret();
    a.bind(declined);
    a.xor_(x86::eax, x86::eax);
    a.popfq();
    a.ret();
    return add_routine(code, std::string("jit_tlb_refill_") + (write ? "write" : "read") + (user ? "_user" : ""));
}

const void* Translator::build_step_routine(bool ip16, bool take_back, bool keeps_entry_state) {
    // rsi = the instruction (the caller's); the guest's flags and the
    // step counter go to CpuState and the Cpu and come back from them, as
    // around every call.
    CodeHolder code;
    code.init(runtime_.environment());
    x86::Assembler a(&code);
    const ptrdiff_t steps = reinterpret_cast<const char*>(cpu_.step_counter()) - reinterpret_cast<const char*>(&cpu_);
    const x86::Mem step_counter = x86::qword_ptr(kCpu, int32_t(steps));
    emit_store_flags(a, kFlags);
    a.mov(step_counter, kSteps);
    a.mov(x86::rdi, kCpu);
    a.mov(x86::edx, Imm(ip16 ? 0xffffu : 0xffffffffu));
    a.mov(x86::rcx, Imm(reinterpret_cast<uint64_t>(&counters_)));
    a.sub(x86::rsp, 8);
    a.call(Imm(reinterpret_cast<uint64_t>(keeps_entry_state ? &jit_step<true> : &jit_step<false>)));
    a.add(x86::rsp, 8);
    emit_load_flags(a, kFlags, x86::rcx);
    a.mov(kSteps, step_counter);
    if (take_back) {
        Label done = a.newLabel();
        a.test(x86::al, x86::al);
        a.jz(done);
        a.sub(kSteps, 1);
        a.bind(done);
    }
    a.ret();
    return add_routine(code, std::string("jit_step") + (ip16 ? "_ip16" : "") + (take_back ? "_slow_path" : "") +
                                 (keeps_entry_state ? "_keeps_state" : ""));
}

Translation Translator::translate(const DecodedBlock& block, const uint8_t* bytes, size_t nbytes,
                                  uint64_t entry_linear, bool want_listing) {
    Translation out;
    // The block's instructions, then those of its superblock tail
    // (DecodedBlock::jit_tail); a branch that ends a part before the last
    // leaves when taken and goes on into the next part when not.
    std::vector<const DecodedInsn*> list;
    std::vector<bool> side_exit;
    for (size_t k = 0; k <= block.jit_tail.size(); k++) {
        const DecodedBlock& part = k == 0 ? block : *block.jit_tail[k - 1];
        for (const DecodedInsn& insn : part.insns) list.push_back(&insn);
        side_exit.resize(list.size(), false);
        if (k < block.jit_tail.size()) side_exit.back() = true;
    }
    const size_t n = list.size();
    std::vector<Form> forms(n);
    for (size_t i = 0; i < n; i++) forms[i] = form_of(*list[i]);

    // Flag liveness, backwards: helpers and the block's exit read them all.
    std::vector<bool> store_flags(n, false);
    uint32_t live = flags::ARITH;
    for (size_t i = n; i-- > 0;) {
        if (forms[i] == Form::kHelper || side_exit[i]) {
            live = flags::ARITH;
            continue;
        }
        const uint32_t w = flags_written(*list[i], forms[i]);
        if (passes_flags_through(forms[i])) {
            // Computed at all only when a flag is live after it; then it
            // takes every flag in and puts every flag out.
            store_flags[i] = (flags::ARITH & live) != 0;
            live = store_flags[i] ? flags::ARITH : (live & ~w) | flags_read(*list[i], forms[i]);
            continue;
        }
        store_flags[i] = (w & live) != 0;
        live = (live & ~w) | flags_read(*list[i], forms[i]);
    }
    // (A memory form's fallback is a helper step: flags_read() says it
    // reads them all, so they are in CpuState before it.)

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
    for (unsigned k = 0; k < routines_.refill.size(); k++)
        if (!routines_.refill[k]) routines_.refill[k] = build_refill_routine(k & 2, k & 1);
    for (unsigned k = 0; k < routines_.step.size(); k++) {
        if (!routines_.step[k]) routines_.step[k] = build_step_routine(k & 2, k & 1, k & 4);
        if (!routines_.step[k]) {
            out.error = "no room for the shared step routine";
            return out;
        }
    }
    BlockEmitter e(a, cpu_, counters_, ip_mask, journal_stores_, hooks_, routines_,
                   [this](uint32_t key) { return jump_lookup_routine(key); });
    uint32_t block_bytes = 0;
    for (const DecodedInsn* insn : list) block_bytes += insn->length;
    // The entry state this block is translated for (it is about to run in
    // it), and the segments its inline accesses use that are flat now.
    // (A flat CS holds any block that lies in one page; an instruction
    // crossing into the next page may run past 4 GiB, which the entry's
    // computed limit check catches.)
    EntryState assumed;
    const SegmentCache& cs = cpu_.s.seg[kCs];
    assumed.known = cs.base == 0 && cs.limit == 0xffffffffu && block.first_page == block.last_page;
    assumed.cpl = cpu_.s.cpl;
    assumed.paging = cpu_.s.cr0 & cr0::PG;
    for (size_t i = 0; i < n; i++) {
        if (!touches_memory(forms[i])) continue;
        assumed.checked = true;
        uint8_t used = 0;
        for (unsigned k = 0; k < list[i]->num_ops; k++)
            if (list[i]->ops[k].kind == OpKind::kMem) used |= uint8_t(1u << list[i]->ops[k].seg);
        if (uses_stack(forms[i]))
            used |= uint8_t(1u << kSs);
        for (unsigned seg = 0; seg < kNumSegRegs; seg++)
            if ((used & (1u << seg)) && segment_is_flat(cpu_.s.seg[seg])) assumed.flat_segments |= uint8_t(1u << seg);
    }
    // Registers read at least twice by inline instructions get host copies,
    // the most read first.
    {
        std::array<unsigned, 8> reads{};
        for (size_t i = 0; i < n; i++) {
            if (forms[i] == Form::kHelper) continue;
            const DecodedInsn& insn = *list[i];
            for (unsigned k = 0; k < insn.num_ops; k++) {
                const Operand& op = insn.ops[k];
                if (op.kind == OpKind::kReg && op.reg_class == RegClass::kGpr && op.reg < 8) reads[op.reg]++;
                if (op.kind == OpKind::kMem) {
                    if (op.base < 8) reads[op.base]++;
                    if (op.index < 8) reads[op.index]++;
                }
            }
            if (uses_stack(forms[i]))
                reads[kRsp] += 2;
        }
        std::array<bool, 8> wanted{};
        for (unsigned slot = 0; slot < 5; slot++) {
            unsigned best = 8;
            for (unsigned r = 0; r < 8; r++)
                if (!wanted[r] && reads[r] >= 2 && (best == 8 || reads[r] > reads[best])) best = r;
            if (best == 8) break;
            wanted[best] = true;
        }
        e.cache_registers(wanted);
    }
    e.prologue(unsigned(n), block_bytes, assumed);
    // Chaining: 32-bit code, the block on one page, targets on that page.
    const bool may_chain = hooks_.last_exit && ip_mask == 0xffffffffull && block.first_page == block.last_page;
    auto same_page = [&](int64_t delta) -> std::optional<uint64_t> {
        const int64_t in_page = int64_t(block.key.phys & (kPageSize - 1)) + delta;
        if (!may_chain || in_page < 0 || in_page >= int64_t(kPageSize)) return std::nullopt;
        return (block.key.phys & ~uint64_t(kPageSize - 1)) + uint64_t(in_page);
    };
    // (Runs only in 32-bit code: a 16-bit CALL/RET is the helper's.)
    std::vector<int32_t> run_delta(n, 0);
    std::vector<bool> run_reads_esp(n, false);
    const std::vector<StackRunPlan> runs = ip_mask == 0xffffffffull
                                               ? plan_stack_runs(list, forms, side_exit, run_delta, run_reads_esp)
                                               : std::vector<StackRunPlan>{};
    size_t next_run = 0;
    bool in_run = false;
    uint32_t offset = 0;
    unsigned inline_count = 0;
    // s.rip holds this instruction's EIP (not at the entry: a chained jump
    // brings it in kEntryRip only)
    bool rip_current = false;
    for (size_t i = 0; i < n; i++) {
        const DecodedInsn& insn = *list[i];
        if (next_run < runs.size() && runs[next_run].first == i)
            in_run = e.begin_stack_run(runs[next_run].base, runs[next_run].lo,
                                       uint32_t(runs[next_run].hi - runs[next_run].lo), runs[next_run].write);
        // (An ADD/SUB ESP the run defers does not read ESP.)
        if (in_run)
            e.set_stack_delta(run_delta[i], run_reads_esp[i] && !defers_esp_adjust(insn, forms[i], store_flags[i]));
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
        if (side_exit[i]) {
            // (Only a Jcc rel32 ends a part, and only in 32-bit code in a
            // flat CS, which the entry checks: falls_through_inline,
            // JitEngine::add_superblock_tail.)
            const uint32_t next = offset + insn.length;
            ExitTargets targets;
            targets.retired = inline_count + 1;
            targets.taken = same_page(int64_t(next) + int64_t(insn.ops[0].imm));
            e.side_exit(insn, next, targets);
            inline_count++;
            rip_current = false;
        } else if (forms[i] == Form::kHelper) {
            e.helper(insn, offset, rip_current, inline_count);
            out.helper_insns++;
            rip_current = true;  // the step left EIP at the next instruction
        } else {
            ExitTargets targets;
            if (forms[i] == Form::kCall || forms[i] == Form::kRet || forms[i] == Form::kJmpIndirect ||
                forms[i] == Form::kCallIndirect) {
                targets.retired = inline_count + 1;
                if (forms[i] == Form::kCall)
                    targets.taken = same_page(int64_t(offset + insn.length) + int64_t(insn.ops[0].imm));
            } else if (forms[i] == Form::kBranch && insn.opsize == 4) {
                const uint32_t next = offset + insn.length;
                targets.retired = inline_count + 1;
                targets.taken = same_page(int64_t(next) + int64_t(insn.ops[0].imm));
                if (insn.mnemonic != ZYDIS_MNEMONIC_JMP) targets.not_taken = same_page(next);
            } else if (forms[i] == Form::kBranch) {
                targets.retired = inline_count + 1;
            }
            e.inline_insn(insn, forms[i], store_flags[i], offset, inline_count, targets);
            inline_count++;
            // Branches, calls and returns set EIP themselves.
            rip_current = sets_eip(forms[i]);
        }
        if (next_run < runs.size() && runs[next_run].last == i) {
            if (in_run) e.end_stack_run();
            in_run = false;
            next_run++;
        }
        offset += insn.length;
    }
    // Whether the block's end keeps the mode (CS, CPL, paging), so that
    // the next block may be found through the jump cache: it did not end
    // on an instruction that ends blocks (control transfers and mode
    // changes), or that instruction was inline (RDTSC...), or it is one
    // that cannot change the mode: a near indirect JMP or CALL (FF /2,
    // FF /4), LOOP/JCXZ, CLI/STI/POPF. (Whatever they leave pending, an
    // interrupt or a single step, makes their helper step end the block
    // at once, and makes every block's entry refuse.)
    const DecodedInsn& last = *list[n - 1];
    const bool near_indirect = last.opcode_map == 0 && last.opcode == 0xff &&
                               (last.modrm_reg == 2 || last.modrm_reg == 4);
    bool keeps_mode = forms[n - 1] != Form::kHelper || near_indirect;
    switch (last.mnemonic) {
    case ZYDIS_MNEMONIC_LOOP:
    case ZYDIS_MNEMONIC_LOOPE:
    case ZYDIS_MNEMONIC_LOOPNE:
    case ZYDIS_MNEMONIC_JCXZ:
    case ZYDIS_MNEMONIC_JECXZ:
    case ZYDIS_MNEMONIC_CLI:
    case ZYDIS_MNEMONIC_STI:
    case ZYDIS_MNEMONIC_POPF:
    case ZYDIS_MNEMONIC_POPFD: keeps_mode = true; break;
    default: break;
    }
    e.finish(offset, rip_current, inline_count, !(last.flags & kInsnEndsBlock) || keeps_mode);
    out.inline_insns = inline_count;
    if (errors.failed) {
        out.error = errors.text;
        return out;
    }
    if (e.failed()) {
        out.error = "a stack run read ESP that it had not settled";
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
    out.chain_entry = uint32_t(code.labelOffsetFromBase(e.chain_entry()));
    out.fast_entry = uint32_t(code.labelOffsetFromBase(e.fast_entry()));
    out.warm_entry = uint32_t(code.labelOffsetFromBase(e.warm_entry()));
    out.cache_map = e.cache_map();
    out.entry_state = assumed;
    for (const auto& c : e.chain_sites())
        out.chain_sites.push_back(
            ChainSite{uint32_t(code.labelOffsetFromBase(c.site)),
                      c.through_cache.isValid() ? uint32_t(code.labelOffsetFromBase(c.through_cache)) : 0,
                      c.target_phys, c.state, out.cache_map});
    if (want_listing) out.listing = listing.data();
    return out;
}

}  // namespace nomad86::jit
