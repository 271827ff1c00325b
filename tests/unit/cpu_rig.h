// A bench for CPU unit tests: a CPU with 2 MiB of RAM, an I/O bus and a
// manual clock, plus helpers to place code, pick a mode and run.
#pragma once
#include <initializer_list>
#include <vector>

#include "cpu/cpu.h"
#include "tests/unit/test_support.h"

namespace nomad86::test {

struct CpuRig {
    Logger log;
    IoBus io{&log};
    PhysicalMemory memory{2 * MiB};
    VirtualClock clock{VirtualClock::Mode::kManual};
    FakeControl control;
    Cpu cpu{CpuBus{memory, io, clock, log, control}};
    CpuState& s = cpu.s;

    void poke(uint64_t phys, std::initializer_list<uint8_t> bytes) {
        std::vector<uint8_t> v(bytes);
        memory.write_bytes(GuestPhys(phys), v.data(), v.size());
    }
    void poke(uint64_t phys, const std::vector<uint8_t>& v) { memory.write_bytes(GuestPhys(phys), v.data(), v.size()); }
    uint64_t peek(uint64_t phys, unsigned size) { return memory.read(GuestPhys(phys), size); }

    // Real mode with CS:IP = cs:ip and DS=ES=SS=cs, SP=0xfffe.
    void real_mode(uint16_t cs, uint16_t ip) {
        cpu.reset();
        for (int i = 0; i < kNumSegRegs; i++) {
            s.seg[i].selector = cs;
            s.seg[i].base = uint64_t(cs) << 4;
        }
        s.rip = ip;
        s.gpr[kRsp] = 0xfffe;
    }

    // 32-bit flat protected mode at CPL 0 (segment caches set directly; a
    // GDT with flat code 0x08 and data 0x10 is placed at 0x800 for tests
    // that reload segments).
    void flat32(uint32_t eip) {
        cpu.reset();
        const uint64_t gdt[] = {0, 0x00cf9b000000ffffull, 0x00cf93000000ffffull, 0x00cffb000000ffffull,
                                0x00cff3000000ffffull};
        memory.write_bytes(GuestPhys(0x800), gdt, sizeof(gdt));
        s.gdtr = {0x800, sizeof(gdt) - 1};
        s.cr0 |= cr0::PE;
        for (int i = 0; i < kNumSegRegs; i++) {
            s.seg[i].selector = 0x10;
            s.seg[i].base = 0;
            s.seg[i].limit = 0xffffffff;
            s.seg[i].attr = SegmentCache::kP | SegmentCache::kS | SegmentCache::kDB | SegmentCache::kG | 0x3;
        }
        s.seg[kCs].selector = 0x08;
        s.seg[kCs].attr = SegmentCache::kP | SegmentCache::kS | SegmentCache::kDB | SegmentCache::kG | 0xb;
        s.rip = eip;
        s.gpr[kRsp] = 0x90000;  // below the legacy hole
    }

    // Runs n steps: an instruction that retires, or one whose exception is
    // delivered (then CS:EIP is the handler's first instruction).
    void step(uint64_t n = 1) {
        for (uint64_t i = 0; i < n; i++) cpu.run(1);
    }
};

// Real mode with CS=DS=ES=SS=0x1000 and code at 1000:0100 (linear 0x10100):
// the bench of the instruction-group tests.
struct RealModeRig : CpuRig {
    static constexpr uint32_t kBase = 0x10000;
    static constexpr uint32_t kCode = kBase + 0x100;
    RealModeRig() { real_mode(0x1000, 0x100); }
    // Places `code` at 1000:0100 and runs n steps.
    void run(std::initializer_list<uint8_t> code, unsigned n = 1) {
        poke(kCode, code);
        step(n);
    }
    bool f(uint32_t fl) const { return cpu.flag(fl); }
    void setf(uint32_t on) { s.set_rflags(flags::FIXED1 | on); }
    uint32_t arith() const { return cpu.eflags() & flags::ARITH; }
    uint16_t sp() const { return uint16_t(s.gpr[kRsp]); }
    uint64_t stack(unsigned off, unsigned size = 2) { return peek(kBase + sp() + off, size); }
};

}  // namespace nomad86::test
