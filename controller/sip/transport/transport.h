// Transport: the seam between the SIP transport layer (RFC 3261 §18) and everything above it
// (transaction layer, stateless proxy core). Implementations: UdpTransport (udp_transport.h),
// StreamTransport for TCP and TLS (stream_transport.h), TransportGroup (dispatch by kind, this
// file). Tests above this layer use a fake that records sends and injects ReceivedMessages.
//
// Contract (every implementation):
//  - Executor affinity. Each transport is bound to one executor (a strand of an io_context),
//    returned by executor(). Every callback (on_message, on_rejected, on_closed, SendCompletion)
//    runs on that executor, never concurrently with another callback of the same transport. An
//    upper layer that runs on the same executor needs no locking.
//  - send() is safe from any thread: it posts to the transport's executor, or (UDP) runs inline
//    when called on it, in which case `done` may run before send() returns. The bytes are copied
//    (moved) in; the caller keeps nothing alive.
//  - Receive: a message that framed and parsed is delivered as ReceivedMessage. A message that
//    could not be parsed is delivered as RejectedMessage so the upper layer can answer 400/513
//    statelessly over the same flow (same connection id) or drop it (error.drop: responses,
//    RFC 3261 §18.1.2). Stream framing errors are handled inside the transport (the connection is
//    closed, RFC 4475 §3.1.2.3) and are only counted and reported through on_closed.
//  - Connection ids identify a flow. For TCP/TLS it is one connection; for UDP it identifies the
//    local socket the datagram arrived on, so a response leaves from the address the request was
//    sent to (RFC 3261 §18.2.2). Ids are never reused by one transport instance. kNoConnection
//    means "any".
//  - After stop() no further on_message / on_rejected callbacks are made; pending sends complete
//    with an error. Callbacks must be set before start().
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include <boost/asio/any_io_executor.hpp>

#include "common/base/result.h"
#include "common/net/ip_address.h"
#include "controller/sip/message/sip_message.h"
#include "controller/sip/parser/sip_error.h"

namespace portcullis::sip {

/// The transports this layer implements. The numeric values match the first three values of the
/// transaction layer's TransportProtocol so the two convert by static_cast.
enum class TransportKind : std::uint8_t { kUdp = 0, kTcp = 1, kTls = 2 };

/// "UDP", "TCP", "TLS": the Via transport token (RFC 3261 §20.42).
std::string_view transport_kind_name(TransportKind kind) noexcept;

/// RFC 3261 §18: only UDP is unreliable.
constexpr bool is_stream(TransportKind kind) noexcept { return kind != TransportKind::kUdp; }

/// Opaque flow handle, unique per transport instance and kind, never reused.
enum class ConnectionId : std::uint64_t {};
inline constexpr ConnectionId kNoConnection{0};

}  // namespace portcullis::sip

template <>
struct std::hash<portcullis::sip::ConnectionId> {
  std::size_t operator()(portcullis::sip::ConnectionId id) const noexcept {
    return std::hash<std::uint64_t>{}(static_cast<std::uint64_t>(id));
  }
};

namespace portcullis::sip {

/// Why a connection ended (counted per reason in TransportStats).
enum class CloseReason : std::uint8_t {
  kPeerClosed = 0,     // EOF or reset from the peer
  kIdleTimeout,        // no traffic for StreamConfig::idle_timeout
  kFramingError,       // the byte stream could not be framed (RFC 4475 §3.1.2.3)
  kWriteQueueFull,     // the peer did not read fast enough (bounded write queue)
  kIoError,            // read/write error other than EOF
  kConnectFailed,      // outbound connect error or timeout
  kHandshakeFailed,    // TLS handshake error or timeout (incl. mutual TLS without a cert)
  kShutdown,           // stop()
  kCount,
};
std::string_view close_reason_name(CloseReason reason) noexcept;

/// The five-tuple-ish identity of where a message came from.
struct FlowInfo {
  TransportKind kind = TransportKind::kUdp;
  net::Endpoint source;  // remote address and port
  net::Endpoint local;   // our address and port the message arrived on
  ConnectionId connection = kNoConnection;
};

/// A message that framed and parsed (the transaction-critical headers are valid).
struct ReceivedMessage {
  SipMessage message;
  net::Endpoint source;
  net::Endpoint local;
  TransportKind kind = TransportKind::kUdp;
  ConnectionId connection = kNoConnection;
};

/// A message that framed but failed SipMessage::parse. `bytes` is the raw message (UDP: the whole
/// datagram; TCP/TLS: its header section, at most max_header_bytes) so the upper layer can build a
/// best-effort stateless answer from its Via/From/To/Call-ID/CSeq lines.
/// If error.drop is set the message must not be answered (a response, RFC 3261 §18.1.2).
struct RejectedMessage {
  SipError error;
  std::string bytes;
  net::Endpoint source;
  net::Endpoint local;
  TransportKind kind = TransportKind::kUdp;
  ConnectionId connection = kNoConnection;
};

/// A stream connection ended (informational, e.g. for RFC 5626 flow failure detection).
struct ConnectionClosed {
  TransportKind kind = TransportKind::kTcp;
  ConnectionId connection = kNoConnection;
  net::Endpoint remote;
  CloseReason reason = CloseReason::kPeerClosed;
};

struct TransportCallbacks {
  std::function<void(ReceivedMessage)> on_message;
  std::function<void(RejectedMessage)> on_rejected;  // optional: unset → counted and dropped
  std::function<void(const ConnectionClosed&)> on_closed;  // optional
};

/// One message to send.
struct OutboundMessage {
  net::Endpoint destination;
  TransportKind kind = TransportKind::kUdp;
  std::string bytes;
  /// Preferred flow. For a response, the connection id of the request (RFC 3261 §18.2.2). If the
  /// connection is gone, the message goes to `destination` over an existing connection to it or a
  /// new one (the upper layer chose `destination` per §18.2.2 for that case).
  ConnectionId connection = kNoConnection;
  /// TLS only: the name to send in SNI and to verify the server certificate against when the
  /// transport opens a new connection. Empty: the destination address is verified (IP SAN).
  std::string server_name;
};

/// Result of a send, reported on the transport's executor. ok: the bytes were handed to the
/// kernel (a UDP datagram sent, or a stream write completed). An error names the failure.
using SendCompletion = std::function<void(Status)>;

class Transport {
 public:
  virtual ~Transport() = default;

  /// The executor every callback of this transport runs on.
  virtual boost::asio::any_io_executor executor() const = 0;

  /// Sets the receive callbacks; call before start(). Not thread-safe.
  virtual void set_callbacks(TransportCallbacks callbacks) = 0;

  /// Sends one message. Thread-safe; the work happens on executor(). `done` is optional.
  /// Errors: kInvalidArgument (kind not served here, bytes too large), kUnavailable (stopped,
  /// connect failed, connection closed before the write completed), kResourceExhausted
  /// (connection limit, write queue full).
  virtual void send(OutboundMessage message, SendCompletion done = {}) = 0;

  /// Stops accepting and receiving, closes every connection, fails pending sends. Thread-safe
  /// and idempotent. Once the handlers have run, the transport holds no work on the io_context.
  virtual void stop() = 0;
};

using TransportPtr = std::shared_ptr<Transport>;

/// Routes send() by OutboundMessage::kind to the transport that serves it, and installs the same
/// callbacks on all of them. All members must share one owner executor (create them with the same
/// `owner` strand) so the callbacks stay serial (the contract above).
class TransportGroup final : public Transport {
 public:
  /// Registers the transport for `kind`, replacing any previous one.
  void add(TransportKind kind, TransportPtr transport);

  boost::asio::any_io_executor executor() const override;
  void set_callbacks(TransportCallbacks callbacks) override;
  void send(OutboundMessage message, SendCompletion done = {}) override;
  void stop() override;

 private:
  static constexpr std::size_t kKinds = 3;
  TransportPtr transports_[kKinds];
};

}  // namespace portcullis::sip
