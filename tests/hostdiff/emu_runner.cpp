#include "tests/hostdiff/emu_runner.h"

#include "jit/jit_engine.h"

#include <cstring>

#include "cpu/cpu.h"

namespace nomad86::hostdiff {
namespace {

// System structures live below the test layout (all under 1 MiB).
constexpr uint32_t kGdtAddr = 0x800;
constexpr uint32_t kIdtAddr = 0x1000;      // 256 gates
constexpr uint32_t kHandlerBase = 0x2000;  // vector v's handler at kHandlerBase + 16*v (a HLT)
constexpr uint32_t kTssAddr = 0x3000;
constexpr uint32_t kRing0StackTop = 0x9000;
constexpr uint16_t kSelCode0 = 0x08, kSelData0 = 0x10, kSelCode3 = 0x1b, kSelData3 = 0x23, kSelTss = 0x28;

using NullControl = NullMachineControl;

uint16_t get16(const FpuImage& img, unsigned off) {
    uint16_t v;
    memcpy(&v, &img[off], 2);
    return v;
}

// FNSAVE image -> the emulator's x87 state (registers by physical index).
void load_fpu(FpuState& f, const FpuImage& img) {
    f = FpuState{};
    f.fcw = get16(img, fpu_image::kFcw);
    f.fsw = get16(img, fpu_image::kFsw);
    f.ftw = get16(img, fpu_image::kFtw);
    const unsigned top = (f.fsw >> 11) & 7;
    for (unsigned i = 0; i < 8; i++) memcpy(f.st[(top + i) & 7].data(), &img[fpu_image::kSt0 + 10 * i], 10);
}

// The tag FNSAVE reports for a non-empty register: 0 valid, 1 zero, 2 special.
uint16_t content_tag(const std::array<uint8_t, 10>& r) {
    uint64_t mant;
    uint16_t se;
    memcpy(&mant, r.data(), 8);
    memcpy(&se, r.data() + 8, 2);
    const unsigned exp = se & 0x7fff;
    if (exp == 0) return mant == 0 ? 1 : 2;
    if (exp == 0x7fff || !(mant >> 63)) return 2;
    return 0;
}

// The emulator's x87 state -> FNSAVE image (pointer fields left zero: not compared).
void store_fpu(const FpuState& f, FpuImage& img) {
    img.fill(0);
    memcpy(&img[fpu_image::kFcw], &f.fcw, 2);
    memcpy(&img[fpu_image::kFsw], &f.fsw, 2);
    const unsigned top = (f.fsw >> 11) & 7;
    uint16_t ftw = 0;
    for (unsigned p = 0; p < 8; p++) {
        const uint16_t tag = ((f.ftw >> (2 * p)) & 3) == 3 ? 3 : content_tag(f.st[p]);
        ftw = uint16_t(ftw | (tag << (2 * p)));
    }
    memcpy(&img[fpu_image::kFtw], &ftw, 2);
    for (unsigned i = 0; i < 8; i++) memcpy(&img[fpu_image::kSt0 + 10 * i], f.st[(top + i) & 7].data(), 10);
}

bool vector_has_error_code(unsigned v) { return v == 8 || (v >= 10 && v <= 14) || v == 17; }

SegmentCache flat(uint16_t selector, uint16_t type, unsigned dpl) {
    SegmentCache c;
    c.selector = selector;
    c.base = 0;
    c.limit = 0xffffffff;
    c.attr = uint16_t(SegmentCache::kP | SegmentCache::kS | SegmentCache::kDB | SegmentCache::kG | (dpl << 5) | type);
    return c;
}

}  // namespace

struct EmuRunner::Impl {
    Logger log;
    IoBus io{&log};
    PhysicalMemory memory{2 * MiB};
    VirtualClock clock{VirtualClock::Mode::kManual};
    NullControl control;
    Cpu cpu{CpuBus{memory, io, clock, log, control}};
    std::unique_ptr<jit::JitEngine> jit;  // after cpu: destroyed first

    Impl() {
        const uint64_t gdt[] = {
            0,
            0x00cf9b000000ffffull,  // 0x08 ring-0 code
            0x00cf93000000ffffull,  // 0x10 ring-0 data
            0x00cffb000000ffffull,  // 0x1b ring-3 code (execute/read)
            0x00cff3000000ffffull,  // 0x23 ring-3 data
            0x00008b0000000067ull | (uint64_t(kTssAddr) << 16),  // 0x28 busy 32-bit TSS
        };
        memory.write_bytes(GuestPhys(kGdtAddr), gdt, sizeof(gdt));
        for (unsigned v = 0; v < 256; v++) {
            const uint32_t off = kHandlerBase + 16 * v;
            // 32-bit interrupt gate, DPL 0, present.
            const uint64_t gate = (off & 0xffffu) | (uint64_t(kSelCode0) << 16) | (uint64_t(0x8e00) << 32) |
                                  (uint64_t(off >> 16) << 48);
            memory.write_bytes(GuestPhys(kIdtAddr + 8 * v), &gate, 8);
            const uint8_t hlt = 0xf4;
            memory.write_bytes(GuestPhys(off), &hlt, 1);
        }
        uint8_t tss[0x68] = {};
        const uint32_t esp0 = kRing0StackTop, ss0 = kSelData0;
        memcpy(tss + 4, &esp0, 4);
        memcpy(tss + 8, &ss0, 4);
        const uint16_t iomap = 0x68;  // I/O bitmap past the limit: every port denied at CPL 3 (as on the host)
        memcpy(tss + 0x66, &iomap, 2);
        memory.write_bytes(GuestPhys(kTssAddr), tss, sizeof(tss));
    }

    // Ring-3 flat protected mode with the test's registers.
    void enter_user(const TestCase& t) {
        CpuState& s = cpu.s;
        cpu.reset();
        s.cr0 = (s.cr0 | cr0::PE | cr0::NE | cr0::MP) & ~(cr0::EM | cr0::TS);  // as Linux runs user code
        load_fpu(s.fpu, t.fpu);
        s.gdtr = {kGdtAddr, 6 * 8 - 1};
        s.idtr = {kIdtAddr, 256 * 8 - 1};
        s.tr.selector = kSelTss;
        s.tr.base = kTssAddr;
        s.tr.limit = 0x67;
        s.tr.attr = SegmentCache::kP | 0xb;
        for (int i = 0; i < kNumSegRegs; i++) s.seg[i] = flat(kSelData3, 0x3, 3);
        s.seg[kCs] = flat(kSelCode3, 0xb, 3);
        cpu.update_cpl(3);
        for (int r = 0; r < 8; r++) s.gpr[r] = t.gpr[r];
        s.set_rflags((t.eflags & kComparedFlags) | flags::FIXED1 | flags::IF);  // IOPL 0
        s.rip = layout::kInsnAddr;
        cpu.flush_decoded_blocks();
    }
};

EmuRunner::EmuRunner() : impl_(std::make_unique<Impl>()) {}
EmuRunner::~EmuRunner() = default;

void EmuRunner::use_jit(bool verify) {
    jit::JitOptions o;
    o.hot_runs = 0;
    o.verify = verify;
    impl_->jit = std::make_unique<jit::JitEngine>(impl_->cpu, impl_->log, o);
    impl_->cpu.set_block_executor(impl_->jit.get());
    // Each test runs one instruction (run(1)); the JIT takes only whole
    // blocks, so a block is one instruction.
    impl_->cpu.set_one_insn_per_block(true);
}

std::string EmuRunner::jit_report() const { return impl_->jit ? impl_->jit->report() : std::string(); }

Outcome EmuRunner::run(const TestCase& t) {
    Impl& m = *impl_;
    CpuState& s = m.cpu.s;
    m.memory.write_bytes(GuestPhys(layout::kWindowAddr), t.window.data(), t.window.size());
    uint8_t code[layout::kMaxInsnLen + 1];
    memcpy(code, t.bytes.data(), t.len);
    code[t.len] = 0xf4;  // HLT after the instruction (a ring-3 HLT would #GP: never reached in one step)
    m.memory.write_bytes(GuestPhys(layout::kInsnAddr), code, t.len + 1u);
    m.enter_user(t);
    m.cpu.run(1);

    Outcome o;
    if (s.cpl == 0) {  // an exception was delivered: the ring-0 handler names it
        const uint32_t eip = uint32_t(s.rip);
        o.vector = int((eip - kHandlerBase) / 16);
        uint32_t sp = uint32_t(s.gpr[kRsp]);
        auto pop = [&] {
            uint32_t v = uint32_t(m.memory.read(GuestPhys(sp), 4));
            sp += 4;
            return v;
        };
        if (eip < kHandlerBase || eip >= kHandlerBase + 16 * 256 || (eip - kHandlerBase) % 16 != 0) o.vector = 255;
        o.has_error_code = vector_has_error_code(unsigned(o.vector));
        if (o.has_error_code) o.error_code = pop();
        o.eip = pop();
        pop();  // CS
        o.eflags = pop();
        for (int r = 0; r < 8; r++) o.gpr[r] = uint32_t(s.gpr[r]);
        o.gpr[kRsp] = pop();
    } else {
        for (int r = 0; r < 8; r++) o.gpr[r] = uint32_t(s.gpr[r]);
        o.eip = uint32_t(s.rip);
        o.eflags = m.cpu.eflags();
    }
    m.memory.read_bytes(GuestPhys(layout::kWindowAddr), o.window.data(), o.window.size());
    store_fpu(s.fpu, o.fpu);
    return o;
}

bool EmuRunner::has_fpu() {
    TestCase t;
    t.len = 2;
    t.bytes[0] = 0x0f;
    t.bytes[1] = 0xa2;  // CPUID
    t.gpr[0] = 1;
    t.gpr[4] = layout::kStackTop;
    const Outcome o = run(t);
    return o.vector == kNoFault && (o.gpr[2] & 1u);
}

}  // namespace nomad86::hostdiff
