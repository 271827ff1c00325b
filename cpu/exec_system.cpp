// System instructions: HLT, CLI/STI, port I/O with the IOPL / TSS bitmap
// checks, descriptor-table registers, LLDT/LTR, CR and DR moves, LMSW/SMSW/
// CLTS, ARPL/LAR/LSL/VERR/VERW, CPUID, RDTSC, RDMSR/WRMSR, cache and TLB
// maintenance, UD2.
#include <cinttypes>
#include <cstring>

#include "cpu/cpu.h"
#include "cpu/handlers.h"

namespace nomad86 {

// ---------------------------------------------------------------- port I/O

void Cpu::check_io_permission(uint16_t port, unsigned size) {
    if (!s.protected_mode()) return;
    if (!s.v86_mode() && s.cpl <= s.iopl()) return;
    // The I/O permission bitmap of a 32-bit TSS: its offset is the word at
    // 0x66; every bit for port..port+size-1 must be clear, and bits beyond
    // the TSS limit count as set. The CPU always reads two bytes.
    const SegmentCache& tr = s.tr;
    if (!tr.present() || !tr.is_system() || (tr.type() != 9 && tr.type() != 11) || tr.limit < 0x67)
        raise(kGP, 0);
    const uint32_t map = uint32_t(read_linear(GuestVirt((tr.base + 0x66) & 0xffffffffull), 2, true));
    const uint32_t byte = map + port / 8u;
    if (uint64_t(byte) + 1 > tr.limit) raise(kGP, 0);
    const uint32_t bits = uint32_t(read_linear(GuestVirt((tr.base + byte) & 0xffffffffull), 2, true));
    const uint32_t mask = ((1u << size) - 1) << (port & 7);
    if (bits & mask) raise(kGP, 0);
}

uint32_t Cpu::port_in(uint16_t port, unsigned size) {
    device_events_++;
    return io().read(port, size);
}

void Cpu::port_out(uint16_t port, unsigned size, uint32_t value) {
    device_events_++;
    io().write(port, size, value);
}

namespace {

bool legacy_mode(const Cpu& cpu) { return !cpu.s.protected_mode() || cpu.s.v86_mode(); }

// CPL 0 (real mode counts as CPL 0; V86 mode as CPL 3), else #GP(0).
void require_cpl0(Cpu& cpu) {
    if (cpu.s.protected_mode() && (cpu.s.v86_mode() || cpu.s.cpl != 0)) cpu.raise(kGP, 0);
}

// LLDT, LTR, SLDT, STR, ARPL, LAR, LSL, VERR, VERW: #UD outside protected mode.
void require_protected(Cpu& cpu) {
    if (legacy_mode(cpu)) cpu.raise(kUD);
}

constexpr uint64_t opmask(unsigned size) { return size == 2 ? 0xffffull : size == 1 ? 0xffull : 0xffffffffull; }

// ---------------------------------------------------------------- HLT, CLI/STI, I/O

void exec_hlt(Cpu& cpu, const DecodedInsn&) {
    require_cpl0(cpu);
    cpu.s.halted = true;
    cpu.end_block();
}

bool may_change_if(const Cpu& cpu) {
    if (!cpu.s.protected_mode()) return true;
    if (cpu.s.v86_mode()) return cpu.s.iopl() == 3;
    return cpu.s.cpl <= cpu.s.iopl();
}

void exec_cli(Cpu& cpu, const DecodedInsn&) {
    if (!may_change_if(cpu)) cpu.raise(kGP, 0);
    cpu.set_flag(flags::IF, false);
}

void exec_sti(Cpu& cpu, const DecodedInsn&) {
    if (!may_change_if(cpu)) cpu.raise(kGP, 0);
    if (!cpu.flag(flags::IF)) {
        cpu.set_flag(flags::IF, true);
        cpu.s.interrupt_shadow = true;
    }
    cpu.end_block();
}

uint16_t port_operand(Cpu& cpu, const Operand& op) {
    if (op.kind == OpKind::kImm) return uint16_t(op.imm & 0xff);
    return uint16_t(cpu.reg(kRdx, 2));
}

void exec_in(Cpu& cpu, const DecodedInsn& insn) {
    const unsigned size = insn.ops[0].size;
    const uint16_t port = port_operand(cpu, insn.ops[1]);
    cpu.check_io_permission(port, size);
    cpu.set_reg(kRax, size, cpu.port_in(port, size));
}

void exec_out(Cpu& cpu, const DecodedInsn& insn) {
    const unsigned size = insn.ops[1].size;
    const uint16_t port = port_operand(cpu, insn.ops[0]);
    cpu.check_io_permission(port, size);
    cpu.port_out(port, size, uint32_t(cpu.reg(kRax, size)));
}

// ---------------------------------------------------------------- descriptor tables

uint64_t mem_operand_ea(Cpu& cpu, const DecodedInsn& insn, unsigned i) {
    if (insn.ops[i].kind != OpKind::kMem) cpu.raise(kUD);
    return cpu.effective_address(insn, insn.ops[i]);
}

void load_table_register(Cpu& cpu, const DecodedInsn& insn, DescriptorTableReg& r) {
    require_cpl0(cpu);
    const uint64_t ea = mem_operand_ea(cpu, insn, 0);
    const SegReg seg = SegReg(insn.ops[0].seg);
    const uint16_t limit = uint16_t(cpu.read_mem(seg, ea, 2));
    uint64_t base = cpu.read_mem(seg, (ea + 2) & opmask(insn.addrsize), 4);
    if (insn.opsize == 2) base &= 0xffffff;
    r.base = base;
    r.limit = limit;
}

void store_table_register(Cpu& cpu, const DecodedInsn& insn, const DescriptorTableReg& r) {
    const uint64_t ea = mem_operand_ea(cpu, insn, 0);
    const SegReg seg = SegReg(insn.ops[0].seg);
    const uint64_t ea2 = (ea + 2) & opmask(insn.addrsize);
    cpu.check_write(seg, ea, 2);
    cpu.check_write(seg, ea2, 4);
    cpu.write_mem(seg, ea, 2, r.limit);
    cpu.write_mem(seg, ea2, 4, r.base & 0xffffffffull);  // the full 32-bit base, any operand size
}

void exec_lgdt(Cpu& cpu, const DecodedInsn& insn) { load_table_register(cpu, insn, cpu.s.gdtr); }
void exec_lidt(Cpu& cpu, const DecodedInsn& insn) { load_table_register(cpu, insn, cpu.s.idtr); }
void exec_sgdt(Cpu& cpu, const DecodedInsn& insn) { store_table_register(cpu, insn, cpu.s.gdtr); }
void exec_sidt(Cpu& cpu, const DecodedInsn& insn) { store_table_register(cpu, insn, cpu.s.idtr); }

void exec_lldt(Cpu& cpu, const DecodedInsn& insn) {
    require_protected(cpu);
    require_cpl0(cpu);
    const uint16_t sel = uint16_t(cpu.read_operand(insn, 0));
    if ((sel & 0xfffc) == 0) {
        cpu.s.ldtr = SegmentCache{sel, 0, 0, 0};  // unusable until reloaded
        return;
    }
    const uint32_t err = sel & 0xfffcu;
    if (sel & 4) cpu.raise(kGP, err);
    const SegmentCache c = Cpu::cache_from_descriptor(sel, cpu.read_descriptor(sel, kGP));
    if (!c.is_system() || c.type() != 2) cpu.raise(kGP, err);
    if (!c.present()) cpu.raise(kNP, err);
    cpu.s.ldtr = c;
}

void exec_ltr(Cpu& cpu, const DecodedInsn& insn) {
    require_protected(cpu);
    require_cpl0(cpu);
    const uint16_t sel = uint16_t(cpu.read_operand(insn, 0));
    if ((sel & 0xfffc) == 0) cpu.raise(kGP, 0);
    const uint32_t err = sel & 0xfffcu;
    if (sel & 4) cpu.raise(kGP, err);
    SegmentCache c = Cpu::cache_from_descriptor(sel, cpu.read_descriptor(sel, kGP));
    if (!c.is_system() || (c.type() != 1 && c.type() != 9)) cpu.raise(kGP, err);
    if (!c.present()) cpu.raise(kNP, err);
    // Mark the TSS busy in its descriptor and in the cache.
    const GuestVirt at((cpu.s.gdtr.base + (sel & 0xfff8u) + 5) & 0xffffffffull);
    cpu.write_linear(at, 1, cpu.read_linear(at, 1, true) | 2, true);
    c.attr |= 2;
    cpu.s.tr = c;
}

void exec_sldt(Cpu& cpu, const DecodedInsn& insn) {
    require_protected(cpu);
    cpu.write_operand(insn, 0, cpu.s.ldtr.selector);
}

void exec_str(Cpu& cpu, const DecodedInsn& insn) {
    require_protected(cpu);
    cpu.write_operand(insn, 0, cpu.s.tr.selector);
}

// ---------------------------------------------------------------- control registers

constexpr uint64_t kCr0Supported = cr0::PE | cr0::MP | cr0::EM | cr0::TS | cr0::ET | cr0::NE | cr0::WP | cr0::AM |
                                   cr0::NW | cr0::CD | cr0::PG;
// VME/PVI are not implemented; setting them raises #GP as on a CPU without them.
constexpr uint64_t kCr4Supported = cr4::TSD | cr4::DE | cr4::PSE | cr4::PAE | cr4::MCE | cr4::PGE | cr4::PCE |
                                   cr4::OSFXSR | cr4::OSXMMEXCPT;

// PAE paging loads the four PDPTEs when CR3, CR0 or CR4 is written; a
// present PDPTE with a reserved bit set makes that write #GP(0) (SDM Vol. 3A
// 4.4.1). The walker reads PDPTEs from memory rather than keeping them.
void check_pdptes(Cpu& cpu, uint64_t cr0_value, uint64_t cr3_value, uint64_t cr4_value) {
    if (!(cr0_value & cr0::PG) || !(cr4_value & cr4::PAE)) return;
    for (uint64_t i = 0; i < 4; i++) {
        const GuestPhys at(((cr3_value & 0xffffffe0ull) + 8 * i) & cpu.memory().a20_mask());
        const uint64_t e = cpu.memory().read(at, 8);
        if ((e & 1) && (e & (0x1e6ull | 0xfffffff000000000ull))) cpu.raise(kGP, 0);
    }
}

void write_cr0(Cpu& cpu, uint64_t value) {
    CpuState& s = cpu.s;
    value = (value & kCr0Supported) | cr0::ET;  // reserved bits are ignored; ET is hardwired on a P6
    if ((value & cr0::PG) && !(value & cr0::PE)) cpu.raise(kGP, 0);
    if ((value & cr0::NW) && !(value & cr0::CD)) cpu.raise(kGP, 0);
    if ((value & cr0::PG) && !(s.cr0 & cr0::PG)) check_pdptes(cpu, value, s.cr3, s.cr4);
    const uint64_t old = s.cr0;
    s.cr0 = value;
    if ((old ^ value) & (cr0::PE | cr0::PG | cr0::WP)) {
        cpu.end_block();
        cpu.tlb().flush_all();  // WP is folded into the TLB's write tags
    }
    if (!(value & cr0::PE)) cpu.update_cpl(0);
}

void write_cr4(Cpu& cpu, uint64_t value) {
    if (value & ~kCr4Supported) cpu.raise(kGP, 0);
    if ((cpu.s.cr4 ^ value) & (cr4::PSE | cr4::PAE | cr4::PGE)) check_pdptes(cpu, cpu.s.cr0, cpu.s.cr3, value);
    if ((cpu.s.cr4 ^ value) & (cr4::PSE | cr4::PAE | cr4::PGE)) {
        cpu.end_block();
        cpu.tlb().flush_all();
    }
    cpu.s.cr4 = value;
}

void exec_mov_cr(Cpu& cpu, const DecodedInsn& insn) {
    const bool to_cr = insn.ops[0].kind == OpKind::kReg && insn.ops[0].reg_class == RegClass::kCr;
    const unsigned cr = to_cr ? insn.ops[0].reg : insn.ops[1].reg;
    const unsigned gpr = to_cr ? insn.ops[1].reg : insn.ops[0].reg;
    if (cr != 0 && cr != 2 && cr != 3 && cr != 4) cpu.raise(kUD);
    require_cpl0(cpu);
    CpuState& s = cpu.s;
    if (!to_cr) {
        const uint64_t v = cr == 0 ? s.cr0 : cr == 2 ? s.cr2 : cr == 3 ? s.cr3 : s.cr4;
        cpu.set_reg(gpr, 4, v);
        return;
    }
    const uint64_t v = cpu.reg(gpr, 4);
    switch (cr) {
    case 0: write_cr0(cpu, v); break;
    case 2: s.cr2 = v; break;
    case 3:
        check_pdptes(cpu, s.cr0, v, s.cr4);
        s.cr3 = v;
        cpu.tlb().flush_non_global();  // global pages survive a CR3 load (CR4.PGE)
        cpu.end_block();
        break;
    default: write_cr4(cpu, v); break;
    }
}

void exec_mov_dr(Cpu& cpu, const DecodedInsn& insn) {
    const bool to_dr = insn.ops[0].kind == OpKind::kReg && insn.ops[0].reg_class == RegClass::kDr;
    unsigned dr = to_dr ? insn.ops[0].reg : insn.ops[1].reg;
    const unsigned gpr = to_dr ? insn.ops[1].reg : insn.ops[0].reg;
    if (dr > 7) cpu.raise(kUD);
    if (dr == 4 || dr == 5) {
        if (cpu.s.cr4 & cr4::DE) cpu.raise(kUD);
        dr += 2;
    }
    require_cpl0(cpu);
    CpuState& s = cpu.s;
    if (!to_dr) {
        cpu.set_reg(gpr, 4, s.dr[dr]);
        return;
    }
    const uint64_t v = cpu.reg(gpr, 4);
    switch (dr) {
    case 6: s.dr[6] = (v & 0xe00f) | 0xffff0ff0; break;
    case 7: s.dr[7] = (v & 0xffff2bff) | 0x400; break;
    default: s.dr[dr] = v; break;
    }
}

void exec_lmsw(Cpu& cpu, const DecodedInsn& insn) {
    require_cpl0(cpu);
    const uint64_t v = cpu.read_operand(insn, 0) & 0xf;
    // MP, EM and TS load; PE can be set but not cleared.
    const uint64_t cr = (cpu.s.cr0 & ~uint64_t(0xe)) | (v & 0xe) | (v & cr0::PE);
    write_cr0(cpu, cr);
}

void exec_smsw(Cpu& cpu, const DecodedInsn& insn) {
    cpu.write_operand(insn, 0, cpu.s.cr0 & opmask(insn.ops[0].size));
}

void exec_clts(Cpu& cpu, const DecodedInsn&) {
    require_cpl0(cpu);
    cpu.s.cr0 &= ~cr0::TS;
}

// ---------------------------------------------------------------- ARPL, LAR, LSL, VERR, VERW

void exec_arpl(Cpu& cpu, const DecodedInsn& insn) {
    require_protected(cpu);
    const uint16_t dest = uint16_t(cpu.read_operand(insn, 0));
    const uint16_t src = uint16_t(cpu.read_operand(insn, 1));
    if ((dest & 3) < (src & 3)) {
        cpu.write_operand(insn, 0, (dest & 0xfffc) | (src & 3));
        cpu.set_flag(flags::ZF, true);
    } else {
        cpu.set_flag(flags::ZF, false);
    }
}

// The descriptor a LAR/LSL/VERR/VERW selector names, without faulting:
// false for a null selector or one outside its table.
bool query_descriptor(Cpu& cpu, uint16_t sel, uint64_t* raw) {
    const CpuState& s = cpu.s;
    if ((sel & 0xfffc) == 0) return false;
    const bool ldt = sel & 4;
    if (ldt && !s.ldtr.present()) return false;
    const uint64_t base = ldt ? s.ldtr.base : s.gdtr.base;
    const uint32_t limit = ldt ? s.ldtr.limit : s.gdtr.limit;
    if (uint64_t(sel & 0xfff8u) + 7 > limit) return false;
    *raw = cpu.read_linear(GuestVirt((base + (sel & 0xfff8u)) & 0xffffffffull), 8, true);
    return true;
}

// DPL >= CPL and DPL >= RPL, except for conforming code.
bool visible(const Cpu& cpu, uint16_t sel, const SegmentCache& c) {
    if (c.conforming()) return true;
    return c.dpl() >= cpu.s.cpl && c.dpl() >= (sel & 3u);
}

void exec_lar(Cpu& cpu, const DecodedInsn& insn) {
    require_protected(cpu);
    const uint16_t sel = uint16_t(cpu.read_operand(insn, 1));
    uint64_t raw;
    bool ok = query_descriptor(cpu, sel, &raw);
    if (ok) {
        const SegmentCache c = Cpu::cache_from_descriptor(sel, raw);
        if (c.is_system()) {
            switch (c.type()) {
            case 1: case 2: case 3: case 4: case 5: case 9: case 11: case 12: break;
            default: ok = false; break;
            }
        }
        ok = ok && visible(cpu, sel, c);
    }
    cpu.set_flag(flags::ZF, ok);
    if (ok) {
        const uint32_t hi = uint32_t(raw >> 32);
        cpu.write_operand(insn, 0, insn.ops[0].size == 2 ? (hi & 0xff00) : (hi & 0x00ffff00));
    }
}

void exec_lsl(Cpu& cpu, const DecodedInsn& insn) {
    require_protected(cpu);
    const uint16_t sel = uint16_t(cpu.read_operand(insn, 1));
    uint64_t raw;
    bool ok = query_descriptor(cpu, sel, &raw);
    SegmentCache c;
    if (ok) {
        c = Cpu::cache_from_descriptor(sel, raw);
        if (c.is_system()) {
            switch (c.type()) {
            case 1: case 2: case 3: case 9: case 11: break;
            default: ok = false; break;
            }
        }
        ok = ok && visible(cpu, sel, c);
    }
    cpu.set_flag(flags::ZF, ok);
    if (ok) cpu.write_operand(insn, 0, c.limit & opmask(insn.ops[0].size));
}

void exec_verr(Cpu& cpu, const DecodedInsn& insn) {
    require_protected(cpu);
    const uint16_t sel = uint16_t(cpu.read_operand(insn, 0));
    uint64_t raw;
    bool ok = query_descriptor(cpu, sel, &raw);
    if (ok) {
        const SegmentCache c = Cpu::cache_from_descriptor(sel, raw);
        ok = !c.is_system() && c.readable() && visible(cpu, sel, c);
    }
    cpu.set_flag(flags::ZF, ok);
}

void exec_verw(Cpu& cpu, const DecodedInsn& insn) {
    require_protected(cpu);
    const uint16_t sel = uint16_t(cpu.read_operand(insn, 0));
    uint64_t raw;
    bool ok = query_descriptor(cpu, sel, &raw);
    if (ok) {
        const SegmentCache c = Cpu::cache_from_descriptor(sel, raw);
        ok = c.writable() && visible(cpu, sel, c);
    }
    cpu.set_flag(flags::ZF, ok);
}

// ---------------------------------------------------------------- CPUID, TSC, MSRs

constexpr uint32_t kCpuidMaxBasic = 2;
constexpr uint32_t kCpuidMaxExtended = 0x80000004;
constexpr uint32_t kCpuidSignature = 0x00000633;  // family 6, model 3, stepping 3 (the reset EDX)
// Leaf 1 EDX: exactly what is implemented: FPU, PSE, TSC, MSR, PAE, CX8, PGE,
// CMOV, FXSR.
constexpr uint32_t kCpuidFeatures = (1u << 0) | (1u << 3) | (1u << 4) | (1u << 5) | (1u << 6) | (1u << 8) |
                                    (1u << 13) | (1u << 15) | (1u << 24);
// Leaf 0x80000001 EDX: NX (EFER.NXE).
constexpr uint32_t kCpuidExtFeatures = 1u << 20;

void cpuid_leaf(uint32_t leaf, uint32_t out[4]) {
    out[0] = out[1] = out[2] = out[3] = 0;
    static const char kBrand[48] = "nomad86 virtual CPU";
    if (leaf >= 0x80000000u) {
        if (leaf > kCpuidMaxExtended) {
            cpuid_leaf(kCpuidMaxBasic, out);  // Intel: the highest basic leaf's data
            return;
        }
        if (leaf == 0x80000000u) out[0] = kCpuidMaxExtended;
        if (leaf == 0x80000001u) out[3] = kCpuidExtFeatures;
        if (leaf >= 0x80000002u) memcpy(out, kBrand + 16 * (leaf - 0x80000002u), 16);
        return;
    }
    if (leaf > kCpuidMaxBasic) leaf = kCpuidMaxBasic;
    switch (leaf) {
    case 0:
        out[0] = kCpuidMaxBasic;
        memcpy(&out[1], "Genu", 4);
        memcpy(&out[3], "ineI", 4);
        memcpy(&out[2], "ntel", 4);
        break;
    case 1:
        out[0] = kCpuidSignature;
        out[3] = kCpuidFeatures;
        break;
    default:  // leaf 2: one round; no cache descriptors beyond "no L2/L3" (0x40)
        out[0] = 0x00000001u;
        out[3] = 0x00000040u;
        break;
    }
}

void exec_cpuid(Cpu& cpu, const DecodedInsn&) {
    uint32_t r[4];
    cpuid_leaf(uint32_t(cpu.reg(kRax, 4)), r);
    cpu.set_reg(kRax, 4, r[0]);
    cpu.set_reg(kRbx, 4, r[1]);
    cpu.set_reg(kRcx, 4, r[2]);
    cpu.set_reg(kRdx, 4, r[3]);
}

void exec_rdtsc(Cpu& cpu, const DecodedInsn&) {
    if ((cpu.s.cr4 & cr4::TSD) && cpu.s.protected_mode() && (cpu.s.v86_mode() || cpu.s.cpl != 0))
        cpu.raise(kGP, 0);
    const uint64_t tsc = cpu.read_tsc();
    cpu.set_reg(kRax, 4, tsc & 0xffffffffull);
    cpu.set_reg(kRdx, 4, tsc >> 32);
}

[[noreturn]] void unknown_msr(Cpu& cpu, const char* op, uint32_t index) {
    if (cpu.log().enabled(kLogUnimp))
        cpu.log().log(kLogUnimp, "unimp: %s of MSR %08x raises #GP\n", op, index);
    cpu.raise(kGP, 0);
}

bool valid_memory_type(unsigned t) { return t == 0 || t == 1 || t == 4 || t == 5 || t == 6 || t == 7; }

void exec_rdmsr(Cpu& cpu, const DecodedInsn&) {
    require_cpl0(cpu);
    const uint32_t index = uint32_t(cpu.reg(kRcx, 4));
    const MsrFile& m = cpu.s.msr;
    uint64_t v;
    switch (index) {
    case 0x10: v = cpu.read_tsc(); break;
    case 0x1b: v = m.apic_base; break;
    case 0x8b: v = 0; break;  // IA32_BIOS_SIGN_ID: no microcode update loaded
    case 0x174: v = m.sysenter_cs; break;
    case 0x175: v = m.sysenter_esp; break;
    case 0x176: v = m.sysenter_eip; break;
    case 0x1a0: v = m.misc_enable; break;
    case 0x277: v = m.pat; break;
    case 0x2ff: v = m.mtrr_def_type; break;
    case 0xc0000080: v = cpu.s.efer; break;
    default: unknown_msr(cpu, "RDMSR", index);
    }
    cpu.set_reg(kRax, 4, v & 0xffffffffull);
    cpu.set_reg(kRdx, 4, v >> 32);
}

void exec_wrmsr(Cpu& cpu, const DecodedInsn&) {
    require_cpl0(cpu);
    const uint32_t index = uint32_t(cpu.reg(kRcx, 4));
    const uint64_t v = (cpu.reg(kRdx, 4) << 32) | cpu.reg(kRax, 4);
    MsrFile& m = cpu.s.msr;
    switch (index) {
    case 0x10: m.tsc_offset += v - cpu.read_tsc(); break;
    case 0x1b:
        // BSP (8), global enable (11), base (12-35).
        if (v & ~0xffffff900ull) cpu.raise(kGP, 0);
        m.apic_base = v;
        break;
    case 0x8b: break;  // IA32_BIOS_SIGN_ID: software writes 0 before CPUID to read the revision
    case 0x174: m.sysenter_cs = v & 0xffff; break;
    case 0x175: m.sysenter_esp = v; break;
    case 0x176: m.sysenter_eip = v; break;
    case 0x1a0: m.misc_enable = v; break;
    case 0x277:
        for (int i = 0; i < 8; i++)
            if (!valid_memory_type(unsigned(v >> (8 * i)) & 0xff)) cpu.raise(kGP, 0);
        m.pat = v;
        break;
    case 0x2ff:
        // Default type (0-7: UC, WC, WT, WP, WB; UC- is PAT only), FE (10), E (11).
        if ((v & ~0xcffull) || !valid_memory_type(unsigned(v & 0xff)) || (v & 0xff) == 7) cpu.raise(kGP, 0);
        m.mtrr_def_type = v;
        break;
    case 0xc0000080: {
        // Only NXE is implemented (no SYSCALL or long mode advertised).
        constexpr uint64_t kEferWritable = efer::NXE;
        if (v & ~kEferWritable) cpu.raise(kGP, 0);
        if ((cpu.s.efer ^ v) & efer::NXE) {
            cpu.tlb().flush_all();  // NXE is folded into the TLB's execute tags
            cpu.end_block();
        }
        cpu.s.efer = v;
        break;
    }
    default: unknown_msr(cpu, "WRMSR", index);
    }
}

void exec_cache_op(Cpu& cpu, const DecodedInsn&) { require_cpl0(cpu); }  // INVD, WBINVD: no caches

void exec_invlpg(Cpu& cpu, const DecodedInsn& insn) {
    require_cpl0(cpu);
    // The operand is not accessed: no segment checks, no fault.
    const Operand& op = insn.ops[0];
    const uint64_t linear = (cpu.s.seg[op.seg].base + cpu.effective_address(insn, op)) & 0xffffffffull;
    cpu.tlb().flush_page(linear);
    cpu.end_block();
}

void exec_ud(Cpu& cpu, const DecodedInsn&) { cpu.raise(kUD); }

}  // namespace

// MOV to/from CRn/DRn (0F 20-23) shares ZYDIS_MNEMONIC_MOV with the data
// moves; the block decoder routes those forms here.
void exec_mov_control_debug(Cpu& cpu, const DecodedInsn& insn) {
    const bool cr = insn.ops[0].reg_class == RegClass::kCr || insn.ops[1].reg_class == RegClass::kCr;
    if (cr) exec_mov_cr(cpu, insn);
    else exec_mov_dr(cpu, insn);
}

void register_system_handlers(HandlerTable& t) {
    t[ZYDIS_MNEMONIC_HLT] = exec_hlt;
    t[ZYDIS_MNEMONIC_CLI] = exec_cli;
    t[ZYDIS_MNEMONIC_STI] = exec_sti;
    t[ZYDIS_MNEMONIC_IN] = exec_in;
    t[ZYDIS_MNEMONIC_OUT] = exec_out;
    t[ZYDIS_MNEMONIC_LGDT] = exec_lgdt;
    t[ZYDIS_MNEMONIC_LIDT] = exec_lidt;
    t[ZYDIS_MNEMONIC_SGDT] = exec_sgdt;
    t[ZYDIS_MNEMONIC_SIDT] = exec_sidt;
    t[ZYDIS_MNEMONIC_LLDT] = exec_lldt;
    t[ZYDIS_MNEMONIC_SLDT] = exec_sldt;
    t[ZYDIS_MNEMONIC_LTR] = exec_ltr;
    t[ZYDIS_MNEMONIC_STR] = exec_str;
    t[ZYDIS_MNEMONIC_LMSW] = exec_lmsw;
    t[ZYDIS_MNEMONIC_SMSW] = exec_smsw;
    t[ZYDIS_MNEMONIC_CLTS] = exec_clts;
    t[ZYDIS_MNEMONIC_ARPL] = exec_arpl;
    t[ZYDIS_MNEMONIC_LAR] = exec_lar;
    t[ZYDIS_MNEMONIC_LSL] = exec_lsl;
    t[ZYDIS_MNEMONIC_VERR] = exec_verr;
    t[ZYDIS_MNEMONIC_VERW] = exec_verw;
    t[ZYDIS_MNEMONIC_CPUID] = exec_cpuid;
    t[ZYDIS_MNEMONIC_RDTSC] = exec_rdtsc;
    t[ZYDIS_MNEMONIC_RDMSR] = exec_rdmsr;
    t[ZYDIS_MNEMONIC_WRMSR] = exec_wrmsr;
    t[ZYDIS_MNEMONIC_INVD] = exec_cache_op;
    t[ZYDIS_MNEMONIC_WBINVD] = exec_cache_op;
    t[ZYDIS_MNEMONIC_INVLPG] = exec_invlpg;
    t[ZYDIS_MNEMONIC_UD0] = exec_ud;
    t[ZYDIS_MNEMONIC_UD1] = exec_ud;
    t[ZYDIS_MNEMONIC_UD2] = exec_ud;
}

}  // namespace nomad86
