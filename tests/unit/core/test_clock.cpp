#include <doctest/doctest.h>

#include "core/clock.h"

using namespace nomad86;

TEST_CASE("clock: moving the earliest timer later updates the next deadline") {
    VirtualClock clock(VirtualClock::Mode::kManual);
    int fired = 0;
    TimerId t = clock.create_timer("t", [&] { fired++; });
    clock.arm(t, 100);
    CHECK(clock.next_deadline() == 100);
    clock.arm(t, 200);
    CHECK(clock.next_deadline() == 200);
    clock.advance_to(150);
    CHECK(clock.run_expired() == 0);
    clock.advance_to(200);
    CHECK(clock.run_expired() == 1);
    CHECK(fired == 1);
    CHECK(clock.next_deadline() == kNoDeadline);
}
