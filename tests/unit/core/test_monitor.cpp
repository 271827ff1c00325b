// The HMP monitor against a machine built in the test: command output in
// QEMU's wording, memory dumps, run control, the line reader.
#include <doctest/doctest.h>

#include <cstdio>
#include <fstream>

#include <unistd.h>

#include <string>

#include "core/machine.h"
#include "frontend/monitor.h"
#include "tests/unit/test_support.h"

using namespace nomad86;

namespace {
MachineConfig monitor_config() {
    MachineConfig cfg;
    cfg.ram_size = 16 * MiB;
    cfg.serial.kind = CharDevSpec::Kind::kNull;
    cfg.debugcon.kind = CharDevSpec::Kind::kNull;
    cfg.no_reboot = true;
    return cfg;
}

// mov ax, 0x1234; mov bx, 0x5678; inc cx; jmp $
const std::vector<uint8_t> kCode = {0xb8, 0x34, 0x12, 0xbb, 0x78, 0x56, 0x41, 0xeb, 0xfe};

bool contains(const std::string& text, const std::string& what) { return text.find(what) != std::string::npos; }
}  // namespace

TEST_CASE("monitor: info status, stop, cont, step") {
    Machine m(monitor_config(), test::firmware_with(kCode), VirtualClock::Mode::kManual);
    Monitor mon(m);
    CHECK(mon.execute("info status") == "VM status: running\n");
    CHECK(mon.execute("stop") == "");
    CHECK(m.paused());
    CHECK(mon.execute("info status") == "VM status: paused\n");
    CHECK(mon.execute("cont") == "");
    CHECK(!m.paused());
    CHECK(mon.execute("info status") == "VM status: running\n");

    // step stops the VM and executes exactly one instruction: the far jump.
    CHECK(m.cpu().s.rip == 0xfff0);
    const std::string out = mon.execute("step");
    CHECK(m.paused());
    CHECK(m.cpu().s.rip == 0);
    CHECK(m.cpu().s.seg[kCs].base == 0xf0000);
    CHECK(contains(out, "0x000f0000:  mov ax, 0x1234"));
    mon.execute("step");
    CHECK((m.cpu().s.gpr[kRax] & 0xffff) == 0x1234);
    CHECK(contains(mon.execute("info registers"), "EAX=00001234 EBX=00000000"));
    mon.execute("step");
    CHECK(contains(mon.execute("info registers"), "EAX=00001234 EBX=00005678 ECX=00000000"));
}

TEST_CASE("monitor: info registers in QEMU's layout") {
    Machine m(monitor_config(), test::firmware_with(kCode), VirtualClock::Mode::kManual);
    Monitor mon(m);
    m.cpu().s.gpr[kRsi] = 0xdeadbeef;
    const std::string r = mon.execute("info registers");
    CHECK(contains(r, "EAX=00000000 EBX=00000000 ECX=00000000 EDX="));
    CHECK(contains(r, "ESI=deadbeef EDI=00000000 EBP=00000000 ESP=00000000\n"));
    CHECK(contains(r, "EIP=0000fff0 EFL=00000002 [-------] CPL=0 II=0 A20=1 SMM=0 HLT=0\n"));
    CHECK(contains(r, "ES =0000 00000000 0000ffff 00009300\n"));
    CHECK(contains(r, "CS =f000 ffff0000 0000ffff 00009b00\n"));
    CHECK(contains(r, "GDT=     00000000 0000ffff\n"));
    CHECK(contains(r, "IDT=     00000000 0000ffff\n"));
    CHECK(contains(r, "CR0=60000010 CR2=00000000 CR3=00000000 CR4=00000000\n"));
    CHECK(contains(r, "EFER=0000000000000000\n"));
    m.cpu().s.fpu.fcw = 0x037f;
    m.cpu().s.fpu.ftw = 0xfff0;  // R0, R1 valid
    CHECK(contains(mon.execute("info registers"), "FCW=037f FSW=0000 [ST=0] FTW=03 MXCSR=00001f80\n"));
    CHECK(contains(r, "FPR0=0000000000000000 0000 FPR1=0000000000000000 0000\n"));
}

TEST_CASE("monitor: x and xp formats and sizes") {
    Machine m(monitor_config(), test::firmware_with(kCode), VirtualClock::Mode::kManual);
    Monitor mon(m);
    const uint8_t data[] = {0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 'A', '\n', 0xff, 0x80};
    m.memory().write_bytes(GuestPhys(0x1000), data, sizeof data);

    CHECK(mon.execute("xp /4xb 0x1000") == "0000000000001000: 0x11 0x22 0x33 0x44\n");
    CHECK(mon.execute("x /2xw 0x1000") == "00001000: 0x44332211 0x88776655\n");
    CHECK(mon.execute("x/2xh 4096") == "00001000: 0x2211 0x4433\n");
    CHECK(mon.execute("x /1xg 0x1000") == "00001000: 0x8877665544332211\n");
    CHECK(mon.execute("x /2ub 0x100a") == "0000100a: 255 128\n");
    CHECK(mon.execute("x /2db 0x100a") == "0000100a:  -1 -128\n");
    CHECK(mon.execute("x /1dh 0x100a") == "0000100a: -32513\n");
    CHECK(mon.execute("x /1ob 0x1000") == "00001000: 021\n");
    CHECK(mon.execute("x /2c 0x1008") == "00001008: 'A' '\\n'\n");
    // More than one line: 8 bytes a line for b, 16 for larger sizes.
    CHECK(mon.execute("xp /10xb 0x1000") ==
          "0000000000001000: 0x11 0x22 0x33 0x44 0x55 0x66 0x77 0x88\n"
          "0000000000001008: 0x41 0x0a\n");
    CHECK(mon.execute("x /5xw 0x1000") ==
          "00001000: 0x44332211 0x88776655 0x80ff0a41 0x00000000\n"
          "00001010: 0x00000000\n");
    // The last format and size are remembered, as in QEMU.
    CHECK(mon.execute("x 0x1000") == "00001000: 0x44332211\n");
    CHECK(mon.execute("x /2 0x1000") == "00001000: 0x44332211 0x88776655\n");
    // The firmware at the top of 4 GiB and below 1 MiB.
    CHECK(mon.execute("xp /5xb 0xffff0") == "00000000000ffff0: 0xea 0x00 0x00 0x00 0xf0\n");
}

TEST_CASE("monitor: address expressions and disassembly") {
    Machine m(monitor_config(), test::firmware_with(kCode), VirtualClock::Mode::kManual);
    Monitor mon(m);
    CHECK(contains(mon.execute("x /1i $pc"), "0xfffffff0:  jmp far 0xF000:0x0000"));
    m.cpu().s.gpr[kRax] = 0x1000;
    m.cpu().s.gpr[kRbx] = 0x10;
    const uint8_t data[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17};
    m.memory().write_bytes(GuestPhys(0x1000), data, sizeof data);
    CHECK(mon.execute("xp /1xb $eax+$ebx") == "0000000000001010: 0x11\n");
    CHECK(mon.execute("xp /1xb ($eax + 2) * 1") == "0000000000001002: 0x03\n");
    CHECK(mon.execute("xp /1xb $ax | 3") == "0000000000001003: 0x04\n");
    CHECK(mon.execute("xp /1xb 0x1000 + 010") == "0000000000001008: 0x09\n");  // octal, as strtoull
    mon.execute("step");  // jmp far f000:0000
    CHECK(mon.execute("x /3i $pc") ==
          "0x000f0000:  mov ax, 0x1234\n"
          "0x000f0003:  mov bx, 0x5678\n"
          "0x000f0006:  inc cx\n");
    CHECK(contains(mon.execute("x /1xb $nosuchreg"), "unknown register 'nosuchreg'"));
    CHECK(contains(mon.execute("x /1xb 1 +"), "unexpected end of expression"));
    CHECK(contains(mon.execute("x /1xb 1/0"), "division by zero"));
    CHECK(contains(mon.execute("x /4q 0"), "invalid char in format: 'q'"));
    CHECK(contains(mon.execute("x /4x"), "address expected"));
}

TEST_CASE("monitor: unmapped addresses, unknown commands, help") {
    Machine m(monitor_config(), test::firmware_with(kCode), VirtualClock::Mode::kManual);
    Monitor mon(m);
    CHECK(mon.execute("x /4xb 0x100000000") == "100000000: Cannot access memory\n");
    CHECK(mon.execute("xp /4xb 0x100000000") == "0000000100000000: Cannot access memory\n");
    CHECK(contains(mon.execute("x /2i 0xfffffffff"), "Cannot access memory"));
    CHECK(mon.execute("xyz") == "unknown command: 'xyz'\n");
    CHECK(mon.execute("xyz\x01\xff") == "unknown command: 'xyz\\x01\\xff'\n");
    CHECK(contains(mon.execute("info nothing"), "unknown info topic: 'nothing'"));
    CHECK(contains(mon.execute("stop now"), "too many arguments"));
    CHECK(mon.execute("") == "");
    CHECK(mon.execute("info mem") == "PG disabled\n");
    CHECK(mon.execute("info tlb") == "PG disabled\n");
    CHECK(contains(mon.execute("info pic"), "pic0: irr="));
    CHECK(contains(mon.execute("info pic"), "pic1: irr="));
    CHECK(contains(mon.execute("gdbserver"), "gdbserver: not available"));

    const std::string help = mon.execute("help");
    for (const Monitor::Command& c : mon.commands()) CHECK(contains(help, c.name + " "));
    for (const char* want : {"help", "info", "x", "xp", "stop", "cont", "step", "system_reset", "gdbserver", "quit"})
        CHECK(contains("\n" + help, std::string("\n") + want + " "));
    const std::string info = mon.execute("info");
    for (const char* want : {"info status", "info registers", "info mem", "info tlb", "info pic"}) CHECK(contains(info, want));
    CHECK(contains(mon.execute("help x"), "x /fmt addr -- "));
}

TEST_CASE("monitor: gdbserver, system_reset and quit") {
    Machine m(monitor_config(), test::firmware_with(kCode), VirtualClock::Mode::kManual);
    Monitor mon(m);
    uint16_t asked = 0;
    mon.set_gdbserver_starter([&](uint16_t port) {
        asked = port;
        return std::string("Waiting for gdb connection on port ") + std::to_string(port) + "\n";
    });
    CHECK(mon.execute("gdbserver") == "Waiting for gdb connection on port 1234\n");
    CHECK(asked == 1234);
    CHECK(mon.execute("gdbserver tcp::4321") == "Waiting for gdb connection on port 4321\n");
    CHECK(asked == 4321);
    CHECK(contains(mon.execute("gdbserver 99999"), "bad port"));

    mon.execute("stop");
    mon.execute("step");
    CHECK(m.cpu().s.rip == 0);
    CHECK(mon.execute("system_reset") == "");
    CHECK(m.cpu().s.rip == 0xfff0);
    CHECK(m.paused());

    CHECK(!m.exit_requested());
    CHECK(mon.execute("quit") == "");
    CHECK(m.exit_requested());
    CHECK(m.exit_status() == 0);
}

TEST_CASE("monitor: the line reader bounds lines and survives garbage") {
    Machine m(monitor_config(), test::firmware_with(kCode), VirtualClock::Mode::kManual);
    Monitor mon(m);
    MonitorLineReader r(mon, false);
    auto feed = [&](const std::string& s) { return r.feed(reinterpret_cast<const uint8_t*>(s.data()), s.size()); };
    CHECK(feed("info status\r\n") == "VM status: running\r\n(qemu) ");
    CHECK(feed("info st") == "");
    CHECK(feed("atus\n") == "VM status: running\r\n(qemu) ");
    // NULs and control characters are dropped; garbage is an unknown command.
    CHECK(feed(std::string("info\0 status\x07\r", 14)) == "VM status: running\r\n(qemu) ");
    CHECK(feed("\xff\xfe\x80zz\r") == "unknown command: '\\xff\\xfe\\x80zz'\r\n(qemu) ");
    // An overlong line is discarded with an error, and the next line works.
    const std::string out = feed(std::string(100000, 'a') + "\r");
    CHECK(contains(out, "line too long"));
    CHECK(feed("info status\r") == "VM status: running\r\n(qemu) ");

    // The echoing reader (the terminal) edits with backspace.
    MonitorLineReader e(mon, true);
    const std::string s = "info statux\x7fs\r";
    const std::string echo = e.feed(reinterpret_cast<const uint8_t*>(s.data()), s.size());
    CHECK(contains(echo, "info statux\b \bs\r\nVM status: running\r\n(qemu) "));
}

TEST_CASE("monitor: system_powerdown presses the ACPI power button; info cpustats counts instructions") {
    Machine m(monitor_config(), test::firmware_with(kCode), VirtualClock::Mode::kManual);
    Monitor mon(m);
    CHECK((m.io().read(0x600, 2) & 0x100) == 0);  // PM1a_STS.PWRBTN_STS
    CHECK(mon.execute("system_powerdown") == "");
    CHECK((m.io().read(0x600, 2) & 0x100) != 0);
    m.run_for(4);  // far jump, mov, mov, inc
    CHECK(contains(mon.execute("info cpustats"), "instructions 4\n"));
}

TEST_CASE("monitor: info jit counts translations; -perfmap names them and the shared routines; with -accel interp the JIT is off") {
    // `jmp $` is a one-instruction block that jumps to itself: translated
    // from its third run (16-bit code is not chained).
    Machine m(monitor_config(), test::firmware_with(kCode), VirtualClock::Mode::kManual);
    Monitor mon(m);
    m.run_for(1000);
    const std::string jit = mon.execute("info jit");
    CHECK(contains(jit, "accel jit\n"));
    CHECK_FALSE(contains(jit, "blocks translated 0 "));
    CHECK(contains(jit, "chain patches 0 "));
    CHECK(contains(mon.execute("info cpustats"), "instructions 1000\n"));

    // -perfmap: each translation named in /tmp/perf-PID.map for perf.
    MachineConfig mapped = monitor_config();
    mapped.jit_perfmap = true;
    const std::string map_path = "/tmp/perf-" + std::to_string(getpid()) + ".map";
    std::remove(map_path.c_str());  // the map is appended to
    {
        Machine mp(mapped, test::firmware_with(kCode), VirtualClock::Mode::kManual);
        mp.run_for(1000);
    }
    // (The shared routines the translations call are named too.)
    std::ifstream map_file(map_path);
    std::string line;
    bool translation = false, routine = false;
    while (std::getline(map_file, line)) {
        translation = translation || (contains(line, " guest_") && contains(line, "_phys_"));
        routine = routine || contains(line, " jit_");
    }
    CHECK(translation);
    CHECK(routine);
    std::remove(map_path.c_str());

    MachineConfig interp = monitor_config();
    interp.accel = MachineConfig::Accel::kInterp;
    Machine mi(interp, test::firmware_with(kCode), VirtualClock::Mode::kManual);
    Monitor moni(mi);
    mi.run_for(1000);
    CHECK(moni.execute("info jit") == "accel interp: the JIT is off\n");
    CHECK(contains(moni.execute("info cpustats"), "instructions 1000\n"));
}
