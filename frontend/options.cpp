#include "frontend/options.h"

#include <cerrno>
#include <cstdlib>
#include <map>

#include "core/log.h"
#include "mmu/phys_memory.h"

namespace nomad86 {

bool parse_size(const std::string& text, uint64_t* bytes) {
    if (text.empty() || !isdigit(static_cast<unsigned char>(text[0]))) return false;
    errno = 0;
    char* end = nullptr;
    double value = strtod(text.c_str(), &end);
    if (errno || end == text.c_str()) return false;
    std::string suffix(end);
    uint64_t unit = MiB;  // QEMU: a bare number is MiB
    if (!suffix.empty()) {
        if (suffix.size() == 2 && (suffix[1] == 'B' || suffix[1] == 'b')) suffix.pop_back();
        if (suffix.size() != 1) return false;
        switch (suffix[0]) {
        case 'k': case 'K': unit = KiB; break;
        case 'm': case 'M': unit = MiB; break;
        case 'g': case 'G': unit = GiB; break;
        case 't': case 'T': unit = 1024 * GiB; break;
        default: return false;
        }
    }
    double total = value * double(unit);
    if (total < 0 || total > 1e18) return false;
    *bytes = uint64_t(total);
    return true;
}

static bool parse_chardev(const std::string& text, CharDevSpec* spec, std::string* error, const char* option) {
    if (text == "stdio" || text == "mon:stdio") {
        spec->kind = CharDevSpec::Kind::kStdio;
    } else if (text == "null" || text == "none") {
        spec->kind = CharDevSpec::Kind::kNull;
    } else if (text.rfind("file:", 0) == 0 && text.size() > 5) {
        spec->kind = CharDevSpec::Kind::kFile;
        spec->path = text.substr(5);
    } else {
        *error = std::string(option) + ": unsupported character device '" + text +
                 "' (use stdio, null or file:PATH)";
        return false;
    }
    return true;
}

static bool parse_number(const std::string& text, uint64_t* value) {
    if (text.empty()) return false;
    errno = 0;
    char* end = nullptr;
    unsigned long long v = strtoull(text.c_str(), &end, 0);
    if (errno || *end != '\0') return false;
    *value = v;
    return true;
}

// tcp:[HOST]:PORT
static bool parse_gdb(const std::string& text, GdbSpec* spec, std::string* error) {
    std::string rest = text;
    if (rest.rfind("tcp:", 0) == 0) rest = rest.substr(4);
    size_t colon = rest.rfind(':');
    std::string host = colon == std::string::npos ? "" : rest.substr(0, colon);
    std::string port = colon == std::string::npos ? rest : rest.substr(colon + 1);
    uint64_t p;
    if (!parse_number(port, &p) || p == 0 || p > 65535) {
        *error = "-gdb: expected tcp:[HOST]:PORT, got '" + text + "'";
        return false;
    }
    spec->enabled = true;
    spec->host = host;
    spec->port = uint16_t(p);
    return true;
}

// stdio | none | tcp:HOST:PORT,server,nowait | unix:PATH,server,nowait
static bool parse_monitor(const std::string& text, MonitorSpec* spec, std::string* error) {
    const std::string bad = "-monitor: expected stdio, none, tcp:HOST:PORT,server,nowait or unix:PATH,server,nowait, got '" +
                            text + "'";
    if (text == "stdio" || text == "mon:stdio") {
        spec->kind = MonitorSpec::Kind::kStdio;
        return true;
    }
    if (text == "none" || text == "null") {
        spec->kind = MonitorSpec::Kind::kNone;
        return true;
    }
    size_t comma = text.find(',');
    const std::string target = text.substr(0, comma);
    const std::string flags = comma == std::string::npos ? "" : text.substr(comma + 1);
    // Only the listening form makes sense for us: we are the server.
    if (flags.find("server") == std::string::npos) {
        *error = bad + " (the server flag is required)";
        return false;
    }
    if (target.rfind("tcp:", 0) == 0) {
        std::string rest = target.substr(4);
        size_t colon = rest.rfind(':');
        uint64_t p;
        if (colon == std::string::npos || !parse_number(rest.substr(colon + 1), &p) || p == 0 || p > 65535) {
            *error = bad;
            return false;
        }
        spec->kind = MonitorSpec::Kind::kTcp;
        spec->host = rest.substr(0, colon);
        spec->port = uint16_t(p);
        return true;
    }
    if (target.rfind("unix:", 0) == 0 && target.size() > 5) {
        spec->kind = MonitorSpec::Kind::kUnix;
        spec->path = target.substr(5);
        return true;
    }
    *error = bad;
    return false;
}

// -accel jit|interp[,verify=on|off][,tb-size=MiB] ("tcg" is QEMU's name
// for its translator: accepted as jit).
static bool parse_accel(const std::string& text, MachineConfig* cfg, std::string* error) {
    size_t comma = text.find(',');
    const std::string engine = text.substr(0, comma);
    if (engine == "jit" || engine == "tcg") {
        cfg->accel = MachineConfig::Accel::kJit;
    } else if (engine == "interp") {
        cfg->accel = MachineConfig::Accel::kInterp;
    } else {
        *error = "-accel: unsupported accelerator '" + engine + "' (supported: jit, interp)";
        return false;
    }
    std::string rest = comma == std::string::npos ? "" : text.substr(comma + 1);
    while (!rest.empty()) {
        size_t next = rest.find(',');
        const std::string prop = rest.substr(0, next);
        rest = next == std::string::npos ? "" : rest.substr(next + 1);
        const size_t eq = prop.find('=');
        const std::string key = prop.substr(0, eq), val = eq == std::string::npos ? "" : prop.substr(eq + 1);
        uint64_t mib;
        if (key == "verify" && (val == "on" || val == "off") && cfg->accel == MachineConfig::Accel::kJit) {
            cfg->jit_verify = val == "on";
        } else if (key == "tb-size" && parse_number(val, &mib) && mib >= 1 && mib <= 4096 &&
                   cfg->accel == MachineConfig::Accel::kJit) {
            cfg->jit_cache_bytes = mib * MiB;
        } else {
            *error = "-accel " + engine + ": bad property '" + prop + "' (jit takes verify=on|off, tb-size=MiB)";
            return false;
        }
    }
    return true;
}

static bool parse_device(const std::string& text, MachineConfig* cfg, std::string* error) {
    // DRIVER[,prop=value...]
    size_t comma = text.find(',');
    std::string driver = text.substr(0, comma);
    if (driver != "isa-debug-exit") {
        *error = "-device: unsupported device '" + driver + "' (supported: isa-debug-exit)";
        return false;
    }
    DebugExitSpec spec;
    spec.enabled = true;
    std::string rest = comma == std::string::npos ? "" : text.substr(comma + 1);
    while (!rest.empty()) {
        size_t next = rest.find(',');
        std::string prop = rest.substr(0, next);
        rest = next == std::string::npos ? "" : rest.substr(next + 1);
        size_t eq = prop.find('=');
        std::string key = prop.substr(0, eq);
        uint64_t value;
        if (eq == std::string::npos || !parse_number(prop.substr(eq + 1), &value)) {
            *error = "-device isa-debug-exit: bad property '" + prop + "'";
            return false;
        }
        if (key == "iobase" && value <= 0xffff) {
            spec.iobase = uint16_t(value);
        } else if (key == "iosize" && value >= 1 && value <= 0x100) {
            spec.iosize = uint16_t(value);
        } else {
            *error = "-device isa-debug-exit: bad property '" + prop + "'";
            return false;
        }
    }
    if (uint32_t(spec.iobase) + spec.iosize > 0x10000) {
        *error = "-device isa-debug-exit: iobase+iosize exceeds the I/O space";
        return false;
    }
    cfg->debug_exit = spec;
    return true;
}

bool parse_command_line(const std::vector<std::string>& args, CommandLine* out, std::string* error) {
    MachineConfig& cfg = out->machine;
    bool display_none = false;
    bool has_initrd = false, has_append = false;
    for (size_t i = 0; i < args.size(); i++) {
        std::string opt = args[i];
        if (opt.rfind("--", 0) == 0 && opt.size() > 2) opt = opt.substr(1);  // QEMU accepts --opt too
        auto value = [&](std::string* v) {
            if (i + 1 >= args.size()) {
                *error = opt + ": missing argument";
                return false;
            }
            *v = args[++i];
            return true;
        };
        std::string v;
        if (opt == "-h" || opt == "-help") {
            out->show_help = true;
        } else if (opt == "-version") {
            out->show_version = true;
        } else if (opt == "-m") {
            if (!value(&v)) return false;
            if (v.rfind("size=", 0) == 0) v = v.substr(5);
            uint64_t bytes;
            if (!parse_size(v, &bytes)) {
                *error = "-m: malformed memory size '" + v + "' (examples: 128M, 1G, 512)";
                return false;
            }
            if (bytes < PhysicalMemory::kMinRam || bytes > PhysicalMemory::kMaxRam) {
                *error = "-m: memory size '" + v + "' out of range (1M to 3G)";
                return false;
            }
            if (bytes % kPageSize) {
                *error = "-m: memory size '" + v + "' is not a multiple of 4 KiB";
                return false;
            }
            cfg.ram_size = bytes;
        } else if (opt == "-bios") {
            if (!value(&v)) return false;
            cfg.bios_path = v;
        } else if (opt == "-kernel") {
            if (!value(&v)) return false;
            cfg.kernel_path = v;
        } else if (opt == "-initrd") {
            if (!value(&v)) return false;
            cfg.initrd_path = v;
            has_initrd = true;
        } else if (opt == "-append") {
            if (!value(&v)) return false;
            cfg.append = v;
            has_append = true;
        } else if (opt == "-nographic") {
            cfg.nographic = true;
        } else if (opt == "-display") {
            if (!value(&v)) return false;
            if (v != "none") {
                *error = "-display: unsupported display '" + v + "' (only 'none' for now; use -nographic for a terminal)";
                return false;
            }
            display_none = true;
        } else if (opt == "-serial") {
            if (!value(&v) || !parse_chardev(v, &cfg.serial, error, "-serial")) return false;
        } else if (opt == "-debugcon") {
            if (!value(&v) || !parse_chardev(v, &cfg.debugcon, error, "-debugcon")) return false;
        } else if (opt == "-device") {
            if (!value(&v)) return false;
            if (v == "help") {
                *error = "available devices: isa-debug-exit (iobase=, iosize=)";
                return false;
            }
            if (!parse_device(v, &cfg, error)) return false;
        } else if (opt == "-no-reboot") {
            cfg.no_reboot = true;
        } else if (opt == "-d") {
            if (!value(&v)) return false;
            if (v == "help") {
                out->show_log_items = true;
                continue;
            }
            if (!Logger::parse_mask(v, &cfg.log_mask, error)) return false;
        } else if (opt == "-D") {
            if (!value(&v)) return false;
            cfg.log_file = v;
        } else if (opt == "-dfilter") {
            if (!value(&v) || !Logger::parse_filter(v, &cfg.log_filter, error)) return false;
        } else if (opt == "-accel") {
            if (!value(&v) || !parse_accel(v, &cfg, error)) return false;
        } else if (opt == "-perfmap") {
            cfg.jit_perfmap = true;
        } else if (opt == "-one-insn-per-tb" || opt == "-singlestep") {
            cfg.one_insn_per_block = true;
        } else if (opt == "-s") {
            out->gdb.enabled = true;
            out->gdb.host.clear();
            out->gdb.port = 1234;
        } else if (opt == "-gdb") {
            if (!value(&v) || !parse_gdb(v, &out->gdb, error)) return false;
        } else if (opt == "-S") {
            out->start_paused = true;
        } else if (opt == "-incoming") {
            if (!value(&v)) return false;
            if (v.rfind("tcp:", 0) != 0 && v.rfind("file:", 0) != 0 && v != "defer") {
                *error = "-incoming: unsupported URI '" + v + "' (use tcp:HOST:PORT, file:PATH or defer)";
                return false;
            }
            out->incoming = v;
        } else if (opt == "-monitor") {
            if (!value(&v) || !parse_monitor(v, &out->monitor, error)) return false;
        } else {
            *error = opt.rfind("-", 0) == 0 ? "unknown option '" + args[i] + "' (see -h)"
                                            : "unexpected argument '" + args[i] + "' (see -h)";
            return false;
        }
    }
    // As QEMU: these only make sense with a kernel to boot.
    if (cfg.kernel_path.empty() && has_append) {
        *error = "-append only allowed with -kernel option";
        return false;
    }
    if (cfg.kernel_path.empty() && has_initrd) {
        *error = "-initrd only allowed with -kernel option";
        return false;
    }
    // Defaults as in QEMU: -nographic puts the serial port on the terminal;
    // with no display at all there is nowhere else for it to go, so the
    // terminal is the default unless -display none says otherwise.
    if (cfg.serial.kind == CharDevSpec::Kind::kNone)
        cfg.serial.kind = display_none && !cfg.nographic ? CharDevSpec::Kind::kNull : CharDevSpec::Kind::kStdio;
    if (cfg.debugcon.kind == CharDevSpec::Kind::kNone) cfg.debugcon.kind = CharDevSpec::Kind::kNull;
    return true;
}

std::string usage_text() {
    return "usage: nomad86 [options]\n"
           "\n"
           "A full-system x86 PC emulator. Options follow QEMU's spelling.\n"
           "\n"
           "  -m SIZE             RAM size (default 128M; suffixes K, M, G; a bare number is MiB; 1M to 3G)\n"
           "  -bios FILE          firmware image (64 KiB to 1 MiB, a multiple of 64 KiB);\n"
           "                      default: nomad86's own demo firmware\n"
           "  -kernel FILE        boot a Linux bzImage (32-bit boot protocol) or a Multiboot kernel\n"
           "                      directly: no firmware code runs, the CPU starts at the kernel's entry\n"
           "  -initrd FILE        Linux: the initial ram disk; Multiboot: modules \"FILE ARGS[,FILE ARGS...]\"\n"
           "  -append CMDLINE     the kernel command line\n"
           "  -nographic          no display; the serial port goes to this terminal\n"
           "  -display none       no display (serial defaults to null)\n"
           "  -serial DEV         COM1 back end: stdio, null or file:PATH\n"
           "  -debugcon DEV       port 0xE9 debug console back end: stdio, null or file:PATH\n"
           "  -device isa-debug-exit[,iobase=0xf4][,iosize=0x04]\n"
           "                      a guest write of V to the port exits with status (V<<1)|1\n"
           "  -no-reboot          exit instead of rebooting (triple fault, reset request)\n"
           "  -d ITEM[,...]       log items (-d help lists them)\n"
           "  -s                  GDB stub on tcp::1234 (shorthand for -gdb tcp::1234)\n"
           "  -gdb tcp:[HOST]:PORT  GDB stub listening there\n"
           "  -S                  do not start the CPU until told (by gdb or the monitor)\n"
           "  -incoming URI       resume a machine: tcp:[HOST]:PORT waits for a live migration (monitor\n"
           "                      'migrate -d tcp:HOST:PORT' on the source), file:PATH loads a snapshot\n"
           "                      ('migrate file:PATH'); defer waits for the monitor's 'migrate_incoming URI';\n"
           "                      the other options must describe the same machine\n"
           "  -monitor DEV        HMP monitor: stdio, none, tcp:HOST:PORT,server,nowait,\n"
           "                      unix:PATH,server,nowait (with -nographic: Ctrl-A c on the terminal)\n"
           "  -D FILE             write the log to FILE instead of stderr\n"
           "  -dfilter RANGES     limit in_asm/exec/cpu logs to A..B, A+LEN or A-LEN ranges\n"
           "  -accel ENGINE[,verify=on][,tb-size=MiB]\n"
           "                      jit (default: guest blocks become host code) or interp\n"
           "                      (the reference interpreter); verify=on runs both in lockstep\n"
           "  -one-insn-per-tb    one instruction per block: -d cpu,exec trace each instruction\n"
           "  -perfmap            name each translated block in /tmp/perf-PID.map, for perf\n"
           "  -h, --help          this help\n"
           "  --version           version\n"
           "\n"
           "With the serial port on the terminal: Ctrl-A x quits, Ctrl-A h shows the keys.\n";
}

}  // namespace nomad86
