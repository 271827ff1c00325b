// nomad86-hostdiff: differential testing of the interpreter against the host
// CPU. Each test is a random instruction with random registers, flags and
// memory, run natively (native_runner) and in the emulator (emu_runner);
// everything the SDM defines must agree (report, flag_rules).
//
//   nomad86-hostdiff [--count N] [--seed S] [--group G] [--first I] [--soak] [--verbose] [--assume-fpu]
//
// --first I starts at test index I (replays one test with --count 1); the
// x87 group runs only when the emulator's CPUID reports an FPU, or with
// --assume-fpu while the FPU is being written.
// The last line is "N passed, M failed"; the exit status is 1 when M > 0.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "tests/hostdiff/emu_runner.h"
#include "tests/hostdiff/flag_rules.h"
#include "tests/hostdiff/generator.h"
#include "tests/hostdiff/native_runner.h"
#include "tests/hostdiff/report.h"

namespace nomad86::hostdiff {

const char* group_name(Group g) {
    static const char* const kNames[] = {"alu", "shift", "muldiv", "bcd", "bit", "string", "cmov-setcc",
                                         "cmpxchg-xadd-bswap", "x87"};
    return g < Group::kCount ? kNames[unsigned(g)] : "?";
}

namespace {

constexpr unsigned kMaxPrinted = 20;

struct Options {
    uint64_t count = 200000;
    bool count_given = false;
    uint64_t seed = 0;
    bool seed_given = false;
    uint64_t first = 0;
    std::string group = "all";
    bool soak = false;
    bool verbose = false;
    bool assume_fpu = false;  // run x87 even while CPUID says no FPU (for the FPU's development)
    std::string accel = "interp";  // interp, jit, or jit,verify=on
};

[[noreturn]] void usage(const char* msg) {
    fprintf(stderr,
            "%s\nusage: nomad86-hostdiff [--count N] [--seed S] [--group G] [--first I] [--soak] [--verbose] [--assume-fpu]\n"
            "       [--accel interp|jit|jit,verify=on]\n"
            "groups: all alu shift muldiv bcd bit string cmov-setcc cmpxchg-xadd-bswap x87\n",
            msg);
    exit(2);
}

Options parse(int argc, char** argv) {
    Options o;
    for (int i = 1; i < argc; i++) {
        const std::string a = argv[i];
        auto num = [&] {
            if (i + 1 >= argc) usage(("missing value for " + a).c_str());
            char* end;
            const uint64_t v = strtoull(argv[++i], &end, 0);
            if (*end) usage(("bad number for " + a).c_str());
            return v;
        };
        if (a == "--count") o.count = num(), o.count_given = true;
        else if (a == "--seed") o.seed = num(), o.seed_given = true;
        else if (a == "--accel" && i + 1 < argc) {
            o.accel = argv[++i];
            if (o.accel != "interp" && o.accel != "jit" && o.accel != "jit,verify=on") usage("bad --accel");
        }
        else if (a == "--first") o.first = num();
        else if (a == "--group") {
            if (i + 1 >= argc) usage("missing value for --group");
            o.group = argv[++i];
        } else if (a == "--soak") o.soak = true;
        else if (a == "--verbose") o.verbose = true;
        else if (a == "--assume-fpu") o.assume_fpu = true;
        else if (a == "--help" || a == "-h") usage("nomad86-hostdiff: the host CPU as an oracle");
        else usage(("unknown option " + a).c_str());
    }
    if (o.soak && !o.count_given) o.count = 5'000'000;
    if (!o.seed_given) o.seed = std::random_device{}() | (uint64_t(std::random_device{}()) << 32);
    return o;
}

}  // namespace

int run(int argc, char** argv) {
    setvbuf(stdout, nullptr, _IOLBF, 0);
    const Options opt = parse(argc, argv);
    EmuRunner emu;
    if (opt.accel != "interp") emu.use_jit(opt.accel == "jit,verify=on");
    const bool fpu = emu.has_fpu() || opt.assume_fpu;

    std::vector<Group> groups;
    if (opt.group == "all") {
        for (unsigned g = 0; g < unsigned(Group::kCount); g++) {
            if (Group(g) == Group::kX87 && !fpu) {
                printf("note: group x87 skipped: the emulator reports no FPU (CPUID.1:EDX.FPU = 0)\n");
                continue;
            }
            groups.push_back(Group(g));
        }
    } else {
        for (unsigned g = 0; g < unsigned(Group::kCount); g++)
            if (opt.group == group_name(Group(g))) groups.push_back(Group(g));
        if (groups.empty()) usage(("unknown group " + opt.group).c_str());
        if (groups[0] == Group::kX87 && !fpu) {
            printf("the emulator has no FPU yet (CPUID.1:EDX.FPU = 0): group x87 cannot run\n");
            printf("0 passed, 1 failed\n");
            return 1;
        }
    }
    printf("hostdiff: seed %llu, %llu instructions from index %llu, group %s\n", (unsigned long long)opt.seed,
           (unsigned long long)opt.count, (unsigned long long)opt.first, opt.group.c_str());

    NativeRunner native;
    std::vector<TestCase> tests(NativeRunner::kBatch);
    std::vector<Outcome> host(NativeRunner::kBatch);
    // The oracle needs a host that runs 32-bit code in compatibility mode.
    // Some x86-64 kernels run none (a PVM guest kernel, for one: its far
    // jump to the 32-bit user code segment raises #GP), and then every
    // case would "differ". A NOP that faults says so once, and the run is
    // reported as skipped (exit 77), not as 200,000 failures nor as a pass.
    {
        TestCase probe;
        probe.len = 1;
        probe.bytes[0] = 0x90;  // NOP
        probe.gpr[4] = layout::kStackTop;
        native.run(&probe, 1, host.data());
        if (host[0].oracle_failed || host[0].vector != kNoFault) {
            printf("hostdiff: this host cannot run 32-bit code (a NOP in the 32-bit user code segment raised "
                   "vector %d, error 0x%x): no host oracle here\n",
                   host[0].vector, host[0].error_code);
            printf("0 passed, 0 failed, skipped\n");
            return 77;
        }
    }
    uint64_t passed = 0, failed = 0, oracle_failures = 0, printed = 0;
    uint64_t failed_by_group[unsigned(Group::kCount)] = {}, run_by_group[unsigned(Group::kCount)] = {};
    const auto t0 = std::chrono::steady_clock::now();
    uint64_t next_progress = 1'000'000;
    for (uint64_t done = 0; done < opt.count;) {
        const size_t n = size_t(std::min<uint64_t>(NativeRunner::kBatch, opt.count - done));
        for (size_t i = 0; i < n; i++) {
            const uint64_t index = opt.first + done + i;
            tests[i] = generate(groups[index % groups.size()], opt.seed, index);
        }
        native.run(tests.data(), n, host.data());
        for (size_t i = 0; i < n; i++) {
            const uint64_t index = opt.first + done + i;
            const TestCase& t = tests[i];
            run_by_group[unsigned(t.group)]++;
            const Outcome e = emu.run(t);
            if (host[i].oracle_failed) {
                oracle_failures++;
                failed++;
                failed_by_group[unsigned(t.group)]++;
                printf("ORACLE FAILURE seed=%llu index=%llu group=%s: %s\n", (unsigned long long)opt.seed,
                       (unsigned long long)index, group_name(t.group), disassemble(t).c_str());
                continue;
            }
            const std::string diff = compare(t, host[i], e);
            if (diff.empty()) {
                passed++;
                if (opt.verbose) {
                    printf("ok index=%llu:", (unsigned long long)index);
                    for (unsigned k = 0; k < t.len; k++) printf(" %02x", t.bytes[k]);
                    printf("  %s", disassemble(t).c_str());
                    if (host[i].vector != kNoFault) printf("  (#%d)", host[i].vector);
                    printf("  flags %03x->%03x", t.eflags & kComparedFlags, host[i].eflags & kComparedFlags);
                    const char* rule = undefined_effects(t).rule;
                    if (*rule) printf("  [%s]", rule);
                    printf("\n");
                }
                continue;
            }
            failed++;
            failed_by_group[unsigned(t.group)]++;
            if (printed++ < kMaxPrinted || opt.verbose) print_mismatch(opt.seed, index, t, host[i], e, diff);
        }
        done += n;
        if (opt.soak && done >= next_progress) {
            const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            printf("progress: %llu done, %llu failed, %.0f insn/s\n", (unsigned long long)done,
                   (unsigned long long)failed, double(done) / s);
            next_progress += 1'000'000;
        }
    }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (printed > kMaxPrinted && !opt.verbose) printf("(%llu more mismatches not shown)\n", (unsigned long long)(printed - kMaxPrinted));
    for (unsigned g = 0; g < unsigned(Group::kCount); g++) {
        if (!run_by_group[g]) continue;
        printf("  %-20s %9llu run %7llu failed\n", group_name(Group(g)), (unsigned long long)run_by_group[g],
               (unsigned long long)failed_by_group[g]);
    }
    if (oracle_failures) printf("%llu oracle failures (host worker died; counted as failed)\n", (unsigned long long)oracle_failures);
    printf("seed %llu: %.1f s, %.0f instructions/s\n", (unsigned long long)opt.seed, secs, double(opt.count) / secs);
    printf("%s", emu.jit_report().c_str());
    printf("%llu passed, %llu failed\n", (unsigned long long)passed, (unsigned long long)failed);
    return failed ? 1 : 0;
}

}  // namespace nomad86::hostdiff

int main(int argc, char** argv) { return nomad86::hostdiff::run(argc, argv); }
