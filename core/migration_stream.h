// The migration stream: how a machine travels to a file (snapshot) or over
// a socket (live migration). One format serves both.
//
// A stream is a sequence of records: type (1 byte), 3 reserved zero bytes,
// payload length (u32 LE), payload, CRC-32C of everything before it (u32 LE).
// The source sends HELLO (machine identity), RAM_PAGES records (each a run
// of up to 256 pages, a zero page as a flag, not 4 KiB), DEVICE_STATE (the
// one state description of clock, CPU and devices, as StateWriter writes
// it) and END (counts the destination checks). Post-copy replaces END with
// POSTCOPY_START (a bitmap of the pages still to come) and later
// POSTCOPY_DONE. The destination answers on the same connection (the
// return path): ACCEPT or REFUSE after HELLO, COMMITTED or FAILED after
// END, PAGE_REQUEST in post-copy, RESUME_FROM (the pages it still lacks)
// when a broken post-copy is recovered; the source's GO then activates it.
//
// The reader treats the stream as hostile: bounded lengths, checksums,
// record order, page numbers inside RAM; any fault is a MigrationError.
#pragma once
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/types.h"

namespace nomad86 {

class PhysicalMemory;

namespace migration {

constexpr uint32_t kFormatVersion = 1;
constexpr uint32_t kPagesPerRecord = 256;
// The largest payload a reader accepts: a full RAM_PAGES record, a device
// state, a bitmap of 3 GiB of pages, whichever is largest, with room.
constexpr uint32_t kMaxPayload = 2 * 1024 * 1024;
constexpr size_t kRecordOverhead = 12;  // header 8 + CRC 4

enum class RecordType : uint8_t {
    // source -> destination
    kHello = 1,
    kRamPages = 2,
    kDeviceState = 3,
    kEnd = 4,
    kPostcopyStart = 5,
    kGo = 6,
    kPostcopyDone = 7,
    // destination -> source (the return path)
    kAccept = 16,
    kRefuse = 17,
    kCommitted = 18,
    kFailed = 19,
    kPageRequest = 20,
    kResumeFrom = 21,
};
const char* record_name(RecordType type);

// A stream that cannot be used: corrupt, truncated, reordered, oversized,
// foreign. what() is one line for the user.
struct MigrationError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

struct Record {
    RecordType type{};
    std::vector<uint8_t> payload;
};

// CRC-32C (Castagnoli).
uint32_t crc32(const uint8_t* data, size_t len);

// Appends one framed record to `out`.
void append_record(std::vector<uint8_t>& out, RecordType type, const uint8_t* payload, size_t len);
inline void append_record(std::vector<uint8_t>& out, RecordType type, const std::vector<uint8_t>& payload) {
    append_record(out, type, payload.data(), payload.size());
}
inline void append_record(std::vector<uint8_t>& out, RecordType type) { append_record(out, type, nullptr, 0); }

// Cuts bytes (as they arrive, in any pieces) into checked records.
class RecordParser {
public:
    void feed(const uint8_t* data, size_t len);
    // The next whole record, or false when more bytes are needed. Throws
    // MigrationError on a bad header, an oversized length or a bad CRC.
    bool next(Record* out);
    // Bytes of an unfinished record (a stream that ends here is truncated).
    size_t pending() const { return buf_.size() - pos_; }

private:
    std::vector<uint8_t> buf_;
    size_t pos_ = 0;
};

// Little-endian payload building and checked reading.
class PayloadWriter {
public:
    void u8(uint8_t v) { out.push_back(v); }
    void u32(uint32_t v);
    void u64(uint64_t v);
    void bytes(const void* p, size_t n);
    void str(const std::string& s);
    std::vector<uint8_t> out;
};
class PayloadReader {
public:
    PayloadReader(const Record& r) : p_(r.payload), what_(record_name(r.type)) {}
    uint8_t u8();
    uint32_t u32();
    uint64_t u64();
    const uint8_t* bytes(size_t n);
    std::string str(size_t max_len);
    void expect_end() const;

private:
    void need(size_t n) const;
    const std::vector<uint8_t>& p_;
    const char* what_;
    size_t pos_ = 0;
};

// What the destination checks before any page moves: same RAM size, same
// state description (every section's name, version and fields, which is
// the device set), same firmware.
struct MachineIdentity {
    uint64_t ram_size = 0;
    uint64_t schema_hash = 0;
    uint32_t firmware_crc = 0;
    std::string summary;  // "256 MiB RAM, 13 sections" for messages
};
std::vector<uint8_t> encode_hello(const MachineIdentity& id);
MachineIdentity decode_hello(const Record& r);  // format version checked here
// Empty when `incoming` can be hosted by `local`, else why not (one line).
std::string compatibility_problem(const MachineIdentity& local, const MachineIdentity& incoming);

bool page_is_zero(const uint8_t* page);

// Builds RAM_PAGES payloads.
class PageBatch {
public:
    // Adds a page; returns true for a zero page (sent as a flag).
    bool add(uint64_t page, const uint8_t* data);
    size_t pages() const { return count_; }
    size_t zero_pages() const { return zero_; }
    bool full() const { return count_ >= kPagesPerRecord; }
    bool empty() const { return count_ == 0; }
    // The payload; the batch starts over.
    std::vector<uint8_t> take();

private:
    PayloadWriter w_;
    uint32_t count_ = 0;
    uint32_t zero_ = 0;
};

// Stores a RAM_PAGES record's pages; every page number is checked against
// the RAM, so a hostile record writes nothing outside it. In post-copy
// (`only_absent`) a page the destination already has is skipped: it may
// have been requested and pushed both, and the guest may have written it
// since the first copy arrived.
struct PageCounts {
    uint64_t pages = 0;
    uint64_t zero_pages = 0;
};
PageCounts apply_ram_pages(const Record& r, PhysicalMemory& memory, bool only_absent = false);

// A set of pages as a bitmap payload (POSTCOPY_START, RESUME_FROM).
std::vector<uint8_t> encode_page_bitmap(const std::vector<bool>& pages);
std::vector<bool> decode_page_bitmap(const Record& r, uint64_t ram_pages);

}  // namespace migration
}  // namespace nomad86
