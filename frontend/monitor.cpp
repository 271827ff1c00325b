// The HMP monitor: QEMU's command language over one command table.
#include "frontend/monitor.h"

#include <algorithm>
#include <cctype>
#include <cinttypes>
#include <cstdarg>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <sstream>
#include <stdexcept>
#include <sys/stat.h>
#include <unistd.h>

#include <Zydis/Zydis.h>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>

#include "core/machine.h"
#include "cpu/block_decoder.h"
#include "devices/acpi_pm.h"
#include "devices/pic8259.h"

namespace nomad86 {

namespace {

// A command's error: its message is the command's output.
struct MonitorError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

std::string fmt(const char* f, ...) __attribute__((format(printf, 1, 2)));
std::string fmt(const char* f, ...) {
    char buf[512];
    va_list ap;
    va_start(ap, f);
    vsnprintf(buf, sizeof buf, f, ap);
    va_end(ap);
    return buf;
}

std::string trim(const std::string& s) {
    size_t b = 0, e = s.size();
    while (b < e && isspace(uint8_t(s[b]))) b++;
    while (e > b && isspace(uint8_t(s[e - 1]))) e--;
    return s.substr(b, e - b);
}

// Printable form of user input for error messages (garbage stays garbage,
// but does not reach the peer's terminal as control bytes).
std::string printable(const std::string& s) {
    std::string out;
    for (uint8_t c : s) {
        if (c >= 0x20 && c < 0x7f) {
            out += char(c);
        } else {
            out += fmt("\\x%02x", c);
        }
    }
    return out;
}

// ---- expressions: QEMU's grammar, reduced (numbers, $registers, + - * / % & | ^ ~ ()) ----
class ExprParser {
public:
    ExprParser(Cpu& cpu, const std::string& text) : cpu_(cpu), p_(text.c_str()) {}

    uint64_t parse_all() {
        uint64_t v = logic();
        skip();
        if (*p_) throw MonitorError(std::string("invalid char '") + printable(std::string(1, *p_)) + "' in expression");
        return v;
    }

private:
    void skip() {
        while (*p_ && isspace(uint8_t(*p_))) p_++;
    }
    uint64_t logic() {
        uint64_t v = sum();
        for (;;) {
            skip();
            char op = *p_;
            if (op != '&' && op != '|' && op != '^') return v;
            p_++;
            uint64_t r = sum();
            v = op == '&' ? (v & r) : op == '|' ? (v | r) : (v ^ r);
        }
    }
    uint64_t sum() {
        uint64_t v = prod();
        for (;;) {
            skip();
            char op = *p_;
            if (op != '+' && op != '-') return v;
            p_++;
            uint64_t r = prod();
            v = op == '+' ? v + r : v - r;
        }
    }
    uint64_t prod() {
        uint64_t v = unary();
        for (;;) {
            skip();
            char op = *p_;
            if (op != '*' && op != '/' && op != '%') return v;
            p_++;
            uint64_t r = unary();
            if (op == '*') {
                v *= r;
            } else {
                if (r == 0) throw MonitorError("division by zero");
                v = op == '/' ? v / r : v % r;
            }
        }
    }
    uint64_t unary() {
        skip();
        switch (*p_) {
        case '+': p_++; return unary();
        case '-': p_++; return -unary();
        case '~': p_++; return ~unary();
        case '(': {
            p_++;
            uint64_t v = logic();
            skip();
            if (*p_ != ')') throw MonitorError("')' expected");
            p_++;
            return v;
        }
        case '$': {
            p_++;
            std::string name;
            while (*p_ && (isalnum(uint8_t(*p_)) || *p_ == '_' || *p_ == '.')) name += char(tolower(uint8_t(*p_++)));
            return reg(name);
        }
        case '\0': throw MonitorError("unexpected end of expression");
        default:
            if (!isdigit(uint8_t(*p_))) throw MonitorError(std::string("invalid char '") + printable(std::string(1, *p_)) + "' in expression");
            errno = 0;
            char* end;
            uint64_t v = strtoull(p_, &end, 0);
            if (errno == ERANGE) throw MonitorError("number too large");
            p_ = end;
            return v;
        }
    }
    uint64_t reg(const std::string& n) {
        static const char* const k32[] = {"eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"};
        static const char* const k16[] = {"ax", "cx", "dx", "bx", "sp", "bp", "si", "di"};
        static const char* const k8[] = {"al", "cl", "dl", "bl", "ah", "ch", "dh", "bh"};
        static const char* const k64[] = {"rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi"};
        static const char* const kSeg[] = {"es", "cs", "ss", "ds", "fs", "gs"};
        const CpuState& s = cpu_.s;
        for (unsigned i = 0; i < 8; i++) {
            if (n == k32[i]) return s.gpr[i] & 0xffffffffu;
            if (n == k16[i]) return s.gpr[i] & 0xffff;
            if (n == k64[i]) return s.gpr[i];
            if (n == k8[i]) return i < 4 ? s.gpr[i] & 0xff : (s.gpr[i - 4] >> 8) & 0xff;
        }
        for (unsigned i = 0; i < kNumSegRegs; i++) {
            if (n == kSeg[i]) return s.seg[i].selector;
            if (n == std::string(kSeg[i]) + ".base") return s.seg[i].base;
            if (n == std::string(kSeg[i]) + ".limit") return s.seg[i].limit;
        }
        if (n == "pc") return cpu_.linear_pc();
        if (n == "eip") return s.rip & 0xffffffffu;
        if (n == "ip") return s.rip & 0xffff;
        if (n == "rip") return s.rip;
        if (n == "eflags" || n == "efl" || n == "flags") return cpu_.eflags();
        if (n == "cr0") return s.cr0;
        if (n == "cr2") return s.cr2;
        if (n == "cr3") return s.cr3;
        if (n == "cr4") return s.cr4;
        if (n == "efer") return s.efer;
        throw MonitorError("unknown register '" + printable(n) + "'");
    }

    Cpu& cpu_;
    const char* p_;
};

}  // namespace

struct Monitor::Impl {
    Machine& m;
    std::function<std::string(uint16_t)> gdbserver;
    std::vector<Command> commands;
    std::vector<Command> infos;
    BlockDecoder decoder;
    // `x` and `xp` remember the last format and size, as QEMU does.
    char last_format = 'x';
    unsigned last_size = 4;

    explicit Impl(Machine& machine) : m(machine) {}

    uint64_t eval(const std::string& text) { return ExprParser(m.cpu(), text).parse_all(); }

    // Reads guest memory; false if part of it is not mapped.
    bool read_phys(uint64_t addr, uint8_t* out, size_t len) {
        if (addr >= (1ull << 32) || len > (1ull << 32) - addr) return false;
        m.memory().read_bytes(GuestPhys(addr), out, len);
        return true;
    }
    // Linear -> physical for the debugger: no faults, no A/D bit updates.
    bool virt_to_phys(uint64_t va, uint64_t* pa) {
        const CpuState& s = m.cpu().s;
        if (va >= (1ull << 32)) return false;
        if (!(s.cr0 & cr0::PG)) {
            *pa = va & m.memory().a20_mask();
            return true;
        }
        if (s.cr4 & cr4::PAE) return false;  // not implemented until PAE exists
        const uint64_t pde_addr = (s.cr3 & 0xfffff000u) + ((va >> 22) & 0x3ff) * 4;
        const uint32_t pde = uint32_t(m.memory().read(GuestPhys(pde_addr), 4));
        if (!(pde & 1)) return false;
        if ((pde & 0x80) && (s.cr4 & cr4::PSE)) {
            *pa = (pde & 0xffc00000u) | (va & 0x3fffff);
            return true;
        }
        const uint64_t pte_addr = (pde & 0xfffff000u) + ((va >> 12) & 0x3ff) * 4;
        const uint32_t pte = uint32_t(m.memory().read(GuestPhys(pte_addr), 4));
        if (!(pte & 1)) return false;
        *pa = (pte & 0xfffff000u) | (va & 0xfff);
        return true;
    }
    bool read_virt(uint64_t addr, uint8_t* out, size_t len) {
        while (len > 0) {
            uint64_t pa;
            if (!virt_to_phys(addr, &pa)) return false;
            const size_t chunk = std::min<size_t>(len, 0x1000 - (addr & 0xfff));
            if (!read_phys(pa, out, chunk)) return false;
            addr += chunk;
            out += chunk;
            len -= chunk;
        }
        return true;
    }
    bool read(bool physical, uint64_t addr, uint8_t* out, size_t len) {
        return physical ? read_phys(addr, out, len) : read_virt(addr, out, len);
    }

    DecodeMode code_mode() const {
        const CpuState& s = m.cpu().s;
        if (s.real_mode() || s.v86_mode()) return DecodeMode::kReal16;
        return s.seg[kCs].big() ? DecodeMode::kProt32 : DecodeMode::kProt16;
    }

    // One instruction at addr: its text in *text, its length returned (0 if unreadable).
    size_t disassemble_one(bool physical, uint64_t addr, std::string* text) {
        uint8_t bytes[16];
        size_t have = 0;
        while (have < sizeof bytes && read(physical, addr + have, bytes + have, 1)) have++;
        if (have == 0) return 0;
        const DecodeMode mode = code_mode();
        ZydisDecoder dec;
        ZydisDecoderInit(&dec, mode == DecodeMode::kReal16   ? ZYDIS_MACHINE_MODE_REAL_16
                               : mode == DecodeMode::kProt16 ? ZYDIS_MACHINE_MODE_LEGACY_16
                                                             : ZYDIS_MACHINE_MODE_LEGACY_32,
                         mode == DecodeMode::kProt32 ? ZYDIS_STACK_WIDTH_32 : ZYDIS_STACK_WIDTH_16);
        ZydisDecodedInstruction zi;
        size_t len = 1;
        if (ZYAN_SUCCESS(ZydisDecoderDecodeInstruction(&dec, nullptr, bytes, have, &zi))) len = zi.length;
        *text = decoder.disassemble(mode, bytes, have, addr);
        return len;
    }

    // ---- x / xp ----
    std::string memory_dump(bool physical, const std::string& args);

    // ---- info ----
    std::string info_registers();
    std::string info_mem(bool tlb);
};

namespace {

// QEMU's monitor_printc.
std::string printc(uint8_t c) {
    switch (c) {
    case '\'': return "'\\''";
    case '\\': return "'\\\\'";
    case '\n': return "'\\n'";
    case '\r': return "'\\r'";
    default:
        if (c >= 32 && c <= 126) return std::string("'") + char(c) + "'";
        return fmt("'\\x%02x'", c);
    }
}

}  // namespace

std::string Monitor::Impl::memory_dump(bool physical, const std::string& raw_args) {
    std::string args = trim(raw_args);
    unsigned count = 1;
    char format = last_format;
    int size = -1;
    if (!args.empty() && args[0] == '/') {
        size_t i = 1;
        if (i < args.size() && isdigit(uint8_t(args[i]))) {
            uint64_t c = 0;
            while (i < args.size() && isdigit(uint8_t(args[i]))) {
                c = c * 10 + unsigned(args[i] - '0');
                if (c > 1000000) throw MonitorError("count too large");
                i++;
            }
            count = unsigned(c);
        }
        for (; i < args.size() && !isspace(uint8_t(args[i])); i++) {
            switch (args[i]) {
            case 'x': case 'd': case 'u': case 'o': case 'c': case 'i': format = args[i]; break;
            case 'b': size = 1; break;
            case 'h': size = 2; break;
            case 'w': size = 4; break;
            case 'g': size = 8; break;
            default: throw MonitorError(fmt("invalid char in format: '%s'", printable(std::string(1, args[i])).c_str()));
            }
        }
        args = trim(args.substr(i));
    }
    if (size < 0 || format == 'c') size = format == 'c' ? 1 : int(last_size);
    if (args.empty()) throw MonitorError("address expected");
    const uint64_t start = eval(args);
    last_format = format;
    if (format != 'i') last_size = unsigned(size);

    std::string out;
    uint64_t addr = start;
    if (format == 'i') {
        for (unsigned n = 0; n < count; n++) {
            std::string text;
            const size_t len = disassemble_one(physical, addr, &text);
            if (len == 0) {
                out += fmt("0x%08" PRIx64 ": Cannot access memory\n", addr);
                break;
            }
            out += fmt("0x%08" PRIx64 ":  ", addr) + text + "\n";
            addr += len;
        }
        return out;
    }
    const unsigned wsize = unsigned(size);
    const unsigned line_size = wsize == 1 ? 8 : 16;
    int max_digits = 0;
    switch (format) {
    case 'o': max_digits = int((wsize * 8 + 2) / 3); break;
    case 'u':
    case 'd': max_digits = int((wsize * 8 * 10 + 32) / 33); break;
    default: max_digits = int(wsize * 8 / 4); break;
    }
    uint64_t len = uint64_t(wsize) * count;
    while (len > 0) {
        out += physical ? fmt("%016" PRIx64 ":", addr) : fmt("%08" PRIx64 ":", addr);
        const unsigned l = unsigned(std::min<uint64_t>(len, line_size));
        uint8_t buf[16];
        if (!read(physical, addr, buf, l)) {
            out += " Cannot access memory\n";
            break;
        }
        for (unsigned i = 0; i < l; i += wsize) {
            uint64_t v = 0;
            memcpy(&v, buf + i, std::min(wsize, l - i));
            out += " ";
            switch (format) {
            case 'o': out += fmt("%#*" PRIo64, max_digits, v); break;
            case 'u': out += fmt("%*" PRIu64, max_digits, v); break;
            case 'd': {
                const unsigned shift = 64 - wsize * 8;
                const int64_t sv = shift ? int64_t(v << shift) >> shift : int64_t(v);
                out += fmt("%*" PRId64, max_digits, sv);
                break;
            }
            case 'c': out += printc(uint8_t(v)); break;
            default: out += fmt("0x%0*" PRIx64, max_digits, v); break;
            }
        }
        out += "\n";
        addr += l;
        len -= l;
    }
    return out;
}

namespace {

// QEMU's cpu_x86_dump_seg_cache, 32-bit layout.
std::string seg_line(const char* name, const SegmentCache& sc, bool pe) {
    const uint32_t flags = (uint32_t(sc.attr & 0xff) << 8) | (uint32_t((sc.attr >> 12) & 0xf) << 20);
    std::string out = fmt("%-3s=%04x %08" PRIx64 " %08x %08x", name, sc.selector, sc.base & 0xffffffffu, sc.limit, flags);
    if (pe && sc.present()) {
        out += fmt(" DPL=%u ", sc.dpl());
        if (!sc.is_system()) {
            if (sc.is_code()) {
                out += (sc.attr & SegmentCache::kL) ? "CS64" : sc.big() ? "CS32" : "CS16";
                out += fmt(" [%c%c", (sc.type() & 4) ? 'C' : '-', (sc.type() & 2) ? 'R' : '-');
            } else {
                out += sc.big() ? "DS  " : "DS16";
                out += fmt(" [%c%c", (sc.type() & 4) ? 'E' : '-', (sc.type() & 2) ? 'W' : '-');
            }
            out += fmt("%c]", (sc.type() & 1) ? 'A' : '-');
        } else {
            static const char* const kSys[16] = {"Reserved",   "TSS16-avl", "LDT",       "TSS16-busy",
                                                 "CallGate16", "TaskGate",  "IntGate16", "TrapGate16",
                                                 "Reserved",   "TSS32-avl", "Reserved",  "TSS32-busy",
                                                 "CallGate32", "Reserved",  "IntGate32", "TrapGate32"};
            out += kSys[sc.type()];
        }
    }
    return out + "\n";
}

}  // namespace

std::string Monitor::Impl::info_registers() {
    const Cpu& cpu = m.cpu();
    const CpuState& s = cpu.s;
    auto r = [&](unsigned i) { return uint32_t(s.gpr[i]); };
    const uint32_t efl = cpu.eflags();
    std::string out;
    out += fmt("EAX=%08x EBX=%08x ECX=%08x EDX=%08x\n", r(kRax), r(kRbx), r(kRcx), r(kRdx));
    out += fmt("ESI=%08x EDI=%08x EBP=%08x ESP=%08x\n", r(kRsi), r(kRdi), r(kRbp), r(kRsp));
    out += fmt("EIP=%08x EFL=%08x [%c%c%c%c%c%c%c] CPL=%u II=%d A20=%d SMM=0 HLT=%d\n", uint32_t(s.rip), efl,
               efl & flags::DF ? 'D' : '-', efl & flags::OF ? 'O' : '-', efl & flags::SF ? 'S' : '-',
               efl & flags::ZF ? 'Z' : '-', efl & flags::AF ? 'A' : '-', efl & flags::PF ? 'P' : '-',
               efl & flags::CF ? 'C' : '-', unsigned(s.cpl), s.interrupt_shadow ? 1 : 0, m.memory().a20() ? 1 : 0,
               s.halted ? 1 : 0);
    static const char* const kSegNames[] = {"ES", "CS", "SS", "DS", "FS", "GS"};
    const bool pe = s.protected_mode();
    for (unsigned i = 0; i < kNumSegRegs; i++) out += seg_line(kSegNames[i], s.seg[i], pe);
    out += seg_line("LDT", s.ldtr, pe);
    out += seg_line("TR", s.tr, pe);
    out += fmt("GDT=     %08" PRIx64 " %08x\n", s.gdtr.base & 0xffffffffu, unsigned(s.gdtr.limit));
    out += fmt("IDT=     %08" PRIx64 " %08x\n", s.idtr.base & 0xffffffffu, unsigned(s.idtr.limit));
    out += fmt("CR0=%08x CR2=%08x CR3=%08x CR4=%08x\n", uint32_t(s.cr0), uint32_t(s.cr2), uint32_t(s.cr3),
               uint32_t(s.cr4));
    out += fmt("DR0=%08x DR1=%08x DR2=%08x DR3=%08x \n", uint32_t(s.dr[0]), uint32_t(s.dr[1]), uint32_t(s.dr[2]),
               uint32_t(s.dr[3]));
    out += fmt("DR6=%08x DR7=%08x\n", uint32_t(s.dr[6]), uint32_t(s.dr[7]));
    out += fmt("EFER=%016" PRIx64 "\n", s.efer);
    const FpuState& f = s.fpu;
    const unsigned top = (f.fsw >> 11) & 7;
    unsigned tags = 0;
    for (unsigned i = 0; i < 8; i++)
        if (((f.ftw >> (2 * i)) & 3) != 3) tags |= 1u << i;
    out += fmt("FCW=%04x FSW=%04x [ST=%u] FTW=%02x MXCSR=%08x\n", f.fcw, f.fsw, top, tags, 0x1f80u);
    for (unsigned i = 0; i < 8; i++) {
        uint64_t mant;
        uint16_t exp;
        memcpy(&mant, f.st[i].data(), 8);
        memcpy(&exp, f.st[i].data() + 8, 2);
        out += fmt("FPR%u=%016" PRIx64 " %04x", i, mant, exp);
        out += (i & 1) ? "\n" : " ";
    }
    return out;
}

// QEMU's `info mem` (mapped ranges with u/r/w) and `info tlb` (every
// present page), 32-bit non-PAE paging.
std::string Monitor::Impl::info_mem(bool tlb) {
    const CpuState& s = m.cpu().s;
    if (!(s.cr0 & cr0::PG)) return "PG disabled\n";
    if (s.cr4 & cr4::PAE) return "PAE paging is not supported yet\n";
    std::string out;
    uint64_t range_start = 0;
    unsigned range_prot = 0;
    auto emit_range = [&](uint64_t end, unsigned prot) {
        if (prot != range_prot) {
            if (range_prot)
                out += fmt("%08" PRIx64 "-%08" PRIx64 " %08" PRIx64 " %c%c%c\n", range_start, end, end - range_start,
                           range_prot & 4 ? 'u' : '-', 'r', range_prot & 2 ? 'w' : '-');
            range_start = end;
            range_prot = prot;
        }
    };
    auto tlb_line = [&](uint64_t va, uint64_t pa, uint32_t e) {
        out += fmt("%08" PRIx64 ": %08" PRIx64 " %c%c%c%c%c%c%c%c%c\n", va, pa, 'X', e & 0x100 ? 'G' : '-',
                   e & 0x80 ? 'P' : '-', e & 0x40 ? 'D' : '-', e & 0x20 ? 'A' : '-', e & 0x10 ? 'C' : '-',
                   e & 0x08 ? 'T' : '-', e & 0x04 ? 'U' : '-', e & 0x02 ? 'W' : '-');
    };
    for (uint64_t i = 0; i < 1024; i++) {
        const uint32_t pde = uint32_t(m.memory().read(GuestPhys((s.cr3 & 0xfffff000u) + i * 4), 4));
        const uint64_t va = i << 22;
        if (!(pde & 1)) {
            emit_range(va, 0);
            continue;
        }
        if ((pde & 0x80) && (s.cr4 & cr4::PSE)) {
            if (tlb) tlb_line(va, pde & 0xffc00000u, pde);
            emit_range(va, 1 | (pde & 6));
            continue;
        }
        for (uint64_t j = 0; j < 1024; j++) {
            const uint32_t pte = uint32_t(m.memory().read(GuestPhys((pde & 0xfffff000u) + j * 4), 4));
            const uint64_t pva = va | (j << 12);
            if (!(pte & 1)) {
                emit_range(pva, 0);
                continue;
            }
            if (tlb) tlb_line(pva, pte & 0xfffff000u, (pte & ~0x80u) | (pte & pde & 6));
            emit_range(pva, 1 | (pte & pde & 6));
        }
    }
    emit_range(1ull << 32, 0);
    return out;
}

Monitor::Monitor(Machine& machine) : impl_(std::make_unique<Impl>(machine)) {
    Impl& I = *impl_;
    Machine& m = machine;
    auto no_args = [](const std::string& name, const std::string& args) {
        if (!trim(args).empty()) throw MonitorError(name + ": too many arguments");
    };

    add_command({"help", "[cmd]", "show the help", [this](const std::string& args) {
                     const std::string want = trim(args);
                     std::string out;
                     for (const Command& c : impl_->commands) {
                         if (!want.empty() && c.name != want) continue;
                         out += c.name + (c.args.empty() ? "" : " " + c.args) + " -- " + c.help + "\n";
                     }
                     if (out.empty()) throw MonitorError("unknown command: '" + printable(want) + "'");
                     return out;
                 }});
    add_command({"info", "[subcommand]", "show various information about the system state",
                 [this](const std::string& args) {
                     const std::string a = trim(args);
                     const size_t sp = a.find_first_of(" \t");
                     const std::string topic = a.substr(0, sp);
                     const std::string rest = sp == std::string::npos ? "" : a.substr(sp + 1);
                     if (topic.empty()) {
                         std::string out;
                         for (const Command& c : impl_->infos)
                             out += "info " + c.name + (c.args.empty() ? "" : " " + c.args) + " -- " + c.help + "\n";
                         return out;
                     }
                     for (const Command& c : impl_->infos)
                         if (c.name == topic) return c.handler(rest);
                     throw MonitorError("unknown info topic: '" + printable(topic) + "' (try 'info' for a list)");
                 }});
    add_command({"x", "/fmt addr", "virtual memory dump starting at 'addr'",
                 [&I](const std::string& args) { return I.memory_dump(false, args); }});
    add_command({"xp", "/fmt addr", "physical memory dump starting at 'addr'",
                 [&I](const std::string& args) { return I.memory_dump(true, args); }});
    add_command({"pmemsave", "addr size file", "save to disk physical memory dump starting at 'addr' of size 'size'",
                 [&m](const std::string& args) {
                     std::istringstream in(args);
                     std::string addr_text, size_text, path;
                     if (!(in >> addr_text >> size_text >> path))
                         throw MonitorError("pmemsave: usage: pmemsave addr size file");
                     char* end = nullptr;
                     const uint64_t addr = strtoull(addr_text.c_str(), &end, 0);
                     if (*end) throw MonitorError("pmemsave: bad address '" + printable(addr_text) + "'");
                     const uint64_t size = strtoull(size_text.c_str(), &end, 0);
                     if (*end || size > 4 * GiB || addr + size < addr)
                         throw MonitorError("pmemsave: bad size '" + printable(size_text) + "'");
                     FILE* f = fopen(path.c_str(), "wb");
                     if (!f) throw MonitorError("could not open '" + printable(path) + "'");
                     std::vector<uint8_t> buf(64 * KiB);
                     bool ok = true;
                     for (uint64_t done = 0; done < size && ok; done += buf.size()) {
                         const size_t n = size_t(std::min<uint64_t>(buf.size(), size - done));
                         m.memory().read_bytes(GuestPhys(addr + done), buf.data(), n);
                         ok = fwrite(buf.data(), 1, n, f) == n;
                     }
                     ok = fclose(f) == 0 && ok;
                     if (!ok) throw MonitorError("pmemsave: write error on '" + printable(path) + "'");
                     return std::string();
                 }});
    add_command({"stop", "", "stop emulation", [&m, no_args](const std::string& args) {
                     no_args("stop", args);
                     m.pause();
                     return std::string();
                 }});
    add_command({"cont", "", "resume emulation", [&m, no_args](const std::string& args) {
                     no_args("cont", args);
                     if (!m.held_reason().empty()) throw MonitorError(m.held_reason());
                     m.resume();
                     return std::string();
                 }});
    add_command({"c", "", "resume emulation (short for cont)", [&m, no_args](const std::string& args) {
                     no_args("c", args);
                     if (!m.held_reason().empty()) throw MonitorError(m.held_reason());
                     m.resume();
                     return std::string();
                 }});
    add_command({"step", "", "execute one instruction (stops the VM first) and show the next one",
                 [&m, &I, no_args](const std::string& args) {
                     no_args("step", args);
                     if (m.exit_requested()) throw MonitorError("step: the machine is shutting down");
                     m.pause();
                     m.step_instruction();
                     std::string text;
                     const uint64_t pc = m.cpu().linear_pc();
                     if (I.disassemble_one(false, pc, &text) == 0) return fmt("0x%08" PRIx64 ": Cannot access memory\n", pc);
                     return fmt("0x%08" PRIx64 ":  ", pc) + text + "\n";
                 }});
    add_command({"system_reset", "", "reset the system", [&m, no_args](const std::string& args) {
                     no_args("system_reset", args);
                     if (m.paused()) {
                         m.reset();  // stays paused, as QEMU
                     } else {
                         m.request_reset();
                     }
                     return std::string();
                 }});
    add_command({"gdbserver", "[device]", "start gdbserver on given device (default 'tcp::1234'), 'PORT' or 'tcp::PORT'",
                 [&I](const std::string& args) {
                     std::string a = trim(args);
                     if (a.empty()) a = "1234";
                     if (a.rfind("tcp:", 0) == 0) {
                         const size_t colon = a.rfind(':');
                         a = a.substr(colon + 1);
                     }
                     char* end = nullptr;
                     errno = 0;
                     const unsigned long port = strtoul(a.c_str(), &end, 10);
                     if (a.empty() || *end || errno || port == 0 || port > 65535)
                         throw MonitorError("gdbserver: bad port '" + printable(a) + "'");
                     if (!I.gdbserver) throw MonitorError("gdbserver: not available");
                     return I.gdbserver(uint16_t(port));
                 }});
    add_command({"quit", "", "quit the emulator", [&m, no_args](const std::string& args) {
                     no_args("quit", args);
                     m.request_exit(0);
                     return std::string();
                 }});
    add_command({"system_powerdown", "", "send system power down event (the ACPI power button)",
                 [&m, no_args](const std::string& args) {
                     no_args("system_powerdown", args);
                     m.acpi_pm().press_power_button();
                     return std::string();
                 }});
    add_command({"q", "", "quit the emulator (short for quit)", [&m, no_args](const std::string& args) {
                     no_args("q", args);
                     m.request_exit(0);
                     return std::string();
                 }});

    add_info({"status", "", "show the current VM status (running|paused)", [&m](const std::string&) {
                  if (!m.paused()) return std::string("VM status: running\n");
                  const std::string& why = m.pause_reason();
                  return "VM status: paused" + (why.empty() ? "" : " (" + why + ")") + "\n";
              }});
    add_info({"registers", "", "show the cpu registers", [&I](const std::string&) { return I.info_registers(); }});
    add_info({"mem", "", "show the active virtual memory mappings", [&I](const std::string&) { return I.info_mem(false); }});
    add_info({"tlb", "", "show virtual to physical memory mappings", [&I](const std::string&) { return I.info_mem(true); }});
    add_info({"cpustats", "", "show guest instructions executed and the average rate", [&m](const std::string&) {
                  const uint64_t insns = m.cpu().instructions_retired();
                  const double seconds = double(m.clock().now_ns()) / 1e9;
                  char buf[256];
                  snprintf(buf, sizeof buf,
                           "instructions %llu\nguest seconds %.3f\naverage MIPS %.1f\n"
                           "decoded blocks %zu\nblock invalidations %llu\n",
                           (unsigned long long)insns, seconds, seconds > 0 ? double(insns) / seconds / 1e6 : 0.0,
                           m.cpu().decoded_blocks(), (unsigned long long)m.cpu().decoded_block_invalidations());
                  return std::string(buf);
              }});
    add_info({"jit", "", "show the JIT's code cache and helper statistics", [&m](const std::string&) {
                  if (!m.jit()) return std::string("accel interp: the JIT is off\n");
                  return m.jit()->report();
              }});
    add_info({"state", "[section]",
              "show the machine's state description (what snapshots and migration carry), one field a line",
              [&m](const std::string& args) {
                  StatePrinter p(trim(args));
                  m.describe(p);
                  if (p.text().empty()) throw MonitorError("info state: no section '" + printable(trim(args)) + "'");
                  return p.text();
              }});
    add_info({"pic", "", "show PIC state", [&m](const std::string&) { return m.pic().describe_text(); }});
    add_info({"version", "", "show the version of nomad86", [](const std::string&) {
                  return std::string(NOMAD86_VERSION) + "\n";
              }});
}

Monitor::~Monitor() = default;

void Monitor::add_command(Command command) { impl_->commands.push_back(std::move(command)); }
void Monitor::add_info(Command topic) { impl_->infos.push_back(std::move(topic)); }
const std::vector<Monitor::Command>& Monitor::commands() const { return impl_->commands; }
const std::vector<Monitor::Command>& Monitor::info_topics() const { return impl_->infos; }

std::string Monitor::banner() {
    return std::string("nomad86 ") + NOMAD86_VERSION + " monitor - type 'help' for more information\n";
}

std::string Monitor::execute(const std::string& raw) {
    const std::string line = trim(raw);
    if (line.empty()) return "";
    size_t end = 0;
    while (end < line.size() && line[end] != '/' && !isspace(uint8_t(line[end]))) end++;
    const std::string name = line.substr(0, end);
    const std::string args = line.substr(end);
    for (const Command& c : impl_->commands) {
        if (c.name != name) continue;
        try {
            std::string out = c.handler(args);
            if (!out.empty() && out.back() != '\n') out += "\n";
            return out;
        } catch (const MonitorError& e) {
            return std::string(e.what()) + "\n";
        } catch (const std::exception& e) {
            return name + ": " + e.what() + "\n";
        }
    }
    return "unknown command: '" + printable(name) + "'\n";
}

void Monitor::set_gdbserver_starter(std::function<std::string(uint16_t)> starter) {
    impl_->gdbserver = std::move(starter);
}

std::string monitor_crlf(const std::string& text) {
    std::string out;
    out.reserve(text.size() + 16);
    for (size_t i = 0; i < text.size(); i++) {
        if (text[i] == '\n' && (i == 0 || text[i - 1] != '\r')) out += '\r';
        out += text[i];
    }
    return out;
}

// ---- the line reader ----

std::string MonitorLineReader::end_line() {
    std::string out = echo_ ? "\r\n" : "";
    if (overlong_) {
        out += monitor_crlf("error: line too long (more than " + std::to_string(kMaxLine) + " bytes), discarded\n");
    } else {
        out += monitor_crlf(monitor_.execute(line_));
    }
    line_.clear();
    overlong_ = false;
    return out + Monitor::kPrompt;
}

std::string MonitorLineReader::feed(const uint8_t* data, size_t len) {
    std::string out;
    for (size_t i = 0; i < len; i++) {
        const uint8_t b = data[i];
        const bool after_cr = last_was_cr_;
        last_was_cr_ = b == '\r';
        if (esc_ == 1) {
            esc_ = (b == '[' || b == 'O') ? 2 : 0;
            continue;
        }
        if (esc_ == 2) {
            if (b >= 0x40 && b <= 0x7e) esc_ = 0;
            continue;
        }
        switch (b) {
        case '\n':
            if (after_cr) continue;  // CR LF is one line end
            [[fallthrough]];
        case '\r':
            out += end_line();
            continue;
        case 0x1b:
            esc_ = 1;
            continue;
        case 0x7f:
        case 0x08:
            if (!line_.empty() && !overlong_) {
                line_.pop_back();
                if (echo_) out += "\b \b";
            }
            continue;
        case 0x15:  // Ctrl-U: kill the line
            if (echo_)
                for (size_t k = 0; k < line_.size(); k++) out += "\b \b";
            line_.clear();
            continue;
        case 0x03:  // Ctrl-C: abandon the line
            line_.clear();
            overlong_ = false;
            if (echo_) out += std::string("\r\n") + Monitor::kPrompt;
            continue;
        case '\t':
            break;
        default:
            if (b < 0x20) continue;  // NUL and other control characters
        }
        if (overlong_) continue;
        if (line_.size() >= kMaxLine) {
            overlong_ = true;
            line_.clear();
            continue;
        }
        line_ += char(b == '\t' ? ' ' : b);
        if (echo_) out += (b >= 0x20 && b < 0x7f) ? std::string(1, char(b)) : std::string(b == '\t' ? " " : "?");
    }
    return out;
}

// ---- the socket servers ----

namespace {

namespace asio = boost::asio;

// One connected client; owned by its pending handlers.
template <typename Protocol>
class Session : public std::enable_shared_from_this<Session<Protocol>> {
public:
    using Socket = typename Protocol::socket;
    Session(Socket socket, Monitor& monitor, std::function<void()> on_close)
        : socket_(std::move(socket)), reader_(monitor, false), on_close_(std::move(on_close)) {}

    void start() {
        send(monitor_crlf(Monitor::banner()) + Monitor::kPrompt);
        read();
    }
    void close() {
        if (closed_) return;
        closed_ = true;
        boost::system::error_code ec;
        socket_.shutdown(Socket::shutdown_both, ec);
        socket_.close(ec);
        if (on_close_) {
            auto cb = std::move(on_close_);
            on_close_ = nullptr;
            cb();
        }
    }
    // The server is going away: close without calling back into it.
    void detach() {
        on_close_ = nullptr;
        close();
    }

private:
    void read() {
        auto self = this->shared_from_this();
        socket_.async_read_some(asio::buffer(in_), [self](const boost::system::error_code& ec, size_t n) {
            if (self->closed_) return;
            if (ec) {
                self->close();
                return;
            }
            self->send(self->reader_.feed(self->in_, n));
            if (!self->closed_) self->read();
        });
    }
    void send(std::string data) {
        if (data.empty() || closed_) return;
        // A peer that does not read gets cut off rather than growing our buffer.
        if (pending_.size() + data.size() > kMaxPending) {
            close();
            return;
        }
        pending_ += data;
        if (!writing_) write();
    }
    void write() {
        writing_ = true;
        in_flight_ = std::move(pending_);
        pending_.clear();
        auto self = this->shared_from_this();
        asio::async_write(socket_, asio::buffer(in_flight_), [self](const boost::system::error_code& ec, size_t) {
            self->writing_ = false;
            if (self->closed_) return;
            if (ec) {
                self->close();
                return;
            }
            if (!self->pending_.empty()) self->write();
        });
    }

    static constexpr size_t kMaxPending = 16 * 1024 * 1024;
    Socket socket_;
    MonitorLineReader reader_;
    std::function<void()> on_close_;
    uint8_t in_[4096];
    std::string pending_, in_flight_;
    bool writing_ = false;
    bool closed_ = false;
};

}  // namespace

struct MonitorServer::Impl : std::enable_shared_from_this<MonitorServer::Impl> {
    Impl(asio::io_context& io, Monitor& monitor) : io(io), monitor(monitor), tcp_acceptor(io), unix_acceptor(io) {}
    asio::io_context& io;
    Monitor& monitor;
    asio::ip::tcp::acceptor tcp_acceptor;
    asio::local::stream_protocol::acceptor unix_acceptor;
    bool is_unix = false;
    std::string unix_path;
    std::weak_ptr<Session<asio::ip::tcp>> tcp_session;
    std::weak_ptr<Session<asio::local::stream_protocol>> unix_session;

    template <typename Protocol, typename Acceptor>
    void accept(Acceptor& acceptor, std::weak_ptr<Session<Protocol>>& current) {
        std::weak_ptr<Impl> weak = shared_from_this();
        acceptor.async_accept([this, weak, &acceptor, &current](const boost::system::error_code& ec,
                                                                 typename Protocol::socket socket) {
            if (weak.expired()) return;
            if (ec) {
                if (ec == asio::error::operation_aborted || !acceptor.is_open()) return;
                accept<Protocol>(acceptor, current);  // e.g. EMFILE: try again later
                return;
            }
            auto session = std::make_shared<Session<Protocol>>(std::move(socket), monitor, [this, weak, &acceptor, &current] {
                // The client left: serve the next one (later, outside its handler).
                asio::post(io, [this, weak, &acceptor, &current] {
                    if (!weak.expired() && acceptor.is_open()) accept<Protocol>(acceptor, current);
                });
            });
            current = session;
            session->start();
        });
    }
    void accept_next() {
        if (is_unix) {
            accept<asio::local::stream_protocol>(unix_acceptor, unix_session);
        } else {
            accept<asio::ip::tcp>(tcp_acceptor, tcp_session);
        }
    }
};

MonitorServer::MonitorServer(boost::asio::io_context& io, Monitor& monitor, const MonitorSpec& spec)
    : impl_(std::make_shared<Impl>(io, monitor)) {
    boost::system::error_code ec;
    if (spec.kind == MonitorSpec::Kind::kTcp) {
        asio::ip::tcp::resolver resolver(io);
        auto results = resolver.resolve(spec.host.empty() ? "0.0.0.0" : spec.host, std::to_string(spec.port),
                                        asio::ip::tcp::resolver::passive, ec);
        if (ec || results.empty())
            throw std::runtime_error("cannot resolve '" + spec.host + "': " + (ec ? ec.message() : "no address"));
        const asio::ip::tcp::endpoint ep = results.begin()->endpoint();
        auto& a = impl_->tcp_acceptor;
        a.open(ep.protocol(), ec);
        if (!ec) a.set_option(asio::socket_base::reuse_address(true), ec);
        if (!ec) a.bind(ep, ec);
        if (!ec) a.listen(asio::socket_base::max_listen_connections, ec);
        if (ec)
            throw std::runtime_error("cannot listen on " + spec.host + ":" + std::to_string(spec.port) + ": " +
                                     ec.message());
    } else if (spec.kind == MonitorSpec::Kind::kUnix) {
        impl_->is_unix = true;
        // A socket left by an earlier run is removed; any other file is not ours.
        struct stat st;
        if (lstat(spec.path.c_str(), &st) == 0) {
            if (!S_ISSOCK(st.st_mode)) throw std::runtime_error("'" + spec.path + "' exists and is not a socket");
            unlink(spec.path.c_str());
        }
        auto& a = impl_->unix_acceptor;
        a.open(asio::local::stream_protocol(), ec);
        if (!ec) a.bind(asio::local::stream_protocol::endpoint(spec.path), ec);
        if (!ec) impl_->unix_path = spec.path;
        if (!ec) a.listen(asio::socket_base::max_listen_connections, ec);
        if (ec) {
            if (!impl_->unix_path.empty()) unlink(impl_->unix_path.c_str());
            throw std::runtime_error("cannot listen on '" + spec.path + "': " + ec.message());
        }
    } else {
        throw std::runtime_error("MonitorServer serves only tcp: and unix: monitors");
    }
    impl_->accept_next();
}

MonitorServer::~MonitorServer() {
    boost::system::error_code ec;
    if (auto s = impl_->tcp_session.lock()) s->detach();
    if (auto s = impl_->unix_session.lock()) s->detach();
    impl_->tcp_acceptor.close(ec);
    impl_->unix_acceptor.close(ec);
    if (!impl_->unix_path.empty()) unlink(impl_->unix_path.c_str());
}

uint16_t MonitorServer::port() const {
    boost::system::error_code ec;
    if (impl_->is_unix || !impl_->tcp_acceptor.is_open()) return 0;
    auto ep = impl_->tcp_acceptor.local_endpoint(ec);
    return ec ? 0 : ep.port();
}

}  // namespace nomad86
