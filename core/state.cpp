#include "core/state.h"

#include <cstdio>

namespace nomad86 {

void StateWriter::put_u32(uint32_t v) {
    for (int i = 0; i < 4; i++) out_.push_back(uint8_t(v >> (8 * i)));
}

void StateWriter::put_str(const char* s) {
    size_t n = strlen(s);
    put_u32(uint32_t(n));
    out_.insert(out_.end(), s, s + n);
}

void StateWriter::begin_section(const char* name, uint32_t version) {
    put_str(name);
    put_u32(version);
    section_starts_.push_back(out_.size());
    put_u32(0);  // length, patched by end_section
}

void StateWriter::end_section() {
    size_t start = section_starts_.back();
    section_starts_.pop_back();
    uint32_t len = uint32_t(out_.size() - start - 4);
    for (int i = 0; i < 4; i++) out_[start + i] = uint8_t(len >> (8 * i));
}

void StateWriter::integer(const char* name, void* data, size_t size) {
    put_str(name);
    put_u32(uint32_t(size));
    // Little-endian host: the bytes are the little-endian encoding.
    const uint8_t* p = static_cast<const uint8_t*>(data);
    out_.insert(out_.end(), p, p + size);
}

void StateWriter::bytes(const char* name, void* data, size_t size) { integer(name, data, size); }

uint32_t StateReader::get_u32() {
    if (in_.size() - pos_ < 4) throw StateError("state stream truncated");
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) v |= uint32_t(in_[pos_ + i]) << (8 * i);
    pos_ += 4;
    return v;
}

std::string StateReader::get_str() {
    uint32_t n = get_u32();
    if (n > 256 || in_.size() - pos_ < n) throw StateError("state stream: bad name length");
    std::string s(reinterpret_cast<const char*>(&in_[pos_]), n);
    pos_ += n;
    return s;
}

void StateReader::expect_name(const char* name) {
    std::string got = get_str();
    if (got != name) throw StateError("state stream: expected field '" + std::string(name) + "', found '" + got + "'");
}

void StateReader::begin_section(const char* name, uint32_t version) {
    std::string got = get_str();
    if (got != name) throw StateError("state stream: expected section '" + std::string(name) + "', found '" + got + "'");
    uint32_t got_version = get_u32();
    if (got_version != version)
        throw StateError("state stream: section '" + got + "' has version " + std::to_string(got_version) +
                         ", this build reads version " + std::to_string(version));
    uint32_t len = get_u32();
    if (len > in_.size() - pos_) throw StateError("state stream: section '" + got + "' is truncated");
    section_ends_.push_back(pos_ + len);
}

void StateReader::end_section() {
    if (section_ends_.empty() || section_ends_.back() != pos_)
        throw StateError("state stream: section length does not match its fields");
    section_ends_.pop_back();
}

void StateReader::integer(const char* name, void* data, size_t size) {
    expect_name(name);
    uint32_t got = get_u32();
    if (got != size) throw StateError("state stream: field '" + std::string(name) + "' has the wrong size");
    if (in_.size() - pos_ < size) throw StateError("state stream truncated");
    if (!section_ends_.empty() && pos_ + size > section_ends_.back())
        throw StateError("state stream: field '" + std::string(name) + "' overruns its section");
    memcpy(data, &in_[pos_], size);
    pos_ += size;
}

void StateReader::bytes(const char* name, void* data, size_t size) { integer(name, data, size); }

void StatePrinter::begin_section(const char* name, uint32_t version) {
    sections_.push_back(name);
    if (shown()) out_ += "[" + std::string(name) + "] version " + std::to_string(version) + "\n";
}

void StatePrinter::integer(const char* name, void* data, size_t size) {
    if (!shown()) return;
    uint64_t v = 0;
    memcpy(&v, data, size < 8 ? size : 8);
    char buf[32];
    snprintf(buf, sizeof(buf), "%#llx", static_cast<unsigned long long>(v));
    out_ += sections_.back() + "." + name + " = " + buf + "\n";
}

void StatePrinter::bytes(const char* name, void* data, size_t size) {
    if (!shown()) return;
    static const char kHex[] = "0123456789abcdef";
    const uint8_t* p = static_cast<const uint8_t*>(data);
    std::string hex;
    for (size_t i = 0; i < size; i++) {
        hex += kHex[p[i] >> 4];
        hex += kHex[p[i] & 15];
    }
    out_ += sections_.back() + "." + name + " = [" + hex + "]\n";
}

}  // namespace nomad86
