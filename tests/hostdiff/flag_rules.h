// What the SDM leaves undefined after an instruction: the flags it calls
// "undefined", and the rare destination it calls undefined (BSF/BSR of zero,
// SHLD/SHRD with a count above the operand size, BSWAP of a 16-bit
// register). The comparison ignores exactly these. The table is in
// flag_rules.cpp, one entry per instruction with the SDM's wording.
#pragma once
#include <array>
#include <cstdint>
#include <string>

#include "tests/hostdiff/test_case.h"

namespace nomad86::hostdiff {

struct Undefined {
    uint32_t flags = 0;                    // EFLAGS bits not compared
    std::array<uint32_t, 8> gpr_bits{};    // register bits not compared
    uint32_t mem_addr = 0, mem_size = 0;   // memory bytes not compared
    uint16_t fsw = 0;                      // x87 condition codes (C0-C3) not compared
    const char* rule = "";                 // the SDM wording that applied
};

Undefined undefined_effects(const TestCase& t);

// The instruction's disassembly (Intel syntax).
std::string disassemble(const TestCase& t);

}  // namespace nomad86::hostdiff
