// The Intel 8042 keyboard controller as on a PC/AT with PS/2 ports
// (ports 0x60/0x64), with a minimal PS/2 keyboard and mouse behind it.
//
// The controller has one output buffer. Bytes reach it from three bounded
// queues: the controller's own replies (highest priority), the keyboard's
// and the mouse's; a device's bytes wait while its interface is disabled.
// The keyboard speaks scan code set 2 (or 1) as a real one does; with the
// command byte's translation bit set, the controller turns set 2 into set 1
// exactly like the 8042 (including 0xAB 0x83 -> 0xAB 0x41 for identify).
#pragma once
#include "core/device.h"
#include "core/irq.h"

namespace nomad86 {

class I8042 final : public Device, public IoHandler {
public:
    I8042(DeviceContext& ctx, IrqLine irq1, IrqLine irq12);

    const char* name() const override { return "i8042"; }
    void reset() override;
    void describe(StateVisitor& v) override;
    void post_load() override;

    uint32_t io_read(uint16_t port, unsigned size) override;
    void io_write(uint16_t port, unsigned size, uint32_t value) override;

    // A key press or release from the front end, as a scan code set 1 byte
    // (0xE0 prefixes and bit 7 for release, as set 1 sends them).
    void key_event(uint8_t scancode_set1_byte);

    static constexpr unsigned kQueueSize = 16;

private:
    struct Queue {
        uint8_t data[kQueueSize] = {};
        uint8_t head = 0, count = 0;
    };
    struct State {
        uint8_t ram[32] = {};        // internal RAM; ram[0] is the command byte
        uint8_t outport = 0;         // output port (bit 0 reset line, bit 1 A20)
        uint8_t out_data = 0;        // output buffer (stays readable after it is emptied)
        bool obf = false;            // output buffer full
        bool out_aux = false;        // ... and it came from the mouse
        bool sys_flag = false;       // status bit 2
        bool last_was_command = false;  // status bit 3 (A2 of the last write)
        uint8_t pending_cmd = 0;     // controller command waiting for its data byte
        bool xlat_break = false;     // translator saw 0xF0: set bit 7 of the next byte
        Queue ctrl, ctrl_aux_flags, kbd, aux;
        // Keyboard.
        bool kbd_scanning = true;
        uint8_t kbd_set = 2;
        uint8_t kbd_leds = 0;
        uint8_t kbd_typematic = 0x2B;
        uint8_t kbd_pending = 0;     // keyboard command waiting for its data byte
        uint8_t kbd_last = 0;        // last byte sent, for 0xFE resend
        // Mouse.
        bool aux_reporting = false;
        uint8_t aux_rate = 100, aux_resolution = 2, aux_scaling = 0;
        uint8_t aux_pending = 0;
    };

    uint8_t command_byte() const { return s_.ram[0]; }
    uint8_t status() const;
    void run_command(uint8_t cmd);
    void command_data(uint8_t cmd, uint8_t v);
    void write_outport(uint8_t v);
    void reply(uint8_t b, bool aux = false);
    void kbd_write(uint8_t b);
    void kbd_defaults();
    void kbd_send(uint8_t b);
    void aux_write(uint8_t b);
    void aux_send(uint8_t b);
    static bool push(Queue& q, uint8_t b);
    static uint8_t pop(Queue& q);
    void service();
    void update_irqs();

    DeviceContext& ctx_;
    IrqLine irq1_;
    IrqLine irq12_;
    State s_;
};

}  // namespace nomad86
