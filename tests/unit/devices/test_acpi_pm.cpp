#include <doctest/doctest.h>

#include <cstring>
#include <string>

#include "core/acpi_tables.h"
#include "devices/acpi_pm.h"
#include "tests/unit/test_support.h"

using namespace nomad86;

namespace {
constexpr unsigned kSci = AcpiPm::kSciIrq;
uint16_t inw(test::DeviceRig& r, uint16_t port) { return uint16_t(r.io.read(port, 2)); }
void outw(test::DeviceRig& r, uint16_t port, uint16_t v) { r.io.write(port, 2, v); }
uint32_t le32(const std::vector<uint8_t>& t, uint32_t off) {
    return t[off] | t[off + 1] << 8 | t[off + 2] << 16 | uint32_t(t[off + 3]) << 24;
}
uint8_t sum(const std::vector<uint8_t>& t, uint32_t off, uint32_t len) {
    uint8_t s = 0;
    for (uint32_t i = 0; i < len; i++) s = uint8_t(s + t[off + i]);
    return s;
}
}  // namespace

TEST_CASE("acpi-pm: the PM timer counts at 3.579545 MHz in 24 bits") {
    test::DeviceRig r;
    AcpiPm pm(r.ctx, IrqLine(&r.irqs, kSci));
    CHECK(r.io.read(AcpiPm::kTmrBlk, 4) == 0);
    r.advance(1'000'000'000);  // one second
    CHECK(r.io.read(AcpiPm::kTmrBlk, 4) == (3579545u & 0xffffff));
    r.advance(4'000'000'000);  // 5 s: 17,897,725 ticks, wrapped at 2^24
    CHECK(r.io.read(AcpiPm::kTmrBlk, 4) == (17897725u & 0xffffff));
    // Byte reads see the same count; the top byte is always 0.
    CHECK(r.inb(AcpiPm::kTmrBlk + 3) == 0);
    CHECK(r.inb(AcpiPm::kTmrBlk) == (17897725u & 0xff));
    // Read-only.
    r.io.write(AcpiPm::kTmrBlk, 4, 0);
    CHECK(r.io.read(AcpiPm::kTmrBlk, 4) == (17897725u & 0xffffff));
}

TEST_CASE("acpi-pm: TMR_STS on bit 23 toggles, write-1-to-clear, SCI only when enabled") {
    test::DeviceRig r;
    AcpiPm pm(r.ctx, IrqLine(&r.irqs, kSci));
    const int64_t toggle_ns = int64_t((1ull << 23) * 1'000'000'000ull / AcpiPm::kTimerHz) + 1;  // ~2.34 s
    r.advance(toggle_ns - 1000);
    CHECK((inw(r, AcpiPm::kEvtBlk) & AcpiPm::kTmrSts) == 0);
    r.advance(1000);
    CHECK((inw(r, AcpiPm::kEvtBlk) & AcpiPm::kTmrSts) != 0);
    CHECK_FALSE(r.irqs.levels[kSci]);  // not enabled: no SCI
    outw(r, AcpiPm::kEvtBlk, AcpiPm::kTmrSts);
    CHECK((inw(r, AcpiPm::kEvtBlk) & AcpiPm::kTmrSts) == 0);
    // Enabled: the next toggle raises the SCI from a timer, and clearing
    // the status lowers it.
    outw(r, AcpiPm::kEvtBlk + 2, AcpiPm::kTmrSts);
    CHECK(inw(r, AcpiPm::kEvtBlk + 2) == AcpiPm::kTmrSts);
    r.advance(toggle_ns);
    CHECK(r.irqs.levels[kSci]);
    outw(r, AcpiPm::kEvtBlk, AcpiPm::kTmrSts);
    CHECK_FALSE(r.irqs.levels[kSci]);
}

TEST_CASE("acpi-pm: SLP_EN with S5 powers off with status 0; other sleep types are ignored") {
    test::DeviceRig r;
    AcpiPm pm(r.ctx, IrqLine(&r.irqs, kSci));
    CHECK((inw(r, AcpiPm::kCntBlk) & AcpiPm::kSciEn) != 0);  // always in ACPI mode
    // SLP_TYP without SLP_EN: nothing happens; SLP_EN reads back 0.
    outw(r, AcpiPm::kCntBlk, uint16_t(AcpiPm::kSlpTypS5 << AcpiPm::kSlpTypShift));
    CHECK(r.control.exit_status == -1);
    CHECK((inw(r, AcpiPm::kCntBlk) & AcpiPm::kSlpEn) == 0);
    outw(r, AcpiPm::kCntBlk, uint16_t(1 << AcpiPm::kSlpTypShift | AcpiPm::kSlpEn));  // "S1"
    CHECK(r.control.exit_status == -1);
    outw(r, AcpiPm::kCntBlk, uint16_t(AcpiPm::kSlpTypS5 << AcpiPm::kSlpTypShift | AcpiPm::kSlpEn));
    CHECK(r.control.exit_status == 0);
}

TEST_CASE("acpi-pm: the power button raises the SCI when enabled; _TTS is remembered until reset") {
    test::DeviceRig r;
    AcpiPm pm(r.ctx, IrqLine(&r.irqs, kSci));
    pm.press_power_button();
    CHECK((inw(r, AcpiPm::kEvtBlk) & AcpiPm::kPwrBtnSts) != 0);
    CHECK_FALSE(r.irqs.levels[kSci]);
    outw(r, AcpiPm::kEvtBlk + 2, AcpiPm::kPwrBtnSts);
    CHECK(r.irqs.levels[kSci]);
    outw(r, AcpiPm::kEvtBlk, AcpiPm::kPwrBtnSts);
    CHECK_FALSE(r.irqs.levels[kSci]);

    CHECK(pm.announced_sleep_state() == 0);
    r.outb(AcpiPm::kTtsPort, AcpiPm::kSleepStateS5);
    CHECK(pm.announced_sleep_state() == AcpiPm::kSleepStateS5);
    CHECK(r.inb(AcpiPm::kTtsPort) == AcpiPm::kSleepStateS5);
    pm.reset();
    CHECK(pm.announced_sleep_state() == 0);
}

TEST_CASE("acpi-pm: a saved state with undefined register bits is refused") {
    test::DeviceRig r;
    AcpiPm pm(r.ctx, IrqLine(&r.irqs, kSci));
    StateWriter w;
    pm.describe(w);
    for (const char* field : {"pm1_sts", "pm1_en", "pm1_cnt"}) {
        test::PokeReader poke(w.data(), field, 0x4000);
        pm.describe(poke);
        CHECK_THROWS_AS(pm.post_load(), StateError);
    }
}

TEST_CASE("acpi tables: RSDP in the EBDA, checksums, and the FADT names the PM block") {
    const std::vector<uint8_t> t = acpi::build_tables();
    REQUIRE(t.size() == acpi::kEbdaSize);
    CHECK(std::memcmp(t.data(), "RSD PTR ", 8) == 0);
    CHECK(sum(t, 0, 20) == 0);
    const uint32_t rsdt = le32(t, 16) - acpi::kEbdaAddr;
    REQUIRE(rsdt < t.size());
    CHECK(std::memcmp(&t[rsdt], "RSDT", 4) == 0);
    CHECK(sum(t, rsdt, le32(t, rsdt + 4)) == 0);
    const uint32_t fadt = le32(t, rsdt + 36) - acpi::kEbdaAddr;
    REQUIRE(fadt < t.size());
    CHECK(std::memcmp(&t[fadt], "FACP", 4) == 0);
    CHECK(le32(t, fadt + 4) == 116);
    CHECK(sum(t, fadt, 116) == 0);
    CHECK(unsigned(t[fadt + 46] | t[fadt + 47] << 8) == AcpiPm::kSciIrq);
    CHECK(le32(t, fadt + 48) == 0);  // no SMI command port
    CHECK(le32(t, fadt + 56) == AcpiPm::kEvtBlk);
    CHECK(le32(t, fadt + 64) == AcpiPm::kCntBlk);
    CHECK(le32(t, fadt + 76) == AcpiPm::kTmrBlk);
    const uint32_t facs = le32(t, fadt + 36) - acpi::kEbdaAddr;
    CHECK(facs % 64 == 0);
    CHECK(std::memcmp(&t[facs], "FACS", 4) == 0);
    const uint32_t dsdt = le32(t, fadt + 40) - acpi::kEbdaAddr;
    REQUIRE(dsdt < t.size());
    CHECK(std::memcmp(&t[dsdt], "DSDT", 4) == 0);
    const uint32_t dsdt_len = le32(t, dsdt + 4);
    CHECK(sum(t, dsdt, dsdt_len) == 0);
    // \_S5 names the SLP_TYP value the device powers off on.
    const std::string aml(t.begin() + dsdt + 36, t.begin() + dsdt + dsdt_len);
    const size_t s5 = aml.find("_S5_");
    REQUIRE(s5 != std::string::npos);
    CHECK(uint8_t(aml[s5 + 7]) == 0x0a);
    CHECK(uint8_t(aml[s5 + 8]) == AcpiPm::kSlpTypS5);
    CHECK(aml.find("_TTS") != std::string::npos);
}

TEST_CASE("acpi tables: installed where the BDA's EBDA pointer finds them") {
    PhysicalMemory memory(2 * MiB);
    acpi::install_tables(memory);
    uint16_t segment = 0;
    memory.read_bytes(GuestPhys(acpi::kBdaEbdaPointer), &segment, 2);
    CHECK(uint32_t(segment * 16u) == acpi::kEbdaAddr);
    char sig[8];
    memory.read_bytes(GuestPhys(acpi::kEbdaAddr), sig, 8);
    CHECK(std::memcmp(sig, "RSD PTR ", 8) == 0);
}
