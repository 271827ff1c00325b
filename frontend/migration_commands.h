// The monitor's migration commands, in QEMU's words: migrate [-d] [-r] URI,
// migrate_cancel, migrate_set_parameter, migrate_set_capability,
// migrate_start_postcopy, migrate_recover, info migrate,
// info migrate_parameters, info migrate_capabilities.
#pragma once

namespace nomad86 {

class Machine;
class Monitor;
class MigrationSource;
class MigrationDestination;

// `destination` is null unless this process was started with -incoming tcp:.
void add_migration_commands(Monitor& monitor, Machine& machine, MigrationSource& source,
                            MigrationDestination* destination);

}  // namespace nomad86
