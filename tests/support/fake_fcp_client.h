// FakeFcpClient: an in-memory FcpClient for tests of the layers above FCP (media sessions, B2BUA).
// Header-only; style §4.12: a fake with real semantics, not a mock.
//
// What it models (proto/fcp/v1/README.md, fcp-notes §2):
//   * Deterministic allocation: lowest free public port of the agent's range that fits (pairs on
//     an even port + the next odd one, RFC 4787 REQ-4); binding ids "1", "2", ... per client.
//   * Idempotency: the same request_id answers the first result again and changes nothing;
//     reserve on an existing natural key with the same spec returns it (created=false), another
//     spec is ALREADY_EXISTS/KEY_CONFLICT; one binding per private endpoint (ENDPOINT_IN_USE).
//   * Release of something absent is OK with existed=false; lifetime 0 deletes.
//   * Error model with retry classes, like the agent's table.
// What it lets a test do:
//   * record every call (calls(), count()),
//   * inject an error for the next call of an operation (fail_next), or lose the next answer after
//     the operation was applied (lose_next_answer: the caller sees DEADLINE_EXCEEDED/kSameRequest
//     and must retry with the same request_id),
//   * add latency measured on a FakeClock (set_latency + poll() after FakeClock::advance),
//   * emit events, state loss and reconcile requests to the subscriber (expire(), lose_state()).
// Executor rules are FcpClient's: callbacks are posted to the executor, never run inline.
#pragma once

#include <algorithm>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/post.hpp>

#include "common/time/clock.h"
#include "common/time/timer_queue.h"
#include "controller/fcp/fcp_client.h"

namespace portcullis::testing {

struct FakeFcpClientOptions {
  std::string agent = "edge-1";  // used when a ReserveRequest names no agent
  std::string owner = "fake-owner";
  net::IpAddress public_ip = net::IpAddress::v4(0xCB007101);  // 203.0.113.1
  std::uint16_t first_port = 40000;
  std::uint16_t last_port = 40999;
};

class FakeFcpClient final : public fcp::FcpClient {
 public:
  enum class Op : std::uint8_t { kReserve, kEnable, kRenew, kRelease, kGet, kList };

  using Options = FakeFcpClientOptions;

  using Request = std::variant<fcp::ReserveRequest, fcp::EnableRequest, fcp::RenewRequest, fcp::ReleaseRequest,
                               fcp::BindingTarget, fcp::ListRequest>;
  struct Record {
    Op op;
    std::string agent;
    std::string request_id;  // writes only
    Request request;
  };

  FakeFcpClient(boost::asio::any_io_executor executor, const Clock& clock, Options options = {})
      : ex_(std::move(executor)), clock_(clock), options_(std::move(options)) {}

  // ---- test controls ----

  /// The next call of `op` fails with `error` (agent/request_id filled in) and changes nothing.
  void fail_next(Op op, fcp::FcpError error) { failures_[op].push_back(std::move(error)); }
  /// The next call of `op` is applied, but its answer is lost: the caller gets DEADLINE_EXCEEDED
  /// (kSameRequest). Retrying with the same request_id returns the applied result.
  void lose_next_answer(Op op) { lost_answers_.insert(op); }
  /// Answers are delivered `latency` after the call on the clock (a FakeClock: advance it, then
  /// poll()). Zero: posted at once.
  void set_latency(Clock::Duration latency) { latency_ = latency; }
  /// Posts every answer whose latency has passed; returns how many.
  std::size_t poll() { return timers_.run_due(clock_.now()); }
  std::size_t pending_answers() const { return timers_.size(); }

  /// Delivers an event to the subscriber (posted).
  void emit(fcp::FcpEvent e) {
    if (e.seq == 0) {
      e.seq = ++event_seq_;
    }
    post([this, e = std::move(e)] {
      if (subscriber_ != nullptr) {
        subscriber_->on_event(e);
      }
    });
  }
  /// The agent closes a binding on its own (hard deadline, idle, ...): removed, EXPIRED/IDLE event.
  bool expire(const fcp::BindingRef& ref, fcp::Cause cause = fcp::Cause::kHardDeadline) {
    const auto it = bindings_.find(key(ref.agent, ref.binding_id));
    if (it == bindings_.end()) {
      return false;
    }
    fcp::FcpEvent e;
    e.agent = ref.agent;
    e.kind = cause == fcp::Cause::kIdle ? fcp::EventKind::kIdle : fcp::EventKind::kExpired;
    e.cause = cause;
    e.owner = options_.owner;
    e.group_id = it->second.group_id;
    e.binding_id = ref.binding_id;
    e.time = clock_.wall_now();
    erase(it);
    emit(std::move(e));
    return true;
  }
  /// The agent lost its kernel state: its bindings are gone; subscriber->on_state_lost.
  void lose_state(const std::string& agent) {
    for (auto it = bindings_.begin(); it != bindings_.end();) {
      it = it->second.agent == agent ? erase(it) : std::next(it);
    }
    fcp::StateLost loss;
    loss.agent = agent;
    loss.before = fcp::AgentInfo{agent, "inst-" + std::to_string(epoch_), epoch_, 0};
    ++epoch_;
    loss.after = fcp::AgentInfo{agent, "inst-" + std::to_string(epoch_), epoch_, 0};
    post([this, loss] {
      if (subscriber_ != nullptr) {
        subscriber_->on_state_lost(loss);
      }
    });
  }
  void request_reconcile(const std::string& agent, fcp::ReconcileReason reason) {
    post([this, agent, reason] {
      if (subscriber_ != nullptr) {
        subscriber_->on_reconcile_needed(fcp::ReconcileNeeded{agent, reason, {}, 0, 0});
      }
    });
  }

  // ---- inspection ----

  const std::vector<Record>& calls() const noexcept { return calls_; }
  std::size_t count(Op op) const {
    return static_cast<std::size_t>(std::count_if(calls_.begin(), calls_.end(), [op](const Record& r) { return r.op == op; }));
  }
  std::optional<fcp::BindingInfo> binding(const fcp::BindingRef& ref) const {
    const auto it = bindings_.find(key(ref.agent, ref.binding_id));
    if (it == bindings_.end()) {
      return std::nullopt;
    }
    return it->second;
  }
  std::size_t binding_count() const noexcept { return bindings_.size(); }
  fcp::FcpSubscriber* subscriber() const noexcept { return subscriber_; }

  // ---- FcpClient ----

  boost::asio::any_io_executor executor() const override { return ex_; }
  void set_subscriber(fcp::FcpSubscriber* s) override { subscriber_ = s; }

  void reserve(fcp::ReserveRequest request, fcp::FcpCallback<fcp::ReserveResult> done) override {
    if (request.agent.empty()) {
      request.agent = options_.agent;
    }
    const std::string rid = request_id(request.request_id);
    calls_.push_back({Op::kReserve, request.agent, rid, request});
    write<fcp::ReserveResult>(Op::kReserve, request.agent, rid, std::move(done),
                              [&]() -> fcp::FcpResult<fcp::ReserveResult> { return do_reserve(request); });
  }

  void enable(fcp::EnableRequest request, fcp::FcpCallback<fcp::BindingInfo> done) override {
    const std::string agent = fcp::agent_of(request.binding);
    const std::string rid = request_id(request.request_id);
    calls_.push_back({Op::kEnable, agent, rid, request});
    write<fcp::BindingInfo>(Op::kEnable, agent, rid, std::move(done),
                            [&]() -> fcp::FcpResult<fcp::BindingInfo> { return do_enable(request); });
  }

  void renew(fcp::RenewRequest request, fcp::FcpCallback<std::vector<fcp::BindingInfo>> done) override {
    const std::string agent = fcp::agent_of(request.target);
    const std::string rid = request_id(request.request_id);
    calls_.push_back({Op::kRenew, agent, rid, request});
    write<std::vector<fcp::BindingInfo>>(Op::kRenew, agent, rid, std::move(done),
                                         [&]() -> fcp::FcpResult<std::vector<fcp::BindingInfo>> {
                                           return do_renew(request);
                                         });
  }

  void release(fcp::ReleaseRequest request, fcp::FcpCallback<fcp::ReleaseResult> done) override {
    const std::string agent = fcp::agent_of(request.target);
    const std::string rid = request_id(request.request_id);
    calls_.push_back({Op::kRelease, agent, rid, request});
    write<fcp::ReleaseResult>(Op::kRelease, agent, rid, std::move(done),
                              [&]() -> fcp::FcpResult<fcp::ReleaseResult> { return do_release(request.target); });
  }

  void get(fcp::BindingTarget target, fcp::FcpCallback<fcp::BindingInfo> done) override {
    const std::string agent = fcp::agent_of(target);
    calls_.push_back({Op::kGet, agent, "", target});
    if (auto e = injected(Op::kGet, agent, "")) {
      answer<fcp::BindingInfo>(std::move(done), unexpected(std::move(*e)));
      return;
    }
    auto it = find(target);
    if (it == bindings_.end()) {
      answer<fcp::BindingInfo>(std::move(done), unexpected(error(ErrorCode::kNotFound, fcp::FcpReason::kUnknownBinding,
                                                                 "binding not found", agent)));
      return;
    }
    answer<fcp::BindingInfo>(std::move(done), it->second);
  }

  void list(fcp::ListRequest request, fcp::FcpCallback<std::vector<fcp::BindingInfo>> done) override {
    calls_.push_back({Op::kList, request.agent, "", request});
    if (auto e = injected(Op::kList, request.agent, "")) {
      answer<std::vector<fcp::BindingInfo>>(std::move(done), unexpected(std::move(*e)));
      return;
    }
    std::vector<fcp::BindingInfo> out;
    for (const auto& [k, b] : bindings_) {
      if (b.agent == request.agent && (request.group_id.empty() || b.group_id == request.group_id)) {
        out.push_back(b);
      }
    }
    answer<std::vector<fcp::BindingInfo>>(std::move(done), std::move(out));
  }

  static fcp::FcpError error(ErrorCode code, fcp::FcpReason reason, std::string message, std::string agent = {},
                             fcp::RetryClass retry = fcp::RetryClass::kNever) {
    fcp::FcpError e;
    e.error = Error(code, std::move(message));
    e.reason = reason;
    e.retry_class = retry;
    e.agent = std::move(agent);
    e.attempts = 1;
    return e;
  }

 private:
  using Key = std::pair<std::string, std::string>;  // (agent, binding id)
  using Map = std::map<Key, fcp::BindingInfo>;

  static Key key(const std::string& agent, const std::string& id) { return {agent, id}; }

  template <class F>
  void post(F f) {
    boost::asio::post(ex_, std::move(f));
  }

  template <class T>
  void answer(fcp::FcpCallback<T> done, fcp::FcpResult<T> result) {
    auto deliver = [this, done = std::move(done), result = std::move(result)]() mutable {
      post([done = std::move(done), result = std::move(result)]() mutable { done(std::move(result)); });
    };
    if (latency_ <= Clock::Duration::zero()) {
      deliver();
      return;
    }
    // TimerQueue wants a copyable callback; keep the move-only parts behind a shared_ptr.
    auto held = std::make_shared<decltype(deliver)>(std::move(deliver));
    timers_.schedule(clock_.now() + latency_, [held] { (*held)(); });
  }

  std::string request_id(const std::string& given) {
    return given.empty() ? "fake-req-" + std::to_string(++request_counter_) : given;
  }

  std::optional<fcp::FcpError> injected(Op op, const std::string& agent, const std::string& rid) {
    auto it = failures_.find(op);
    if (it == failures_.end() || it->second.empty()) {
      return std::nullopt;
    }
    fcp::FcpError e = std::move(it->second.front());
    it->second.pop_front();
    e.agent = agent;
    e.request_id = rid;
    if (e.attempts == 0) {
      e.attempts = 1;
    }
    return e;
  }

  /// Writes: injected error (nothing applied) > idempotent replay > apply (+ maybe lose the answer).
  template <class T, class Apply>
  void write(Op op, const std::string& agent, const std::string& rid, fcp::FcpCallback<T> done, Apply apply) {
    if (auto e = injected(op, agent, rid)) {
      answer<T>(std::move(done), unexpected(std::move(*e)));
      return;
    }
    const auto cached = replies_.find(rid);
    if (cached != replies_.end()) {
      if (const T* r = std::get_if<T>(&cached->second)) {
        answer<T>(std::move(done), *r);
      } else {
        answer<T>(std::move(done), unexpected(error(ErrorCode::kInvalidArgument, fcp::FcpReason::kRequestIdReused,
                                                    "request_id reused for a different request", agent)));
      }
      return;
    }
    fcp::FcpResult<T> r = apply();
    if (r) {
      replies_.emplace(rid, Reply(*r));  // only successes are remembered, like the agent
    } else {
      fcp::FcpError e = std::move(r).error();
      e.agent = agent;
      e.request_id = rid;
      e.attempts = 1;
      r = unexpected(std::move(e));
    }
    if (lost_answers_.erase(op) > 0) {
      fcp::FcpError e = error(ErrorCode::kDeadlineExceeded, fcp::FcpReason::kDeadline, "answer lost (injected)", agent,
                              fcp::RetryClass::kSameRequest);
      e.request_id = rid;
      answer<T>(std::move(done), unexpected(std::move(e)));
      return;
    }
    answer<T>(std::move(done), std::move(r));
  }

  Map::iterator find(const fcp::BindingTarget& t) {
    if (const auto* by_id = std::get_if<fcp::BindingRef>(&t)) {
      return bindings_.find(key(by_id->agent, by_id->binding_id));
    }
    const auto& nk = std::get<fcp::NaturalKeyRef>(t);
    return std::find_if(bindings_.begin(), bindings_.end(), [&](const auto& kv) {
      return kv.second.agent == nk.agent && !nk.natural_key.empty() && kv.second.natural_key == nk.natural_key;
    });
  }

  Map::iterator erase(Map::iterator it) {
    for (std::uint32_t i = 0; i < it->second.port_count; ++i) {
      used_ports_.erase({it->second.agent, static_cast<std::uint16_t>(it->second.public_endpoint.port() + i)});
    }
    return bindings_.erase(it);
  }

  bool ports_free(const std::string& agent, std::uint32_t first, std::uint32_t count) const {
    if (first < options_.first_port || first + count - 1 > options_.last_port) {
      return false;
    }
    for (std::uint32_t i = 0; i < count; ++i) {
      if (used_ports_.contains({agent, static_cast<std::uint16_t>(first + i)})) {
        return false;
      }
    }
    return true;
  }

  fcp::FcpResult<fcp::ReserveResult> do_reserve(const fcp::ReserveRequest& r) {
    const std::string& agent = r.agent;
    if (r.port_count < 1 || r.port_count > 2 || (r.port_count == 2 && r.parity != fcp::Parity::kEven)) {
      return unexpected(error(ErrorCode::kInvalidArgument, fcp::FcpReason::kInvalidField,
                              "port_count must be 1, or 2 with even parity"));
    }
    if (r.private_endpoint.port() == 0) {
      return unexpected(error(ErrorCode::kInvalidArgument, fcp::FcpReason::kBadTuple, "private_endpoint.port must be 1..65535"));
    }
    for (const auto& [k, b] : bindings_) {
      if (b.agent != agent) {
        continue;
      }
      if (!r.natural_key.empty() && b.natural_key == r.natural_key) {
        if (b.private_endpoint == r.private_endpoint && b.port_count == r.port_count && b.protocol == r.protocol) {
          return fcp::ReserveResult{b, false};
        }
        fcp::FcpError e = error(ErrorCode::kAlreadyExists, fcp::FcpReason::kKeyConflict,
                                "natural_key exists with another spec");
        e.binding_id = b.binding_id;
        return unexpected(std::move(e));
      }
      if (b.private_endpoint.address() == r.private_endpoint.address() &&
          r.private_endpoint.port() < b.private_endpoint.port() + b.port_count &&
          b.private_endpoint.port() < r.private_endpoint.port() + r.port_count) {
        return unexpected(error(ErrorCode::kAlreadyExists, fcp::FcpReason::kEndpointInUse, "private endpoint already bound"));
      }
    }
    std::optional<std::uint32_t> port;
    const std::uint32_t step = r.port_count == 2 ? 2 : 1;
    if (r.public_port) {
      const std::uint32_t want = r.public_port->suggested.port();
      if (ports_free(agent, want, r.port_count) && (step == 1 || want % 2 == 0)) {
        port = want;
      } else if (r.public_port->mode == fcp::PublicPortHint::Mode::kExactOrFail) {
        return unexpected(error(ErrorCode::kFailedPrecondition, fcp::FcpReason::kCannotProvideExternal,
                                "public port " + std::to_string(want) + " is not available"));
      }
    }
    const std::uint32_t start = options_.first_port + (step == 2 ? options_.first_port % 2 : 0);
    for (std::uint32_t p = start; !port && p + r.port_count - 1 <= options_.last_port; p += step) {
      if (ports_free(agent, p, r.port_count)) {
        port = p;
      }
    }
    if (!port) {
      fcp::FcpError e = error(ErrorCode::kResourceExhausted, fcp::FcpReason::kNoPorts, "port pool exhausted", agent,
                              fcp::RetryClass::kAfterDelay);
      e.retry_after = std::chrono::seconds(30);
      return unexpected(std::move(e));
    }
    fcp::BindingInfo b;
    b.agent = agent;
    b.binding_id = std::to_string(++next_binding_);
    b.natural_key = r.natural_key;
    b.group_id = r.group_id;
    b.owner = options_.owner;
    b.generation = 1;
    b.state = fcp::BindingState::kReserved;
    b.protocol = r.protocol;
    b.private_endpoint = r.private_endpoint;
    b.public_endpoint = net::Endpoint(options_.public_ip, static_cast<std::uint16_t>(*port));
    b.port_count = r.port_count;
    b.parity = r.parity;
    b.lease.liveness = r.lease.liveness;
    b.lease.hard_deadline = clock_.wall_now() + r.lease.lifetime;
    b.lease.expire_time = b.lease.hard_deadline;
    b.lease.orphan_grace = r.lease.orphan_grace;
    b.lease.idle_timeout = r.lease.idle_timeout;
    b.realm = r.realm;
    for (std::uint32_t i = 0; i < r.port_count; ++i) {
      used_ports_.insert({agent, static_cast<std::uint16_t>(*port + i)});
    }
    bindings_.emplace(key(agent, b.binding_id), b);
    return fcp::ReserveResult{b, true};
  }

  fcp::FcpResult<fcp::BindingInfo> do_enable(const fcp::EnableRequest& r) {
    auto it = find(r.binding);
    if (it == bindings_.end()) {
      return unexpected(error(ErrorCode::kNotFound, fcp::FcpReason::kUnknownBinding, "binding not found"));
    }
    if (r.remotes.empty()) {
      return unexpected(error(ErrorCode::kInvalidArgument, fcp::FcpReason::kInvalidField, "remotes must not be empty"));
    }
    fcp::BindingInfo& b = it->second;
    if (r.expected_generation != 0 && r.expected_generation != b.generation) {
      fcp::FcpError e = error(ErrorCode::kAborted, fcp::FcpReason::kGenerationMismatch, "generation mismatch", "",
                              fcp::RetryClass::kAfterReread);
      e.binding_id = b.binding_id;
      return unexpected(std::move(e));
    }
    b.pinholes.clear();
    for (const fcp::RemotePeer& p : r.remotes) {
      b.pinholes.push_back(fcp::PinholeInfo{p, std::nullopt});
    }
    b.state = fcp::BindingState::kEnabled;
    ++b.generation;
    return b;
  }

  fcp::FcpResult<std::vector<fcp::BindingInfo>> do_renew(const fcp::RenewRequest& r) {
    std::vector<Map::iterator> hits;
    if (const auto* by_id = std::get_if<fcp::BindingRef>(&r.target)) {
      auto it = bindings_.find(key(by_id->agent, by_id->binding_id));
      if (it == bindings_.end()) {
        return unexpected(error(ErrorCode::kNotFound, fcp::FcpReason::kUnknownBinding, "binding not found"));
      }
      hits.push_back(it);
    } else {
      const auto& g = std::get<fcp::GroupRef>(r.target);
      for (auto it = bindings_.begin(); it != bindings_.end(); ++it) {
        if (it->second.agent == g.agent && it->second.group_id == g.group_id) {
          hits.push_back(it);
        }
      }
      if (hits.empty()) {
        return unexpected(error(ErrorCode::kNotFound, fcp::FcpReason::kUnknownGroup, "group not found"));
      }
    }
    std::vector<fcp::BindingInfo> out;
    for (auto it : hits) {
      if (r.lifetime <= fcp::Millis::zero()) {  // RFC 5190: lifetime 0 terminates the rule
        fcp::BindingInfo closed = it->second;
        closed.state = fcp::BindingState::kClosed;
        closed.cause = fcp::Cause::kRequested;
        out.push_back(std::move(closed));
        erase(it);
        continue;
      }
      it->second.lease.hard_deadline = clock_.wall_now() + r.lifetime;
      it->second.lease.expire_time = it->second.lease.hard_deadline;
      ++it->second.generation;
      out.push_back(it->second);
    }
    return out;
  }

  fcp::FcpResult<fcp::ReleaseResult> do_release(const fcp::ReleaseTarget& target) {
    std::vector<Map::iterator> hits;
    if (const auto* g = std::get_if<fcp::GroupRef>(&target)) {
      for (auto it = bindings_.begin(); it != bindings_.end(); ++it) {
        if (it->second.agent == g->agent && it->second.group_id == g->group_id) {
          hits.push_back(it);
        }
      }
    } else {
      const fcp::BindingTarget t = std::holds_alternative<fcp::BindingRef>(target)
                                       ? fcp::BindingTarget(std::get<fcp::BindingRef>(target))
                                       : fcp::BindingTarget(std::get<fcp::NaturalKeyRef>(target));
      if (auto it = find(t); it != bindings_.end()) {
        hits.push_back(it);
      }
    }
    fcp::ReleaseResult out;
    out.existed = !hits.empty();
    for (auto it : hits) {
      fcp::BindingInfo closed = it->second;
      closed.state = fcp::BindingState::kClosed;
      closed.cause = fcp::Cause::kRequested;
      out.final_state.push_back(std::move(closed));
      erase(it);
    }
    return out;
  }

  using Reply = std::variant<fcp::ReserveResult, fcp::BindingInfo, std::vector<fcp::BindingInfo>, fcp::ReleaseResult>;

  boost::asio::any_io_executor ex_;
  const Clock& clock_;
  Options options_;
  fcp::FcpSubscriber* subscriber_ = nullptr;
  Clock::Duration latency_{0};
  TimerQueue timers_;
  std::map<Op, std::deque<fcp::FcpError>> failures_;
  std::set<Op> lost_answers_;
  std::vector<Record> calls_;
  Map bindings_;
  std::set<std::pair<std::string, std::uint16_t>> used_ports_;
  std::map<std::string, Reply> replies_;
  std::uint64_t next_binding_ = 0;
  std::uint64_t request_counter_ = 0;
  std::uint64_t event_seq_ = 0;
  std::uint64_t epoch_ = 1;
};

}  // namespace portcullis::testing
