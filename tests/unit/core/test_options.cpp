#include <doctest/doctest.h>

#include "core/log.h"
#include "frontend/options.h"

using namespace nomad86;

static bool parse(std::vector<std::string> args, CommandLine* cmd, std::string* err) {
    return parse_command_line(args, cmd, err);
}

TEST_CASE("options: -m accepts QEMU's spellings and rejects malformed or out-of-range sizes") {
    uint64_t b;
    CHECK(parse_size("128", &b));
    CHECK(b == 128 * MiB);
    CHECK(parse_size("128M", &b));
    CHECK(b == 128 * MiB);
    CHECK(parse_size("1G", &b));
    CHECK(b == GiB);
    CHECK(parse_size("1.5G", &b));
    CHECK(b == 3 * GiB / 2);
    CHECK(parse_size("65536k", &b));
    CHECK(b == 64 * MiB);
    CHECK(parse_size("256MB", &b));
    CHECK(b == 256 * MiB);
    CHECK_FALSE(parse_size("", &b));
    CHECK_FALSE(parse_size("M", &b));
    CHECK_FALSE(parse_size("12X", &b));
    CHECK_FALSE(parse_size("-5", &b));
    CHECK_FALSE(parse_size("12MM", &b));

    CommandLine cmd;
    std::string err;
    CHECK(parse({"-m", "size=64M"}, &cmd, &err));
    CHECK(cmd.machine.ram_size == 64 * MiB);
    CHECK_FALSE(parse({"-m", "512K"}, &cmd, &err));
    CHECK(err.find("out of range") != std::string::npos);
    CHECK_FALSE(parse({"-m", "64G"}, &cmd, &err));
    CHECK_FALSE(parse({"-m", "lots"}, &cmd, &err));
    CHECK(err.find("malformed") != std::string::npos);
    CHECK_FALSE(parse({"-m"}, &cmd, &err));
    CHECK(err.find("missing argument") != std::string::npos);
}

TEST_CASE("options: character devices, debug-exit, -no-reboot, -d") {
    CommandLine cmd;
    std::string err;
    REQUIRE(parse({"-serial", "file:/tmp/x", "-debugcon", "stdio", "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
                   "-no-reboot", "-d", "int,unimp", "-D", "/tmp/log"},
                  &cmd, &err));
    CHECK(cmd.machine.serial.kind == CharDevSpec::Kind::kFile);
    CHECK(cmd.machine.serial.path == "/tmp/x");
    CHECK(cmd.machine.debugcon.kind == CharDevSpec::Kind::kStdio);
    CHECK(cmd.machine.debug_exit.enabled);
    CHECK(cmd.machine.debug_exit.iobase == 0xf4);
    CHECK(cmd.machine.debug_exit.iosize == 4);
    CHECK(cmd.machine.no_reboot);
    CHECK(cmd.machine.log_mask == (kLogInt | kLogUnimp));
    CHECK(cmd.machine.log_file == "/tmp/log");

    CHECK_FALSE(parse({"-serial", "tcp::4444"}, &cmd, &err));
    CHECK_FALSE(parse({"-device", "e1000"}, &cmd, &err));
    CHECK(err.find("e1000") != std::string::npos);
    CHECK_FALSE(parse({"-device", "isa-debug-exit,iobase=0xfffff"}, &cmd, &err));
    CHECK_FALSE(parse({"-d", "int,bogus"}, &cmd, &err));
    CHECK(err.find("bogus") != std::string::npos);
    CHECK_FALSE(parse({"-frobnicate"}, &cmd, &err));
    CHECK(err.find("unknown option") != std::string::npos);
}

TEST_CASE("options: serial defaults follow QEMU (-nographic: stdio; -display none: null)") {
    CommandLine a, b;
    std::string err;
    REQUIRE(parse({"-nographic"}, &a, &err));
    CHECK(a.machine.serial.kind == CharDevSpec::Kind::kStdio);
    REQUIRE(parse({"-display", "none"}, &b, &err));
    CHECK(b.machine.serial.kind == CharDevSpec::Kind::kNull);
    CommandLine c;
    REQUIRE(parse({"--version"}, &c, &err));
    CHECK(c.show_version);
}

TEST_CASE("options: -dfilter ranges and -one-insn-per-tb") {
    CommandLine cmd;
    std::string err;
    REQUIRE(parse({"-dfilter", "0x1000..0x1fff,0x8000+0x10,0x100-0x10", "-one-insn-per-tb"}, &cmd, &err));
    const auto& f = cmd.machine.log_filter;
    REQUIRE(f.size() == 3);
    CHECK(f[0] == std::make_pair<uint64_t, uint64_t>(0x1000, 0x1fff));
    CHECK(f[1] == std::make_pair<uint64_t, uint64_t>(0x8000, 0x800f));
    CHECK(f[2] == std::make_pair<uint64_t, uint64_t>(0xf1, 0x100));
    CHECK(cmd.machine.one_insn_per_block);
    CHECK_FALSE(cmd.machine.jit_perfmap);
    CommandLine mapped;
    REQUIRE(parse({"-perfmap"}, &mapped, &err));
    CHECK(mapped.machine.jit_perfmap);
    Logger log;
    log.set_filter(f);
    CHECK(log.in_filter(0x1000));
    CHECK(log.in_filter(0x1fff));
    CHECK_FALSE(log.in_filter(0x2000));
    CHECK(log.in_filter(0x800f));
    CHECK_FALSE(log.in_filter(0x8010));
    CHECK_FALSE(log.in_filter(0xf0));
    for (const char* bad : {"5..2", "0x10+0", "zz..0x10", "0x10", "1-5"}) {
        CommandLine c;
        CHECK_FALSE(parse({"-dfilter", bad}, &c, &err));
    }
}
