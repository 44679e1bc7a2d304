// FcpService: the gRPC FirewallControl service of the pinhole agent (proto/fcp/v1).
//
// Translation only (style §4.9): proto -> domain (translate.h), authorisation of the caller's
// mTLS identity for the request's owner (access_policy.h), one PinholeManager call, domain ->
// proto, AgentError -> grpc::Status + ErrorDetail in trailing metadata "fcp-error-detail-bin".
//
// Threading: the callback API (grpc::CallbackService). Handlers run on gRPC's threads, never
// block, and post one task to the MutationExecutor, the only thread that touches the manager
// (and so the backend's netlink sockets). The task finishes the RPC. Why the callback API and not
// the sync API with a pool: Session streams are long-lived (one per controller process per
// agent); with the sync API each would pin a pool thread for its whole life, so the pool size
// would cap the number of controllers. With callbacks a stream costs no thread, and the executor
// queue (bounded) is the single place where load is shed.
//
// Deadlines: every unary RPC gets min(client deadline, now + rpc_timeout); a task still queued
// when it passes is answered DEADLINE_EXCEEDED without touching the manager (nothing changed, so
// a retry with the same request_id is safe). Streams are bounded by the session lease: no Hello
// within hello_timeout, or no message within session_ttl, ends the stream.
//
// Session stream: Hello -> manager.open_session(claims) -> HelloAck; every message renews the
// lease (manager.heartbeat); events the manager logs are pushed to every stream whose claimed or
// watched owners match (at-least-once, per-stream cursor); Resume replays from the ring buffer or
// answers KIND_RESYNC_REQUIRED. Stream end -> manager.end_session(): objects are orphaned when the
// lease lapses and closed after orphan grace unless adopted (core semantics).
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <optional>
#include <vector>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include <grpcpp/grpcpp.h>

#include "common/time/clock.h"
#include "fcp/v1/fcp.grpc.pb.h"
#include "pinhole-agent/core/pinhole_manager.h"
#include "pinhole-agent/service/access_policy.h"
#include "pinhole-agent/service/arena_allocator.h"
#include "pinhole-agent/service/mutation_executor.h"
#include "pinhole-agent/service/translate.h"

namespace portcullis::agent::service {

/// Trailing metadata key carrying a serialized pb::ErrorDetail on every non-OK status.
inline constexpr const char* kErrorDetailKey = "fcp-error-detail-bin";

struct ServiceOptions {
  /// Server-side cap on every unary RPC (bounded work even for clients without a deadline).
  std::chrono::milliseconds rpc_timeout{5000};
  /// A Session stream must say Hello within this.
  Clock::Duration hello_timeout = std::chrono::seconds(10);
  std::size_t max_sessions = 1024;
  /// Per-stream outgoing queue; a consumer this far behind is cut off (it will Resume).
  std::size_t max_stream_queue = 10'000;
  /// MutationExecutor queue bound.
  std::size_t max_queue = 4096;
  /// Advertised in Capabilities.
  bool ipv6 = true;
};

class SessionStream;

class FcpService final : public ::portcullis::fcp::v1::FirewallControl::CallbackService {
 public:
  /// `manager`, `clock` must outlive the service; `config` is the manager's (for Capabilities).
  FcpService(PinholeManager& manager, ManagerConfig config, const Clock& clock, AccessPolicy policy,
             ServiceOptions options = {});
  ~FcpService() override;
  FcpService(const FcpService&) = delete;
  FcpService& operator=(const FcpService&) = delete;

  /// Starts the mutation executor (and its tick timer). Call before the server accepts RPCs.
  void start();
  /// Graceful shutdown, step 1 (before grpc::Server::Shutdown): every stream gets GoAway and is
  /// finished UNAVAILABLE; later RPCs are refused. Kernel state is left alone: holes keep their
  /// kernel leases and a restarted agent adopts them.
  void begin_shutdown();
  /// Step 2 (after grpc::Server::Shutdown returned): stops the executor.
  void stop();

  /// Runs due manager timers, stream housekeeping and event fan-out now, synchronously
  /// (tests after FakeClock::advance; the executor also does this on its own).
  void run_timers_now();
  /// Runs `fn` on the mutation executor and waits (tests, operator hooks).
  void run_on_executor(const std::function<void()>& fn) { executor_.run_sync(fn); }
  /// Queues `fn` on the mutation executor without waiting (traffic facts from the conntrack
  /// watcher); manager events it causes are pushed to streams right after it. False when the
  /// queue is full or the executor stopped.
  bool post_to_executor(std::function<void()> fn) { return executor_.post(std::move(fn)); }
  std::size_t live_streams();

  // ---- FirewallControl ----
  grpc::ServerBidiReactor<pb::SessionRequest, pb::SessionResponse>* Session(
      grpc::CallbackServerContext* ctx) override;
  grpc::ServerUnaryReactor* GetCapabilities(grpc::CallbackServerContext* ctx,
                                            const pb::GetCapabilitiesRequest* req,
                                            pb::GetCapabilitiesResponse* resp) override;
  grpc::ServerUnaryReactor* ReserveBinding(grpc::CallbackServerContext* ctx,
                                           const pb::ReserveBindingRequest* req,
                                           pb::ReserveBindingResponse* resp) override;
  grpc::ServerUnaryReactor* EnablePinholes(grpc::CallbackServerContext* ctx,
                                           const pb::EnablePinholesRequest* req,
                                           pb::EnablePinholesResponse* resp) override;
  grpc::ServerUnaryReactor* Renew(grpc::CallbackServerContext* ctx, const pb::RenewRequest* req,
                                  pb::RenewResponse* resp) override;
  grpc::ServerUnaryReactor* Release(grpc::CallbackServerContext* ctx, const pb::ReleaseRequest* req,
                                    pb::ReleaseResponse* resp) override;
  grpc::ServerUnaryReactor* GetBinding(grpc::CallbackServerContext* ctx,
                                       const pb::GetBindingRequest* req,
                                       pb::GetBindingResponse* resp) override;
  grpc::ServerUnaryReactor* ListBindings(grpc::CallbackServerContext* ctx,
                                         const pb::ListBindingsRequest* req,
                                         pb::ListBindingsResponse* resp) override;
  grpc::ServerUnaryReactor* Apply(grpc::CallbackServerContext* ctx, const pb::ApplyRequest* req,
                                  pb::ApplyResponse* resp) override;
  grpc::ServerUnaryReactor* Adopt(grpc::CallbackServerContext* ctx, const pb::AdoptRequest* req,
                                  pb::AdoptResponse* resp) override;
  grpc::ServerUnaryReactor* SetDraining(grpc::CallbackServerContext* ctx,
                                        const pb::SetDrainingRequest* req,
                                        pb::SetDrainingResponse* resp) override;

 private:
  friend class SessionStream;
  Principal principal_of(const grpc::CallbackServerContext* ctx) const;
  /// Resolves the caller, then posts one task running `body(principal, time)` on the executor and
  /// finishing the RPC with its status. A template (not std::function) so the body lives inside
  /// the one executor task: one allocation per RPC for the closure, not two.
  template <class Body>
  grpc::ServerUnaryReactor* unary(grpc::CallbackServerContext* ctx, const char* rpc, Body&& body);
  /// The early refusals of unary() (shutting down, unknown identity, queue full).
  grpc::ServerUnaryReactor* refuse(grpc::ServerUnaryReactor* reactor, grpc::CallbackServerContext* ctx,
                                   const AgentError& e);
  /// Adds the ErrorDetail trailer and returns the status (executor thread).
  grpc::Status fail(grpc::ServerContextBase* ctx, const AgentError& e, std::string_view binding_id = {});
  static grpc::Status fail_static(grpc::ServerContextBase* ctx, const AgentError& e, const AgentInfo& info);
  std::optional<AgentError> authorize(const Principal& p, const std::string& owner,
                                      std::string_view field) const;
  /// Reads: owner "" means every owner and needs the admin role.
  std::optional<AgentError> authorize_read(const Principal& p, const std::string& owner) const;
  AgentInfo cached_agent_info() const;

  // executor-only
  std::chrono::nanoseconds on_idle();
  void run_timers();
  void publish_events();
  void stream_opened(const std::shared_ptr<SessionStream>& s);
  void stream_message(const std::shared_ptr<SessionStream>& s, const pb::SessionRequest& req);
  void stream_closed(const std::shared_ptr<SessionStream>& s);
  void handle_hello(const std::shared_ptr<SessionStream>& s, const pb::SessionRequest::Hello& hello);
  void handle_resume(const std::shared_ptr<SessionStream>& s, std::uint64_t epoch, std::uint64_t last_seq);
  bool renew_lease(const std::shared_ptr<SessionStream>& s);
  void end_stream(const std::shared_ptr<SessionStream>& s, const grpc::Status& status);
  void fill_capabilities(pb::Capabilities* out) const;

  PinholeManager& manager_;
  const ManagerConfig config_;
  const Clock& clock_;
  const AccessPolicy policy_;
  const ServiceOptions options_;
  MutationExecutor executor_;

  mutable std::mutex info_mu_;
  AgentInfo info_cache_;
  std::atomic<bool> shutting_down_{false};

  // Per-RPC arenas for the request/response messages (arena_allocator.h). Registered in the
  // constructor; they must outlive the server, like the service.
  ArenaMessageAllocator<pb::ReserveBindingRequest, pb::ReserveBindingResponse> reserve_messages_;
  ArenaMessageAllocator<pb::EnablePinholesRequest, pb::EnablePinholesResponse> enable_messages_;
  ArenaMessageAllocator<pb::RenewRequest, pb::RenewResponse> renew_messages_;
  ArenaMessageAllocator<pb::ReleaseRequest, pb::ReleaseResponse> release_messages_;
  ArenaMessageAllocator<pb::GetBindingRequest, pb::GetBindingResponse> get_messages_;
  ArenaMessageAllocator<pb::ListBindingsRequest, pb::ListBindingsResponse, 16384> list_messages_;
  ArenaMessageAllocator<pb::ApplyRequest, pb::ApplyResponse, 16384> apply_messages_;

  // executor-only state
  std::set<std::shared_ptr<SessionStream>> streams_;
  std::map<SessionId, std::shared_ptr<SessionStream>> by_session_;
  std::uint64_t published_seq_ = 0;
};

/// Identities a peer presented: SAN URIs, SAN DNS names, all SANs, then the subject CN.
std::vector<std::string> peer_identities(const grpc::AuthContext& auth);

}  // namespace portcullis::agent::service
