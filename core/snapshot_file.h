// Snapshots through a file, in QEMU's words: `migrate file:PATH` on a
// running machine, `-incoming file:PATH` to resume it. The file is the
// migration stream (core/migration_stream.h) without a return path.
#pragma once
#include <cstdint>
#include <string>

namespace nomad86 {

class Machine;

struct SnapshotStats {
    uint64_t pages = 0;
    uint64_t zero_pages = 0;
    uint64_t bytes = 0;
    int64_t downtime_ns = 0;  // how long the guest stood still for the copy
};

// Writes a consistent snapshot: the guest is held still for the copy and
// runs on afterwards unless it was paused before. The file appears whole
// or not at all (written beside it, then renamed). Returns an empty string
// on success, else the problem (one line).
std::string save_snapshot_file(Machine& machine, const std::string& path, SnapshotStats* stats = nullptr);

// Loads a snapshot into a machine built with the same options (not yet
// run). Throws migration::MigrationError with a one-line message on a
// missing, truncated, corrupt or foreign file.
void load_snapshot_file(Machine& machine, const std::string& path, SnapshotStats* stats = nullptr);

}  // namespace nomad86
