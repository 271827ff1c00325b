// A bench for device unit tests: a bus, memory, a manual clock and a fake
// machine, wired as the real machine wires them.
#pragma once
#include <algorithm>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "core/device.h"
#include "core/irq.h"

namespace nomad86::test {

class FakeControl final : public MachineControl {
public:
    void request_reset() override { resets++; }
    void request_exit(int status) override { exit_status = status; }
    void set_a20(bool enabled) override { a20_ = enabled; }
    bool a20() const override { return a20_; }
    int resets = 0;
    int exit_status = -1;
    bool a20_ = true;
};

// Records the level of each pin it is wired to, and every change.
class IrqRecorder final : public IrqSink {
public:
    void set_irq(unsigned pin, bool level) override {
        if (levels[pin] != level) changes.push_back({pin, level});
        levels[pin] = level;
    }
    std::map<unsigned, bool> levels;
    std::vector<std::pair<unsigned, bool>> changes;
};

struct DeviceRig {
    Logger log;
    IoBus io{&log};
    PhysicalMemory memory{2 * MiB};
    VirtualClock clock{VirtualClock::Mode::kManual};
    FakeControl control;
    DeviceContext ctx{io, memory, clock, log, control};
    IrqRecorder irqs;

    uint8_t inb(uint16_t port) { return uint8_t(io.read(port, 1)); }
    void outb(uint16_t port, uint8_t v) { io.write(port, 1, v); }
    // Moves guest time forward and runs the timers that came due, in order.
    void advance(int64_t ns) {
        int64_t target = clock.now_ns() + ns;
        // Bounded: a device that keeps re-arming in the past must fail the
        // test, not hang it.
        for (int guard = 0; clock.next_deadline() <= target && guard < 10'000'000; guard++) {
            clock.advance_to(clock.next_deadline());
            clock.run_expired();
        }
        clock.advance_to(target);
        clock.run_expired();
    }
};

// A reader that loads a saved state but overrides one field, to feed a
// device the nonsense a hostile stream could contain.
class PokeReader final : public StateVisitor {
public:
    PokeReader(const std::vector<uint8_t>& in, std::string target, int64_t value)
        : inner_(in), target_(std::move(target)), value_(value) {}
    void begin_section(const char* name, uint32_t version) override { inner_.begin_section(name, version); }
    void end_section() override { inner_.end_section(); }
    void integer(const char* name, void* data, size_t size) override {
        inner_.integer(name, data, size);
        if (target_ == name) std::memcpy(data, &value_, size);  // little-endian host
    }
    void bytes(const char* name, void* data, size_t size) override { inner_.bytes(name, data, size); }
    bool loading() const override { return true; }

private:
    StateReader inner_;
    std::string target_;
    int64_t value_;
};

// A 64 KiB firmware image: `code` at F000:0000, HLT everywhere else, and a
// reset vector that jumps to the code (whole-machine tests).
[[gnu::noinline]] inline std::vector<uint8_t> firmware_with(const std::vector<uint8_t>& code) {
    std::vector<uint8_t> rom(64 * KiB, 0xf4);
    if (!code.empty()) memcpy(rom.data(), code.data(), std::min(code.size(), rom.size() - 16));
    const uint8_t reset[] = {0xea, 0x00, 0x00, 0x00, 0xf0};  // jmp f000:0000
    std::copy(std::begin(reset), std::end(reset), rom.begin() + 0xfff0);
    return rom;
}

}  // namespace nomad86::test
