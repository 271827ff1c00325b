// Interrupt and exception delivery: the IVT in real mode, the IDT with gate,
// privilege and stack-switch checks in protected mode (and from V86 mode),
// and the SDM's double-fault / triple-fault escalation.
#include <array>
#include <cinttypes>

#include "cpu/cpu.h"

namespace nomad86 {


namespace {

// Reads a descriptor; the error code is (selector & 0xfffc) | ext.
uint64_t fetch_descriptor(Cpu& cpu, uint16_t selector, uint8_t vector, uint32_t ext) {
    const CpuState& s = cpu.s;
    const uint32_t offset = selector & 0xfff8u;
    const bool ldt = selector & 4;
    if (ldt && !s.ldtr.present()) cpu.raise(vector, (selector & 0xfffcu) | ext);
    const uint64_t base = ldt ? s.ldtr.base : s.gdtr.base;
    const uint32_t limit = ldt ? s.ldtr.limit : s.gdtr.limit;
    if (uint64_t(offset) + 7 > limit) cpu.raise(vector, (selector & 0xfffcu) | ext);
    return cpu.read_linear(GuestVirt((base + offset) & 0xffffffffull), 8, true);
}


void deliver_real(Cpu& cpu, uint8_t vector) {
    CpuState& s = cpu.s;
    // Bochs and the SDM: a vector beyond the IVT limit is #GP; delivering
    // that #GP through the same too-short IVT escalates to #DF and then to
    // shutdown.
    if (uint32_t(vector) * 4 + 3 > s.idtr.limit) cpu.raise(kGP, 0);
    const uint32_t entry = uint32_t(cpu.read_linear(GuestVirt((s.idtr.base + vector * 4u) & 0xffffffffull), 4, true));
    cpu.push(2, cpu.eflags() & 0xffff);
    cpu.push(2, s.seg[kCs].selector);
    cpu.push(2, s.rip & 0xffff);
    cpu.load_segment_real(kCs, uint16_t(entry >> 16));
    s.rip = entry & 0xffff;
    s.system_flags &= ~uint64_t(flags::IF | flags::TF | flags::AC);
}

void deliver_protected(Cpu& cpu, uint8_t vector, InterruptSource source, bool has_error, uint32_t error_code) {
    CpuState& s = cpu.s;
    const uint32_t ext = source == InterruptSource::kSoftware ? 0 : 1;
    const uint32_t idt_err = vector * 8u + 2 + ext;
    if (vector * 8u + 7 > s.idtr.limit) cpu.raise(kGP, idt_err);
    const uint64_t gate = cpu.read_linear(GuestVirt((s.idtr.base + vector * 8u) & 0xffffffffull), 8, true);
    const unsigned gtype = (gate >> 40) & 0x1f;  // S bit and type
    const unsigned gdpl = (gate >> 45) & 3;
    bool gate32 = false;
    switch (gtype) {
    case 0x05: break;                          // task gate
    case 0x06: case 0x07: gate32 = false; break;  // 16-bit interrupt / trap gate
    case 0x0e: case 0x0f: gate32 = true; break;   // 32-bit interrupt / trap gate
    default: cpu.raise(kGP, idt_err);
    }
    if (source == InterruptSource::kSoftware && gdpl < s.cpl) cpu.raise(kGP, vector * 8u + 2);
    if (!(gate & (1ull << 47))) cpu.raise(kNP, idt_err);
    if (gtype == 0x05) {
        if (cpu.log().enabled(kLogUnimp))
            cpu.log().log(kLogUnimp, "unimp: interrupt %02x through a task gate (task switching) raises #GP\n",
                          vector);
        cpu.raise(kGP, idt_err);
    }
    const bool trap_gate = gtype & 1;
    const uint16_t sel = uint16_t(gate >> 16);
    uint32_t offset = uint32_t(gate & 0xffff);
    if (gate32) offset |= uint32_t(gate >> 32) & 0xffff0000u;

    if ((sel & 0xfffc) == 0) cpu.raise(kGP, ext);
    const uint32_t sel_err = (sel & 0xfffcu) | ext;
    const uint64_t d = fetch_descriptor(cpu, sel, kGP, ext);
    SegmentCache cs = Cpu::cache_from_descriptor(sel, d);
    if (!cs.is_code() || cs.dpl() > s.cpl) cpu.raise(kGP, sel_err);
    if (!cs.present()) cpu.raise(kNP, sel_err);

    const bool v86 = s.v86_mode();
    const unsigned ps = gate32 ? 4 : 2;
    const uint32_t old_flags = cpu.eflags();
    const uint16_t old_cs = s.seg[kCs].selector;
    const uint32_t old_eip = uint32_t(s.rip);
    unsigned new_cpl = s.cpl;

    if (!cs.conforming() && cs.dpl() < s.cpl) {
        // Inner privilege: the stack from the TSS.
        if (v86 && cs.dpl() != 0) cpu.raise(kGP, sel_err);
        new_cpl = cs.dpl();
        uint16_t ss;
        uint32_t esp;
        SegmentCache ss_cache;
        tss_inner_stack(cpu, new_cpl, ext, &ss, &esp, &ss_cache);
        const unsigned frame = ((v86 ? 9 : 5) + (has_error ? 1 : 0)) * ps;
        const uint64_t mask = ss_cache.big() ? 0xffffffffull : 0xffffull;
        if (!ss_cache.contains((esp - frame) & mask, frame)) cpu.raise(kSS, (ss & 0xfffcu) | ext);
        if (offset > cs.limit) cpu.raise(kGP, ext);
        // Commit.
        const uint16_t old_ss = s.seg[kSs].selector;
        const uint32_t old_esp = uint32_t(s.gpr[kRsp]);
        cpu.write_descriptor_accessed(ss);
        cpu.write_descriptor_accessed(sel);
        s.seg[kSs] = ss_cache;
        if (ss_cache.big()) s.gpr[kRsp] = esp;
        else s.gpr[kRsp] = (s.gpr[kRsp] & ~0xffffull) | (esp & 0xffff);
        cpu.update_cpl(uint8_t(new_cpl));
        if (v86) {
            cpu.push(ps, s.seg[kGs].selector);
            cpu.push(ps, s.seg[kFs].selector);
            cpu.push(ps, s.seg[kDs].selector);
            cpu.push(ps, s.seg[kEs].selector);
        }
        cpu.push(ps, old_ss);
        cpu.push(ps, old_esp);
        if (v86) {
            for (SegReg r : {kEs, kDs, kFs, kGs}) s.seg[r] = SegmentCache{0, 0, 0, 0};
        }
    } else {
        if (v86) cpu.raise(kGP, sel_err);
        const unsigned frame = (3 + (has_error ? 1 : 0)) * ps;
        const uint64_t mask = cpu.stack_pointer_mask();
        if (!s.seg[kSs].present() || !s.seg[kSs].contains((s.gpr[kRsp] - frame) & mask, frame))
            cpu.raise(kSS, ext);
        if (offset > cs.limit) cpu.raise(kGP, ext);
        cpu.write_descriptor_accessed(sel);
    }
    cpu.push(ps, ps == 2 ? (old_flags & 0xffff) : old_flags);
    cpu.push(ps, old_cs);
    cpu.push(ps, ps == 2 ? (old_eip & 0xffff) : old_eip);
    if (has_error) cpu.push(ps, ps == 2 ? (error_code & 0xffff) : error_code);

    cs.selector = uint16_t((sel & 0xfffc) | new_cpl);
    cs.attr |= SegmentCache::kAccessed;
    s.seg[kCs] = cs;
    s.rip = offset;
    uint64_t clear = flags::TF | flags::NT | flags::RF | flags::VM;
    if (!trap_gate) clear |= flags::IF;
    s.system_flags &= ~clear;
}

enum class ExcClass { kBenign, kContributory, kPageFault, kDoubleFault };

ExcClass classify(int vector) {
    switch (vector) {
    case kDE: case kTS: case kNP: case kSS: case kGP: return ExcClass::kContributory;
    case kPF: return ExcClass::kPageFault;
    case kDF: return ExcClass::kDoubleFault;
    default: return ExcClass::kBenign;
    }
}

}  // namespace

void Cpu::deliver_interrupt(uint8_t vector, InterruptSource source, bool has_error, uint32_t error_code) {
    delivering_vector_ = source == InterruptSource::kException ? vector : -1;
    Logger& lg = log();
    if (lg.enabled(kLogInt)) {
        const uint64_t cs_base = s.seg[kCs].base;
        lg.log(kLogInt,
               "%6" PRIu64 ": v=%02x e=%04x i=%d cpl=%u IP=%04x:%08" PRIx64 " pc=%08" PRIx64 " SP=%04x:%08" PRIx64,
               instructions_retired(), vector, has_error ? error_code : 0, source == InterruptSource::kSoftware ? 1 : 0, s.cpl,
               s.seg[kCs].selector, s.rip, uint64_t((cs_base + s.rip) & 0xffffffffu), s.seg[kSs].selector,
               uint64_t(s.gpr[kRsp] & 0xffffffffu));
        if (vector == kPF) lg.log(kLogInt, " CR2=%08" PRIx64 "\n", s.cr2);
        else lg.log(kLogInt, " env->regs[R_EAX]=%08" PRIx64 "\n", uint64_t(s.gpr[kRax] & 0xffffffffu));
    }
    // Delivery is all or nothing for the registers: a fault part-way leaves
    // the interrupted state for the next event's delivery.
    const std::array<SegmentCache, kNumSegRegs> seg = s.seg;
    const uint64_t rip = s.rip, rsp = s.gpr[kRsp], rflags = s.rflags();
    const uint8_t cpl = s.cpl;
    try {
        if (!s.protected_mode()) deliver_real(*this, vector);
        else deliver_protected(*this, vector, source, has_error, error_code);
    } catch (const CpuException&) {
        s.seg = seg;
        s.rip = rip;
        s.gpr[kRsp] = rsp;
        s.set_rflags(rflags);
        s.cpl = cpl;
        throw;
    }
    delivering_vector_ = -1;
    s.halted = false;
    end_block();
}

void Cpu::deliver_exception(const CpuException& first) {
    CpuException e = first;
    Logger& lg = log();
    // Each failed delivery raises a contributory fault, so this settles in
    // a few rounds (#DF, then shutdown); the bound is only a safety net.
    for (int round = 0; round < 8; round++) {
        const int prev = delivering_vector_;
        if (prev >= 0) {
            const ExcClass a = classify(prev);
            const ExcClass b = classify(e.vector);
            const bool serious = b == ExcClass::kContributory || b == ExcClass::kPageFault;
            if (a == ExcClass::kDoubleFault && serious) {
                if (lg.enabled(kLogInt)) lg.log(kLogInt, "check_exception old: 0x8 new 0x%x\nTriple fault\n", e.vector);
                delivering_vector_ = -1;
                enter_shutdown();
                return;
            }
            if ((a == ExcClass::kContributory && b == ExcClass::kContributory) ||
                (a == ExcClass::kPageFault && serious)) {
                if (lg.enabled(kLogInt)) lg.log(kLogInt, "check_exception old: 0x%x new 0x%x\n", prev, e.vector);
                e = CpuException{kDF, true, 0};
            }
        }
        try {
            deliver_interrupt(e.vector, InterruptSource::kException, e.has_error, e.error_code);
            return;
        } catch (const CpuException& next) {
            e = next;
        }
    }
    if (lg.enabled(kLogInt)) lg.log(kLogInt, "Triple fault (exception delivery did not settle)\n");
    delivering_vector_ = -1;
    enter_shutdown();
}

}  // namespace nomad86
