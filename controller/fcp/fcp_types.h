// Domain types of the controller's FCP client: our own structs, never protobuf (style §4.8 keeps
// fcp_client.h typed; the proto stays an implementation detail of GrpcFcpClient). The vocabulary is
// MIDCOM's (RFC 5189 §2.3: reserve, enable, lifetime change, release, status, list, events, groups)
// with PCP's mechanics (RFC 6887: leases, epochs, short/long error classes). See fcp-notes §2.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/base/error.h"
#include "common/base/result.h"
#include "common/net/ip_address.h"

namespace portcullis::fcp {

using Millis = std::chrono::milliseconds;
using WallTime = std::chrono::system_clock::time_point;

enum class Protocol : std::uint8_t { kUdp, kTcp };

/// Public port parity (RFC 4787 REQ-4): RTP on an even port, RTCP on the next odd one.
enum class Parity : std::uint8_t { kAny, kEven };

/// How a binding stays alive besides its hard limit (fcp-notes §2.4).
enum class Liveness : std::uint8_t {
  /// Bound to this controller's Session lease (heartbeats); ORPHANED when the lease lapses, closed
  /// after orphan grace unless adopted. The normal mode for calls: no per-binding refresh traffic.
  kSession,
  /// Lives until the hard limit; renew on the PCP schedule (renewal_schedule.h). Infrastructure.
  kLifetimeOnly,
};

/// MIDCOM rule states (RFC 5190 midcomRuleOperStatus reserved(7)/enabled(8) + termination).
enum class BindingState : std::uint8_t { kUnknown, kReserved, kEnabled, kOrphaned, kClosed };

/// Why a binding closed or an event happened (solicited vs unsolicited, RFC 5190 notifications).
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

/// The lease block of a new binding (fcp-notes §2.4). The hard limit is mandatory: nothing ever
/// "never expires" (invariant I1); the agent grants min(requested, its max_lifetime).
struct LeaseOptions {
  Millis lifetime = std::chrono::hours(4);
  Liveness liveness = Liveness::kSession;
  /// 0 = agent default (180 s); capped by the agent.
  Millis orphan_grace{0};
  /// 0 = off. >= 120 s recommended for UDP media (RFC 4787 REQ-5).
  Millis idle_timeout{0};
  /// Closes a reservation never enabled (offer without answer). 0 = agent default.
  Millis reservation_timeout{0};
};

/// Which public port to ask for (PCP suggested port / PREFER_FAILURE, RFC 6887 §11.3, §13.2).
struct PublicPortHint {
  enum class Mode : std::uint8_t {
    kPrefer,       // use it if free, else any
    kExactOrFail,  // exactly this or CANNOT_PROVIDE_EXTERNAL: re-creating after state loss
  };
  /// Address 0.0.0.0 (default IpAddress) = any pool address.
  net::Endpoint suggested;
  Mode mode = Mode::kPrefer;
};

/// Reserve a public ip:port (pair) for a private endpoint. ~ MIDCOM PRR, PCP MAP.
struct ReserveRequest {
  /// Agent to use; empty = the AgentDirectory route for private_endpoint.
  std::string agent;
  /// MIDCOM policy rule group (one SIP dialog); optional, <= 32 bytes.
  std::string group_id;
  /// Controller-chosen idempotency key, e.g. sha256(call-id|from-tag|m-line|leg) hex, <= 64 bytes.
  /// Same key + same spec => the existing binding (created=false).
  std::string natural_key;
  Protocol protocol = Protocol::kUdp;
  net::Endpoint private_endpoint;
  /// 1, or 2 for RTP+RTCP (then parity must be kEven).
  std::uint32_t port_count = 2;
  Parity parity = Parity::kEven;
  LeaseOptions lease;
  std::optional<PublicPortHint> public_port;
  /// Public address pool; empty = the directory route's realm, else the agent default.
  std::string realm;
  /// Idempotency key (AIP-155). Empty = generated. To retry a failed call at the caller's level,
  /// pass FcpError::request_id back here: the agent answers the first result again.
  std::string request_id;
};

/// One allowed remote peer: exact ip:port, or a one-shot latch on the signalled IP (RFC 7362 §4;
/// fcp-notes §5: latching only for the signalled IP, never a wildcard).
struct RemotePeer {
  net::IpAddress address;
  /// nullopt = one-shot latch: the first packet from `address` fixes the port.
  std::optional<std::uint16_t> port;
  /// Pairs with an exact port: the remote RTCP port; 0 = port + 1 (RFC 3550 §11).
  std::uint16_t rtcp_port = 0;

  static RemotePeer exact(const net::Endpoint& e, std::uint16_t rtcp = 0) { return {e.address(), e.port(), rtcp}; }
  static RemotePeer latch(const net::IpAddress& a) { return {a, std::nullopt, 0}; }
  friend bool operator==(const RemotePeer&, const RemotePeer&) = default;
};

/// A binding on one agent, by the agent's id.
struct BindingRef {
  std::string agent;
  std::string binding_id;
  friend bool operator==(const BindingRef&, const BindingRef&) = default;
};
/// A binding on one agent, by the controller's natural key.
struct NaturalKeyRef {
  std::string agent;
  std::string natural_key;
  friend bool operator==(const NaturalKeyRef&, const NaturalKeyRef&) = default;
};
/// Every binding of (owner, group) on one agent (MIDCOM GLC / group release).
struct GroupRef {
  std::string agent;
  std::string group_id;
  friend bool operator==(const GroupRef&, const GroupRef&) = default;
};

using BindingTarget = std::variant<BindingRef, NaturalKeyRef>;
using RenewTarget = std::variant<BindingRef, GroupRef>;
using ReleaseTarget = std::variant<BindingRef, NaturalKeyRef, GroupRef>;

/// Set the remote peers of a binding (replaces the set). ~ MIDCOM PER, PCP FILTER.
struct EnableRequest {
  BindingTarget binding;
  std::vector<RemotePeer> remotes;
  /// Non-zero: refuse (ABORTED / GENERATION_MISMATCH) unless the binding is at this generation
  /// (re-INVITE changing the remote, fcp-notes §2.5).
  std::uint64_t expected_generation = 0;
  std::string request_id;
};

/// Change the lifetime of a binding or group; 0 deletes (RFC 5190 midcomRuleLifetime).
struct RenewRequest {
  RenewTarget target;
  Millis lifetime{0};
  std::string request_id;
};

/// Close a binding, a natural key or a group. Idempotent: absent => OK with existed=false.
struct ReleaseRequest {
  ReleaseTarget target;
  std::string request_id;
};

/// The caller's bindings on one agent (all pages), optionally one group. ~ MIDCOM PRL / GL.
struct ListRequest {
  std::string agent;
  std::string group_id;
};

struct PinholeInfo {
  RemotePeer remote;
  /// Set once a one-shot latch fired: the learned remote (RTP component).
  std::optional<net::Endpoint> latched_remote;
};

/// Read-only lease status. Instants are the agent's wall clock converted from its monotonic one;
/// prefer them for display only (RFC 6887 §8.5: clocks disagree).
struct LeaseInfo {
  Liveness liveness = Liveness::kSession;
  std::optional<WallTime> hard_deadline;
  std::optional<WallTime> reservation_deadline;
  std::optional<WallTime> orphan_deadline;
  std::optional<WallTime> expire_time;
  Millis orphan_grace{0};
  Millis idle_timeout{0};
};

struct BindingInfo {
  std::string agent;  // the agent that holds it (our directory name)
  std::string binding_id;
  std::string natural_key;
  std::string group_id;
  std::string owner;
  std::uint64_t generation = 0;
  std::uint64_t fencing_token = 0;
  BindingState state = BindingState::kUnknown;
  Cause cause = Cause::kUnspecified;
  Protocol protocol = Protocol::kUdp;
  net::Endpoint private_endpoint;
  /// First public port; port_count consecutive ports.
  net::Endpoint public_endpoint;
  std::uint32_t port_count = 1;
  Parity parity = Parity::kAny;
  std::vector<PinholeInfo> pinholes;
  LeaseInfo lease;
  std::string realm;

  BindingRef ref() const { return {agent, binding_id}; }
  /// The public endpoints in SDP order: RTP, then RTCP when port_count is 2.
  std::vector<net::Endpoint> public_endpoints() const;
};

struct ReserveResult {
  BindingInfo binding;
  bool created = false;  // false: an identical natural-key binding already existed
};

struct ReleaseResult {
  bool existed = false;
  std::vector<BindingInfo> final_state;  // CLOSED, with the cause
};

/// Identity and epoch of an agent, from every response (fcp-notes §2.3, RFC 6887 §8.5).
struct AgentInfo {
  std::string agent_id;
  std::string instance_id;
  std::uint64_t state_epoch = 0;
  std::uint32_t epoch_seconds = 0;
  friend bool operator==(const AgentInfo&, const AgentInfo&) = default;
};

enum class EventKind : std::uint8_t {
  kUnknown,  // a kind newer than this client (proto3 enums are open)
  kExpired,
  kIdle,
  kLatched,
  kOrphaned,
  kAdopted,
  kClosedByAgent,
  kDrain,
  kResyncRequired,
};

/// Asynchronous notification from an agent (MIDCOM ARE). Advisory: Get/List are authoritative.
struct FcpEvent {
  std::string agent;
  std::uint64_t state_epoch = 0;
  std::uint64_t seq = 0;
  WallTime time{};
  EventKind kind = EventKind::kUnknown;
  Cause cause = Cause::kUnspecified;
  std::string owner;
  std::string group_id;
  std::string binding_id;
  std::optional<net::Endpoint> latched_remote;
  std::string detail;
};

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// The agent's ErrorDetail.reason (proto/fcp/v1/README.md table) plus client-side reasons.
enum class FcpReason : std::uint8_t {
  kNone,
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
  // client side
  kTransport,      // no answer from the agent (connection refused/broken), no ErrorDetail
  kDeadline,       // the per-attempt deadline or the whole budget ran out
  kNoRoute,        // AgentDirectory has no agent for the endpoint / unknown agent name
  kAgentMismatch,  // AgentInfo.agent_id is not the agent we configured (pinning)
  kShutdown,       // the client is shutting down
  kBadResponse,    // the agent's answer did not parse into our types
};

/// How a caller may retry (PCP long vs short lifetime errors, RFC 6887 §7.4; fcp-notes §2.9).
enum class RetryClass : std::uint8_t {
  kNever,        // long: fix the request or the caller's state first
  kSameRequest,  // transport/deadline: the outcome is unknown; retry with the SAME request_id
  kAfterDelay,   // short: retry after retry_after
  kAfterReread,  // re-read (get) or re-establish the session, then retry
  kOtherAgent,   // this agent is draining: use another one
};

struct FcpError {
  Error error;
  FcpReason reason = FcpReason::kNone;
  RetryClass retry_class = RetryClass::kNever;
  Millis retry_after{0};
  std::string field;       // offending request field, e.g. "private_endpoint.port"
  std::string binding_id;  // KEY_CONFLICT: the existing binding; else the target
  std::string agent;
  /// The write's idempotency key: pass it back in the retried request (kSameRequest).
  std::string request_id;
  int attempts = 0;

  bool retryable() const noexcept { return retry_class != RetryClass::kNever; }
  std::string to_string() const;
};

template <class T>
using FcpResult = Result<T, FcpError>;

/// Completion handler: always invoked on the client's executor, never inline in the call.
template <class T>
using FcpCallback = std::function<void(FcpResult<T>)>;

std::string_view to_string(FcpReason r) noexcept;
std::string_view to_string(RetryClass r) noexcept;
std::string_view to_string(EventKind k) noexcept;
std::string_view to_string(BindingState s) noexcept;

/// Agent name of a target (every target names its agent).
const std::string& agent_of(const BindingTarget& t);
const std::string& agent_of(const RenewTarget& t);
const std::string& agent_of(const ReleaseTarget& t);

}  // namespace portcullis::fcp
