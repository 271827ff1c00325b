// Whole-machine tests: tiny firmware images assembled by hand.
#include <doctest/doctest.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "core/machine.h"
#include "tests/unit/test_support.h"

using namespace nomad86;
using nomad86::test::firmware_with;

namespace {
MachineConfig test_config(const std::string& debugcon_file) {
    MachineConfig cfg;
    cfg.ram_size = 16 * MiB;
    cfg.serial.kind = CharDevSpec::Kind::kNull;
    cfg.debugcon.kind = CharDevSpec::Kind::kFile;
    cfg.debugcon.path = debugcon_file;
    cfg.debug_exit = DebugExitSpec{true, 0xf4, 4};
    cfg.no_reboot = true;
    return cfg;
}

std::string slurp(const std::string& path) {
    std::ifstream f(path);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

// mov al, c; out 0xe9, al
void emit_char(std::vector<uint8_t>& code, char c) {
    code.insert(code.end(), {0xb0, uint8_t(c), 0xe6, 0xe9});
}
}  // namespace

TEST_CASE("machine: firmware runs from the reset vector, prints on 0xE9 and exits through isa-debug-exit") {
    std::vector<uint8_t> code;
    emit_char(code, 'o');
    emit_char(code, 'k');
    code.insert(code.end(), {0xb0, 0x10, 0xe6, 0xf4});  // out 0xf4, 0x10 -> status 33
    const std::string out = "/tmp/nomad86-test-machine-1.txt";
    Machine m(test_config(out), firmware_with(code));
    int status = m.run();
    CHECK(status == 33);
    CHECK(slurp(out) == "ok");
    remove(out.c_str());
}

TEST_CASE("machine: firmware sizes are checked") {
    CHECK(Machine::check_firmware_size(0) != "");
    CHECK(Machine::check_firmware_size(1000) != "");
    CHECK(Machine::check_firmware_size(64 * KiB) == "");
    CHECK(Machine::check_firmware_size(1 * MiB) == "");
    CHECK(Machine::check_firmware_size(96 * KiB + 1) != "");
    CHECK(Machine::check_firmware_size(2 * MiB) != "");
    CHECK_THROWS_AS(Machine(test_config("/tmp/nomad86-x"), std::vector<uint8_t>(100)), MachineError);
}

TEST_CASE("machine: two machines in one process keep separate RAM, devices and exit status") {
    // Each stores a different value to RAM and reports it.
    auto code_for = [](uint8_t value) {
        std::vector<uint8_t> code = {0x31, 0xc0, 0x8e, 0xd8,        // xor ax,ax; mov ds,ax
                                     0xc6, 0x06, 0x00, 0x10, value,  // mov byte [0x1000], value
                                     0xa0, 0x00, 0x10,              // mov al, [0x1000]
                                     0xe6, 0xe9,                    // out 0xe9, al
                                     0xe6, 0xf4};                   // out 0xf4, al
        return code;
    };
    Machine a(test_config("/tmp/nomad86-test-a.txt"), firmware_with(code_for('A')));
    Machine b(test_config("/tmp/nomad86-test-b.txt"), firmware_with(code_for('B')));
    a.run_for(4);  // the reset-vector jump, xor, mov ds, the store
    b.run_for(4);
    CHECK(a.memory().read(GuestPhys(0x1000), 1) == 'A');
    CHECK(b.memory().read(GuestPhys(0x1000), 1) == 'B');
    CHECK(a.run() == ('A' << 1 | 1));
    CHECK(b.run() == ('B' << 1 | 1));
    CHECK(slurp("/tmp/nomad86-test-a.txt") == "A");
    CHECK(slurp("/tmp/nomad86-test-b.txt") == "B");
    remove("/tmp/nomad86-test-a.txt");
    remove("/tmp/nomad86-test-b.txt");
}

TEST_CASE("machine: a triple fault with -no-reboot ends the run; without it the machine resets") {
    // lidt with limit 0, then int3: #BP cannot be delivered -> #DF -> triple fault.
    std::vector<uint8_t> code = {0x2e, 0x0f, 0x01, 0x1e, 0x20, 0x00,  // lidt cs:[0x20]
                                 0xcc};                              // int3
    code.resize(0x20, 0x90);
    code.insert(code.end(), {0x00, 0x00, 0x00, 0x00, 0x00, 0x00});  // limit 0, base 0
    MachineConfig cfg = test_config("/tmp/nomad86-test-tf.txt");
    Machine m(cfg, firmware_with(code));
    CHECK(m.run() == 1);  // nobody announced the reset: a crash, status 1

    // The same after the guest announced an orderly reboot (ACPI _TTS(5)):
    // status 0.
    std::vector<uint8_t> announced = {0xb0, 0x05,              // mov al, 5
                                      0xba, 0x0c, 0x06,        // mov dx, 0x60c
                                      0xee};                   // out dx, al
    announced.insert(announced.end(), code.begin(), code.begin() + 7);
    announced.resize(0x26, 0x90);
    // lidt's operand moved by 6 bytes: cs:[0x26].
    announced[6 + 4] = 0x26;
    announced.insert(announced.end(), {0x00, 0x00, 0x00, 0x00, 0x00, 0x00});
    Machine orderly(cfg, firmware_with(announced));
    CHECK(orderly.run() == 0);

    cfg.no_reboot = false;
    Machine r(cfg, firmware_with(code));
    r.run_for(10);
    // After the reset it starts over at the reset vector.
    CHECK(r.cpu().instructions_retired() > 3);
    remove("/tmp/nomad86-test-tf.txt");
}

TEST_CASE("machine: the whole described state of a running machine round-trips into a second machine") {
    // Programs the PIC and PIT and spins, so devices hold non-reset state.
    std::vector<uint8_t> code = {
        0xb0, 0x11, 0xe6, 0x20, 0xb0, 0x20, 0xe6, 0x21,  // ICW1, ICW2 = 0x20
        0xb0, 0x04, 0xe6, 0x21, 0xb0, 0x01, 0xe6, 0x21,  // ICW3, ICW4
        0xb0, 0x34, 0xe6, 0x43, 0xb0, 0x00, 0xe6, 0x40,  // PIT ch0 mode 2
        0xb0, 0x10, 0xe6, 0x40,                          // count 0x1000
        0xb0, 0x0b, 0xe6, 0x70,                          // CMOS index 0x0b
        0xeb, 0xfe};                                     // jmp $
    MachineConfig cfg = test_config("/tmp/nomad86-test-state.txt");
    // Manual clocks: both machines see the same guest time, so time-relative
    // fields (timer deadlines) must come out identical too.
    Machine a(cfg, firmware_with(code), VirtualClock::Mode::kManual);
    a.run_for(1000);
    a.cpu().s.gpr[kRbx] = 0x1234abcd;
    const std::vector<uint8_t> state = a.save_device_state();

    Machine b(cfg, firmware_with(code), VirtualClock::Mode::kManual);
    b.load_device_state(state);
    CHECK(b.cpu().s.gpr[kRbx] == 0x1234abcd);
    CHECK(b.cpu().s.rip == a.cpu().s.rip);
    CHECK(b.io().read(0x21, 1) == a.io().read(0x21, 1));  // PIC IMR
    CHECK(b.save_device_state() == state);

    // A corrupted stream is refused with StateError, never a crash.
    std::vector<uint8_t> bad = state;
    bad.resize(bad.size() / 2);
    Machine c(cfg, firmware_with(code));
    CHECK_THROWS_AS(c.load_device_state(bad), StateError);
    bad = state;
    bad.push_back(0);
    CHECK_THROWS_AS(c.load_device_state(bad), StateError);
    remove("/tmp/nomad86-test-state.txt");
}

TEST_CASE("machine: breakpoints stop before the instruction, watchpoints after the writing one, stepping holds interrupts") {
    // F000:0000  inc ax
    // F000:0001  inc ax
    // F000:0002  mov [0x1000], ax   (a3 00 10)
    // F000:0005  inc ax
    // F000:0006  jmp $
    std::vector<uint8_t> code = {0x40, 0x40, 0xa3, 0x00, 0x10, 0x40, 0xeb, 0xfe};
    MachineConfig cfg = test_config("/tmp/nomad86-test-debug.txt");
    Machine m(cfg, firmware_with(code), VirtualClock::Mode::kManual);
    int stops = 0;
    m.set_debug_stop_handler([&] { stops++; });

    m.cpu().debug.add_breakpoint(0xf0001);
    m.cpu().debug_points_changed();
    m.run_for(100);
    CHECK(stops == 1);
    CHECK(m.paused());
    CHECK(m.cpu().last_debug_stop().kind == DebugStop::Kind::kBreakpoint);
    CHECK(m.cpu().s.rip == 0x0001);          // stopped before the second INC
    CHECK((m.cpu().s.gpr[kRax] & 0xffff) == 1);

    // A step from the breakpoint executes it (the breakpoint does not re-fire).
    CHECK(m.step_instruction() == Cpu::StopReason::kBudget);
    CHECK(m.cpu().s.rip == 0x0002);
    CHECK((m.cpu().s.gpr[kRax] & 0xffff) == 2);

    // A write watchpoint on 0x1000 fires after the MOV, before the next INC.
    m.cpu().debug.remove_breakpoint(0xf0001);
    m.cpu().debug.add_watchpoint(0x1000, 2, WatchKind::kWrite);
    m.cpu().debug_points_changed();
    m.cpu().debug.add_watchpoint(0x1000, 2, WatchKind::kRead);  // a read watch must not fire on a write
    m.cpu().debug.remove_watchpoint(0x1000, 2, WatchKind::kRead);
    m.resume();
    m.run_for(100);
    CHECK(stops == 2);
    CHECK(m.cpu().last_debug_stop().kind == DebugStop::Kind::kWatchpoint);
    CHECK(m.cpu().last_debug_stop().address == 0x1000);
    CHECK(m.cpu().s.rip == 0x0005);
    CHECK(m.memory().read(GuestPhys(0x1000), 2) == 2);
    remove("/tmp/nomad86-test-debug.txt");
}
