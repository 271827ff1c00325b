// The PC: it owns the CPU, the memory map, the buses, the clock and every
// device, wires IRQ lines, and runs the main loop. Nothing here is global,
// so two machines can live in one process (the migration tests need that).
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/char_backend.h"
#include "core/clock.h"
#include "core/device.h"
#include "core/kernel_image.h"
#include "core/log.h"
#include "core/migration_stream.h"
#include "core/machine_config.h"
#include "core/machine_control.h"
#include "cpu/cpu.h"
#include "jit/jit_engine.h"
#include "mmu/io_bus.h"
#include "mmu/phys_memory.h"

namespace nomad86 {

class Pic8259Pair;
class Pit8254;
class RtcCmos;
class Uart16550;
class I8042;
class Port92;
class PostCode;
class DebugCon;
class DebugExit;
class FpuError;
class AcpiPm;

// A configuration the machine cannot be built from (missing firmware, ...).
// The message is meant for the user, one line.
struct MachineError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

class Machine final : public MachineControl {
public:
    // Builds the machine. `firmware` is the ROM image to map (the -bios file
    // or the project's own ROM). Throws MachineError on bad input.
    Machine(const MachineConfig& config, std::vector<uint8_t> firmware,
            VirtualClock::Mode clock_mode = VirtualClock::Mode::kHost);
    ~Machine() override;
    Machine(const Machine&) = delete;
    Machine& operator=(const Machine&) = delete;

    // Checks a firmware image's size: 64 KiB to 1 MiB, a multiple of 64 KiB.
    // Returns an empty string when it is fine, else the problem.
    static std::string check_firmware_size(size_t size);

    // Runs until the guest or the user ends it; returns the exit status.
    int run();
    // Runs at most `max_insns` guest instructions (tests, benchmarks), less
    // if the machine pauses; returns false once the machine wants to exit.
    bool run_for(uint64_t max_insns);

    // MachineControl
    void request_reset() override { reset_requested_ = true; cpu_->request_stop(); }
    void request_exit(int status) override;
    // (The TLB holds identity translations for the JIT while paging is
    // off, made with the A20 mask of their time.)
    void set_a20(bool enabled) override {
        if (enabled != memory_.a20()) cpu_->tlb().flush_all();
        memory_.set_a20(enabled);
    }
    bool a20() const override { return memory_.a20(); }

    bool exit_requested() const { return exit_requested_; }

    // ---- run control (monitor stop/cont/step, the GDB stub, -S) ----
    // A paused machine runs no guest code and its guest clock stands still;
    // the loop keeps serving the front end's poller (monitor, gdb, terminal).
    void pause();
    // Does nothing while the machine is held (see hold_paused).
    void resume();
    // Keeps the machine paused whatever asks it to run (a migration
    // destination before its state arrived); `why` is what `cont` says.
    void hold_paused(std::string why) { held_reason_ = std::move(why); }
    void release_hold() { held_reason_.clear(); }
    const std::string& held_reason() const { return held_reason_; }
    // Why a paused machine is paused, in QEMU's run-state words
    // ("inmigrate", "postmigrate"); empty: stopped by the user or a debugger.
    void set_pause_reason(std::string reason) { pause_reason_ = std::move(reason); }
    const std::string& pause_reason() const { return pause_reason_; }
    bool paused() const { return paused_; }
    // Executes one guest instruction (or delivers one exception) while
    // paused. Interrupts and timers are held off unless asked for, as with
    // QEMU's default single-step flags. Returns why the CPU stopped.
    Cpu::StopReason step_instruction(bool with_interrupts = false);
    // Called when a breakpoint or watchpoint pauses the machine.
    void set_debug_stop_handler(std::function<void()> handler) { debug_stop_handler_ = std::move(handler); }
    int exit_status() const { return exit_status_; }

    // The front end's hook for waiting: called when the CPU is idle (or
    // between slices, with timeout 0) to collect input for up to timeout_ns.
    void set_input_poller(std::function<void(int64_t timeout_ns)> poller) { input_poller_ = std::move(poller); }

    Cpu& cpu() { return *cpu_; }
    // The JIT, or nullptr with -accel interp.
    jit::JitEngine* jit() { return jit_.get(); }
    PhysicalMemory& memory() { return memory_; }
    IoBus& io() { return io_; }
    VirtualClock& clock() { return clock_; }
    Logger& log() { return log_; }
    CharBackend* serial_backend() { return serial_backend_.get(); }
    Pic8259Pair& pic() { return *pic_; }
    PostCode& post_code() { return *post_; }
    AcpiPm& acpi_pm() { return *acpi_pm_; }

    // Direct kernel boot (-kernel): loads a Linux bzImage or a Multiboot
    // kernel with its initrd/modules and command line, and puts the CPU at
    // its entry. The images are kept: every system reset loads them again
    // and re-enters the kernel, as QEMU's direct boot does. Throws
    // MachineError (one line) on an image that cannot be booted.
    void load_kernel(KernelBoot boot);
    bool has_kernel() const { return kernel_boot_ != nullptr; }

    // System reset: CPU and devices to their reset state, RAM kept (with
    // -kernel, the kernel is loaded again and the CPU starts at its entry).
    void reset();
    // Every component's state, in a fixed order (snapshots, migration).
    void describe(StateVisitor& v);
    // The CPU's and devices' state (not RAM) as a stream, and back. Loading
    // throws StateError on a corrupt or foreign stream; on success every
    // device re-derives its timers and IRQ levels (post_load).
    std::vector<uint8_t> save_device_state();
    void load_device_state(const std::vector<uint8_t>& data);
    // What a migration destination checks before it accepts this machine.
    migration::MachineIdentity identity();
    // Activation on a migration destination: every device's hook.
    void after_migration();
    // Auto-converge: the CPU runs only (100 - percent)% of the wall time.
    void set_cpu_throttle(int percent) { throttle_percent_ = percent < 0 ? 0 : percent > 99 ? 99 : percent; }
    int cpu_throttle() const { return throttle_percent_; }

private:
    static std::unique_ptr<CharBackend> make_backend(const CharDevSpec& spec, const char* what);
    void map_firmware(const std::vector<uint8_t>& image);
    // Sleeps until the next timer or input; false when the deadline was too
    // close to sleep for (the caller loops instead).
    bool wait_idle();
    static constexpr int64_t kHaltPollNs = 30'000;
    // Guest instructions to run before the next look at timers and input:
    // as many as reach about halfway to the next deadline or input poll at
    // the guest's recent speed, within limits (kSliceInsns in machine.cpp).
    uint64_t slice_insns() const;
    // Auto-converge: after a slice that ran `ran_ns`, idle for the throttle's share.
    void throttle_after(int64_t ran_ns);
    // A reset the guest caused (triple fault, reset request): resets, or
    // with -no-reboot ends the run (see the definition for the status).
    void guest_reset();
    // The CPU entered shutdown (a triple fault): logged, then guest_reset().
    void cpu_shutdown();

    MachineConfig config_;
    Logger log_;
    VirtualClock clock_;
    PhysicalMemory memory_;
    IoBus io_;
    DeviceContext ctx_;
    std::unique_ptr<Cpu> cpu_;
    std::unique_ptr<jit::JitEngine> jit_;  // after cpu_: destroyed first
    std::unique_ptr<CharBackend> serial_backend_;
    std::unique_ptr<CharBackend> debugcon_backend_;
    std::unique_ptr<Pic8259Pair> pic_;
    std::unique_ptr<Pit8254> pit_;
    std::unique_ptr<RtcCmos> rtc_;
    std::unique_ptr<Uart16550> uart_;
    std::unique_ptr<I8042> kbc_;
    std::unique_ptr<Port92> port92_;
    std::unique_ptr<PostCode> post_;
    std::unique_ptr<DebugCon> debugcon_;
    std::unique_ptr<DebugExit> debug_exit_;
    std::unique_ptr<FpuError> fpu_error_;
    std::unique_ptr<AcpiPm> acpi_pm_;
    std::vector<Device*> devices_;
    std::unique_ptr<KernelBoot> kernel_boot_;  // -kernel: re-entered on reset
    std::function<void(int64_t)> input_poller_;
    std::function<void()> debug_stop_handler_;
    uint32_t firmware_crc_ = 0;
    int throttle_percent_ = 0;
    double insns_per_ns_ = 0;  // guest instructions per host ns, the last full slice's
    std::string held_reason_;
    std::string pause_reason_;
    bool paused_ = false;
    bool reset_requested_ = false;
    bool exit_requested_ = false;
    int exit_status_ = 0;
};

}  // namespace nomad86
