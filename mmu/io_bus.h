// The port-I/O bus: 64 Ki ports, each owned by at most one device. An access
// wider than the device accepts, or one that straddles two owners, is split
// into byte accesses, so a device only ever sees widths it registered for and
// ports inside its own range. Unowned ports read as all ones, as on a PC.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/log.h"

namespace nomad86 {

class IoHandler {
public:
    virtual ~IoHandler() = default;
    virtual uint32_t io_read(uint16_t port, unsigned size) = 0;
    virtual void io_write(uint16_t port, unsigned size, uint32_t value) = 0;
};

class IoBus {
public:
    enum Width : unsigned { kByte = 1, kWord = 2, kDword = 4 };
    explicit IoBus(Logger* log = nullptr);

    // Registers ports [first, first+count). `widths` is a mask of accepted
    // access sizes (kByte|kWord...). Overlapping an existing range is a bug
    // in the machine's construction and throws std::logic_error.
    void register_ports(uint16_t first, uint32_t count, IoHandler* handler, std::string name,
                        unsigned widths = kByte);

    uint32_t read(uint16_t port, unsigned size);
    void write(uint16_t port, unsigned size, uint32_t value);

    // Name of the device owning a port, or nullptr (monitor, traces).
    const char* owner_name(uint16_t port) const;

private:
    struct Range {
        IoHandler* handler;
        std::string name;
        unsigned widths;
    };
    uint32_t read_byte(uint16_t port);
    void write_byte(uint16_t port, uint8_t value);
    bool whole_access(uint16_t port, unsigned size) const;

    Logger* log_;
    std::vector<Range> ranges_;  // index 0 is "nobody"
    std::vector<uint8_t> owner_;  // per port: index into ranges_
};

}  // namespace nomad86
