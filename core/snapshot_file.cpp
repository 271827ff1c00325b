#include "core/snapshot_file.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include "core/incoming_migration.h"
#include "core/machine.h"

namespace nomad86 {

using migration::RecordType;

namespace {
struct FileCloser {
    void operator()(FILE* f) const { fclose(f); }
};
}  // namespace

std::string save_snapshot_file(Machine& machine, const std::string& path, SnapshotStats* stats) {
    const std::string tmp = path + ".tmp";
    std::unique_ptr<FILE, FileCloser> f(fopen(tmp.c_str(), "wb"));
    if (!f) return "cannot create '" + tmp + "': " + strerror(errno);
    const int64_t start = host_monotonic_ns();
    const bool was_paused = machine.paused();
    machine.pause();
    SnapshotStats st;
    std::vector<uint8_t> out;
    bool ok = true;
    auto flush = [&] {
        if (!out.empty() && fwrite(out.data(), 1, out.size(), f.get()) != out.size()) ok = false;
        st.bytes += out.size();
        out.clear();
    };
    migration::append_record(out, RecordType::kHello, migration::encode_hello(machine.identity()));
    PhysicalMemory& mem = machine.memory();
    migration::PageBatch batch;
    for (uint64_t page = 0; page < mem.ram_pages() && ok; page++) {
        if (!mem.is_migratable_page(page)) continue;
        st.zero_pages += batch.add(page, mem.page_data(page));
        st.pages++;
        if (batch.full()) {
            migration::append_record(out, RecordType::kRamPages, batch.take());
            flush();
        }
    }
    if (!batch.empty()) migration::append_record(out, RecordType::kRamPages, batch.take());
    migration::append_record(out, RecordType::kDeviceState, machine.save_device_state());
    migration::PayloadWriter end;
    end.u64(st.pages);
    end.u64(st.zero_pages);
    migration::append_record(out, RecordType::kEnd, end.out);
    flush();
    if (fflush(f.get()) != 0) ok = false;
    const int write_errno = errno;
    f.reset();
    st.downtime_ns = host_monotonic_ns() - start;
    if (!was_paused) machine.resume();
    if (!ok) {
        remove(tmp.c_str());
        return "cannot write '" + tmp + "': " + strerror(write_errno);
    }
    if (rename(tmp.c_str(), path.c_str()) != 0) {
        const std::string why = strerror(errno);
        remove(tmp.c_str());
        return "cannot rename '" + tmp + "' to '" + path + "': " + why;
    }
    if (stats) *stats = st;
    return "";
}

void load_snapshot_file(Machine& machine, const std::string& path, SnapshotStats* stats) {
    std::unique_ptr<FILE, FileCloser> f(fopen(path.c_str(), "rb"));
    if (!f) throw migration::MigrationError("cannot open snapshot '" + path + "': " + strerror(errno));
    IncomingMigration incoming(machine);
    migration::RecordParser parser;
    migration::Record record;
    std::vector<uint8_t> chunk(1 << 20), reply;
    uint64_t bytes = 0;
    try {
        size_t n;
        while ((n = fread(chunk.data(), 1, chunk.size(), f.get())) > 0) {
            bytes += n;
            parser.feed(chunk.data(), n);
            while (parser.next(&record)) {
                if (incoming.phase() == IncomingMigration::Phase::kCommitted)
                    throw migration::MigrationError("migration stream: data after the END record");
                incoming.handle(record, reply);
                reply.clear();  // a file has no return path
            }
        }
        if (ferror(f.get())) throw migration::MigrationError(std::string("read error: ") + strerror(errno));
        if (incoming.phase() != IncomingMigration::Phase::kCommitted || parser.pending() != 0)
            throw migration::MigrationError("migration stream: truncated (it ends before the END record)");
    } catch (const migration::MigrationError& e) {
        throw migration::MigrationError("snapshot '" + path + "': " + e.what());
    }
    if (stats) {
        stats->pages = incoming.pages();
        stats->zero_pages = incoming.zero_pages();
        stats->bytes = bytes;
    }
}

}  // namespace nomad86
