#include "core/incoming_migration.h"

#include "core/machine.h"

namespace nomad86 {

using migration::MigrationError;
using migration::PayloadReader;
using migration::Record;
using migration::RecordType;

void IncomingMigration::fail(std::vector<uint8_t>& reply, const std::string& why) {
    migration::PayloadWriter w;
    w.str(why);
    migration::append_record(reply, RecordType::kFailed, w.out);
    throw MigrationError(why);
}

void IncomingMigration::load_state(std::vector<uint8_t>& reply) {
    if (!have_device_state_) fail(reply, "migration stream: no DEVICE_STATE before the end of the stream");
    try {
        machine_.load_device_state(device_state_);
    } catch (const StateError& e) {
        fail(reply, std::string("migration stream: device state rejected: ") + e.what());
    }
}

void IncomingMigration::handle(const Record& r, std::vector<uint8_t>& reply) {
    auto out_of_order = [&] {
        fail(reply, std::string("migration stream: unexpected ") + migration::record_name(r.type) + " record");
    };
    switch (r.type) {
    case RecordType::kHello: {
        if (phase_ != Phase::kHello) out_of_order();
        const migration::MachineIdentity theirs = migration::decode_hello(r);
        const std::string problem = migration::compatibility_problem(machine_.identity(), theirs);
        if (!problem.empty()) {
            migration::PayloadWriter w;
            w.str(problem);
            migration::append_record(reply, RecordType::kRefuse, w.out);
            throw MigrationError("refused the incoming machine: " + problem);
        }
        migration::append_record(reply, RecordType::kAccept);
        phase_ = Phase::kPages;
        return;
    }
    case RecordType::kRamPages: {
        if (phase_ != Phase::kPages && phase_ != Phase::kPostcopy) out_of_order();
        const migration::PageCounts n =
            migration::apply_ram_pages(r, machine_.memory(), phase_ == Phase::kPostcopy);
        pages_ += n.pages;
        zero_pages_ += n.zero_pages;
        return;
    }
    case RecordType::kDeviceState:
        if (phase_ != Phase::kPages || have_device_state_) out_of_order();
        device_state_ = r.payload;
        have_device_state_ = true;
        return;
    case RecordType::kEnd: {
        if (phase_ != Phase::kPages) out_of_order();
        PayloadReader p(r);
        const uint64_t declared_pages = p.u64();
        const uint64_t declared_zero = p.u64();
        p.expect_end();
        if (declared_pages != pages_ || declared_zero != zero_pages_)
            fail(reply, "migration stream: the source sent " + std::to_string(declared_pages) + " pages (" +
                            std::to_string(declared_zero) + " zero), " + std::to_string(pages_) + " (" +
                            std::to_string(zero_pages_) + ") arrived");
        load_state(reply);
        migration::append_record(reply, RecordType::kCommitted);
        phase_ = Phase::kCommitted;
        return;
    }
    case RecordType::kGo:
        if (phase_ != Phase::kCommitted) out_of_order();
        phase_ = Phase::kComplete;
        return;
    case RecordType::kPostcopyStart: {
        if (phase_ != Phase::kPages) out_of_order();
        PhysicalMemory& mem = machine_.memory();
        const std::vector<bool> to_come = migration::decode_page_bitmap(r, mem.ram_pages());
        load_state(reply);
        for (uint64_t page = 0; page < to_come.size(); page++)
            if (to_come[page]) mem.mark_absent(page);
        phase_ = Phase::kPostcopy;
        return;
    }
    case RecordType::kPostcopyDone:
        if (phase_ != Phase::kPostcopy) out_of_order();
        if (machine_.memory().absent_pages() != 0)
            fail(reply, "migration stream: post-copy ended with " +
                            std::to_string(machine_.memory().absent_pages()) + " pages missing");
        migration::append_record(reply, RecordType::kCommitted);
        phase_ = Phase::kComplete;
        return;
    default:
        out_of_order();
    }
}

}  // namespace nomad86
