// Turns guest bytes into a DecodedBlock with Zydis. It knows nothing of
// where the bytes come from: the CPU hands it a fetch window.
#pragma once
#include <cstdint>
#include <string>

#include <Zydis/Zydis.h>

#include "cpu/decoded_block.h"

namespace nomad86 {

class Logger;

class BlockDecoder {
public:
    static constexpr unsigned kMaxInsnsPerBlock = 64;

    BlockDecoder();

    // Decodes a block from `bytes` (the code from the block's first byte up
    // to the end of its page, plus up to 15 bytes of the next page when the
    // caller could fetch them; `page_bytes` marks where the first page ends).
    // The block ends after a control transfer, at the page end, or at the
    // size limit. An undecodable instruction becomes a #UD instruction, so a
    // block always holds at least one instruction.
    void decode(DecodedBlock& block, const uint8_t* bytes, size_t available, size_t page_bytes,
                uint64_t linear_pc, Logger* log, unsigned max_insns = kMaxInsnsPerBlock) const;

    // Zydis disassembly of one instruction (traces, debugger, monitor).
    std::string disassemble(DecodeMode mode, const uint8_t* bytes, size_t len, uint64_t pc) const;

private:
    const ZydisDecoder& decoder_for(DecodeMode mode) const;
    ZydisDecoder real16_, prot16_, prot32_;
    ZydisFormatter formatter_;
};

}  // namespace nomad86
