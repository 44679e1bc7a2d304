// Domain model of the pinhole agent: bindings, their lease block, owners, sessions, events and
// the agent's error type. Plain values; no I/O and no protobuf (the gRPC service layer
// translates proto <-> these types).
//
// Vocabulary (MIDCOM, RFC 5189 §2.3): a *binding* is a NAT binding reserved for a private
// endpoint (PRR) and later enabled for remote peers (PER); a *group* is a set of bindings of one
// owner (one call) handled together (GLC); an *owner* is a controller shard holding a fencing
// token; a *session* is one controller's Session stream whose heartbeats renew its lease.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/base/error.h"
#include "common/net/ip_address.h"
#include "common/time/clock.h"
#include "pinhole-agent/backend/backend.h"

namespace portcullis::agent {

/// Agent-chosen binding id. It is also the conntrack mark of the binding's flows, so release can
/// flush conntrack by mark (fcp-notes §0.5). Never 0.
using BindingId = std::uint32_t;
using SessionId = std::uint64_t;

/// MIDCOM rule states (RFC 5190 midcomRuleOperStatus reserved(7)/enabled(8)) plus ORPHANED.
enum class BindingState : std::uint8_t { kReserved, kEnabled, kOrphaned, kClosed };

/// Why a binding closed or an event fired (solicited vs unsolicited, RFC 5190 notifications).
enum class Cause : std::uint8_t {
  kUnspecified,
  kRequested,
  kHardDeadline,
  kIdle,
  kReservationTimeout,
  kOrphanGraceExpired,
  kDrain,
  kAdmin,
  kStateLost,
  kPolicy,
  kSessionLapsed,
  kAdopted,
  kLatched,
};

enum class Parity : std::uint8_t { kAny, kEven };

/// How a binding stays alive besides its hard deadline (fcp-notes §2.4).
enum class Liveness : std::uint8_t {
  /// Bound to the owner's session lease: orphaned when it lapses, closed after orphan grace.
  kSession,
  /// Lives until the hard deadline; kept with Renew (PCP MAP style, RFC 6887 §11.2.1).
  kLifetimeOnly,
};

/// What the controller asks for (all durations relative to the request's arrival).
struct LeaseRequest {
  /// Required, > 0; granted min(lifetime, max_lifetime) (RFC 5190 midcomRuleLifetime).
  Clock::Duration lifetime{0};
  Liveness liveness = Liveness::kSession;
  /// 0 = agent default; capped by max_orphan_grace.
  Clock::Duration orphan_grace{0};
  /// 0 = no idle closing (RFC 5190 midcomRuleMaxIdleTime).
  Clock::Duration idle_timeout{0};
  /// 0 = agent default; capped by max_reservation_timeout.
  Clock::Duration reservation_timeout{0};
};

/// The granted lease block and the timers derived from it. All instants are on the agent's
/// monotonic clock.
struct Lease {
  Clock::TimePoint hard_deadline{};  // always set (invariant I1)
  Liveness liveness = Liveness::kSession;
  Clock::Duration orphan_grace{0};
  Clock::Duration idle_timeout{0};
  Clock::Duration reservation_timeout{0};
  /// Set while RESERVED: an offer never answered closes then.
  std::optional<Clock::TimePoint> reservation_deadline;
  /// Set while ORPHANED: min(orphaned_at + orphan_grace, hard_deadline) (invariant I2).
  std::optional<Clock::TimePoint> orphan_deadline;
  /// Set by the I/O shell's idle report; cleared by traffic. Closes at idle_since + idle_timeout.
  std::optional<Clock::TimePoint> idle_since;
  friend bool operator==(const Lease&, const Lease&) = default;
};

enum class LatchMode : std::uint8_t { kNone, kOneShot };

/// One allowed remote peer. Exact (address + port) or a one-shot latch on the signalled address
/// (RFC 7362 §4 mitigation: only the signalled IP may latch, once).
struct RemoteSpec {
  net::IpAddress address;
  /// Exact remote port (RTP component); must be 0 for a latch.
  std::uint16_t port = 0;
  /// For port_count 2 and an exact port: remote RTCP port; 0 = port + 1 (RFC 3550 §11).
  std::uint16_t rtcp_port = 0;
  LatchMode latch = LatchMode::kNone;
  friend bool operator==(const RemoteSpec&, const RemoteSpec&) = default;
};

/// A remote of a binding as held: the spec plus what a latch learned.
struct PinholeState {
  RemoteSpec spec;
  /// Learned remote port per component (RTP, RTCP) once the latch fired; 0 = not yet.
  std::uint16_t latched_port[2] = {0, 0};
  friend bool operator==(const PinholeState&, const PinholeState&) = default;
};

struct Binding {
  BindingId id = 0;
  std::string owner;
  std::string group_id;     // empty = no group
  std::string natural_key;  // empty = none
  std::string realm;
  L4Protocol protocol = L4Protocol::kUdp;
  net::Endpoint private_endpoint;  // first port; port_count consecutive ports
  net::Endpoint public_endpoint;   // first port; port_count consecutive ports
  std::uint8_t port_count = 1;
  Parity parity = Parity::kAny;
  BindingState state = BindingState::kReserved;
  /// The state to return to when an orphan is adopted.
  BindingState state_before_orphan = BindingState::kReserved;
  Cause cause = Cause::kUnspecified;  // for kClosed
  std::vector<PinholeState> pinholes;
  Lease lease;
  /// Monotonic per binding (RFC 5973 §3.5 MSN-like); +1 on every change.
  std::uint64_t generation = 1;
  /// The owner's fencing token on the last change.
  std::uint64_t fencing_token = 0;
  Clock::TimePoint created_at{};
  /// When the kernel elements time out by themselves: min(expiry, armed_at + kernel_lease).
  Clock::TimePoint kernel_expiry{};
  /// When the kernel timeouts were last written.
  Clock::TimePoint kernel_armed_at{};

  /// Earliest instant at which the agent itself closes the binding (idle excluded: that
  /// depends on traffic reports). Never later than the hard deadline.
  Clock::TimePoint expiry() const noexcept;
  /// The cause that expiry() corresponds to.
  Cause expiry_cause() const noexcept;
  std::uint32_t mark() const noexcept { return id; }

  friend bool operator==(const Binding&, const Binding&) = default;
};

/// Unsolicited notifications (MIDCOM ARE, RFC 5189 §2.3).
enum class EventKind : std::uint8_t {
  kExpired,
  kIdle,
  kLatched,
  kOrphaned,
  kAdopted,
  kClosedByAgent,
  kDrain,
};

struct Event {
  std::uint64_t seq = 0;
  Clock::TimePoint time{};
  EventKind kind = EventKind::kExpired;
  Cause cause = Cause::kUnspecified;
  std::string owner;
  std::string group_id;
  BindingId binding_id = 0;
  std::optional<net::Endpoint> latched_remote;
  std::string detail;
  friend bool operator==(const Event&, const Event&) = default;
};

/// Machine-readable error reason (the proto ErrorReason; README.md has the code mapping).
enum class ErrorReason : std::uint8_t {
  kUnspecified,
  kBadTuple,
  kUnsupportedProtocol,
  kInvalidField,
  kUnknownBinding,
  kUnknownGroup,
  kKeyConflict,
  kEndpointInUse,
  kStaleFencingToken,
  kNotOwner,
  kOwnerHeld,
  kNoSession,
  kGenerationMismatch,
  kNoPorts,
  kTableFull,
  kOwnerQuota,
  kCannotProvideExternal,
  kExcessiveRemotePeers,
  kDraining,
  kNotReady,
  kRealmDenied,
  kDataplaneError,
  kRequestIdReused,
};

/// PCP-style retry classes (RFC 6887 §7.4 long vs short lifetime errors).
enum class RetryClass : std::uint8_t { kNever, kAfterDelay, kAfterReread, kOtherAgent };

/// The agent's error: a canonical code, a reason, a message naming the field, and retry advice.
struct AgentError {
  ErrorCode code = ErrorCode::kUnknown;
  ErrorReason reason = ErrorReason::kUnspecified;
  std::string message;
  RetryClass retry_class = RetryClass::kNever;
  Clock::Duration retry_after{0};

  Error to_error() const { return {code, message}; }
  std::string to_string() const;
  friend bool operator==(const AgentError&, const AgentError&) = default;
};

template <class T>
using AgentResult = Result<T, AgentError>;

std::string_view binding_state_name(BindingState s) noexcept;
std::string_view cause_name(Cause c) noexcept;
std::string_view event_kind_name(EventKind k) noexcept;
std::string_view error_reason_name(ErrorReason r) noexcept;

}  // namespace portcullis::agent
