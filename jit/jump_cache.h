// The JIT's jump cache (QEMU's tb_jmp_cache): a return, whose target is
// known only at run time, looks the translated block up here by linear
// address, in generated code, and jumps straight into it instead of going
// back to the dispatcher. An entry holds while the TLB generation of its
// page (Tlb::generations(): bumped by INVLPG and paging mode changes, and by
// CR3 loads unless the page is mapped global) is the one it was made under,
// and only for the privilege level it was made at (page
// permissions differ); a freed block takes its entry with it. Entries are
// made by the engine when a lookup missed and the dispatcher found the block.
#pragma once
#include <array>
#include <cstdint>

namespace nomad86::jit {

struct JumpCacheEntry {
    uint32_t linear = 0;
    uint32_t tlb_generation = 0;
    uint8_t cpl = kNoCpl;  // kNoCpl: empty
    uint8_t generation_index = 0;  // which of Tlb::generations() tlb_generation is of
    uint16_t fast_delta = 0;        // the block's fast entry, from its chain entry
    uint32_t needs = 0xffffffffu;   // what its state checks check (entry_needs())
    const void* code = nullptr;   // the block's chain entry
    const void* block = nullptr;  // the DecodedBlock, to clear its slot
    static constexpr uint8_t kNoCpl = 0xff;
};
static_assert(sizeof(JumpCacheEntry) == 32, "generated code indexes entries by shifting by 5");

constexpr unsigned kJumpCacheEntries = 4096;

inline unsigned jump_cache_index(uint32_t linear) { return (linear ^ (linear >> 12)) & (kJumpCacheEntries - 1); }

// What generated code needs for chaining and the jump cache (null pointers:
// both off).
struct ChainHooks {
    const uint8_t** last_exit = nullptr;        // an unlinked chain exit's jmp
    JumpCacheEntry* jump_cache = nullptr;       // kJumpCacheEntries of them
    bool* jump_cache_missed = nullptr;          // set by a missed lookup
    uint64_t* jump_cache_hits = nullptr;
};

}  // namespace nomad86::jit
