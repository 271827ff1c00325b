// Unit tests for the cascaded 8259A pair: each checks a behaviour from the
// datasheet that a plausible but wrong implementation gets wrong.
#include <doctest/doctest.h>

#include <cstring>
#include <string>

#include "devices/pic8259.h"
#include "tests/unit/test_support.h"

using namespace nomad86;

namespace {

using test::PokeReader;

struct PicBench {
    test::DeviceRig rig;
    Pic8259Pair pic{rig.ctx, IrqLine(&rig.irqs, 0)};

    // What a PC BIOS does: master at 0x08, slave at 0x70, cascade on IR2.
    void init(uint8_t master_base = 0x08, uint8_t slave_base = 0x70, uint8_t icw4 = 0x01) {
        rig.outb(0x20, 0x11);
        rig.outb(0x21, master_base);
        rig.outb(0x21, 0x04);
        rig.outb(0x21, icw4);
        rig.outb(0xA0, 0x11);
        rig.outb(0xA1, slave_base);
        rig.outb(0xA1, 0x02);
        rig.outb(0xA1, icw4);
        rig.outb(0x21, 0x00);
        rig.outb(0xA1, 0x00);
    }
    uint8_t read_isr(uint16_t cmd_port) {
        rig.outb(cmd_port, 0x0B);
        return rig.inb(cmd_port);
    }
    uint8_t read_irr(uint16_t cmd_port) {
        rig.outb(cmd_port, 0x0A);
        return rig.inb(cmd_port);
    }
    bool cpu_intr() { return rig.irqs.levels[0]; }
};

}  // namespace

TEST_CASE("pic: ICW sequence sets each chip's vector base") {
    PicBench b;
    b.init(0x20, 0x28);
    b.pic.set_irq(1, true);
    CHECK(b.pic.intr_output());
    CHECK(b.pic.acknowledge() == 0x21);
    b.rig.outb(0x20, 0x20);
    b.pic.set_irq(9, true);
    CHECK(b.pic.acknowledge() == 0x29);
}

TEST_CASE("pic: INTR output drives the CPU line and follows the request") {
    PicBench b;
    b.init();
    CHECK_FALSE(b.cpu_intr());
    b.pic.set_irq(4, true);
    CHECK(b.cpu_intr());
    CHECK(b.pic.acknowledge() == 0x0C);
    CHECK_FALSE(b.cpu_intr());  // in service: nothing else pending
}

TEST_CASE("pic: a masked IRQ is not delivered until unmasked") {
    PicBench b;
    b.init();
    b.rig.outb(0x21, 0x08);  // mask IRQ3
    CHECK(b.rig.inb(0x21) == 0x08);
    b.pic.set_irq(3, true);
    CHECK_FALSE(b.pic.intr_output());
    CHECK((b.read_irr(0x20) & 0x08) != 0);  // still requested
    b.rig.outb(0x21, 0x00);
    CHECK(b.pic.intr_output());
    CHECK(b.pic.acknowledge() == 0x0B);
}

TEST_CASE("pic: fully nested priority: lower number first, higher may nest, lower waits") {
    PicBench b;
    b.init();
    b.pic.set_irq(5, true);
    b.pic.set_irq(3, true);
    CHECK(b.pic.acknowledge() == 0x0B);  // IRQ3 beats IRQ5
    CHECK_FALSE(b.pic.intr_output());    // IRQ5 blocked by IRQ3 in service
    b.pic.set_irq(1, true);
    CHECK(b.pic.intr_output());          // IRQ1 nests above IRQ3
    CHECK(b.pic.acknowledge() == 0x09);
    CHECK(b.read_isr(0x20) == 0x0A);
    b.rig.outb(0x20, 0x20);              // EOI for IRQ1
    CHECK_FALSE(b.pic.intr_output());
    b.rig.outb(0x20, 0x20);              // EOI for IRQ3
    CHECK(b.pic.intr_output());
    CHECK(b.pic.acknowledge() == 0x0D);
}

TEST_CASE("pic: non-specific EOI clears the highest-priority in-service bit") {
    PicBench b;
    b.init();
    b.pic.set_irq(6, true);
    CHECK(b.pic.acknowledge() == 0x0E);
    b.pic.set_irq(4, true);
    CHECK(b.pic.acknowledge() == 0x0C);
    CHECK(b.read_isr(0x20) == 0x50);
    b.rig.outb(0x20, 0x20);
    CHECK(b.read_isr(0x20) == 0x40);  // IRQ4 went, IRQ6 stays
}

TEST_CASE("pic: specific EOI clears only the named level") {
    PicBench b;
    b.init();
    b.pic.set_irq(3, true);
    CHECK(b.pic.acknowledge() == 0x0B);
    b.pic.set_irq(1, true);
    CHECK(b.pic.acknowledge() == 0x09);
    CHECK(b.read_isr(0x20) == 0x0A);
    b.rig.outb(0x20, 0x63);  // specific EOI, level 3 (not the highest)
    CHECK(b.read_isr(0x20) == 0x02);
}

TEST_CASE("pic: AEOI leaves ISR clear so a lower level follows at once") {
    PicBench b;
    b.init(0x08, 0x70, 0x03);  // ICW4: 8086 mode + AEOI
    b.pic.set_irq(1, true);
    b.pic.set_irq(5, true);
    CHECK(b.pic.acknowledge() == 0x09);
    CHECK(b.read_isr(0x20) == 0x00);
    CHECK(b.pic.intr_output());  // nothing in service blocks IRQ5
    CHECK(b.pic.acknowledge() == 0x0D);
    CHECK(b.read_isr(0x20) == 0x00);
}

TEST_CASE("pic: cascade delivers the slave's vector and sets master ISR bit 2") {
    PicBench b;
    b.init();
    b.pic.set_irq(12, true);
    CHECK(b.pic.intr_output());
    CHECK((b.read_irr(0x20) & 0x04) != 0);  // slave INT seen on master IR2
    CHECK(b.pic.acknowledge() == 0x74);
    CHECK(b.read_isr(0x20) == 0x04);
    CHECK(b.read_isr(0xA0) == 0x10);
    // IRQ3 has lower priority than IR2 (in service): it waits.
    b.pic.set_irq(3, true);
    CHECK_FALSE(b.pic.intr_output());
    b.rig.outb(0xA0, 0x20);
    b.rig.outb(0x20, 0x20);
    CHECK(b.pic.acknowledge() == 0x0B);
}

TEST_CASE("pic: IRR and ISR are read through OCW3 and the edge latch is consumed by INTA") {
    PicBench b;
    b.init();
    CHECK(b.rig.inb(0x20) == 0x00);  // after ICW1, reads select IRR
    b.pic.set_irq(4, true);
    CHECK(b.rig.inb(0x20) == 0x10);
    CHECK(b.read_isr(0x20) == 0x00);
    CHECK(b.rig.inb(0x20) == 0x00);  // the selection sticks: still ISR
    b.pic.acknowledge();
    CHECK(b.rig.inb(0x20) == 0x10);
    CHECK(b.read_irr(0x20) == 0x00);  // edge request consumed, though the line is still high
}

TEST_CASE("pic: poll command acknowledges and returns the level") {
    PicBench b;
    b.init();
    b.rig.outb(0x20, 0x0C);
    CHECK(b.rig.inb(0x20) == 0x00);  // nothing pending: I bit clear
    b.pic.set_irq(6, true);
    b.rig.outb(0x20, 0x0C);
    CHECK(b.rig.inb(0x20) == 0x86);
    CHECK(b.read_isr(0x20) == 0x40);  // the poll read was an acknowledge
    CHECK_FALSE(b.pic.intr_output());
    CHECK(b.rig.inb(0x21) == 0x00);   // the poll is one read only
}

TEST_CASE("pic: ELCR makes a pin level-triggered; edge pins are not re-requested") {
    PicBench b;
    b.init();
    b.rig.outb(0x4D1, 0x04);  // IRQ10 level
    CHECK(b.rig.inb(0x4D1) == 0x04);
    b.pic.set_irq(10, true);
    b.pic.set_irq(11, true);
    CHECK(b.pic.acknowledge() == 0x72);
    b.rig.outb(0xA0, 0x20);
    b.rig.outb(0x20, 0x20);
    // Still asserted: a level request comes straight back (before IRQ11).
    CHECK(b.pic.acknowledge() == 0x72);
    b.pic.set_irq(10, false);
    b.rig.outb(0xA0, 0x20);
    b.rig.outb(0x20, 0x20);
    CHECK(b.pic.acknowledge() == 0x73);  // the edge IRQ11 was latched
    b.rig.outb(0xA0, 0x20);
    b.rig.outb(0x20, 0x20);
    CHECK_FALSE(b.pic.intr_output());     // and not re-requested though still high
}

TEST_CASE("pic: ELCR bits for IRQ 0, 1, 2, 8, 13 are hardwired edge") {
    PicBench b;
    b.rig.outb(0x4D0, 0xFF);
    b.rig.outb(0x4D1, 0xFF);
    CHECK(b.rig.inb(0x4D0) == 0xF8);
    CHECK(b.rig.inb(0x4D1) == 0xDE);
}

TEST_CASE("pic: ICW1 LTIM makes every input level-triggered") {
    PicBench b;
    b.rig.outb(0x20, 0x19);
    b.rig.outb(0x21, 0x08);
    b.rig.outb(0x21, 0x04);
    b.rig.outb(0x21, 0x01);
    b.pic.set_irq(5, true);
    CHECK(b.pic.acknowledge() == 0x0D);
    b.rig.outb(0x20, 0x20);
    CHECK(b.pic.intr_output());  // still high: requested again
    b.pic.set_irq(5, false);
    CHECK_FALSE(b.pic.intr_output());
}

TEST_CASE("pic: a level request dropped before INTA gives spurious IRQ7 without ISR") {
    PicBench b;
    b.init();
    b.rig.outb(0x4D0, 0x20);  // IRQ5 level
    b.pic.set_irq(5, true);
    CHECK(b.pic.intr_output());
    b.pic.set_irq(5, false);
    CHECK_FALSE(b.pic.intr_output());
    CHECK(b.pic.acknowledge() == 0x0F);
    CHECK(b.read_isr(0x20) == 0x00);
}

TEST_CASE("pic: a request masked between INTR and INTA gives spurious IRQ7") {
    PicBench b;
    b.init();
    b.pic.set_irq(3, true);
    b.rig.outb(0x21, 0x08);
    CHECK(b.pic.acknowledge() == 0x0F);
    CHECK(b.read_isr(0x20) == 0x00);
    b.rig.outb(0x21, 0x00);
    CHECK(b.pic.acknowledge() == 0x0B);  // the latched request was not lost
}

TEST_CASE("pic: spurious IRQ15 still sets the master's IR2 in-service bit") {
    PicBench b;
    b.init();
    b.rig.outb(0x4D1, 0x04);  // IRQ10 level
    b.pic.set_irq(10, true);
    b.pic.set_irq(10, false);  // gone from the slave; master IR2 latched the edge
    CHECK(b.pic.intr_output());
    CHECK(b.pic.acknowledge() == 0x77);
    CHECK(b.read_isr(0x20) == 0x04);
    CHECK(b.read_isr(0xA0) == 0x00);
}

TEST_CASE("pic: rotate on non-specific EOI makes the serviced level lowest") {
    PicBench b;
    b.init();
    b.pic.set_irq(0, true);
    CHECK(b.pic.acknowledge() == 0x08);
    b.rig.outb(0x20, 0xA0);  // rotate on non-specific EOI
    CHECK(b.read_isr(0x20) == 0x00);
    b.pic.set_irq(0, false);
    b.pic.set_irq(0, true);
    b.pic.set_irq(4, true);
    CHECK(b.pic.acknowledge() == 0x0C);  // IRQ0 is now the lowest priority
}

TEST_CASE("pic: set-priority command and rotate on specific EOI") {
    PicBench b;
    b.init();
    b.rig.outb(0x20, 0xC4);  // IR4 lowest, IR5 highest
    b.pic.set_irq(3, true);
    b.pic.set_irq(6, true);
    CHECK(b.pic.acknowledge() == 0x0E);
    b.rig.outb(0x20, 0xE6);  // rotate on specific EOI 6: IR7 now highest
    b.pic.set_irq(7, true);
    CHECK(b.pic.acknowledge() == 0x0F);
}

TEST_CASE("pic: rotate in AEOI mode") {
    PicBench b;
    b.init(0x08, 0x70, 0x03);
    b.rig.outb(0x20, 0x80);  // set rotate in AEOI
    b.pic.set_irq(1, true);
    CHECK(b.pic.acknowledge() == 0x09);
    b.pic.set_irq(0, true);
    b.pic.set_irq(3, true);
    CHECK(b.pic.acknowledge() == 0x0B);  // IR1 lowest now: IR2.. first, IR0 after IR3
}

TEST_CASE("pic: special mask mode lets lower levels through a masked in-service level") {
    PicBench b;
    b.init();
    b.pic.set_irq(3, true);
    CHECK(b.pic.acknowledge() == 0x0B);
    b.pic.set_irq(5, true);
    CHECK_FALSE(b.pic.intr_output());
    b.rig.outb(0x21, 0x08);  // mask own level
    b.rig.outb(0x20, 0x68);  // set special mask mode
    CHECK(b.pic.intr_output());
    CHECK(b.pic.acknowledge() == 0x0D);
    b.rig.outb(0x20, 0x48);  // reset special mask mode
    b.rig.outb(0x20, 0x65);
    b.pic.set_irq(6, true);
    CHECK_FALSE(b.pic.intr_output());  // IRQ3 in service blocks again
}

TEST_CASE("pic: special fully nested mode lets a higher slave IRQ through IR2 in service") {
    for (bool sfnm : {false, true}) {
        PicBench b;
        b.init(0x08, 0x70, 0x01);
        if (sfnm) {
            b.rig.outb(0x20, 0x11);
            b.rig.outb(0x21, 0x08);
            b.rig.outb(0x21, 0x04);
            b.rig.outb(0x21, 0x11);  // 8086 + SFNM
        }
        b.pic.set_irq(12, true);
        CHECK(b.pic.acknowledge() == 0x74);
        b.pic.set_irq(8, true);
        CHECK(b.pic.intr_output() == sfnm);
        b.pic.set_irq(5, true);  // lower than IR2: blocked either way
        if (sfnm) {
            CHECK(b.pic.acknowledge() == 0x70);
        } else {
            CHECK_FALSE(b.pic.intr_output());
        }
    }
}

TEST_CASE("pic: ICW1 restarts initialization and needs a new edge") {
    PicBench b;
    b.init();
    b.rig.outb(0x21, 0xFF);
    b.pic.set_irq(4, true);
    b.rig.outb(0x20, 0x11);  // restart: IMR cleared, requests dropped
    CHECK(b.rig.inb(0x21) == 0x00);
    b.rig.outb(0x21, 0x40);
    b.rig.outb(0x21, 0x04);
    b.rig.outb(0x21, 0x01);
    CHECK_FALSE(b.pic.intr_output());  // IRQ4 still high but no new edge
    b.pic.set_irq(4, false);
    b.pic.set_irq(4, true);
    CHECK(b.pic.acknowledge() == 0x44);
}

TEST_CASE("pic: single mode skips ICW3 and does not cascade IR2") {
    PicBench b;
    b.rig.outb(0x20, 0x13);  // single, ICW4
    b.rig.outb(0x21, 0x50);
    b.rig.outb(0x21, 0x01);  // ICW4 (no ICW3 in single mode)
    b.rig.outb(0x21, 0xFE);  // OCW1: only IRQ0
    CHECK(b.rig.inb(0x21) == 0xFE);
    b.pic.set_irq(0, true);
    CHECK(b.pic.acknowledge() == 0x50);
}

TEST_CASE("pic: info pic text shows each chip") {
    PicBench b;
    b.init(0x20, 0x28);
    b.rig.outb(0x21, 0xB8);
    std::string s = b.pic.describe_text();
    CHECK(s.find("pic0: irr=00 imr=b8 isr=00 hprio=0 irq_base=20") != std::string::npos);
    CHECK(s.find("pic1: irr=00 imr=00 isr=00 hprio=0 irq_base=28") != std::string::npos);
}

TEST_CASE("pic: state round trip restores ISR, masks and the CPU line") {
    PicBench a;
    a.init(0x20, 0x28);
    a.rig.outb(0x21, 0x10);
    a.pic.set_irq(12, true);
    CHECK(a.pic.acknowledge() == 0x2C);
    a.pic.set_irq(1, true);
    StateWriter w;
    a.pic.describe(w);

    PicBench b;
    StateReader r(w.data());
    b.pic.describe(r);
    CHECK(r.at_end());
    b.pic.post_load();
    CHECK(b.cpu_intr());
    CHECK(b.rig.inb(0x21) == 0x10);
    CHECK(b.read_isr(0xA0) == 0x10);
    CHECK(b.pic.acknowledge() == 0x21);
}

TEST_CASE("pic: nonsense state is rejected") {
    PicBench a;
    a.init();
    StateWriter w;
    a.pic.describe(w);
    struct Bad {
        const char* field;
        int64_t value;
    };
    for (Bad bad : {Bad{"master.init_state", 7}, Bad{"slave.priority_add", 9}, Bad{"master.vector_base", 0x0B},
                    Bad{"master.elcr", 0x01}}) {
        PicBench b;
        PokeReader r(w.data(), bad.field, bad.value);
        b.pic.describe(r);
        CHECK_THROWS_AS(b.pic.post_load(), StateError);
    }
}

TEST_CASE("pic: a guest writing garbage never breaks the host") {
    PicBench b;
    uint32_t x = 12345;
    auto rnd = [&] {
        x = x * 1103515245 + 12345;
        return uint8_t(x >> 16);
    };
    const uint16_t ports[] = {0x20, 0x21, 0xA0, 0xA1, 0x4D0, 0x4D1};
    for (int i = 0; i < 20000; i++) {
        uint8_t r = rnd();
        uint16_t port = ports[r % 6];
        if (r & 0x80)
            b.rig.outb(port, rnd());
        else
            (void)b.rig.inb(port);
        if ((i & 7) == 0) b.pic.set_irq(rnd() % 20, rnd() & 1);  // 16-19 out of range: ignored
        if (b.pic.intr_output()) (void)b.pic.acknowledge();
        CHECK_EQ(b.cpu_intr(), b.pic.intr_output());
        if (b.cpu_intr() != b.pic.intr_output()) break;
    }
}
