#include "cpu/handlers.h"

#include <stdexcept>
#include <string>

namespace nomad86 {

ZydisMnemonic condition_mnemonic(const char* prefix, unsigned cc) {
    // Zydis's names for the condition codes, in condition-code order.
    static const char* const kSuffix[16] = {"o", "no", "b", "nb", "z", "nz", "be", "nbe",
                                            "s", "ns", "p", "np", "l", "nl", "le", "nle"};
    const std::string name = std::string(prefix) + kSuffix[cc & 15];
    for (int m = 0; m <= ZYDIS_MNEMONIC_MAX_VALUE; m++) {
        const char* s = ZydisMnemonicGetString(ZydisMnemonic(m));
        if (s && name == s) return ZydisMnemonic(m);
    }
    throw std::logic_error("no Zydis mnemonic " + name);
}

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
