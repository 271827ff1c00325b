// nomad86: parse the command line, build the machine, run it.
#include <chrono>
#include <cstdio>
#include <ctime>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <sys/prctl.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include "core/machine.h"
#include "core/multiboot.h"
#include "core/snapshot_file.h"
#include "frontend/firmware.h"
#include "frontend/migration_commands.h"
#include "frontend/monitor.h"
#include "frontend/options.h"
#include "frontend/terminal.h"
#include "net/gdb_server.h"
#include "net/migration_destination.h"
#include "net/migration_source.h"

using namespace nomad86;

static int fail(const std::string& message) {
    fprintf(stderr, "nomad86: %s\n", message.c_str());
    return 1;
}

// -kernel/-initrd/-append: reads the images. A Multiboot kernel takes
// -initrd as QEMU's module list ("FILE ARGS,FILE ARGS"), Linux as one file.
static bool read_kernel_boot(const MachineConfig& cfg, KernelBoot* boot, std::string* error) {
    const uint64_t max_size = cfg.ram_size;  // anything larger cannot fit anyway
    std::string why;
    const std::string too_large = "is larger than the RAM (-m " + ram_text(cfg.ram_size) + ")";
    if (!read_file(cfg.kernel_path, &boot->kernel, &why, max_size)) {
        *error = why == "file too large" ? "kernel '" + cfg.kernel_path + "' " + too_large
                                         : "cannot read kernel '" + cfg.kernel_path + "': " + why;
        return false;
    }
    boot->kernel_name = cfg.kernel_path;
    boot->cmdline = cfg.append;
    if (cfg.initrd_path.empty()) return true;
    std::vector<ModuleSpec> specs;
    if (detect_kernel_format(boot->kernel) == KernelFormat::kMultiboot) {
        specs = parse_multiboot_modules(cfg.initrd_path);
    } else {
        specs.push_back({cfg.initrd_path, cfg.initrd_path});
    }
    for (const ModuleSpec& spec : specs) {
        BootModule m;
        m.cmdline = spec.cmdline;
        if (!read_file(spec.path, &m.data, &why, max_size)) {
            *error = why == "file too large" ? "initrd '" + spec.path + "' " + too_large
                                             : "cannot read initrd '" + spec.path + "': " + why;
            return false;
        }
        boot->modules.push_back(std::move(m));
    }
    return true;
}

int main(int argc, char** argv) {
    std::vector<std::string> args(argv + 1, argv + argc);
    CommandLine cmd;
    std::string error;
    if (!parse_command_line(args, &cmd, &error)) return fail(error);
    if (cmd.show_help) {
        fputs(usage_text().c_str(), stdout);
        return 0;
    }
    if (cmd.show_version) {
        printf("nomad86 version %s\n", NOMAD86_VERSION);
        return 0;
    }
    if (cmd.show_log_items) {
        size_t n;
        const LogItemInfo* items = log_items(&n);
        printf("Log items (comma separated):\n");
        for (size_t i = 0; i < n; i++) printf("%-12s %s\n", items[i].name, items[i].help);
        return 0;
    }

    MachineConfig& cfg = cmd.machine;
    const bool own_firmware = cfg.bios_path.empty();
    const std::string firmware_path = own_firmware ? default_firmware_path() : cfg.bios_path;
    std::vector<uint8_t> firmware;
    if (!read_file(firmware_path, &firmware, &error))
        return fail(std::string(own_firmware ? "cannot read the built-in firmware '" : "cannot read BIOS file '") +
                    firmware_path + "': " + error);
    std::string size_problem = Machine::check_firmware_size(firmware.size());
    if (!size_problem.empty()) return fail("BIOS file '" + firmware_path + "' " + size_problem);

    KernelBoot kernel_boot;
    if (!cfg.kernel_path.empty() && !read_kernel_boot(cfg, &kernel_boot, &error)) return fail(error);

    std::unique_ptr<Machine> machine;
    try {
        machine = std::make_unique<Machine>(cfg, std::move(firmware));
    } catch (const MachineError& e) {
        return fail(e.what());
    }
    if (!cfg.kernel_path.empty()) {
        try {
            machine->load_kernel(std::move(kernel_boot));
        } catch (const MachineError& e) {
            return fail("cannot boot kernel '" + cfg.kernel_path + "': " + e.what());
        }
    }

    MigrationUri incoming;
    const bool incoming_deferred = cmd.incoming == "defer";
    if (!cmd.incoming.empty() && !incoming_deferred) {
        if (!parse_migration_uri(cmd.incoming, &incoming, &error)) return fail("-incoming: " + error);
        if (incoming.kind == MigrationUri::Kind::kFile) {
            try {
                load_snapshot_file(*machine, incoming.path);
            } catch (const migration::MigrationError& e) {
                return fail(std::string("-incoming: ") + e.what());
            }
            machine->after_migration();
        }
    }

    // One thread: the machine loop runs guest code in slices and, between
    // them or while the guest is halted or paused, serves the terminal and
    // every socket (GDB stub, monitor) through one io_context.
    boost::asio::io_context io;
    auto keep_alive = boost::asio::make_work_guard(io);
    Monitor monitor(*machine);
    std::unique_ptr<GdbServer> gdb;
    auto start_gdb = [&](const std::string& host, uint16_t port) -> std::string {
        try {
            gdb.reset();
            gdb = std::make_unique<GdbServer>(io, *machine, host, port,
                                              [&monitor](const std::string& line) { return monitor.execute(line); });
            return "Waiting for gdb connection on port " + std::to_string(gdb->port()) + "\n";
        } catch (const std::exception& e) {
            return std::string("gdbserver: ") + e.what() + "\n";
        }
    };
    monitor.set_gdbserver_starter([&](uint16_t port) { return start_gdb("", port); });
    if (cmd.gdb.enabled) {
        try {
            gdb = std::make_unique<GdbServer>(io, *machine, cmd.gdb.host, cmd.gdb.port,
                                              [&monitor](const std::string& line) { return monitor.execute(line); });
        } catch (const std::exception& e) {
            return fail(std::string("-gdb: ") + e.what());
        }
    }
    std::unique_ptr<MonitorServer> monitor_server;
    if (cmd.monitor.kind == MonitorSpec::Kind::kTcp || cmd.monitor.kind == MonitorSpec::Kind::kUnix) {
        try {
            monitor_server = std::make_unique<MonitorServer>(io, monitor, cmd.monitor);
        } catch (const std::exception& e) {
            return fail(std::string("-monitor: ") + e.what());
        }
    }
    if (cmd.start_paused) machine->pause();

    // Migration: this machine can be a source (monitor `migrate`) and, with
    // -incoming tcp:, waits paused to be the destination of one.
    MigrationSource migration_source(io, *machine);
    std::unique_ptr<MigrationDestination> migration_destination;
    if (incoming_deferred || (!cmd.incoming.empty() && incoming.kind == MigrationUri::Kind::kTcp)) {
        migration_destination = std::make_unique<MigrationDestination>(io, *machine);
        migration_destination->set_autostart(!cmd.start_paused);
        const std::string problem = incoming_deferred ? "" : migration_destination->listen(incoming);
        if (!problem.empty()) return fail("-incoming: " + problem);
    }
    add_migration_commands(monitor, *machine, migration_source, migration_destination.get());

    // The terminal carries the serial console (-serial stdio, the default
    // with -nographic) and/or the monitor (-monitor stdio, and the default
    // monitor with -nographic); with both, Ctrl-A c switches, as QEMU's mux.
    const bool serial_on_terminal = cfg.serial.kind == CharDevSpec::Kind::kStdio;
    const bool monitor_on_terminal = cmd.monitor.kind == MonitorSpec::Kind::kStdio ||
                                     (cmd.monitor.kind == MonitorSpec::Kind::kDefault && cfg.nographic);
    Terminal terminal(io, serial_on_terminal ? machine->serial_backend() : nullptr,
                      monitor_on_terminal ? &monitor : nullptr, [&machine] { machine->request_exit(0); });
    if (serial_on_terminal || monitor_on_terminal) {
        terminal.enable_raw();
        terminal.start();
    }
    machine->set_input_poller([&](int64_t timeout_ns) {
        int64_t slice = timeout_ns < 5'000'000 ? timeout_ns : 5'000'000;
        // A migration in progress gets up to 1 ms between guest slices (the
        // loop polls every 2 ms while the guest computes), and the idle
        // time when the guest waits.
        if (migration_source.active()) slice -= migration_source.pump(slice > 0 ? slice : 1'000'000);
        if (slice <= 0) {
            io.poll();
        } else if (slice < 1'000'000) {
            // Asio's reactor waits in whole milliseconds, rounded up: a
            // halted guest waiting for its UART's next character (11 us)
            // would get one per millisecond, and a shell's output would
            // crawl at 1 KB/s. Below a millisecond, look at the terminal
            // once and sleep exactly as long as the guest asked.
            io.poll();
            const timespec ts{0, long(slice)};
            nanosleep(&ts, nullptr);
        } else {
            io.run_for(std::chrono::nanoseconds(slice));
        }
    });
    // The idle sleeps above are often tens of microseconds; Linux's default
    // timer slack (50 us) would more than double them.
    prctl(PR_SET_TIMERSLACK, 1000UL, 0UL, 0UL, 0UL);
    int status = machine->run();
    terminal.restore();
    fflush(stdout);
    return status;
}
