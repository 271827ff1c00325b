// Comparison of a host outcome with the emulator's, and the replayable
// mismatch report.
#pragma once
#include <cstdint>
#include <string>

#include "tests/hostdiff/test_case.h"

namespace nomad86::hostdiff {

// The differing fields ("" when the outcomes agree on everything defined).
std::string compare(const TestCase& t, const Outcome& host, const Outcome& emu);

// Prints seed, index, bytes, disassembly, initial state, both outcomes and
// the differences.
void print_mismatch(uint64_t seed, uint64_t index, const TestCase& t, const Outcome& host, const Outcome& emu,
                    const std::string& diff);

}  // namespace nomad86::hostdiff
