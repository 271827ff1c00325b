#include "frontend/migration_commands.h"

#include <sstream>

#include "core/machine.h"
#include "core/snapshot_file.h"
#include "frontend/monitor.h"
#include "frontend/options.h"
#include "net/migration_destination.h"
#include "net/migration_source.h"

namespace nomad86 {

namespace {

std::vector<std::string> words(const std::string& args) {
    std::istringstream in(args);
    std::vector<std::string> out;
    for (std::string w; in >> w;) out.push_back(w);
    return out;
}

bool parse_on_off(const std::string& v, bool* out) {
    if (v == "on" || v == "true") return *out = true, true;
    if (v == "off" || v == "false") return *out = false, true;
    return false;
}

std::string migrate(Machine& machine, MigrationSource& source, const std::string& args) {
    bool resume = false;
    std::string uri_text;
    for (const std::string& w : words(args)) {
        if (w == "-d" || w == "-b" || w == "-i") continue;  // detach is how we always run
        if (w == "-r") {
            resume = true;
        } else if (uri_text.empty()) {
            uri_text = w;
        } else {
            return "migrate: too many arguments";
        }
    }
    if (uri_text.empty()) return "migrate: usage: migrate [-d] [-r] URI";
    MigrationUri uri;
    std::string error;
    if (!parse_migration_uri(uri_text, &uri, &error)) return "migrate: " + error;
    if (resume) {
        if (uri.kind != MigrationUri::Kind::kTcp) return "migrate -r: needs tcp:HOST:PORT";
        return source.recover(uri);
    }
    if (uri.kind == MigrationUri::Kind::kFile) {
        if (source.active()) return "migrate: a migration is in progress";
        SnapshotStats st;
        const int64_t start = host_monotonic_ns();
        const std::string problem = save_snapshot_file(machine, uri.path, &st);
        source.note_file_snapshot(st, start, problem);
        return problem.empty() ? "" : "migrate: " + problem;
    }
    return source.start(uri);
}

std::string set_parameter(MigrationSource& source, const std::string& args) {
    const std::vector<std::string> w = words(args);
    if (w.size() != 2) return "migrate_set_parameter: usage: migrate_set_parameter NAME VALUE";
    MigrationParameters& p = source.params;
    const std::string& name = w[0];
    const std::string& value = w[1];
    char* end = nullptr;
    const long long n = strtoll(value.c_str(), &end, 10);
    const bool integer = !value.empty() && !*end && n >= 0;
    if (name == "downtime-limit") {
        if (!integer || n > 2000000) return "Parameter 'downtime_limit' expects an integer in the range of 0 to 2000000 milliseconds";
        p.downtime_limit_ms = n;
    } else if (name == "max-bandwidth") {
        uint64_t bytes = 0;
        if (!parse_size(value, &bytes) || bytes == 0) return "migrate_set_parameter: bad size '" + value + "' for max-bandwidth";
        p.max_bandwidth = bytes;
    } else if (name == "max-postcopy-bandwidth") {
        uint64_t bytes = 0;
        if (value != "0" && !parse_size(value, &bytes))
            return "migrate_set_parameter: bad size '" + value + "' for max-postcopy-bandwidth";
        p.max_postcopy_bandwidth = bytes;
    } else if (name == "throttle-initial" || name == "cpu-throttle-initial") {
        if (!integer || n < 1 || n > 99) return "Parameter 'cpu_throttle_initial' expects an integer in the range of 1 to 99";
        p.throttle_initial = int(n);
    } else if (name == "throttle-increment" || name == "cpu-throttle-increment") {
        if (!integer || n < 1 || n > 99) return "Parameter 'cpu_throttle_increment' expects an integer in the range of 1 to 99";
        p.throttle_increment = int(n);
    } else {
        return "migrate_set_parameter: unknown parameter '" + name +
               "' (downtime-limit, max-bandwidth, max-postcopy-bandwidth, cpu-throttle-initial, "
               "cpu-throttle-increment)";
    }
    return "";
}

std::string set_capability(MigrationSource& source, const std::string& args) {
    const std::vector<std::string> w = words(args);
    bool on = false;
    if (w.size() != 2 || !parse_on_off(w[1], &on))
        return "migrate_set_capability: usage: migrate_set_capability NAME on|off";
    if (source.active()) return "migrate_set_capability: there's a migration process in progress";
    if (w[0] == "auto-converge") {
        source.params.auto_converge = on;
    } else if (w[0] == "postcopy-ram") {
        source.params.postcopy_ram = on;
    } else {
        return "migrate_set_capability: unknown capability '" + w[0] + "' (auto-converge, postcopy-ram)";
    }
    return "";
}

// The one tcp:HOST:PORT argument of a destination-side command; "" or the error.
std::string tcp_uri_argument(const char* command, const std::string& args, MigrationUri* uri) {
    std::string error;
    const std::vector<std::string> w = words(args);
    if (w.size() != 1 || !parse_migration_uri(w[0], uri, &error) || uri->kind != MigrationUri::Kind::kTcp)
        return std::string(command) + ": needs tcp:HOST:PORT" + (error.empty() ? "" : " (" + error + ")");
    return "";
}

}  // namespace

void add_migration_commands(Monitor& monitor, Machine& machine, MigrationSource& source,
                            MigrationDestination* destination) {
    monitor.add_command({"migrate", "[-d] [-r] uri",
                         "migrate to URI (tcp:HOST:PORT live, file:PATH a snapshot); -r resumes a paused post-copy",
                         [&machine, &source](const std::string& a) { return migrate(machine, source, a); }});
    monitor.add_command({"migrate_cancel", "", "cancel the current migration (the machine runs on here)",
                         [&source](const std::string&) { return source.cancel(); }});
    monitor.add_command({"migrate_set_parameter", "parameter value", "set a migration parameter",
                         [&source](const std::string& a) { return set_parameter(source, a); }});
    monitor.add_command({"migrate_set_capability", "capability state", "enable/disable a migration capability",
                         [&source](const std::string& a) { return set_capability(source, a); }});
    monitor.add_command({"migrate_start_postcopy", "", "switch the migration in progress to post-copy",
                         [&source](const std::string&) { return source.start_postcopy(); }});
    monitor.add_command({"migrate_incoming", "uri", "with -incoming defer: start listening for the source on URI",
                         [destination](const std::string& a) -> std::string {
                             if (!destination) return "migrate_incoming: start with -incoming defer";
                             MigrationUri uri;
                             const std::string error = tcp_uri_argument("migrate_incoming", a, &uri);
                             return error.empty() ? destination->listen_deferred(uri) : error;
                         }});
    monitor.add_command({"migrate_recover", "uri", "on a destination: listen for 'migrate -r' after a broken post-copy",
                         [destination](const std::string& a) -> std::string {
                             if (!destination) return "migrate_recover: this is not a migration destination";
                             MigrationUri uri;
                             const std::string error = tcp_uri_argument("migrate_recover", a, &uri);
                             return error.empty() ? destination->recover(uri) : error;
                         }});
    monitor.add_info({"migrate", "", "show migration status", [&source, destination](const std::string&) {
                          std::string out = source.info_text();
                          if (destination) out += destination->info_text();
                          return out;
                      }});
    monitor.add_info({"migrate_parameters", "", "show current migration parameters", [&source](const std::string&) {
                          const MigrationParameters& p = source.params;
                          return "downtime-limit: " + std::to_string(p.downtime_limit_ms) + " ms\n" +
                                 "max-bandwidth: " + std::to_string(p.max_bandwidth) + " bytes/second\n" +
                                 "max-postcopy-bandwidth: " + std::to_string(p.max_postcopy_bandwidth) +
                                 " bytes/second\n" +
                                 "cpu-throttle-initial: " + std::to_string(p.throttle_initial) + "\n" +
                                 "cpu-throttle-increment: " + std::to_string(p.throttle_increment) + "\n";
                      }});
    monitor.add_info({"migrate_capabilities", "", "show current migration capabilities", [&source](const std::string&) {
                          return std::string("auto-converge: ") + (source.params.auto_converge ? "on" : "off") +
                                 "\npostcopy-ram: " + (source.params.postcopy_ram ? "on" : "off") + "\n";
                      }});
}

}  // namespace nomad86
