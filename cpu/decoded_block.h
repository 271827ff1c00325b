// A straight-line run of decoded instructions, keyed by the guest-physical
// address of its first byte and the mode bits that change how its bytes
// decode. Blocks never span more than one page, except for a block made of
// a single instruction whose bytes cross into the next page.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "core/types.h"
#include "cpu/insn.h"

namespace nomad86 {

// The decode mode: which Zydis machine mode the bytes are read in.
enum class DecodeMode : uint8_t { kReal16 = 0, kProt16 = 1, kProt32 = 2 };

struct BlockKey {
    uint64_t phys;
    DecodeMode mode;
    bool operator==(const BlockKey&) const = default;
};

struct DecodedBlock {
    BlockKey key;
    // The guest pages whose bytes this block was decoded from (second is
    // the same as the first unless an instruction crosses a page).
    uint64_t first_page = 0;
    uint64_t last_page = 0;
    std::vector<DecodedInsn> insns;
    uint32_t bytes = 0;  // the instructions' total length
    // Owned by the block executor (the JIT): its translation of this block
    // and how often the block ran before it was worth translating. The
    // block cache tells the executor before it frees the block.
    mutable void* host_code = nullptr;
    mutable uint32_t host_code_size = 0;
    mutable uint32_t chain_entry = 0;  // offset of the entry chained jumps take
    // Offset of the entry past the translation's state checks, and what
    // those checks check (jit::entry_needs() bits; all ones: everything).
    mutable uint32_t fast_entry = 0;
    mutable uint32_t fast_entry_needs = 0xffffffffu;
    // Offset of the entry past those checks and the reloads of its host
    // copies of guest registers, and which copies those are (jit::CacheMap).
    mutable uint32_t warm_entry = 0;
    mutable uint32_t cache_map = 0xfffff;
    mutable int32_t jump_cache_slot = -1;  // the JIT's jump cache slot naming it
    mutable uint32_t runs = 0;
    // Set when translation failed: the interpreter runs the block.
    mutable bool untranslatable = false;
    // The JIT's superblock: copies of the blocks that follow this one on its
    // page, each reached when the branch ending the one before falls
    // through; one translation runs them all, and they live as long as it
    // does (its helper calls point into their instructions). A write to the
    // page retires this block, and them with it.
    mutable std::vector<std::unique_ptr<DecodedBlock>> jit_tail;
};

}  // namespace nomad86
