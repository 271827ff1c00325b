// Breakpoints and watchpoints for the debugger (GDB stub, monitor). They
// never patch guest memory: the interpreter checks breakpoints at each
// instruction's linear address and watchpoints on every guest data access,
// and only while at least one is set, so a machine without a debugger
// attached pays one predictable branch.
#pragma once
#include <algorithm>
#include <cstdint>
#include <vector>

namespace nomad86 {

enum class WatchKind : uint8_t { kWrite, kRead, kAccess };

// Why the CPU stopped for the debugger.
struct DebugStop {
    enum class Kind : uint8_t { kNone, kBreakpoint, kWatchpoint } kind = Kind::kNone;
    uint64_t address = 0;  // breakpoint: its linear address; watchpoint: the watched address hit
    WatchKind watch = WatchKind::kWrite;
};

class DebugPoints {
public:
    bool active() const { return !breakpoints_.empty() || !watchpoints_.empty(); }
    bool watching() const { return !watchpoints_.empty(); }

    void add_breakpoint(uint64_t linear) {
        if (!has_breakpoint(linear)) breakpoints_.push_back(linear);
    }
    bool remove_breakpoint(uint64_t linear) {
        auto it = std::find(breakpoints_.begin(), breakpoints_.end(), linear);
        if (it == breakpoints_.end()) return false;
        breakpoints_.erase(it);
        return true;
    }
    bool has_breakpoint(uint64_t linear) const {
        return std::find(breakpoints_.begin(), breakpoints_.end(), linear) != breakpoints_.end();
    }

    void add_watchpoint(uint64_t linear, uint64_t len, WatchKind kind) {
        if (len == 0) len = 1;
        watchpoints_.push_back(Watch{linear, len, kind});
    }
    bool remove_watchpoint(uint64_t linear, uint64_t len, WatchKind kind) {
        if (len == 0) len = 1;
        auto it = std::find_if(watchpoints_.begin(), watchpoints_.end(), [&](const Watch& w) {
            return w.address == linear && w.length == len && w.kind == kind;
        });
        if (it == watchpoints_.end()) return false;
        watchpoints_.erase(it);
        return true;
    }
    // The first watchpoint an access of [linear, linear+size) triggers.
    const DebugStop* check_access(uint64_t linear, unsigned size, bool is_write, DebugStop* out) const {
        for (const Watch& w : watchpoints_) {
            if (linear + size <= w.address || w.address + w.length <= linear) continue;
            const bool fires = w.kind == WatchKind::kAccess || (w.kind == WatchKind::kWrite) == is_write;
            if (!fires) continue;
            *out = DebugStop{DebugStop::Kind::kWatchpoint, std::max(linear, w.address), w.kind};
            return out;
        }
        return nullptr;
    }
    void clear() {
        breakpoints_.clear();
        watchpoints_.clear();
    }

private:
    struct Watch {
        uint64_t address;
        uint64_t length;
        WatchKind kind;
    };
    std::vector<uint64_t> breakpoints_;
    std::vector<Watch> watchpoints_;
};

}  // namespace nomad86
