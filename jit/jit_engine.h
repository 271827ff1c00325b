// The JIT as the CPU's block executor: translates a decoded block once it
// has run a few times, keeps the host code in a fixed budget (flushed whole
// when full), runs it, and, with verify=on, checks every block it runs
// against the interpreter in lockstep (jit/lockstep.h).
//
// Translations hang off the decoded blocks (DecodedBlock::host_code), so
// the block cache's invalidation (a write to a code page, Bochs-style page
// stamps keyed by physical address) retires both at once; the code is
// released when the block is freed, at an instruction boundary, never while
// it runs.
#pragma once
#include <cstdint>
#include <cstdio>
#include <memory>
#include <array>
#include <string>
#include <unordered_map>
#include <vector>

#include <asmjit/x86.h>

#include "cpu/cpu.h"
#include "jit/jump_cache.h"
#include "jit/translator.h"

namespace nomad86::jit {

class LockstepVerifier;

struct JitOptions {
    uint64_t cache_bytes = 64ull << 20;  // host code budget
    unsigned hot_runs = 2;                // runs of a block before it is translated
    bool verify = false;                  // lockstep against the interpreter
    bool chain = true;                    // link blocks within a page
    bool perfmap = false;                 // name translations in /tmp/perf-PID.map
};

struct JitStats {
    uint64_t blocks_translated = 0;
    uint64_t superblocks = 0;          // of those, with a tail (DecodedBlock::jit_tail)
    uint64_t superblock_parts = 0;     // the blocks in their tails
    uint64_t host_code_bytes = 0;      // live translations
    uint64_t translation_failures = 0;
    uint64_t cache_flushes = 0;
    uint64_t blocks_freed = 0;
    uint64_t block_runs = 0;           // translated blocks entered
    uint64_t inline_insns_static = 0;  // over all translations
    uint64_t helper_insns_static = 0;
    uint64_t chain_patches = 0;        // exits linked straight to their target
    uint64_t fast_chains = 0;          // of those, past the target's state checks
    uint64_t warm_chains = 0;          // of those, past its register reloads too
    uint64_t cache_chains = 0;         // exits pointed at the jump cache instead (unlinkable targets)
    uint64_t jump_cache_hits = 0;      // returns that found their target there
    uint64_t jump_cache_misses = 0;
    uint64_t verified_blocks = 0;
    uint64_t unverifiable_blocks = 0;  // did device I/O: run once, by the interpreter
};

class JitEngine final : public BlockExecutor {
public:
    JitEngine(Cpu& cpu, Logger& log, JitOptions options);
    ~JitEngine() override;
    JitEngine(const JitEngine&) = delete;
    JitEngine& operator=(const JitEngine&) = delete;

    bool execute(const DecodedBlock& block) override;
    void block_freed(const DecodedBlock& block) override;

    const JitStats& stats() const { return stats_; }
    const RuntimeCounters& counters() const { return counters_; }
    // The `info jit` text.
    std::string report() const;
    // With verify=on: the first difference found, else empty. The CPU is
    // stopped (request_stop) when one is found.
    const std::string& verify_failure() const;

private:
    // Translates `block`; false if it cannot be (the interpreter runs it).
    bool translate(const DecodedBlock& block);
    // Appends to `block.jit_tail` the blocks its translation runs on into
    // (up to kMaxTailParts of them, kMaxSuperblockInsns instructions in all).
    void add_superblock_tail(const DecodedBlock& block);
    static constexpr size_t kMaxTailParts = 2;
    static constexpr size_t kMaxSuperblockInsns = 48;
    // Runs the translation; false if its entry checks refused to start it.
    bool run_translation(const DecodedBlock& block);
    // The exit the last translation left by, if chainable: patch it to
    // jump into `next` when `next` is its target.
    void link_last_exit(const DecodedBlock& next);

    struct ChainSiteInfo {
        const DecodedBlock* owner;
        const uint8_t* through_cache;  // or nullptr
        uint64_t target_phys;
        EntryState state;  // what holds when the jump is taken
        CacheMap copies;   // the host copies it carries
    };

    Cpu& cpu_;
    Logger& log_;
    JitOptions options_;
    asmjit::JitRuntime runtime_;
    RuntimeCounters counters_;
    // Written by generated code: the jmp an unlinked chain exit left by;
    // a jump cache lookup that missed.
    const uint8_t* last_exit_ = nullptr;
    bool jump_cache_missed_ = false;
    alignas(64) std::array<JumpCacheEntry, kJumpCacheEntries> jump_cache_{};  // (a set per cache line)
    uint32_t jump_cache_fills_ = 0;  // picks the way a fill replaces in a full set
    // Fills the jump cache entry for `block` at CS:EIP.
    void fill_jump_cache(const DecodedBlock& block);
    ChainHooks hooks();
    std::unordered_map<const uint8_t*, ChainSiteInfo> chain_sites_;
    std::unordered_map<const DecodedBlock*, std::vector<const uint8_t*>> block_sites_;
    Translator translator_;
    JitStats stats_;
    std::unique_ptr<LockstepVerifier> verifier_;
    // -perfmap: one line per translation (host start, size, guest address),
    // the format perf reads for code it cannot find in a file.
    FILE* perfmap_ = nullptr;
};

}  // namespace nomad86::jit
