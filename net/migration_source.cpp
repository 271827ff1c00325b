#include "net/migration_source.h"

#include <cinttypes>
#include <cstdio>
#include <ctime>

#include <boost/asio/connect.hpp>

#include "core/machine.h"

namespace nomad86 {

namespace asio = boost::asio;
using asio::ip::tcp;
using migration::RecordType;

namespace {
constexpr size_t kMaxQueued = 1u << 20;  // stop producing while this much waits for the socket
constexpr size_t kMaxQueuedPostcopy = 64u << 10;  // requested pages overtake at most this much
constexpr int kSendTimeoutMs = 10000;
constexpr uint64_t kSmallDirtyBytes = 64u << 10;  // a pause this small is not worth another round
constexpr uint64_t kMaxExtraRounds = 30;
}  // namespace

MigrationSource::MigrationSource(asio::io_context& io, Machine& machine) : io_(io), machine_(machine) {}

MigrationSource::~MigrationSource() { *alive_ = false; }

bool MigrationSource::active() const { return phase_ != Phase::kIdle; }

std::string MigrationSource::start(const MigrationUri& uri) {
    if (active()) return "migration already in progress (status " + stats_.status + ")";
    stats_ = MigrationStats{};
    stats_.status = "setup";
    stats_.start_ns = host_monotonic_ns();
    PhysicalMemory& mem = machine_.memory();
    for (uint64_t p = 0; p < mem.ram_pages(); p++) stats_.total_ram += mem.is_migratable_page(p) ? kPageSize : 0;
    paused_by_us_ = false;
    postcopy_requested_ = false;
    requests_.clear();
    to_push_.clear();
    to_push_count_ = 0;
    connect(uri, Phase::kWaitAccept);
    return "";
}

void MigrationSource::note_file_snapshot(const SnapshotStats& st, int64_t start_ns, const std::string& error) {
    stats_ = MigrationStats{};
    stats_.status = error.empty() ? "completed" : "failed";
    stats_.error = error;
    stats_.start_ns = start_ns;
    stats_.end_ns = host_monotonic_ns();
    stats_.downtime_ns = st.downtime_ns;
    stats_.transferred = st.bytes;
    stats_.zero_pages = st.zero_pages;
    stats_.normal_pages = st.pages - st.zero_pages;
    stats_.total_ram = st.pages * kPageSize;
    stats_.rounds = 1;
}

std::string MigrationSource::recover(const MigrationUri& uri) {
    if (phase_ != Phase::kPostcopyPaused) return "migrate -r: no paused post-copy migration to resume";
    connect(uri, Phase::kRecoverWait);
    return "";
}

std::string MigrationSource::cancel() {
    switch (phase_) {
    case Phase::kIdle:
        return "";
    case Phase::kPostcopy:
    case Phase::kPostcopyPaused:
    case Phase::kRecoverWait:
        return "migrate_cancel: the destination is running (post-copy); it can only be resumed (migrate -r)";
    default:
        break;
    }
    fail("");
    stats_.status = "cancelled";
    return "";
}

std::string MigrationSource::start_postcopy() {
    if (!params.postcopy_ram) return "migrate_start_postcopy: the postcopy-ram capability is off";
    if (phase_ != Phase::kPrecopy && phase_ != Phase::kWaitAccept && phase_ != Phase::kConnecting)
        return "migrate_start_postcopy: no pre-copy migration is running";
    postcopy_requested_ = true;
    return "";
}

void MigrationSource::connect(const MigrationUri& uri, Phase then) {
    phase_ = Phase::kConnecting;
    channel_.reset();
    connecting_ = std::make_unique<tcp::socket>(io_);
    const std::string host = uri.host.empty() ? "127.0.0.1" : uri.host;
    const std::string where = host + ":" + std::to_string(uri.port);
    tcp::resolver resolver(io_);
    boost::system::error_code ec;
    auto endpoints = resolver.resolve(host, std::to_string(uri.port), ec);
    if (ec) {
        fail("cannot resolve '" + host + "': " + ec.message());
        return;
    }
    std::weak_ptr<bool> alive = alive_;
    asio::async_connect(*connecting_, endpoints,
                        [this, alive, then, where](const boost::system::error_code& e, const tcp::endpoint&) {
                            if (alive.expired() || phase_ != Phase::kConnecting || !connecting_) return;
                            if (e) {
                                if (then == Phase::kRecoverWait) {
                                    phase_ = Phase::kPostcopyPaused;
                                    stats_.error = "cannot connect to " + where + ": " + e.message();
                                    connecting_.reset();
                                    return;
                                }
                                fail("cannot connect to " + where + ": " + e.message());
                                return;
                            }
                            channel_ = std::make_unique<MigrationChannel>(std::move(*connecting_), [this] { pump(0); });
                            connecting_.reset();
                            migration::append_record(channel_->out(), RecordType::kHello,
                                                     migration::encode_hello(machine_.identity()));
                            channel_->flush();
                            phase_ = then;
                        });
}

bool MigrationSource::rate_allows(uint64_t bandwidth) {
    if (bandwidth == 0) return true;
    const int64_t now = host_monotonic_ns();
    const uint64_t sent = channel_->bytes_written() + channel_->queued();
    if (now - rate_epoch_ns_ > 1'000'000'000) {
        rate_epoch_ns_ = now;
        rate_epoch_bytes_ = sent;
    }
    const double allowed = double(bandwidth) * double(now - rate_epoch_ns_) / 1e9 +
                           double(bandwidth) / 20;  // a 50 ms burst
    return double(sent - rate_epoch_bytes_) < allowed;
}

uint64_t MigrationSource::count_dirty() const { return machine_.memory().count_dirty(); }

int64_t MigrationSource::pump(int64_t budget_ns) {
    const int64_t t0 = host_monotonic_ns();
    if (!channel_) return 0;
    handle_return_path();
    if (!channel_) return host_monotonic_ns() - t0;
    channel_->flush();
    if (phase_ == Phase::kPrecopy) {
        if (postcopy_requested_) {
            begin_postcopy();
        } else {
            send_pages(t0 + budget_ns);
        }
    }
    if (phase_ == Phase::kPostcopy && channel_) send_postcopy_pages(t0 + budget_ns);
    if (channel_) {
        stats_.transferred = channel_->bytes_written();
        if (channel_->broken()) lost_connection();
    }
    return host_monotonic_ns() - t0;
}

void MigrationSource::handle_return_path() {
    migration::Record r;
    try {
        while (channel_ && channel_->next_record(&r)) on_record(r);
    } catch (const migration::MigrationError& e) {
        fail(std::string("bad reply from the destination: ") + e.what());
        return;
    }
    if (channel_ && channel_->broken()) lost_connection();
}

void MigrationSource::on_record(const migration::Record& r) {
    migration::PayloadReader p(r);
    switch (r.type) {
    case RecordType::kAccept:
        if (phase_ != Phase::kWaitAccept) break;
        p.expect_end();
        stats_.setup_ns = host_monotonic_ns() - stats_.start_ns;
        stats_.status = "active";
        machine_.memory().set_all_dirty();
        cursor_ = 0;
        round_start_ns_ = rate_epoch_ns_ = host_monotonic_ns();
        round_start_bytes_ = rate_epoch_bytes_ = channel_->bytes_written();
        stats_.rounds = 1;
        prev_round_dirty_ = UINT64_MAX;
        phase_ = Phase::kPrecopy;
        return;
    case RecordType::kRefuse:
        fail("the destination refused the machine: " + p.str(1024));
        return;
    case RecordType::kFailed:
        if (phase_ == Phase::kPostcopy || phase_ == Phase::kRecoverWait) {
            stats_.error = "the destination failed: " + p.str(1024);
            lost_connection();
            return;
        }
        fail("the destination failed: " + p.str(1024));
        return;
    case RecordType::kCommitted:
        if (phase_ != Phase::kWaitCommit) break;
        p.expect_end();
        if (to_push_.empty()) {
            // Pre-copy: the destination holds everything; let it run.
            migration::append_record(channel_->out(), RecordType::kGo);
            if (!channel_->flush_all(kSendTimeoutMs)) {
                fail("connection lost before GO: " + channel_->error());
                return;
            }
            stats_.downtime_ns = host_monotonic_ns() - stop_ns_;
        }
        finish("completed");
        return;
    case RecordType::kPageRequest: {
        if (phase_ != Phase::kPostcopy) return;  // late requests after the last page: harmless
        const uint32_t page = p.u32();
        p.expect_end();
        // Bounded: a request for a page already queued adds nothing.
        if (page < to_push_.size() && to_push_[page] && requests_.size() < to_push_count_) requests_.push_back(page);
        stats_.postcopy_requests++;
        return;
    }
    case RecordType::kResumeFrom: {
        if (phase_ != Phase::kRecoverWait) break;
        to_push_ = migration::decode_page_bitmap(r, machine_.memory().ram_pages());
        to_push_count_ = 0;
        for (bool b : to_push_) to_push_count_ += b;
        requests_.clear();
        cursor_ = 0;
        stats_.error.clear();
        stats_.status = "postcopy-active";
        channel_->set_send_buffer(128 * 1024);
        phase_ = Phase::kPostcopy;
        return;
    }
    default:
        break;
    }
    fail(std::string("unexpected ") + migration::record_name(r.type) + " record from the destination");
}

void MigrationSource::send_pages(int64_t deadline_ns) {
    PhysicalMemory& mem = machine_.memory();
    const uint64_t pages = mem.ram_pages();
    while (channel_ && phase_ == Phase::kPrecopy && channel_->queued() < kMaxQueued &&
           rate_allows(params.max_bandwidth)) {
        while (cursor_ < pages && !batch_.full()) {
            if (mem.test_and_clear_dirty(cursor_) && mem.is_migratable_page(cursor_)) {
                const bool zero = batch_.add(cursor_, mem.page_data(cursor_));
                stats_.zero_pages += zero;
                stats_.normal_pages += !zero;
            }
            cursor_++;
        }
        if (!batch_.empty()) migration::append_record(channel_->out(), RecordType::kRamPages, batch_.take());
        channel_->flush();
        if (cursor_ >= pages) {
            end_of_round();
            return;
        }
        if (host_monotonic_ns() >= deadline_ns) return;
    }
}

void MigrationSource::end_of_round() {
    const int64_t now = host_monotonic_ns();
    const double seconds = std::max<double>(double(now - round_start_ns_) / 1e9, 0.001);
    const uint64_t sent = channel_->bytes_written() + channel_->queued() - round_start_bytes_;
    const uint64_t dirty = count_dirty();
    stats_.bandwidth = double(sent) / seconds;
    stats_.dirty_pages_rate = double(dirty) / seconds;
    stats_.remaining = dirty * kPageSize;
    const double bw = std::max(stats_.bandwidth, 1.0);
    stats_.expected_downtime_ns = int64_t(double(stats_.remaining) / bw * 1e9);
    const bool fits = stats_.expected_downtime_ns <= params.downtime_limit_ms * 1'000'000;
    // The limit is a ceiling, not a target: while rounds still shrink the
    // dirty set by a quarter or more, another round costs little time and
    // cuts the pause further (an idle guest goes down to the few pages it
    // writes per timer tick). QEMU stops at the first round that fits.
    const bool shrinking = dirty * 4 < prev_round_dirty_ * 3 && dirty * kPageSize > kSmallDirtyBytes &&
                           stats_.rounds < kMaxExtraRounds;
    prev_round_dirty_ = dirty;
    if (fits && !shrinking) {
        stop_and_copy();
        return;
    }
    // Auto-converge: the guest dirtied more than half of what the link moved
    // in this round: slow its CPU down, more every round, until it fits.
    if (!fits && params.auto_converge && stats_.rounds >= 2 && double(dirty * kPageSize) > 0.5 * double(sent)) {
        stats_.throttle = stats_.throttle == 0 ? params.throttle_initial
                                               : std::min(99, stats_.throttle + params.throttle_increment);
        machine_.set_cpu_throttle(stats_.throttle);
    }
    stats_.rounds++;
    cursor_ = 0;
    round_start_ns_ = now;
    round_start_bytes_ = channel_->bytes_written() + channel_->queued();
}

void MigrationSource::stop_and_copy() {
    stop_ns_ = host_monotonic_ns();
    if (!machine_.paused()) {
        machine_.pause();
        paused_by_us_ = true;
    }
    stats_.status = "device";
    PhysicalMemory& mem = machine_.memory();
    for (uint64_t page = 0; page < mem.ram_pages(); page++) {
        if (!mem.test_and_clear_dirty(page) || !mem.is_migratable_page(page)) continue;
        const bool zero = batch_.add(page, mem.page_data(page));
        stats_.zero_pages += zero;
        stats_.normal_pages += !zero;
        if (batch_.full()) migration::append_record(channel_->out(), RecordType::kRamPages, batch_.take());
        if (channel_->queued() > 4 * kMaxQueued && !channel_->flush_all(kSendTimeoutMs)) break;
    }
    if (!batch_.empty()) migration::append_record(channel_->out(), RecordType::kRamPages, batch_.take());
    migration::append_record(channel_->out(), RecordType::kDeviceState, machine_.save_device_state());
    migration::PayloadWriter end;
    end.u64(stats_.zero_pages + stats_.normal_pages);
    end.u64(stats_.zero_pages);
    migration::append_record(channel_->out(), RecordType::kEnd, end.out);
    stats_.remaining = 0;
    phase_ = Phase::kWaitCommit;
    if (!channel_->flush_all(kSendTimeoutMs)) {
        fail("connection lost in stop-and-copy: " + channel_->error());
        return;
    }
    // The destination checks and loads at once: wait for its answer here
    // rather than a loop turn later, which would add to the downtime.
    if (channel_->wait_readable(2000)) handle_return_path();
}

void MigrationSource::begin_postcopy() {
    postcopy_requested_ = false;
    stop_ns_ = host_monotonic_ns();
    if (!machine_.paused()) {
        machine_.pause();
        paused_by_us_ = true;
    }
    if (!batch_.empty()) migration::append_record(channel_->out(), RecordType::kRamPages, batch_.take());
    // Every page the destination does not hold as it is now: dirty since
    // it was sent, or not sent yet (round one marked every page dirty).
    PhysicalMemory& mem = machine_.memory();
    to_push_.assign(mem.ram_pages(), false);
    to_push_count_ = 0;
    for (uint64_t page = 0; page < mem.ram_pages(); page++) {
        if (mem.test_and_clear_dirty(page) && mem.is_migratable_page(page)) {
            to_push_[page] = true;
            to_push_count_++;
        }
    }
    migration::append_record(channel_->out(), RecordType::kDeviceState, machine_.save_device_state());
    migration::append_record(channel_->out(), RecordType::kPostcopyStart, migration::encode_page_bitmap(to_push_));
    if (!channel_->flush_all(kSendTimeoutMs)) {
        // Nothing ran on the destination yet: this is a pre-copy failure.
        to_push_.clear();
        fail("connection lost starting post-copy: " + channel_->error());
        return;
    }
    stats_.downtime_ns = host_monotonic_ns() - stop_ns_;
    stats_.status = "postcopy-active";
    channel_->set_send_buffer(128 * 1024);
    cursor_ = 0;
    phase_ = Phase::kPostcopy;
}

void MigrationSource::send_postcopy_pages(int64_t deadline_ns) {
    PhysicalMemory& mem = machine_.memory();
    while (channel_ && phase_ == Phase::kPostcopy && channel_->queued() < kMaxQueuedPostcopy) {
        // Requested pages first, each in a record of its own: a vCPU waits.
        while (!requests_.empty()) {
            const uint32_t page = requests_.front();
            requests_.pop_front();
            if (!to_push_[page]) continue;
            to_push_[page] = false;
            to_push_count_--;
            migration::PageBatch one;
            one.add(page, mem.page_data(page));
            migration::append_record(channel_->out(), RecordType::kRamPages, one.take());
        }
        if (!rate_allows(params.max_postcopy_bandwidth)) {
            channel_->flush();
            return;
        }
        while (cursor_ < to_push_.size() && !batch_.full()) {
            if (to_push_[cursor_]) {
                to_push_[cursor_] = false;
                to_push_count_--;
                batch_.add(cursor_, mem.page_data(cursor_));
            }
            cursor_++;
        }
        if (!batch_.empty()) migration::append_record(channel_->out(), RecordType::kRamPages, batch_.take());
        stats_.remaining = to_push_count_ * kPageSize;
        if (to_push_count_ == 0) {
            migration::append_record(channel_->out(), RecordType::kPostcopyDone);
            channel_->flush();
            phase_ = Phase::kWaitCommit;
            return;
        }
        channel_->flush();
        if (host_monotonic_ns() >= deadline_ns) return;
    }
}

void MigrationSource::lost_connection() {
    const std::string why = channel_ ? channel_->error() : "connection lost";
    const bool postcopy = !to_push_.empty() &&
                          (phase_ == Phase::kPostcopy || phase_ == Phase::kWaitCommit || phase_ == Phase::kRecoverWait);
    if (!postcopy) {
        fail("connection lost: " + why);
        return;
    }
    // The destination runs on what it has and waits for the rest; this side
    // keeps the complete copy until `migrate -r` reconnects.
    if (stats_.error.empty()) stats_.error = "connection lost: " + why;
    channel_.reset();
    stats_.status = "postcopy-paused";
    phase_ = Phase::kPostcopyPaused;
    fprintf(stderr, "nomad86: post-copy migration paused (%s); resume with 'migrate -r tcp:HOST:PORT'\n",
            stats_.error.c_str());
}

void MigrationSource::finish(const std::string& status) {
    stats_.status = status;
    stats_.end_ns = host_monotonic_ns();
    stats_.remaining = 0;
    if (channel_) {
        stats_.transferred = channel_->bytes_written();
        channel_.reset();
    }
    to_push_.clear();
    machine_.set_cpu_throttle(0);
    phase_ = Phase::kIdle;
    // Completed: the machine now lives on the destination; this one stays
    // paused (QEMU's "postmigrate").
    if (status == "completed" && machine_.paused()) machine_.set_pause_reason("postmigrate");
}

void MigrationSource::fail(const std::string& why) {
    stats_.status = "failed";
    stats_.error = why;
    stats_.end_ns = host_monotonic_ns();
    if (channel_) stats_.transferred = channel_->bytes_written();
    channel_.reset();
    connecting_.reset();
    batch_.take();
    to_push_.clear();
    machine_.set_cpu_throttle(0);
    phase_ = Phase::kIdle;
    // Nothing is lost: this machine kept all its memory and state.
    if (paused_by_us_) machine_.resume();
    paused_by_us_ = false;
    if (!why.empty()) fprintf(stderr, "nomad86: migration failed: %s\n", why.c_str());
}

std::string MigrationSource::info_text() const {
    const MigrationStats& s = stats_;
    if (s.status == "none") return "";
    char buf[256];
    std::string out;
    auto line = [&](const char* fmt, auto... args) {
        snprintf(buf, sizeof(buf), fmt, args...);
        out += buf;
    };
    const int64_t end = s.end_ns ? s.end_ns : host_monotonic_ns();
    line("capabilities: auto-converge: %s postcopy-ram: %s\n", params.auto_converge ? "on" : "off",
         params.postcopy_ram ? "on" : "off");
    line("Migration status: %s\n", s.status.c_str());
    if (!s.error.empty()) line("error description: %s\n", s.error.c_str());
    line("total time: %" PRId64 " ms\n", (end - s.start_ns) / 1'000'000);
    if (s.expected_downtime_ns >= 0 && s.status != "completed")
        line("expected downtime: %" PRId64 " ms\n", s.expected_downtime_ns / 1'000'000);
    if (s.downtime_ns >= 0) line("downtime: %.3f ms\n", double(s.downtime_ns) / 1e6);
    line("setup: %" PRId64 " ms\n", s.setup_ns / 1'000'000);
    line("transferred ram: %" PRIu64 " kbytes\n", s.transferred / 1024);
    const double secs = std::max(double(end - s.start_ns) / 1e9, 1e-9);
    line("throughput: %.2f mbps\n", double(s.transferred) * 8 / secs / 1e6);
    line("remaining ram: %" PRIu64 " kbytes\n", s.remaining / 1024);
    line("total ram: %" PRIu64 " kbytes\n", s.total_ram / 1024);
    line("duplicate: %" PRIu64 " pages\n", s.zero_pages);
    line("normal: %" PRIu64 " pages\n", s.normal_pages);
    line("normal bytes: %" PRIu64 " kbytes\n", s.normal_pages * kPageSize / 1024);
    line("dirty sync count: %" PRIu64 "\n", s.rounds);
    line("page size: 4 kbytes\n");
    line("pages-per-second: %.0f\n", double(s.zero_pages + s.normal_pages) / secs);
    if (s.status == "active" || s.dirty_pages_rate > 0) line("dirty pages rate: %.0f pages\n", s.dirty_pages_rate);
    if (s.throttle) line("cpu throttle percentage: %d\n", s.throttle);
    if (!to_push_.empty() || s.postcopy_requests) line("postcopy request count: %" PRIu64 "\n", s.postcopy_requests);
    return out;
}

}  // namespace nomad86
