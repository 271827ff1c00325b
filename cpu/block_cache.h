// The decoded-block cache, keyed by guest-physical address plus decode mode
// (after Bochs' icache: blocks are found by where their bytes live, so two
// virtual aliases of one page share them, and a write to the page finds them).
//
// A block is registered on every page it was decoded from; those pages are
// marked as code in the memory map, and the first write to such a page calls
// code_page_written(), which retires all blocks of the page. Retired blocks
// are freed only at the next instruction boundary, because the block being
// executed may be among them.
#pragma once
#include <array>
#include <functional>
#include <memory>
#include <unordered_map>
#include <vector>

#include "cpu/decoded_block.h"
#include "mmu/phys_memory.h"

namespace nomad86 {

class BlockCache final : public CodeWriteListener {
public:
    explicit BlockCache(PhysicalMemory& memory);
    ~BlockCache() override;

    const DecodedBlock* find(const BlockKey& key) {
        FastEntry& e = fast_[fast_index(key)];
        if (e.block && e.key == key) return e.block;
        return find_slow(key);
    }
    // Takes ownership and registers the block's pages as code.
    const DecodedBlock* insert(std::unique_ptr<DecodedBlock> block);
    void code_page_written(uint64_t page) override;
    // Retires every block (CPU reset, tests).
    void flush();
    // Frees retired blocks; only call between instructions.
    void collect_garbage() {
        if (retired_.empty()) return;
        if (on_free_)
            for (const auto& b : retired_) on_free_(*b);
        retired_.clear();
    }
    // Called for every block just before it is freed.
    void set_free_callback(std::function<void(const DecodedBlock&)> cb) { on_free_ = std::move(cb); }
    // Called whenever blocks were retired (the CPU ends its current block).
    void set_invalidation_callback(std::function<void()> cb) { on_invalidate_ = std::move(cb); }
    size_t size() const { return blocks_.size(); }
    uint64_t invalidations() const { return invalidations_; }
    // Bumped whenever a block is retired: a pointer to a block kept beside
    // the cache (the interpreter's FetchCache) is good while it is unchanged.
    uint64_t generation() const { return generation_; }

private:
    struct FastEntry {
        BlockKey key{};
        const DecodedBlock* block = nullptr;
    };
    static constexpr size_t kFastEntries = 16384;
    static size_t fast_index(const BlockKey& key) {
        return ((key.phys >> 2) ^ (key.phys >> 14) ^ size_t(key.mode)) & (kFastEntries - 1);
    }
    static uint64_t map_key(const BlockKey& key) { return (key.phys << 2) | uint64_t(key.mode); }
    const DecodedBlock* find_slow(const BlockKey& key);
    void retire(DecodedBlock* block);

    PhysicalMemory& memory_;
    std::unordered_map<uint64_t, std::unique_ptr<DecodedBlock>> blocks_;
    std::unordered_map<uint64_t, std::vector<DecodedBlock*>> page_blocks_;
    std::vector<std::unique_ptr<DecodedBlock>> retired_;
    std::array<FastEntry, kFastEntries> fast_{};
    std::function<void()> on_invalidate_;
    std::function<void(const DecodedBlock&)> on_free_;
    uint64_t invalidations_ = 0;
    uint64_t generation_ = 0;
};

}  // namespace nomad86
