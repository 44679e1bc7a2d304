// StreamTransport: SIP over TCP or TLS (RFC 3261 §18.3, §26.3.1; RFC 5626 §4.4.1 keep-alives).
//
// One instance serves one kind (kTcp or kTls): acceptors for the listen addresses, a
// ConnectionTable, and one session per connection. Each session runs on its own strand (Beast
// advanced-server style) and owns a sans-I/O StreamConnection (framing, parsing, keep-alive
// pongs, bounded write queue). The transport's own strand (executor()) owns the table and the
// session map and runs every callback, so the upper layer sees one serial stream of events.
//
//   accept ─► admit (ConnectionTable limits; refused → close at once, counted)
//          ─► [TLS handshake, bounded by handshake_timeout] ─► read loop ─► StreamConnection
//   send(dest, conn id) ─► connection by id ─► else by (kind, dest) ─► else connect (bounded by
//          connect_timeout; TLS: SNI + verification) ─► session write queue (bounded)
//   idle_timeout without traffic either way ─► close (counted)
//
// Threading: one io_context per core later means one StreamTransport per io_context, each with
// its own listen socket (SO_REUSEPORT) or a sharded acceptor; nothing here is shared across
// instances except the read-only TLS contexts. Counters are atomics (TransportStats).
//
// Lifetime: the transport object may be destroyed at any time (it calls stop()); the sessions
// and in-flight handlers keep the shared state alive until they complete. The io_context must
// outlive the transport.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <vector>

#include <boost/asio/any_io_executor.hpp>

#include "common/base/result.h"
#include "common/net/ip_address.h"
#include "controller/sip/transport/connection_table.h"
#include "controller/sip/transport/stream_connection.h"
#include "controller/sip/transport/tls_context.h"
#include "controller/sip/transport/transport.h"
#include "controller/sip/transport/transport_stats.h"

namespace portcullis::sip {

struct StreamConfig {
  TransportKind kind = TransportKind::kTcp;  // kTcp or kTls
  /// Addresses to accept on (port 0: ephemeral, see local_endpoints()). May be empty for a
  /// client-only transport.
  std::vector<net::Endpoint> listen;
  ConnectionLimits limits;
  StreamConnectionConfig connection;
  /// Close a connection after this long without reading or writing a byte. RFC 5626 §4.4.1
  /// keep-alives (CRLFCRLF every ~120 s) keep a registered flow open.
  std::chrono::milliseconds idle_timeout{std::chrono::minutes(5)};
  std::chrono::milliseconds connect_timeout{std::chrono::seconds(5)};
  std::chrono::milliseconds handshake_timeout{std::chrono::seconds(5)};
  /// Open connections for sends that find none (false: such sends fail with kUnavailable).
  bool allow_outbound = true;
  std::size_t read_buffer_bytes = 16 * 1024;
  /// Required for kTls.
  std::optional<TlsConfig> tls;
  /// SO_REUSEPORT on the listen sockets (one transport per io_context on the same address).
  bool reuse_port = false;
};

class StreamTransport final : public Transport {
 public:
  /// Builds the TLS contexts (kTls) and validates the config; does not bind yet.
  /// `executor`: the io_context (executor) sockets run on; sessions get strands of it.
  /// `owner`: the executor that owns the transport's state and runs every callback. It must be a
  /// strand (or an io_context run by one thread). Empty: a new strand of `executor`. Pass the
  /// same `owner` to every transport of a TransportGroup and to the upper layer.
  static Result<std::shared_ptr<StreamTransport>> create(boost::asio::any_io_executor executor,
                                                         StreamConfig config,
                                                         boost::asio::any_io_executor owner = {});
  ~StreamTransport() override;
  StreamTransport(const StreamTransport&) = delete;
  StreamTransport& operator=(const StreamTransport&) = delete;

  /// Binds and listens on every listen address, then starts accepting. Call once, before running
  /// the io_context or from executor(). Errors: kUnavailable naming the address.
  Status start();
  /// The bound listen addresses (ephemeral ports resolved), in listen order. Valid after start().
  const std::vector<net::Endpoint>& local_endpoints() const;
  const TransportStats& stats() const;
  /// Live connections. Read it from executor() or while no thread runs the io_context.
  std::size_t connection_count() const;
  /// The connection table (same rule as connection_count()).
  const ConnectionTable& connections() const;

  boost::asio::any_io_executor executor() const override;
  void set_callbacks(TransportCallbacks callbacks) override;
  void send(OutboundMessage message, SendCompletion done = {}) override;
  void stop() override;

  class Impl;

 private:
  explicit StreamTransport(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

}  // namespace portcullis::sip
