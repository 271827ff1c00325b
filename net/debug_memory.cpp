#include "net/debug_memory.h"

#include "core/machine.h"

namespace nomad86 {

uint64_t debug_translate(Machine& machine, uint64_t vaddr, bool* ok) {
    const Cpu& cpu = machine.cpu();
    if (!(cpu.s.cr0 & cr0::PG)) {
        // Linear = physical, through the A20 gate.
        *ok = true;
        return (vaddr & 0xffffffffull) & machine.memory().a20_mask();
    }
    // A page walk that sets no accessed/dirty bits and fills no TLB entry.
    const WalkResult w =
        walk_page_tables(cpu.paging_regs(), vaddr, AccessKind::kRead, false, machine.memory(), false);
    *ok = w.ok;
    return w.ok ? w.phys.value : 0;
}

namespace {
bool to_phys(Machine& machine, uint64_t addr, bool physical, uint64_t* phys, PhysicalMemory::Backing* backing) {
    bool ok = true;
    *phys = physical ? addr : debug_translate(machine, addr, &ok);
    if (!ok) return false;
    *backing = machine.memory().backing(GuestPhys(*phys));
    return *backing == PhysicalMemory::Backing::kRam || *backing == PhysicalMemory::Backing::kRom;
}
}  // namespace

bool debug_read(Machine& machine, uint64_t addr, uint8_t* out, size_t len, bool physical) {
    for (size_t i = 0; i < len; i++) {
        uint64_t phys;
        PhysicalMemory::Backing backing;
        if (!to_phys(machine, addr + i, physical, &phys, &backing)) return false;
        machine.memory().read_bytes(GuestPhys(phys), out + i, 1);
    }
    return true;
}

bool debug_write(Machine& machine, uint64_t addr, const uint8_t* in, size_t len, bool physical) {
    // Check everything first so a bad range writes nothing.
    for (size_t i = 0; i < len; i++) {
        uint64_t phys;
        PhysicalMemory::Backing backing;
        if (!to_phys(machine, addr + i, physical, &phys, &backing)) return false;
    }
    bool rom = false;
    for (size_t i = 0; i < len; i++) {
        uint64_t phys;
        PhysicalMemory::Backing backing;
        to_phys(machine, addr + i, physical, &phys, &backing);
        if (backing == PhysicalMemory::Backing::kRam) {
            machine.memory().write_bytes(GuestPhys(phys), in + i, 1);
        } else {
            machine.memory().load_bytes(GuestPhys(phys), in + i, 1);
            rom = true;
        }
    }
    if (rom) machine.cpu().flush_decoded_blocks();
    return true;
}

}  // namespace nomad86
