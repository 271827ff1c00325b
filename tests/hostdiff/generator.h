// Random test generation by instruction group. Test `index` of run `seed`
// is a pure function of (seed, index, group), so any failure replays alone.
#pragma once
#include <cstdint>

#include "tests/hostdiff/test_case.h"

namespace nomad86::hostdiff {

TestCase generate(Group group, uint64_t seed, uint64_t index);

}  // namespace nomad86::hostdiff
