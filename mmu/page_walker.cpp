#include "mmu/page_walker.h"

namespace nomad86 {

namespace {
constexpr uint64_t kCr0WP = 1u << 16;
constexpr uint64_t kCr4PSE = 1u << 4, kCr4PAE = 1u << 5, kCr4PGE = 1u << 7;
constexpr uint64_t kEferNXE = 1u << 11;

constexpr uint64_t kP = 1, kRW = 2, kUS = 4, kA = 1u << 5, kD = 1u << 6, kPS = 1u << 7, kG = 1u << 8;
constexpr uint64_t kXD = 1ull << 63;
// MAXPHYADDR is 36: PAE entry bits 62:36 are reserved (63 is XD).
constexpr uint64_t kPaeHighReserved = 0x7ffffff000000000ull;

// Sets `bits` in the entry at `addr` if any is clear (low dword only).
void set_entry_bits(PhysicalMemory& memory, GuestPhys addr, uint64_t entry, uint64_t bits) {
    if ((entry & bits) == bits) return;
    memory.write(addr, 4, uint32_t(entry | bits));
}
}  // namespace

WalkResult walk_page_tables(const PagingRegs& regs, uint64_t linear, AccessKind kind, bool user,
                            PhysicalMemory& memory, bool set_flags) {
    WalkResult r;
    linear &= 0xffffffffull;
    const uint64_t a20 = memory.a20_mask();
    const bool write = kind == AccessKind::kWrite;
    const bool pae = regs.cr4 & kCr4PAE;
    const bool nxe = pae && (regs.efer & kEferNXE);
    // Bits every error code carries.
    uint32_t base_error = (write ? pf::W : 0) | (user ? pf::U : 0);
    if (kind == AccessKind::kExecute && nxe) base_error |= pf::ID;
    auto fail = [&](uint32_t bits) {
        r.ok = false;
        r.error = base_error | bits;
        return r;
    };

    GuestPhys addrs[3];
    uint64_t entries[3];
    unsigned levels = 0;
    uint64_t page_base;
    bool us = true, rw = true, nx = false;

    if (!pae) {
        const GuestPhys pde_addr((((regs.cr3 & 0xfffff000ull) | ((linear >> 22) << 2))) & a20);
        const uint64_t pde = memory.read(pde_addr, 4);
        if (!(pde & kP)) return fail(0);
        addrs[levels] = pde_addr;
        entries[levels++] = pde;
        us = pde & kUS;
        rw = pde & kRW;
        if ((pde & kPS) && (regs.cr4 & kCr4PSE)) {
            // 4 MiB page; no PSE-36: bits 21:13 are reserved.
            if (pde & 0x003fe000ull) return fail(pf::P | pf::RSVD);
            page_base = pde & 0xffc00000ull;
            r.page_size = 4 * MiB;
        } else {
            const GuestPhys pte_addr(((pde & 0xfffff000ull) | (((linear >> 12) & 0x3ff) << 2)) & a20);
            const uint64_t pte = memory.read(pte_addr, 4);
            if (!(pte & kP)) return fail(0);
            addrs[levels] = pte_addr;
            entries[levels++] = pte;
            us = us && (pte & kUS);
            rw = rw && (pte & kRW);
            page_base = pte & 0xfffff000ull;
            r.page_size = kPageSize;
        }
    } else {
        const GuestPhys pdpte_addr(((regs.cr3 & 0xffffffe0ull) | ((linear >> 30) << 3)) & a20);
        const uint64_t pdpte = memory.read(pdpte_addr, 8);
        if (!(pdpte & kP)) return fail(0);
        // PDPTE: bits 2:1, 8:5 and 63:36 are reserved.
        if (pdpte & (0x1e6ull | 0xfffffff000000000ull)) return fail(pf::P | pf::RSVD);
        const uint64_t reserved_xd = nxe ? 0 : kXD;
        const GuestPhys pde_addr(((pdpte & 0xffffff000ull) | (((linear >> 21) & 0x1ff) << 3)) & a20);
        const uint64_t pde = memory.read(pde_addr, 8);
        if (!(pde & kP)) return fail(0);
        if (pde & (kPaeHighReserved | reserved_xd)) return fail(pf::P | pf::RSVD);
        addrs[levels] = pde_addr;
        entries[levels++] = pde;
        us = pde & kUS;
        rw = pde & kRW;
        nx = nxe && (pde & kXD);
        if (pde & kPS) {
            // 2 MiB page: bits 20:13 are reserved.
            if (pde & 0x1fe000ull) return fail(pf::P | pf::RSVD);
            page_base = pde & 0xfffe00000ull;
            r.page_size = 2 * MiB;
        } else {
            const GuestPhys pte_addr(((pde & 0xffffff000ull) | (((linear >> 12) & 0x1ff) << 3)) & a20);
            const uint64_t pte = memory.read(pte_addr, 8);
            if (!(pte & kP)) return fail(0);
            if (pte & (kPaeHighReserved | reserved_xd)) return fail(pf::P | pf::RSVD);
            addrs[levels] = pte_addr;
            entries[levels++] = pte;
            us = us && (pte & kUS);
            rw = rw && (pte & kRW);
            nx = nx || (nxe && (pte & kXD));
            page_base = pte & 0xffffff000ull;
            r.page_size = kPageSize;
        }
    }

    // Access rights (SDM 4.6; no SMEP/SMAP).
    if (user && !us) return fail(pf::P);
    if (write && !rw && (user || (regs.cr0 & kCr0WP))) return fail(pf::P);
    if (kind == AccessKind::kExecute && nx) return fail(pf::P);

    const uint64_t final_entry = entries[levels - 1];
    if (set_flags) {
        for (unsigned i = 0; i + 1 < levels; i++) set_entry_bits(memory, addrs[i], entries[i], kA);
        set_entry_bits(memory, addrs[levels - 1], final_entry, write ? (kA | kD) : kA);
    }
    r.ok = true;
    r.phys = GuestPhys((page_base | (linear & (r.page_size - 1))) & a20);
    r.user = us;
    r.writable = rw;
    r.nx = nx;
    r.dirty = write || (final_entry & kD);
    r.global = (regs.cr4 & kCr4PGE) && (final_entry & kG);
    return r;
}

}  // namespace nomad86
