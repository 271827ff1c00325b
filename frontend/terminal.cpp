#include "frontend/terminal.h"

#include <csignal>
#include <cstdio>
#include <cstring>
#include <poll.h>
#include <unistd.h>

namespace nomad86 {

namespace {
constexpr uint8_t kCtrlA = 0x01;

// The terminal is a process-wide resource: a fatal signal must restore it
// even though no Terminal object is reachable from a signal handler.
termios g_saved_for_signal;
volatile sig_atomic_t g_raw_active = 0;

void restore_on_signal(int sig) {
    if (g_raw_active) tcsetattr(STDIN_FILENO, TCSANOW, &g_saved_for_signal);
    signal(sig, SIG_DFL);
    raise(sig);
}
}  // namespace

Terminal::Terminal(CharBackend* input, std::function<void()> on_quit) : input_(input), on_quit_(std::move(on_quit)) {}

Terminal::~Terminal() { restore(); }

void Terminal::enable_raw() {
    if (raw_ || !isatty(STDIN_FILENO)) return;
    if (tcgetattr(STDIN_FILENO, &saved_) != 0) return;
    termios raw = saved_;
    // As QEMU's stdio chardev: no echo, no line editing, no signals from
    // keys (Ctrl-C goes to the guest), no CR/NL translation on input.
    raw.c_iflag &= ~(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON);
    raw.c_oflag |= OPOST;
    raw.c_lflag &= ~(ECHO | ECHONL | ICANON | ISIG | IEXTEN);
    raw.c_cflag &= ~(CSIZE | PARENB);
    raw.c_cflag |= CS8;
    raw.c_cc[VMIN] = 1;
    raw.c_cc[VTIME] = 0;
    g_saved_for_signal = saved_;
    g_raw_active = 1;
    signal(SIGTERM, restore_on_signal);
    signal(SIGHUP, restore_on_signal);
    signal(SIGQUIT, restore_on_signal);
    tcsetattr(STDIN_FILENO, TCSANOW, &raw);
    raw_ = true;
}

void Terminal::restore() {
    if (!raw_) return;
    tcsetattr(STDIN_FILENO, TCSANOW, &saved_);
    g_raw_active = 0;
    raw_ = false;
}

void Terminal::print(const char* text) {
    // Raw mode: the terminal does no NL -> CR NL for us on input echo, but
    // OPOST is kept, so plain \n is fine.
    fputs(text, stdout);
    fflush(stdout);
}

void Terminal::handle_byte(uint8_t b) {
    if (escape_pending_) {
        escape_pending_ = false;
        switch (b) {
        case 'x':
        case 'X':
            print("nomad86: terminated\n");
            if (on_quit_) on_quit_();
            return;
        case 'h':
        case 'H':
        case '?':
            print("\nC-a h    print this help\n"
                  "C-a x    exit emulator\n"
                  "C-a c    switch between console and monitor (not available yet)\n"
                  "C-a C-a  sends C-a\n");
            return;
        case 'c':
            print("\nnomad86: the monitor is not available yet\n");
            return;
        case kCtrlA:
            break;  // a literal Ctrl-A for the guest
        default:
            return;  // unknown escape: swallowed, as QEMU does
        }
    } else if (b == kCtrlA) {
        escape_pending_ = true;
        return;
    }
    if (input_) input_->push_input(b);
}

void Terminal::poll(int64_t timeout_ns) {
    if (eof_) {
        if (timeout_ns > 0) {
            timespec ts{timeout_ns / 1000000000, long(timeout_ns % 1000000000)};
            nanosleep(&ts, nullptr);
        }
        return;
    }
    pollfd pfd{STDIN_FILENO, POLLIN, 0};
    int ms = int((timeout_ns + 999999) / 1000000);
    int r = ::poll(&pfd, 1, ms);
    if (r <= 0) return;
    if (pfd.revents & (POLLIN | POLLHUP | POLLERR)) {
        uint8_t buf[256];
        ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));
        if (n <= 0) {
            // Input closed (CI, a pipe that ended): stop watching it.
            eof_ = true;
            return;
        }
        for (ssize_t i = 0; i < n; i++) handle_byte(buf[i]);
    }
}

}  // namespace nomad86
