#include "devices/i8042.h"

#include <array>

namespace nomad86 {

namespace {

// The 8042's set 2 -> set 1 translation (bytes 0x00-0x7F; above that it is
// the identity except for 0x83 (F7) and 0x84 (SysRq)), as QEMU tabulates it.
constexpr uint8_t kSet2To1Low[128] = {
    0xff, 0x43, 0x41, 0x3f, 0x3d, 0x3b, 0x3c, 0x58, 0x64, 0x44, 0x42, 0x40, 0x3e, 0x0f, 0x29, 0x59,
    0x65, 0x38, 0x2a, 0x70, 0x1d, 0x10, 0x02, 0x5a, 0x66, 0x71, 0x2c, 0x1f, 0x1e, 0x11, 0x03, 0x5b,
    0x67, 0x2e, 0x2d, 0x20, 0x12, 0x05, 0x04, 0x5c, 0x68, 0x39, 0x2f, 0x21, 0x14, 0x13, 0x06, 0x5d,
    0x69, 0x31, 0x30, 0x23, 0x22, 0x15, 0x07, 0x5e, 0x6a, 0x72, 0x32, 0x24, 0x16, 0x08, 0x09, 0x5f,
    0x6b, 0x33, 0x25, 0x17, 0x18, 0x0b, 0x0a, 0x60, 0x6c, 0x34, 0x35, 0x26, 0x27, 0x19, 0x0c, 0x61,
    0x6d, 0x73, 0x28, 0x74, 0x1a, 0x0d, 0x62, 0x6e, 0x3a, 0x36, 0x1c, 0x1b, 0x75, 0x2b, 0x63, 0x76,
    0x55, 0x56, 0x77, 0x78, 0x79, 0x7a, 0x0e, 0x7b, 0x7c, 0x4f, 0x7d, 0x4b, 0x47, 0x7e, 0x7f, 0x6f,
    0x52, 0x53, 0x50, 0x4c, 0x4d, 0x48, 0x01, 0x45, 0x57, 0x4e, 0x51, 0x4a, 0x37, 0x49, 0x46, 0x54,
};

constexpr uint8_t set2_to_set1(uint8_t b) {
    if (b < 0x80) return kSet2To1Low[b];
    if (b == 0x83) return 0x41;
    if (b == 0x84) return 0x54;
    return b;
}

// The keyboard's own set 1 -> set 2 mapping: the inverse of the translator,
// preferring the real keys' codes (F7 = 0x83, SysRq = 0x84) over aliases.
constexpr std::array<uint8_t, 128> make_set1_to_2() {
    std::array<uint8_t, 128> t{};
    for (unsigned c = 0; c < 128; c++) t[c] = uint8_t(c);  // unknown codes pass through
    for (unsigned s = 0x7F; s > 0; s--)
        if (kSet2To1Low[s] < 0x80) t[kSet2To1Low[s]] = uint8_t(s);
    t[0x41] = 0x83;
    t[0x54] = 0x84;
    return t;
}
constexpr std::array<uint8_t, 128> kSet1To2 = make_set1_to_2();
static_assert(kSet1To2[0x1E] == 0x1C, "A");
static_assert(kSet1To2[0x01] == 0x76, "Esc");

enum : uint8_t {
    kCmdInt = 0x01, kCmdInt2 = 0x02, kCmdSys = 0x04, kCmdDisableKbd = 0x10, kCmdDisableAux = 0x20, kCmdXlat = 0x40,
};
enum : uint8_t {
    kStObf = 0x01, kStSys = 0x04, kStCmd = 0x08, kStUnlocked = 0x10, kStAuxObf = 0x20,
};
constexpr uint8_t kAck = 0xFA;

}  // namespace

I8042::I8042(DeviceContext& ctx, IrqLine irq1, IrqLine irq12) : ctx_(ctx), irq1_(irq1), irq12_(irq12) {
    ctx_.io.register_ports(0x60, 1, this, "i8042-data");
    ctx_.io.register_ports(0x64, 1, this, "i8042-cmd");
    reset();
}

void I8042::reset() {
    s_ = State{};
    // As QEMU: both interrupts enabled, no translation until the BIOS sets
    // it; the output port has the reset line high and A20 on.
    s_.ram[0] = kCmdInt | kCmdInt2;
    s_.outport = 0xCF;
    kbd_defaults();
    irq1_.set(false);
    irq12_.set(false);
}

void I8042::describe(StateVisitor& v) {
    auto queue = [&v](const char* name, Queue& q) {
        std::string n(name);
        v.bytes((n + "_data").c_str(), q.data, sizeof(q.data));
        v.field((n + "_head").c_str(), q.head);
        v.field((n + "_count").c_str(), q.count);
    };
    v.begin_section("i8042", 1);
    v.bytes("ram", s_.ram, sizeof(s_.ram));
    v.field("outport", s_.outport);
    v.field("out_data", s_.out_data);
    v.field("obf", s_.obf);
    v.field("out_aux", s_.out_aux);
    v.field("sys_flag", s_.sys_flag);
    v.field("last_was_command", s_.last_was_command);
    v.field("pending_cmd", s_.pending_cmd);
    v.field("xlat_break", s_.xlat_break);
    queue("ctrl", s_.ctrl);
    queue("ctrl_aux", s_.ctrl_aux_flags);
    queue("kbd", s_.kbd);
    queue("aux", s_.aux);
    v.field("kbd_scanning", s_.kbd_scanning);
    v.field("kbd_set", s_.kbd_set);
    v.field("kbd_leds", s_.kbd_leds);
    v.field("kbd_typematic", s_.kbd_typematic);
    v.field("kbd_pending", s_.kbd_pending);
    v.field("kbd_last", s_.kbd_last);
    v.field("aux_reporting", s_.aux_reporting);
    v.field("aux_rate", s_.aux_rate);
    v.field("aux_resolution", s_.aux_resolution);
    v.field("aux_scaling", s_.aux_scaling);
    v.field("aux_pending", s_.aux_pending);
    v.end_section();
}

void I8042::post_load() {
    for (const Queue* q : {&s_.ctrl, &s_.ctrl_aux_flags, &s_.kbd, &s_.aux})
        if (q->head >= kQueueSize || q->count > kQueueSize) throw StateError("i8042: queue position out of range");
    if (s_.ctrl.count != s_.ctrl_aux_flags.count || s_.ctrl.head != s_.ctrl_aux_flags.head)
        throw StateError("i8042: controller queue inconsistent");
    const uint8_t p = s_.pending_cmd;
    if (p != 0 && !(p >= 0x60 && p <= 0x7F) && !(p >= 0xD1 && p <= 0xD4)) throw StateError("i8042: bad pending command");
    if (s_.kbd_pending != 0 && s_.kbd_pending != 0xED && s_.kbd_pending != 0xF0 && s_.kbd_pending != 0xF3)
        throw StateError("i8042: bad pending keyboard command");
    if (s_.aux_pending != 0 && s_.aux_pending != 0xF3 && s_.aux_pending != 0xE8)
        throw StateError("i8042: bad pending mouse command");
    if (s_.kbd_set < 1 || s_.kbd_set > 3) throw StateError("i8042: bad scan code set");
    // The sinks may hold any level after a load: drive them unconditionally.
    irq1_.set(s_.obf && !s_.out_aux && (command_byte() & kCmdInt));
    irq12_.set(s_.obf && s_.out_aux && (command_byte() & kCmdInt2));
}

bool I8042::push(Queue& q, uint8_t b) {
    if (q.count >= kQueueSize) return false;
    q.data[(q.head + q.count) % kQueueSize] = b;
    q.count++;
    return true;
}

uint8_t I8042::pop(Queue& q) {
    if (q.count == 0) return 0;
    uint8_t b = q.data[q.head];
    q.head = uint8_t((q.head + 1) % kQueueSize);
    q.count--;
    return b;
}

uint8_t I8042::status() const {
    uint8_t st = kStUnlocked;  // keylock switch open; IBF is never set: we act at once
    if (s_.obf) st |= kStObf;
    if (s_.obf && s_.out_aux) st |= kStAuxObf;
    if (s_.sys_flag) st |= kStSys;
    if (s_.last_was_command) st |= kStCmd;
    return st;
}

void I8042::update_irqs() {
    const bool l1 = s_.obf && !s_.out_aux && (command_byte() & kCmdInt);
    const bool l12 = s_.obf && s_.out_aux && (command_byte() & kCmdInt2);
    if (irq1_.level() != l1) irq1_.set(l1);
    if (irq12_.level() != l12) irq12_.set(l12);
}

void I8042::service() {
    if (!s_.obf) {
        if (s_.ctrl.count) {
            s_.out_data = pop(s_.ctrl);
            s_.out_aux = pop(s_.ctrl_aux_flags) != 0;
            s_.obf = true;
        } else if (!(command_byte() & kCmdDisableKbd) && s_.kbd.count) {
            while (s_.kbd.count) {
                uint8_t b = pop(s_.kbd);
                if (command_byte() & kCmdXlat) {
                    // The translator swallows 0xF0 and marks the next code as a release.
                    if (b == 0xF0) {
                        s_.xlat_break = true;
                        continue;
                    }
                    b = uint8_t(set2_to_set1(b) | (s_.xlat_break ? 0x80 : 0));
                    s_.xlat_break = false;
                }
                s_.out_data = b;
                s_.out_aux = false;
                s_.obf = true;
                break;
            }
        } else if (!(command_byte() & kCmdDisableAux) && s_.aux.count) {
            s_.out_data = pop(s_.aux);
            s_.out_aux = true;
            s_.obf = true;
        }
    }
    update_irqs();
}

void I8042::reply(uint8_t b, bool aux) {
    if (s_.ctrl.count >= kQueueSize) {
        ctx_.log.log(kLogGuestErrors, "i8042: controller replies not read, 0x%02x dropped\n", b);
        return;
    }
    push(s_.ctrl, b);
    push(s_.ctrl_aux_flags, aux ? 1 : 0);
}

void I8042::write_outport(uint8_t v) {
    s_.outport = v;
    ctx_.control.set_a20((v & 2) != 0);
    // Bit 0 drives the CPU reset line, active low.
    if (!(v & 1)) ctx_.control.request_reset();
}

void I8042::run_command(uint8_t cmd) {
    if (cmd >= 0x20 && cmd <= 0x3F) {
        reply(s_.ram[cmd & 0x1F]);
        return;
    }
    if ((cmd >= 0x60 && cmd <= 0x7F) || (cmd >= 0xD1 && cmd <= 0xD4)) {
        s_.pending_cmd = cmd;
        return;
    }
    if (cmd >= 0xF0) {
        // Pulse the output lines whose bit is 0 in the low nibble; bit 0 is reset.
        if (!(cmd & 1)) ctx_.control.request_reset();
        return;
    }
    switch (cmd) {
    case 0xA4: reply(0xF1); break;  // no password installed
    case 0xA7: s_.ram[0] |= kCmdDisableAux; break;
    case 0xA8: s_.ram[0] &= uint8_t(~kCmdDisableAux); break;
    case 0xA9: reply(0x00); break;  // aux interface test passed
    case 0xAA:
        s_.sys_flag = true;
        reply(0x55);
        break;
    case 0xAB: reply(0x00); break;  // keyboard interface test passed
    case 0xAD: s_.ram[0] |= kCmdDisableKbd; break;
    case 0xAE: s_.ram[0] &= uint8_t(~kCmdDisableKbd); break;
    case 0xC0: reply(0x80); break;  // input port: keyboard not inhibited
    case 0xD0: {
        uint8_t v = uint8_t(s_.outport & 0xCF);
        if (s_.obf && !s_.out_aux) v |= 0x10;
        if (s_.obf && s_.out_aux) v |= 0x20;
        reply(v);
        break;
    }
    case 0xDD:
    case 0xDF:
        // A20 off/on in one command, as HP Vectra-style controllers do.
        s_.outport = uint8_t(cmd == 0xDF ? (s_.outport | 2) : (s_.outport & ~2));
        ctx_.control.set_a20(cmd == 0xDF);
        break;
    case 0xE0: reply(0x00); break;  // test inputs
    default: ctx_.log.log(kLogUnimp, "i8042: controller command 0x%02x not implemented\n", cmd); break;
    }
}

void I8042::command_data(uint8_t cmd, uint8_t v) {
    if (cmd >= 0x60 && cmd <= 0x7F) {
        s_.ram[cmd & 0x1F] = v;
        if (cmd == 0x60) s_.sys_flag = (v & kCmdSys) != 0;
        return;
    }
    switch (cmd) {
    case 0xD1: write_outport(v); break;
    case 0xD2: reply(v, false); break;  // as if the keyboard sent it
    case 0xD3: reply(v, true); break;   // as if the mouse sent it
    case 0xD4:
        s_.ram[0] &= uint8_t(~kCmdDisableAux);  // talking to the mouse enables its interface
        aux_write(v);
        break;
    default: break;
    }
}

// --- keyboard ------------------------------------------------------------------

void I8042::kbd_defaults() {
    s_.kbd_leds = 0;
    s_.kbd_typematic = 0x2B;  // 10.9 cps, 500 ms
    s_.kbd_pending = 0;
}

void I8042::kbd_send(uint8_t b) {
    // A real keyboard buffers about 16 codes and then reports an overrun;
    // dropping keeps the queue bounded.
    if (push(s_.kbd, b)) s_.kbd_last = b;
}

void I8042::kbd_write(uint8_t b) {
    if (s_.kbd_pending) {
        const uint8_t p = s_.kbd_pending;
        s_.kbd_pending = 0;
        switch (p) {
        case 0xED: s_.kbd_leds = b & 7; kbd_send(kAck); return;
        case 0xF3: s_.kbd_typematic = b & 0x7F; kbd_send(kAck); return;
        case 0xF0:
            if (b == 0) {
                kbd_send(kAck);
                kbd_send(s_.kbd_set);
            } else if (b <= 3) {
                if (b == 3) ctx_.log.log(kLogUnimp, "i8042: scan code set 3 approximated by set 2\n");
                s_.kbd_set = b;
                kbd_send(kAck);
            } else {
                kbd_send(0xFE);
            }
            return;
        default: break;
        }
    }
    switch (b) {
    case 0xED:
    case 0xF0:
    case 0xF3:
        kbd_send(kAck);
        s_.kbd_pending = b;
        break;
    case 0xEE: kbd_send(0xEE); break;  // echo, no ACK
    case 0xF2:
        kbd_send(kAck);
        kbd_send(0xAB);
        kbd_send(0x83);
        break;
    case 0xF4: s_.kbd_scanning = true; kbd_send(kAck); break;
    case 0xF5: kbd_defaults(); s_.kbd_scanning = false; kbd_send(kAck); break;
    case 0xF6: kbd_defaults(); kbd_send(kAck); break;
    case 0xFE: kbd_send(s_.kbd_last); break;
    case 0xFF:
        s_.kbd = Queue{};
        kbd_defaults();
        s_.kbd_set = 2;
        s_.kbd_scanning = true;
        kbd_send(kAck);
        kbd_send(0xAA);  // basic assurance test passed
        break;
    default:
        if (b >= 0xF7 && b <= 0xFD) {
            kbd_send(kAck);  // set 3 key-type commands: accepted, no effect
        } else {
            ctx_.log.log(kLogGuestErrors, "i8042: unknown keyboard command 0x%02x\n", b);
            kbd_send(0xFE);
        }
        break;
    }
}

void I8042::key_event(uint8_t b) {
    if (!s_.kbd_scanning) return;
    if (s_.kbd_set == 1 || b == 0xE0 || b == 0xE1) {
        kbd_send(b);
    } else {
        if (b & 0x80) kbd_send(0xF0);
        kbd_send(kSet1To2[b & 0x7F]);
    }
    service();
}

// --- mouse ---------------------------------------------------------------------

void I8042::aux_send(uint8_t b) { push(s_.aux, b); }

void I8042::aux_write(uint8_t b) {
    if (s_.aux_pending) {
        const uint8_t p = s_.aux_pending;
        s_.aux_pending = 0;
        if (p == 0xF3) s_.aux_rate = b;
        if (p == 0xE8) s_.aux_resolution = b & 3;
        aux_send(kAck);
        return;
    }
    switch (b) {
    case 0xFF:
        s_.aux = Queue{};
        s_.aux_reporting = false;
        s_.aux_rate = 100;
        s_.aux_resolution = 2;
        s_.aux_scaling = 0;
        aux_send(kAck);
        aux_send(0xAA);
        aux_send(0x00);  // device ID: standard PS/2 mouse
        break;
    case 0xF2: aux_send(kAck); aux_send(0x00); break;
    case 0xF3:
    case 0xE8: aux_send(kAck); s_.aux_pending = b; break;
    case 0xF4: s_.aux_reporting = true; aux_send(kAck); break;
    case 0xF5: s_.aux_reporting = false; aux_send(kAck); break;
    case 0xF6:
        s_.aux_rate = 100;
        s_.aux_resolution = 2;
        s_.aux_scaling = 0;
        aux_send(kAck);
        break;
    case 0xE6: s_.aux_scaling = 0; aux_send(kAck); break;
    case 0xE7: s_.aux_scaling = 1; aux_send(kAck); break;
    case 0xE9:
        aux_send(kAck);
        aux_send(uint8_t((s_.aux_reporting ? 0x20 : 0) | (s_.aux_scaling ? 0x10 : 0)));
        aux_send(s_.aux_resolution);
        aux_send(s_.aux_rate);
        break;
    case 0xEB:
        aux_send(kAck);
        aux_send(0x08);  // a packet with no movement and no buttons
        aux_send(0x00);
        aux_send(0x00);
        break;
    case 0xEA:  // set stream mode
    case 0xEC:  // reset wrap mode
    case 0xEE:  // set wrap mode
    case 0xF0:  // set remote mode
    case 0xFE:  // resend
        ctx_.log.log(kLogUnimp, "i8042: mouse command 0x%02x acknowledged, not implemented\n", b);
        aux_send(kAck);
        break;
    default:
        // Not a mouse command (keyboard ones like 0xED SET LEDS included): a
        // PS/2 mouse answers RESEND. Linux's atkbd, which probes the AUX port
        // too, relies on it: an ACK to SET LEDS makes it take the mouse for a
        // keyboard.
        ctx_.log.log(kLogGuestErrors, "i8042: unknown mouse command 0x%02x, answering RESEND\n", b);
        aux_send(0xFE);
        break;
    }
}

// --- ports ---------------------------------------------------------------------

uint32_t I8042::io_read(uint16_t port, unsigned) {
    if (port == 0x64) return status();
    const uint8_t v = s_.out_data;  // reading an empty buffer returns the old byte
    s_.obf = false;
    // The read empties the buffer and drops IRQ1/IRQ12 before the next queued
    // byte (the rest of a GET ID reply, say) is loaded: an edge-triggered PIC
    // input needs that falling edge to see the next byte's interrupt.
    update_irqs();
    service();
    return v;
}

void I8042::io_write(uint16_t port, unsigned, uint32_t value) {
    const uint8_t v = uint8_t(value);
    if (port == 0x64) {
        s_.last_was_command = true;
        s_.pending_cmd = 0;  // a new command abandons one still waiting for data
        run_command(v);
    } else {
        s_.last_was_command = false;
        if (s_.pending_cmd) {
            const uint8_t cmd = s_.pending_cmd;
            s_.pending_cmd = 0;
            command_data(cmd, v);
        } else {
            s_.ram[0] &= uint8_t(~kCmdDisableKbd);  // writing to the keyboard enables its interface
            kbd_write(v);
        }
    }
    service();
}

}  // namespace nomad86
