// MOVS, CMPS, SCAS, LODS, STOS, INS, OUTS in byte/word/dword forms, with
// REP / REPE / REPNE, 16- or 32-bit address size (SI/DI/CX or ESI/EDI/ECX),
// DF, and the source segment override (the destination is always ES).
//
// REP is restartable: every iteration commits ECX/ESI/EDI, so a fault in
// iteration k leaves them as of that iteration with RIP at the instruction
// (the interpreter restores RIP). At most kChunk iterations run per call;
// then RIP is set back to the instruction and the block ends, so pending
// interrupts are taken between iterations as on hardware.
#include <algorithm>
#include <cstring>

#include "cpu/alu_flags.h"
#include "cpu/cpu.h"
#include "cpu/handlers.h"

namespace nomad86 {

namespace {

constexpr unsigned kChunk = 4096;

enum class StrOp { kMovs, kCmps, kScas, kLods, kStos, kIns, kOuts };

// Flags of CMP a, b at the given size.
uint32_t compare_flags(uint64_t a, uint64_t b, unsigned size, uint32_t f) {
    alu::by_size(size, [&](auto t) {
        using T = decltype(t);
        return uint64_t(alu::h_sub(T(a), T(b), f));
    });
    return f;
}

// REP MOVS / REP STOS going up, as many elements at once as lie in one
// page on each side (and before the address size wraps), straight between
// host pointers. Returns how many elements it did (0: the caller does the
// next one the ordinary way, which raises whatever fault is due).
template <StrOp kOp>
uint64_t bulk_string(Cpu& cpu, SegReg src_seg, unsigned size, unsigned asize, uint64_t most) {
    const uint64_t amask = alu::size_mask(asize);
    const uint64_t si = cpu.reg(kRsi, asize), di = cpu.reg(kRdi, asize);
    auto room = [&](SegReg seg, uint64_t offset) {
        const uint64_t linear = (cpu.s.seg[seg].base + offset) & 0xffffffffull;
        const uint64_t in_page = kPageSize - (linear & (kPageSize - 1));
        return std::min(in_page, amask - offset + 1) / size;
    };
    uint64_t n = std::min(most, room(kEs, di));
    if constexpr (kOp == StrOp::kMovs) n = std::min(n, room(src_seg, si));
    if (n == 0) return 0;
    const uint8_t* src = nullptr;
    if constexpr (kOp == StrOp::kMovs) {
        src = cpu.direct_access(src_seg, si, n * size, AccessKind::kRead);
        if (!src) return 0;
    }
    uint8_t* dst = cpu.direct_access(kEs, di, n * size, AccessKind::kWrite);
    if (!dst) return 0;
    const uint64_t bytes = n * size;
    if constexpr (kOp == StrOp::kMovs) {
        if (dst > src && dst < src + bytes) {
            // Overlapping with the destination ahead: element by element
            // forwards (each read whole before its write), as the
            // instruction repeats its pattern.
            for (uint64_t i = 0; i < bytes; i += size) {
                uint32_t element;
                memcpy(&element, src + i, size);
                memcpy(dst + i, &element, size);
            }
        } else {
            memmove(dst, src, bytes);
        }
        cpu.set_reg(kRsi, asize, (si + bytes) & amask);
    } else {
        const uint64_t v = cpu.reg(kRax, size);
        if (size == 1) memset(dst, int(v & 0xff), bytes);
        else
            for (uint64_t i = 0; i < bytes; i += size) memcpy(dst + i, &v, size);
    }
    cpu.set_reg(kRdi, asize, (di + bytes) & amask);
    cpu.set_reg(kRcx, asize, cpu.reg(kRcx, asize) - n);
    return n;
}

template <StrOp kOp>
void exec_string(Cpu& cpu, const DecodedInsn& insn) {
    if (insn.opcode_map != 0) cpu.raise_unimplemented(insn);  // SSE MOVSD/CMPSD share the mnemonic
    const unsigned size = insn.opsize;
    const unsigned asize = insn.addrsize;
    const uint64_t amask = alu::size_mask(asize);
    const SegReg src_seg = insn.seg_override != kNoReg ? SegReg(insn.seg_override) : kDs;
    const bool rep = insn.prefixes & (kPrefixRep | kPrefixRepne);
    const bool repne = insn.prefixes & kPrefixRepne;
    const uint64_t delta = cpu.flag(flags::DF) ? uint64_t(0) - size : uint64_t(size);
    constexpr bool kUsesSi = kOp == StrOp::kMovs || kOp == StrOp::kCmps || kOp == StrOp::kLods || kOp == StrOp::kOuts;
    constexpr bool kUsesDi = kOp == StrOp::kMovs || kOp == StrOp::kCmps || kOp == StrOp::kScas ||
                             kOp == StrOp::kStos || kOp == StrOp::kIns;
    constexpr bool kCompares = kOp == StrOp::kCmps || kOp == StrOp::kScas;

    // INS/OUTS check I/O permission first: #GP(0) even when a REP count is 0
    // (SDM INS/OUTS, and what hardware does).
    if constexpr (kOp == StrOp::kIns || kOp == StrOp::kOuts)
        cpu.check_io_permission(uint16_t(cpu.reg(kRdx, 2)), size);
    uint64_t count = rep ? cpu.reg(kRcx, asize) : 1;
    if (count == 0) return;
    for (unsigned n = 0;;) {
        if constexpr (kOp == StrOp::kMovs || kOp == StrOp::kStos) {
            if (rep && count > 1 && delta == size) {
                const uint64_t done = bulk_string<kOp>(cpu, src_seg, size, asize, std::min<uint64_t>(count, kChunk - n));
                if (done) {
                    count -= done;
                    if (count == 0) return;
                    n += unsigned(done);
                    if (n >= kChunk) {
                        cpu.s.rip = cpu.current_insn_rip();
                        cpu.end_block();
                        return;
                    }
                    continue;
                }
            }
        }
        const uint64_t si = cpu.reg(kRsi, asize);
        const uint64_t di = cpu.reg(kRdi, asize);
        switch (kOp) {
        case StrOp::kMovs: {
            const uint64_t v = cpu.read_mem(src_seg, si, size);
            cpu.write_mem(kEs, di, size, v);
            break;
        }
        case StrOp::kCmps: {
            const uint64_t a = cpu.read_mem(src_seg, si, size);
            const uint64_t b = cpu.read_mem(kEs, di, size);
            const uint32_t f = compare_flags(a, b, size, uint32_t(cpu.s.status_flags));
            cpu.set_status_flags(f & flags::ARITH);
            break;
        }
        case StrOp::kScas: {
            const uint64_t b = cpu.read_mem(kEs, di, size);
            const uint32_t f = compare_flags(cpu.reg(kRax, size), b, size, uint32_t(cpu.s.status_flags));
            cpu.set_status_flags(f & flags::ARITH);
            break;
        }
        case StrOp::kLods:
            cpu.set_reg(kRax, size, cpu.read_mem(src_seg, si, size));
            break;
        case StrOp::kStos:
            cpu.write_mem(kEs, di, size, cpu.reg(kRax, size));
            break;
        case StrOp::kIns: {
            cpu.check_write(kEs, di, size);
            const uint64_t v = cpu.port_in(uint16_t(cpu.reg(kRdx, 2)), size);
            cpu.write_mem(kEs, di, size, v);
            break;
        }
        case StrOp::kOuts: {
            const uint64_t v = cpu.read_mem(src_seg, si, size);
            cpu.port_out(uint16_t(cpu.reg(kRdx, 2)), size, uint32_t(v));
            break;
        }
        }
        if (kUsesSi) cpu.set_reg(kRsi, asize, (si + delta) & amask);
        if (kUsesDi) cpu.set_reg(kRdi, asize, (di + delta) & amask);
        if (!rep) return;
        cpu.set_reg(kRcx, asize, --count);
        if (count == 0) return;
        if (kCompares && cpu.flag(flags::ZF) == repne) return;
        if (++n == kChunk) {
            cpu.s.rip = cpu.current_insn_rip();
            cpu.end_block();
            return;
        }
    }
}

}  // namespace

void register_string_handlers(HandlerTable& t) {
    for (auto m : {ZYDIS_MNEMONIC_MOVSB, ZYDIS_MNEMONIC_MOVSW, ZYDIS_MNEMONIC_MOVSD}) t[m] = exec_string<StrOp::kMovs>;
    for (auto m : {ZYDIS_MNEMONIC_CMPSB, ZYDIS_MNEMONIC_CMPSW, ZYDIS_MNEMONIC_CMPSD}) t[m] = exec_string<StrOp::kCmps>;
    for (auto m : {ZYDIS_MNEMONIC_SCASB, ZYDIS_MNEMONIC_SCASW, ZYDIS_MNEMONIC_SCASD}) t[m] = exec_string<StrOp::kScas>;
    for (auto m : {ZYDIS_MNEMONIC_LODSB, ZYDIS_MNEMONIC_LODSW, ZYDIS_MNEMONIC_LODSD}) t[m] = exec_string<StrOp::kLods>;
    for (auto m : {ZYDIS_MNEMONIC_STOSB, ZYDIS_MNEMONIC_STOSW, ZYDIS_MNEMONIC_STOSD}) t[m] = exec_string<StrOp::kStos>;
    for (auto m : {ZYDIS_MNEMONIC_INSB, ZYDIS_MNEMONIC_INSW, ZYDIS_MNEMONIC_INSD}) t[m] = exec_string<StrOp::kIns>;
    for (auto m : {ZYDIS_MNEMONIC_OUTSB, ZYDIS_MNEMONIC_OUTSW, ZYDIS_MNEMONIC_OUTSD}) t[m] = exec_string<StrOp::kOuts>;
}

}  // namespace nomad86
