#include "devices/debug_exit.h"

namespace nomad86 {

DebugExit::DebugExit(DeviceContext& ctx, uint16_t iobase, uint16_t iosize) : ctx_(ctx) {
    // QEMU accepts 1..4-byte accesses (valid.min/max_access_size); the bus
    // splits anything that does not fit inside our range into bytes.
    ctx_.io.register_ports(iobase, iosize ? iosize : 1, this, "isa-debug-exit",
                           IoBus::kByte | IoBus::kWord | IoBus::kDword);
    if (iosize == 0) ctx_.log.log(kLogGuestErrors, "isa-debug-exit: iosize 0, using 1\n");
}

void DebugExit::describe(StateVisitor& v) {
    v.begin_section("isa-debug-exit", 1);
    v.end_section();
}

uint32_t DebugExit::io_read(uint16_t, unsigned) { return 0; }

void DebugExit::io_write(uint16_t, unsigned, uint32_t value) {
    // As QEMU: exit((val << 1) | 1) with the value as written, whatever its
    // width; the shift wraps in 32 bits (QEMU's int conversion keeps the same
    // low 32 bits) and the OS keeps only the low 8 bits of the status.
    ctx_.control.request_exit(int((value << 1) | 1u));
}

}  // namespace nomad86
