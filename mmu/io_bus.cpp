#include "mmu/io_bus.h"

#include <stdexcept>

namespace nomad86 {

IoBus::IoBus(Logger* log) : log_(log), owner_(65536, 0) { ranges_.push_back(Range{nullptr, "", 0}); }

void IoBus::register_ports(uint16_t first, uint32_t count, IoHandler* handler, std::string name, unsigned widths) {
    if (count == 0 || first + count > 65536) throw std::logic_error("I/O range out of bounds: " + name);
    if (ranges_.size() >= 255) throw std::logic_error("too many I/O ranges");
    for (uint32_t p = first; p < first + count; p++)
        if (owner_[p] != 0) throw std::logic_error("I/O port conflict between " + ranges_[owner_[p]].name + " and " + name);
    ranges_.push_back(Range{handler, std::move(name), widths});
    for (uint32_t p = first; p < first + count; p++) owner_[p] = uint8_t(ranges_.size() - 1);
}

const char* IoBus::owner_name(uint16_t port) const {
    uint8_t idx = owner_[port];
    return idx ? ranges_[idx].name.c_str() : nullptr;
}

bool IoBus::whole_access(uint16_t port, unsigned size) const {
    uint8_t idx = owner_[port];
    if (idx == 0 || !(ranges_[idx].widths & size)) return false;
    for (unsigned i = 1; i < size; i++)
        if (owner_[uint16_t(port + i)] != idx) return false;
    return true;
}

uint32_t IoBus::read_byte(uint16_t port) {
    uint8_t idx = owner_[port];
    if (idx == 0) return 0xff;
    return ranges_[idx].handler->io_read(port, 1) & 0xff;
}

void IoBus::write_byte(uint16_t port, uint8_t value) {
    uint8_t idx = owner_[port];
    if (idx != 0) ranges_[idx].handler->io_write(port, 1, value);
}

uint32_t IoBus::read(uint16_t port, unsigned size) {
    uint32_t value;
    uint32_t mask = size == 4 ? 0xffffffffu : (1u << (8 * size)) - 1;
    if (whole_access(port, size)) {
        value = ranges_[owner_[port]].handler->io_read(port, size) & mask;
    } else {
        value = 0;
        for (unsigned i = 0; i < size; i++) value |= read_byte(uint16_t(port + i)) << (8 * i);
    }
    if (log_ && log_->enabled(kLogIoport))
        log_->log(kLogIoport, "ioport read  %04x/%u -> %0*x (%s)\n", port, size, int(size * 2), value,
                  owner_name(port) ? owner_name(port) : "unassigned");
    return value;
}

void IoBus::write(uint16_t port, unsigned size, uint32_t value) {
    uint32_t mask = size == 4 ? 0xffffffffu : (1u << (8 * size)) - 1;
    value &= mask;
    if (log_ && log_->enabled(kLogIoport))
        log_->log(kLogIoport, "ioport write %04x/%u <- %0*x (%s)\n", port, size, int(size * 2), value,
                  owner_name(port) ? owner_name(port) : "unassigned");
    if (whole_access(port, size)) {
        ranges_[owner_[port]].handler->io_write(port, size, value);
        return;
    }
    for (unsigned i = 0; i < size; i++) write_byte(uint16_t(port + i), uint8_t(value >> (8 * i)));
}

}  // namespace nomad86
