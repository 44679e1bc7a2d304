// Value types shared by the transaction layer (RFC 3261 §17, RFC 6026): transports, peers,
// transaction handles, timer configuration, and the actions the layer emits. Nothing here does
// I/O; see transaction_layer.h for the state machines and README.md for the overview.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include "common/net/ip_address.h"
#include "common/time/clock.h"
#include "controller/sip/message/sip_message.h"

namespace portcullis::sip {

/// The transport a message travels over. RFC 3261 §17: only UDP is unreliable; every other
/// transport is reliable, so retransmission timers (A, E, G) are not started and the
/// "wait for stragglers" timers (D, I, J, K) are zero.
enum class TransportProtocol : std::uint8_t { kUdp, kTcp, kTls, kSctp, kWs, kWss };

/// RFC 3261 §17.1.1.2 / §18: UDP is the only unreliable transport we speak.
constexpr bool is_reliable(TransportProtocol t) noexcept { return t != TransportProtocol::kUdp; }
/// "UDP", "TCP", "TLS", "SCTP", "WS", "WSS" (the Via transport token, RFC 3261 §20.42).
std::string_view transport_name(TransportProtocol t) noexcept;

/// Where a message came from or goes to. `connection` is an opaque id of a stream-transport
/// connection, echoed back so a response leaves on the connection its request arrived on
/// (RFC 3261 §18.2.2); 0 means "any / open one".
struct Peer {
  Peer() = default;
  Peer(TransportProtocol t, net::Endpoint e, std::uint64_t conn = 0, std::string name = {})
      : transport(t), endpoint(e), connection(conn), server_name(std::move(name)) {}

  TransportProtocol transport = TransportProtocol::kUdp;
  net::Endpoint endpoint;
  std::uint64_t connection = 0;
  /// TLS only: the host name the server's certificate must match when a new connection is opened
  /// (RFC 5922 §4: the domain of the URI the next hop was resolved from; empty for an address
  /// literal, then the address itself is verified).
  std::string server_name;

  /// The same destination and flow; the name is how it is verified, not which peer it is.
  friend bool operator==(const Peer& a, const Peer& b) noexcept {
    return a.transport == b.transport && a.endpoint == b.endpoint && a.connection == b.connection;
  }
};

/// Handle of one transaction. Handles are never reused by one TransactionLayer.
enum class TransactionId : std::uint64_t {};
/// "No transaction": stateless sends, stray responses, ACKs for 2xx that match nothing.
inline constexpr TransactionId kNoTransaction{0};

enum class TransactionKind : std::uint8_t {
  kInviteClient,     // RFC 3261 §17.1.1 + RFC 6026 §8.4
  kNonInviteClient,  // RFC 3261 §17.1.2
  kInviteServer,     // RFC 3261 §17.2.1 + RFC 6026 §8.7
  kNonInviteServer,  // RFC 3261 §17.2.2
};

enum class TransactionState : std::uint8_t {
  kCalling,     // INVITE client
  kTrying,      // non-INVITE client and server
  kProceeding,  // all four
  kCompleted,   // all four
  kConfirmed,   // INVITE server
  kAccepted,    // RFC 6026: INVITE client (Timer M) and INVITE server (Timer L)
  kTerminated,  // never observable: a terminated transaction is destroyed at once (§17.1.1.2)
};
std::string_view state_name(TransactionState s) noexcept;

/// RFC 3261 Table 4 timers plus RFC 6026 L and M.
enum class TimerName : char {
  kA = 'A', kB = 'B', kD = 'D', kE = 'E', kF = 'F', kG = 'G', kH = 'H', kI = 'I', kJ = 'J',
  kK = 'K', kL = 'L', kM = 'M',
  kTrying = 'T',  // not an RFC timer: delayed 100 (Trying), RFC 3261 §17.2.1 "within 200 ms"
};

/// What to do with a request whose top Via branch lacks the "z9hG4bK" cookie (RFC 2543 peer).
enum class LegacyRequestPolicy : std::uint8_t {
  /// RFC 3261 §17.2.3 fallback matching on Request-URI, From tag, To tag, Call-ID, CSeq and top Via.
  kMatch,
  /// Answer 400 statelessly (ACKs are dropped: they are never answered).
  kReject,
};

struct TransactionConfig {
  using Duration = Clock::Duration;
  /// RFC 3261 §17.1.1.1: RTT estimate, default 500 ms.
  Duration t1 = std::chrono::milliseconds(500);
  /// RFC 3261 §17.1.2.2: cap on non-INVITE request and INVITE response retransmit interval, 4 s.
  Duration t2 = std::chrono::seconds(4);
  /// RFC 3261 §17.1.2.2: maximum time a message stays in the network, 5 s.
  Duration t4 = std::chrono::seconds(5);
  /// RFC 3261 §17.1.1.2: Timer D "at least 32 seconds" over unreliable transports (0 if reliable).
  Duration timer_d = std::chrono::seconds(32);
  /// Cap on live transactions (client + server). Beyond it a new server transaction is refused
  /// with a stateless 503 + Retry-After and send_request() fails with kLimitReached.
  std::size_t max_transactions = 50000;
  /// Retry-After seconds in the overload 503 (RFC 3261 §21.5.4).
  std::uint32_t overload_retry_after_s = 5;
  /// RFC 3261 §17.2.1: the INVITE server transaction sends 100 (Trying) unless the TU answers
  /// within 200 ms. `auto_trying = false` leaves it to the TU entirely.
  bool auto_trying = true;
  /// Delay before the automatic 100; 0 sends it at once, before the INVITE reaches the TU.
  Duration trying_delay = std::chrono::milliseconds(0);
  LegacyRequestPolicy legacy_requests = LegacyRequestPolicy::kMatch;

  // Derived timer values (RFC 3261 Table 4).
  Duration timer_b() const { return 64 * t1; }  // also F, H, J (unreliable), L, M
};

using MessagePtr = std::shared_ptr<const SipMessage>;

// ---- Actions: what the layer asks its owner to do. ----

/// Hand `bytes` to the transport for `to`. txn is kNoTransaction for stateless sends.
struct SendAction {
  TransactionId txn = kNoTransaction;
  Peer to;
  std::string bytes;
};

/// A request for the TU: a new server transaction (INVITE, non-INVITE, CANCEL), an ACK passed up
/// by an INVITE server transaction in the Accepted state (RFC 6026 §8.7), or an ACK matching no
/// transaction (txn == kNoTransaction: the ACK for a 2xx, RFC 3261 §17.2.3 / §13.3.1.4).
struct RequestAction {
  TransactionId txn = kNoTransaction;
  MessagePtr request;
  Peer from;
  /// For a CANCEL: the INVITE server transaction it cancels (RFC 3261 §9.2), or kNoTransaction.
  TransactionId cancels = kNoTransaction;
};

/// A response for the TU. txn == kNoTransaction: a stray response that matched no client
/// transaction (RFC 3261 §18.1.2; a proxy drops it per RFC 6026 §7.3, a UA core may use a 2xx).
struct ResponseAction {
  TransactionId txn = kNoTransaction;
  MessagePtr response;
  Peer from;
};

/// Timer B (INVITE client), F (non-INVITE client) or H (INVITE server, no ACK) fired.
struct TimeoutAction {
  TransactionId txn = kNoTransaction;
  TimerName timer = TimerName::kB;
};

/// The transport reported a failure for this transaction (RFC 3261 §17.1.4, §17.2.4).
struct TransportErrorAction {
  TransactionId txn = kNoTransaction;
};

/// The transaction reached "Terminated" and was destroyed; its handle is now dead. Also emitted
/// for a CANCEL that was queued (send_cancel before any 1xx) and dropped because the INVITE
/// completed first.
struct TerminatedAction {
  TransactionId txn = kNoTransaction;
};

using Action = std::variant<SendAction, RequestAction, ResponseAction, TimeoutAction,
                            TransportErrorAction, TerminatedAction>;

/// Errors the TU can get back from TransactionLayer calls (never from wire input).
enum class TxnError : std::uint8_t {
  kNone = 0,
  kUnknownTransaction,  // handle dead or never existed
  kWrongKind,           // e.g. send_response on a client transaction
  kWrongState,          // e.g. a 1xx after the final response (RFC 3261 §17.2.1)
  kInvalidMessage,      // request where a response is needed, ACK via send_request, no branch ...
  kDuplicate,           // a client transaction with this branch + method already exists
  kLimitReached,        // TransactionConfig::max_transactions
};
std::string_view txn_error_name(TxnError e) noexcept;

/// Counters for every drop / absorb decision (degraded handling must be visible).
struct TransactionStats {
  std::uint64_t requests_absorbed = 0;       // request retransmissions absorbed (maybe resent reply)
  std::uint64_t responses_absorbed = 0;      // response retransmissions absorbed by client txns
  std::uint64_t acks_absorbed = 0;           // ACKs for non-2xx absorbed by INVITE server txns
  std::uint64_t stray_responses = 0;         // responses matching no client transaction
  std::uint64_t stray_acks = 0;              // ACKs matching no server transaction
  std::uint64_t legacy_rejected = 0;         // RFC 2543 requests refused (kReject)
  std::uint64_t legacy_acks_dropped = 0;     // RFC 2543 ACKs dropped (kReject)
  std::uint64_t overload_rejected = 0;       // 503 because of max_transactions
  std::uint64_t retransmissions_sent = 0;    // A, E, G firings and resent replies / ACKs
  std::uint64_t timeouts = 0;                // B, F, H
};

}  // namespace portcullis::sip

template <>
struct std::hash<portcullis::sip::TransactionId> {
  std::size_t operator()(portcullis::sip::TransactionId id) const noexcept {
    return std::hash<std::uint64_t>{}(static_cast<std::uint64_t>(id));
  }
};
