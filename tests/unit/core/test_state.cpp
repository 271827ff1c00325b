#include <doctest/doctest.h>

#include "core/state.h"
#include "cpu/cpu_state.h"

using namespace nomad86;

namespace {
struct Sample : Stateful {
    uint8_t a = 1;
    uint32_t b = 0xdeadbeef;
    bool c = true;
    uint16_t arr[3] = {1, 2, 3};
    void describe(StateVisitor& v) override {
        v.begin_section("sample", 2);
        v.field("a", a);
        v.field("b", b);
        v.field("c", c);
        v.field("arr", arr);
        v.end_section();
    }
};
}  // namespace

TEST_CASE("state: a described component round-trips through writer and reader") {
    Sample src;
    src.a = 7;
    src.b = 0x12345678;
    src.c = false;
    src.arr[2] = 99;
    StateWriter w;
    src.describe(w);
    Sample dst;
    StateReader r(w.data());
    dst.describe(r);
    CHECK(r.at_end());
    CHECK(dst.a == 7);
    CHECK(dst.b == 0x12345678);
    CHECK(dst.c == false);
    CHECK(dst.arr[2] == 99);
}

TEST_CASE("state: truncated and corrupted streams are rejected, never read past the end") {
    Sample src;
    StateWriter w;
    src.describe(w);
    for (size_t cut = 0; cut < w.data().size(); cut++) {
        std::vector<uint8_t> partial(w.data().begin(), w.data().begin() + cut);
        Sample dst;
        StateReader r(partial);
        CHECK_THROWS_AS(dst.describe(r), StateError);
    }
    std::vector<uint8_t> bad = w.data();
    bad[4] ^= 0x20;  // section name
    Sample dst;
    StateReader r(bad);
    CHECK_THROWS_AS(dst.describe(r), StateError);
}

TEST_CASE("state: a section of another version is refused") {
    Sample src;
    StateWriter w;
    src.describe(w);
    std::vector<uint8_t> data = w.data();
    data[4 + 6] = 3;  // version follows the 4-byte length and the 6-byte name
    Sample dst;
    StateReader r(data);
    CHECK_THROWS_AS(dst.describe(r), StateError);
}


// EFLAGS lives in two words (CpuState::status_flags); the stream holds the
// whole register, so status bits must come from the status word and the
// rest from the system word, whatever the other word's copy says.
TEST_CASE("state: the CPU's two flag words save as one EFLAGS and load back") {
    CpuState src;
    src.system_flags = flags::FIXED1 | flags::IF | flags::DF | flags::SF;  // SF here is stale
    src.status_flags = flags::CF | flags::ZF | flags::OF | flags::IF;       // IF here is stale
    const uint64_t want = flags::FIXED1 | flags::IF | flags::DF | flags::CF | flags::ZF | flags::OF;
    StateWriter w;
    src.describe(w);
    CpuState dst;
    StateReader r(w.data());
    dst.describe(r);
    CHECK(r.at_end());
    CHECK(dst.rflags() == want);
    CHECK(dst.status_flags == want);
    CHECK(dst.system_flags == want);
}
