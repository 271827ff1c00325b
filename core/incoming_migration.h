// The destination's side of the migration stream, without any transport:
// the TCP destination and the snapshot-file loader both feed it records.
// It checks the order (HELLO, RAM_PAGES..., DEVICE_STATE, then END or
// POSTCOPY_START), the machine identity, the counts the source declares,
// and loads the device state only once everything before it checked out.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/migration_stream.h"

namespace nomad86 {

class Machine;

class IncomingMigration {
public:
    enum class Phase {
        kHello,     // waiting for HELLO
        kPages,     // pre-copy: RAM pages, then DEVICE_STATE and END
        kCommitted, // END checked and state loaded; waiting for GO
        kPostcopy,  // running; absent pages still arriving
        kComplete,  // every page and the state are here
    };
    explicit IncomingMigration(Machine& machine) : machine_(machine) {}

    // Handles one record from the source; return-path records go to
    // `reply`. Throws migration::MigrationError (or StateError) when the
    // stream is unusable; after REFUSE/FAILED is put in `reply`.
    void handle(const migration::Record& record, std::vector<uint8_t>& reply);

    Phase phase() const { return phase_; }
    // True once the guest may run here: after GO, or from POSTCOPY_START on.
    bool activated() const { return phase_ == Phase::kPostcopy || phase_ == Phase::kComplete; }
    uint64_t pages() const { return pages_; }
    uint64_t zero_pages() const { return zero_pages_; }

private:
    [[noreturn]] void fail(std::vector<uint8_t>& reply, const std::string& why);
    void load_state(std::vector<uint8_t>& reply);

    Machine& machine_;
    Phase phase_ = Phase::kHello;
    std::vector<uint8_t> device_state_;
    bool have_device_state_ = false;
    uint64_t pages_ = 0;
    uint64_t zero_pages_ = 0;
};

}  // namespace nomad86
