#include <doctest/doctest.h>

#include "devices/i8042.h"
#include "tests/unit/test_support.h"

using namespace nomad86;

namespace {

struct KbcRig : test::DeviceRig {
    I8042 kbc{ctx, IrqLine(&irqs, 1), IrqLine(&irqs, 12)};
    uint8_t status() { return inb(0x64); }
    void cmd(uint8_t c) { outb(0x64, c); }
    // Reads one byte, requiring the output buffer to be full.
    uint8_t read() {
        REQUIRE((status() & 1) == 1);
        return inb(0x60);
    }
    bool empty() { return (status() & 1) == 0; }
};

}  // namespace

TEST_CASE("i8042: self test, interface tests and status bits") {
    KbcRig r;
    CHECK((r.status() & 0x10) == 0x10);  // not inhibited
    r.cmd(0xAA);
    CHECK((r.status() & 0x08) == 0x08);  // last write was a command
    CHECK(r.read() == 0x55);
    CHECK((r.status() & 0x04) == 0x04);  // SYS flag after self test
    r.cmd(0xAB);
    CHECK(r.read() == 0x00);
    r.cmd(0xA9);
    CHECK(r.read() == 0x00);
    CHECK(r.empty());
}

TEST_CASE("i8042: command byte round trip") {
    KbcRig r;
    r.cmd(0x60);
    r.outb(0x60, 0x65);
    CHECK((r.status() & 0x08) == 0);
    r.cmd(0x20);
    CHECK(r.read() == 0x65);
    r.cmd(0xAD);
    r.cmd(0xA7);
    r.cmd(0x20);
    CHECK(r.read() == 0x75);
    r.cmd(0xAE);
    r.cmd(0xA8);
    r.cmd(0x20);
    CHECK(r.read() == 0x45);
}

TEST_CASE("i8042: A20 through the output port and 0xDD/0xDF") {
    KbcRig r;
    r.cmd(0xD1);
    r.outb(0x60, 0xDD);  // A20 off, reset line high
    CHECK_FALSE(r.control.a20());
    CHECK(r.control.resets == 0);
    r.cmd(0xD0);
    CHECK((r.read() & 0x03) == 0x01);
    r.cmd(0xD1);
    r.outb(0x60, 0xDF);
    CHECK(r.control.a20());
    r.cmd(0xDD);
    CHECK_FALSE(r.control.a20());
    r.cmd(0xDF);
    CHECK(r.control.a20());
    CHECK(r.control.resets == 0);
}

TEST_CASE("i8042: pulse commands and output port bit 0 reset the system") {
    KbcRig r;
    r.cmd(0xFF);  // pulses nothing
    CHECK(r.control.resets == 0);
    r.cmd(0xFE);
    CHECK(r.control.resets == 1);
    r.cmd(0xF0);
    CHECK(r.control.resets == 2);
    r.cmd(0xD1);
    r.outb(0x60, 0x02);
    CHECK(r.control.resets == 3);
}

TEST_CASE("i8042: keyboard reset, identify, LEDs and scan code set") {
    KbcRig r;
    r.outb(0x60, 0xFF);
    CHECK(r.read() == 0xFA);
    CHECK(r.read() == 0xAA);
    CHECK(r.empty());
    r.outb(0x60, 0xF2);
    CHECK(r.read() == 0xFA);
    CHECK(r.read() == 0xAB);
    CHECK(r.read() == 0x83);
    r.outb(0x60, 0xED);
    CHECK(r.read() == 0xFA);
    r.outb(0x60, 0x07);
    CHECK(r.read() == 0xFA);
    r.outb(0x60, 0xF0);
    CHECK(r.read() == 0xFA);
    r.outb(0x60, 0x00);
    CHECK(r.read() == 0xFA);
    CHECK(r.read() == 0x02);
    r.outb(0x60, 0xF3);
    r.outb(0x60, 0x20);
    CHECK(r.read() == 0xFA);
    CHECK(r.read() == 0xFA);
    // With translation on, the identify bytes come out as 0xAB 0x41.
    r.cmd(0x60);
    r.outb(0x60, 0x41);
    r.outb(0x60, 0xF2);
    CHECK(r.read() == 0xFA);
    CHECK(r.read() == 0xAB);
    CHECK(r.read() == 0x41);
}

TEST_CASE("i8042: key events in set 2, translated back to set 1") {
    KbcRig r;
    r.kbc.key_event(0x1E);  // 'A' make
    r.kbc.key_event(0x9E);  // 'A' break
    CHECK(r.read() == 0x1C);
    CHECK(r.read() == 0xF0);
    CHECK(r.read() == 0x1C);
    r.cmd(0x60);
    r.outb(0x60, 0x41);  // INT | XLAT
    r.kbc.key_event(0x1E);
    r.kbc.key_event(0x9E);
    CHECK(r.read() == 0x1E);
    CHECK(r.read() == 0x9E);
    CHECK(r.empty());
    // A disabled interface holds the keyboard's bytes.
    r.cmd(0xAD);
    r.kbc.key_event(0x01);
    CHECK(r.empty());
    r.cmd(0xAE);
    CHECK(r.read() == 0x01);
}

TEST_CASE("i8042: IRQ1 follows OBF when INT is set; IRQ12 for the mouse") {
    KbcRig r;
    r.cmd(0x60);
    r.outb(0x60, 0x00);  // no interrupts
    r.kbc.key_event(0x10);
    CHECK((r.status() & 1) == 1);
    CHECK_FALSE(r.irqs.levels[1]);
    r.inb(0x60);
    r.cmd(0x60);
    r.outb(0x60, 0x03);
    r.kbc.key_event(0x10);
    CHECK(r.irqs.levels[1]);
    r.inb(0x60);
    CHECK_FALSE(r.irqs.levels[1]);
    r.cmd(0xD4);
    r.outb(0x60, 0xFF);  // mouse reset
    CHECK(r.irqs.levels[12]);
    CHECK((r.status() & 0x21) == 0x21);
    CHECK(r.inb(0x60) == 0xFA);
    CHECK(r.inb(0x60) == 0xAA);
    CHECK(r.inb(0x60) == 0x00);
    CHECK_FALSE(r.irqs.levels[12]);
    r.cmd(0xD3);
    r.outb(0x60, 0x42);
    CHECK(r.irqs.levels[12]);
    CHECK(r.inb(0x60) == 0x42);
}

TEST_CASE("i8042: the keyboard queue is bounded") {
    KbcRig r;
    for (int i = 0; i < 1000; i++) r.kbc.key_event(0x10);
    int n = 0;
    while (!r.empty() && n < 2000) {
        r.inb(0x60);
        n++;
    }
    CHECK(n <= int(I8042::kQueueSize) + 1);
}

TEST_CASE("i8042: the mouse answers RESEND to keyboard commands such as SET LEDS") {
    // Linux's atkbd probes the AUX port with GET ID and, when that gives the
    // one-byte mouse ID, with SET LEDS: an ACK would make the mouse a keyboard.
    KbcRig r;
    r.cmd(0xD4);
    r.outb(0x60, 0xF2);  // get ID
    CHECK(r.read() == 0xFA);
    CHECK(r.read() == 0x00);
    r.cmd(0xD4);
    r.outb(0x60, 0xED);  // keyboard SET LEDS
    CHECK(r.read() == 0xFE);
    CHECK(r.empty());
    r.cmd(0xD4);
    r.outb(0x60, 0xF4);  // a mouse command still works afterwards
    CHECK(r.read() == 0xFA);
}

TEST_CASE("i8042: each byte of a multi-byte reply gets its own IRQ1 edge") {
    // Regression: the next queued byte used to load while IRQ1 stayed high,
    // so an edge-triggered 8259 saw one interrupt for GET ID's three bytes;
    // Linux's atkbd timed out, the late bytes made serio rescan the port,
    // and the probe repeated every 0.4 s for a minute of the boot.
    KbcRig r;
    r.cmd(0x60);
    r.outb(0x60, 0x01);  // keyboard interrupt on, no translation
    r.irqs.changes.clear();
    r.outb(0x60, 0xF2);  // GET ID: FA AB 83
    CHECK(r.inb(0x60) == 0xFA);
    CHECK(r.inb(0x60) == 0xAB);
    CHECK(r.inb(0x60) == 0x83);
    const std::vector<std::pair<unsigned, bool>> edges = {{1, true}, {1, false}, {1, true},
                                                          {1, false}, {1, true}, {1, false}};
    CHECK(r.irqs.changes == edges);
}
