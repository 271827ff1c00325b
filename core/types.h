// Address types shared by every room. Guest-virtual (linear, after
// segmentation), guest-physical and host (machine) addresses are different
// things; keeping them as distinct types makes a function's signature say
// which space it works in, and the compiler refuses to mix them.
#pragma once
#include <cstddef>
#include <cstdint>

namespace nomad86 {

template <typename Tag>
struct GuestAddr {
    uint64_t value = 0;
    constexpr GuestAddr() = default;
    constexpr explicit GuestAddr(uint64_t v) : value(v) {}
    constexpr GuestAddr operator+(uint64_t off) const { return GuestAddr(value + off); }
    constexpr GuestAddr operator-(uint64_t off) const { return GuestAddr(value - off); }
    constexpr uint64_t operator-(GuestAddr o) const { return value - o.value; }
    constexpr auto operator<=>(const GuestAddr&) const = default;
    constexpr uint64_t page() const { return value >> 12; }
    constexpr uint64_t page_offset() const { return value & 0xfff; }
};

struct GuestPhysTag {};
struct GuestVirtTag {};
// Guest-physical address: what the guest's memory bus sees (after paging and A20).
using GuestPhys = GuestAddr<GuestPhysTag>;
// Guest-virtual (linear) address: segment base + offset, before paging.
using GuestVirt = GuestAddr<GuestVirtTag>;
// Host pointer into guest RAM or a device buffer.
using HostPtr = uint8_t*;

constexpr uint64_t KiB = 1024;
constexpr uint64_t MiB = 1024 * KiB;
constexpr uint64_t GiB = 1024 * MiB;
constexpr unsigned kPageShift = 12;
constexpr uint64_t kPageSize = 1u << kPageShift;

}  // namespace nomad86
