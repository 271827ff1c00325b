#include "devices/post_code.h"

namespace nomad86 {

PostCode::PostCode(DeviceContext& ctx) : ctx_(ctx) { ctx_.io.register_ports(0x80, 1, this, "post-code"); }

// A POST card keeps showing its last code across a reset; so do we.
void PostCode::reset() {}

void PostCode::describe(StateVisitor& v) {
    v.begin_section("post-code", 1);
    v.field("last", s_.last);
    v.end_section();
}

uint32_t PostCode::io_read(uint16_t, unsigned) { return s_.last; }

void PostCode::io_write(uint16_t, unsigned, uint32_t value) {
    s_.last = uint8_t(value);
    ctx_.log.log(kLogPost, "POST code 0x%02x\n", s_.last);
}

}  // namespace nomad86
