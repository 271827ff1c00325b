// Placeholder until the monitor lands.
#include "frontend/monitor.h"

#include <stdexcept>

namespace nomad86 {

struct Monitor::Impl {
    std::function<std::string(uint16_t)> gdbserver;
};

Monitor::Monitor(Machine&) : impl_(std::make_unique<Impl>()) {}
Monitor::~Monitor() = default;
std::string Monitor::execute(const std::string& line) { return "unknown command: '" + line + "'\n"; }
void Monitor::set_gdbserver_starter(std::function<std::string(uint16_t)> starter) {
    impl_->gdbserver = std::move(starter);
}

struct MonitorServer::Impl {};
MonitorServer::MonitorServer(boost::asio::io_context&, Monitor&, const MonitorSpec&) {
    throw std::runtime_error("the monitor is not implemented yet");
}
MonitorServer::~MonitorServer() = default;

}  // namespace nomad86
