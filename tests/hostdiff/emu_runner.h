// The emulator side of a differential test: a Cpu in 32-bit protected mode
// running the instruction at CPL 3 with flat ring-3 segments and IOPL 0 (the
// user context the host runs it in). Exceptions go through an IDT whose
// gates each lead to their own ring-0 handler address, so the EIP the step
// ends at names the vector; the ring-0 stack frame holds the error code and
// the interrupted CS:EIP, EFLAGS and SS:ESP.
#pragma once
#include <memory>
#include <string>

#include "tests/hostdiff/test_case.h"

namespace nomad86::hostdiff {

class EmuRunner {
public:
    EmuRunner();
    ~EmuRunner();
    EmuRunner(const EmuRunner&) = delete;
    EmuRunner& operator=(const EmuRunner&) = delete;

    // Runs the tests through the JIT (translated from their first run),
    // optionally in lockstep with the interpreter, instead of the interpreter.
    void use_jit(bool verify);
    // `info jit` of that JIT (empty without one).
    std::string jit_report() const;

    Outcome run(const TestCase& t);
    // CPUID leaf 1 EDX bit 0, as the emulated CPU reports it.
    bool has_fpu();

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace nomad86::hostdiff
