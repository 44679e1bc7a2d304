// MediaSession (controller/media/media_session.h) against FakeFcpClient on a FakeClock: no
// sleeps, exact SDP, exact FCP requests. Addresses are documentation ranges (RFC 5737) and
// RFC 1918 LAN addresses behind the fake agent "edge-1" (10.0.0.0/8, public 203.0.113.1).
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
#include "controller/media/media_keys.h"
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


// Phone A on the LAN: RTP 10.0.0.2:4000, RTCP 4001.
const std::string kLanOffer = body_of({
    "v=0",
    "o=alice 2890844526 2890844526 IN IP4 10.0.0.2",
    "s=-",
    "c=IN IP4 10.0.0.2",
    "t=0 0",
    "m=audio 4000 RTP/AVP 0 8",
    "a=rtpmap:0 PCMU/8000",
});
// What B on the WAN must see: the agent's public pair 203.0.113.1:40000/40001.
const std::string kLanOfferRewritten = body_of({
    "v=0",
    "o=alice 2890844526 2890844527 IN IP4 203.0.113.1",
    "s=-",
    "c=IN IP4 203.0.113.1",
    "t=0 0",
    "m=audio 40000 RTP/AVP 0 8",
    "a=rtpmap:0 PCMU/8000",
});
// Phone B on the WAN, public, signalling from the same IP.
std::string wan_sdp(std::string_view addr = "198.51.100.7", int port = 5000, std::string_view extra = {},
                    std::string_view version = "1") {
  std::string o = "o=bob 77 " + std::string(version) + " IN IP4 " + std::string(addr);
  std::string c = "c=IN IP4 " + std::string(addr);
  std::string m = "m=audio " + std::to_string(port) + " RTP/AVP 0";
  if (extra.empty()) {
    return body_of({"v=0", o, "s=-", c, "t=0 0", m});
  }
  return body_of({"v=0", o, "s=-", c, "t=0 0", m, extra});
}

struct Harness {
  boost::asio::io_context io;
  FakeClock clock;
  TimerQueue timers;
  fcp::AgentDirectory directory;
  MediaStats stats;
  FakeFcpClient fake;
  MediaPolicy policy;

  explicit Harness(testing::FakeFcpClientOptions options = {}) : fake(io.get_executor(), clock, options) {
    REQUIRE(directory.add("10.0.0.0/8", "edge-1").ok());
  }

  std::unique_ptr<MediaSession> session(std::string call_id = "a84b4c76e66710@pc33.example.com",
                                        std::string from_tag = "1928301774") {
    return std::make_unique<MediaSession>(MediaEnv{fake, directory, clock, timers, &stats}, policy,
                                          CallKey{std::move(call_id), std::move(from_tag)});
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

  MediaResult offer(MediaSession& s, const std::string& body, const SignalContext& ctx,
                    std::string_view type = "application/sdp") {
    std::optional<MediaResult> out;
    s.on_offer(body, type, ctx, [&](MediaResult r) { out = std::move(r); });
    run();
    REQUIRE(out.has_value());
    return *out;
  }
  MediaResult answer(MediaSession& s, const std::string& body, const SignalContext& ctx,
                     AnswerKind kind = AnswerKind::kFinal, std::string_view type = "application/sdp") {
    std::optional<MediaResult> out;
    s.on_answer(body, type, ctx, kind, [&](MediaResult r) { out = std::move(r); });
    run();
    REQUIRE(out.has_value());
    return *out;
  }

  std::vector<fcp::ReserveRequest> reserves() const {
    std::vector<fcp::ReserveRequest> out;
    for (const auto& c : fake.calls()) {
      if (c.op == Op::kReserve) {
        out.push_back(std::get<fcp::ReserveRequest>(c.request));
      }
    }
    return out;
  }
  std::vector<fcp::EnableRequest> enables() const {
    std::vector<fcp::EnableRequest> out;
    for (const auto& c : fake.calls()) {
      if (c.op == Op::kEnable) {
        out.push_back(std::get<fcp::EnableRequest>(c.request));
      }
    }
    return out;
  }
  std::vector<fcp::ReleaseRequest> releases() const {
    std::vector<fcp::ReleaseRequest> out;
    for (const auto& c : fake.calls()) {
      if (c.op == Op::kRelease) {
        out.push_back(std::get<fcp::ReleaseRequest>(c.request));
      }
    }
    return out;
  }
  std::vector<fcp::RemotePeer> pinholes(const fcp::BindingRef& ref) const {
    std::vector<fcp::RemotePeer> out;
    if (auto b = fake.binding(ref)) {
      for (const auto& p : b->pinholes) {
        out.push_back(p.remote);
      }
    }
    return out;
  }
};

fcp::BindingRef ref(std::string id) { return {"edge-1", std::move(id)}; }

/// Establishes LAN caller (kLanOffer) → WAN callee (wan_sdp()) and checks the basics.
void establish_lan_to_wan(Harness& h, MediaSession& s) {
  MediaResult o = h.offer(s, kLanOffer, lan_caller());
  REQUIRE(o.action == MediaAction::kForward);
  REQUIRE(o.body == kLanOfferRewritten);
  MediaResult a = h.answer(s, wan_sdp(), wan_callee());
  REQUIRE(a.action == MediaAction::kPassThrough);
  REQUIRE(s.confirmed());
  REQUIRE(h.pinholes(ref("1")) == std::vector{fcp::RemotePeer{ip("198.51.100.7"), 5000, 0}});
}

}  // namespace

// ---------------------------------------------------------------------------------------------

TEST_CASE("MediaSession: LAN caller to WAN callee, exact SDP, reserve and pinhole", "[media][session]") {
  Harness h;
  auto s = h.session();

  const MediaResult o = h.offer(*s, kLanOffer, lan_caller());
  CHECK(o.action == MediaAction::kForward);
  CHECK(o.error == MediaError::kNone);
  CHECK(o.body == kLanOfferRewritten);

  const auto reserves = h.reserves();
  REQUIRE(reserves.size() == 1);
  const fcp::ReserveRequest& r = reserves[0];
  CHECK(r.agent == "edge-1");
  CHECK(r.group_id == s->group_id());
  CHECK(r.private_endpoint == ep("10.0.0.2:4000"));
  CHECK(r.port_count == 2);
  CHECK(r.parity == fcp::Parity::kEven);
  CHECK(r.protocol == fcp::Protocol::kUdp);
  CHECK(r.lease.liveness == fcp::Liveness::kSession);
  CHECK(r.lease.idle_timeout == 120s);
  CHECK(r.natural_key.size() == 64);
  // Group id: 128-bit hash, no raw SIP text.
  CHECK(s->group_id().size() == 32);
  CHECK(s->group_id() == MediaSession::make_group_id("a84b4c76e66710@pc33.example.com", "1928301774"));
  CHECK(s->group_id() != MediaSession::make_group_id("a84b4c76e66710@pc33.example.com", "1928301775"));
  CHECK(s->group_id().find("pc33") == std::string::npos);
  CHECK(h.enables().empty());  // nothing is opened before the answer
  CHECK(s->offer_outstanding());

  const MediaResult a = h.answer(*s, wan_sdp(), wan_callee());
  CHECK(a.action == MediaAction::kPassThrough);
  CHECK(a.body == wan_sdp());
  const auto enables = h.enables();
  REQUIRE(enables.size() == 1);
  CHECK(std::get<fcp::BindingRef>(enables[0].binding) == ref("1"));
  CHECK(enables[0].remotes == std::vector{fcp::RemotePeer{ip("198.51.100.7"), 5000, 0}});
  CHECK(h.pinholes(ref("1")) == enables[0].remotes);
  CHECK(s->confirmed());
  CHECK_FALSE(s->offer_outstanding());

  const auto views = s->bindings();
  REQUIRE(views.size() == 1);
  CHECK(views[0].party == Party::kCaller);
  CHECK(views[0].public_endpoint == ep("203.0.113.1:40000"));
  CHECK(views[0].port_count == 2);
  CHECK(s->agents() == std::vector<std::string>{"edge-1"});

  s->release_all(EndReason::kBye);
  const auto rel = h.releases();
  REQUIRE(rel.size() == 1);
  CHECK(std::get<fcp::GroupRef>(rel[0].target) == fcp::GroupRef{"edge-1", s->group_id()});
  h.run();
  CHECK(h.fake.binding_count() == 0);
  CHECK(h.stats.offers == 1);
  CHECK(h.stats.answers == 1);
  CHECK(h.stats.rewritten == 1);
  CHECK(h.stats.unchanged == 1);
  CHECK(h.stats.reserves == 1);
  CHECK(h.stats.enables == 1);
  CHECK(h.stats.sessions_terminated == 1);
}

TEST_CASE("MediaSession: rtcp-mux reserves one port, a=rtcp elsewhere two bindings", "[media][session]") {
  Harness h;
  SECTION("rtcp-mux (RFC 5761): port_count 1") {
    auto s = h.session();
    const std::string offer = body_of({"v=0", "o=- 1 1 IN IP4 10.0.0.2", "s=-", "c=IN IP4 10.0.0.2", "t=0 0",
                                   "m=audio 4000 RTP/AVP 0", "a=rtcp-mux"});
    const MediaResult o = h.offer(*s, offer, lan_caller());
    REQUIRE(o.action == MediaAction::kForward);
    CHECK(o.body == body_of({"v=0", "o=- 1 2 IN IP4 203.0.113.1", "s=-", "c=IN IP4 203.0.113.1", "t=0 0",
                         "m=audio 40000 RTP/AVP 0", "a=rtcp-mux"}));
    REQUIRE(h.reserves().size() == 1);
    CHECK(h.reserves()[0].port_count == 1);
    CHECK(h.reserves()[0].parity == fcp::Parity::kAny);
    h.answer(*s, wan_sdp("198.51.100.7", 5000, "a=rtcp-mux"), wan_callee());
    CHECK(h.pinholes(ref("1")) == std::vector{fcp::RemotePeer{ip("198.51.100.7"), 5000, 0}});
  }
  SECTION("a=rtcp on a non-adjacent port (RFC 3605): RTP and RTCP bindings") {
    auto s = h.session();
    const std::string offer = body_of({"v=0", "o=- 1 1 IN IP4 10.0.0.2", "s=-", "c=IN IP4 10.0.0.2", "t=0 0",
                                   "m=audio 4000 RTP/AVP 0", "a=rtcp:4010"});
    const MediaResult o = h.offer(*s, offer, lan_caller());
    REQUIRE(o.action == MediaAction::kForward);
    const auto reserves = h.reserves();
    REQUIRE(reserves.size() == 2);
    CHECK(reserves[0].private_endpoint == ep("10.0.0.2:4000"));
    CHECK(reserves[0].port_count == 1);
    CHECK(reserves[1].private_endpoint == ep("10.0.0.2:4010"));
    CHECK(reserves[1].port_count == 1);
    CHECK(o.body == body_of({"v=0", "o=- 1 2 IN IP4 203.0.113.1", "s=-", "c=IN IP4 203.0.113.1", "t=0 0",
                         "m=audio 40000 RTP/AVP 0", "a=rtcp:40001"}));
    // The WAN answer with its own a=rtcp: RTP hole for 5000, RTCP hole for 5011.
    h.answer(*s, wan_sdp("198.51.100.7", 5000, "a=rtcp:5011"), wan_callee());
    CHECK(h.pinholes(ref("1")) == std::vector{fcp::RemotePeer{ip("198.51.100.7"), 5000, 0}});
    CHECK(h.pinholes(ref("2")) == std::vector{fcp::RemotePeer{ip("198.51.100.7"), 5011, 0}});
  }
}

TEST_CASE("MediaSession: WAN caller to LAN callee rewrites the answer and opens holes for the offerer",
          "[media][session]") {
  Harness h;
  auto s = h.session();
  SignalContext wan_caller;
  wan_caller.from = Party::kCaller;
  wan_caller.source = ep("198.51.100.7:5060");
  wan_caller.cseq = 7;
  const std::string offer = wan_sdp("198.51.100.7", 5000, "a=rtcp:5001");
  const MediaResult o = h.offer(*s, offer, wan_caller);
  CHECK(o.action == MediaAction::kPassThrough);
  CHECK(o.body == offer);
  CHECK(h.reserves().empty());

  const std::string lan_answer = body_of({"v=0", "o=carol 5 5 IN IP4 10.0.0.5", "s=-", "c=IN IP4 10.0.0.5", "t=0 0",
                                      "m=audio 6000 RTP/AVP 0", "a=candidate:1 1 UDP 2130706431 10.0.0.5 6000 typ host"});
  SignalContext lan_callee;
  lan_callee.from = Party::kCallee;
  lan_callee.source = ep("10.0.0.5:5060");
  lan_callee.fork = "carol-tag";
  lan_callee.cseq = 7;
  const MediaResult a = h.answer(*s, lan_answer, lan_callee);
  REQUIRE(a.action == MediaAction::kForward);
  // ICE stripped (no LAN candidate leaks), o= hidden and bumped.
  CHECK(a.body == body_of({"v=0", "o=carol 5 6 IN IP4 203.0.113.1", "s=-", "c=IN IP4 203.0.113.1", "t=0 0",
                       "m=audio 40000 RTP/AVP 0"}));
  REQUIRE(h.reserves().size() == 1);
  CHECK(h.reserves()[0].private_endpoint == ep("10.0.0.5:6000"));
  CHECK(h.reserves()[0].port_count == 2);
  const auto enables = h.enables();
  REQUIRE(enables.size() == 1);
  CHECK(enables[0].remotes == std::vector{fcp::RemotePeer{ip("198.51.100.7"), 5000, 0}});
  CHECK(s->bindings().at(0).party == Party::kCallee);
  CHECK(s->bindings().at(0).fork == "carol-tag");
}

TEST_CASE("MediaSession: far end behind a home NAT is latched on its signalling IP only", "[media][session]") {
  Harness h;
  auto s = h.session();
  REQUIRE(h.offer(*s, kLanOffer, lan_caller()).action == MediaAction::kForward);

  SECTION("private SDP address: latch on the source IP") {
    const MediaResult a = h.answer(*s, wan_sdp("192.168.1.20", 7078), wan_callee(1, "t", "198.51.100.20:5062"));
    CHECK(a.action == MediaAction::kPassThrough);
    CHECK(h.pinholes(ref("1")) == std::vector{fcp::RemotePeer::latch(ip("198.51.100.20"))});
    CHECK(h.stats.latches == 1);
  }
  SECTION("public SDP address that is not the signalling source: latch on the source IP") {
    h.answer(*s, wan_sdp("198.51.100.30", 7078), wan_callee(1, "t", "198.51.100.20:5062"));
    CHECK(h.pinholes(ref("1")) == std::vector{fcp::RemotePeer::latch(ip("198.51.100.20"))});
  }
  SECTION("a trusted trunk keeps its SDP address exactly") {
    SignalContext trunk = wan_callee(1, "t", "198.51.100.20:5062");
    trunk.trust_sdp_address = true;
    h.answer(*s, wan_sdp("198.51.100.30", 7078), trunk);
    CHECK(h.pinholes(ref("1")) == std::vector{fcp::RemotePeer{ip("198.51.100.30"), 7078, 0}});
    CHECK(h.stats.latches == 0);
  }
  SECTION("a home NAT inside our own prefix stays outside when the realm says so") {
    SignalContext c = wan_callee(1, "t", "198.51.100.20:5062");
    c.realm = Realm::kOutside;
    h.answer(*s, wan_sdp("10.1.2.3", 7078), c);
    CHECK(h.reserves().size() == 1);  // no binding for the remote's 10.1.2.3
    CHECK(h.pinholes(ref("1")) == std::vector{fcp::RemotePeer::latch(ip("198.51.100.20"))});
  }
}

TEST_CASE("MediaSession: WAN caller behind NAT, LAN callee's binding latches on the caller's IP", "[media][session]") {
  Harness h;
  auto s = h.session();
  SignalContext natted;
  natted.from = Party::kCaller;
  natted.source = ep("198.51.100.20:40123");
  natted.realm = Realm::kOutside;
  h.offer(*s, wan_sdp("192.168.1.20", 7078), natted);
  SignalContext lan_callee;
  lan_callee.from = Party::kCallee;
  lan_callee.fork = "x";
  const MediaResult a = h.answer(*s, wan_sdp("10.0.0.5", 6000), lan_callee);
  CHECK(a.action == MediaAction::kForward);
  CHECK(h.pinholes(ref("1")) == std::vector{fcp::RemotePeer::latch(ip("198.51.100.20"))});
}

TEST_CASE("MediaSession: early media, then 200 with the same or another SDP", "[media][session]") {
  Harness h;
  auto s = h.session();
  REQUIRE(h.offer(*s, kLanOffer, lan_caller()).action == MediaAction::kForward);
  const MediaResult early = h.answer(*s, wan_sdp(), wan_callee(), AnswerKind::kProvisional);
  CHECK(early.action == MediaAction::kPassThrough);
  CHECK(h.pinholes(ref("1")) == std::vector{fcp::RemotePeer{ip("198.51.100.7"), 5000, 0}});
  CHECK_FALSE(s->confirmed());
  CHECK(s->offer_outstanding());

  SECTION("same SDP: nothing changes") {
    h.answer(*s, wan_sdp(), wan_callee(), AnswerKind::kFinal);
    CHECK(h.enables().size() == 1);
    CHECK(s->confirmed());
  }
  SECTION("another port: the pinhole is replaced") {
    h.answer(*s, wan_sdp("198.51.100.7", 5002, {}, "2"), wan_callee(), AnswerKind::kFinal);
    REQUIRE(h.enables().size() == 2);
    CHECK(h.pinholes(ref("1")) == std::vector{fcp::RemotePeer{ip("198.51.100.7"), 5002, 0}});
    CHECK(s->confirmed());
  }
  SECTION("a 200 without SDP confirms the early answer (RFC 3262)") {
    const MediaResult fin = h.answer(*s, "", wan_callee(), AnswerKind::kFinal, "");
    CHECK(fin.action == MediaAction::kPassThrough);
    CHECK(h.enables().size() == 1);
    CHECK(s->confirmed());
  }
  SECTION("a retransmitted 183 is answered from the cache") {
    const MediaResult again = h.answer(*s, wan_sdp(), wan_callee(), AnswerKind::kProvisional);
    CHECK(again.body == early.body);
    CHECK(h.stats.retransmissions == 1);
    CHECK(h.enables().size() == 1);
  }
}

TEST_CASE("MediaSession: forked early answers all get holes until the 2xx picks one", "[media][session]") {
  Harness h;
  auto s = h.session();
  REQUIRE(h.offer(*s, kLanOffer, lan_caller()).action == MediaAction::kForward);
  h.answer(*s, wan_sdp("198.51.100.7", 5000), wan_callee(1, "fork-a", "198.51.100.7:5060"), AnswerKind::kProvisional);
  h.answer(*s, wan_sdp("198.51.100.8", 6000), wan_callee(1, "fork-b", "198.51.100.8:5060"), AnswerKind::kProvisional);
  CHECK(h.pinholes(ref("1")) == std::vector{fcp::RemotePeer{ip("198.51.100.7"), 5000, 0},
                                            fcp::RemotePeer{ip("198.51.100.8"), 6000, 0}});
  h.answer(*s, wan_sdp("198.51.100.8", 6000), wan_callee(1, "fork-b", "198.51.100.8:5060"), AnswerKind::kFinal);
  CHECK(h.pinholes(ref("1")) == std::vector{fcp::RemotePeer{ip("198.51.100.8"), 6000, 0}});
  CHECK(h.enables().size() == 3);
  // A late 18x from the losing fork changes nothing.
  const MediaResult stray =
      h.answer(*s, wan_sdp("198.51.100.7", 5000), wan_callee(1, "fork-a", "198.51.100.7:5060"), AnswerKind::kProvisional);
  CHECK(stray.error == MediaError::kNoOffer);
  CHECK(h.enables().size() == 3);
}

TEST_CASE("MediaSession: forked LAN answerers each get a binding, the losers are released", "[media][session]") {
  Harness h;
  auto s = h.session();
  SignalContext wan_caller;
  wan_caller.from = Party::kCaller;
  wan_caller.source = ep("198.51.100.7:5060");
  h.offer(*s, wan_sdp(), wan_caller);
  SignalContext fork_a;
  fork_a.from = Party::kCallee;
  fork_a.fork = "a";
  SignalContext fork_b = fork_a;
  fork_b.fork = "b";
  const MediaResult ea = h.answer(*s, wan_sdp("10.0.0.5", 6000), fork_a, AnswerKind::kProvisional);
  const MediaResult eb = h.answer(*s, wan_sdp("10.0.0.6", 6000), fork_b, AnswerKind::kProvisional);
  CHECK(ea.body.find("m=audio 40000 ") != std::string::npos);
  CHECK(eb.body.find("m=audio 40002 ") != std::string::npos);
  CHECK(h.fake.binding_count() == 2);
  h.answer(*s, wan_sdp("10.0.0.6", 6000), fork_b, AnswerKind::kFinal);
  h.run();
  CHECK(h.fake.binding_count() == 1);
  CHECK(h.fake.binding(ref("2")).has_value());
  const auto rel = h.releases();
  REQUIRE(rel.size() == 1);
  CHECK(std::get<fcp::BindingRef>(rel[0].target) == ref("1"));
}

TEST_CASE("MediaSession: re-INVITE hold and resume keep bindings and pinholes", "[media][session]") {
  Harness h;
  auto s = h.session();
  establish_lan_to_wan(h, *s);

  SECTION("caller holds with a=sendonly, callee answers recvonly, then resume") {
    const std::string hold = body_of({"v=0", "o=alice 2890844526 2890844527 IN IP4 10.0.0.2", "s=-", "c=IN IP4 10.0.0.2",
                                  "t=0 0", "m=audio 4000 RTP/AVP 0 8", "a=rtpmap:0 PCMU/8000", "a=sendonly"});
    const MediaResult o = h.offer(*s, hold, lan_caller(2));
    REQUIRE(o.action == MediaAction::kForward);
    CHECK(o.body == body_of({"v=0", "o=alice 2890844526 2890844528 IN IP4 203.0.113.1", "s=-", "c=IN IP4 203.0.113.1",
                         "t=0 0", "m=audio 40000 RTP/AVP 0 8", "a=rtpmap:0 PCMU/8000", "a=sendonly"}));
    h.answer(*s, wan_sdp("198.51.100.7", 5000, "a=recvonly", "2"), wan_callee(2));
    CHECK(h.reserves().size() == 1);
    CHECK(h.enables().size() == 1);
    CHECK(h.stats.bindings_reused == 1);
    CHECK(h.pinholes(ref("1")) == std::vector{fcp::RemotePeer{ip("198.51.100.7"), 5000, 0}});
    // Resume.
    const MediaResult r = h.offer(*s, kLanOffer, lan_caller(3));
    CHECK(r.body == kLanOfferRewritten);
    h.answer(*s, wan_sdp("198.51.100.7", 5000, {}, "3"), wan_callee(3));
    CHECK(h.reserves().size() == 1);
    CHECK(h.enables().size() == 1);
    CHECK(h.fake.binding_count() == 1);
  }
  SECTION("caller holds with c=0.0.0.0 (RFC 3264 §8.4): the binding is kept, the marker too") {
    const std::string hold = body_of({"v=0", "o=alice 2890844526 2890844527 IN IP4 10.0.0.2", "s=-", "c=IN IP4 0.0.0.0",
                                  "t=0 0", "m=audio 4000 RTP/AVP 0 8", "a=rtpmap:0 PCMU/8000"});
    const MediaResult o = h.offer(*s, hold, lan_caller(2));
    REQUIRE(o.action == MediaAction::kForward);
    CHECK(o.body == body_of({"v=0", "o=alice 2890844526 2890844528 IN IP4 203.0.113.1", "s=-", "c=IN IP4 0.0.0.0",
                         "t=0 0", "m=audio 40000 RTP/AVP 0 8", "a=rtpmap:0 PCMU/8000"}));
    h.answer(*s, wan_sdp("198.51.100.7", 5000, {}, "2"), wan_callee(2));
    CHECK(h.reserves().size() == 1);
    CHECK(h.enables().size() == 1);
    CHECK(h.fake.binding_count() == 1);
  }
  SECTION("callee holds with c=0.0.0.0: no pinhole for 0.0.0.0, resume restores nothing to change") {
    SignalContext callee = wan_callee(1);
    const std::string hold = wan_sdp("0.0.0.0", 5000, {}, "2");
    const MediaResult o = h.offer(*s, hold, callee);
    CHECK(o.action == MediaAction::kPassThrough);
    const MediaResult a = h.answer(*s, kLanOffer, lan_caller(1));
    CHECK(a.action == MediaAction::kForward);
    CHECK(a.body == kLanOfferRewritten);
    CHECK(h.enables().size() == 1);
    CHECK(h.pinholes(ref("1")) == std::vector{fcp::RemotePeer{ip("198.51.100.7"), 5000, 0}});
    SignalContext resume = wan_callee(2);
    h.offer(*s, wan_sdp("198.51.100.7", 5000, {}, "3"), resume);
    h.answer(*s, kLanOffer, lan_caller(2));
    CHECK(h.enables().size() == 1);
    CHECK(h.reserves().size() == 1);
  }
}

TEST_CASE("MediaSession: re-INVITE changing the remote port replaces the pinhole", "[media][session]") {
  Harness h;
  auto s = h.session();
  establish_lan_to_wan(h, *s);
  // The callee moves its media to 5004 in a re-INVITE (an offer from the callee).
  const MediaResult o = h.offer(*s, wan_sdp("198.51.100.7", 5004, {}, "2"), wan_callee(1));
  CHECK(o.action == MediaAction::kPassThrough);
  const MediaResult a = h.answer(*s, kLanOffer, lan_caller(1));
  CHECK(a.body == kLanOfferRewritten);
  const auto enables = h.enables();
  REQUIRE(enables.size() == 2);
  CHECK(enables[1].remotes == std::vector{fcp::RemotePeer{ip("198.51.100.7"), 5004, 0}});
  CHECK(h.pinholes(ref("1")) == std::vector{fcp::RemotePeer{ip("198.51.100.7"), 5004, 0}});  // old one closed
  CHECK(h.reserves().size() == 1);
}

TEST_CASE("MediaSession: re-INVITE moving the LAN endpoint swaps bindings after the answer", "[media][session]") {
  Harness h;
  auto s = h.session();
  establish_lan_to_wan(h, *s);
  const std::string moved = body_of({"v=0", "o=alice 2890844526 2890844527 IN IP4 10.0.0.2", "s=-", "c=IN IP4 10.0.0.2",
                                 "t=0 0", "m=audio 4002 RTP/AVP 0 8", "a=rtpmap:0 PCMU/8000"});
  const MediaResult o = h.offer(*s, moved, lan_caller(2));
  REQUIRE(o.action == MediaAction::kForward);
  CHECK(o.body.find("m=audio 40002 RTP/AVP 0 8\r\n") != std::string::npos);
  CHECK(h.fake.binding_count() == 2);  // old and new until the exchange completes

  SECTION("answered: the old binding is released, the new one gets the hole") {
    h.answer(*s, wan_sdp("198.51.100.7", 5000, {}, "2"), wan_callee(2));
    h.run();
    CHECK(h.fake.binding_count() == 1);
    CHECK_FALSE(h.fake.binding(ref("1")).has_value());
    CHECK(h.pinholes(ref("2")) == std::vector{fcp::RemotePeer{ip("198.51.100.7"), 5000, 0}});
  }
  SECTION("refused (488): the new binding is released, the old one stays") {
    s->on_offer_failed(488);
    h.run();
    CHECK(h.fake.binding_count() == 1);
    CHECK(h.fake.binding(ref("1")).has_value());
    CHECK_FALSE(s->released());
    CHECK_FALSE(s->offer_outstanding());
  }
}

TEST_CASE("MediaSession: every ending releases the group exactly once", "[media][session]") {
  const auto reason = GENERATE(EndReason::kBye, EndReason::kCancel, EndReason::kFailure,
                               EndReason::kTransactionTimeout, EndReason::kDialogExpired);
  Harness h;
  auto s = h.session();
  REQUIRE(h.offer(*s, kLanOffer, lan_caller()).action == MediaAction::kForward);
  if (reason == EndReason::kBye || reason == EndReason::kDialogExpired) {
    h.answer(*s, wan_sdp(), wan_callee());
  }
  s->release_all(reason);
  s->release_all(reason);
  s->on_offer_failed(500);
  h.run();
  REQUIRE(h.releases().size() == 1);
  CHECK(std::get<fcp::GroupRef>(h.releases()[0].target).group_id == s->group_id());
  CHECK(h.fake.binding_count() == 0);
  CHECK(s->released());
  // Later offers are refused.
  const MediaResult late = h.offer(*s, kLanOffer, lan_caller(9));
  CHECK(late.status == 481);
  CHECK(h.reserves().size() == 1);
  s.reset();
  h.run();
  CHECK(h.releases().size() == 1);  // the destructor does not release again
}

TEST_CASE("MediaSession: a final failure (486/603/408) of the initial INVITE releases the group once",
          "[media][session]") {
  const int status = GENERATE(486, 603, 408, 487);
  Harness h;
  auto s = h.session();
  REQUIRE(h.offer(*s, kLanOffer, lan_caller()).action == MediaAction::kForward);
  h.answer(*s, wan_sdp(), wan_callee(), AnswerKind::kProvisional);  // ringing with early media
  s->on_offer_failed(status);
  s->release_all(EndReason::kFailure);
  h.run();
  REQUIRE(h.releases().size() == 1);
  CHECK(h.fake.binding_count() == 0);
}

TEST_CASE("MediaSession: a retransmitted INVITE never reserves twice", "[media][session]") {
  Harness h;
  h.fake.set_latency(100ms);
  auto s = h.session();
  std::vector<MediaResult> results;
  s->on_offer(kLanOffer, "application/sdp", lan_caller(), [&](MediaResult r) { results.push_back(std::move(r)); });
  s->on_offer(kLanOffer, "application/sdp", lan_caller(), [&](MediaResult r) { results.push_back(std::move(r)); });
  h.run();
  CHECK(results.empty());
  h.advance(100ms);
  REQUIRE(results.size() == 2);
  CHECK(results[0].body == kLanOfferRewritten);
  CHECK(results[1].body == kLanOfferRewritten);
  // Once the offer was answered to the caller, too (the transaction layer normally absorbs these).
  h.fake.set_latency(0ms);
  const MediaResult again = h.offer(*s, kLanOffer, lan_caller());
  CHECK(again.body == kLanOfferRewritten);
  CHECK(h.fake.count(Op::kReserve) == 1);
  CHECK(h.stats.retransmissions == 2);
  // Our own rewritten offer coming back (spiral) is forwarded as it is.
  const MediaResult spiral = h.offer(*s, kLanOfferRewritten, lan_caller());
  CHECK(spiral.action == MediaAction::kPassThrough);
  CHECK(h.fake.count(Op::kReserve) == 1);
  // A retransmitted 200 OK: cached, no second enable.
  h.answer(*s, wan_sdp(), wan_callee());
  h.answer(*s, wan_sdp(), wan_callee());
  CHECK(h.fake.count(Op::kEnable) == 1);
}

TEST_CASE("MediaSession: FCP failure mid-offer releases what was reserved and answers 503/500", "[media][session]") {
  const std::string two_streams = body_of({"v=0", "o=- 1 1 IN IP4 10.0.0.2", "s=-", "c=IN IP4 10.0.0.2", "t=0 0",
                                       "m=audio 4000 RTP/AVP 0", "m=video 4002 RTP/AVP 96"});
  SECTION("stream 2 finds no port (NO_PORTS, retry after 30 s): 503 Retry-After 30") {
    testing::FakeFcpClientOptions small;
    small.first_port = 40000;
    small.last_port = 40001;
    Harness h(small);
    auto s = h.session();
    const MediaResult o = h.offer(*s, two_streams, lan_caller());
    CHECK(o.action == MediaAction::kReject);
    CHECK(o.status == 503);
    CHECK(o.error == MediaError::kFcpFailed);
    REQUIRE(o.retry_after.has_value());
    CHECK(*o.retry_after == 30s);
    h.run();
    CHECK(h.fake.binding_count() == 0);
    CHECK(s->released());  // a failed initial offer ends the call
    CHECK(h.stats.fcp_failures == 1);
  }
  SECTION("the agent refuses stream 1 (kNever): 500, stream 2 released") {
    Harness h;
    h.fake.fail_next(Op::kReserve, FakeFcpClient::error(ErrorCode::kInvalidArgument, fcp::FcpReason::kInvalidField,
                                                        "bad field"));
    auto s = h.session();
    const MediaResult o = h.offer(*s, two_streams, lan_caller());
    CHECK(o.status == 500);
    CHECK_FALSE(o.retry_after.has_value());
    h.run();
    CHECK(h.fake.binding_count() == 0);
    // A retransmission gets the same answer without new reserves.
    CHECK(h.offer(*s, two_streams, lan_caller()).status == 500);
    CHECK(h.fake.count(Op::kReserve) == 2);
  }
}

TEST_CASE("MediaSession: FCP timeout answers 503 and releases late bindings", "[media][session]") {
  Harness h;
  h.policy.retry_after = 7s;
  h.fake.set_latency(2s);
  auto s = h.session();
  std::optional<MediaResult> out;
  s->on_offer(kLanOffer, "application/sdp", lan_caller(), [&](MediaResult r) { out = std::move(r); });
  h.run();
  h.advance(1499ms);
  CHECK_FALSE(out.has_value());
  h.advance(1ms);
  REQUIRE(out.has_value());
  CHECK(out->status == 503);
  CHECK(out->error == MediaError::kFcpTimeout);
  CHECK(out->retry_after == std::optional<std::chrono::seconds>(7s));
  CHECK(s->released());
  // The reserve answers late: the binding is released at once.
  h.advance(1s);
  h.advance(2s);
  CHECK(h.fake.binding_count() == 0);
  CHECK(h.stats.late_bindings_released == 1);
  CHECK(h.stats.fcp_timeouts == 1);
}

TEST_CASE("MediaSession: destroying the session mid-reserve leaves nothing behind", "[media][session]") {
  Harness h;
  h.fake.set_latency(50ms);
  auto s = h.session();
  bool called = false;
  s->on_offer(kLanOffer, "application/sdp", lan_caller(), [&](MediaResult) { called = true; });
  h.run();
  s.reset();
  h.advance(50ms);
  h.advance(50ms);
  CHECK_FALSE(called);
  CHECK(h.fake.binding_count() == 0);
}

TEST_CASE("MediaSession: bad SDP per policy", "[media][session]") {
  Harness h;
  const std::string no_c = body_of({"v=0", "o=- 1 1 IN IP4 10.0.0.2", "s=-", "t=0 0", "m=audio 4000 RTP/AVP 0"});
  const std::string e164 = body_of({"v=0", "o=- 1 1 IN IP4 10.0.0.2", "s=-", "c=TN RFC2543 +15551234567", "t=0 0",
                                "m=audio 4000 RTP/AVP 0"});
  SECTION("missing c=: 488 with a Warning, or passed through") {
    auto s = h.session();
    const MediaResult r = h.offer(*s, no_c, lan_caller());
    CHECK(r.action == MediaAction::kReject);
    CHECK(r.status == 488);
    CHECK(r.reason == "Not Acceptable Here");
    CHECK(r.error == MediaError::kBadSdp);
    REQUIRE(r.warning.has_value());
    CHECK(r.warning->to_header_value("sbc.example.com") == "399 sbc.example.com \"Malformed session description\"");
    h.policy.malformed = BadBodyAction::kPassThrough;
    auto s2 = h.session("other-call");
    const MediaResult p = h.offer(*s2, no_c, lan_caller());
    CHECK(p.action == MediaAction::kPassThrough);
    CHECK(p.body == no_c);
    CHECK(p.error == MediaError::kBadSdp);
    CHECK(h.reserves().empty());
  }
  SECTION("unknown network type: 488 / 300, or passed through") {
    auto s = h.session();
    const MediaResult r = h.offer(*s, e164, lan_caller());
    CHECK(r.status == 488);
    CHECK(r.error == MediaError::kUnsupported);
    REQUIRE(r.warning.has_value());
    CHECK(r.warning->code == 300);
    h.policy.unsupported = BadBodyAction::kPassThrough;
    auto s2 = h.session("other-call");
    const MediaResult p = h.offer(*s2, e164, lan_caller());
    CHECK(p.action == MediaAction::kPassThrough);
    CHECK(p.body == e164);
  }
  SECTION("port 0 streams: no binding, port 0 kept") {
    auto s = h.session();
    const std::string offer = body_of({"v=0", "o=- 1 1 IN IP4 10.0.0.2", "s=-", "c=IN IP4 10.0.0.2", "t=0 0",
                                   "m=audio 4000 RTP/AVP 0", "m=video 0 RTP/AVP 96"});
    const MediaResult o = h.offer(*s, offer, lan_caller());
    CHECK(o.body == body_of({"v=0", "o=- 1 2 IN IP4 203.0.113.1", "s=-", "c=IN IP4 203.0.113.1", "t=0 0",
                         "m=audio 40000 RTP/AVP 0", "m=video 0 RTP/AVP 96"}));
    CHECK(h.reserves().size() == 1);
  }
  SECTION("an answer rejecting a stream releases that stream's binding") {
    auto s = h.session();
    const std::string offer = body_of({"v=0", "o=- 1 1 IN IP4 10.0.0.2", "s=-", "c=IN IP4 10.0.0.2", "t=0 0",
                                   "m=audio 4000 RTP/AVP 0", "m=video 4002 RTP/AVP 96"});
    h.offer(*s, offer, lan_caller());
    CHECK(h.fake.binding_count() == 2);
    h.answer(*s, body_of({"v=0", "o=bob 1 1 IN IP4 198.51.100.7", "s=-", "c=IN IP4 198.51.100.7", "t=0 0",
                      "m=audio 5000 RTP/AVP 0", "m=video 0 RTP/AVP 96"}),
             wan_callee());
    h.run();
    CHECK(h.fake.binding_count() == 1);
    CHECK(h.fake.binding(ref("1")).has_value());
    CHECK(h.pinholes(ref("1")) == std::vector{fcp::RemotePeer{ip("198.51.100.7"), 5000, 0}});
  }
  SECTION("an answer with another number of m= lines is refused (RFC 3264 §6)") {
    auto s = h.session();
    h.offer(*s, kLanOffer, lan_caller());
    const std::string two = body_of({"v=0", "o=bob 1 1 IN IP4 198.51.100.7", "s=-", "c=IN IP4 198.51.100.7", "t=0 0",
                                 "m=audio 5000 RTP/AVP 0", "m=video 5002 RTP/AVP 96"});
    const MediaResult a = h.answer(*s, two, wan_callee());
    CHECK(a.action == MediaAction::kReject);
    CHECK(a.error == MediaError::kUnsupported);
    h.run();
    CHECK(s->released());  // a 2xx whose media we cannot set up: the group goes
    CHECK(h.fake.binding_count() == 0);
  }
  SECTION("a LAN party whose stream no agent serves: 488") {
    auto s = h.session();
    SignalContext inside = lan_caller();
    inside.realm = Realm::kInside;
    const MediaResult r = h.offer(*s, wan_sdp("192.0.2.50", 4000), inside);
    CHECK(r.status == 488);
    CHECK(r.error == MediaError::kNoRoute);
    CHECK(h.stats.rejected_no_route == 1);
  }
}

TEST_CASE("MediaSession: stream limit", "[media][session]") {
  Harness h;
  std::string twenty = "v=0\r\no=- 1 1 IN IP4 10.0.0.2\r\ns=-\r\nc=IN IP4 10.0.0.2\r\nt=0 0\r\n";
  for (int i = 0; i < 20; ++i) {
    twenty += "m=audio " + std::to_string(4000 + 2 * i) + " RTP/AVP 0\r\n";
  }
  SECTION("20 m= lines over the default limit of 8: 488") {
    auto s = h.session();
    const MediaResult r = h.offer(*s, twenty, lan_caller());
    CHECK(r.status == 488);
    CHECK(r.error == MediaError::kTooManyStreams);
    CHECK(h.stats.rejected_stream_limit == 1);
    CHECK(h.reserves().empty());
  }
  SECTION("over the limit, passed through by policy") {
    h.policy.over_limit = BadBodyAction::kPassThrough;
    auto s = h.session();
    const MediaResult r = h.offer(*s, twenty, lan_caller());
    CHECK(r.action == MediaAction::kPassThrough);
    CHECK(r.body == twenty);
    CHECK(h.reserves().empty());
  }
  SECTION("a limit of 2 with 3 streams") {
    h.policy.max_streams = 2;
    auto s = h.session();
    const std::string three = body_of({"v=0", "o=- 1 1 IN IP4 10.0.0.2", "s=-", "c=IN IP4 10.0.0.2", "t=0 0",
                                   "m=audio 4000 RTP/AVP 0", "m=audio 4002 RTP/AVP 0", "m=audio 4004 RTP/AVP 0"});
    CHECK(h.offer(*s, three, lan_caller()).status == 488);
    h.policy.max_streams = 3;
    auto s2 = h.session("other");
    CHECK(h.offer(*s2, three, lan_caller()).action == MediaAction::kForward);
    CHECK(h.reserves().size() == 3);
  }
}

TEST_CASE("MediaSession: body types are filtered", "[media][session]") {
  Harness h;
  auto s = h.session();
  SECTION("non-SDP body: 415, or passed through") {
    const MediaResult r = h.offer(*s, "--b\r\n\r\n--b--\r\n", lan_caller(), "multipart/mixed;boundary=b");
    CHECK(r.status == 415);
    CHECK(r.error == MediaError::kContentType);
    h.policy.other_content_type = BadBodyAction::kPassThrough;
    auto s2 = h.session("x");
    const MediaResult p = h.offer(*s2, "hello", lan_caller(), "text/plain");
    CHECK(p.action == MediaAction::kPassThrough);
    CHECK(p.body == "hello");
    CHECK(h.reserves().empty());
  }
  SECTION("type matching ignores case and parameters") {
    const MediaResult r = h.offer(*s, kLanOffer, lan_caller(), "Application/SDP ; charset=utf-8");
    CHECK(r.action == MediaAction::kForward);
  }
  SECTION("an empty body (late offer) is passed through") {
    const MediaResult r = h.offer(*s, "", lan_caller(), "");
    CHECK(r.action == MediaAction::kPassThrough);
    CHECK_FALSE(s->offer_outstanding());
  }
}

TEST_CASE("MediaSession: late offer in the 2xx, answer in the ACK", "[media][session]") {
  Harness h;
  auto s = h.session();
  CHECK(h.offer(*s, "", lan_caller(), "").action == MediaAction::kPassThrough);
  const MediaResult o = h.offer(*s, wan_sdp(), wan_callee());
  CHECK(o.action == MediaAction::kPassThrough);
  const MediaResult a = h.answer(*s, kLanOffer, lan_caller(), AnswerKind::kFinal);
  CHECK(a.body == kLanOfferRewritten);
  CHECK(h.pinholes(ref("1")) == std::vector{fcp::RemotePeer{ip("198.51.100.7"), 5000, 0}});
  CHECK(s->confirmed());
}

TEST_CASE("MediaSession: crossing offers are refused (491 / 500 Retry-After)", "[media][session]") {
  Harness h;
  auto s = h.session();
  establish_lan_to_wan(h, *s);
  REQUIRE(h.offer(*s, kLanOffer, lan_caller(2)).action == MediaAction::kForward);
  const MediaResult glare = h.offer(*s, wan_sdp("198.51.100.7", 5000, {}, "2"), wan_callee(5));
  CHECK(glare.status == 491);
  const MediaResult same_side = h.offer(*s, kLanOffer, lan_caller(3));
  CHECK(same_side.status == 500);
  CHECK(same_side.retry_after == std::optional<std::chrono::seconds>(5s));
  CHECK(h.stats.rejected_glare == 2);
}

TEST_CASE("media keys: SHA-256 hex, length-prefixed fields", "[media][keys]") {
  CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(hash_fields({"ab", "c"}) != hash_fields({"a", "bc"}));
  CHECK(group_id_for("x", "y").size() == 32);
}
