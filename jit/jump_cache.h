// The JIT's jump cache (QEMU's tb_jmp_cache): a return, whose target is
// known only at run time, looks the translated block up here by linear
// address, in generated code, and jumps straight into it instead of going
// back to the dispatcher. An entry holds while the linear page translates
// to the block's physical page: with paging on, while the TLB lets the
// entry's privilege level fetch from the page and maps it there
// (Tlb::fetches_from(), tested inline: a flush or INVLPG drops the
// translation, CR3 loads unless the page is mapped global); with paging
// off, when the two page numbers are equal. A block whose last
// instruction runs into the next page needs that page's translation
// tested too. And an entry holds only for the privilege level it was made
// at; a freed block takes its entry with it. Entries are made by the
// engine when a lookup missed and the dispatcher found the block.
#pragma once
#include <array>
#include <cstdint>

namespace nomad86::jit {

struct JumpCacheEntry {
    uint32_t linear = 0;
    uint32_t phys_page = 0;       // the block's first
    uint32_t next_phys_page = 0;  // its last, where `two_pages`
    uint8_t cpl = kNoCpl;         // kNoCpl: empty
    bool two_pages = false;
    uint16_t fast_delta = 0;       // the block's fast entry, from its chain entry
    uint32_t needs = 0xffffffffu;  // what its state checks check (entry_needs())
    uint32_t unused = 0;
    const void* code = nullptr;  // the block's chain entry
    static constexpr uint8_t kNoCpl = 0xff;
};
static_assert(sizeof(JumpCacheEntry) == 32, "generated code finds a set at its index << 6, its second way 32 bytes on");

// Two ways per set, the set's two entries in one 64-byte line: a
// direct-mapped cache let two hot return targets that share a slot evict
// each other on every pass of a loop (millions of dispatcher trips in the
// gzip benchmark), whatever the hash. The set index is Fibonacci hashing
// (the product's top bits depend on every bit of the address).
constexpr uint32_t kJumpCacheHashFactor = 0x9E3779B1u;
constexpr unsigned kJumpCacheSetBits = 12;
constexpr unsigned kJumpCacheWays = 2;
constexpr unsigned kJumpCacheEntries = kJumpCacheWays << kJumpCacheSetBits;
inline unsigned jump_cache_set(uint32_t linear) { return (linear * kJumpCacheHashFactor) >> (32 - kJumpCacheSetBits); }

// What generated code needs for chaining and the jump cache (null pointers:
// both off).
struct ChainHooks {
    const uint8_t** last_exit = nullptr;        // an unlinked chain exit's jmp
    JumpCacheEntry* jump_cache = nullptr;       // kJumpCacheEntries of them
    bool* jump_cache_missed = nullptr;          // set by a missed lookup
    uint64_t* jump_cache_hits = nullptr;
};

}  // namespace nomad86::jit
