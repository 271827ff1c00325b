// Segmentation: descriptor tables, segment register loads with the SDM's
// checks (MOV/POP Sreg, LDS..LSS), and the inner-stack lookup in the TSS that
// interrupt delivery and call gates share.
#include <cinttypes>

#include "cpu/cpu.h"

namespace nomad86 {


namespace {

constexpr uint64_t kDescPresent = 1ull << 47;

// Reads a descriptor with the error code `(selector & 0xfffc) | ext`.
uint64_t fetch_descriptor(Cpu& cpu, uint16_t selector, uint8_t vector, uint32_t ext) {
    const CpuState& s = cpu.s;
    const uint32_t offset = selector & 0xfff8u;
    uint64_t base;
    uint32_t limit;
    if (selector & 4) {
        if (!s.ldtr.present()) cpu.raise(vector, (selector & 0xfffcu) | ext);
        base = s.ldtr.base;
        limit = s.ldtr.limit;
    } else {
        base = s.gdtr.base;
        limit = s.gdtr.limit;
    }
    if (uint64_t(offset) + 7 > limit) cpu.raise(vector, (selector & 0xfffcu) | ext);
    return cpu.read_linear(GuestVirt((base + offset) & 0xffffffffull), 8, true);
}

}  // namespace

uint64_t Cpu::read_descriptor(uint16_t selector, uint8_t fault_vector) {
    return fetch_descriptor(*this, selector, fault_vector, 0);
}

void Cpu::write_descriptor_accessed(uint16_t selector) {
    const uint64_t base = (selector & 4) ? s.ldtr.base : s.gdtr.base;
    const GuestVirt at((base + (selector & 0xfff8u) + 5) & 0xffffffffull);
    const uint64_t access = read_linear(at, 1, true);
    // Only write when the bit changes: a write to a page holding decoded
    // code would needlessly invalidate it.
    if (!(access & 1)) write_linear(at, 1, access | 1, true);
}

SegmentCache Cpu::cache_from_descriptor(uint16_t selector, uint64_t d) {
    SegmentCache c;
    c.selector = selector;
    c.base = ((d >> 16) & 0xffffff) | (((d >> 56) & 0xff) << 24);
    uint32_t limit = uint32_t(d & 0xffff) | uint32_t((d >> 32) & 0xf0000);
    if (d & (1ull << 55)) limit = (limit << 12) | 0xfff;
    c.limit = limit;
    c.attr = uint16_t(((d >> 40) & 0xff) | (((d >> 52) & 0xf) << 12));
    return c;
}

void Cpu::update_cpl(uint8_t cpl) {
    if (s.cpl != cpl) end_block();
    s.cpl = cpl & 3;
}

void Cpu::load_segment_real(SegReg seg, uint16_t selector) {
    SegmentCache& c = s.seg[seg];
    c.selector = selector;
    c.base = uint64_t(selector) << 4;
    // As hardware (and Bochs): the cache becomes a present, accessed
    // read/write data (or execute/read code) segment. Real mode keeps the
    // limit, DPL and D/B/G bits ("unreal mode"); V86 mode forces a 64 KiB
    // byte-granular 16-bit DPL 3 segment.
    const uint16_t type = seg == kCs ? 0xb : 0x3;
    if (s.v86_mode()) {
        c.limit = 0xffff;
        c.attr = uint16_t(SegmentCache::kP | SegmentCache::kS | (3u << 5) | type);
    } else {
        c.attr = uint16_t((c.attr & ~uint16_t(0x9f)) | SegmentCache::kP | SegmentCache::kS | type);
    }
}

void Cpu::load_segment(SegReg seg, uint16_t selector) {
    if (!s.protected_mode() || s.v86_mode()) {
        load_segment_real(seg, selector);
        return;
    }
    if (seg == kCs) raise(kUD);  // CS is loaded only by far transfers
    const uint16_t rpl = selector & 3;
    const uint32_t err = selector & 0xfffcu;
    if (seg == kSs) {
        if ((selector & 0xfffc) == 0) raise(kGP, 0);
        const uint64_t d = read_descriptor(selector, kGP);
        SegmentCache c = cache_from_descriptor(selector, d);
        if (rpl != s.cpl || !c.writable() || c.dpl() != s.cpl) raise(kGP, err);
        if (!c.present()) raise(kSS, err);
        write_descriptor_accessed(selector);
        c.attr |= SegmentCache::kAccessed;
        s.seg[kSs] = c;
        return;
    }
    if ((selector & 0xfffc) == 0) {
        // A null selector loads, but leaves the cache unusable: any access
        // through it raises #GP(0).
        s.seg[seg] = SegmentCache{selector, 0, 0, 0};
        return;
    }
    const uint64_t d = read_descriptor(selector, kGP);
    SegmentCache c = cache_from_descriptor(selector, d);
    if (c.is_system() || (c.is_code() && !c.readable())) raise(kGP, err);
    if (c.is_data() || !c.conforming()) {
        if (rpl > c.dpl() || s.cpl > c.dpl()) raise(kGP, err);
    }
    if (!c.present()) raise(kNP, err);
    write_descriptor_accessed(selector);
    c.attr |= SegmentCache::kAccessed;
    s.seg[seg] = c;
}

void tss_inner_stack(Cpu& cpu, unsigned dpl, uint32_t ext, uint16_t* ss_out, uint32_t* esp_out,
                     SegmentCache* cache_out) {
    const CpuState& s = cpu.s;
    const SegmentCache& tr = s.tr;
    const uint32_t tr_err = (tr.selector & 0xfffcu) | ext;
    const unsigned type = tr.type();
    uint16_t ss;
    uint32_t esp;
    if (!tr.present() || tr.is_code() || tr.is_data()) cpu.raise(kTS, tr_err);
    if (type == 9 || type == 11) {  // 32-bit TSS
        const uint32_t off = 4 + 8 * dpl;
        if (uint64_t(off) + 5 > tr.limit) cpu.raise(kTS, tr_err);
        esp = uint32_t(cpu.read_linear(GuestVirt((tr.base + off) & 0xffffffffull), 4, true));
        ss = uint16_t(cpu.read_linear(GuestVirt((tr.base + off + 4) & 0xffffffffull), 2, true));
    } else if (type == 1 || type == 3) {  // 16-bit TSS
        const uint32_t off = 2 + 4 * dpl;
        if (uint64_t(off) + 3 > tr.limit) cpu.raise(kTS, tr_err);
        esp = uint32_t(cpu.read_linear(GuestVirt((tr.base + off) & 0xffffffffull), 2, true));
        ss = uint16_t(cpu.read_linear(GuestVirt((tr.base + off + 2) & 0xffffffffull), 2, true));
    } else {
        cpu.raise(kTS, tr_err);
    }
    const uint32_t ss_err = (ss & 0xfffcu) | ext;
    if ((ss & 0xfffc) == 0) cpu.raise(kTS, ext);
    const uint64_t d = fetch_descriptor(cpu, ss, kTS, ext);
    SegmentCache c = Cpu::cache_from_descriptor(ss, d);
    if ((ss & 3) != dpl || c.dpl() != dpl || !c.writable()) cpu.raise(kTS, ss_err);
    if (!(d & kDescPresent)) cpu.raise(kSS, ss_err);
    c.attr |= SegmentCache::kAccessed;
    *ss_out = ss;
    *esp_out = esp;
    *cache_out = c;
}

}  // namespace nomad86
