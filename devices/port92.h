// System Control Port A (port 0x92, "fast A20 and reset"), as on PS/2 and
// every chipset since: bit 1 drives the A20 gate, a 0->1 transition of
// bit 0 resets the system. The 8042's output port drives the same A20 gate
// through MachineControl; the last writer wins, as with QEMU's shared line.
#pragma once
#include "core/device.h"

namespace nomad86 {

class Port92 final : public Device, public IoHandler {
public:
    explicit Port92(DeviceContext& ctx);

    const char* name() const override { return "port92"; }
    void reset() override;
    void describe(StateVisitor& v) override;
    void post_load() override;

    uint32_t io_read(uint16_t port, unsigned size) override;
    void io_write(uint16_t port, unsigned size, uint32_t value) override;

private:
    struct State {
        uint8_t value = 0;  // last value written (bits other than 0 and 1 are kept as written)
    };
    DeviceContext& ctx_;
    State s_;
};

}  // namespace nomad86
