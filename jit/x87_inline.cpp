#include "jit/x87_inline.h"

#include <cstddef>

#include "cpu/cpu_state.h"
#include "cpu/x87_state.h"

namespace nomad86::jit {

using namespace asmjit;

namespace {

constexpr int32_t kFpu = int32_t(offsetof(CpuState, fpu));
constexpr int32_t kFcw = kFpu + int32_t(offsetof(FpuState, fcw));
constexpr int32_t kFsw = kFpu + int32_t(offsetof(FpuState, fsw));
constexpr int32_t kFtw = kFpu + int32_t(offsetof(FpuState, ftw));
constexpr int32_t kSt = kFpu + int32_t(offsetof(FpuState, st));
constexpr int32_t kCr0 = int32_t(offsetof(CpuState, cr0));
constexpr uint16_t kUsualFcw = 0x037f;
static_assert((cr0::EM | cr0::TS) < 0x100, "tested as a byte");

enum class Kind { kNone, kLoad, kStore, kArith, kLoadReg, kStoreReg, kXchg, kCompare, kSignOp, kExamine };

struct Shape {
    Kind kind = Kind::kNone;
    bool pops = false;
    unsigned i = 0;  // ST(i) of a register form
};

Shape shape_of(const DecodedInsn& insn) {
    Shape s;
    if (insn.opcode_map != 0 || (insn.prefixes & kPrefixLock) || insn.opcode < 0xd8 || insn.opcode > 0xdf) return s;
    const unsigned op = insn.opcode, reg = insn.modrm_reg;
    if (insn.modrm < 0xc0) {
        const Operand* m = x87::mem_op(insn);
        if (!m) return s;
        const unsigned size = m->size;
        if ((op == 0xd9 && reg == 0 && size == 4) || (op == 0xdd && reg == 0 && size == 8) ||  // FLD m32/m64
            (op == 0xdb && reg == 0 && size == 4) || (op == 0xdf && reg == 0 && size == 2) ||  // FILD m32/m16
            (op == 0xdf && reg == 5 && size == 8))                                             // FILD m64
            s.kind = Kind::kLoad;
        else if (((op == 0xd9 && size == 4) || (op == 0xdd && size == 8)) && (reg == 2 || reg == 3))  // FST(P)
            s.kind = Kind::kStore, s.pops = reg == 3;
        else if (((op == 0xd8 && size == 4) || (op == 0xdc && size == 8)) && reg != 2 && reg != 3)
            s.kind = Kind::kArith;
        return s;
    }
    s.i = insn.modrm & 7;
    switch ((op << 8) | (insn.modrm & 0xf8)) {
    case 0xd9c0: s.kind = Kind::kLoadReg; break;                 // FLD ST(i)
    case 0xd9c8: s.kind = Kind::kXchg; break;                    // FXCH ST(i)
    case 0xddd0: s.kind = Kind::kStoreReg; break;                // FST ST(i)
    case 0xddd8: s.kind = Kind::kStoreReg, s.pops = true; break;  // FSTP ST(i)
    case 0xd8d0: case 0xdde0: s.kind = Kind::kCompare; break;    // FCOM, FUCOM ST(i)
    case 0xd8d8: case 0xdde8: s.kind = Kind::kCompare, s.pops = true; break;
    case 0xd9e0:
        if (insn.modrm == 0xe0 || insn.modrm == 0xe1) s.kind = Kind::kSignOp;  // FCHS, FABS
        else if (insn.modrm == 0xe5) s.kind = Kind::kExamine;                    // FXAM
        break;
    default: break;
    }
    return s;
}

// The emitter of one instruction. While it runs: ecx = the guest's FSW
// (stored at the end), r8d = 2 * TOP, the shift of ST(0)'s tag in FTW.
class X87Emitter {
public:
    X87Emitter(x86::Assembler& a, const x86::Gp& state, const Label& fallback)
        : a_(a), s_(state), fallback_(fallback) {}

    // The usual state (x87_inline.h), else `fallback`. `host_flags`: the
    // instruction can raise exceptions on the host, whose flags are merged.
    void guard(bool host_flags) {
        a_.cmp(x86::word_ptr(s_, kFcw), Imm(kUsualFcw));
        a_.jne(fallback_);
        a_.test(x86::byte_ptr(s_, kCr0), Imm(int32_t(cr0::EM | cr0::TS)));
        a_.jnz(fallback_);
        a_.movzx(x86::ecx, x86::word_ptr(s_, kFsw));
        a_.test(x86::cl, Imm(x87::kES));
        a_.jnz(fallback_);
        if (host_flags) {
            // Host flags (bits 0-7, ES included) within the guest's. When
            // they are not (the guest cleared its flags: FNCLEX, FLDENV, a
            // snapshot loaded), clear the host's before the fallback, so
            // that the next instruction is back on this path.
            Label within = a_.newLabel();
            a_.fnstsw(x86::ax);
            a_.mov(x86::edx, x86::ecx);
            a_.not_(x86::edx);
            a_.and_(x86::edx, x86::eax);
            a_.test(x86::dl, x86::dl);
            a_.jz(within);
            a_.fnclex();
            a_.jmp(fallback_);
            a_.bind(within);
        }
        a_.mov(x86::r8d, x86::ecx);
        a_.shr(x86::r8d, Imm(10));
        a_.and_(x86::r8d, Imm(14));
    }

    // dst = the tag shift of ST(i) (i = -1: the register a push fills).
    void shift_of(const x86::Gp& dst, int i) {
        a_.lea(dst, x86::ptr(x86::r8, 2 * i));
        a_.and_(dst, Imm(14));
    }
    // `fallback` unless the register at `shift` is empty (`want_empty`) or
    // holds a value. Clobbers eax.
    void require(const x86::Gp& shift, bool want_empty) {
        a_.movzx(x86::eax, x86::word_ptr(s_, kFtw));
        a_.shrx(x86::eax, x86::eax, shift);
        a_.and_(x86::eax, Imm(3));
        a_.cmp(x86::eax, Imm(3));
        if (want_empty) a_.jne(fallback_);
        else a_.je(fallback_);
    }
    // The register whose tag shift is `shift` (2p: 10p = 5 * shift bytes
    // in), through `addr`.
    x86::Mem reg(const x86::Gp& addr, const x86::Gp& shift) {
        a_.lea(addr.r32(), x86::ptr(shift.r64(), shift.r64(), 2));
        return x86::tword_ptr(s_, addr.r64(), 0, kSt);
    }

    // r11d = the tag of host ST(0) (tag_of(): 0 valid, 1 zero, 2
    // special) from FXAM's C3 C2 C0, in ax after FNSTSW. Clobbers eax.
    void tag_from_fxam() {
        a_.and_(x86::eax, Imm(x87::kC3 | x87::kC2 | x87::kC0));
        a_.xor_(x86::r11d, x86::r11d);
        a_.cmp(x86::eax, Imm(x87::kC2));  // normal finite
        a_.setne(x86::r11b);
        a_.cmp(x86::eax, Imm(x87::kC3));  // zero
        a_.setne(x86::al);
        a_.and_(x86::al, x86::r11b);
        a_.movzx(x86::eax, x86::al);
        a_.add(x86::r11d, x86::eax);
    }
    // The tag r11d into the register at `shift`, which was empty
    // (`was_empty`) or held a value. Clobbers eax.
    void set_tag(const x86::Gp& shift, bool was_empty) {
        if (was_empty) {
            a_.xor_(x86::r11d, Imm(3));
            a_.shlx(x86::r11d, x86::r11d, shift);
            a_.xor_(x86::word_ptr(s_, kFtw), x86::r11w);
            return;
        }
        a_.mov(x86::eax, Imm(3));
        a_.shlx(x86::eax, x86::eax, shift);
        a_.not_(x86::eax);
        a_.and_(x86::word_ptr(s_, kFtw), x86::ax);
        a_.shlx(x86::r11d, x86::r11d, shift);
        a_.or_(x86::word_ptr(s_, kFtw), x86::r11w);
    }
    // The register at shift `from` into the one at `to` (empty before:
    // `to_was_empty`), value and tag (80-bit loads and stores raise
    // nothing). Clobbers eax and r11.
    void copy(const x86::Gp& from, const x86::Gp& to, bool to_was_empty) {
        a_.fld(reg(x86::r11, from));
        a_.fstp(reg(x86::r11, to));
        a_.movzx(x86::r11d, x86::word_ptr(s_, kFtw));
        a_.shrx(x86::r11d, x86::r11d, from);
        a_.and_(x86::r11d, Imm(3));
        set_tag(to, to_was_empty);
    }
    // ST(0) popped: its tag empty, TOP + 1 (in ecx).
    void pop() {
        a_.mov(x86::eax, Imm(3));
        a_.shlx(x86::eax, x86::eax, x86::r8d);
        a_.or_(x86::word_ptr(s_, kFtw), x86::ax);
        shift_of(x86::r8d, 1);
        set_top();
    }
    // TOP in ecx = r8d / 2.
    void set_top() {
        a_.mov(x86::eax, x86::r8d);
        a_.shl(x86::eax, Imm(10));
        a_.and_(x86::ecx, Imm(~0x3800));
        a_.or_(x86::ecx, x86::eax);
    }
    // The host's status word (ax) into the guest's: the bits of `from_host`
    // replace the guest's, the exception flags accumulate.
    void merge_status(uint16_t from_host) {
        a_.and_(x86::eax, Imm(from_host | x87::kExceptionMask));
        if (from_host) a_.and_(x86::ecx, Imm(~int32_t(from_host)));
        a_.or_(x86::ecx, x86::eax);
    }
    void clear_c1() { a_.and_(x86::ecx, Imm(~int32_t(x87::kC1))); }
    void store_status() { a_.mov(x86::word_ptr(s_, kFsw), x86::cx); }

    void emit(const DecodedInsn& insn, const Shape& shape, const x86::Mem& operand) {
        switch (shape.kind) {
        case Kind::kLoad: load(insn, operand); break;
        case Kind::kStore: store(shape, operand); break;
        case Kind::kArith: arith(insn, operand); break;
        case Kind::kLoadReg: load_reg(shape.i); break;
        case Kind::kStoreReg: store_reg(shape); break;
        case Kind::kXchg: exchange(shape.i); break;
        case Kind::kCompare: compare(insn, shape); break;
        case Kind::kSignOp: sign_op(insn); break;
        case Kind::kExamine: examine(); break;
        case Kind::kNone: break;
        }
    }

private:
    // FLD m32/m64, FILD m16/m32/m64: push (C1 = 0, the loads' exceptions).
    void load(const DecodedInsn& insn, const x86::Mem& operand) {
        guard(true);
        shift_of(x86::r8d, -1);
        require(x86::r8d, true);
        if (insn.opcode == 0xd9 || insn.opcode == 0xdd) a_.fld(operand);
        else a_.fild(operand);
        a_.fxam();
        a_.fnstsw(x86::ax);
        a_.mov(x86::edx, x86::eax);
        merge_status(0);
        clear_c1();
        a_.mov(x86::eax, x86::edx);
        tag_from_fxam();
        a_.fstp(reg(x86::rdx, x86::r8));
        set_tag(x86::r8d, true);
        set_top();
        store_status();
    }
    // FST/FSTP m32/m64 (C1: rounded up).
    void store(const Shape& shape, x86::Mem operand) {
        guard(true);
        require(x86::r8d, false);
        a_.fld(reg(x86::rdx, x86::r8));
        a_.fstp(operand);
        a_.fnstsw(x86::ax);
        merge_status(x87::kC1);
        if (shape.pops) pop();
        store_status();
    }
    // ST(0) op= m32/m64 (C1: rounded up).
    void arith(const DecodedInsn& insn, const x86::Mem& operand) {
        guard(true);
        require(x86::r8d, false);
        const x86::Mem st0 = reg(x86::rdx, x86::r8);
        a_.fld(st0);
        switch (insn.modrm_reg) {
        case 0: a_.fadd(operand); break;
        case 1: a_.fmul(operand); break;
        case 4: a_.fsub(operand); break;
        case 5: a_.fsubr(operand); break;
        case 6: a_.fdiv(operand); break;
        default: a_.fdivr(operand); break;
        }
        a_.fnstsw(x86::ax);
        merge_status(x87::kC1);
        a_.fxam();
        a_.fnstsw(x86::ax);
        tag_from_fxam();
        a_.fstp(st0);
        set_tag(x86::r8d, false);
        store_status();
    }
    // FLD ST(i): a copy pushed.
    void load_reg(unsigned i) {
        guard(false);
        shift_of(x86::edx, int(i));
        require(x86::edx, false);
        shift_of(x86::r8d, -1);
        require(x86::r8d, true);
        copy(x86::edx, x86::r8d, true);
        set_top();
        clear_c1();
        store_status();
    }
    // FST/FSTP ST(i).
    void store_reg(const Shape& shape) {
        guard(false);
        require(x86::r8d, false);
        if (shape.i != 0) {
            shift_of(x86::edx, int(shape.i));
            copy(x86::r8d, x86::edx, false);
        }
        clear_c1();
        if (shape.pops) pop();
        store_status();
    }
    // FXCH ST(i): values and tags swapped.
    void exchange(unsigned i) {
        guard(false);
        require(x86::r8d, false);
        shift_of(x86::edx, int(i));
        require(x86::edx, false);
        if (i != 0) {
            const x86::Mem a = reg(x86::rax, x86::r8), b = reg(x86::r11, x86::rdx);
            a_.fld(a);
            a_.fld(b);
            a_.fstp(a);
            a_.fstp(b);
            a_.movzx(x86::eax, x86::word_ptr(s_, kFtw));
            a_.mov(x86::r11d, x86::eax);
            a_.shrx(x86::eax, x86::eax, x86::r8d);
            a_.shrx(x86::r11d, x86::r11d, x86::edx);
            a_.xor_(x86::eax, x86::r11d);
            a_.and_(x86::eax, Imm(3));
            a_.shlx(x86::r11d, x86::eax, x86::r8d);
            a_.shlx(x86::eax, x86::eax, x86::edx);
            a_.or_(x86::eax, x86::r11d);
            a_.xor_(x86::word_ptr(s_, kFtw), x86::ax);
        }
        clear_c1();
        store_status();
    }
    // FCOM/FCOMP/FUCOM/FUCOMP ST(i): the host's FCOMPP/FUCOMPP of ST(0)
    // with ST(i) sets C0-C3 (C1 = 0) and the flags.
    void compare(const DecodedInsn& insn, const Shape& shape) {
        guard(true);
        require(x86::r8d, false);
        shift_of(x86::edx, int(shape.i));
        require(x86::edx, false);
        a_.fld(reg(x86::r11, x86::rdx));
        a_.fld(reg(x86::r11, x86::r8));
        if (insn.opcode == 0xdd) a_.fucompp();
        else a_.fcompp();
        a_.fnstsw(x86::ax);
        merge_status(x87::kCcMask);
        if (shape.pops) pop();
        store_status();
    }
    // FCHS, FABS: the sign bit.
    void sign_op(const DecodedInsn& insn) {
        guard(false);
        require(x86::r8d, false);
        a_.lea(x86::edx, x86::ptr(x86::r8, x86::r8, 2));
        const x86::Mem sign = x86::byte_ptr(s_, x86::rdx, 0, kSt + 9);
        if (insn.modrm == 0xe0) a_.xor_(sign, Imm(0x80));
        else a_.and_(sign, Imm(0x7f));
        clear_c1();
        store_status();
    }
    // FXAM of a register that holds a value: C0-C3 as the host's.
    void examine() {
        guard(false);
        require(x86::r8d, false);
        a_.fld(reg(x86::rdx, x86::r8));
        a_.fxam();
        a_.fnstsw(x86::ax);
        a_.fstp(x86::st0);
        a_.and_(x86::eax, Imm(x87::kCcMask));
        a_.and_(x86::ecx, Imm(~int32_t(x87::kCcMask)));
        a_.or_(x86::ecx, x86::eax);
        store_status();
    }

    x86::Assembler& a_;
    x86::Gp s_;
    Label fallback_;
};

}  // namespace

bool x87_inlinable(const DecodedInsn& insn) { return shape_of(insn).kind != Kind::kNone; }

bool host_x87_default() {
    uint16_t cw = 0;
    asm volatile("fnstcw %0" : "=m"(cw));
    return cw == kUsualFcw && __builtin_cpu_supports("bmi2");
}

void emit_x87_inline(x86::Assembler& a, const x86::Gp& state, const DecodedInsn& insn, const x86::Mem& operand,
                     const Label& fallback) {
    X87Emitter(a, state, fallback).emit(insn, shape_of(insn), operand);
}

}  // namespace nomad86::jit
