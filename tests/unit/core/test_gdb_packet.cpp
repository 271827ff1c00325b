#include <doctest/doctest.h>

#include "net/gdb_packet.h"

using namespace nomad86::gdb;

namespace {
std::vector<PacketEvent> feed(PacketDecoder& d, std::string_view bytes) {
    std::vector<PacketEvent> ev;
    d.feed(bytes, &ev);
    return ev;
}
}  // namespace

TEST_CASE("gdb packet: checksum and framing") {
    CHECK(checksum("") == 0);
    CHECK(checksum("OK") == uint8_t('O' + 'K'));
    CHECK(frame("OK") == "$OK#9a");
    CHECK(frame("") == "$#00");
    CHECK(frame("qSupported") == "$qSupported#37");
}

TEST_CASE("gdb packet: escaping binary data round-trips through the decoder") {
    const std::string data = std::string("a}b#c$d*e\x03", 10);
    const std::string esc = escape_binary(data);
    CHECK(esc == "a}]b}\x03" "c}\x04" "d}\x0a" "e\x03");
    std::string out;
    REQUIRE(decode_payload(esc, &out));
    CHECK(out == data);
}

TEST_CASE("gdb packet: run-length decoding") {
    std::string out;
    REQUIRE(decode_payload("0* ", &out));  // ' ' = 32: 3 more copies
    CHECK(out == "0000");
    REQUIRE(decode_payload("x*\"y", &out));  // '"' = 34: 5 more
    CHECK(out == "xxxxxxy");
    CHECK_FALSE(decode_payload("*a", &out));       // nothing to repeat
    CHECK_FALSE(decode_payload("a*", &out));       // dangling run
    CHECK_FALSE(decode_payload("a*\x01", &out));   // bad count
    CHECK_FALSE(decode_payload("ab}", &out));      // dangling escape
    CHECK_FALSE(decode_payload("a*~a*~a*~", &out, 100));  // over the limit
}

TEST_CASE("gdb packet: decoder finds packets, acks and interrupts") {
    PacketDecoder d;
    auto ev = feed(d, "+$g#67-\x03");
    REQUIRE(ev.size() == 4);
    CHECK(ev[0].kind == PacketEvent::Kind::kAck);
    CHECK(ev[1].kind == PacketEvent::Kind::kPacket);
    CHECK(ev[1].payload == "g");
    CHECK(ev[2].kind == PacketEvent::Kind::kNack);
    CHECK(ev[3].kind == PacketEvent::Kind::kInterrupt);
}

TEST_CASE("gdb packet: a packet split over many reads") {
    PacketDecoder d;
    const std::string f = frame("m f0100,4");
    std::vector<PacketEvent> all;
    for (char c : f) d.feed(std::string_view(&c, 1), &all);
    REQUIRE(all.size() == 1);
    CHECK(all[0].payload == "m f0100,4");
    CHECK_FALSE(d.in_packet());
}

TEST_CASE("gdb packet: escaped payload with the checksum over the raw bytes") {
    PacketDecoder d;
    const std::string raw = "X100,1:}]";  // one '}' byte
    auto ev = feed(d, frame(raw));
    REQUIRE(ev.size() == 1);
    CHECK(ev[0].kind == PacketEvent::Kind::kPacket);
    CHECK(ev[0].payload == "X100,1:}");
    CHECK(frame(escape_binary("#$}*")).find_first_of("#$", 1) == 9);  // only the trailer '#'
}

TEST_CASE("gdb packet: bad checksums, garbage and malformed packets") {
    PacketDecoder d;
    auto ev = feed(d, "$g#00");
    REQUIRE(ev.size() == 1);
    CHECK(ev[0].kind == PacketEvent::Kind::kBadChecksum);
    ev = feed(d, "$g#zz");
    REQUIRE(ev.size() == 1);
    CHECK(ev[0].kind == PacketEvent::Kind::kBadChecksum);
    // Line noise outside a packet is ignored.
    ev = feed(d, "hello\r\n\xff\x00garbage");
    CHECK(ev.empty());
    CHECK_FALSE(d.in_packet());
    // A '$' inside a packet restarts it.
    ev = feed(d, "$abc$g#67");
    REQUIRE(ev.size() == 1);
    CHECK(ev[0].payload == "g");
    // Broken escapes/RLE with a right checksum.
    ev = feed(d, frame("*x"));
    REQUIRE(ev.size() == 1);
    CHECK(ev[0].kind == PacketEvent::Kind::kMalformed);
    // A peer that stops mid-packet leaves the decoder waiting; reset drops it.
    ev = feed(d, "$m100,");
    CHECK(ev.empty());
    CHECK(d.in_packet());
    d.reset();
    CHECK_FALSE(d.in_packet());
}

TEST_CASE("gdb packet: oversized packets are reported once, not buffered") {
    PacketDecoder d(64);
    std::string big = "$" + std::string(1000, 'a') + "#00";
    auto ev = feed(d, big);
    REQUIRE(ev.size() == 1);
    CHECK(ev[0].kind == PacketEvent::Kind::kOversized);
    // RLE that expands past the limit is malformed, not a huge allocation.
    ev = feed(d, frame("a*~a*~"));
    REQUIRE(ev.size() == 1);
    CHECK(ev[0].kind == PacketEvent::Kind::kMalformed);
    ev = feed(d, "$g#67");
    REQUIRE(ev.size() == 1);
    CHECK(ev[0].kind == PacketEvent::Kind::kPacket);
}

TEST_CASE("gdb packet: hex helpers") {
    std::vector<uint8_t> b;
    REQUIRE(from_hex("00ff7A", &b));
    CHECK(b == std::vector<uint8_t>{0x00, 0xff, 0x7a});
    CHECK_FALSE(from_hex("abc", &b));
    CHECK_FALSE(from_hex("zz", &b));
    REQUIRE(from_hex("00ff7a", &b));
    CHECK(to_hex(b.data(), b.size()) == "00ff7a");
    uint64_t v;
    REQUIRE(parse_hex_u64("fffffffffffffff0", &v));
    CHECK(v == 0xfffffffffffffff0ull);
    CHECK_FALSE(parse_hex_u64("", &v));
    CHECK_FALSE(parse_hex_u64("12345678901234567", &v));
    CHECK_FALSE(parse_hex_u64("12g", &v));
}
