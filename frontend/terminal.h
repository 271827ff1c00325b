// The user's terminal as the serial console: raw mode while the guest runs
// (so Ctrl-C and friends reach the guest), QEMU's Ctrl-A escape keys, and
// input forwarded to a character back end.
#pragma once
#include <cstdint>
#include <functional>
#include <termios.h>

#include "core/char_backend.h"

namespace nomad86 {

class Terminal {
public:
    // `input` receives typed bytes (nullptr: input is read and dropped);
    // `on_quit` runs for Ctrl-A x.
    Terminal(CharBackend* input, std::function<void()> on_quit);
    ~Terminal();
    Terminal(const Terminal&) = delete;
    Terminal& operator=(const Terminal&) = delete;

    // Switches stdin to raw mode if it is a terminal.
    void enable_raw();
    void restore();
    // Waits up to timeout_ns for input and handles what arrived.
    void poll(int64_t timeout_ns);

private:
    void handle_byte(uint8_t b);
    void print(const char* text);

    CharBackend* input_;
    std::function<void()> on_quit_;
    bool raw_ = false;
    bool escape_pending_ = false;  // Ctrl-A seen, waiting for the command key
    bool eof_ = false;
    termios saved_{};
};

}  // namespace nomad86
