// -accel jit,verify=on: every translated block runs twice from the same
// point, first in the interpreter (the reference), then, with its memory
// stores undone and the CPU restored, as host code; the two results must
// agree in every field of the CPU's state description, in the retired
// instruction count, and in every byte either run stored. A block that
// touched a device (port I/O, MMIO, the time-stamp counter), rewrote code
// or shut the CPU down cannot be run twice: the interpreter's run stands
// and the block counts as unverifiable.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "cpu/cpu.h"

namespace nomad86::jit {

class LockstepVerifier {
public:
    explicit LockstepVerifier(Cpu& cpu) : cpu_(cpu) {}

    enum class Outcome { kAgreed, kUnverifiable, kDiffered };
    // Runs `block` both ways; `run_host_code` runs its translation and
    // returns false when the translation refused to start (its entry
    // checks failed): then the interpreter's run stands, unverified.
    Outcome run(const DecodedBlock& block, const std::function<bool()>& run_host_code);
    // The report of the first difference (empty until there is one).
    const std::string& failure() const { return failure_; }

private:
    void interpret_superblock(const DecodedBlock& block, uint64_t entry_rip);
    Cpu& cpu_;
    std::string failure_;
    // Kept between blocks so that a block costs no allocations.
    WriteJournal reference_, translated_;
    std::vector<std::pair<uint64_t, uint8_t>> expected_bytes_;
    Cpu::Checkpoint got_{};
};

}  // namespace nomad86::jit
