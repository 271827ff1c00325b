// The GDB stub: one TCP client at a time, everything on the machine loop's
// thread (the front end's poller runs the io_context between guest slices and
// while the machine is paused).
#include "net/gdb_server.h"

#include <array>
#include <deque>
#include <optional>
#include <stdexcept>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>

#include "core/machine.h"
#include "net/debug_memory.h"
#include "net/gdb_packet.h"
#include "net/gdb_target_xml.h"

namespace nomad86 {

using boost::asio::ip::tcp;

namespace {

// QEMU's single-step flags (qemu.sstepbits).
constexpr int kSstepEnable = 1, kSstepNoIrq = 2, kSstepNoTimer = 4;
constexpr const char* kStopTrap = "T05thread:01;";
constexpr const char* kStopInt = "T02thread:01;";

std::string hex_u64(uint64_t v) {
    static const char digits[] = "0123456789abcdef";
    std::string s;
    do {
        s.insert(s.begin(), digits[v & 15]);
        v >>= 4;
    } while (v);
    return s;
}

// "ADDR,LEN" (hex) at the start of `text`; the rest after LEN in *rest.
bool parse_addr_len(std::string_view text, uint64_t* addr, uint64_t* len, std::string_view* rest = nullptr) {
    const size_t comma = text.find(',');
    if (comma == std::string_view::npos) return false;
    size_t end = text.find_first_of(":;", comma + 1);
    if (end == std::string_view::npos) end = text.size();
    if (!gdb::parse_hex_u64(text.substr(0, comma), addr)) return false;
    if (!gdb::parse_hex_u64(text.substr(comma + 1, end - comma - 1), len)) return false;
    if (rest) *rest = end < text.size() ? text.substr(end + 1) : std::string_view{};
    if (!rest && end != text.size()) return false;
    return true;
}

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

}  // namespace

struct GdbServerState : std::enable_shared_from_this<GdbServerState> {
    GdbServerState(boost::asio::io_context& io_, Machine& machine_, std::function<std::string(const std::string&)> mon)
        : io(io_), machine(machine_), monitor(std::move(mon)), acceptor(io_) {}

    boost::asio::io_context& io;
    Machine& machine;
    std::function<std::string(const std::string&)> monitor;
    tcp::acceptor acceptor;
    uint16_t port = 0;
    bool closed = false;

    // The client.
    std::optional<tcp::socket> sock;
    uint64_t generation = 0;
    gdb::PacketDecoder decoder;
    std::array<char, 4096> rbuf{};
    std::deque<std::string> outq;
    bool writing = false;
    std::string last_packet;
    bool closing = false;  // detached: close once the queued replies are written
    bool running = false;  // a continue is outstanding: a stop reply is owed
    std::string last_stop = kStopTrap;
    bool phys_mode = false;
    int sstep = kSstepEnable | kSstepNoIrq | kSstepNoTimer;

    void listen(const std::string& host, uint16_t want_port) {
        const std::string where = (host.empty() ? std::string("*") : host) + ":" + std::to_string(want_port);
        boost::system::error_code ec;
        tcp::endpoint ep;
        if (host.empty()) {
            ep = tcp::endpoint(tcp::v4(), want_port);
        } else {
            auto addr = boost::asio::ip::make_address(host, ec);
            if (ec) {
                tcp::resolver resolver(io);
                auto results = resolver.resolve(host, std::to_string(want_port), ec);
                if (ec || results.empty())
                    throw std::runtime_error("cannot resolve '" + host + "': " + ec.message());
                ep = results.begin()->endpoint();
            } else {
                ep = tcp::endpoint(addr, want_port);
            }
        }
        acceptor.open(ep.protocol(), ec);
        if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
        if (!ec) acceptor.bind(ep, ec);
        if (!ec) acceptor.listen(1, ec);
        if (ec) throw std::runtime_error("cannot listen on " + where + ": " + ec.message());
        port = acceptor.local_endpoint(ec).port();
    }

    void start_accept() {
        auto self = shared_from_this();
        acceptor.async_accept([self](const boost::system::error_code& ec, tcp::socket s) {
            if (self->closed) return;
            if (!ec) {
                if (self->sock) {
                    boost::system::error_code ignore;
                    s.close(ignore);  // one client at a time
                } else {
                    self->attach(std::move(s));
                }
            }
            self->start_accept();
        });
    }

    void attach(tcp::socket s) {
        boost::system::error_code ignore;
        s.set_option(tcp::no_delay(true), ignore);
        sock.emplace(std::move(s));
        generation++;
        decoder.reset();
        outq.clear();
        writing = false;
        last_packet.clear();
        running = false;
        last_stop = kStopTrap;
        phys_mode = false;
        sstep = kSstepEnable | kSstepNoIrq | kSstepNoTimer;
        // As QEMU: a debugger that attaches finds the machine stopped.
        machine.pause();
        start_read();
    }

    // The client went away (detach, kill, EOF, error): drop its breakpoints
    // and watchpoints and let the guest run, as QEMU does.
    void detach(bool resume_machine = true) {
        if (!sock) return;
        release_machine(resume_machine);
        close_socket();
    }

    // Detach after the queued replies are out (D: gdb waits for its OK).
    // The guest resumes only then: resumed at once, it could finish and end
    // the process before the OK left, and gdb would see the connection
    // drop instead of a clean detach.
    void detach_after_flush() {
        if (!sock) return;
        closing = true;
        if (!writing) detach();
    }

    void release_machine(bool resume_machine) {
        running = false;
        machine.cpu().debug.clear();
        machine.cpu().debug_points_changed();
        if (resume_machine) machine.resume();
    }

    void close_socket() {
        if (!sock) return;
        boost::system::error_code ignore;
        sock->shutdown(tcp::socket::shutdown_both, ignore);
        sock->close(ignore);
        sock.reset();
        generation++;
        decoder.reset();
        outq.clear();
        writing = false;
        closing = false;
    }

    void start_read() {
        auto self = shared_from_this();
        const uint64_t gen = generation;
        sock->async_read_some(boost::asio::buffer(rbuf),
                              [self, gen](const boost::system::error_code& ec, size_t n) {
                                  if (self->closed || gen != self->generation || !self->sock) return;
                                  if (ec) {
                                      self->detach();
                                      return;
                                  }
                                  self->on_bytes(std::string_view(self->rbuf.data(), n));
                                  if (gen == self->generation && self->sock) self->start_read();
                              });
    }

    void send_raw(std::string bytes) {
        if (!sock) return;
        outq.push_back(std::move(bytes));
        if (!writing) write_next();
    }

    void send_packet(std::string_view payload) {
        last_packet = gdb::frame(payload);
        send_raw(last_packet);
    }

    void write_next() {
        if (outq.empty() || !sock) {
            writing = false;
            if (closing) detach();
            return;
        }
        writing = true;
        auto self = shared_from_this();
        const uint64_t gen = generation;
        boost::asio::async_write(*sock, boost::asio::buffer(outq.front()),
                                 [self, gen](const boost::system::error_code& ec, size_t) {
                                     if (self->closed || gen != self->generation || !self->sock) return;
                                     self->outq.pop_front();
                                     if (ec) {
                                         self->detach();
                                         return;
                                     }
                                     self->write_next();
                                 });
    }

    void on_bytes(std::string_view bytes) {
        std::vector<gdb::PacketEvent> events;
        decoder.feed(bytes, &events);
        const uint64_t gen = generation;
        for (gdb::PacketEvent& ev : events) {
            if (gen != generation || !sock || closing) return;  // detached by an earlier packet
            switch (ev.kind) {
            case gdb::PacketEvent::Kind::kAck: break;
            case gdb::PacketEvent::Kind::kNack:
                if (!last_packet.empty()) send_raw(last_packet);
                break;
            case gdb::PacketEvent::Kind::kBadChecksum: send_raw("-"); break;
            case gdb::PacketEvent::Kind::kMalformed:
                send_raw("+");
                send_packet("E22");
                break;
            case gdb::PacketEvent::Kind::kOversized:
                send_raw("+");
                send_packet("E01");
                break;
            case gdb::PacketEvent::Kind::kInterrupt:
                if (running) {
                    machine.pause();
                    running = false;
                    last_stop = kStopInt;
                    send_packet(last_stop);
                } else if (!machine.paused()) {
                    machine.pause();
                    last_stop = kStopInt;
                    send_packet(last_stop);
                }
                break;
            case gdb::PacketEvent::Kind::kPacket:
                send_raw("+");
                handle(ev.payload);
                break;
            }
        }
    }

    // The machine stopped on a breakpoint or watchpoint.
    void on_debug_stop() {
        if (!sock || !running) return;
        running = false;
        last_stop = stop_reply_for_debug();
        send_packet(last_stop);
    }

    std::string stop_reply_for_debug() {
        const DebugStop& d = machine.cpu().last_debug_stop();
        if (d.kind == DebugStop::Kind::kWatchpoint) {
            const char* what = d.watch == WatchKind::kWrite ? "watch" : d.watch == WatchKind::kRead ? "rwatch" : "awatch";
            return std::string("T05") + what + ":" + hex_u64(d.address) + ";thread:01;";
        }
        return kStopTrap;
    }

    gdb::GdbArch arch() const { return gdb::arch_for(machine.cpu().s); }

    void do_continue() {
        running = true;
        machine.resume();
    }

    void do_step() {
        machine.pause();
        if (!(sstep & kSstepEnable)) {
            do_continue();
            return;
        }
        const bool with_irq = !(sstep & (kSstepNoIrq | kSstepNoTimer));
        const Cpu::StopReason why = machine.step_instruction(with_irq);
        if (machine.exit_requested()) {
            send_packet("W00");
            return;
        }
        last_stop = why == Cpu::StopReason::kDebug ? stop_reply_for_debug() : kStopTrap;
        send_packet(last_stop);
    }

    // Sets the PC from a `c ADDR` / `s ADDR` argument.
    bool set_pc_arg(std::string_view arg) {
        if (arg.empty()) return true;
        uint64_t pc;
        if (!gdb::parse_hex_u64(arg, &pc)) return false;
        machine.cpu().s.rip = pc;
        machine.cpu().flush_decoded_blocks();
        return true;
    }

    std::string read_all_registers() {
        const gdb::GdbArch a = arch();
        std::string raw;
        for (int i = 0; i < gdb::register_count(a); i++) raw += gdb::read_register(machine.cpu().s, a, i);
        return gdb::to_hex(raw);
    }

    std::string write_all_registers(std::string_view hex) {
        std::vector<uint8_t> bytes;
        if (!gdb::from_hex(hex, &bytes)) return "E22";
        const gdb::GdbArch a = arch();
        size_t off = 0;
        for (int i = 0; i < gdb::register_count(a) && off < bytes.size(); i++) {
            const size_t n = gdb::register_size(a, i);
            if (off + n > bytes.size()) break;  // a short G writes the registers it covers
            gdb::write_register(machine.cpu().s, a, i, bytes.data() + off, n);
            off += n;
        }
        machine.cpu().flush_decoded_blocks();
        return "OK";
    }

    std::string breakpoint(bool insert, std::string_view args) {
        // type,addr,kind
        if (args.size() < 2 || args[1] != ',') return "E22";
        const char type = args[0];
        uint64_t addr, len;
        if (!parse_addr_len(args.substr(2), &addr, &len)) {
            // "addr,kind;cond..." forms: accept a trailing condition list.
            std::string_view rest;
            if (!parse_addr_len(args.substr(2), &addr, &len, &rest)) return "E22";
        }
        DebugPoints& dp = machine.cpu().debug;
        bool ok = true;
        switch (type) {
        case '0':
        case '1':
            if (insert) dp.add_breakpoint(addr);
            else dp.remove_breakpoint(addr);
            break;
        case '2':
        case '3':
        case '4': {
            if (len == 0 || len > 8) return "E22";
            const WatchKind kind = type == '2' ? WatchKind::kWrite : type == '3' ? WatchKind::kRead : WatchKind::kAccess;
            if (insert) dp.add_watchpoint(addr, len, kind);
            else ok = dp.remove_watchpoint(addr, len, kind);
            break;
        }
        default: return "";  // unsupported type
        }
        machine.cpu().debug_points_changed();
        return ok ? "OK" : "E22";
    }

    std::string read_memory(std::string_view args) {
        uint64_t addr, len;
        if (!parse_addr_len(args, &addr, &len)) return "E22";
        if (len > gdb::kMaxPacketSize / 2) len = gdb::kMaxPacketSize / 2;
        std::vector<uint8_t> buf(len);
        if (!debug_read(machine, addr, buf.data(), buf.size(), phys_mode)) return "E14";
        return gdb::to_hex(buf.data(), buf.size());
    }

    std::string write_memory(std::string_view args, bool binary) {
        uint64_t addr, len;
        std::string_view data;
        if (!parse_addr_len(args, &addr, &len, &data)) return "E22";
        std::vector<uint8_t> bytes;
        if (binary) {
            bytes.assign(data.begin(), data.end());
        } else if (!gdb::from_hex(data, &bytes)) {
            return "E22";
        }
        if (bytes.size() != len) return "E22";
        if (!debug_write(machine, addr, bytes.data(), bytes.size(), phys_mode)) return "E14";
        return "OK";
    }

    std::string xfer_features(std::string_view args) {
        // ANNEX:OFFSET,LENGTH
        const size_t colon = args.find(':');
        if (colon == std::string_view::npos) return "E22";
        uint64_t off, len;
        if (!parse_addr_len(args.substr(colon + 1), &off, &len)) return "E22";
        const std::string_view xml = gdb::target_xml(arch(), args.substr(0, colon));
        if (xml.empty()) return "E00";
        if (off >= xml.size()) return "l";
        if (len > gdb::kMaxPacketSize / 2) len = gdb::kMaxPacketSize / 2;
        const std::string_view chunk = xml.substr(off, len);
        return (off + chunk.size() >= xml.size() ? "l" : "m") + gdb::escape_binary(chunk);
    }

    std::string monitor_command(std::string_view hex) {
        std::vector<uint8_t> bytes;
        if (!gdb::from_hex(hex, &bytes)) return "E22";
        if (!monitor) return "";
        std::string out;
        try {
            out = monitor(std::string(bytes.begin(), bytes.end()));
        } catch (const std::exception& e) {
            out = std::string(e.what()) + "\n";
        }
        constexpr size_t kChunk = (gdb::kMaxPacketSize - 8) / 2;
        for (size_t i = 0; i < out.size(); i += kChunk)
            send_packet("O" + gdb::to_hex(std::string_view(out).substr(i, kChunk)));
        return "OK";
    }

    std::string vcont(std::string_view args) {
        // vCont;ACTION[:thread][;ACTION...]: the first action applies (one thread).
        if (args.empty() || args[0] != ';' || args.size() < 2) return "E22";
        const char action = args[1];
        if (action == 'c' || action == 'C') {
            do_continue();
            return {};
        }
        if (action == 's' || action == 'S') {
            do_step();
            return {};
        }
        return "E22";
    }

    void handle(const std::string& p) {
        if (p.empty()) {
            send_packet("");
            return;
        }
        std::optional<std::string> reply = dispatch(p);
        if (reply && sock) send_packet(*reply);
    }

    // The reply to one packet; nullopt when there is none now (c, s replied
    // already, k, D handled by hand).
    std::optional<std::string> dispatch(const std::string& p) {
        const std::string_view sv(p);
        const std::string_view args = sv.substr(1);
        switch (p[0]) {
        case '?': return last_stop;
        case 'g': return read_all_registers();
        case 'G': return write_all_registers(args);
        case 'p': {
            uint64_t n;
            if (!gdb::parse_hex_u64(args, &n) || n >= uint64_t(gdb::register_count(arch()))) return "E22";
            return gdb::to_hex(gdb::read_register(machine.cpu().s, arch(), int(n)));
        }
        case 'P': {
            const size_t eq = args.find('=');
            uint64_t n;
            std::vector<uint8_t> bytes;
            if (eq == std::string_view::npos || !gdb::parse_hex_u64(args.substr(0, eq), &n) ||
                !gdb::from_hex(args.substr(eq + 1), &bytes) || n >= uint64_t(gdb::register_count(arch())))
                return "E22";
            if (!gdb::write_register(machine.cpu().s, arch(), int(n), bytes.data(), bytes.size())) return "E22";
            machine.cpu().flush_decoded_blocks();
            return "OK";
        }
        case 'm': return read_memory(args);
        case 'M': return write_memory(args, false);
        case 'X': return write_memory(args, true);
        case 'c':
        case 'C': {
            // C sig[;addr]
            std::string_view a = args;
            if (p[0] == 'C') {
                const size_t semi = a.find(';');
                a = semi == std::string_view::npos ? std::string_view{} : a.substr(semi + 1);
            }
            if (!set_pc_arg(a)) return "E22";
            do_continue();
            return std::nullopt;
        }
        case 's':
        case 'S': {
            std::string_view a = args;
            if (p[0] == 'S') {
                const size_t semi = a.find(';');
                a = semi == std::string_view::npos ? std::string_view{} : a.substr(semi + 1);
            }
            if (!set_pc_arg(a)) return "E22";
            do_step();
            return std::nullopt;
        }
        case 'Z': return breakpoint(true, args);
        case 'z': return breakpoint(false, args);
        case 'H': return "OK";
        case 'T': return "OK";
        case 'D':
            send_packet("OK");
            detach_after_flush();
            return std::nullopt;
        case 'k':
            detach(false);  // no reply: the machine ends
            machine.request_exit(0);
            return std::nullopt;
        case 'v':
            if (sv == "vCont?") return "vCont;c;C;s;S";
            if (starts_with(sv, "vCont")) {
                std::string r = vcont(sv.substr(5));
                if (r.empty()) return std::nullopt;
                return r;
            }
            if (starts_with(sv, "vKill")) {
                send_packet("OK");
                closing = true;
                release_machine(false);
                if (!writing) close_socket();
                machine.request_exit(0);
                return std::nullopt;
            }
            return "";
        case 'q':
            if (starts_with(sv, "qSupported")) return "PacketSize=" + hex_u64(gdb::kMaxPacketSize) + ";qXfer:features:read+;vContSupported+";
            if (starts_with(sv, "qXfer:features:read:")) return xfer_features(sv.substr(20));
            if (sv == "qC") return "QC1";
            if (sv == "qfThreadInfo") return "m1";
            if (sv == "qsThreadInfo") return "l";
            if (starts_with(sv, "qAttached")) return "1";
            if (starts_with(sv, "qSymbol")) return "OK";
            if (starts_with(sv, "qRcmd,")) return monitor_command(sv.substr(6));
            if (sv == "qqemu.Supported") return "sstepbits;sstep;PhyMemMode";
            if (sv == "qqemu.sstepbits")
                return "ENABLE=" + hex_u64(kSstepEnable) + ",NOIRQ=" + hex_u64(kSstepNoIrq) + ",NOTIMER=" + hex_u64(kSstepNoTimer);
            if (sv == "qqemu.sstep") return "0x" + hex_u64(uint64_t(sstep));
            if (sv == "qqemu.PhyMemMode") return phys_mode ? "1" : "0";
            return "";
        case 'Q':
            if (starts_with(sv, "Qqemu.sstep=")) {
                std::string_view v = sv.substr(12);
                if (starts_with(v, "0x")) v = v.substr(2);
                uint64_t n;
                if (!gdb::parse_hex_u64(v, &n) || n > 7) return "E22";
                sstep = int(n);
                return "OK";
            }
            if (starts_with(sv, "Qqemu.PhyMemMode:")) {
                const std::string_view v = sv.substr(17);
                if (v != "0" && v != "1") return "E22";
                phys_mode = v == "1";
                return "OK";
            }
            return "";
        default: return "";
        }
    }

    void shutdown() {
        closed = true;
        boost::system::error_code ignore;
        acceptor.close(ignore);
        detach();
    }
};

struct GdbServer::Impl {
    std::shared_ptr<GdbServerState> state;
    Machine* machine = nullptr;
};

GdbServer::GdbServer(boost::asio::io_context& io, Machine& machine, const std::string& host, uint16_t port,
                     std::function<std::string(const std::string&)> monitor)
    : impl_(std::make_unique<Impl>()) {
    impl_->machine = &machine;
    impl_->state = std::make_shared<GdbServerState>(io, machine, std::move(monitor));
    impl_->state->listen(host, port);
    impl_->state->start_accept();
    std::weak_ptr<GdbServerState> weak = impl_->state;
    machine.set_debug_stop_handler([weak] {
        if (auto s = weak.lock()) s->on_debug_stop();
    });
}

GdbServer::~GdbServer() {
    if (!impl_) return;
    impl_->machine->set_debug_stop_handler(nullptr);
    impl_->state->shutdown();
}

uint16_t GdbServer::port() const { return impl_ ? impl_->state->port : 0; }

}  // namespace nomad86
