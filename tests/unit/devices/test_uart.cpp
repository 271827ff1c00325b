#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "core/char_backend.h"
#include "devices/uart16550.h"
#include "tests/unit/test_support.h"

using namespace nomad86;

namespace {

constexpr uint16_t kBase = 0x3F8;
constexpr int64_t kUs = 1000;
// Registers.
enum : uint16_t { RBR = kBase, IER = kBase + 1, IIR = kBase + 2, FCR = kBase + 2, LCR = kBase + 3,
                  MCR = kBase + 4, LSR = kBase + 5, MSR = kBase + 6, SCR = kBase + 7 };

struct UartRig : test::DeviceRig {
    BufferBackend backend;
    Uart16550 uart{ctx, kBase, IrqLine(&irqs, 4), &backend};
    UartRig() {
        outb(LCR, 0x03);  // 8N1
        outb(MCR, 0x0B);  // DTR, RTS, OUT2
    }
    bool irq4() { return irqs.levels[4]; }
};

}  // namespace

TEST_CASE("uart: transmitted bytes reach the back end, paced") {
    UartRig r;
    CHECK((r.inb(LSR) & 0x60) == 0x60);  // THRE | TEMT
    r.outb(RBR, 'h');
    CHECK((r.inb(LSR) & 0x40) == 0);     // shifting out
    CHECK(r.backend.out.empty());
    r.advance(100 * kUs);
    CHECK(r.backend.out == "h");
    CHECK((r.inb(LSR) & 0x60) == 0x60);
    r.outb(FCR, 0x07);
    for (char c : std::string("ello, world")) r.outb(RBR, uint8_t(c));
    r.advance(2000 * kUs);
    CHECK(r.backend.out == "hello, world");
}

TEST_CASE("uart: divisor latch and scratch register") {
    UartRig r;
    r.outb(LCR, 0x83);
    r.outb(RBR, 0x01);
    r.outb(IER, 0x00);
    CHECK(r.inb(RBR) == 0x01);
    CHECK(r.inb(IER) == 0x00);
    r.outb(RBR, 0x0C);
    r.outb(LCR, 0x03);
    CHECK(r.inb(IER) == 0x00);  // IER, not DLM
    r.outb(IER, 0x05);
    CHECK(r.inb(IER) == 0x05);
    r.outb(LCR, 0x83);
    CHECK(r.inb(RBR) == 0x0C);
    CHECK(r.inb(IER) == 0x00);
    r.outb(LCR, 0x03);
    r.outb(SCR, 0xA5);
    CHECK(r.inb(SCR) == 0xA5);
    // Divisor 0 is nonsense but must not hang: treated as 1.
    r.outb(LCR, 0x83);
    r.outb(RBR, 0);
    r.outb(IER, 0);
    r.outb(LCR, 0x03);
    r.outb(RBR, 'x');
    r.advance(200 * kUs);
    CHECK(r.backend.out == "x");
}

TEST_CASE("uart: THRE interrupt reported by IIR and cleared by reading it") {
    UartRig r;
    CHECK(r.inb(IIR) == 0x01);
    r.outb(IER, 0x02);
    CHECK(r.irq4());
    CHECK(r.inb(IIR) == 0x02);
    CHECK_FALSE(r.irq4());
    CHECK(r.inb(IIR) == 0x01);
    r.outb(RBR, 'a');  // THR empties into the shift register at once
    CHECK(r.irq4());
    r.outb(RBR, 'b');  // writing THR clears it
    CHECK_FALSE(r.irq4());
    r.advance(100 * kUs);  // 'a' sent, 'b' moves to the shift register
    CHECK(r.irq4());
    // OUT2 gates the line on a PC.
    r.outb(MCR, 0x03);
    CHECK_FALSE(r.irq4());
    r.outb(MCR, 0x0B);
    CHECK(r.irq4());
}

TEST_CASE("uart: RX data interrupt and FIFO trigger level") {
    UartRig r;
    r.outb(IER, 0x01);
    r.backend.push_input('1');
    CHECK(r.irq4());
    CHECK((r.inb(IIR) & 0x0F) == 0x04);
    CHECK((r.inb(LSR) & 0x01) == 0x01);
    CHECK(r.inb(RBR) == '1');
    CHECK_FALSE(r.irq4());
    CHECK((r.inb(LSR) & 0x01) == 0);

    r.outb(FCR, 0x81);  // FIFO, trigger 8
    CHECK((r.inb(IIR) & 0xC0) == 0xC0);
    for (int i = 0; i < 7; i++) r.backend.push_input(uint8_t('a' + i));
    CHECK_FALSE(r.irq4());
    r.backend.push_input('h');
    CHECK(r.irq4());
    CHECK(r.inb(IIR) == 0xC4);
    for (int i = 0; i < 8; i++) CHECK(r.inb(RBR) == uint8_t('a' + i));
    CHECK_FALSE(r.irq4());
}

TEST_CASE("uart: flow control keeps input in the back end") {
    UartRig r;
    r.outb(FCR, 0x01);
    for (int i = 0; i < 20; i++) r.backend.push_input(uint8_t(i));
    CHECK(r.backend.has_input());
    CHECK((r.inb(LSR) & 0x02) == 0);  // no overrun
    for (int i = 0; i < 20; i++) CHECK(r.inb(RBR) == uint8_t(i));
    CHECK_FALSE(r.backend.has_input());
    CHECK((r.inb(LSR) & 0x01) == 0);
}

TEST_CASE("uart: character timeout below the trigger level") {
    UartRig r;
    r.outb(IER, 0x01);
    r.outb(FCR, 0xC1);  // trigger 14
    r.backend.push_input('x');
    r.backend.push_input('y');
    CHECK_FALSE(r.irq4());
    // 8N1 at 9600 baud: 10 bits = 1.0417 ms per character; 4 of them.
    r.advance(4000 * kUs);
    CHECK_FALSE(r.irq4());
    r.advance(200 * kUs);
    CHECK(r.irq4());
    CHECK(r.inb(IIR) == 0xCC);
    CHECK(r.inb(RBR) == 'x');  // reading clears the timeout
    CHECK_FALSE(r.irq4());
    r.advance(4200 * kUs);
    CHECK(r.irq4());
    CHECK(r.inb(RBR) == 'y');
    CHECK_FALSE(r.irq4());
    r.advance(10000 * kUs);
    CHECK_FALSE(r.irq4());  // empty FIFO: no timeout
}

TEST_CASE("uart: loopback routes THR to RBR and MCR to MSR") {
    UartRig r;
    r.outb(MCR, 0x10);
    CHECK((r.inb(MSR) & 0xF0) == 0x00);
    r.outb(MCR, 0x1A);  // loop, RTS, OUT2
    CHECK((r.inb(MSR) & 0xF0) == 0x90);
    r.outb(MCR, 0x1F);
    uint8_t msr = r.inb(MSR);
    CHECK((msr & 0xF0) == 0xF0);
    CHECK((msr & 0x0F) == 0x02);  // DDSR only: CTS/DCD did not change, RI rose (no TERI)
    CHECK((r.inb(MSR) & 0x0F) == 0);  // cleared by the read
    r.outb(MCR, 0x1B);  // OUT1 off: RI trailing edge
    CHECK((r.inb(MSR) & 0x0F) == 0x04);
    r.backend.push_input('Z');  // the serial input is disconnected in loopback
    r.outb(RBR, 'L');
    r.advance(100 * kUs);
    CHECK(r.backend.out.empty());
    CHECK((r.inb(LSR) & 0x01) == 0x01);
    CHECK(r.inb(RBR) == 'L');
    r.outb(MCR, 0x0B);
    CHECK(r.inb(RBR) == 'Z');
    CHECK((r.inb(MSR) & 0xF0) == 0xB0);
}

TEST_CASE("uart: overrun sets OE, LSR read clears it, line status interrupt") {
    UartRig r;
    r.outb(IER, 0x05);
    r.outb(MCR, 0x1B);  // loopback (IRQ gated off in loopback)
    r.outb(RBR, '1');
    r.advance(100 * kUs);
    r.outb(RBR, '2');
    r.advance(100 * kUs);
    CHECK((r.inb(IIR) & 0x0F) == 0x06);
    uint8_t lsr = r.inb(LSR);
    CHECK((lsr & 0x03) == 0x03);
    CHECK((r.inb(LSR) & 0x02) == 0);
    CHECK(r.inb(RBR) == '2');  // non-FIFO: the RBR was overwritten
    // With FIFOs the 17th character is lost and the FIFO kept.
    r.outb(FCR, 0x07);
    for (int i = 0; i < 17; i++) {
        r.outb(RBR, uint8_t('a' + i));
        r.advance(100 * kUs);
    }
    CHECK((r.inb(LSR) & 0x03) == 0x03);
    for (int i = 0; i < 16; i++) CHECK(r.inb(RBR) == uint8_t('a' + i));
    CHECK((r.inb(LSR) & 0x01) == 0);
}

TEST_CASE("uart: snapshot rejects a FIFO count beyond capacity") {
    UartRig a;
    a.outb(FCR, 0x01);
    a.backend.push_input('q');
    StateWriter w;
    a.uart.describe(w);
    UartRig b;
    {
        StateReader rd(w.data());
        b.uart.describe(rd);
        b.uart.post_load();
        CHECK(b.inb(RBR) == 'q');
    }
    std::vector<uint8_t> bad = w.data();
    const std::string name = "rx_count";
    auto it = std::search(bad.begin(), bad.end(), name.begin(), name.end());
    REQUIRE(it != bad.end());
    *(it + long(name.size()) + 4) = 17;
    StateReader rd(bad);
    b.uart.describe(rd);
    CHECK_THROWS_AS(b.uart.post_load(), StateError);
}
