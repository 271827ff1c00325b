#include <doctest/doctest.h>

#include <string>

#include "core/char_backend.h"
#include "devices/debug_exit.h"
#include "devices/debugcon.h"
#include "devices/port92.h"
#include "devices/post_code.h"
#include "tests/unit/test_support.h"

using namespace nomad86;

TEST_CASE("port 0x92: fast A20 and fast reset") {
    test::DeviceRig r;
    Port92 p(r.ctx);
    r.outb(0x92, 0x00);
    CHECK_FALSE(r.control.a20());
    CHECK((r.inb(0x92) & 0x02) == 0);
    r.outb(0x92, 0x02);
    CHECK(r.control.a20());
    CHECK((r.inb(0x92) & 0x02) == 0x02);
    CHECK(r.control.resets == 0);
    r.outb(0x92, 0x03);
    CHECK(r.control.resets == 1);
    CHECK(r.control.a20());
    // The gate is shared: a change made elsewhere shows in bit 1.
    r.control.set_a20(false);
    CHECK((r.inb(0x92) & 0x02) == 0);
}

TEST_CASE("port 0x80: POST code kept and read back") {
    test::DeviceRig r;
    PostCode pc(r.ctx);
    r.outb(0x80, 0x12);
    r.outb(0x80, 0xAB);
    CHECK(pc.last_code() == 0xAB);
    CHECK(r.inb(0x80) == 0xAB);
}

TEST_CASE("debugcon: output and 0xE9 read-back") {
    test::DeviceRig r;
    BufferBackend out;
    DebugCon dc(r.ctx, 0xE9, &out);
    for (char c : std::string("ok\n")) r.outb(0xE9, uint8_t(c));
    CHECK(out.out == "ok\n");
    CHECK(r.inb(0xE9) == 0xE9);
    DebugCon quiet(r.ctx, 0x402, nullptr);  // no back end: discarded, no crash
    r.outb(0x402, 'x');
    CHECK(r.inb(0x402) == 0xE9);
}

TEST_CASE("isa-debug-exit: status (v << 1) | 1 for byte, word and dword writes") {
    test::DeviceRig r;
    DebugExit de(r.ctx, 0xF4, 4);
    for (uint32_t v : {0u, 1u, 0x31u}) {
        r.control.exit_status = -1;
        r.io.write(0xF4, 1, v);
        CHECK(r.control.exit_status == int((v << 1) | 1));
        r.control.exit_status = -1;
        r.io.write(0xF4, 2, v);
        CHECK(r.control.exit_status == int((v << 1) | 1));
        r.control.exit_status = -1;
        r.io.write(0xF4, 4, v);
        CHECK(r.control.exit_status == int((v << 1) | 1));
    }
    CHECK(r.control.exit_status == 0x63);
    // Wide values are used as written (the OS keeps the low 8 bits).
    r.io.write(0xF4, 4, 0x12345678);
    CHECK(r.control.exit_status == int(0x2468ACF1));
    CHECK(r.io.read(0xF4, 4) == 0);
    // QEMU's default placement, 0x501 with 2 ports.
    DebugExit de2(r.ctx, 0x501, 2);
    r.io.write(0x502, 1, 0x31);
    CHECK(r.control.exit_status == 0x63);
    r.io.write(0x501, 2, 0x0001);
    CHECK(r.control.exit_status == 3);
}
