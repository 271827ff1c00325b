// The reference CPU: the interpreter that executes decoded blocks. It is the
// single-step and tracing engine and the oracle the JIT is checked against.
//
// The contract with the machine is small: reset(), run(budget), the INTR pin
// (set_irq) with an InterruptAcknowledge to fetch the vector, and
// request_stop(). Everything else here is the toolkit that instruction
// handlers (cpu/exec_*.cpp) use: operand access, segmented memory access with
// the SDM's checks, the stack, segment loads, interrupt delivery, port I/O.
//
// Guest faults are C++ exceptions (CpuException) thrown from inside a
// handler and caught at the instruction boundary in the interpreter loop,
// which restores RIP, RSP and RFLAGS to the instruction's start and delivers
// the exception. Handlers therefore do every access that can fault before
// they commit any other register.
#pragma once
#include <array>
#include <cstdint>
#include <memory>
#include <string>

#include "core/clock.h"
#include "core/irq.h"
#include "core/log.h"
#include "core/machine_control.h"
#include "core/types.h"
#include "cpu/cpu_state.h"
#include "cpu/debug_points.h"
#include "cpu/decoded_block.h"
#include "cpu/insn.h"
#include "mmu/io_bus.h"
#include "mmu/page_walker.h"
#include "mmu/phys_memory.h"
#include "mmu/tlb.h"

namespace nomad86 {

class BlockCache;
class BlockDecoder;
class FetchCache;
struct FetchCacheStamp;
struct DecodedBlock;

// An engine that runs whole decoded blocks in place of the interpreter: the
// JIT (jit/). The CPU offers it each block it is about to run; the engine
// either runs the block to its end, or to the instruction after which the
// interpreter would have stopped, with the same guest-visible result, or
// declines and the interpreter runs it.
class BlockExecutor {
public:
    virtual ~BlockExecutor() = default;
    // The block at CS:EIP, with interrupts, single-stepping and debug
    // points already accounted for. False: not run, interpret it.
    virtual bool execute(const DecodedBlock& block) = 0;
    // The block is about to be freed (its page was written, or a flush).
    virtual void block_freed(const DecodedBlock& block) = 0;
};

// A guest exception raised by an instruction (thrown, caught by the loop).
struct CpuException {
    uint8_t vector;
    bool has_error;
    uint32_t error_code;
};

// What the CPU needs from the machine around it.
struct CpuBus {
    PhysicalMemory& memory;
    IoBus& io;
    VirtualClock& clock;
    Logger& log;
    MachineControl& control;
};

// How an interrupt or exception came about: it decides the privilege check
// (software INT checks the gate DPL), whether an error code may be pushed,
// and which EIP is saved.
enum class InterruptSource : uint8_t {
    kException,    // a fault or trap raised by the CPU
    kSoftware,     // INT n, INT3, INTO: gate DPL is checked against CPL
    kExternal,     // INTR from the PIC, NMI
};

// The SS:ESP for privilege level `dpl` from the current TSS (16- or 32-bit),
// with every check of the SDM's stack switch: #TS(TSS selector) when the entry
// is outside the TSS limit, #TS(SS) for a bad SS (null: #TS with just EXT),
// #SS(SS) when SS is not present. `ext` is the EXT bit for the error codes.
// Returns the SS cache (accessed bit not yet written back). Shared by
// interrupt delivery and far calls through gates (cpu/segmentation.cpp).
class Cpu;
void tss_inner_stack(Cpu& cpu, unsigned dpl, uint32_t ext, uint16_t* ss_out, uint32_t* esp_out,
                     SegmentCache* cache_out);

class Cpu final : public IrqSink {
public:
    // kDebug: a breakpoint or watchpoint fired (see last_debug_stop()).
    enum class StopReason { kBudget, kHalted, kStopRequested, kShutdown, kDebug };

    explicit Cpu(CpuBus bus);
    ~Cpu() override;
    Cpu(const Cpu&) = delete;
    Cpu& operator=(const Cpu&) = delete;

    // ---- the machine's side ----
    CpuState& state() { return s; }
    const CpuState& state() const { return s; }
    // Power-on / RESET# state: real mode at F000:FFF0 with CS base FFFF0000.
    void reset();
    // Executes `max_insns` steps, or fewer if the CPU halts, a stop is
    // requested, or the CPU shuts down (triple fault; the machine decides
    // whether that resets or exits). A step is an instruction that retired
    // or one whose exception was delivered (as a debugger single-steps: a
    // faulting instruction stops at its handler's first instruction).
    StopReason run(uint64_t max_insns);
    // Asynchronous request to leave run() at the next instruction boundary.
    void request_stop() {
        stop_requested_ = true;
        note_events();
    }
    void clear_stop_request() { stop_requested_ = false; }

    // ---- the debugger's side ----
    // Breakpoints (linear addresses) and watchpoints; call debug_points_changed()
    // after editing them.
    DebugPoints debug;
    void debug_points_changed();
    const DebugStop& last_debug_stop() const { return debug_stop_; }
    // The next instruction executed ignores a breakpoint at its own address
    // (resuming from a breakpoint, as gdb expects).
    void resume_from_breakpoint() { skip_breakpoint_at_ = linear_pc(); }
    // While set, pending interrupts are not taken (single-stepping, as QEMU's
    // default qemu.sstepbits).
    void set_interrupts_masked(bool masked) {
        interrupts_masked_ = masked;
        if (!masked && intr_line_) note_events();
    }
    // CS.base + EIP.
    uint64_t linear_pc() const { return (s.seg[kCs].base + s.rip) & 0xffffffffull; }
    // Pin 0 is INTR (level); the PIC drives it.
    void set_irq(unsigned pin, bool level) override;
    void set_interrupt_controller(InterruptAcknowledge* pic) { pic_ = pic; }
    uint64_t instructions_retired() const { return steps_ - exception_steps_; }
    // Decoded blocks held by the cache, and how many were invalidated.
    size_t decoded_blocks() const;
    uint64_t decoded_block_invalidations() const;
    bool shutdown() const { return shutdown_; }
    // Drops every decoded block (mode change that the key does not capture,
    // tests).
    void flush_decoded_blocks();
    // Describes the CPU's state (snapshots, migration, debugger).
    // The TLB is a cache, not state: flushed after a load.
    void describe(StateVisitor& v) {
        s.describe(v);
        // The TSC counts guest nanoseconds from the last reset (read_tsc).
        v.begin_section("cpu-timebase", 1);
        v.field("tsc_origin_ns", tsc_origin_ns_);
        v.end_section();
        // Set at a reset, so never after the (already loaded) guest time.
        if (v.loading() && (tsc_origin_ns_ < 0 || tsc_origin_ns_ > bus_.clock.now_ns()))
            throw StateError("cpu: TSC origin out of range");
        if (v.loading()) tlb_.flush_all();
    }
    Logger& log() { return bus_.log; }
    // -one-insn-per-tb: every decoded block holds one instruction, so the
    // -d cpu,exec traces become per-instruction traces.
    void set_one_insn_per_block(bool on) {
        max_block_insns_ = on ? 1 : 64;
        flush_decoded_blocks();
    }
    // Installs (or, with nullptr, removes) the engine that runs blocks in
    // place of the interpreter. Drops every decoded block.
    void set_block_executor(BlockExecutor* executor);
    BlockExecutor* block_executor() const { return executor_; }

    // ---- the JIT's side ----
    // One interpreter step of `insn` at s.rip, exactly as the interpreter
    // runs it (a C++ exception never leaves it). False: the block ends.
    bool step_for_jit(const DecodedInsn& insn, uint64_t ip_mask);
    // An x87 instruction that x87_runs_direct() accepts, run by its handler
    // without an interpreter step (jit/translator.cpp, Form::kX87):
    // `operand` is the host address of its memory operand, which generated
    // code found to be plain RAM it may read (and, for a store, write) in
    // whole, or null for a register form; `eip` is the instruction's.
    // Declines (false, nothing changed) when the handler's prologue would
    // raise #NM or #MF or assert FERR#: the interpreter's step then runs it.
    bool x87_direct_for_jit(const DecodedInsn& insn, uint8_t* operand, uint64_t eip);
    // The host address of the memory operand of the x87 instruction
    // x87_direct_for_jit() runs, else null (x87::read_bytes/write_bytes).
    uint8_t* x87_direct_operand() const { return x87_direct_operand_; }
    // The step counter, which generated code bumps for the instructions it
    // runs itself (retired instructions are steps less delivered exceptions).
    uint64_t* step_counter() { return &steps_; }
    // Chained translated blocks check this on entry: run() must return
    // when the step count would pass it, which is the end of its budget,
    // or 0 while events are pending (so one compare sees both).
    const uint64_t* jit_run_end_counter() const { return &jit_run_end_; }
    // The block executor's summary of the mode state its translations
    // assume (jit/translator.h, entry_bits_now), which their entries test
    // with one compare. The executor keeps it current whenever its code
    // runs: nothing else reads it, and it is not CPU state.
    uint32_t* executor_mode_bits() { return &executor_mode_bits_; }
    // The decoded block with this key, if there is one (nothing decoded).
    const DecodedBlock* find_decoded_block(const BlockKey& key);
    // The block at CS:EIP as the interpreter would find it (decoded on
    // first use); throws CpuException like an instruction fetch.
    const DecodedBlock* block_at_pc();
    // Disassembly of guest bytes, for -d out_asm and traces.
    std::string disassemble(DecodeMode mode, const uint8_t* bytes, size_t len, uint64_t pc) const;
    bool events_pending() const { return events_pending_; }
    // The interpreter's run of one whole block (the verifier's reference).
    void interpret_block(const DecodedBlock& block) { execute_block(block, UINT64_MAX); }
    // Everything running a block changes besides memory and caches, so the
    // lockstep verifier can run a block twice from the same point.
    struct Checkpoint {
        CpuState s;
        uint64_t instret, steps, insn_rip;
        bool events_pending, shutdown;
        int delivering_vector;
    };
    // The state with its flags normalised (CpuState::normalise_flags), so
    // that equal states are equal bytes.
    Checkpoint checkpoint() const {
        Checkpoint c{s, instructions_retired(), steps_, insn_rip_, events_pending_, shutdown_, delivering_vector_};
        c.s.normalise_flags();
        return c;
    }
    void restore(const Checkpoint& c) {
        s = c.s;
        steps_ = c.steps;
        exception_steps_ = c.steps - c.instret;
        insn_rip_ = c.insn_rip;
        events_pending_ = c.events_pending;
        jit_run_end_ = events_pending_ ? 0 : run_end_;
        shutdown_ = c.shutdown;
        delivering_vector_ = c.delivering_vector;
    }
    // Port accesses and time-stamp reads so far: device effects and inputs
    // that a second run of the same code would not see alike.
    uint64_t device_events() const { return device_events_; }

    // ---- the handlers' side ----
    CpuState s;
    // FERR# output of the x87 (CR0.NE=0 error reporting); the machine wires
    // it to the PC's FERR/IGNNE logic (devices/fpu_error.h) and IRQ 13.
    IrqLine ferr_line;

    // Register access by size (1, 2, 4, 8). 8/16-bit writes keep the upper
    // bits; 32-bit writes zero bits 32-63 as in long mode.
    // Inline: every handler goes through these, mostly with registers.
    uint64_t reg(unsigned r, unsigned size) const {
        return size >= 8 ? s.gpr[r] : s.gpr[r] & ((uint64_t(1) << (8 * size)) - 1);
    }
    void set_reg(unsigned r, unsigned size, uint64_t value) {
        switch (size) {
        case 1: s.gpr[r] = (s.gpr[r] & ~0xffull) | (value & 0xff); break;
        case 2: s.gpr[r] = (s.gpr[r] & ~0xffffull) | (value & 0xffff); break;
        case 4: s.gpr[r] = value & 0xffffffffull; break;
        default: s.gpr[r] = value; break;
        }
    }

    // Operand i of an instruction, zero-extended; writes truncate to its size.
    // General registers are handled inline, everything else out of line.
    uint64_t effective_address(const DecodedInsn& insn, const Operand& op) const {
        uint64_t ea = uint64_t(op.disp);
        if (op.base != kNoReg) ea += s.gpr[op.base];
        if (op.index != kNoReg) ea += s.gpr[op.index] << op.scale_shift;
        return insn.addrsize >= 8 ? ea : ea & ((uint64_t(1) << (8 * insn.addrsize)) - 1);
    }
    uint64_t read_operand(const DecodedInsn& insn, unsigned i) {
        const Operand& op = insn.ops[i];
        if (op.kind == OpKind::kReg && op.reg_class == RegClass::kGpr) [[likely]]
            return reg(op.reg, op.size);
        return read_operand_slow(insn, i);
    }
    void write_operand(const DecodedInsn& insn, unsigned i, uint64_t value) {
        const Operand& op = insn.ops[i];
        if (op.kind == OpKind::kReg && op.reg_class == RegClass::kGpr) [[likely]] {
            set_reg(op.reg, op.size, value);
            return;
        }
        write_operand_slow(insn, i, value);
    }
    uint64_t read_operand_slow(const DecodedInsn& insn, unsigned i);
    void write_operand_slow(const DecodedInsn& insn, unsigned i, uint64_t value);

    // Segmented data access with the SDM's checks (null selector, type,
    // limit, expand-down): #GP(0), or #SS(0) for SS. Offsets are already
    // truncated to the address size by the caller.
    // Inline, as every memory operand goes through them.
    uint64_t read_mem(SegReg seg, uint64_t offset, unsigned size) {
        check_segment_access(seg, offset, size, AccessKind::kRead);
        const uint64_t linear = (s.seg[seg].base + offset) & 0xffffffffull;
        if (debug_active_) [[unlikely]] watch_access(linear, size, false);
        return read_linear(GuestVirt(linear), size, s.cpl < 3);
    }
    void write_mem(SegReg seg, uint64_t offset, unsigned size, uint64_t value) {
        check_segment_access(seg, offset, size, AccessKind::kWrite);
        const uint64_t linear = (s.seg[seg].base + offset) & 0xffffffffull;
        if (debug_active_) [[unlikely]] watch_access(linear, size, true);
        write_linear(GuestVirt(linear), size, value, s.cpl < 3);
    }
    // read_mem()/write_mem() of a size known at compile time, for the
    // operand-form handlers (cpu/operand_forms.h): when the segment checks
    // are the trivial ones (fast_data_access) they go straight to the
    // linear access, whose TLB fast path is inline too.
    template <unsigned kSize>
    [[gnu::always_inline]] uint64_t read_mem_sized(SegReg seg, uint64_t offset) {
        const SegmentCache& sc = s.seg[seg];
        if (fast_data_access(sc, offset, kSize, 0)) [[likely]]
            return read_linear(GuestVirt(sc.base + offset), kSize, s.cpl < 3);
        return read_mem(seg, offset, kSize);
    }
    template <unsigned kSize>
    [[gnu::always_inline]] void write_mem_sized(SegReg seg, uint64_t offset, uint64_t value) {
        const SegmentCache& sc = s.seg[seg];
        if (fast_data_access(sc, offset, kSize, 2)) [[likely]]
            write_linear(GuestVirt(sc.base + offset), kSize, value, s.cpl < 3);
        else
            write_mem(seg, offset, kSize, value);
    }
    // The host bytes of [offset, offset+len) in segment `seg` for an access
    // of `kind`, when the whole range passes the segment checks and lies in
    // one guest page of plain RAM that may be touched directly (see
    // PhysicalMemory::direct_span); nullptr otherwise, and the caller goes
    // access by access. Translating the range's page can raise #PF exactly
    // as the access of its first byte would.
    uint8_t* direct_access(SegReg seg, uint64_t offset, uint64_t len, AccessKind kind);

    // Checks a write without doing it (instructions that must fault before
    // any side effect, e.g. a far call pushing to a new stack).
    void check_write(SegReg seg, uint64_t offset, unsigned size);
    void check_read(SegReg seg, uint64_t offset, unsigned size);

    // Linear (guest-virtual) access through paging (CR0.PG) and the TLB.
    // `supervisor` marks implicit system accesses (GDT, IDT, TSS) and CPL<3
    // accesses. An access that crosses a page boundary translates both pages
    // before it touches memory. A page fault sets CR2 and raises #PF.
    uint64_t read_linear(GuestVirt addr, unsigned size, bool supervisor = true) {
        const uint64_t linear = addr.value & 0xffffffffull;
        if (!(s.cr0 & cr0::PG)) [[unlikely]]
            return bus_.memory.read(GuestPhys(linear & bus_.memory.a20_mask()), size);
        // A TLB hit on plain RAM inside one page: straight from the host
        // page (the rest, out of line).
        const uint64_t offset = linear & (kPageSize - 1);
        if (offset + size <= kPageSize) [[likely]]
            if (const uint8_t* host = tlb_.read_host_page(linear, !supervisor)) [[likely]]
                return PhysicalMemory::load_le(host + offset, size);
        return read_linear_paged(linear, size, supervisor);
    }
    void write_linear(GuestVirt addr, unsigned size, uint64_t value, bool supervisor = true) {
        const uint64_t linear = addr.value & 0xffffffffull;
        if (!(s.cr0 & cr0::PG)) [[unlikely]] {
            bus_.memory.write(GuestPhys(linear & bus_.memory.a20_mask()), size, value);
            return;
        }
        // A TLB hit on a page that takes stores directly (plain RAM,
        // already dirty, no decoded code) inside one page: straight to the
        // host page (the rest, out of line).
        const uint64_t offset = linear & (kPageSize - 1);
        if (offset + size <= kPageSize) [[likely]]
            if (uint8_t* host = tlb_.write_host_page(linear, !supervisor)) [[likely]] {
                PhysicalMemory::store_le(host + offset, size, value);
                return;
            }
        write_linear_paged(linear, size, value, supervisor);
    }
    GuestPhys translate(GuestVirt addr, AccessKind kind, bool supervisor) {
        const uint64_t linear = addr.value & 0xffffffffull;
        if (!(s.cr0 & cr0::PG)) [[likely]]
            return GuestPhys(linear & bus_.memory.a20_mask());
        GuestPhys phys;
        if (tlb_.lookup(linear, kind, !supervisor, &phys)) [[likely]]
            return phys;
        return translate_miss(linear, kind, supervisor);
    }
    // Translation without raising: false (and the #PF error code) on a fault.
    bool try_translate(GuestVirt addr, AccessKind kind, bool supervisor, GuestPhys* out, uint32_t* error);
    // The JIT's inline access missed the TLB's first way: makes an entry
    // for the access at `linear` (paging on) without raising anything, from
    // the second way or a page walk (which sets the accessed and, for a
    // store, dirty flags as the access itself would), and returns its
    // linear-to-host addend when the access may then go straight to the
    // host page: plain RAM, inside one page (`last_vpn` is its last byte's
    // page), and for a store a page that holds no decoded code (now marked
    // dirty for migration, as the store will). 0: the interpreter's way
    // (a fault, MMIO, a code page, a page-crossing access).
    uintptr_t refill_tlb_for_jit(uint32_t linear, uint32_t last_vpn, bool write, bool user);
    PagingRegs paging_regs() const { return PagingRegs{s.cr0, s.cr3, s.cr4, s.efer}; }
    Tlb& tlb() { return tlb_; }

    // Stack: SS.B selects ESP or SP. push() writes before it moves ESP.
    uint64_t stack_pointer_mask() const { return s.seg[kSs].big() ? 0xffffffffull : 0xffffull; }
    void push(unsigned size, uint64_t value);
    uint64_t pop(unsigned size);
    // Reads the value at ESP+offset without popping.
    uint64_t peek(unsigned size, uint64_t offset = 0);

    // EFLAGS with the fixed bits right; set_eflags writes only `mask` bits.
    uint32_t eflags() const { return uint32_t(s.rflags()) | flags::FIXED1; }
    void set_eflags(uint32_t value, uint32_t mask);
    // Any EFLAGS bits (each from the word that holds it; with `f` known at
    // compile time, one load).
    bool flag(uint32_t f) const {
        return (s.status_flags & (f & flags::ARITH)) | (s.system_flags & (f & ~flags::ARITH));
    }
    void set_flag(uint32_t f, bool on) {
        if (f & flags::ARITH) s.status_flags = on ? (s.status_flags | f) : (s.status_flags & ~uint64_t(f));
        if (f & ~flags::ARITH) s.system_flags = on ? (s.system_flags | f) : (s.system_flags & ~uint64_t(f));
    }
    // The status flags of an instruction that sets all six: stored without
    // a look at the old ones (see CpuState::status_flags).
    void set_status_flags(uint32_t f) { s.status_flags = f; }
    // The status flags in `mask` from `f`, the others kept.
    void merge_status_flags(uint32_t f, uint32_t mask) {
        s.status_flags = (s.status_flags & ~uint64_t(mask)) | (f & mask);
    }
    // Condition code 0-15 (the cc in Jcc/SETcc/CMOVcc).
    bool condition(unsigned cc) const {
        const uint64_t f = s.status_flags;
        bool r;
        switch (cc >> 1) {
        case 0: r = f & flags::OF; break;                                         // O
        case 1: r = f & flags::CF; break;                                         // B
        case 2: r = f & flags::ZF; break;                                         // Z
        case 3: r = f & (flags::CF | flags::ZF); break;                           // BE
        case 4: r = f & flags::SF; break;                                         // S
        case 5: r = f & flags::PF; break;                                         // P
        case 6: r = bool(f & flags::SF) != bool(f & flags::OF); break;            // L
        default: r = (f & flags::ZF) || bool(f & flags::SF) != bool(f & flags::OF); break;  // LE
        }
        return (cc & 1) ? !r : r;
    }

    // Raise a guest exception: throws CpuException.
    [[noreturn]] void raise(uint8_t vector);
    [[noreturn]] void raise(uint8_t vector, uint32_t error_code);
    // #UD for an opcode the CPU does not implement, logged with -d unimp.
    [[noreturn]] void raise_unimplemented(const DecodedInsn& insn);

    // Ends the current block after this instruction (mode changes, writes to
    // CR0, POPF changing IF/TF, ...). Any handler that may set IF without
    // going through set_eflags() must call it, or a pending interrupt waits.
    void end_block() { note_events(); }

    // Code size of the current CS (2 or 4) and the IP mask it implies.
    unsigned code_size() const { return s.seg[kCs].big() ? 4 : 2; }
    uint64_t ip_mask() const { return code_size() == 4 ? 0xffffffffull : 0xffffull; }

    // ---- segmentation (cpu/segmentation.cpp) ----
    // MOV/POP/LxS to a data or stack segment register, with every check of
    // the SDM (real mode: selector and base only, as hardware does).
    void load_segment(SegReg seg, uint16_t selector);
    // Loads a segment cache from a descriptor without checks (task switch,
    // SYSENTER, tests) or in real/v86 mode from a selector.
    void load_segment_real(SegReg seg, uint16_t selector);
    // Reads the 8-byte descriptor for a selector from the GDT or LDT; throws
    // the given vector with error code (selector & 0xfffc) when it is outside
    // the table limit.
    uint64_t read_descriptor(uint16_t selector, uint8_t fault_vector);
    void write_descriptor_accessed(uint16_t selector);
    static SegmentCache cache_from_descriptor(uint16_t selector, uint64_t descriptor);
    // Recomputes CPL-dependent state after CS/SS or mode change.
    void update_cpl(uint8_t cpl);

    // ---- interrupts and exceptions (cpu/interrupts.cpp) ----
    // Delivers vector through the IVT (real mode) or the IDT (protected),
    // with the privilege checks, stack switch through the TSS, error code
    // push and IF/TF/NT/VM/RF clearing of the SDM. The current s.rip is what
    // is pushed: the faulting instruction for faults (the loop restored it),
    // the next one for traps and software interrupts.
    void deliver_interrupt(uint8_t vector, InterruptSource source, bool has_error, uint32_t error_code);
    // Delivers an exception raised by an instruction, escalating to #DF and
    // to shutdown (triple fault) by the SDM's table.
    void deliver_exception(const CpuException& e);

    // ---- port I/O (cpu/exec_system.cpp) ----
    // Checks IOPL / the TSS I/O permission bitmap (#GP(0) if denied).
    void check_io_permission(uint16_t port, unsigned size);
    uint32_t port_in(uint16_t port, unsigned size);
    void port_out(uint16_t port, unsigned size, uint32_t value);

    // Time stamp counter (RDTSC, MSR 0x10): guest-clock derived.
    uint64_t read_tsc() const;
    uint64_t tsc_hz() const { return 1000000000ull; }

    PhysicalMemory& memory() { return bus_.memory; }
    IoBus& io() { return bus_.io; }
    VirtualClock& clock() { return bus_.clock; }
    MachineControl& control() { return bus_.control; }

    // Address of the instruction being executed (for faults and traces).
    uint64_t current_insn_rip() const { return insn_rip_; }
    // Marks that the machine must shut down (triple fault).
    void enter_shutdown();

private:
    friend class BlockCache;
    // The block at CS:EIP, decoded on first use.
    const DecodedBlock* lookup_block();
    [[gnu::noinline]] const DecodedBlock* lookup_block_slow(uint64_t linear, DecodeMode mode,
                                                            const FetchCacheStamp& stamp);
    [[gnu::noinline]] const DecodedBlock* decode_block(uint64_t linear, GuestPhys phys, DecodeMode mode);
    void execute_block(const DecodedBlock& block, uint64_t max_insns);
    template <bool kCheckLimit>
    void execute_block_plain(const DecodedBlock& block, uint64_t ip_mask, uint32_t cs_limit);
    bool step_insn(const DecodedInsn& insn, uint64_t ip_mask, uint32_t cs_limit);
    bool handle_events();  // true: leave run()
    void note_debug_hit() {
        debug_hit_ = true;
        note_events();
    }
    // Something needs run()'s attention at the next boundary (see
    // events_pending_): translated code then enters no further block.
    void note_events() {
        events_pending_ = true;
        jit_run_end_ = 0;
    }
    // Protected mode, not virtual-8086, no watchpoints, and `sc` a present
    // expand-up data segment (writable too when `writable` is 2) whose
    // limit holds the access: what check_segment_access() would pass.
    bool fast_data_access(const SegmentCache& sc, uint64_t offset, unsigned size, uint16_t writable) const {
        constexpr uint16_t kMask = SegmentCache::kP | SegmentCache::kS | 0x8 | 0x4;
        return (s.cr0 & cr0::PE) && !(s.system_flags & flags::VM) && !debug_active_ &&
               (sc.attr & (kMask | writable)) == (SegmentCache::kP | SegmentCache::kS | writable) &&
               offset + size - 1 <= sc.limit;
    }
    void check_segment_access(SegReg seg, uint64_t offset, unsigned size, AccessKind kind) {
        const SegmentCache& sc = s.seg[seg];
        if (s.protected_mode() && !s.v86_mode()) {
            // A null selector leaves the cache not present: any use faults.
            const bool ok = sc.present() && (kind == AccessKind::kWrite   ? sc.writable()
                                             : kind == AccessKind::kRead ? sc.readable()
                                                                         : true);
            if (!ok) [[unlikely]]
                raise(seg == kSs ? kSS : kGP, 0);
        }
        if (!sc.contains(offset, size)) [[unlikely]]
            raise(seg == kSs ? kSS : kGP, 0);
    }
    // Data watchpoints (the debugger): checks one access, may stop the CPU.
    void watch_access(uint64_t linear, unsigned size, bool write);
    void trace_block(const DecodedBlock& block);
    GuestPhys translate_miss(uint64_t linear, AccessKind kind, bool supervisor);
    void fill_tlb(uint64_t linear, const WalkResult& w);
    uint64_t read_linear_paged(uint64_t linear, unsigned size, bool supervisor);
    void write_linear_paged(uint64_t linear, unsigned size, uint64_t value, bool supervisor);

    CpuBus bus_;
    Tlb tlb_;
    InterruptAcknowledge* pic_ = nullptr;
    std::unique_ptr<BlockCache> blocks_;
    std::unique_ptr<FetchCache> fetch_cache_;
    std::unique_ptr<BlockDecoder> decoder_;
    BlockExecutor* executor_ = nullptr;
    uint64_t steps_ = 0;  // retired instructions plus delivered exceptions
    uint64_t exception_steps_ = 0;  // of those, the exceptions
    uint64_t run_end_ = 0;  // steps_ at which the current run() ends
    unsigned max_block_insns_ = 64;
    bool debug_active_ = false;
    bool debug_hit_ = false;
    bool interrupts_masked_ = false;
    uint64_t skip_breakpoint_at_ = ~uint64_t(0);
    DebugStop debug_stop_;
    uint64_t insn_rip_ = 0;
    uint8_t* x87_direct_operand_ = nullptr;  // see x87_direct_operand()
    bool intr_line_ = false;
    bool stop_requested_ = false;
    bool shutdown_ = false;
    // Something needs the loop's attention at the next instruction boundary:
    // an interrupt, a stop request, a block ended by a mode change or a
    // write to its own code.
    bool events_pending_ = false;
    // run_end_, or 0 while events_pending_ (jit_run_end_counter()).
    uint64_t jit_run_end_ = 0;
    uint32_t executor_mode_bits_ = 0;
    // Double-fault tracking: the class of the exception being delivered.
    int delivering_vector_ = -1;
    int64_t tsc_origin_ns_ = 0;
    mutable uint64_t device_events_ = 0;
};

}  // namespace nomad86
