// GDB remote serial protocol framing: $payload#cs packets, '}' escapes,
// run-length encoding, acks and the 0x03 interrupt byte. Pure functions and a
// byte-at-a-time decoder, no I/O (net/gdb_server.cpp does the sockets).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace nomad86::gdb {

// The largest packet payload we accept (raw, before decoding) and the
// largest decoded payload; we advertise PacketSize=kMaxPacketSize (hex).
constexpr size_t kMaxPacketSize = 0x4000;

// Modulo-256 sum of the bytes.
uint8_t checksum(std::string_view bytes);
// "$payload#cs". The payload must already be escaped where needed.
std::string frame(std::string_view payload);
// Escapes '#', '$', '}' and '*' as '}' followed by the byte XOR 0x20
// (binary data in replies: qXfer, X).
std::string escape_binary(std::string_view data);
// Undoes '}' escapes and expands run-length encoding ("X*n": n-29 more
// copies of X). Returns false on a dangling escape, a run with nothing to
// repeat or a bad count, or a result longer than `max_out`.
bool decode_payload(std::string_view raw, std::string* out, size_t max_out = kMaxPacketSize);

// Hex helpers.
std::string to_hex(const uint8_t* data, size_t len);
std::string to_hex(std::string_view data);
// Parses an even-length hex string into bytes; false on a bad digit or odd length.
bool from_hex(std::string_view hex, std::vector<uint8_t>* out);
// Parses a hex number (no prefix, 1-16 digits); false otherwise.
bool parse_hex_u64(std::string_view hex, uint64_t* out);

// What the decoder found in the byte stream.
struct PacketEvent {
    enum class Kind : uint8_t {
        kPacket,       // a well-formed packet; payload is decoded
        kBadChecksum,  // reply '-' (the peer retransmits)
        kMalformed,    // checksum fine but the escapes/RLE are broken
        kOversized,    // longer than kMaxPacketSize
        kAck,          // '+'
        kNack,         // '-': retransmit our last packet
        kInterrupt,    // 0x03 outside a packet
    } kind;
    std::string payload;
};

// Incremental decoder: feed it whatever the socket delivered. Bytes outside
// a packet other than '+', '-', 0x03 and '$' are ignored (line noise); a '$'
// inside a packet restarts it.
class PacketDecoder {
public:
    explicit PacketDecoder(size_t max_size = kMaxPacketSize) : max_size_(max_size) {}
    void feed(std::string_view bytes, std::vector<PacketEvent>* events);
    // True while in the middle of a packet.
    bool in_packet() const { return state_ != State::kIdle; }
    void reset() {
        state_ = State::kIdle;
        raw_.clear();
        overflow_ = false;
    }

private:
    enum class State : uint8_t { kIdle, kBody, kCsum1, kCsum2 };
    size_t max_size_;
    State state_ = State::kIdle;
    std::string raw_;
    bool overflow_ = false;
    char csum_hi_ = 0;
};

}  // namespace nomad86::gdb
