// GrpcFcpClient: FcpClient over gRPC to one or more pinhole agents (proto/fcp/v1, fcp-notes §2).
//
// Per agent: one channel, one long-lived bidirectional Session stream (Hello with this
// controller's owner claim + fencing token -> HelloAck with the session TTL; heartbeats every
// min(heartbeat_interval, TTL/3); events to the subscriber, deduplicated on (state_epoch, seq);
// reconnect with jittered exponential backoff and Hello.resume{state_epoch, last_seq};
// RESYNC_REQUIRED -> on_reconcile_needed). Mutations are unary RPCs with a per-attempt deadline
// inside a total budget sized against SIP timers (retry_policy.h), retried only for retryable
// classes and always with the SAME request_id (fcp-notes §2.5, invariant I6).
//
// AgentInfo is checked on every response, error trailers and stream messages included
// (EpochTracker, fcp-notes §2.3 / RFC 6887 §8.5): a new state_epoch (or a failed §8.5 check) ->
// on_state_lost (re-create this controller's bindings there); same epoch + new instance_id ->
// Adopt into our session (the Hello claim already adopted the orphans; Adopt confirms and counts)
// then on_reconcile_needed(kAgentRestarted).
//
// Threading: gRPC's callback API, no completion-queue thread of ours. gRPC invokes completions on
// its own threads; they only copy the result and post it to the client's executor, where all state
// lives (one executor per piece of state, architecture.md). So the caller's executor never blocks
// on the network; the only wait is in shutdown(), which cancels every call and waits (bounded) for
// gRPC to return its callbacks, so none of them can touch a destroyed executor or clock.
// Why callbacks rather than a CompletionQueue thread: the agent uses the same API, it needs no
// extra thread or tag bookkeeping, and the Session stream costs no thread while idle.
//
// Use: create() on the executor, start() to open the sessions, then the FcpClient calls. Destroy
// on the executor (or call shutdown() first). The executor (its io_context) and the clock must
// outlive the client.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <grpcpp/support/client_interceptor.h>

#include "common/base/result.h"
#include "common/time/clock.h"
#include "controller/fcp/agent_directory.h"
#include "controller/fcp/fcp_client.h"
#include "controller/fcp/retry_policy.h"

namespace portcullis::fcp {

struct AgentEndpoint {
  /// Our name for the agent; AgentDirectory routes and BindingRef.agent use it.
  std::string name;
  /// gRPC target, e.g. "edge-1.dmz.example:7443" or "127.0.0.1:7443".
  std::string target;
  /// The agent_id its AgentInfo must carry (pinning, fcp-notes §2.10: "the SAN must equal the
  /// configured agent_id"); empty = `name`.
  std::string expected_agent_id;
  /// TLS: the name the server certificate must carry when it differs from the target host
  /// (GRPC_SSL_TARGET_NAME_OVERRIDE_ARG). Empty = verify against the target host.
  std::string tls_server_name;
};

/// mTLS material as PEM contents (the app reads the files, so errors name the config key).
struct ClientTls {
  /// Plaintext, no client certificate. Lab use only (the agent must run --insecure-lab too).
  bool insecure_lab = false;
  std::string ca_pem;           // agents' certificates must chain to this
  std::string cert_chain_pem;   // our client certificate (its SAN is our identity at the agent)
  std::string private_key_pem;
};

struct SessionOptions {
  /// No HelloAck within this after starting a stream -> cancel and reconnect.
  Millis hello_timeout{3000};
  /// Reconnect backoff of the Session stream: jittered, doubling from initial to max.
  Millis reconnect_initial{100};
  Millis reconnect_max{5000};
  /// 0 = from HelloAck: min(heartbeat_interval, session_ttl / 3) (fcp-notes §4.3: 5 s / 15 s).
  Millis heartbeat_override{0};
  /// gRPC channel settings (fcp-notes §2.10): keepalive pings so a dead path is noticed even
  /// when no RPC is in flight; a short channel reconnect backoff so a restarted agent is found fast.
  Millis keepalive_time{10000};
  Millis keepalive_timeout{5000};
  Millis channel_reconnect_max{2000};
};

struct GrpcFcpClientConfig {
  /// The controller shard this client acts for (WriteMeta.owner; not a pod name).
  std::string owner;
  /// Fencing token of the shard lease (static for now; a Redis lease store later).
  std::uint64_t fencing_token = 0;
  /// For the agent's logs (Hello.controller_instance).
  std::string controller_instance;
  std::vector<AgentEndpoint> agents;
  AgentDirectory directory;
  ClientTls tls;
  RetryConfig retry;
  SessionOptions session;
  /// Run the RFC 6887 §8.5 epoch-time test on every response.
  bool check_epoch_seconds = true;
  /// Refuse answers whose AgentInfo.agent_id is not the configured agent.
  bool pin_agent_id = true;
  std::uint32_t list_page_size = 500;
  /// list() stops (kResourceExhausted) after this many pages: bounded work.
  std::uint32_t max_list_pages = 1000;
  /// Tests only: client interceptors for every channel (e.g. to lose a response on purpose).
  std::function<std::vector<std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>>()>
      interceptors;
};

/// Counters and session state of one agent connection (tests, metrics).
struct AgentStats {
  SessionState session = SessionState::kDown;
  std::string session_id;
  std::uint64_t sessions_opened = 0;  // HelloAcks received
  std::uint64_t heartbeats_sent = 0;
  std::uint64_t heartbeat_acks = 0;
  std::uint64_t events_delivered = 0;
  std::uint64_t events_deduplicated = 0;
  std::uint64_t rpc_attempts = 0;
  std::uint64_t rpc_retries = 0;
  std::uint64_t state_losses = 0;
  std::uint64_t restarts_seen = 0;
  std::uint64_t adopts = 0;
};

class GrpcFcpClient final : public FcpClient {
 public:
  /// Validates the config (kInvalidArgument naming the field) and creates one channel per agent.
  /// Nothing connects before start().
  static Result<std::unique_ptr<GrpcFcpClient>> create(boost::asio::any_io_executor executor,
                                                       GrpcFcpClientConfig config, const Clock& clock);
  ~GrpcFcpClient() override;
  GrpcFcpClient(const GrpcFcpClient&) = delete;
  GrpcFcpClient& operator=(const GrpcFcpClient&) = delete;

  /// Opens the Session stream to every agent (and keeps them open until shutdown).
  void start();
  /// Cancels every stream and call, drops pending callbacks, waits (bounded) for gRPC to hand back
  /// its callbacks. Idempotent; the destructor calls it.
  void shutdown();

  /// The shard lease moved to a higher token: later writes carry it, and every live session
  /// re-adopts the owner with it (fcp-notes §2.6 takeover), then on_reconcile_needed(kOwnerAdopted).
  void set_fencing_token(std::uint64_t token);

  std::optional<AgentStats> stats(const std::string& agent) const;
  /// The latest AgentInfo seen from the agent.
  std::optional<AgentInfo> agent_info(const std::string& agent) const;

  // ---- FcpClient ----
  boost::asio::any_io_executor executor() const override;
  void reserve(ReserveRequest request, FcpCallback<ReserveResult> done) override;
  void enable(EnableRequest request, FcpCallback<BindingInfo> done) override;
  void renew(RenewRequest request, FcpCallback<std::vector<BindingInfo>> done) override;
  void release(ReleaseRequest request, FcpCallback<ReleaseResult> done) override;
  void get(BindingTarget target, FcpCallback<BindingInfo> done) override;
  void list(ListRequest request, FcpCallback<std::vector<BindingInfo>> done) override;
  void set_subscriber(FcpSubscriber* subscriber) override;

  struct Core;

 private:
  explicit GrpcFcpClient(std::shared_ptr<Core> core);
  std::shared_ptr<Core> core_;
};

}  // namespace portcullis::fcp
