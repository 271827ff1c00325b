#include "mmu/tlb.h"

namespace nomad86 {

void Tlb::fill(uint64_t linear, const WalkResult& w, bool cr0_wp, uint8_t* host_page) {
    fills_++;
    const uint32_t vpn = uint32_t((linear & 0xffffffffull) >> kPageShift);
    Entry& e = entries_[vpn & (kEntries - 1)];
    clear(e);
    e.vpn = vpn;
    e.phys_page = uint32_t(w.phys.value >> kPageShift);
    e.global = w.global;
    e.host_page = host_page;
    e.large_mask = w.page_size > kPageSize ? uint32_t((w.page_size >> kPageShift) - 1) : 0;
    if (e.large_mask) large_entries_++;
    auto set = [&](AccessKind kind, bool user, bool allowed) {
        if (allowed) e.tag[tag_index(kind, user)] = vpn;
    };
    set(AccessKind::kRead, false, true);
    set(AccessKind::kRead, true, w.user);
    set(AccessKind::kWrite, false, w.dirty && (w.writable || !cr0_wp));
    set(AccessKind::kWrite, true, w.dirty && w.user && w.writable);
    set(AccessKind::kExecute, false, !w.nx);
    set(AccessKind::kExecute, true, w.user && !w.nx);
    if (host_page) {
        e.ram_read_tag[0] = e.tag[tag_index(AccessKind::kRead, false)];
        e.ram_read_tag[1] = e.tag[tag_index(AccessKind::kRead, true)];
        e.host_addend = reinterpret_cast<uintptr_t>(host_page) - (uintptr_t(vpn) << kPageShift);
    }
}

void Tlb::flush_all() {
    generation_++;
    for (Entry& e : entries_) clear(e);
    large_entries_ = 0;
}

void Tlb::flush_non_global() {
    generation_++;
    for (Entry& e : entries_)
        if (!e.global) clear(e);
}

void Tlb::flush_page(uint64_t linear) {
    generation_++;
    const uint32_t vpn = uint32_t((linear & 0xffffffffull) >> kPageShift);
    Entry& e = entries_[vpn & (kEntries - 1)];
    if (e.vpn == vpn) clear(e);
    if (large_entries_ == 0) return;
    for (Entry& l : entries_)
        if (l.large_mask && (l.vpn & ~l.large_mask) == (vpn & ~l.large_mask)) clear(l);
}

}  // namespace nomad86
