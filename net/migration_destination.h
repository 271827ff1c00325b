// The destination of a live migration (`-incoming tcp:HOST:PORT`): it
// listens, checks the machine it is offered (reservation), takes pages and
// state through IncomingMigration, answers on the return path, and
// activates the machine on GO (pre-copy) or at once (post-copy). In
// post-copy it is the source of absent pages: an access to one asks the
// source for it and waits for that page only. A broken post-copy leaves
// the guest waiting; `migrate_recover URI` listens again for the source's
// `migrate -r`.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "core/incoming_migration.h"
#include "mmu/phys_memory.h"
#include "net/migration_channel.h"

namespace nomad86 {

class Machine;

class MigrationDestination final : public AbsentPageSource {
public:
    MigrationDestination(boost::asio::io_context& io, Machine& machine);
    ~MigrationDestination() override;

    // Starts listening; the machine stays paused until activation. Returns
    // an error message (cannot listen), or "".
    std::string listen(const MigrationUri& uri);
    // `migrate_incoming URI` after -incoming defer.
    std::string listen_deferred(const MigrationUri& uri);
    // `migrate_recover URI`: listens for the source's `migrate -r`.
    std::string recover(const MigrationUri& uri);
    uint16_t port() const { return port_; }
    // With -S the machine stays paused after activation (QEMU's autostart
    // off): `cont` starts it; post-copy pages still come on demand.
    void set_autostart(bool on) { autostart_ = on; }
    std::string info_text() const;

    // AbsentPageSource
    void fetch(uint64_t page) override;

private:
    void accept_next();
    void process();
    void activate();
    void fail(const std::string& why);

    boost::asio::io_context& io_;
    Machine& machine_;
    IncomingMigration incoming_;
    std::unique_ptr<boost::asio::ip::tcp::acceptor> acceptor_;
    std::unique_ptr<MigrationChannel> channel_;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
    uint16_t port_ = 0;
    std::string status_ = "setup";
    bool activated_ = false;
    bool autostart_ = true;
    bool recovering_ = false;
    bool in_process_ = false;
    int64_t start_ns_ = 0, end_ns_ = 0;
    uint64_t requests_ = 0;
    int64_t request_ns_total_ = 0, request_ns_max_ = 0;
};

}  // namespace nomad86
