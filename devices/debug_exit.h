// QEMU's isa-debug-exit: a write of v to any of its ports ends the emulator
// with exit status (v << 1) | 1, so a test guest can report pass/fail and
// never be mistaken for a clean exit 0. Reads return 0.
#pragma once
#include "core/device.h"

namespace nomad86 {

class DebugExit final : public Device, public IoHandler {
public:
    DebugExit(DeviceContext& ctx, uint16_t iobase, uint16_t iosize);

    const char* name() const override { return "isa-debug-exit"; }
    void reset() override {}
    void describe(StateVisitor& v) override;

    uint32_t io_read(uint16_t port, unsigned size) override;
    void io_write(uint16_t port, unsigned size, uint32_t value) override;

private:
    DeviceContext& ctx_;
};

}  // namespace nomad86
