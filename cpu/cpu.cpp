// The interpreter loop and the toolkit handlers share: operands, segmented
// memory access, the stack, flags and conditions.
#include "cpu/cpu.h"

#include <cinttypes>

#include "cpu/block_cache.h"
#include "cpu/block_decoder.h"
#include "cpu/fetch_cache.h"
#include "cpu/handlers.h"

namespace nomad86 {

namespace {
constexpr uint64_t size_mask(unsigned size) { return size >= 8 ? ~uint64_t(0) : (uint64_t(1) << (8 * size)) - 1; }
}  // namespace

Cpu::Cpu(CpuBus bus)
    : bus_(bus), blocks_(std::make_unique<BlockCache>(bus.memory)), fetch_cache_(std::make_unique<FetchCache>()),
      decoder_(std::make_unique<BlockDecoder>()) {
    blocks_->set_invalidation_callback([this] { note_events(); });
    blocks_->set_free_callback([this](const DecodedBlock& b) {
        if (executor_) executor_->block_freed(b);
    });
    bus_.memory.add_fast_write_listener(&tlb_);
    reset();
}

Cpu::~Cpu() { bus_.memory.remove_fast_write_listener(&tlb_); }

void Cpu::reset() {
    CpuState fresh;
    s = fresh;
    s.set_rflags(flags::FIXED1);
    s.rip = 0xfff0;
    for (auto& seg : s.seg) {
        seg.selector = 0;
        seg.base = 0;
        seg.limit = 0xffff;
        seg.attr = SegmentCache::kP | SegmentCache::kS | 0x3;  // present read/write data, accessed
    }
    s.seg[kCs].selector = 0xf000;
    s.seg[kCs].base = 0xffff0000;
    s.seg[kCs].attr = SegmentCache::kP | SegmentCache::kS | 0xb;  // present execute/read code, accessed
    s.gdtr = {0, 0xffff};
    s.idtr = {0, 0xffff};
    s.ldtr = SegmentCache{0, 0, 0xffff, uint16_t(SegmentCache::kP | 0x2)};
    s.tr = SegmentCache{0, 0, 0xffff, uint16_t(SegmentCache::kP | 0xb)};
    s.cr0 = cr0::CD | cr0::NW | cr0::ET;
    s.gpr[kRdx] = 0x00000633;  // processor signature: family 6, model 3, stepping 3
    s.dr[6] = 0xffff0ff0;
    s.dr[7] = 0x400;
    s.fpu.fcw = 0x0040;
    s.fpu.ftw = 0x5555;
    s.cpl = 0;
    s.halted = false;
    s.interrupt_shadow = false;
    shutdown_ = false;
    delivering_vector_ = -1;
    tsc_origin_ns_ = bus_.clock.now_ns();
    blocks_->flush();
    tlb_.flush_all();
    note_events();
    if (bus_.log.enabled(kLogCpuReset)) bus_.log.log(kLogCpuReset, "CPU Reset: CS=f000 EIP=0000fff0\n");
}

void Cpu::flush_decoded_blocks() { blocks_->flush(); }

std::string Cpu::disassemble(DecodeMode mode, const uint8_t* bytes, size_t len, uint64_t pc) const {
    return decoder_->disassemble(mode, bytes, len, pc);
}

void Cpu::debug_points_changed() {
    debug_active_ = debug.active();
    // Chained translations run on without coming back here: drop them, so
    // that the loop sees every block while debug points are active.
    if (executor_) blocks_->flush();
}

void Cpu::set_block_executor(BlockExecutor* executor) {
    // Translations belong to the executor that made them.
    blocks_->flush();
    blocks_->collect_garbage();
    executor_ = executor;
}
size_t Cpu::decoded_blocks() const { return blocks_->size(); }
uint64_t Cpu::decoded_block_invalidations() const { return blocks_->invalidations(); }

void Cpu::set_irq(unsigned pin, bool level) {
    if (pin != 0) return;
    intr_line_ = level;
    if (level) note_events();
}

void Cpu::enter_shutdown() {
    shutdown_ = true;
    note_events();
}

uint64_t Cpu::read_tsc() const {
    device_events_++;
    return uint64_t(bus_.clock.now_ns() - tsc_origin_ns_) + s.msr.tsc_offset;
}

// ---------------------------------------------------------------- registers


uint64_t Cpu::read_operand_slow(const DecodedInsn& insn, unsigned i) {
    const Operand& op = insn.ops[i];
    switch (op.kind) {
    case OpKind::kReg:
        switch (op.reg_class) {
        case RegClass::kGpr: return reg(op.reg, op.size);
        case RegClass::kGprHigh8: return (s.gpr[op.reg] >> 8) & 0xff;
        case RegClass::kSeg: return s.seg[op.reg].selector;
        default: raise(kUD);
        }
    case OpKind::kMem:
        return read_mem(SegReg(op.seg), effective_address(insn, op), op.size);
    case OpKind::kImm:
    case OpKind::kFarPtr:
        return op.imm & size_mask(op.size ? op.size : 8);
    default:
        raise(kUD);
    }
}

void Cpu::write_operand_slow(const DecodedInsn& insn, unsigned i, uint64_t value) {
    const Operand& op = insn.ops[i];
    switch (op.kind) {
    case OpKind::kReg:
        switch (op.reg_class) {
        case RegClass::kGpr: set_reg(op.reg, op.size, value); return;
        case RegClass::kGprHigh8:
            s.gpr[op.reg] = (s.gpr[op.reg] & ~0xff00ull) | ((value & 0xff) << 8);
            return;
        default: raise(kUD);
        }
    case OpKind::kMem:
        write_mem(SegReg(op.seg), effective_address(insn, op), op.size, value);
        return;
    default:
        raise(kUD);
    }
}

// ---------------------------------------------------------------- memory


void Cpu::check_read(SegReg seg, uint64_t offset, unsigned size) {
    check_segment_access(seg, offset, size, AccessKind::kRead);
}

void Cpu::check_write(SegReg seg, uint64_t offset, unsigned size) {
    check_segment_access(seg, offset, size, AccessKind::kWrite);
}

bool Cpu::try_translate(GuestVirt addr, AccessKind kind, bool supervisor, GuestPhys* out, uint32_t* error) {
    const uint64_t linear = addr.value & 0xffffffffull;
    if (!(s.cr0 & cr0::PG)) {
        *out = GuestPhys(linear & bus_.memory.a20_mask());
        return true;
    }
    if (tlb_.lookup(linear, kind, !supervisor, out)) return true;
    const WalkResult w = walk_page_tables(paging_regs(), linear, kind, !supervisor, bus_.memory);
    if (!w.ok) {
        *error = w.error;
        return false;
    }
    fill_tlb(linear, w);
    *out = w.phys;
    return true;
}

uintptr_t Cpu::refill_tlb_for_jit(uint32_t linear, uint32_t last_vpn, bool write, bool user) {
    if ((linear >> kPageShift) != last_vpn) return 0;
    const AccessKind kind = write ? AccessKind::kWrite : AccessKind::kRead;
    GuestPhys phys;
    if (!(s.cr0 & cr0::PG)) {
        // Paging off: the identity (with the A20 mask), entered in the TLB
        // like a walk's result so that the JIT's accesses take the same
        // one-compare path as with paging on. (CR0.PG changes and A20
        // toggles flush the TLB.)
        WalkResult identity;
        identity.ok = identity.user = identity.writable = identity.dirty = true;
        identity.phys = GuestPhys(linear & bus_.memory.a20_mask());
        identity.page_size = kPageSize;
        fill_tlb(linear, identity);
        phys = identity.phys;
    } else if (!tlb_.lookup(linear, kind, user, &phys)) {
        const uint64_t invalidations = blocks_->invalidations();
        const WalkResult w = walk_page_tables(paging_regs(), linear, kind, user, bus_.memory);
        if (!w.ok) return 0;  // the interpreter raises the #PF
        fill_tlb(linear, w);
        phys = w.phys;
        // The walk's accessed/dirty flags landed on a page with decoded
        // code: the interpreter's step ends the block (events pending).
        if (blocks_->invalidations() != invalidations) return 0;
    }
    const uint8_t* host = write ? tlb_.write_host_page(linear, user) : tlb_.read_host_page(linear, user);
    if (!host && write && bus_.memory.prepare_direct_store(phys.page())) {
        tlb_.allow_fast_writes(linear, user);
        host = tlb_.write_host_page(linear, user);
    }
    // (An addend of 0, host page at the guest page's own address, reads as
    // "no": that page just keeps taking the interpreter's way.)
    if (!host) return 0;
    return reinterpret_cast<uintptr_t>(host) - (uintptr_t(linear >> kPageShift) << kPageShift);
}

void Cpu::fill_tlb(uint64_t linear, const WalkResult& w) {
    const uint64_t page = w.phys.page();
    tlb_.fill(linear, w, s.cr0 & cr0::WP, bus_.memory.ram_page_for_reads(page), bus_.memory.fast_writable(page));
}

GuestPhys Cpu::translate_miss(uint64_t linear, AccessKind kind, bool supervisor) {
    const WalkResult w = walk_page_tables(paging_regs(), linear, kind, !supervisor, bus_.memory);
    if (!w.ok) [[unlikely]] {
        if (bus_.log.enabled(kLogMmu))
            bus_.log.log(kLogMmu, "mmu: #PF linear %08" PRIx64 " error %x\n", linear, w.error);
        s.cr2 = linear;
        raise(kPF, w.error);
    }
    fill_tlb(linear, w);
    return w.phys;
}

uint64_t Cpu::read_linear_paged(uint64_t linear, unsigned size, bool supervisor) {
    // (read_linear() has already tried the TLB's host page.)
    const uint64_t in_page = kPageSize - (linear & (kPageSize - 1));
    const GuestPhys first = translate(GuestVirt(linear), AccessKind::kRead, supervisor);
    if (size <= in_page) [[likely]]
        return bus_.memory.read(first, size);
    const GuestPhys second = translate(GuestVirt((linear + in_page) & 0xffffffffull), AccessKind::kRead, supervisor);
    uint64_t v = 0;
    for (unsigned i = 0; i < size; i++) {
        const GuestPhys p = i < in_page ? first + i : second + (i - in_page);
        v |= bus_.memory.read(p, 1) << (8 * i);
    }
    return v;
}

void Cpu::write_linear_paged(uint64_t linear, unsigned size, uint64_t value, bool supervisor) {
    const uint64_t in_page = kPageSize - (linear & (kPageSize - 1));
    const GuestPhys first = translate(GuestVirt(linear), AccessKind::kWrite, supervisor);
    if (size <= in_page) [[likely]] {
        bus_.memory.write(first, size, value);
        // The store made the page dirty: the next ones may skip the
        // bookkeeping (the TLB's write_host_page).
        if (bus_.memory.fast_writable(first.page())) tlb_.allow_fast_writes(linear, !supervisor);
        return;
    }
    // Both pages are checked before any byte is written.
    const GuestPhys second =
        translate(GuestVirt((linear + in_page) & 0xffffffffull), AccessKind::kWrite, supervisor);
    for (unsigned i = 0; i < size; i++) {
        const GuestPhys p = i < in_page ? first + i : second + (i - in_page);
        bus_.memory.write(p, 1, (value >> (8 * i)) & 0xff);
    }
}

uint8_t* Cpu::direct_access(SegReg seg, uint64_t offset, uint64_t len, AccessKind kind) {
    if (debug_active_ || len == 0) return nullptr;
    const SegmentCache& sc = s.seg[seg];
    if (s.protected_mode() && !s.v86_mode() &&
        !(sc.present() && (kind == AccessKind::kWrite ? sc.writable() : sc.readable())))
        return nullptr;
    if (!sc.contains(offset, unsigned(len))) return nullptr;
    const uint64_t linear = (sc.base + offset) & 0xffffffffull;
    if ((linear & (kPageSize - 1)) + len > kPageSize) return nullptr;
    const GuestPhys phys = translate(GuestVirt(linear), kind, s.cpl < 3);
    return bus_.memory.direct_span(phys, len, kind == AccessKind::kWrite);
}

void Cpu::watch_access(uint64_t linear, unsigned size, bool write) {
    if (debug.watching() && debug.check_access(linear, size, write, &debug_stop_)) note_debug_hit();
}

// ---------------------------------------------------------------- stack

void Cpu::push(unsigned size, uint64_t value) {
    const uint64_t mask = stack_pointer_mask();
    const uint64_t sp = (s.gpr[kRsp] - size) & mask;
    if (size == 4) [[likely]]
        write_mem_sized<4>(kSs, sp, value);
    else
        write_mem(kSs, sp, size, value);
    s.gpr[kRsp] = (s.gpr[kRsp] & ~mask) | sp;
}

uint64_t Cpu::pop(unsigned size) {
    const uint64_t mask = stack_pointer_mask();
    const uint64_t sp = s.gpr[kRsp] & mask;
    const uint64_t v = size == 4 ? read_mem_sized<4>(kSs, sp) : read_mem(kSs, sp, size);
    s.gpr[kRsp] = (s.gpr[kRsp] & ~mask) | ((sp + size) & mask);
    return v;
}

uint64_t Cpu::peek(unsigned size, uint64_t offset) {
    const uint64_t mask = stack_pointer_mask();
    return read_mem(kSs, (s.gpr[kRsp] + offset) & mask, size);
}

// ---------------------------------------------------------------- flags

void Cpu::set_eflags(uint32_t value, uint32_t mask) {
    // Bits 3, 5, 15 and 22-31 are reserved zero; bit 1 is reserved one.
    constexpr uint32_t kWritable = 0x003f7fd5;
    mask &= kWritable;
    const uint64_t old = s.system_flags;
    s.system_flags = (old & ~uint64_t(mask)) | (value & mask) | flags::FIXED1;
    merge_status_flags(value, mask & flags::ARITH);
    if ((old ^ s.system_flags) & (flags::IF | flags::TF | flags::VM | flags::IOPL | flags::AC)) end_block();
}

// ---------------------------------------------------------------- faults

void Cpu::raise(uint8_t vector) { throw CpuException{vector, false, 0}; }

void Cpu::raise(uint8_t vector, uint32_t error_code) { throw CpuException{vector, true, error_code}; }

void Cpu::raise_unimplemented(const DecodedInsn& insn) {
    if (bus_.log.enabled(kLogUnimp)) {
        uint8_t bytes[16] = {0};
        uint64_t lin = (s.seg[kCs].base + insn_rip_) & 0xffffffffull;
        bus_.memory.read_bytes(translate(GuestVirt(lin), AccessKind::kExecute, true), bytes,
                               insn.length ? insn.length : 1);
        DecodeMode mode = !s.protected_mode() || s.v86_mode() ? DecodeMode::kReal16
                          : s.seg[kCs].big()                  ? DecodeMode::kProt32
                                                              : DecodeMode::kProt16;
        std::string text = decoder_->disassemble(mode, bytes, insn.length ? insn.length : 1, insn_rip_);
        bus_.log.log(kLogUnimp, "unimp: %04x:%08" PRIx64 " %s (opcode %s%02x) raises #UD\n", s.seg[kCs].selector,
                     insn_rip_, text.c_str(), insn.opcode_map == 1 ? "0f " : "", bytes[0]);
    }
    raise(kUD);
}

void exec_unimplemented(Cpu& cpu, const DecodedInsn& insn) { cpu.raise_unimplemented(insn); }

void exec_x87_unavailable(Cpu& cpu, const DecodedInsn& insn) {
    if (cpu.s.cr0 & (cr0::EM | cr0::TS)) cpu.raise(kNM);
    cpu.raise_unimplemented(insn);
}

// ---------------------------------------------------------------- the loop

inline const DecodedBlock* Cpu::lookup_block() {
    const SegmentCache& cs = s.seg[kCs];
    if (s.rip > cs.limit) raise(kGP, 0);
    const uint64_t linear = (cs.base + s.rip) & 0xffffffffull;
    const DecodeMode mode = !s.protected_mode() || s.v86_mode() ? DecodeMode::kReal16
                            : cs.big()                          ? DecodeMode::kProt32
                                                                : DecodeMode::kProt16;
    const FetchCache::Stamp stamp{s.cpl, mode, bus_.memory.a20(), bool(s.cr0 & cr0::PG), blocks_->generation()};
    if (const DecodedBlock* b = fetch_cache_->find(uint32_t(linear), stamp, tlb_)) [[likely]]
        return b;
    return lookup_block_slow(linear, mode, stamp);
}

const DecodedBlock* Cpu::block_at_pc() { return lookup_block(); }

const DecodedBlock* Cpu::find_decoded_block(const BlockKey& key) { return blocks_->find(key); }

const DecodedBlock* Cpu::lookup_block_slow(uint64_t linear, DecodeMode mode, const FetchCache::Stamp& stamp) {
    const GuestPhys phys = translate(GuestVirt(linear), AccessKind::kExecute, s.cpl < 3);
    const BlockKey key{phys.value, mode};
    if (const DecodedBlock* b = blocks_->find(key)) {
        if (b->last_page == b->first_page) [[likely]] {
            fetch_cache_->insert(uint32_t(linear), stamp, b, tlb_);
            return b;
        }
        // An instruction that crosses into the next page: its bytes there
        // came through the mapping of that time, which may have changed.
        const uint64_t next_linear = (linear + kPageSize - phys.page_offset()) & 0xffffffffull;
        GuestPhys next;
        uint32_t error;
        if (try_translate(GuestVirt(next_linear), AccessKind::kExecute, s.cpl < 3, &next, &error) &&
            next.page() == b->last_page) {
            fetch_cache_->insert(uint32_t(linear), stamp, b, tlb_);
            return b;
        }
        blocks_->code_page_written(b->first_page);  // retire it and decode again
    }
    const DecodedBlock* inserted = decode_block(linear, phys, mode);
    // The insertion may have retired a block (a new generation).
    FetchCache::Stamp now = stamp;
    now.block_generation = blocks_->generation();
    fetch_cache_->insert(uint32_t(linear), now, inserted, tlb_);
    return inserted;
}

const DecodedBlock* Cpu::decode_block(uint64_t linear, GuestPhys phys, DecodeMode mode) {
    const BlockKey key{phys.value, mode};
    auto block = std::make_unique<DecodedBlock>();
    block->key = key;
    block->first_page = phys.page();
    const size_t page_bytes = kPageSize - phys.page_offset();
    uint8_t bytes[kPageSize + 16];
    bus_.memory.read_bytes(phys, bytes, page_bytes);
    // The next page's first bytes, for an instruction that crosses into it.
    // Fetching them must not fault unless an instruction needs them: the
    // decoder stops before an instruction that runs past what was fetched.
    const GuestVirt next_linear((linear + page_bytes) & 0xffffffffull);
    GuestPhys next;
    uint32_t next_error = 0;
    const bool next_ok = try_translate(next_linear, AccessKind::kExecute, s.cpl < 3, &next, &next_error);
    if (next_ok) bus_.memory.read_bytes(next, bytes + page_bytes, 15);
    decoder_->decode(*block, bytes, page_bytes + (next_ok ? 15 : 0), page_bytes, linear, &bus_.log,
                     max_block_insns_);
    if (!next_ok && page_bytes < 15 && block->insns.size() == 1 && block->insns[0].mnemonic == ZYDIS_MNEMONIC_INVALID) {
        // The first instruction needs bytes of the next page, which faults.
        s.cr2 = next_linear.value;
        raise(kPF, next_error);
    }
    if (block->last_page != block->first_page) block->last_page = next.page();
    return blocks_->insert(std::move(block));
}

bool Cpu::handle_events() {
    events_pending_ = false;
    jit_run_end_ = run_end_;
    blocks_->collect_garbage();
    if (shutdown_) return true;
    if (stop_requested_) {
        stop_requested_ = false;
        // An interrupt raised together with the stop (input that arrived
        // while paused) must still be seen by the next run(), or a halted
        // CPU would wait for an edge that never comes on a level line.
        if (intr_line_) note_events();
        return true;
    }
    if (intr_line_ && !interrupts_masked_) {
        if ((s.system_flags & flags::IF) && !s.interrupt_shadow && pic_) {
            s.halted = false;
            uint8_t vector = pic_->acknowledge();
            try {
                deliver_interrupt(vector, InterruptSource::kExternal, false, 0);
            } catch (const CpuException& e) {
                deliver_exception(e);
            }
            if (shutdown_) return true;
        }
        // With IF clear the line stays up unserved; whatever sets IF again
        // (STI, POPF, IRET) ends its block, and we look again then.
    }
    return false;
}

void Cpu::trace_block(const DecodedBlock& block) {
    Logger& log = bus_.log;
    if (!log.in_filter(linear_pc())) return;
    if (log.enabled(kLogCpu)) {
        log.log(kLogCpu,
                "EAX=%08" PRIx64 " EBX=%08" PRIx64 " ECX=%08" PRIx64 " EDX=%08" PRIx64 "\n"
                "ESI=%08" PRIx64 " EDI=%08" PRIx64 " EBP=%08" PRIx64 " ESP=%08" PRIx64 "\n"
                "EIP=%08" PRIx64 " EFL=%08x CPL=%u CR0=%08" PRIx64 "\n",
                s.gpr[kRax] & 0xffffffff, s.gpr[kRbx] & 0xffffffff, s.gpr[kRcx] & 0xffffffff,
                s.gpr[kRdx] & 0xffffffff, s.gpr[kRsi] & 0xffffffff, s.gpr[kRdi] & 0xffffffff,
                s.gpr[kRbp] & 0xffffffff, s.gpr[kRsp] & 0xffffffff, s.rip, eflags(), s.cpl, s.cr0);
        static const char* const kNames[] = {"ES", "CS", "SS", "DS", "FS", "GS"};
        for (int i = 0; i < kNumSegRegs; i++)
            log.log(kLogCpu, "%s =%04x %08" PRIx64 " %08x %04x\n", kNames[i], s.seg[i].selector, s.seg[i].base,
                    s.seg[i].limit, s.seg[i].attr);
    }
    if (log.enabled(kLogExec))
        log.log(kLogExec, "Trace: %04x:%08" PRIx64 " [phys %08" PRIx64 "] %zu insns\n", s.seg[kCs].selector, s.rip,
                block.key.phys, block.insns.size());
}

// One step of the interpreter: `insn` at s.rip, then the boundary after it.
// Returns false when the block must end here (an exception was delivered,
// a single-step trap, an interrupt shadow begins, or events are pending).
// The JIT's helper calls come through here too (jit_step()), so the two
// engines share every instruction's semantics.
inline bool Cpu::step_insn(const DecodedInsn& insn, uint64_t ip_mask, uint32_t cs_limit) {
    const uint64_t start = s.rip;
    const uint64_t saved_rsp = s.gpr[kRsp];
    // Keeps the compiler from fusing the loads of rip and the two flag
    // words into 16-byte loads: the previous handler stored them
    // separately, and a load spanning two stores cannot be
    // store-forwarded. That stall was 40% of this loop's time (perf), on
    // every guest instruction.
    asm volatile("" ::: "memory");
    const uint64_t saved_system = s.system_flags;
    asm volatile("" ::: "memory");
    const uint64_t saved_status = s.status_flags;
    const bool shadowed = s.interrupt_shadow;
    const bool single_step = saved_system & flags::TF;
    insn_rip_ = start;
    try {
        if (start + insn.length - 1 > cs_limit) raise(kGP, 0);
        s.rip = (start + insn.length) & ip_mask;
        insn.handler(*this, insn);
    } catch (const CpuException& e) {
        s.rip = start;
        s.gpr[kRsp] = saved_rsp;
        s.system_flags = saved_system;
        s.status_flags = saved_status;
        deliver_exception(e);
        steps_++;
        exception_steps_++;
        note_events();
        return false;
    }
    steps_++;
    if (shadowed) {
        s.interrupt_shadow = false;
        if (intr_line_) note_events();
    }
    if (single_step) {
        // Trap after the instruction: #DB with DR6.BS, EIP of the next one.
        s.dr[6] |= 1u << 14;
        try {
            deliver_interrupt(kDB, InterruptSource::kException, false, 0);
        } catch (const CpuException& e) {
            deliver_exception(e);
        }
        note_events();
        return false;
    }
    return !events_pending_;
}

bool Cpu::step_for_jit(const DecodedInsn& insn, uint64_t ip_mask) {
    // An interrupt shadow that this instruction begins (MOV SS, STI) must
    // be seen by run() at the next boundary, which the interpreter does.
    return step_insn(insn, ip_mask, s.seg[kCs].limit) && !s.interrupt_shadow;
}

// execute_block() for the common case: the whole block, no breakpoints,
// no single step and no interrupt shadow at its start. Every instruction
// that sets TF or begins a shadow ends the block through events_pending_,
// so those never need looking at between instructions here, and the
// counters are added once at the end. The state saved for an exception
// lives in callee-saved registers, which unwinding restores.
template <bool kCheckLimit>
inline void Cpu::execute_block_plain(const DecodedBlock& block, uint64_t ip_mask, uint32_t cs_limit) {
    const DecodedInsn* const first = block.insns.data();
    const DecodedInsn* const last = first + block.insns.size();
    const DecodedInsn* insn = first;
    uint64_t start = s.rip;
    uint64_t next = start;
    uint64_t saved_rsp = s.gpr[kRsp];
    uint64_t saved_system = s.system_flags;
    uint64_t saved_status = s.status_flags;
    try {
        while (insn != last) {
            // EIP is carried in a register from one instruction to the
            // next: reloading the one just stored would put a store
            // forwarding on every instruction's critical path. A handler
            // that moved EIP anyway (only block-ending ones should) ends
            // the loop below.
            start = next;
            saved_rsp = s.gpr[kRsp];
            asm volatile("" ::: "memory");  // see step_insn
            saved_system = s.system_flags;
            asm volatile("" ::: "memory");
            saved_status = s.status_flags;
            insn_rip_ = start;
            if (kCheckLimit && start + insn->length - 1 > cs_limit) [[unlikely]]
                raise(kGP, 0);
            next = (start + insn->length) & ip_mask;
            s.rip = next;
            insn->handler(*this, *insn);
            insn++;
            if (events_pending_ || s.rip != next) [[unlikely]]
                break;
        }
    } catch (const CpuException& e) {
        s.rip = start;
        s.gpr[kRsp] = saved_rsp;
        s.system_flags = saved_system;
        s.status_flags = saved_status;
        steps_ += uint64_t(insn - first) + 1;
        exception_steps_++;
        deliver_exception(e);
        note_events();
        return;
    }
    steps_ += uint64_t(insn - first);
}

void Cpu::execute_block(const DecodedBlock& block, uint64_t max_insns) {
    const uint64_t ip_mask = block.key.mode == DecodeMode::kProt32 ? 0xffffffffull : 0xffffull;
    const uint32_t cs_limit = s.seg[kCs].limit;
    if (!debug_active_ && max_insns >= block.insns.size() && !s.interrupt_shadow && !(s.system_flags & flags::TF))
        [[likely]] {
        // A block that ends inside the CS limit needs no check per instruction.
        if (s.rip + block.bytes - 1 <= cs_limit) [[likely]]
            execute_block_plain<false>(block, ip_mask, cs_limit);
        else
            execute_block_plain<true>(block, ip_mask, cs_limit);
        return;
    }
    uint64_t n = 0;
    for (const DecodedInsn& insn : block.insns) {
        if (n++ == max_insns) return;
        if (debug_active_) [[unlikely]] {
            const uint64_t linear = (s.seg[kCs].base + s.rip) & 0xffffffffull;
            const bool skip = linear == skip_breakpoint_at_;
            skip_breakpoint_at_ = ~uint64_t(0);
            if (!skip && debug.has_breakpoint(linear)) {
                debug_stop_ = DebugStop{DebugStop::Kind::kBreakpoint, linear, WatchKind::kWrite};
                note_debug_hit();
                return;
            }
        }
        if (!step_insn(insn, ip_mask, cs_limit)) return;
    }
}

Cpu::StopReason Cpu::run(uint64_t max_insns) {
    const uint64_t end = steps_ + max_insns;
    run_end_ = end;
    jit_run_end_ = events_pending_ ? 0 : end;
    debug_hit_ = false;
    const bool tracing = bus_.log.enabled(kLogCpu | kLogExec);
    while (steps_ < end) {
        if (events_pending_ && handle_events()) {
            if (shutdown_) return StopReason::kShutdown;
            return StopReason::kStopRequested;
        }
        if (s.halted) return StopReason::kHalted;
        const DecodedBlock* block;
        try {
            insn_rip_ = s.rip;
            block = lookup_block();
        } catch (const CpuException& e) {
            deliver_exception(e);
            steps_++;
            exception_steps_++;
            note_events();
            continue;
        }
        if (tracing) trace_block(*block);
        uint64_t budget = end - steps_;
        // One instruction at a time while an interrupt shadow or a single
        // step is pending, so the boundary after it is seen.
        const bool one_step = s.interrupt_shadow || (s.system_flags & flags::TF);
        if (one_step) budget = 1;
        // The block executor (the JIT) runs whole blocks only, and leaves
        // breakpoints, watchpoints, single steps and the instruction in an
        // interrupt shadow (whose end the interpreter's step handles) to the
        // interpreter.
        // (With events pending already, the interpreter stops after one
        // instruction: so does the executor's caller.)
        if (!(executor_ && !one_step && !events_pending_ && budget >= block->insns.size() && !debug_active_ &&
              executor_->execute(*block)))
            execute_block(*block, budget);
        if (debug_hit_) {
            // A watchpoint fires after its instruction completed; a
            // breakpoint before its instruction runs.
            debug_hit_ = false;
            return StopReason::kDebug;
        }
    }
    return StopReason::kBudget;
}

}  // namespace nomad86
