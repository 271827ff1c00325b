// A protected-mode bench for CPU tests of control transfers, interrupts,
// segmentation and system instructions.
#pragma once
#include <initializer_list>

#include "tests/unit/cpu_rig.h"

namespace nomad86::test {

// A protected-mode bench: the rig's flat GDT (0x08/0x10 ring 0, 0x1b/0x23
// ring 3) extended with a TSS at 0x28, an IDT whose 32 exception vectors go
// to HLT stubs at 0x4000 + 16*v, and ring-0 stack 0x10:0x9000 in the TSS.
struct Pm {
    static constexpr uint64_t kGdt = 0x800, kIdt = 0x2000, kHandlers = 0x4000, kTss = 0x10000,
                              kStack = 0x80000;
    CpuRig& r;

    static uint64_t seg(uint32_t base, uint32_t limit, uint8_t access, uint8_t fl) {
        return (limit & 0xffff) | (uint64_t(base & 0xffffff) << 16) | (uint64_t(access) << 40) |
               (uint64_t((limit >> 16) & 0xf) << 48) | (uint64_t(fl & 0xf) << 52) | (uint64_t(base >> 24) << 56);
    }
    static uint64_t gate(uint16_t sel, uint32_t off, unsigned type, unsigned dpl, bool present = true,
                         unsigned params = 0) {
        return (off & 0xffff) | (uint64_t(sel) << 16) | (uint64_t(params) << 32) |
               (uint64_t((present ? 0x80 : 0) | (dpl << 5) | type) << 40) | (uint64_t(off >> 16) << 48);
    }
    void set_gdt(unsigned i, uint64_t d) { r.memory.write(GuestPhys(kGdt + 8 * i), 8, d); }
    void set_idt(unsigned v, uint64_t d) { r.memory.write(GuestPhys(kIdt + 8 * v), 8, d); }
    static uint64_t handler(unsigned v) { return kHandlers + 16 * v; }

    explicit Pm(CpuRig& rig, uint32_t eip = 0x1000) : r(rig) {
        r.flat32(eip);
        r.s.gdtr = {kGdt, 16 * 8 - 1};
        // TSS: limit covers an I/O bitmap for ports 0-0x3ff plus the 0xff byte.
        set_gdt(5, seg(kTss, 0xe8, 0x89, 0));
        r.memory.write(GuestPhys(kTss + 4), 4, 0x9000);  // ESP0
        r.memory.write(GuestPhys(kTss + 8), 2, 0x10);    // SS0
        r.memory.write(GuestPhys(kTss + 0x66), 2, 0x68);
        r.s.tr = Cpu::cache_from_descriptor(0x28, seg(kTss, 0xe8, 0x8b, 0));
        r.s.idtr = {kIdt, 32 * 8 - 1};
        for (unsigned v = 0; v < 32; v++) {
            set_idt(v, gate(0x08, uint32_t(handler(v)), 0xe, 0));
            r.poke(handler(v), {0xf4});  // HLT
        }
        r.s.set_rflags(flags::FIXED1 | flags::IF);
        r.s.gpr[kRsp] = kStack;  // the rig's 0x100000 is in the legacy hole
    }
    // CPL 3 with flat ring-3 segments.
    void user(uint32_t eip, uint32_t esp) {
        r.s.seg[kCs] = Cpu::cache_from_descriptor(0x1b, seg(0, 0xfffff, 0xfb, 0xc));
        for (SegReg s : {kSs, kDs, kEs, kFs, kGs}) r.s.seg[s] = Cpu::cache_from_descriptor(0x23, seg(0, 0xfffff, 0xf3, 0xc));
        r.s.cpl = 3;
        r.s.rip = eip;
        r.s.gpr[kRsp] = esp;
    }
    uint32_t stack(unsigned i) { return uint32_t(r.peek(r.s.gpr[kRsp] + 4 * i, 4)); }
    // After a fault the step ends at the vector's stub (its HLT not yet run);
    // after further steps the HLT has run.
    bool in_handler(unsigned v) {
        return r.s.rip == handler(v) || (r.s.rip == handler(v) + 1 && r.s.halted);
    }
};

// Runs one instruction at `at` (flat protected mode, fresh decode).
inline void place(CpuRig& r, uint64_t at, std::initializer_list<uint8_t> code) {
    r.poke(at, code);
    r.cpu.flush_decoded_blocks();
    r.s.rip = at;
}

}  // namespace nomad86::test
