#include "net/gdb_target_xml.h"

#include <array>
#include <cstring>
#include <vector>

#include "cpu/cpu_state.h"

namespace nomad86::gdb {

namespace {

enum class Kind : uint8_t { kGpr, kRip, kEflags, kSeg, kSegBase, kKernelGsBase, kCr, kEfer, kSt, kFpuCtl, kXmm, kMxcsr };

struct RegDef {
    const char* name;
    unsigned bits;
    const char* type;
    Kind kind;
    unsigned index;  // GPR number, segment, CR number, ST(i), FPU control register, XMM number
    const char* group = nullptr;
};

// FPU control registers in gdb's order.
enum FpuCtl : unsigned { kFctrl, kFstat, kFtag, kFiseg, kFioff, kFoseg, kFooff, kFop };

std::vector<RegDef> make_regs(GdbArch arch) {
    const bool is64 = arch == GdbArch::kX86_64;
    std::vector<RegDef> r;
    if (is64) {
        static const char* const names[] = {"rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp"};
        static const unsigned idx[] = {kRax, kRbx, kRcx, kRdx, kRsi, kRdi, kRbp, kRsp};
        for (int i = 0; i < 8; i++)
            r.push_back({names[i], 64, i >= 6 ? "data_ptr" : "int64", Kind::kGpr, idx[i]});
        static const char* const hi[] = {"r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15"};
        for (unsigned i = 0; i < 8; i++) r.push_back({hi[i], 64, "int64", Kind::kGpr, kR8 + i});
        r.push_back({"rip", 64, "code_ptr", Kind::kRip, 0});
    } else {
        static const char* const names[] = {"eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"};
        for (unsigned i = 0; i < 8; i++)
            r.push_back({names[i], 32, (i == kRsp || i == kRbp) ? "data_ptr" : "int32", Kind::kGpr, i});
        r.push_back({"eip", 32, "code_ptr", Kind::kRip, 0});
    }
    r.push_back({"eflags", 32, "i386_eflags", Kind::kEflags, 0});
    static const char* const segs[] = {"cs", "ss", "ds", "es", "fs", "gs"};
    static const unsigned seg_idx[] = {kCs, kSs, kDs, kEs, kFs, kGs};
    for (int i = 0; i < 6; i++) r.push_back({segs[i], 32, "int32", Kind::kSeg, seg_idx[i]});
    const unsigned w = is64 ? 64 : 32;
    const char* int_t = is64 ? "int64" : "int32";
    r.push_back({"fs_base", w, int_t, Kind::kSegBase, kFs});
    r.push_back({"gs_base", w, int_t, Kind::kSegBase, kGs});
    r.push_back({"k_gs_base", w, int_t, Kind::kKernelGsBase, 0});
    r.push_back({"cr0", w, "i386_cr0", Kind::kCr, 0});
    r.push_back({"cr2", w, int_t, Kind::kCr, 2});
    r.push_back({"cr3", w, "i386_cr3", Kind::kCr, 3});
    r.push_back({"cr4", w, "i386_cr4", Kind::kCr, 4});
    r.push_back({"cr8", w, int_t, Kind::kCr, 8});
    r.push_back({"efer", w, "i386_efer", Kind::kEfer, 0});
    static const char* const st[] = {"st0", "st1", "st2", "st3", "st4", "st5", "st6", "st7"};
    for (unsigned i = 0; i < 8; i++) r.push_back({st[i], 80, "i387_ext", Kind::kSt, i});
    static const char* const fc[] = {"fctrl", "fstat", "ftag", "fiseg", "fioff", "foseg", "fooff", "fop"};
    for (unsigned i = 0; i < 8; i++) r.push_back({fc[i], 32, "int", Kind::kFpuCtl, i, "float"});
    static const char* const xmm[] = {"xmm0", "xmm1", "xmm2",  "xmm3",  "xmm4",  "xmm5",  "xmm6",  "xmm7",
                                      "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15"};
    for (unsigned i = 0; i < (is64 ? 16u : 8u); i++) r.push_back({xmm[i], 128, "vec128", Kind::kXmm, i});
    r.push_back({"mxcsr", 32, "i386_mxcsr", Kind::kMxcsr, 0, "vector"});
    return r;
}

const std::vector<RegDef>& regs(GdbArch arch) {
    static const std::vector<RegDef> i386 = make_regs(GdbArch::kI386);
    static const std::vector<RegDef> x86_64 = make_regs(GdbArch::kX86_64);
    return arch == GdbArch::kX86_64 ? x86_64 : i386;
}

constexpr const char* kTypes = R"(  <flags id="i386_eflags" size="4">
    <field name="CF" start="0" end="0"/>
    <field name="" start="1" end="1"/>
    <field name="PF" start="2" end="2"/>
    <field name="AF" start="4" end="4"/>
    <field name="ZF" start="6" end="6"/>
    <field name="SF" start="7" end="7"/>
    <field name="TF" start="8" end="8"/>
    <field name="IF" start="9" end="9"/>
    <field name="DF" start="10" end="10"/>
    <field name="OF" start="11" end="11"/>
    <field name="IOPL" start="12" end="13"/>
    <field name="NT" start="14" end="14"/>
    <field name="RF" start="16" end="16"/>
    <field name="VM" start="17" end="17"/>
    <field name="AC" start="18" end="18"/>
    <field name="VIF" start="19" end="19"/>
    <field name="VIP" start="20" end="20"/>
    <field name="ID" start="21" end="21"/>
  </flags>
  <flags id="i386_cr0" size="@W@">
    <field name="PE" start="0" end="0"/>
    <field name="MP" start="1" end="1"/>
    <field name="EM" start="2" end="2"/>
    <field name="TS" start="3" end="3"/>
    <field name="ET" start="4" end="4"/>
    <field name="NE" start="5" end="5"/>
    <field name="WP" start="16" end="16"/>
    <field name="AM" start="18" end="18"/>
    <field name="NW" start="29" end="29"/>
    <field name="CD" start="30" end="30"/>
    <field name="PG" start="31" end="31"/>
  </flags>
  <flags id="i386_cr3" size="@W@">
    <field name="PCID" start="0" end="11"/>
    <field name="PDBR" start="12" end="31"/>
  </flags>
  <flags id="i386_cr4" size="@W@">
    <field name="VME" start="0" end="0"/>
    <field name="PVI" start="1" end="1"/>
    <field name="TSD" start="2" end="2"/>
    <field name="DE" start="3" end="3"/>
    <field name="PSE" start="4" end="4"/>
    <field name="PAE" start="5" end="5"/>
    <field name="MCE" start="6" end="6"/>
    <field name="PGE" start="7" end="7"/>
    <field name="PCE" start="8" end="8"/>
    <field name="OSFXSR" start="9" end="9"/>
    <field name="OSXMMEXCPT" start="10" end="10"/>
  </flags>
  <flags id="i386_efer" size="@W@">
    <field name="SCE" start="0" end="0"/>
    <field name="LME" start="8" end="8"/>
    <field name="LMA" start="10" end="10"/>
    <field name="NXE" start="11" end="11"/>
  </flags>
  <vector id="v4f" type="ieee_single" count="4"/>
  <vector id="v2d" type="ieee_double" count="2"/>
  <vector id="v16i8" type="int8" count="16"/>
  <vector id="v8i16" type="int16" count="8"/>
  <vector id="v4i32" type="int32" count="4"/>
  <vector id="v2i64" type="int64" count="2"/>
  <union id="vec128">
    <field name="v4_float" type="v4f"/>
    <field name="v2_double" type="v2d"/>
    <field name="v16_int8" type="v16i8"/>
    <field name="v8_int16" type="v8i16"/>
    <field name="v4_int32" type="v4i32"/>
    <field name="v2_int64" type="v2i64"/>
    <field name="uint128" type="uint128"/>
  </union>
  <flags id="i386_mxcsr" size="4">
    <field name="IE" start="0" end="0"/>
    <field name="DE" start="1" end="1"/>
    <field name="ZE" start="2" end="2"/>
    <field name="OE" start="3" end="3"/>
    <field name="UE" start="4" end="4"/>
    <field name="PE" start="5" end="5"/>
    <field name="DAZ" start="6" end="6"/>
    <field name="IM" start="7" end="7"/>
    <field name="DM" start="8" end="8"/>
    <field name="ZM" start="9" end="9"/>
    <field name="OM" start="10" end="10"/>
    <field name="UM" start="11" end="11"/>
    <field name="PM" start="12" end="12"/>
    <field name="FZ" start="15" end="15"/>
  </flags>
)";

std::string make_xml(GdbArch arch) {
    const bool is64 = arch == GdbArch::kX86_64;
    std::string x = "<?xml version=\"1.0\"?>\n<!DOCTYPE target SYSTEM \"gdb-target.dtd\">\n<target>\n";
    x += is64 ? "<architecture>i386:x86-64</architecture>\n" : "<architecture>i386</architecture>\n";
    x += "<feature name=\"org.gnu.gdb.i386.core\">\n";
    std::string types = kTypes;
    for (size_t p; (p = types.find("@W@")) != std::string::npos;) types.replace(p, 3, is64 ? "8" : "4");
    x += types;
    int n = 0;
    for (const RegDef& r : regs(arch)) {
        x += "  <reg name=\"" + std::string(r.name) + "\" bitsize=\"" + std::to_string(r.bits) + "\" type=\"" +
             r.type + "\" regnum=\"" + std::to_string(n++) + "\"";
        if (r.group) x += std::string(" group=\"") + r.group + "\"";
        x += "/>\n";
    }
    x += "</feature>\n</target>\n";
    return x;
}

void put_le(std::string* out, uint64_t v, size_t bytes) {
    for (size_t i = 0; i < bytes; i++) *out += char(uint8_t(v >> (8 * i)));
}

uint64_t get_le(const uint8_t* p, size_t bytes) {
    uint64_t v = 0;
    for (size_t i = 0; i < bytes && i < 8; i++) v |= uint64_t(p[i]) << (8 * i);
    return v;
}

unsigned fpu_top(const CpuState& s) { return (s.fpu.fsw >> 11) & 7; }

uint64_t read_fpu_ctl(const CpuState& s, unsigned which) {
    switch (which) {
    case kFctrl: return s.fpu.fcw;
    case kFstat: return s.fpu.fsw;
    case kFtag: return s.fpu.ftw;  // the full tag word, as `info float` reads it
    case kFiseg: return s.fpu.fcs;
    case kFioff: return s.fpu.fip;
    case kFoseg: return s.fpu.fds;
    case kFooff: return s.fpu.fdp;
    case kFop: return s.fpu.fop & 0x7ff;
    default: return 0;
    }
}

void write_fpu_ctl(CpuState& s, unsigned which, uint64_t v) {
    switch (which) {
    case kFctrl: s.fpu.fcw = uint16_t(v); break;
    case kFstat: s.fpu.fsw = uint16_t(v); break;
    case kFtag: s.fpu.ftw = uint16_t(v); break;
    case kFiseg: s.fpu.fcs = uint16_t(v); break;
    case kFioff: s.fpu.fip = v; break;
    case kFoseg: s.fpu.fds = uint16_t(v); break;
    case kFooff: s.fpu.fdp = v; break;
    case kFop: s.fpu.fop = uint16_t(v & 0x7ff); break;
    default: break;
    }
}

uint64_t* cr_ptr(CpuState& s, unsigned n) {
    switch (n) {
    case 0: return &s.cr0;
    case 2: return &s.cr2;
    case 3: return &s.cr3;
    case 4: return &s.cr4;
    default: return &s.cr8;
    }
}

}  // namespace

GdbArch arch_for(const CpuState& s) { return (s.efer & efer::LMA) ? GdbArch::kX86_64 : GdbArch::kI386; }

std::string_view target_xml(GdbArch arch, std::string_view annex) {
    static const std::string i386 = make_xml(GdbArch::kI386);
    static const std::string x86_64 = make_xml(GdbArch::kX86_64);
    if (annex != "target.xml") return {};
    return arch == GdbArch::kX86_64 ? x86_64 : i386;
}

int register_count(GdbArch arch) { return int(regs(arch).size()); }

size_t register_size(GdbArch arch, int regno) {
    if (regno < 0 || regno >= register_count(arch)) return 0;
    return regs(arch)[size_t(regno)].bits / 8;
}

std::string read_register(const CpuState& s, GdbArch arch, int regno) {
    if (regno < 0 || regno >= register_count(arch)) return {};
    const RegDef& r = regs(arch)[size_t(regno)];
    const size_t n = r.bits / 8;
    std::string out;
    switch (r.kind) {
    case Kind::kGpr: put_le(&out, s.gpr[r.index], n); break;
    case Kind::kRip: put_le(&out, s.rip, n); break;
    case Kind::kEflags: put_le(&out, s.rflags(), n); break;
    case Kind::kSeg: put_le(&out, s.seg[r.index].selector, n); break;
    case Kind::kSegBase: put_le(&out, s.seg[r.index].base, n); break;
    case Kind::kKernelGsBase: put_le(&out, s.msr.kernel_gs_base, n); break;
    case Kind::kCr: put_le(&out, *cr_ptr(const_cast<CpuState&>(s), r.index), n); break;
    case Kind::kEfer: put_le(&out, s.efer, n); break;
    case Kind::kSt: {
        // gdb's st0..st7 are ST(i), the stack view: physical R[(TOP+i) & 7].
        const auto& reg = s.fpu.st[(fpu_top(s) + r.index) & 7];
        out.assign(reinterpret_cast<const char*>(reg.data()), reg.size());
        break;
    }
    case Kind::kFpuCtl: put_le(&out, read_fpu_ctl(s, r.index), n); break;
    case Kind::kXmm: out.assign(n, '\0'); break;  // no SSE yet
    case Kind::kMxcsr: put_le(&out, 0x1f80, n); break;
    }
    return out;
}

bool write_register(CpuState& s, GdbArch arch, int regno, const uint8_t* data, size_t len) {
    if (regno < 0 || regno >= register_count(arch)) return false;
    const RegDef& r = regs(arch)[size_t(regno)];
    const size_t n = r.bits / 8;
    if (len != n) return false;
    const uint64_t v = get_le(data, n);
    const uint64_t mask = n >= 8 ? ~uint64_t(0) : (uint64_t(1) << (8 * n)) - 1;
    switch (r.kind) {
    case Kind::kGpr: s.gpr[r.index] = (s.gpr[r.index] & ~mask) | v; break;
    case Kind::kRip: s.rip = v; break;
    case Kind::kEflags: s.set_rflags((v & 0x3f7fd5) | flags::FIXED1); break;
    case Kind::kSeg:
        // Real and virtual-8086 mode: the base follows the selector. In
        // protected mode only the visible selector changes (no descriptor
        // load from the debugger).
        s.seg[r.index].selector = uint16_t(v);
        if (s.real_mode() || s.v86_mode()) s.seg[r.index].base = (v & 0xffff) << 4;
        break;
    case Kind::kSegBase: s.seg[r.index].base = v; break;
    case Kind::kKernelGsBase: s.msr.kernel_gs_base = v; break;
    case Kind::kCr: *cr_ptr(s, r.index) = v; break;
    case Kind::kEfer: s.efer = v; break;
    case Kind::kSt: {
        auto& reg = s.fpu.st[(fpu_top(s) + r.index) & 7];
        std::memcpy(reg.data(), data, reg.size());
        break;
    }
    case Kind::kFpuCtl: write_fpu_ctl(s, r.index, v); break;
    case Kind::kXmm:
    case Kind::kMxcsr: break;
    }
    return true;
}

}  // namespace nomad86::gdb
