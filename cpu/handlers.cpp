#include "cpu/handlers.h"

namespace nomad86 {

static HandlerTable build_handler_table() {
    HandlerTable t{};
    register_data_handlers(t);
    register_alu_handlers(t);
    register_shift_handlers(t);
    register_muldiv_handlers(t);
    register_bcd_handlers(t);
    register_bit_handlers(t);
    register_string_handlers(t);
    register_control_handlers(t);
    register_system_handlers(t);
    register_x87_handlers(t);
    return t;
}

const HandlerTable& handler_table() {
    // Immutable once built: shared by every CPU in the process.
    static const HandlerTable table = build_handler_table();
    return table;
}

}  // namespace nomad86
