#include "net/gdb_packet.h"

namespace nomad86::gdb {

namespace {
constexpr char kHex[] = "0123456789abcdef";

int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}
}  // namespace

uint8_t checksum(std::string_view bytes) {
    uint8_t sum = 0;
    for (char c : bytes) sum = uint8_t(sum + uint8_t(c));
    return sum;
}

std::string frame(std::string_view payload) {
    std::string out;
    out.reserve(payload.size() + 4);
    out += '$';
    out += payload;
    out += '#';
    const uint8_t cs = checksum(payload);
    out += kHex[cs >> 4];
    out += kHex[cs & 15];
    return out;
}

std::string escape_binary(std::string_view data) {
    std::string out;
    out.reserve(data.size());
    for (char c : data) {
        if (c == '#' || c == '$' || c == '}' || c == '*') {
            out += '}';
            out += char(uint8_t(c) ^ 0x20);
        } else {
            out += c;
        }
    }
    return out;
}

bool decode_payload(std::string_view raw, std::string* out, size_t max_out) {
    out->clear();
    for (size_t i = 0; i < raw.size(); i++) {
        const char c = raw[i];
        if (c == '}') {
            if (i + 1 >= raw.size()) return false;
            *out += char(uint8_t(raw[++i]) ^ 0x20);
        } else if (c == '*') {
            // "X*n" repeats X n-29 more times; n is printable (32..126).
            if (out->empty() || i + 1 >= raw.size()) return false;
            const int n = uint8_t(raw[++i]);
            if (n < 32 || n > 126) return false;
            const size_t count = size_t(n - 29);
            if (out->size() + count > max_out) return false;
            out->append(count, out->back());
        } else {
            *out += c;
        }
        if (out->size() > max_out) return false;
    }
    return true;
}

std::string to_hex(const uint8_t* data, size_t len) {
    std::string out;
    out.reserve(len * 2);
    for (size_t i = 0; i < len; i++) {
        out += kHex[data[i] >> 4];
        out += kHex[data[i] & 15];
    }
    return out;
}

std::string to_hex(std::string_view data) {
    return to_hex(reinterpret_cast<const uint8_t*>(data.data()), data.size());
}

bool from_hex(std::string_view hex, std::vector<uint8_t>* out) {
    out->clear();
    if (hex.size() % 2) return false;
    out->reserve(hex.size() / 2);
    for (size_t i = 0; i < hex.size(); i += 2) {
        const int hi = hex_digit(hex[i]), lo = hex_digit(hex[i + 1]);
        if (hi < 0 || lo < 0) return false;
        out->push_back(uint8_t(hi << 4 | lo));
    }
    return true;
}

bool parse_hex_u64(std::string_view hex, uint64_t* out) {
    if (hex.empty() || hex.size() > 16) return false;
    uint64_t v = 0;
    for (char c : hex) {
        const int d = hex_digit(c);
        if (d < 0) return false;
        v = v << 4 | uint64_t(d);
    }
    *out = v;
    return true;
}

void PacketDecoder::feed(std::string_view bytes, std::vector<PacketEvent>* events) {
    for (char c : bytes) {
        switch (state_) {
        case State::kIdle:
            if (c == '$') {
                state_ = State::kBody;
                raw_.clear();
                overflow_ = false;
            } else if (c == '+') {
                events->push_back({PacketEvent::Kind::kAck, {}});
            } else if (c == '-') {
                events->push_back({PacketEvent::Kind::kNack, {}});
            } else if (c == '\x03') {
                events->push_back({PacketEvent::Kind::kInterrupt, {}});
            }
            break;
        case State::kBody:
            if (c == '#') {
                state_ = State::kCsum1;
            } else if (c == '$') {
                raw_.clear();  // a new packet starts: drop the broken one
                overflow_ = false;
            } else if (raw_.size() >= max_size_) {
                overflow_ = true;
            } else {
                raw_ += c;
            }
            break;
        case State::kCsum1:
            csum_hi_ = c;
            state_ = State::kCsum2;
            break;
        case State::kCsum2: {
            state_ = State::kIdle;
            const int hi = hex_digit(csum_hi_), lo = hex_digit(c);
            if (overflow_) {
                events->push_back({PacketEvent::Kind::kOversized, {}});
            } else if (hi < 0 || lo < 0 || uint8_t(hi << 4 | lo) != checksum(raw_)) {
                events->push_back({PacketEvent::Kind::kBadChecksum, {}});
            } else {
                PacketEvent ev{PacketEvent::Kind::kPacket, {}};
                if (!decode_payload(raw_, &ev.payload, max_size_)) {
                    ev.kind = PacketEvent::Kind::kMalformed;
                    ev.payload.clear();
                }
                events->push_back(std::move(ev));
            }
            raw_.clear();
            overflow_ = false;
            break;
        }
        }
    }
}

}  // namespace nomad86::gdb
