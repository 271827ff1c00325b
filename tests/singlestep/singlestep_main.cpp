// nomad86-singlestep: runs hardware-captured single-instruction tests (the
// SingleStepTests MOO files) against the reference interpreter.
//
//   nomad86-singlestep [--verbose] [--list-rules] PATH...
//
// PATH is a .MOO / .MOO.gz file or a directory of them. Each test's initial
// state is set up in real mode (segment bases = selector x 16, A20 on, 16 MiB
// of RAM), the CPU runs until the HLT after the instruction has executed, and
// the registers and the listed memory bytes are compared with the final state
// the hardware produced. conformance_table.cpp says what is masked or skipped.
// The last line is `N passed, M failed`; the exit status is 0 only if nothing
// failed.
#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <fstream>
#include <set>
#include <string>
#include <unordered_set>
#include <vector>

#include <Zydis/Zydis.h>

#include "cpu/cpu.h"
#include "jit/jit_engine.h"
#include "tests/singlestep/conformance_table.h"
#include "tests/singlestep/moo_reader.h"

namespace fs = std::filesystem;
using namespace nomad86;
namespace moo = nomad86::moo;

namespace {

using NullControl = NullMachineControl;

// The PC's legacy hole [0xA0000, 0x100000) is plain RAM on the test bench
// (the 286 suite puts code and data anywhere in the first MiB).
class HoleRam final : public MmioHandler {
public:
    static constexpr uint64_t kBase = PhysicalMemory::kLegacyHoleStart;
    static constexpr uint64_t kSize = PhysicalMemory::kLegacyHoleEnd - PhysicalMemory::kLegacyHoleStart;
    uint64_t mmio_read(uint64_t offset, unsigned size) override {
        uint64_t v = 0;
        for (unsigned i = 0; i < size && offset + i < kSize; i++) v |= uint64_t(bytes_[offset + i]) << (8 * i);
        return v;
    }
    void mmio_write(uint64_t offset, unsigned size, uint64_t value) override {
        for (unsigned i = 0; i < size && offset + i < kSize; i++) bytes_[offset + i] = uint8_t(value >> (8 * i));
    }

private:
    std::vector<uint8_t> bytes_ = std::vector<uint8_t>(kSize, 0);
};

constexpr uint16_t kFlagsCompared = 0xffff;
constexpr uint64_t kStepBound = 4096;  // REP strings in the suite are short; a runaway test fails fast

const char* const kFlagNames[16] = {"CF", "b1", "PF", "b3", "AF", "b5", "ZF", "SF",
                                    "TF", "IF", "DF", "OF", "IOPL0", "IOPL1", "NT", "b15"};

std::string flag_list(uint16_t bits) {
    std::string s;
    for (int i = 0; i < 16; i++)
        if (bits & (1u << i)) s += (s.empty() ? "" : " ") + std::string(kFlagNames[i]);
    return s;
}

struct Stats {
    uint64_t passed = 0, failed = 0, skipped = 0, revoked = 0, files = 0, bad_files = 0;
};

class Bench {
public:
    Bench() {
        memory_.add_mmio(GuestPhys(HoleRam::kBase), HoleRam::kSize, &hole_, "hole-ram");
        pristine_ = cpu_.s;
        ZydisDecoderInit(&zdec_, ZYDIS_MACHINE_MODE_REAL_16, ZYDIS_STACK_WIDTH_16);
        ZydisFormatterInit(&zfmt_, ZYDIS_FORMATTER_STYLE_INTEL);
    }

    // Runs the tests through the JIT (translated from their first run),
    // optionally in lockstep with the interpreter.
    void use_jit(bool verify) {
        jit::JitOptions o;
        o.hot_runs = 0;
        o.verify = verify;
        jit_ = std::make_unique<jit::JitEngine>(cpu_, log_, o);
        cpu_.set_block_executor(jit_.get());
    }
    std::string jit_report() const { return jit_ ? jit_->report() : std::string(); }

    // Runs one test; returns true if it passed. `report` gets the details of a failure.
    bool run(const moo::Test& t, uint16_t flag_mask, std::string* report) {
        CpuState& s = cpu_.s;
        s = pristine_;
        static const unsigned kGpr[8] = {kRax, kRbx, kRcx, kRdx, kRsp, kRbp, kRsi, kRdi};
        static const unsigned kGprReg[8] = {moo::kAx, moo::kBx, moo::kCx, moo::kDx,
                                            moo::kSp, moo::kBp, moo::kSi, moo::kDi};
        for (int i = 0; i < 8; i++) s.gpr[kGpr[i]] = t.init.regs[kGprReg[i]];
        const unsigned kSegReg[4][2] = {{kCs, moo::kCs}, {kSs, moo::kSs}, {kDs, moo::kDs}, {kEs, moo::kEs}};
        for (auto [seg, r] : kSegReg) {
            s.seg[seg].selector = t.init.regs[r];
            s.seg[seg].base = uint64_t(t.init.regs[r]) << 4;
        }
        s.rip = t.init.regs[moo::kIp];
        // FLAGS bits 12-15 of the initial state are random; a 286 in real mode
        // holds them clear (../shared/README.md), bits 3 and 5 are reserved 0.
        s.set_rflags((t.init.regs[moo::kFlags] & 0x0fd7) | flags::FIXED1);

        bool code_in_hole = false;
        for (auto [a, v] : t.init.ram) {
            memory_.write_bytes(GuestPhys(a), &v, 1);
            if (a >= HoleRam::kBase && a < HoleRam::kBase + HoleRam::kSize) code_in_hole = true;
        }
        // Stores to the hole go to MMIO and do not invalidate decoded blocks.
        if (code_in_hole) cpu_.flush_decoded_blocks();

        uint64_t steps = 0;
        while (!s.halted && !cpu_.shutdown() && steps < kStepBound) {
            cpu_.run(64);
            steps += 64;
        }
        bool ok = compare(t, flag_mask, steps, report);

        // Leave memory as it was: zero what the test touched.
        const uint8_t zero = 0;
        for (auto [a, v] : t.init.ram) memory_.write_bytes(GuestPhys(a), &zero, 1);
        for (auto [a, v] : t.final_state.ram) memory_.write_bytes(GuestPhys(a), &zero, 1);
        if (cpu_.shutdown()) {
            // Only reset() clears a shutdown; it also flushes the blocks.
            cpu_.reset();
            pristine_ = cpu_.s;
        }
        return ok;
    }

    std::string disassemble(const std::vector<uint8_t>& bytes) {
        ZydisDecodedInstruction insn;
        ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
        if (ZYAN_FAILED(ZydisDecoderDecodeFull(&zdec_, bytes.data(), bytes.size(), &insn, ops)))
            return "(undecodable)";
        char buf[256];
        if (ZYAN_FAILED(ZydisFormatterFormatInstruction(&zfmt_, &insn, ops, insn.operand_count_visible, buf,
                                                        sizeof(buf), 0, nullptr)))
            return "(unformattable)";
        return buf;
    }

private:
    uint16_t actual_reg(unsigned r) const {
        const CpuState& s = cpu_.s;
        switch (r) {
        case moo::kAx: return uint16_t(s.gpr[kRax]);
        case moo::kBx: return uint16_t(s.gpr[kRbx]);
        case moo::kCx: return uint16_t(s.gpr[kRcx]);
        case moo::kDx: return uint16_t(s.gpr[kRdx]);
        case moo::kCs: return s.seg[kCs].selector;
        case moo::kSs: return s.seg[kSs].selector;
        case moo::kDs: return s.seg[kDs].selector;
        case moo::kEs: return s.seg[kEs].selector;
        case moo::kSp: return uint16_t(s.gpr[kRsp]);
        case moo::kBp: return uint16_t(s.gpr[kRbp]);
        case moo::kSi: return uint16_t(s.gpr[kRsi]);
        case moo::kDi: return uint16_t(s.gpr[kRdi]);
        case moo::kIp: return uint16_t(s.rip);
        default: return uint16_t(cpu_.eflags());
        }
    }

    bool compare(const moo::Test& t, uint16_t flag_mask, uint64_t steps, std::string* report) {
        bool ok = true;
        std::string out;
        char line[256];
        if (!cpu_.s.halted) {
            ok = false;
            snprintf(line, sizeof line, "  did not reach the HLT (%s after %" PRIu64 " steps)\n",
                     cpu_.shutdown() ? "shut down" : "still running", steps);
            out += line;
        }
        const uint16_t fmask = uint16_t(kFlagsCompared & ~flag_mask);
        for (unsigned r = 0; r < moo::kNumRegs; r++) {
            uint16_t want = t.final_state.has(r) ? t.final_state.regs[r] : t.init.regs[r];
            uint16_t got = actual_reg(r);
            if (r == moo::kFlags) {
                if ((want ^ got) & fmask) {
                    ok = false;
                    snprintf(line, sizeof line, "  flags expected %04x actual %04x (compared %04x) differ: %s\n",
                             want, got, fmask, flag_list(uint16_t((want ^ got) & fmask)).c_str());
                    out += line;
                }
            } else if (want != got) {
                ok = false;
                snprintf(line, sizeof line, "  %-5s expected %04x actual %04x\n", moo::reg_name(r), want, got);
                out += line;
            }
        }
        // The FLAGS image an exception pushed gets the same mask. It lies at
        // SS:SP+4 of the final state (the interrupt pushed FLAGS, CS, IP);
        // the EXCP chunk's address is rounded down to even on odd stacks.
        uint32_t flags_lo = ~0u, flags_hi = ~0u;
        if (t.has_exception) {
            const uint32_t ss = t.final_state.has(moo::kSs) ? t.final_state.regs[moo::kSs] : t.init.regs[moo::kSs];
            const uint32_t sp = t.final_state.has(moo::kSp) ? t.final_state.regs[moo::kSp] : t.init.regs[moo::kSp];
            flags_lo = (ss << 4) + ((sp + 4) & 0xffff);
            flags_hi = (ss << 4) + ((sp + 5) & 0xffff);
        }
        for (auto [a, want] : t.final_state.ram) {
            uint8_t got = 0;
            memory_.read_bytes(GuestPhys(a), &got, 1);
            uint8_t m = 0xff;
            if (a == flags_lo) m = uint8_t(fmask);
            if (a == flags_hi) m = uint8_t(fmask >> 8);
            if ((want ^ got) & m) {
                ok = false;
                snprintf(line, sizeof line, "  mem[%06x] expected %02x actual %02x\n", a, want, got);
                out += line;
            }
        }
        if (!ok && report) {
            std::string want_line = "  expected:", got_line = "  actual:  ";
            for (unsigned r = 0; r < moo::kNumRegs; r++) {
                uint16_t want = t.final_state.has(r) ? t.final_state.regs[r] : t.init.regs[r];
                snprintf(line, sizeof line, " %s=%04x", moo::reg_name(r), want);
                want_line += line;
                snprintf(line, sizeof line, " %s=%04x", moo::reg_name(r), actual_reg(r));
                got_line += line;
            }
            *report = want_line + "\n" + got_line + "\n" + out;
        }
        return ok;
    }

    Logger log_;
    IoBus io_{&log_};
    PhysicalMemory memory_{16 * MiB};
    VirtualClock clock_{VirtualClock::Mode::kManual};
    NullControl control_;
    HoleRam hole_;
    Cpu cpu_{CpuBus{memory_, io_, clock_, log_, control_}};
    std::unique_ptr<jit::JitEngine> jit_;  // after cpu_: destroyed first
    CpuState pristine_;
    ZydisDecoder zdec_;
    ZydisFormatter zfmt_;
};

bool is_moo(const fs::path& p) {
    const std::string n = p.filename().string();
    auto ends = [&](const char* suf) {
        size_t l = strlen(suf);
        return n.size() > l && n.compare(n.size() - l, l, suf) == 0;
    };
    return ends(".MOO") || ends(".MOO.gz") || ends(".moo") || ends(".moo.gz");
}

// "F6.7.MOO.gz" -> "F6.7"
std::string stem_of(const fs::path& p) {
    std::string n = p.filename().string();
    size_t i = n.find(".MOO");
    if (i == std::string::npos) i = n.find(".moo");
    return i == std::string::npos ? n : n.substr(0, i);
}

void load_revocations(const fs::path& dir, std::unordered_set<std::string>& out, std::set<fs::path>& seen) {
    fs::path f = dir / "revocation_list.txt";
    std::error_code ec;
    if (!fs::exists(f, ec) || !seen.insert(fs::weakly_canonical(f, ec)).second) return;
    std::ifstream in(f);
    std::string line;
    while (std::getline(in, line)) {
        size_t b = line.find_first_not_of(" \t\r");
        if (b == std::string::npos || line[b] == '#') continue;
        size_t e = line.find_first_of(" \t\r#", b);
        std::string h = line.substr(b, e == std::string::npos ? std::string::npos : e - b);
        std::transform(h.begin(), h.end(), h.begin(), [](unsigned char c) { return char(std::tolower(c)); });
        out.insert(h);
    }
}

void usage() {
    fprintf(stderr,
            "usage: nomad86-singlestep [--verbose] [--list-rules] [--accel interp|jit|jit,verify=on] PATH...\n"
            "  PATH: a .MOO or .MOO.gz file, or a directory of them\n");
}

}  // namespace

int main(int argc, char** argv) {
    bool verbose = false;
    std::string accel = "interp";
    std::vector<fs::path> args;
    for (int i = 1; i < argc; i++) {
        std::string a = argv[i];
        if (a == "--verbose" || a == "-v") {
            verbose = true;
        } else if (a == "--accel" && i + 1 < argc) {
            accel = argv[++i];
            if (accel != "interp" && accel != "jit" && accel != "jit,verify=on") {
                usage();
                return 2;
            }
        } else if (a == "--list-rules") {
            size_t n = 0;
            const singlestep::Rule* r = singlestep::rules(&n);
            for (size_t k = 0; k < n; k++)
                printf("%-40s %s %04x\n  %s\n", r[k].groups, r[k].action == singlestep::Action::kSkip ? "skip" : "mask",
                       r[k].flags, r[k].why);
            return 0;
        } else if (a == "--help" || a == "-h") {
            usage();
            return 0;
        } else if (a.size() > 1 && a[0] == '-') {
            usage();
            return 2;
        } else {
            args.emplace_back(a);
        }
    }
    if (args.empty()) {
        usage();
        return 2;
    }

    std::vector<fs::path> files;
    std::unordered_set<std::string> revoked;
    std::set<fs::path> seen_lists;
    Stats st;
    for (const fs::path& a : args) {
        std::error_code ec;
        if (fs::is_directory(a, ec)) {
            std::vector<fs::path> here;
            for (const auto& e : fs::directory_iterator(a, ec))
                if (e.is_regular_file() && is_moo(e.path())) here.push_back(e.path());
            std::sort(here.begin(), here.end());
            if (here.empty()) {
                printf("%s: no .MOO or .MOO.gz files\n", a.c_str());
                st.bad_files++;
            }
            files.insert(files.end(), here.begin(), here.end());
            load_revocations(a, revoked, seen_lists);
        } else if (fs::exists(a, ec)) {
            files.push_back(a);
            load_revocations(a.has_parent_path() ? a.parent_path() : fs::path("."), revoked, seen_lists);
        } else {
            printf("%s: no such file or directory\n", a.c_str());
            st.bad_files++;
        }
    }

    Bench bench;
    if (accel != "interp") bench.use_jit(accel == "jit,verify=on");
    std::map<const singlestep::Rule*, uint64_t> skips_by_rule;
    const auto t0 = std::chrono::steady_clock::now();
    for (const fs::path& f : files) {
        moo::MooFile mf;
        auto err = moo::read_moo_file(f.string(), mf);
        st.files++;
        if (err) {
            printf("%s: malformed at offset %zu: %s (%zu tests before it run)\n", f.c_str(), err->offset,
                   err->message.c_str(), mf.tests.size());
            st.bad_files++;
        }
        const std::string stem = stem_of(f);
        uint64_t file_failed = 0, file_passed = 0, file_skipped = 0;
        for (const moo::Test& t : mf.tests) {
            if (t.has_hash && revoked.count(t.hash_hex())) {
                st.revoked++;
                continue;
            }
            singlestep::Verdict v = singlestep::classify(stem, t);
            if (v.skip) {
                file_skipped++;
                skips_by_rule[v.skip]++;
                continue;
            }
            std::string report;
            if (bench.run(t, v.flag_mask, verbose ? &report : nullptr)) {
                file_passed++;
            } else {
                file_failed++;
                if (verbose) {
                    std::string hex;
                    char b[4];
                    for (uint8_t x : t.bytes) {
                        snprintf(b, sizeof b, "%02x ", x);
                        hex += b;
                    }
                    printf("FAIL %s #%u (offset %zu) %s| %s | %s| hash %s\n", stem.c_str(), t.index, t.file_offset,
                           hex.c_str(), t.name.c_str(), bench.disassemble(t.bytes).c_str(), t.hash_hex().c_str());
                    if (t.has_exception)
                        printf("  (hardware raised exception %u, FLAGS pushed at %06x)\n", t.exception_vector,
                               t.exception_flags_address);
                    printf("  initial:");
                    for (unsigned r = 0; r < moo::kNumRegs; r++) printf(" %s=%04x", moo::reg_name(r), t.init.regs[r]);
                    printf("\n%s", report.c_str());
                }
            }
        }
        if (file_failed || verbose)
            printf("%s: %" PRIu64 " passed, %" PRIu64 " failed, %" PRIu64 " skipped by the table\n", stem.c_str(),
                   file_passed, file_failed, file_skipped);
        st.passed += file_passed;
        st.failed += file_failed;
        st.skipped += file_skipped;
    }
    for (auto [rule, n] : skips_by_rule)
        printf("skipped %6" PRIu64 " by table rule [%s]: %.70s...\n", n, rule->groups, rule->why);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const uint64_t ran = st.passed + st.failed;
    printf("%" PRIu64 " files (%" PRIu64 " unreadable), %" PRIu64 " tests run in %.1f s (%.0f tests/s); %" PRIu64
           " skipped by the table, %" PRIu64 " revoked\n",
           st.files, st.bad_files, ran, secs, secs > 0 ? ran / secs : 0.0, st.skipped, st.revoked);
    printf("%s", bench.jit_report().c_str());
    printf("%" PRIu64 " passed, %" PRIu64 " failed\n", st.passed, st.failed + st.bad_files);
    return st.failed + st.bad_files ? 1 : 0;
}
