// The migration stream and snapshots, in one process: the framing is
// hostile-proof, and a machine saved to a file and loaded into a second
// machine in the same process goes on exactly as the first.
#include <doctest/doctest.h>

#include <cstdio>
#include <cstring>
#include <type_traits>

#include "core/incoming_migration.h"
#include "core/machine.h"
#include "core/migration_stream.h"
#include "core/snapshot_file.h"
#include "tests/unit/test_support.h"

using namespace nomad86;
using namespace nomad86::migration;

namespace {
std::vector<uint8_t> counting_firmware() {
    // xor ax,ax; mov ds,ax; L: inc word [0x500]; inc ax; jmp L
    return test::firmware_with({0x31, 0xc0, 0x8e, 0xd8, 0xff, 0x06, 0x00, 0x05, 0x40, 0xeb, 0xf9});
}

MachineConfig small_config() {
    MachineConfig cfg;
    cfg.ram_size = 8 * MiB;
    cfg.serial.kind = CharDevSpec::Kind::kNull;
    cfg.debugcon.kind = CharDevSpec::Kind::kNull;
    return cfg;
}

std::vector<uint8_t> framed(RecordType type, const std::vector<uint8_t>& payload) {
    std::vector<uint8_t> out;
    append_record(out, type, payload);
    return out;
}
}  // namespace

static_assert(std::is_abstract_v<Device>, "a device must describe its state (Stateful::describe is pure)");

TEST_CASE("migration stream: CRC-32C of the check string") {
    const char* check = "123456789";
    CHECK(crc32(reinterpret_cast<const uint8_t*>(check), 9) == 0xE3069283u);
}

TEST_CASE("migration stream: records arrive in any pieces; corruption is refused") {
    std::vector<uint8_t> payload(5000);
    for (size_t i = 0; i < payload.size(); i++) payload[i] = uint8_t(i * 7);
    const std::vector<uint8_t> bytes = framed(RecordType::kDeviceState, payload);
    for (size_t piece : {size_t(1), size_t(3), size_t(4096), bytes.size()}) {
        RecordParser p;
        Record r;
        size_t got = 0;
        for (size_t i = 0; i < bytes.size(); i += piece) {
            p.feed(bytes.data() + i, std::min(piece, bytes.size() - i));
            while (p.next(&r)) got++;
        }
        CHECK(got == 1);
        CHECK(r.type == RecordType::kDeviceState);
        CHECK(r.payload == payload);
        CHECK(p.pending() == 0);
    }
    for (size_t pos : {size_t(0), size_t(5), size_t(100), bytes.size() - 1}) {
        std::vector<uint8_t> bad = bytes;
        bad[pos] ^= 0x10;
        RecordParser p;
        p.feed(bad.data(), bad.size());
        Record r;
        CHECK_THROWS_AS(p.next(&r), MigrationError);
    }
    std::vector<uint8_t> huge = {uint8_t(RecordType::kRamPages), 0, 0, 0, 0xff, 0xff, 0xff, 0x7f};
    RecordParser p;
    p.feed(huge.data(), huge.size());
    Record r;
    CHECK_THROWS_AS(p.next(&r), MigrationError);  // refused from the header, before any allocation
}

TEST_CASE("migration stream: RAM_PAGES outside RAM or in the legacy hole write nothing") {
    PhysicalMemory mem(4 * MiB);
    for (uint64_t page : {uint64_t(0xa0), uint64_t(0xff), uint64_t(1024), uint64_t(0xffffffff)}) {
        PayloadWriter w;
        w.u32(2);
        w.u32(5);  // a good page first: the record is checked before anything is stored
        w.u8(1);
        std::vector<uint8_t> data(kPageSize, 0xab);
        w.bytes(data.data(), data.size());
        w.u32(uint32_t(page));
        w.u8(0);
        Record r{RecordType::kRamPages, w.out};
        CHECK_THROWS_AS(apply_ram_pages(r, mem), MigrationError);
        CHECK(mem.read(GuestPhys(5 * kPageSize), 1) == 0);
    }
    PageBatch b;
    std::vector<uint8_t> page(kPageSize, 0);
    CHECK(b.add(3, page.data()));
    page[17] = 9;
    CHECK_FALSE(b.add(4, page.data()));
    Record r{RecordType::kRamPages, b.take()};
    CHECK(r.payload.size() == 4 + 5 + 5 + kPageSize);  // the zero page is a flag
    const PageCounts n = apply_ram_pages(r, mem);
    CHECK(n.pages == 2);
    CHECK(n.zero_pages == 1);
    CHECK(mem.read(GuestPhys(4 * kPageSize + 17), 1) == 9);
}

TEST_CASE("migration stream: the destination checks the record order and the machine") {
    Machine m(small_config(), counting_firmware(), VirtualClock::Mode::kManual);
    std::vector<uint8_t> reply;
    {
        IncomingMigration in(m);
        CHECK_THROWS_AS(in.handle(Record{RecordType::kEnd, {}}, reply), MigrationError);  // before HELLO
    }
    {
        IncomingMigration in(m);
        MachineIdentity other = m.identity();
        other.ram_size *= 2;
        reply.clear();
        CHECK_THROWS_AS(in.handle(Record{RecordType::kHello, encode_hello(other)}, reply), MigrationError);
        RecordParser p;
        p.feed(reply.data(), reply.size());
        Record r;
        REQUIRE(p.next(&r));
        CHECK(r.type == RecordType::kRefuse);
    }
    {
        IncomingMigration in(m);
        reply.clear();
        in.handle(Record{RecordType::kHello, encode_hello(m.identity())}, reply);
        PayloadWriter end;
        end.u64(0);
        end.u64(0);
        // END without DEVICE_STATE
        CHECK_THROWS_AS(in.handle(Record{RecordType::kEnd, end.out}, reply), MigrationError);
    }
}

TEST_CASE("migration: two machines in one process; a snapshot file carries RAM, CPU, devices and guest time") {
    const std::string path = "/tmp/nomad86-test-snapshot.bin";
    Machine a(small_config(), counting_firmware(), VirtualClock::Mode::kManual);
    a.clock().advance_to(123456789);
    a.run_for(100000);
    SnapshotStats saved;
    REQUIRE(save_snapshot_file(a, path, &saved) == "");
    CHECK(saved.pages == (8 * MiB - (PhysicalMemory::kLegacyHoleEnd - PhysicalMemory::kLegacyHoleStart)) / kPageSize);
    CHECK(saved.zero_pages + 1 == saved.pages);  // only the counter's page is not zero

    Machine b(small_config(), counting_firmware(), VirtualClock::Mode::kManual);
    load_snapshot_file(b, path);
    CHECK(b.clock().now_ns() == a.clock().now_ns());
    CHECK(b.save_device_state() == a.save_device_state());
    const uint64_t counter = a.memory().read(GuestPhys(0x500), 2);
    CHECK(counter != 0);
    CHECK(b.memory().read(GuestPhys(0x500), 2) == counter);
    // Both go on in step.
    a.run_for(5000);
    b.run_for(5000);
    CHECK(b.memory().read(GuestPhys(0x500), 2) == a.memory().read(GuestPhys(0x500), 2));
    CHECK(b.cpu().state().gpr[kRax] == a.cpu().state().gpr[kRax]);
    CHECK(b.cpu().state().rip == a.cpu().state().rip);

    // A truncated file is refused, and says so.
    std::vector<uint8_t> bytes(size_t(saved.bytes));
    FILE* f = fopen(path.c_str(), "rb");
    REQUIRE(f);
    REQUIRE(fread(bytes.data(), 1, bytes.size(), f) == bytes.size());
    fclose(f);
    f = fopen(path.c_str(), "wb");
    fwrite(bytes.data(), 1, bytes.size() - 5, f);
    fclose(f);
    Machine c(small_config(), counting_firmware(), VirtualClock::Mode::kManual);
    CHECK_THROWS_WITH_AS(load_snapshot_file(c, path), doctest::Contains("truncated"), MigrationError);
    remove(path.c_str());
}

TEST_CASE("migration: an absent page (post-copy) is fetched on first access, by the CPU or the decoder") {
    struct Source : AbsentPageSource {
        PhysicalMemory* mem = nullptr;
        std::vector<uint64_t> asked;
        void fetch(uint64_t page) override {
            asked.push_back(page);
            std::vector<uint8_t> data(kPageSize, uint8_t(page));
            mem->store_page(page, data.data());
        }
    } source;
    PhysicalMemory mem(4 * MiB);
    source.mem = &mem;
    mem.set_absent_page_source(&source);
    mem.mark_absent(0x200);
    mem.mark_absent(0x201);
    mem.mark_absent(0xa0);  // the legacy hole is never absent
    CHECK(mem.absent_pages() == 2);
    CHECK(mem.read(GuestPhys(0x200123), 1) == 0x00);  // page 0x200: byte 0x00
    uint8_t buf[8];
    mem.read_bytes(GuestPhys(0x201ffc), buf, 8);       // crosses into page 0x202, present
    CHECK(buf[0] == 0x01);
    CHECK(buf[4] == 0x00);
    CHECK(source.asked == std::vector<uint64_t>{0x200, 0x201});
    CHECK(mem.absent_pages() == 0);
    mem.write(GuestPhys(0x200000), 1, 0x55);           // present now: no fetch, the write stays
    CHECK(source.asked.size() == 2);
    CHECK(mem.read(GuestPhys(0x200000), 1) == 0x55);
}

namespace {
// Where the field values are in a StateWriter stream (section: name,
// version, length; field: name, size, value), so that mutations hit values
// rather than names, which the reader refuses outright.
std::vector<std::pair<size_t, size_t>> value_spans(const std::vector<uint8_t>& s) {
    auto u32 = [&](size_t at) { return uint32_t(s[at]) | uint32_t(s[at + 1]) << 8 | uint32_t(s[at + 2]) << 16 | uint32_t(s[at + 3]) << 24; };
    std::vector<std::pair<size_t, size_t>> spans;
    std::vector<size_t> ends;
    size_t pos = 0;
    while (pos < s.size()) {
        while (!ends.empty() && ends.back() == pos) ends.pop_back();
        if (pos >= s.size()) break;
        const size_t name_len = u32(pos);
        pos += 4 + name_len;
        if (ends.empty()) {  // a section header: version, length
            const size_t len = u32(pos + 4);
            pos += 8;
            ends.push_back(pos + len);
        } else {
            const size_t size = u32(pos);
            pos += 4;
            spans.emplace_back(pos, size);
            pos += size;
        }
    }
    return spans;
}
}  // namespace

TEST_CASE("migration: hostile device state (any field set to any value) is refused or runs, never crashes the host") {
    Machine a(small_config(), counting_firmware(), VirtualClock::Mode::kManual);
    a.run_for(1000);
    const std::vector<uint8_t> good = a.save_device_state();
    const auto spans = value_spans(good);
    REQUIRE(spans.size() > 100);
    uint64_t seed = 0x9e3779b97f4a7c15ull;
    auto rnd = [&] {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        return seed;
    };
    int refused = 0, ran = 0;
    for (int i = 0; i < 400; i++) {
        std::vector<uint8_t> bad = good;
        for (int k = 0; k < 3; k++) {
            const auto [at, size] = spans[rnd() % spans.size()];
            for (size_t b = 0; b < size; b++)
                if (rnd() % 2) bad[at + b] = uint8_t(rnd());
        }
        Machine b(small_config(), counting_firmware(), VirtualClock::Mode::kManual);
        try {
            b.load_device_state(bad);
        } catch (const StateError&) {
            refused++;
            continue;
        }
        // Run the CPU and the timers directly: a state that halts with
        // interrupts off would keep run_for() waiting on a manual clock.
        for (int slice = 0; slice < 4; slice++) {
            b.clock().advance_by(20'000'000);
            b.clock().run_expired();
            b.cpu().run(5000);
        }
        ran++;
    }
    CHECK(refused + ran == 400);
    MESSAGE("hostile device states: ", refused, " refused, ", ran, " loaded and ran");
}
