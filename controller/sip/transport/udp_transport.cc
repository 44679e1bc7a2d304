#include "controller/sip/transport/udp_transport.h"

#include <sys/socket.h>

#include <string>
#include <utility>

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>

#include "common/base/text.h"
#include "common/log/log.h"
#include "controller/sip/transport/asio_endpoint.h"

namespace portcullis::sip {
namespace {

namespace asio = boost::asio;
using asio::ip::udp;

// RFC 3261 §18.1.1 leaves the datagram size to the network; UDP carries at most 65535 bytes.
constexpr std::size_t kMaxDatagram = 65535;

bool only_crlf(std::string_view s) {
  for (const char c : s) {
    if (c != '\r' && c != '\n') {
      return false;
    }
  }
  return true;
}

}  // namespace

class UdpTransport::Impl : public std::enable_shared_from_this<Impl> {
 public:
  Impl(asio::any_io_executor executor, asio::any_io_executor owner, UdpConfig config)
      : strand_(owner ? std::move(owner) : asio::any_io_executor(asio::make_strand(executor))),
        config_(std::move(config)),
        logger_(log::get("sip.transport")) {}

  Status start();
  void receive(std::size_t index);
  void on_datagram(std::size_t index, std::size_t n);
  void do_send(OutboundMessage message, SendCompletion done);
  void complete(SendCompletion& done, Status status);
  void do_stop();

  struct Socket {
    explicit Socket(const asio::any_io_executor& ex) : socket(ex) {}
    udp::socket socket;
    net::Endpoint local;
    ConnectionId id = kNoConnection;
    std::string buffer;
    udp::endpoint sender;
  };

  asio::any_io_executor strand_;  // a strand (ours, or the caller's owner executor)
  UdpConfig config_;
  std::shared_ptr<spdlog::logger> logger_;
  TransportStats stats_;
  TransportCallbacks callbacks_;
  std::vector<std::unique_ptr<Socket>> sockets_;
  std::vector<net::Endpoint> locals_;
  std::size_t pending_sends_ = 0;
  bool stopped_ = false;
};

Status UdpTransport::Impl::start() {
  if (config_.listen.empty()) {
    return unexpected(invalid_argument("UDP transport needs at least one listen address"));
  }
  std::uint64_t next_id = 1;
  for (const net::Endpoint& listen : config_.listen) {
    auto s = std::make_unique<Socket>(strand_);
    const auto endpoint = to_asio_endpoint<udp::endpoint>(listen);
    boost::system::error_code ec;
    s->socket.open(endpoint.protocol(), ec);
    if (!ec && endpoint.address().is_v6()) {
      s->socket.set_option(asio::ip::v6_only(true), ec);
    }
    if (!ec && config_.reuse_port) {
      s->socket.set_option(asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>(true),
                           ec);
    }
    if (!ec) {
      s->socket.bind(endpoint, ec);
    }
    if (ec) {
      return unexpected(unavailable("UDP bind " + listen.to_string() + ": " + ec.message()));
    }
    if (!ec) {
      s->socket.non_blocking(true, ec);  // for the synchronous send attempt in do_send()
    }
    s->local = from_asio_endpoint(s->socket.local_endpoint(ec));
    s->id = ConnectionId{next_id++};
    s->buffer.resize(kMaxDatagram);
    locals_.push_back(s->local);
    sockets_.push_back(std::move(s));
  }
  for (std::size_t i = 0; i < sockets_.size(); ++i) {
    asio::post(strand_, [self = shared_from_this(), i] { self->receive(i); });
  }
  return {};
}

void UdpTransport::Impl::receive(std::size_t index) {
  if (stopped_) {
    return;
  }
  Socket& s = *sockets_[index];
  s.socket.async_receive_from(
      asio::buffer(s.buffer), s.sender,
      asio::bind_executor(strand_, [self = shared_from_this(), index](
                                       const boost::system::error_code& ec, std::size_t n) {
        if (ec == asio::error::operation_aborted || self->stopped_) {
          return;
        }
        if (ec) {
          // E.g. ECONNREFUSED from an ICMP error of an earlier send: not fatal for the socket.
          self->logger_->debug("UDP receive error: {}", ec.message());
        } else {
          self->on_datagram(index, n);
        }
        self->receive(index);
      }));
}

void UdpTransport::Impl::on_datagram(std::size_t index, std::size_t n) {
  Socket& s = *sockets_[index];
  const std::string_view datagram(s.buffer.data(), n);
  const net::Endpoint source = from_asio_endpoint(s.sender);
  if (n == 0 || only_crlf(datagram)) {
    // CRLF keep-alives some UAs send over UDP (RFC 5626 §4.4.2 specifies STUN instead).
    stats_.add(stats_.keepalive_pings);
    return;
  }
  if (n > config_.parse_limits.max_message_bytes) {
    stats_.add(stats_.oversize_dropped);
    logger_->debug("UDP datagram of {} bytes from {} dropped: over the limit", n,
                   source.to_string());
    return;
  }
  auto parsed = SipMessage::parse(std::string(datagram),
                                  ParseOptions{Framing::kDatagram, config_.parse_limits});
  if (!parsed) {
    stats_.add(stats_.parse_errors);
    logger_->debug("UDP message from {} rejected: {} ({})", source.to_string(),
                   parsed.error().reason, log_excerpt(datagram));
    if (callbacks_.on_rejected) {
      callbacks_.on_rejected(RejectedMessage{parsed.error(), std::string(datagram), source,
                                             s.local, TransportKind::kUdp, s.id});
    }
    return;
  }
  stats_.add(stats_.messages_received);
  if (callbacks_.on_message) {
    callbacks_.on_message(ReceivedMessage{std::move(parsed).value(), source, s.local,
                                          TransportKind::kUdp, s.id});
  }
}

void UdpTransport::Impl::complete(SendCompletion& done, Status status) {
  if (!status) {
    stats_.add(stats_.send_failures);
  }
  if (done) {
    done(std::move(status));
  }
}

void UdpTransport::Impl::do_send(OutboundMessage message, SendCompletion done) {
  if (stopped_) {
    return complete(done, unexpected(unavailable("UDP transport stopped")));
  }
  if (message.kind != TransportKind::kUdp) {
    return complete(done, unexpected(invalid_argument("not a UDP message")));
  }
  if (message.bytes.size() > config_.parse_limits.max_message_bytes ||
      message.bytes.size() > kMaxDatagram) {
    stats_.add(stats_.oversize_dropped);
    return complete(done, unexpected(invalid_argument("message too large for UDP")));
  }
  // RFC 3261 §18.2.2: prefer the socket the request arrived on; else one of the right family.
  Socket* chosen = nullptr;
  for (const auto& s : sockets_) {
    if (message.connection != kNoConnection && s->id == message.connection) {
      chosen = s.get();
      break;
    }
    if (chosen == nullptr && s->local.address().family() == message.destination.address().family()) {
      chosen = s.get();
    }
  }
  if (chosen == nullptr) {
    return complete(done, unexpected(invalid_argument("no UDP socket for " +
                                                      message.destination.to_string())));
  }
  if (pending_sends_ >= config_.max_pending_sends) {
    return complete(done, unexpected(resource_exhausted("UDP send queue full")));
  }
  const auto destination = to_asio_endpoint<udp::endpoint>(message.destination);
  // Fast path: a datagram either fits in the socket buffer now or not at all, so try the send
  // right here (non-blocking socket); only a full buffer (EAGAIN) waits for writability. Saves
  // a queued completion and a reactor round per message, which is most of a REGISTER's cost
  // besides the system calls themselves. Not while earlier datagrams wait: no overtaking.
  if (pending_sends_ == 0) {
    boost::system::error_code send_error;
    chosen->socket.send_to(asio::buffer(message.bytes), destination, 0, send_error);
    if (!send_error) {
      stats_.add(stats_.messages_sent);
      return complete(done, {});
    }
    if (send_error != asio::error::would_block && send_error != asio::error::try_again) {
      return complete(done, unexpected(unavailable("UDP send: " + send_error.message())));
    }
  }
  ++pending_sends_;
  auto bytes = std::make_shared<std::string>(std::move(message.bytes));
  chosen->socket.async_send_to(
      asio::buffer(*bytes), destination,
      asio::bind_executor(strand_, [self = shared_from_this(), bytes, done = std::move(done)](
                                       const boost::system::error_code& ec, std::size_t) mutable {
        --self->pending_sends_;
        if (ec) {
          self->complete(done, unexpected(unavailable("UDP send: " + ec.message())));
          return;
        }
        self->stats_.add(self->stats_.messages_sent);
        self->complete(done, {});
      }));
}

void UdpTransport::Impl::do_stop() {
  if (stopped_) {
    return;
  }
  stopped_ = true;
  for (const auto& s : sockets_) {
    boost::system::error_code ec;
    s->socket.close(ec);  // pending receive and sends complete with operation_aborted
  }
}

UdpTransport::UdpTransport(asio::any_io_executor executor, UdpConfig config,
                           asio::any_io_executor owner)
    : impl_(std::make_shared<Impl>(std::move(executor), std::move(owner), std::move(config))) {}

UdpTransport::~UdpTransport() { stop(); }

Status UdpTransport::start() { return impl_->start(); }

const std::vector<net::Endpoint>& UdpTransport::local_endpoints() const { return impl_->locals_; }

ConnectionId UdpTransport::socket_id(std::size_t index) const {
  return index < impl_->sockets_.size() ? impl_->sockets_[index]->id : kNoConnection;
}

const TransportStats& UdpTransport::stats() const { return impl_->stats_; }

asio::any_io_executor UdpTransport::executor() const { return impl_->strand_; }

void UdpTransport::set_callbacks(TransportCallbacks callbacks) {
  impl_->callbacks_ = std::move(callbacks);
}

void UdpTransport::send(OutboundMessage message, SendCompletion done) {
  // dispatch: inline when the caller already runs on our executor (the shard's own thread, the
  // common case), posted otherwise. Either way do_send() and the completion run on it.
  asio::dispatch(impl_->strand_, [impl = impl_, message = std::move(message),
                                  done = std::move(done)]() mutable {
    impl->do_send(std::move(message), std::move(done));
  });
}

void UdpTransport::stop() {
  asio::post(impl_->strand_, [impl = impl_] { impl->do_stop(); });
}

}  // namespace portcullis::sip
