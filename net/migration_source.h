// The source of a live migration (monitor `migrate -d tcp:HOST:PORT`):
// reservation (HELLO, the destination accepts or refuses), iterative
// pre-copy (round one sends every page, later rounds the pages the guest
// dirtied meanwhile, from the MMU's dirty flags), stop-and-copy once what
// is left fits the downtime limit at the measured bandwidth, commitment
// (the destination checks and answers COMMITTED; then GO), or post-copy
// (the destination runs at once and pulls what it lacks). Any failure
// leaves this machine running with all its memory: the source gives the
// machine up only after COMMITTED.
//
// Single-threaded: pump() is called from the machine loop between guest
// slices and does a bounded amount of work; socket readiness wakes it too.
#pragma once
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "core/migration_stream.h"
#include "core/snapshot_file.h"
#include "net/migration_channel.h"

namespace nomad86 {

class Machine;

struct MigrationParameters {
    int64_t downtime_limit_ms = 300;          // QEMU's default
    uint64_t max_bandwidth = 128ull << 20;    // bytes per second, QEMU's default
    uint64_t max_postcopy_bandwidth = 0;      // background pages in post-copy; 0: unlimited (QEMU)
    int throttle_initial = 20;                // auto-converge, percent
    int throttle_increment = 10;
    bool auto_converge = false;
    bool postcopy_ram = false;
};

// What `info migrate` shows, in QEMU's terms.
struct MigrationStats {
    std::string status = "none";
    int64_t start_ns = 0, end_ns = 0, setup_ns = 0;
    int64_t downtime_ns = -1, expected_downtime_ns = -1;
    uint64_t transferred = 0;    // bytes on the wire
    uint64_t remaining = 0;      // bytes of RAM still dirty (or still to push)
    uint64_t total_ram = 0;
    uint64_t zero_pages = 0, normal_pages = 0;
    uint64_t rounds = 0;         // dirty-sync count
    double dirty_pages_rate = 0; // pages per second in the last round
    double bandwidth = 0;        // bytes per second in the last round
    uint64_t postcopy_requests = 0;
    int throttle = 0;
    std::string error;
};

class MigrationSource {
public:
    MigrationSource(boost::asio::io_context& io, Machine& machine);
    ~MigrationSource();

    // `migrate [-d] URI` (TCP; file: is handled by the caller) and
    // `migrate -r URI` (resume a broken post-copy). Returns an error
    // message for the monitor, or "".
    std::string start(const MigrationUri& uri);
    std::string recover(const MigrationUri& uri);
    std::string cancel();
    std::string start_postcopy();
    bool active() const;
    // `migrate file:PATH` ran (synchronously): `info migrate` shows it.
    void note_file_snapshot(const SnapshotStats& st, int64_t start_ns, const std::string& error);

    // One bounded step of work; returns the host nanoseconds it used.
    int64_t pump(int64_t budget_ns);

    MigrationParameters params;
    const MigrationStats& stats() const { return stats_; }
    std::string info_text() const;

private:
    enum class Phase { kIdle, kConnecting, kWaitAccept, kPrecopy, kWaitCommit, kPostcopy, kPostcopyPaused,
                       kRecoverWait };
    void connect(const MigrationUri& uri, Phase then);
    void on_connected();
    void handle_return_path();
    void on_record(const migration::Record& r);
    void send_pages(int64_t deadline_ns);
    void end_of_round();
    void stop_and_copy();
    void begin_postcopy();
    void send_postcopy_pages(int64_t deadline_ns);
    void finish(const std::string& status);
    void fail(const std::string& why);
    void lost_connection();
    bool rate_allows(uint64_t bandwidth);
    uint64_t count_dirty() const;

    boost::asio::io_context& io_;
    Machine& machine_;
    std::unique_ptr<boost::asio::ip::tcp::socket> connecting_;
    std::unique_ptr<MigrationChannel> channel_;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
    Phase phase_ = Phase::kIdle;
    MigrationStats stats_;
    bool paused_by_us_ = false;   // we stopped the guest (to resume it on failure)
    bool postcopy_requested_ = false;
    uint64_t cursor_ = 0;         // next page the round looks at
    int64_t round_start_ns_ = 0;
    uint64_t round_start_bytes_ = 0;
    uint64_t prev_round_dirty_ = 0;  // pages dirty when the last round ended
    int64_t stop_ns_ = 0;
    // Rate limit: bytes sent since rate_epoch_ns_.
    int64_t rate_epoch_ns_ = 0;
    uint64_t rate_epoch_bytes_ = 0;
    // Post-copy: pages the destination lacks, and its requests first.
    std::vector<bool> to_push_;
    uint64_t to_push_count_ = 0;
    std::deque<uint32_t> requests_;
    migration::PageBatch batch_;
};

}  // namespace nomad86
