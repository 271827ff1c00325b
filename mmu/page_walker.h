// The page walker: a pure function of the paging registers, a linear
// (guest-virtual) address, the access kind and privilege, and guest-physical
// memory. It implements 32-bit paging (4 KiB pages, 4 MiB pages with
// CR4.PSE) and PAE paging (4 KiB and 2 MiB pages, the XD bit with
// EFER.NXE), with the SDM's reserved-bit, U/S, R/W (CR0.WP) and XD checks
// and #PF error codes (Intel SDM Vol. 3A, 4.3, 4.4, 4.6, 4.7). On success it
// sets the accessed flags of the entries used and, on a write, the dirty
// flag of the final entry, as read-modify-writes of the entries' low dwords
// through PhysicalMemory (one CPU: no other agent can interleave).
#pragma once
#include <cstdint>

#include "core/types.h"
#include "mmu/phys_memory.h"

namespace nomad86 {

enum class AccessKind : uint8_t { kRead, kWrite, kExecute };

namespace pf {
// #PF error code bits.
constexpr uint32_t P = 1u << 0, W = 1u << 1, U = 1u << 2, RSVD = 1u << 3, ID = 1u << 4;
}  // namespace pf

// The paging controls the walker reads (CR0, CR3, CR4, EFER values).
struct PagingRegs {
    uint64_t cr0 = 0, cr3 = 0, cr4 = 0, efer = 0;
};

struct WalkResult {
    bool ok = false;
    uint32_t error = 0;      // #PF error code when !ok
    GuestPhys phys;          // the translation of the address walked
    uint64_t page_size = 0;  // 4 KiB, 2 MiB or 4 MiB
    // Effective permissions of the whole walk (for TLB fills).
    bool user = false;      // U/S=1 at every level
    bool writable = false;  // R/W=1 at every level
    bool nx = false;        // XD=1 at some level (only with EFER.NXE)
    bool dirty = false;     // the final entry's D flag after this access
    bool global = false;    // G=1 in the final entry with CR4.PGE
};

// Walks the tables for `linear`. `user` is a CPL-3 access (not an implicit
// supervisor access such as the GDT). `set_flags` = false leaves A/D alone
// (debugger look-ups).
WalkResult walk_page_tables(const PagingRegs& regs, uint64_t linear, AccessKind kind, bool user,
                            PhysicalMemory& memory, bool set_flags = true);

}  // namespace nomad86
