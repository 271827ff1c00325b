// The guest-physical address space: RAM, ROM regions and MMIO regions.
//
// RAM occupies [0, ram_size) except the legacy hole [0xA0000, 0x100000),
// where the VGA window and the firmware ROM live. Plain RAM is reached
// through an inline fast path; everything else goes through the region list.
// Every RAM page carries flags: "holds decoded code" (a write to it tells the
// code-write listener, which invalidates what was decoded there) and "dirty"
// (for migration and display).
#pragma once
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/types.h"

namespace nomad86 {

class Logger;

class MmioHandler {
public:
    virtual ~MmioHandler() = default;
    // offset is relative to the region's base; size is 1, 2, 4 or 8.
    virtual uint64_t mmio_read(uint64_t offset, unsigned size) = 0;
    virtual void mmio_write(uint64_t offset, unsigned size, uint64_t value) = 0;
};

// The stores of a stretch of execution, so that it can be undone and run
// again (the JIT's lockstep verifier runs each block twice).
struct WriteJournal {
    // (guest-physical address, the RAM byte before the store), in store order.
    std::vector<std::pair<uint64_t, uint8_t>> old_bytes;
    // MMIO reads and writes: device side effects that cannot be undone.
    uint64_t device_accesses = 0;
};

// Post-copy migration: a RAM page the machine does not hold yet. Any access
// to it (CPU, decoder, DMA) stops there and asks the source for it; when
// fetch() returns, the page has arrived (store_page) or the machine is
// quitting, and the access goes on.
class AbsentPageSource {
public:
    virtual ~AbsentPageSource() = default;
    virtual void fetch(uint64_t page) = 0;
};

// Told when a store hits a page that holds decoded code.
class CodeWriteListener {
public:
    virtual ~CodeWriteListener() = default;
    virtual void code_page_written(uint64_t page) = 0;
};

// Keeps host pointers for direct stores to RAM pages (the software TLB's
// fast write path). Told when a page stops qualifying (fast_writable): it
// becomes code, its migration dirty bit is cleared, it goes absent, or a
// write journal opens (all pages).
class FastWriteListener {
public:
    virtual ~FastWriteListener() = default;
    virtual void revoke_fast_writes(uint64_t page) = 0;
    virtual void revoke_all_fast_writes() = 0;
};

class PhysicalMemory {
public:
    static constexpr uint64_t kLegacyHoleStart = 0xA0000;
    static constexpr uint64_t kLegacyHoleEnd = 0x100000;
    static constexpr uint64_t kMinRam = 1 * MiB;
    static constexpr uint64_t kMaxRam = 3 * GiB;
    // kNotRam marks the pages of the legacy hole (VGA window, ROMs): the
    // JIT's inline fast path takes only pages without it (and, for stores,
    // without kCodePage).
    // kAbsent (post-copy) pages carry kNotRam as well, so that the JIT's
    // fast path leaves them to the slow path, which fetches them.
    enum PageFlag : uint8_t { kCodePage = 1, kDirtyMigration = 2, kNotRam = 4, kAbsent = 8 };

    explicit PhysicalMemory(uint64_t ram_size, Logger* log = nullptr);

    uint64_t ram_size() const { return ram_size_; }

    // Maps a read-only copy of `data` at base. Throws std::logic_error on overlap.
    void add_rom(GuestPhys base, const uint8_t* data, size_t size, std::string name);
    void add_mmio(GuestPhys base, uint64_t size, MmioHandler* handler, std::string name);

    // A20: when off, physical address bit 20 is forced to zero for CPU
    // accesses (the CPU applies a20_mask() when it forms physical addresses).
    void set_a20(bool enabled) { a20_mask_ = enabled ? ~uint64_t(0) : ~uint64_t(1u << 20); }
    bool a20() const { return a20_mask_ == ~uint64_t(0); }
    uint64_t a20_mask() const { return a20_mask_; }

    // True if [addr, addr+len) is plain RAM.
    bool is_ram(GuestPhys addr, uint64_t len) const {
        uint64_t a = addr.value;
        if (a + len <= kLegacyHoleStart) return true;
        return a >= kLegacyHoleEnd && a + len <= ram_size_ && a + len >= a;
    }

    // What backs one physical byte (debugger accesses, which must not touch
    // MMIO or unbacked holes).
    enum class Backing : uint8_t { kNone, kRam, kRom, kMmio };
    Backing backing(GuestPhys addr) const {
        if (is_ram(addr, 1)) return Backing::kRam;
        const Region* r = find_region(addr.value);
        if (!r) return Backing::kNone;
        return r->mmio ? Backing::kMmio : Backing::kRom;
    }

    // Sized access with full dispatch. size is 1, 2, 4 or 8; little-endian.
    uint64_t read(GuestPhys addr, unsigned size) {
        if (is_ram(addr, size)) [[likely]] {
            if (absent_pages_) [[unlikely]]
                make_present(addr.value, size);
            return load_le(ram_.get() + addr.value, size);
        }
        return read_slow(addr, size);
    }
    void write(GuestPhys addr, unsigned size, uint64_t value) {
        if (is_ram(addr, size) && (addr.value & (kPageSize - 1)) + size <= kPageSize) [[likely]] {
            if (absent_pages_) [[unlikely]]
                make_present(addr.value, size);
            if (journal_) [[unlikely]]
                journal_ram(addr.value, size);
            note_ram_write(addr.value >> kPageShift);
            store_le(ram_.get() + addr.value, size, value);
            return;
        }
        write_slow(addr, size, value);
    }

    // The host bytes of RAM page `page` when it is plain RAM, present
    // (reads may go straight there; the TLB keeps it), else nullptr.
    uint8_t* ram_page_for_reads(uint64_t page) {
        if (page >= page_flags_.size() || (page_flags_[page] & kNotRam)) return nullptr;
        return ram_.get() + (page << kPageShift);
    }

    // The host bytes of [addr, addr+len), a range inside one page, when the
    // CPU may access them directly (REP MOVS/STOS in bulk): plain RAM,
    // present, and for a store no decoded code on the page and no journal
    // open. A store marks the page dirty. nullptr otherwise: the caller goes
    // access by access.
    uint8_t* direct_span(GuestPhys addr, uint64_t len, bool write) {
        if (len == 0 || !is_ram(addr, len) || absent_pages_) return nullptr;
        if (((addr.value & (kPageSize - 1)) + len) > kPageSize) return nullptr;
        const uint64_t page = addr.value >> kPageShift;
        if (write) {
            if (journal_ || (page_flags_[page] & kCodePage)) return nullptr;
            note_ram_write(page);
        }
        return ram_.get() + addr.value;
    }

    // Bulk copies (loaders, DMA, debugger). Unbacked bytes read as 0xFF;
    // writes to ROM or unassigned space are dropped. MMIO is accessed bytewise.
    void read_bytes(GuestPhys addr, void* out, size_t len);
    void write_bytes(GuestPhys addr, const void* in, size_t len);
    // Writes into ROM too: only for loading firmware at machine build time.
    void load_bytes(GuestPhys addr, const void* in, size_t len);

    // ---- migration ----
    uint64_t ram_pages() const { return page_flags_.size(); }
    // A page that migration carries: RAM, outside the legacy hole.
    bool is_migratable_page(uint64_t page) const {
        if (page >= page_flags_.size()) return false;
        const uint8_t f = page_flags_[page];
        return !(f & kNotRam) || (f & kAbsent);
    }
    // The page's bytes as they are now (the sender reads them; an absent
    // page is never sent).
    const uint8_t* page_data(uint64_t page) const { return ram_.get() + (page << kPageShift); }
    // Puts a received page in place (nullptr: a page of zeros) without
    // marking it dirty; it is no longer absent, and decoded code from it
    // is dropped.
    void store_page(uint64_t page, const uint8_t* data);
    // Post-copy: the page is to come from the source; accesses wait for it.
    void mark_absent(uint64_t page);
    bool is_absent(uint64_t page) const { return page < page_flags_.size() && (page_flags_[page] & kAbsent); }
    uint64_t absent_pages() const { return absent_pages_; }
    void set_absent_page_source(AbsentPageSource* source) { absent_source_ = source; }
    // Pages dirty now (migration's remaining-data estimate).
    uint64_t count_dirty() const;

    // Code tracking. A page marked as code reports the next write to it.
    void set_code_write_listener(CodeWriteListener* l) { code_listener_ = l; }
    void mark_code_page(uint64_t page) {
        if (page >= page_flags_.size() || (page_flags_[page] & kCodePage)) return;
        page_flags_[page] |= kCodePage;
        revoke_fast_writes(page);
    }
    void clear_code_page(uint64_t page) {
        if (page < page_flags_.size()) page_flags_[page] &= uint8_t(~kCodePage);
    }
    bool is_code_page(uint64_t page) const { return page < page_flags_.size() && (page_flags_[page] & kCodePage); }

    // Dirty tracking for migration: pages written since the last clear.
    bool test_and_clear_dirty(uint64_t page);
    void set_all_dirty();

    // What the JIT's inline fast path reads: RAM at ram + address, one flag
    // byte per RAM page (PageFlag), `pages` of them.
    struct FastPathView {
        uint8_t* ram;
        uint8_t* page_flags;
        uint64_t pages;
        const uint64_t* a20_mask;  // applied to CPU addresses while paging is off
    };
    FastPathView fast_path_view() { return {ram_.get(), page_flags_.data(), page_flags_.size(), &a20_mask_}; }
    // A store the fast path made, for the journal (verification only).
    void journal_store(uint64_t addr, unsigned size) {
        if (journal_) journal_ram(addr, size);
    }

    // While set, every RAM store is recorded in `journal` (nullptr: off).
    void set_write_journal(WriteJournal* journal) {
        journal_ = journal;
        if (journal_) revoke_all_fast_writes();
    }

    // A store may go straight to the host bytes of `page`, with no side
    // effect to note: plain RAM, present, already dirty for migration, no
    // decoded code on it, no journal open. The listener hears when that
    // stops being true.
    bool fast_writable(uint64_t page) const {
        return page < page_flags_.size() && !journal_ &&
               (page_flags_[page] & (kNotRam | kCodePage | kDirtyMigration)) == kDirtyMigration;
    }
    // A store is about to go straight to the host bytes of `page` (the
    // JIT's TLB refill): when that may be (plain present RAM, no decoded
    // code, no journal open), marks the page dirty as the store would and
    // returns true; the page is then fast_writable().
    bool prepare_direct_store(uint64_t page) {
        if (page >= page_flags_.size() || journal_ || (page_flags_[page] & (kNotRam | kCodePage))) return false;
        page_flags_[page] |= kDirtyMigration;
        return true;
    }
    // (Each CPU's TLB; a machine has one, a test may build more.)
    void add_fast_write_listener(FastWriteListener* l) { fast_write_listeners_.push_back(l); }
    void remove_fast_write_listener(FastWriteListener* l) { std::erase(fast_write_listeners_, l); }
    // Puts back every byte the journal recorded, latest first, as raw RAM
    // (no dirty or code-page side effects).
    void undo_writes(const WriteJournal& journal);
    uint8_t ram_byte(uint64_t addr) const { return addr < ram_size_ ? ram_[addr] : 0xff; }

    // Resets RAM contents to zero (machine reset keeps contents, like a PC;
    // this is for tests).
    void clear_ram();

private:
    struct Region {
        uint64_t base;
        uint64_t size;
        std::vector<uint8_t> rom;    // non-empty for ROM
        MmioHandler* mmio = nullptr;  // non-null for MMIO
        std::string name;
    };
    void revoke_fast_writes(uint64_t page) {
        for (FastWriteListener* l : fast_write_listeners_) l->revoke_fast_writes(page);
    }
    void revoke_all_fast_writes() {
        for (FastWriteListener* l : fast_write_listeners_) l->revoke_all_fast_writes();
    }
    void note_ram_write(uint64_t page) {
        uint8_t& f = page_flags_[page];
        f |= kDirtyMigration;
        if ((f & kCodePage) && code_listener_) code_listener_->code_page_written(page);
    }

public:
    // Constant-size copies compile to one load or store; a memcpy with a
    // variable size would be a library call on every guest access.
    static uint64_t load_le(const uint8_t* p, unsigned size) {
        switch (size) {
        case 1: return *p;
        case 2: { uint16_t v; memcpy(&v, p, 2); return v; }
        case 4: { uint32_t v; memcpy(&v, p, 4); return v; }
        case 8: { uint64_t v; memcpy(&v, p, 8); return v; }
        default: { uint64_t v = 0; memcpy(&v, p, size < 8 ? size : 8); return v; }
        }
    }
    static void store_le(uint8_t* p, unsigned size, uint64_t value) {
        switch (size) {
        case 1: *p = uint8_t(value); return;
        case 2: { const uint16_t v = uint16_t(value); memcpy(p, &v, 2); return; }
        case 4: { const uint32_t v = uint32_t(value); memcpy(p, &v, 4); return; }
        case 8: memcpy(p, &value, 8); return;
        default: memcpy(p, &value, size < 8 ? size : 8); return;
        }
    }

private:
    void journal_ram(uint64_t addr, unsigned size) {
        for (unsigned i = 0; i < size; i++) journal_->old_bytes.emplace_back(addr + i, ram_[addr + i]);
    }
    // Fetches every absent page of [addr, addr+len) (post-copy).
    void make_present(uint64_t addr, uint64_t len);
    const Region* find_region(uint64_t addr) const;
    uint8_t read_byte_slow(uint64_t addr);
    void write_byte_slow(uint64_t addr, uint8_t value, bool allow_rom);
    uint64_t read_slow(GuestPhys addr, unsigned size);
    // Every device access goes through these two (counted for a write
    // journal, logged under -d mmio).
    void log_access(bool write, uint64_t addr, unsigned size, uint64_t value, const Region* r);
    uint64_t device_read(const Region& r, uint64_t addr, unsigned size);
    void device_write(const Region& r, uint64_t addr, unsigned size, uint64_t value);
    void write_slow(GuestPhys addr, unsigned size, uint64_t value);
    void add_region(Region r);

    struct RamDeleter {
        uint64_t size;
        void operator()(uint8_t* p) const;
    };
    Logger* log_;
    uint64_t ram_size_;
    std::unique_ptr<uint8_t[], RamDeleter> ram_;
    std::vector<uint8_t> page_flags_;
    std::vector<Region> regions_;
    uint64_t a20_mask_ = ~uint64_t(0);
    CodeWriteListener* code_listener_ = nullptr;
    WriteJournal* journal_ = nullptr;
    std::vector<FastWriteListener*> fast_write_listeners_;
    uint64_t absent_pages_ = 0;
    AbsentPageSource* absent_source_ = nullptr;
};

}  // namespace nomad86
