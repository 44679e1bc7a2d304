// The controller shell's routing rules: the flow id codec (shard, slot, transport id in
// Peer::connection), the shard a response belongs to (from the branch a sharded ProxyCore wrote)
// and an in-dialog request (from the pc-shard of our Record-Route),
// what "new work" is while draining, RFC 3263 targets → peers, and the shared location store.
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "common/time/fake_clock.h"
#include "controller/app/dns_next_hop_resolver.h"
#include "controller/app/flow_routing.h"
#include "controller/app/shared_location_store.h"
#include "controller/proxy/loop_detection.h"
#include "controller/registrar/in_memory_location_store.h"
#include "tests/unit/controller/proxy/proxy_harness.h"

namespace portcullis::controller::app {
namespace {

using proxy::test::parse;
using proxy::test::Request;

TEST_CASE("flow ids carry shard, slot and the transport's connection id", "[unit]") {
  const FlowRef f{3, 2, sip::ConnectionId{42}};
  const std::uint64_t id = encode_flow(f);
  CHECK(id != 0);
  CHECK(decode_flow(id) == f);
  CHECK(encode_flow(FlowRef{255, 255, sip::ConnectionId{kFlowIdMask}}) == ~std::uint64_t{0});
  CHECK(decode_flow(encode_flow(FlowRef{255, 255, sip::ConnectionId{kFlowIdMask}})) ==
        FlowRef{255, 255, sip::ConnectionId{kFlowIdMask}});
  // "No connection" stays 0 whatever the shard: the transaction layer's "any flow".
  CHECK(encode_flow(FlowRef{7, 1, sip::kNoConnection}) == 0);
  CHECK_FALSE(decode_flow(0).has_value());

  const sip::Peer p = to_peer(sip::TransportKind::kTls, net::Endpoint::parse("192.0.2.1:5061").value(), 1, 4,
                              sip::ConnectionId{9});
  CHECK(p.transport == sip::TransportProtocol::kTls);
  CHECK(decode_flow(p.connection) == FlowRef{1, 4, sip::ConnectionId{9}});
}

TEST_CASE("transport kinds and protocols convert both ways", "[unit]") {
  for (auto k : {sip::TransportKind::kUdp, sip::TransportKind::kTcp, sip::TransportKind::kTls}) {
    CHECK(to_kind(to_protocol(k)) == k);
  }
  CHECK(to_protocol(sip::TransportKind::kTcp) == sip::TransportProtocol::kTcp);
  CHECK_FALSE(to_kind(sip::TransportProtocol::kSctp).has_value());
  CHECK_FALSE(to_kind(sip::TransportProtocol::kWss).has_value());
}

std::string response_with_branch(const std::string& branch) {
  return "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch=" + branch +
         "\r\nVia: SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bK-a1\r\n"
         "From: <sip:a@example.com>;tag=1\r\nTo: <sip:b@198.51.100.20>;tag=2\r\n"
         "Call-ID: c\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";
}

TEST_CASE("a sharded proxy core writes its shard into every branch it creates", "[unit]") {
  FakeClock clock;
  proxy::test::FakeResolver resolver;
  proxy::ProxyConfig config = proxy::test::base_config();
  config.branch_shard = 3;
  proxy::ProxyCore core(config, clock, resolver, nullptr);

  Request invite;
  invite.ruri = "sip:bob@198.51.100.20";
  invite.to = "<sip:bob@198.51.100.20>";
  core.receive(parse(invite.text()), proxy::test::kAliceNat);
  std::string forwarded;
  for (const sip::SendAction& s : core.take_sends()) {
    if (s.bytes.rfind("INVITE ", 0) == 0) {
      forwarded = s.bytes;
    }
  }
  REQUIRE_FALSE(forwarded.empty());
  const sip::SipMessage out = parse(forwarded);
  const std::string branch(out.vias().front().branch);
  CHECK(proxy::branch_shard(branch) == std::optional<std::uint8_t>(3));

  // The response to it is owned by shard 3 when there are at least 4 shards.
  const sip::SipMessage response = parse(response_with_branch(branch));
  CHECK(owning_shard(response, 4) == std::optional<std::uint8_t>(3));
  CHECK_FALSE(owning_shard(response, 3).has_value());  // names no live shard: stray
}

TEST_CASE("branches without a shard or not ours have no owner", "[unit]") {
  CHECK_FALSE(proxy::branch_shard("z9hG4bK-a1").has_value());
  CHECK_FALSE(proxy::branch_shard("z9hG4bK-pc-0123456789abcdef-0123").has_value());
  CHECK_FALSE(proxy::branch_shard("z9hG4bK-pc-0123456789abcdef-zz23456789abcdef").has_value());
  CHECK(proxy::branch_shard("z9hG4bK-pc-0123456789abcdef-ff23456789abcdef") == std::optional<std::uint8_t>(255));
  CHECK(proxy::branch_shard(proxy::make_branch("0123456789abcdef", std::uint64_t{0x07} << 56)) ==
        std::optional<std::uint8_t>(7));
  CHECK_FALSE(owning_shard(parse(response_with_branch("z9hG4bK-foreign")), 4).has_value());
}

TEST_CASE("an unsharded proxy core keeps 64 random bits", "[unit]") {
  FakeClock clock;
  proxy::test::FakeResolver resolver;
  proxy::ProxyConfig config = proxy::test::base_config();  // branch_seed 42, no shard
  proxy::ProxyCore a(config, clock, resolver, nullptr);
  Request invite;
  invite.ruri = "sip:bob@198.51.100.20";
  a.receive(parse(invite.text()), proxy::test::kAliceNat);
  bool seen = false;
  for (const sip::SendAction& s : a.take_sends()) {
    if (s.bytes.rfind("INVITE ", 0) == 0) {
      // No shard: the unique part is the plain splitmix64 output, as before the shard hook.
      const sip::SipMessage out = parse(s.bytes);
      CHECK(out.vias().front().branch.size() == proxy::kBranchPrefix.size() + 33);
      seen = true;
    }
  }
  CHECK(seen);
}

TEST_CASE("an in-dialog request belongs to the shard that record-routed its dialog", "[unit]") {
  FakeClock clock;
  proxy::test::FakeResolver resolver;
  proxy::ProxyConfig config = proxy::test::base_config();
  config.branch_shard = 3;
  config.route_shard = 3;
  proxy::ProxyCore core(config, clock, resolver, nullptr);

  Request invite;
  invite.ruri = "sip:bob@198.51.100.20";
  invite.to = "<sip:bob@198.51.100.20>";
  core.receive(parse(invite.text()), proxy::test::kAliceNat);
  std::string forwarded;
  for (const sip::SendAction& s : core.take_sends()) {
    if (s.bytes.rfind("INVITE ", 0) == 0) {
      forwarded = s.bytes;
    }
  }
  REQUIRE_FALSE(forwarded.empty());
  const sip::SipMessage out = parse(forwarded);
  const auto rr = proxy::test::values(out, sip::HeaderId::kRecordRoute);
  REQUIRE_FALSE(rr.empty());

  // Bob's BYE follows the Record-Route (his route set as UAS, RFC 3261 §12.1.1).
  Request bye;
  bye.method = "BYE";
  bye.ruri = "sip:alice@10.0.0.2:5060";
  bye.via = "SIP/2.0/UDP 198.51.100.20:5060;branch=z9hG4bK-b1";
  bye.from = "<sip:bob@198.51.100.20>;tag=b-tag";
  bye.to = "<sip:alice@example.com>;tag=a-tag";
  bye.contact.clear();
  std::string routes;
  for (const std::string& v : rr) {
    routes += (routes.empty() ? "" : ", ") + v;
  }
  bye.extra = {"Route: " + routes};
  const sip::SipMessage in_dialog = parse(bye.text());
  CHECK(dialog_owning_shard(in_dialog, core.identity(), 4) == std::optional<std::uint8_t>(3));
  // A shard number the process does not have (a forged or stale Route): handled where it landed.
  CHECK_FALSE(dialog_owning_shard(in_dialog, core.identity(), 3).has_value());
  CHECK_FALSE(dialog_owning_shard(in_dialog, core.identity(), 1).has_value());

  bye.extra = {"Route: <sip:192.0.2.10:5060;lr;pc-shard=200>"};
  CHECK_FALSE(dialog_owning_shard(parse(bye.text()), core.identity(), 4).has_value());
  bye.extra = {"Route: <sip:192.0.2.10:5060;lr;pc-shard=x1>"};
  CHECK_FALSE(dialog_owning_shard(parse(bye.text()), core.identity(), 4).has_value());
  bye.extra = {"Route: <sip:192.0.2.10:5060;lr>"};
  CHECK_FALSE(dialog_owning_shard(parse(bye.text()), core.identity(), 4).has_value());
  bye.extra.clear();
  CHECK_FALSE(dialog_owning_shard(parse(bye.text()), core.identity(), 4).has_value());
  bye.extra = {"Route: <sip:192.0.2.10:5060;lr;pc-shard=1>"};
  CHECK(dialog_owning_shard(parse(bye.text()), core.identity(), 4) == std::optional<std::uint8_t>(1));
  // The initial INVITE itself carries no Route of ours: whoever received it owns it.
  CHECK_FALSE(dialog_owning_shard(parse(invite.text()), core.identity(), 4).has_value());
}

TEST_CASE("while draining only requests that start new work are refused", "[unit]") {
  Request r;
  CHECK(starts_new_work(parse(r.text())));  // initial INVITE
  r.method = "OPTIONS";
  CHECK(starts_new_work(parse(r.text())));
  r.method = "BYE";
  r.to = "<sip:bob@example.com>;tag=b";
  CHECK_FALSE(starts_new_work(parse(r.text())));  // in-dialog
  r.method = "ACK";
  r.to = "<sip:bob@example.com>";
  CHECK_FALSE(starts_new_work(parse(r.text())));
  r.method = "CANCEL";
  CHECK_FALSE(starts_new_work(parse(r.text())));
  CHECK_FALSE(starts_new_work(parse(response_with_branch("z9hG4bK-x"))));
}

TEST_CASE("RFC 3263 targets become peers in order, TLS ones named by the URI domain (RFC 5922)", "[unit]") {
  using sip::resolver::Target;
  using sip::resolver::TargetTransport;
  const std::vector<Target> targets{
      Target{TargetTransport::kTls, net::Endpoint::parse("192.0.2.1:5061").value(), "a.example", "example"},
      Target{TargetTransport::kUdp, net::Endpoint::parse("192.0.2.2:5060").value(), "b.example", "example"},
      Target{TargetTransport::kTls, net::Endpoint::parse("192.0.2.3:5061").value(), "", "192.0.2.3"}};
  const std::vector<sip::Peer> peers = to_peers(targets);
  REQUIRE(peers.size() == 3);
  // The certificate must match "example" (the URI's domain), not the SRV target a.example.
  CHECK(peers[0] == sip::Peer{sip::TransportProtocol::kTls, targets[0].endpoint});
  CHECK(peers[0].server_name == "example");
  CHECK(peers[1] == sip::Peer{sip::TransportProtocol::kUdp, targets[1].endpoint});
  CHECK(peers[1].server_name.empty());
  // A numeric host: no name, the transport verifies the address (IP SAN).
  CHECK(peers[2] == sip::Peer{sip::TransportProtocol::kTls, targets[2].endpoint});
  CHECK(peers[2].server_name.empty());
}

registrar::Binding binding(const std::string& contact, Clock::TimePoint now) {
  registrar::Binding b;
  b.contact = contact;
  b.call_id = "call-" + contact;
  b.cseq = 1;
  b.expires_at = now + std::chrono::hours(1);
  b.updated_at = now;
  return b;
}

TEST_CASE("the shared location store serialises shards and nests under hold()", "[unit]") {
  FakeClock clock;
  SharedLocationStore store(std::make_unique<registrar::InMemoryLocationStore>());
  {
    const auto hold = store.hold();  // one REGISTER: calls nest under the same lock
    REQUIRE(store.put("sip:a@example.com", binding("sip:a@10.0.0.2", clock.now())).ok());
    CHECK(store.binding_count("sip:a@example.com") == 1);
  }
  constexpr int kPerThread = 500;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&store, &clock, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const std::string aor = "sip:u" + std::to_string(t) + "-" + std::to_string(i) + "@example.com";
        const auto hold = store.hold();
        (void)store.put(aor, binding("sip:x@10.0.0.9", clock.now()));
        (void)store.lookup(aor, clock.now());
      }
    });
  }
  for (std::thread& t : threads) {
    t.join();
  }
  CHECK(store.aor_count() == 1 + 4 * kPerThread);
  CHECK(store.lookup("sip:a@example.com", clock.now()).size() == 1);
  clock.advance(std::chrono::hours(2));
  CHECK(store.purge_expired(clock.now()) == 1 + 4 * kPerThread);
  CHECK(store.binding_count() == 0);
}

}  // namespace
}  // namespace portcullis::controller::app
