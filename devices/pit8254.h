// The Intel 8254 programmable interval timer as wired in a PC: channel 0
// drives IRQ0, channel 1 is the (unused) DRAM refresh timer, channel 2 feeds
// the speaker and its gate and OUT appear in system control port B (0x61),
// which this device also owns.
//
// Counters are not ticked. Each channel remembers the input-clock tick at
// which its counting element (CE) was loaded; the count and OUT at any moment
// are computed from the virtual clock. Channel 0's OUT transitions are
// delivered by a clock timer armed at the next transition, never by polling.
#pragma once
#include <array>
#include <cstdint>

#include "core/device.h"
#include "core/irq.h"

namespace nomad86 {

// Everything one 8254 channel holds. Times are in input-clock ticks
// (1.193182 MHz) since the machine started; describe() saves them relative
// to now.
struct Pit8254Channel {
    enum Phase : uint8_t {
        kIdle = 0,     // no count since the control word, or waiting for a gate trigger
        kRunning = 1,  // counting from start_tick
        kGateHeld = 2, // gate low stopped counting after `elapsed` decrements
    };
    uint8_t mode_bits = 0;  // M2-M0 as written (6 and 7 alias modes 2 and 3)
    uint8_t rw = 3;         // 1 LSB only, 2 MSB only, 3 LSB then MSB
    bool bcd = false;
    bool gate = true;
    uint16_t cr = 0;        // count register as written (BCD-encoded in BCD mode)
    bool has_count = false; // a complete count was written since the control word
    uint8_t write_lsb = 0;  // first byte of a two-byte count
    bool write_msb = false; // write flip-flop: the next byte is the MSB
    bool read_msb = false;  // read flip-flop: the next byte read is the MSB
    bool count_latched = false;
    uint16_t latch = 0;     // latched count, as the guest reads it
    bool status_latched = false;
    uint8_t status = 0;
    bool null_count = true; // CR written but not yet loaded into the CE
    Phase phase = kIdle;
    uint32_t n = 65536;     // the count the CE was loaded with, 1..modulus
    uint32_t held = 0;      // CE value (0..modulus-1) while idle
    int64_t start_tick = 0; // kRunning: the tick at which the CE held n
    int64_t elapsed = 0;    // kGateHeld: decrements done before the gate fell
    bool pending = false;   // modes 2/3: a new count waits for the cycle's end
    int64_t pending_tick = 0;
    int64_t load_tick = INT64_MAX;  // null_count clears at this tick (INT64_MAX: not scheduled)
};

class Pit8254 final : public Device, public IoHandler {
public:
    static constexpr int64_t kInputHz = 1193182;
    // Host-protection floor between two IRQ0 timer callbacks, in guest ns.
    // A guest asking for a faster OUT (count 1 or 2 in mode 2) gets its
    // edges coalesced: at most one IRQ0 edge per window, which the 8259's
    // single IRR bit would coalesce anyway while the CPU is not keeping up.
    static constexpr int64_t kMinIrqIntervalNs = 10'000;

    Pit8254(DeviceContext& ctx, IrqLine irq0);
    Pit8254(const Pit8254&) = delete;
    Pit8254& operator=(const Pit8254&) = delete;

    // Device
    const char* name() const override { return "pit"; }
    void reset() override;
    void describe(StateVisitor& v) override;
    void post_load() override;

    // IoHandler: 0x40-0x43 and 0x61, byte wide.
    uint32_t io_read(uint16_t port, unsigned size) override;
    void io_write(uint16_t port, unsigned size, uint32_t value) override;

    // For tests and the monitor; ch outside 0..2 yields 0 / false.
    // The count is what a guest would read now (BCD-encoded in BCD mode).
    uint16_t current_count(int ch) const;
    bool out(int ch) const;

private:
    struct Transition {
        int64_t tick;  // kNever when there is none
        bool rising;
    };

    int64_t now_tick() const;
    void sync(Pit8254Channel& c, int64_t t);
    uint32_t ce_value(const Pit8254Channel& c, int64_t t) const;
    bool out_at(const Pit8254Channel& c, int64_t t) const;
    bool irq_line_level(const Pit8254Channel& c, int64_t t) const;
    Transition next_transition(const Pit8254Channel& c, int64_t t) const;
    uint16_t encode(const Pit8254Channel& c, uint32_t value) const;
    uint32_t decode_cr(const Pit8254Channel& c) const;
    uint8_t status_byte(const Pit8254Channel& c, int64_t t) const;

    void write_control(uint8_t v);
    void latch_count(Pit8254Channel& c, int64_t t);
    void write_counter(int ch, uint8_t v);
    void load_count(int ch, uint16_t raw, int64_t t);
    uint8_t read_counter(int ch);
    void set_gate(int ch, bool level);
    void begin_counting(Pit8254Channel& c, int64_t t);
    void trigger(Pit8254Channel& c, int64_t t);
    void go_idle(Pit8254Channel& c, int64_t t);

    // `t` is the input tick at which the channel changed (or the callback
    // ran): transitions are looked for after it, not after whatever time it
    // is when the host gets here, so an edge that falls between the two
    // (the host thread descheduled for longer than a short one-shot count)
    // is delivered late rather than lost.
    void channel_changed(int ch, int64_t t);
    void update_irq0(int64_t t, bool drive_always);
    void arm_irq0(int64_t t, bool from_callback);
    void on_timer();

    DeviceContext& ctx_;
    IrqLine irq0_;
    TimerId timer_;
    // The device state: three channels and port 0x61 bits 0-3.
    std::array<Pit8254Channel, 3> ch_{};
    uint8_t port61_ = 0;
    // Derived (re-derived by post_load): whether the armed IRQ0 timer's window
    // contains a rising OUT edge.
    bool irq_edge_due_ = false;
    // Between describe() loading and post_load(): times were loaded relative
    // to the saving machine's clock and still need rebasing onto ours.
    bool times_relative_ = false;
    int64_t loaded_irq_timer_in_ns_ = 0;  // describe() -> post_load()
};

}  // namespace nomad86
