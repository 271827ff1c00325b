// Trace and diagnostic logging selected by -d LIST and written to -D FILE.
// One Logger per Machine: two machines in one process log independently.
#pragma once
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace nomad86 {

enum LogItem : uint32_t {
    kLogInAsm = 1u << 0,       // each block when first decoded
    kLogExec = 1u << 1,        // each block as it runs
    kLogCpu = 1u << 2,         // registers before each block
    kLogInt = 1u << 3,         // interrupts and exceptions
    kLogMmu = 1u << 4,         // page walks and TLB fills
    kLogCpuReset = 1u << 5,    // CPU state at reset
    kLogGuestErrors = 1u << 6, // what the guest did wrong to a device
    kLogUnimp = 1u << 7,       // unimplemented instructions and device features
    kLogNochain = 1u << 8,     // do not chain translated blocks
    kLogPost = 1u << 9,        // port 0x80 POST codes
    kLogIoport = 1u << 10,     // every port access
    kLogOutAsm = 1u << 11,     // host code the JIT emitted for each block
    kLogMmio = 1u << 12,       // every access to a memory-mapped device
};

struct LogItemInfo {
    const char* name;
    uint32_t mask;
    const char* help;
};

// The table of -d items, for parsing and for "-d help".
const LogItemInfo* log_items(size_t* count);

class Logger {
public:
    Logger();
    ~Logger();
    Logger(const Logger&) = delete;
    Logger& operator=(const Logger&) = delete;

    // Parses a -d list ("int,unimp"). Returns false and fills *error on an unknown item.
    static bool parse_mask(std::string_view list, uint32_t* mask, std::string* error);

    void set_mask(uint32_t mask) { mask_ = mask; }

    // -dfilter: address ranges the address-based items (in_asm, exec, cpu)
    // are limited to. "A..B" (inclusive), "A+LEN", "A-LEN" (the LEN bytes
    // before A), comma separated, numbers in C syntax. Empty: everything.
    static bool parse_filter(std::string_view list, std::vector<std::pair<uint64_t, uint64_t>>* ranges,
                             std::string* error);
    void set_filter(std::vector<std::pair<uint64_t, uint64_t>> ranges) { filter_ = std::move(ranges); }
    bool in_filter(uint64_t address) const {
        if (filter_.empty()) return true;
        for (const auto& [first, last] : filter_)
            if (address >= first && address <= last) return true;
        return false;
    }
    uint32_t mask() const { return mask_; }
    bool enabled(uint32_t item) const { return (mask_ & item) != 0; }
    // Sends the log to a file instead of stderr. Returns false if it cannot be opened.
    bool open_file(const std::string& path);
    FILE* stream() const { return out_ ? out_ : stderr; }

    // Prints when the item is enabled. Check enabled() first on hot paths.
    void log(uint32_t item, const char* fmt, ...) __attribute__((format(printf, 3, 4)));
    void vlog(const char* fmt, va_list ap);

private:
    uint32_t mask_ = 0;
    FILE* out_ = nullptr;
    std::vector<std::pair<uint64_t, uint64_t>> filter_;  // inclusive [first, last]
};

}  // namespace nomad86
