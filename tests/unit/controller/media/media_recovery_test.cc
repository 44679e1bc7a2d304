// MediaRecovery (controller/media/media_recovery.h) with real MediaSessions against FakeFcpClient on
// a FakeClock: state loss re-creates bindings on the same public ports with the same holes, a
// restart that kept the state is only reconciled, agent events about live calls are counted, and
// the re-creation work is bounded. No sleeps: latency and retries run on the FakeClock.
#include <algorithm>
#include <chrono>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>

#include "common/time/fake_clock.h"
#include "common/time/timer_queue.h"
#include "controller/fcp/agent_directory.h"
#include "controller/media/media_recovery.h"
#include "controller/media/media_session.h"
#include "tests/support/fake_fcp_client.h"
#include "tests/unit/controller/media/media_test_support.h"

using namespace std::chrono_literals;
using namespace portcullis;
using namespace portcullis::media;
using portcullis::testing::FakeFcpClient;
using Op = FakeFcpClient::Op;
using namespace portcullis::media::test;

namespace {

std::string sdp_body(std::string_view user, std::string_view addr, int port) {
  const std::string a(addr);
  return body_of({"v=0", "o=" + std::string(user) + " 1 1 IN IP4 " + a, "s=-", "c=IN IP4 " + a, "t=0 0",
                  "m=audio " + std::to_string(port) + " RTP/AVP 0"});
}

fcp::FcpError fcp_error(fcp::FcpReason reason, fcp::RetryClass retry,
                        ErrorCode code = ErrorCode::kFailedPrecondition) {
  return FakeFcpClient::error(code, reason, "injected", "", retry);
}

struct Harness {
  boost::asio::io_context io;
  FakeClock clock;
  TimerQueue timers;
  fcp::AgentDirectory directory;
  MediaStats stats;
  FakeFcpClient fake;
  MediaPolicy policy;
  std::optional<MediaRecovery> recovery;
  std::size_t after_work_calls = 0;

  explicit Harness(MediaRecoveryPolicy rp = {}) : fake(io.get_executor(), clock) {
    REQUIRE(directory.add("10.0.0.0/8", "edge-1").ok());
    policy.recovery = rp;
    recovery.emplace(env(), rp, [this] { ++after_work_calls; });
  }

  MediaEnv env() { return MediaEnv{fake, directory, clock, timers, &stats, recovery ? &*recovery : nullptr}; }

  std::unique_ptr<MediaSession> session(const std::string& call_id) {
    return std::make_unique<MediaSession>(env(), policy, CallKey{call_id, "tag-" + call_id});
  }

  void run() {
    io.restart();
    io.poll();
  }
  void advance(Clock::Duration d) {
    clock.advance(d);
    timers.run_due(clock.now());
    fake.poll();
    run();
  }

  MediaResult offer(MediaSession& s, const std::string& body, const SignalContext& ctx) {
    std::optional<MediaResult> out;
    s.on_offer(body, "application/sdp", ctx, [&](MediaResult r) { out = std::move(r); });
    run();
    REQUIRE(out.has_value());
    return *out;
  }
  MediaResult answer(MediaSession& s, const std::string& body, const SignalContext& ctx) {
    std::optional<MediaResult> out;
    s.on_answer(body, "application/sdp", ctx, AnswerKind::kFinal, [&](MediaResult r) { out = std::move(r); });
    run();
    REQUIRE(out.has_value());
    return *out;
  }

  /// A LAN phone at 10.0.0.2:`lan_port` calls a WAN phone at 198.51.100.7:`wan_port`.
  std::unique_ptr<MediaSession> lan_to_wan(const std::string& call_id, int lan_port = 4000,
                                           int wan_port = 5000) {
    auto s = session(call_id);
    REQUIRE(offer(*s, sdp_body("alice", "10.0.0.2", lan_port), lan_caller()).action == MediaAction::kForward);
    REQUIRE(answer(*s, sdp_body("bob", "198.51.100.7", wan_port), wan_callee(1, "totag")).action ==
            MediaAction::kPassThrough);
    REQUIRE(s->confirmed());
    REQUIRE(s->bindings().size() == 1);
    return s;
  }

  template <class T>
  std::vector<T> requests(Op op) const {
    std::vector<T> out;
    for (const auto& c : fake.calls()) {
      if (c.op == op) {
        out.push_back(std::get<T>(c.request));
      }
    }
    return out;
  }
  std::vector<fcp::ReserveRequest> reserves() const { return requests<fcp::ReserveRequest>(Op::kReserve); }
  std::vector<fcp::EnableRequest> enables() const { return requests<fcp::EnableRequest>(Op::kEnable); }
  std::vector<fcp::ReleaseRequest> releases() const { return requests<fcp::ReleaseRequest>(Op::kRelease); }

  std::vector<fcp::RemotePeer> pinholes(const MediaBindingView& v) const {
    std::vector<fcp::RemotePeer> out;
    if (auto b = fake.binding(v.ref)) {
      for (const auto& p : b->pinholes) {
        out.push_back(p.remote);
      }
    }
    return out;
  }
};

fcp::FcpEvent latched(const MediaBindingView& v, const std::string& group, std::string_view remote,
                      int component) {
  fcp::FcpEvent e;
  e.agent = v.ref.agent;
  e.kind = fcp::EventKind::kLatched;
  e.cause = fcp::Cause::kLatched;
  e.group_id = group;
  e.binding_id = v.ref.binding_id;
  e.latched_remote = ep(remote);
  e.detail = "component " + std::to_string(component);
  return e;
}

}  // namespace

// ---------------------------------------------------------------------------------------------

TEST_CASE("MediaRecovery: state lost re-creates every binding on the same public port with the same holes",
          "[media][recovery]") {
  Harness h;
  auto s1 = h.lan_to_wan("call-1", 4000, 5000);
  auto s2 = h.lan_to_wan("call-2", 4002, 5002);
  const MediaBindingView before1 = s1->bindings().at(0);
  const MediaBindingView before2 = s2->bindings().at(0);
  REQUIRE(before1.public_endpoint == ep("203.0.113.1:40000"));
  REQUIRE(before2.public_endpoint == ep("203.0.113.1:40002"));
  CHECK(h.recovery->sessions() == 2);
  const std::size_t reserves_before = h.reserves().size();

  h.fake.lose_state("edge-1");
  REQUIRE(h.fake.binding_count() == 0);
  h.run();

  CHECK(h.stats.state_losses == 1);
  CHECK(h.stats.recreate_queued == 2);
  CHECK(h.stats.bindings_recreated == 2);
  CHECK(h.stats.recreate_port_lost == 0);
  CHECK(h.recovery->queued() == 0);
  CHECK(h.recovery->in_flight() == 0);
  CHECK(h.after_work_calls > 0);
  const auto reserves = h.reserves();
  REQUIRE(reserves.size() == reserves_before + 2);
  for (std::size_t i = reserves_before; i < reserves.size(); ++i) {
    const fcp::ReserveRequest& r = reserves[i];
    REQUIRE(r.public_port.has_value());
    CHECK(r.public_port->mode == fcp::PublicPortHint::Mode::kExactOrFail);
    const MediaBindingView& was = r.natural_key == before1.natural_key ? before1 : before2;
    CHECK(r.natural_key == was.natural_key);
    CHECK(r.public_port->suggested == was.public_endpoint);
    CHECK(r.private_endpoint == was.private_endpoint);
    CHECK(r.group_id == (was.natural_key == before1.natural_key ? s1->group_id() : s2->group_id()));
    CHECK(r.port_count == 2);
    CHECK(r.parity == fcp::Parity::kEven);
  }
  const MediaBindingView after1 = s1->bindings().at(0);
  const MediaBindingView after2 = s2->bindings().at(0);
  CHECK_FALSE(after1.lost);
  CHECK(after1.ref.binding_id != before1.ref.binding_id);  // a new binding on the new epoch
  CHECK(after1.public_endpoint == before1.public_endpoint);
  CHECK(after2.public_endpoint == before2.public_endpoint);
  CHECK(h.pinholes(after1) == std::vector{fcp::RemotePeer{ip("198.51.100.7"), 5000, 0}});
  CHECK(h.pinholes(after2) == std::vector{fcp::RemotePeer{ip("198.51.100.7"), 5002, 0}});
  CHECK(h.fake.binding_count() == 2);

  // The calls go on normally: BYE releases the re-created bindings through the group.
  s1->release_all(EndReason::kBye);
  s2->release_all(EndReason::kBye);
  h.run();
  CHECK(h.fake.binding_count() == 0);
}

TEST_CASE("MediaRecovery: a latch that had fired comes back as its exact remote, else as a latch",
          "[media][recovery]") {
  Harness h;
  auto s = h.session("natted");
  REQUIRE(h.offer(*s, sdp_body("alice", "10.0.0.2", 4000), lan_caller()).action == MediaAction::kForward);
  // The callee is behind a home NAT: private SDP address, signalling from 198.51.100.20.
  REQUIRE(h.answer(*s, sdp_body("carol", "192.168.1.20", 7078), wan_callee(1, "totag", "198.51.100.20:5062")).action ==
          MediaAction::kPassThrough);
  const MediaBindingView v = s->bindings().at(0);
  REQUIRE(h.pinholes(v) == std::vector{fcp::RemotePeer::latch(ip("198.51.100.20"))});

  SECTION("both ports latched: exact remote with the learned RTCP port") {
    h.fake.emit(latched(v, s->group_id(), "198.51.100.20:31000", 0));
    h.fake.emit(latched(v, s->group_id(), "198.51.100.20:31007", 1));
    h.run();
    CHECK(s->bindings().at(0).latched_remote == ep("198.51.100.20:31000"));
    h.fake.lose_state("edge-1");
    h.run();
    CHECK(h.pinholes(s->bindings().at(0)) ==
          std::vector{fcp::RemotePeer::exact(ep("198.51.100.20:31000"), 31007)});
  }
  SECTION("only the RTP port latched: latch again (the first packet re-latches both ports)") {
    h.fake.emit(latched(v, s->group_id(), "198.51.100.20:31000", 0));
    h.run();
    h.fake.lose_state("edge-1");
    h.run();
    CHECK(h.pinholes(s->bindings().at(0)) == std::vector{fcp::RemotePeer::latch(ip("198.51.100.20"))});
  }
  SECTION("not latched yet: latch again") {
    h.fake.lose_state("edge-1");
    h.run();
    CHECK(h.pinholes(s->bindings().at(0)) == std::vector{fcp::RemotePeer::latch(ip("198.51.100.20"))});
  }
  CHECK(h.stats.bindings_recreated == 1);
  CHECK(s->bindings().at(0).public_endpoint == v.public_endpoint);
}

TEST_CASE("MediaRecovery: a public port the agent cannot give back is counted and the call left alone",
          "[media][recovery]") {
  Harness h;
  auto s = h.lan_to_wan("call-1");
  const MediaBindingView before = s->bindings().at(0);

  SECTION("another binding took the port") {
    h.fake.lose_state("edge-1");
    // Before the re-creation runs, a new call gets 40000 on the fresh agent.
    fcp::ReserveRequest other;
    other.agent = "edge-1";
    other.natural_key = "someone-else";
    other.private_endpoint = ep("10.0.0.9:9000");
    h.fake.reserve(other, [](fcp::FcpResult<fcp::ReserveResult> r) { REQUIRE(r.ok()); });
    h.run();
  }
  SECTION("the agent answers CANNOT_PROVIDE_EXTERNAL") {
    h.fake.fail_next(Op::kReserve,
                     fcp_error(fcp::FcpReason::kCannotProvideExternal, fcp::RetryClass::kNever));
    h.fake.lose_state("edge-1");
    h.run();
  }
  CHECK(h.stats.recreate_port_lost == 1);
  CHECK(h.stats.calls_media_broken == 1);
  CHECK(h.stats.bindings_recreated == 0);
  CHECK(h.stats.recreate_retries == 0);  // never retried: the answer will not change
  CHECK(h.recovery->in_flight() == 0);
  CHECK(h.recovery->queued() == 0);
  // Left alone: not released, the binding stays lost (its stale id is never used).
  CHECK_FALSE(s->released());
  REQUIRE(s->bindings().size() == 1);
  CHECK(s->bindings().at(0).lost);
  CHECK(h.enables().size() == 1);  // only the original answer's
  // BYE still releases the group (and nothing by the stale id).
  const std::size_t releases_before = h.releases().size();
  s->release_all(EndReason::kBye);
  h.run();
  const auto releases = h.releases();
  REQUIRE(releases.size() == releases_before + 1);
  CHECK(std::holds_alternative<fcp::GroupRef>(releases.back().target));
  (void)before;
}

TEST_CASE("MediaRecovery: a re-INVITE after a lost port reserves the stream anew, preferring the old port",
          "[media][recovery]") {
  Harness h;
  auto s = h.lan_to_wan("call-1");
  h.fake.fail_next(Op::kReserve, fcp_error(fcp::FcpReason::kCannotProvideExternal, fcp::RetryClass::kNever));
  h.fake.lose_state("edge-1");
  h.run();
  REQUIRE(s->bindings().at(0).lost);
  SignalContext reinvite = lan_caller();
  reinvite.cseq = 2;
  const MediaResult o = h.offer(*s, sdp_body("alice", "10.0.0.2", 4000), reinvite);
  CHECK(o.action == MediaAction::kForward);
  const fcp::ReserveRequest last = h.reserves().back();
  REQUIRE(last.public_port.has_value());
  CHECK(last.public_port->mode == fcp::PublicPortHint::Mode::kPrefer);
  CHECK(last.public_port->suggested == ep("203.0.113.1:40000"));
  CHECK_FALSE(s->bindings().at(0).lost);
}

TEST_CASE("MediaRecovery: a restart that kept the state reconciles and re-creates nothing",
          "[media][recovery]") {
  Harness h;
  auto s = h.lan_to_wan("call-1");
  const MediaBindingView before = s->bindings().at(0);
  const std::size_t reserves_before = h.reserves().size();

  h.fake.request_reconcile("edge-1", fcp::ReconcileReason::kAgentRestarted);
  h.run();
  CHECK(h.stats.reconciles == 1);
  CHECK(h.recovery->reconciles_pending() == 0);
  CHECK(h.fake.count(Op::kList) == 1);
  CHECK(h.reserves().size() == reserves_before);
  CHECK(h.stats.recreate_queued == 0);
  CHECK(h.stats.reconcile_missing == 0);
  CHECK(h.stats.reconcile_released == 0);
  CHECK(s->bindings().at(0).ref == before.ref);
  CHECK_FALSE(s->bindings().at(0).lost);
}

TEST_CASE("MediaRecovery: reconcile re-creates what a live call lacks and releases what no call owns",
          "[media][recovery]") {
  Harness h;
  auto s = h.lan_to_wan("call-1");
  const MediaBindingView before = s->bindings().at(0);
  h.clock.advance(1s);  // the List is sent after the bindings were learned
  // The agent lost this one binding silently (no event), and holds a leftover of an ended call
  // and a binding without a group (not media: never touched).
  h.fake.renew(fcp::RenewRequest{before.ref, 0ms, {}}, [](auto) {});
  fcp::ReserveRequest leftover;
  leftover.agent = "edge-1";
  leftover.group_id = MediaSession::make_group_id("ended-call", "tag");
  leftover.natural_key = "ended";
  leftover.private_endpoint = ep("10.0.0.8:8000");
  h.fake.reserve(leftover, [](auto) {});
  fcp::ReserveRequest groupless;
  groupless.agent = "edge-1";
  groupless.natural_key = "infra";
  groupless.private_endpoint = ep("10.0.0.7:7000");
  groupless.public_port =
      fcp::PublicPortHint{ep("203.0.113.1:40100"), fcp::PublicPortHint::Mode::kExactOrFail};
  h.fake.reserve(groupless, [](auto) {});
  h.run();
  REQUIRE(h.fake.binding_count() == 2);

  h.fake.request_reconcile("edge-1", fcp::ReconcileReason::kResyncRequired);
  h.run();
  CHECK(h.stats.reconcile_missing == 1);
  CHECK(h.stats.reconcile_released == 1);
  CHECK(h.stats.bindings_recreated == 1);
  const MediaBindingView after = s->bindings().at(0);
  CHECK_FALSE(after.lost);
  CHECK(after.public_endpoint == before.public_endpoint);
  CHECK(h.pinholes(after) == std::vector{fcp::RemotePeer{ip("198.51.100.7"), 5000, 0}});
  // The ended call's binding is gone; the groupless one and the live call's remain.
  CHECK(h.fake.binding_count() == 2);
  bool infra_left = false;
  for (std::uint32_t id = 1; id <= 10; ++id) {
    if (auto b = h.fake.binding({"edge-1", std::to_string(id)})) {
      CHECK(b->natural_key != "ended");
      infra_left = infra_left || b->natural_key == "infra";
    }
  }
  CHECK(infra_left);
}

TEST_CASE("MediaRecovery: a call that ends while its re-creation is in flight leaks nothing",
          "[media][recovery]") {
  Harness h;
  auto s = h.lan_to_wan("call-1");
  auto other = h.lan_to_wan("call-2", 4002, 5002);
  h.fake.set_latency(50ms);
  h.fake.lose_state("edge-1");
  h.run();
  REQUIRE(h.recovery->in_flight() == 2);
  REQUIRE(h.fake.pending_answers() == 2);  // both reserves sent, answers not back yet

  SECTION("BYE: the re-created binding is released when its answer arrives") {
    s->release_all(EndReason::kBye);
    h.advance(50ms);  // reserve answers arrive (and the group release's)
    h.advance(50ms);  // releases of late bindings, other call's enable
    h.advance(50ms);
    CHECK(h.stats.late_bindings_released == 1);
    const auto releases = h.releases();
    CHECK(std::any_of(releases.begin(), releases.end(), [](const fcp::ReleaseRequest& r) {
      return std::holds_alternative<fcp::BindingRef>(r.target);
    }));
  }
  SECTION("the session is destroyed: its slot is freed and the binding released on arrival") {
    s.reset();
    h.run();
    CHECK(h.recovery->in_flight() == 1);
    h.advance(50ms);
    h.advance(50ms);
    h.advance(50ms);
  }
  CHECK(h.recovery->in_flight() == 0);
  CHECK(h.recovery->queued() == 0);
  CHECK(h.stats.bindings_recreated == 1);  // the other call
  // Only the other call's binding remains on the agent.
  CHECK(h.fake.binding_count() == 1);
  CHECK(h.fake.binding(other->bindings().at(0).ref).has_value());
}

TEST_CASE("MediaRecovery: at most max_in_flight re-creations at once", "[media][recovery]") {
  MediaRecoveryPolicy rp;
  rp.max_in_flight = 4;
  Harness h(rp);
  std::vector<std::unique_ptr<MediaSession>> calls;
  for (int i = 0; i < 20; ++i) {
    calls.push_back(h.lan_to_wan("call-" + std::to_string(i), 4000 + 2 * i, 5000 + 2 * i));
  }
  std::vector<net::Endpoint> ports;
  for (const auto& c : calls) {
    ports.push_back(c->bindings().at(0).public_endpoint);
  }
  const std::size_t reserves_before = h.reserves().size();
  h.fake.set_latency(10ms);
  h.fake.lose_state("edge-1");
  h.run();
  CHECK(h.recovery->in_flight() == 4);
  CHECK(h.recovery->queued() == 16);
  CHECK(h.fake.pending_answers() == 4);
  for (int step = 0; step < 200 && (h.recovery->queued() > 0 || h.recovery->in_flight() > 0); ++step) {
    h.advance(10ms);
    CHECK(h.recovery->in_flight() <= 4);
    CHECK(h.fake.pending_answers() <= 4);
  }
  CHECK(h.recovery->peak_in_flight() == 4);
  CHECK(h.stats.bindings_recreated == 20);
  CHECK(h.reserves().size() == reserves_before + 20);
  for (std::size_t i = 0; i < calls.size(); ++i) {
    CHECK(calls[i]->bindings().at(0).public_endpoint == ports[i]);
    CHECK_FALSE(calls[i]->bindings().at(0).lost);
  }
}

TEST_CASE("MediaRecovery: transient failures are retried later, the queue waits for the session",
          "[media][recovery]") {
  Harness h;
  auto s = h.lan_to_wan("call-1");

  SECTION("no answer: tried again after retry_delay") {
    h.fake.fail_next(Op::kReserve, fcp_error(fcp::FcpReason::kTransport, fcp::RetryClass::kSameRequest,
                                             ErrorCode::kUnavailable));
    h.fake.lose_state("edge-1");
    h.run();
    CHECK(h.stats.recreate_retries == 1);
    CHECK(h.stats.bindings_recreated == 0);
    CHECK(h.recovery->queued() == 1);
    h.advance(999ms);
    CHECK(h.stats.bindings_recreated == 0);
    h.advance(1ms);
    CHECK(h.stats.bindings_recreated == 1);
  }
  SECTION("gives up after max_attempts") {
    for (int i = 0; i < 3; ++i) {
      h.fake.fail_next(Op::kReserve, fcp_error(fcp::FcpReason::kNotReady, fcp::RetryClass::kAfterDelay,
                                               ErrorCode::kUnavailable));
    }
    h.fake.lose_state("edge-1");
    h.run();
    h.advance(1s);
    h.advance(1s);
    CHECK(h.stats.recreate_retries == 2);
    CHECK(h.stats.recreate_failed == 1);
    CHECK(h.stats.calls_media_broken == 1);
    CHECK(h.recovery->queued() == 0);
    CHECK(s->bindings().at(0).lost);
  }
  SECTION("session down: nothing is sent until it is up again") {
    h.recovery->on_session(fcp::SessionStatus{"edge-1", fcp::SessionState::kDown, std::nullopt});
    const std::size_t reserves_before = h.reserves().size();
    h.fake.lose_state("edge-1");
    h.run();
    CHECK(h.reserves().size() == reserves_before);
    CHECK(h.recovery->queued() == 1);
    h.recovery->on_session(fcp::SessionStatus{"edge-1", fcp::SessionState::kUp, std::nullopt});
    h.run();
    CHECK(h.stats.bindings_recreated == 1);
  }
  CHECK_FALSE(s->released());
}

TEST_CASE("MediaRecovery: agent events about a live call are counted, drain is remembered",
          "[media][recovery]") {
  Harness h;
  auto s = h.lan_to_wan("call-1");
  const MediaBindingView v = s->bindings().at(0);

  SECTION("closed by the agent (idle): counted, forgotten, not re-created after a state loss") {
    REQUIRE(h.fake.expire(v.ref, fcp::Cause::kIdle));
    h.run();
    CHECK(h.stats.bindings_closed_by_agent == 1);
    CHECK(s->bindings().empty());
    h.fake.lose_state("edge-1");
    h.run();
    CHECK(h.stats.recreate_queued == 0);
  }
  SECTION("expired") {
    REQUIRE(h.fake.expire(v.ref, fcp::Cause::kHardDeadline));
    h.run();
    CHECK(h.stats.bindings_closed_by_agent == 1);
  }
  SECTION("an event for a call that is over is ignored") {
    fcp::FcpEvent e;
    e.agent = "edge-1";
    e.kind = fcp::EventKind::kClosedByAgent;
    e.group_id = "0123456789abcdef0123456789abcdef";
    e.binding_id = v.ref.binding_id;
    h.fake.emit(e);
    h.run();
    CHECK(h.stats.bindings_closed_by_agent == 0);
    CHECK(s->bindings().size() == 1);
  }
  SECTION("drain") {
    fcp::FcpEvent e;
    e.agent = "edge-1";
    e.kind = fcp::EventKind::kDrain;
    e.cause = fcp::Cause::kDrain;
    h.fake.emit(e);
    h.run();
    CHECK(h.recovery->draining("edge-1"));
    CHECK(h.stats.agent_drains == 1);
    h.fake.lose_state("edge-1");  // a new agent state is not draining
    h.run();
    CHECK_FALSE(h.recovery->draining("edge-1"));
  }
}

TEST_CASE("MediaRecovery: sessions join and leave the registry", "[media][recovery]") {
  Harness h;
  {
    auto s = h.session("a");
    auto t = h.session("b");
    CHECK(h.recovery->sessions() == 2);
  }
  CHECK(h.recovery->sessions() == 0);
  CHECK(h.fake.subscriber() == &*h.recovery);
  h.recovery.reset();
  CHECK(h.fake.subscriber() == nullptr);
}
