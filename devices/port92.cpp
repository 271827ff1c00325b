#include "devices/port92.h"

namespace nomad86 {

Port92::Port92(DeviceContext& ctx) : ctx_(ctx) {
    ctx_.io.register_ports(0x92, 1, this, "port92");
    reset();
}

void Port92::reset() {
    // Only the reset bit goes back to 0: A20 belongs to the machine's reset
    // sequence (MachineControl), which also resets the 8042's view of it.
    s_.value &= uint8_t(~1u);
}

void Port92::describe(StateVisitor& v) {
    v.begin_section("port92", 1);
    v.field("value", s_.value);
    v.end_section();
}

void Port92::post_load() {
    // Nothing derived: the A20 gate itself is machine state restored by the
    // machine; re-driving it from here could fight the 8042's saved view.
}

uint32_t Port92::io_read(uint16_t, unsigned) {
    // Bit 1 reads back the gate as it really is (the 8042 may have moved it).
    uint8_t v = uint8_t(s_.value & ~2u);
    if (ctx_.control.a20()) v |= 2;
    return v;
}

void Port92::io_write(uint16_t, unsigned, uint32_t value) {
    uint8_t old = s_.value;
    s_.value = uint8_t(value);
    ctx_.control.set_a20((value & 2) != 0);
    // Chipsets (and QEMU) reset on the rising edge of bit 0 only, so a
    // read-modify-write that keeps bit 0 set does not reset again.
    if ((value & 1) && !(old & 1)) ctx_.control.request_reset();
}

}  // namespace nomad86
