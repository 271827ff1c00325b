// One differential test: an instruction with its initial machine state, and
// the outcome of running it (on the host or in the emulator). Both sides use
// the same linear addresses (flat segments), so register values that are
// pointers mean the same thing on either side.
#pragma once
#include <array>
#include <cstdint>
#include <cstring>

namespace nomad86::hostdiff {

// The shared 32-bit address layout (linear = physical in the emulator; a
// fixed low mapping in the host's worker process).
namespace layout {
constexpr uint32_t kInsnAddr = 0x00100040;     // the instruction under test
constexpr uint32_t kWindowAddr = 0x00110000;   // data window (memory operands, strings, stack)
constexpr uint32_t kWindowSize = 1024;
constexpr uint32_t kStackTop = kWindowAddr + 0x380;  // initial ESP, inside the window
constexpr unsigned kMaxInsnLen = 15;
}  // namespace layout

// The x87 state as FNSAVE/FRSTOR store it in 32-bit protected mode (108
// bytes): FCW, FSW, full tag word (physical registers), FIP, FCS|FOP, FDP,
// FDS, then ST(0)..ST(7) as 80-bit values.
namespace fpu_image {
constexpr unsigned kSize = 108, kFcw = 0, kFsw = 4, kFtw = 8, kSt0 = 28;
}
using FpuImage = std::array<uint8_t, fpu_image::kSize>;
// FCW 0x037f, FSW 0, every register empty: the state after FNINIT.
inline FpuImage initial_fpu_image() {
    FpuImage f{};
    const uint16_t fcw = 0x037f, ftw = 0xffff;
    memcpy(&f[fpu_image::kFcw], &fcw, 2);
    memcpy(&f[fpu_image::kFtw], &ftw, 2);
    return f;
}

enum class Group : uint8_t { kAlu, kShift, kMulDiv, kBcd, kBit, kString, kCmovSetcc, kCmpxchgXaddBswap, kX87, kCount };

const char* group_name(Group g);

// EFLAGS bits the generator randomises and the comparison looks at.
constexpr uint32_t kFlagCF = 1u << 0, kFlagPF = 1u << 2, kFlagAF = 1u << 4, kFlagZF = 1u << 6,
                   kFlagSF = 1u << 7, kFlagDF = 1u << 10, kFlagOF = 1u << 11;
constexpr uint32_t kArithFlags = kFlagCF | kFlagPF | kFlagAF | kFlagZF | kFlagSF | kFlagOF;
constexpr uint32_t kComparedFlags = kArithFlags | kFlagDF;

struct TestCase {
    Group group = Group::kAlu;
    uint8_t len = 0;
    std::array<uint8_t, layout::kMaxInsnLen> bytes{};
    std::array<uint32_t, 8> gpr{};  // EAX ECX EDX EBX ESP EBP ESI EDI
    uint32_t eflags = 0x2;
    std::array<uint8_t, layout::kWindowSize> window{};
    FpuImage fpu = initial_fpu_image();
};

constexpr int kNoFault = -1;

struct Outcome {
    std::array<uint32_t, 8> gpr{};
    uint32_t eip = 0;
    uint32_t eflags = 0;
    int vector = kNoFault;       // exception raised, or kNoFault
    bool has_error_code = false;
    uint32_t error_code = 0;
    bool oracle_failed = false;  // the host worker died on this test
    std::array<uint8_t, layout::kWindowSize> window{};
    FpuImage fpu{};
};

}  // namespace nomad86::hostdiff
