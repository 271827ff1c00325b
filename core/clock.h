// The virtual clock and its timer-event queue. Guest time is in nanoseconds;
// while the machine runs it tracks the host's monotonic clock, while it is
// paused it stands still. In manual mode (unit tests, later -icount) time
// moves only when told to, which makes device tests exact.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <deque>

#include "core/state.h"

namespace nomad86 {

using TimerId = uint32_t;

// The host's monotonic clock in nanoseconds (migration timing, throttling).
int64_t host_monotonic_ns();
constexpr int64_t kNoDeadline = INT64_MAX;

class VirtualClock {
public:
    enum class Mode { kHost, kManual };
    explicit VirtualClock(Mode mode = Mode::kHost);

    // Guest nanoseconds since the machine was created.
    int64_t now_ns() const;

    // Host-tracking mode: stop and restart guest time (snapshot, monitor stop).
    void pause();
    void resume();
    bool paused() const { return paused_; }
    // Manual mode: move guest time forward (never backward).
    void advance_to(int64_t ns);
    void advance_by(int64_t ns) { advance_to(now_ns() + ns); }
    // Manual mode: every read of the clock also moves it forward by `ns`, as
    // if the host thread were descheduled between any two reads (tests of
    // code that must not assume time stands still while it runs).
    void set_manual_read_step(int64_t ns) { manual_read_step_ns_ = ns; }
    Mode mode() const { return mode_; }
    // Guest time is state: a restored or migrated machine goes on from the
    // instant it was saved (devices re-arm their timers in post_load, after
    // this section is loaded). Paused or not is not state: that is the
    // loader's business.
    void describe(StateVisitor& v);

    // Timers. A device creates its timers once and arms them as needed; the
    // callback runs from the machine loop (never from inside an instruction).
    TimerId create_timer(std::string name, std::function<void()> callback);
    void arm(TimerId id, int64_t deadline_ns);
    void cancel(TimerId id);
    bool armed(TimerId id) const { return timers_.at(id).deadline != kNoDeadline; }
    int64_t deadline(TimerId id) const { return timers_.at(id).deadline; }

    // The earliest armed deadline, or kNoDeadline.
    int64_t next_deadline() const { return next_deadline_; }
    // Runs every timer whose deadline is at or before now. Returns how many ran.
    int run_expired();

private:
    struct Timer {
        std::string name;
        std::function<void()> callback;
        int64_t deadline = kNoDeadline;
    };
    static int64_t host_ns();
    void recompute_next();

    Mode mode_;
    bool paused_ = false;
    int64_t offset_ns_ = 0;   // guest = host - offset (kHost)
    int64_t paused_at_ = 0;   // guest time when paused
    mutable int64_t manual_ns_ = 0;  // guest time (kManual)
    int64_t manual_read_step_ns_ = 0;
    int64_t next_deadline_ = kNoDeadline;
    // A deque keeps a timer in place while a callback creates another.
    std::deque<Timer> timers_;
};

}  // namespace nomad86
