// The interpreter's way from a linear EIP to its decoded block without a
// TLB lookup or a hash probe (QEMU's tb_jmp_cache, for the interpreter's
// dispatch loop; the JIT has its own in generated code).
//
// An entry holds while everything its lookup depended on is unchanged: the
// TLB generation of its page (Tlb::generations(): every flush bumps it, CR3
// loads only for a page not mapped global), the block cache's generation
// (every retired block bumps it, so a freed block is never returned), the
// privilege level (page permissions differ), the decode mode and the A20
// gate. Blocks with an instruction that crosses into a second page are
// never entered here: the mapping of their second page is checked on every
// lookup.
#pragma once
#include <array>
#include <cstdint>

#include "cpu/decoded_block.h"

namespace nomad86 {

// What a lookup depended on, besides the linear address and the TLB.
struct FetchCacheStamp {
    uint8_t cpl;
    DecodeMode mode;
    bool a20;
    uint64_t block_generation;
    bool operator==(const FetchCacheStamp&) const = default;
};

class FetchCache {
public:
    using Stamp = FetchCacheStamp;

    // `tlb_generations`: Tlb::generations().
    const DecodedBlock* find(uint32_t linear, const Stamp& stamp, const uint32_t* tlb_generations) const {
        const Entry& e = entries_[index(linear)];
        if (e.block && e.linear == linear && e.tlb_generation == tlb_generations[e.generation_index] &&
            e.stamp == stamp) [[likely]]
            return e.block;
        return nullptr;
    }
    // `generation_index`: Tlb::generation_index() of the block's page.
    void insert(uint32_t linear, const Stamp& stamp, const uint32_t* tlb_generations, unsigned generation_index,
                const DecodedBlock* block) {
        if (block->first_page != block->last_page) return;
        entries_[index(linear)] =
            Entry{linear, tlb_generations[generation_index], uint8_t(generation_index), stamp, block};
    }

private:
    struct Entry {
        uint32_t linear = 0;
        uint32_t tlb_generation = 0;
        uint8_t generation_index = 0;
        Stamp stamp{};
        const DecodedBlock* block = nullptr;
    };
    static constexpr unsigned kEntries = 4096;
    static unsigned index(uint32_t linear) { return (linear ^ (linear >> 12)) & (kEntries - 1); }

    std::array<Entry, kEntries> entries_{};
};

}  // namespace nomad86
