#include "core/machine.h"

#include <algorithm>
#include <ctime>

#include "devices/acpi_pm.h"
#include "devices/debug_exit.h"
#include "devices/debugcon.h"
#include "devices/fpu_error.h"
#include "devices/i8042.h"
#include "devices/pic8259.h"
#include "devices/pit8254.h"
#include "devices/port92.h"
#include "devices/post_code.h"
#include "devices/rtc_cmos.h"
#include "devices/uart16550.h"

namespace nomad86 {

namespace {
// ISA IRQ numbers of the PC platform.
constexpr unsigned kIrqPit = 0, kIrqKeyboard = 1, kIrqCom1 = 4, kIrqRtc = 8, kIrqMouse = 12, kIrqFpu = 13;
constexpr uint16_t kCom1Base = 0x3f8;
constexpr uint16_t kDebugConPort = 0xe9;
// Guest instructions per slice between looks at timers and input: small
// enough that device deadlines are met within tens of microseconds. With
// no deadline that close, a slice runs on (Machine::slice_insns()) up to
// the longest: every slice end costs a trip out of translated code, and
// the few instructions left of a budget that a block does not fit run in
// the interpreter (about 5% of a compute-bound benchmark job's time).
constexpr uint64_t kSliceInsns = 20000;
constexpr uint64_t kLongestSliceInsns = 400000;
// How often the terminal, the monitor and a migration in progress are
// looked at while the guest computes.
constexpr int64_t kInputPollNs = 2'000'000;
}  // namespace

std::string Machine::check_firmware_size(size_t size) {
    if (size == 0) return "is empty";
    if (size < 64 * KiB) return "is " + std::to_string(size) + " bytes; a firmware image is at least 64 KiB";
    if (size > 1 * MiB) return "is " + std::to_string(size) + " bytes; a firmware image is at most 1 MiB";
    if (size % (64 * KiB)) return "is " + std::to_string(size) + " bytes, not a multiple of 64 KiB";
    return "";
}

std::unique_ptr<CharBackend> Machine::make_backend(const CharDevSpec& spec, const char* what) {
    switch (spec.kind) {
    case CharDevSpec::Kind::kStdio:
        return std::make_unique<FileBackend>(stdout, false);
    case CharDevSpec::Kind::kFile: {
        FILE* f = fopen(spec.path.c_str(), "wb");
        if (!f) throw MachineError(std::string("cannot open ") + what + " file '" + spec.path + "'");
        return std::make_unique<FileBackend>(f, true);
    }
    default:
        return std::make_unique<NullBackend>();
    }
}

Machine::Machine(const MachineConfig& config, std::vector<uint8_t> firmware, VirtualClock::Mode clock_mode)
    : config_(config),
      clock_(clock_mode),
      memory_(config.ram_size, &log_),
      io_(&log_),
      ctx_{io_, memory_, clock_, log_, *this} {
    log_.set_mask(config.log_mask);
    log_.set_filter(config.log_filter);
    if (!config.log_file.empty() && !log_.open_file(config.log_file))
        throw MachineError("cannot open log file '" + config.log_file + "'");
    std::string problem = check_firmware_size(firmware.size());
    if (!problem.empty()) throw MachineError("firmware image " + problem);
    map_firmware(firmware);
    firmware_crc_ = migration::crc32(firmware.data(), firmware.size());

    cpu_ = std::make_unique<Cpu>(CpuBus{memory_, io_, clock_, log_, *this});
    if (config.one_insn_per_block) cpu_->set_one_insn_per_block(true);
    if (config.accel == MachineConfig::Accel::kJit) {
        jit::JitOptions jo;
        jo.cache_bytes = config.jit_cache_bytes;
        jo.verify = config.jit_verify;
        jo.perfmap = config.jit_perfmap;
        jit_ = std::make_unique<jit::JitEngine>(*cpu_, log_, jo);
        cpu_->set_block_executor(jit_.get());
    }
    serial_backend_ = make_backend(config.serial, "serial");
    debugcon_backend_ = make_backend(config.debugcon, "debugcon");

    pic_ = std::make_unique<Pic8259Pair>(ctx_, IrqLine(cpu_.get(), 0));
    cpu_->set_interrupt_controller(pic_.get());
    pit_ = std::make_unique<Pit8254>(ctx_, IrqLine(pic_.get(), kIrqPit));
    rtc_ = std::make_unique<RtcCmos>(ctx_, IrqLine(pic_.get(), kIrqRtc), config.ram_size);
    uart_ = std::make_unique<Uart16550>(ctx_, kCom1Base, IrqLine(pic_.get(), kIrqCom1), serial_backend_.get());
    kbc_ = std::make_unique<I8042>(ctx_, IrqLine(pic_.get(), kIrqKeyboard), IrqLine(pic_.get(), kIrqMouse));
    port92_ = std::make_unique<Port92>(ctx_);
    post_ = std::make_unique<PostCode>(ctx_);
    debugcon_ = std::make_unique<DebugCon>(ctx_, kDebugConPort, debugcon_backend_.get());
    fpu_error_ = std::make_unique<FpuError>(ctx_, IrqLine(pic_.get(), kIrqFpu));
    cpu_->ferr_line.connect(fpu_error_.get(), 0);
    acpi_pm_ = std::make_unique<AcpiPm>(ctx_, IrqLine(pic_.get(), AcpiPm::kSciIrq));
    devices_ = {pic_.get(),    pit_.get(),  rtc_.get(),      uart_.get(),      kbc_.get(),
                port92_.get(), post_.get(), debugcon_.get(), fpu_error_.get(), acpi_pm_.get()};
    if (config.debug_exit.enabled) {
        debug_exit_ = std::make_unique<DebugExit>(ctx_, config.debug_exit.iobase, config.debug_exit.iosize);
        devices_.push_back(debug_exit_.get());
    }
    reset();
}

Machine::~Machine() = default;

void Machine::map_firmware(const std::vector<uint8_t>& image) {
    // The whole image ends at 4 GiB (where the reset vector is fetched);
    // its last 128 KiB (or all of it) also end at 1 MiB for real mode.
    const uint64_t size = image.size();
    memory_.add_rom(GuestPhys(4 * GiB - size), image.data(), size, "firmware (high)");
    const uint64_t low = size < 128 * KiB ? size : 128 * KiB;
    memory_.add_rom(GuestPhys(1 * MiB - low), image.data() + (size - low), low, "firmware (low)");
}

void Machine::reset() {
    memory_.set_a20(true);
    for (Device* d : devices_) d->reset();
    cpu_->reset();
    if (kernel_boot_) {
        // Validated when it was first loaded: loading the same images into
        // the same RAM again cannot fail.
        load_kernel_image(*kernel_boot_, memory_, cpu_->state());
        cpu_->flush_decoded_blocks();
    }
    reset_requested_ = false;
}

void Machine::load_kernel(KernelBoot boot) {
    auto images = std::make_unique<KernelBoot>(std::move(boot));
    load_kernel_image(*images, memory_, cpu_->state());
    cpu_->flush_decoded_blocks();
    kernel_boot_ = std::move(images);
}

void Machine::cpu_shutdown() {
    if (log_.enabled(kLogCpuReset | kLogGuestErrors | kLogInt)) fprintf(log_.stream(), "triple fault: CPU shutdown\n");
    guest_reset();
}

void Machine::guest_reset() {
    if (!config_.no_reboot) {
        reset();
        return;
    }
    // QEMU's -no-reboot always exits 0. We tell an orderly reboot (the OS
    // announced it through the DSDT's \_TTS, as Linux's reboot path does)
    // from a reset nobody announced: a kernel panic's emergency restart
    // (with panic=N) or a triple fault, which ends with status 1.
    reset_requested_ = false;
    const bool orderly = acpi_pm_->announced_sleep_state() == AcpiPm::kSleepStateS5;
    if (!orderly)
        fprintf(stderr, "nomad86: the guest reset itself without an orderly shutdown (a kernel panic or a triple "
                        "fault); -no-reboot: exiting with status 1\n");
    request_exit(orderly ? 0 : 1);
}

void Machine::request_exit(int status) {
    // The first request wins (a wide debug-exit write split into bytes asks
    // several times; QEMU exits on the first).
    if (exit_requested_) return;
    exit_requested_ = true;
    exit_status_ = status;
    cpu_->request_stop();
}

void Machine::describe(StateVisitor& v) {
    v.begin_section("machine", 1);
    bool a20_enabled = memory_.a20();
    v.field("a20", a20_enabled);
    if (v.loading()) memory_.set_a20(a20_enabled);
    v.end_section();
    clock_.describe(v);  // before the devices: their post_load arms timers in guest time
    cpu_->describe(v);
    for (Device* d : devices_) d->describe(v);
}

namespace {
// Hashes the shape of a state description (sections, versions, field
// names and sizes), not its values: two machines with equal hashes can
// take each other's state.
class SchemaHasher final : public StateVisitor {
public:
    void begin_section(const char* name, uint32_t version) override {
        mix("S");
        mix(name);
        mix(std::to_string(version));
        sections++;
    }
    void end_section() override { mix("E"); }
    void integer(const char* name, void*, size_t size) override {
        mix(name);
        mix(std::to_string(size));
    }
    void bytes(const char* name, void*, size_t size) override {
        mix("B");
        integer(name, nullptr, size);
    }
    bool loading() const override { return false; }
    uint64_t hash = 1469598103934665603ull;  // FNV-1a
    unsigned sections = 0;

private:
    void mix(const std::string& s) {
        for (unsigned char c : s) hash = (hash ^ c) * 1099511628211ull;
        hash = (hash ^ 0xff) * 1099511628211ull;
    }
};
}  // namespace

migration::MachineIdentity Machine::identity() {
    SchemaHasher h;
    describe(h);
    migration::MachineIdentity id;
    id.ram_size = memory_.ram_size();
    id.schema_hash = h.hash;
    id.firmware_crc = firmware_crc_;
    id.summary = std::to_string(memory_.ram_size() / MiB) + " MiB RAM, " + std::to_string(h.sections) +
                 " state sections, devices";
    for (Device* d : devices_) id.summary += std::string(" ") + d->name();
    return id;
}

void Machine::after_migration() {
    for (Device* d : devices_) d->after_migration();
}

void Machine::throttle_after(int64_t ran_ns) {
    if (throttle_percent_ == 0 || ran_ns <= 0) return;
    // Run p% idle: sleep ran * p / (100 - p) of host time (the guest's
    // clock may be manual), serving the front end meanwhile.
    const int64_t idle = std::min<int64_t>(ran_ns, 1'000'000'000) * throttle_percent_ / (100 - throttle_percent_);
    const int64_t until = host_monotonic_ns() + idle;
    for (int64_t left = idle; left > 0; left = until - host_monotonic_ns()) {
        if (input_poller_) {
            input_poller_(left);
        } else {
            timespec ts{time_t(left / 1'000'000'000), long(left % 1'000'000'000)};
            nanosleep(&ts, nullptr);
        }
        if (paused_ || exit_requested_) return;
    }
}

std::vector<uint8_t> Machine::save_device_state() {
    StateWriter w;
    describe(w);
    return w.data();
}

void Machine::load_device_state(const std::vector<uint8_t>& data) {
    StateReader r(data);
    describe(r);
    if (!r.at_end()) throw StateError("state stream: trailing bytes after the last section");
    for (Device* d : devices_) d->post_load();
    cpu_->flush_decoded_blocks();
}

bool Machine::wait_idle() {
    // The CPU is halted: sleep until the next timer or until input arrives.
    const int64_t now = clock_.now_ns();
    int64_t timeout = clock_.next_deadline() == kNoDeadline ? 50'000'000 : clock_.next_deadline() - now;
    if (timeout > 50'000'000) timeout = 50'000'000;
    // Halt polling (as KVM's halt_poll_ns): a deadline closer than a host
    // sleep's own cost is waited for by looping. The UART's next character
    // (11 us) is the common case: sleeping for each one would cost several
    // times its transmission time and slow the guest's console output.
    if (timeout < kHaltPollNs) return false;
    if (input_poller_) {
        input_poller_(timeout);
    } else {
        timespec ts{0, long(timeout)};
        nanosleep(&ts, nullptr);
    }
    return true;
}

void Machine::pause() {
    if (paused_) return;
    paused_ = true;
    clock_.pause();
    cpu_->request_stop();
}

void Machine::resume() {
    if (!paused_ || !held_reason_.empty()) return;
    paused_ = false;
    pause_reason_.clear();
    clock_.resume();
    // A breakpoint at the current instruction must not fire again at once.
    cpu_->resume_from_breakpoint();
}

Cpu::StopReason Machine::step_instruction(bool with_interrupts) {
    cpu_->clear_stop_request();
    cpu_->set_interrupts_masked(!with_interrupts);
    cpu_->resume_from_breakpoint();
    if (with_interrupts) clock_.run_expired();
    Cpu::StopReason why = cpu_->run(1);
    cpu_->set_interrupts_masked(false);
    if (why == Cpu::StopReason::kShutdown) {
        cpu_shutdown();
    }
    return why;
}

uint64_t Machine::slice_insns() const {
    // (A manual clock stands still while the guest runs: nothing to gain.)
    if (clock_.mode() != VirtualClock::Mode::kHost || insns_per_ns_ <= 0) return kSliceInsns;
    // The next deadline or input poll, whichever comes first (a slow
    // engine, the interpreter under a sanitizer, must not leave the
    // terminal unread for tens of milliseconds). Half of what the guest
    // retired in that much time lately, so that a slower stretch (page
    // faults, helpers) still ends in time.
    const int64_t deadline = clock_.next_deadline();
    const int64_t until_ns = deadline == kNoDeadline ? kInputPollNs
                                                     : std::min(deadline - clock_.now_ns(), kInputPollNs);
    const double until = double(until_ns);
    const double insns = until * insns_per_ns_ * 0.5;
    if (insns <= double(kSliceInsns)) return kSliceInsns;
    return insns >= double(kLongestSliceInsns) ? kLongestSliceInsns : uint64_t(insns);
}

bool Machine::run_for(uint64_t max_insns) {
    uint64_t start = cpu_->instructions_retired();
    int64_t last_input_poll = clock_.now_ns();
    while (!exit_requested_) {
        if (reset_requested_) reset();
        if (paused_) return true;  // stopped by the monitor or a debugger
        clock_.run_expired();
        const uint64_t done = cpu_->instructions_retired() - start;
        if (done >= max_insns) return true;
        const uint64_t slice = std::min<uint64_t>(slice_insns(), max_insns - done);
        const int64_t slice_start = host_monotonic_ns();
        const uint64_t retired_before = cpu_->instructions_retired();
        const Cpu::StopReason why = cpu_->run(slice);
        const int64_t ran_ns = host_monotonic_ns() - slice_start;
        if (throttle_percent_) throttle_after(ran_ns);
        // The guest's speed, from slices that ran to their budget (a halt
        // or a stop says nothing about it).
        if (why == Cpu::StopReason::kBudget && ran_ns > 0)
            insns_per_ns_ = double(cpu_->instructions_retired() - retired_before) / double(ran_ns);
        if (why == Cpu::StopReason::kShutdown) {
            cpu_shutdown();
            continue;
        }
        if (reset_requested_ && config_.no_reboot) {
            guest_reset();
            continue;
        }
        if (why == Cpu::StopReason::kDebug) {
            pause();
            if (debug_stop_handler_) debug_stop_handler_();
            continue;
        }
        if (why == Cpu::StopReason::kHalted && wait_idle()) {
            last_input_poll = clock_.now_ns();
        } else if (input_poller_ && clock_.now_ns() - last_input_poll > kInputPollNs) {
            // Keep the terminal responsive while the CPU is busy (or halt-polls).
            input_poller_(0);
            last_input_poll = clock_.now_ns();
        }
    }
    return false;
}

int Machine::run() {
    while (!exit_requested_) {
        if (!paused_) {
            run_for(UINT64_MAX);
        } else if (input_poller_) {
            input_poller_(10'000'000);  // stopped: only the front end runs
        } else {
            resume();  // nobody is there to resume it
        }
    }
    return exit_status_;
}

}  // namespace nomad86
