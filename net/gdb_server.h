// The GDB remote serial protocol server (being written; see issue 4).
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>

namespace nomad86 {

class Machine;

class GdbServer {
public:
    // Listens on HOST:PORT (empty host: all interfaces). Throws
    // std::runtime_error with a one-line message when it cannot listen.
    // `monitor` runs a monitor command line for qRcmd and returns its output.
    GdbServer(boost::asio::io_context& io, Machine& machine, const std::string& host, uint16_t port,
              std::function<std::string(const std::string&)> monitor);
    ~GdbServer();
    GdbServer(const GdbServer&) = delete;
    GdbServer& operator=(const GdbServer&) = delete;
    uint16_t port() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace nomad86
