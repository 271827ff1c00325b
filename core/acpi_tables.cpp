#include "core/acpi_tables.h"

#include <cstring>
#include <string_view>

#include "devices/acpi_pm.h"

namespace nomad86::acpi {

namespace {

// Offsets of each table inside the EBDA (RSDP 16-byte, FACS 64-byte aligned).
constexpr uint32_t kRsdpOff = 0x000, kFacsOff = 0x040, kRsdtOff = 0x080, kFadtOff = 0x0c0, kDsdtOff = 0x140;
constexpr uint32_t kHeaderSize = 36, kRsdpSize = 20, kFacsSize = 64, kFadtSize = 116;

// FADT flags (ACPI 6.4 table 5.10).
constexpr uint32_t kFlagWbinvd = 1u << 0, kFlagProcC1 = 1u << 2, kFlagSlpButton = 1u << 5, kFlagFixRtc = 1u << 6;

// The DSDT's code, hand-assembled AML (ACPI 6.4 chapter 20):
//   Name (_S5, Package () { S5, S5, 0, 0 })   sleep type values the OS writes
//                                             to PM1a_CNT.SLP_TYP to power off
//   OperationRegion (PMTT, SystemIO, kTtsPort, 1)
//   Field (PMTT, ByteAcc, NoLock, Preserve) { TTSR, 8 }
//   Method (_TTS, 1) { Store (Arg0, TTSR) }   the OS announces a transition
constexpr uint8_t kS5 = AcpiPm::kSlpTypS5;
constexpr uint8_t kTtsLo = AcpiPm::kTtsPort & 0xff, kTtsHi = AcpiPm::kTtsPort >> 8;
constexpr uint8_t kDsdtAml[] = {
    0x08, '_', 'S', '5', '_',                      // NameOp "_S5_"
    0x12, 0x08, 0x04,                              // PackageOp, PkgLength 8, NumElements 4
    0x0a, kS5, 0x0a, kS5,                          // BytePrefix S5, BytePrefix S5
    0x00, 0x00,                                    // Zero, Zero
    0x5b, 0x80, 'P', 'M', 'T', 'T', 0x01,          // OperationRegionOp "PMTT", SystemIO
    0x0b, kTtsLo, kTtsHi, 0x01,                    // offset WordConst, length One
    0x5b, 0x81, 0x0b, 'P', 'M', 'T', 'T', 0x01,    // FieldOp, PkgLength 11, "PMTT", ByteAcc
    'T', 'T', 'S', 'R', 0x08,                      // NamedField "TTSR", 8 bits
    0x14, 0x0c, '_', 'T', 'T', 'S', 0x01,          // MethodOp, PkgLength 12, "_TTS", 1 argument
    0x70, 0x68, 'T', 'T', 'S', 'R',                // Store (Arg0, TTSR)
};

void put(std::vector<uint8_t>& t, uint32_t off, unsigned size, uint64_t value) {
    for (unsigned i = 0; i < size; i++) t[off + i] = uint8_t(value >> (8 * i));
}

void put_text(std::vector<uint8_t>& t, uint32_t off, std::string_view text) {
    std::memcpy(&t[off], text.data(), text.size());
}

uint8_t checksum(const std::vector<uint8_t>& t, uint32_t off, uint32_t len) {
    uint8_t sum = 0;
    for (uint32_t i = 0; i < len; i++) sum = uint8_t(sum + t[off + i]);
    return uint8_t(-sum);
}

// The common 36-byte description header; the checksum is filled last.
void header(std::vector<uint8_t>& t, uint32_t off, std::string_view signature, uint32_t length, uint8_t revision) {
    put_text(t, off, signature);
    put(t, off + 4, 4, length);
    t[off + 8] = revision;
    put_text(t, off + 10, "NOMAD ");    // OEM ID, 6 bytes
    put_text(t, off + 16, "NOMAD86 ");  // OEM table ID, 8 bytes
    put(t, off + 24, 4, 1);             // OEM revision
    put_text(t, off + 28, "NMAD");      // creator ID
    put(t, off + 32, 4, 1);             // creator revision
}

void seal(std::vector<uint8_t>& t, uint32_t off, uint32_t length) { t[off + 9] = checksum(t, off, length); }

}  // namespace

std::vector<uint8_t> build_tables() {
    std::vector<uint8_t> t(kEbdaSize, 0);

    // DSDT: only \_S5.
    const uint32_t dsdt_len = kHeaderSize + sizeof(kDsdtAml);
    header(t, kDsdtOff, "DSDT", dsdt_len, 1);  // revision 1: 32-bit integers
    std::memcpy(&t[kDsdtOff + kHeaderSize], kDsdtAml, sizeof(kDsdtAml));
    seal(t, kDsdtOff, dsdt_len);

    // FACS: no waking vector (no S3), no global lock users.
    put_text(t, kFacsOff, "FACS");
    put(t, kFacsOff + 4, 4, kFacsSize);

    // FADT revision 1 (ACPI 1.0, 116 bytes): the PM1a blocks and the timer.
    const uint32_t f = kFadtOff;
    header(t, f, "FACP", kFadtSize, 1);
    put(t, f + 36, 4, kEbdaAddr + kFacsOff);  // FIRMWARE_CTRL
    put(t, f + 40, 4, kEbdaAddr + kDsdtOff);  // DSDT
    t[f + 44] = 0;                            // INT_MODEL: dual 8259
    put(t, f + 46, 2, AcpiPm::kSciIrq);       // SCI_INT
    put(t, f + 48, 4, 0);                     // SMI_CMD: none, always in ACPI mode
    put(t, f + 56, 4, AcpiPm::kEvtBlk);       // PM1a_EVT_BLK
    put(t, f + 64, 4, AcpiPm::kCntBlk);       // PM1a_CNT_BLK
    put(t, f + 76, 4, AcpiPm::kTmrBlk);       // PM_TMR_BLK
    t[f + 88] = AcpiPm::kEvtLen;              // PM1_EVT_LEN
    t[f + 89] = AcpiPm::kCntLen;              // PM1_CNT_LEN
    t[f + 91] = AcpiPm::kTmrLen;              // PM_TMR_LEN
    put(t, f + 96, 2, 101);                   // P_LVL2_LAT > 100: no C2
    put(t, f + 98, 2, 1001);                  // P_LVL3_LAT > 1000: no C3
    put(t, f + 112, 4, kFlagWbinvd | kFlagProcC1 | kFlagSlpButton | kFlagFixRtc);
    seal(t, f, kFadtSize);

    // RSDT: the FADT (which leads to the FACS and DSDT).
    const uint32_t rsdt_len = kHeaderSize + 4;
    header(t, kRsdtOff, "RSDT", rsdt_len, 1);
    put(t, kRsdtOff + kHeaderSize, 4, kEbdaAddr + kFadtOff);
    seal(t, kRsdtOff, rsdt_len);

    // RSDP, ACPI 1.0 form (revision 0, 20 bytes).
    put_text(t, kRsdpOff, "RSD PTR ");
    put_text(t, kRsdpOff + 9, "NOMAD ");
    t[kRsdpOff + 15] = 0;
    put(t, kRsdpOff + 16, 4, kEbdaAddr + kRsdtOff);
    t[kRsdpOff + 8] = checksum(t, kRsdpOff, kRsdpSize);
    return t;
}

void install_tables(PhysicalMemory& memory) {
    const std::vector<uint8_t> tables = build_tables();
    memory.write_bytes(GuestPhys(kEbdaAddr), tables.data(), tables.size());
    const uint16_t ebda_segment = uint16_t(kEbdaAddr >> 4);
    memory.write_bytes(GuestPhys(kBdaEbdaPointer), &ebda_segment, sizeof ebda_segment);
}

}  // namespace nomad86::acpi
