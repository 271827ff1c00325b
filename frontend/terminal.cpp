#include "frontend/terminal.h"

#include <csignal>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>

#include <boost/asio/buffer.hpp>

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

Terminal::Terminal(boost::asio::io_context& io, CharBackend* serial, Monitor* monitor, std::function<void()> on_quit)
    : io_(io), serial_(serial), monitor_(monitor), on_quit_(std::move(on_quit)) {
    if (monitor_) reader_ = std::make_unique<MonitorLineReader>(*monitor_, true);
}

Terminal::~Terminal() {
    if (in_) {
        boost::system::error_code ec;
        in_->close(ec);  // our own descriptor (see start()), not fd 0
    }
    restore();
}

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

void Terminal::start() {
    if (in_ || (!serial_ && !monitor_)) return;
    // Asio puts the descriptor in non-blocking mode. That flag lives in the
    // open file description, which a shell shares between stdin, stdout and
    // stderr on a terminal, so stdin is reopened (a new description of the
    // same tty or pipe) and only that one becomes non-blocking.
    int fd = open("/proc/self/fd/0", O_RDONLY | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) fd = fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 3);
    if (fd < 0) {
        eof_ = true;
        return;
    }
    in_ = std::make_unique<boost::asio::posix::stream_descriptor>(io_);
    boost::system::error_code ec;
    in_->assign(fd, ec);
    if (ec) {
        ::close(fd);
        in_.reset();
        eof_ = true;
        return;
    }
    if (monitor_ && !serial_) {
        // The monitor alone on the terminal: it has the focus from the start.
        monitor_focus_ = banner_shown_ = true;
        print(monitor_crlf(Monitor::banner()) + Monitor::kPrompt);
    }
    read_next();
}

void Terminal::read_next() {
    in_->async_read_some(boost::asio::buffer(buf_), [this](const boost::system::error_code& ec, size_t n) {
        if (ec) {
            // Input closed (CI, a pipe that ended) or unusable: stop watching it.
            if (ec != boost::asio::error::operation_aborted) eof_ = true;
            return;
        }
        handle_input(buf_, n);
        if (!eof_) read_next();
    });
}

void Terminal::print(const std::string& text) {
    fwrite(text.data(), 1, text.size(), stdout);
    fflush(stdout);
}

void Terminal::focus_monitor(bool on) {
    if (!monitor_) return;
    monitor_focus_ = on;
    if (on) {
        std::string out = "\r\n";
        if (!banner_shown_) out += monitor_crlf(Monitor::banner());
        banner_shown_ = true;
        reader_->reset();
        print(out + Monitor::kPrompt);
    } else {
        reader_->reset();
        print("\r\n");
    }
}

void Terminal::handle_input(const uint8_t* data, size_t len) {
    for (size_t i = 0; i < len; i++) handle_byte(data[i]);
}

void Terminal::handle_byte(uint8_t b) {
    if (escape_pending_) {
        escape_pending_ = false;
        switch (b) {
        case 'x':
        case 'X':
            print("nomad86: terminated\r\n");
            if (on_quit_) on_quit_();
            return;
        case 'h':
        case 'H':
        case '?':
            print("\r\nC-a h    print this help\r\n"
                  "C-a x    exit emulator\r\n"
                  "C-a c    switch between console and monitor\r\n"
                  "C-a C-a  sends C-a\r\n");
            return;
        case 'c':
        case 'C':
            if (serial_ && monitor_) focus_monitor(!monitor_focus_);
            return;
        case kCtrlA:
            break;  // a literal Ctrl-A
        default:
            return;  // unknown escape: swallowed, as QEMU does
        }
    } else if (b == kCtrlA) {
        escape_pending_ = true;
        return;
    }
    if (monitor_focus_) {
        print(reader_->feed(&b, 1));
    } else if (serial_) {
        serial_->push_input(b);
    }
}

}  // namespace nomad86
