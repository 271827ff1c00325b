#include "net/migration_destination.h"

#include <cinttypes>
#include <cstdio>
#include <ctime>

#include "core/machine.h"

namespace nomad86 {

namespace asio = boost::asio;
using asio::ip::tcp;
using migration::RecordType;

MigrationDestination::MigrationDestination(asio::io_context& io, Machine& machine)
    : io_(io), machine_(machine), incoming_(machine) {
    machine_.pause();
    machine_.set_pause_reason("inmigrate");
    machine_.hold_paused("Migration is not finalized yet (this is an incoming migration's destination)");
}

MigrationDestination::~MigrationDestination() {
    *alive_ = false;
    if (machine_.memory().absent_pages()) machine_.memory().set_absent_page_source(nullptr);
}

std::string MigrationDestination::listen(const MigrationUri& uri) {
    try {
        const std::string host = uri.host.empty() ? "0.0.0.0" : uri.host;
        auto acceptor = std::make_unique<tcp::acceptor>(io_);
        tcp::endpoint ep(asio::ip::make_address(host), uri.port);
        acceptor->open(ep.protocol());
        acceptor->set_option(tcp::acceptor::reuse_address(true));
        acceptor->bind(ep);
        acceptor->listen(1);
        port_ = acceptor->local_endpoint().port();
        acceptor_ = std::move(acceptor);
    } catch (const std::exception& e) {
        return "cannot listen on " + uri.host + ":" + std::to_string(uri.port) + ": " + e.what();
    }
    accept_next();
    return "";
}

std::string MigrationDestination::listen_deferred(const MigrationUri& uri) {
    if (acceptor_ || channel_ || start_ns_) return "migrate_incoming: this destination is already listening";
    return listen(uri);
}

std::string MigrationDestination::recover(const MigrationUri& uri) {
    if (status_ != "postcopy-paused") return "migrate_recover: no paused post-copy migration here";
    recovering_ = true;
    return listen(uri);
}

void MigrationDestination::accept_next() {
    std::weak_ptr<bool> alive = alive_;
    acceptor_->async_accept([this, alive](const boost::system::error_code& ec, tcp::socket socket) {
        if (alive.expired() || ec) return;
        acceptor_.reset();  // one source at a time
        if (!start_ns_) start_ns_ = host_monotonic_ns();
        if (!recovering_) status_ = "active";
        channel_ = std::make_unique<MigrationChannel>(std::move(socket), [this] { process(); });
        process();
    });
}

void MigrationDestination::process() {
    if (!channel_ || in_process_) return;
    in_process_ = true;
    migration::Record r;
    std::vector<uint8_t> reply;
    try {
        while (channel_ && channel_->next_record(&r)) {
            reply.clear();
            if (recovering_) {
                // The source's `migrate -r`: it says hello again; tell it
                // which pages are still missing here.
                const migration::MachineIdentity theirs = migration::decode_hello(r);
                const std::string problem = migration::compatibility_problem(machine_.identity(), theirs);
                if (!problem.empty()) throw migration::MigrationError("recovery refused: " + problem);
                PhysicalMemory& mem = machine_.memory();
                std::vector<bool> absent(mem.ram_pages());
                for (uint64_t p = 0; p < absent.size(); p++) absent[p] = mem.is_absent(p);
                migration::append_record(reply, RecordType::kResumeFrom, migration::encode_page_bitmap(absent));
                recovering_ = false;
                status_ = "postcopy-active";
            } else {
                incoming_.handle(r, reply);
            }
            if (!reply.empty()) {
                channel_->out().insert(channel_->out().end(), reply.begin(), reply.end());
                channel_->flush_all(5000);
            }
            if (incoming_.activated() && !activated_) activate();
            if (incoming_.phase() == IncomingMigration::Phase::kComplete && status_ != "completed") {
                status_ = "completed";
                end_ns_ = host_monotonic_ns();
                machine_.memory().set_absent_page_source(nullptr);
            }
        }
    } catch (const std::exception& e) {  // MigrationError, StateError
        // What the source must hear (REFUSE, FAILED) is in `reply`.
        if (channel_ && !reply.empty()) {
            channel_->out().insert(channel_->out().end(), reply.begin(), reply.end());
            channel_->flush_all(1000);
        }
        in_process_ = false;
        fail(e.what());
        return;
    }
    in_process_ = false;
    if (channel_ && channel_->broken() && status_ != "completed") {
        if (incoming_.phase() == IncomingMigration::Phase::kPostcopy) {
            // The guest runs on; an access to a page still absent waits
            // until the source reconnects (migrate_recover / migrate -r).
            status_ = "postcopy-paused";
            fprintf(stderr,
                    "nomad86: incoming post-copy migration paused (%s), %" PRIu64
                    " pages missing; resume with 'migrate_recover tcp:HOST:PORT' here and 'migrate -r' on the "
                    "source\n",
                    channel_->error().c_str(), machine_.memory().absent_pages());
            channel_.reset();
            return;
        }
        fail("the source went away before the migration completed (" + channel_->error() + ")");
    }
    if (channel_ && status_ == "completed" && incoming_.phase() == IncomingMigration::Phase::kComplete)
        channel_.reset();
}

void MigrationDestination::activate() {
    activated_ = true;
    if (incoming_.phase() == IncomingMigration::Phase::kPostcopy) {
        status_ = "postcopy-active";
        machine_.memory().set_absent_page_source(this);
    }
    machine_.release_hold();
    machine_.set_pause_reason("");
    machine_.after_migration();
    if (autostart_) machine_.resume();
}

void MigrationDestination::fail(const std::string& why) {
    status_ = "failed";
    channel_.reset();
    acceptor_.reset();
    fprintf(stderr, "nomad86: incoming migration failed: %s\n", why.c_str());
    machine_.request_exit(1);
}

void MigrationDestination::fetch(uint64_t page) {
    const int64_t asked = host_monotonic_ns();
    bool sent = false;
    PhysicalMemory& mem = machine_.memory();
    while (mem.is_absent(page) && !machine_.exit_requested()) {
        if (channel_ && !channel_->broken()) {
            if (!sent) {
                migration::PayloadWriter w;
                w.u32(uint32_t(page));
                migration::append_record(channel_->out(), RecordType::kPageRequest, w.out);
                channel_->flush_all(5000);
                sent = true;
                requests_++;
            }
            if (channel_->wait_readable(100) || channel_->broken()) process();
        } else {
            // Broken: serve the monitor (migrate_recover) and the new
            // connection until the page comes.
            sent = false;
            io_.run_one_for(std::chrono::milliseconds(50));
        }
    }
    const int64_t waited = host_monotonic_ns() - asked;
    request_ns_total_ += waited;
    request_ns_max_ = std::max(request_ns_max_, waited);
}

std::string MigrationDestination::info_text() const {
    char buf[512];
    const int64_t end = end_ns_ ? end_ns_ : host_monotonic_ns();
    snprintf(buf, sizeof(buf),
             "Migration status: %s (incoming)\n"
             "total time: %" PRId64 " ms\n"
             "received pages: %" PRIu64 "\n"
             "duplicate: %" PRIu64 " pages\n"
             "absent pages: %" PRIu64 "\n"
             "postcopy request count: %" PRIu64 "\n"
             "postcopy request latency: avg %.3f ms, max %.3f ms\n",
             status_.c_str(), start_ns_ ? (end - start_ns_) / 1'000'000 : 0, incoming_.pages(),
             incoming_.zero_pages(), machine_.memory().absent_pages(), requests_,
             requests_ ? double(request_ns_total_) / double(requests_) / 1e6 : 0.0, double(request_ns_max_) / 1e6);
    return buf;
}

}  // namespace nomad86
