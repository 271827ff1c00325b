// One migration connection, either end: a TCP socket in non-blocking mode
// with an output queue and a record parser. The machine loop pumps it (it
// never blocks the guest for long); readiness callbacks wake the owner
// when the peer sends something or the socket drains.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "core/migration_stream.h"

namespace nomad86 {

// "tcp:HOST:PORT" (HOST may be empty for any/localhost, or [v6]) or
// "file:PATH". Returns false with *error set on anything else.
struct MigrationUri {
    enum class Kind { kTcp, kFile } kind = Kind::kTcp;
    std::string host;
    uint16_t port = 0;
    std::string path;
};
bool parse_migration_uri(const std::string& text, MigrationUri* out, std::string* error);

class MigrationChannel {
public:
    MigrationChannel(boost::asio::ip::tcp::socket socket, std::function<void()> on_ready);
    ~MigrationChannel();
    MigrationChannel(const MigrationChannel&) = delete;
    MigrationChannel& operator=(const MigrationChannel&) = delete;

    // Queues a framed record (see migration::append_record).
    std::vector<uint8_t>& out() { return out_; }
    size_t queued() const { return out_.size() - out_pos_; }
    // Writes what the socket takes now. Returns false once the connection broke.
    bool flush();
    // Writes everything, waiting for the socket at most `timeout_ms`.
    bool flush_all(int timeout_ms);
    // Reads what has arrived and hands out whole records. Throws
    // migration::MigrationError on a corrupt stream.
    bool next_record(migration::Record* out);
    // Waits up to `timeout_ms` for input; returns false on timeout or break.
    bool wait_readable(int timeout_ms);
    bool broken() const { return broken_; }
    // Why it broke ("connection closed by the peer", the socket error).
    const std::string& error() const { return error_; }
    uint64_t bytes_written() const { return bytes_written_; }
    // Shrinks the kernel's send buffer (post-copy: a requested page must
    // not queue behind megabytes of background pages).
    void set_send_buffer(int bytes);
    void close();

private:
    void read_available();
    void arm();
    void mark_broken(const std::string& why);

    boost::asio::ip::tcp::socket socket_;
    std::function<void()> on_ready_;
    std::shared_ptr<bool> alive_;  // callbacks hold it weakly: the channel may be gone
    std::vector<uint8_t> out_;
    size_t out_pos_ = 0;
    migration::RecordParser parser_;
    bool broken_ = false;
    bool read_armed_ = false;
    bool write_armed_ = false;
    std::string error_;
    uint64_t bytes_written_ = 0;
};

}  // namespace nomad86
