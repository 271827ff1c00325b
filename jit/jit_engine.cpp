#include "jit/jit_engine.h"

#include <cinttypes>
#include <cstdio>
#include <vector>

#include "cpu/decoded_block.h"
#include "jit/lockstep.h"

namespace nomad86::jit {

JitEngine::JitEngine(Cpu& cpu, Logger& log, JitOptions options)
    : cpu_(cpu), log_(log), options_(options), translator_(cpu, runtime_, counters_, options.verify) {
    if (options_.verify) {
        verifier_ = std::make_unique<LockstepVerifier>(cpu_);
        options_.hot_runs = 0;  // check every block, from its first run
    }
}

JitEngine::~JitEngine() {
    // Frees every block while this engine can still release its code.
    if (cpu_.block_executor() == this) cpu_.set_block_executor(nullptr);
}

const std::string& JitEngine::verify_failure() const {
    static const std::string kNone;
    return verifier_ ? verifier_->failure() : kNone;
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
    // The block's guest bytes, for the listing (first page, then the next
    // one for an instruction that crosses into it).
    const bool listing = log_.enabled(kLogOutAsm) && log_.in_filter(cpu_.linear_pc());
    std::vector<uint8_t> bytes;
    if (listing) {
        size_t len = 0;
        for (const DecodedInsn& insn : block.insns) len += insn.length;
        bytes.resize(len);
        const uint64_t in_first = std::min<uint64_t>(len, kPageSize - (block.key.phys & (kPageSize - 1)));
        cpu_.memory().read_bytes(GuestPhys(block.key.phys), bytes.data(), in_first);
        if (in_first < len)
            cpu_.memory().read_bytes(GuestPhys(block.last_page << kPageShift), bytes.data() + in_first, len - in_first);
    }
    Translation t = translator_.translate(block, bytes.data(), bytes.size(), cpu_.linear_pc(), listing);
    if (!t.fn) {
        stats_.translation_failures++;
        log_.log(kLogUnimp, "jit: block at phys %08" PRIx64 " not translated (%s); the interpreter runs it\n",
                 block.key.phys, t.error.c_str());
        return false;
    }
    if (listing) {
        log_.log(kLogOutAsm, "OUT: phys=0x%08" PRIx64 " [%zu bytes of host code, %u inline, %u helper]\n%s\n",
                 block.key.phys, t.code_size, t.inline_insns, t.helper_insns, t.listing.c_str());
    }
    block.host_code = reinterpret_cast<void*>(t.fn);
    block.host_code_size = uint32_t(t.code_size);
    stats_.blocks_translated++;
    stats_.host_code_bytes += t.code_size;
    stats_.inline_insns_static += t.inline_insns;
    stats_.helper_insns_static += t.helper_insns;
    return true;
}

void JitEngine::run_translation(const DecodedBlock& block) {
    stats_.block_runs++;
    reinterpret_cast<BlockFn>(block.host_code)(&cpu_, &cpu_.s);
}

bool JitEngine::execute(const DecodedBlock& block) {
    if (block.untranslatable) return false;
    if (!block.host_code) {
        if (block.runs < options_.hot_runs) {
            block.runs++;
            return false;
        }
        if (!translate(block)) {
            block.untranslatable = stats_.host_code_bytes < options_.cache_bytes;
            return false;
        }
    }
    if (!verifier_) {
        run_translation(block);
        return true;
    }
    switch (verifier_->run(block, [&] { run_translation(block); })) {
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
    runtime_.release(block.host_code);
    stats_.host_code_bytes -= block.host_code_size;
    block.host_code = nullptr;
    block.host_code_size = 0;
}

std::string JitEngine::report() const {
    const uint64_t retired = *cpu_.instret_counter();
    char text[1024];
    const uint64_t helpers = counters_.helper_insns;
    snprintf(text, sizeof text,
             "accel jit%s\n"
             "blocks translated %" PRIu64 " (failed %" PRIu64 ", freed %" PRIu64 ")\n"
             "host code bytes %" PRIu64 " of %" PRIu64 " budget, cache flushes %" PRIu64 "\n"
             "translated block runs %" PRIu64 "\n"
             "instructions translated inline %" PRIu64 ", as helper calls %" PRIu64 "\n"
             "guest instructions retired %" PRIu64 ", through helpers %" PRIu64 " (%.1f%%)\n"
             "chain patches 0 (no chaining yet), jump cache hits 0 of 0\n"
             "invalidations %" PRIu64 "\n",
             verifier_ ? ",verify=on" : "", stats_.blocks_translated, stats_.translation_failures,
             stats_.blocks_freed, stats_.host_code_bytes, options_.cache_bytes, stats_.cache_flushes,
             stats_.block_runs, stats_.inline_insns_static, stats_.helper_insns_static, retired, helpers,
             retired ? 100.0 * double(helpers) / double(retired) : 0.0, cpu_.decoded_block_invalidations());
    std::string out = text;
    if (verifier_) {
        snprintf(text, sizeof text, "verified blocks %" PRIu64 ", unverifiable (device I/O, code writes) %" PRIu64 "\n",
                 stats_.verified_blocks, stats_.unverifiable_blocks);
        out += text;
    }
    return out;
}

}  // namespace nomad86::jit
