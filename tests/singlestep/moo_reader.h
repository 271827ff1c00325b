// A reader for the MOO format of the SingleStepTests suites (hardware-captured
// single-instruction tests; the format is described in ../shared/README.md).
//
// parse_moo() works on the decompressed bytes of a file, so it needs nothing
// but the standard library (the unit tests hand it images built in memory);
// read_moo_file() in moo_file.cpp adds the gzip layer. A malformed or
// truncated image never crashes the reader: it returns the tests read before
// the problem and a MooError naming the byte offset and what was wrong.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace nomad86::moo {

// The registers of a REGS chunk, in the file's bit order (bit 0 = ax).
enum Reg : unsigned { kAx, kBx, kCx, kDx, kCs, kSs, kDs, kEs, kSp, kBp, kSi, kDi, kIp, kFlags, kNumRegs };
inline const char* reg_name(unsigned r) {
    static const char* const kNames[kNumRegs] = {"ax", "bx", "cx", "dx", "cs", "ss", "ds",
                                                 "es", "sp", "bp", "si", "di", "ip", "flags"};
    return r < kNumRegs ? kNames[r] : "?";
}

struct CpuStateImage {
    uint16_t mask = 0;  // which registers are present (bit r for Reg r)
    std::array<uint16_t, kNumRegs> regs{};
    std::vector<std::pair<uint32_t, uint8_t>> ram;  // (address, value)
    std::vector<uint8_t> queue;                     // prefetch queue (informational)
    bool has(unsigned r) const { return mask & (1u << r); }
};

struct Test {
    uint32_t index = 0;
    size_t file_offset = 0;  // where its TEST chunk starts in the decompressed image
    std::string name;        // the disassembly
    std::vector<uint8_t> bytes;
    CpuStateImage init, final_state;
    bool has_exception = false;
    uint8_t exception_vector = 0;
    uint32_t exception_flags_address = 0;
    bool has_hash = false;
    std::array<uint8_t, 20> hash{};
    std::string hash_hex() const {
        static const char kHex[] = "0123456789abcdef";
        std::string s;
        for (uint8_t b : hash) {
            s += kHex[b >> 4];
            s += kHex[b & 15];
        }
        return s;
    }
};

struct MooFile {
    uint8_t version = 0;
    uint32_t declared_count = 0;
    std::string cpu;  // e.g. "C286"
    std::vector<Test> tests;
};

struct MooError {
    size_t offset = 0;  // byte offset in the decompressed image
    std::string message;
};

namespace detail {

// Bounds-checked little-endian cursor over [begin, end) of an image.
class Cursor {
public:
    Cursor(const uint8_t* base, size_t begin, size_t end) : base_(base), pos_(begin), end_(end) {}
    size_t pos() const { return pos_; }
    size_t remaining() const { return end_ - pos_; }
    bool at_end() const { return pos_ >= end_; }
    bool u8(uint8_t& v) { return take(&v, 1); }
    bool u16(uint16_t& v) {
        uint8_t b[2];
        if (!take(b, 2)) return false;
        v = uint16_t(b[0] | b[1] << 8);
        return true;
    }
    bool u32(uint32_t& v) {
        uint8_t b[4];
        if (!take(b, 4)) return false;
        v = uint32_t(b[0]) | uint32_t(b[1]) << 8 | uint32_t(b[2]) << 16 | uint32_t(b[3]) << 24;
        return true;
    }
    bool take(void* out, size_t n) {
        if (n > remaining()) return false;
        std::memcpy(out, base_ + pos_, n);
        pos_ += n;
        return true;
    }
    bool skip(size_t n) {
        if (n > remaining()) return false;
        pos_ += n;
        return true;
    }
    const uint8_t* here() const { return base_ + pos_; }

private:
    const uint8_t* base_;
    size_t pos_, end_;
};

struct Chunk {
    char tag[5] = {0, 0, 0, 0, 0};
    size_t header_offset = 0;
    size_t body = 0;  // offset of the first byte of the body
    size_t size = 0;
    bool is(const char* t) const { return std::memcmp(tag, t, 4) == 0; }
};

// Reads a chunk header inside `c` and checks that its body fits.
inline std::optional<MooError> next_chunk(Cursor& c, Chunk& ch, const char* where) {
    ch.header_offset = c.pos();
    uint32_t len = 0;
    if (c.remaining() < 8 || !c.take(ch.tag, 4) || !c.u32(len))
        return MooError{ch.header_offset, std::string("truncated chunk header in ") + where};
    for (int i = 0; i < 4; i++)
        if (ch.tag[i] < 0x20 || ch.tag[i] > 0x7e)
            return MooError{ch.header_offset, std::string("chunk tag is not ASCII in ") + where};
    ch.body = c.pos();
    ch.size = len;
    if (len > c.remaining())
        return MooError{ch.header_offset, "chunk '" + std::string(ch.tag) + "' of " + std::to_string(len) +
                                              " bytes runs past the end of " + where};
    c.skip(len);
    return std::nullopt;
}

inline MooError short_body(const Chunk& ch, const Cursor& c) {
    return MooError{c.pos(), "chunk '" + std::string(ch.tag) + "' at offset " + std::to_string(ch.header_offset) +
                                 " is too short for its contents"};
}

inline std::optional<MooError> parse_state(const uint8_t* data, const Chunk& outer, CpuStateImage& st) {
    Cursor c(data, outer.body, outer.body + outer.size);
    while (!c.at_end()) {
        Chunk ch;
        if (auto e = next_chunk(c, ch, outer.tag)) return e;
        Cursor b(data, ch.body, ch.body + ch.size);
        if (ch.is("REGS")) {
            if (!b.u16(st.mask)) return short_body(ch, b);
            if (st.mask >> kNumRegs) return MooError{ch.body, "REGS mask has unknown register bits"};
            for (unsigned r = 0; r < kNumRegs; r++)
                if (st.has(r) && !b.u16(st.regs[r])) return short_body(ch, b);
        } else if (ch.is("RAM ")) {
            uint32_t n = 0;
            if (!b.u32(n) || uint64_t(n) * 5 > b.remaining()) return short_body(ch, b);
            st.ram.reserve(n);
            for (uint32_t i = 0; i < n; i++) {
                uint32_t a = 0;
                uint8_t v = 0;
                b.u32(a);
                b.u8(v);
                st.ram.emplace_back(a, v);
            }
        } else if (ch.is("QUEU")) {
            uint32_t n = 0;
            if (!b.u32(n) || n > b.remaining()) return short_body(ch, b);
            st.queue.assign(b.here(), b.here() + n);
        }  // anything else: skipped
    }
    return std::nullopt;
}

inline std::optional<MooError> parse_test(const uint8_t* data, const Chunk& outer, Test& t) {
    Cursor c(data, outer.body, outer.body + outer.size);
    t.file_offset = outer.header_offset;
    if (!c.u32(t.index)) return short_body(outer, c);
    bool have_init = false, have_final = false, have_bytes = false;
    while (!c.at_end()) {
        Chunk ch;
        if (auto e = next_chunk(c, ch, "TEST")) return e;
        Cursor b(data, ch.body, ch.body + ch.size);
        if (ch.is("NAME")) {
            uint32_t n = 0;
            if (!b.u32(n) || n > b.remaining()) return short_body(ch, b);
            t.name.assign(reinterpret_cast<const char*>(b.here()), n);
        } else if (ch.is("BYTS")) {
            uint32_t n = 0;
            if (!b.u32(n) || n > b.remaining()) return short_body(ch, b);
            t.bytes.assign(b.here(), b.here() + n);
            have_bytes = true;
        } else if (ch.is("INIT")) {
            if (auto e = parse_state(data, ch, t.init)) return e;
            have_init = true;
        } else if (ch.is("FINA")) {
            if (auto e = parse_state(data, ch, t.final_state)) return e;
            have_final = true;
        } else if (ch.is("EXCP")) {
            if (!b.u8(t.exception_vector) || !b.u32(t.exception_flags_address)) return short_body(ch, b);
            t.has_exception = true;
        } else if (ch.is("HASH")) {
            if (!b.take(t.hash.data(), t.hash.size())) return short_body(ch, b);
            t.has_hash = true;
        }  // CYCL, GMET, ...: skipped
    }
    if (!have_init || !have_final || !have_bytes)
        return MooError{outer.header_offset, "test " + std::to_string(t.index) + " lacks " +
                                                 (!have_bytes ? "BYTS" : !have_init ? "INIT" : "FINA")};
    const unsigned kNeeded = (1u << kCs) | (1u << kIp);
    if ((t.init.mask & kNeeded) != kNeeded)
        return MooError{outer.header_offset, "test " + std::to_string(t.index) + " has no initial CS:IP"};
    return std::nullopt;
}

}  // namespace detail

// Parses a decompressed MOO image into `out`. On success returns nullopt; on
// a malformed image returns where and why, with out.tests holding every test
// read before the problem.
inline std::optional<MooError> parse_moo(const uint8_t* data, size_t size, MooFile& out) {
    using namespace detail;
    Cursor c(data, 0, size);
    Chunk ch;
    if (auto e = next_chunk(c, ch, "the file")) return e;
    if (!ch.is("MOO ")) return MooError{0, "not a MOO file (first chunk is not 'MOO ')"};
    {
        Cursor b(data, ch.body, ch.body + ch.size);
        uint8_t reserved[3];
        char cpu[4];
        if (!b.u8(out.version) || !b.take(reserved, 3) || !b.u32(out.declared_count) || !b.take(cpu, 4))
            return short_body(ch, b);
        out.cpu.assign(cpu, 4);
    }
    out.tests.reserve(out.declared_count < 100000 ? out.declared_count : 0);
    while (!c.at_end()) {
        if (auto e = next_chunk(c, ch, "the file")) return e;
        if (!ch.is("TEST")) continue;  // unknown top-level chunk: skipped
        Test t;
        if (auto e = parse_test(data, ch, t)) return e;
        out.tests.push_back(std::move(t));
    }
    if (out.tests.size() != out.declared_count)
        return MooError{size, "file declares " + std::to_string(out.declared_count) + " tests but holds " +
                                  std::to_string(out.tests.size())};
    return std::nullopt;
}

inline std::optional<MooError> parse_moo(const std::vector<uint8_t>& image, MooFile& out) {
    return parse_moo(image.data(), image.size(), out);
}

// Reads a .MOO or .MOO.gz file (zlib reads either): moo_file.cpp. Errors in
// the gzip layer are reported at the decompressed offset they were met at.
std::optional<MooError> read_moo_file(const std::string& path, MooFile& out);
// Decompresses (or just reads) a file into `image`.
std::optional<MooError> read_gzip_file(const std::string& path, std::vector<uint8_t>& image);

}  // namespace nomad86::moo
