// Placeholder: the control instruction group's handlers are being written.
#include "cpu/cpu.h"
#include "cpu/handlers.h"

namespace nomad86 {

void register_control_handlers(HandlerTable&) {}

}  // namespace nomad86
