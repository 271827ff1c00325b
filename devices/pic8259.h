// The PC's two cascaded Intel 8259A programmable interrupt controllers
// (master at 0x20-0x21, slave at 0xA0-0xA1, slave INT wired to master IR2)
// and the PIIX edge/level control registers (ELCR) at 0x4D0-0x4D1.
//
// Semantics follow the 8259A datasheet: ICW1-ICW4 initialization, OCW1-3,
// fully nested / rotating priority, special mask and special fully nested
// modes, AEOI, poll, and the default-IR7 (spurious) vector when a request
// goes away before the acknowledge.
//
// One deliberate deviation: an edge-triggered request stays latched in IRR
// after its input falls again (the datasheet wants the input held high until
// the first INTA). Devices here signal edges with IrqLine::pulse(), which
// raises and lowers the line at the same instant; latching is what makes
// those edges deliverable, and it is also what QEMU and Bochs do.
#pragma once
#include <array>
#include <cstdint>
#include <string>

#include "core/device.h"
#include "core/irq.h"

namespace nomad86 {

// Everything one 8259A holds. Plain data: the pair describes it field by
// field for snapshots.
struct Pic8259Chip {
    uint8_t irr = 0;           // edge-sense latches (edge-triggered pins only)
    uint8_t imr = 0;           // OCW1
    uint8_t isr = 0;           // in-service register
    uint8_t input = 0;         // current level of the IR input wires
    uint8_t priority_add = 0;  // the IR that currently has the highest priority
    uint8_t vector_base = 0;   // ICW2 & 0xF8
    uint8_t icw3 = 0;          // master: which IRs have slaves; slave: its ID
    uint8_t init_state = 0;    // 0 ready, 1 expect ICW2, 2 expect ICW3, 3 expect ICW4
    uint8_t elcr = 0;          // PIIX ELCR: 1 = level-triggered input
    bool read_isr = false;     // OCW3 RR/RIS: even-port read returns ISR, else IRR
    bool poll = false;         // OCW3 P: the next read is a poll
    bool special_mask = false; // OCW3 SMM
    bool single = false;       // ICW1 SNGL
    bool icw4_needed = false;  // ICW1 IC4
    bool ltim = false;         // ICW1 LTIM: every input level-triggered
    bool auto_eoi = false;     // ICW4 AEOI
    bool rotate_on_aeoi = false;  // OCW2 R=1,SL=0,EOI=0
    bool sfnm = false;         // ICW4 special fully nested mode
};

class Pic8259Pair final : public Device, public IoHandler, public IrqSink, public InterruptAcknowledge {
public:
    static constexpr int kMaster = 0;
    static constexpr int kSlave = 1;

    Pic8259Pair(DeviceContext& ctx, IrqLine cpu_intr);
    Pic8259Pair(const Pic8259Pair&) = delete;
    Pic8259Pair& operator=(const Pic8259Pair&) = delete;

    // Device
    const char* name() const override { return "pic"; }
    void reset() override;
    void describe(StateVisitor& v) override;
    void post_load() override;

    // IoHandler: 0x20-0x21, 0xA0-0xA1, 0x4D0-0x4D1, byte wide.
    uint32_t io_read(uint16_t port, unsigned size) override;
    void io_write(uint16_t port, unsigned size, uint32_t value) override;

    // IrqSink: ISA IRQ 0-15. Pin 2 is the cascade input and has no ISA line
    // on a PC (IRQ2 is rerouted to IRQ9 on the AT bus), so it is ignored.
    void set_irq(unsigned pin, bool level) override;

    // InterruptAcknowledge: the INTA cycle; returns the vector.
    uint8_t acknowledge() override;

    // The level of the master's INT output (the CPU's INTR pin).
    bool intr_output() const { return intr_; }

    // For the monitor's "info pic", one line per chip (QEMU's format).
    std::string describe_text() const;

    // Read-only view of one chip (0 master, 1 slave) for the monitor and tests.
    const Pic8259Chip& chip(int index) const { return chips_[index == kSlave ? kSlave : kMaster]; }

private:
    uint8_t level_mask(int c) const;
    uint8_t requests(int c) const;
    int resolve(int c) const;
    void set_input(int c, unsigned pin, bool level);
    void intack(int c, int irq);
    void update();
    uint8_t poll_read(int c);
    void write_command(int c, uint8_t value);
    void write_data(int c, uint8_t value);
    void write_ocw2(int c, uint8_t value);
    void write_ocw3(int c, uint8_t value);
    uint8_t read_port(int c, bool odd);

    DeviceContext& ctx_;
    IrqLine cpu_intr_;
    std::array<Pic8259Chip, 2> chips_{};
    // Derived from chips_ (re-derived by post_load): the INTR level last driven.
    bool intr_ = false;
};

}  // namespace nomad86
