#include "tests/hostdiff/native_runner.h"

#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace nomad86::hostdiff {
namespace {

// The worker's low mapping: [kMapBase, kMapBase + kMapSize) holds the
// 32-bit entry stub, the instruction (layout::kInsnAddr), the 64-bit return
// stub, the context page and the data window.
constexpr uint32_t kMapBase = 0x00100000;
constexpr uint32_t kMapSize = 0x00020000;
constexpr uint32_t kEntry32 = kMapBase;            // 32-bit prologue
constexpr uint32_t kReturn64 = kMapBase + 0x1000;  // 64-bit return stub
constexpr uint32_t kSavedRsp = kMapBase + 0xf000;  // the worker's RSP while in 32-bit code
constexpr uint32_t kFarPtr = kMapBase + 0xf010;    // m16:32 = 0x23:kEntry32
constexpr uint32_t kCtxIn = kMapBase + 0xf100;     // POPAD image + EFLAGS
constexpr uint32_t kCtxInEsp = kMapBase + 0xf140;
constexpr uint32_t kCtxOut = kMapBase + 0xf200;    // PUSHAD image + EFLAGS (top at kCtxOut + 36)
constexpr uint32_t kCtxOutEsp = kMapBase + 0xf280;
constexpr uint32_t kFpuIn = kMapBase + 0xf300;   // FRSTOR image (108 bytes)
constexpr uint32_t kFpuOut = kMapBase + 0xf400;  // FNSAVE image
constexpr uint16_t kUser32Cs = 0x23, kUser64Cs = 0x33, kUserDs = 0x2b;
static_assert(layout::kInsnAddr > kEntry32 && layout::kInsnAddr < kReturn64);
static_assert(layout::kWindowAddr >= kMapBase + 0x10000 &&
              layout::kWindowAddr + layout::kWindowSize <= kMapBase + kMapSize);

}  // namespace
}  // namespace nomad86::hostdiff

// enter32(far_ptr): saves the callee-saved registers and RSP, far-jumps to
// the 32-bit entry stub; the 64-bit return stub pops them and returns here.
extern "C" void hostdiff_enter32(uint64_t far_ptr);
asm(R"(
    .text
    .globl hostdiff_enter32
    .type hostdiff_enter32, @function
hostdiff_enter32:
    push %rbx
    push %rbp
    push %r12
    push %r13
    push %r14
    push %r15
    movq %rsp, 0x10f000  # kSavedRsp
    ljmpl *(%rdi)
    .size hostdiff_enter32, .-hostdiff_enter32
)");

namespace nomad86::hostdiff {
namespace {

void put32(uint8_t* p, uint32_t v) { memcpy(p, &v, 4); }
uint8_t* at(uint32_t addr) { return reinterpret_cast<uint8_t*>(uintptr_t(addr)); }

// The epilogue after the instruction: store ESP, PUSHFD + PUSHAD into the
// output context, far jump back to 64-bit code.
size_t emit_epilogue(uint8_t* p) {
    size_t n = 0;
    p[n++] = 0x89, p[n++] = 0x25, put32(p + n, kCtxOutEsp), n += 4;  // mov [kCtxOutEsp], esp
    p[n++] = 0xbc, put32(p + n, kCtxOut + 36), n += 4;              // mov esp, kCtxOut+36
    p[n++] = 0x9c;                                                  // pushfd
    p[n++] = 0x60;                                                  // pushad
    p[n++] = 0xdd, p[n++] = 0x35, put32(p + n, kFpuOut), n += 4;    // fnsave [kFpuOut] (also FNINITs for the C++ side)
    p[n++] = 0xea, put32(p + n, kReturn64), n += 4;                 // jmp far 0x33:kReturn64
    p[n++] = uint8_t(kUser64Cs), p[n++] = 0;
    return n;
}

void emit_stubs() {
    uint8_t* p = at(kEntry32);
    size_t n = 0;
    p[n++] = 0x66, p[n++] = 0xb8, p[n++] = uint8_t(kUserDs), p[n++] = 0;  // mov ax, USER_DS
    p[n++] = 0x8e, p[n++] = 0xd8;                                         // mov ds, ax
    p[n++] = 0x8e, p[n++] = 0xc0;                                         // mov es, ax
    p[n++] = 0xdd, p[n++] = 0x25, put32(p + n, kFpuIn), n += 4;          // frstor [kFpuIn]
    p[n++] = 0xbc, put32(p + n, kCtxIn), n += 4;                          // mov esp, kCtxIn
    p[n++] = 0x61;                                                        // popad
    p[n++] = 0x9d;                                                        // popfd
    p[n++] = 0x8b, p[n++] = 0x25, put32(p + n, kCtxInEsp), n += 4;        // mov esp, [kCtxInEsp]
    p[n++] = 0xe9, put32(p + n, uint32_t(layout::kInsnAddr - (kEntry32 + n + 4))), n += 4;  // jmp insn
    // Return stub (64-bit): mov rsp, [kSavedRsp]; cld (the ABI wants DF
    // clear; the test may have set it); pop r15..rbx; ret.
    uint8_t* r = at(kReturn64);
    const uint8_t ret64[] = {0x48, 0x8b, 0x24, 0x25, 0, 0, 0, 0, 0xfc, 0x41, 0x5f, 0x41, 0x5e,
                             0x41, 0x5d, 0x41, 0x5c, 0x5d, 0x5b, 0xc3};
    memcpy(r, ret64, sizeof(ret64));
    put32(r + 4, kSavedRsp);
    put32(at(kFarPtr), kEntry32);
    const uint16_t cs = kUser32Cs;
    memcpy(at(kFarPtr + 4), &cs, 2);
}

// The 80-bit register's tag as FNSAVE computes it: 0 valid, 1 zero, 2 special.
uint16_t tag_of(const uint8_t* r) {
    uint64_t mant;
    uint16_t se;
    memcpy(&mant, r, 8);
    memcpy(&se, r + 8, 2);
    const unsigned exp = se & 0x7fff;
    if (exp == 0) return mant == 0 ? 1 : 2;
    if (exp == 0x7fff || !(mant >> 63)) return 2;
    return 0;
}

// The FXSAVE image the kernel saved at the fault, as an FNSAVE image.
void fpu_from_fxsave(const _libc_fpstate* fx, FpuImage& img) {
    img.fill(0);
    memcpy(&img[fpu_image::kFcw], &fx->cwd, 2);
    memcpy(&img[fpu_image::kFsw], &fx->swd, 2);
    const unsigned top = (fx->swd >> 11) & 7;
    uint16_t ftw = 0;
    for (unsigned i = 0; i < 8; i++) {
        const uint8_t* reg = reinterpret_cast<const uint8_t*>(&fx->_st[i]);
        memcpy(&img[fpu_image::kSt0 + 10 * i], reg, 10);
        const unsigned phys = (top + i) & 7;
        const uint16_t tag = (fx->ftw >> phys) & 1 ? tag_of(reg) : 3;
        ftw = uint16_t(ftw | (tag << (2 * phys)));
    }
    memcpy(&img[fpu_image::kFtw], &ftw, 2);
}

// ---- the worker process ----
sigjmp_buf g_jump;
Outcome* g_fault_out = nullptr;

void on_fault(int, siginfo_t*, void* ctx) {
    const auto* uc = static_cast<ucontext_t*>(ctx);
    const greg_t* g = uc->uc_mcontext.gregs;
    Outcome& o = *g_fault_out;
    o.vector = int(g[REG_TRAPNO]);
    o.error_code = uint32_t(g[REG_ERR]);
    o.has_error_code = o.vector == 8 || (o.vector >= 10 && o.vector <= 14) || o.vector == 17;
    if (!o.has_error_code) o.error_code = 0;
    o.eip = uint32_t(g[REG_RIP]);
    o.eflags = uint32_t(g[REG_EFL]);
    const int regs[8] = {REG_RAX, REG_RCX, REG_RDX, REG_RBX, REG_RSP, REG_RBP, REG_RSI, REG_RDI};
    for (int i = 0; i < 8; i++) o.gpr[i] = uint32_t(g[regs[i]]);
    if (uc->uc_mcontext.fpregs) fpu_from_fxsave(uc->uc_mcontext.fpregs, o.fpu);
    siglongjmp(g_jump, 1);
}

void run_one(const TestCase& t, Outcome& o) {
    o = Outcome{};
    memcpy(at(layout::kWindowAddr), t.window.data(), t.window.size());
    uint8_t* code = at(layout::kInsnAddr);
    memcpy(code, t.bytes.data(), t.len);
    emit_epilogue(code + t.len);
    // POPAD order: EDI ESI EBP (ESP) EBX EDX ECX EAX, then EFLAGS for POPFD.
    uint32_t in[9];
    for (int i = 0; i < 8; i++) in[7 - i] = t.gpr[i];
    in[8] = (t.eflags & kComparedFlags) | 0x2;
    memcpy(at(kCtxIn), in, sizeof(in));
    put32(at(kCtxInEsp), t.gpr[4]);
    memcpy(at(kFpuIn), t.fpu.data(), t.fpu.size());
    g_fault_out = &o;
    if (sigsetjmp(g_jump, 1) == 0) {
        hostdiff_enter32(kFarPtr);
        uint32_t out[9];
        memcpy(out, at(kCtxOut), sizeof(out));
        for (int i = 0; i < 8; i++) o.gpr[i] = out[7 - i];
        memcpy(&o.gpr[4], at(kCtxOutEsp), 4);
        o.eflags = out[8];
        o.eip = layout::kInsnAddr + t.len;
        o.vector = kNoFault;
        memcpy(o.fpu.data(), at(kFpuOut), o.fpu.size());
    }
    memcpy(o.window.data(), at(layout::kWindowAddr), o.window.size());
}

}  // namespace

struct NativeRunner::Shared {
    volatile uint32_t progress;  // the next test to run, or the one running
    volatile uint32_t running;   // 1 while the worker is inside test `progress`
    uint32_t count;
    TestCase tests[kBatch];
    Outcome out[kBatch];
};

NativeRunner::NativeRunner() {
    void* p = mmap(nullptr, sizeof(Shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        perror("hostdiff: mmap shared");
        exit(2);
    }
    shared_ = static_cast<Shared*>(p);
    signal(SIGPIPE, SIG_IGN);  // a dead worker shows as a failed write or EOF, not a signal
    start_worker();
}

NativeRunner::~NativeRunner() {
    stop_worker();
    munmap(shared_, sizeof(Shared));
}

void NativeRunner::start_worker() {
    int a[2], b[2];
    if (pipe(a) != 0 || pipe(b) != 0) {
        perror("hostdiff: pipe");
        exit(2);
    }
    fflush(stdout);
    fflush(stderr);
    pid_ = fork();
    if (pid_ < 0) {
        perror("hostdiff: fork");
        exit(2);
    }
    if (pid_ == 0) {
        close(a[1]);
        close(b[0]);
        worker_main(shared_, a[0], b[1]);
    }
    close(a[0]);
    close(b[1]);
    to_worker_ = a[1];
    from_worker_ = b[0];
}

void NativeRunner::stop_worker() {
    if (pid_ <= 0) return;
    close(to_worker_);
    close(from_worker_);
    int status;
    waitpid(pid_, &status, 0);
    pid_ = -1;
}

void NativeRunner::run(const TestCase* tests, size_t n, Outcome* out) {
    memcpy(shared_->tests, tests, n * sizeof(TestCase));
    shared_->count = uint32_t(n);
    uint32_t start = 0;
    while (start < n) {
        shared_->progress = start;
        shared_->running = 0;
        uint8_t done;
        if (write(to_worker_, &start, sizeof(start)) == sizeof(start) && read(from_worker_, &done, 1) == 1) break;
        // The worker died. If it was inside a test, that test is an oracle
        // failure; either way a new worker resumes after it.
        const uint32_t at = shared_->progress;
        const bool in_test = shared_->running;
        pid_t dead = pid_;
        close(to_worker_);
        close(from_worker_);
        int status = 0;
        waitpid(dead, &status, 0);
        pid_ = -1;
        fprintf(stderr, "hostdiff: host worker died (status 0x%x) %s batch test %u; restarting\n", status,
                in_test ? "on" : "before", at);
        restarts_++;
        start_worker();
        start = at;
        if (in_test) {
            shared_->out[at] = Outcome{};
            shared_->out[at].oracle_failed = true;
            start = at + 1;
        }
    }
    memcpy(out, shared_->out, n * sizeof(Outcome));
}

void NativeRunner::worker_main(Shared* sh, int in_fd, int out_fd) {
    void* low = mmap(reinterpret_cast<void*>(uintptr_t(kMapBase)), kMapSize, PROT_READ | PROT_WRITE | PROT_EXEC,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (low != reinterpret_cast<void*>(uintptr_t(kMapBase))) {
        perror("hostdiff worker: cannot map the low test area");
        _exit(3);
    }
    emit_stubs();
    static uint8_t altstack[64 * 1024];
    stack_t ss{};
    ss.ss_sp = altstack;
    ss.ss_size = sizeof(altstack);
    sigaltstack(&ss, nullptr);
    struct sigaction sa {};
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    for (int sig : {SIGFPE, SIGILL, SIGSEGV, SIGBUS, SIGTRAP}) sigaction(sig, &sa, nullptr);
    uint32_t start;
    while (read(in_fd, &start, sizeof(start)) == sizeof(start)) {
        alarm(20);  // a hung instruction kills the worker: an oracle failure, not a hang
        for (uint32_t i = start; i < sh->count; i++) {
            sh->progress = i;
            sh->running = 1;
            run_one(sh->tests[i], sh->out[i]);
            sh->running = 0;
        }
        sh->progress = sh->count;
        alarm(0);
        const uint8_t done = 1;
        if (write(out_fd, &done, 1) != 1) break;
    }
    _exit(0);
}

}  // namespace nomad86::hostdiff
