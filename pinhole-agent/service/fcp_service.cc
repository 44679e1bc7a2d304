#include "pinhole-agent/service/fcp_service.h"

#include <algorithm>
#include <deque>
#include <limits>

#include <grpc/grpc_security_constants.h>

#include "common/base/text.h"
#include "common/log/log.h"

namespace portcullis::agent::service {

namespace {

using std::chrono::duration_cast;

std::shared_ptr<spdlog::logger> logger() { return log::get("fcp"); }

AgentError make_error(ErrorCode code, ErrorReason reason, std::string message,
                      RetryClass retry = RetryClass::kNever,
                      Clock::Duration retry_after = Clock::Duration::zero()) {
  AgentError e;
  e.code = code;
  e.reason = reason;
  e.message = std::move(message);
  e.retry_class = retry;
  e.retry_after = retry_after;
  return e;
}

AgentError shutting_down_error() {
  return make_error(ErrorCode::kUnavailable, ErrorReason::kNotReady,
                    "agent is shutting down; retry shortly (same request_id)",
                    RetryClass::kAfterDelay, std::chrono::seconds(1));
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// SessionStream: one bidi Session. gRPC-side state (write queue, finish) under mu_; the rest is
// touched only on the executor. Kept alive by self_ until OnDone, and by executor tasks holding a
// shared_ptr, so a task never sees a freed reactor; after OnDone every operation is a no-op.
// ---------------------------------------------------------------------------------------------

class SessionStream final : public grpc::ServerBidiReactor<pb::SessionRequest, pb::SessionResponse>,
                            public std::enable_shared_from_this<SessionStream> {
 public:
  SessionStream(FcpService& service, grpc::CallbackServerContext* ctx, Principal who,
                Clock::TimePoint opened)
      : principal(std::move(who)), opened_at(opened), service_(service), ctx_(ctx) {}

  // Locking rule: mu_ guards the queue and flags only; gRPC operations (StartRead, StartWrite,
  // Finish) are always called after releasing it, because gRPC may run OnWriteDone/OnDone inline
  // on the calling thread when an operation completes at once, and those take mu_ again.

  void begin() {
    self_ = shared_from_this();
    StartRead(&incoming_);
  }

  /// Queues a message; false when the stream is finishing or gone.
  bool send(pb::SessionResponse msg) {
    const pb::SessionResponse* to_write = nullptr;
    std::optional<grpc::Status> finish_now;
    bool queued = false;
    {
      std::lock_guard lock(mu_);
      if (finish_requested_ || done_) {
        return false;
      }
      if (outgoing_.size() >= service_.options_.max_stream_queue) {
        // A consumer this far behind would only grow our memory; cut it off, it will Resume.
        finish_now = request_finish_locked(
            grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "session stream consumer too slow; reconnect and Resume"),
            true);
      } else {
        outgoing_.push_back(std::move(msg));
        queued = true;
        if (!writing_) {
          writing_ = true;
          to_write = &outgoing_.front();
        }
      }
    }
    if (to_write != nullptr) {
      StartWrite(to_write);
    }
    if (finish_now) {
      Finish(*finish_now);
    }
    return queued;
  }

  /// Ends the stream with `status` after the queued messages (or at once when drop_pending).
  void finish(const grpc::Status& status, bool drop_pending = false, std::string trailer = {}) {
    std::optional<grpc::Status> finish_now;
    {
      std::lock_guard lock(mu_);
      if (!trailer.empty() && !finish_requested_ && !done_) {
        ctx_->AddTrailingMetadata(kErrorDetailKey, trailer);
      }
      finish_now = request_finish_locked(status, drop_pending);
    }
    if (finish_now) {
      Finish(*finish_now);
    }
  }

  void read_next() {
    {
      std::lock_guard lock(mu_);
      if (finish_requested_ || done_) {
        return;
      }
    }
    StartRead(&incoming_);
  }

  void OnReadDone(bool ok) override {
    auto self = shared_from_this();
    if (!ok) {
      // Client half-close, cancel or broken connection: the session ends (lease keeps running).
      service_.executor_.post([self] { self->service_.stream_closed(self); }, true);
      return;
    }
    pb::SessionRequest req = incoming_;  // the buffer is reused by the next read
    const bool posted = service_.executor_.post([self, req = std::move(req)] {
      self->service_.stream_message(self, req);
      self->read_next();  // one message in flight per stream: backpressure on chatty clients
    });
    if (!posted) {
      service_.executor_.post([self] { self->service_.stream_closed(self); }, true);
      finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "agent overloaded; reconnect and Resume"), true);
    }
  }

  void OnWriteDone(bool ok) override {
    const pb::SessionResponse* to_write = nullptr;
    std::optional<grpc::Status> finish_now;
    {
      std::lock_guard lock(mu_);
      if (!outgoing_.empty()) {
        outgoing_.pop_front();
      }
      if (!ok) {
        outgoing_.clear();  // the peer is gone; OnReadDone(false) ends the session
      }
      if (!outgoing_.empty() && !done_) {
        to_write = &outgoing_.front();
      } else {
        writing_ = false;
        if (finish_requested_ && !finished_) {
          finished_ = true;
          finish_now = finish_status_;
        }
      }
    }
    if (to_write != nullptr) {
      StartWrite(to_write);
    }
    if (finish_now) {
      Finish(*finish_now);
    }
  }

  void OnDone() override {
    {
      std::lock_guard lock(mu_);
      done_ = true;
    }
    auto self = shared_from_this();
    service_.executor_.post([self] { self->service_.stream_closed(self); }, true);
    self_.reset();  // gRPC is done with us; executor tasks may still hold references
  }

  // ---- executor-only state ----
  Principal principal;
  Clock::TimePoint opened_at;
  Clock::TimePoint last_message{};
  SessionId session = 0;
  std::set<std::string> claimed;       // owners this session holds
  std::vector<std::string> watching;   // owner patterns watched without claiming
  std::uint64_t cursor = 0;            // highest event seq delivered
  bool closed = false;

  bool wants(const std::string& owner) const {
    if (owner.empty()) {
      return true;  // agent-wide events (drain)
    }
    if (claimed.count(owner) != 0) {
      return true;
    }
    Principal w;
    w.owner_patterns = watching;
    return w.may_act_for(owner);
  }

 private:
  /// Records the finish; returns the status to Finish() with (after unlocking) when no write is
  /// in flight, else OnWriteDone finishes once the queue drains.
  std::optional<grpc::Status> request_finish_locked(const grpc::Status& status, bool drop_pending) {
    if (finish_requested_ || done_) {
      return std::nullopt;
    }
    finish_requested_ = true;
    finish_status_ = status;
    if (drop_pending && writing_) {
      // Keep only the message in flight (its buffer is owned by gRPC until OnWriteDone).
      while (outgoing_.size() > 1) {
        outgoing_.pop_back();
      }
    }
    if (writing_) {
      return std::nullopt;
    }
    finished_ = true;
    return status;
  }

  FcpService& service_;
  grpc::CallbackServerContext* ctx_;
  std::shared_ptr<SessionStream> self_;
  pb::SessionRequest incoming_;

  std::mutex mu_;
  std::deque<pb::SessionResponse> outgoing_;
  bool writing_ = false;
  bool finish_requested_ = false;
  bool finished_ = false;
  bool done_ = false;
  grpc::Status finish_status_;
};

// ---------------------------------------------------------------------------------------------
// Construction, lifecycle
// ---------------------------------------------------------------------------------------------

FcpService::FcpService(PinholeManager& manager, ManagerConfig config, const Clock& clock,
                       AccessPolicy policy, ServiceOptions options)
    : manager_(manager),
      config_(std::move(config)),
      clock_(clock),
      policy_(std::move(policy)),
      options_(options),
      executor_(options.max_queue) {
  info_cache_ = manager_.agent_info();  // before start(): no other thread yet
  SetMessageAllocatorFor_ReserveBinding(&reserve_messages_);
  SetMessageAllocatorFor_EnablePinholes(&enable_messages_);
  SetMessageAllocatorFor_Renew(&renew_messages_);
  SetMessageAllocatorFor_Release(&release_messages_);
  SetMessageAllocatorFor_GetBinding(&get_messages_);
  SetMessageAllocatorFor_ListBindings(&list_messages_);
  SetMessageAllocatorFor_Apply(&apply_messages_);
}

FcpService::~FcpService() { stop(); }

void FcpService::start() {
  published_seq_ = manager_.events().last_seq();
  executor_.start([this] { return on_idle(); });
}

void FcpService::begin_shutdown() {
  shutting_down_ = true;
  executor_.run_sync([this] {
    pb::SessionResponse bye;
    bye.mutable_go_away()->set_cause(pb::CAUSE_ADMIN);
    to_proto(manager_.agent_info(), bye.mutable_agent());
    const auto streams = streams_;
    for (const auto& s : streams) {
      s->send(bye);
      end_stream(s, grpc::Status(grpc::StatusCode::UNAVAILABLE, "agent shutting down"));
    }
  });
}

void FcpService::stop() { executor_.stop(); }

void FcpService::run_timers_now() { executor_.run_sync([this] { run_timers(); }); }

std::size_t FcpService::live_streams() {
  std::size_t n = 0;
  executor_.run_sync([&] { n = streams_.size(); });
  return n;
}

std::chrono::nanoseconds FcpService::on_idle() {
  run_timers();
  // Sleep until the manager's next deadline, but at least check streams once a second: hello
  // and lease timeouts are not manager deadlines.
  constexpr std::chrono::nanoseconds kMaxSleep = std::chrono::seconds(1);
  const auto next = manager_.next_deadline();
  if (!next) {
    return kMaxSleep;
  }
  const auto wait = *next - clock_.now();
  return std::clamp<std::chrono::nanoseconds>(duration_cast<std::chrono::nanoseconds>(wait),
                                              std::chrono::nanoseconds::zero(), kMaxSleep);
}

void FcpService::run_timers() {
  const Clock::TimePoint now = clock_.now();
  if (const auto d = manager_.next_deadline(); d && *d <= now) {
    const TickResult t = manager_.tick();
    if (t.backend_failures != 0) {
      logger()->warn("tick: {} backend batches refused; retried on the next tick", t.backend_failures);
    }
  }
  // Streams: Hello timeout and session lease (bounded stream life, no thread pinned).
  const auto streams = streams_;
  for (const auto& s : streams) {
    if (s->session == 0 && now - s->opened_at >= options_.hello_timeout) {
      end_stream(s, grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "no Hello within hello_timeout"));
    } else if (s->session != 0 && now - s->last_message >= config_.session_ttl) {
      const AgentError e = make_error(ErrorCode::kFailedPrecondition, ErrorReason::kNoSession,
                                      "session lease lapsed (no message within session_ttl)",
                                      RetryClass::kAfterReread);
      const std::string trailer = error_detail(e, manager_.agent_info()).SerializeAsString();
      s->finish(grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, e.message), false, trailer);
      end_stream(s, grpc::Status::OK);
    }
  }
  publish_events();
  std::lock_guard lock(info_mu_);
  info_cache_ = manager_.agent_info();
}

void FcpService::publish_events() {
  const std::uint64_t last = manager_.events().last_seq();
  if (last <= published_seq_) {
    return;
  }
  const auto events = manager_.events().since(published_seq_);
  published_seq_ = last;
  if (!events || by_session_.empty()) {
    return;  // no one listening, or the buffer wrapped (streams resync through Resume)
  }
  const TimeBase t = TimeBase::from(clock_);
  const AgentInfo info = manager_.agent_info();
  for (const Event& e : *events) {
    pb::SessionResponse msg;
    bool built = false;
    for (const auto& [id, s] : by_session_) {
      if (e.seq <= s->cursor || !s->wants(e.owner)) {
        continue;
      }
      if (!built) {
        to_proto(e, info.state_epoch, t, msg.mutable_event());
        to_proto(info, msg.mutable_agent());
        built = true;
      }
      s->cursor = e.seq;
      s->send(msg);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Identity and errors
// ---------------------------------------------------------------------------------------------

std::vector<std::string> peer_identities(const grpc::AuthContext& auth) {
  std::vector<std::string> out;
  auto add = [&](const char* property) {
    for (const auto& v : auth.FindPropertyValues(property)) {
      std::string s(v.data(), v.size());
      if (std::find(out.begin(), out.end(), s) == out.end()) {
        out.push_back(std::move(s));
      }
    }
  };
  add(GRPC_PEER_URI_PROPERTY_NAME);
  add(GRPC_PEER_DNS_PROPERTY_NAME);
  add(GRPC_X509_SAN_PROPERTY_NAME);
  add(GRPC_X509_CN_PROPERTY_NAME);
  return out;
}

Principal FcpService::principal_of(const grpc::CallbackServerContext* ctx) const {
  if (policy_.insecure()) {
    return policy_.resolve({});
  }
  const auto auth = ctx->auth_context();
  if (!auth || !auth->IsPeerAuthenticated()) {
    return Principal{};  // cannot happen with REQUIRE_AND_VERIFY, but fail closed
  }
  return policy_.resolve(peer_identities(*auth));
}

AgentInfo FcpService::cached_agent_info() const {
  std::lock_guard lock(info_mu_);
  return info_cache_;
}

grpc::Status FcpService::fail_static(grpc::ServerContextBase* ctx, const AgentError& e,
                                     const AgentInfo& info) {
  ctx->AddTrailingMetadata(kErrorDetailKey, error_detail(e, info).SerializeAsString());
  return grpc::Status(static_cast<grpc::StatusCode>(e.code), e.message);
}

grpc::Status FcpService::fail(grpc::ServerContextBase* ctx, const AgentError& e,
                              std::string_view binding_id) {
  ctx->AddTrailingMetadata(kErrorDetailKey,
                           error_detail(e, manager_.agent_info(), binding_id).SerializeAsString());
  return grpc::Status(static_cast<grpc::StatusCode>(e.code), e.message);
}

std::optional<AgentError> FcpService::authorize(const Principal& p, const std::string& owner,
                                                std::string_view field) const {
  if (owner.empty()) {
    return std::nullopt;  // the manager names the missing owner (INVALID_ARGUMENT)
  }
  if (p.may_act_for(owner)) {
    return std::nullopt;
  }
  return make_error(ErrorCode::kPermissionDenied, ErrorReason::kRealmDenied,
                    std::string(field) + " '" + log_excerpt(owner, 40) + "' is not allowed for identity '" +
                        log_excerpt(p.name, 100) + "'");
}

std::optional<AgentError> FcpService::authorize_read(const Principal& p, const std::string& owner) const {
  if (!owner.empty()) {
    return authorize(p, owner, "owner");
  }
  if (p.admin) {
    return std::nullopt;
  }
  return make_error(ErrorCode::kPermissionDenied, ErrorReason::kRealmDenied,
                    "owner is required: identity '" + log_excerpt(p.name, 100) +
                        "' is not an admin and may not read every owner");
}

grpc::ServerUnaryReactor* FcpService::refuse(grpc::ServerUnaryReactor* reactor,
                                             grpc::CallbackServerContext* ctx, const AgentError& e) {
  reactor->Finish(fail_static(ctx, e, cached_agent_info()));
  return reactor;
}

template <class Body>
grpc::ServerUnaryReactor* FcpService::unary(grpc::CallbackServerContext* ctx, const char* rpc,
                                            Body&& body) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  if (shutting_down_) {
    return refuse(reactor, ctx, shutting_down_error());
  }
  Principal p = principal_of(ctx);
  if (!p.known) {
    logger()->warn("{}: identity '{}' is not in tls.identities", rpc, log_excerpt(p.name));
    return refuse(reactor, ctx,
                  make_error(ErrorCode::kPermissionDenied, ErrorReason::kRealmDenied,
                             "identity '" + log_excerpt(p.name, 100) + "' may not use this agent"));
  }
  const auto deadline = std::min(ctx->deadline(), std::chrono::system_clock::now() + options_.rpc_timeout);
  const bool posted = executor_.post([this, ctx, reactor, rpc, p = std::move(p), deadline,
                                      body = std::forward<Body>(body)] {
    if (std::chrono::system_clock::now() >= deadline) {
      // Never started: nothing changed, so a retry with the same request_id is safe.
      reactor->Finish(grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED,
                                   std::string(rpc) + ": deadline passed while queued; nothing was done"));
      return;
    }
    if (ctx->IsCancelled()) {
      reactor->Finish(grpc::Status::CANCELLED);
      return;
    }
    const grpc::Status status = body(p, TimeBase::from(clock_));
    if (!status.ok()) {
      logger()->debug("{} by '{}': {} {}", rpc, p.name, static_cast<int>(status.error_code()),
                      status.error_message());
    }
    reactor->Finish(status);
  });
  if (!posted) {
    return refuse(reactor, ctx,
                  make_error(ErrorCode::kUnavailable, ErrorReason::kNotReady,
                             "agent overloaded: mutation queue full; retry with the same request_id",
                             RetryClass::kAfterDelay, std::chrono::seconds(1)));
  }
  return reactor;
}

void FcpService::fill_capabilities(pb::Capabilities* out) const { to_proto(config_, out, options_.ipv6); }

// ---------------------------------------------------------------------------------------------
// Unary RPCs
// ---------------------------------------------------------------------------------------------

grpc::ServerUnaryReactor* FcpService::GetCapabilities(grpc::CallbackServerContext* ctx,
                                                      const pb::GetCapabilitiesRequest* /*req*/,
                                                      pb::GetCapabilitiesResponse* resp) {
  return unary(ctx, "GetCapabilities", [this, resp](const Principal&, const TimeBase&) {
    fill_capabilities(resp->mutable_capabilities());
    to_proto(manager_.agent_info(), resp->mutable_agent());
    return grpc::Status::OK;
  });
}

grpc::ServerUnaryReactor* FcpService::ReserveBinding(grpc::CallbackServerContext* ctx,
                                                     const pb::ReserveBindingRequest* req,
                                                     pb::ReserveBindingResponse* resp) {
  return unary(ctx, "ReserveBinding", [this, ctx, req, resp](const Principal& p, const TimeBase& t) {
    if (auto denied = authorize(p, req->meta().owner(), "meta.owner")) {
      return fail(ctx, *denied);
    }
    auto r = reserve_from_proto(*req, t);
    if (!r.ok()) {
      return fail(ctx, r.error());
    }
    auto out = manager_.reserve(*r);
    if (!out.ok()) {
      return fail(ctx, out.error());
    }
    to_proto(out->binding, TimeBase::from(clock_), resp->mutable_binding());
    resp->set_created(out->created);
    to_proto(manager_.agent_info(), resp->mutable_agent());
    return grpc::Status::OK;
  });
}

grpc::ServerUnaryReactor* FcpService::EnablePinholes(grpc::CallbackServerContext* ctx,
                                                     const pb::EnablePinholesRequest* req,
                                                     pb::EnablePinholesResponse* resp) {
  return unary(ctx, "EnablePinholes", [this, ctx, req, resp](const Principal& p, const TimeBase&) {
    if (auto denied = authorize(p, req->meta().owner(), "meta.owner")) {
      return fail(ctx, *denied);
    }
    auto r = enable_from_proto(*req);
    if (!r.ok()) {
      return fail(ctx, r.error(), req->binding_id());
    }
    auto out = manager_.enable(*r);
    if (!out.ok()) {
      return fail(ctx, out.error(), req->binding_id());
    }
    to_proto(*out, TimeBase::from(clock_), resp->mutable_binding());
    to_proto(manager_.agent_info(), resp->mutable_agent());
    return grpc::Status::OK;
  });
}

grpc::ServerUnaryReactor* FcpService::Renew(grpc::CallbackServerContext* ctx,
                                            const pb::RenewRequest* req, pb::RenewResponse* resp) {
  return unary(ctx, "Renew", [this, ctx, req, resp](const Principal& p, const TimeBase&) {
    if (auto denied = authorize(p, req->meta().owner(), "meta.owner")) {
      return fail(ctx, *denied);
    }
    auto r = renew_from_proto(*req);
    if (!r.ok()) {
      return fail(ctx, r.error(), req->binding_id());
    }
    auto out = manager_.renew(*r);
    if (!out.ok()) {
      return fail(ctx, out.error(), req->binding_id());
    }
    const TimeBase now = TimeBase::from(clock_);
    for (const Binding& b : out->bindings) {
      to_proto(b, now, resp->add_bindings());
    }
    to_proto(manager_.agent_info(), resp->mutable_agent());
    return grpc::Status::OK;
  });
}

grpc::ServerUnaryReactor* FcpService::Release(grpc::CallbackServerContext* ctx,
                                              const pb::ReleaseRequest* req, pb::ReleaseResponse* resp) {
  return unary(ctx, "Release", [this, ctx, req, resp](const Principal& p, const TimeBase&) {
    if (auto denied = authorize(p, req->meta().owner(), "meta.owner")) {
      return fail(ctx, *denied);
    }
    auto r = release_from_proto(*req);
    if (!r.ok()) {
      return fail(ctx, r.error());
    }
    auto out = manager_.release(*r);
    if (!out.ok()) {
      return fail(ctx, out.error(), req->binding_id());
    }
    resp->set_existed(out->existed);
    const TimeBase now = TimeBase::from(clock_);
    for (const Binding& b : out->final_state) {
      to_proto(b, now, resp->add_final_state());
    }
    to_proto(manager_.agent_info(), resp->mutable_agent());
    return grpc::Status::OK;
  });
}

grpc::ServerUnaryReactor* FcpService::GetBinding(grpc::CallbackServerContext* ctx,
                                                 const pb::GetBindingRequest* req,
                                                 pb::GetBindingResponse* resp) {
  return unary(ctx, "GetBinding", [this, ctx, req, resp](const Principal& p, const TimeBase& t) {
    // owner "" is the admin read (every owner).
    if (auto denied = authorize_read(p, req->owner())) {
      return fail(ctx, *denied);
    }
    Target key;
    switch (req->key_case()) {
      case pb::GetBindingRequest::kBindingId: {
        auto id = parse_binding_id(req->binding_id());
        if (!id.ok()) {
          return fail(ctx, id.error(), req->binding_id());
        }
        key = ByBinding{*id};
        break;
      }
      case pb::GetBindingRequest::kNaturalKey:
        if (req->owner().empty()) {
          return fail(ctx, invalid_field("owner", "owner is required with natural_key"));
        }
        key = ByNaturalKey{req->natural_key()};
        break;
      case pb::GetBindingRequest::KEY_NOT_SET:
        return fail(ctx, invalid_field("key", "key is required: give binding_id or natural_key"));
    }
    auto out = manager_.get(req->owner(), key);
    if (!out.ok()) {
      return fail(ctx, out.error(), req->binding_id());
    }
    to_proto(*out, t, resp->mutable_binding());
    to_proto(manager_.agent_info(), resp->mutable_agent());
    return grpc::Status::OK;
  });
}

grpc::ServerUnaryReactor* FcpService::ListBindings(grpc::CallbackServerContext* ctx,
                                                   const pb::ListBindingsRequest* req,
                                                   pb::ListBindingsResponse* resp) {
  return unary(ctx, "ListBindings", [this, ctx, req, resp](const Principal& p, const TimeBase& t) {
    if (auto denied = authorize_read(p, req->owner())) {
      return fail(ctx, *denied);
    }
    if (req->page_size() > 1000) {
      return fail(ctx, invalid_field("page_size", "page_size must be 0..1000"));
    }
    ListRequest lr;
    lr.owner = req->owner();
    lr.group_id = req->group_id();
    lr.page_size = req->page_size();
    if (!req->page_token().empty()) {
      const auto tok = parse_decimal(req->page_token(), std::numeric_limits<BindingId>::max());
      if (!tok) {
        return fail(ctx, invalid_field("page_token", "page_token is not one this agent issued"));
      }
      lr.page_token = static_cast<BindingId>(*tok);
    }
    auto out = manager_.list(lr);
    if (!out.ok()) {
      return fail(ctx, out.error());
    }
    for (const Binding& b : out->bindings) {
      to_proto(b, t, resp->add_bindings());
    }
    if (out->next_page_token != 0) {
      resp->set_next_page_token(std::to_string(out->next_page_token));
    }
    to_proto(manager_.agent_info(), resp->mutable_agent());
    return grpc::Status::OK;
  });
}

grpc::ServerUnaryReactor* FcpService::Apply(grpc::CallbackServerContext* ctx,
                                            const pb::ApplyRequest* req, pb::ApplyResponse* resp) {
  return unary(ctx, "Apply", [this, ctx, req, resp](const Principal& p, const TimeBase& t) {
    if (auto denied = authorize(p, req->meta().owner(), "meta.owner")) {
      return fail(ctx, *denied);
    }
    auto r = apply_from_proto(*req, t);
    if (!r.ok()) {
      return fail(ctx, r.error());
    }
    auto out = manager_.apply(*r);
    if (!out.ok()) {
      return fail(ctx, out.error());
    }
    const TimeBase now = TimeBase::from(clock_);
    for (const OperationResult& o : out->results) {
      pb::OperationResult* po = resp->add_results();
      for (const Binding& b : o.bindings) {
        to_proto(b, now, po->add_bindings());
      }
      po->set_created(o.created);
      po->set_existed(o.existed);
    }
    to_proto(manager_.agent_info(), resp->mutable_agent());
    return grpc::Status::OK;
  });
}

grpc::ServerUnaryReactor* FcpService::Adopt(grpc::CallbackServerContext* ctx, const pb::AdoptRequest* req,
                                            pb::AdoptResponse* resp) {
  return unary(ctx, "Adopt", [this, ctx, req, resp](const Principal& p, const TimeBase&) {
    if (auto denied = authorize(p, req->meta().owner(), "meta.owner")) {
      return fail(ctx, *denied);
    }
    const auto sid = parse_decimal(req->session_id(), std::numeric_limits<SessionId>::max());
    if (!sid || *sid == 0) {
      return fail(ctx, make_error(ErrorCode::kFailedPrecondition, ErrorReason::kNoSession,
                                  "session_id '" + log_excerpt(req->session_id(), 32) + "' is unknown",
                                  RetryClass::kAfterReread));
    }
    // A session can only be adopted into by the identity that opened it.
    const auto it = by_session_.find(*sid);
    if (it != by_session_.end() && it->second->principal.name != p.name) {
      return fail(ctx, make_error(ErrorCode::kPermissionDenied, ErrorReason::kRealmDenied,
                                  "session_id " + req->session_id() + " belongs to another identity"));
    }
    AdoptRequest ar;
    ar.meta = *meta_from_proto(req->meta());
    ar.session = *sid;
    auto out = manager_.adopt(ar);
    if (!out.ok()) {
      return fail(ctx, out.error());
    }
    if (it != by_session_.end()) {
      it->second->claimed.insert(ar.meta.owner);  // its events now go to this stream
    }
    resp->set_adopted(out->adopted);
    resp->set_already_bound(out->already_bound);
    to_proto(manager_.agent_info(), resp->mutable_agent());
    return grpc::Status::OK;
  });
}

grpc::ServerUnaryReactor* FcpService::SetDraining(grpc::CallbackServerContext* ctx,
                                                  const pb::SetDrainingRequest* req,
                                                  pb::SetDrainingResponse* resp) {
  return unary(ctx, "SetDraining", [this, ctx, req, resp](const Principal& p, const TimeBase&) {
    if (!p.admin) {
      return fail(ctx, make_error(ErrorCode::kPermissionDenied, ErrorReason::kRealmDenied,
                                  "identity '" + log_excerpt(p.name, 100) + "' is not an admin"));
    }
    switch (req->mode()) {
      case pb::SetDrainingRequest::MODE_DRAIN:
        manager_.set_draining(true);
        break;
      case pb::SetDrainingRequest::MODE_RESUME:
        manager_.set_draining(false);
        break;
      default:
        return fail(ctx, invalid_field("mode", "mode must be MODE_DRAIN or MODE_RESUME"));
    }
    logger()->warn("drain {} by '{}'", manager_.draining() ? "on" : "off", p.name);
    resp->set_draining(manager_.draining());
    resp->set_bindings(manager_.binding_count());
    to_proto(manager_.agent_info(), resp->mutable_agent());
    return grpc::Status::OK;
  });
}

// ---------------------------------------------------------------------------------------------
// Session stream
// ---------------------------------------------------------------------------------------------

grpc::ServerBidiReactor<pb::SessionRequest, pb::SessionResponse>* FcpService::Session(
    grpc::CallbackServerContext* ctx) {
  auto stream = std::make_shared<SessionStream>(*this, ctx, principal_of(ctx), clock_.now());
  const Principal& p = stream->principal;
  if (shutting_down_ || !p.known) {
    const AgentError e = shutting_down_ ? shutting_down_error()
                                        : make_error(ErrorCode::kPermissionDenied, ErrorReason::kRealmDenied,
                                                     "identity '" + log_excerpt(p.name, 100) +
                                                         "' may not use this agent");
    stream->begin();
    stream->finish(grpc::Status(static_cast<grpc::StatusCode>(e.code), e.message), true,
                   error_detail(e, cached_agent_info()).SerializeAsString());
    return stream.get();
  }
  // Registration is queued before any message of this stream can be (the executor is FIFO).
  executor_.post([this, stream] { stream_opened(stream); }, true);
  stream->begin();
  return stream.get();
}

void FcpService::stream_opened(const std::shared_ptr<SessionStream>& s) {
  if (s->closed) {
    return;
  }
  streams_.insert(s);
}

void FcpService::end_stream(const std::shared_ptr<SessionStream>& s, const grpc::Status& status) {
  s->finish(status);
  if (s->closed) {
    return;
  }
  s->closed = true;
  streams_.erase(s);
  if (s->session != 0) {
    by_session_.erase(s->session);
    // The lease keeps running: objects orphan when it lapses, unless a new session claims them.
    manager_.end_session(s->session);
    logger()->info("session {} of '{}' ended", s->session, s->principal.name);
  }
}

void FcpService::stream_closed(const std::shared_ptr<SessionStream>& s) { end_stream(s, grpc::Status::OK); }

bool FcpService::renew_lease(const std::shared_ptr<SessionStream>& s) {
  auto r = manager_.heartbeat(s->session);
  if (!r.ok()) {
    const std::string trailer = error_detail(r.error(), manager_.agent_info()).SerializeAsString();
    s->finish(grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, r.error().message), false, trailer);
    end_stream(s, grpc::Status::OK);
    return false;
  }
  return true;
}

void FcpService::stream_message(const std::shared_ptr<SessionStream>& s, const pb::SessionRequest& req) {
  if (s->closed) {
    return;
  }
  s->last_message = clock_.now();
  auto reject = [&](const AgentError& e) {
    const std::string trailer = error_detail(e, manager_.agent_info()).SerializeAsString();
    s->finish(grpc::Status(static_cast<grpc::StatusCode>(e.code), e.message), true, trailer);
    end_stream(s, grpc::Status::OK);
  };
  if (s->session == 0) {
    if (req.msg_case() != pb::SessionRequest::kHello) {
      reject(invalid_field("hello", "hello must be the first message of a Session"));
      return;
    }
    handle_hello(s, req.hello());
    return;
  }
  switch (req.msg_case()) {
    case pb::SessionRequest::kHello:
      reject(invalid_field("hello", "hello may only be sent once per Session"));
      return;
    case pb::SessionRequest::kHeartbeat: {
      if (!renew_lease(s)) {
        return;
      }
      pb::SessionResponse ack;
      ack.mutable_heartbeat_ack();
      to_proto(manager_.agent_info(), ack.mutable_agent());
      s->send(std::move(ack));
      return;
    }
    case pb::SessionRequest::kResume:
      if (renew_lease(s)) {
        handle_resume(s, req.resume().state_epoch(), req.resume().last_seq());
      }
      return;
    case pb::SessionRequest::kAck:
      renew_lease(s);
      return;
    case pb::SessionRequest::MSG_NOT_SET:
      reject(invalid_field("msg", "msg is required"));
      return;
  }
}

void FcpService::handle_hello(const std::shared_ptr<SessionStream>& s, const pb::SessionRequest::Hello& hello) {
  auto reject = [&](const AgentError& e) {
    const std::string trailer = error_detail(e, manager_.agent_info()).SerializeAsString();
    s->finish(grpc::Status(static_cast<grpc::StatusCode>(e.code), e.message), true, trailer);
    end_stream(s, grpc::Status::OK);
  };
  if (!hello.protocol_version().empty() && hello.protocol_version() != "fcp.v1") {
    reject(invalid_field("hello.protocol_version", "hello.protocol_version '" +
                                                        log_excerpt(hello.protocol_version(), 32) +
                                                        "' is not supported (want fcp.v1)"));
    return;
  }
  if (by_session_.size() >= options_.max_sessions) {
    reject(make_error(ErrorCode::kUnavailable, ErrorReason::kNotReady, "too many sessions on this agent",
                      RetryClass::kAfterDelay, std::chrono::seconds(5)));
    return;
  }
  std::vector<OwnerClaim> claims;
  for (int i = 0; i < hello.owners_size(); ++i) {
    const auto& c = hello.owners(i);
    if (auto denied = authorize(s->principal, c.owner(), "hello.owners[" + std::to_string(i) + "].owner")) {
      reject(*denied);
      return;
    }
    claims.push_back({c.owner(), c.fencing_token()});
  }
  std::vector<std::string> watching;
  for (int i = 0; i < hello.watch_owners_size(); ++i) {
    const std::string& w = hello.watch_owners(i);
    if (w == "*") {
      watching.insert(watching.end(), s->principal.owner_patterns.begin(), s->principal.owner_patterns.end());
      continue;
    }
    if (!s->principal.may_act_for(w)) {
      reject(*authorize(s->principal, w, "hello.watch_owners[" + std::to_string(i) + "]"));
      return;
    }
    watching.push_back(w);
  }
  auto opened = manager_.open_session(claims);
  if (!opened.ok()) {
    reject(opened.error());
    return;
  }
  s->session = opened->id;
  for (const OwnerClaim& c : claims) {
    s->claimed.insert(c.owner);
  }
  s->watching = std::move(watching);
  s->cursor = manager_.events().last_seq();
  by_session_[s->session] = s;
  logger()->info("session {} opened by '{}' ({} owners claimed, {} watched)", s->session, s->principal.name,
                 claims.size(), s->watching.size());

  pb::SessionResponse ack;
  auto* h = ack.mutable_hello_ack();
  h->set_session_id(std::to_string(s->session));
  to_proto(opened->ttl, h->mutable_session_ttl());
  to_proto(opened->heartbeat_interval, h->mutable_heartbeat_interval());
  fill_capabilities(h->mutable_capabilities());
  to_proto(manager_.agent_info(), ack.mutable_agent());
  s->send(std::move(ack));
  if (hello.has_resume()) {
    handle_resume(s, hello.resume().state_epoch(), hello.resume().last_seq());
  }
}

void FcpService::handle_resume(const std::shared_ptr<SessionStream>& s, std::uint64_t epoch,
                               std::uint64_t last_seq) {
  // Everything up to now first: publish_events() only sends what is newer than the cursor.
  publish_events();
  const ResumeResult r = manager_.resume(epoch, last_seq);
  const AgentInfo info = manager_.agent_info();
  const TimeBase t = TimeBase::from(clock_);
  if (r.resync_required) {
    pb::SessionResponse msg;
    auto* e = msg.mutable_event();
    e->set_state_epoch(info.state_epoch);
    e->set_seq(manager_.events().last_seq());
    to_proto(t.now, t, e->mutable_time());
    e->set_kind(pb::Event::KIND_RESYNC_REQUIRED);
    e->set_detail("resume position not in the event buffer or state_epoch changed: list again");
    to_proto(info, msg.mutable_agent());
    s->cursor = manager_.events().last_seq();
    s->send(std::move(msg));
    return;
  }
  for (const Event& ev : r.events) {
    if (!s->wants(ev.owner)) {
      continue;
    }
    pb::SessionResponse msg;
    to_proto(ev, info.state_epoch, t, msg.mutable_event());
    to_proto(info, msg.mutable_agent());
    s->send(std::move(msg));
  }
  s->cursor = std::max(s->cursor, manager_.events().last_seq());
}

}  // namespace portcullis::agent::service
