// The HMP monitor (issue 4): QEMU's human monitor language over a command
// table, the line reader that both the terminal and the sockets use, and
// the servers for -monitor tcp:/unix:.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "frontend/options.h"

namespace nomad86 {

class Machine;

class Monitor {
public:
    // One command of the table: `args` is the usage text after the name
    // (as `help` prints it), `handler` gets everything after the name.
    struct Command {
        std::string name;
        std::string args;
        std::string help;
        std::function<std::string(const std::string& args)> handler;
    };

    explicit Monitor(Machine& machine);
    ~Monitor();
    Monitor(const Monitor&) = delete;
    Monitor& operator=(const Monitor&) = delete;

    // Runs one command line and returns what it prints: lines ending in
    // '\n' (the transports turn them into "\r\n" as QEMU does). Never
    // throws; a bad line gets an error message.
    std::string execute(const std::string& line);
    // `gdbserver [PORT]` starts the GDB stub through this hook; it returns
    // the message to print.
    void set_gdbserver_starter(std::function<std::string(uint16_t port)> starter);

    // Later issues add commands (snapshots, migration) and `info` topics here.
    void add_command(Command command);
    void add_info(Command topic);
    const std::vector<Command>& commands() const;
    const std::vector<Command>& info_topics() const;

    // "nomad86 <version> monitor - type 'help' for more information\n"
    static std::string banner();
    static constexpr const char* kPrompt = "(qemu) ";

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

// "\n" -> "\r\n" (a "\r\n" already there is kept).
std::string monitor_crlf(const std::string& text);

// Assembles command lines from a byte stream and runs them; shared by the
// terminal (echo and line editing, since the terminal is raw) and the
// sockets (no echo). Lines are bounded: an overlong line is discarded with
// an error. NULs, other control characters and escape sequences are
// dropped; other bytes (also non-UTF-8) go into the line as they are.
class MonitorLineReader {
public:
    static constexpr size_t kMaxLine = 1024;
    MonitorLineReader(Monitor& monitor, bool echo) : monitor_(monitor), echo_(echo) {}
    // Handles input bytes; returns what to send back ("\r\n" line ends,
    // prompts included).
    std::string feed(const uint8_t* data, size_t len);
    // Forgets a partial line (the peer went away, the terminal switched).
    void reset() {
        line_.clear();
        overlong_ = false;
        esc_ = 0;
    }

private:
    std::string end_line();
    Monitor& monitor_;
    bool echo_;
    std::string line_;
    bool overlong_ = false;
    bool last_was_cr_ = false;
    int esc_ = 0;  // 0: none, 1: ESC seen, 2: in a CSI/SS3 sequence
};

// Serves a Monitor on -monitor tcp:/unix: sockets (stdio goes through the
// terminal), one client at a time; others wait in the listen queue. Throws
// std::runtime_error with a one-line message when it cannot listen.
class MonitorServer {
public:
    MonitorServer(boost::asio::io_context& io, Monitor& monitor, const MonitorSpec& spec);
    ~MonitorServer();
    MonitorServer(const MonitorServer&) = delete;
    MonitorServer& operator=(const MonitorServer&) = delete;
    // The TCP port actually bound (port 0 asks the kernel for one); 0 for Unix.
    uint16_t port() const;

private:
    struct Impl;
    std::shared_ptr<Impl> impl_;
};

}  // namespace nomad86
