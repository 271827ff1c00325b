// The architectural state of one x86 CPU, as plain data. It is x86-64 wide
// from the start (16 GPRs of 64 bits, RIP, RFLAGS, EFER) even while only
// real and protected mode execute, so long mode adds code, not layout.
#pragma once
#include <array>
#include <cstdint>

#include "core/state.h"

namespace nomad86 {

enum Gpr : uint8_t { kRax, kRcx, kRdx, kRbx, kRsp, kRbp, kRsi, kRdi, kR8, kR9, kR10, kR11, kR12, kR13, kR14, kR15 };
// Segment registers in their instruction-encoding order.
enum SegReg : uint8_t { kEs, kCs, kSs, kDs, kFs, kGs, kNumSegRegs };

namespace flags {
constexpr uint32_t CF = 1u << 0;
constexpr uint32_t FIXED1 = 1u << 1;  // always reads as 1
constexpr uint32_t PF = 1u << 2;
constexpr uint32_t AF = 1u << 4;
constexpr uint32_t ZF = 1u << 6;
constexpr uint32_t SF = 1u << 7;
constexpr uint32_t TF = 1u << 8;
constexpr uint32_t IF = 1u << 9;
constexpr uint32_t DF = 1u << 10;
constexpr uint32_t OF = 1u << 11;
constexpr uint32_t IOPL = 3u << 12;
constexpr uint32_t IOPL_SHIFT = 12;
constexpr uint32_t NT = 1u << 14;
constexpr uint32_t RF = 1u << 16;
constexpr uint32_t VM = 1u << 17;
constexpr uint32_t AC = 1u << 18;
constexpr uint32_t VIF = 1u << 19;
constexpr uint32_t VIP = 1u << 20;
constexpr uint32_t ID = 1u << 21;
constexpr uint32_t ARITH = CF | PF | AF | ZF | SF | OF;
}  // namespace flags

namespace cr0 {
constexpr uint64_t PE = 1u << 0, MP = 1u << 1, EM = 1u << 2, TS = 1u << 3, ET = 1u << 4, NE = 1u << 5;
constexpr uint64_t WP = 1u << 16, AM = 1u << 18, NW = 1u << 29, CD = 1u << 30, PG = 1u << 31;
}  // namespace cr0

namespace cr4 {
constexpr uint64_t VME = 1u << 0, PVI = 1u << 1, TSD = 1u << 2, DE = 1u << 3, PSE = 1u << 4, PAE = 1u << 5;
constexpr uint64_t MCE = 1u << 6, PGE = 1u << 7, PCE = 1u << 8, OSFXSR = 1u << 9, OSXMMEXCPT = 1u << 10;
}  // namespace cr4

// Exception vectors.
enum Vector : uint8_t {
    kDE = 0, kDB = 1, kNMI = 2, kBP = 3, kOF = 4, kBR = 5, kUD = 6, kNM = 7, kDF = 8,
    kTS = 10, kNP = 11, kSS = 12, kGP = 13, kPF = 14, kMF = 16, kAC = 17, kMC = 18, kXM = 19,
};

// A segment register with its hidden descriptor cache. `attr` uses the
// descriptor's access byte in bits 0-7 (type 0-3, S 4, DPL 5-6, P 7) and the
// flags nibble in bits 12-15 (AVL 12, L 13, D/B 14, G 15), the layout VMX uses.
// `limit` is already expanded by granularity.
struct SegmentCache {
    uint16_t selector = 0;
    uint64_t base = 0;
    uint32_t limit = 0xffff;
    uint16_t attr = 0;

    static constexpr uint16_t kTypeMask = 0x0f;
    static constexpr uint16_t kAccessed = 0x01;
    static constexpr uint16_t kS = 1u << 4;
    static constexpr uint16_t kP = 1u << 7;
    static constexpr uint16_t kL = 1u << 13;
    static constexpr uint16_t kDB = 1u << 14;
    static constexpr uint16_t kG = 1u << 15;

    unsigned type() const { return attr & kTypeMask; }
    unsigned dpl() const { return (attr >> 5) & 3; }
    bool present() const { return attr & kP; }
    bool is_system() const { return !(attr & kS); }
    bool is_code() const { return (attr & kS) && (type() & 8); }
    bool is_data() const { return (attr & kS) && !(type() & 8); }
    bool conforming() const { return is_code() && (type() & 4); }
    bool readable() const { return !is_code() || (type() & 2); }   // data is always readable
    bool writable() const { return is_data() && (type() & 2); }
    bool expand_down() const { return is_data() && (type() & 4); }
    bool big() const { return attr & kDB; }   // D/B: 32-bit code / stack, 4 GiB expand-down upper bound
    // True when [offset, offset+size) lies inside the segment's limit: up to
    // `limit` for expand-up, above it (to 64 KiB or 4 GiB by B) for expand-down.
    bool contains(uint64_t offset, unsigned size) const {
        const uint64_t last = offset + size - 1;
        if (expand_down()) return offset > limit && last <= (big() ? 0xffffffffull : 0xffffull);
        return last <= limit;
    }
};

struct DescriptorTableReg {
    uint64_t base = 0;
    uint16_t limit = 0xffff;
};

// x87 state in its architectural form (issue-level detail lives in the x87 unit).
struct FpuState {
    std::array<std::array<uint8_t, 10>, 8> st{};  // physical registers R0-R7, 80-bit extended
    uint16_t fcw = 0x037f;
    uint16_t fsw = 0;
    uint16_t ftw = 0xffff;  // full tag word: 11 = empty
    uint16_t fop = 0;
    uint64_t fip = 0, fdp = 0;
    uint16_t fcs = 0, fds = 0;
};

// Model-specific registers the CPU implements; an index outside this set
// raises #GP(0) in RDMSR/WRMSR.
struct MsrFile {
    uint64_t tsc_offset = 0;        // IA32_TIME_STAMP_COUNTER = host-derived ticks + offset
    uint64_t apic_base = 0xfee00900;
    uint64_t sysenter_cs = 0, sysenter_esp = 0, sysenter_eip = 0;
    uint64_t pat = 0x0007040600070406ull;
    uint64_t misc_enable = 1;       // fast strings
    uint64_t mtrr_def_type = 0;
    uint64_t star = 0, lstar = 0, cstar = 0, sfmask = 0;
    uint64_t fs_base_shadow = 0, kernel_gs_base = 0;
    uint64_t tsc_aux = 0;
};

namespace efer {
constexpr uint64_t SCE = 1u << 0, LME = 1u << 8, LMA = 1u << 10, NXE = 1u << 11;
}

struct CpuState {
    std::array<uint64_t, 16> gpr{};
    uint64_t rip = 0;
    // EFLAGS, kept in two words so that an instruction that sets all six
    // status flags (CF PF AF ZF SF OF) stores them without loading the
    // other bits first. With one word, every ALU instruction read, merged
    // and stored it, and the next one waited for that store to forward:
    // about 8 host cycles per guest instruction in the interpreter, half
    // of an ALU instruction's cost. `status_flags` holds the status flags
    // (its other bits mean nothing); `system_flags` holds DF, the system
    // flags and the fixed bit (its status bits mean nothing). Read the
    // whole register with rflags(), write it with set_rflags().
    uint64_t system_flags = flags::FIXED1;
    uint64_t status_flags = 0;
    std::array<SegmentCache, kNumSegRegs> seg{};
    DescriptorTableReg gdtr, idtr;
    SegmentCache ldtr, tr;
    uint64_t cr0 = cr0::ET, cr2 = 0, cr3 = 0, cr4 = 0, cr8 = 0;
    uint64_t efer = 0;
    std::array<uint64_t, 8> dr{};
    FpuState fpu;
    MsrFile msr;
    uint8_t cpl = 0;
    bool halted = false;
    // Interrupts are inhibited for one instruction after STI, MOV SS and POP SS.
    bool interrupt_shadow = false;

    bool protected_mode() const { return cr0 & cr0::PE; }
    uint64_t rflags() const { return (system_flags & ~uint64_t(flags::ARITH)) | (status_flags & flags::ARITH); }
    void set_rflags(uint64_t value) { system_flags = status_flags = value; }
    // Both words hold the whole register (snapshots and comparisons of
    // states see one representation of one value).
    void normalise_flags() { set_rflags(rflags()); }
    bool v86_mode() const { return system_flags & flags::VM; }
    bool real_mode() const { return !protected_mode(); }
    unsigned iopl() const { return (system_flags >> flags::IOPL_SHIFT) & 3; }

    void describe(StateVisitor& v);
};

}  // namespace nomad86
