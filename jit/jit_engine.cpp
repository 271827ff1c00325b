#include "jit/jit_engine.h"

#include <algorithm>
#include <cinttypes>
#include <functional>
#include <cstdio>
#include <cstring>

#include <unistd.h>
#include <vector>

#include "cpu/decoded_block.h"
#include "jit/lockstep.h"

namespace nomad86::jit {

JitEngine::JitEngine(Cpu& cpu, Logger& log, JitOptions options)
    : cpu_(cpu), log_(log), options_(options), translator_(cpu, runtime_, counters_, options.verify,
                  // Chains would run blocks past the verifier and the per-block traces.
                  options.chain && !options.verify && !log.enabled(kLogNochain | kLogCpu | kLogExec) ? hooks()
                                                                                                    : ChainHooks{}) {
    if (options_.verify) {
        verifier_ = std::make_unique<LockstepVerifier>(cpu_);
        options_.hot_runs = 0;  // check every block, from its first run
    }
    if (options_.perfmap) {
        char path[64];
        snprintf(path, sizeof path, "/tmp/perf-%d.map", int(getpid()));
        // Appended to: two machines in one process share the file.
        perfmap_ = fopen(path, "a");
        if (!perfmap_) log_.log(kLogUnimp, "jit: cannot write %s\n", path);
    }
    if (perfmap_)
        translator_.set_routine_namer([this](const void* fn, size_t size, const std::string& name) {
            fprintf(perfmap_, "%" PRIxPTR " %zx %s\n", reinterpret_cast<uintptr_t>(fn), size, name.c_str());
            fflush(perfmap_);
        });
}

JitEngine::~JitEngine() {
    // Frees every block while this engine can still release its code.
    if (cpu_.block_executor() == this) cpu_.set_block_executor(nullptr);
    if (perfmap_) fclose(perfmap_);
}

ChainHooks JitEngine::hooks() {
    return ChainHooks{&last_exit_, jump_cache_.data(), &jump_cache_missed_, &stats_.jump_cache_hits};
}

void JitEngine::fill_jump_cache(const DecodedBlock& block) {
    // Only 32-bit code's returns look entries up (and stay in their CS), so
    // only its blocks go in: a block of another mode at the same linear
    // address (reached after an interrupt) must not be found there.
    if (!block.host_code || block.key.mode != DecodeMode::kProt32) return;
    const uint32_t linear = uint32_t(cpu_.linear_pc());
    // The way that holds this address already (a lookup takes the first
    // way whose address matches: one address never has two), else an
    // empty one, else each in turn (entries never move: a block names the
    // one slot it clears when freed).
    const int32_t set = int32_t(jump_cache_set(linear) * kJumpCacheWays);
    int32_t slot = -1;
    for (int32_t way = 0; way < int32_t(kJumpCacheWays) && slot < 0; way++)
        if (jump_cache_[size_t(set + way)].cpl != JumpCacheEntry::kNoCpl &&
            jump_cache_[size_t(set + way)].linear == linear)
            slot = set + way;
    for (int32_t way = 0; way < int32_t(kJumpCacheWays) && slot < 0; way++)
        if (jump_cache_[size_t(set + way)].cpl == JumpCacheEntry::kNoCpl) slot = set + way;
    if (slot < 0) slot = set + int32_t(jump_cache_fills_++ % kJumpCacheWays);
    // The block an entry replaces keeps naming the slot: clearing it then
    // only drops another block's entry.
    if (block.jump_cache_slot >= 0 && block.jump_cache_slot != slot)
        jump_cache_[size_t(block.jump_cache_slot)] = JumpCacheEntry{};
    JumpCacheEntry& e = jump_cache_[size_t(slot)];
    e = JumpCacheEntry{};
    e.linear = linear;
    e.phys_page = uint32_t(block.first_page);
    e.next_phys_page = uint32_t(block.last_page);
    e.cpl = uint8_t(cpu_.s.cpl);
    e.two_pages = block.last_page != block.first_page;
    e.fast_delta = uint16_t(block.fast_entry - block.chain_entry);
    e.needs = block.fast_entry_needs;
    e.code = static_cast<const uint8_t*>(block.host_code) + block.chain_entry;
    block.jump_cache_slot = slot;
}

const std::string& JitEngine::verify_failure() const {
    static const std::string kNone;
    return verifier_ ? verifier_->failure() : kNone;
}

void JitEngine::add_superblock_tail(const DecodedBlock& block) {
    // 32-bit code on one page in a flat CS (so the translation's entry
    // checks that CS is flat, and a taken side exit needs no limit check),
    // and not while instructions are traced one block at a time (-d exec,
    // cpu).
    const SegmentCache& cs = cpu_.s.seg[kCs];
    if (!block.jit_tail.empty() || block.key.mode != DecodeMode::kProt32 || block.first_page != block.last_page ||
        cs.base != 0 || cs.limit != 0xffffffffu || log_.enabled(kLogCpu | kLogExec))
        return;
    const DecodedBlock* part = &block;
    uint64_t next_phys = block.key.phys + block.bytes;
    size_t insns = block.insns.size();
    while (block.jit_tail.size() < kMaxTailParts && falls_through_inline(part->insns.back()) &&
           (next_phys >> kPageShift) == block.first_page) {
        // Only a block decoded already (the fall-through has run before).
        const DecodedBlock* next = cpu_.find_decoded_block(BlockKey{next_phys, block.key.mode});
        if (!next || next->first_page != block.first_page || next->last_page != block.first_page ||
            next->untranslatable || insns + next->insns.size() > kMaxSuperblockInsns)
            break;
        auto copy = std::make_unique<DecodedBlock>();
        copy->key = next->key;
        copy->first_page = next->first_page;
        copy->last_page = next->last_page;
        copy->insns = next->insns;
        copy->bytes = next->bytes;
        insns += copy->insns.size();
        next_phys += copy->bytes;
        part = copy.get();
        block.jit_tail.push_back(std::move(copy));
    }
}

bool JitEngine::translate(const DecodedBlock& block) {
    if (stats_.host_code_bytes >= options_.cache_bytes) {
        // Full: flush everything. The blocks are freed (and their code
        // released) at the next instruction boundary; this one runs in the
        // interpreter meanwhile.
        stats_.cache_flushes++;
        cpu_.flush_decoded_blocks();
        return false;
    }
    add_superblock_tail(block);
    // The block's guest bytes, for the listing (first page, then the next
    // one for an instruction that crosses into it; a superblock's tail
    // follows on the same page).
    const bool listing = log_.enabled(kLogOutAsm) && log_.in_filter(cpu_.linear_pc());
    std::vector<uint8_t> bytes;
    if (listing) {
        size_t len = block.bytes;
        for (const auto& part : block.jit_tail) len += part->bytes;
        bytes.resize(len);
        const uint64_t in_first = std::min<uint64_t>(len, kPageSize - (block.key.phys & (kPageSize - 1)));
        cpu_.memory().read_bytes(GuestPhys(block.key.phys), bytes.data(), in_first);
        if (in_first < len)
            cpu_.memory().read_bytes(GuestPhys(block.last_page << kPageShift), bytes.data() + in_first, len - in_first);
    }
    Translation t = translator_.translate(block, bytes.data(), bytes.size(), cpu_.linear_pc(), listing);
    if (!t.fn) {
        stats_.translation_failures++;
        block.untranslatable = true;  // the interpreter runs it from now on
        log_.log(kLogUnimp, "jit: block at phys %08" PRIx64 " not translated (%s); the interpreter runs it\n",
                 block.key.phys, t.error.c_str());
        return false;
    }
    if (listing) {
        log_.log(kLogOutAsm, "OUT: phys=0x%08" PRIx64 " [%zu bytes of host code, %u inline, %u helper]\n%s\n",
                 block.key.phys, t.code_size, t.inline_insns, t.helper_insns, t.listing.c_str());
    }
    if (perfmap_) {
        fprintf(perfmap_, "%" PRIxPTR " %zx guest_%08" PRIx64 "_phys_%08" PRIx64 "\n", reinterpret_cast<uintptr_t>(t.fn),
                t.code_size, uint64_t(cpu_.linear_pc()), block.key.phys);
        fflush(perfmap_);
    }
    block.host_code = reinterpret_cast<void*>(t.fn);
    block.host_code_size = uint32_t(t.code_size);
    block.chain_entry = t.chain_entry;
    block.fast_entry = t.fast_entry;
    block.fast_entry_needs = entry_needs(t.entry_state);
    block.warm_entry = t.warm_entry;
    block.cache_map = t.cache_map;
    for (const ChainSite& site : t.chain_sites) {
        const uint8_t* at = static_cast<const uint8_t*>(block.host_code) + site.site_offset;
        const uint8_t* through_cache =
            site.through_cache_offset ? static_cast<const uint8_t*>(block.host_code) + site.through_cache_offset
                                      : nullptr;
        chain_sites_[at] = ChainSiteInfo{&block, through_cache, site.target_phys, site.state, site.copies};
        block_sites_[&block].push_back(at);
    }
    stats_.blocks_translated++;
    if (!block.jit_tail.empty()) {
        stats_.superblocks++;
        stats_.superblock_parts += block.jit_tail.size();
    }
    stats_.host_code_bytes += t.code_size;
    stats_.inline_insns_static += t.inline_insns;
    stats_.helper_insns_static += t.helper_insns;
    return true;
}

bool JitEngine::run_translation(const DecodedBlock& block) {
    stats_.block_runs++;
    const uint64_t steps = *cpu_.step_counter();
    *cpu_.executor_mode_bits() = entry_bits_now(cpu_.s);
    const uint32_t refused = reinterpret_cast<BlockFn>(block.host_code)(&cpu_, &cpu_.s);
    // Refused at its own entry (chained blocks after it may have run).
    return !(refused && *cpu_.step_counter() == steps);
}

void JitEngine::link_last_exit(const DecodedBlock& next) {
    const uint8_t* site = last_exit_;
    last_exit_ = nullptr;
    auto it = chain_sites_.find(site);
    if (it == chain_sites_.end() || !next.host_code) return;
    const ChainSiteInfo& info = it->second;
    if (info.target_phys != next.key.phys || info.owner->key.mode != next.key.mode) return;
    // A target whose last instruction runs into the next page holds only
    // while that page maps where it did: the jump goes on through the
    // jump cache, which checks, instead of straight there.
    // (Only a jump whose state established the paging mode and the CPL
    // has a lookup that checks a second page.)
    const bool unlinkable = next.first_page != next.last_page;
    if (unlinkable && !(info.through_cache && info.state.known && info.state.checked)) return;
    // The jump is `E9 rel32`; write its displacement through the
    // allocator's writable view of the owner's code.
    void* rx = nullptr;
    void* rw = nullptr;
    size_t size = 0;
    if (runtime_.allocator()->query(info.owner->host_code, &rx, &rw, &size) != asmjit::kErrorOk || !rw) return;
    uint8_t* writable = static_cast<uint8_t*>(rw) + (site - static_cast<const uint8_t*>(rx));
    if (writable[0] != 0xE9) return;
    const uint8_t* target = info.through_cache;
    if (unlinkable) {
        stats_.cache_chains++;
    } else {
        // Past the target's state checks when the jump's own state implies them.
        uint32_t entry = next.chain_entry;
        if (entry_satisfies(info.state, next.fast_entry_needs)) {
            entry = next.fast_entry;
            stats_.fast_chains++;
            // And past the reloads when the jump brings the copies the
            // target wants in the registers it wants them in.
            if (cache_map_carries(info.copies, next.cache_map)) {
                entry = next.warm_entry;
                stats_.warm_chains++;
            }
        }
        target = static_cast<const uint8_t*>(next.host_code) + entry;
        stats_.chain_patches++;
    }
    const int32_t rel = int32_t(target - (site + 5));
    memcpy(writable + 1, &rel, 4);
    chain_sites_.erase(it);
}

bool JitEngine::execute(const DecodedBlock& block) {
    if (block.untranslatable) return false;
    if (!block.host_code) {
        if (block.runs < options_.hot_runs) {
            block.runs++;
            return false;
        }
        if (!translate(block)) return false;
    }
    if (last_exit_) link_last_exit(block);
    if (jump_cache_missed_) {
        jump_cache_missed_ = false;
        stats_.jump_cache_misses++;
        fill_jump_cache(block);
    }
    if (!verifier_) return run_translation(block);
    switch (verifier_->run(block, [&] { return run_translation(block); })) {
    case LockstepVerifier::Outcome::kAgreed: stats_.verified_blocks++; break;
    case LockstepVerifier::Outcome::kUnverifiable: stats_.unverifiable_blocks++; break;
    case LockstepVerifier::Outcome::kDiffered:
        fprintf(stderr, "nomad86: %s", verifier_->failure().c_str());
        cpu_.control().request_exit(1);
        cpu_.request_stop();
        break;
    }
    return true;
}

void JitEngine::block_freed(const DecodedBlock& block) {
    stats_.blocks_freed++;
    if (!block.host_code) return;
    // Its chain sites go with it (its targets are on its own page, so no
    // other block jumps into it from a page that lives on).
    const uint8_t* code = static_cast<const uint8_t*>(block.host_code);
    if (last_exit_ >= code && last_exit_ < code + block.host_code_size) last_exit_ = nullptr;
    if (block.jump_cache_slot >= 0) {
        jump_cache_[size_t(block.jump_cache_slot)] = JumpCacheEntry{};
        block.jump_cache_slot = -1;
    }
    if (auto it = block_sites_.find(&block); it != block_sites_.end()) {
        for (const uint8_t* site : it->second) chain_sites_.erase(site);
        block_sites_.erase(it);
    }
    block.fast_entry = 0;
    block.fast_entry_needs = 0xffffffffu;
    block.warm_entry = 0;
    block.cache_map = kNoCopies;
    runtime_.release(block.host_code);
    stats_.host_code_bytes -= block.host_code_size;
    block.host_code = nullptr;
    block.host_code_size = 0;
}

std::string JitEngine::report() const {
    const uint64_t retired = cpu_.instructions_retired();
    char text[1024];
    const uint64_t helpers = counters_.helper_insns;
    snprintf(text, sizeof text,
             "accel jit%s\n"
             "blocks translated %" PRIu64 " (failed %" PRIu64 ", freed %" PRIu64 "), %" PRIu64
             " of them superblocks running on into %" PRIu64 " more\n"
             "host code bytes %" PRIu64 " of %" PRIu64 " budget, cache flushes %" PRIu64 "\n"
             "translated block runs %" PRIu64 "\n"
             "instructions translated inline %" PRIu64 ", as helper calls %" PRIu64 "\n"
             "guest instructions retired %" PRIu64 ", through helpers %" PRIu64 " (%.1f%%)\n"
             "chain patches %" PRIu64 " (within a page; %" PRIu64 " past the target's state checks, %" PRIu64 " of those past its register reloads too; %" PRIu64 " more pointed at the jump cache: targets running into the next page), jump cache hits %" PRIu64
             " of %" PRIu64 "\n"
             "invalidations %" PRIu64 "\n"
             "inline accesses' TLB refills %" PRIu64 " (%" PRIu64 " declined: the access's helper step, or a stack run's ordinary copy), second-way TLB hits %" PRIu64 "\n",
             verifier_ ? ",verify=on" : "", stats_.blocks_translated, stats_.translation_failures,
             stats_.blocks_freed, stats_.superblocks, stats_.superblock_parts, stats_.host_code_bytes, options_.cache_bytes, stats_.cache_flushes,
             stats_.block_runs, stats_.inline_insns_static, stats_.helper_insns_static, retired, helpers,
             retired ? 100.0 * double(helpers) / double(retired) : 0.0, stats_.chain_patches, stats_.fast_chains, stats_.warm_chains, stats_.cache_chains,
             stats_.jump_cache_hits, stats_.jump_cache_hits + stats_.jump_cache_misses,
             cpu_.decoded_block_invalidations(), counters_.tlb_refills, counters_.tlb_refills_declined,
             cpu_.tlb().promotions());
    std::string out = text;
    snprintf(text, sizeof text, "x87 instructions run by a direct call of their handler %" PRIu64 "\n",
             counters_.x87_direct_insns);
    out += text;
    // The instructions most often run as helper steps (the translator's
    // to-do list).
    std::vector<std::pair<uint64_t, unsigned>> top;
    for (unsigned m = 0; m < counters_.helper_by_mnemonic.size(); m++)
        if (counters_.helper_by_mnemonic[m]) top.emplace_back(counters_.helper_by_mnemonic[m], m);
    std::sort(top.begin(), top.end(), std::greater<>());
    if (!top.empty()) {
        out += "helper steps by instruction:";
        for (size_t i = 0; i < top.size() && i < 10; i++) {
            snprintf(text, sizeof text, " %s %.1f%%", ZydisMnemonicGetString(ZydisMnemonic(top[i].second)),
                     helpers ? 100.0 * double(top[i].first) / double(helpers) : 0.0);
            out += text;
        }
        out += "\n";
    }
    if (verifier_) {
        snprintf(text, sizeof text, "verified blocks %" PRIu64 ", unverifiable (device I/O, code writes) %" PRIu64 "\n",
                 stats_.verified_blocks, stats_.unverifiable_blocks);
        out += text;
    }
    return out;
}

}  // namespace nomad86::jit
