// A decoded guest instruction in the form the interpreter executes (and the
// JIT will translate). Zydis decodes the bytes once; the block decoder turns
// its output into this compact form and picks the handler, so executing an
// instruction is one indirect call with no decoding left to do.
#pragma once
#include <cstdint>

namespace nomad86 {

class Cpu;
struct DecodedInsn;

// Executes one instruction. On entry rip already points past it (as on
// hardware during execution); the handler updates state and may throw
// CpuException, which restores rip/rsp/rflags to the instruction's start.
using InsnHandler = void (*)(Cpu& cpu, const DecodedInsn& insn);

enum class OpKind : uint8_t { kNone, kReg, kMem, kImm, kFarPtr };

enum class RegClass : uint8_t {
    kGpr,       // reg = Gpr index; size says which part (AL/AX/EAX/RAX)
    kGprHigh8,  // reg = 0..3 for AH, CH, DH, BH
    kSeg,       // reg = SegReg
    kCr,        // reg = control register number
    kDr,        // reg = debug register number
    kFpu,       // reg = ST(i) index
    kOther,     // anything else (MMX/XMM later): handlers raise #UD
};

constexpr uint8_t kNoReg = 0xff;

struct Operand {
    OpKind kind = OpKind::kNone;
    uint8_t size = 0;  // in bytes (1, 2, 4, 6 for m16:32, 8, 10 ...)
    // kReg
    RegClass reg_class = RegClass::kGpr;
    uint8_t reg = kNoReg;
    // kMem: effective address = base + index*scale + disp, truncated to the
    // instruction's address size, in segment `seg` (override already applied).
    uint8_t seg = 0;
    uint8_t base = kNoReg;   // Gpr index or kNoReg
    uint8_t index = kNoReg;  // Gpr index or kNoReg
    uint8_t scale_shift = 0; // log2(scale)
    bool relative = false;   // kImm: a branch displacement relative to the next instruction
    int64_t disp = 0;
    // kImm: the immediate, sign- or zero-extended to 64 bits as the encoding says.
    // kFarPtr: selector in `far_selector`, offset in `imm`.
    uint64_t imm = 0;
    uint16_t far_selector = 0;
};

enum InsnPrefix : uint8_t {
    kPrefixRep = 1,     // F3 (REP / REPE)
    kPrefixRepne = 2,   // F2
    kPrefixLock = 4,
    kPrefixSegment = 8, // an explicit segment override is present (seg_override)
    kPrefixOpsize = 16,
    kPrefixAddrsize = 32,
};

enum InsnFlag : uint8_t {
    kInsnEndsBlock = 1,   // a control transfer or a mode change: the block ends after it
    kInsnCrossesPage = 2, // its bytes span two guest pages
};

struct DecodedInsn {
    InsnHandler handler = nullptr;
    uint16_t mnemonic = 0;    // ZydisMnemonic
    uint8_t length = 0;       // bytes
    uint8_t opsize = 0;       // operand size in bytes (1, 2, 4, 8), Zydis's operand_width / 8
    uint8_t addrsize = 0;     // address size in bytes (2, 4, 8)
    uint8_t prefixes = 0;     // InsnPrefix bits
    uint8_t seg_override = kNoReg;  // SegReg of an explicit override, else kNoReg
    uint8_t flags = 0;        // InsnFlag bits
    uint8_t opcode = 0;       // the opcode byte after any 0F escape (handlers that share a mnemonic)
    uint8_t opcode_map = 0;   // 0 = one-byte map, 1 = 0F, 2 = 0F38, 3 = 0F3A
    uint8_t modrm_reg = 0;    // ModRM.reg (the /digit), for group opcodes
    uint8_t modrm = 0;        // the whole ModRM byte, 0 without one (x87's FOP)
    // The arithmetic flags (EFLAGS bit positions) the instruction reads and
    // writes, as Zydis describes it (undefined results count as written):
    // the JIT's flag liveness.
    uint16_t flags_read = 0;
    uint16_t flags_written = 0;
    // Visible operands in ops[]. Instructions with only implicit operands
    // (string instructions, XLAT, PUSHA...) have none: their handlers use
    // opsize, addrsize and seg_override.
    uint8_t num_ops = 0;
    Operand ops[3];
};

}  // namespace nomad86
