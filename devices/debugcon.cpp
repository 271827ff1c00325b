#include "devices/debugcon.h"

namespace nomad86 {

DebugCon::DebugCon(DeviceContext& ctx, uint16_t port, CharBackend* backend) : ctx_(ctx), backend_(backend) {
    ctx_.io.register_ports(port, 1, this, "debugcon");
}

// No guest-visible state; the section is there so a snapshot notices a
// machine that had a debug console and one that did not.
void DebugCon::describe(StateVisitor& v) {
    v.begin_section("debugcon", 1);
    v.end_section();
}

uint32_t DebugCon::io_read(uint16_t, unsigned) { return kReadback; }

void DebugCon::io_write(uint16_t, unsigned, uint32_t value) {
    if (backend_) backend_->write_byte(uint8_t(value));
}

}  // namespace nomad86
