#include "core/log.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace nomad86 {

static const LogItemInfo kItems[] = {
    {"in_asm", kLogInAsm, "show target assembly code for each compiled block"},
    {"out_asm", kLogOutAsm, "show generated host assembly code for each compiled block"},
    {"exec", kLogExec, "show trace before each executed block"},
    {"cpu", kLogCpu, "show CPU registers before entering a block"},
    {"int", kLogInt, "show interrupts and exceptions"},
    {"mmu", kLogMmu, "log page walks and TLB fills"},
    {"cpu_reset", kLogCpuReset, "show CPU state before CPU resets"},
    {"guest_errors", kLogGuestErrors, "log when the guest misprograms a device or the CPU"},
    {"unimp", kLogUnimp, "log unimplemented instructions and device features"},
    {"nochain", kLogNochain, "do not chain compiled blocks"},
    {"post", kLogPost, "show POST codes written to port 0x80"},
    {"ioport", kLogIoport, "log every port I/O access"},
    {"mmio", kLogMmio, "log every memory-mapped device access"},
};

const LogItemInfo* log_items(size_t* count) {
    *count = sizeof(kItems) / sizeof(kItems[0]);
    return kItems;
}

Logger::Logger() = default;

Logger::~Logger() {
    if (out_) fclose(out_);
}

bool Logger::parse_mask(std::string_view list, uint32_t* mask, std::string* error) {
    uint32_t result = 0;
    while (!list.empty()) {
        size_t comma = list.find(',');
        std::string_view item = list.substr(0, comma);
        list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
        if (item.empty()) continue;
        bool found = false;
        if (item == "all") {
            size_t n;
            const LogItemInfo* items = log_items(&n);
            for (size_t i = 0; i < n; i++)
                if (items[i].mask != kLogNochain) result |= items[i].mask;
            found = true;
        }
        for (const auto& info : kItems) {
            if (item == info.name) {
                result |= info.mask;
                found = true;
            }
        }
        if (!found) {
            *error = "unknown -d item '" + std::string(item) + "' (try -d help)";
            return false;
        }
    }
    *mask = result;
    return true;
}

bool Logger::parse_filter(std::string_view list, std::vector<std::pair<uint64_t, uint64_t>>* ranges,
                          std::string* error) {
    ranges->clear();
    auto number = [](std::string_view text, uint64_t* v) {
        std::string t(text);
        if (t.empty()) return false;
        char* end = nullptr;
        errno = 0;
        *v = strtoull(t.c_str(), &end, 0);
        return errno == 0 && end && *end == '\0';
    };
    while (!list.empty()) {
        size_t comma = list.find(',');
        std::string_view item = list.substr(0, comma);
        list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
        uint64_t a, b;
        size_t dots = item.find("..");
        size_t plus = item.find('+');
        size_t minus = item.find('-');
        bool ok = false;
        if (dots != std::string_view::npos) {
            ok = number(item.substr(0, dots), &a) && number(item.substr(dots + 2), &b) && a <= b;
            if (ok) ranges->push_back({a, b});
        } else if (plus != std::string_view::npos) {
            ok = number(item.substr(0, plus), &a) && number(item.substr(plus + 1), &b) && b > 0;
            if (ok) ranges->push_back({a, a + b - 1});
        } else if (minus != std::string_view::npos) {
            ok = number(item.substr(0, minus), &a) && number(item.substr(minus + 1), &b) && b > 0 && b <= a + 1;
            if (ok) ranges->push_back({a - b + 1, a});
        }
        if (!ok) {
            *error = "-dfilter: bad range '" + std::string(item) + "' (use A..B, A+LEN or A-LEN)";
            return false;
        }
    }
    return true;
}

bool Logger::open_file(const std::string& path) {
    FILE* f = fopen(path.c_str(), "w");
    if (!f) return false;
    if (out_) fclose(out_);
    out_ = f;
    setvbuf(out_, nullptr, _IOFBF, 1 << 16);
    return true;
}

void Logger::log(uint32_t item, const char* fmt, ...) {
    if (!enabled(item)) return;
    va_list ap;
    va_start(ap, fmt);
    vlog(fmt, ap);
    va_end(ap);
}

void Logger::vlog(const char* fmt, va_list ap) { vfprintf(stream(), fmt, ap); }

}  // namespace nomad86
