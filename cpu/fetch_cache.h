// The interpreter's way from a linear EIP to its decoded block without a
// page walk or a hash probe (QEMU's tb_jmp_cache, for the interpreter's
// dispatch loop; the JIT has its own in generated code).
//
// An entry holds while everything its lookup depended on is unchanged: the
// TLB's translation of its page, for fetches at this privilege, to the
// block's physical page (Tlb::fetches_from(): a flush drops it, CR3 loads
// only for a page not mapped global), the block cache's generation (every
// retired block bumps it, so a freed block is never returned), the
// privilege level, the decode mode, paging on or off and the A20 gate.
// A block with an instruction that crosses into the next page holds while
// that page's translation is its last page too.
#pragma once
#include <array>
#include <cstdint>

#include "cpu/decoded_block.h"
#include "mmu/tlb.h"

namespace nomad86 {

// What a lookup depended on, besides the linear address and the TLB.
struct FetchCacheStamp {
    uint8_t cpl;
    DecodeMode mode;
    bool a20;
    bool paging;
    uint64_t block_generation;
    bool operator==(const FetchCacheStamp&) const = default;
};

class FetchCache {
public:
    using Stamp = FetchCacheStamp;

    // (Found valid after a flush, an entry is good again until the next:
    // the common case, no flush since, costs no TLB probe.)
    const DecodedBlock* find(uint32_t linear, const Stamp& stamp, const Tlb& tlb) {
        Entry& e = entries_[index(linear)];
        if (!(e.block && e.linear == linear && e.stamp == stamp)) return nullptr;
        if (!stamp.paging || e.tlb_flushes == tlb.flushes()) [[likely]]
            return e.block;
        const bool user = stamp.cpl == 3;
        if (!tlb.fetches_from(linear, user, e.block->first_page)) return nullptr;
        if (e.block->last_page != e.block->first_page &&
            !tlb.fetches_from(uint64_t(linear) + kPageSize, user, e.block->last_page))
            return nullptr;
        e.tlb_flushes = tlb.flushes();
        return e.block;
    }
    // `block` was found through the TLB just now.
    void insert(uint32_t linear, const Stamp& stamp, const DecodedBlock* block, const Tlb& tlb) {
        entries_[index(linear)] = Entry{linear, tlb.flushes(), stamp, block};
    }

private:
    struct Entry {
        uint32_t linear = 0;
        uint32_t tlb_flushes = 0;  // Tlb::flushes() when it was last found valid
        Stamp stamp{};
        const DecodedBlock* block = nullptr;
    };
    static constexpr unsigned kEntries = 4096;
    static unsigned index(uint32_t linear) { return (linear ^ (linear >> 12)) & (kEntries - 1); }

    std::array<Entry, kEntries> entries_{};
};

}  // namespace nomad86
