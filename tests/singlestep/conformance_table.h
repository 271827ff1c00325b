// The one table of what nomad86-singlestep masks or skips, and why.
//
// nomad86 emulates a 386-and-later CPU; the tests were captured on an 80286.
// Where the two legitimately differ (flags the SDM leaves undefined, real-mode
// FLAGS bits 12-15, 286-only behaviour at segment ends...), an entry here
// masks flag bits or skips the test, each citing the Intel SDM. Nothing that
// is not in this table may be masked or skipped.
#pragma once
#include <cstdint>
#include <string>

#include "tests/singlestep/moo_reader.h"

namespace nomad86::singlestep {

enum class Action : uint8_t {
    kMaskFlags,  // compare FLAGS (and the FLAGS image an exception pushed) without these bits
    kSkip,       // do not run the test at all
};

struct Rule {
    const char* groups;  // file stems (opcode[.reg]) it applies to, space-separated; "*" for all
    bool (*applies)(const moo::Test& t);
    Action action;
    uint16_t flags;  // kMaskFlags: the bits left uncompared
    const char* why; // the SDM's wording (or the 286 fact) behind it
};

// What the table decides for one test of group `stem` (e.g. "F6.7").
struct Verdict {
    const Rule* skip = nullptr;  // set: the test is skipped by this rule
    uint16_t flag_mask = 0;      // bits of FLAGS not compared
};
Verdict classify(const std::string& stem, const moo::Test& t);

// The table, for --list-rules and the report.
const Rule* rules(size_t* count);

}  // namespace nomad86::singlestep
