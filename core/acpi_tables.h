// The ACPI tables a direct kernel boot publishes, in place of a BIOS: just
// enough for an OS to find the fixed-hardware PM block (devices/acpi_pm.h)
// and power the machine off through S5. ACPI 1.0 layout (RSDP, RSDT, FADT
// revision 1, FACS, DSDT); no MADT (there is no local APIC or IOAPIC, so the
// OS uses the 8259s) and no MCFG/HPET, since those devices do not exist.
//
// Everything lives in the extended BIOS data area (0x9FC00, 1 KiB, reserved
// in the e820 map) and the BIOS data area's EBDA pointer (0x40E) names it,
// so the RSDP is found by the standard scan of the EBDA's first kilobyte.
#pragma once
#include <cstdint>
#include <vector>

#include "mmu/phys_memory.h"

namespace nomad86::acpi {

constexpr uint32_t kEbdaAddr = 0x9fc00;
constexpr uint32_t kEbdaSize = 0x400;
constexpr uint32_t kBdaEbdaPointer = 0x40e;  // BDA word: EBDA segment

// The tables as they sit at kEbdaAddr (RSDP first), kEbdaSize bytes.
std::vector<uint8_t> build_tables();
// Writes the tables into guest RAM and points the BDA at them.
void install_tables(PhysicalMemory& memory);

}  // namespace nomad86::acpi
