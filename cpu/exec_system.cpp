// Placeholder: the system instruction group's handlers are being written.
#include "cpu/cpu.h"
#include "cpu/handlers.h"

namespace nomad86 {

void register_system_handlers(HandlerTable&) {}

}  // namespace nomad86
