// A character back end behind a serial port or the debug console:
// stdio, a file, or nothing. Input arrives from the front end through
// push_input(); the device pulls it when it has room.
#pragma once
#include <cstdint>
#include <cstdio>
#include <deque>
#include <functional>
#include <memory>
#include <string>

namespace nomad86 {

class CharBackend {
public:
    virtual ~CharBackend() = default;
    virtual void write(const uint8_t* data, size_t len) = 0;
    void write_byte(uint8_t b) { write(&b, 1); }
    // Input side: bytes typed by the user, waiting for the device.
    // The device sets a listener to learn that input arrived; it then pulls
    // bytes with pop_input() while it has room (flow control).
    void set_input_listener(std::function<void()> listener) { on_input_ = std::move(listener); }
    void push_input(uint8_t b) {
        input_.push_back(b);
        if (on_input_) on_input_();
    }
    bool has_input() const { return !input_.empty(); }
    uint8_t pop_input() {
        uint8_t b = input_.front();
        input_.pop_front();
        return b;
    }

private:
    std::deque<uint8_t> input_;
    std::function<void()> on_input_;
};

// Discards output.
class NullBackend final : public CharBackend {
public:
    void write(const uint8_t*, size_t) override {}
};

// Writes to a stdio stream (stdout) or a file it owns; a file is flushed on
// every write so nothing is lost when the guest ends the process.
class FileBackend final : public CharBackend {
public:
    FileBackend(FILE* f, bool owned) : f_(f), owned_(owned) {}
    ~FileBackend() override {
        if (owned_ && f_) fclose(f_);
    }
    void write(const uint8_t* data, size_t len) override {
        fwrite(data, 1, len, f_);
        fflush(f_);
    }

private:
    FILE* f_;
    bool owned_;
};

// Collects output in memory (tests).
class BufferBackend final : public CharBackend {
public:
    void write(const uint8_t* data, size_t len) override { out.append(reinterpret_cast<const char*>(data), len); }
    std::string out;
};

}  // namespace nomad86
