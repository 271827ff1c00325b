// The one description of a component's state. Every device and the CPU
// implement describe(StateVisitor&), naming each field once; snapshots,
// migration and the debugger are visitors over that description, so a field
// that is not described is not saved, and a field that is described is
// saved everywhere.
#pragma once
#include <array>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

namespace nomad86 {

// A hostile or corrupt state stream: the reader throws this and the caller
// reports it; the machine the state was meant for is left untouched or reset.
struct StateError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

class StateVisitor {
public:
    virtual ~StateVisitor() = default;
    // Opens a named, versioned section (one per component).
    virtual void begin_section(const char* name, uint32_t version) = 0;
    virtual void end_section() = 0;
    // A plain little-endian integer field of 1, 2, 4 or 8 bytes. On load, the
    // visitor writes the field; the component validates it afterwards in
    // post_load().
    virtual void integer(const char* name, void* data, size_t size) = 0;
    // An opaque byte buffer of fixed size (NVRAM, FIFOs).
    virtual void bytes(const char* name, void* data, size_t size) = 0;
    virtual bool loading() const = 0;

    template <typename T>
    void field(const char* name, T& value) {
        if constexpr (std::is_same_v<T, bool>) {
            uint8_t v = value ? 1 : 0;
            integer(name, &v, 1);
            value = v != 0;
        } else if constexpr (std::is_enum_v<T>) {
            auto v = static_cast<std::underlying_type_t<T>>(value);
            integer(name, &v, sizeof(v));
            value = static_cast<T>(v);
        } else {
            static_assert(std::is_integral_v<T>, "describe integers, bools, enums or arrays");
            integer(name, &value, sizeof(T));
        }
    }
    template <typename T, size_t N>
    void field(const char* name, std::array<T, N>& values) {
        for (size_t i = 0; i < N; i++) {
            std::string element = std::string(name) + "[" + std::to_string(i) + "]";
            field(element.c_str(), values[i]);
        }
    }
    template <typename T, size_t N>
    void field(const char* name, T (&values)[N]) {
        for (size_t i = 0; i < N; i++) {
            std::string element = std::string(name) + "[" + std::to_string(i) + "]";
            field(element.c_str(), values[i]);
        }
    }
};

// Writes a described state into a byte stream: per section a name, version
// and length, per field a name and size, so a reader can check both.
class StateWriter final : public StateVisitor {
public:
    void begin_section(const char* name, uint32_t version) override;
    void end_section() override;
    void integer(const char* name, void* data, size_t size) override;
    void bytes(const char* name, void* data, size_t size) override;
    bool loading() const override { return false; }
    const std::vector<uint8_t>& data() const { return out_; }

private:
    void put_u32(uint32_t v);
    void put_str(const char* s);
    std::vector<uint8_t> out_;
    std::vector<size_t> section_starts_;
};

// Reads a stream written by StateWriter into the same description, checking
// every name, size and length: any mismatch throws StateError.
class StateReader final : public StateVisitor {
public:
    explicit StateReader(const std::vector<uint8_t>& in) : in_(in) {}
    void begin_section(const char* name, uint32_t version) override;
    void end_section() override;
    void integer(const char* name, void* data, size_t size) override;
    void bytes(const char* name, void* data, size_t size) override;
    bool loading() const override { return true; }
    bool at_end() const { return pos_ == in_.size(); }

private:
    uint32_t get_u32();
    std::string get_str();
    void expect_name(const char* name);
    const std::vector<uint8_t>& in_;
    size_t pos_ = 0;
    std::vector<size_t> section_ends_;
};

// Prints a described state as text, one "section.field = value" line per
// field (the monitor's `info state`, the debugger's view of devices).
// `only` limits it to one section ("" for all).
class StatePrinter final : public StateVisitor {
public:
    explicit StatePrinter(std::string only = "") : only_(std::move(only)) {}
    void begin_section(const char* name, uint32_t version) override;
    void end_section() override { sections_.pop_back(); }
    void integer(const char* name, void* data, size_t size) override;
    void bytes(const char* name, void* data, size_t size) override;
    bool loading() const override { return false; }
    const std::string& text() const { return out_; }

private:
    bool shown() const { return !sections_.empty() && (only_.empty() || sections_.back() == only_); }
    std::string only_;
    std::vector<std::string> sections_;
    std::string out_;
};

// Anything with a state description.
class Stateful {
public:
    virtual ~Stateful() = default;
    virtual void describe(StateVisitor& v) = 0;
};

}  // namespace nomad86
