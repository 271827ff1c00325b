#include "cpu/block_cache.h"

#include <algorithm>

namespace nomad86 {

BlockCache::BlockCache(PhysicalMemory& memory) : memory_(memory) { memory_.set_code_write_listener(this); }

BlockCache::~BlockCache() { memory_.set_code_write_listener(nullptr); }

const DecodedBlock* BlockCache::find_slow(const BlockKey& key) {
    auto it = blocks_.find(map_key(key));
    if (it == blocks_.end()) return nullptr;
    fast_[fast_index(key)] = FastEntry{key, it->second.get()};
    return it->second.get();
}

const DecodedBlock* BlockCache::insert(std::unique_ptr<DecodedBlock> block) {
    DecodedBlock* b = block.get();
    for (uint64_t page = b->first_page; page <= b->last_page; page++) {
        page_blocks_[page].push_back(b);
        memory_.mark_code_page(page);
    }
    auto& slot = blocks_[map_key(b->key)];
    if (slot) retire(slot.get());  // cannot normally happen: find() came first
    slot = std::move(block);
    fast_[fast_index(b->key)] = FastEntry{b->key, b};
    return b;
}

void BlockCache::retire(DecodedBlock* b) {
    generation_++;
    FastEntry& e = fast_[fast_index(b->key)];
    if (e.block == b) e = FastEntry{};
    for (uint64_t page = b->first_page; page <= b->last_page; page++) {
        auto it = page_blocks_.find(page);
        if (it == page_blocks_.end()) continue;
        auto& v = it->second;
        v.erase(std::remove(v.begin(), v.end(), b), v.end());
    }
    auto it = blocks_.find(map_key(b->key));
    if (it != blocks_.end() && it->second.get() == b) {
        retired_.push_back(std::move(it->second));
        blocks_.erase(it);
    }
}

void BlockCache::code_page_written(uint64_t page) {
    memory_.clear_code_page(page);
    auto it = page_blocks_.find(page);
    if (it == page_blocks_.end()) return;
    std::vector<DecodedBlock*> victims = std::move(it->second);
    page_blocks_.erase(page);
    for (DecodedBlock* b : victims) retire(b);
    invalidations_++;
    if (on_invalidate_) on_invalidate_();
}

void BlockCache::flush() {
    generation_++;
    for (auto& [key, block] : blocks_) retired_.push_back(std::move(block));
    blocks_.clear();
    for (auto& [page, v] : page_blocks_) memory_.clear_code_page(page);
    page_blocks_.clear();
    fast_.fill(FastEntry{});
    if (on_invalidate_) on_invalidate_();
}

}  // namespace nomad86
