// FcpClient: the seam between the media layer and the pinhole agents (architecture.md "Interfaces
// only at real seams"). Typed like Envoy's AsyncRequestCallbacks<Response> (style §4.8): domain
// structs in, FcpResult<T> out, never proto messages or string maps.
//
// Threading / executor rules (every implementation, GrpcFcpClient and FakeFcpClient alike):
//   * The client is affine to one Asio executor (a single-threaded io_context or a strand).
//     Create it, call it and destroy it on that executor.
//   * Calls never block and never invoke the callback inline: the callback is always posted to
//     the executor, so a caller may hold its own state across the call without re-entrancy.
//   * Every callback is invoked exactly once, unless the client is destroyed first: a client
//     that is destroyed drops pending callbacks (they are destroyed, not called). Shut down the
//     media layer before the client.
//   * FcpSubscriber callbacks run on the same executor.
//
// Idempotency: every write carries a request_id (generated unless the request sets one). The
// client retries transport failures and deadlines itself, within its time budget, with the SAME
// request_id (fcp-notes §2.5, I6); a failure it returns names the request_id so the caller can retry
// later with it. Reserve is also idempotent on its natural key.
#pragma once

#include <vector>

#include <boost/asio/any_io_executor.hpp>

#include "controller/fcp/fcp_types.h"

namespace portcullis::fcp {

/// Why the subscriber should compare its own state with an agent's (fcp-notes §2.8).
enum class ReconcileReason : std::uint8_t {
  /// Same state_epoch, new instance_id: the agent process restarted and kept the kernel state.
  /// The client already adopted this controller's bindings (Hello claims + Adopt); nothing was
  /// interrupted, but events may have been missed.
  kAgentRestarted,
  /// The event stream could not resume (KIND_RESYNC_REQUIRED, the K8s "410 Gone" pattern):
  /// events were lost; List and compare.
  kResyncRequired,
  /// The fencing token changed and the client re-adopted the owner on this agent.
  kOwnerAdopted,
};

struct ReconcileNeeded {
  std::string agent;
  ReconcileReason reason = ReconcileReason::kAgentRestarted;
  AgentInfo info;
  /// From the Adopt answer when the client adopted: orphans that became live again, and bindings
  /// moved from another (or the same) live session.
  std::uint64_t adopted = 0;
  std::uint64_t already_bound = 0;
};

/// The agent lost its kernel state (new state_epoch, or the RFC 6887 §8.5 epoch check failed):
/// every binding this controller had there is gone. Re-create them, at once (PCP ANNOUNCE
/// behaviour), ideally asking for the same public port with PublicPortHint::kExactOrFail.
struct StateLost {
  std::string agent;
  std::optional<AgentInfo> before;
  AgentInfo after;
  bool epoch_check_failed = false;  // same state_epoch but the §8.5 test failed
};

enum class SessionState : std::uint8_t {
  kConnecting,  // Hello sent (or waiting for the channel)
  kUp,          // HelloAck received; heartbeats keep the session lease
  kDown,        // stream ended; reconnecting with backoff
};

struct SessionStatus {
  std::string agent;
  SessionState state = SessionState::kConnecting;
  /// Why the stream ended (kDown), when the agent or gRPC said.
  std::optional<FcpError> error;
};

/// Receives asynchronous news from the agents. Default implementations ignore everything.
class FcpSubscriber {
 public:
  virtual ~FcpSubscriber() = default;
  /// Events of this controller's owner, deduplicated on (state_epoch, seq). KIND_RESYNC_REQUIRED
  /// is not delivered here; it becomes on_reconcile_needed(kResyncRequired).
  virtual void on_event(const FcpEvent& /*event*/) {}
  virtual void on_state_lost(const StateLost& /*loss*/) {}
  virtual void on_reconcile_needed(const ReconcileNeeded& /*need*/) {}
  virtual void on_session(const SessionStatus& /*status*/) {}
};

class FcpClient {
 public:
  virtual ~FcpClient() = default;

  /// The executor every callback runs on.
  virtual boost::asio::any_io_executor executor() const = 0;

  /// Reserve a public endpoint (pair) for a private one. ~ MIDCOM PRR.
  virtual void reserve(ReserveRequest request, FcpCallback<ReserveResult> done) = 0;
  /// Replace the binding's remote set. ~ MIDCOM PER.
  virtual void enable(EnableRequest request, FcpCallback<BindingInfo> done) = 0;
  /// Change a binding's or group's lifetime; 0 deletes. ~ MIDCOM RLC/GLC.
  virtual void renew(RenewRequest request, FcpCallback<std::vector<BindingInfo>> done) = 0;
  /// Close a binding, natural key or group (idempotent). ~ MIDCOM RLC(0).
  virtual void release(ReleaseRequest request, FcpCallback<ReleaseResult> done) = 0;
  /// One binding. ~ MIDCOM PRS.
  virtual void get(BindingTarget target, FcpCallback<BindingInfo> done) = 0;
  /// This controller's bindings on one agent (every page). ~ MIDCOM PRL/GL.
  virtual void list(ListRequest request, FcpCallback<std::vector<BindingInfo>> done) = 0;

  /// Where events, state loss, reconcile requests and session changes go; nullptr = nowhere.
  /// The subscriber must outlive the client or be unset first.
  virtual void set_subscriber(FcpSubscriber* subscriber) = 0;
};

}  // namespace portcullis::fcp
