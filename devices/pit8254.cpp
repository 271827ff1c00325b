#include "devices/pit8254.h"

#include <algorithm>
#include <string>

namespace nomad86 {

namespace {

constexpr int64_t kNsPerSec = 1'000'000'000;
constexpr int64_t kNever = INT64_MAX;
// Saved relative times beyond this (about 240 years of input clock) are
// nonsense and rejected, which also keeps every tick sum far from overflow.
constexpr int64_t kMaxRelTicks = int64_t(1) << 53;
// A saved IRQ0 timer: none, or its deadline relative to the save. A valid
// one is at most one period ahead (55 ms; 1 s allows the clamp) and, when
// overdue, by no more than the save could have lagged (a minute is plenty).
constexpr int64_t kNoIrqTimer = INT64_MIN;
constexpr int64_t kMaxTimerAheadNs = 1'000'000'000;
constexpr int64_t kMaxOverdueNs = 60'000'000'000;
// The PC BIOS programs channel 1 (mode 2, count 18) for DRAM refresh, and
// port 0x61 bit 4 toggles with each refresh request: every 18 input ticks,
// about 15.09 us. Guests time short delays by counting those toggles.
constexpr int64_t kRefreshTicks = 18;

// Input-clock ticks that have occurred by guest time `ns` (floor), computed
// without a 128-bit product.
int64_t ns_to_tick(int64_t ns) {
    if (ns <= 0) return 0;
    return (ns / kNsPerSec) * Pit8254::kInputHz + (ns % kNsPerSec) * Pit8254::kInputHz / kNsPerSec;
}

// The first guest nanosecond at which `tick` has occurred (ceiling), so that
// ns_to_tick(tick_to_ns(k)) == k.
int64_t tick_to_ns(int64_t tick) {
    if (tick <= 0) return 0;
    int64_t q = tick / Pit8254::kInputHz, r = tick % Pit8254::kInputHz;
    return q * kNsPerSec + (r * kNsPerSec + Pit8254::kInputHz - 1) / Pit8254::kInputHz;
}

// Modes 6 and 7 are aliases of 2 and 3 (M2 is a don't-care there).
unsigned eff_mode(const Pit8254Channel& c) { return (c.mode_bits & 2) ? (c.mode_bits & 3u) : c.mode_bits; }

// The CE wraps modulo this: after terminal count a one-shot keeps counting
// down from FFFF (binary) or 9999 (BCD).
uint32_t modulus(const Pit8254Channel& c) { return c.bcd ? 10000 : 65536; }

int64_t pmod(int64_t a, int64_t m) {
    int64_t r = a % m;
    return r < 0 ? r + m : r;
}

// Mode 3: OUT is high for ceil(n/2) ticks of each period, low for floor(n/2).
uint32_t half_high(uint32_t n) { return (n + 1) / 2; }

bool valid_bcd(uint16_t raw) {
    for (int i = 0; i < 16; i += 4)
        if (((raw >> i) & 15) > 9) return false;
    return true;
}

// A written count as a number of input ticks: 0 is the largest count.
uint32_t decode_raw(uint16_t raw, bool bcd) {
    if (!bcd) return raw == 0 ? 65536u : raw;
    // Invalid BCD digits are the guest's error; weigh them anyway and keep
    // the result within the decade counter's range.
    uint32_t v = ((raw >> 12) & 15) * 1000u + ((raw >> 8) & 15) * 100u + ((raw >> 4) & 15) * 10u + (raw & 15);
    v %= 10000;
    return v == 0 ? 10000u : v;
}

// The running parameters at tick t, with a deferred mode 2/3 reload applied
// if its time has come (sync() makes that permanent; readers only look).
struct Run {
    int64_t start;
    uint32_t n;
};
Run effective(const Pit8254Channel& c, int64_t t) {
    Run r{c.start_tick, c.n};
    if (c.phase == Pit8254Channel::kRunning && c.pending && t >= c.pending_tick) {
        uint32_t nn = decode_raw(c.cr, c.bcd);
        int64_t b = c.pending_tick;
        // Mode 3 loads the new count at the end of a half cycle; if that was
        // the high half, the new count starts with its low half.
        if (eff_mode(c) == 3 && pmod(b - c.start_tick, c.n) != 0)
            r.start = b - half_high(nn);
        else
            r.start = b;
        r.n = nn;
    }
    return r;
}

}  // namespace

Pit8254::Pit8254(DeviceContext& ctx, IrqLine irq0) : ctx_(ctx), irq0_(irq0) {
    timer_ = ctx_.clock.create_timer("pit-irq0", [this] { on_timer(); });
    ctx_.io.register_ports(0x40, 4, this, "pit");
    ctx_.io.register_ports(0x61, 1, this, "port-b");
    reset();
}

void Pit8254::reset() {
    // The 8254 has no reset pin and powers up undefined; the BIOS programs
    // it. Start quiet: every channel in mode 0 waiting for a count (OUT low,
    // so IRQ0 is low and no timer runs).
    for (Pit8254Channel& c : ch_) {
        c = Pit8254Channel{};
        c.load_tick = kNever;
    }
    port61_ = 0;
    ch_[2].gate = false;  // port 0x61 bit 0
    irq_edge_due_ = false;
    times_relative_ = false;
    update_irq0(now_tick(), false);
}

// ---- time model ---------------------------------------------------------------

int64_t Pit8254::now_tick() const { return ns_to_tick(ctx_.clock.now_ns()); }

// Makes a due deferred reload and the null-count clearing permanent.
void Pit8254::sync(Pit8254Channel& c, int64_t t) {
    if (c.phase == Pit8254Channel::kRunning && c.pending && t >= c.pending_tick) {
        Run r = effective(c, t);
        c.start_tick = r.start;
        c.n = r.n;
        c.pending = false;
    }
    if (c.null_count && t >= c.load_tick) {
        c.null_count = false;
        c.load_tick = kNever;
    }
}

// The counting element at tick t, 0..modulus-1 (decimal value in BCD mode).
uint32_t Pit8254::ce_value(const Pit8254Channel& c, int64_t t) const {
    uint32_t m = modulus(c);
    int64_t d;
    uint32_t n;
    switch (c.phase) {
    case Pit8254Channel::kIdle: return c.held % m;
    case Pit8254Channel::kGateHeld:
        d = c.elapsed;
        n = c.n;
        break;
    default: {
        Run r = effective(c, t);
        d = t - r.start;
        n = r.n;
        // Written but not loaded until the next clock: the datasheet leaves
        // the CE undefined; show the count about to be loaded.
        if (d < 0) return n % m;
        break;
    }
    }
    switch (eff_mode(c)) {
    case 2: return uint32_t((n - d % n) % m);
    case 3: {
        // Mode 3 decrements by two. Odd counts spend one extra tick in the
        // high half: load n, then n-1, then down by two; the low half loads n,
        // then n-3, then down by two (8254 datasheet, mode 3).
        int64_t p = d % n, h = half_high(n);
        int64_t v;
        if (n % 2 == 0) {
            int64_t q = p < h ? p : p - h;
            v = n - 2 * q;
        } else if (p < h) {
            v = p == 0 ? n : n + 1 - 2 * p;
        } else {
            int64_t q = p - h;
            v = q == 0 ? n : n - 1 - 2 * q;
        }
        return uint32_t(v % m);
    }
    default: return uint32_t(pmod(int64_t(n) - d, m));  // 0, 1, 4, 5: wrap after TC
    }
}

bool Pit8254::out_at(const Pit8254Channel& c, int64_t t) const {
    unsigned mode = eff_mode(c);
    switch (c.phase) {
    case Pit8254Channel::kIdle: return mode != 0;  // the control word's initial OUT
    case Pit8254Channel::kGateHeld:
        if (mode == 0) return c.elapsed >= c.n;
        if (mode == 4) return c.elapsed != c.n;
        return true;  // modes 2/3: gate low forces OUT high
    default: break;
    }
    Run r = effective(c, t);
    int64_t d = t - r.start;
    int64_t n = r.n;
    switch (mode) {
    case 0: return d >= n;
    case 1: return d < 0 || d >= n;
    case 2: return d < 0 || n == 1 || d % n != n - 1;
    case 3: return d < 0 || d % n < half_high(uint32_t(n));
    default: return d != n;  // 4, 5: one-tick low strobe at terminal count
    }
}

// What the IRQ0 wire carries. Modes 2, 4 and 5 pulse OUT low for a single
// input tick; the wire stays high through it and the rising edge that ends it
// is delivered as a low-high pulse from the timer. This halves the timer
// callbacks and keeps IRQ0 exactly on the rising edge.
bool Pit8254::irq_line_level(const Pit8254Channel& c, int64_t t) const {
    unsigned mode = eff_mode(c);
    if (mode == 2 || mode == 4 || mode == 5) return true;
    return out_at(c, t);
}

// The first OUT transition strictly after tick t (rising edges only for the
// strobe modes 2, 4, 5), for the IRQ0 timer.
Pit8254::Transition Pit8254::next_transition(const Pit8254Channel& c, int64_t t) const {
    if (c.phase != Pit8254Channel::kRunning) return {kNever, false};
    Run r = effective(c, t);
    int64_t d = t - r.start;
    int64_t n = r.n;
    switch (eff_mode(c)) {
    case 0: return d < n ? Transition{r.start + n, true} : Transition{kNever, false};
    case 1:
        if (d < 0) return {r.start, false};
        return d < n ? Transition{r.start + n, true} : Transition{kNever, false};
    case 2: {
        int64_t base = d < 0 ? 0 : d - d % n;
        return {r.start + base + n, true};
    }
    case 3: {
        int64_t h = half_high(uint32_t(n));
        int64_t p = d < 0 ? 0 : d % n;
        int64_t base = d < 0 ? r.start : r.start + d - p;
        if (p < h) return n > h ? Transition{base + h, false} : Transition{kNever, false};
        return {base + n, true};
    }
    default:  // 4, 5: the end of the strobe
        return d <= n ? Transition{r.start + n + 1, true} : Transition{kNever, false};
    }
}

uint16_t Pit8254::encode(const Pit8254Channel& c, uint32_t value) const {
    value %= modulus(c);
    if (!c.bcd) return uint16_t(value);
    return uint16_t((value / 1000) << 12 | (value / 100 % 10) << 8 | (value / 10 % 10) << 4 | value % 10);
}

uint32_t Pit8254::decode_cr(const Pit8254Channel& c) const { return decode_raw(c.cr, c.bcd); }

uint8_t Pit8254::status_byte(const Pit8254Channel& c, int64_t t) const {
    return uint8_t((out_at(c, t) ? 0x80 : 0) | (c.null_count ? 0x40 : 0) | (c.rw << 4) | (c.mode_bits << 1) |
                   (c.bcd ? 1 : 0));
}

// ---- programming --------------------------------------------------------------

void Pit8254::go_idle(Pit8254Channel& c, int64_t t) {
    c.held = ce_value(c, t);
    c.phase = Pit8254Channel::kIdle;
    c.pending = false;
}

// Modes 0, 2, 3, 4: the CR is loaded into the CE on the next clock, and
// counting proceeds from there if the gate allows.
void Pit8254::begin_counting(Pit8254Channel& c, int64_t t) {
    c.pending = false;
    c.load_tick = t + 1;
    if (c.gate) {
        c.phase = Pit8254Channel::kRunning;
        c.start_tick = t + 1;
    } else {
        c.phase = Pit8254Channel::kGateHeld;
        c.elapsed = 0;
    }
}

// Modes 1 and 5 (and the gate reload of 2 and 3 uses the same shape): a
// gate rising edge loads the CR on the next clock.
void Pit8254::trigger(Pit8254Channel& c, int64_t t) {
    // A mode 1 retrigger while OUT is low keeps OUT low: restart from now
    // rather than leave a one-tick high glitch before the load.
    bool low_now = eff_mode(c) == 1 && c.phase == Pit8254Channel::kRunning && !out_at(c, t);
    c.n = decode_cr(c);
    c.phase = Pit8254Channel::kRunning;
    c.start_tick = low_now ? t : t + 1;
    c.pending = false;
    if (c.null_count) c.load_tick = t + 1;
}

void Pit8254::write_control(uint8_t v) {
    int64_t t = now_tick();
    unsigned sc = v >> 6;
    if (sc == 3) {
        // Read-back: bit 5 clear latches the count, bit 4 clear the status,
        // of every channel selected by bits 1-3. A latch already pending is
        // kept (the datasheet ignores the second latch).
        if (v & 1) ctx_.log.log(kLogGuestErrors, "pit: read-back command %02x has reserved bit 0 set\n", v);
        for (int i = 0; i < 3; i++) {
            if (!(v & (2u << i))) continue;
            Pit8254Channel& c = ch_[i];
            sync(c, t);
            if (!(v & 0x20)) latch_count(c, t);
            if (!(v & 0x10) && !c.status_latched) {
                c.status = status_byte(c, t);
                c.status_latched = true;
            }
        }
        return;
    }
    Pit8254Channel& c = ch_[sc];
    sync(c, t);
    unsigned rw = (v >> 4) & 3;
    if (rw == 0) {
        latch_count(c, t);
        return;
    }
    // A control word resets the channel's control logic and sets OUT to the
    // mode's initial level at once; counting waits for a new count.
    go_idle(c, t);
    c.mode_bits = uint8_t((v >> 1) & 7);
    c.rw = uint8_t(rw);
    c.bcd = (v & 1) != 0;
    c.held %= modulus(c);
    c.n = modulus(c);
    c.has_count = false;
    c.write_msb = false;
    c.read_msb = false;
    c.count_latched = false;
    c.status_latched = false;
    c.null_count = true;
    c.load_tick = kNever;
    channel_changed(int(sc), t);
}

void Pit8254::latch_count(Pit8254Channel& c, int64_t t) {
    if (c.count_latched) return;  // a second latch before reading is ignored
    c.latch = encode(c, ce_value(c, t));
    c.count_latched = true;
}

void Pit8254::write_counter(int ch, uint8_t v) {
    Pit8254Channel& c = ch_[ch];
    int64_t t = now_tick();
    sync(c, t);
    switch (c.rw) {
    case 1: load_count(ch, v, t); break;
    case 2: load_count(ch, uint16_t(v << 8), t); break;
    default:
        if (!c.write_msb) {
            c.write_lsb = v;
            c.write_msb = true;
            // Mode 0: the first byte of a two-byte count stops counting and
            // drives OUT low at once.
            if (eff_mode(c) == 0) {
                go_idle(c, t);
                channel_changed(ch, t);
            }
        } else {
            c.write_msb = false;
            load_count(ch, uint16_t(c.write_lsb | v << 8), t);
        }
        break;
    }
}

void Pit8254::load_count(int ch, uint16_t raw, int64_t t) {
    Pit8254Channel& c = ch_[ch];
    c.cr = raw;
    c.has_count = true;
    c.null_count = true;
    c.load_tick = kNever;
    if (c.bcd && !valid_bcd(raw))
        ctx_.log.log(kLogGuestErrors, "pit: channel %d BCD count %04x has a digit above 9\n", ch, raw);
    uint32_t nn = decode_cr(c);
    unsigned mode = eff_mode(c);
    if ((mode == 2 || mode == 3) && nn == 1)
        ctx_.log.log(kLogGuestErrors, "pit: channel %d count 1 is illegal in mode %u\n", ch, mode);
    switch (mode) {
    case 0:
    case 4:
        // A new count restarts the countdown on the next clock.
        c.n = nn;
        begin_counting(c, t);
        break;
    case 1:
    case 5:
        break;  // the next gate trigger loads it; a running one-shot goes on
    default:    // 2, 3
        if (c.phase == Pit8254Channel::kRunning && t >= c.start_tick) {
            // Counting goes on; the new count is loaded at the end of the
            // current period (mode 2) or half cycle (mode 3).
            int64_t d = t - c.start_tick, n = c.n, p = d % n;
            int64_t end;
            if (mode == 2)
                end = n - p;
            else
                end = p < int64_t(half_high(c.n)) ? half_high(c.n) - p : n - p;
            c.pending = true;
            c.pending_tick = t + end;
            c.load_tick = c.pending_tick;
        } else if (c.phase == Pit8254Channel::kRunning) {
            c.n = nn;  // the previous count was not even loaded yet
            c.load_tick = c.start_tick;
        } else if (c.phase == Pit8254Channel::kIdle) {
            c.n = nn;
            begin_counting(c, t);
        }
        // kGateHeld: the gate's rising edge will load the CR.
        break;
    }
    channel_changed(ch, t);
}

uint8_t Pit8254::read_counter(int ch) {
    Pit8254Channel& c = ch_[ch];
    int64_t t = now_tick();
    sync(c, t);
    if (c.status_latched) {
        // After a read-back of both, the status comes first, then the count.
        c.status_latched = false;
        return c.status;
    }
    bool latched = c.count_latched;
    uint16_t value = latched ? c.latch : encode(c, ce_value(c, t));
    uint8_t b;
    switch (c.rw) {
    case 1:
        b = uint8_t(value);
        c.count_latched = false;
        break;
    case 2:
        b = uint8_t(value >> 8);
        c.count_latched = false;
        break;
    default:
        // Without a latch the two bytes come from different moments; that
        // is the guest's problem on real hardware too.
        if (!c.read_msb) {
            b = uint8_t(value);
            c.read_msb = true;
        } else {
            b = uint8_t(value >> 8);
            c.read_msb = false;
            c.count_latched = false;
        }
        break;
    }
    return b;
}

void Pit8254::set_gate(int ch, bool level) {
    Pit8254Channel& c = ch_[ch];
    int64_t t = now_tick();
    sync(c, t);
    if (c.gate == level) return;
    c.gate = level;
    switch (eff_mode(c)) {
    case 0:
    case 4:
        // Gate low suspends counting; high resumes it where it stopped.
        if (!level && c.phase == Pit8254Channel::kRunning) {
            c.elapsed = std::max<int64_t>(0, t - c.start_tick);
            c.phase = Pit8254Channel::kGateHeld;
        } else if (level && c.phase == Pit8254Channel::kGateHeld) {
            c.phase = Pit8254Channel::kRunning;
            c.start_tick = t - c.elapsed;
        }
        break;
    case 1:
    case 5:
        if (level && c.has_count) trigger(c, t);
        break;
    default:  // 2, 3: gate low stops counting with OUT high; a rising edge reloads
        if (!level && c.phase == Pit8254Channel::kRunning) {
            c.elapsed = std::max<int64_t>(0, t - c.start_tick);
            c.phase = Pit8254Channel::kGateHeld;
            c.pending = false;
            if (c.null_count) c.load_tick = kNever;
        } else if (level && c.phase == Pit8254Channel::kGateHeld) {
            trigger(c, t);
        }
        break;
    }
    channel_changed(ch, t);
}

// ---- IRQ0 ----------------------------------------------------------------------

void Pit8254::channel_changed(int ch, int64_t t) {
    if (ch == 0) update_irq0(t, false);
}

// Brings the IRQ0 wire to channel 0's current level and re-arms the timer
// for its next transition.
void Pit8254::update_irq0(int64_t t, bool drive_always) {
    sync(ch_[0], t);
    bool target = irq_line_level(ch_[0], t);
    if (drive_always || irq0_.level() != target) irq0_.set(target);
    arm_irq0(t, false);
}

void Pit8254::arm_irq0(int64_t t, bool from_callback) {
    // Cancel first: VirtualClock::arm() only ever lowers its cached earliest
    // deadline, so moving an armed timer later without a cancel would leave
    // the clock waiting for a deadline that no longer exists.
    ctx_.clock.cancel(timer_);
    Transition tr = next_transition(ch_[0], t);
    if (tr.tick == kNever) {
        irq_edge_due_ = false;
        return;
    }
    int64_t deadline = tick_to_ns(tr.tick);
    // From the callback, never sooner than kMinIrqIntervalNs: a count of 1
    // or 2 would otherwise ask for a callback every input tick. (A guest
    // write arms at the next transition after the write, which may already
    // be past by now: the clock then runs the callback at once.)
    if (from_callback) deadline = std::max(deadline, ctx_.clock.now_ns() + kMinIrqIntervalNs);
    bool due = tr.rising;
    if (!due) {
        // The window opens with a falling edge; a rising one may follow
        // inside it when the clamp stretched the window.
        Transition tr2 = next_transition(ch_[0], tr.tick);
        due = tr2.tick != kNever && tr2.rising && tick_to_ns(tr2.tick) <= deadline;
    }
    irq_edge_due_ = due;
    ctx_.clock.arm(timer_, deadline);
}

void Pit8254::on_timer() {
    int64_t t = now_tick();
    sync(ch_[0], t);
    bool target = irq_line_level(ch_[0], t);
    if (irq_edge_due_) {
        // At least one rising edge of OUT happened in the window (several
        // when clamped: they coalesce into this one edge).
        if (irq0_.level()) irq0_.set(false);
        irq0_.set(true);
        if (!target) irq0_.set(false);
    } else if (irq0_.level() != target) {
        irq0_.set(target);
    }
    arm_irq0(t, true);
}

// ---- port I/O -------------------------------------------------------------------

uint32_t Pit8254::io_read(uint16_t port, unsigned /*size*/) {
    switch (port) {
    case 0x40:
    case 0x41:
    case 0x42: return read_counter(port - 0x40);
    case 0x43:
        // The control word register is write-only; the bus floats.
        ctx_.log.log(kLogGuestErrors, "pit: read of the write-only control port 0x43\n");
        return 0xFF;
    case 0x61: {
        bool refresh = (now_tick() / kRefreshTicks) & 1;
        return (port61_ & 0x0F) | (refresh ? 0x10 : 0) | (out(2) ? 0x20 : 0);
    }
    default: return 0xFF;
    }
}

void Pit8254::io_write(uint16_t port, unsigned /*size*/, uint32_t value) {
    uint8_t v = uint8_t(value);
    switch (port) {
    case 0x40:
    case 0x41:
    case 0x42: write_counter(port - 0x40, v); break;
    case 0x43: write_control(v); break;
    case 0x61: {
        // Bits 0-3 are kept (2-3 are the parity/IOCHK enables, which have
        // nothing to report here); bits 4-7 are read-only status.
        bool speaker_was = (port61_ & 3) == 3;
        port61_ = uint8_t(v & 0x0F);
        if (!speaker_was && (port61_ & 3) == 3) ctx_.log.log(kLogUnimp, "pit: PC speaker output is not emulated\n");
        set_gate(2, (v & 1) != 0);
        break;
    }
    default: break;
    }
}

uint16_t Pit8254::current_count(int ch) const {
    if (ch < 0 || ch > 2) return 0;
    return encode(ch_[ch], ce_value(ch_[ch], now_tick()));
}

bool Pit8254::out(int ch) const {
    if (ch < 0 || ch > 2) return false;
    return out_at(ch_[ch], now_tick());
}

// ---- state ----------------------------------------------------------------------

void Pit8254::describe(StateVisitor& v) {
    bool loading = v.loading();
    int64_t t = now_tick();
    v.begin_section("pit", 2);
    for (int i = 0; i < 3; i++) {
        Pit8254Channel& c = ch_[i];
        if (!loading) sync(c, t);
        auto f = [&](const char* field, auto& value) {
            std::string n = "ch" + std::to_string(i) + "." + field;
            v.field(n.c_str(), value);
        };
        f("mode_bits", c.mode_bits);
        f("rw", c.rw);
        f("bcd", c.bcd);
        f("gate", c.gate);
        f("cr", c.cr);
        f("has_count", c.has_count);
        f("write_lsb", c.write_lsb);
        f("write_msb", c.write_msb);
        f("read_msb", c.read_msb);
        f("count_latched", c.count_latched);
        f("latch", c.latch);
        f("status_latched", c.status_latched);
        f("status", c.status);
        f("null_count", c.null_count);
        f("phase", c.phase);
        f("n", c.n);
        f("held", c.held);
        f("elapsed", c.elapsed);
        f("pending", c.pending);
        // Absolute ticks mean nothing on another machine's clock: save them
        // relative to now; post_load() rebases them onto the loading clock.
        bool running = c.phase == Pit8254Channel::kRunning;
        int64_t since_start = running ? t - c.start_tick : 0;
        int64_t pending_in = c.pending ? c.pending_tick - t : 0;
        int64_t load_in = c.load_tick == kNever ? -1 : c.load_tick - t;
        f("since_start", since_start);
        f("pending_in", pending_in);
        f("load_in", load_in);
        if (loading) {
            c.start_tick = since_start;
            c.pending_tick = pending_in;
            c.load_tick = load_in;
        }
    }
    v.field("port61", port61_);
    // The IRQ0 timer is state too: at a save between its deadline and its
    // callback (a migration pauses the machine wherever the loop is), the
    // strobe it stands for is already behind OUT's current level, and only
    // the armed timer still knows an edge is owed. Linux's one-shot
    // clockevent would wait for that edge forever.
    int64_t irq_timer_in_ns = loading || !ctx_.clock.armed(timer_) ? kNoIrqTimer
                                                                   : ctx_.clock.deadline(timer_) - ctx_.clock.now_ns();
    v.field("irq_timer_in_ns", irq_timer_in_ns);
    v.field("irq_edge_due", irq_edge_due_);
    v.end_section();
    if (loading) {
        times_relative_ = true;
        loaded_irq_timer_in_ns_ = irq_timer_in_ns;
    }
}

void Pit8254::post_load() {
    int64_t t = now_tick();
    for (int i = 0; i < 3; i++) {
        Pit8254Channel& c = ch_[i];
        auto bad = [&](const char* what) { throw StateError("pit: channel " + std::to_string(i) + ": " + what); };
        if (c.mode_bits > 7) bad("mode");
        if (c.rw < 1 || c.rw > 3) bad("access mode");
        if (c.phase > Pit8254Channel::kGateHeld) bad("phase");
        if (c.n < 1 || c.n > modulus(c)) bad("count out of range");
        if (c.held >= modulus(c)) bad("held count out of range");
        if (i < 2 && !c.gate) bad("gate of channels 0 and 1 is tied high");
        if (c.phase == Pit8254Channel::kGateHeld && (c.elapsed < 0 || c.elapsed > kMaxRelTicks)) bad("elapsed");
        if (c.pending && (c.phase != Pit8254Channel::kRunning || (eff_mode(c) != 2 && eff_mode(c) != 3)))
            bad("deferred reload outside modes 2/3");
        if (times_relative_) {
            int64_t since_start = c.start_tick, pending_in = c.pending_tick, load_in = c.load_tick;
            if (c.phase == Pit8254Channel::kRunning && (since_start < -1 || since_start > kMaxRelTicks))
                bad("start time");
            if (c.pending && (pending_in < 1 || pending_in > int64_t(c.n) + 1)) bad("deferred reload time");
            if (load_in != -1 && (load_in < 0 || load_in > int64_t(modulus(c)) + 1)) bad("load time");
            c.start_tick = t - since_start;
            c.pending_tick = t + pending_in;
            c.load_tick = (load_in == -1 || !c.null_count) ? kNever : t + load_in;
        }
    }
    if (port61_ & ~0x0F) throw StateError("pit: port 0x61 reserved bits");
    if (((port61_ & 1) != 0) != ch_[2].gate) throw StateError("pit: port 0x61 gate bit disagrees with channel 2");
    times_relative_ = false;
    const int64_t timer_in = loaded_irq_timer_in_ns_;
    const bool edge_due = irq_edge_due_;
    if (timer_in != kNoIrqTimer && (timer_in < -kMaxOverdueNs || timer_in > kMaxTimerAheadNs))
        throw StateError("pit: IRQ0 timer deadline out of range");
    update_irq0(now_tick(), true);
    if (timer_in != kNoIrqTimer && timer_in <= 0) {
        // Overdue at the save: it runs at once and delivers the edge it
        // owes. (A timer still ahead is re-derived from the counts above.)
        irq_edge_due_ = edge_due;
        ctx_.clock.cancel(timer_);
        ctx_.clock.arm(timer_, ctx_.clock.now_ns());
    }
}

}  // namespace nomad86
