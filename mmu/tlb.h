// The software TLB: a 2-way set-associative cache of 4 KiB translations
// from guest-virtual page to guest-physical page (the QEMU/v86 model). The
// first way of each set is the one every fast path reads (the JIT's inline
// lookup is one compare); the second holds what a fill evicted from it, and
// a miss in the first way that hits there swaps the two (QEMU's victim TLB):
// two hot pages whose numbers share the index bits, say a stack and a data
// page under address-space randomisation, then cost a swap instead of a page
// walk on each access. Each entry
// holds one tag per access kind (read, write, execute) and privilege
// (supervisor, user): a tag equals the virtual page number only when that
// kind of access is allowed without a page walk, so a lookup is one compare.
// Write tags are filled only once the final entry's D flag is set, so the
// first write to a clean page walks and sets D. CR0.WP and EFER.NXE are
// folded into the tags at fill time; changing them flushes the TLB.
//
// Large pages (2 MiB, 4 MiB) fill 4 KiB entries that remember the large
// page they came from, so INVLPG of any address in it drops them all.
// The TLB is a cache, not CPU state: it is flushed on reset and state load.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>

#include "core/types.h"
#include "mmu/page_walker.h"
#include "mmu/phys_memory.h"

namespace nomad86 {

class Tlb final : public FastWriteListener {
public:
    // 4096 sets: linear bits 12-23. With 1024 (bits 12-21), pages 4 MiB
    // apart share a set, and under the guest's address-space randomisation
    // a hot code page and two hot data pages did in some boots and not in
    // others: the JIT's jump-cache lookups, which need the code page's
    // entry, then missed 7.5 million times in one benchmark run and 0.3
    // million in the next.
    static constexpr unsigned kSetBits = 12;
    static constexpr unsigned kEntries = 1u << kSetBits;
    static constexpr uint32_t kInvalid = 0xffffffffu;

    Tlb() {
        for (unsigned set = 0; set < kEntries; set++) {
            clear(entries_[set], set);
            clear(second_way_[set], set);
        }
    }

    // The physical address for `linear` if the access hits (in either
    // way: a second-way hit becomes the first way), else false.
    bool lookup(uint64_t linear, AccessKind kind, bool user, GuestPhys* out) {
        const uint32_t vpn = uint32_t(linear >> kPageShift);
        const Entry* e = &entries_[vpn & (kEntries - 1)];
        if (e->tag[tag_index(kind, user)] != vpn) [[unlikely]] {
            if (!promote(vpn)) return false;
            if (e->tag[tag_index(kind, user)] != vpn) return false;
        }
        *out = GuestPhys((uint64_t(e->phys_page) << kPageShift) | (linear & (kPageSize - 1)));
        return true;
    }
    // Makes the second way's entry for `vpn`, if there is one, the first
    // way's (swapping them); false when the set has no entry for it.
    bool promote(uint32_t vpn);
    // The host bytes of the page holding `linear` when a read of this
    // privilege hits and the page is plain RAM (nullptr otherwise): reads
    // need no page-flag checks.
    const uint8_t* read_host_page(uint64_t linear, bool user) const { return host_page(linear, user, false); }
    // The same for a store, when the page was also fast_writable()
    // (PhysicalMemory) when it was filled and has not been revoked since:
    // the store needs no dirty or code-page bookkeeping.
    uint8_t* write_host_page(uint64_t linear, bool user) const { return host_page(linear, user, true); }
    // Caches the result of a successful walk of `linear`; `host_page` is
    // the page's host bytes when it is plain RAM, else nullptr; stores may
    // use them when `fast_writable`.
    void fill(uint64_t linear, const WalkResult& w, bool cr0_wp, uint8_t* host_page, bool fast_writable);
    // A store through the entry of `linear` found its page fast_writable
    // (the store set the dirty bit): later ones may go straight there.
    void allow_fast_writes(uint64_t linear, bool user);
    // Fills so far (the JIT's verifier: did a run walk the page tables?).
    uint64_t fills() const { return fills_; }
    // Second-way hits so far (`info jit`).
    uint64_t promotions() const { return promotions_; }
    // Flushes and INVLPGs so far: what is cached beside the TLB and was
    // valid at a count holds while it is unchanged (see fetches_from()).
    uint32_t flushes() const { return flushes_; }
    // Whether either way lets this privilege fetch code from the page of
    // `linear` and maps it to physical page `phys_page` (nothing moves
    // between the ways: a code page that shares a set with a hot data page
    // must not evict it on every jump). What is cached
    // by linear address beside the TLB (the interpreter's fetch cache, the
    // JIT's jump cache, which makes the same test in generated code) holds
    // exactly while this does: a flush or INVLPG drops the translation, a
    // later walk of a changed mapping names another page. So a CR3 load
    // costs such a cache one walk per page, not one lookup per block, and
    // global pages (the kernel's code) stay cached across the guest's
    // process switches as they stay in the TLB.
    bool fetches_from(uint64_t linear, bool user, uint64_t phys_page) const {
        const uint32_t vpn = uint32_t((linear & 0xffffffffull) >> kPageShift);
        const unsigned tag = tag_index(AccessKind::kExecute, user);
        const Entry& e = entries_[vpn & (kEntries - 1)];
        const Entry& second = second_way_[vpn & (kEntries - 1)];
        return (e.tag[tag] == vpn && e.phys_page == phys_page) || (second.tag[tag] == vpn && second.phys_page == phys_page);
    }

    void flush_all();
    // CR3 load: drops everything but global pages.
    void flush_non_global();
    // INVLPG: drops the translation of the page holding `linear` (all of a
    // large page's entries when it came from one).
    void flush_page(uint64_t linear);

    // FastWriteListener: stores to the page (or any page) go the checked
    // way again.
    void revoke_fast_writes(uint64_t phys_page) override;
    void revoke_all_fast_writes() override;

private:
    // One cache line each.
    struct alignas(64) Entry {
        uint32_t tag[6];
        // The read and write permissions again (supervisor, user), as
        // ram_key(vpn) only when the page is plain RAM (read) and
        // fast_writable (write), else no_ram_key(): an inline access adds
        // the key to its last byte's address and has a hit when the sum
        // is below 4096, which takes no compare (the JIT's flag-free probe
        // keeps the guest's flags in the host's EFLAGS across it).
        uint32_t ram_read_key[2];
        uint32_t ram_write_key[2];
        uint32_t vpn;
        uint32_t phys_page;
        uint32_t large_mask;  // vpn bits inside a large page (0 for 4 KiB)
        bool global;
        // Host page - the page's linear address: linear + addend is the
        // host byte, where a RAM key matches.
        uintptr_t host_addend;
    };
    static_assert(sizeof(Entry) == 64);

    uint8_t* host_page(uint64_t linear, bool user, bool write) const {
        const uint32_t vpn = uint32_t(linear >> kPageShift);
        const Entry& e = entries_[vpn & (kEntries - 1)];
        if ((write ? e.ram_write_key : e.ram_read_key)[user ? 1 : 0] != ram_key(vpn)) return nullptr;
        return reinterpret_cast<uint8_t*>(e.host_addend + (uintptr_t(vpn) << kPageShift));
    }

public:
    static constexpr unsigned tag_index(AccessKind kind, bool user) { return unsigned(kind) * 2 + (user ? 1 : 0); }
    // The layout the JIT's inline lookup reads (jit/translator.cpp): entry
    // vpn % kEntries at entries_data() + vpn % kEntries * kEntryBytes; its
    // tag for (kind, user) at kTagsOffset + 4 * tag_index(kind, user); the
    // physical page number at kPhysPageOffset; for plain-RAM reads and
    // fast writes, the keys at kRamReadKeyOffset / kRamWriteKeyOffset + 4 *
    // user (ram_key()) and the linear-to-host addend at kHostAddendOffset.
    const void* entries_data() const { return entries_.data(); }
    // The second way's entries, laid out alike (Tlb::fetches_from() reads
    // both ways inline too).
    const void* second_way_data() const { return second_way_.data(); }
    static constexpr size_t kEntryBytes = sizeof(Entry);
    static constexpr size_t kTagsOffset = offsetof(Entry, tag);
    static constexpr size_t kPhysPageOffset = offsetof(Entry, phys_page);
    static constexpr size_t kRamReadKeyOffset = offsetof(Entry, ram_read_key);
    static constexpr size_t kRamWriteKeyOffset = offsetof(Entry, ram_write_key);
    // The key of a plain-RAM page: minus its linear address, so that
    // (last byte + key) mod 2^32 < 4096 exactly when the last byte lies
    // in that page.
    static constexpr uint32_t ram_key(uint32_t vpn) { return uint32_t(0u - (vpn << kPageShift)); }
    // The key that matches no access looked up in `set`: that of a page
    // half the TLB away, where neither the first nor the last byte of an
    // access indexed there can lie (its first byte's page is in `set`,
    // its last byte's in the same page or the next).
    static constexpr uint32_t no_ram_key(unsigned set) { return ram_key((set + kEntries / 2) % kEntries); }
    static constexpr size_t kHostAddendOffset = offsetof(Entry, host_addend);

private:
    // Which sets were filled since they were last emptied: a flush or a
    // revocation visits those only. A guest's CR3 load visits the few
    // dozen sets its process filled, not all 2 x 4096 entries (512 KiB):
    // that sweep was 4% of a pipe-heavy job's time.
    using SetMask = std::array<uint64_t, kEntries / 64>;
    static void mark(SetMask& m, uint32_t set) { m[set / 64] |= uint64_t(1) << (set % 64); }
    template <typename F> static void for_each_set(const SetMask& m, F&& f) {
        for (unsigned w = 0; w < m.size(); w++)
            for (uint64_t bits = m[w]; bits; bits &= bits - 1) f(w * 64 + unsigned(__builtin_ctzll(bits)));
    }
    // Both ways' entries of the sets in `m` (and their set), for the
    // flushes and revocations.
    template <typename F> void for_each_entry(const SetMask& m, F&& f) {
        for_each_set(m, [&](unsigned set) {
            f(entries_[set], set);
            f(second_way_[set], set);
        });
    }
    static void clear(Entry& e, unsigned set) {
        for (uint32_t& t : e.tag) t = kInvalid;
        for (uint32_t& k : e.ram_read_key) k = no_ram_key(set);
        for (uint32_t& k : e.ram_write_key) k = no_ram_key(set);
        e.host_addend = 0;
        e.vpn = kInvalid;
        e.large_mask = 0;
        e.global = false;
    }

    // Both ways: the first is what the fast paths read, the second what it
    // evicted. Every flush, INVLPG and revocation covers both.
    std::array<Entry, kEntries> entries_;
    std::array<Entry, kEntries> second_way_;
    SetMask filled_sets_{};      // may hold an entry, in either way
    SetMask non_global_sets_{};  // may hold a non-global entry
    unsigned large_entries_ = 0;  // filled from large pages since the last full flush (upper bound)
    unsigned fast_write_entries_ = 0;  // given a RAM write key since the last full flush (upper bound)
    uint64_t fills_ = 0;
    uint64_t promotions_ = 0;
    uint32_t flushes_ = 0;
};

}  // namespace nomad86
