// nomad86: parse the command line, build the machine, run it.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "core/machine.h"
#include "frontend/firmware.h"
#include "frontend/options.h"
#include "frontend/terminal.h"

using namespace nomad86;

static int fail(const std::string& message) {
    fprintf(stderr, "nomad86: %s\n", message.c_str());
    return 1;
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

    std::unique_ptr<Machine> machine;
    try {
        machine = std::make_unique<Machine>(cfg, std::move(firmware));
    } catch (const MachineError& e) {
        return fail(e.what());
    }

    const bool serial_on_terminal = cfg.serial.kind == CharDevSpec::Kind::kStdio;
    Terminal terminal(serial_on_terminal ? machine->serial_backend() : nullptr,
                      [&machine] { machine->request_exit(0); });
    if (serial_on_terminal) {
        terminal.enable_raw();
        machine->set_input_poller([&terminal](int64_t timeout_ns) { terminal.poll(timeout_ns); });
    }
    int status = machine->run();
    terminal.restore();
    fflush(stdout);
    return status;
}
