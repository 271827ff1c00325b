#include "cpu/cpu_state.h"

namespace nomad86 {

static void describe_segment(StateVisitor& v, const char* name, SegmentCache& seg) {
    std::string n(name);
    v.field((n + ".selector").c_str(), seg.selector);
    v.field((n + ".base").c_str(), seg.base);
    v.field((n + ".limit").c_str(), seg.limit);
    v.field((n + ".attr").c_str(), seg.attr);
}

void CpuState::describe(StateVisitor& v) {
    v.begin_section("cpu", 1);
    v.field("gpr", gpr);
    v.field("rip", rip);
    // One field in the stream, the whole register (a visitor that loads
    // other fields and leaves this one alone keeps its value).
    normalise_flags();
    v.field("rflags", system_flags);
    status_flags = system_flags;
    static const char* const kSegNames[] = {"es", "cs", "ss", "ds", "fs", "gs"};
    for (int i = 0; i < kNumSegRegs; i++) describe_segment(v, kSegNames[i], seg[i]);
    describe_segment(v, "ldtr", ldtr);
    describe_segment(v, "tr", tr);
    v.field("gdtr.base", gdtr.base);
    v.field("gdtr.limit", gdtr.limit);
    v.field("idtr.base", idtr.base);
    v.field("idtr.limit", idtr.limit);
    v.field("cr0", cr0);
    v.field("cr2", cr2);
    v.field("cr3", cr3);
    v.field("cr4", cr4);
    v.field("cr8", cr8);
    v.field("efer", efer);
    v.field("dr", dr);
    for (int i = 0; i < 8; i++) {
        std::string n = "fpu.st[" + std::to_string(i) + "]";
        v.bytes(n.c_str(), fpu.st[i].data(), fpu.st[i].size());
    }
    v.field("fpu.fcw", fpu.fcw);
    v.field("fpu.fsw", fpu.fsw);
    v.field("fpu.ftw", fpu.ftw);
    v.field("fpu.fop", fpu.fop);
    v.field("fpu.fip", fpu.fip);
    v.field("fpu.fdp", fpu.fdp);
    v.field("fpu.fcs", fpu.fcs);
    v.field("fpu.fds", fpu.fds);
    v.field("msr.tsc_offset", msr.tsc_offset);
    v.field("msr.apic_base", msr.apic_base);
    v.field("msr.sysenter_cs", msr.sysenter_cs);
    v.field("msr.sysenter_esp", msr.sysenter_esp);
    v.field("msr.sysenter_eip", msr.sysenter_eip);
    v.field("msr.pat", msr.pat);
    v.field("msr.misc_enable", msr.misc_enable);
    v.field("msr.mtrr_def_type", msr.mtrr_def_type);
    v.field("msr.star", msr.star);
    v.field("msr.lstar", msr.lstar);
    v.field("msr.cstar", msr.cstar);
    v.field("msr.sfmask", msr.sfmask);
    v.field("msr.fs_base_shadow", msr.fs_base_shadow);
    v.field("msr.kernel_gs_base", msr.kernel_gs_base);
    v.field("msr.tsc_aux", msr.tsc_aux);
    v.field("cpl", cpl);
    v.field("halted", halted);
    v.field("interrupt_shadow", interrupt_shadow);
    v.end_section();
    if (v.loading() && cpl > 3) throw StateError("cpu: CPL out of range");
}

}  // namespace nomad86
