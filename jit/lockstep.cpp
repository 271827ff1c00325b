#include "jit/lockstep.h"

#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <type_traits>
#include <map>
#include <utility>
#include <vector>

#include "core/state.h"
#include "cpu/decoded_block.h"

namespace nomad86::jit {

namespace {

static_assert(std::is_trivially_copyable_v<CpuState>, "the verifier compares CPU states as bytes first");

// The CPU state as its description lists it: (field name, value in hex).
// Comparing through the description checks exactly what a snapshot or the
// debugger sees, field by field, and names the field that differs.
class FieldList final : public StateVisitor {
public:
    void begin_section(const char*, uint32_t) override {}
    void end_section() override {}
    void integer(const char* name, void* data, size_t size) override {
        uint64_t v = 0;
        for (size_t i = 0; i < size && i < 8; i++) v |= uint64_t(static_cast<uint8_t*>(data)[i]) << (8 * i);
        char text[24];
        snprintf(text, sizeof text, "%0*" PRIx64, int(2 * size), v);
        fields.emplace_back(name, text);
    }
    void bytes(const char* name, void* data, size_t size) override {
        std::string hex;
        char b[4];
        for (size_t i = 0; i < size; i++) {
            snprintf(b, sizeof b, "%02x", static_cast<uint8_t*>(data)[i]);
            hex += b;
        }
        fields.emplace_back(name, hex);
    }
    bool loading() const override { return false; }
    std::vector<std::pair<std::string, std::string>> fields;
};

FieldList describe(CpuState state) {
    FieldList list;
    state.describe(list);
    return list;
}

}  // namespace

// The block, then each part of its superblock tail that the branch before
// it falls through to, as the translation runs them.
void LockstepVerifier::interpret_superblock(const DecodedBlock& block, uint64_t entry_rip) {
    cpu_.interpret_block(block);
    uint64_t next = entry_rip + block.bytes;
    for (const auto& part : block.jit_tail) {
        if (cpu_.events_pending() || cpu_.shutdown() || cpu_.s.rip != (next & 0xffffffffu)) return;
        cpu_.interpret_block(*part);
        next += part->bytes;
    }
}

LockstepVerifier::Outcome LockstepVerifier::run(const DecodedBlock& block,
                                                const std::function<bool()>& run_host_code) {
    PhysicalMemory& memory = cpu_.memory();
    const Cpu::Checkpoint start = cpu_.checkpoint();
    const uint64_t device_events = cpu_.device_events();
    const uint64_t invalidations = cpu_.decoded_block_invalidations();

    // The reference run. If it walked the page tables, the TLB is emptied
    // before the second run so that it walks them alike (accessed and dirty
    // bits are stores, which were undone).
    WriteJournal& reference = reference_;
    reference.old_bytes.clear();
    reference.device_accesses = 0;
    const uint64_t fills = cpu_.tlb().fills();
    memory.set_write_journal(&reference);
    interpret_superblock(block, start.s.rip);
    memory.set_write_journal(nullptr);
    if (cpu_.device_events() != device_events || reference.device_accesses != 0 ||
        cpu_.decoded_block_invalidations() != invalidations || cpu_.shutdown())
        return Outcome::kUnverifiable;  // the interpreter's run stands
    const Cpu::Checkpoint expected = cpu_.checkpoint();
    // The final value of every byte it stored (an address stored twice
    // has the same final value in both entries).
    expected_bytes_.clear();
    for (const auto& [addr, old] : reference.old_bytes) expected_bytes_.emplace_back(addr, memory.ram_byte(addr));

    // The same block as host code, from the same point.
    memory.undo_writes(reference);
    cpu_.restore(start);
    if (cpu_.tlb().fills() != fills) cpu_.tlb().flush_all();
    WriteJournal& translated = translated_;
    translated.old_bytes.clear();
    translated.device_accesses = 0;
    memory.set_write_journal(&translated);
    const bool ran = run_host_code();
    memory.set_write_journal(nullptr);
    if (!ran) {
        // Nothing ran, nothing was stored: the reference run again.
        cpu_.restore(start);
        cpu_.interpret_block(block);
        return Outcome::kUnverifiable;
    }
    const Cpu::Checkpoint& got = got_ = cpu_.checkpoint();

    std::string diff;
    char line[256];
    // Field by field through the description only when the bytes differ
    // (both states were copied from one checkpoint, so equal states are
    // equal bytes, padding included).
    if (memcmp(&expected.s, &got.s, sizeof(CpuState)) != 0) {
        const FieldList want = describe(expected.s), have = describe(got.s);
        for (size_t i = 0; i < want.fields.size() && i < have.fields.size(); i++) {
            if (want.fields[i].second == have.fields[i].second) continue;
            snprintf(line, sizeof line, "  %-12s interpreter %s  jit %s\n", want.fields[i].first.c_str(),
                     want.fields[i].second.c_str(), have.fields[i].second.c_str());
            diff += line;
        }
    }
    if (expected.instret != got.instret || expected.steps != got.steps) {
        snprintf(line, sizeof line, "  retired      interpreter %" PRIu64 "  jit %" PRIu64 "\n",
                 expected.instret - start.instret, got.instret - start.instret);
        diff += line;
    }
    if (expected.events_pending != got.events_pending) {
        snprintf(line, sizeof line, "  stop after   interpreter %d  jit %d\n", expected.events_pending,
                 got.events_pending);
        diff += line;
    }
    // Every byte either run stored must hold what the interpreter left. The
    // usual case: both stored the same addresses in the same order, so the
    // interpreter's final values are all there is to check.
    bool same_addresses = translated.old_bytes.size() == reference.old_bytes.size();
    for (size_t i = 0; same_addresses && i < reference.old_bytes.size(); i++)
        same_addresses = translated.old_bytes[i].first == reference.old_bytes[i].first;
    auto report_byte = [&](uint64_t addr, uint8_t want_byte) {
        const uint8_t have_byte = memory.ram_byte(addr);
        if (want_byte == have_byte) return;
        snprintf(line, sizeof line, "  memory %08" PRIx64 " interpreter %02x  jit %02x\n", addr, want_byte, have_byte);
        diff += line;
    };
    if (same_addresses) {
        for (const auto& [addr, final_byte] : expected_bytes_) report_byte(addr, final_byte);
    } else {
        std::map<uint64_t, uint8_t> want;  // untouched by the interpreter: the byte before
        for (const auto& [addr, old] : translated.old_bytes) want.emplace(addr, old);
        for (const auto& [addr, old] : reference.old_bytes) want.emplace(addr, old);
        for (const auto& [addr, final_byte] : expected_bytes_) want[addr] = final_byte;
        for (const auto& [addr, want_byte] : want) report_byte(addr, want_byte);
    }
    if (diff.empty()) return Outcome::kAgreed;
    snprintf(line, sizeof line, "jit verify: block at phys %08" PRIx64 " (%zu instructions, entered at EIP %08" PRIx64
             ") differs from the interpreter:\n", block.key.phys, block.insns.size(), start.s.rip);
    failure_ = line + diff;
    return Outcome::kDiffered;
}

}  // namespace nomad86::jit
