// Interrupt lines. A device raises and lowers an IrqLine; the line forwards
// the level to whatever it is wired to (a PIC input, the CPU's INTR pin)
// through the IrqSink interface, so devices never hold a pointer to the PIC.
#pragma once
#include <cstdint>

namespace nomad86 {

class IrqSink {
public:
    virtual ~IrqSink() = default;
    virtual void set_irq(unsigned pin, bool level) = 0;
};

class IrqLine {
public:
    IrqLine() = default;
    IrqLine(IrqSink* sink, unsigned pin) : sink_(sink), pin_(pin) {}
    void connect(IrqSink* sink, unsigned pin) {
        sink_ = sink;
        pin_ = pin;
    }
    void set(bool level) {
        level_ = level;
        if (sink_) sink_->set_irq(pin_, level);
    }
    void raise() { set(true); }
    void lower() { set(false); }
    // An edge for edge-triggered inputs: up then down.
    void pulse() {
        set(true);
        set(false);
    }
    bool level() const { return level_; }

private:
    IrqSink* sink_ = nullptr;
    unsigned pin_ = 0;
    bool level_ = false;
};

// The interrupt controller seen from the CPU: on INTR the CPU acknowledges
// and receives the vector (the 8259's INTA cycle).
class InterruptAcknowledge {
public:
    virtual ~InterruptAcknowledge() = default;
    virtual uint8_t acknowledge() = 0;
};

}  // namespace nomad86
