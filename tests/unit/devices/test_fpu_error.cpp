// The PC's FERR#/IGNNE# logic at port 0xF0 and IRQ 13, alone and wired to
// the CPU's x87 (CR0.NE=0 error reporting).
#include <doctest/doctest.h>

#include "core/state.h"
#include "devices/fpu_error.h"
#include "tests/unit/cpu_rig.h"
#include "tests/unit/test_support.h"

using namespace nomad86;
using namespace nomad86::test;

TEST_CASE("fpu_error: FERR# raises IRQ 13; a write to port 0xF0 lowers it and asserts IGNNE#") {
    DeviceRig rig;
    IrqRecorder pic;
    FpuError dev(rig.ctx, IrqLine(&pic, 13));
    CHECK(!pic.levels[13]);
    dev.set_irq(0, true);
    CHECK(pic.levels[13]);
    CHECK(!dev.ignne());
    rig.io.write(0xf0, 1, 0);
    CHECK(!pic.levels[13]);
    CHECK(dev.ignne());
    // FERR# still up: no new request; once it drops, IGNNE# drops too.
    dev.set_irq(0, true);
    CHECK(!pic.levels[13]);
    dev.set_irq(0, false);
    CHECK(!dev.ignne());
    dev.set_irq(0, true);
    CHECK(pic.levels[13]);
    CHECK(rig.io.read(0xf0, 1) == 0xff);
    dev.reset();
    CHECK(!pic.levels[13]);
    CHECK(!dev.irq_latched());
}

TEST_CASE("fpu_error: the state round-trips") {
    DeviceRig rig;
    IrqRecorder pic;
    FpuError a(rig.ctx, IrqLine(&pic, 13));
    a.set_irq(0, true);
    StateWriter w;
    a.describe(w);
    IrqRecorder pic2;
    DeviceRig rig2;
    FpuError b(rig2.ctx, IrqLine(&pic2, 13));
    StateReader r(w.data());
    b.describe(r);
    CHECK(r.at_end());
    b.post_load();
    CHECK(b.irq_latched());
    CHECK(pic2.levels[13]);
}

TEST_CASE("fpu_error: an x87 error with CR0.NE=0 reaches IRQ 13 through FERR#") {
    CpuRig c;
    IrqRecorder pic;
    DeviceContext ctx{c.io, c.memory, c.clock, c.log, c.control};
    FpuError dev(ctx, IrqLine(&pic, 13));
    c.cpu.ferr_line.connect(&dev, 0);
    c.real_mode(0x1000, 0x100);
    // FNINIT; FLDCW [0x200] (ZE unmasked); FLD1; FLDZ; FDIVP (1/0); FLD1 (waiting); OUT 0xF0, AL
    c.poke(0x10200, {0x7b, 0x03});
    c.poke(0x10100, {0xdb, 0xe3, 0xd9, 0x2e, 0x00, 0x02, 0xd9, 0xe8, 0xd9, 0xee, 0xde, 0xf9, 0xd9, 0xe8, 0xe6, 0xf0});
    c.step(5);
    CHECK((c.s.fpu.fsw & 0x80));
    CHECK(!pic.levels[13]);
    c.step(1);  // FLD1 sees the pending error: FERR#
    CHECK(pic.levels[13]);
    CHECK(c.s.rip == 0x10e);  // and it executed
    c.step(1);  // OUT 0xF0
    CHECK(!pic.levels[13]);
    CHECK(dev.ignne());
}
