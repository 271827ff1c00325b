#include "devices/acpi_pm.h"

#include <algorithm>

namespace nomad86 {

namespace {
constexpr int64_t kNsPerSec = 1000000000;
constexpr unsigned kTmrEpochShift = 23;  // TMR_STS: bit 23 of the count toggled
// Status bits a guest can see set: the ones this machine can raise.
constexpr uint16_t kStsMask = AcpiPm::kTmrSts | AcpiPm::kPwrBtnSts | AcpiPm::kWakSts;
constexpr uint16_t kEnMask = AcpiPm::kTmrSts | AcpiPm::kGblSts | AcpiPm::kPwrBtnSts | AcpiPm::kSlpBtnSts |
                             AcpiPm::kRtcSts;
// The control bits that hold a value (SCI_EN is fixed at 1: the FADT has no
// SMI command port, so the machine is always in ACPI mode).
constexpr uint16_t kCntMask = AcpiPm::kBmRld | AcpiPm::kSlpTypMask;
}  // namespace

AcpiPm::AcpiPm(DeviceContext& ctx, IrqLine sci) : ctx_(ctx), sci_(sci) {
    ctx_.io.register_ports(kBase, kPorts, this, "acpi-pm", IoBus::kByte | IoBus::kWord | IoBus::kDword);
    overflow_timer_ = ctx_.clock.create_timer("acpi-pm timer overflow", [this] {
        update_sci();
        arm_overflow_timer();
    });
    reset();
}

void AcpiPm::reset() {
    s_ = State{};
    s_.tmr_epoch = ticks() >> kTmrEpochShift;
    ctx_.clock.cancel(overflow_timer_);
    update_sci();
}

void AcpiPm::describe(StateVisitor& v) {
    v.begin_section("acpi-pm", 1);
    v.field("pm1_sts", s_.sts);
    v.field("pm1_en", s_.en);
    v.field("pm1_cnt", s_.cnt);
    v.field("tmr_epoch", s_.tmr_epoch);
    v.field("tts", s_.tts);
    v.end_section();
}

void AcpiPm::post_load() {
    // Values outside the registers' defined bits cannot come from a guest.
    if ((s_.sts & ~kStsMask) || (s_.en & ~kEnMask) || (s_.cnt & ~kCntMask))
        throw StateError("acpi-pm: status, enable or control register has undefined bits set");
    // A state from a machine whose clock ran further: TMR_STS reads set
    // until the guest clears it, which is what a missed toggle looks like.
    s_.tmr_epoch = std::min(s_.tmr_epoch, ticks() >> kTmrEpochShift);
    ctx_.clock.cancel(overflow_timer_);
    arm_overflow_timer();
    update_sci();
}

uint64_t AcpiPm::ticks() const {
    const int64_t ns = ctx_.clock.now_ns();
    return uint64_t(ns / kNsPerSec) * kTimerHz + uint64_t(ns % kNsPerSec) * kTimerHz / kNsPerSec;
}

uint32_t AcpiPm::timer_count() const { return uint32_t(ticks() & 0xffffff); }

uint16_t AcpiPm::status() const {
    uint16_t sts = s_.sts;
    if ((ticks() >> kTmrEpochShift) != s_.tmr_epoch) sts |= kTmrSts;
    return sts;
}

void AcpiPm::update_sci() { sci_.set((status() & s_.en) != 0); }

void AcpiPm::arm_overflow_timer() {
    // Only an enabled timer interrupt needs a host timer; TMR_STS itself is
    // computed when read.
    if (!(s_.en & kTmrSts)) return;
    const uint64_t next_ticks = ((ticks() >> kTmrEpochShift) + 1) << kTmrEpochShift;
    const int64_t ns = int64_t(next_ticks / kTimerHz) * kNsPerSec +
                       int64_t((next_ticks % kTimerHz) * kNsPerSec + kTimerHz - 1) / int64_t(kTimerHz);
    ctx_.clock.arm(overflow_timer_, ns);
}

uint8_t AcpiPm::reg_byte(unsigned offset, uint32_t timer) const {
    switch (offset) {
    case 0: return uint8_t(status());
    case 1: return uint8_t(status() >> 8);
    case 2: return uint8_t(s_.en);
    case 3: return uint8_t(s_.en >> 8);
    case 4: return uint8_t(s_.cnt | kSciEn);
    case 5: return uint8_t(s_.cnt >> 8);  // SLP_EN reads 0
    case 6: case 7: return 0xff;          // between the blocks: nothing decodes
    case 12: return s_.tts;
    default: return uint8_t(timer >> (8 * (offset - 8)));  // PM_TMR, 24 bits, top byte 0
    }
}

uint32_t AcpiPm::io_read(uint16_t port, unsigned size) {
    // One sample of the timer per access, so a 32-bit read is coherent.
    const uint32_t timer = timer_count();
    const unsigned offset = port - kBase;
    uint32_t value = 0;
    for (unsigned i = 0; i < size && offset + i < kPorts; i++) value |= uint32_t(reg_byte(offset + i, timer)) << (8 * i);
    return value;
}

void AcpiPm::io_write(uint16_t port, unsigned size, uint32_t value) {
    const unsigned offset = port - kBase;
    for (unsigned i = 0; i < size && offset + i < kPorts; i++) write_byte(offset + i, uint8_t(value >> (8 * i)));
    update_sci();
}

void AcpiPm::write_byte(unsigned offset, uint8_t value) {
    switch (offset) {
    case 0:
    case 1: {
        const uint16_t clear = uint16_t(value << (8 * offset));
        s_.sts &= uint16_t(~clear);
        if (clear & kTmrSts) s_.tmr_epoch = ticks() >> kTmrEpochShift;
        return;
    }
    case 2:
    case 3: {
        const unsigned shift = 8 * (offset - 2);
        const uint16_t keep = uint16_t(~(0xffu << shift));
        s_.en = uint16_t(((s_.en & keep) | (uint16_t(value) << shift)) & kEnMask);
        ctx_.clock.cancel(overflow_timer_);
        arm_overflow_timer();
        return;
    }
    case 4:
        // SCI_EN is fixed; GBL_RLS would signal BIOS firmware, which this
        // machine does not have.
        s_.cnt = uint16_t(((s_.cnt & 0xff00) | value) & kCntMask);
        return;
    case 5: {
        s_.cnt = uint16_t(((s_.cnt & 0x00ff) | (uint16_t(value) << 8)) & kCntMask);
        if (!(value & (kSlpEn >> 8))) return;
        const unsigned slp_typ = (s_.cnt & kSlpTypMask) >> kSlpTypShift;
        if (slp_typ == kSlpTypS5) {
            ctx_.control.request_exit(0);  // soft off: the process ends normally
        } else {
            ctx_.log.log(kLogUnimp, "acpi-pm: sleep type %u requested; only S5 (type %u) is offered, ignored\n",
                         slp_typ, unsigned(kSlpTypS5));
        }
        return;
    }
    case 12:
        s_.tts = value;
        return;
    default:
        return;  // the timer is read-only; 6-7 decode nothing
    }
}

void AcpiPm::press_power_button() {
    s_.sts |= kPwrBtnSts;
    update_sci();
}

}  // namespace nomad86
