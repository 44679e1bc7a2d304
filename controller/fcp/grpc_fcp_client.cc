#include "controller/fcp/grpc_fcp_client.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <iterator>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <type_traits>
#include <utility>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <grpcpp/grpcpp.h>

#include "common/log/log.h"
#include "controller/fcp/epoch_tracker.h"
#include "controller/fcp/proto_convert.h"
#include "fcp/v1/fcp.grpc.pb.h"

namespace portcullis::fcp {

namespace asio = boost::asio;
namespace pb = ::portcullis::fcp::v1;
using namespace std::chrono_literals;

namespace {

using Stub = pb::FirewallControl::Stub;
using Steady = std::chrono::steady_clock;

/// The agent's trailer key (pinhole-agent/service/fcp_service.h kErrorDetailKey; the client must
/// not link agent code, so the wire name is repeated here).
constexpr const char* kErrorDetailKey = "fcp-error-detail-bin";
constexpr std::size_t kMaxQueuedSessionWrites = 16;

std::shared_ptr<spdlog::logger> logger() {
  static const auto l = log::get("fcp");
  return l;
}

std::optional<pb::ErrorDetail> error_detail(const grpc::ClientContext& ctx) {
  const auto& md = ctx.GetServerTrailingMetadata();
  const auto it = md.find(kErrorDetailKey);
  if (it == md.end()) {
    return std::nullopt;
  }
  pb::ErrorDetail d;
  if (!d.ParseFromArray(it->second.data(), static_cast<int>(it->second.size()))) {
    return std::nullopt;
  }
  return d;
}

/// Counts gRPC operations whose callback has not returned yet. shutdown() waits for zero, so no
/// gRPC thread can post to the executor or read the clock after the client is gone.
class Inflight {
 public:
  void add() {
    std::lock_guard lock(mu_);
    ++n_;
  }
  void done() {
    std::lock_guard lock(mu_);
    if (--n_ == 0) {
      cv_.notify_all();
    }
  }
  bool wait_idle(std::chrono::milliseconds cap) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, cap, [&] { return n_ == 0; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::size_t n_ = 0;
};

FcpError client_error(ErrorCode code, FcpReason reason, std::string message, const std::string& agent,
                      RetryClass retry = RetryClass::kNever) {
  FcpError e;
  e.error = Error(code, std::move(message));
  e.reason = reason;
  e.retry_class = retry;
  e.agent = agent;
  return e;
}

}  // namespace

class SessionReactor;

// ---------------------------------------------------------------------------------------------
// Core: all state, executor-only (gRPC threads only post to it).
// ---------------------------------------------------------------------------------------------

struct AgentConn {
  AgentConn(asio::any_io_executor ex, AgentEndpoint ep, bool check_epoch)
      : endpoint(std::move(ep)), tracker(check_epoch), heartbeat_timer(ex), watchdog_timer(ex), reconnect_timer(ex) {}

  AgentEndpoint endpoint;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<Stub> stub;
  EpochTracker tracker;
  AgentStats stats;

  // Session stream
  SessionReactor* reactor = nullptr;  // valid while we hold its hold (see SessionReactor)
  std::uint64_t gen = 0;              // stream generation; stale posts are ignored
  std::optional<FcpError> drop_reason;
  std::string session_instance;       // instance_id the current session was opened on
  Millis ttl{15000};
  Millis heartbeat{5000};
  asio::steady_timer heartbeat_timer;
  asio::steady_timer watchdog_timer;
  asio::steady_timer reconnect_timer;
  int reconnect_failures = 0;
  bool write_in_flight = false;
  std::deque<pb::SessionRequest> write_queue;
  bool adopt_pending = false;

  // Event cursor (dedupe + Resume)
  std::optional<std::uint64_t> event_epoch;
  std::uint64_t last_seq = 0;
};

struct GrpcFcpClient::Core : std::enable_shared_from_this<GrpcFcpClient::Core> {
  Core(asio::any_io_executor executor, GrpcFcpClientConfig cfg, const Clock& c)
      : ex(std::move(executor)), config(std::move(cfg)), clock(c), rng(std::random_device{}()) {}

  using Completion = std::function<void(const grpc::Status&, std::optional<pb::ErrorDetail>, Clock::TimePoint)>;

  asio::any_io_executor ex;
  GrpcFcpClientConfig config;
  const Clock& clock;
  std::shared_ptr<Inflight> inflight = std::make_shared<Inflight>();
  std::map<std::string, std::unique_ptr<AgentConn>> agents;
  FcpSubscriber* subscriber = nullptr;
  std::mt19937_64 rng;
  bool started = false;
  bool shut_down = false;

  // In-flight unary attempts: context (for TryCancel) + typed continuation.
  struct Pending {
    std::shared_ptr<grpc::ClientContext> ctx;
    Completion completion;
  };
  std::uint64_t next_id = 1;
  std::map<std::uint64_t, Pending> pending;
  std::map<std::uint64_t, std::unique_ptr<asio::steady_timer>> retry_timers;

  // ---- helpers ----
  double rand01() { return std::uniform_real_distribution<double>(0.0, 1.0)(rng); }

  std::string new_request_id() {
    // UUIDv4 (AIP-155): 122 random bits.
    std::array<std::uint8_t, 16> b{};
    for (std::size_t i = 0; i < b.size(); i += 8) {
      std::uint64_t r = rng();
      for (std::size_t j = 0; j < 8; ++j) {
        b[i + j] = static_cast<std::uint8_t>(r >> (8 * j));
      }
    }
    b[6] = static_cast<std::uint8_t>((b[6] & 0x0f) | 0x40);
    b[8] = static_cast<std::uint8_t>((b[8] & 0x3f) | 0x80);
    std::string s;
    s.reserve(36);
    static constexpr char kHex[] = "0123456789abcdef";
    for (std::size_t i = 0; i < b.size(); ++i) {
      if (i == 4 || i == 6 || i == 8 || i == 10) {
        s.push_back('-');
      }
      s.push_back(kHex[b[i] >> 4]);
      s.push_back(kHex[b[i] & 0x0f]);
    }
    return s;
  }

  AgentConn* find(const std::string& name) {
    const auto it = agents.find(name);
    return it == agents.end() ? nullptr : it->second.get();
  }

  const std::string& expected_id(const AgentConn& a) const {
    return a.endpoint.expected_agent_id.empty() ? a.endpoint.name : a.endpoint.expected_agent_id;
  }

  convert::MetaFields meta(std::string request_id, std::uint64_t expected_generation = 0) const {
    return {std::move(request_id), config.owner, config.fencing_token, expected_generation};
  }

  /// Every completion reaches the caller through the executor, never inline.
  template <class T>
  void deliver(FcpCallback<T> cb, FcpResult<T> r) {
    asio::post(ex, [cb = std::move(cb), r = std::move(r)]() mutable { cb(std::move(r)); });
  }

  // ---- AgentInfo checks (every response) ----
  /// False when the answer is not from the agent we configured (pinning).
  bool check_agent(AgentConn& a, const pb::AgentInfo& raw, Clock::TimePoint arrived);

  // ---- unary calls ----
  template <class Req, class Resp>
  struct UnaryCall {
    std::string agent;
    const char* rpc = "";
    Req request;
    std::string request_id;  // empty for reads
    std::function<void(Stub&, grpc::ClientContext*, const Req*, Resp*, std::function<void(grpc::Status)>)> invoke;
    std::function<void(FcpResult<Resp>)> done;
    Steady::time_point budget_end;
    int attempts = 0;
  };

  template <class Req, class Resp>
  void call_unary(std::shared_ptr<UnaryCall<Req, Resp>> call) {
    call->budget_end = Steady::now() + config.retry.total_budget;
    attempt(std::move(call));
  }

  template <class Req, class Resp>
  void attempt(std::shared_ptr<UnaryCall<Req, Resp>> call);

  template <class Req, class Resp>
  void finish_attempt(const std::shared_ptr<UnaryCall<Req, Resp>>& call, const grpc::Status& status, Resp& resp,
                      const std::optional<pb::ErrorDetail>& detail, Clock::TimePoint arrived);

  void complete(std::uint64_t id, const grpc::Status& status, std::optional<pb::ErrorDetail> detail,
                Clock::TimePoint arrived) {
    const auto it = pending.find(id);
    if (it == pending.end()) {
      return;  // shut down meanwhile
    }
    Completion c = std::move(it->second.completion);
    pending.erase(it);
    c(status, std::move(detail), arrived);
  }

  // ---- session stream ----
  void connect(AgentConn& a);
  void send(AgentConn& a, pb::SessionRequest msg);
  void drop_session(AgentConn& a, FcpError why);
  void arm_watchdog(AgentConn& a, Millis after);
  void arm_heartbeat(AgentConn& a);
  void on_session_read(const std::string& agent, std::uint64_t gen, bool ok, pb::SessionResponse msg,
                       Clock::TimePoint arrived);
  void on_session_write_done(const std::string& agent, std::uint64_t gen, bool ok);
  void on_session_done(const std::string& agent, std::uint64_t gen, const grpc::Status& status,
                       std::optional<pb::ErrorDetail> detail);
  void on_event(AgentConn& a, const pb::Event& e);
  void adopt(AgentConn& a, ReconcileReason reason);
  void notify_session(AgentConn& a, SessionState s, std::optional<FcpError> error = std::nullopt) {
    a.stats.session = s;
    if (subscriber != nullptr) {
      subscriber->on_session(SessionStatus{a.endpoint.name, s, std::move(error)});
    }
  }

  void shutdown();
};

// ---------------------------------------------------------------------------------------------
// SessionReactor: the gRPC side of one Session stream. Its methods run on gRPC threads and only
// post to the executor. Lifetime: it deletes itself in OnDone. The executor side holds a gRPC
// "hold" (AddHold) from start until release(); gRPC never calls OnDone while the hold is held, so
// the executor may call write()/read_next() on the raw pointer until it calls release() — then it
// forgets the pointer.
// ---------------------------------------------------------------------------------------------

class SessionReactor final : public grpc::ClientBidiReactor<pb::SessionRequest, pb::SessionResponse> {
 public:
  SessionReactor(std::weak_ptr<GrpcFcpClient::Core> core, asio::any_io_executor ex, std::string agent,
                 std::uint64_t gen, std::shared_ptr<Inflight> inflight, const Clock& clock)
      : core_(std::move(core)), ex_(std::move(ex)), agent_(std::move(agent)), gen_(gen),
        inflight_(std::move(inflight)), clock_(clock) {}

  void start(Stub& stub) {
    // Wait for the channel instead of failing fast: the hello timeout bounds the wait.
    ctx_.set_wait_for_ready(true);
    stub.async()->Session(&ctx_, this);
    AddHold();
    StartRead(&in_);
    StartCall();
  }
  // ---- executor side, only between start() and release() ----
  void write(pb::SessionRequest msg) {
    out_ = std::move(msg);
    StartWrite(&out_);
  }
  void read_next() { StartRead(&in_); }
  void release() {
    ctx_.TryCancel();
    RemoveHold();
  }

  // ---- gRPC threads ----
  void OnReadDone(bool ok) override {
    const auto arrived = clock_.now();
    asio::post(ex_, [w = core_, agent = agent_, gen = gen_, ok, msg = std::move(in_), arrived]() mutable {
      if (auto c = w.lock()) {
        c->on_session_read(agent, gen, ok, std::move(msg), arrived);
      }
    });
  }
  void OnWriteDone(bool ok) override {
    asio::post(ex_, [w = core_, agent = agent_, gen = gen_, ok] {
      if (auto c = w.lock()) {
        c->on_session_write_done(agent, gen, ok);
      }
    });
  }
  void OnDone(const grpc::Status& status) override {
    std::optional<pb::ErrorDetail> detail = status.ok() ? std::nullopt : error_detail(ctx_);
    asio::post(ex_, [w = core_, agent = agent_, gen = gen_, status, detail = std::move(detail)]() mutable {
      if (auto c = w.lock()) {
        c->on_session_done(agent, gen, status, std::move(detail));
      }
    });
    const std::shared_ptr<Inflight> inflight = inflight_;
    delete this;
    inflight->done();
  }

 private:
  std::weak_ptr<GrpcFcpClient::Core> core_;
  asio::any_io_executor ex_;
  std::string agent_;
  std::uint64_t gen_;
  std::shared_ptr<Inflight> inflight_;
  const Clock& clock_;
  grpc::ClientContext ctx_;
  pb::SessionRequest out_;
  pb::SessionResponse in_;
};

// ---------------------------------------------------------------------------------------------
// AgentInfo checks
// ---------------------------------------------------------------------------------------------

bool GrpcFcpClient::Core::check_agent(AgentConn& a, const pb::AgentInfo& raw, Clock::TimePoint arrived) {
  if (raw.agent_id().empty() && raw.state_epoch() == 0 && raw.instance_id().empty()) {
    return true;  // transport-level answer: no AgentInfo to check
  }
  const AgentInfo info = convert::from_proto(raw);
  if (config.pin_agent_id && info.agent_id != expected_id(a)) {
    logger()->error("agent '{}' at {} answered as '{}': refusing its answer (pinning)", a.endpoint.name,
                    a.endpoint.target, info.agent_id);
    return false;
  }
  const std::optional<AgentInfo> before = a.tracker.current();
  const AgentChange change = a.tracker.observe(info, arrived);
  switch (change) {
    case AgentChange::kNone:
    case AgentChange::kFirstContact:
    case AgentChange::kStale:
      return true;
    case AgentChange::kStateLost:
    case AgentChange::kEpochCheckFailed: {
      ++a.stats.state_losses;
      logger()->warn("agent '{}' lost its state ({}; epoch {:#x} -> {:#x}): bindings must be re-created",
                     a.endpoint.name, to_string(change), before ? before->state_epoch : 0, info.state_epoch);
      // Events of the old epoch are meaningless now; do not Resume into them (it would only
      // produce a RESYNC_REQUIRED on top of this notification).
      a.event_epoch.reset();
      a.last_seq = 0;
      a.adopt_pending = false;
      if (subscriber != nullptr) {
        subscriber->on_state_lost(StateLost{a.endpoint.name, before, info, change == AgentChange::kEpochCheckFailed});
      }
      return true;
    }
    case AgentChange::kRestarted:
      ++a.stats.restarts_seen;
      logger()->info("agent '{}' restarted with its state kept (instance changed): adopting and reconciling",
                     a.endpoint.name);
      a.adopt_pending = true;
      if (a.stats.session == SessionState::kUp && a.session_instance == info.instance_id) {
        a.adopt_pending = false;
        adopt(a, ReconcileReason::kAgentRestarted);
      }
      return true;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// Unary calls
// ---------------------------------------------------------------------------------------------

template <class Req, class Resp>
void GrpcFcpClient::Core::attempt(std::shared_ptr<UnaryCall<Req, Resp>> call) {
  AgentConn* a = find(call->agent);
  if (shut_down || a == nullptr) {
    FcpError e = shut_down ? client_error(ErrorCode::kCancelled, FcpReason::kShutdown, "FCP client shut down",
                                          call->agent)
                           : client_error(ErrorCode::kNotFound, FcpReason::kNoRoute,
                                          "unknown agent '" + call->agent + "'", call->agent);
    e.request_id = call->request_id;
    e.attempts = call->attempts;
    auto done = std::move(call->done);
    asio::post(ex, [done = std::move(done), e = std::move(e)]() mutable { done(unexpected(std::move(e))); });
    return;
  }
  const auto remaining = std::chrono::duration_cast<Millis>(call->budget_end - Steady::now());
  if (remaining <= 0ms) {
    FcpError e = client_error(ErrorCode::kDeadlineExceeded, FcpReason::kDeadline,
                              std::string(call->rpc) + ": time budget exhausted", call->agent,
                              RetryClass::kSameRequest);
    e.request_id = call->request_id;
    e.attempts = call->attempts;
    call->done(unexpected(std::move(e)));
    return;
  }
  ++call->attempts;
  ++a->stats.rpc_attempts;
  auto ctx = std::make_shared<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + std::min(config.retry.attempt_timeout, remaining));
  auto resp = std::make_shared<Resp>();
  const std::uint64_t id = next_id++;
  pending[id] = Pending{ctx, [this, call, resp](const grpc::Status& s, std::optional<pb::ErrorDetail> d,
                                                 Clock::TimePoint arrived) {
                          finish_attempt(call, s, *resp, d, arrived);
                        }};
  inflight->add();
  // The gRPC callback holds the context and response buffer (they must outlive the call) but no
  // caller state: the continuation stays in `pending` on the executor.
  call->invoke(*a->stub, ctx.get(), &call->request, resp.get(),
               [w = weak_from_this(), ex_copy = ex, inf = inflight, ctx, resp, id, clk = &clock](grpc::Status s) {
                 std::optional<pb::ErrorDetail> d = s.ok() ? std::nullopt : error_detail(*ctx);
                 const auto arrived = clk->now();
                 asio::post(ex_copy, [w, id, s = std::move(s), d = std::move(d), arrived]() mutable {
                   if (auto c = w.lock()) {
                     c->complete(id, s, std::move(d), arrived);
                   }
                 });
                 inf->done();
               });
}

template <class Req, class Resp>
void GrpcFcpClient::Core::finish_attempt(const std::shared_ptr<UnaryCall<Req, Resp>>& call,
                                         const grpc::Status& status, Resp& resp,
                                         const std::optional<pb::ErrorDetail>& detail, Clock::TimePoint arrived) {
  AgentConn* a = find(call->agent);
  if (a == nullptr || shut_down) {
    return;
  }
  if (status.ok()) {
    if (!check_agent(*a, resp.agent(), arrived)) {
      FcpError e = client_error(ErrorCode::kFailedPrecondition, FcpReason::kAgentMismatch,
                                "answer from agent '" + resp.agent().agent_id() + "', expected '" +
                                    expected_id(*a) + "'",
                                call->agent);
      e.request_id = call->request_id;
      e.attempts = call->attempts;
      call->done(unexpected(std::move(e)));
      return;
    }
    call->done(std::move(resp));
    return;
  }
  if (detail && detail->has_agent()) {
    (void)check_agent(*a, detail->agent(), arrived);
  }
  FcpError e = convert::from_status(status, detail, call->agent);
  e.request_id = call->request_id;
  e.attempts = call->attempts;
  const auto remaining = std::chrono::duration_cast<Millis>(call->budget_end - Steady::now());
  const std::optional<Millis> delay = internal_retry_delay(e, config.retry, call->attempts, remaining, rand01());
  if (!delay) {
    if (e.retry_class == RetryClass::kSameRequest && e.reason != FcpReason::kShutdown) {
      logger()->warn("{} to agent '{}' failed after {} attempt(s): {}", call->rpc, call->agent, call->attempts,
                     e.to_string());
    }
    call->done(unexpected(std::move(e)));
    return;
  }
  ++a->stats.rpc_retries;
  logger()->debug("{} to agent '{}' attempt {} failed ({}); retrying in {} ms with request_id {}", call->rpc,
                  call->agent, call->attempts, e.error.to_string(), delay->count(), call->request_id);
  const std::uint64_t tid = next_id++;
  auto timer = std::make_unique<asio::steady_timer>(ex, *delay);
  timer->async_wait([w = weak_from_this(), tid, call](const boost::system::error_code& ec) {
    auto c = w.lock();
    if (!c) {
      return;
    }
    c->retry_timers.erase(tid);
    if (ec || c->shut_down) {
      return;
    }
    c->attempt(call);
  });
  retry_timers.emplace(tid, std::move(timer));
}

// ---------------------------------------------------------------------------------------------
// Session stream
// ---------------------------------------------------------------------------------------------

void GrpcFcpClient::Core::connect(AgentConn& a) {
  if (shut_down) {
    return;
  }
  ++a.gen;
  a.drop_reason.reset();
  a.write_in_flight = false;
  a.write_queue.clear();
  a.session_instance.clear();
  a.stats.session_id.clear();
  auto* r = new SessionReactor(weak_from_this(), ex, a.endpoint.name, a.gen, inflight, clock);
  inflight->add();
  a.reactor = r;
  r->start(*a.stub);

  pb::SessionRequest hello;
  auto* h = hello.mutable_hello();
  h->set_protocol_version("fcp.v1");
  h->set_controller_instance(config.controller_instance);
  // The claim adopts this owner's orphans on the agent (same rules as Adopt; fcp-notes §2.6).
  auto* claim = h->add_owners();
  claim->set_owner(config.owner);
  claim->set_fencing_token(config.fencing_token);
  if (a.event_epoch) {
    // Resume in the same round trip (fcp-notes §2.7): replay after last_seq or RESYNC_REQUIRED.
    h->mutable_resume()->set_state_epoch(*a.event_epoch);
    h->mutable_resume()->set_last_seq(a.last_seq);
  }
  send(a, std::move(hello));
  notify_session(a, SessionState::kConnecting);
  arm_watchdog(a, config.session.hello_timeout);
}

void GrpcFcpClient::Core::send(AgentConn& a, pb::SessionRequest msg) {
  if (a.reactor == nullptr) {
    return;
  }
  if (a.write_in_flight) {
    if (a.write_queue.size() >= kMaxQueuedSessionWrites) {
      return;  // only heartbeats can pile up, and one in flight renews the lease as well
    }
    a.write_queue.push_back(std::move(msg));
    return;
  }
  a.write_in_flight = true;
  a.reactor->write(std::move(msg));
}

void GrpcFcpClient::Core::arm_watchdog(AgentConn& a, Millis after) {
  a.watchdog_timer.expires_after(after);
  a.watchdog_timer.async_wait([w = weak_from_this(), agent = a.endpoint.name, gen = a.gen,
                               after](const boost::system::error_code& ec) {
    auto c = w.lock();
    if (ec || !c) {
      return;
    }
    AgentConn* conn = c->find(agent);
    if (conn == nullptr || conn->gen != gen || conn->reactor == nullptr) {
      return;
    }
    c->drop_session(*conn, client_error(ErrorCode::kDeadlineExceeded, FcpReason::kDeadline,
                                        "no message from the agent within " + std::to_string(after.count()) +
                                            " ms",
                                        agent, RetryClass::kSameRequest));
  });
}

void GrpcFcpClient::Core::arm_heartbeat(AgentConn& a) {
  a.heartbeat_timer.expires_after(a.heartbeat);
  a.heartbeat_timer.async_wait([w = weak_from_this(), agent = a.endpoint.name, gen = a.gen](
                                   const boost::system::error_code& ec) {
    auto c = w.lock();
    if (ec || !c) {
      return;
    }
    AgentConn* conn = c->find(agent);
    if (conn == nullptr || conn->gen != gen || conn->reactor == nullptr ||
        conn->stats.session != SessionState::kUp) {
      return;
    }
    pb::SessionRequest hb;
    const auto wall = c->clock.wall_now().time_since_epoch();
    const auto secs = std::chrono::duration_cast<std::chrono::seconds>(wall);
    hb.mutable_heartbeat()->mutable_sent_time()->set_seconds(secs.count());
    hb.mutable_heartbeat()->mutable_sent_time()->set_nanos(
        static_cast<std::int32_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(wall - secs).count()));
    ++conn->stats.heartbeats_sent;
    c->send(*conn, std::move(hb));
    c->arm_heartbeat(*conn);
  });
}

void GrpcFcpClient::Core::drop_session(AgentConn& a, FcpError why) {
  if (a.reactor != nullptr) {
    a.reactor->release();
    a.reactor = nullptr;
  }
  a.drop_reason = std::move(why);
  a.heartbeat_timer.cancel();
  a.watchdog_timer.cancel();
  a.write_in_flight = false;
  a.write_queue.clear();
  a.stats.session = SessionState::kDown;
  if (shut_down) {
    return;
  }
  // Jittered exponential backoff (full jitter over the upper half), reset by the next HelloAck.
  const int n = std::min(a.reconnect_failures++, 16);
  const double base = std::min(static_cast<double>(config.session.reconnect_initial.count()) * std::ldexp(1.0, n),
                               static_cast<double>(config.session.reconnect_max.count()));
  const Millis delay(static_cast<Millis::rep>(base / 2 + rand01() * base / 2));
  logger()->info("session to agent '{}' down ({}); reconnecting in {} ms", a.endpoint.name,
                 a.drop_reason->error.message, delay.count());
  a.reconnect_timer.expires_after(delay);
  a.reconnect_timer.async_wait([w = weak_from_this(), agent = a.endpoint.name, gen = a.gen](
                                   const boost::system::error_code& ec) {
    auto c = w.lock();
    if (ec || !c) {
      return;
    }
    AgentConn* conn = c->find(agent);
    if (conn != nullptr && conn->gen == gen && conn->reactor == nullptr) {
      c->connect(*conn);
    }
  });
}

void GrpcFcpClient::Core::on_session_read(const std::string& agent, std::uint64_t gen, bool ok,
                                          pb::SessionResponse msg, Clock::TimePoint arrived) {
  AgentConn* a = find(agent);
  if (a == nullptr || a->gen != gen || a->reactor == nullptr || shut_down) {
    return;
  }
  if (!ok) {
    drop_session(*a, client_error(ErrorCode::kUnavailable, FcpReason::kTransport, "session stream ended", agent,
                                  RetryClass::kSameRequest));
    return;
  }
  if (msg.has_agent() && !check_agent(*a, msg.agent(), arrived)) {
    drop_session(*a, client_error(ErrorCode::kFailedPrecondition, FcpReason::kAgentMismatch,
                                  "session answered by agent '" + msg.agent().agent_id() + "'", agent));
    return;
  }
  switch (msg.msg_case()) {
    case pb::SessionResponse::kHelloAck: {
      const auto& ack = msg.hello_ack();
      a->stats.session_id = ack.session_id();
      a->session_instance = msg.agent().instance_id();
      a->ttl = std::chrono::duration_cast<Millis>(std::chrono::seconds(ack.session_ttl().seconds()) +
                                                  std::chrono::nanoseconds(ack.session_ttl().nanos()));
      if (a->ttl <= 0ms) {
        a->ttl = 15s;
      }
      const Millis interval = std::chrono::duration_cast<Millis>(
          std::chrono::seconds(ack.heartbeat_interval().seconds()) +
          std::chrono::nanoseconds(ack.heartbeat_interval().nanos()));
      // TTL/3 tolerates two lost heartbeats before the lease lapses (fcp-notes §4.3).
      a->heartbeat = interval > 0ms ? std::min(interval, a->ttl / 3) : a->ttl / 3;
      if (config.session.heartbeat_override > 0ms) {
        a->heartbeat = config.session.heartbeat_override;
      }
      a->reconnect_failures = 0;
      ++a->stats.sessions_opened;
      logger()->info("session {} with agent '{}' up (ttl {} ms, heartbeat {} ms)", ack.session_id(), agent,
                     a->ttl.count(), a->heartbeat.count());
      notify_session(*a, SessionState::kUp);
      arm_heartbeat(*a);
      if (a->adopt_pending) {
        a->adopt_pending = false;
        adopt(*a, ReconcileReason::kAgentRestarted);
      }
      break;
    }
    case pb::SessionResponse::kHeartbeatAck:
      ++a->stats.heartbeat_acks;
      break;
    case pb::SessionResponse::kEvent:
      on_event(*a, msg.event());
      break;
    case pb::SessionResponse::kGoAway:
      // MIDCOM AST: the agent drains or shuts down; it finishes the stream itself and we reconnect
      // with backoff (a restarted agent answers the next Hello).
      logger()->info("agent '{}' sent GoAway (cause {})", agent, static_cast<int>(msg.go_away().cause()));
      break;
    case pb::SessionResponse::MSG_NOT_SET:
      break;
  }
  if (a->reactor == nullptr || a->gen != gen) {
    return;  // a callback above dropped or replaced the stream
  }
  // Any message proves the agent alive; before the HelloAck only the hello timeout applies.
  if (a->stats.session == SessionState::kUp) {
    arm_watchdog(*a, a->ttl);
  }
  a->reactor->read_next();
}

void GrpcFcpClient::Core::on_event(AgentConn& a, const pb::Event& raw) {
  FcpEvent ev = convert::from_proto(raw, a.endpoint.name);
  if (ev.kind == EventKind::kResyncRequired) {
    a.event_epoch = ev.state_epoch;
    a.last_seq = ev.seq;
    logger()->info("agent '{}': event stream cannot resume ({}); reconcile", a.endpoint.name, ev.detail);
    if (subscriber != nullptr) {
      subscriber->on_reconcile_needed(ReconcileNeeded{a.endpoint.name, ReconcileReason::kResyncRequired,
                                                      a.tracker.current().value_or(AgentInfo{}), 0, 0});
    }
    return;
  }
  // At-least-once delivery: dedupe on (state_epoch, seq) (fcp-notes §2.7).
  if (a.event_epoch && *a.event_epoch == ev.state_epoch && ev.seq <= a.last_seq) {
    ++a.stats.events_deduplicated;
    return;
  }
  a.event_epoch = ev.state_epoch;
  a.last_seq = ev.seq;
  ++a.stats.events_delivered;
  if (subscriber != nullptr) {
    subscriber->on_event(ev);
  }
}

void GrpcFcpClient::Core::on_session_write_done(const std::string& agent, std::uint64_t gen, bool ok) {
  AgentConn* a = find(agent);
  if (a == nullptr || a->gen != gen || a->reactor == nullptr) {
    return;
  }
  a->write_in_flight = false;
  if (!ok) {
    return;  // the stream is broken; the pending read fails too and drops the session
  }
  if (!a->write_queue.empty()) {
    pb::SessionRequest next = std::move(a->write_queue.front());
    a->write_queue.pop_front();
    send(*a, std::move(next));
  }
}

void GrpcFcpClient::Core::on_session_done(const std::string& agent, std::uint64_t gen, const grpc::Status& status,
                                          std::optional<pb::ErrorDetail> detail) {
  AgentConn* a = find(agent);
  if (a == nullptr || a->gen != gen || shut_down) {
    return;
  }
  if (detail && detail->has_agent()) {
    (void)check_agent(*a, detail->agent(), clock.now());
  }
  // Prefer what the agent said (e.g. STALE_FENCING_TOKEN on Hello) over our own cancel.
  std::optional<FcpError> why = a->drop_reason;
  if (!status.ok() && (status.error_code() != grpc::StatusCode::CANCELLED || detail)) {
    why = convert::from_status(status, detail, agent);
  }
  if (why) {
    logger()->warn("session to agent '{}' ended: {}", agent, why->to_string());
  }
  notify_session(*a, SessionState::kDown, std::move(why));
}

void GrpcFcpClient::Core::adopt(AgentConn& a, ReconcileReason reason) {
  using Call = UnaryCall<pb::AdoptRequest, pb::AdoptResponse>;
  auto call = std::make_shared<Call>();
  call->agent = a.endpoint.name;
  call->rpc = "Adopt";
  call->request_id = new_request_id();
  convert::to_proto(meta(call->request_id), call->request.mutable_meta());
  call->request.set_session_id(a.stats.session_id);
  call->invoke = [](Stub& s, grpc::ClientContext* c, const pb::AdoptRequest* q, pb::AdoptResponse* r,
                    std::function<void(grpc::Status)> f) { s.async()->Adopt(c, q, r, std::move(f)); };
  call->done = [this, agent = a.endpoint.name, reason](FcpResult<pb::AdoptResponse> r) {
    AgentConn* conn = find(agent);
    if (conn == nullptr) {
      return;
    }
    ReconcileNeeded need{agent, reason, conn->tracker.current().value_or(AgentInfo{}), 0, 0};
    if (r) {
      ++conn->stats.adopts;
      need.adopted = r->adopted();
      need.already_bound = r->already_bound();
      logger()->info("agent '{}': adopted owner '{}' ({} orphans revived, {} already bound)", agent, config.owner,
                     need.adopted, need.already_bound);
    } else {
      logger()->error("agent '{}': Adopt failed: {}", agent, r.error().to_string());
    }
    if (subscriber != nullptr) {
      subscriber->on_reconcile_needed(need);
    }
  };
  call_unary(std::move(call));
}

void GrpcFcpClient::Core::shutdown() {
  if (shut_down) {
    return;
  }
  shut_down = true;
  for (auto& [name, a] : agents) {
    if (a->reactor != nullptr) {
      a->reactor->release();
      a->reactor = nullptr;
    }
    a->heartbeat_timer.cancel();
    a->watchdog_timer.cancel();
    a->reconnect_timer.cancel();
    a->stats.session = SessionState::kDown;
  }
  for (auto& [id, p] : pending) {
    p.ctx->TryCancel();
  }
  for (auto& [id, t] : retry_timers) {
    t->cancel();
  }
  // gRPC returns cancelled calls promptly; its callbacks only post here, they never need this
  // thread, so waiting cannot deadlock. Bounded all the same.
  if (!inflight->wait_idle(10s)) {
    logger()->error("FCP client shutdown: gRPC still holds callbacks after 10 s");
  }
  pending.clear();
  retry_timers.clear();
}

// ---------------------------------------------------------------------------------------------
// GrpcFcpClient
// ---------------------------------------------------------------------------------------------

namespace {

Status validate(const GrpcFcpClientConfig& c) {
  if (c.owner.empty() || c.owner.size() > 32) {
    return unexpected(invalid_argument("owner must be 1..32 bytes"));
  }
  if (c.agents.empty()) {
    return unexpected(invalid_argument("agents: at least one agent is required"));
  }
  std::set<std::string> names;
  for (std::size_t i = 0; i < c.agents.size(); ++i) {
    const AgentEndpoint& a = c.agents[i];
    if (a.name.empty() || a.target.empty()) {
      return unexpected(invalid_argument("agents[" + std::to_string(i) + "]: name and target are required"));
    }
    if (!names.insert(a.name).second) {
      return unexpected(invalid_argument("agents[" + std::to_string(i) + "].name '" + a.name + "' is duplicated"));
    }
  }
  for (const AgentRoute& r : c.directory.routes()) {
    if (!names.contains(r.agent)) {
      return unexpected(invalid_argument("directory route " + r.prefix.to_string() + " names unknown agent '" +
                                         r.agent + "'"));
    }
  }
  if (!c.tls.insecure_lab && (c.tls.ca_pem.empty() || c.tls.cert_chain_pem.empty() || c.tls.private_key_pem.empty())) {
    return unexpected(invalid_argument("tls: ca, certificate and key are required unless insecure_lab"));
  }
  if (auto bad = validate(c.retry)) {
    return unexpected(invalid_argument(*bad));
  }
  if (c.session.hello_timeout <= 0ms || c.session.reconnect_initial <= 0ms ||
      c.session.reconnect_max < c.session.reconnect_initial) {
    return unexpected(invalid_argument("session: hello_timeout and reconnect backoff must be positive"));
  }
  if (c.list_page_size == 0 || c.list_page_size > 1000) {
    return unexpected(invalid_argument("list_page_size must be 1..1000"));
  }
  return ok_status();
}

std::shared_ptr<grpc::Channel> make_channel(const GrpcFcpClientConfig& c, const AgentEndpoint& a) {
  std::shared_ptr<grpc::ChannelCredentials> creds;
  if (c.tls.insecure_lab) {
    creds = grpc::InsecureChannelCredentials();
  } else {
    grpc::SslCredentialsOptions o;
    o.pem_root_certs = c.tls.ca_pem;
    o.pem_cert_chain = c.tls.cert_chain_pem;
    o.pem_private_key = c.tls.private_key_pem;
    creds = grpc::SslCredentials(o);
  }
  grpc::ChannelArguments args;
  // fcp-notes §2.10: client keepalive 10 s / 5 s, allowed without calls (the agent permits it).
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, static_cast<int>(c.session.keepalive_time.count()));
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, static_cast<int>(c.session.keepalive_timeout.count()));
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  // Find a restarted agent quickly; gRPC's default backoff grows to 120 s.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, static_cast<int>(c.session.reconnect_initial.count()));
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, static_cast<int>(c.session.reconnect_initial.count()));
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, static_cast<int>(c.session.channel_reconnect_max.count()));
  // One connection per client and agent, not shared through the global subchannel pool.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  if (!a.tls_server_name.empty()) {
    args.SetSslTargetNameOverride(a.tls_server_name);
  }
  if (c.interceptors) {
    return grpc::experimental::CreateCustomChannelWithInterceptors(a.target, creds, args, c.interceptors());
  }
  return grpc::CreateCustomChannel(a.target, creds, args);
}

}  // namespace

Result<std::unique_ptr<GrpcFcpClient>> GrpcFcpClient::create(asio::any_io_executor executor,
                                                             GrpcFcpClientConfig config, const Clock& clock) {
  if (auto ok = validate(config); !ok) {
    return unexpected(ok.error());
  }
  auto core = std::make_shared<Core>(executor, std::move(config), clock);
  for (const AgentEndpoint& ep : core->config.agents) {
    auto conn = std::make_unique<AgentConn>(executor, ep, core->config.check_epoch_seconds);
    conn->channel = make_channel(core->config, ep);
    conn->stub = pb::FirewallControl::NewStub(conn->channel);
    core->agents.emplace(ep.name, std::move(conn));
  }
  return std::unique_ptr<GrpcFcpClient>(new GrpcFcpClient(std::move(core)));
}

GrpcFcpClient::GrpcFcpClient(std::shared_ptr<Core> core) : core_(std::move(core)) {}

GrpcFcpClient::~GrpcFcpClient() { shutdown(); }

void GrpcFcpClient::start() {
  if (core_->started || core_->shut_down) {
    return;
  }
  core_->started = true;
  for (auto& [name, a] : core_->agents) {
    core_->connect(*a);
  }
}

void GrpcFcpClient::shutdown() { core_->shutdown(); }

void GrpcFcpClient::set_fencing_token(std::uint64_t token) {
  core_->config.fencing_token = token;
  for (auto& [name, a] : core_->agents) {
    if (a->stats.session == SessionState::kUp) {
      core_->adopt(*a, ReconcileReason::kOwnerAdopted);
    }
  }
}

std::optional<AgentStats> GrpcFcpClient::stats(const std::string& agent) const {
  const AgentConn* a = core_->find(agent);
  if (a == nullptr) {
    return std::nullopt;
  }
  return a->stats;
}

std::optional<AgentInfo> GrpcFcpClient::agent_info(const std::string& agent) const {
  const AgentConn* a = core_->find(agent);
  if (a == nullptr) {
    return std::nullopt;
  }
  return a->tracker.current();
}

asio::any_io_executor GrpcFcpClient::executor() const { return core_->ex; }

void GrpcFcpClient::set_subscriber(FcpSubscriber* subscriber) { core_->subscriber = subscriber; }

void GrpcFcpClient::reserve(ReserveRequest request, FcpCallback<ReserveResult> done) {
  Core& c = *core_;
  if (request.agent.empty()) {
    const auto route = c.config.directory.route(request.private_endpoint);
    if (!route) {
      c.deliver<ReserveResult>(std::move(done),
                               unexpected(client_error(ErrorCode::kNotFound, FcpReason::kNoRoute,
                                                       "no agent serves " + request.private_endpoint.to_string(),
                                                       "")));
      return;
    }
    request.agent = route->agent;
    if (request.realm.empty()) {
      request.realm = route->realm;
    }
  }
  using Call = Core::UnaryCall<pb::ReserveBindingRequest, pb::ReserveBindingResponse>;
  auto call = std::make_shared<Call>();
  call->agent = request.agent;
  call->rpc = "ReserveBinding";
  call->request_id = request.request_id.empty() ? c.new_request_id() : request.request_id;
  convert::to_proto(request, &call->request);
  convert::to_proto(c.meta(call->request_id), call->request.mutable_meta());
  call->invoke = [](Stub& s, grpc::ClientContext* x, const pb::ReserveBindingRequest* q, pb::ReserveBindingResponse* r,
                    std::function<void(grpc::Status)> f) { s.async()->ReserveBinding(x, q, r, std::move(f)); };
  call->done = [done = std::move(done), agent = request.agent](FcpResult<pb::ReserveBindingResponse> r) {
    if (!r) {
      done(unexpected(std::move(r).error()));
      return;
    }
    auto b = convert::from_proto(r->binding(), agent);
    if (!b) {
      done(unexpected(std::move(b).error()));
      return;
    }
    done(ReserveResult{std::move(*b), r->created()});
  };
  c.call_unary(std::move(call));
}

void GrpcFcpClient::enable(EnableRequest request, FcpCallback<BindingInfo> done) {
  Core& c = *core_;
  using Call = Core::UnaryCall<pb::EnablePinholesRequest, pb::EnablePinholesResponse>;
  auto call = std::make_shared<Call>();
  call->agent = agent_of(request.binding);
  call->rpc = "EnablePinholes";
  call->request_id = request.request_id.empty() ? c.new_request_id() : request.request_id;
  convert::to_proto(c.meta(call->request_id, request.expected_generation), call->request.mutable_meta());
  if (const auto* by_id = std::get_if<BindingRef>(&request.binding)) {
    call->request.set_binding_id(by_id->binding_id);
  } else {
    call->request.set_natural_key(std::get<NaturalKeyRef>(request.binding).natural_key);
  }
  for (const RemotePeer& r : request.remotes) {
    convert::to_proto(r, call->request.add_remotes());
  }
  call->invoke = [](Stub& s, grpc::ClientContext* x, const pb::EnablePinholesRequest* q, pb::EnablePinholesResponse* r,
                    std::function<void(grpc::Status)> f) { s.async()->EnablePinholes(x, q, r, std::move(f)); };
  call->done = [done = std::move(done), agent = call->agent](FcpResult<pb::EnablePinholesResponse> r) {
    if (!r) {
      done(unexpected(std::move(r).error()));
      return;
    }
    done(convert::from_proto(r->binding(), agent));
  };
  c.call_unary(std::move(call));
}

namespace {

template <class Container>
FcpResult<std::vector<BindingInfo>> convert_all(const Container& bindings, const std::string& agent) {
  std::vector<BindingInfo> out;
  out.reserve(static_cast<std::size_t>(bindings.size()));
  for (const pb::Binding& b : bindings) {
    auto info = convert::from_proto(b, agent);
    if (!info) {
      return unexpected(std::move(info).error());
    }
    out.push_back(std::move(*info));
  }
  return out;
}

}  // namespace

void GrpcFcpClient::renew(RenewRequest request, FcpCallback<std::vector<BindingInfo>> done) {
  Core& c = *core_;
  using Call = Core::UnaryCall<pb::RenewRequest, pb::RenewResponse>;
  auto call = std::make_shared<Call>();
  call->agent = agent_of(request.target);
  call->rpc = "Renew";
  call->request_id = request.request_id.empty() ? c.new_request_id() : request.request_id;
  convert::to_proto(c.meta(call->request_id), call->request.mutable_meta());
  if (const auto* by_id = std::get_if<BindingRef>(&request.target)) {
    call->request.set_binding_id(by_id->binding_id);
  } else {
    call->request.set_group_id(std::get<GroupRef>(request.target).group_id);
  }
  const auto secs = std::chrono::duration_cast<std::chrono::seconds>(request.lifetime);
  call->request.mutable_lifetime()->set_seconds(secs.count());
  call->request.mutable_lifetime()->set_nanos(
      static_cast<std::int32_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(request.lifetime - secs).count()));
  call->invoke = [](Stub& s, grpc::ClientContext* x, const pb::RenewRequest* q, pb::RenewResponse* r,
                    std::function<void(grpc::Status)> f) { s.async()->Renew(x, q, r, std::move(f)); };
  call->done = [done = std::move(done), agent = call->agent](FcpResult<pb::RenewResponse> r) {
    if (!r) {
      done(unexpected(std::move(r).error()));
      return;
    }
    done(convert_all(r->bindings(), agent));
  };
  c.call_unary(std::move(call));
}

void GrpcFcpClient::release(ReleaseRequest request, FcpCallback<ReleaseResult> done) {
  Core& c = *core_;
  using Call = Core::UnaryCall<pb::ReleaseRequest, pb::ReleaseResponse>;
  auto call = std::make_shared<Call>();
  call->agent = agent_of(request.target);
  call->rpc = "Release";
  call->request_id = request.request_id.empty() ? c.new_request_id() : request.request_id;
  convert::to_proto(c.meta(call->request_id), call->request.mutable_meta());
  std::visit(
      [&](const auto& t) {
        using T = std::decay_t<decltype(t)>;
        if constexpr (std::is_same_v<T, BindingRef>) {
          call->request.set_binding_id(t.binding_id);
        } else if constexpr (std::is_same_v<T, NaturalKeyRef>) {
          call->request.set_natural_key(t.natural_key);
        } else {
          call->request.set_group_id(t.group_id);
        }
      },
      request.target);
  call->invoke = [](Stub& s, grpc::ClientContext* x, const pb::ReleaseRequest* q, pb::ReleaseResponse* r,
                    std::function<void(grpc::Status)> f) { s.async()->Release(x, q, r, std::move(f)); };
  call->done = [done = std::move(done), agent = call->agent](FcpResult<pb::ReleaseResponse> r) {
    if (!r) {
      done(unexpected(std::move(r).error()));
      return;
    }
    auto final_state = convert_all(r->final_state(), agent);
    if (!final_state) {
      done(unexpected(std::move(final_state).error()));
      return;
    }
    done(ReleaseResult{r->existed(), std::move(*final_state)});
  };
  c.call_unary(std::move(call));
}

void GrpcFcpClient::get(BindingTarget target, FcpCallback<BindingInfo> done) {
  Core& c = *core_;
  using Call = Core::UnaryCall<pb::GetBindingRequest, pb::GetBindingResponse>;
  auto call = std::make_shared<Call>();
  call->agent = agent_of(target);
  call->rpc = "GetBinding";
  call->request.set_owner(c.config.owner);
  if (const auto* by_id = std::get_if<BindingRef>(&target)) {
    call->request.set_binding_id(by_id->binding_id);
  } else {
    call->request.set_natural_key(std::get<NaturalKeyRef>(target).natural_key);
  }
  call->invoke = [](Stub& s, grpc::ClientContext* x, const pb::GetBindingRequest* q, pb::GetBindingResponse* r,
                    std::function<void(grpc::Status)> f) { s.async()->GetBinding(x, q, r, std::move(f)); };
  call->done = [done = std::move(done), agent = call->agent](FcpResult<pb::GetBindingResponse> r) {
    if (!r) {
      done(unexpected(std::move(r).error()));
      return;
    }
    done(convert::from_proto(r->binding(), agent));
  };
  c.call_unary(std::move(call));
}

void GrpcFcpClient::list(ListRequest request, FcpCallback<std::vector<BindingInfo>> done) {
  // Pages one after another (each page is its own call with its own budget); the agent serves
  // them from memory with a snapshot token (fcp-notes §2.8).
  struct State {
    Core* core;  // outlives the call: shutdown() drops pending continuations first
    ListRequest request;
    FcpCallback<std::vector<BindingInfo>> done;
    std::vector<BindingInfo> acc;
    std::uint32_t pages = 0;
  };
  auto st = std::make_shared<State>(State{core_.get(), std::move(request), std::move(done), {}, 0});
  auto next_page = std::make_shared<std::function<void(std::string)>>();
  *next_page = [st, weak_next = std::weak_ptr<std::function<void(std::string)>>(next_page)](std::string token) {
    Core& c = *st->core;
    using Call = Core::UnaryCall<pb::ListBindingsRequest, pb::ListBindingsResponse>;
    auto call = std::make_shared<Call>();
    call->agent = st->request.agent;
    call->rpc = "ListBindings";
    call->request.set_owner(c.config.owner);
    call->request.set_group_id(st->request.group_id);
    call->request.set_page_size(c.config.list_page_size);
    call->request.set_page_token(std::move(token));
    call->invoke = [](Stub& s, grpc::ClientContext* x, const pb::ListBindingsRequest* q, pb::ListBindingsResponse* r,
                      std::function<void(grpc::Status)> f) { s.async()->ListBindings(x, q, r, std::move(f)); };
    auto next = weak_next.lock();  // kept alive by this call until it completes
    call->done = [st, next](FcpResult<pb::ListBindingsResponse> r) {
      if (!r) {
        st->done(unexpected(std::move(r).error()));
        return;
      }
      auto page = convert_all(r->bindings(), st->request.agent);
      if (!page) {
        st->done(unexpected(std::move(page).error()));
        return;
      }
      std::move(page->begin(), page->end(), std::back_inserter(st->acc));
      ++st->pages;
      if (r->next_page_token().empty()) {
        st->done(std::move(st->acc));
        return;
      }
      if (st->pages >= st->core->config.max_list_pages) {
        st->done(unexpected(client_error(ErrorCode::kResourceExhausted, FcpReason::kNone,
                                         "list stopped after max_list_pages pages", st->request.agent)));
        return;
      }
      (*next)(r->next_page_token());
    };
    c.call_unary(std::move(call));
  };
  (*next_page)(std::string{});
}

}  // namespace portcullis::fcp
