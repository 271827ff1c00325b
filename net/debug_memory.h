// Guest memory as a debugger sees it (GDB stub, monitor): addresses go
// through the CPU's current translation, and an address that nothing backs
// (or that is MMIO, whose reads have side effects) is an error, never a
// device access or a crash.
#pragma once
#include <cstddef>
#include <cstdint>

namespace nomad86 {

class Machine;

// Guest-virtual (linear) address to guest-physical: the identity within 4 GiB
// plus the A20 mask, or with CR0.PG a page walk as a supervisor read that
// leaves the accessed/dirty bits alone. Sets *ok to false when the address
// does not translate.
uint64_t debug_translate(Machine& machine, uint64_t vaddr, bool* ok);

// Reads / writes `len` bytes at `addr` (guest-virtual, or guest-physical when
// `physical`). False, with nothing guaranteed about partial progress of a
// write, when any byte is untranslatable or not backed by RAM or ROM.
// Writes to ROM are allowed (a debugger may patch firmware) and drop the
// decoded-block cache.
bool debug_read(Machine& machine, uint64_t addr, uint8_t* out, size_t len, bool physical);
bool debug_write(Machine& machine, uint64_t addr, const uint8_t* in, size_t len, bool physical);

}  // namespace nomad86
