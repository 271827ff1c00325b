#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <tuple>
#include <vector>

#include "devices/rtc_cmos.h"
#include "tests/unit/test_support.h"

using namespace nomad86;

namespace {

constexpr time_t kFri = 1710510330;  // 2024-03-15 13:45:30 UTC, a Friday
constexpr int64_t kMs = 1000000;

struct RtcRig : test::DeviceRig {
    RtcCmos rtc;
    explicit RtcRig(uint64_t ram = 128 * MiB) : rtc(ctx, IrqLine(&irqs, 8), ram) { rtc.set_time(kFri); }
    uint8_t rd(uint8_t reg) {
        outb(0x70, reg);
        return inb(0x71);
    }
    void wr(uint8_t reg, uint8_t v) {
        outb(0x70, reg);
        outb(0x71, v);
    }
    bool irq8() { return irqs.levels[8]; }
};

}  // namespace

TEST_CASE("rtc: BCD and binary read-out match set_time") {
    RtcRig r;
    CHECK(r.rd(0x00) == 0x30);
    CHECK(r.rd(0x02) == 0x45);
    CHECK(r.rd(0x04) == 0x13);
    CHECK(r.rd(0x06) == 6);  // Friday, Sunday = 1
    CHECK(r.rd(0x07) == 0x15);
    CHECK(r.rd(0x08) == 0x03);
    CHECK(r.rd(0x09) == 0x24);
    CHECK(r.rd(0x32) == 0x20);
    r.wr(0x0B, 0x06);  // binary, 24 hour
    CHECK(r.rd(0x00) == 30);
    CHECK(r.rd(0x02) == 45);
    CHECK(r.rd(0x04) == 13);
    CHECK(r.rd(0x09) == 24);
    CHECK(r.rd(0x32) == 20);
    // Time moves with the virtual clock.
    r.advance(2500 * kMs);
    CHECK(r.rd(0x00) == 32);
    CHECK(r.rtc.current_time() == kFri + 2);
}

TEST_CASE("rtc: 12-hour mode sets the PM bit") {
    RtcRig r;
    r.wr(0x0B, 0x00);  // BCD, 12 hour
    CHECK(r.rd(0x04) == 0x81);  // 1 PM
    r.rtc.set_time(kFri - 13 * 3600 - 45 * 60);  // 00:00:30
    CHECK(r.rd(0x04) == 0x12);  // midnight is 12 AM
    r.rtc.set_time(kFri - 3600 - 45 * 60);  // 12:00:30
    CHECK(r.rd(0x04) == 0x92);  // noon is 12 PM
}

TEST_CASE("rtc: time written while SET is held changes the clock") {
    RtcRig r;
    r.wr(0x0B, 0x82);  // SET, 24 hour, BCD
    r.advance(3000 * kMs);
    CHECK(r.rd(0x00) == 0x30);  // stopped
    r.wr(0x04, 0x08);
    r.wr(0x02, 0x00);
    r.wr(0x00, 0x00);
    r.wr(0x09, 0x25);
    r.wr(0x0B, 0x02);
    CHECK(r.rd(0x04) == 0x08);
    CHECK(r.rd(0x09) == 0x25);
    r.advance(1000 * kMs);
    CHECK(r.rd(0x00) == 0x01);
    CHECK(r.rtc.current_time() == kFri + (365 * 86400) - (5 * 3600 + 45 * 60 + 30) + 1);
}

TEST_CASE("rtc: periodic interrupt count over one second") {
    for (auto [rate, hz, step] : {std::tuple{6, 1024, 100000}, std::tuple{15, 2, 1000000}, std::tuple{3, 8192, 20000}}) {
        RtcRig r;
        r.wr(0x0A, uint8_t(0x20 | rate));
        r.rd(0x0C);
        r.wr(0x0B, 0x42);  // PIE
        int count = 0;
        for (int64_t t = 0; t < 1000 * kMs; t += step) {
            r.advance(step);
            if (r.irq8()) {
                CHECK((r.rd(0x0C) & 0xC0) == 0xC0);  // IRQF | PF
                CHECK_FALSE(r.irq8());
                count++;
            }
        }
        CHECK(count == hz);
    }
}

TEST_CASE("rtc: PF is set without PIE but raises no interrupt") {
    RtcRig r;
    r.rd(0x0C);
    r.advance(10 * kMs);  // 1024 Hz default rate
    CHECK_FALSE(r.irq8());
    CHECK((r.rd(0x0C) & 0x40) == 0x40);
    CHECK((r.rd(0x0C) & 0x40) == 0);
}

TEST_CASE("rtc: alarm fires at the right second, with don't-care bytes") {
    RtcRig r;
    r.wr(0x01, 0x35);  // second 35
    r.wr(0x03, 0xC0);  // any minute
    r.wr(0x05, 0xFF);  // any hour
    r.rd(0x0C);
    r.wr(0x0B, 0x22);  // AIE
    r.advance(4900 * kMs);
    CHECK_FALSE(r.irq8());
    r.advance(100 * kMs);
    CHECK(r.irq8());
    CHECK(r.rd(0x00) == 0x35);
    uint8_t c = r.rd(0x0C);
    CHECK((c & 0xA0) == 0xA0);  // IRQF | AF
    CHECK((c & 0x10) == 0x10);  // UF is set too, every second
    CHECK_FALSE(r.irq8());
    r.advance(58 * 1000 * kMs);
    CHECK_FALSE(r.irq8());
    r.advance(2 * 1000 * kMs);  // next minute's :35
    CHECK(r.irq8());
}

TEST_CASE("rtc: update-ended interrupt once per second; C clears on read and lowers IRQ8") {
    RtcRig r;
    r.rd(0x0C);
    r.wr(0x0B, 0x12);  // UIE
    r.advance(999 * kMs);
    CHECK_FALSE(r.irq8());
    r.advance(1 * kMs);
    CHECK(r.irq8());
    CHECK(r.rd(0x00) == 0x31);
    CHECK((r.rd(0x0C) & 0x90) == 0x90);
    CHECK_FALSE(r.irq8());
    CHECK((r.rd(0x0C) & 0xF0) == 0);
    int edges = 0;
    for (int i = 0; i < 5; i++) {
        r.advance(1000 * kMs);
        if (r.irq8()) edges++;
        r.rd(0x0C);
    }
    CHECK(edges == 5);
}

TEST_CASE("rtc: UIP is set only just before the update") {
    RtcRig r;
    r.advance(500 * kMs);
    CHECK((r.rd(0x0A) & 0x80) == 0);
    r.advance(499 * kMs + 900000);  // 100 us before the update
    CHECK((r.rd(0x0A) & 0x80) == 0x80);
    CHECK(r.rd(0x00) == 0x30);
    r.advance(100000);
    CHECK((r.rd(0x0A) & 0x80) == 0);
    CHECK(r.rd(0x00) == 0x31);
    r.wr(0x0B, 0x82);  // SET: no updates, no UIP
    r.advance(999 * kMs + 900000);
    CHECK((r.rd(0x0A) & 0x80) == 0);
    CHECK(r.rd(0x0D) == 0x80);
}

TEST_CASE("rtc: index masked to 7 bits, NMI bit kept") {
    RtcRig r;
    r.outb(0x70, 0x80 | 0x40);
    r.outb(0x71, 0x5A);
    CHECK(r.rtc.nmi_disabled());
    CHECK(r.rd(0x40) == 0x5A);
    CHECK_FALSE(r.rtc.nmi_disabled());
}

TEST_CASE("rtc: memory size fields and checksum") {
    auto check_sum = [](RtcRig& r) {
        unsigned sum = 0;
        for (unsigned i = 0x10; i <= 0x2D; i++) sum += r.rd(uint8_t(i));
        CHECK(r.rd(0x2E) == uint8_t(sum >> 8));
        CHECK(r.rd(0x2F) == uint8_t(sum));
    };
    {
        RtcRig r(128 * MiB);
        CHECK((r.rd(0x15) | r.rd(0x16) << 8) == 640);
        CHECK((r.rd(0x17) | r.rd(0x18) << 8) == 0xFFFF);  // 127 MiB does not fit
        CHECK((r.rd(0x30) | r.rd(0x31) << 8) == 0xFFFF);
        CHECK((r.rd(0x34) | r.rd(0x35) << 8) == (128 - 16) * 16);
        CHECK(r.rd(0x5B) == 0);
        CHECK(r.rd(0x5C) == 0);
        CHECK(r.rd(0x5D) == 0);
        CHECK(r.rd(0x10) == 0);
        CHECK(r.rd(0x14) == 0x02);
        check_sum(r);
    }
    {
        RtcRig r(3 * GiB);
        CHECK((r.rd(0x34) | r.rd(0x35) << 8) == 0xBF00);  // (3072 - 16) MiB in 64 KiB
        CHECK((r.rd(0x5B) | r.rd(0x5C) | r.rd(0x5D)) == 0);
        check_sum(r);
    }
    {
        RtcRig r(32 * MiB);
        CHECK((r.rd(0x17) | r.rd(0x18) << 8) == 31 * 1024);
        CHECK((r.rd(0x34) | r.rd(0x35) << 8) == 16 * 16);
        check_sum(r);
    }
}

TEST_CASE("rtc: state round trip and rejection of a bad index") {
    RtcRig a;
    a.wr(0x0B, 0x12);
    a.wr(0x50, 0x77);
    a.advance(1500 * kMs);
    StateWriter w;
    a.rtc.describe(w);
    RtcRig b;
    b.clock.advance_to(a.clock.now_ns());
    StateReader rd(w.data());
    b.rtc.describe(rd);
    b.rtc.post_load();
    CHECK(b.rd(0x50) == 0x77);
    CHECK(b.rd(0x00) == 0x31);
    CHECK(b.irq8());  // UF | UIE pending, re-derived
    std::vector<uint8_t> bad = w.data();
    // Corrupt "index": find the field by name and set its byte to 0xFF.
    const std::string name = "index";
    auto it = std::search(bad.begin(), bad.end(), name.begin(), name.end());
    REQUIRE(it != bad.end());
    *(it + long(name.size()) + 4) = 0xFF;
    StateReader rd2(bad);
    b.rtc.describe(rd2);
    CHECK_THROWS_AS(b.rtc.post_load(), StateError);
}
