// The MOO reader of nomad86-singlestep (tests/singlestep/moo_reader.h): a
// hand-built image in memory, then truncated and malformed variants of it.
#include <doctest/doctest.h>

#include <cstring>
#include <string>
#include <vector>

#include "tests/singlestep/moo_reader.h"

namespace {

using Bytes = std::vector<uint8_t>;
namespace moo = nomad86::moo;

void put32(Bytes& b, uint32_t v) {
    for (int i = 0; i < 4; i++) b.push_back(uint8_t(v >> (8 * i)));
}
void put16(Bytes& b, uint16_t v) {
    b.push_back(uint8_t(v));
    b.push_back(uint8_t(v >> 8));
}
Bytes chunk(const char* tag, const Bytes& body) {
    Bytes b(tag, tag + 4);
    put32(b, uint32_t(body.size()));
    b.insert(b.end(), body.begin(), body.end());
    return b;
}
Bytes cat(std::initializer_list<Bytes> parts) {
    Bytes b;
    for (const Bytes& p : parts) b.insert(b.end(), p.begin(), p.end());
    return b;
}

Bytes header(uint32_t count) {
    Bytes h = {1, 0, 0, 0};
    put32(h, count);
    h.insert(h.end(), {'C', '2', '8', '6'});
    h.insert(h.end(), {0xaa, 0xbb});  // extra header bytes: ignored
    return chunk("MOO ", h);
}

Bytes regs(uint16_t mask, std::initializer_list<uint16_t> values) {
    Bytes b;
    put16(b, mask);
    for (uint16_t v : values) put16(b, v);
    return chunk("REGS", b);
}
Bytes ram(std::initializer_list<std::pair<uint32_t, uint8_t>> entries) {
    Bytes b;
    put32(b, uint32_t(entries.size()));
    for (auto [a, v] : entries) {
        put32(b, a);
        b.push_back(v);
    }
    return chunk("RAM ", b);
}
Bytes counted(const char* tag, const Bytes& payload) {
    Bytes b;
    put32(b, uint32_t(payload.size()));
    b.insert(b.end(), payload.begin(), payload.end());
    return chunk(tag, b);
}

// A test: ADD AL,1 at 1000:0000 with its HLT, optionally an exception.
Bytes test_chunk(uint32_t index, bool exception) {
    Bytes body;
    put32(body, index);
    const std::string name = "add al,1";
    body = cat({body, counted("NAME", Bytes(name.begin(), name.end())), counted("BYTS", {0x04, 0x01, 0xf4}),
                chunk("INIT", cat({regs(0x3011, {0x0041, 0x1000, 0x0000, 0xf002}),  // ax cs ip flags
                                   ram({{0x10000, 0x04}, {0x10001, 0x01}, {0x10002, 0xf4}}),
                                   counted("QUEU", {0x04, 0x01})})),
                chunk("FINA", cat({regs(0x3001, {0x0042, 0x0003, 0x0002}), ram({})})),
                chunk("GMET", {1, 2, 3})});  // unknown: skipped
    if (exception) {
        Bytes e = {0x0d};
        put32(e, 0x1fffa);
        body = cat({body, chunk("EXCP", e)});
    }
    Bytes hash(20);
    for (int i = 0; i < 20; i++) hash[i] = uint8_t(i * 17);
    return chunk("TEST", cat({body, chunk("HASH", hash)}));
}

Bytes good_file() { return cat({header(2), test_chunk(0, false), chunk("XTRA", {9, 9}), test_chunk(5, true)}); }

}  // namespace

TEST_CASE("moo reader: a hand-built file reads back field by field") {
    moo::MooFile f;
    const Bytes img = good_file();
    auto err = moo::parse_moo(img, f);
    REQUIRE_FALSE(err.has_value());
    CHECK(f.version == 1);
    CHECK(f.declared_count == 2);
    CHECK(f.cpu == "C286");
    REQUIRE(f.tests.size() == 2);
    const moo::Test& t = f.tests[0];
    CHECK(t.index == 0);
    CHECK(t.name == "add al,1");
    CHECK(t.bytes == Bytes{0x04, 0x01, 0xf4});
    CHECK(t.init.has(moo::kAx));
    CHECK(t.init.has(moo::kCs));
    CHECK_FALSE(t.init.has(moo::kBx));
    CHECK(t.init.regs[moo::kAx] == 0x0041);
    CHECK(t.init.regs[moo::kCs] == 0x1000);
    CHECK(t.init.regs[moo::kIp] == 0x0000);
    CHECK(t.init.regs[moo::kFlags] == 0xf002);
    REQUIRE(t.init.ram.size() == 3);
    CHECK(t.init.ram[2] == std::pair<uint32_t, uint8_t>{0x10002, 0xf4});
    CHECK(t.init.queue == Bytes{0x04, 0x01});
    CHECK(t.final_state.regs[moo::kAx] == 0x0042);
    CHECK(t.final_state.regs[moo::kIp] == 0x0003);
    CHECK(t.final_state.regs[moo::kFlags] == 0x0002);
    CHECK(t.final_state.ram.empty());
    CHECK_FALSE(t.has_exception);
    CHECK(t.has_hash);
    CHECK(t.hash_hex() == "00112233445566778899aabbccddeeff10213243");
    CHECK(t.file_offset == header(2).size());
    CHECK(f.tests[1].index == 5);
    CHECK(f.tests[1].has_exception);
    CHECK(f.tests[1].exception_vector == 13);
    CHECK(f.tests[1].exception_flags_address == 0x1fffa);
}

TEST_CASE("moo reader: every truncation is reported at an offset inside the file, never a crash") {
    const Bytes img = good_file();
    const size_t first_test_end = header(2).size() + test_chunk(0, false).size();
    for (size_t n = 0; n < img.size(); n++) {
        Bytes cut(img.begin(), img.begin() + long(n));
        moo::MooFile f;
        auto err = moo::parse_moo(cut, f);
        INFO("truncated to " << n << " bytes");
        REQUIRE(err.has_value());
        CHECK(err->offset <= n);
        CHECK_FALSE(err->message.empty());
        // The tests that were complete before the cut are kept.
        CHECK(f.tests.size() == (n >= first_test_end ? 1u : 0u));
    }
}

TEST_CASE("moo reader: malformed files name what is wrong and where") {
    moo::MooFile f;
    SUBCASE("not a MOO file") {
        Bytes img = good_file();
        std::memcpy(img.data(), "ZOO ", 4);
        auto err = moo::parse_moo(img, f);
        REQUIRE(err);
        CHECK(err->offset == 0);
        CHECK(err->message.find("not a MOO file") != std::string::npos);
    }
    SUBCASE("a chunk longer than the file") {
        Bytes img = good_file();
        const size_t at = header(2).size();  // the first TEST chunk's length field
        img[at + 7] = 0x7f;
        auto err = moo::parse_moo(img, f);
        REQUIRE(err);
        CHECK(err->offset == at);
        CHECK(err->message.find("runs past") != std::string::npos);
    }
    SUBCASE("a RAM count larger than its chunk") {
        Bytes bad_ram;
        put32(bad_ram, 1000);
        put32(bad_ram, 0x10000);
        bad_ram.push_back(1);
        Bytes body;
        put32(body, 0);
        body = cat({body, counted("BYTS", {0xf4}), chunk("INIT", cat({regs(0x1010, {0, 0}), chunk("RAM ", bad_ram)})),
                    chunk("FINA", {})});
        Bytes img = cat({header(1), chunk("TEST", body)});
        auto err = moo::parse_moo(img, f);
        REQUIRE(err);
        CHECK(err->message.find("too short") != std::string::npos);
        CHECK(f.tests.empty());
    }
    SUBCASE("unknown register bits") {
        Bytes body;
        put32(body, 0);
        body = cat({body, counted("BYTS", {0xf4}), chunk("INIT", regs(0xc000, {0, 0})), chunk("FINA", {})});
        auto err = moo::parse_moo(cat({header(1), chunk("TEST", body)}), f);
        REQUIRE(err);
        CHECK(err->message.find("unknown register") != std::string::npos);
    }
    SUBCASE("a test without a final state or initial CS:IP") {
        Bytes body;
        put32(body, 7);
        Bytes no_final = cat({body, counted("BYTS", {0xf4}), chunk("INIT", regs(0x1010, {0, 0}))});
        auto err = moo::parse_moo(cat({header(1), chunk("TEST", no_final)}), f);
        REQUIRE(err);
        CHECK(err->message.find("lacks FINA") != std::string::npos);
        Bytes no_ip = cat({body, counted("BYTS", {0xf4}), chunk("INIT", regs(0x0001, {0})), chunk("FINA", {})});
        moo::MooFile g;
        err = moo::parse_moo(cat({header(1), chunk("TEST", no_ip)}), g);
        REQUIRE(err);
        CHECK(err->message.find("CS:IP") != std::string::npos);
    }
    SUBCASE("fewer tests than the header declares") {
        auto err = moo::parse_moo(cat({header(3), test_chunk(0, false)}), f);
        REQUIRE(err);
        CHECK(f.tests.size() == 1);
        CHECK(err->message.find("declares 3") != std::string::npos);
    }
    SUBCASE("a non-ASCII tag") {
        Bytes img = good_file();
        img[header(2).size()] = 0x01;
        auto err = moo::parse_moo(img, f);
        REQUIRE(err);
        CHECK(err->offset == header(2).size());
    }
}

TEST_CASE("moo reader: corrupted bytes anywhere never crash it") {
    const Bytes img = good_file();
    uint32_t seed = 12345;
    for (int round = 0; round < 2000; round++) {
        Bytes b = img;
        for (int k = 0; k < 3; k++) {
            seed = seed * 1103515245u + 12345u;
            b[(seed >> 8) % b.size()] = uint8_t(seed >> 24);
        }
        moo::MooFile f;
        auto err = moo::parse_moo(b, f);
        if (err) CHECK(err->offset <= b.size());
        CHECK(f.tests.size() <= 2);
    }
}
