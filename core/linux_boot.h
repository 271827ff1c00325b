// Linux's 32-bit boot protocol (Documentation/arch/x86/boot.rst): the
// protected-mode kernel of a bzImage at 1 MiB, a zero page (struct
// boot_params) built from the image's setup header with an e820 map, the
// command line and the initrd, and entry in flat 32-bit protected mode.
#pragma once
#include <cstdint>
#include <vector>

#include "core/kernel_image.h"

namespace nomad86 {

// Fixed places of the 32-bit protocol's data in guest memory.
namespace linux_boot {
constexpr uint32_t kBootParamsAddr = 0x10000;  // the zero page, 4 KiB
constexpr uint32_t kStackTop = 0x10000;        // ESP at entry, below the zero page
constexpr uint32_t kCmdlineAddr = 0x20000;     // command line, up to cmdline_size
constexpr uint32_t kKernelAddr = 0x100000;     // the protected-mode kernel (code32_start)
constexpr uint16_t kMinProtocol = 0x206;       // 2.06: cmdline_size, 32-bit entry with boot_params
constexpr uint8_t kTypeOfLoader = 0xff;        // "undefined" boot loader

// Setup header and boot_params offsets used here.
constexpr unsigned kE820Entries = 0x1e8, kSetupSects = 0x1f1, kBootFlag = 0x1fe, kJump = 0x200,
                   kHeader = 0x202, kVersion = 0x206, kTypeOfLoaderOff = 0x210, kLoadflags = 0x211,
                   kCode32Start = 0x214, kRamdiskImage = 0x218, kRamdiskSize = 0x21c, kHeapEndPtr = 0x224,
                   kCmdLinePtr = 0x228, kInitrdAddrMax = 0x22c, kCmdlineSize = 0x238, kPrefAddress = 0x258,
                   kInitSize = 0x260, kAltMemK = 0x1e0, kE820Table = 0x2d0;
constexpr unsigned kE820Max = 128;  // entries in boot_params' table
constexpr uint8_t kLoadedHigh = 0x01, kCanUseHeap = 0x80;
}  // namespace linux_boot

// True when the image has the "HdrS" setup header signature at 0x202.
bool is_linux_bzimage(const std::vector<uint8_t>& image);

// Loads a bzImage (boot.modules: at most one, the initrd) and sets the entry
// state: ESI = boot_params, EIP = 1 MiB, CS 0x10/DS 0x18 flat. Throws
// MachineError when the image is too old or malformed or does not fit.
void load_linux(const KernelBoot& boot, PhysicalMemory& memory, CpuState& cpu);

}  // namespace nomad86
