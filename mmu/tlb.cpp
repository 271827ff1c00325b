#include "mmu/tlb.h"

#include <initializer_list>
#include <utility>

namespace nomad86 {

void Tlb::fill(uint64_t linear, const WalkResult& w, bool cr0_wp, uint8_t* host_page, bool fast_writable) {
    fills_++;
    const uint32_t vpn = uint32_t((linear & 0xffffffffull) >> kPageShift);
    const unsigned set = vpn & (kEntries - 1);
    Entry& e = entries_[set];
    Entry& second = second_way_[set];
    mark(filled_sets_, set);
    if (!w.global) mark(non_global_sets_, set);
    // What the first way held moves to the second (a stale entry for this
    // page there goes).
    if (e.vpn != kInvalid && e.vpn != vpn) second = e;
    else if (second.vpn == vpn) clear(second, set);
    clear(e, set);
    e.vpn = vpn;
    e.phys_page = uint32_t(w.phys.value >> kPageShift);
    e.global = w.global;
    e.large_mask = w.page_size > kPageSize ? uint32_t((w.page_size >> kPageShift) - 1) : 0;
    if (e.large_mask) large_entries_++;
    auto allow = [&](AccessKind kind, bool user, bool allowed) {
        if (allowed) e.tag[tag_index(kind, user)] = vpn;
    };
    allow(AccessKind::kRead, false, true);
    allow(AccessKind::kRead, true, w.user);
    allow(AccessKind::kWrite, false, w.dirty && (w.writable || !cr0_wp));
    allow(AccessKind::kWrite, true, w.dirty && w.user && w.writable);
    allow(AccessKind::kExecute, false, !w.nx);
    allow(AccessKind::kExecute, true, w.user && !w.nx);
    if (host_page) {
        e.host_addend = reinterpret_cast<uintptr_t>(host_page) - (uintptr_t(vpn) << kPageShift);
        for (unsigned user = 0; user < 2; user++) {
            if (e.tag[tag_index(AccessKind::kRead, user)] == vpn) e.ram_read_key[user] = ram_key(vpn);
            if (fast_writable && e.tag[tag_index(AccessKind::kWrite, user)] == vpn) e.ram_write_key[user] = ram_key(vpn);
        }
        if (fast_writable) fast_write_entries_++;
    }
}

bool Tlb::promote(uint32_t vpn) {
    Entry& second = second_way_[vpn & (kEntries - 1)];
    if (second.vpn != vpn) return false;
    std::swap(entries_[vpn & (kEntries - 1)], second);
    promotions_++;
    return true;
}

void Tlb::allow_fast_writes(uint64_t linear, bool user) {
    const uint32_t vpn = uint32_t((linear & 0xffffffffull) >> kPageShift);
    Entry& e = entries_[vpn & (kEntries - 1)];
    // (Only where reads of the page are fast: plain RAM, addend set.)
    if (e.vpn != vpn || e.ram_read_key[user] != ram_key(vpn)) return;
    if (e.tag[tag_index(AccessKind::kWrite, user)] != vpn) return;
    e.ram_write_key[user] = ram_key(vpn);
    fast_write_entries_++;
}

void Tlb::revoke_fast_writes(uint64_t phys_page) {
    if (fast_write_entries_ == 0) return;
    for_each_entry(filled_sets_, [&](Entry& e, unsigned set) {
        if (e.phys_page == phys_page) e.ram_write_key[0] = e.ram_write_key[1] = no_ram_key(set);
    });
}

void Tlb::revoke_all_fast_writes() {
    if (fast_write_entries_ == 0) return;  // (the verifier opens a journal for every block)
    for_each_entry(filled_sets_, [](Entry& e, unsigned set) { e.ram_write_key[0] = e.ram_write_key[1] = no_ram_key(set); });
    fast_write_entries_ = 0;
}

void Tlb::flush_all() {
    flushes_++;
    for_each_entry(filled_sets_, clear);
    filled_sets_ = non_global_sets_ = SetMask{};
    large_entries_ = 0;
    fast_write_entries_ = 0;
}

void Tlb::flush_non_global() {
    flushes_++;
    for_each_entry(non_global_sets_, [](Entry& e, unsigned set) {
        if (!e.global) clear(e, set);
    });
    non_global_sets_ = SetMask{};
}

void Tlb::flush_page(uint64_t linear) {
    flushes_++;
    const uint32_t vpn = uint32_t((linear & 0xffffffffull) >> kPageShift);
    const unsigned set = vpn & (kEntries - 1);
    for (Entry* e : {&entries_[set], &second_way_[set]})
        if (e->vpn == vpn) clear(*e, set);
    if (large_entries_ == 0) return;
    for_each_entry(filled_sets_, [&](Entry& l, unsigned l_set) {
        if (l.large_mask && (l.vpn & ~l.large_mask) == (vpn & ~l.large_mask)) clear(l, l_set);
    });
}

}  // namespace nomad86
