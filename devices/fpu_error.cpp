#include "devices/fpu_error.h"

namespace nomad86 {

FpuError::FpuError(DeviceContext& ctx, IrqLine irq13) : ctx_(ctx), irq_(irq13) {
    ctx_.io.register_ports(0xf0, 1, this, "fpu_error");
    reset();
}

void FpuError::reset() {
    s_ = State{};
    irq_.lower();
}

void FpuError::describe(StateVisitor& v) {
    v.begin_section("fpu_error", 1);
    v.field("ferr", s_.ferr);
    v.field("latched", s_.latched);
    v.field("ignne", s_.ignne);
    v.end_section();
}

void FpuError::post_load() { irq_.set(s_.latched); }

uint32_t FpuError::io_read(uint16_t, unsigned) { return 0xff; }  // write-only: open bus

void FpuError::io_write(uint16_t, unsigned, uint32_t) {
    // Clear busy/error: drop the interrupt request, ignore the error from
    // now on while FERR# stays up.
    s_.latched = false;
    irq_.lower();
    if (s_.ferr) s_.ignne = true;
}

void FpuError::set_irq(unsigned pin, bool level) {
    if (pin != 0) return;
    const bool rising = level && !s_.ferr;
    s_.ferr = level;
    if (!level) s_.ignne = false;
    if (rising && !s_.ignne) {
        s_.latched = true;
        irq_.raise();
    }
}

}  // namespace nomad86
