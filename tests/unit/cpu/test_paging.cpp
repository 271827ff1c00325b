// Paging: the page walker (32-bit with PSE, PAE with 2 MiB pages and NX),
// A/D bits, #PF error codes and CR2, the TLB (INVLPG, CR3 reloads and global
// pages), page-crossing accesses and self-modifying code through an alias.
#include <doctest/doctest.h>

#include "tests/unit/cpu_pm_rig.h"

namespace nomad86 {
namespace {

using test::Pm;
using test::place;

constexpr int64_t kNoFault = -1;

// 32-bit paging: the first 2 MiB identity-mapped (user, writable) through
// the page table at kPt0; 0x400000-0x7fffff through kPt1 (filled by tests).
struct PagingRig {
    test::CpuRig r;
    Pm pm{r};
    static constexpr uint64_t kPd = 0x20000, kPt0 = 0x21000, kPt1 = 0x22000;

    PagingRig() {
        for (uint32_t i = 0; i < 512; i++) w4(kPt0 + 4 * i, (i << 12) | 7);
        w4(kPd, kPt0 | 7);
        w4(kPd + 4, kPt1 | 7);
        r.s.cr3 = kPd;
        r.s.cr0 |= cr0::PG;
        r.cpu.tlb().flush_all();
    }
    void w4(uint64_t a, uint32_t v) { r.memory.write(GuestPhys(a), 4, v); }
    void w8(uint64_t a, uint64_t v) { r.memory.write(GuestPhys(a), 8, v); }
    uint32_t r4(uint64_t a) { return uint32_t(r.memory.read(GuestPhys(a), 4)); }
    void pte(unsigned i, uint32_t v) { w4(kPt1 + 4 * i, v); }
    uint32_t pte(unsigned i) { return r4(kPt1 + 4 * i); }
    // The #PF error code of an access, or kNoFault.
    int64_t access(uint64_t linear, AccessKind kind, bool supervisor) {
        try {
            r.cpu.translate(GuestVirt(linear), kind, supervisor);
            return kNoFault;
        } catch (const CpuException& e) {
            CHECK(e.vector == kPF);
            return e.error_code;
        }
    }
    uint64_t phys(uint64_t linear, AccessKind kind = AccessKind::kRead) {
        return r.cpu.translate(GuestVirt(linear), kind, true).value;
    }
    void poke_code(uint64_t phys_addr, std::initializer_list<uint8_t> bytes) { r.poke(phys_addr, bytes); }
    void set_cr0(uint64_t v) {
        r.s.cr0 = v;
        r.cpu.tlb().flush_all();
    }
};

TEST_CASE("paging: 4 KiB translation, accessed and dirty bits") {
    PagingRig p;
    p.pte(5, 0x30000 | 7);
    CHECK(p.phys(0x405123) == 0x30123);
    CHECK((p.r4(PagingRig::kPd + 4) & 0x20) != 0);  // PDE accessed
    CHECK((p.pte(5) & 0x20) != 0);                   // PTE accessed
    CHECK((p.pte(5) & 0x40) == 0);                   // not dirty after a read
    CHECK((p.r4(PagingRig::kPd + 4) & 0x40) == 0);
    // The read filled the TLB without the write tag: the first write walks
    // and sets D.
    CHECK(p.phys(0x405124, AccessKind::kWrite) == 0x30124);
    CHECK((p.pte(5) & 0x40) != 0);
    CHECK((p.r4(PagingRig::kPd + 4) & 0x40) == 0);  // D only in the final entry
    // Through read_linear/write_linear.
    p.r.cpu.write_linear(GuestVirt(0x405010), 4, 0xdeadbeef);
    CHECK(p.r4(0x30010) == 0xdeadbeef);
    CHECK(p.r.cpu.read_linear(GuestVirt(0x405010), 4) == 0xdeadbeef);
}

TEST_CASE("paging: 4 MiB pages with CR4.PSE") {
    PagingRig p;
    p.w4(PagingRig::kPd + 8, 0x00000000 | 0x87);  // 0x800000-0xbfffff -> 0, PS
    p.r.s.cr4 |= cr4::PSE;
    p.r.cpu.tlb().flush_all();
    CHECK(p.phys(0x923456) == 0x123456);
    CHECK((p.r4(PagingRig::kPd + 8) & 0x60) == 0x20);
    CHECK(p.phys(0x923456, AccessKind::kWrite) == 0x123456);
    CHECK((p.r4(PagingRig::kPd + 8) & 0x60) == 0x60);
    // Reserved bit 13 of a 4 MiB PDE: P|RSVD.
    p.w4(PagingRig::kPd + 12, 0x00002000 | 0x87);
    CHECK(p.access(0xc00000, AccessKind::kRead, true) == (pf::P | pf::RSVD));
    CHECK(p.r.s.cr2 == 0xc00000);
}

TEST_CASE("paging: #PF error codes, U/S, R/W and CR0.WP") {
    PagingRig p;
    p.pte(6, 0);                  // not present
    p.pte(7, 0x31000 | 5);        // user, read-only
    p.pte(8, 0x32000 | 3);        // supervisor, writable
    CHECK(p.access(0x406000, AccessKind::kRead, true) == 0);
    CHECK(p.r.s.cr2 == 0x406000);
    CHECK(p.access(0x406abc, AccessKind::kWrite, false) == (pf::W | pf::U));
    CHECK(p.r.s.cr2 == 0x406abc);
    CHECK(p.access(0x407000, AccessKind::kRead, false) == kNoFault);
    CHECK(p.access(0x407000, AccessKind::kWrite, false) == (pf::P | pf::W | pf::U));
    // Supervisor writes to a read-only page: allowed with WP=0, not with WP=1.
    CHECK(p.access(0x407000, AccessKind::kWrite, true) == kNoFault);
    p.set_cr0(p.r.s.cr0 | cr0::WP);
    CHECK(p.access(0x407004, AccessKind::kWrite, true) == (pf::P | pf::W));
    p.set_cr0(p.r.s.cr0 & ~cr0::WP);
    CHECK(p.access(0x407004, AccessKind::kWrite, true) == kNoFault);
    // User access to a supervisor page.
    CHECK(p.access(0x408000, AccessKind::kRead, false) == (pf::P | pf::U));
    CHECK(p.access(0x408000, AccessKind::kWrite, true) == kNoFault);
    // A supervisor-only PDE makes the whole table supervisor.
    p.pte(9, 0x33000 | 7);
    p.w4(PagingRig::kPd + 4, PagingRig::kPt1 | 3);
    p.r.cpu.tlb().flush_all();
    CHECK(p.access(0x409000, AccessKind::kRead, false) == (pf::P | pf::U));
}

TEST_CASE("paging: #PF from an instruction: error code on the stack, CR2, user mode") {
    PagingRig p;
    p.pte(6, 0);
    place(p.r, 0x1000, {0xa1, 0x00, 0x60, 0x40, 0x00});  // mov eax, [0x406000]
    p.r.step();
    REQUIRE(p.pm.in_handler(kPF));
    CHECK(p.pm.stack(0) == 0);
    CHECK(p.pm.stack(1) == 0x1000);
    CHECK(p.r.s.cr2 == 0x406000);

    PagingRig q;
    q.pte(7, 0x31000 | 5);  // user read-only
    q.pm.user(0x1000, 0x7000);
    place(q.r, 0x1000, {0xc7, 0x05, 0x10, 0x70, 0x40, 0x00, 1, 0, 0, 0});  // mov dword [0x407010], 1
    q.r.step();
    REQUIRE(q.pm.in_handler(kPF));
    CHECK(q.pm.stack(0) == (pf::P | pf::W | pf::U));
    CHECK(q.r.s.cr2 == 0x407010);
    CHECK(q.r4(0x31010) == 0);
}

TEST_CASE("paging: PAE with 4 KiB and 2 MiB pages, reserved bits, NX") {
    PagingRig p;
    constexpr uint64_t kPdpt = 0x23000, kPaePd = 0x24000, kPaePt = 0x25000;
    for (uint64_t i = 0; i < 512; i++) p.w8(kPaePt + 8 * i, (i << 12) | 7);
    p.w8(kPdpt, kPaePd | 1);
    p.w8(kPaePd, kPaePt | 7);
    p.w8(kPaePd + 8, 0x000000 | 0x87);  // 0x200000-0x3fffff -> 0, 2 MiB
    p.r.s.cr3 = kPdpt;
    p.r.s.cr4 |= cr4::PAE;
    p.r.cpu.tlb().flush_all();
    CHECK(p.phys(0x12345) == 0x12345);
    CHECK(p.phys(0x2abcde) == 0x0abcde);
    CHECK((p.r.memory.read(GuestPhys(kPaePd + 8), 8) & 0x60) == 0x20);
    CHECK(p.phys(0x2abcde, AccessKind::kWrite) == 0x0abcde);
    CHECK((p.r.memory.read(GuestPhys(kPaePd + 8), 8) & 0x60) == 0x60);
    CHECK((p.r.memory.read(GuestPhys(kPdpt), 8) & 0x20) == 0);  // PDPTEs have no A bit
    // Reserved: bit 40 of a PTE; bit 13 of a 2 MiB PDE; XD without NXE.
    p.w8(kPaePt + 8 * 0x41, 0x41000 | 7 | (1ull << 40));
    CHECK(p.access(0x41000, AccessKind::kRead, true) == (pf::P | pf::RSVD));
    p.w8(kPaePd + 16, 0x002000 | 0x87);
    CHECK(p.access(0x400000, AccessKind::kWrite, false) == (pf::P | pf::RSVD | pf::W | pf::U));
    p.w8(kPaePt + 8 * 0x40, 0x40000 | 7 | (1ull << 63));
    CHECK(p.access(0x40000, AccessKind::kExecute, true) == (pf::P | pf::RSVD));
    // NX with EFER.NXE: data access fine, fetch faults with I/D.
    p.r.s.efer |= efer::NXE;
    p.r.cpu.tlb().flush_all();
    CHECK(p.access(0x40000, AccessKind::kRead, true) == kNoFault);
    CHECK(p.access(0x40000, AccessKind::kExecute, true) == (pf::P | pf::ID));
    CHECK(p.access(0x40000, AccessKind::kExecute, false) == (pf::P | pf::ID | pf::U));
    CHECK(p.access(0x42000, AccessKind::kExecute, true) == kNoFault);
    // Not present PDPTE; fetch from it carries I/D with NXE.
    CHECK(p.access(0x40000000, AccessKind::kExecute, true) == pf::ID);
    // An NX page executed by the interpreter.
    place(p.r, 0x40000, {0x90});
    p.r.step();
    REQUIRE(p.pm.in_handler(kPF));
    CHECK(p.pm.stack(0) == (pf::P | pf::ID));
    CHECK(p.r.s.cr2 == 0x40000);
}

TEST_CASE("paging: PAE PDPTEs with reserved bits make the CR3 load #GP") {
    PagingRig p;
    constexpr uint64_t kPdpt = 0x23000, kPaePd = 0x24000;
    p.w8(kPaePd, 0x000083);
    p.w8(kPdpt, kPaePd | 1);
    p.r.s.cr3 = kPdpt;
    p.r.s.cr4 |= cr4::PAE;
    p.r.cpu.tlb().flush_all();
    p.w8(kPdpt + 8, 0x25000 | 1 | 0x4);  // bit 2 reserved in a PDPTE
    p.r.s.gpr[kRax] = kPdpt;
    place(p.r, 0x1000, {0x0f, 0x22, 0xd8});  // mov cr3, eax
    p.r.step();
    REQUIRE(p.pm.in_handler(kGP));
    CHECK(p.pm.stack(0) == 0);
    p.w8(kPdpt + 8, 0);  // not present: not checked
    place(p.r, 0x1000, {0x0f, 0x22, 0xd8});
    p.r.step();
    CHECK(p.r.s.rip == 0x1003);
}

TEST_CASE("paging: WRMSR EFER.NXE and CPUID advertise what is implemented") {
    test::CpuRig r;
    Pm pm(r);
    r.s.gpr[kRcx] = 0xc0000080;
    r.s.gpr[kRax] = efer::NXE;
    r.s.gpr[kRdx] = 0;
    place(r, 0x1000, {0x0f, 0x30});
    r.step();
    CHECK(r.s.efer == efer::NXE);
    r.s.gpr[kRax] = 0x80000001;
    place(r, 0x1000, {0x0f, 0xa2});
    r.step();
    CHECK(r.s.gpr[kRdx] == (1u << 20));
    r.s.gpr[kRax] = 1;
    place(r, 0x1000, {0x0f, 0xa2});
    r.step();
    CHECK((r.s.gpr[kRdx] & ((1u << 3) | (1u << 6) | (1u << 13))) == ((1u << 3) | (1u << 6) | (1u << 13)));
}

TEST_CASE("paging: INVLPG drops a stale translation") {
    PagingRig p;
    p.pte(5, 0x30000 | 7);
    p.w4(0x30000, 0x1111);
    p.w4(0x31000, 0x2222);
    CHECK(p.r.cpu.read_linear(GuestVirt(0x405000), 4) == 0x1111);
    p.pte(5, 0x31000 | 7);
    CHECK(p.r.cpu.read_linear(GuestVirt(0x405000), 4) == 0x1111);  // the TLB still has it
    place(p.r, 0x1000, {0x0f, 0x01, 0x3d, 0x00, 0x50, 0x40, 0x00});  // invlpg [0x405000]
    p.r.step();
    CHECK(p.r.s.rip == 0x1007);
    CHECK(p.r.cpu.read_linear(GuestVirt(0x405000), 4) == 0x2222);

    // INVLPG of any address inside a 4 MiB page drops all of its entries.
    p.r.s.cr4 |= cr4::PSE;
    p.r.cpu.tlb().flush_all();
    p.w4(PagingRig::kPd + 8, 0x00000000 | 0x87);
    CHECK(p.phys(0x830000) == 0x030000);
    p.w4(PagingRig::kPd + 8, 0x00400000 | 0x87);
    CHECK(p.phys(0x830000) == 0x030000);
    p.r.cpu.tlb().flush_page(0xbff000);
    CHECK(p.phys(0x830000) == 0x430000);
}

TEST_CASE("paging: CR3 reload keeps global pages only with CR4.PGE") {
    PagingRig p;
    p.r.s.cr4 |= cr4::PGE;
    p.pte(5, 0x30000 | 7 | 0x100);  // global
    p.pte(9, 0x33000 | 7);
    CHECK(p.phys(0x405000) == 0x30000);
    CHECK(p.phys(0x409000) == 0x33000);
    p.pte(5, 0x34000 | 7 | 0x100);
    p.pte(9, 0x35000 | 7);
    p.r.s.gpr[kRax] = PagingRig::kPd;
    place(p.r, 0x1000, {0x0f, 0x22, 0xd8});  // mov cr3, eax
    p.r.step();
    CHECK(p.r.s.rip == 0x1003);
    CHECK(p.phys(0x405000) == 0x30000);  // global: kept
    CHECK(p.phys(0x409000) == 0x35000);  // reloaded
    // Without PGE the G bit means nothing.
    p.r.s.cr4 &= ~cr4::PGE;
    p.r.cpu.tlb().flush_all();
    CHECK(p.phys(0x405000) == 0x34000);
    p.pte(5, 0x30000 | 7 | 0x100);
    place(p.r, 0x1000, {0x0f, 0x22, 0xd8});
    p.r.step();
    CHECK(p.phys(0x405000) == 0x30000);
}

TEST_CASE("paging: a write across a page boundary faults before writing anything") {
    PagingRig p;
    p.pte(10, 0x34000 | 7);
    p.pte(11, 0);
    CHECK_THROWS_AS(p.r.cpu.write_linear(GuestVirt(0x40affe), 4, 0x11223344), CpuException);
    CHECK(p.r.s.cr2 == 0x40b000);
    CHECK(p.r4(0x34ffc) == 0);
    // Both pages present: the value is split across them.
    p.pte(11, 0x36000 | 7);
    p.r.cpu.write_linear(GuestVirt(0x40affe), 4, 0x11223344);
    CHECK(p.r.memory.read(GuestPhys(0x34ffe), 2) == 0x3344);
    CHECK(p.r.memory.read(GuestPhys(0x36000), 2) == 0x1122);
    CHECK(p.r.cpu.read_linear(GuestVirt(0x40affe), 4) == 0x11223344);
    // The same through an instruction: mov [0x40bffe], eax with 0x40c000 absent.
    p.pte(12, 0);
    p.pte(11, 0x36000 | 7);
    p.r.s.gpr[kRax] = 0xaabbccdd;
    place(p.r, 0x1000, {0xa3, 0xfe, 0xbf, 0x40, 0x00});
    p.r.step();
    REQUIRE(p.pm.in_handler(kPF));
    CHECK(p.pm.stack(0) == pf::W);
    CHECK(p.r.s.cr2 == 0x40c000);
    CHECK(p.r.memory.read(GuestPhys(0x36ffe), 2) == 0);
}

TEST_CASE("paging: instruction fetch across a page boundary") {
    PagingRig p;
    p.pte(5, 0x30000 | 7);
    p.pte(6, 0);
    // Instructions that end exactly at the page end run; the next page is
    // not present but not needed.
    place(p.r, 0x30ffd, {0x90, 0x40, 0x40});  // nop; inc eax; inc eax (at 0x405ffd)
    p.r.s.rip = 0x405ffd;
    p.r.s.gpr[kRax] = 0;
    p.r.step(3);
    CHECK(p.r.s.gpr[kRax] == 2);
    CHECK(p.r.s.rip == 0x406000);
    // An instruction that needs the absent page faults with CR2 = its start.
    place(p.r, 0x30ffe, {0xb8, 0x01});  // mov eax, imm32 crossing (at 0x405ffe)
    p.r.s.rip = 0x405ffe;
    p.r.step();
    REQUIRE(p.pm.in_handler(kPF));
    CHECK(p.pm.stack(0) == 0);
    CHECK(p.pm.stack(1) == 0x405ffe);
    CHECK(p.r.s.cr2 == 0x406000);
}

TEST_CASE("paging: a page-crossing instruction follows a remapped second page") {
    PagingRig p;
    p.pte(5, 0x30000 | 7);
    p.pte(6, 0x31000 | 7);
    p.poke_code(0x30ffe, {0xb8, 0x01});  // mov eax, imm32 at 0x405ffe
    p.poke_code(0x31000, {0x02, 0x00, 0x00});
    p.poke_code(0x32000, {0x03, 0x00, 0x00});
    p.r.s.rip = 0x405ffe;
    p.r.step();
    CHECK(p.r.s.gpr[kRax] == 0x201);
    p.pte(6, 0x32000 | 7);
    p.r.cpu.tlb().flush_page(0x406000);
    p.r.s.rip = 0x405ffe;
    p.r.step();
    CHECK(p.r.s.gpr[kRax] == 0x301);
}

TEST_CASE("paging: self-modifying code through a second virtual alias") {
    PagingRig p;
    p.pte(5, 0x30000 | 7);  // code
    p.pte(6, 0x30000 | 7);  // alias of the same physical page
    // mov byte [0x406008], 7 ; mov eax, 1 ; nop
    place(p.r, 0x30000, {0xc6, 0x05, 0x08, 0x60, 0x40, 0x00, 0x07, 0xb8, 0x01, 0x00, 0x00, 0x00, 0x90});
    p.r.s.rip = 0x405000;
    // One run: without the invalidation the stale decoded MOV would run.
    p.r.cpu.run(2);
    CHECK(p.r.s.gpr[kRax] == 7);
    CHECK(p.r.s.rip == 0x40500c);
    // The block is found again by its physical address through either alias.
    p.r.s.rip = 0x406007;
    p.r.step();
    CHECK(p.r.s.gpr[kRax] == 7);
}

TEST_CASE("paging: stores straight to a host page stop when the page's dirty bit is cleared or it becomes code") {
    PagingRig p;
    p.pte(5, 0x30000 | 7);  // data
    p.pte(6, 0x31000 | 7);  // code, written as data first
    for (uint64_t linear : {0x405000u, 0x406100u}) {
        p.r.cpu.write_linear(GuestVirt(linear), 4, 1);  // walks, dirties the page
        p.r.cpu.write_linear(GuestVirt(linear), 4, 2);
        CHECK(p.r.cpu.tlb().write_host_page(linear, false) != nullptr);
    }
    // Migration took the page: the next store must mark it dirty again.
    CHECK(p.r.memory.test_and_clear_dirty(0x30));
    p.r.cpu.write_linear(GuestVirt(0x405000), 4, 3);
    CHECK(p.r.memory.test_and_clear_dirty(0x30));
    CHECK(p.r4(0x30000) == 3);
    // mov eax, 1 on the page written before: decoding it makes the page
    // code, and the store to its immediate must invalidate the block.
    place(p.r, 0x31000, {0xb8, 0x01, 0x00, 0x00, 0x00, 0x90});
    p.r.s.rip = 0x406000;
    p.r.step();
    CHECK(p.r.s.gpr[kRax] == 1);
    p.r.cpu.write_linear(GuestVirt(0x406001), 1, 2);
    p.r.s.rip = 0x406000;
    p.r.step();
    CHECK(p.r.s.gpr[kRax] == 2);
}

TEST_CASE("paging: two pages sharing a TLB set both stay cached (the second way); INVLPG drops either") {
    PagingRig p;
    // 0x405000 and kOther are Tlb::kEntries pages apart: the same set.
    constexpr uint64_t kOther = 0x405000 + (uint64_t(Tlb::kEntries) << 12);
    static_assert(((kOther >> 12) & 0x3ff) == 5, "the same page-table slot as 0x405000");
    constexpr uint64_t kPt2 = 0x23000;
    p.w4(PagingRig::kPd + 4 * (kOther >> 22), kPt2 | 7);
    p.pte(5, 0x30000 | 7);
    p.w4(kPt2 + 4 * 5, 0x31000 | 7);
    p.w4(0x30000, 0x1111);
    p.w4(0x31000, 0x2222);
    CHECK(p.r.cpu.read_linear(GuestVirt(0x405000), 4) == 0x1111);
    CHECK(p.r.cpu.read_linear(GuestVirt(kOther), 4) == 0x2222);
    const uint64_t fills = p.r.cpu.tlb().fills();
    for (int i = 0; i < 8; i++) {
        CHECK(p.r.cpu.read_linear(GuestVirt(0x405000), 4) == 0x1111);
        CHECK(p.r.cpu.read_linear(GuestVirt(kOther), 4) == 0x2222);
    }
    CHECK(p.r.cpu.tlb().fills() == fills);  // no walk: one of them is always in the second way
    CHECK(p.r.cpu.tlb().promotions() >= 16);
    // INVLPG of the page in the second way (0x405000: kOther was read
    // last) drops it there too.
    p.pte(5, 0x32000 | 7);
    p.w4(0x32000, 0x3333);
    p.r.cpu.tlb().flush_page(0x405000);
    CHECK(p.r.cpu.read_linear(GuestVirt(0x405000), 4) == 0x3333);
    CHECK(p.r.cpu.read_linear(GuestVirt(kOther), 4) == 0x2222);
    // And a CR3 reload both ways.
    p.w4(kPt2 + 4 * 5, 0x30000 | 7);
    p.r.cpu.tlb().flush_non_global();
    CHECK(p.r.cpu.read_linear(GuestVirt(kOther), 4) == 0x1111);
}

TEST_CASE("paging: the JIT's TLB refill hands out host pages only for plain RAM inside one page") {
    PagingRig p;
    Cpu& cpu = p.r.cpu;
    p.pte(5, 0x30000 | 7);  // data
    p.pte(6, 0x31000 | 7);  // becomes code below
    p.pte(7, 0x32000 | 5);  // read-only
    auto host = [&](uint64_t phys_addr) { return reinterpret_cast<uintptr_t>(p.r.memory.ram_page_for_reads(phys_addr >> 12)) + (phys_addr & 0xfff); };
    // A read: the addend takes the linear address to its host byte.
    const uintptr_t read = cpu.refill_tlb_for_jit(0x405010, 0x405, false, false);
    REQUIRE(read != 0);
    CHECK(read + 0x405010 == host(0x30010));
    CHECK((p.pte(5) & 0x40) == 0);  // accessed, not dirty
    CHECK((p.pte(5) & 0x20) != 0);
    // A store to a page migration has not seen dirty: the walk sets D, the
    // page is marked dirty for migration, as the store will need.
    p.r.memory.test_and_clear_dirty(0x30);
    CHECK_FALSE(p.r.memory.test_and_clear_dirty(0x30));
    const uintptr_t write = cpu.refill_tlb_for_jit(0x405020, 0x405, true, true);
    CHECK(write + 0x405020 == host(0x30020));
    CHECK((p.pte(5) & 0x40) != 0);
    CHECK(p.r.memory.test_and_clear_dirty(0x30));
    // Accesses crossing into the next page, stores to a read-only page
    // (user) and to a page that is not mapped are the interpreter's: no
    // fault raised here, CR2 untouched.
    p.r.s.cr2 = 0x1234;
    CHECK(cpu.refill_tlb_for_jit(0x405ffe, 0x406, false, false) == 0);
    CHECK(cpu.refill_tlb_for_jit(0x407000, 0x407, true, true) == 0);
    CHECK(cpu.refill_tlb_for_jit(0x408000, 0x408, false, false) == 0);
    CHECK(p.r.s.cr2 == 0x1234);
    CHECK(cpu.refill_tlb_for_jit(0x407000, 0x407, false, true) != 0);
    // A device's registers: every access is the device's.
    struct Device final : MmioHandler {
        uint64_t mmio_read(uint64_t, unsigned) override { return 0; }
        void mmio_write(uint64_t, unsigned, uint64_t) override {}
    } device;
    p.r.memory.add_mmio(GuestPhys(0xfec00000), 0x1000, &device, "test device");
    p.pte(8, 0xfec00000 | 7);
    CHECK(cpu.refill_tlb_for_jit(0x408000, 0x408, false, false) == 0);
    CHECK(cpu.refill_tlb_for_jit(0x408000, 0x408, true, false) == 0);
    // A page holding decoded code: reads yes, stores no (they must
    // invalidate the code).
    place(p.r, 0x31000, {0xb8, 0x01, 0x00, 0x00, 0x00, 0x90});
    p.r.s.rip = 0x406000;
    p.r.step();
    CHECK(cpu.refill_tlb_for_jit(0x406100, 0x406, false, false) != 0);
    CHECK(cpu.refill_tlb_for_jit(0x406100, 0x406, true, false) == 0);
}

TEST_CASE("paging: after INVLPG the same linear EIP runs the newly mapped page (the interpreter's fetch cache)") {
    PagingRig p;
    p.poke_code(0x30000, {0xb8, 0x01, 0x00, 0x00, 0x00});  // mov eax, 1
    p.poke_code(0x31000, {0xb8, 0x02, 0x00, 0x00, 0x00});  // mov eax, 2
    for (uint32_t n : {1u, 2u}) {  // 0x405000 -> 0x30000, then -> 0x31000
        p.pte(5, (0x2f000 + 0x1000 * n) | 7);
        p.r.cpu.tlb().flush_page(0x405000);
        p.r.s.rip = 0x405000;
        p.r.step();
        CHECK(p.r.s.gpr[kRax] == n);
    }
}

TEST_CASE("paging: the fetch cache follows the TLB: a CR3 reload re-walks code on non-global pages and keeps global ones") {
    PagingRig p;
    p.r.s.cr4 |= cr4::PGE;
    p.poke_code(0x30000, {0xb8, 0x01, 0x00, 0x00, 0x00});  // mov eax, 1
    p.poke_code(0x31000, {0xb8, 0x02, 0x00, 0x00, 0x00});  // mov eax, 2
    p.poke_code(0x33000, {0xb8, 0x03, 0x00, 0x00, 0x00});  // mov eax, 3
    p.poke_code(0x34000, {0xb8, 0x04, 0x00, 0x00, 0x00});  // mov eax, 4
    p.pte(5, 0x30000 | 7 | 0x100);  // global
    p.pte(9, 0x33000 | 7);
    auto run_at = [&](uint64_t linear) {
        p.r.s.rip = linear;
        p.r.step();
        return p.r.s.gpr[kRax];
    };
    CHECK(run_at(0x405000) == 1);
    CHECK(run_at(0x409000) == 3);
    Tlb& tlb = p.r.cpu.tlb();
    CHECK(tlb.fetches_from(0x405000, false, 0x30));
    CHECK(!tlb.fetches_from(0x405000, false, 0x31));  // not the page the TLB maps it to
    CHECK(tlb.fetches_from(0x409000, false, 0x33));
    p.pte(5, 0x31000 | 7 | 0x100);
    p.pte(9, 0x34000 | 7);
    tlb.flush_non_global();
    CHECK(!tlb.fetches_from(0x409000, false, 0x33));
    CHECK(tlb.fetches_from(0x405000, false, 0x30));
    CHECK(run_at(0x409000) == 4);  // walked again
    CHECK(run_at(0x405000) == 1);  // the global translation stays, as in a hardware TLB
    // INVLPG of the global page: the new mapping runs.
    tlb.flush_page(0x405000);
    CHECK(run_at(0x405000) == 2);
    // A data access walks the page's new mapping into the TLB before the
    // next fetch: the cached block of the old page must not run.
    p.pte(9, 0x33000 | 7);
    tlb.flush_page(0x409000);
    CHECK(p.phys(0x409000) == 0x33000);
    CHECK(tlb.fetches_from(0x409000, false, 0x33));
    CHECK(run_at(0x409000) == 3);
}

TEST_CASE("paging: code a supervisor ran from a supervisor page faults when user mode fetches it") {
    PagingRig p;
    p.pte(5, 0x30000 | 3);  // present, writable, supervisor only
    p.poke_code(0x30000, {0xb8, 0x01, 0x00, 0x00, 0x00});  // mov eax, 1
    p.r.s.rip = 0x405000;
    p.r.step();
    CHECK(p.r.s.gpr[kRax] == 1);
    p.r.s.gpr[kRax] = 0;
    p.pm.user(0x405000, 0x7000);
    p.r.step();
    REQUIRE(p.pm.in_handler(kPF));
    CHECK(p.pm.stack(0) == (pf::P | pf::U));
    CHECK(p.r.s.cr2 == 0x405000);
    CHECK(p.r.s.gpr[kRax] == 0);
}

TEST_CASE("paging: the pure walker leaves A/D alone for debugger look-ups") {
    PagingRig p;
    p.pte(5, 0x30000 | 7);
    const PagingRegs regs = p.r.cpu.paging_regs();
    WalkResult w = walk_page_tables(regs, 0x405abc, AccessKind::kWrite, true, p.r.memory, false);
    CHECK(w.ok);
    CHECK(w.phys.value == 0x30abc);
    CHECK(w.page_size == kPageSize);
    CHECK(p.pte(5) == (0x30000 | 7));
    w = walk_page_tables(regs, 0x405abc, AccessKind::kWrite, true, p.r.memory);
    CHECK(p.pte(5) == (0x30000 | 7 | 0x60));
}

}  // namespace
}  // namespace nomad86
