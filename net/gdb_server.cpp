// Placeholder until the protocol lands: refuses to start.
#include "net/gdb_server.h"

#include <stdexcept>

namespace nomad86 {

struct GdbServer::Impl {
    uint16_t port = 0;
};

GdbServer::GdbServer(boost::asio::io_context&, Machine&, const std::string&, uint16_t,
                     std::function<std::string(const std::string&)>) {
    throw std::runtime_error("the GDB stub is not implemented yet");
}

GdbServer::~GdbServer() = default;

uint16_t GdbServer::port() const { return impl_ ? impl_->port : 0; }

}  // namespace nomad86
