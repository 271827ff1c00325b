// What every device gets from the machine, and what every device offers.
// Devices see the machine only through these interfaces: they register
// their ports and MMIO ranges, ask the clock for timers, raise IrqLines, and
// ask MachineControl for resets and exits. They never reach another device.
#pragma once
#include "core/clock.h"
#include "core/log.h"
#include "core/machine_control.h"
#include "core/state.h"
#include "mmu/io_bus.h"
#include "mmu/phys_memory.h"

namespace nomad86 {

struct DeviceContext {
    IoBus& io;
    PhysicalMemory& memory;
    VirtualClock& clock;
    Logger& log;
    MachineControl& control;
};

class Device : public Stateful {
public:
    virtual const char* name() const = 0;
    // Power-on / system reset state.
    virtual void reset() = 0;
    // After describe() loaded a state: validate it (throw StateError on
    // nonsense) and rebuild what is derived from it (armed timers, IRQ levels).
    virtual void post_load() {}
    // On the destination of a migration, when the machine is activated
    // (network cards will announce themselves on the LAN here).
    virtual void after_migration() {}
};

}  // namespace nomad86
