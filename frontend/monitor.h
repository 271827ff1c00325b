// The HMP monitor (being written; see issue 4): a command table and the
// servers that carry it (stdio, TCP, Unix socket).
#pragma once
#include <functional>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>

#include "frontend/options.h"

namespace nomad86 {

class Machine;

class Monitor {
public:
    explicit Monitor(Machine& machine);
    ~Monitor();
    // Runs one command line and returns what it prints.
    std::string execute(const std::string& line);
    // `gdbserver [PORT]` starts the GDB stub through this hook; it returns
    // the message to print.
    void set_gdbserver_starter(std::function<std::string(uint16_t port)> starter);

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

// Serves a Monitor on -monitor tcp:/unix: sockets (stdio goes through the
// terminal). Throws std::runtime_error with a one-line message when it
// cannot listen.
class MonitorServer {
public:
    MonitorServer(boost::asio::io_context& io, Monitor& monitor, const MonitorSpec& spec);
    ~MonitorServer();

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace nomad86
