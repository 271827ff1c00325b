// Unit tests for the 8254 and port 0x61. Time is the rig's manual clock, so
// every OUT edge is checked at the exact input-clock tick the datasheet says.
#include <doctest/doctest.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include "devices/pic8259.h"
#include "devices/pit8254.h"
#include "tests/unit/test_support.h"

using namespace nomad86;

namespace {

// First guest ns at which input tick k has happened.
int64_t tick_ns(int64_t k) { return (k * 1'000'000'000 + Pit8254::kInputHz - 1) / Pit8254::kInputHz; }

using test::PokeReader;

struct PitBench {
    test::DeviceRig rig;
    Pit8254 pit{rig.ctx, IrqLine(&rig.irqs, 0)};

    void goto_tick(int64_t k) { rig.advance(tick_ns(k) - rig.clock.now_ns()); }
    // Control word, then a two-byte count.
    void program(int ch, uint8_t control, uint16_t count) {
        rig.outb(0x43, control);
        rig.outb(uint16_t(0x40 + ch), uint8_t(count));
        rig.outb(uint16_t(0x40 + ch), uint8_t(count >> 8));
    }
    uint16_t read16(int ch) {
        uint8_t lo = rig.inb(uint16_t(0x40 + ch));
        return uint16_t(lo | rig.inb(uint16_t(0x40 + ch)) << 8);
    }
    int rising_edges() const {
        int n = 0;
        for (auto [pin, level] : rig.irqs.changes)
            if (pin == 0 && level) n++;
        return n;
    }
    int falling_edges() const {
        int n = 0;
        for (auto [pin, level] : rig.irqs.changes)
            if (pin == 0 && !level) n++;
        return n;
    }
    bool irq0() { return rig.irqs.levels[0]; }
};

}  // namespace

TEST_CASE("pit: mode 2 rate generator fires IRQ0 once per period") {
    PitBench b;
    b.program(0, 0x34, 1193);  // at tick 0: loaded at tick 1, period 1193
    b.rig.irqs.changes.clear();
    b.goto_tick(1193);
    CHECK(b.rising_edges() == 0);
    CHECK_FALSE(b.pit.out(0));  // the one-tick low pulse at count 1
    CHECK(b.pit.current_count(0) == 1);
    b.goto_tick(1194);
    CHECK(b.rising_edges() == 1);
    CHECK(b.pit.out(0));
    CHECK(b.pit.current_count(0) == 1193);  // reloaded
    // 100 ms of guest time at ~1 kHz: edges at 1 + 1193k ticks.
    b.rig.irqs.changes.clear();
    b.rig.advance(100'000'000);
    int64_t t = Pit8254::kInputHz * b.rig.clock.now_ns() / 1'000'000'000;
    CHECK(b.rising_edges() == (t - 1) / 1193 - 1);
    CHECK(b.rising_edges() >= 99);
}

TEST_CASE("pit: mode 3 square wave at 18.2 Hz, OUT high half and low half") {
    PitBench b;
    b.program(0, 0x36, 0);  // count 0 = 65536
    b.rig.irqs.changes.clear();
    b.goto_tick(1 + 32767);
    CHECK(b.pit.out(0));
    CHECK(b.irq0());
    b.goto_tick(1 + 32768);
    CHECK_FALSE(b.pit.out(0));
    CHECK_FALSE(b.irq0());
    b.goto_tick(1 + 65536);
    CHECK(b.irq0());
    CHECK(b.rising_edges() == 1);
    b.rig.irqs.changes.clear();
    b.goto_tick(1 + 65536 + 18 * 65536);
    CHECK(b.rising_edges() == 18);
    CHECK(b.falling_edges() == 18);
}

TEST_CASE("pit: mode 3 counts down by two; odd counts stay high one tick longer") {
    PitBench b;
    b.program(0, 0x36, 10);
    b.goto_tick(1);
    CHECK(b.pit.current_count(0) == 10);
    b.goto_tick(2);
    CHECK(b.pit.current_count(0) == 8);
    b.goto_tick(5);
    CHECK(b.pit.current_count(0) == 2);
    CHECK(b.pit.out(0));
    b.goto_tick(6);
    CHECK(b.pit.current_count(0) == 10);
    CHECK_FALSE(b.pit.out(0));

    b.program(0, 0x36, 5);  // at tick 6: loaded at 7; high 3 ticks, low 2
    b.goto_tick(9);
    CHECK(b.pit.out(0));
    b.goto_tick(10);
    CHECK_FALSE(b.pit.out(0));
    b.goto_tick(11);
    CHECK_FALSE(b.pit.out(0));
    b.goto_tick(12);
    CHECK(b.pit.out(0));
}

TEST_CASE("pit: mode 0 OUT goes high N+1 ticks after the count is written, once") {
    PitBench b;
    b.program(0, 0x30, 100);
    CHECK_FALSE(b.pit.out(0));
    b.rig.irqs.changes.clear();
    b.rig.advance(tick_ns(101) - 1);
    CHECK_FALSE(b.pit.out(0));
    CHECK_FALSE(b.irq0());
    b.rig.advance(1);
    CHECK(b.pit.out(0));
    CHECK(b.irq0());
    CHECK(b.pit.current_count(0) == 0);
    b.goto_tick(102);
    CHECK(b.pit.current_count(0) == 0xFFFF);  // keeps counting after terminal count
    b.rig.advance(1'000'000'000);
    CHECK(b.pit.out(0));
    CHECK(b.rising_edges() == 1);
    CHECK_FALSE(b.rig.clock.armed(0));  // one-shot: nothing left to fire
}

TEST_CASE("pit: a control word sets OUT to the mode's initial level at once") {
    PitBench b;
    b.program(0, 0x30, 10);
    b.goto_tick(20);
    CHECK(b.irq0());
    b.rig.outb(0x43, 0x30);  // mode 0 again: OUT low before any count
    CHECK_FALSE(b.pit.out(0));
    CHECK_FALSE(b.irq0());
    b.rig.outb(0x43, 0x34);  // mode 2: OUT high
    CHECK(b.pit.out(0));
    CHECK(b.irq0());
}

TEST_CASE("pit: mode 0 first byte of a two-byte count stops counting, second restarts") {
    PitBench b;
    b.program(0, 0x30, 100);
    b.goto_tick(51);  // CE = 50
    b.rig.outb(0x40, 200);
    b.goto_tick(300);  // past the old terminal count
    CHECK_FALSE(b.pit.out(0));
    CHECK(b.pit.current_count(0) == 50);
    b.rig.outb(0x40, 0);  // count 200, loaded at tick 301
    b.goto_tick(500);
    CHECK_FALSE(b.pit.out(0));
    b.goto_tick(501);
    CHECK(b.pit.out(0));
}

TEST_CASE("pit: mode 4 strobes OUT low for one tick at terminal count") {
    PitBench b;
    b.program(0, 0x38, 10);
    b.rig.irqs.changes.clear();
    CHECK(b.pit.out(0));
    b.goto_tick(10);
    CHECK(b.pit.out(0));
    b.goto_tick(11);
    CHECK_FALSE(b.pit.out(0));
    CHECK(b.rising_edges() == 0);
    b.goto_tick(12);
    CHECK(b.pit.out(0));
    CHECK(b.rising_edges() == 1);
    b.rig.advance(1'000'000'000);
    CHECK(b.rising_edges() == 1);  // no repeat
}

TEST_CASE("pit: counter latch holds its value while counting continues") {
    PitBench b;
    b.program(0, 0x34, 10000);
    b.goto_tick(1 + 2500);
    b.rig.outb(0x43, 0x00);  // latch channel 0
    b.goto_tick(5000);
    b.rig.outb(0x43, 0x00);  // ignored: already latched
    CHECK(b.read16(0) == 7500);
    CHECK(b.read16(0) == 10000 - 4999);  // latch released: live count
}

TEST_CASE("pit: read-back latches status and count for several channels") {
    PitBench b;
    b.rig.outb(0x43, 0x34);
    b.rig.outb(0x43, 0xE2);  // status only, channel 0
    CHECK(b.rig.inb(0x40) == 0xF4);  // OUT high, null count, LSB/MSB, mode 2, binary
    b.rig.outb(0x40, 0x00);
    b.rig.outb(0x40, 0x10);  // 4096, loaded on the next tick
    b.rig.outb(0x43, 0xE2);
    CHECK(b.rig.inb(0x40) == 0xF4);  // not loaded yet: null count still set
    b.goto_tick(1 + 96);
    b.rig.outb(0x43, 0xCA);  // count and status, channels 0 and 2
    CHECK(b.rig.inb(0x40) == 0xB4);  // status first
    CHECK(b.read16(0) == 4000);      // then the count
    CHECK(b.rig.inb(0x42) == 0x70);  // ch2 after reset: mode 0, OUT low, null count
    CHECK(b.read16(2) == 0);
    b.rig.outb(0x43, 0xDE);  // count only, all channels
    b.goto_tick(1 + 196);
    CHECK(b.read16(0) == 4000);  // the count at the command, not at the read
    CHECK(b.read16(0) == 3900);
}

TEST_CASE("pit: access modes and the read/write flip-flops") {
    PitBench b;
    b.program(0, 0x34, 0x1234);
    CHECK(b.rig.inb(0x40) == 0x34);
    CHECK(b.rig.inb(0x40) == 0x12);
    b.rig.outb(0x43, 0x14);  // LSB only
    b.rig.outb(0x40, 0x55);
    CHECK(b.rig.inb(0x40) == 0x55);
    CHECK(b.rig.inb(0x40) == 0x55);
    CHECK(b.pit.current_count(0) == 0x0055);
    b.rig.outb(0x43, 0x24);  // MSB only
    b.rig.outb(0x40, 0x12);
    CHECK(b.pit.current_count(0) == 0x1200);
    CHECK(b.rig.inb(0x40) == 0x12);
    // A control word resets the write flip-flop mid-count.
    b.rig.outb(0x43, 0x34);
    b.rig.outb(0x40, 0x99);
    b.rig.outb(0x43, 0x34);
    b.rig.outb(0x40, 0x78);
    b.rig.outb(0x40, 0x56);
    CHECK(b.pit.current_count(0) == 0x5678);
    // Only the LSB written: no count, nothing runs.
    b.rig.outb(0x43, 0x30);
    b.rig.outb(0x40, 0x05);
    b.goto_tick(1000);
    CHECK_FALSE(b.pit.out(0));
}

TEST_CASE("pit: BCD counting, count 0 means 10000") {
    PitBench b;
    b.program(0, 0x31, 0x0100);  // mode 0, BCD 100
    b.goto_tick(1 + 5);
    CHECK(b.read16(0) == 0x0095);
    b.goto_tick(1 + 100);
    CHECK(b.pit.out(0));
    b.goto_tick(1 + 101);
    CHECK(b.pit.current_count(0) == 0x9999);  // decade wrap, not 0xFFFF

    b.program(0, 0x31, 0x0000);  // at tick 102: 10000, loaded at 103
    b.goto_tick(103 + 9999);
    CHECK_FALSE(b.pit.out(0));
    CHECK(b.pit.current_count(0) == 0x0001);
    b.goto_tick(103 + 10000);
    CHECK(b.pit.out(0));
}

TEST_CASE("pit: channel 2 gate comes from port 0x61 bit 0 and OUT shows in bit 5") {
    PitBench b;
    b.program(2, 0xB0, 100);  // mode 0, gate low after reset
    b.goto_tick(1000);
    CHECK(b.pit.current_count(2) == 100);  // gate low: no counting
    CHECK((b.rig.inb(0x61) & 0x20) == 0);
    b.rig.outb(0x61, 0x01);  // gate high at tick 1000
    b.goto_tick(1050);
    b.rig.outb(0x61, 0x00);  // suspend at 50
    b.goto_tick(5000);
    CHECK(b.pit.current_count(2) == 50);
    b.rig.outb(0x61, 0x01);  // resume at tick 5000
    b.goto_tick(5049);
    CHECK((b.rig.inb(0x61) & 0x20) == 0);
    b.goto_tick(5050);
    CHECK((b.rig.inb(0x61) & 0x20) == 0x20);
    CHECK(b.rig.irqs.changes.empty());  // channel 2 never touches IRQ0
}

TEST_CASE("pit: channel 2 mode 3 speaker tone is gated and restarted by port 0x61") {
    PitBench b;
    b.program(2, 0xB6, 1000);
    b.goto_tick(10);
    b.rig.outb(0x61, 0x03);  // gate rising edge: load on tick 11
    b.goto_tick(11 + 250);
    CHECK((b.rig.inb(0x61) & 0x20) != 0);
    b.goto_tick(11 + 750);
    CHECK((b.rig.inb(0x61) & 0x20) == 0);
    b.rig.outb(0x61, 0x00);  // gate low forces OUT high
    CHECK((b.rig.inb(0x61) & 0x20) != 0);
}

TEST_CASE("pit: channel 2 mode 1 one-shot is triggered by the gate's rising edge") {
    PitBench b;
    b.program(2, 0xB2, 50);
    CHECK(b.pit.out(2));
    b.goto_tick(100);
    CHECK(b.pit.out(2));  // no trigger yet
    b.rig.outb(0x61, 0x01);
    b.goto_tick(101);
    CHECK_FALSE(b.pit.out(2));
    b.goto_tick(150);
    CHECK_FALSE(b.pit.out(2));
    b.goto_tick(151);
    CHECK(b.pit.out(2));
    b.rig.outb(0x61, 0x00);
    b.rig.outb(0x61, 0x01);  // retrigger at 151
    b.goto_tick(152);
    CHECK_FALSE(b.pit.out(2));
    b.goto_tick(202);
    CHECK(b.pit.out(2));
}

TEST_CASE("pit: port 0x61 keeps bits 0-3 and its refresh bit toggles with guest time") {
    PitBench b;
    b.rig.outb(0x61, 0xFC);
    CHECK((b.rig.inb(0x61) & 0xCF) == 0x0C);
    uint8_t first = b.rig.inb(0x61) & 0x10;
    CHECK((b.rig.inb(0x61) & 0x10) == first);  // no time, no toggle
    int toggles = 0;
    uint8_t last = first;
    for (int us = 0; us < 1000; us++) {
        b.rig.advance(1000);
        uint8_t now = b.rig.inb(0x61) & 0x10;
        if (now != last) toggles++;
        last = now;
    }
    CHECK(toggles >= 60);  // one per ~15 us
    CHECK(toggles <= 70);
}

TEST_CASE("pit: a new mode 2 count takes effect at the end of the current period") {
    PitBench b;
    b.program(0, 0x34, 1000);
    b.rig.irqs.changes.clear();
    b.goto_tick(300);
    b.rig.outb(0x40, 0xF4);
    b.rig.outb(0x40, 0x01);  // 500
    b.goto_tick(1000);
    CHECK(b.pit.current_count(0) == 1);  // old period still running
    b.goto_tick(1001);
    CHECK(b.rising_edges() == 1);
    CHECK(b.pit.current_count(0) == 500);
    b.goto_tick(1500);
    CHECK(b.rising_edges() == 1);
    b.goto_tick(1501);
    CHECK(b.rising_edges() == 2);
}

TEST_CASE("pit: a tiny mode 2 count cannot make the host spin; IRQ0 is rate-limited") {
    for (uint16_t count : {1, 2}) {
        PitBench b;
        b.program(0, 0x34, count);
        b.rig.irqs.changes.clear();
        b.rig.advance(10'000'000);  // 10 ms would be 12k-6k edges unclamped
        int edges = b.rising_edges();
        CHECK(edges <= 10'000'000 / Pit8254::kMinIrqIntervalNs + 1);
        CHECK(edges >= 10'000'000 / Pit8254::kMinIrqIntervalNs / 2);
    }
    PitBench b;
    b.program(0, 0x36, 2);  // mode 3, 600 kHz square wave
    b.rig.irqs.changes.clear();
    b.rig.advance(10'000'000);
    CHECK(b.rising_edges() <= 10'000'000 / Pit8254::kMinIrqIntervalNs + 1);
    CHECK(b.rising_edges() >= 100);
}

TEST_CASE("pit: IRQ0 reaches the 8259 and gives vector 0x08 each period") {
    test::DeviceRig rig;
    Pic8259Pair pic(rig.ctx, IrqLine(&rig.irqs, 0));
    Pit8254 pit(rig.ctx, IrqLine(&pic, 0));
    for (auto [port, v] : {std::pair{0x20, 0x11}, {0x21, 0x08}, {0x21, 0x04}, {0x21, 0x01}, {0x21, 0x00}})
        rig.outb(uint16_t(port), uint8_t(v));
    rig.outb(0x43, 0x34);
    rig.outb(0x40, 0xA9);
    rig.outb(0x40, 0x04);
    // The mode 0 -> mode 2 switch itself raised OUT: the PIC latched it.
    CHECK(pic.acknowledge() == 0x08);
    rig.outb(0x20, 0x20);
    CHECK_FALSE(rig.irqs.levels[0]);
    rig.advance(100'000);  // edges come at 1 + 1193k ticks: sample between them
    for (int i = 0; i < 5; i++) {
        rig.advance(1'000'000);
        CHECK(rig.irqs.levels[0]);
        CHECK(pic.acknowledge() == 0x08);
        rig.outb(0x20, 0x20);
    }
}

TEST_CASE("pit: state round trip onto another clock keeps counts and IRQ0 timing") {
    PitBench a;
    a.program(0, 0x34, 1193);
    a.program(2, 0xB6, 3000);
    a.rig.outb(0x61, 0x01);
    a.rig.advance(5'500'000);
    a.rig.outb(0x43, 0x80);  // latch channel 2, read half of it
    (void)a.rig.inb(0x42);
    StateWriter w;
    a.pit.describe(w);

    PitBench b;
    b.rig.advance(123'456'789);  // a different time base
    StateReader r(w.data());
    b.pit.describe(r);
    CHECK(r.at_end());
    b.pit.post_load();
    CHECK(b.pit.current_count(0) == a.pit.current_count(0));
    CHECK(b.pit.out(2) == a.pit.out(2));
    CHECK(b.rig.inb(0x42) == a.rig.inb(0x42));  // the latch's MSB
    a.rig.irqs.changes.clear();
    b.rig.irqs.changes.clear();
    for (int i = 0; i < 20; i++) {
        a.rig.advance(500'000);
        b.rig.advance(500'000);
        // The two clocks' tick grids are offset by a fraction of a tick,
        // which a tick-granular state cannot carry: allow one tick.
        CHECK(std::abs(a.pit.current_count(0) - b.pit.current_count(0)) <= 1);
        CHECK(std::abs(a.pit.current_count(2) - b.pit.current_count(2)) <= 2);  // mode 3: two per tick
    }
    CHECK(b.rising_edges() == a.rising_edges());
    CHECK(b.rising_edges() >= 9);
}

TEST_CASE("pit: nonsense state is rejected") {
    PitBench a;
    a.program(0, 0x34, 1000);
    a.rig.advance(1'000'000);
    StateWriter w;
    a.pit.describe(w);
    struct Bad {
        const char* field;
        int64_t value;
    };
    for (Bad bad : {Bad{"ch0.n", 0}, Bad{"ch0.n", 70000}, Bad{"ch1.rw", 0}, Bad{"ch0.phase", 7},
                    Bad{"ch0.since_start", -5}, Bad{"ch0.since_start", INT64_MAX}, Bad{"ch1.gate", 0},
                    Bad{"port61", 0xF0}, Bad{"ch2.held", 65536}, Bad{"ch0.pending", 1}}) {
        PitBench b;
        PokeReader r(w.data(), bad.field, bad.value);
        b.pit.describe(r);
        CHECK_THROWS_AS(b.pit.post_load(), StateError);
    }
}

TEST_CASE("pit: a guest writing garbage never hangs or crashes the host") {
    PitBench b;
    uint32_t x = 777;
    auto rnd = [&] {
        x = x * 1103515245 + 12345;
        return uint8_t(x >> 16);
    };
    const uint16_t ports[] = {0x40, 0x41, 0x42, 0x43, 0x61};
    for (int i = 0; i < 20000; i++) {
        uint8_t r = rnd();
        uint16_t port = ports[r % 5];
        if (r & 0x80)
            b.rig.outb(port, rnd());
        else
            (void)b.rig.inb(port);
        if ((i & 3) == 0) b.rig.advance(rnd() * 40);
        // No timer is ever left overdue (the clock would spin on it).
        CHECK(b.rig.clock.next_deadline() > b.rig.clock.now_ns());
        for (int ch = 0; ch < 3; ch++) {
            // OUT and the read-back status agree. The first read drains a
            // status the garbage may have latched (a second latch is ignored).
            b.rig.outb(0x43, uint8_t(0xE0 | 2 << ch));
            (void)b.rig.inb(uint16_t(0x40 + ch));
            b.rig.outb(0x43, uint8_t(0xE0 | 2 << ch));
            bool status_out = (b.rig.inb(uint16_t(0x40 + ch)) & 0x80) != 0;
            CHECK(status_out == b.pit.out(ch));
        }
    }
}

TEST_CASE("pit: a one-shot strobe that falls due while the host is away is delivered late, not lost") {
    // Found in a Linux boot with six machines on two host cores: the guest
    // wrote a short mode 4 count, the host thread lost the CPU for longer
    // than the count before the PIT armed its timer, the PIT looked for the
    // next edge after the time it found on its return, found none (the
    // strobe was already past), and the kernel never got another tick.
    // Here every read of the clock takes 1 ms, longer than the count.
    PitBench b;
    b.rig.outb(0x43, 0x38);
    b.rig.clock.set_manual_read_step(1'000'000);
    for (int event = 0; event < 20; event++) {
        b.rig.irqs.changes.clear();
        b.rig.outb(0x40, uint8_t(100));  // 100 ticks: 84 us
        b.rig.outb(0x40, 0);
        b.rig.advance(1'000'000);
        INFO("event " << event);
        REQUIRE(b.rising_edges() == 1);
    }
    b.rig.clock.set_manual_read_step(0);
}

TEST_CASE("pit: Linux's one-shot use of mode 4, reprogrammed at random moments, never loses a strobe") {
    // Linux's i8253 clockevent: mode 4 (0x38) once, then each event writes
    // LSB and MSB of the delta. The IRQ handler reprograms; the kernel also
    // reprograms an earlier event before the pending one fires. Whatever
    // the host's lateness (timers run when the machine loop gets to them),
    // the last count written must always end in exactly one IRQ0 edge.
    PitBench b;
    b.rig.outb(0x43, 0x38);
    uint32_t seed = 12345;
    auto rnd = [&](uint32_t n) {
        seed = seed * 1103515245u + 12345u;
        return (seed >> 8) % n;
    };
    for (int event = 0; event < 3000; event++) {
        const uint16_t count = uint16_t(15 + rnd(rnd(4) == 0 ? 100 : 32000));
        b.rig.outb(0x40, uint8_t(count));
        if (rnd(8) == 0) b.rig.advance(rnd(3000));  // preempted between the two bytes
        b.rig.outb(0x40, uint8_t(count >> 8));
        if (rnd(4) == 0) {
            // Reprogrammed before it fires (an earlier timer was queued):
            // less than the strobe's (count + 1) * 838 ns passes, then the
            // next iteration writes a new count.
            b.rig.irqs.changes.clear();
            b.rig.advance(rnd(uint32_t(count) * 800));
            REQUIRE(b.rising_edges() == 0);
            continue;
        }
        b.rig.irqs.changes.clear();
        // The host gets to the timer late by up to 2 ms.
        const int64_t due = int64_t(count + 2) * 1'000'000'000 / Pit8254::kInputHz;
        b.rig.advance(due + rnd(2'000'000));
        INFO("event " << event << " count " << count);
        REQUIRE(b.rising_edges() == 1);
        b.rig.irqs.changes.clear();
        b.rig.advance(rnd(200'000));  // the handler runs a little later
        REQUIRE(b.rising_edges() == 0);
    }
}

TEST_CASE("pit: a snapshot taken between a one-shot's strobe and its timer callback still delivers the IRQ0 edge") {
    // Linux's clockevent: mode 4, a short count. The save lands after the
    // strobe's deadline but before the clock ran the timer (a migration
    // pauses the machine between slices, wherever time is): the edge is
    // owed, and only the armed timer knows it.
    PitBench a;
    a.program(0, 0x38, 100);  // mode 4, count 100
    a.rig.irqs.changes.clear();
    a.rig.clock.advance_to(tick_ns(150));  // past the strobe; timers not run
    StateWriter w;
    a.pit.describe(w);

    PitBench b;
    b.rig.advance(987'654'321);  // another time base
    StateReader r(w.data());
    b.pit.describe(r);
    b.pit.post_load();
    b.rig.irqs.changes.clear();
    b.rig.advance(1'000'000);
    CHECK(b.rising_edges() == 1);
    // And the source itself, had it run on: one edge too.
    a.rig.advance(1'000'000);
    CHECK(a.rising_edges() == 1);
}
