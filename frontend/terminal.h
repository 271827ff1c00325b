// The user's terminal: the serial console and/or the HMP monitor, read
// asynchronously on the shared io_context. Raw mode while the guest runs
// (so Ctrl-C and friends reach the guest), QEMU's Ctrl-A escape keys
// (x quits, h helps, c switches between serial and monitor, Ctrl-A Ctrl-A
// sends Ctrl-A), and simple line editing in the monitor.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <termios.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

#include "core/char_backend.h"
#include "frontend/monitor.h"

namespace nomad86 {

class Terminal {
public:
    // `serial` receives typed bytes while the serial console has the focus
    // (nullptr: no serial console on the terminal); `monitor` (nullptr: none)
    // is reached with Ctrl-A c when both exist, and has the focus from the
    // start when there is no serial console. `on_quit` runs for Ctrl-A x.
    Terminal(boost::asio::io_context& io, CharBackend* serial, Monitor* monitor, std::function<void()> on_quit);
    ~Terminal();
    Terminal(const Terminal&) = delete;
    Terminal& operator=(const Terminal&) = delete;

    // Switches stdin to raw mode if it is a terminal.
    void enable_raw();
    void restore();
    // Starts reading stdin on the io_context.
    void start();
    // Handles typed bytes as if read from stdin (tests).
    void handle_input(const uint8_t* data, size_t len);
    bool monitor_focused() const { return monitor_focus_; }

private:
    void read_next();
    void handle_byte(uint8_t b);
    void print(const std::string& text);
    void focus_monitor(bool on);

    boost::asio::io_context& io_;
    CharBackend* serial_;
    Monitor* monitor_;
    std::function<void()> on_quit_;
    std::unique_ptr<MonitorLineReader> reader_;
    std::unique_ptr<boost::asio::posix::stream_descriptor> in_;
    uint8_t buf_[512];
    bool monitor_focus_ = false;
    bool banner_shown_ = false;
    bool raw_ = false;
    bool escape_pending_ = false;  // Ctrl-A seen, waiting for the command key
    bool eof_ = false;
    termios saved_{};
};

}  // namespace nomad86
