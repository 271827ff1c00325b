// The NS16550A UART as wired on a PC (COM1 0x3F8/IRQ4, COM2 0x2F8/IRQ3):
// 16-byte FIFOs, the IIR priority scheme, loopback, and the OUT2 gate
// between the chip's interrupt output and the ISA IRQ line.
//
// Transmission is paced by the baud rate (capped at 115200 timing so a
// guest at 9600 baud still feeds a terminal fluently) through a clock timer.
// Reception is flow-controlled: bytes wait in the back end until the RX
// FIFO (or, without FIFOs, the RBR) has room, so no input is lost.
#pragma once
#include "core/char_backend.h"
#include "core/device.h"
#include "core/irq.h"

namespace nomad86 {

class Uart16550 final : public Device, public IoHandler {
public:
    // backend may be null: output is discarded and there is no input.
    Uart16550(DeviceContext& ctx, uint16_t base, IrqLine irq, CharBackend* backend);
    ~Uart16550() override;

    const char* name() const override { return "uart16550"; }
    void reset() override;
    void describe(StateVisitor& v) override;
    void post_load() override;

    uint32_t io_read(uint16_t port, unsigned size) override;
    void io_write(uint16_t port, unsigned size, uint32_t value) override;

    static constexpr unsigned kFifoSize = 16;

private:
    struct State {
        uint8_t rx[kFifoSize] = {};
        uint8_t rx_head = 0, rx_count = 0;
        uint8_t tx[kFifoSize] = {};
        uint8_t tx_head = 0, tx_count = 0;
        bool tsr_busy = false;        // a character is in the transmit shift register
        uint8_t tsr = 0;
        int64_t tsr_done_ns = 0;      // when that character has left the wire
        uint8_t ier = 0, lcr = 0, mcr = 0, scr = 0, dll = 12, dlm = 0;
        uint8_t fcr = 0;              // FIFO enable, DMA mode and trigger bits as written
        uint8_t lsr_errors = 0;       // OE (and PE/FE/BI) until LSR is read
        uint8_t msr_delta = 0;        // MSR bits 3:0 until MSR is read
        uint8_t msr_lines = 0xB0;     // MSR bits 7:4 last seen, to detect changes
        bool thr_ipending = false;    // THRE interrupt latch (cleared by IIR read / THR write)
        bool timeout_ipending = false;
        int64_t rx_activity_ns = 0;   // last byte into or out of the RX FIFO
    };

    bool fifo_enabled() const { return s_.fcr & 0x01; }
    bool loopback() const { return s_.mcr & 0x10; }
    unsigned rx_capacity() const { return fifo_enabled() ? kFifoSize : 1; }
    unsigned tx_capacity() const { return fifo_enabled() ? kFifoSize : 1; }
    unsigned trigger_level() const;
    uint16_t divisor() const { return uint16_t(s_.dll | (s_.dlm << 8)); }
    int64_t char_time_ns() const;      // one character at the programmed rate and format
    int64_t tx_char_time_ns() const;   // the same, never slower than 115200 baud
    uint8_t word_mask() const { return uint8_t(0xFF >> (3 - (s_.lcr & 3))); }
    uint8_t modem_lines() const;

    void receive(uint8_t b);
    uint8_t rx_pop();
    void pull_input();
    void start_tx();
    void on_tx_timer();
    void on_timeout_timer();
    void check_timeout();
    void arm_timeout();
    void update_msr();
    uint8_t iir_id() const;
    void update_irq();

    DeviceContext& ctx_;
    uint16_t base_;
    IrqLine irq_;
    CharBackend* backend_;
    TimerId tx_timer_;
    TimerId timeout_timer_;
    State s_;
};

}  // namespace nomad86
