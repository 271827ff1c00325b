#include "devices/rtc_cmos.h"

#include <algorithm>

namespace nomad86 {

namespace {

constexpr int64_t kNsPerSec = 1000000000;
constexpr int64_t kTicksPerSec = 32768;  // the divider chain's input with the standard crystal
// UIP rises 244 us (8 ticks) before the update; the update itself is taken
// as instantaneous, so "UIP read as 0" still guarantees 244 us of stable
// time bytes, which is all the datasheet promises software.
constexpr int64_t kUipNs = 8 * kNsPerSec / kTicksPerSec;
// A full day of seconds holds every hh:mm:ss an alarm can name.
constexpr int64_t kSecondsPerDay = 86400;

int64_t floor_div(int64_t a, int64_t b) {
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

// Howard Hinnant's civil-calendar algorithms (proleptic Gregorian), exact
// for any year an RTC can hold, unlike timegm() on a 32-bit time_t.
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
    y -= m <= 2;
    const int64_t era = floor_div(y, 400);
    const unsigned yoe = unsigned(y - era * 400);
    const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + int64_t(doe) - 719468;
}

struct Civil {
    int64_t year;
    unsigned month, day;
};

Civil civil_from_days(int64_t z) {
    z += 719468;
    const int64_t era = floor_div(z, 146097);
    const unsigned doe = unsigned(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    const unsigned d = doy - (153 * mp + 2) / 5 + 1;
    const unsigned m = mp < 10 ? mp + 3 : mp - 9;
    return Civil{int64_t(yoe) + era * 400 + (m <= 2), m, d};
}

}  // namespace

RtcCmos::RtcCmos(DeviceContext& ctx, IrqLine irq8, uint64_t ram_size) : ctx_(ctx), irq_(irq8) {
    update_timer_ = ctx_.clock.create_timer("rtc-update", [this] { on_update_timer(); });
    periodic_timer_ = ctx_.clock.create_timer("rtc-periodic", [this] { on_periodic_timer(); });
    ctx_.io.register_ports(0x70, 2, this, "rtc-cmos");
    // Battery-backed power-on state as a BIOS finds it: 32.768 kHz divider,
    // 1024 Hz periodic rate, BCD, 24-hour mode, valid RAM and time.
    s_.cmos[kRegA] = 0x26;
    s_.cmos[kRegB] = kB24h;
    s_.cmos[kRegC] = 0;
    s_.cmos[kRegD] = kDVrt;
    init_nvram(ram_size);
    set_time(time(nullptr));
    irq_.set(false);
}

void RtcCmos::init_nvram(uint64_t ram_size) {
    uint8_t* c = s_.cmos;
    auto put16 = [c](unsigned at, uint64_t v) {
        c[at] = uint8_t(v);
        c[at + 1] = uint8_t(v >> 8);
    };
    c[0x10] = 0x00;  // no floppy drives
    c[0x12] = 0x00;  // no hard disks of the AT types
    // Equipment byte: bit 1 math coprocessor present, bits 5:4 = 00 for a
    // display with its own BIOS (EGA/VGA), bit 0 clear: no floppy drives.
    c[0x14] = 0x02;
    put16(0x15, 640);  // base memory in KiB
    const uint64_t below_4g = std::min<uint64_t>(ram_size, 4 * GiB);
    const uint64_t ext_kib = below_4g > 1 * MiB ? (below_4g - 1 * MiB) / KiB : 0;
    put16(0x17, std::min<uint64_t>(ext_kib, 0xFFFF));
    put16(0x30, std::min<uint64_t>(ext_kib, 0xFFFF));
    const uint64_t above_16m = below_4g > 16 * MiB ? (below_4g - 16 * MiB) / (64 * KiB) : 0;
    put16(0x34, std::min<uint64_t>(above_16m, 0xFFFF));
    const uint64_t above_4g = ram_size > 4 * GiB ? (ram_size - 4 * GiB) / (64 * KiB) : 0;
    const uint64_t a4 = std::min<uint64_t>(above_4g, 0xFFFFFF);
    c[0x5B] = uint8_t(a4);
    c[0x5C] = uint8_t(a4 >> 8);
    c[0x5D] = uint8_t(a4 >> 16);
    // The AT checksum covers 0x10-0x2D and is stored big-endian.
    unsigned sum = 0;
    for (unsigned i = 0x10; i <= 0x2D; i++) sum += c[i];
    c[0x2E] = uint8_t(sum >> 8);
    c[0x2F] = uint8_t(sum);
}

void RtcCmos::reset() {
    // The RESET pin clears the interrupt enables and flags only; time,
    // register A, the data mode and the NVRAM are battery-backed.
    catch_up();
    s_.cmos[kRegB] &= uint8_t(~(kBPie | kBAie | kBUie | kBSqwe));
    s_.cmos[kRegC] = 0;
    if (periodic_active()) s_.pf_next_ns = periodic_edge_after(now());
    update_irq();
    arm_timers();
}

void RtcCmos::describe(StateVisitor& v) {
    v.begin_section("rtc-cmos", 1);
    v.bytes("cmos", s_.cmos, sizeof(s_.cmos));
    v.field("index", s_.index);
    v.field("nmi_disabled", s_.nmi_disabled);
    v.field("div_ref_ns", s_.div_ref_ns);
    v.field("ref_seconds", s_.ref_seconds);
    v.field("last_update_sec", s_.last_update_sec);
    v.field("pf_next_ns", s_.pf_next_ns);
    v.end_section();
}

void RtcCmos::post_load() {
    if (s_.index > 0x7F) throw StateError("rtc-cmos: CMOS index out of range");
    // About +-300000 years: beyond that the calendar arithmetic could overflow.
    constexpr int64_t kMaxSeconds = int64_t(1) << 43;
    if (s_.ref_seconds > kMaxSeconds || s_.ref_seconds < -kMaxSeconds || s_.last_update_sec > kMaxSeconds ||
        s_.last_update_sec < -kMaxSeconds)
        throw StateError("rtc-cmos: calendar out of range");
    const int64_t t = now();
    if (s_.div_ref_ns > t + kNsPerSec) throw StateError("rtc-cmos: divider phase in the future");
    if (t - s_.div_ref_ns > (int64_t(1) << 62)) throw StateError("rtc-cmos: divider phase out of range");
    if (counting() && s_.last_update_sec > now_seconds() + 1)
        throw StateError("rtc-cmos: last update after the current time");
    if (periodic_active() && !(s_.cmos[kRegC] & kCPf) && s_.pf_next_ns > t + kNsPerSec)
        throw StateError("rtc-cmos: periodic edge too far ahead");
    s_.cmos[kRegD] = kDVrt;
    s_.cmos[kRegC] &= kCIrqf | kCPf | kCAf | kCUf;
    // The sink may hold any level after a load: drive it unconditionally.
    update_irq();
    irq_.set((s_.cmos[kRegC] & kCIrqf) != 0);
    arm_timers();
}

// --- divider and calendar --------------------------------------------------

bool RtcCmos::divider_running() const {
    // 000 and 001 select the 4.19 and 1.05 MHz time bases: we count at the
    // PC's 32.768 kHz regardless (logged when written). 11x holds the chain
    // in reset; 011-101 are test modes, treated as stopped.
    unsigned dv = (s_.cmos[kRegA] >> 4) & 7;
    return dv <= 2;
}

bool RtcCmos::counting() const { return divider_running() && !(s_.cmos[kRegB] & kBSet); }

unsigned RtcCmos::periodic_ticks() const {
    unsigned rs = s_.cmos[kRegA] & 0x0F;
    if (rs == 0) return 0;
    // RS=1 and 2 repeat the 256 and 128 Hz taps (32.768 kHz time base);
    // RS=3..15 give 8192 Hz down to 2 Hz. The fastest is 4 ticks (122 us),
    // so no rate can make the host spin.
    if (rs <= 2) return 1u << (rs + 6);
    return 1u << (rs - 1);
}

int64_t RtcCmos::elapsed_seconds(int64_t t) const { return floor_div(t - s_.div_ref_ns, kNsPerSec); }

void RtcCmos::rebase() {
    // Keeps div_ref_ns within a second of now so the arithmetic stays small.
    int64_t k = elapsed_seconds(now());
    if (k == 0) return;
    s_.div_ref_ns += k * kNsPerSec;
    s_.ref_seconds += k;
}

int64_t RtcCmos::periodic_edge_after(int64_t t) const {
    const int64_t p = periodic_ticks();
    if (p == 0) return kNoDeadline;
    const int64_t e = t - s_.div_ref_ns;
    const int64_t sec = floor_div(e, kNsPerSec);
    const int64_t rem = e - sec * kNsPerSec;
    const int64_t ticks = sec * kTicksPerSec + rem * kTicksPerSec / kNsPerSec;
    const int64_t next = (floor_div(ticks, p) + 1) * p;
    const int64_t nsec = floor_div(next, kTicksPerSec);
    const int64_t ntick = next - nsec * kTicksPerSec;
    // Rounded up, so the edge is never before the tick it stands for.
    return s_.div_ref_ns + nsec * kNsPerSec + (ntick * kNsPerSec + kTicksPerSec - 1) / kTicksPerSec;
}

uint8_t RtcCmos::to_reg(unsigned v) const {
    if (s_.cmos[kRegB] & kBDmBinary) return uint8_t(v);
    return uint8_t((((v / 10) % 10) << 4) | (v % 10));
}

unsigned RtcCmos::from_reg(uint8_t b) const {
    if (s_.cmos[kRegB] & kBDmBinary) return b;
    return (b >> 4) * 10 + (b & 0x0F);
}

uint8_t RtcCmos::hour_to_reg(unsigned h) const {
    if (s_.cmos[kRegB] & kB24h) return to_reg(h);
    // 12-hour mode: 12, 1..11 with bit 7 set for PM.
    unsigned h12 = h % 12 == 0 ? 12 : h % 12;
    return uint8_t(to_reg(h12) | (h >= 12 ? 0x80 : 0));
}

unsigned RtcCmos::hour_from_reg(uint8_t b) const {
    if (s_.cmos[kRegB] & kB24h) return from_reg(b);
    unsigned h = from_reg(b & 0x7F);
    if (h == 12) h = 0;
    return (b & 0x80) ? h + 12 : h;
}

uint8_t RtcCmos::time_byte(int64_t seconds, uint8_t reg) const {
    const int64_t days = floor_div(seconds, kSecondsPerDay);
    const unsigned tod = unsigned(seconds - days * kSecondsPerDay);
    switch (reg) {
    case kSec: return to_reg(tod % 60);
    case kMin: return to_reg(tod / 60 % 60);
    case kHour: return hour_to_reg(tod / 3600);
    case kWeekday: return to_reg(unsigned(((days % 7) + 11) % 7) + 1);  // 1970-01-01 was a Thursday (5)
    default: break;
    }
    Civil c = civil_from_days(days);
    const int64_t y = c.year < 0 ? 0 : c.year;
    switch (reg) {
    case kDay: return to_reg(c.day);
    case kMonth: return to_reg(c.month);
    case kYear: return to_reg(unsigned(y % 100));
    case kCentury: return to_reg(unsigned(y / 100));
    default: return 0;
    }
}

bool RtcCmos::is_time_reg(uint8_t reg) const {
    return reg == kSec || reg == kMin || reg == kHour || (reg >= kWeekday && reg <= kYear) || reg == kCentury;
}

void RtcCmos::freeze() {
    const int64_t sec = now_seconds();
    for (uint8_t reg : {kSec, kMin, kHour, kWeekday, kDay, kMonth, kYear, kCentury})
        s_.cmos[reg] = time_byte(sec, reg);
}

int64_t RtcCmos::seconds_from_bytes() {
    // The chip would count on from nonsense bytes in its own odd way; we
    // clamp each field into range instead, so the clock stays a clock.
    bool bad = false;
    auto clamp = [&bad](unsigned v, unsigned lo, unsigned hi) {
        if (v < lo || v > hi) {
            bad = true;
            return v < lo ? lo : hi;
        }
        return v;
    };
    const uint8_t* c = s_.cmos;
    unsigned sec = clamp(from_reg(c[kSec]), 0, 59);
    unsigned min = clamp(from_reg(c[kMin]), 0, 59);
    unsigned hour = clamp(hour_from_reg(c[kHour]), 0, 23);
    unsigned day = clamp(from_reg(c[kDay]), 1, 31);
    unsigned month = clamp(from_reg(c[kMonth]), 1, 12);
    unsigned year = clamp(from_reg(c[kYear]), 0, 99);
    int64_t full_year = int64_t(from_reg(c[kCentury])) * 100 + year;
    if (bad) ctx_.log.log(kLogGuestErrors, "rtc-cmos: invalid time/date bytes, clamped\n");
    // A day past the month's end rolls into the next month, as a date does.
    return (days_from_civil(full_year, month, 1) + day - 1) * kSecondsPerDay + hour * 3600 + min * 60 + sec;
}

void RtcCmos::thaw() {
    rebase();
    const int64_t sec = seconds_from_bytes();
    s_.ref_seconds = sec - elapsed_seconds(now());
    s_.last_update_sec = sec;
}

bool RtcCmos::alarm_matches(int64_t seconds) const {
    static constexpr uint8_t kPairs[3][2] = {{kSecAlarm, kSec}, {kMinAlarm, kMin}, {kHourAlarm, kHour}};
    for (const auto& p : kPairs) {
        uint8_t a = s_.cmos[p[0]];
        if ((a & 0xC0) == 0xC0) continue;  // "don't care" code
        if (a != time_byte(seconds, p[1])) return false;
    }
    return true;
}

void RtcCmos::set_time(time_t t) {
    catch_up();
    s_.div_ref_ns = now();
    s_.ref_seconds = int64_t(t);
    s_.last_update_sec = int64_t(t);
    if (!counting()) freeze();
    if (periodic_active()) s_.pf_next_ns = periodic_edge_after(now());
    update_irq();
    arm_timers();
}

int64_t RtcCmos::current_time() {
    catch_up();
    return counting() ? now_seconds() : seconds_from_bytes();
}

// --- flags, interrupts, timers ----------------------------------------------

void RtcCmos::catch_up() {
    uint8_t& c = s_.cmos[kRegC];
    if (counting()) {
        const int64_t cur = now_seconds();
        if (cur > s_.last_update_sec) {
            c |= kCUf;
            if (!(c & kCAf)) {
                // Every second that passed had its own update cycle and alarm
                // compare; a day of them covers every alarm setting.
                int64_t first = std::max(s_.last_update_sec + 1, cur - kSecondsPerDay + 1);
                for (int64_t sec = first; sec <= cur; sec++) {
                    if (alarm_matches(sec)) {
                        c |= kCAf;
                        break;
                    }
                }
            }
            s_.last_update_sec = cur;
        }
    }
    if (divider_running()) rebase();
    if (periodic_active() && !(c & kCPf) && now() >= s_.pf_next_ns) c |= kCPf;
}

void RtcCmos::update_irq() {
    const uint8_t b = s_.cmos[kRegB];
    uint8_t& c = s_.cmos[kRegC];
    bool irqf = ((c & kCPf) && (b & kBPie)) || ((c & kCAf) && (b & kBAie)) || ((c & kCUf) && (b & kBUie));
    c = uint8_t(irqf ? (c | kCIrqf) : (c & ~kCIrqf));
    if (irq_.level() != irqf) irq_.set(irqf);
}

void RtcCmos::arm_timers() {
    const uint8_t b = s_.cmos[kRegB], c = s_.cmos[kRegC];
    // Timers exist only to deliver interrupts; polled flags are computed
    // on access. Once a flag is set nothing more can happen until C is read.
    if (counting() && (((b & kBUie) && !(c & kCUf)) || ((b & kBAie) && !(c & kCAf))))
        ctx_.clock.arm(update_timer_, s_.div_ref_ns + (elapsed_seconds(now()) + 1) * kNsPerSec);
    else
        ctx_.clock.cancel(update_timer_);
    if (periodic_active() && (b & kBPie) && !(c & kCPf))
        ctx_.clock.arm(periodic_timer_, std::max(s_.pf_next_ns, now() + 1));
    else
        ctx_.clock.cancel(periodic_timer_);
}

void RtcCmos::on_update_timer() {
    catch_up();
    update_irq();
    arm_timers();
}

void RtcCmos::on_periodic_timer() {
    catch_up();
    update_irq();
    arm_timers();
}

// --- registers ---------------------------------------------------------------

uint8_t RtcCmos::read_reg(uint8_t reg) {
    switch (reg) {
    case kRegA: {
        uint8_t v = s_.cmos[kRegA] & 0x7F;
        if (counting()) {
            int64_t phase = now() - s_.div_ref_ns - elapsed_seconds(now()) * kNsPerSec;
            if (phase >= kNsPerSec - kUipNs) v |= kAUip;
        }
        return v;
    }
    case kRegC: {
        update_irq();
        uint8_t v = s_.cmos[kRegC];
        // Reading C clears every flag and so releases IRQ8.
        s_.cmos[kRegC] = 0;
        if (periodic_active()) s_.pf_next_ns = periodic_edge_after(now());
        update_irq();
        arm_timers();
        return v;
    }
    case kRegD: return kDVrt;
    default: break;
    }
    if (is_time_reg(reg) && counting()) return time_byte(now_seconds(), reg);
    return s_.cmos[reg];
}

void RtcCmos::write_reg(uint8_t reg, uint8_t v) {
    uint8_t& a = s_.cmos[kRegA];
    uint8_t& b = s_.cmos[kRegB];
    switch (reg) {
    case kRegA:
    case kRegB: {
        const bool old_counting = counting();
        const bool old_div = divider_running();
        const int64_t sec = old_counting ? now_seconds() : 0;
        if (reg == kRegA) {
            unsigned dv = (v >> 4) & 7;
            if (dv == 0 || dv == 1)
                ctx_.log.log(kLogUnimp, "rtc-cmos: time base %u selected, counting at 32.768 kHz\n", dv);
            else if (dv >= 3 && dv <= 5)
                ctx_.log.log(kLogUnimp, "rtc-cmos: divider test mode %u, clock stopped\n", dv);
            a = uint8_t(v & 0x7F);  // UIP is read-only (computed on read)
        } else {
            // Setting SET also clears UIE (datasheet): no update-ended
            // interrupt can come while the time is being written.
            b = (v & kBSet) ? uint8_t(v & ~kBUie) : v;
        }
        if (old_counting && !counting()) {
            // The clock stops: the time bytes now hold it, in the mode just
            // chosen (BIOSes set SET and the data mode in one write).
            for (uint8_t r : {kSec, kMin, kHour, kWeekday, kDay, kMonth, kYear, kCentury})
                s_.cmos[r] = time_byte(sec, r);
        }
        if (!old_div && divider_running()) {
            // Leaving divider reset: the first update comes half a second later.
            s_.div_ref_ns = now() - kNsPerSec / 2;
        }
        if (!old_counting && counting()) thaw();
        if (reg == kRegA && periodic_active()) s_.pf_next_ns = periodic_edge_after(now());
        update_irq();
        arm_timers();
        return;
    }
    case kRegC:
    case kRegD:
        ctx_.log.log(kLogGuestErrors, "rtc-cmos: write 0x%02x to read-only register %c\n", v,
                     reg == kRegC ? 'C' : 'D');
        return;
    default: break;
    }
    if (is_time_reg(reg) && counting()) {
        // The chip takes time writes at any moment; the divider phase stays.
        freeze();
        s_.cmos[reg] = v;
        thaw();
        arm_timers();
        return;
    }
    s_.cmos[reg] = v;
    if (reg == kSecAlarm || reg == kMinAlarm || reg == kHourAlarm) arm_timers();
}

uint32_t RtcCmos::io_read(uint16_t port, unsigned) {
    if (port == 0x70) return 0xFF;  // the index register is write-only on the AT
    catch_up();
    uint8_t v = read_reg(s_.index);
    update_irq();
    return v;
}

void RtcCmos::io_write(uint16_t port, unsigned, uint32_t value) {
    if (port == 0x70) {
        s_.index = uint8_t(value & 0x7F);
        s_.nmi_disabled = (value & 0x80) != 0;
        return;
    }
    catch_up();
    write_reg(s_.index, uint8_t(value));
}

}  // namespace nomad86
