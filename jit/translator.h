// Decoded block -> host x86-64 code, with asmjit.
//
// The generated function runs one whole block against the CPU state:
//
//     void block(Cpu* cpu, CpuState* s);
//
// rbx holds the CpuState, rbp the Cpu; r14 the EIP the block was entered
// at (blocks are keyed by physical address, so the same code serves every
// virtual alias and CS base: EIP-relative values are computed from it),
// r13 the guest's flags and r15 the step counter, all three carried into
// the next block by a chained jump (EIP and the flags reach CpuState only
// where the dispatcher will read them: an unlinked exit, a failed entry
// check). Up to five guest registers read often in a block have copies
// in host registers: written back to CpuState only before what reads it
// there (a call, a slow path's helper step, an exit), reloaded after
// every call.
//
// A block with inline memory accesses is translated for the CPL, paging
// mode and flat segments of its first run; its entry checks them once and
// refuses (the interpreter runs it) when they differ, so that each access
// skips those checks.
//
// Each guest instruction is either emitted inline (integer work whose
// semantics are the host's own instruction: MOV, the ALU group, shifts,
// multiplies, DIV, XCHG, LEA, MOVZX/MOVSX, near branches, calls, returns,
// PUSH/POP, RDTSC, the flag instructions; see form_of() in translator.cpp)
// or becomes a call to jit_step(), which is one step of the interpreter for
// that instruction (cpu/cpu.cpp), so the two engines cannot drift apart.
// A memory access whose fast path does not apply (a TLB miss, a fault to
// come, MMIO, a page holding code, an unusual segment) runs the whole
// instruction as a helper step instead, out of line, as does an inline
// instruction that would fault (#DE, a target beyond the CS limit). String
// and system instructions are helper calls; a helper that stops the block
// (exception delivered, events pending) makes the block return at once
// with the state exactly as the interpreter leaves it.
//
// Chaining (after QEMU's goto_tb, within a page): a branch whose target is
// in the same physical page ends in a `jmp rel32` that first leaves the
// block, noting its own address; the engine then patches it to jump to the
// target block's chain entry. Blocks of a page are retired together (a
// write to the page, a flush), so a chain never outlives its target. Every
// entry checks the run's step budget (0 while events are pending, so one
// compare covers both) and the CS limit, so a chained loop still stops for
// interrupts and timers. A return looks its
// target up in the jump cache (jit/jump_cache.h) and jumps there directly.
//
// Guest flags live in a host register (r13) while a block runs, and in
// CpuState (status_flags and system_flags) outside it: stored before every helper call and exit,
// reloaded after a helper. An inline instruction computes them with the
// host's own instruction and leaves them in the host's EFLAGS; they are
// captured into r13 only when code that clobbers EFLAGS or reads r13
// comes (a call, an exit, an access's TLB check unless BMI2 lets it
// leave EFLAGS alone), and not at all when the next writer overwrites
// them first with only EFLAGS-neutral code between (MOV, LEA, loads and
// stores, the shifts that take flags in). A Jcc, SETcc, CMOVcc
// or ADC whose flags are still in EFLAGS tests them there. A flag-liveness
// pass over the block says which flags a later reader could see, and
// skips computing them at all for shifts and IMUL whose flags are dead.
// Helpers and the block's exit read every flag.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <array>
#include <map>

#include <Zydis/Zydis.h>
#include <asmjit/x86.h>

#include "cpu/decoded_block.h"
#include "jit/jump_cache.h"

namespace nomad86 {
class Cpu;
struct CpuState;
}

namespace nomad86::jit {

// Returns 1 when the block did not start (its checks on entry failed:
// events pending, budget spent, CS limit), else 0.
using BlockFn = uint32_t (*)(Cpu* cpu, void* state);

// Bumped by generated code and helpers; owned by the engine.
struct RuntimeCounters {
    uint64_t helper_insns = 0;  // guest instructions run through jit_step()
    // x87 instructions run by a direct call of their handler
    // (Cpu::x87_direct_for_jit), not counted as helper steps.
    uint64_t x87_direct_insns = 0;
    // Inline accesses (and stack runs' checks) that missed the TLB's
    // first way and asked for a refill, and those the refill declined:
    // on to jit_step() (a run: to its ordinary copy; a run's stretch that
    // crosses a page is always declined).
    uint64_t tlb_refills = 0, tlb_refills_declined = 0;
    // The same by mnemonic (ZydisMnemonic), for `info jit`.
    std::array<uint64_t, ZYDIS_MNEMONIC_MAX_VALUE + 1> helper_by_mnemonic{};
};

// What a block is translated for and its entry checks (then) establish:
// the CS is flat (base 0, limit 4 GiB: the block lies inside it), and, for
// a block with inline memory accesses (`checked`), the CPL, the paging
// mode and which segments are flat. A block exit whose block ran no helper
// step leaves the state as its entry found it; a chained jump from there
// may enter a target whose needs that state implies past the target's
// checks (fast_entry).
struct EntryState {
    bool known = false;  // false: nothing established
    bool checked = false;
    bool paging = false;
    uint8_t cpl = 0;
    uint8_t flat_segments = 0;  // bit per SegReg
};
// EntryState as bits, so that generated code can test an implication with
// one AND: `have` implies everything `need` checks exactly when
// entry_needs(need) & ~entry_allows(have) is zero (the paging mode and the
// CPL are one-hot, so equal values are what passes).
inline uint32_t entry_bits(const EntryState& s) {
    if (!s.checked) return 1u << 13;
    return (1u << 13) | (1u << 12) | (s.paging ? 1u << 6 : 1u << 7) | (1u << (8 + (s.cpl & 3))) | s.flat_segments;
}
inline uint32_t entry_needs(const EntryState& need) { return need.known ? entry_bits(need) : 0xffffffffu; }
inline uint32_t entry_allows(const EntryState& have) { return have.known ? entry_bits(have) : 0; }
// Whether `have` satisfies checks described by entry_needs() bits.
inline bool entry_satisfies(const EntryState& have, uint32_t needs) { return (needs & ~entry_allows(have)) == 0; }
// Set in entry_bits_now() when CS is flat (base 0, 4 GiB limit).
constexpr uint32_t kEntryCsFlat = 1u << 14;
// The entry_bits() of the CPU's state now (every segment that is flat),
// plus kEntryCsFlat: what Cpu::executor_mode_bits() holds while generated
// code runs, so that an entry's checks are one test against it.
uint32_t entry_bits_now(const CpuState& s);

// Which guest register each of a translation's host copies holds: 4 bits
// per copy (BlockEmitter::kCacheRegs, in order), 0-7 or 0xf for none. The
// copies equal their CpuState slots at every exit (write-back caching:
// an exit writes back the dirty ones and keeps them), so a chained jump
// into a block whose every copy is one the jumping block holds in the same
// host register may skip the target's reloads (its warm entry).
using CacheMap = uint32_t;
constexpr CacheMap kNoCopies = 0xfffff;
inline bool cache_map_carries(CacheMap from, CacheMap to) {
    for (unsigned k = 0; k < 5; k++) {
        const unsigned want = (to >> (4 * k)) & 0xf;
        if (want != 0xf && want != ((from >> (4 * k)) & 0xf)) return false;
    }
    return true;
}

// A block exit that may be chained: a `jmp rel32` at `site_offset` that
// leaves the block until the engine patches it to jump straight into the
// block at `target_phys` (same page, same mode). `state` is what holds
// when the jump is taken, `copies` the host copies it carries.
struct ChainSite {
    uint32_t site_offset;
    uint32_t through_cache_offset;  // its way on through the jump cache (0: none)
    uint64_t target_phys;
    EntryState state;
    CacheMap copies;
};

struct Translation {
    BlockFn fn = nullptr;
    uint32_t chain_entry = 0;           // offset of the entry chained jumps take
    uint32_t fast_entry = 0;            // the entry past the state checks (see EntryState)
    uint32_t warm_entry = 0;            // past those and the copies' reloads (see CacheMap)
    CacheMap cache_map = kNoCopies;
    EntryState entry_state;
    std::vector<ChainSite> chain_sites;
    size_t code_size = 0;
    unsigned inline_insns = 0;  // static counts, for the statistics
    unsigned helper_insns = 0;
    std::string error;          // asmjit's message when fn is null
    std::string listing;        // -d out_asm text (when asked for)
};

// Whether an instruction is emitted inline (else it is a helper call).
bool translates_inline(const DecodedInsn& insn);
// Whether a block ending in `insn` may have the block after it appended in
// its translation (a superblock): a conditional jump the translator emits
// inline, whose not-taken path runs on into the next block's code.
bool falls_through_inline(const DecodedInsn& insn);

class Translator {
public:
    // `journal_stores`: inline stores also go into the memory's write
    // journal (the lockstep verifier needs every store). `hooks`: chaining
    // and the jump cache (all null: neither).
    Translator(Cpu& cpu, asmjit::JitRuntime& runtime, RuntimeCounters& counters, bool journal_stores,
               ChainHooks hooks)
        : cpu_(cpu), runtime_(runtime), counters_(counters), journal_stores_(journal_stores), hooks_(hooks) {}

    // `entry_rip` and `entry_linear` are where the block is entered now
    // (only for the listing); `bytes` are the block's guest bytes, in order.
    Translation translate(const DecodedBlock& block, const uint8_t* bytes, size_t nbytes, uint64_t entry_linear,
                          bool want_listing);

    // Code every translation calls, built once (on first use) and kept as
    // long as the runtime: what an inline access runs when it misses the
    // TLB's first way, by (store, user); and the helper step with its
    // bookkeeping, by (16-bit IP, taking back the step's retirement, an
    // instruction that keeps the entry state: see keeps_entry_state()).
    struct SharedRoutines {
        std::array<const void*, 4> refill{};
        std::array<const void*, 8> step{};
    };
    // The jump cache lookup (and, when it misses, the way out to the
    // dispatcher) that the end of a block whose entry established `key`
    // (jump_lookup_key()) jumps to with the next EIP in eax: one copy per
    // distinct key, built on first use, instead of one per block exit.
    // nullptr if it cannot be built.
    const void* jump_lookup_routine(uint32_t key);
    // Told of each shared routine built (host start, size, a name): for
    // -perfmap, which names translations too.
    void set_routine_namer(std::function<void(const void*, size_t, const std::string&)> namer) {
        routine_namer_ = std::move(namer);
    }

private:
    const void* build_refill_routine(bool write, bool user);
    const void* build_step_routine(bool ip16, bool take_back, bool keeps_entry_state);
    // Adds a routine's code to the runtime (nullptr if that fails).
    const void* add_routine(asmjit::CodeHolder& code, const std::string& name);
    std::function<void(const void*, size_t, const std::string&)> routine_namer_;

    Cpu& cpu_;
    asmjit::JitRuntime& runtime_;
    SharedRoutines routines_;
    std::map<uint32_t, const void*> jump_lookups_;  // jump_lookup_routine()'s
    RuntimeCounters& counters_;
    bool journal_stores_;
    ChainHooks hooks_;
};

}  // namespace nomad86::jit
