#include "cpu/block_decoder.h"

#include <cinttypes>
#include <cstring>

#include "core/log.h"
#include "cpu/cpu_state.h"
#include "cpu/handlers.h"

namespace nomad86 {

namespace {

// Maps a Zydis register to our class and index. Zydis keeps each register
// family contiguous in its enum, which is what this relies on.
bool map_register(ZydisRegister r, RegClass* cls, uint8_t* index) {
    if (r >= ZYDIS_REGISTER_AH && r <= ZYDIS_REGISTER_BH) {
        *cls = RegClass::kGprHigh8;
        *index = uint8_t(r - ZYDIS_REGISTER_AH);
        return true;
    }
    if (r >= ZYDIS_REGISTER_AL && r <= ZYDIS_REGISTER_BL) {
        *cls = RegClass::kGpr;
        *index = uint8_t(r - ZYDIS_REGISTER_AL);
        return true;
    }
    if (r >= ZYDIS_REGISTER_SPL && r <= ZYDIS_REGISTER_R15B) {
        *cls = RegClass::kGpr;
        *index = uint8_t(4 + (r - ZYDIS_REGISTER_SPL));
        return true;
    }
    struct Family { ZydisRegister first, last; RegClass cls; };
    static constexpr Family kFamilies[] = {
        {ZYDIS_REGISTER_AX, ZYDIS_REGISTER_R15W, RegClass::kGpr},
        {ZYDIS_REGISTER_EAX, ZYDIS_REGISTER_R15D, RegClass::kGpr},
        {ZYDIS_REGISTER_RAX, ZYDIS_REGISTER_R15, RegClass::kGpr},
        {ZYDIS_REGISTER_ES, ZYDIS_REGISTER_GS, RegClass::kSeg},
        {ZYDIS_REGISTER_CR0, ZYDIS_REGISTER_CR15, RegClass::kCr},
        {ZYDIS_REGISTER_DR0, ZYDIS_REGISTER_DR15, RegClass::kDr},
        {ZYDIS_REGISTER_ST0, ZYDIS_REGISTER_ST7, RegClass::kFpu},
    };
    for (const Family& f : kFamilies) {
        if (r >= f.first && r <= f.last) {
            *cls = f.cls;
            *index = uint8_t(r - f.first);
            return true;
        }
    }
    *cls = RegClass::kOther;
    *index = kNoReg;
    return false;
}

uint8_t gpr_index(ZydisRegister r) {
    if (r == ZYDIS_REGISTER_NONE) return kNoReg;
    RegClass cls;
    uint8_t idx;
    if (map_register(r, &cls, &idx) && cls == RegClass::kGpr) return idx;
    return kNoReg;  // EIP/RIP-relative cannot occur outside long mode
}

uint8_t segment_index(ZydisRegister r) {
    if (r >= ZYDIS_REGISTER_ES && r <= ZYDIS_REGISTER_GS) return uint8_t(r - ZYDIS_REGISTER_ES);
    return kDs;
}

bool ends_block(const ZydisDecodedInstruction& zi) {
    switch (zi.meta.category) {
    case ZYDIS_CATEGORY_COND_BR:
    case ZYDIS_CATEGORY_UNCOND_BR:
    case ZYDIS_CATEGORY_CALL:
    case ZYDIS_CATEGORY_RET:
    case ZYDIS_CATEGORY_INTERRUPT:
    case ZYDIS_CATEGORY_SYSTEM:
    case ZYDIS_CATEGORY_SYSCALL:
    case ZYDIS_CATEGORY_SYSRET:
        return true;
    default:
        break;
    }
    switch (zi.mnemonic) {
    case ZYDIS_MNEMONIC_LOOP:
    case ZYDIS_MNEMONIC_LOOPE:
    case ZYDIS_MNEMONIC_LOOPNE:
    case ZYDIS_MNEMONIC_JCXZ:
    case ZYDIS_MNEMONIC_JECXZ:
    case ZYDIS_MNEMONIC_POPF:
    case ZYDIS_MNEMONIC_POPFD:
    case ZYDIS_MNEMONIC_STI:
    case ZYDIS_MNEMONIC_CLI:
    case ZYDIS_MNEMONIC_HLT:
        return true;
    default:
        return false;
    }
}

void convert(const ZydisDecodedInstruction& zi, const ZydisDecodedOperand* zops, DecodedInsn& out) {
    out.mnemonic = uint16_t(zi.mnemonic);
    out.length = zi.length;
    out.opsize = uint8_t(zi.operand_width / 8);
    out.addrsize = uint8_t(zi.address_width / 8);
    out.opcode = zi.opcode;
    out.opcode_map = uint8_t(zi.opcode_map);
    out.modrm_reg = zi.raw.modrm.reg;
    if (zi.attributes & ZYDIS_ATTRIB_HAS_MODRM)
        out.modrm = uint8_t(zi.raw.modrm.mod << 6 | zi.raw.modrm.reg << 3 | zi.raw.modrm.rm);
    if (zi.cpu_flags) {
        const ZydisAccessedFlags& f = *zi.cpu_flags;
        out.flags_read = uint16_t(f.tested & flags::ARITH);
        out.flags_written = uint16_t((f.modified | f.set_0 | f.set_1 | f.undefined) & flags::ARITH);
    }
    const auto a = zi.attributes;
    if (a & ZYDIS_ATTRIB_HAS_REP || a & ZYDIS_ATTRIB_HAS_REPE) out.prefixes |= kPrefixRep;
    if (a & ZYDIS_ATTRIB_HAS_REPNE) out.prefixes |= kPrefixRepne;
    if (a & ZYDIS_ATTRIB_HAS_LOCK) out.prefixes |= kPrefixLock;
    if (a & ZYDIS_ATTRIB_HAS_OPERANDSIZE) out.prefixes |= kPrefixOpsize;
    if (a & ZYDIS_ATTRIB_HAS_ADDRESSSIZE) out.prefixes |= kPrefixAddrsize;
    static constexpr struct { ZydisInstructionAttributes attr; SegReg seg; } kSegAttrs[] = {
        {ZYDIS_ATTRIB_HAS_SEGMENT_ES, kEs}, {ZYDIS_ATTRIB_HAS_SEGMENT_CS, kCs}, {ZYDIS_ATTRIB_HAS_SEGMENT_SS, kSs},
        {ZYDIS_ATTRIB_HAS_SEGMENT_DS, kDs}, {ZYDIS_ATTRIB_HAS_SEGMENT_FS, kFs}, {ZYDIS_ATTRIB_HAS_SEGMENT_GS, kGs},
    };
    for (const auto& s : kSegAttrs) {
        if (a & s.attr) {
            out.prefixes |= kPrefixSegment;
            out.seg_override = s.seg;
        }
    }
    // Zydis reads a final 3E on an indirect CALL/JMP as NOTRACK (CET) and
    // drops it as a segment override; without CET it is the DS override
    // (SDM Vol. 2A 2.1.1), which matters for [BP+...] operands.
    const bool notrack_ds = a & ZYDIS_ATTRIB_HAS_NOTRACK;
    if (notrack_ds) {
        out.prefixes |= kPrefixSegment;
        out.seg_override = kDs;
    }
    out.num_ops = 0;
    for (unsigned i = 0; i < zi.operand_count_visible && out.num_ops < 3; i++) {
        const ZydisDecodedOperand& z = zops[i];
        Operand& op = out.ops[out.num_ops++];
        op.size = uint8_t((z.size + 7) / 8);
        switch (z.type) {
        case ZYDIS_OPERAND_TYPE_REGISTER:
            op.kind = OpKind::kReg;
            map_register(z.reg.value, &op.reg_class, &op.reg);
            break;
        case ZYDIS_OPERAND_TYPE_MEMORY:
            op.kind = OpKind::kMem;
            op.seg = notrack_ds ? uint8_t(kDs) : segment_index(z.mem.segment);
            op.base = gpr_index(z.mem.base);
            op.index = gpr_index(z.mem.index);
            op.scale_shift = z.mem.scale == 8 ? 3 : z.mem.scale == 4 ? 2 : z.mem.scale == 2 ? 1 : 0;
            op.disp = z.mem.disp.has_displacement ? z.mem.disp.value : 0;
            break;
        case ZYDIS_OPERAND_TYPE_POINTER:
            op.kind = OpKind::kFarPtr;
            op.far_selector = z.ptr.segment;
            op.imm = z.ptr.offset;
            break;
        case ZYDIS_OPERAND_TYPE_IMMEDIATE:
            op.kind = OpKind::kImm;
            op.relative = z.imm.is_relative;
            op.imm = z.imm.value.u;
            // A sign-extended immediate (83 /0 ib, 6A ib, 6B ib) has the
            // instruction's operand size, not its encoded size.
            if (z.imm.is_signed && !z.imm.is_relative && op.size < out.opsize) op.size = out.opsize;
            break;
        default:
            op.kind = OpKind::kNone;
            break;
        }
    }
    if (ends_block(zi)) out.flags |= kInsnEndsBlock;
}

}  // namespace

BlockDecoder::BlockDecoder() {
    ZydisDecoderInit(&real16_, ZYDIS_MACHINE_MODE_REAL_16, ZYDIS_STACK_WIDTH_16);
    ZydisDecoderInit(&prot16_, ZYDIS_MACHINE_MODE_LEGACY_16, ZYDIS_STACK_WIDTH_16);
    ZydisDecoderInit(&prot32_, ZYDIS_MACHINE_MODE_LEGACY_32, ZYDIS_STACK_WIDTH_32);
    // The modelled CPU predates BMI1/ABM, MPX, CET and CLDEMOTE: F3 0F BC/BD
    // are BSF/BSR with an ignored REP prefix (Linux's __ffs uses "rep; bsf"),
    // and the 0F 1A-1E forms those extensions claim are the hint NOPs.
    for (ZydisDecoder* d : {&real16_, &prot16_, &prot32_})
        for (ZydisDecoderMode m : {ZYDIS_DECODER_MODE_LZCNT, ZYDIS_DECODER_MODE_TZCNT, ZYDIS_DECODER_MODE_MPX,
                                   ZYDIS_DECODER_MODE_CET, ZYDIS_DECODER_MODE_CLDEMOTE})
            ZydisDecoderEnableMode(d, m, ZYAN_FALSE);
    ZydisFormatterInit(&formatter_, ZYDIS_FORMATTER_STYLE_INTEL);
}

const ZydisDecoder& BlockDecoder::decoder_for(DecodeMode mode) const {
    switch (mode) {
    case DecodeMode::kReal16: return real16_;
    case DecodeMode::kProt16: return prot16_;
    default: return prot32_;
    }
}

void BlockDecoder::decode(DecodedBlock& block, const uint8_t* bytes, size_t available, size_t page_bytes,
                          uint64_t linear_pc, Logger* log, unsigned max_insns) const {
    const ZydisDecoder& dec = decoder_for(block.key.mode);
    const HandlerTable& handlers = handler_table();
    bool trace = log && log->enabled(kLogInAsm) && log->in_filter(linear_pc);
    if (trace) log->log(kLogInAsm, "IN: phys=0x%08" PRIx64 "\n", block.key.phys);
    size_t pos = 0;
    block.insns.clear();
    block.last_page = block.first_page;
    while (block.insns.size() < max_insns && pos < page_bytes) {
        ZydisDecodedInstruction zi;
        ZydisDecodedOperand zops[ZYDIS_MAX_OPERAND_COUNT];
        DecodedInsn insn;
        ZyanStatus st = ZydisDecoderDecodeFull(&dec, bytes + pos, available - pos, &zi, zops);
        if (!ZYAN_SUCCESS(st)) {
            // Bytes that are not an instruction (or that run past what could
            // be fetched): #UD when executed. If the bytes merely continue on
            // an unfetchable next page, the fetch will fault when re-decoded
            // as the first instruction of a block.
            if (st == ZYDIS_STATUS_NO_MORE_DATA && pos > 0) break;
            insn.handler = exec_unimplemented;
            insn.mnemonic = ZYDIS_MNEMONIC_INVALID;
            insn.length = 1;
            insn.flags = kInsnEndsBlock;
            block.insns.push_back(insn);
            if (trace) log->log(kLogInAsm, "0x%08" PRIx64 ":  (bad opcode %02x)\n", linear_pc + pos, bytes[pos]);
            break;
        }
        if (pos + zi.length > page_bytes) {
            // Crosses into the next page: it gets a block of its own so that
            // both pages are tracked for self-modifying code.
            if (pos > 0) break;
            insn.flags |= kInsnCrossesPage;
            block.last_page = block.first_page + 1;
        }
        convert(zi, zops, insn);
        insn.handler = handlers[zi.mnemonic]                 ? handlers[zi.mnemonic]
                       : zi.meta.isa_ext == ZYDIS_ISA_EXT_X87 ? exec_x87_unavailable
                                                              : exec_unimplemented;
        if (InsnHandler form = handlers.for_form(zi.mnemonic, operand_form(insn))) insn.handler = form;
        // MOV to/from CRn/DRn shares the MOV mnemonic with data moves but is
        // a system instruction: pick its handler here, once.
        if (zi.mnemonic == ZYDIS_MNEMONIC_MOV) {
            for (unsigned i = 0; i < insn.num_ops; i++)
                if (insn.ops[i].kind == OpKind::kReg &&
                    (insn.ops[i].reg_class == RegClass::kCr || insn.ops[i].reg_class == RegClass::kDr))
                    insn.handler = exec_mov_control_debug;
        }
        if (trace) {
            std::string text = disassemble(block.key.mode, bytes + pos, zi.length, linear_pc + pos);
            char hex[64] = {0};
            for (unsigned i = 0; i < zi.length && i < 15; i++) snprintf(hex + 3 * i, 4, "%02x ", bytes[pos + i]);
            log->log(kLogInAsm, "0x%08" PRIx64 ":  %-30s %s\n", linear_pc + pos, hex, text.c_str());
        }
        block.insns.push_back(insn);
        pos += zi.length;
        if (insn.flags & (kInsnEndsBlock | kInsnCrossesPage)) break;
    }
    block.bytes = 0;
    for (const DecodedInsn& insn : block.insns) block.bytes += insn.length;
    if (trace) log->log(kLogInAsm, "\n");
}

std::string BlockDecoder::disassemble(DecodeMode mode, const uint8_t* bytes, size_t len, uint64_t pc) const {
    ZydisDecodedInstruction zi;
    ZydisDecodedOperand zops[ZYDIS_MAX_OPERAND_COUNT];
    if (!ZYAN_SUCCESS(ZydisDecoderDecodeFull(&decoder_for(mode), bytes, len, &zi, zops))) return "(bad)";
    char buf[256];
    if (!ZYAN_SUCCESS(ZydisFormatterFormatInstruction(&formatter_, &zi, zops, zi.operand_count_visible, buf,
                                                      sizeof(buf), pc, nullptr)))
        return "(unformattable)";
    return buf;
}

}  // namespace nomad86
