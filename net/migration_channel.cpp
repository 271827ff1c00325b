#include "net/migration_channel.h"

#include <poll.h>

#include <boost/asio/write.hpp>

namespace nomad86 {

namespace asio = boost::asio;
using asio::ip::tcp;

bool parse_migration_uri(const std::string& text, MigrationUri* out, std::string* error) {
    MigrationUri u;
    if (text.rfind("file:", 0) == 0) {
        u.kind = MigrationUri::Kind::kFile;
        u.path = text.substr(5);
        if (u.path.empty()) {
            *error = "file: needs a path";
            return false;
        }
        *out = u;
        return true;
    }
    if (text.rfind("tcp:", 0) != 0) {
        *error = "unsupported migration URI '" + text + "' (use tcp:HOST:PORT or file:PATH)";
        return false;
    }
    const std::string rest = text.substr(4);
    const size_t colon = rest.rfind(':');
    if (colon == std::string::npos) {
        *error = "tcp: needs HOST:PORT";
        return false;
    }
    u.host = rest.substr(0, colon);
    if (u.host.size() >= 2 && u.host.front() == '[' && u.host.back() == ']') u.host = u.host.substr(1, u.host.size() - 2);
    const std::string port = rest.substr(colon + 1);
    char* end = nullptr;
    const unsigned long p = strtoul(port.c_str(), &end, 10);
    if (port.empty() || *end || p > 65535) {
        *error = "bad port '" + port + "' in '" + text + "'";
        return false;
    }
    u.port = uint16_t(p);
    *out = u;
    return true;
}

MigrationChannel::MigrationChannel(tcp::socket socket, std::function<void()> on_ready)
    : socket_(std::move(socket)), on_ready_(std::move(on_ready)), alive_(std::make_shared<bool>(true)) {
    boost::system::error_code ec;
    socket_.non_blocking(true, ec);
    socket_.set_option(tcp::no_delay(true), ec);
    arm();
}

MigrationChannel::~MigrationChannel() {
    *alive_ = false;
    close();
}

void MigrationChannel::close() {
    boost::system::error_code ec;
    socket_.close(ec);
    broken_ = true;
    if (error_.empty()) error_ = "closed";
}

void MigrationChannel::mark_broken(const std::string& why) {
    if (!broken_) error_ = why;
    broken_ = true;
}

// Readiness waits: the owner's callback runs when the peer sent something
// (or hung up) or when a full output queue can move again.
void MigrationChannel::arm() {
    if (broken_) return;
    std::weak_ptr<bool> alive = alive_;
    if (!read_armed_) {
        read_armed_ = true;
        socket_.async_wait(tcp::socket::wait_read, [this, alive](const boost::system::error_code& ec) {
            if (alive.expired()) return;
            read_armed_ = false;
            if (ec) return;
            read_available();
            if (on_ready_) on_ready_();
            if (!alive.expired()) arm();  // the owner may have dropped the channel
        });
    }
    if (!write_armed_ && queued() > 0) {
        write_armed_ = true;
        socket_.async_wait(tcp::socket::wait_write, [this, alive](const boost::system::error_code& ec) {
            if (alive.expired()) return;
            write_armed_ = false;
            if (ec) return;
            flush();
            if (on_ready_) on_ready_();
        });
    }
}

bool MigrationChannel::flush() {
    while (!broken_ && queued() > 0) {
        boost::system::error_code ec;
        const size_t n = socket_.write_some(asio::buffer(out_.data() + out_pos_, queued()), ec);
        if (ec == asio::error::would_block || ec == asio::error::try_again) break;
        if (ec) {
            mark_broken(ec.message());
            break;
        }
        out_pos_ += n;
        bytes_written_ += n;
    }
    if (out_pos_ == out_.size()) {
        out_.clear();
        out_pos_ = 0;
    } else if (out_pos_ > (4u << 20)) {
        out_.erase(out_.begin(), out_.begin() + long(out_pos_));
        out_pos_ = 0;
    }
    arm();
    return !broken_;
}

bool MigrationChannel::flush_all(int timeout_ms) {
    while (flush() && queued() > 0) {
        pollfd p{socket_.native_handle(), POLLOUT, 0};
        if (::poll(&p, 1, timeout_ms) <= 0) {
            mark_broken("timed out sending to the peer");
            return false;
        }
    }
    return !broken_;
}

void MigrationChannel::read_available() {
    uint8_t buf[64 * 1024];
    for (int i = 0; i < 64 && !broken_; i++) {
        boost::system::error_code ec;
        const size_t n = socket_.read_some(asio::buffer(buf), ec);
        if (ec == asio::error::would_block || ec == asio::error::try_again) return;
        if (ec == asio::error::eof) {
            mark_broken("connection closed by the peer");
            return;
        }
        if (ec) {
            mark_broken(ec.message());
            return;
        }
        parser_.feed(buf, n);
    }
}

bool MigrationChannel::next_record(migration::Record* out) {
    if (parser_.next(out)) return true;
    read_available();
    return parser_.next(out);
}

void MigrationChannel::set_send_buffer(int bytes) {
    boost::system::error_code ec;
    socket_.set_option(asio::socket_base::send_buffer_size(bytes), ec);
}

bool MigrationChannel::wait_readable(int timeout_ms) {
    if (broken_) return false;
    pollfd p{socket_.native_handle(), POLLIN, 0};
    return ::poll(&p, 1, timeout_ms) > 0;
}

}  // namespace nomad86
