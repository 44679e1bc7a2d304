// FakeFcpClient (tests/support/fake_fcp_client.h): the fake the media layer's tests use must
// behave like the agent where it matters (allocation, idempotency, error classes, events).
#include <chrono>

#include <catch2/catch.hpp>

#include "common/time/fake_clock.h"
#include "tests/support/fake_fcp_client.h"
#include "tests/unit/controller/fcp/client_harness.h"

using namespace std::chrono_literals;
using namespace portcullis;
using portcullis::testing::await;
using portcullis::testing::FakeFcpClient;
using portcullis::testing::Loop;
using portcullis::testing::Recorder;

namespace {

fcp::ReserveRequest pair(std::uint16_t port, const std::string& group = "call-1") {
  fcp::ReserveRequest r;
  r.group_id = group;
  r.natural_key = group + "/" + std::to_string(port);
  r.private_endpoint = *net::Endpoint::parse("10.0.0.2:" + std::to_string(port));
  return r;  // defaults: pair, even parity, session liveness
}

fcp::FcpResult<fcp::ReserveResult> reserve(Loop& loop, fcp::FcpClient& c, fcp::ReserveRequest r) {
  return await<fcp::ReserveResult>(loop, [&](auto cb) { c.reserve(std::move(r), cb); });
}

}  // namespace

TEST_CASE("FakeFcpClient: deterministic allocation, idempotency, group release", "[fcp][fake]") {
  FakeClock clock;
  Loop loop;
  FakeFcpClient fake(loop.io.get_executor(), clock);

  auto a = reserve(loop, fake, pair(4000));
  auto b = reserve(loop, fake, pair(4002));
  fcp::ReserveRequest single = pair(5060, "reg");
  single.port_count = 1;
  single.parity = fcp::Parity::kAny;
  auto c = reserve(loop, fake, single);
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  REQUIRE(c.ok());
  CHECK(a->binding.public_endpoint.to_string() == "203.0.113.1:40000");
  CHECK(a->binding.public_endpoints().back().to_string() == "203.0.113.1:40001");
  CHECK(b->binding.public_endpoint.port() == 40002);
  CHECK(c->binding.public_endpoint.port() == 40004);
  CHECK(a->binding.binding_id == "1");
  CHECK(a->binding.agent == "edge-1");

  // Same natural key + spec => same binding; another spec => KEY_CONFLICT.
  auto again = reserve(loop, fake, pair(4000));
  REQUIRE(again.ok());
  CHECK_FALSE(again->created);
  CHECK(again->binding.binding_id == "1");
  fcp::ReserveRequest conflict = pair(4000);
  conflict.private_endpoint = *net::Endpoint::parse("10.0.0.3:4000");
  auto refused = reserve(loop, fake, conflict);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().reason == fcp::FcpReason::kKeyConflict);
  CHECK(refused.error().binding_id == "1");
  // The same request_id answers the first result again.
  fcp::ReserveRequest with_id = pair(4010, "call-9");
  with_id.request_id = "rid-1";
  REQUIRE(reserve(loop, fake, with_id).ok());
  with_id.natural_key = "call-9/other";
  with_id.private_endpoint = *net::Endpoint::parse("10.0.0.9:4010");
  auto replay = reserve(loop, fake, with_id);
  REQUIRE(replay.ok());
  CHECK(replay->binding.natural_key == "call-9/4010");
  CHECK(fake.binding_count() == 4);

  fcp::EnableRequest en;
  en.binding = a->binding.ref();
  en.remotes = {fcp::RemotePeer::latch(*net::IpAddress::parse("198.51.100.7"))};
  auto enabled = await<fcp::BindingInfo>(loop, [&](auto cb) { fake.enable(en, cb); });
  REQUIRE(enabled.ok());
  CHECK(enabled->state == fcp::BindingState::kEnabled);
  CHECK_FALSE(enabled->pinholes[0].remote.port.has_value());
  en.expected_generation = 1;  // stale
  auto stale = await<fcp::BindingInfo>(loop, [&](auto cb) { fake.enable(en, cb); });
  REQUIRE_FALSE(stale.ok());
  CHECK(stale.error().reason == fcp::FcpReason::kGenerationMismatch);

  auto rel = await<fcp::ReleaseResult>(
      loop, [&](auto cb) { fake.release(fcp::ReleaseRequest{fcp::GroupRef{"edge-1", "call-1"}, ""}, cb); });
  REQUIRE(rel.ok());
  CHECK(rel->existed);
  CHECK(rel->final_state.size() == 2);
  // Freed ports are allocated again, lowest first.
  auto d = reserve(loop, fake, pair(4020, "call-3"));
  REQUIRE(d.ok());
  CHECK(d->binding.public_endpoint.port() == 40000);

  auto none = await<fcp::ReleaseResult>(
      loop, [&](auto cb) { fake.release(fcp::ReleaseRequest{fcp::BindingRef{"edge-1", "99"}, ""}, cb); });
  REQUIRE(none.ok());
  CHECK_FALSE(none->existed);

  CHECK(fake.count(FakeFcpClient::Op::kReserve) == 8);
  CHECK(fake.count(FakeFcpClient::Op::kRelease) == 2);
  CHECK(fake.calls().front().request_id != fake.calls()[1].request_id);
}

TEST_CASE("FakeFcpClient: injected errors, lost answers, latency on a FakeClock", "[fcp][fake]") {
  FakeClock clock;
  Loop loop;
  FakeFcpClient fake(loop.io.get_executor(), clock);

  fake.fail_next(FakeFcpClient::Op::kReserve,
                 FakeFcpClient::error(ErrorCode::kUnavailable, fcp::FcpReason::kDraining, "draining", {},
                                      fcp::RetryClass::kOtherAgent));
  auto drained = reserve(loop, fake, pair(4000));
  REQUIRE_FALSE(drained.ok());
  CHECK(drained.error().retry_class == fcp::RetryClass::kOtherAgent);
  CHECK(drained.error().agent == "edge-1");
  CHECK(fake.binding_count() == 0);

  // Applied, answer lost: the retry with the same request_id gets the binding, not a second one.
  fake.lose_next_answer(FakeFcpClient::Op::kReserve);
  auto lost = reserve(loop, fake, pair(4000));
  REQUIRE_FALSE(lost.ok());
  CHECK(lost.error().retry_class == fcp::RetryClass::kSameRequest);
  fcp::ReserveRequest retry = pair(4000);
  retry.request_id = lost.error().request_id;
  auto got = reserve(loop, fake, retry);
  REQUIRE(got.ok());
  CHECK(got->created);
  CHECK(fake.binding_count() == 1);

  // Latency: nothing arrives until the clock has moved and poll() ran.
  fake.set_latency(200ms);
  bool answered = false;
  fake.get(got->binding.ref(), [&](fcp::FcpResult<fcp::BindingInfo> r) {
    answered = true;
    CHECK(r.ok());
  });
  loop.drain();
  CHECK_FALSE(answered);
  CHECK(fake.pending_answers() == 1);
  clock.advance(100ms);
  CHECK(fake.poll() == 0);
  clock.advance(100ms);
  CHECK(fake.poll() == 1);
  CHECK_FALSE(answered);  // posted, never inline
  REQUIRE(loop.run_until([&] { return answered; }));
}

TEST_CASE("FakeFcpClient: events, state loss and reconcile reach the subscriber", "[fcp][fake]") {
  FakeClock clock;
  Loop loop;
  FakeFcpClient fake(loop.io.get_executor(), clock);
  Recorder rec;
  fake.set_subscriber(&rec);

  auto a = reserve(loop, fake, pair(4000));
  REQUIRE(a.ok());
  REQUIRE(fake.expire(a->binding.ref()));
  REQUIRE(loop.run_until([&] { return !rec.events.empty(); }));
  CHECK(rec.events[0].kind == fcp::EventKind::kExpired);
  CHECK(rec.events[0].binding_id == a->binding.binding_id);
  CHECK(rec.events[0].group_id == "call-1");
  CHECK(fake.binding_count() == 0);

  REQUIRE(reserve(loop, fake, pair(4002)).ok());
  fake.lose_state("edge-1");
  REQUIRE(loop.run_until([&] { return !rec.losses.empty(); }));
  CHECK(rec.losses[0].before->state_epoch != rec.losses[0].after.state_epoch);
  CHECK(fake.binding_count() == 0);

  fake.request_reconcile("edge-1", fcp::ReconcileReason::kResyncRequired);
  REQUIRE(loop.run_until([&] { return rec.has_reconcile(fcp::ReconcileReason::kResyncRequired); }));
}
