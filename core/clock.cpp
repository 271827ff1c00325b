#include "core/clock.h"

#include <ctime>

namespace nomad86 {

int64_t host_monotonic_ns() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

int64_t VirtualClock::host_ns() { return host_monotonic_ns(); }

VirtualClock::VirtualClock(Mode mode) : mode_(mode) { offset_ns_ = host_ns(); }

int64_t VirtualClock::now_ns() const {
    if (mode_ == Mode::kManual) {
        const int64_t t = manual_ns_;
        manual_ns_ += manual_read_step_ns_;
        return t;
    }
    if (paused_) return paused_at_;
    return host_ns() - offset_ns_;
}

void VirtualClock::pause() {
    if (paused_) return;
    paused_at_ = now_ns();
    paused_ = true;
}

void VirtualClock::resume() {
    if (!paused_) return;
    paused_ = false;
    offset_ns_ = host_ns() - paused_at_;
}

void VirtualClock::describe(StateVisitor& v) {
    v.begin_section("clock", 1);
    int64_t now = now_ns();
    v.field("guest_ns", now);
    v.end_section();
    if (!v.loading()) return;
    // Devices add periods to it: keep far from overflow (2^62 ns is 146 years).
    if (now < 0 || now > (int64_t(1) << 62)) throw StateError("clock: guest time out of range");
    if (mode_ == Mode::kManual) {
        manual_ns_ = now;
    } else if (paused_) {
        paused_at_ = now;
    } else {
        offset_ns_ = host_ns() - now;
    }
}

void VirtualClock::advance_to(int64_t ns) {
    if (mode_ == Mode::kManual && ns > manual_ns_) manual_ns_ = ns;
}

TimerId VirtualClock::create_timer(std::string name, std::function<void()> callback) {
    timers_.push_back(Timer{std::move(name), std::move(callback), kNoDeadline});
    return TimerId(timers_.size() - 1);
}

void VirtualClock::arm(TimerId id, int64_t deadline_ns) {
    Timer& t = timers_.at(id);
    const bool was_next = t.deadline == next_deadline_;
    t.deadline = deadline_ns;
    if (deadline_ns < next_deadline_)
        next_deadline_ = deadline_ns;
    else if (was_next)
        recompute_next();  // the earliest timer moved later
}

void VirtualClock::cancel(TimerId id) {
    Timer& t = timers_.at(id);
    if (t.deadline == kNoDeadline) return;
    bool was_next = t.deadline == next_deadline_;
    t.deadline = kNoDeadline;
    if (was_next) recompute_next();
}

void VirtualClock::recompute_next() {
    next_deadline_ = kNoDeadline;
    for (const Timer& t : timers_)
        if (t.deadline < next_deadline_) next_deadline_ = t.deadline;
}

int VirtualClock::run_expired() {
    int ran = 0;
    // A callback may re-arm its own timer or others, possibly already due;
    // bound the loop so a device asking for a zero period cannot hang us.
    for (int round = 0; round < 64; round++) {
        int64_t now = now_ns();
        if (next_deadline_ > now) break;
        bool any = false;
        for (size_t i = 0; i < timers_.size(); i++) {
            if (timers_[i].deadline <= now) {
                timers_[i].deadline = kNoDeadline;
                recompute_next();
                timers_[i].callback();
                ran++;
                any = true;
            }
        }
        if (!any) break;
    }
    return ran;
}

}  // namespace nomad86
