// The POST code port 0x80: firmware writes progress codes here; a POST card
// shows the last one. Many boards read the latch back, so IN returns it too.
#pragma once
#include "core/device.h"

namespace nomad86 {

class PostCode final : public Device, public IoHandler {
public:
    explicit PostCode(DeviceContext& ctx);

    const char* name() const override { return "post-code"; }
    void reset() override;
    void describe(StateVisitor& v) override;

    uint8_t last_code() const { return s_.last; }

    uint32_t io_read(uint16_t port, unsigned size) override;
    void io_write(uint16_t port, unsigned size, uint32_t value) override;

private:
    struct State {
        uint8_t last = 0;
    };
    DeviceContext& ctx_;
    State s_;
};

}  // namespace nomad86
