#include "mmu/phys_memory.h"

#include <sys/mman.h>

#include <algorithm>
#include <cinttypes>
#include <new>
#include <stdexcept>

#include "core/log.h"

namespace nomad86 {

namespace {
// Guest RAM comes straight from the kernel as zero pages that take no host
// memory until the guest writes them: a guest given -m 256 that uses 40 MiB
// costs 40 MiB, and zeroing it again (clear_ram) hands the pages back.
uint8_t* map_ram(uint64_t size) {
    void* p = mmap(nullptr, size ? size : 1, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    return static_cast<uint8_t*>(p);
}
}  // namespace

void PhysicalMemory::RamDeleter::operator()(uint8_t* p) const { munmap(p, size ? size : 1); }

PhysicalMemory::PhysicalMemory(uint64_t ram_size, Logger* log)
    : log_(log),
      ram_size_(ram_size),
      ram_(map_ram(ram_size), RamDeleter{ram_size}),
      page_flags_((ram_size + kPageSize - 1) >> kPageShift, 0) {
    for (uint64_t page = kLegacyHoleStart >> kPageShift; page < (kLegacyHoleEnd >> kPageShift); page++)
        if (page < page_flags_.size()) page_flags_[page] |= kNotRam;
}

void PhysicalMemory::add_region(Region r) {
    if (r.size == 0 || r.base + r.size < r.base) throw std::logic_error("bad region " + r.name);
    for (const Region& o : regions_)
        if (r.base < o.base + o.size && o.base < r.base + r.size)
            throw std::logic_error("memory region " + r.name + " overlaps " + o.name);
    // RAM outside the legacy hole must not be shadowed by a region.
    if (r.base < ram_size_ && !(r.base >= kLegacyHoleStart && r.base + r.size <= kLegacyHoleEnd))
        throw std::logic_error("memory region " + r.name + " overlaps RAM");
    regions_.push_back(std::move(r));
}

void PhysicalMemory::add_rom(GuestPhys base, const uint8_t* data, size_t size, std::string name) {
    Region r{base.value, size, std::vector<uint8_t>(data, data + size), nullptr, std::move(name)};
    add_region(std::move(r));
}

void PhysicalMemory::add_mmio(GuestPhys base, uint64_t size, MmioHandler* handler, std::string name) {
    add_region(Region{base.value, size, {}, handler, std::move(name)});
}

const PhysicalMemory::Region* PhysicalMemory::find_region(uint64_t addr) const {
    for (const Region& r : regions_)
        if (addr - r.base < r.size) return &r;
    return nullptr;
}

uint8_t PhysicalMemory::read_byte_slow(uint64_t addr) {
    if (is_ram(GuestPhys(addr), 1)) {
        if (absent_pages_) make_present(addr, 1);
        return ram_[addr];
    }
    const Region* r = find_region(addr);
    if (!r) return 0xff;
    if (r->mmio) {
        return uint8_t(device_read(*r, addr, 1));
    }
    return r->rom[addr - r->base];
}

void PhysicalMemory::write_byte_slow(uint64_t addr, uint8_t value, bool allow_rom) {
    if (is_ram(GuestPhys(addr), 1)) {
        if (absent_pages_) make_present(addr, 1);
        if (journal_) journal_ram(addr, 1);
        note_ram_write(addr >> kPageShift);
        ram_[addr] = value;
        return;
    }
    const Region* r = find_region(addr);
    if (!r) return;
    if (r->mmio) {
        device_write(*r, addr, 1, value);
    } else if (allow_rom) {
        const_cast<Region*>(r)->rom[addr - r->base] = value;
    }
}

void PhysicalMemory::log_access(bool write, uint64_t addr, unsigned size, uint64_t value, const Region* r) {
    if (log_ && log_->enabled(kLogMmio))
        log_->log(kLogMmio, "mmio %s %08" PRIx64 "/%u %s %0*" PRIx64 " (%s)\n", write ? "write" : "read ", addr, size,
                  write ? "<-" : "->", int(size * 2), value, r ? r->name.c_str() : "unassigned");
}

uint64_t PhysicalMemory::device_read(const Region& r, uint64_t addr, unsigned size) {
    if (journal_) journal_->device_accesses++;
    const uint64_t value = r.mmio->mmio_read(addr - r.base, size);
    log_access(false, addr, size, value, &r);
    return value;
}

void PhysicalMemory::device_write(const Region& r, uint64_t addr, unsigned size, uint64_t value) {
    if (journal_) journal_->device_accesses++;
    log_access(true, addr, size, value, &r);
    r.mmio->mmio_write(addr - r.base, size, value);
}

uint64_t PhysicalMemory::read_slow(GuestPhys addr, unsigned size) {
    const Region* r = find_region(addr.value);
    if (r && r->mmio && addr.value + size <= r->base + r->size) return device_read(*r, addr.value, size);
    uint64_t v = 0;
    for (unsigned i = 0; i < size; i++) v |= uint64_t(read_byte_slow(addr.value + i)) << (8 * i);
    // A probe of an address nothing answers (reads as all ones): logged
    // too, like an unassigned port, so -d mmio shows what the guest looked for.
    if (!r && !is_ram(addr, 1)) log_access(false, addr.value, size, v, nullptr);
    return v;
}

void PhysicalMemory::write_slow(GuestPhys addr, unsigned size, uint64_t value) {
    const Region* r = find_region(addr.value);
    if (r && r->mmio && addr.value + size <= r->base + r->size) {
        device_write(*r, addr.value, size, value);
        return;
    }
    if (!r && !is_ram(addr, 1)) log_access(true, addr.value, size, value, nullptr);
    for (unsigned i = 0; i < size; i++) write_byte_slow(addr.value + i, uint8_t(value >> (8 * i)), false);
}

void PhysicalMemory::read_bytes(GuestPhys addr, void* out, size_t len) {
    uint8_t* o = static_cast<uint8_t*>(out);
    if (is_ram(addr, len)) {
        if (absent_pages_) make_present(addr.value, len);
        memcpy(o, ram_.get() + addr.value, len);
        return;
    }
    for (size_t i = 0; i < len; i++) o[i] = read_byte_slow(addr.value + i);
}

void PhysicalMemory::write_bytes(GuestPhys addr, const void* in, size_t len) {
    const uint8_t* p = static_cast<const uint8_t*>(in);
    for (size_t i = 0; i < len; i++) write_byte_slow(addr.value + i, p[i], false);
}

void PhysicalMemory::load_bytes(GuestPhys addr, const void* in, size_t len) {
    const uint8_t* p = static_cast<const uint8_t*>(in);
    for (size_t i = 0; i < len; i++) write_byte_slow(addr.value + i, p[i], true);
}

void PhysicalMemory::undo_writes(const WriteJournal& journal) {
    for (auto it = journal.old_bytes.rbegin(); it != journal.old_bytes.rend(); ++it) ram_[it->first] = it->second;
}

bool PhysicalMemory::test_and_clear_dirty(uint64_t page) {
    if (page >= page_flags_.size()) return false;
    const bool dirty = page_flags_[page] & kDirtyMigration;
    if (!dirty) return false;
    page_flags_[page] &= uint8_t(~kDirtyMigration);
    // The next store must set the bit again: not straight to host bytes.
    revoke_fast_writes(page);
    return true;
}

uint64_t PhysicalMemory::count_dirty() const {
    uint64_t n = 0;
    for (uint8_t f : page_flags_) n += (f & kDirtyMigration) ? 1 : 0;
    return n;
}

void PhysicalMemory::store_page(uint64_t page, const uint8_t* data) {
    if (page >= page_flags_.size()) return;
    uint8_t* p = ram_.get() + (page << kPageShift);
    if (data) {
        memcpy(p, data, kPageSize);
    } else {
        // Fresh RAM is the kernel's zero page: test before writing, so a
        // restored 256 MiB guest that uses 40 MiB costs 40 MiB.
        bool zero = true;
        for (size_t i = 0; i < kPageSize && zero; i += 8) {
            uint64_t w;
            memcpy(&w, p + i, 8);
            zero = w == 0;
        }
        if (!zero) memset(p, 0, kPageSize);
    }
    uint8_t& f = page_flags_[page];
    if (f & kAbsent) {
        f &= uint8_t(~(kAbsent | kNotRam));
        absent_pages_--;
    }
    if ((f & kCodePage) && code_listener_) code_listener_->code_page_written(page);
}

void PhysicalMemory::mark_absent(uint64_t page) {
    if (!is_migratable_page(page) || (page_flags_[page] & kAbsent)) return;
    page_flags_[page] |= kAbsent | kNotRam;
    absent_pages_++;
    revoke_fast_writes(page);
}

void PhysicalMemory::make_present(uint64_t addr, uint64_t len) {
    if (len == 0) return;
    const uint64_t last = std::min<uint64_t>((addr + len - 1) >> kPageShift, page_flags_.size() - 1);
    for (uint64_t page = addr >> kPageShift; page <= last; page++) {
        if (!(page_flags_[page] & kAbsent)) continue;
        if (absent_source_) absent_source_->fetch(page);
        // Nobody to ask (or the machine is quitting): zeros, never stale bytes.
        if (page_flags_[page] & kAbsent) store_page(page, nullptr);
    }
}

void PhysicalMemory::set_all_dirty() {
    for (auto& f : page_flags_)
        if (!(f & kNotRam)) f |= kDirtyMigration;
}

void PhysicalMemory::clear_ram() {
    if (ram_size_ == 0) return;
    if (madvise(ram_.get(), ram_size_, MADV_DONTNEED) != 0) memset(ram_.get(), 0, ram_size_);
}

}  // namespace nomad86
