#include <doctest/doctest.h>

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>

#include "core/log.h"
#include "mmu/io_bus.h"
#include "mmu/phys_memory.h"

using namespace nomad86;

namespace {
struct ByteDevice : IoHandler {
    uint8_t regs[4] = {0x11, 0x22, 0x33, 0x44};
    int accesses = 0;
    uint32_t io_read(uint16_t port, unsigned size) override {
        accesses++;
        CHECK(size == 1);
        return regs[port & 3];
    }
    void io_write(uint16_t port, unsigned size, uint32_t value) override {
        accesses++;
        CHECK(size == 1);
        regs[port & 3] = uint8_t(value);
    }
};
// Like the block cache: forgets the page's code mark when told of a write.
struct Listener : CodeWriteListener {
    explicit Listener(PhysicalMemory& m) : mem(m) {}
    PhysicalMemory& mem;
    std::vector<uint64_t> pages;
    void code_page_written(uint64_t page) override {
        pages.push_back(page);
        mem.clear_code_page(page);
    }
};
}  // namespace

TEST_CASE("io bus: unowned ports read all ones; wide accesses to a byte device are split") {
    IoBus bus;
    ByteDevice dev;
    bus.register_ports(0x100, 4, &dev, "dev");
    CHECK(bus.read(0x200, 1) == 0xff);
    CHECK(bus.read(0x200, 4) == 0xffffffffu);
    CHECK(bus.read(0x100, 4) == 0x44332211u);
    CHECK(dev.accesses == 4);
    bus.write(0x102, 2, 0xbeef);
    CHECK(dev.regs[2] == 0xef);
    CHECK(dev.regs[3] == 0xbe);
    // Straddling the end of the device: the last byte is unowned.
    CHECK(bus.read(0x103, 2) == 0xffbe);
    CHECK_THROWS(bus.register_ports(0x103, 2, &dev, "overlap"));
}

TEST_CASE("memory: RAM, the legacy hole, ROM is read-only, A20 mask") {
    PhysicalMemory mem(2 * MiB);
    uint8_t rom[16] = {1, 2, 3, 4};
    mem.add_rom(GuestPhys(0xffff0), rom, sizeof(rom), "rom");
    mem.write(GuestPhys(0x1000), 4, 0xcafebabe);
    CHECK(mem.read(GuestPhys(0x1000), 4) == 0xcafebabe);
    CHECK(mem.read(GuestPhys(0xffff0), 2) == 0x0201);
    mem.write(GuestPhys(0xffff0), 1, 0xaa);
    CHECK(mem.read(GuestPhys(0xffff0), 1) == 0x01);
    CHECK(mem.read(GuestPhys(0xb8000), 1) == 0xff);      // nothing mapped in the hole here
    CHECK(mem.read(GuestPhys(0x300000), 4) == 0xffffffffu);  // beyond RAM
    mem.write(GuestPhys(0x300000), 4, 0);                  // dropped, no crash
    mem.set_a20(false);
    CHECK(mem.a20_mask() == ~uint64_t(1u << 20));
    CHECK_THROWS(mem.add_rom(GuestPhys(0x1000), rom, sizeof(rom), "over RAM"));
}

TEST_CASE("memory: a write to a code page notifies once per marking, including a write straddling pages") {
    PhysicalMemory mem(2 * MiB);
    Listener l(mem);
    mem.set_code_write_listener(&l);
    mem.mark_code_page(5);
    mem.write(GuestPhys(0x4000), 4, 1);  // page 4: not code
    CHECK(l.pages.empty());
    mem.write(GuestPhys(0x4ffe), 4, 0x12345678);  // straddles pages 4 and 5
    REQUIRE(l.pages.size() == 1);
    CHECK(l.pages[0] == 5);
    CHECK(mem.read(GuestPhys(0x4ffe), 4) == 0x12345678);
    CHECK(mem.test_and_clear_dirty(5));
    CHECK_FALSE(mem.test_and_clear_dirty(5));
}

TEST_CASE("memory: -d mmio logs each device access and each probe of an address nothing answers, and nothing else") {
    char path[] = "/tmp/nomad86-mmio-log-XXXXXX";
    const int fd = mkstemp(path);
    REQUIRE(fd >= 0);
    close(fd);
    std::string text;
    {
        Logger log;
        REQUIRE(log.open_file(path));
        log.set_mask(kLogMmio);
        PhysicalMemory mem(2 * MiB, &log);
        struct Device final : MmioHandler {
            uint64_t last_write = 0;
            uint64_t mmio_read(uint64_t offset, unsigned) override { return 0xab00 + offset; }
            void mmio_write(uint64_t, unsigned, uint64_t value) override { last_write = value; }
        } device;
        mem.add_mmio(GuestPhys(0xfec00000), 0x1000, &device, "test-device");
        CHECK(mem.read(GuestPhys(0xfec00010), 4) == 0xab10);
        mem.write(GuestPhys(0xfec00020), 2, 0x1234);
        CHECK(device.last_write == 0x1234);
        CHECK(mem.read(GuestPhys(0x10000000), 4) == 0xffffffff);  // past the end of RAM
        mem.write(GuestPhys(0x10000000), 1, 0x5a);
        mem.write(GuestPhys(0x1000), 4, 0x11223344);  // RAM: not logged
        CHECK(mem.read(GuestPhys(0x1000), 4) == 0x11223344);
        fflush(log.stream());
        std::ifstream in(path);
        text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
    unlink(path);
    CHECK(text ==
          "mmio read  fec00010/4 -> 0000ab10 (test-device)\n"
          "mmio write fec00020/2 <- 1234 (test-device)\n"
          "mmio read  10000000/4 -> ffffffff (unassigned)\n"
          "mmio write 10000000/1 <- 5a (unassigned)\n");
}
