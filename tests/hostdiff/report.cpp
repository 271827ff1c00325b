#include "tests/hostdiff/report.h"

#include <cstdarg>
#include <cstdio>
#include <cstring>

#include "tests/hostdiff/flag_rules.h"

namespace nomad86::hostdiff {
namespace {

const char* const kRegNames[8] = {"eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"};

std::string flags_text(uint32_t f) {
    std::string s;
    const struct {
        uint32_t bit;
        const char* name;
    } names[] = {{kFlagOF, "OF"}, {kFlagDF, "DF"}, {kFlagSF, "SF"}, {kFlagZF, "ZF"},
                 {kFlagAF, "AF"}, {kFlagPF, "PF"}, {kFlagCF, "CF"}};
    for (const auto& n : names) {
        if (!(f & n.bit)) continue;
        if (!s.empty()) s += ' ';
        s += n.name;
    }
    return s.empty() ? "-" : s;
}

std::string fmt(const char* f, ...) __attribute__((format(printf, 1, 2)));
std::string fmt(const char* f, ...) {
    char buf[256];
    va_list ap;
    va_start(ap, f);
    vsnprintf(buf, sizeof(buf), f, ap);
    va_end(ap);
    return buf;
}

void print_outcome(const char* who, const Outcome& o) {
    if (o.oracle_failed) {
        printf("  %s: (host worker died)\n", who);
        return;
    }
    printf("  %s: ", who);
    if (o.vector == kNoFault) printf("retired");
    else if (o.has_error_code) printf("fault #%d error 0x%x", o.vector, o.error_code);
    else printf("fault #%d", o.vector);
    printf("  eip=%08x eflags=%08x [%s]\n   ", o.eip, o.eflags, flags_text(o.eflags & kComparedFlags).c_str());
    for (int i = 0; i < 8; i++) printf(" %s=%08x", kRegNames[i], o.gpr[i]);
    printf("\n");
}

uint16_t get16(const FpuImage& f, unsigned off) {
    uint16_t v;
    memcpy(&v, &f[off], 2);
    return v;
}

std::string f80_text(const uint8_t* p) {
    uint64_t m;
    uint16_t se;
    memcpy(&m, p, 8);
    memcpy(&se, p + 8, 2);
    return fmt("%04x:%016llx", se, (unsigned long long)m);
}

// FCW, FSW (less the undefined condition codes), the tag word and every
// register the host holds as non-empty, in ST order. FIP/FDP/FCS/FDS/FOP
// are not compared.
std::string compare_fpu(const FpuImage& h, const FpuImage& e, uint16_t undefined_fsw) {
    std::string d;
    if (get16(h, fpu_image::kFcw) != get16(e, fpu_image::kFcw))
        d += fmt(" fcw(host %04x, emu %04x)", get16(h, fpu_image::kFcw), get16(e, fpu_image::kFcw));
    const uint16_t keep = uint16_t(~undefined_fsw);
    if ((get16(h, fpu_image::kFsw) & keep) != (get16(e, fpu_image::kFsw) & keep))
        d += fmt(" fsw(host %04x, emu %04x)", get16(h, fpu_image::kFsw), get16(e, fpu_image::kFsw));
    const uint16_t htw = get16(h, fpu_image::kFtw);
    if (htw != get16(e, fpu_image::kFtw)) d += fmt(" ftw(host %04x, emu %04x)", htw, get16(e, fpu_image::kFtw));
    const unsigned top = (get16(h, fpu_image::kFsw) >> 11) & 7;
    for (unsigned i = 0; i < 8; i++) {
        if (((htw >> (2 * ((top + i) & 7))) & 3) == 3) continue;
        const uint8_t* hp = &h[fpu_image::kSt0 + 10 * i];
        const uint8_t* ep = &e[fpu_image::kSt0 + 10 * i];
        if (memcmp(hp, ep, 10) != 0) d += fmt(" st%u(host %s, emu %s)", i, f80_text(hp).c_str(), f80_text(ep).c_str());
    }
    return d;
}

void print_fpu(const char* who, const FpuImage& f) {
    printf("    %s fpu: fcw=%04x fsw=%04x ftw=%04x", who, get16(f, fpu_image::kFcw), get16(f, fpu_image::kFsw),
           get16(f, fpu_image::kFtw));
    for (unsigned i = 0; i < 8; i++) printf("%s st%u=%s", i % 4 == 0 ? "\n     " : "", i, f80_text(&f[fpu_image::kSt0 + 10 * i]).c_str());
    printf("\n");
}

}  // namespace

std::string compare(const TestCase& t, const Outcome& host, const Outcome& emu) {
    const Undefined u = undefined_effects(t);
    std::string d;
    if (host.vector != emu.vector) {
        d += fmt(" vector(host %d, emu %d)", host.vector, emu.vector);
        return d;  // the rest follows from the different exception
    }
    if (host.has_error_code && (host.error_code & 0xffff) != (emu.error_code & 0xffff))
        d += fmt(" error_code(host 0x%x, emu 0x%x)", host.error_code, emu.error_code);
    if (host.eip != emu.eip) d += fmt(" eip(host %08x, emu %08x)", host.eip, emu.eip);
    for (int i = 0; i < 8; i++) {
        const uint32_t keep = ~u.gpr_bits[i];
        if ((host.gpr[i] & keep) != (emu.gpr[i] & keep))
            d += fmt(" %s(host %08x, emu %08x)", kRegNames[i], host.gpr[i], emu.gpr[i]);
    }
    const uint32_t fmask = kComparedFlags & ~u.flags;
    if ((host.eflags & fmask) != (emu.eflags & fmask)) {
        d += " flags(host " + flags_text(host.eflags & fmask) + ", emu " + flags_text(emu.eflags & fmask) +
             ", differ " + flags_text((host.eflags ^ emu.eflags) & fmask) + ")";
    }
    if (t.group == Group::kX87) d += compare_fpu(host.fpu, emu.fpu, u.fsw);
    for (uint32_t a = 0; a < layout::kWindowSize; a++) {
        const uint32_t lin = layout::kWindowAddr + a;
        if (lin >= u.mem_addr && lin < u.mem_addr + u.mem_size) continue;
        if (host.window[a] != emu.window[a]) {
            d += fmt(" mem[%08x](host %02x, emu %02x)", lin, host.window[a], emu.window[a]);
            break;
        }
    }
    return d;
}

void print_mismatch(uint64_t seed, uint64_t index, const TestCase& t, const Outcome& host, const Outcome& emu,
                    const std::string& diff) {
    printf("MISMATCH seed=%llu index=%llu group=%s (replay: --seed %llu --group %s --first %llu --count 1 --verbose)\n",
           (unsigned long long)seed, (unsigned long long)index, group_name(t.group), (unsigned long long)seed,
           group_name(t.group), (unsigned long long)index);
    printf("  bytes:");
    for (unsigned i = 0; i < t.len; i++) printf(" %02x", t.bytes[i]);
    printf("   %s\n", disassemble(t).c_str());
    printf("  initial: eflags=%08x [%s]\n   ", t.eflags, flags_text(t.eflags & kComparedFlags).c_str());
    for (int i = 0; i < 8; i++) printf(" %s=%08x", kRegNames[i], t.gpr[i]);
    printf("\n");
    const Undefined u = undefined_effects(t);
    if (*u.rule) printf("  undefined (masked): %s\n", u.rule);
    if (t.group == Group::kX87) print_fpu("initial", t.fpu);
    print_outcome("host", host);
    if (t.group == Group::kX87) print_fpu("host", host.fpu);
    print_outcome("emu ", emu);
    if (t.group == Group::kX87) print_fpu("emu", emu.fpu);
    printf("  differ:%s\n", diff.c_str());
    // Memory bytes that differ, with the initial value (at most 16).
    unsigned shown = 0;
    for (uint32_t a = 0; a < layout::kWindowSize && shown < 16; a++) {
        if (host.window[a] == emu.window[a]) continue;
        printf("    mem[%08x] initial %02x host %02x emu %02x\n", layout::kWindowAddr + a, t.window[a], host.window[a],
               emu.window[a]);
        shown++;
    }
}

}  // namespace nomad86::hostdiff
