// What a device may ask of the machine it lives in. Devices get this
// interface, never the Machine itself.
#pragma once
#include <cstdint>

namespace nomad86 {

class MachineControl {
public:
    virtual ~MachineControl() = default;
    // A system reset (keyboard controller pulse, port 0x92, triple fault).
    virtual void request_reset() = 0;
    // Ends the emulator with this process exit status (isa-debug-exit, poweroff).
    virtual void request_exit(int status) = 0;
    // The A20 gate as driven by the keyboard controller or port 0x92.
    virtual void set_a20(bool enabled) = 0;
    virtual bool a20() const = 0;
};

// Nothing to control: a CPU on a bench of its own (the conformance tools).
class NullMachineControl final : public MachineControl {
public:
    void request_reset() override {}
    void request_exit(int) override {}
    void set_a20(bool) override {}
    bool a20() const override { return true; }
};

}  // namespace nomad86
