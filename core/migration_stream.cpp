#include "core/migration_stream.h"

#include <cstring>
#include <utility>

#include <boost/crc.hpp>

#include "mmu/phys_memory.h"

namespace nomad86::migration {

namespace {
constexpr uint8_t kMagic[8] = {'N', 'O', 'M', 'A', 'D', '8', '6', 'M'};
constexpr size_t kHeaderBytes = 8;

uint32_t get_u32(const uint8_t* p) { return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24; }
void put_u32(std::vector<uint8_t>& out, uint32_t v) {
    for (int i = 0; i < 4; i++) out.push_back(uint8_t(v >> (8 * i)));
}
bool known_type(uint8_t t) { return (t >= 1 && t <= 7) || (t >= 16 && t <= 21); }
}  // namespace

const char* record_name(RecordType type) {
    switch (type) {
    case RecordType::kHello: return "HELLO";
    case RecordType::kRamPages: return "RAM_PAGES";
    case RecordType::kDeviceState: return "DEVICE_STATE";
    case RecordType::kEnd: return "END";
    case RecordType::kPostcopyStart: return "POSTCOPY_START";
    case RecordType::kGo: return "GO";
    case RecordType::kPostcopyDone: return "POSTCOPY_DONE";
    case RecordType::kAccept: return "ACCEPT";
    case RecordType::kRefuse: return "REFUSE";
    case RecordType::kCommitted: return "COMMITTED";
    case RecordType::kFailed: return "FAILED";
    case RecordType::kPageRequest: return "PAGE_REQUEST";
    case RecordType::kResumeFrom: return "RESUME_FROM";
    }
    return "unknown record";
}

namespace {
// CRC-32C (Castagnoli): the SSE4.2 instruction does 8 bytes a cycle, so
// checking every page costs far less than copying it; the table-driven
// fallback gives the same values on a host without it.
__attribute__((target("sse4.2"))) uint32_t crc32c_sse42(const uint8_t* p, size_t len) {
    uint64_t crc = 0xffffffffu;
    for (; len >= 8; p += 8, len -= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        crc = __builtin_ia32_crc32di(crc, w);
    }
    uint32_t c = uint32_t(crc);
    for (; len; p++, len--) c = __builtin_ia32_crc32qi(c, *p);
    return ~c;
}
uint32_t crc32c_portable(const uint8_t* p, size_t len) {
    boost::crc_optimal<32, 0x1EDC6F41, 0xFFFFFFFF, 0xFFFFFFFF, true, true> crc;
    crc.process_bytes(p, len);
    return crc.checksum();
}
}  // namespace

uint32_t crc32(const uint8_t* data, size_t len) {
    static const bool have_sse42 = __builtin_cpu_supports("sse4.2");
    return have_sse42 ? crc32c_sse42(data, len) : crc32c_portable(data, len);
}

void append_record(std::vector<uint8_t>& out, RecordType type, const uint8_t* payload, size_t len) {
    const size_t start = out.size();
    out.push_back(uint8_t(type));
    out.insert(out.end(), 3, 0);
    put_u32(out, uint32_t(len));
    if (len) out.insert(out.end(), payload, payload + len);
    put_u32(out, crc32(out.data() + start, out.size() - start));
}

void RecordParser::feed(const uint8_t* data, size_t len) {
    // Drop what was consumed before growing, so the buffer stays one record.
    if (pos_ > 0 && pos_ == buf_.size()) {
        buf_.clear();
        pos_ = 0;
    } else if (pos_ > (1u << 20)) {
        buf_.erase(buf_.begin(), buf_.begin() + long(pos_));
        pos_ = 0;
    }
    buf_.insert(buf_.end(), data, data + len);
}

bool RecordParser::next(Record* out) {
    const size_t avail = buf_.size() - pos_;
    if (avail < kHeaderBytes) return false;
    const uint8_t* h = buf_.data() + pos_;
    if (!known_type(h[0])) throw MigrationError("migration stream: unknown record type " + std::to_string(h[0]));
    if (h[1] || h[2] || h[3]) throw MigrationError("migration stream: corrupt record header");
    const uint32_t len = get_u32(h + 4);
    if (len > kMaxPayload)
        throw MigrationError("migration stream: " + std::string(record_name(RecordType(h[0]))) + " record of " +
                             std::to_string(len) + " bytes exceeds the limit of " + std::to_string(kMaxPayload));
    if (avail < kHeaderBytes + len + 4) return false;
    const uint32_t want = get_u32(h + kHeaderBytes + len);
    if (crc32(h, kHeaderBytes + len) != want)
        throw MigrationError("migration stream: checksum mismatch in a " +
                             std::string(record_name(RecordType(h[0]))) + " record");
    out->type = RecordType(h[0]);
    out->payload.assign(h + kHeaderBytes, h + kHeaderBytes + len);
    pos_ += kHeaderBytes + len + 4;
    return true;
}

void PayloadWriter::u32(uint32_t v) { put_u32(out, v); }
void PayloadWriter::u64(uint64_t v) {
    u32(uint32_t(v));
    u32(uint32_t(v >> 32));
}
void PayloadWriter::bytes(const void* p, size_t n) {
    const uint8_t* b = static_cast<const uint8_t*>(p);
    out.insert(out.end(), b, b + n);
}
void PayloadWriter::str(const std::string& s) {
    u32(uint32_t(s.size()));
    bytes(s.data(), s.size());
}

void PayloadReader::need(size_t n) const {
    if (p_.size() - pos_ < n) throw MigrationError(std::string("migration stream: truncated ") + what_ + " record");
}
uint8_t PayloadReader::u8() {
    need(1);
    return p_[pos_++];
}
uint32_t PayloadReader::u32() {
    need(4);
    const uint32_t v = get_u32(p_.data() + pos_);
    pos_ += 4;
    return v;
}
uint64_t PayloadReader::u64() {
    const uint64_t lo = u32();
    return lo | uint64_t(u32()) << 32;
}
const uint8_t* PayloadReader::bytes(size_t n) {
    need(n);
    const uint8_t* p = p_.data() + pos_;
    pos_ += n;
    return p;
}
std::string PayloadReader::str(size_t max_len) {
    const uint32_t n = u32();
    if (n > max_len) throw MigrationError(std::string("migration stream: overlong text in ") + what_ + " record");
    const uint8_t* p = bytes(n);
    std::string s(reinterpret_cast<const char*>(p), n);
    for (char& c : s)
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';  // a hostile peer's text goes to a terminal
    return s;
}
void PayloadReader::expect_end() const {
    if (pos_ != p_.size()) throw MigrationError(std::string("migration stream: trailing bytes in ") + what_ + " record");
}

std::vector<uint8_t> encode_hello(const MachineIdentity& id) {
    PayloadWriter w;
    w.bytes(kMagic, sizeof(kMagic));
    w.u32(kFormatVersion);
    w.u64(id.ram_size);
    w.u64(id.schema_hash);
    w.u32(id.firmware_crc);
    w.str(id.summary);
    return w.out;
}

MachineIdentity decode_hello(const Record& r) {
    if (r.type != RecordType::kHello)
        throw MigrationError(std::string("migration stream: expected HELLO, got ") + record_name(r.type) +
                             " (not a nomad86 migration stream?)");
    PayloadReader p(r);
    if (memcmp(p.bytes(sizeof(kMagic)), kMagic, sizeof(kMagic)) != 0)
        throw MigrationError("migration stream: bad magic (not a nomad86 migration stream)");
    const uint32_t version = p.u32();
    if (version != kFormatVersion)
        throw MigrationError("migration stream: format version " + std::to_string(version) +
                             ", this build reads version " + std::to_string(kFormatVersion));
    MachineIdentity id;
    id.ram_size = p.u64();
    id.schema_hash = p.u64();
    id.firmware_crc = p.u32();
    id.summary = p.str(256);
    p.expect_end();
    return id;
}

std::string compatibility_problem(const MachineIdentity& local, const MachineIdentity& incoming) {
    if (local.ram_size != incoming.ram_size)
        return "RAM size differs: the source has " + std::to_string(incoming.ram_size / MiB) +
               " MiB, this machine " + std::to_string(local.ram_size / MiB) + " MiB (-m)";
    if (local.schema_hash != incoming.schema_hash)
        return "the device set or state versions differ (source: " + incoming.summary + "; here: " + local.summary + ")";
    if (local.firmware_crc != incoming.firmware_crc) return "the firmware image (-bios) differs";
    return "";
}

bool page_is_zero(const uint8_t* page) {
    uint64_t acc = 0;
    for (size_t i = 0; i < kPageSize; i += 64) {
        uint64_t w[8];
        memcpy(w, page + i, 64);
        for (uint64_t x : w) acc |= x;
        if (acc) return false;
    }
    return true;
}

bool PageBatch::add(uint64_t page, const uint8_t* data) {
    if (w_.out.empty()) w_.u32(0);  // the count, patched by take()
    w_.u32(uint32_t(page));
    const bool zero = page_is_zero(data);
    if (zero) {
        w_.u8(0);
        zero_++;
    } else {
        w_.u8(1);
        w_.bytes(data, kPageSize);
    }
    count_++;
    return zero;
}

std::vector<uint8_t> PageBatch::take() {
    if (w_.out.empty()) w_.u32(0);
    for (int i = 0; i < 4; i++) w_.out[i] = uint8_t(count_ >> (8 * i));
    std::vector<uint8_t> payload = std::move(w_.out);
    w_.out = {};
    w_.out.reserve(payload.capacity());
    count_ = 0;
    zero_ = 0;
    return payload;
}

PageCounts apply_ram_pages(const Record& r, PhysicalMemory& memory, bool only_absent) {
    // Checked whole before anything is stored: a bad record changes nothing.
    PayloadReader p(r);
    const uint32_t count = p.u32();
    if (count > kPagesPerRecord) throw MigrationError("migration stream: RAM_PAGES record with too many pages");
    std::pair<uint32_t, const uint8_t*> pages[kPagesPerRecord];
    for (uint32_t i = 0; i < count; i++) {
        const uint32_t page = p.u32();
        const uint8_t kind = p.u8();
        if (!memory.is_migratable_page(page))
            throw MigrationError("migration stream: page number " + std::to_string(page) + " is outside RAM");
        if (kind > 1) throw MigrationError("migration stream: bad page kind");
        pages[i] = {page, kind ? p.bytes(kPageSize) : nullptr};
    }
    p.expect_end();
    PageCounts n;
    for (uint32_t i = 0; i < count; i++) {
        n.pages++;
        n.zero_pages += pages[i].second == nullptr;
        if (only_absent && !memory.is_absent(pages[i].first)) continue;
        memory.store_page(pages[i].first, pages[i].second);
    }
    return n;
}

std::vector<uint8_t> encode_page_bitmap(const std::vector<bool>& pages) {
    PayloadWriter w;
    w.u64(pages.size());
    std::vector<uint8_t> bits((pages.size() + 7) / 8, 0);
    for (size_t i = 0; i < pages.size(); i++)
        if (pages[i]) bits[i / 8] |= uint8_t(1u << (i % 8));
    w.bytes(bits.data(), bits.size());
    return w.out;
}

std::vector<bool> decode_page_bitmap(const Record& r, uint64_t ram_pages) {
    PayloadReader p(r);
    const uint64_t n = p.u64();
    if (n != ram_pages) throw MigrationError("migration stream: page bitmap of the wrong size");
    const uint8_t* bits = p.bytes((n + 7) / 8);
    p.expect_end();
    std::vector<bool> out(n);
    for (uint64_t i = 0; i < n; i++) out[i] = bits[i / 8] & (1u << (i % 8));
    return out;
}

}  // namespace nomad86::migration
