// The Bochs/QEMU debug console (port 0xE9 by default): each byte written
// goes to the back end; reading returns 0xE9 so a guest can detect it.
#pragma once
#include "core/char_backend.h"
#include "core/device.h"

namespace nomad86 {

class DebugCon final : public Device, public IoHandler {
public:
    // backend may be null: output is then discarded.
    DebugCon(DeviceContext& ctx, uint16_t port, CharBackend* backend);

    const char* name() const override { return "debugcon"; }
    void reset() override {}
    void describe(StateVisitor& v) override;

    uint32_t io_read(uint16_t port, unsigned size) override;
    void io_write(uint16_t port, unsigned size, uint32_t value) override;

private:
    static constexpr uint8_t kReadback = 0xE9;  // QEMU's default "readback" property
    DeviceContext& ctx_;
    CharBackend* backend_;
};

}  // namespace nomad86
