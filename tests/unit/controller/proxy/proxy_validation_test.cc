// RFC 3261 §16.3 request validation and §16.4 route preprocessing through the whole core:
// 404, 483, 482 (RFC 5393), 416 and 420 (RFC 4475 unkscm.dat / bext01.dat), 400 (strict),
// strict routers on either side, OPTIONS to the proxy, the chain's WaitForEvent.
#include "tests/unit/controller/proxy/proxy_harness.h"

namespace portcullis::proxy::test {
namespace {

using sip::HeaderId;

const std::string kRfc4475 = std::string(PORTCULLIS_SHARED_DIR) + "/testdata/rfc4475/";

TEST_CASE("proxy: unknown user in our domain → 404", "[unit]") {
  Harness h;
  Request r;
  r.ruri = "sip:nobody@example.com";
  h.receive(r.text(), kAliceNat);
  auto out = h.expect({kAliceNat, kAliceNat});
  CHECK(out[0].start_line() == "SIP/2.0 100 Trying");
  CHECK(out[1].start_line() == "SIP/2.0 404 Not Found");
  CHECK(!out[1].to().tag().empty());
  CHECK(h.proxy().stats().not_found == 1);
}

TEST_CASE("proxy: Max-Forwards 0 → 483 — OPTIONS with Max-Forwards 0 answered 200", "[unit]") {
  Harness h;
  Request r;
  r.max_forwards = 0;
  h.receive(r.text(), kAliceNat);
  auto out = h.expect({kAliceNat, kAliceNat});
  CHECK(out[1].start_line() == "SIP/2.0 483 Too Many Hops");

  Request o;
  o.method = "OPTIONS";
  o.max_forwards = 0;
  o.via = "SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bK-o1;rport";
  h.receive(o.text(), kAliceNat);
  auto ok = h.expect({kAliceNat});
  CHECK(ok[0].start_line() == "SIP/2.0 200 OK");
  CHECK(value(ok[0], HeaderId::kAllow).find("INVITE") != std::string::npos);
  CHECK(h.proxy().stats().rejected_max_forwards == 1);
  CHECK(h.proxy().stats().options_answered == 1);
}

TEST_CASE("proxy: OPTIONS addressed to the proxy itself → 200 — other methods → 404", "[unit]") {
  Harness h;
  Request o;
  o.method = "OPTIONS";
  o.ruri = "sip:proxy.example.com";
  h.receive(o.text(), kAliceNat);
  auto ok = h.expect({kAliceNat});
  CHECK(ok[0].start_line() == "SIP/2.0 200 OK");
  CHECK(value(ok[0], HeaderId::kSupported) == "path");
}

TEST_CASE("proxy: a request that comes back unchanged is a loop → 482 (RFC 5393)", "[unit]") {
  Harness h;
  const Peer self = udp("192.0.2.10:5060");
  h.resolver.add("loop.example", {self});  // misconfigured DNS: points back at us
  Request r;
  r.ruri = "sip:carol@loop.example";
  r.to = "<sip:carol@loop.example>";
  h.receive(r.text(), kAliceNat);
  auto out = h.expect({kAliceNat, self});
  const std::string looped(out[1].message_bytes());

  // The forwarded INVITE arrives at us again.
  h.receive(looped, self);
  auto rej = h.expect({self, self});
  CHECK(rej[0].start_line() == "SIP/2.0 100 Trying");
  CHECK(rej[1].start_line() == "SIP/2.0 482 Loop Detected");
  CHECK(h.proxy().stats().rejected_loop == 1);

  // Its 482 reaches our first branch, which relays it to Alice.
  h.receive(std::string(rej[1].message_bytes()), self);
  auto back = h.expect({self, kAliceNat});
  CHECK(back[1].start_line() == "SIP/2.0 482 Loop Detected");
}

TEST_CASE("proxy: a spiral (same proxy, changed Request-URI) is not a loop", "[unit]") {
  Harness h;
  h.register_user("bob", "<sip:bob@10.0.0.3:5060>", kBobNat, "10.0.0.3:5060");
  const Peer self = udp("192.0.2.10:5060");
  h.resolver.add("alias.example", {self});
  Request r;
  r.ruri = "sip:bob@alias.example";  // → us again, now for example.com after a rewrite upstream
  h.receive(r.text(), kAliceNat);
  auto out = h.expect({kAliceNat, self});
  // Pretend the next hop rewrote the R-URI to our domain and sent it back (a spiral).
  std::string text(out[1].message_bytes());
  text.replace(text.find("sip:bob@alias.example"), std::string("sip:bob@alias.example").size(),
               "sip:bob@example.com");
  h.receive(text, self);
  auto spiral = h.expect({self, kBobNat});
  CHECK(spiral[1].start_line() == "INVITE sip:bob@10.0.0.3:5060 SIP/2.0");
  CHECK(values(spiral[1], HeaderId::kVia).size() == 3);  // us twice, then Alice
  CHECK(h.proxy().stats().rejected_loop == 0);
}

TEST_CASE("proxy: RFC 4475 unkscm.dat → 416 Unsupported URI Scheme", "[unit]") {
  Harness h;
  const Peer peer = tcp("198.51.100.9:5070", 5);
  h.receive(read_file(kRfc4475 + "unkscm.dat"), peer);
  auto out = h.expect({peer});
  CHECK(out[0].start_line() == "SIP/2.0 416 Unsupported URI Scheme");
  CHECK(h.proxy().stats().rejected_scheme == 1);
}

TEST_CASE("proxy: RFC 4475 bext01.dat → 420 with Unsupported from Proxy-Require", "[unit]") {
  Harness h;
  const Peer peer = Peer{TransportProtocol::kTls, ep("198.51.100.9:5071"), 6};
  h.receive(read_file(kRfc4475 + "bext01.dat"), peer);
  auto out = h.expect({peer});
  CHECK(out[0].start_line() == "SIP/2.0 420 Bad Extension");
  CHECK(value(out[0], HeaderId::kUnsupported) == "noProxiesSupportThis, norDoAnyProxiesSupportThis");
  // §18.2.1: the Via names a host, so we added received; the response carries it.
  CHECK(value(out[0], HeaderId::kVia) ==
        "SIP/2.0/TLS fold-and-staple.example.com;branch=z9hG4bKkdjuw;received=198.51.100.9");

  SECTION("a supported option tag passes") {
    ProxyConfig c = base_config();
    c.supported_options = {"noProxiesSupportThis", "norDoAnyProxiesSupportThis"};
    Harness h2(c);
    h2.receive(read_file(kRfc4475 + "bext01.dat"), peer);
    auto r = h2.expect({peer});
    CHECK(r[0].start_line() == "SIP/2.0 404 Not Found");  // j_user/user not registered
  }
}

TEST_CASE("proxy: strict mode answers 400 for a message failing validate_all", "[unit]") {
  ProxyConfig c = base_config();
  c.strict = true;
  Harness h(c);
  h.register_user("bob", "<sip:bob@10.0.0.3:5060>", kBobNat, "10.0.0.3:5060");
  Request r;
  r.extra = {"Expires: soon"};
  h.receive(r.text(), kAliceNat);
  auto out = h.expect({kAliceNat, kAliceNat});
  CHECK(out[1].start_line().substr(0, 12) == "SIP/2.0 400 ");
  CHECK(h.proxy().stats().rejected_malformed == 1);

  Harness lax;  // not strict: the bad Expires is not our business
  lax.register_user("bob", "<sip:bob@10.0.0.3:5060>", kBobNat, "10.0.0.3:5060");
  lax.receive(r.text(), kAliceNat);
  lax.expect({kAliceNat, kBobNat});
}

TEST_CASE("proxy: previous hop a strict router → R-URI restored from the last Route (§16.4)", "[unit]") {
  Harness h;
  h.resolver.add("biloxi.example", {kCarolServer});
  const Peer strict = udp("198.51.100.30:5060");
  Request r;
  r.ruri = "sip:192.0.2.10:5060;lr";  // our Record-Route URI, put there by a strict router
  r.via = "SIP/2.0/UDP 198.51.100.30:5060;branch=z9hG4bK-s1";
  r.to = "<sip:carol@biloxi.example>;tag=c-tag";
  r.from = "<sip:dave@example.org>;tag=d1";
  r.extra = {"Route: <sip:carol@biloxi.example>"};
  r.method = "BYE";
  h.receive(r.text(), strict);
  auto out = h.expect({kCarolServer});
  CHECK(out[0].start_line() == "BYE sip:carol@biloxi.example SIP/2.0");
  CHECK(out[0].find(HeaderId::kRoute) == nullptr);
}

TEST_CASE("proxy: next hop a strict router → R-URI moves to the end of Route (§16.6 step 6)", "[unit]") {
  Harness h;
  const Peer ss1 = udp("198.51.100.31:5060");
  h.resolver.add("ss1.biloxi.example", {ss1});
  Request r;
  r.ruri = "sip:carol@biloxi.example";
  r.to = "<sip:carol@biloxi.example>";
  r.extra = {"Route: <sip:ss1.biloxi.example>, <sip:ss2.biloxi.example;lr>"};
  h.receive(r.text(), kAliceNat);
  auto out = h.expect({kAliceNat, ss1});
  CHECK(out[1].start_line() == "INVITE sip:ss1.biloxi.example SIP/2.0");
  CHECK(values(out[1], HeaderId::kRoute) ==
        std::vector<std::string>{"<sip:ss2.biloxi.example;lr>", "<sip:carol@biloxi.example>"});
}

TEST_CASE("proxy: our own loose Route is popped, the rest kept (§16.4)", "[unit]") {
  Harness h;
  const Peer next = udp("198.51.100.40:5060");
  h.resolver.add("next.example", {next});
  Request r;
  r.ruri = "sip:carol@biloxi.example";
  r.extra = {"Route: <sip:proxy.example.com;lr>", "Route: <sip:next.example;lr>"};
  h.receive(r.text(), kAliceNat);
  auto out = h.expect({kAliceNat, next});
  CHECK(values(out[1], HeaderId::kRoute) == std::vector<std::string>{"<sip:next.example;lr>"});
  CHECK(out[1].start_line() == "INVITE sip:carol@biloxi.example SIP/2.0");
}

TEST_CASE("proxy: unresolvable next hop → 503 → 500 upstream", "[unit]") {
  Harness h;
  Request r;
  r.ruri = "sip:carol@nowhere.invalid";
  h.receive(r.text(), kAliceNat);
  auto out = h.expect({kAliceNat, kAliceNat});
  CHECK(out[1].start_line() == "SIP/2.0 500 Server Internal Error");
  CHECK(h.proxy().stats().resolve_failures == 1);
}

/// A processor that parks every request once (an asynchronous policy lookup).
class ParkOnce final : public RequestProcessor {
 public:
  std::string_view name() const override { return "park-once"; }
  ProcessorAction process(RequestContext& ctx) override {
    if (!parked_) {
      parked_ = true;
      parked_id = ctx.id();
      return ProcessorAction::kWaitForEvent;
    }
    return ProcessorAction::kContinue;
  }
  RequestId parked_id{0};

 private:
  bool parked_ = false;
};

TEST_CASE("proxy: a processor waiting for an event parks the request until resume()", "[unit]") {
  Harness h;
  h.register_user("bob", "<sip:bob@10.0.0.3:5060>", kBobNat, "10.0.0.3:5060");
  auto park = std::make_unique<ParkOnce>();
  ParkOnce& ref = *park;
  ProcessorChain& chain = h.proxy().request_chain();
  chain.insert(chain.find("target"), std::move(park));
  CHECK(chain.at(chain.find("park-once")).name() == "park-once");

  Request r;
  h.receive(r.text(), kAliceNat);
  h.expect({kAliceNat});  // 100 only
  h.proxy().resume(ref.parked_id);
  auto out = h.expect({kBobNat});
  CHECK(out[0].start_line() == "INVITE sip:bob@10.0.0.3:5060 SIP/2.0");
}

}  // namespace
}  // namespace portcullis::proxy::test
