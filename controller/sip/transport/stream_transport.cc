#include "controller/sip/transport/stream_transport.h"

#include <sys/socket.h>

#include <openssl/ssl.h>

#include <string>
#include <type_traits>
#include <unordered_map>
#include <utility>

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>

#include "common/log/log.h"
#include "controller/sip/transport/asio_endpoint.h"

namespace portcullis::sip {
namespace {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

// Back-off after an accept error other than cancellation (EMFILE, ENFILE ...), so a full file
// table does not turn the accept loop into a busy loop.
constexpr std::chrono::milliseconds kAcceptBackoff{100};

class SessionBase {
 public:
  virtual ~SessionBase() = default;
  /// Each entry point hops onto the session's strand.
  virtual void start_inbound() = 0;
  virtual void start_outbound(tcp::endpoint remote, std::string server_name) = 0;
  virtual void send(StreamConnection::WriteItem item) = 0;
  virtual void close(CloseReason reason) = 0;
};

}  // namespace

// The transport's shared state. Everything except the atomics in stats_ is touched only on
// strand_. Sessions hold a weak_ptr to it, so destroying the transport never waits for them.
class StreamTransport::Impl : public std::enable_shared_from_this<Impl> {
 public:
  Impl(asio::any_io_executor base, asio::any_io_executor owner, StreamConfig config,
       TlsContextPtr server_ctx, TlsContextPtr client_ctx)
      : base_(std::move(base)),
        strand_(owner ? std::move(owner) : asio::any_io_executor(asio::make_strand(base_))),
        config_(std::move(config)),
        server_ctx_(std::move(server_ctx)),
        client_ctx_(std::move(client_ctx)),
        logger_(log::get("sip.transport")),
        stats_(std::make_shared<TransportStats>()),
        table_(config_.limits) {}

  Status start();
  void accept(std::size_t index);
  void on_accept(std::size_t index, const boost::system::error_code& ec, tcp::socket socket);
  void do_send(OutboundMessage message, SendCompletion done);
  void do_stop();
  std::shared_ptr<SessionBase> make_session(tcp::socket socket, const FlowInfo& flow,
                                            bool outbound);

  // Reports from sessions, run on strand_.
  void on_deliveries(std::vector<StreamConnection::Delivery> deliveries);
  void on_established(ConnectionId id, const net::Endpoint& local);
  void on_closed(ConnectionId id, const net::Endpoint& remote, CloseReason reason);
  void fail(SendCompletion& done, Error error);

  asio::any_io_executor base_;
  asio::any_io_executor strand_;  // a strand (ours, or the caller's owner executor)
  StreamConfig config_;
  TlsContextPtr server_ctx_;
  TlsContextPtr client_ctx_;
  std::shared_ptr<spdlog::logger> logger_;
  std::shared_ptr<TransportStats> stats_;
  TransportCallbacks callbacks_;
  ConnectionTable table_;
  std::unordered_map<ConnectionId, std::shared_ptr<SessionBase>> sessions_;
  std::vector<std::unique_ptr<tcp::acceptor>> acceptors_;
  std::vector<std::unique_ptr<asio::steady_timer>> backoff_;
  std::vector<net::Endpoint> locals_;
  bool stopped_ = false;
};

namespace {

/// One TCP or TLS connection (Beast advanced-server style): its own strand, one timer for the
/// connect / handshake / idle deadlines, and a StreamConnection for everything protocol.
template <bool kTls>
class Session final : public SessionBase, public std::enable_shared_from_this<Session<kTls>> {
 public:
  using Stream = std::conditional_t<kTls, ssl::stream<tcp::socket>, tcp::socket>;

  Session(const std::shared_ptr<StreamTransport::Impl>& owner, tcp::socket socket,
          const FlowInfo& flow, TlsContextPtr ctx)
      : owner_(owner),
        owner_strand_(owner->strand_),
        stats_(owner->stats_),
        config_(owner->config_),
        ctx_(std::move(ctx)),
        ex_(socket.get_executor()),
        stream_(make_stream(std::move(socket), ctx_.get())),
        timer_(ex_),
        core_(flow, config_.connection, *stats_),
        read_buf_(config_.read_buffer_bytes) {}

  void start_inbound() override {
    asio::dispatch(ex_, [self = this->shared_from_this()] { self->begin_inbound(); });
  }

  void start_outbound(tcp::endpoint remote, std::string server_name) override {
    asio::dispatch(ex_, [self = this->shared_from_this(), remote,
                         name = std::move(server_name)]() mutable {
      self->begin_outbound(remote, std::move(name));
    });
  }

  void send(StreamConnection::WriteItem item) override {
    asio::dispatch(ex_, [self = this->shared_from_this(), item = std::move(item)]() mutable {
      self->enqueue(std::move(item));
    });
  }

  void close(CloseReason reason) override {
    asio::dispatch(ex_, [self = this->shared_from_this(), reason] { self->do_close(reason); });
  }

 private:
  enum class Phase : std::uint8_t { kIdle, kConnecting, kHandshaking, kOpen, kClosed };

  static Stream make_stream(tcp::socket socket, ssl::context* ctx) {
    if constexpr (kTls) {
      return Stream(std::move(socket), *ctx);
    } else {
      (void)ctx;
      return Stream(std::move(socket));
    }
  }

  tcp::socket& socket() {
    if constexpr (kTls) {
      return stream_.next_layer();
    } else {
      return stream_;
    }
  }

  template <class F>
  void to_owner(F&& f) {
    if (auto owner = owner_.lock()) {
      asio::post(owner_strand_, [owner, f = std::forward<F>(f)]() mutable { f(*owner); });
    }
  }

  void finish(StreamConnection::WriteItem& item, Status status) {
    if (item.internal) {
      return;
    }
    if (status) {
      stats_->add(stats_->messages_sent);
    } else {
      stats_->add(stats_->send_failures);
    }
    if (item.done) {
      // Completions run on the transport's strand (the Transport contract).
      asio::post(owner_strand_, [done = std::move(item.done), status = std::move(status)]() mutable {
        done(std::move(status));
      });
    }
  }

  void arm_timer(std::chrono::milliseconds after) {
    ++timer_gen_;
    timer_.expires_after(after);
    wait_timer();
  }

  void wait_timer() {
    timer_.async_wait([self = this->shared_from_this(), gen = timer_gen_](
                          const boost::system::error_code& ec) { self->on_timer(ec, gen); });
  }

  void on_timer(const boost::system::error_code& ec, std::uint64_t gen) {
    if (ec == asio::error::operation_aborted || phase_ == Phase::kClosed || gen != timer_gen_) {
      return;
    }
    switch (phase_) {
      case Phase::kConnecting:
        return do_close(CloseReason::kConnectFailed);
      case Phase::kHandshaking:
        return do_close(CloseReason::kHandshakeFailed);
      case Phase::kOpen: {
        // Activity only moves last_activity_; the timer re-arms for the remainder (no
        // cancel/re-arm per read).
        const auto deadline = last_activity_ + config_.idle_timeout;
        if (Clock::now() >= deadline) {
          return do_close(CloseReason::kIdleTimeout);
        }
        timer_.expires_at(deadline);
        wait_timer();
        return;
      }
      case Phase::kIdle:
      case Phase::kClosed:
        return;
    }
  }

  void begin_inbound() {
    if (phase_ != Phase::kIdle) {
      return;
    }
    if constexpr (kTls) {
      phase_ = Phase::kHandshaking;
      arm_timer(config_.handshake_timeout);
      stream_.async_handshake(ssl::stream_base::server,
                              [self = this->shared_from_this()](const boost::system::error_code& ec) {
                                self->on_handshake(ec);
                              });
    } else {
      on_open();
    }
  }

  void begin_outbound(const tcp::endpoint& remote, std::string server_name) {
    if (phase_ != Phase::kIdle) {
      return;
    }
    outbound_ = true;
    server_name_ = std::move(server_name);
    remote_ = remote;
    phase_ = Phase::kConnecting;
    arm_timer(config_.connect_timeout);
    socket().async_connect(remote, [self = this->shared_from_this()](
                                       const boost::system::error_code& ec) {
      self->on_connect(ec);
    });
  }

  void on_connect(const boost::system::error_code& ec) {
    if (phase_ == Phase::kClosed) {
      return;
    }
    if (ec) {
      owner_log_debug("connect to " + core_.flow().source.to_string() + " failed: " + ec.message());
      return do_close(CloseReason::kConnectFailed);
    }
    boost::system::error_code local_ec;
    const auto local = socket().local_endpoint(local_ec);
    if (!local_ec) {
      core_.set_local(from_asio_endpoint(local));
    }
    if constexpr (kTls) {
      SSL* ssl_handle = stream_.native_handle();
      boost::system::error_code addr_ec;
      (void)asio::ip::make_address(server_name_, addr_ec);
      const bool name_is_host = !server_name_.empty() && addr_ec;
      if (name_is_host) {
        // RFC 6066 §3 SNI: host names only, never literal addresses.
        SSL_ctrl(ssl_handle, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
                 const_cast<char*>(server_name_.c_str()));
      }
      const auto& tls = config_.tls;
      if (tls && tls->verify_server && tls->verify_host_name) {
        // RFC 5922 §7.2: the server's identity is the name we meant to reach (or its address).
        const std::string expected =
            server_name_.empty() ? remote_.address().to_string() : server_name_;
        stream_.set_verify_callback(ssl::host_name_verification(expected));
      }
      phase_ = Phase::kHandshaking;
      arm_timer(config_.handshake_timeout);
      stream_.async_handshake(ssl::stream_base::client,
                              [self = this->shared_from_this()](const boost::system::error_code& e) {
                                self->on_handshake(e);
                              });
    } else {
      on_open();
    }
  }

  void on_handshake(const boost::system::error_code& ec) {
    if (phase_ == Phase::kClosed) {
      return;
    }
    if (ec) {
      owner_log_debug("TLS handshake with " + core_.flow().source.to_string() +
                      " failed: " + ec.message());
      return do_close(CloseReason::kHandshakeFailed);
    }
    on_open();
  }

  void on_open() {
    phase_ = Phase::kOpen;
    last_activity_ = Clock::now();
    arm_timer(config_.idle_timeout);
    if (outbound_) {
      to_owner([id = core_.flow().connection, local = core_.flow().local](StreamTransport::Impl& o) {
        o.on_established(id, local);
      });
    }
    do_read();
    do_write();
  }

  void do_read() {
    stream_.async_read_some(asio::buffer(read_buf_),
                            [self = this->shared_from_this()](const boost::system::error_code& ec,
                                                              std::size_t n) {
                              self->on_read(ec, n);
                            });
  }

  void on_read(const boost::system::error_code& ec, std::size_t n) {
    if (phase_ == Phase::kClosed || close_after_flush_) {
      return;
    }
    if (ec) {
      const bool peer_closed = ec == asio::error::eof || ec == asio::error::connection_reset ||
                               ec == ssl::error::stream_truncated;
      return do_close(peer_closed ? CloseReason::kPeerClosed : CloseReason::kIoError);
    }
    last_activity_ = Clock::now();
    StreamConnection::ReadResult result;
    core_.on_bytes(std::string_view(read_buf_.data(), n), result);
    if (!result.deliveries.empty()) {
      to_owner([d = std::move(result.deliveries)](StreamTransport::Impl& o) mutable {
        o.on_deliveries(std::move(d));
      });
    }
    if (result.close) {
      if (!result.close_after_flush) {
        return do_close(*result.close);
      }
      close_after_flush_ = result.close;  // stop reading; close once the answer is written
      do_write();
      return;
    }
    do_write();
    do_read();
  }

  void enqueue(StreamConnection::WriteItem item) {
    if (phase_ == Phase::kClosed || close_after_flush_) {
      return finish(item, unexpected(unavailable("connection closed")));
    }
    if (!core_.enqueue(std::move(item))) {
      // Bounded write queue (Beast queue_limit): a peer that does not read loses the connection.
      finish(item, unexpected(resource_exhausted("write queue full")));
      return do_close(CloseReason::kWriteQueueFull);
    }
    do_write();
  }

  void do_write() {
    if (phase_ != Phase::kOpen) {
      return;
    }
    const auto bytes = core_.start_write();
    if (!bytes) {
      if (close_after_flush_ && !core_.write_in_progress()) {
        do_close(*close_after_flush_);
      }
      return;
    }
    asio::async_write(stream_, asio::buffer(bytes->data(), bytes->size()),
                      [self = this->shared_from_this()](const boost::system::error_code& ec,
                                                        std::size_t) { self->on_write(ec); });
  }

  void on_write(const boost::system::error_code& ec) {
    StreamConnection::WriteItem item = core_.complete_write();
    if (ec) {
      finish(item, unexpected(unavailable("write failed: " + ec.message())));
      if (phase_ != Phase::kClosed) {
        do_close(CloseReason::kIoError);
      }
      return;
    }
    finish(item, {});
    last_activity_ = Clock::now();
    do_write();
  }

  void do_close(CloseReason reason) {
    if (phase_ == Phase::kClosed) {
      return;
    }
    phase_ = Phase::kClosed;
    ++timer_gen_;
    timer_.cancel();
    boost::system::error_code ec;
    // FIN after whatever was written (a framing-error answer), then release the socket. TLS
    // close_notify is not sent: the peer sees a truncated stream (see README, gaps).
    socket().shutdown(tcp::socket::shutdown_send, ec);
    socket().close(ec);
    for (auto& item : core_.drain()) {
      finish(item, unexpected(unavailable("connection closed")));
    }
    to_owner([id = core_.flow().connection, remote = core_.flow().source,
              reason](StreamTransport::Impl& o) { o.on_closed(id, remote, reason); });
  }

  void owner_log_debug(const std::string& text) {
    if (auto owner = owner_.lock()) {
      owner->logger_->debug("{}", text);
    }
  }

  std::weak_ptr<StreamTransport::Impl> owner_;
  asio::any_io_executor owner_strand_;
  std::shared_ptr<TransportStats> stats_;
  StreamConfig config_;
  TlsContextPtr ctx_;
  asio::any_io_executor ex_;
  Stream stream_;
  asio::steady_timer timer_;
  StreamConnection core_;
  std::vector<char> read_buf_;
  Phase phase_ = Phase::kIdle;
  bool outbound_ = false;
  std::string server_name_;
  tcp::endpoint remote_;
  Clock::time_point last_activity_ = Clock::now();
  std::uint64_t timer_gen_ = 0;
  std::optional<CloseReason> close_after_flush_;
};

}  // namespace

std::shared_ptr<SessionBase> StreamTransport::Impl::make_session(tcp::socket socket,
                                                                 const FlowInfo& flow,
                                                                 bool outbound) {
  if (config_.kind == TransportKind::kTls) {
    return std::make_shared<Session<true>>(shared_from_this(), std::move(socket), flow,
                                           outbound ? client_ctx_ : server_ctx_);
  }
  return std::make_shared<Session<false>>(shared_from_this(), std::move(socket), flow, nullptr);
}

Status StreamTransport::Impl::start() {
  for (std::size_t i = 0; i < config_.listen.size(); ++i) {
    const net::Endpoint& listen = config_.listen[i];
    auto acceptor = std::make_unique<tcp::acceptor>(strand_);
    const auto endpoint = to_asio_endpoint<tcp::endpoint>(listen);
    boost::system::error_code ec;
    acceptor->open(endpoint.protocol(), ec);
    if (!ec) {
      acceptor->set_option(asio::socket_base::reuse_address(true), ec);
    }
    if (!ec && endpoint.address().is_v6()) {
      acceptor->set_option(asio::ip::v6_only(true), ec);
    }
    if (!ec && config_.reuse_port) {
      acceptor->set_option(asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>(true),
                           ec);
    }
    if (!ec) {
      acceptor->bind(endpoint, ec);
    }
    if (!ec) {
      acceptor->listen(asio::socket_base::max_listen_connections, ec);
    }
    if (ec) {
      return unexpected(unavailable(std::string(transport_kind_name(config_.kind)) + " listen " +
                                    listen.to_string() + ": " + ec.message()));
    }
    locals_.push_back(from_asio_endpoint(acceptor->local_endpoint(ec)));
    acceptors_.push_back(std::move(acceptor));
    backoff_.push_back(std::make_unique<asio::steady_timer>(strand_));
  }
  for (std::size_t i = 0; i < acceptors_.size(); ++i) {
    asio::post(strand_, [self = shared_from_this(), i] { self->accept(i); });
  }
  return {};
}

void StreamTransport::Impl::accept(std::size_t index) {
  if (stopped_) {
    return;
  }
  // Each accepted socket gets its own strand: the session's executor.
  acceptors_[index]->async_accept(
      asio::make_strand(base_),
      asio::bind_executor(strand_, [self = shared_from_this(), index](
                                       const boost::system::error_code& ec, tcp::socket socket) {
        self->on_accept(index, ec, std::move(socket));
      }));
}

void StreamTransport::Impl::on_accept(std::size_t index, const boost::system::error_code& ec,
                                      tcp::socket socket) {
  if (stopped_ || ec == asio::error::operation_aborted) {
    return;
  }
  if (ec) {
    logger_->warn("{} accept error: {}", transport_kind_name(config_.kind), ec.message());
    backoff_[index]->expires_after(kAcceptBackoff);
    backoff_[index]->async_wait([self = shared_from_this(), index](
                                    const boost::system::error_code& wait_ec) {
      if (!wait_ec) {
        self->accept(index);
      }
    });
    return;
  }
  boost::system::error_code remote_ec;
  boost::system::error_code local_ec;
  const auto remote = socket.remote_endpoint(remote_ec);
  const auto local = socket.local_endpoint(local_ec);
  if (remote_ec || local_ec) {
    accept(index);  // reset before we looked at it
    return;
  }
  const net::Endpoint source = from_asio_endpoint(remote);
  auto admitted = table_.admit(config_.kind, Direction::kInbound, source, from_asio_endpoint(local));
  if (!admitted) {
    // Over a limit: close at once, before any byte is read or any TLS work is done.
    stats_->add(admitted.error() == Refusal::kTotalLimit ? stats_->connections_refused_total
                                                         : stats_->connections_refused_per_ip);
    logger_->debug("{} connection from {} refused: {} limit", transport_kind_name(config_.kind),
                   source.to_string(),
                   admitted.error() == Refusal::kTotalLimit ? "total" : "per-IP");
    boost::system::error_code close_ec;
    socket.close(close_ec);
    accept(index);
    return;
  }
  stats_->add(stats_->connections_accepted);
  const FlowInfo flow{config_.kind, source, from_asio_endpoint(local), *admitted};
  auto session = make_session(std::move(socket), flow, false);
  sessions_.emplace(*admitted, session);
  session->start_inbound();
  accept(index);
}

void StreamTransport::Impl::fail(SendCompletion& done, Error error) {
  stats_->add(stats_->send_failures);
  if (done) {
    done(unexpected(std::move(error)));
  }
}

void StreamTransport::Impl::do_send(OutboundMessage message, SendCompletion done) {
  if (stopped_) {
    return fail(done, unavailable("transport stopped"));
  }
  if (message.kind != config_.kind) {
    return fail(done, invalid_argument("wrong transport kind"));
  }
  if (message.bytes.size() > config_.connection.parse_limits.max_message_bytes) {
    stats_->add(stats_->oversize_dropped);
    return fail(done, invalid_argument("message too large"));
  }
  std::shared_ptr<SessionBase> session;
  // RFC 3261 §18.2.2: a response goes back over the connection its request arrived on.
  if (message.connection != kNoConnection) {
    const auto it = sessions_.find(message.connection);
    if (it != sessions_.end()) {
      session = it->second;
    }
  }
  // RFC 3261 §18.1.1 / RFC 5923: reuse an existing connection to the destination.
  if (!session) {
    if (const auto id = table_.find(config_.kind, message.destination)) {
      const auto it = sessions_.find(*id);
      if (it != sessions_.end()) {
        session = it->second;
      }
    }
  }
  if (!session) {
    if (!config_.allow_outbound) {
      return fail(done, unavailable("no connection to " + message.destination.to_string()));
    }
    auto admitted = table_.admit(config_.kind, Direction::kOutbound, message.destination, {});
    if (!admitted) {
      stats_->add(stats_->connections_refused_total);
      return fail(done, resource_exhausted("connection limit reached"));
    }
    const FlowInfo flow{config_.kind, message.destination, {}, *admitted};
    session = make_session(tcp::socket(asio::make_strand(base_)), flow, true);
    sessions_.emplace(*admitted, session);
    session->start_outbound(to_asio_endpoint<tcp::endpoint>(message.destination),
                            std::move(message.server_name));
  }
  session->send(StreamConnection::WriteItem{std::move(message.bytes), std::move(done), false});
}

void StreamTransport::Impl::on_deliveries(std::vector<StreamConnection::Delivery> deliveries) {
  if (stopped_) {
    return;
  }
  for (auto& delivery : deliveries) {
    if (auto* received = std::get_if<ReceivedMessage>(&delivery)) {
      if (callbacks_.on_message) {
        callbacks_.on_message(std::move(*received));
      }
    } else if (callbacks_.on_rejected) {
      callbacks_.on_rejected(std::move(std::get<RejectedMessage>(delivery)));
    }
  }
}

void StreamTransport::Impl::on_established(ConnectionId id, const net::Endpoint& local) {
  table_.mark_established(id, local);
  stats_->add(stats_->connections_opened);
}

void StreamTransport::Impl::on_closed(ConnectionId id, const net::Endpoint& remote,
                                      CloseReason reason) {
  table_.remove(id);
  sessions_.erase(id);
  stats_->closed(reason);
  logger_->debug("{} connection {} to {} closed: {}", transport_kind_name(config_.kind),
                 static_cast<std::uint64_t>(id), remote.to_string(), close_reason_name(reason));
  if (callbacks_.on_closed) {
    callbacks_.on_closed(ConnectionClosed{config_.kind, id, remote, reason});
  }
}

void StreamTransport::Impl::do_stop() {
  if (stopped_) {
    return;
  }
  stopped_ = true;
  boost::system::error_code ec;
  for (auto& acceptor : acceptors_) {
    acceptor->close(ec);
  }
  for (auto& timer : backoff_) {
    timer->cancel();
  }
  for (auto& [id, session] : sessions_) {
    session->close(CloseReason::kShutdown);
  }
}

// ---- StreamTransport ----

Result<std::shared_ptr<StreamTransport>> StreamTransport::create(asio::any_io_executor executor,
                                                                  StreamConfig config,
                                                                  asio::any_io_executor owner) {
  if (config.kind == TransportKind::kUdp) {
    return unexpected(invalid_argument("StreamTransport serves TCP or TLS"));
  }
  TlsContextPtr server_ctx;
  TlsContextPtr client_ctx;
  if (config.kind == TransportKind::kTls) {
    if (!config.tls) {
      return unexpected(invalid_argument("TLS transport needs a TlsConfig"));
    }
    if (!config.listen.empty()) {
      auto ctx = make_server_tls_context(*config.tls);
      if (!ctx) {
        return unexpected(std::move(ctx).error());
      }
      server_ctx = *ctx;
    }
    if (config.allow_outbound) {
      auto ctx = make_client_tls_context(*config.tls);
      if (!ctx) {
        return unexpected(std::move(ctx).error());
      }
      client_ctx = *ctx;
    }
  }
  auto impl = std::make_shared<Impl>(std::move(executor), std::move(owner), std::move(config),
                                     std::move(server_ctx), std::move(client_ctx));
  return std::shared_ptr<StreamTransport>(new StreamTransport(std::move(impl)));
}

StreamTransport::StreamTransport(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

StreamTransport::~StreamTransport() { stop(); }

Status StreamTransport::start() { return impl_->start(); }

const std::vector<net::Endpoint>& StreamTransport::local_endpoints() const {
  return impl_->locals_;
}

const TransportStats& StreamTransport::stats() const { return *impl_->stats_; }

std::size_t StreamTransport::connection_count() const { return impl_->table_.size(); }

const ConnectionTable& StreamTransport::connections() const { return impl_->table_; }

asio::any_io_executor StreamTransport::executor() const { return impl_->strand_; }

void StreamTransport::set_callbacks(TransportCallbacks callbacks) {
  impl_->callbacks_ = std::move(callbacks);
}

void StreamTransport::send(OutboundMessage message, SendCompletion done) {
  asio::post(impl_->strand_, [impl = impl_, message = std::move(message),
                              done = std::move(done)]() mutable {
    impl->do_send(std::move(message), std::move(done));
  });
}

void StreamTransport::stop() {
  asio::post(impl_->strand_, [impl = impl_] { impl->do_stop(); });
}

}  // namespace portcullis::sip
