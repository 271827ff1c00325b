#include "devices/uart16550.h"

#include <algorithm>

namespace nomad86 {

namespace {
constexpr int64_t kNsPerSec = 1000000000;
constexpr int64_t kBaseBaud = 115200;  // 1.8432 MHz crystal / 16
constexpr int64_t kTxSpeedup = 8;      // see tx_char_time_ns
// Register offsets and bits (NS16550A datasheet names).
enum : uint8_t { kIerRda = 0x01, kIerThre = 0x02, kIerRls = 0x04, kIerMs = 0x08 };
enum : uint8_t { kLsrDr = 0x01, kLsrOe = 0x02, kLsrThre = 0x20, kLsrTemt = 0x40 };
enum : uint8_t { kIirNone = 0x01, kIirRls = 0x06, kIirRda = 0x04, kIirTimeout = 0x0C, kIirThre = 0x02, kIirMs = 0x00 };
enum : uint8_t { kMcrOut2 = 0x08, kMcrLoop = 0x10 };
constexpr uint8_t kLcrDlab = 0x80;
}  // namespace

Uart16550::Uart16550(DeviceContext& ctx, uint16_t base, IrqLine irq, CharBackend* backend)
    : ctx_(ctx), base_(base), irq_(irq), backend_(backend) {
    tx_timer_ = ctx_.clock.create_timer("uart-tx", [this] { on_tx_timer(); });
    timeout_timer_ = ctx_.clock.create_timer("uart-rx-timeout", [this] { on_timeout_timer(); });
    ctx_.io.register_ports(base, 8, this, "uart16550");
    if (backend_) {
        backend_->set_input_listener([this] {
            pull_input();
            arm_timeout();
            update_irq();
        });
    }
    reset();
}

Uart16550::~Uart16550() {
    // The back end may outlive us; it must not call into a dead device.
    if (backend_) backend_->set_input_listener(nullptr);
}

void Uart16550::reset() {
    // Master reset (datasheet table): IER, FCR, LCR, MCR, LSR, MSR deltas and
    // the FIFOs clear. The divisor latch is undefined there; 9600 baud (12)
    // makes it defined, as QEMU does.
    s_ = State{};
    s_.rx_activity_ns = ctx_.clock.now_ns();
    ctx_.clock.cancel(tx_timer_);
    ctx_.clock.cancel(timeout_timer_);
    pull_input();
    irq_.set(false);
    update_irq();
}

void Uart16550::describe(StateVisitor& v) {
    v.begin_section("uart16550", 1);
    v.bytes("rx", s_.rx, sizeof(s_.rx));
    v.field("rx_head", s_.rx_head);
    v.field("rx_count", s_.rx_count);
    v.bytes("tx", s_.tx, sizeof(s_.tx));
    v.field("tx_head", s_.tx_head);
    v.field("tx_count", s_.tx_count);
    v.field("tsr_busy", s_.tsr_busy);
    v.field("tsr", s_.tsr);
    v.field("tsr_done_ns", s_.tsr_done_ns);
    v.field("ier", s_.ier);
    v.field("lcr", s_.lcr);
    v.field("mcr", s_.mcr);
    v.field("scr", s_.scr);
    v.field("dll", s_.dll);
    v.field("dlm", s_.dlm);
    v.field("fcr", s_.fcr);
    v.field("lsr_errors", s_.lsr_errors);
    v.field("msr_delta", s_.msr_delta);
    v.field("msr_lines", s_.msr_lines);
    v.field("thr_ipending", s_.thr_ipending);
    v.field("timeout_ipending", s_.timeout_ipending);
    v.field("rx_activity_ns", s_.rx_activity_ns);
    v.end_section();
}

void Uart16550::post_load() {
    if (s_.rx_head >= kFifoSize || s_.tx_head >= kFifoSize) throw StateError("uart16550: FIFO position out of range");
    if (s_.rx_count > rx_capacity() || s_.tx_count > tx_capacity())
        throw StateError("uart16550: FIFO count exceeds capacity");
    if ((s_.ier & 0xF0) || (s_.mcr & 0xE0) || (s_.msr_delta & 0xF0) || (s_.msr_lines & 0x0F) ||
        (s_.lsr_errors & ~0x1E))
        throw StateError("uart16550: reserved register bits set");
    const int64_t now = ctx_.clock.now_ns();
    if (s_.tsr_busy && s_.tsr_done_ns > now + kNsPerSec) throw StateError("uart16550: transmitter deadline too far");
    if (s_.tsr_busy)
        ctx_.clock.arm(tx_timer_, std::max(s_.tsr_done_ns, now));
    else
        ctx_.clock.cancel(tx_timer_);
    arm_timeout();
    // The sink may hold any level after a load: drive it unconditionally.
    irq_.set(iir_id() != kIirNone && (s_.mcr & kMcrOut2) && !loopback());
}

unsigned Uart16550::trigger_level() const {
    static constexpr uint8_t kLevels[4] = {1, 4, 8, 14};
    return kLevels[s_.fcr >> 6];
}

int64_t Uart16550::char_time_ns() const {
    // Start bit + 5..8 data bits + parity + 1, 1.5 or 2 stop bits, in half bits.
    const unsigned data = 5 + (s_.lcr & 3);
    const unsigned parity = (s_.lcr & 0x08) ? 1 : 0;
    const unsigned stop2 = (s_.lcr & 0x04) ? (data == 5 ? 3 : 4) : 2;
    const unsigned half_bits = 2 * (1 + data + parity) + stop2;
    const int64_t div = divisor() ? divisor() : 1;  // 0 is guest nonsense, logged at LCR write
    return int64_t(half_bits) * div * kNsPerSec / (2 * kBaseBaud);
}

int64_t Uart16550::tx_char_time_ns() const {
    // The back end is a terminal or a file, not a wire, so transmission is
    // paced at eight times the character time at divisor 1 (115200 baud):
    // a guest left at 9600 (or 50) baud keeps the terminal fluent, and a
    // kernel printing to a polled console (Linux's printk spins on THRE
    // with interrupts off) no longer holds them off for whole timer ticks,
    // which lost PIT ticks and made Linux's clocksource watchdog distrust
    // the TSC. Still paced, so THRE interrupts and FIFO levels stay real.
    const int64_t real = char_time_ns();
    const int64_t div = divisor() ? divisor() : 1;
    return std::max<int64_t>(1, real / div / kTxSpeedup);
}

uint8_t Uart16550::modem_lines() const {
    if (!loopback()) return 0xB0;  // CTS, DSR, DCD asserted: a terminal is always there
    // Loopback wires RTS->CTS, DTR->DSR, OUT1->RI, OUT2->DCD.
    const uint8_t m = s_.mcr;
    return uint8_t(((m & 0x02) << 3) | ((m & 0x01) << 5) | ((m & 0x04) << 4) | ((m & 0x08) << 4));
}

void Uart16550::update_msr() {
    const uint8_t lines = modem_lines();
    const uint8_t changed = lines ^ s_.msr_lines;
    if (changed & 0x10) s_.msr_delta |= 0x01;                      // DCTS
    if (changed & 0x20) s_.msr_delta |= 0x02;                      // DDSR
    if ((s_.msr_lines & 0x40) && !(lines & 0x40)) s_.msr_delta |= 0x04;  // TERI: trailing edge only
    if (changed & 0x80) s_.msr_delta |= 0x08;                      // DDCD
    s_.msr_lines = lines;
}

void Uart16550::receive(uint8_t b) {
    b &= word_mask();
    if (s_.rx_count < rx_capacity()) {
        s_.rx[(s_.rx_head + s_.rx_count) % kFifoSize] = b;
        s_.rx_count++;
    } else {
        // Overrun: without FIFOs the RBR is overwritten; with FIFOs the
        // character in the shift register is lost and the FIFO kept.
        if (!fifo_enabled()) s_.rx[s_.rx_head] = b;
        s_.lsr_errors |= kLsrOe;
    }
    // A new character restarts the timeout only while none is indicated.
    if (!s_.timeout_ipending) s_.rx_activity_ns = ctx_.clock.now_ns();
}

uint8_t Uart16550::rx_pop() {
    if (s_.rx_count == 0) {
        // An empty RBR still reads its last character.
        return s_.rx[(s_.rx_head + kFifoSize - 1) % kFifoSize];
    }
    uint8_t b = s_.rx[s_.rx_head];
    s_.rx_head = uint8_t((s_.rx_head + 1) % kFifoSize);
    s_.rx_count--;
    s_.timeout_ipending = false;
    s_.rx_activity_ns = ctx_.clock.now_ns();
    pull_input();
    return b;
}

void Uart16550::pull_input() {
    // In loopback the serial input pin is disconnected from the receiver.
    if (!backend_ || loopback()) return;
    while (s_.rx_count < rx_capacity() && backend_->has_input()) receive(backend_->pop_input());
}

void Uart16550::start_tx() {
    if (s_.tsr_busy || s_.tx_count == 0) return;
    s_.tsr = s_.tx[s_.tx_head];
    s_.tx_head = uint8_t((s_.tx_head + 1) % kFifoSize);
    s_.tx_count--;
    s_.tsr_busy = true;
    s_.tsr_done_ns = ctx_.clock.now_ns() + tx_char_time_ns();
    ctx_.clock.arm(tx_timer_, s_.tsr_done_ns);
    if (s_.tx_count == 0) s_.thr_ipending = true;  // THR (or the TX FIFO) just became empty
}

void Uart16550::on_tx_timer() {
    if (!s_.tsr_busy) return;
    const uint8_t b = uint8_t(s_.tsr & word_mask());
    s_.tsr_busy = false;
    if (loopback())
        receive(b);
    else if (backend_)
        backend_->write_byte(b);
    start_tx();
    arm_timeout();
    update_irq();
}

void Uart16550::check_timeout() {
    if (fifo_enabled() && s_.rx_count > 0 && !s_.timeout_ipending &&
        ctx_.clock.now_ns() >= s_.rx_activity_ns + 4 * char_time_ns())
        s_.timeout_ipending = true;
}

void Uart16550::arm_timeout() {
    if (fifo_enabled() && s_.rx_count > 0 && !s_.timeout_ipending)
        ctx_.clock.arm(timeout_timer_, std::max(s_.rx_activity_ns + 4 * char_time_ns(), ctx_.clock.now_ns() + 1));
    else
        ctx_.clock.cancel(timeout_timer_);
}

void Uart16550::on_timeout_timer() {
    check_timeout();
    arm_timeout();
    update_irq();
}

uint8_t Uart16550::iir_id() const {
    if ((s_.ier & kIerRls) && s_.lsr_errors) return kIirRls;
    if ((s_.ier & kIerRda) && s_.timeout_ipending) return kIirTimeout;
    if ((s_.ier & kIerRda) && s_.rx_count > 0 && (!fifo_enabled() || s_.rx_count >= trigger_level()))
        return kIirRda;
    if ((s_.ier & kIerThre) && s_.thr_ipending) return kIirThre;
    if ((s_.ier & kIerMs) && s_.msr_delta) return kIirMs;
    return kIirNone;
}

void Uart16550::update_irq() {
    // On a PC the chip's INTR reaches the ISA line only through a buffer
    // enabled by OUT2; loopback forces OUT2 inactive on the pin.
    const bool level = iir_id() != kIirNone && (s_.mcr & kMcrOut2) && !loopback();
    if (irq_.level() != level) irq_.set(level);
}

uint32_t Uart16550::io_read(uint16_t port, unsigned) {
    check_timeout();
    const unsigned reg = (port - base_) & 7;
    uint8_t v = 0;
    switch (reg) {
    case 0:
        if (s_.lcr & kLcrDlab) return s_.dll;
        v = rx_pop();
        arm_timeout();
        break;
    case 1: return (s_.lcr & kLcrDlab) ? s_.dlm : s_.ier;
    case 2: {
        const uint8_t id = iir_id();
        v = uint8_t(id | (fifo_enabled() ? 0xC0 : 0));
        // Reading IIR while THRE is the source acknowledges it.
        if (id == kIirThre) s_.thr_ipending = false;
        break;
    }
    case 3: return s_.lcr;
    case 4: return s_.mcr;
    case 5:
        v = uint8_t((s_.rx_count ? kLsrDr : 0) | s_.lsr_errors | (s_.tx_count == 0 ? kLsrThre : 0) |
                    (s_.tx_count == 0 && !s_.tsr_busy ? kLsrTemt : 0));
        s_.lsr_errors = 0;  // OE/PE/FE/BI clear on read
        break;
    case 6:
        update_msr();
        v = uint8_t(s_.msr_lines | s_.msr_delta);
        s_.msr_delta = 0;
        break;
    case 7: return s_.scr;
    }
    update_irq();
    return v;
}

void Uart16550::io_write(uint16_t port, unsigned, uint32_t value) {
    check_timeout();
    const unsigned reg = (port - base_) & 7;
    const uint8_t v = uint8_t(value);
    switch (reg) {
    case 0:
        if (s_.lcr & kLcrDlab) {
            s_.dll = v;
            return;
        }
        if (s_.tx_count < tx_capacity()) {
            s_.tx[(s_.tx_head + s_.tx_count) % kFifoSize] = v;
            s_.tx_count++;
        } else if (!fifo_enabled()) {
            ctx_.log.log(kLogGuestErrors, "uart16550@%#x: THR written while full, byte replaced\n", base_);
            s_.tx[s_.tx_head] = v;
        } else {
            ctx_.log.log(kLogGuestErrors, "uart16550@%#x: TX FIFO overflow, byte dropped\n", base_);
        }
        s_.thr_ipending = false;
        start_tx();
        break;
    case 1:
        if (s_.lcr & kLcrDlab) {
            s_.dlm = v;
            return;
        }
        // Enabling ETBEI with the THR empty raises THRE at once (as the chip
        // and QEMU do); drivers rely on it to kick transmission.
        if ((v & ~s_.ier & kIerThre) && s_.tx_count == 0) s_.thr_ipending = true;
        s_.ier = v & 0x0F;
        break;
    case 2: {
        const bool was_fifo = fifo_enabled();
        bool clear_rx = false, clear_tx = false;
        if (bool(v & 1) != was_fifo) clear_rx = clear_tx = true;  // mode change empties both FIFOs
        if (v & 1) {
            // Bits 1-7 are programmed only together with FCR0 = 1.
            clear_rx |= (v & 0x02) != 0;
            clear_tx |= (v & 0x04) != 0;
            s_.fcr = v & 0xC9;
        } else {
            s_.fcr = 0;
        }
        if (clear_rx) {
            s_.rx_count = 0;
            s_.rx_head = 0;
            s_.timeout_ipending = false;
            s_.rx_activity_ns = ctx_.clock.now_ns();
        }
        if (clear_tx) {
            // The shift register keeps the character it is sending.
            s_.tx_count = 0;
            s_.tx_head = 0;
            s_.thr_ipending = true;
        }
        pull_input();
        arm_timeout();
        break;
    }
    case 3:
        if ((s_.lcr & kLcrDlab) && !(v & kLcrDlab) && divisor() == 0)
            ctx_.log.log(kLogGuestErrors, "uart16550@%#x: divisor 0 programmed, using 1\n", base_);
        if (v & 0x40) ctx_.log.log(kLogUnimp, "uart16550@%#x: break not transmitted\n", base_);
        s_.lcr = v;
        arm_timeout();  // the character time may have changed
        break;
    case 4: {
        const bool was_loop = loopback();
        s_.mcr = v & 0x1F;
        update_msr();
        if (was_loop && !loopback()) pull_input();
        arm_timeout();
        break;
    }
    case 5:
    case 6:
        ctx_.log.log(kLogGuestErrors, "uart16550@%#x: write 0x%02x to read-only %s ignored\n", base_, v,
                     reg == 5 ? "LSR" : "MSR");
        return;
    case 7: s_.scr = v; return;
    }
    update_irq();
}

}  // namespace nomad86
