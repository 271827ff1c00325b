#include "devices/pic8259.h"

#include <cstdio>

namespace nomad86 {

namespace {

// PIIX ELCR: IRQ 0, 1, 2 (master) and 8, 13 (slave) are hardwired edge.
constexpr uint8_t kElcrMask[2] = {0xF8, 0xDE};
constexpr const char* kChipName[2] = {"master", "slave"};

// Priority of the highest-priority bit set in `mask`, 0 (highest) .. 7, or 8
// when no bit is set. Priority p belongs to IR (p + priority_add) & 7.
int highest_priority(uint8_t mask, uint8_t priority_add) {
    if (mask == 0) return 8;
    for (int p = 0; p < 8; p++)
        if (mask & (1u << ((p + priority_add) & 7))) return p;
    return 8;
}

}  // namespace

Pic8259Pair::Pic8259Pair(DeviceContext& ctx, IrqLine cpu_intr) : ctx_(ctx), cpu_intr_(cpu_intr) {
    ctx_.io.register_ports(0x20, 2, this, "pic-master");
    ctx_.io.register_ports(0xA0, 2, this, "pic-slave");
    ctx_.io.register_ports(0x4D0, 2, this, "pic-elcr");
    reset();
}

void Pic8259Pair::reset() {
    // The 8259A has no reset pin: its power-on state is whatever the BIOS
    // programs. Start from the quiet state QEMU uses, wired as a PC (master
    // has its slave on IR2, the slave's ID is 2). The input wire levels belong
    // to the devices driving them and survive a reset.
    for (int c = 0; c < 2; c++) {
        uint8_t input = chips_[c].input;
        chips_[c] = Pic8259Chip{};
        chips_[c].input = input;
    }
    chips_[kMaster].icw3 = 0x04;
    chips_[kSlave].icw3 = 0x02;
    update();
}

// ---- request resolution ---------------------------------------------------

uint8_t Pic8259Pair::level_mask(int c) const {
    const Pic8259Chip& s = chips_[c];
    return s.ltim ? 0xFF : s.elcr;
}

// IRR as the priority resolver sees it: edge pins from their latches, level
// pins straight from the wire (a level request disappears with its level).
uint8_t Pic8259Pair::requests(int c) const {
    const Pic8259Chip& s = chips_[c];
    uint8_t lvl = level_mask(c);
    return uint8_t((s.irr & ~lvl) | (s.input & lvl));
}

// The IR that would be delivered now, or -1.
int Pic8259Pair::resolve(int c) const {
    const Pic8259Chip& s = chips_[c];
    uint8_t req = uint8_t(requests(c) & ~s.imr);
    if (s.special_mask) {
        // Special mask mode: every unmasked level that is not itself in
        // service may interrupt, above or below the in-service levels.
        req = uint8_t(req & ~s.isr);
        int p = highest_priority(req, s.priority_add);
        return p == 8 ? -1 : (p + s.priority_add) & 7;
    }
    int p = highest_priority(req, s.priority_add);
    if (p == 8) return -1;
    int irq = (p + s.priority_add) & 7;
    int cur = highest_priority(s.isr, s.priority_add);
    if (p < cur) return irq;
    // Special fully nested mode: a cascaded level may interrupt while it is
    // itself in service, so the slave's higher-priority requests get through.
    bool cascade = c == kMaster && !s.single && (s.icw3 & (1u << irq));
    if (p == cur && s.sfnm && cascade) return irq;
    return -1;
}

void Pic8259Pair::set_input(int c, unsigned pin, bool level) {
    Pic8259Chip& s = chips_[c];
    uint8_t m = uint8_t(1u << pin);
    // Edge-sense latch: only edge pins latch, so a pin later switched from
    // level to edge mode does not find a stale request.
    if (level && !(s.input & m) && !(level_mask(c) & m)) s.irr |= m;
    s.input = level ? uint8_t(s.input | m) : uint8_t(s.input & ~m);
}

// The acknowledge (INTA or poll) of `irq` on chip c.
void Pic8259Pair::intack(int c, int irq) {
    Pic8259Chip& s = chips_[c];
    uint8_t m = uint8_t(1u << irq);
    if (s.auto_eoi) {
        if (s.rotate_on_aeoi) s.priority_add = uint8_t((irq + 1) & 7);
    } else {
        s.isr |= m;
    }
    s.irr &= uint8_t(~m);  // edge latch consumed; level pins follow the wire
}

// Propagates the slave's INT to master IR2 and the master's INT to the CPU.
void Pic8259Pair::update() {
    set_input(kMaster, 2, resolve(kSlave) >= 0);
    bool out = resolve(kMaster) >= 0;
    if (out != intr_) {
        intr_ = out;
        cpu_intr_.set(out);
    }
}

void Pic8259Pair::set_irq(unsigned pin, bool level) {
    if (pin >= 16 || pin == 2) return;  // see the header: IR2 is the cascade
    if (pin < 8)
        set_input(kMaster, pin, level);
    else
        set_input(kSlave, pin - 8, level);
    update();
}

uint8_t Pic8259Pair::acknowledge() {
    Pic8259Chip& m = chips_[kMaster];
    int irq = resolve(kMaster);
    uint8_t vector;
    if (irq < 0) {
        // The request went away before INTA: the 8259A answers as if IR7
        // had interrupted, without setting ISR (spurious IRQ7).
        vector = uint8_t(m.vector_base | 7);
    } else {
        intack(kMaster, irq);
        bool cascaded = !m.single && (m.icw3 & (1u << irq));
        if (!cascaded) {
            vector = uint8_t(m.vector_base + irq);
        } else if (irq == 2 && (chips_[kSlave].icw3 & 7) == 2) {
            // The slave answers on the CAS lines. If its request vanished it
            // gives its own default IR7 (spurious IRQ15); the master's IR2
            // in-service bit is set either way, as on hardware.
            int sirq = resolve(kSlave);
            if (sirq < 0) {
                vector = uint8_t(chips_[kSlave].vector_base | 7);
            } else {
                intack(kSlave, sirq);
                vector = uint8_t(chips_[kSlave].vector_base + sirq);
            }
        } else {
            // The master put a slave ID on CAS that no slave answers to:
            // nothing drives the data bus.
            ctx_.log.log(kLogGuestErrors, "pic: cascade acknowledge of IR%d but no slave with that ID\n", irq);
            vector = 0xFF;
        }
    }
    update();
    return vector;
}

// ---- port I/O ---------------------------------------------------------------

uint32_t Pic8259Pair::io_read(uint16_t port, unsigned /*size*/) {
    switch (port) {
    case 0x20: return read_port(kMaster, false);
    case 0x21: return read_port(kMaster, true);
    case 0xA0: return read_port(kSlave, false);
    case 0xA1: return read_port(kSlave, true);
    case 0x4D0: return chips_[kMaster].elcr;
    case 0x4D1: return chips_[kSlave].elcr;
    default: return 0xFF;
    }
}

void Pic8259Pair::io_write(uint16_t port, unsigned /*size*/, uint32_t value) {
    uint8_t v = uint8_t(value);
    switch (port) {
    case 0x20: write_command(kMaster, v); break;
    case 0x21: write_data(kMaster, v); break;
    case 0xA0: write_command(kSlave, v); break;
    case 0xA1: write_data(kSlave, v); break;
    case 0x4D0:
    case 0x4D1: {
        int c = port == 0x4D0 ? kMaster : kSlave;
        if (v & ~kElcrMask[c])
            ctx_.log.log(kLogGuestErrors, "pic: ELCR%d write %02x sets hardwired-edge bits\n", c, v);
        chips_[c].elcr = uint8_t(v & kElcrMask[c]);
        update();
        break;
    }
    default: break;
    }
}

uint8_t Pic8259Pair::read_port(int c, bool odd) {
    Pic8259Chip& s = chips_[c];
    // After a poll command the next read (of either port) is the poll.
    if (s.poll) return poll_read(c);
    if (odd) return s.imr;
    return s.read_isr ? s.isr : requests(c);
}

// The poll word: bit 7 = a request is being serviced, bits 2-0 its level.
// The read acts as an acknowledge of that level.
uint8_t Pic8259Pair::poll_read(int c) {
    chips_[c].poll = false;
    int irq = resolve(c);
    if (irq < 0) return 0x00;
    intack(c, irq);
    update();
    return uint8_t(0x80 | irq);
}

void Pic8259Pair::write_command(int c, uint8_t v) {
    Pic8259Chip& s = chips_[c];
    if (v & 0x10) {
        // ICW1 restarts initialization from any state. The datasheet: edge
        // sense reset, IMR cleared, IR7 lowest priority, special mask off,
        // status read selects IRR; ICW4 functions are zero unless an ICW4
        // follows.
        s.irr = 0;
        s.isr = 0;
        s.imr = 0;
        s.priority_add = 0;
        s.special_mask = false;
        s.read_isr = false;
        s.poll = false;
        s.auto_eoi = false;
        s.rotate_on_aeoi = false;
        s.sfnm = false;
        s.ltim = (v & 0x08) != 0;
        s.single = (v & 0x02) != 0;
        s.icw4_needed = (v & 0x01) != 0;
        s.init_state = 1;
        if (!s.icw4_needed)
            ctx_.log.log(kLogUnimp, "pic %s: ICW1 without ICW4 selects 8085 mode; vectors stay 8086-style\n",
                         kChipName[c]);
        update();
        return;
    }
    if (s.init_state != 0) {
        // An OCW in the middle of initialization: the chip takes it, but the
        // guest's sequence is wrong.
        ctx_.log.log(kLogGuestErrors, "pic %s: OCW %02x during initialization (expecting ICW%d)\n",
                     kChipName[c], v, s.init_state + 1);
    }
    if (v & 0x08)
        write_ocw3(c, v);
    else
        write_ocw2(c, v);
}

void Pic8259Pair::write_data(int c, uint8_t v) {
    Pic8259Chip& s = chips_[c];
    switch (s.init_state) {
    case 1:  // ICW2: the vector base; T2-T0 come from the IR number.
        s.vector_base = uint8_t(v & 0xF8);
        if (v & 7)
            ctx_.log.log(kLogGuestErrors, "pic %s: ICW2 %02x has low bits set (ignored in 8086 mode)\n",
                         kChipName[c], v);
        s.init_state = s.single ? (s.icw4_needed ? 3 : 0) : 2;
        break;
    case 2:  // ICW3: master's slave bitmap, or the slave's ID.
        s.icw3 = v;
        if (c == kSlave && (v & 7) != 2)
            ctx_.log.log(kLogGuestErrors, "pic slave: ICW3 ID %d, but it is wired to master IR2\n", v & 7);
        if (c == kMaster && !(v & 0x04))
            ctx_.log.log(kLogGuestErrors, "pic master: ICW3 %02x does not cascade IR2 (the slave)\n", v);
        s.init_state = s.icw4_needed ? 3 : 0;
        break;
    case 3:  // ICW4
        if (!(v & 0x01))
            ctx_.log.log(kLogUnimp, "pic %s: ICW4 selects 8085 mode; vectors stay 8086-style\n", kChipName[c]);
        if (v & 0xE0) ctx_.log.log(kLogGuestErrors, "pic %s: ICW4 %02x has reserved bits set\n", kChipName[c], v);
        s.auto_eoi = (v & 0x02) != 0;
        s.sfnm = (v & 0x10) != 0;
        // BUF and M/S only configure the SP/EN pin: nothing to emulate.
        s.init_state = 0;
        break;
    default:  // OCW1
        s.imr = v;
        break;
    }
    update();
}

void Pic8259Pair::write_ocw2(int c, uint8_t v) {
    Pic8259Chip& s = chips_[c];
    int level = v & 7;
    switch (v >> 5) {
    case 1:    // non-specific EOI
    case 5: {  // rotate on non-specific EOI
        int p = highest_priority(s.isr, s.priority_add);
        if (p == 8) {
            ctx_.log.log(kLogGuestErrors, "pic %s: EOI with nothing in service\n", kChipName[c]);
            break;
        }
        int irq = (p + s.priority_add) & 7;
        s.isr &= uint8_t(~(1u << irq));
        if (v >> 5 == 5) s.priority_add = uint8_t((irq + 1) & 7);
        break;
    }
    case 3:  // specific EOI
        s.isr &= uint8_t(~(1u << level));
        break;
    case 7:  // rotate on specific EOI
        s.isr &= uint8_t(~(1u << level));
        s.priority_add = uint8_t((level + 1) & 7);
        break;
    case 6:  // set priority: `level` becomes the lowest
        s.priority_add = uint8_t((level + 1) & 7);
        break;
    case 4: s.rotate_on_aeoi = true; break;
    case 0: s.rotate_on_aeoi = false; break;
    default: break;  // 2: no operation
    }
    update();
}

void Pic8259Pair::write_ocw3(int c, uint8_t v) {
    Pic8259Chip& s = chips_[c];
    if (v & 0x80) ctx_.log.log(kLogGuestErrors, "pic %s: OCW3 %02x has bit 7 set\n", kChipName[c], v);
    if (v & 0x04) s.poll = true;
    if (v & 0x02) s.read_isr = (v & 0x01) != 0;
    if (v & 0x40) s.special_mask = (v & 0x20) != 0;
    update();
}

// ---- state ------------------------------------------------------------------

void Pic8259Pair::describe(StateVisitor& v) {
    v.begin_section("pic", 1);
    for (int c = 0; c < 2; c++) {
        Pic8259Chip& s = chips_[c];
        auto f = [&](const char* field, auto& value) {
            std::string n = std::string(kChipName[c]) + "." + field;
            v.field(n.c_str(), value);
        };
        f("irr", s.irr);
        f("imr", s.imr);
        f("isr", s.isr);
        f("input", s.input);
        f("priority_add", s.priority_add);
        f("vector_base", s.vector_base);
        f("icw3", s.icw3);
        f("init_state", s.init_state);
        f("elcr", s.elcr);
        f("read_isr", s.read_isr);
        f("poll", s.poll);
        f("special_mask", s.special_mask);
        f("single", s.single);
        f("icw4_needed", s.icw4_needed);
        f("ltim", s.ltim);
        f("auto_eoi", s.auto_eoi);
        f("rotate_on_aeoi", s.rotate_on_aeoi);
        f("sfnm", s.sfnm);
    }
    v.end_section();
}

void Pic8259Pair::post_load() {
    for (int c = 0; c < 2; c++) {
        const Pic8259Chip& s = chips_[c];
        if (s.init_state > 3) throw StateError("pic: bad init_state");
        if (s.priority_add > 7) throw StateError("pic: bad priority_add");
        if (s.vector_base & 7) throw StateError("pic: vector base not a multiple of 8");
        if (s.elcr & ~kElcrMask[c]) throw StateError("pic: ELCR sets hardwired-edge bits");
    }
    // Re-derive the cascade and INTR levels and drive the CPU pin, whatever
    // it was before the load.
    set_input(kMaster, 2, resolve(kSlave) >= 0);
    intr_ = resolve(kMaster) >= 0;
    cpu_intr_.set(intr_);
}

std::string Pic8259Pair::describe_text() const {
    std::string out;
    for (int c = 0; c < 2; c++) {
        const Pic8259Chip& s = chips_[c];
        char line[128];
        snprintf(line, sizeof line, "pic%d: irr=%02x imr=%02x isr=%02x hprio=%d irq_base=%02x rr_sel=%d elcr=%02x fnm=%d\n",
                 c, requests(c), s.imr, s.isr, s.priority_add, s.vector_base, s.read_isr ? 1 : 0, s.elcr,
                 s.sfnm ? 1 : 0);
        out += line;
    }
    return out;
}

}  // namespace nomad86
