// The PC/AT's coprocessor-error logic: the x87's FERR# output (CR0.NE=0
// error reporting) sets a latch that drives IRQ 13; a write of any value to
// port 0xF0 clears the latch, lowers IRQ 13 and asserts IGNNE# to the CPU
// for as long as FERR# stays asserted (the handler then lets the faulting
// instruction run on with the error ignored). FERR# is an input pin (pin 0)
// of this device; the machine wires the CPU's Cpu::ferr_line to it.
#pragma once
#include "core/device.h"
#include "core/irq.h"

namespace nomad86 {

class FpuError final : public Device, public IoHandler, public IrqSink {
public:
    FpuError(DeviceContext& ctx, IrqLine irq13);

    const char* name() const override { return "fpu_error"; }
    void reset() override;
    void describe(StateVisitor& v) override;
    void post_load() override;

    uint32_t io_read(uint16_t port, unsigned size) override;
    void io_write(uint16_t port, unsigned size, uint32_t value) override;

    // Pin 0: FERR# from the CPU (level, active high here).
    void set_irq(unsigned pin, bool level) override;

    bool ignne() const { return s_.ignne; }
    bool irq_latched() const { return s_.latched; }

private:
    struct State {
        bool ferr = false;     // FERR# as last driven by the CPU
        bool latched = false;  // IRQ 13 request, until a write to 0xF0
        bool ignne = false;    // IGNNE#, from the 0xF0 write until FERR# drops
    };
    DeviceContext& ctx_;
    IrqLine irq_;
    State s_;
};

}  // namespace nomad86
