// The MC146818A real-time clock and its CMOS NVRAM (ports 0x70/0x71).
//
// Time is kept as a count of calendar seconds plus the phase of the
// 32.768 kHz divider chain, both relative to the virtual clock, and turned
// into register bytes (BCD or binary, 12 or 24 hour) only when the guest
// reads them. While SET is held or the divider is in reset the clock stands
// still and the time bytes live in the register file, where the guest edits
// them. Flags in register C are brought up to date lazily on every access
// (so a poll never misses an update) and timers are armed only when an
// enabled interrupt could fire, so an idle guest costs no host wakeups.
#pragma once
#include <ctime>

#include "core/device.h"
#include "core/irq.h"

namespace nomad86 {

class RtcCmos final : public Device, public IoHandler {
public:
    RtcCmos(DeviceContext& ctx, IrqLine irq8, uint64_t ram_size);

    const char* name() const override { return "rtc-cmos"; }
    void reset() override;
    void describe(StateVisitor& v) override;
    void post_load() override;

    uint32_t io_read(uint16_t port, unsigned size) override;
    void io_write(uint16_t port, unsigned size, uint32_t value) override;

    // Sets the calendar to a Unix time (UTC); the divider phase restarts now.
    void set_time(time_t t);
    // The calendar as a Unix time (UTC), as the chip currently counts it.
    int64_t current_time();
    // Bit 7 of the last index write: the NMI mask on a PC.
    bool nmi_disabled() const { return s_.nmi_disabled; }

private:
    enum : uint8_t {
        kSec = 0x00, kSecAlarm = 0x01, kMin = 0x02, kMinAlarm = 0x03, kHour = 0x04, kHourAlarm = 0x05,
        kWeekday = 0x06, kDay = 0x07, kMonth = 0x08, kYear = 0x09,
        kRegA = 0x0A, kRegB = 0x0B, kRegC = 0x0C, kRegD = 0x0D, kCentury = 0x32,
    };
    enum : uint8_t {
        kAUip = 0x80,
        kBSet = 0x80, kBPie = 0x40, kBAie = 0x20, kBUie = 0x10, kBSqwe = 0x08, kBDmBinary = 0x04, kB24h = 0x02,
        kCIrqf = 0x80, kCPf = 0x40, kCAf = 0x20, kCUf = 0x10,
        kDVrt = 0x80,
    };

    struct State {
        uint8_t cmos[128] = {};      // NVRAM, registers A-D, and the time bytes while stopped
        uint8_t index = 0;           // 7-bit CMOS index
        bool nmi_disabled = false;   // bit 7 of the last index write
        int64_t div_ref_ns = 0;      // guest ns at which the divider chain started a second
        int64_t ref_seconds = 0;     // calendar seconds (Unix epoch) at div_ref_ns, while counting
        int64_t last_update_sec = 0; // last calendar second whose update cycle was accounted
        int64_t pf_next_ns = 0;      // next periodic edge, while the periodic flag is clear
    };

    bool divider_running() const;
    bool counting() const;
    unsigned periodic_ticks() const;  // period in 32768 Hz ticks, 0 = off
    bool periodic_active() const { return divider_running() && periodic_ticks() != 0; }
    int64_t now() const { return ctx_.clock.now_ns(); }
    int64_t elapsed_seconds(int64_t t) const;
    int64_t now_seconds() const { return s_.ref_seconds + elapsed_seconds(now()); }
    void rebase();
    int64_t periodic_edge_after(int64_t t) const;

    uint8_t to_reg(unsigned v) const;
    unsigned from_reg(uint8_t b) const;
    uint8_t hour_to_reg(unsigned h) const;
    unsigned hour_from_reg(uint8_t b) const;
    uint8_t time_byte(int64_t seconds, uint8_t reg) const;
    void freeze();                   // counting -> stopped: seconds into bytes
    int64_t seconds_from_bytes();    // decode the stored time bytes
    void thaw();                     // stopped -> counting
    bool alarm_matches(int64_t seconds) const;
    bool is_time_reg(uint8_t reg) const;

    void catch_up();                 // bring register C up to now
    void update_irq();
    void arm_timers();
    void on_update_timer();
    void on_periodic_timer();
    uint8_t read_reg(uint8_t reg);
    void write_reg(uint8_t reg, uint8_t v);
    void init_nvram(uint64_t ram_size);

    DeviceContext& ctx_;
    IrqLine irq_;
    TimerId update_timer_;
    TimerId periodic_timer_;
    State s_;
};

}  // namespace nomad86
