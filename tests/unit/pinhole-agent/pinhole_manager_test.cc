// PinholeManager scripted on a FakeClock against the transactional FakeBackend. Every expected
// value is exact (ports, deadlines, codes, reasons), so a behaviour change fails a test.
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "common/time/fake_clock.h"
#include "pinhole-agent/backend/fake/fake_backend.h"
#include "pinhole-agent/core/pinhole_manager.h"

using namespace std::chrono_literals;
using namespace portcullis;
using namespace portcullis::agent;

namespace {

constexpr const char* kOwner = "sbc/shard-1";
constexpr std::uint64_t kToken = 5;

net::Endpoint ep(const char* text) { return *net::Endpoint::parse(text); }
net::IpAddress ip(const char* text) { return *net::IpAddress::parse(text); }

ManagerConfig test_config() {
  ManagerConfig c;
  c.pools.push_back(PoolConfig{ip("203.0.113.1"), 40000, 40009, ""});
  c.max_remotes_per_binding = 8;
  return c;
}

AgentIdentity test_identity(const Clock& clock) {
  return AgentIdentity{"edge-1", "instance-a", 0xfeedull, clock.now(), 1};
}

/// What "changes nothing" compares: every binding, the event log, the kernel, the flushes.
struct Observed {
  std::vector<Binding> bindings;
  std::uint64_t last_event = 0;
  std::size_t applies = 0;
  std::size_t elements = 0;
  std::size_t flushed = 0;
  std::optional<std::uint64_t> token;
  friend bool operator==(const Observed&, const Observed&) = default;
};

struct Harness {
  FakeClock clock;
  FakeBackend backend{clock};
  FakeConntrackCleaner conntrack;
  ManagerConfig config;
  std::unique_ptr<PinholeManager> m;
  SessionId session = 0;
  int next_request = 1;

  explicit Harness(ManagerConfig c = test_config()) : config(std::move(c)) {
    REQUIRE(validate_config(config).ok());
    m = std::make_unique<PinholeManager>(config, clock, backend, conntrack, test_identity(clock));
    auto s = m->open_session({{kOwner, kToken}});
    REQUIRE(s.ok());
    session = s->id;
  }

  WriteMeta meta(std::uint64_t token = kToken, std::string owner = kOwner) {
    return WriteMeta{"req-" + std::to_string(next_request++), std::move(owner), token, 0};
  }

  ReserveRequest pair_request(const char* priv = "10.0.0.2:4000") {
    ReserveRequest r;
    r.meta = meta();
    r.protocol = L4Protocol::kUdp;
    r.private_endpoint = ep(priv);
    r.port_count = 2;
    r.parity = Parity::kEven;
    r.lease.lifetime = 4h;
    return r;
  }
  ReserveRequest single_request(const char* priv) {
    ReserveRequest r = pair_request(priv);
    r.port_count = 1;
    r.parity = Parity::kAny;
    return r;
  }

  Binding reserve_pair(const char* priv = "10.0.0.2:4000") {
    auto r = m->reserve(pair_request(priv));
    REQUIRE(r.ok());
    return r->binding;
  }

  Binding enable(BindingId id, std::vector<RemoteSpec> remotes) {
    auto r = m->enable(EnableRequest{meta(), ByBinding{id}, std::move(remotes)});
    REQUIRE(r.ok());
    return *r;
  }

  /// Advances time in heartbeat-sized steps, keeping the session alive, ticking each step.
  void run_for(Clock::Duration d, bool heartbeat = true) {
    const Clock::TimePoint end = clock.now() + d;
    while (clock.now() < end) {
      clock.advance(std::min<Clock::Duration>(5s, end - clock.now()));
      if (heartbeat) {
        (void)m->heartbeat(session);
      }
      m->tick();
    }
  }

  Observed observe() const {
    Observed o;
    o.bindings = m->list(ListRequest{"", "", 1000, 0})->bindings;
    o.last_event = m->events().last_seq();
    o.applies = backend.successful_applies();
    o.elements = backend.element_count();
    o.flushed = conntrack.flushed().size();
    o.token = m->max_token_seen(kOwner);
    return o;
  }
};

RemoteSpec exact(const char* remote) {
  const net::Endpoint e = ep(remote);
  return RemoteSpec{e.address(), e.port(), 0, LatchMode::kNone};
}
RemoteSpec latch(const char* remote_ip) { return RemoteSpec{ip(remote_ip), 0, 0, LatchMode::kOneShot}; }

template <class T>
void check_error(const AgentResult<T>& r, ErrorCode code, ErrorReason reason,
                 const std::string& message_part) {
  REQUIRE_FALSE(r.ok());
  INFO(r.error().to_string());
  CHECK(r.error().code == code);
  CHECK(r.error().reason == reason);
  CHECK(r.error().message.find(message_part) != std::string::npos);
}

}  // namespace

// -------------------------------------------------------------------------------------------------

TEST_CASE("reserve, enable and release a pair binding", "[unit][agent][core]") {
  Harness h;
  const Clock::TimePoint t0 = h.clock.now();
  const Binding b = h.reserve_pair();
  CHECK(b.id == 1);
  CHECK(b.public_endpoint == ep("203.0.113.1:40000"));
  CHECK(b.port_count == 2);
  CHECK(b.state == BindingState::kReserved);
  CHECK(b.generation == 1);
  CHECK(b.fencing_token == kToken);
  CHECK(b.lease.hard_deadline == t0 + 4h);
  CHECK(b.lease.reservation_deadline == t0 + 180s);
  CHECK(b.lease.orphan_grace == 180s);

  // Kernel: both ports mapped, tagged with the binding's mark, recovery metadata attached.
  const auto rtp = h.backend.mapping(ep("203.0.113.1:40000"));
  const auto rtcp = h.backend.mapping(ep("203.0.113.1:40001"));
  REQUIRE(rtp);
  REQUIRE(rtcp);
  CHECK(rtp->private_endpoint == ep("10.0.0.2:4000"));
  CHECK(rtcp->private_endpoint == ep("10.0.0.2:4001"));
  CHECK(rtp->mark == 1);
  CHECK(rtp->timeout == 180s);  // min(reservation deadline, now + kernel_lease)
  const auto meta = decode_userdata(rtp->userdata);
  REQUIRE(meta);
  CHECK(meta->id == 1);
  CHECK(meta->owner == kOwner);
  CHECK(meta->fencing_token == kToken);

  h.clock.advance(10s);
  const Binding e = h.enable(b.id, {exact("198.51.100.7:30000")});
  CHECK(e.state == BindingState::kEnabled);
  CHECK(e.generation == 2);
  CHECK_FALSE(e.lease.reservation_deadline);
  REQUIRE(h.backend.pinhole(ep("198.51.100.7:30000"), ep("10.0.0.2:4000")));
  REQUIRE(h.backend.pinhole(ep("198.51.100.7:30001"), ep("10.0.0.2:4001")));
  // Enabled: the kernel lease is the horizon now, re-armed later.
  CHECK(*h.backend.mapping_expiry(ep("203.0.113.1:40000")) == t0 + 10s + 300s);
  CHECK(h.backend.element_count() == 4);

  auto rel = h.m->release(ReleaseRequest{h.meta(), ByBinding{b.id}});
  REQUIRE(rel.ok());
  CHECK(rel->existed);
  REQUIRE(rel->final_state.size() == 1);
  CHECK(rel->final_state[0].state == BindingState::kClosed);
  CHECK(rel->final_state[0].cause == Cause::kRequested);
  CHECK(h.backend.element_count() == 0);
  CHECK(h.conntrack.flushed() == std::vector<std::uint32_t>{1});
  CHECK(h.m->binding_count() == 0);

  // Release is idempotent: an absent binding is OK with existed = false.
  auto again = h.m->release(ReleaseRequest{h.meta(), ByBinding{b.id}});
  REQUIRE(again.ok());
  CHECK_FALSE(again->existed);
  CHECK(h.conntrack.flushed().size() == 1);
}

TEST_CASE("ports: parity, consecutive pairs and next-fit allocation", "[unit][agent][core][ports]") {
  Harness h;
  auto single = [&](const char* priv) {
    auto r = h.m->reserve(h.single_request(priv));
    REQUIRE(r.ok());
    return r->binding.public_endpoint.port();
  };
  CHECK(single("10.0.0.2:5000") == 40000);
  CHECK(h.reserve_pair("10.0.0.2:4000").public_endpoint.port() == 40002);  // 40001 is odd
  CHECK(single("10.0.0.3:5000") == 40004);
  CHECK(h.reserve_pair("10.0.0.3:4000").public_endpoint.port() == 40006);
  CHECK(h.reserve_pair("10.0.0.4:4000").public_endpoint.port() == 40008);
  // Free now: 40001 and 40005 only, no even+odd consecutive pair.
  check_error(h.m->reserve(h.pair_request("10.0.0.5:4000")), ErrorCode::kResourceExhausted,
              ErrorReason::kNoPorts, "no free public port pair with even parity");
  CHECK(single("10.0.0.5:5000") == 40001);
  CHECK(single("10.0.0.6:5000") == 40005);
  const auto full = h.m->reserve(h.single_request("10.0.0.7:5000"));
  check_error(full, ErrorCode::kResourceExhausted, ErrorReason::kNoPorts, "no free public port");
  CHECK(full.error().retry_class == RetryClass::kAfterDelay);
  CHECK(full.error().retry_after == 30s);

  // Releasing frees the port; it is reused.
  REQUIRE(h.m->release(ReleaseRequest{h.meta(), ByBinding{1}}).ok());
  CHECK(single("10.0.0.7:5000") == 40000);
}

TEST_CASE("suggested public port: prefer vs exact-or-fail (PCP PREFER_FAILURE)",
          "[unit][agent][core][ports]") {
  Harness h;
  ReserveRequest r = h.pair_request("10.0.0.2:4000");
  r.public_port = PublicPortRequest{ep("203.0.113.1:40004"), PortPreference::kExactOrFail};
  auto first = h.m->reserve(r);
  REQUIRE(first.ok());
  CHECK(first->binding.public_endpoint == ep("203.0.113.1:40004"));

  const Observed before = h.observe();
  ReserveRequest busy = h.pair_request("10.0.0.3:4000");
  busy.public_port = PublicPortRequest{ep("0.0.0.0:40004"), PortPreference::kExactOrFail};
  check_error(h.m->reserve(busy), ErrorCode::kFailedPrecondition,
              ErrorReason::kCannotProvideExternal, "public_port.suggested 0.0.0.0:40004 is in use");
  busy.meta = h.meta();
  busy.public_port->suggested = ep("203.0.113.1:40007");
  check_error(h.m->reserve(busy), ErrorCode::kFailedPrecondition,
              ErrorReason::kCannotProvideExternal, "is odd");
  busy.meta = h.meta();
  busy.public_port->suggested = ep("203.0.113.1:40010");
  check_error(h.m->reserve(busy), ErrorCode::kFailedPrecondition,
              ErrorReason::kCannotProvideExternal, "is outside the pool");
  busy.meta = h.meta();
  busy.public_port->suggested = ep("198.51.100.1:40000");
  check_error(h.m->reserve(busy), ErrorCode::kFailedPrecondition,
              ErrorReason::kCannotProvideExternal, "does not serve");
  CHECK(h.observe() == before);

  // Prefer: a busy suggestion falls back to normal allocation.
  busy.meta = h.meta();
  busy.public_port = PublicPortRequest{ep("203.0.113.1:40004"), PortPreference::kPrefer};
  auto fallback = h.m->reserve(busy);
  REQUIRE(fallback.ok());
  CHECK(fallback->binding.public_endpoint == ep("203.0.113.1:40000"));
}

TEST_CASE("idempotent retry returns the same response and changes nothing",
          "[unit][agent][core][idempotency]") {
  Harness h;
  const ReserveRequest r = h.pair_request();
  auto first = h.m->reserve(r);
  REQUIRE(first.ok());
  const Observed after_first = h.observe();

  h.clock.advance(2s);
  auto retry = h.m->reserve(r);
  REQUIRE(retry.ok());
  CHECK(retry->binding == first->binding);
  CHECK(retry->created);
  CHECK(h.observe() == after_first);
  CHECK(h.m->stats().dedup_hits == 1);

  // Same request id, different request: refused, nothing changes.
  ReserveRequest other = h.pair_request("10.0.0.9:4000");
  other.meta = r.meta;
  check_error(h.m->reserve(other), ErrorCode::kInvalidArgument, ErrorReason::kRequestIdReused,
              "meta.request_id 'req-1'");
  CHECK(h.observe() == after_first);

  // Enable retried: same binding back, no second backend write.
  const EnableRequest en{h.meta(), ByBinding{first->binding.id}, {exact("198.51.100.7:30000")}};
  auto e1 = h.m->enable(en);
  REQUIRE(e1.ok());
  const std::size_t applies = h.backend.successful_applies();
  auto e2 = h.m->enable(en);
  REQUIRE(e2.ok());
  CHECK(*e2 == *e1);
  CHECK(h.backend.successful_applies() == applies);

  // After the dedup window the request id is forgotten and the request runs again.
  h.run_for(11min);
  auto late = h.m->reserve(r);
  check_error(late, ErrorCode::kAlreadyExists, ErrorReason::kEndpointInUse,
              "private_endpoint 10.0.0.2:4000 is already bound by binding 1");
}

TEST_CASE("natural keys make create idempotent across request ids", "[unit][agent][core][idempotency]") {
  Harness h;
  ReserveRequest r = h.pair_request();
  r.natural_key = "call-abc.leg0.m0";
  auto first = h.m->reserve(r);
  REQUIRE(first.ok());
  CHECK(first->created);

  r.meta = h.meta();  // a new request id: the retry logic of a restarted controller
  auto same = h.m->reserve(r);
  REQUIRE(same.ok());
  CHECK_FALSE(same->created);
  CHECK(same->binding.id == first->binding.id);
  CHECK(h.m->binding_count() == 1);

  ReserveRequest different = r;
  different.meta = h.meta();
  different.private_endpoint = ep("10.0.0.3:4000");
  check_error(h.m->reserve(different), ErrorCode::kAlreadyExists, ErrorReason::kKeyConflict,
              "natural_key 'call-abc.leg0.m0' exists as binding 1");

  auto by_key = h.m->get(kOwner, ByNaturalKey{"call-abc.leg0.m0"});
  REQUIRE(by_key.ok());
  CHECK(by_key->id == 1);
  auto rel = h.m->release(ReleaseRequest{h.meta(), ByNaturalKey{"call-abc.leg0.m0"}});
  REQUIRE(rel.ok());
  CHECK(rel->existed);
  CHECK(h.m->binding_count() == 0);
}

TEST_CASE("a stale fencing token is refused and changes nothing", "[unit][agent][core][fencing]") {
  Harness h;
  const Binding b = h.reserve_pair();
  h.enable(b.id, {exact("198.51.100.7:30000")});

  // A higher token is recorded when the write succeeds.
  auto newer = h.m->renew(RenewRequest{h.meta(kToken + 2), ByBinding{b.id}, 2h});
  REQUIRE(newer.ok());
  CHECK(newer->bindings[0].fencing_token == kToken + 2);
  CHECK(h.m->max_token_seen(kOwner) == kToken + 2);

  const Observed before = h.observe();
  check_error(h.m->release(ReleaseRequest{h.meta(kToken), ByBinding{b.id}}),
              ErrorCode::kFailedPrecondition, ErrorReason::kStaleFencingToken,
              "meta.fencing_token 5 < 7 already seen for owner 'sbc/shard-1'");
  check_error(h.m->enable(EnableRequest{h.meta(kToken + 1), ByBinding{b.id}, {exact("198.51.100.8:1000")}}),
              ErrorCode::kFailedPrecondition, ErrorReason::kStaleFencingToken, "6 < 7");
  check_error(h.m->reserve([&] {
                ReserveRequest r = h.pair_request("10.0.0.3:4000");
                r.meta.fencing_token = 1;
                return r;
              }()),
              ErrorCode::kFailedPrecondition, ErrorReason::kStaleFencingToken, "1 < 7");
  CHECK(h.observe() == before);
  CHECK(h.backend.element_count() == 4);

  // A higher token on a write that fails validation is not recorded.
  check_error(h.m->renew(RenewRequest{h.meta(kToken + 9), ByBinding{999}, 1h}),
              ErrorCode::kNotFound, ErrorReason::kUnknownBinding, "binding_id 999 not found");
  CHECK(h.m->max_token_seen(kOwner) == kToken + 2);
}

TEST_CASE("session lapse orphans bindings, grace expiry closes and flushes conntrack",
          "[unit][agent][core][leases]") {
  Harness h;
  const Binding b = h.reserve_pair();
  h.enable(b.id, {exact("198.51.100.7:30000")});
  const Clock::TimePoint t0 = h.clock.now();
  CHECK(*h.m->next_deadline() == t0 + 15s);  // the session lease

  // No heartbeat: the session lease (15 s) lapses.
  h.clock.advance(14s);
  CHECK(h.m->tick().orphaned == 0);
  h.clock.advance(1s);
  const TickResult t = h.m->tick();
  CHECK(t.sessions_lapsed == 1);
  CHECK(t.orphaned == 1);
  auto orphan = h.m->get(kOwner, ByBinding{b.id});
  REQUIRE(orphan.ok());
  CHECK(orphan->state == BindingState::kOrphaned);
  CHECK(orphan->state_before_orphan == BindingState::kEnabled);
  CHECK(orphan->lease.orphan_deadline == t0 + 15s + 180s);
  // The kernel closes the hole at the orphan deadline even if the agent dies now (I1/I2).
  CHECK(*h.backend.mapping_expiry(ep("203.0.113.1:40000")) == t0 + 15s + 180s);
  REQUIRE(h.m->events().buffer().size() == 1);
  CHECK(h.m->events().buffer().back().kind == EventKind::kOrphaned);
  CHECK(h.m->events().buffer().back().binding_id == b.id);
  CHECK(h.m->heartbeat(h.session).error().reason == ErrorReason::kNoSession);

  // Orphaned bindings keep working until the grace runs out.
  h.clock.advance(179s);
  h.m->tick();
  CHECK(h.m->binding_count() == 1);
  CHECK(h.conntrack.flushed().empty());
  h.clock.advance(1s);
  const TickResult closed = h.m->tick();
  CHECK(closed.expired == 1);
  CHECK(h.m->binding_count() == 0);
  CHECK(h.backend.element_count() == 0);
  CHECK(h.conntrack.flushed() == std::vector<std::uint32_t>{b.id});
  const Event& last = h.m->events().buffer().back();
  CHECK(last.kind == EventKind::kExpired);
  CHECK(last.cause == Cause::kOrphanGraceExpired);
  CHECK(last.owner == kOwner);
}

TEST_CASE("adopt within grace keeps orphans alive", "[unit][agent][core][leases]") {
  Harness h;
  const Binding b = h.reserve_pair();
  h.enable(b.id, {exact("198.51.100.7:30000")});
  h.clock.advance(15s);
  REQUIRE(h.m->tick().orphaned == 1);

  h.clock.advance(60s);
  // A stale token cannot take the owner.
  check_error(h.m->open_session({{kOwner, kToken - 1}}), ErrorCode::kFailedPrecondition,
              ErrorReason::kStaleFencingToken, "owners[0]: fencing_token 4 < 5");
  // The new shard holder opens a session and adopts with a newer token.
  auto s2 = h.m->open_session({});
  REQUIRE(s2.ok());
  auto adopted = h.m->adopt(AdoptRequest{h.meta(kToken + 1), s2->id});
  REQUIRE(adopted.ok());
  CHECK(adopted->adopted == 1);
  CHECK(adopted->already_bound == 0);
  auto live = h.m->get(kOwner, ByBinding{b.id});
  CHECK(live->state == BindingState::kEnabled);
  CHECK_FALSE(live->lease.orphan_deadline);
  CHECK(live->fencing_token == kToken + 1);
  CHECK(h.m->events().buffer().back().kind == EventKind::kAdopted);
  CHECK(*h.backend.mapping_expiry(ep("203.0.113.1:40000")) == h.clock.now() + 300s);

  // Long past the old grace, with heartbeats on the new session, nothing closes.
  h.session = s2->id;
  h.run_for(10min);
  CHECK(h.m->binding_count() == 1);
  CHECK(h.conntrack.flushed().empty());

  // A third session cannot take a live owner with an equal token, only with a newer one.
  auto s3 = h.m->open_session({});
  REQUIRE(s3.ok());
  check_error(h.m->adopt(AdoptRequest{h.meta(kToken + 1), s3->id}), ErrorCode::kFailedPrecondition,
              ErrorReason::kOwnerHeld, "adopting needs fencing_token > 6");
  auto takeover = h.m->adopt(AdoptRequest{h.meta(kToken + 2), s3->id});
  REQUIRE(takeover.ok());
  CHECK(takeover->adopted == 0);
  CHECK(takeover->already_bound == 1);
  // The old holder's writes are now stale.
  check_error(h.m->release(ReleaseRequest{h.meta(kToken + 1), ByBinding{b.id}}),
              ErrorCode::kFailedPrecondition, ErrorReason::kStaleFencingToken, "6 < 7");
}

TEST_CASE("an orphaned owner may be re-attached with an equal token", "[unit][agent][core][leases]") {
  Harness h;
  h.reserve_pair();
  h.m->end_session(h.session);  // stream broke
  auto s2 = h.m->open_session({{kOwner, kToken}});  // same holder reconnects at once
  REQUIRE(s2.ok());
  CHECK(s2->claims[0].already_bound == 1);
  h.session = s2->id;
  h.run_for(1min);
  CHECK(h.m->get(kOwner, ByBinding{1})->state == BindingState::kReserved);
}

TEST_CASE("hard deadline closes the binding and is capped by max_lifetime",
          "[unit][agent][core][leases]") {
  Harness h;
  const Clock::TimePoint t0 = h.clock.now();
  ReserveRequest r = h.single_request("10.0.0.2:5060");
  r.lease.liveness = Liveness::kLifetimeOnly;  // a registrar flow: no session needed
  r.lease.lifetime = 10min;
  auto b = h.m->reserve(r);
  REQUIRE(b.ok());
  h.enable(b->binding.id, {exact("198.51.100.7:5060")});

  ReserveRequest capped = h.single_request("10.0.0.3:5060");
  capped.lease.lifetime = 48h;
  auto c = h.m->reserve(capped);
  REQUIRE(c.ok());
  CHECK(c->binding.lease.hard_deadline == t0 + 12h);

  // The lifetime-only binding survives its session lapsing, then dies at its deadline.
  h.run_for(10min - 1s, /*heartbeat=*/false);
  CHECK(h.m->get(kOwner, ByBinding{b->binding.id})->state == BindingState::kEnabled);
  h.clock.advance(1s);
  h.m->tick();
  CHECK(h.m->get(kOwner, ByBinding{b->binding.id}).error().code == ErrorCode::kNotFound);
  bool saw = false;
  for (const Event& e : h.m->events().buffer()) {
    if (e.binding_id == b->binding.id && e.kind == EventKind::kExpired) {
      CHECK(e.cause == Cause::kHardDeadline);
      saw = true;
    }
  }
  CHECK(saw);
  CHECK_FALSE(h.backend.mapping(b->binding.public_endpoint));
}

TEST_CASE("reservation timeout closes a binding that was never enabled", "[unit][agent][core][leases]") {
  Harness h;
  ReserveRequest r = h.pair_request();
  r.lease.reservation_timeout = 30s;
  REQUIRE(h.m->reserve(r).ok());
  h.run_for(29s);
  CHECK(h.m->binding_count() == 1);
  h.run_for(1s);
  CHECK(h.m->binding_count() == 0);
  CHECK(h.m->events().buffer().back().cause == Cause::kReservationTimeout);
}

TEST_CASE("kernel timeouts never exceed the hard deadline and are re-armed",
          "[unit][agent][core][kernel]") {
  Harness h;
  const Clock::TimePoint t0 = h.clock.now();
  ReserveRequest r = h.pair_request();
  r.lease.lifetime = 1000s;
  auto b = h.m->reserve(r);
  REQUIRE(b.ok());
  h.enable(b->binding.id, {exact("198.51.100.7:30000")});
  const net::Endpoint pub = b->binding.public_endpoint;
  CHECK(*h.backend.mapping_expiry(pub) == t0 + 300s);
  CHECK(h.backend.pinhole(ep("198.51.100.7:30000"), ep("10.0.0.2:4000"))->timeout == 300s);

  // Re-armed every kernel_lease / 2; never past the hard deadline (I1); gone right at it.
  int rearms = 0;
  for (Clock::Duration elapsed = 0s; elapsed < 1100s; elapsed += 5s) {
    h.clock.advance(5s);
    (void)h.m->heartbeat(h.session);
    rearms += static_cast<int>(h.m->tick().rearmed);
    const Clock::TimePoint now = h.clock.now();
    const auto snap = h.backend.snapshot();
    for (const PortMapping& m : snap->mappings) {
      CHECK(now + m.timeout <= t0 + 1000s);
      CHECK(m.timeout <= 300s);
    }
    for (const Pinhole& p : snap->pinholes) {
      CHECK(now + p.timeout <= t0 + 1000s);
    }
    if (now < t0 + 1000s) {
      CHECK(h.backend.mapping(pub));  // re-armed in time: never lapses early
    } else {
      CHECK_FALSE(h.backend.mapping(pub));
    }
  }
  // Armed at 0, re-armed at 150, 300, 450, 600 (600+300 < 1000), then 750 arms to the deadline.
  CHECK(rearms == 5);
  CHECK(h.m->binding_count() == 0);
}

TEST_CASE("a backend failure leaves the manager unchanged", "[unit][agent][core][txn]") {
  Harness h;
  const Observed empty = h.observe();
  h.backend.fail_next_apply(internal_error("netlink: ENOBUFS"));
  const ReserveRequest r = h.pair_request();
  auto failed = h.m->reserve(r);
  check_error(failed, ErrorCode::kInternal, ErrorReason::kDataplaneError, "dataplane: netlink: ENOBUFS");
  CHECK(h.observe() == empty);
  CHECK(h.m->stats().backend_apply_failures == 1);
  // Not cached: the retry with the same request id runs, and gets the first port.
  auto retry = h.m->reserve(r);
  REQUIRE(retry.ok());
  CHECK(retry->binding.public_endpoint.port() == 40000);
  CHECK(retry->binding.id == 2);  // ids are not reused, even after a rollback

  const Observed reserved = h.observe();
  h.backend.fail_next_apply(internal_error("EPERM"));
  CHECK_FALSE(h.m->enable(EnableRequest{h.meta(), ByBinding{2}, {exact("198.51.100.7:30000")}}).ok());
  CHECK(h.observe() == reserved);
  CHECK(h.m->get(kOwner, ByBinding{2})->generation == 1);

  h.backend.fail_next_apply(Error{ErrorCode::kResourceExhausted, "set full (ENFILE)"});
  auto full = h.m->release(ReleaseRequest{h.meta(), ByBinding{2}});
  check_error(full, ErrorCode::kResourceExhausted, ErrorReason::kTableFull, "ENFILE");
  CHECK(h.observe() == reserved);
  CHECK(h.conntrack.flushed().empty());

  // Orphaning during tick is retried on the next tick when the backend refuses it.
  h.backend.set_failing(internal_error("down"));
  h.clock.advance(15s);
  const TickResult t = h.m->tick();
  CHECK(t.backend_failures == 1);
  CHECK(h.m->get(kOwner, ByBinding{2})->state == BindingState::kReserved);
  h.backend.set_failing(std::nullopt);
  CHECK(h.m->tick().orphaned == 1);
  CHECK(h.m->get(kOwner, ByBinding{2})->state == BindingState::kOrphaned);
}

TEST_CASE("groups renew and release together", "[unit][agent][core][groups]") {
  Harness h;
  auto in_group = [&](const char* priv, const char* group) {
    ReserveRequest r = h.pair_request(priv);
    r.group_id = group;
    auto b = h.m->reserve(r);
    REQUIRE(b.ok());
    return b->binding.id;
  };
  const BindingId a = in_group("10.0.0.2:4000", "call-1");
  const BindingId b = in_group("10.0.0.2:4002", "call-1");
  const BindingId c = in_group("10.0.0.3:4000", "call-2");
  h.clock.advance(1min);

  auto renewed = h.m->renew(RenewRequest{h.meta(), ByGroup{"call-1"}, 2h});
  REQUIRE(renewed.ok());
  REQUIRE(renewed->bindings.size() == 2);
  for (const Binding& x : renewed->bindings) {
    CHECK(x.lease.hard_deadline == h.clock.now() + 2h);
    CHECK(x.generation == 2);
  }
  CHECK(h.m->get(kOwner, ByBinding{c})->lease.hard_deadline == h.clock.now() - 1min + 4h);
  check_error(h.m->renew(RenewRequest{h.meta(), ByGroup{"call-9"}, 2h}), ErrorCode::kNotFound,
              ErrorReason::kUnknownGroup, "group_id 'call-9' not found");

  auto listed = h.m->list(ListRequest{kOwner, "call-1", 0, 0});
  CHECK(listed->bindings.size() == 2);

  auto rel = h.m->release(ReleaseRequest{h.meta(), ByGroup{"call-1"}});
  REQUIRE(rel.ok());
  CHECK(rel->existed);
  CHECK(rel->final_state.size() == 2);
  CHECK(h.conntrack.flushed() == std::vector<std::uint32_t>{a, b});
  CHECK(h.m->binding_count() == 1);
  CHECK_FALSE(h.m->release(ReleaseRequest{h.meta(), ByGroup{"call-1"}})->existed);

  // Renew with lifetime 0 deletes (RFC 5190 midcomGroupLifetime).
  auto zero = h.m->renew(RenewRequest{h.meta(), ByGroup{"call-2"}, 0s});
  REQUIRE(zero.ok());
  CHECK(zero->bindings[0].state == BindingState::kClosed);
  CHECK(h.m->binding_count() == 0);
  CHECK(h.backend.element_count() == 0);
}

TEST_CASE("recover rebuilds bindings from kernel userdata as orphans", "[unit][agent][core][recover]") {
  Harness h;
  const Binding pair = h.reserve_pair();
  h.enable(pair.id, {exact("198.51.100.7:30000"), latch("198.51.100.9")});
  ReserveRequest reg = h.single_request("10.0.0.5:5060");
  reg.group_id = "reg";
  reg.lease.liveness = Liveness::kLifetimeOnly;
  auto flow = h.m->reserve(reg);
  REQUIRE(flow.ok());
  REQUIRE(h.m->renew(RenewRequest{h.meta(kToken + 3), ByBinding{flow->binding.id}, 1h}).ok());

  // A stray element without our metadata (fail closed: it gets deleted).
  ChangeSet stray;
  PortMapping junk;
  junk.public_endpoint = ep("203.0.113.1:40009");
  junk.private_endpoint = ep("10.0.0.99:1");
  junk.timeout = 60s;
  junk.userdata = "hello";
  stray.changes.push_back({ChangeOp::kCreate, junk});
  REQUIRE(h.backend.apply(stray).ok());

  // The agent process dies; the kernel keeps the table. A new instance recovers.
  const Binding before_pair = *h.m->get(kOwner, ByBinding{pair.id});
  h.m.reset();
  h.clock.advance(20s);
  auto snap = h.backend.snapshot();
  REQUIRE(snap.ok());
  PinholeManager m2(h.config, h.clock, h.backend, h.conntrack, test_identity(h.clock));
  auto rec = m2.recover(*snap);
  REQUIRE(rec.ok());
  CHECK(rec->recovered == 2);
  CHECK(rec->discarded_elements == 1);
  CHECK_FALSE(h.backend.mapping(ep("203.0.113.1:40009")));
  CHECK(m2.max_token_seen(kOwner) == kToken + 3);

  auto p = m2.get(kOwner, ByBinding{pair.id});
  REQUIRE(p.ok());
  CHECK(p->state == BindingState::kOrphaned);
  CHECK(p->state_before_orphan == BindingState::kEnabled);
  CHECK(p->public_endpoint == before_pair.public_endpoint);
  CHECK(p->private_endpoint == before_pair.private_endpoint);
  CHECK(p->port_count == 2);
  CHECK(p->parity == Parity::kEven);
  CHECK(p->pinholes == before_pair.pinholes);
  CHECK(p->lease.orphan_deadline == h.clock.now() + 180s);
  CHECK(p->lease.hard_deadline == before_pair.lease.hard_deadline);  // whole seconds on FakeClock
  CHECK(*h.backend.mapping_expiry(pair.public_endpoint) == h.clock.now() + 180s);

  auto f = m2.get(kOwner, ByBinding{flow->binding.id});
  REQUIRE(f.ok());
  CHECK(f->state == BindingState::kReserved);  // lifetime-only: not orphaned
  CHECK(f->group_id == "reg");
  CHECK(f->lease.liveness == Liveness::kLifetimeOnly);

  // New ids continue above the recovered ones; adoption brings the orphan back.
  auto s = m2.open_session({{kOwner, kToken + 3}});
  REQUIRE(s.ok());
  CHECK(s->claims[0].adopted == 1);
  CHECK(m2.get(kOwner, ByBinding{pair.id})->state == BindingState::kEnabled);
  ReserveRequest fresh = h.single_request("10.0.0.6:5000");
  fresh.meta.fencing_token = kToken + 3;
  auto n = m2.reserve(fresh);
  REQUIRE(n.ok());
  CHECK(n->binding.id == 3);
  CHECK(n->binding.public_endpoint.port() != pair.public_endpoint.port());
  CHECK(n->binding.public_endpoint.port() != flow->binding.public_endpoint.port());
  // Recover is only for a fresh manager.
  CHECK(m2.recover(*snap).error().reason == ErrorReason::kNotReady);
}

TEST_CASE("per-owner quotas and the global table size", "[unit][agent][core][quota]") {
  ManagerConfig c = test_config();
  c.max_bindings_per_owner = 2;
  c.max_ports_per_owner = 3;
  c.max_bindings = 3;
  Harness h(c);
  h.reserve_pair("10.0.0.2:4000");
  const Observed before = h.observe();
  const auto over = h.m->reserve(h.pair_request("10.0.0.3:4000"));  // 4 ports > 3
  check_error(over, ErrorCode::kResourceExhausted, ErrorReason::kOwnerQuota,
              "owner 'sbc/shard-1' quota exceeded (1 bindings, 2 ports held)");
  CHECK(over.error().retry_class == RetryClass::kAfterDelay);
  CHECK(h.observe() == before);
  REQUIRE(h.m->reserve(h.single_request("10.0.0.3:5000")).ok());
  check_error(h.m->reserve(h.single_request("10.0.0.4:5000")), ErrorCode::kResourceExhausted,
              ErrorReason::kOwnerQuota, "2 bindings");

  // Another owner has its own quota, but the agent-wide table size still applies.
  REQUIRE(h.m->open_session({{"sbc/shard-2", 1}}).ok());
  ReserveRequest other = h.single_request("10.0.0.5:5000");
  other.meta = h.meta(1, "sbc/shard-2");
  REQUIRE(h.m->reserve(other).ok());
  other.meta = h.meta(1, "sbc/shard-2");
  other.private_endpoint = ep("10.0.0.6:5000");
  check_error(h.m->reserve(other), ErrorCode::kResourceExhausted, ErrorReason::kTableFull,
              "maximum of 3 bindings");
}

TEST_CASE("drain refuses new bindings and keeps existing ones", "[unit][agent][core][drain]") {
  Harness h;
  const Binding b = h.reserve_pair();
  h.m->set_draining(true);
  CHECK(h.m->events().buffer().back().kind == EventKind::kDrain);
  const Observed before = h.observe();
  const auto refused = h.m->reserve(h.pair_request("10.0.0.3:4000"));
  check_error(refused, ErrorCode::kUnavailable, ErrorReason::kDraining, "draining");
  CHECK(refused.error().retry_class == RetryClass::kOtherAgent);
  CHECK(h.observe() == before);
  // Existing bindings still work: enable, renew, release.
  h.enable(b.id, {exact("198.51.100.7:30000")});
  REQUIRE(h.m->renew(RenewRequest{h.meta(), ByBinding{b.id}, 1h}).ok());
  REQUIRE(h.m->release(ReleaseRequest{h.meta(), ByBinding{b.id}})->existed);
  h.m->set_draining(false);
  REQUIRE(h.m->reserve(h.pair_request("10.0.0.3:4000")).ok());
}

TEST_CASE("every bad request gets its code and reason and changes nothing",
          "[unit][agent][core][validation]") {
  Harness h;
  const Binding b = h.reserve_pair();
  h.enable(b.id, {exact("198.51.100.7:30000")});
  REQUIRE(h.m->open_session({{"other", 1}}).ok());
  const Observed before = h.observe();

  struct Case {
    const char* name;
    std::function<ReserveRequest(ReserveRequest)> edit;
    ErrorCode code;
    ErrorReason reason;
    const char* text;
  };
  const std::vector<Case> reserve_cases = {
      {"empty request id", [](ReserveRequest r) { r.meta.request_id.clear(); return r; },
       ErrorCode::kInvalidArgument, ErrorReason::kInvalidField, "meta.request_id"},
      {"empty owner", [](ReserveRequest r) { r.meta.owner.clear(); return r; },
       ErrorCode::kInvalidArgument, ErrorReason::kInvalidField, "meta.owner must not be empty"},
      {"owner charset", [](ReserveRequest r) { r.meta.owner = "a;o=b"; return r; },
       ErrorCode::kInvalidArgument, ErrorReason::kInvalidField, "meta.owner may contain only"},
      {"private port 0", [](ReserveRequest r) { r.private_endpoint = net::Endpoint(ip("10.0.0.3"), 0); return r; },
       ErrorCode::kInvalidArgument, ErrorReason::kBadTuple, "private_endpoint.port must be 1..65535"},
      {"unspecified private ip", [](ReserveRequest r) { r.private_endpoint = ep("0.0.0.0:4000"); return r; },
       ErrorCode::kInvalidArgument, ErrorReason::kBadTuple, "private_endpoint.ip"},
      {"multicast private ip", [](ReserveRequest r) { r.private_endpoint = ep("224.0.0.1:4000"); return r; },
       ErrorCode::kInvalidArgument, ErrorReason::kBadTuple, "private_endpoint.ip"},
      {"pair overflows", [](ReserveRequest r) { r.private_endpoint = ep("10.0.0.3:65535"); return r; },
       ErrorCode::kInvalidArgument, ErrorReason::kBadTuple, "exceeds 65535"},
      {"port_count 3", [](ReserveRequest r) { r.port_count = 3; return r; },
       ErrorCode::kInvalidArgument, ErrorReason::kInvalidField, "port_count must be 1 or 2, got 3"},
      {"pair without parity", [](ReserveRequest r) { r.parity = Parity::kAny; return r; },
       ErrorCode::kInvalidArgument, ErrorReason::kInvalidField, "parity must be EVEN"},
      {"sctp", [](ReserveRequest r) { r.protocol = static_cast<L4Protocol>(132); return r; },
       ErrorCode::kInvalidArgument, ErrorReason::kUnsupportedProtocol, "protocol 132"},
      {"lifetime 0", [](ReserveRequest r) { r.lease.lifetime = 0s; return r; },
       ErrorCode::kInvalidArgument, ErrorReason::kInvalidField, "lease.lifetime must be >= 1000ms"},
      {"negative lifetime", [](ReserveRequest r) { r.lease.lifetime = -5s; return r; },
       ErrorCode::kInvalidArgument, ErrorReason::kInvalidField, "lease.lifetime"},
      {"idle timeout too long", [](ReserveRequest r) { r.lease.idle_timeout = 25h; return r; },
       ErrorCode::kInvalidArgument, ErrorReason::kInvalidField, "lease.idle_timeout"},
      {"negative orphan grace", [](ReserveRequest r) { r.lease.orphan_grace = -1s; return r; },
       ErrorCode::kInvalidArgument, ErrorReason::kInvalidField, "lease.orphan_grace"},
      {"long natural key", [](ReserveRequest r) { r.natural_key = std::string(65, 'k'); return r; },
       ErrorCode::kInvalidArgument, ErrorReason::kInvalidField, "natural_key must be at most 64"},
      {"long group", [](ReserveRequest r) { r.group_id = std::string(33, 'g'); return r; },
       ErrorCode::kInvalidArgument, ErrorReason::kInvalidField, "group_id must be at most 32"},
      {"unknown realm", [](ReserveRequest r) { r.realm = "carrier-b"; return r; },
       ErrorCode::kInvalidArgument, ErrorReason::kInvalidField, "realm 'carrier-b'"},
      {"ipv6 without v6 pool", [](ReserveRequest r) { r.private_endpoint = ep("[fd00::2]:4000"); return r; },
       ErrorCode::kInvalidArgument, ErrorReason::kBadTuple, "no public pool of this address family"},
      {"suggested port 0",
       [](ReserveRequest r) {
         r.public_port = PublicPortRequest{net::Endpoint(ip("203.0.113.1"), 0), PortPreference::kPrefer};
         return r;
       },
       ErrorCode::kInvalidArgument, ErrorReason::kBadTuple, "public_port.suggested.port"},
      {"no session for owner", [](ReserveRequest r) { r.meta.owner = "nobody"; return r; },
       ErrorCode::kFailedPrecondition, ErrorReason::kNoSession, "owner 'nobody'"},
      {"private endpoint taken",
       [](ReserveRequest r) { r.private_endpoint = ep("10.0.0.2:4001"); return r; },
       ErrorCode::kAlreadyExists, ErrorReason::kEndpointInUse, "10.0.0.2:4001 is already bound"},
  };
  for (const Case& c : reserve_cases) {
    SECTION(c.name) {
      check_error(h.m->reserve(c.edit(h.pair_request("10.0.0.3:4000"))), c.code, c.reason, c.text);
      CHECK(h.observe() == before);
    }
  }

  SECTION("enable errors") {
    auto en = [&](Target t, std::vector<RemoteSpec> remotes, WriteMeta m) {
      return h.m->enable(EnableRequest{std::move(m), std::move(t), std::move(remotes)});
    };
    check_error(en(ByBinding{999}, {exact("198.51.100.7:1")}, h.meta()), ErrorCode::kNotFound,
                ErrorReason::kUnknownBinding, "binding_id 999 not found");
    check_error(en(ByBinding{b.id}, {exact("198.51.100.7:1")}, h.meta(1, "other")),
                ErrorCode::kPermissionDenied, ErrorReason::kNotOwner, "not owned by 'other'");
    check_error(en(ByBinding{b.id}, {}, h.meta()), ErrorCode::kInvalidArgument,
                ErrorReason::kInvalidField, "remotes must not be empty");
    check_error(en(ByBinding{b.id}, {exact("198.51.100.7:1"), RemoteSpec{ip("198.51.100.8"), 0, 0, LatchMode::kNone}}, h.meta()),
                ErrorCode::kInvalidArgument, ErrorReason::kBadTuple, "remotes[1].port must be 1..65535");
    check_error(en(ByBinding{b.id}, {RemoteSpec{ip("198.51.100.8"), 7, 0, LatchMode::kOneShot}}, h.meta()),
                ErrorCode::kInvalidArgument, ErrorReason::kBadTuple, "port must be unset");
    check_error(en(ByBinding{b.id}, {exact("[2001:db8::1]:7")}, h.meta()), ErrorCode::kInvalidArgument,
                ErrorReason::kBadTuple, "remotes[0].ip family");
    check_error(en(ByBinding{b.id}, {exact("0.0.0.0:7")}, h.meta()), ErrorCode::kInvalidArgument,
                ErrorReason::kBadTuple, "remotes[0].ip must be a unicast host address");
    check_error(en(ByBinding{b.id}, {exact("198.51.100.7:65535")}, h.meta()), ErrorCode::kInvalidArgument,
                ErrorReason::kBadTuple, "RTCP");
    check_error(en(ByBinding{b.id}, {exact("198.51.100.7:1"), exact("198.51.100.7:1")}, h.meta()),
                ErrorCode::kInvalidArgument, ErrorReason::kInvalidField, "remotes[1] repeats remotes[0]");
    std::vector<RemoteSpec> many;
    for (std::uint16_t i = 1; i <= 9; ++i) {
      many.push_back(RemoteSpec{ip("198.51.100.7"), static_cast<std::uint16_t>(i * 2), 0, LatchMode::kNone});
    }
    check_error(en(ByBinding{b.id}, many, h.meta()), ErrorCode::kFailedPrecondition,
                ErrorReason::kExcessiveRemotePeers, "at most 8 per binding, got 9");
    WriteMeta gen = h.meta();
    gen.expected_generation = 1;
    check_error(en(ByBinding{b.id}, {exact("198.51.100.7:1")}, gen), ErrorCode::kAborted,
                ErrorReason::kGenerationMismatch, "expected_generation 1 != current 2");
    check_error(en(ByGroup{"g"}, {exact("198.51.100.7:1")}, h.meta()), ErrorCode::kInvalidArgument,
                ErrorReason::kInvalidField, "target");
    CHECK(h.observe() == before);
  }

  SECTION("renew, release, apply and read errors") {
    check_error(h.m->renew(RenewRequest{h.meta(), ByBinding{b.id}, 500ms}), ErrorCode::kInvalidArgument,
                ErrorReason::kInvalidField, "lifetime must be 0 (delete) or >= 1000ms");
    check_error(h.m->renew(RenewRequest{h.meta(), ByBinding{b.id}, -1s}), ErrorCode::kInvalidArgument,
                ErrorReason::kInvalidField, "lifetime");
    check_error(h.m->renew(RenewRequest{h.meta(1, "other"), ByBinding{b.id}, 1h}),
                ErrorCode::kPermissionDenied, ErrorReason::kNotOwner, "not owned");
    check_error(h.m->release(ReleaseRequest{h.meta(1, "other"), ByBinding{b.id}}),
                ErrorCode::kPermissionDenied, ErrorReason::kNotOwner, "not owned");
    check_error(h.m->release(ReleaseRequest{h.meta(), ByGroup{""}}), ErrorCode::kInvalidArgument,
                ErrorReason::kInvalidField, "group_id must not be empty");
    check_error(h.m->apply(ApplyRequest{h.meta(), {}}), ErrorCode::kInvalidArgument,
                ErrorReason::kInvalidField, "operations must not be empty");
    ReleaseRequest with_meta{h.meta(), ByBinding{b.id}};
    check_error(h.m->apply(ApplyRequest{h.meta(), {with_meta}}), ErrorCode::kInvalidArgument,
                ErrorReason::kInvalidField, "operations[0]: meta must be unset");
    check_error(h.m->get("other", ByBinding{b.id}), ErrorCode::kPermissionDenied,
                ErrorReason::kNotOwner, "not owned by 'other'");
    check_error(h.m->get(kOwner, ByBinding{77}), ErrorCode::kNotFound, ErrorReason::kUnknownBinding,
                "binding_id 77");
    CHECK(h.observe() == before);
  }
}

TEST_CASE("apply runs a batch atomically", "[unit][agent][core][txn]") {
  Harness h;
  const Binding old = h.reserve_pair("10.0.0.9:4000");
  ReserveRequest reserve = h.pair_request("10.0.0.2:4000");
  reserve.meta = WriteMeta{};
  reserve.natural_key = "leg-a";
  // Exactly the pair released earlier in the same batch: the delete must precede the create.
  reserve.public_port = PublicPortRequest{old.public_endpoint, PortPreference::kExactOrFail};
  EnableRequest enable{WriteMeta{}, ByNaturalKey{"leg-a"}, {exact("198.51.100.7:30000")}};
  ReleaseRequest release{WriteMeta{}, ByBinding{old.id}};

  // A failing operation rolls back the ones before it.
  const Observed before = h.observe();
  EnableRequest bad{WriteMeta{}, ByBinding{4242}, {exact("198.51.100.7:30000")}};
  check_error(h.m->apply(ApplyRequest{h.meta(), {release, reserve, bad}}), ErrorCode::kNotFound,
              ErrorReason::kUnknownBinding, "operations[2]: binding_id 4242 not found");
  CHECK(h.observe() == before);

  const std::size_t applies = h.backend.successful_applies();
  auto ok = h.m->apply(ApplyRequest{h.meta(), {release, reserve, enable}});
  REQUIRE(ok.ok());
  REQUIRE(ok->results.size() == 3);
  CHECK(ok->results[0].existed);
  CHECK(ok->results[1].created);
  CHECK(ok->results[1].bindings[0].public_endpoint == old.public_endpoint);
  CHECK(ok->results[2].bindings[0].state == BindingState::kEnabled);
  CHECK(h.backend.successful_applies() == applies + 1);  // one nf_tables transaction
  CHECK(h.m->binding_count() == 1);
  CHECK(h.backend.element_count() == 4);
}

TEST_CASE("one-shot latch learns the remote port once", "[unit][agent][core][latch]") {
  Harness h;
  const Binding b = h.reserve_pair();
  h.enable(b.id, {latch("198.51.100.7")});
  REQUIRE(h.backend.latch(ip("198.51.100.7"), ep("10.0.0.2:4000")));
  REQUIRE(h.backend.latch(ip("198.51.100.7"), ep("10.0.0.2:4001")));

  // The kernel latches the first packet from the signalled IP; NFLOG tells the agent.
  REQUIRE(h.backend.fire_latch(ep("198.51.100.7:31000"), ep("10.0.0.2:4000")));
  h.clock.advance(1s);
  auto latched = h.m->report_latched(ep("198.51.100.7:31000"), ep("10.0.0.2:4000"));
  REQUIRE(latched.ok());
  CHECK(latched->pinholes[0].latched_port[0] == 31000);
  CHECK(latched->pinholes[0].latched_port[1] == 0);
  const Event& e = h.m->events().buffer().back();
  CHECK(e.kind == EventKind::kLatched);
  CHECK(e.latched_remote == ep("198.51.100.7:31000"));
  const auto hole = h.backend.pinhole(ep("198.51.100.7:31000"), ep("10.0.0.2:4000"));
  REQUIRE(hole);
  CHECK(hole->timeout == 299s);  // rewritten with the real lease (armed 1 s after enable)
  CHECK_FALSE(h.backend.latch(ip("198.51.100.7"), ep("10.0.0.2:4000")));
  CHECK(h.backend.latch(ip("198.51.100.7"), ep("10.0.0.2:4001")));

  // Only the signalled address, and only once.
  check_error(h.m->report_latched(ep("198.51.100.66:31000"), ep("10.0.0.2:4000")),
              ErrorCode::kNotFound, ErrorReason::kUnknownBinding, "no pending latch");
  check_error(h.m->report_latched(ep("198.51.100.7:31002"), ep("10.0.0.2:4000")),
              ErrorCode::kNotFound, ErrorReason::kUnknownBinding, "no pending latch");
}

TEST_CASE("idle reports close a binding after idle_timeout", "[unit][agent][core][idle]") {
  Harness h;
  ReserveRequest r = h.pair_request();
  r.lease.idle_timeout = 120s;
  auto b = h.m->reserve(r);
  REQUIRE(b.ok());
  const BindingId id = b->binding.id;
  h.enable(id, {exact("198.51.100.7:30000")});

  const Clock::TimePoint quiet = h.clock.now();
  CHECK_FALSE(*h.m->report_idle(id, quiet));
  h.run_for(60s);
  CHECK(*h.m->report_traffic(id));  // media resumed: the idle close is cancelled
  h.run_for(120s);
  CHECK(h.m->binding_count() == 1);

  const Clock::TimePoint quiet2 = h.clock.now();
  CHECK_FALSE(*h.m->report_idle(id, quiet2));
  h.run_for(119s);
  CHECK(h.m->binding_count() == 1);
  h.run_for(1s);
  CHECK(h.m->binding_count() == 0);
  CHECK(h.m->events().buffer().back().kind == EventKind::kIdle);
  CHECK(h.conntrack.flushed() == std::vector<std::uint32_t>{id});

  // A binding without idle timeout ignores idle reports.
  const Binding other = h.reserve_pair("10.0.0.3:4000");
  CHECK_FALSE(*h.m->report_idle(other.id, h.clock.now() - 1h));
  CHECK(h.m->binding_count() == 1);
}

namespace {

/// A ctnetlink event of binding `mark`: `remote` -> `pub` (DNATed to `priv`) when inbound,
/// `priv` -> `remote` (SNATed to `pub`) when outbound.
FlowEvent inbound_flow(FlowEvent::Kind kind, BindingId mark, const char* remote, const char* pub,
                       const char* priv) {
  return FlowEvent{kind, mark, L4Protocol::kUdp, ep(remote), ep(pub), ep(priv)};
}
FlowEvent outbound_flow(FlowEvent::Kind kind, BindingId mark, const char* priv, const char* remote) {
  return FlowEvent{kind, mark, L4Protocol::kUdp, ep(priv), ep(remote), ep(remote)};
}
constexpr auto kNew = FlowEvent::Kind::kNew;
constexpr auto kDestroy = FlowEvent::Kind::kDestroy;

std::size_t count_events(const PinholeManager& m, EventKind kind) {
  std::size_t n = 0;
  for (const Event& e : m.events().buffer()) {
    n += e.kind == kind ? 1 : 0;
  }
  return n;
}

}  // namespace

TEST_CASE("conntrack flow events start and cancel the idle clock", "[unit][agent][core][idle][flows]") {
  Harness h;
  ReserveRequest r = h.pair_request();
  r.lease.idle_timeout = 120s;
  auto res = h.m->reserve(r);
  REQUIRE(res.ok());
  const BindingId id = res->binding.id;
  h.enable(id, {exact("198.51.100.7:30000")});

  // No flow yet: a binding never used is not idle (its reservation/hard deadline bound it).
  h.run_for(300s);
  REQUIRE(h.m->binding_count() == 1);

  h.m->report_flow(inbound_flow(kNew, id, "198.51.100.7:30000", "203.0.113.1:40000", "10.0.0.2:4000"));
  h.m->report_flow(inbound_flow(kNew, id, "198.51.100.7:30001", "203.0.113.1:40001", "10.0.0.2:4001"));
  CHECK(h.m->live_flows(id) == 2);
  h.run_for(300s);  // flows live: never idle, however long
  CHECK(h.m->binding_count() == 1);

  // One of two flows ends: still active.
  h.m->report_flow(inbound_flow(kDestroy, id, "198.51.100.7:30001", "203.0.113.1:40001", "10.0.0.2:4001"));
  CHECK(h.m->live_flows(id) == 1);
  CHECK_FALSE(h.m->get("", ByBinding{id})->lease.idle_since);
  h.run_for(300s);
  CHECK(h.m->binding_count() == 1);

  // The last flow ends (conntrack expired it): the idle clock starts now...
  h.m->report_flow(inbound_flow(kDestroy, id, "198.51.100.7:30000", "203.0.113.1:40000", "10.0.0.2:4000"));
  CHECK(h.m->live_flows(id) == 0);
  const Clock::TimePoint quiet = h.clock.now();
  CHECK(h.m->get("", ByBinding{id})->lease.idle_since == quiet);
  CHECK(h.m->next_deadline() <= quiet + 120s);
  h.run_for(115s);
  REQUIRE(h.m->binding_count() == 1);
  // ... and a new flow (outbound this time) cancels it.
  h.m->report_flow(outbound_flow(kNew, id, "10.0.0.2:4000", "198.51.100.7:30000"));
  CHECK_FALSE(h.m->get("", ByBinding{id})->lease.idle_since);
  h.run_for(300s);
  CHECK(h.m->binding_count() == 1);
  CHECK(count_events(*h.m, EventKind::kIdle) == 0);

  // Quiet for exactly idle_timeout after the last flow: closed IDLE, conntrack flushed.
  h.m->report_flow(outbound_flow(kDestroy, id, "10.0.0.2:4000", "198.51.100.7:30000"));
  h.run_for(119s);
  CHECK(h.m->binding_count() == 1);
  h.run_for(1s);
  CHECK(h.m->binding_count() == 0);
  const Event& idle = h.m->events().buffer().back();
  CHECK(idle.kind == EventKind::kIdle);
  CHECK(idle.cause == Cause::kIdle);
  CHECK(idle.binding_id == id);
  CHECK(h.conntrack.flushed() == std::vector<std::uint32_t>{id});

  // Late events of the closed binding (our own flush) are ignored and counted.
  const std::uint64_t unknown = h.m->stats().flow_events_unknown_mark;
  h.m->report_flow(outbound_flow(kDestroy, id, "10.0.0.2:4000", "198.51.100.7:30000"));
  CHECK(h.m->stats().flow_events_unknown_mark == unknown + 1);
  CHECK(h.m->live_flows(id) == 0);
}

TEST_CASE("flows of a binding without idle_timeout never close it", "[unit][agent][core][idle][flows]") {
  Harness h;
  const Binding b = h.reserve_pair();
  h.enable(b.id, {exact("198.51.100.7:30000")});
  const std::uint64_t last = h.m->events().last_seq();
  h.m->report_flow(inbound_flow(kNew, b.id, "198.51.100.7:30000", "203.0.113.1:40000", "10.0.0.2:4000"));
  h.m->report_flow(inbound_flow(kDestroy, b.id, "198.51.100.7:30000", "203.0.113.1:40000", "10.0.0.2:4000"));
  // A DESTROY without its NEW (a flow older than the listener) clamps at zero.
  h.m->report_flow(inbound_flow(kDestroy, b.id, "198.51.100.7:30000", "203.0.113.1:40000", "10.0.0.2:4000"));
  CHECK(h.m->live_flows(b.id) == 0);
  h.run_for(1h);
  CHECK(h.m->binding_count() == 1);
  CHECK(h.m->events().last_seq() == last);
  CHECK(h.m->stats().flow_events == 3);
}

TEST_CASE("the first inbound flow from a latched address learns the remote port", "[unit][agent][core][latch][flows]") {
  Harness h;
  const Binding b = h.reserve_pair();
  h.enable(b.id, {latch("198.51.100.7"), exact("198.51.100.9:5000")});
  h.clock.advance(1s);
  const std::uint64_t before = h.m->events().last_seq();

  // Not latching packets: an outbound flow, an exact remote, another address.
  h.m->report_flow(outbound_flow(kNew, b.id, "10.0.0.2:4000", "198.51.100.7:31000"));
  h.m->report_flow(inbound_flow(kNew, b.id, "198.51.100.9:5000", "203.0.113.1:40000", "10.0.0.2:4000"));
  h.m->report_flow(inbound_flow(kNew, b.id, "198.51.100.66:31000", "203.0.113.1:40000", "10.0.0.2:4000"));
  CHECK(h.m->events().last_seq() == before);
  CHECK(h.m->get("", ByBinding{b.id})->pinholes[0].latched_port[0] == 0);

  // The kernel fired the latch (dynset wrote the pinhole); the flow's NEW event tells the agent.
  REQUIRE(h.backend.fire_latch(ep("198.51.100.7:31000"), ep("10.0.0.2:4000")));
  h.m->report_flow(inbound_flow(kNew, b.id, "198.51.100.7:31000", "203.0.113.1:40000", "10.0.0.2:4000"));
  REQUIRE(h.m->events().last_seq() == before + 1);
  const Event& e = h.m->events().buffer().back();
  CHECK(e.kind == EventKind::kLatched);
  CHECK(e.cause == Cause::kLatched);
  CHECK(e.binding_id == b.id);
  CHECK(e.owner == kOwner);
  CHECK(e.latched_remote == ep("198.51.100.7:31000"));
  const Binding got = *h.m->get(kOwner, ByBinding{b.id});
  CHECK(got.pinholes[0].latched_port[0] == 31000);
  CHECK(got.pinholes[0].latched_port[1] == 0);
  const auto hole = h.backend.pinhole(ep("198.51.100.7:31000"), ep("10.0.0.2:4000"));
  REQUIRE(hole);
  CHECK(hole->timeout == 299s);  // rewritten with the real lease
  CHECK(h.m->stats().latches_learned == 1);

  // One-shot: a second source port does not move it; the RTCP component latches on its own.
  h.m->report_flow(inbound_flow(kNew, b.id, "198.51.100.7:31002", "203.0.113.1:40000", "10.0.0.2:4000"));
  CHECK(h.m->get("", ByBinding{b.id})->pinholes[0].latched_port[0] == 31000);
  REQUIRE(h.backend.fire_latch(ep("198.51.100.7:31001"), ep("10.0.0.2:4001")));
  h.m->report_flow(inbound_flow(kNew, b.id, "198.51.100.7:31001", "203.0.113.1:40001", "10.0.0.2:4001"));
  CHECK(h.m->get("", ByBinding{b.id})->pinholes[0].latched_port[1] == 31001);
  CHECK(count_events(*h.m, EventKind::kLatched) == 2);
  CHECK(h.m->live_flows(b.id) == 6);
}

TEST_CASE("resync after lost flow events restores counts, idle clocks and latches", "[unit][agent][core][flows]") {
  Harness h;
  ReserveRequest r1 = h.pair_request("10.0.0.2:4000");
  r1.lease.idle_timeout = 60s;
  const BindingId busy = h.m->reserve(r1)->binding.id;
  ReserveRequest r2 = h.pair_request("10.0.0.3:4000");
  r2.lease.idle_timeout = 60s;
  const BindingId quiet = h.m->reserve(r2)->binding.id;
  h.enable(busy, {exact("198.51.100.7:30000")});
  h.enable(quiet, {latch("198.51.100.8")});
  h.m->report_flow(inbound_flow(kNew, quiet, "198.51.100.99:1", "203.0.113.1:40002", "10.0.0.3:4000"));
  REQUIRE(h.m->live_flows(quiet) == 1);

  // Events were lost (ENOBUFS). The dump: busy has a flow, quiet's flow ended, and a latch of
  // quiet fired and its flow ended too... except the latch flow is still there.
  REQUIRE(h.backend.fire_latch(ep("198.51.100.8:32000"), ep("10.0.0.3:4000")));
  h.m->resync_flows({
      inbound_flow(kNew, busy, "198.51.100.7:30000", "203.0.113.1:40000", "10.0.0.2:4000"),
      inbound_flow(kNew, 4242, "198.51.100.7:30000", "203.0.113.1:40000", "10.0.0.2:4000"),
  });
  CHECK(h.m->stats().flow_resyncs == 1);
  CHECK(h.m->live_flows(busy) == 1);
  CHECK(h.m->live_flows(quiet) == 0);
  CHECK(h.m->live_flows(4242) == 0);
  CHECK(h.m->get("", ByBinding{quiet})->lease.idle_since == h.clock.now());
  CHECK_FALSE(h.m->get("", ByBinding{busy})->lease.idle_since);
  h.run_for(60s);
  CHECK(h.m->binding_count() == 1);
  CHECK(h.m->get("", ByBinding{busy}).ok());

  // A latch that fired while events were lost is learned from the dump.
  h.m->resync_flows({
      inbound_flow(kNew, busy, "198.51.100.7:30000", "203.0.113.1:40000", "10.0.0.2:4000"),
  });
  ReserveRequest r3 = h.pair_request("10.0.0.4:4000");
  const BindingId latched = h.m->reserve(r3)->binding.id;
  h.enable(latched, {latch("198.51.100.8")});
  REQUIRE(h.backend.fire_latch(ep("198.51.100.8:32000"), ep("10.0.0.4:4000")));
  const Binding lb = *h.m->get("", ByBinding{latched});
  const std::string pub = lb.public_endpoint.to_string();
  h.m->resync_flows({
      inbound_flow(kNew, busy, "198.51.100.7:30000", "203.0.113.1:40000", "10.0.0.2:4000"),
      inbound_flow(kNew, latched, "198.51.100.8:32000", pub.c_str(), "10.0.0.4:4000"),
  });
  CHECK(h.m->get("", ByBinding{latched})->pinholes[0].latched_port[0] == 32000);
  CHECK(h.m->events().buffer().back().kind == EventKind::kLatched);
}

TEST_CASE("resume replays events or asks for a resync", "[unit][agent][core][events]") {
  ManagerConfig c = test_config();
  c.event_buffer_size = 3;
  Harness h(c);
  for (const char* priv : {"10.0.0.2:4000", "10.0.0.3:4000", "10.0.0.4:4000", "10.0.0.5:4000"}) {
    const Binding b = h.reserve_pair(priv);
    REQUIRE(h.m->close_by_agent(b.id, Cause::kAdmin).ok());
  }
  CHECK(h.m->events().last_seq() == 4);
  CHECK(h.m->events().buffer().back().kind == EventKind::kClosedByAgent);
  CHECK(h.conntrack.flushed() == std::vector<std::uint32_t>{1, 2, 3, 4});

  const ResumeResult tail = h.m->resume(0xfeed, 2);
  CHECK_FALSE(tail.resync_required);
  REQUIRE(tail.events.size() == 2);
  CHECK(tail.events[0].seq == 3);
  CHECK(tail.events[1].binding_id == 4);
  CHECK(h.m->resume(0xfeed, 0).resync_required);    // seq 1 fell out of the ring
  CHECK(h.m->resume(0xbeef, 4).resync_required);    // another state epoch
  CHECK(h.m->resume(0xfeed, 4).events.empty());
  CHECK(h.m->resume(0xfeed, 1, {"someone-else"}).events.empty());

  h.clock.advance(90s);
  const AgentInfo info = h.m->agent_info();
  CHECK(info.agent_id == "edge-1");
  CHECK(info.state_epoch == 0xfeed);
  CHECK(info.epoch_seconds == 90);
}

TEST_CASE("list pages through bindings in id order", "[unit][agent][core][list]") {
  Harness h;
  for (const char* priv : {"10.0.0.2:4000", "10.0.0.3:4000", "10.0.0.4:4000"}) {
    h.reserve_pair(priv);
  }
  auto p1 = h.m->list(ListRequest{kOwner, "", 2, 0});
  REQUIRE(p1->bindings.size() == 2);
  CHECK(p1->next_page_token == 2);
  auto p2 = h.m->list(ListRequest{kOwner, "", 2, p1->next_page_token});
  REQUIRE(p2->bindings.size() == 1);
  CHECK(p2->bindings[0].id == 3);
  CHECK(p2->next_page_token == 0);
  CHECK(h.m->list(ListRequest{"other", "", 0, 0})->bindings.empty());
  CHECK(h.m->list(ListRequest{"", "g", 0, 0}).error().code == ErrorCode::kInvalidArgument);
}

TEST_CASE("configuration is validated", "[unit][agent][core][config]") {
  CHECK(validate_config(test_config()).ok());
  ManagerConfig c = test_config();
  c.pools.clear();
  CHECK(validate_config(c).error().message == "pools must not be empty");
  c = test_config();
  c.pools[0].first_port = 0;
  CHECK(validate_config(c).error().message.find("pools[0]") != std::string::npos);
  c = test_config();
  c.heartbeat_interval = c.session_ttl;
  CHECK_FALSE(validate_config(c).ok());
  c = test_config();
  c.max_lifetime = 0s;
  CHECK_FALSE(validate_config(c).ok());
}

// ---- deferred conntrack flush and port quarantine ----

TEST_CASE("release replies before the conntrack walk, released ports wait for it",
          "[unit][agent][core][conntrack]") {
  Harness h;
  h.conntrack.set_deferred(true);
  const Binding a = h.reserve_pair("10.0.0.2:4000");
  const Binding b = h.reserve_pair("10.0.0.3:4000");
  REQUIRE(a.public_endpoint == ep("203.0.113.1:40000"));
  REQUIRE(b.public_endpoint == ep("203.0.113.1:40002"));

  // Release: the elements are gone at once, the flush is only scheduled.
  REQUIRE(h.m->release(ReleaseRequest{h.meta(), ByBinding{a.id}}).ok());
  CHECK_FALSE(h.backend.mapping(ep("203.0.113.1:40000")).has_value());
  CHECK(h.conntrack.walks().empty());
  CHECK(h.conntrack.queued() == std::vector<std::uint32_t>{a.id});
  CHECK(h.conntrack.issued_tickets() == 1);
  CHECK(h.conntrack.completed_ticket() == 0);
  CHECK(h.m->quarantined_ports() == 2);

  REQUIRE(h.m->release(ReleaseRequest{h.meta(), ByBinding{b.id}}).ok());
  CHECK(h.conntrack.queued() == std::vector<std::uint32_t>{a.id, b.id});
  CHECK(h.conntrack.issued_tickets() == 2);
  CHECK(h.m->quarantined_ports() == 4);

  // Next-fit takes the three free pairs, then the pool has only quarantined ports: the
  // allocation waits for the pending walk (flush-before-reuse) and gets the oldest pair.
  CHECK(h.reserve_pair("10.0.0.4:4000").public_endpoint == ep("203.0.113.1:40004"));
  CHECK(h.reserve_pair("10.0.0.5:4000").public_endpoint == ep("203.0.113.1:40006"));
  CHECK(h.reserve_pair("10.0.0.6:4000").public_endpoint == ep("203.0.113.1:40008"));
  CHECK(h.conntrack.awaits() == 0);
  CHECK(h.conntrack.walks().empty());
  CHECK(h.reserve_pair("10.0.0.7:4000").public_endpoint == ep("203.0.113.1:40000"));
  CHECK(h.conntrack.awaits() == 1);
  // Both releases share one walk.
  CHECK(h.conntrack.walks() == std::vector<std::vector<std::uint32_t>>{{a.id, b.id}});
  CHECK(h.conntrack.flushed() == std::vector<std::uint32_t>{a.id, b.id});
  CHECK(h.m->quarantined_ports() == 0);
  CHECK(h.reserve_pair("10.0.0.8:4000").public_endpoint == ep("203.0.113.1:40002"));
  CHECK(h.conntrack.awaits() == 1);
}

TEST_CASE("a completed walk frees the quarantined ports without waiting",
          "[unit][agent][core][conntrack]") {
  Harness h;
  h.conntrack.set_deferred(true);
  const Binding a = h.reserve_pair("10.0.0.2:4000");
  h.clock.advance(10ms);
  REQUIRE(h.m->release(ReleaseRequest{h.meta(), ByBinding{a.id}}).ok());
  CHECK(h.m->quarantined_ports() == 2);
  h.conntrack.complete_scheduled();
  CHECK(h.conntrack.completed_ticket() == 1);
  CHECK(h.m->quarantined_ports() == 0);

  // PREFER: a quarantined suggestion is not waited for; another port is given.
  const Binding c = h.reserve_pair("10.0.0.3:4000");
  REQUIRE(c.public_endpoint == ep("203.0.113.1:40002"));
  REQUIRE(h.m->release(ReleaseRequest{h.meta(), ByBinding{c.id}}).ok());
  ReserveRequest prefer = h.pair_request("10.0.0.4:4000");
  prefer.public_port = PublicPortRequest{ep("203.0.113.1:40002"), PortPreference::kPrefer};
  auto p = h.m->reserve(prefer);
  REQUIRE(p.ok());
  CHECK(p->binding.public_endpoint == ep("203.0.113.1:40004"));
  CHECK(h.conntrack.awaits() == 0);
  CHECK(h.m->quarantined_ports() == 2);

  // EXACT_OR_FAIL on the quarantined pair: flush-before-reuse, then granted.
  ReserveRequest exact_req = h.pair_request("10.0.0.5:4000");
  exact_req.public_port = PublicPortRequest{ep("203.0.113.1:40002"), PortPreference::kExactOrFail};
  auto e = h.m->reserve(exact_req);
  REQUIRE(e.ok());
  CHECK(e->binding.public_endpoint == ep("203.0.113.1:40002"));
  CHECK(h.conntrack.awaits() == 1);
  CHECK(h.conntrack.walks() == std::vector<std::vector<std::uint32_t>>{{a.id}, {c.id}});
  CHECK(h.m->quarantined_ports() == 0);
}

TEST_CASE("a rolled-back release neither schedules a flush nor quarantines",
          "[unit][agent][core][conntrack]") {
  Harness h;
  h.conntrack.set_deferred(true);
  const Binding a = h.reserve_pair("10.0.0.2:4000");
  EnableRequest bad{WriteMeta{}, ByBinding{4242}, {exact("198.51.100.7:30000")}};
  auto r = h.m->apply(ApplyRequest{h.meta(), {ReleaseRequest{WriteMeta{}, ByBinding{a.id}}, bad}});
  REQUIRE_FALSE(r.ok());
  CHECK(h.conntrack.issued_tickets() == 0);
  CHECK(h.conntrack.queued().empty());
  CHECK(h.m->quarantined_ports() == 0);
  CHECK(h.m->binding_count() == 1);
  // The pair is still in use, not free.
  CHECK(h.reserve_pair("10.0.0.3:4000").public_endpoint == ep("203.0.113.1:40002"));

  // Failures of a deferred walk reach the stats when the walk ran.
  h.conntrack.set_failure(Error(ErrorCode::kUnavailable, "ENOBUFS"));
  REQUIRE(h.m->release(ReleaseRequest{h.meta(), ByBinding{a.id}}).ok());
  CHECK(h.m->stats().conntrack_flush_failures == 0);
  h.conntrack.complete_scheduled();
  CHECK(h.m->stats().conntrack_flush_failures == 1);
}

TEST_CASE("expiries in one tick share one scheduled flush", "[unit][agent][core][conntrack]") {
  Harness h;
  h.conntrack.set_deferred(true);
  std::vector<std::uint32_t> ids;
  for (const char* priv : {"10.0.0.2:4000", "10.0.0.3:4000", "10.0.0.4:4000"}) {
    ReserveRequest r = h.pair_request(priv);
    r.lease.lifetime = 10s;
    auto res = h.m->reserve(r);
    REQUIRE(res.ok());
    ids.push_back(res->binding.id);
  }
  h.run_for(10s);
  CHECK(h.m->binding_count() == 0);
  CHECK(h.conntrack.issued_tickets() == 1);
  CHECK(h.conntrack.queued() == ids);
  CHECK(h.m->quarantined_ports() == 6);
  h.conntrack.complete_scheduled();
  CHECK(h.conntrack.walks() == std::vector<std::vector<std::uint32_t>>{ids});
  CHECK(h.m->quarantined_ports() == 0);
}

TEST_CASE("exact pinholes' flows are deleted by tuple, without a walk or quarantine",
          "[unit][agent][core][conntrack]") {
  Harness h;
  h.conntrack.set_deferred(true);
  h.conntrack.set_tuple_deletes(true);
  const Binding a = h.reserve_pair("10.0.0.2:4000");
  REQUIRE(a.public_endpoint == ep("203.0.113.1:40000"));
  h.enable(a.id, {exact("198.51.100.7:30000"), exact("198.51.100.8:32000")});

  // Enable replacing a remote deletes the removed remote's flows (both components) at once.
  h.enable(a.id, {exact("198.51.100.7:30000")});
  CHECK(h.conntrack.deleted_flows() ==
        std::vector<FlowTuple>{{L4Protocol::kUdp, ep("198.51.100.8:32000"), ep("203.0.113.1:40000")},
                               {L4Protocol::kUdp, ep("198.51.100.8:32001"), ep("203.0.113.1:40001")}});

  REQUIRE(h.m->release(ReleaseRequest{h.meta(), ByBinding{a.id}}).ok());
  CHECK(h.conntrack.deleted_flows().size() == 4);
  CHECK(h.conntrack.deleted_flows()[2] ==
        FlowTuple{L4Protocol::kUdp, ep("198.51.100.7:30000"), ep("203.0.113.1:40000")});
  CHECK(h.conntrack.deleted_flows()[3] ==
        FlowTuple{L4Protocol::kUdp, ep("198.51.100.7:30001"), ep("203.0.113.1:40001")});
  CHECK(h.conntrack.issued_tickets() == 0);  // no walk
  CHECK(h.m->quarantined_ports() == 0);      // flows gone before the reply: port reusable

  // An unfired latch: the kernel may know a remote port the agent does not -> walk + quarantine.
  const Binding b = h.reserve_pair("10.0.0.3:4000");
  h.enable(b.id, {latch("198.51.100.9")});
  REQUIRE(h.m->release(ReleaseRequest{h.meta(), ByBinding{b.id}}).ok());
  CHECK(h.conntrack.deleted_flows().size() == 4);
  CHECK(h.conntrack.queued() == std::vector<std::uint32_t>{b.id});
  CHECK(h.m->quarantined_ports() == 2);
  h.conntrack.complete_scheduled();

  // A failing tuple delete falls back to the walk, with quarantine.
  const Binding c = h.reserve_pair("10.0.0.4:4000");
  h.enable(c.id, {exact("198.51.100.7:30000")});
  h.conntrack.set_failure(Error(ErrorCode::kUnavailable, "ENOBUFS"));
  REQUIRE(h.m->release(ReleaseRequest{h.meta(), ByBinding{c.id}}).ok());
  CHECK(h.conntrack.queued() == std::vector<std::uint32_t>{c.id});
  CHECK(h.conntrack.issued_tickets() == 2);
  CHECK(h.m->quarantined_ports() == 2);
}

TEST_CASE("a release batch past 64 flows takes one deferred walk instead of tuple deletes",
          "[unit][agent][core][conntrack]") {
  ManagerConfig config = test_config();
  config.pools[0].last_port = 40199;
  Harness h(config);
  h.conntrack.set_deferred(true);
  h.conntrack.set_tuple_deletes(true);
  std::vector<Operation> releases;
  std::vector<std::uint32_t> ids;
  for (int i = 0; i < 33; ++i) {  // 33 pairs x 1 remote = 66 flows
    const std::string priv = "10.0.1." + std::to_string(i + 1) + ":4000";
    const Binding b = h.reserve_pair(priv.c_str());
    h.enable(b.id, {exact("198.51.100.7:30000")});
    releases.push_back(ReleaseRequest{WriteMeta{}, ByBinding{b.id}});
    ids.push_back(b.id);
  }
  REQUIRE(h.m->apply(ApplyRequest{h.meta(), releases}).ok());
  CHECK(h.conntrack.deleted_flows().empty());
  CHECK(h.conntrack.issued_tickets() == 1);
  CHECK(h.conntrack.queued() == ids);
  CHECK(h.m->quarantined_ports() == 66);
  // 32 pairs (64 flows) are still deleted by tuple.
  releases.clear();
  for (int i = 0; i < 32; ++i) {
    const std::string priv = "10.0.2." + std::to_string(i + 1) + ":4000";
    const Binding b = h.reserve_pair(priv.c_str());
    h.enable(b.id, {exact("198.51.100.7:30000")});
    releases.push_back(ReleaseRequest{WriteMeta{}, ByBinding{b.id}});
  }
  REQUIRE(h.m->apply(ApplyRequest{h.meta(), releases}).ok());
  CHECK(h.conntrack.deleted_flows().size() == 64);
  CHECK(h.conntrack.issued_tickets() == 1);
}
