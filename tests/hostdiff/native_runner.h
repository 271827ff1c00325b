// The host side of a differential test: the instruction runs natively in
// 32-bit compatibility mode, in a forked worker process.
//
// The worker maps the test layout at its fixed low addresses (see
// test_case.h) and, per test, far-jumps from 64-bit code to the Linux
// 32-bit user code segment (selector 0x23) into a 32-bit stub: "load DS/ES,
// POPAD the test's registers, POPFD its flags, load its ESP; <instruction>;
// store ESP, PUSHFD, PUSHAD; far jump to 0x33:<64-bit return stub>". BCD and
// every other 32-bit-only encoding therefore have their exact 32-bit
// meaning. A faulting instruction raises a signal (SIGFPE, SIGILL, SIGSEGV,
// SIGBUS) taken on an alternate stack; the handler records the vector
// (uc_mcontext trap number), error code and registers at the fault and
// siglongjmps back into the worker's loop. Tests go in batches through
// shared memory; a worker that dies mid-batch is restarted and the test it
// died on is marked as an oracle failure.
#pragma once
#include <sys/types.h>

#include <cstddef>
#include <vector>

#include "tests/hostdiff/test_case.h"

namespace nomad86::hostdiff {

class NativeRunner {
public:
    static constexpr size_t kBatch = 2048;

    NativeRunner();
    ~NativeRunner();
    NativeRunner(const NativeRunner&) = delete;
    NativeRunner& operator=(const NativeRunner&) = delete;

    // Runs tests[0..n) (n <= kBatch) on the host; fills out[0..n).
    void run(const TestCase* tests, size_t n, Outcome* out);
    // Number of worker restarts so far (each is an oracle failure).
    unsigned restarts() const { return restarts_; }

private:
    struct Shared;
    void start_worker();
    void stop_worker();
    [[noreturn]] static void worker_main(Shared* sh, int in_fd, int out_fd);

    Shared* shared_ = nullptr;
    pid_t pid_ = -1;
    int to_worker_ = -1, from_worker_ = -1;
    unsigned restarts_ = 0;
};

}  // namespace nomad86::hostdiff
