// The ACPI fixed-hardware power-management block, as the PIIX4's PM function
// provides it (and QEMU's pc machine at the same ports): the PM1a event
// block (status and enable), the PM1a control block (SCI_EN, sleep type and
// enable) and the 24-bit power-management timer at 3.579545 MHz. The FADT
// that core/acpi_tables.cpp publishes points at exactly these registers.
//
// Sleep: writing SLP_EN with SLP_TYP = kSlpTypS5 powers the machine off
// (the process exits with status 0, as QEMU does on an ACPI power-off).
// The sleep state announced through \_TTS is kept until the next reset.
//
// Other sleep types are not offered by the DSDT (no _S1.._S4), so a guest
// that asks for one anyway is logged and keeps running.
#pragma once
#include "core/device.h"
#include "core/irq.h"

namespace nomad86 {

class AcpiPm final : public Device, public IoHandler {
public:
    static constexpr uint16_t kBase = 0x600;
    static constexpr uint16_t kEvtBlk = kBase, kEvtLen = 4;      // PM1a_STS, PM1a_EN
    static constexpr uint16_t kCntBlk = kBase + 4, kCntLen = 2;  // PM1a_CNT
    static constexpr uint16_t kTmrBlk = kBase + 8, kTmrLen = 4;  // PM_TMR
    // Not a PIIX4 register: the DSDT's \_TTS method stores its argument
    // here, which tells an orderly reboot or power-off (Linux runs _TTS(5)
    // from its reboot notifier) from a panic's emergency restart, which runs
    // no AML. Machine uses it to choose -no-reboot's exit status.
    static constexpr uint16_t kTtsPort = kBase + 12;
    static constexpr uint16_t kPorts = 13;
    static constexpr unsigned kSciIrq = 9;  // ISA IRQ of the SCI (level, active low on real boards)
    static constexpr uint8_t kSlpTypS5 = 5;  // the DSDT's \_S5 package names this value
    static constexpr uint8_t kSleepStateS5 = 5;  // ACPI's number for soft-off (the \_TTS argument)
    static constexpr uint64_t kTimerHz = 3579545;

    // PM1 status/enable bits (ACPI 6.4, 4.8.3.1).
    static constexpr uint16_t kTmrSts = 1u << 0, kBmSts = 1u << 4, kGblSts = 1u << 5, kPwrBtnSts = 1u << 8,
                              kSlpBtnSts = 1u << 9, kRtcSts = 1u << 10, kWakSts = 1u << 15;
    // PM1 control bits.
    static constexpr uint16_t kSciEn = 1u << 0, kBmRld = 1u << 1, kGblRls = 1u << 2, kSlpTypShift = 10,
                              kSlpTypMask = 7u << kSlpTypShift, kSlpEn = 1u << 13;

    AcpiPm(DeviceContext& ctx, IrqLine sci);

    const char* name() const override { return "acpi-pm"; }
    void reset() override;
    void describe(StateVisitor& v) override;
    void post_load() override;

    uint32_t io_read(uint16_t port, unsigned size) override;
    void io_write(uint16_t port, unsigned size, uint32_t value) override;

    // The power button (monitor system_powerdown): sets PWRBTN_STS.
    void press_power_button();
    // The sleep state the OS announced through \_TTS since the last reset
    // (5 before an orderly reboot or power-off), 0 if none.
    uint8_t announced_sleep_state() const { return s_.tts; }
    // The PM timer's current count (24 bits).
    uint32_t timer_count() const;

private:
    struct State {
        uint16_t sts = 0;  // PM1 status bits other than TMR_STS (write 1 to clear)
        uint16_t en = 0;   // PM1 enable
        uint16_t cnt = 0;  // PM1 control (SLP_EN is write-only and never stored)
        // TMR_STS is derived: it is set whenever bit 23 of the timer has
        // toggled since the guest last cleared it, i.e. when the count's
        // epoch (count >> 23, from a free-running count) moved.
        uint64_t tmr_epoch = 0;
        uint8_t tts = 0;  // last value \_TTS stored (kTtsPort)
    };
    uint64_t ticks() const;  // free-running timer ticks since the machine started
    uint16_t status() const;
    uint8_t reg_byte(unsigned offset, uint32_t timer) const;
    void write_byte(unsigned offset, uint8_t value);
    void update_sci();
    void arm_overflow_timer();

    DeviceContext& ctx_;
    IrqLine sci_;
    TimerId overflow_timer_;
    State s_;
};

}  // namespace nomad86
