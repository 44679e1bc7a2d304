// Topology hiding helpers (controller/proxy/topology.h): the keyed reversible codec, Call-ID
// hiding, and the SDP safety net.
#include <catch2/catch.hpp>

#include "common/net/ip_address.h"
#include "controller/proxy/topology.h"

using namespace portcullis;
using namespace portcullis::proxy;

TEST_CASE("topology codec round-trips, is deterministic and keyed") {
  const TopologyCodec a("secret-a");
  const TopologyCodec b("secret-b");
  const std::string plain = "sip:alice@10.0.0.2:5060;transport=udp";
  const std::string token = a.encode(plain);
  CHECK(token.find("10.0.0.2") == std::string::npos);
  CHECK(token.find_first_not_of("0123456789abcdef") == std::string::npos);
  CHECK(a.encode(plain) == token);  // every message of a dialog maps the same way
  REQUIRE(a.decode(token));
  CHECK(*a.decode(token) == plain);
  CHECK_FALSE(b.decode(token));  // another key: not ours
  CHECK_FALSE(a.decode("zz"));
  CHECK_FALSE(a.decode(""));
  CHECK_FALSE(a.decode(token.substr(0, token.size() - 2)));
}

TEST_CASE("call-id host is hidden and revealed") {
  const TopologyCodec c("k");
  const std::string hidden = c.hide_call_id("abc123@10.0.0.2");
  CHECK(hidden.starts_with("abc123@pch-"));
  CHECK(hidden.find("10.0.0.2") == std::string::npos);
  CHECK(c.hide_call_id(hidden) == hidden);  // idempotent
  CHECK(c.reveal_call_id(hidden) == "abc123@10.0.0.2");
  CHECK(c.hide_call_id("no-host") == "no-host");
  CHECK(c.reveal_call_id("x@203.0.113.5") == "x@203.0.113.5");
  CHECK(c.reveal_call_id("x@pch-00") == "x@pch-00");  // not a token of ours
}

TEST_CASE("sdp scrub replaces private o=, c= and a=rtcp addresses only") {
  const auto is_private = [](std::string_view a) {
    auto ip = net::IpAddress::parse(a);
    return ip.ok() && net::Prefix::parse("10.0.0.0/8")->contains(*ip);
  };
  const std::string body =
      "v=0\r\no=a 1 1 IN IP4 10.0.0.2\r\ns=-\r\nc=IN IP4 10.0.0.2/127\r\nt=0 0\r\n"
      "m=audio 0 RTP/AVP 0\r\na=rtcp:4001 IN IP4 10.0.0.2\r\nm=video 0 RTP/AVP 96\r\nc=IN IP4 198.51.100.9\r\n";
  auto out = scrub_sdp_addresses(body, is_private, "203.0.113.2");
  REQUIRE(out);
  CHECK(out->find("10.0.0.2") == std::string::npos);
  CHECK(out->find("o=a 1 1 IN IP4 203.0.113.2\r\n") != std::string::npos);
  CHECK(out->find("c=IN IP4 203.0.113.2/127\r\n") != std::string::npos);
  CHECK(out->find("a=rtcp:4001 IN IP4 203.0.113.2\r\n") != std::string::npos);
  CHECK(out->find("c=IN IP4 198.51.100.9\r\n") != std::string::npos);
  CHECK(out->size() == body.size() + 3 * (std::string("203.0.113.2").size() - std::string("10.0.0.2").size()));
  CHECK_FALSE(scrub_sdp_addresses("v=0\r\nc=IN IP4 198.51.100.9\r\n", is_private, "x"));
}

// ---- through the core: a LAN phone calls out, the WAN side sees none of the LAN ----

#include "tests/unit/controller/proxy/proxy_harness.h"

namespace portcullis::proxy::test {
namespace {

using sip::HeaderId;

bool mentions(const sip::SipMessage& m, std::string_view needle) {
  for (const auto& h : m.headers()) {
    if (h.value.find(needle) != std::string_view::npos) {
      return true;
    }
  }
  return false;
}

class RecordingHook final : public ResponseHook {
 public:
  bool on_response(const RequestContext&, const sip::SipMessage& response, const sip::Peer&,
                   ResponseDone done) override {
    if (response.status_code() != 200) {
      return false;
    }
    pending.push_back(std::move(done));
    return true;
  }
  void on_final(const RequestContext&, std::uint16_t status) override { finals.push_back(status); }
  std::vector<ResponseDone> pending;
  std::vector<std::uint16_t> finals;
};

}  // namespace

TEST_CASE("proxy: topology hiding toward the WAN and back", "[unit]") {
  ProxyConfig cfg = lan_wan_config();
  cfg.interfaces[0].hide_topology = true;
  cfg.topology_key = "test-key";
  Harness h(cfg);
  h.resolver.add("biloxi.example", {kCarolServer});
  const Peer alice_lan = udp("10.0.0.2:5060");
  Request r;
  r.ruri = "sip:carol@biloxi.example";
  r.to = "<sip:carol@biloxi.example>";
  r.via = "SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bK-l1;rport";
  h.receive(r.text(), alice_lan);
  auto out = h.expect({alice_lan, kCarolServer});
  const sip::SipMessage& fwd = out[1];
  INFO(fwd.start_line());
  CHECK(values(fwd, HeaderId::kVia).size() == 1);  // only ours
  CHECK_FALSE(mentions(fwd, "10.0.0."));
  CHECK(std::string(fwd.call_id()).starts_with("call-1@pch-"));
  const auto rr = values(fwd, HeaderId::kRecordRoute);
  REQUIRE(rr.size() == 2);
  CHECK(rr[0] == "<sip:192.0.2.10:5060;lr>");
  CHECK(rr[1].starts_with("<sip:192.0.2.10:5060;lr;pc-rr="));
  const std::string contact = value(fwd, HeaderId::kContact);
  CHECK(contact.starts_with("<sip:alice@192.0.2.10:5060;pc-ct="));

  // Carol answers: alice gets her own Via, her Call-ID and the real LAN-facing entry back.
  h.receive(answer(fwd, 200, "c-tag", "<sip:carol@198.51.100.20:5060>"), kCarolServer);
  auto ok = h.expect({alice_lan});
  CHECK(values(ok[0], HeaderId::kVia) ==
        std::vector<std::string>{"SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bK-l1;rport=5060;received=10.0.0.2"});
  CHECK(ok[0].call_id() == "call-1@10.0.0.2");
  CHECK(values(ok[0], HeaderId::kRecordRoute) ==
        std::vector<std::string>{"<sip:192.0.2.10:5060;lr>", "<sip:10.0.0.1:5060;lr;pc-flow=udp~10.0.0.2~5060>"});

  // Carol's BYE to the hidden Contact, along the hidden route set: alice's real contact, her flow.
  Request bye;
  bye.method = "BYE";
  bye.ruri = contact.substr(1, contact.size() - 2);
  bye.via = "SIP/2.0/UDP 198.51.100.20:5060;branch=z9hG4bK-c9";
  bye.from = "<sip:carol@biloxi.example>;tag=c-tag";
  bye.to = "<sip:alice@example.com>;tag=a-tag";
  bye.call_id = std::string(fwd.call_id());
  bye.contact.clear();
  bye.extra = {"Route: " + rr[0] + ", " + rr[1]};
  h.receive(bye.text(), kCarolServer);
  auto b = h.expect({alice_lan});
  CHECK(b[0].start_line() == "BYE sip:alice@10.0.0.2:5060 SIP/2.0");
  CHECK(b[0].call_id() == "call-1@10.0.0.2");
  CHECK(b[0].find(HeaderId::kRoute) == nullptr);
}

TEST_CASE("proxy: the response hook holds a 2xx, replaces its body and sees the final", "[unit]") {
  Harness h(lan_wan_config());
  RecordingHook hook;
  h.proxy().set_response_hook(&hook);
  h.resolver.add("biloxi.example", {kCarolServer});
  const Peer alice_lan = udp("10.0.0.2:5060");
  Request r;
  r.ruri = "sip:carol@biloxi.example";
  r.to = "<sip:carol@biloxi.example>";
  // Two Vias (a LAN proxy in front of alice): the response must carry both back, in order.
  r.via = "SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bK-p1, SIP/2.0/UDP 10.0.0.7:5060;branch=z9hG4bK-a1";
  h.receive(r.text(), alice_lan);
  auto out = h.expect({alice_lan, kCarolServer});
  h.receive(answer(out[1], 180, "c-tag"), kCarolServer);
  h.expect({alice_lan});  // not taken: forwarded at once
  h.receive(answer(out[1], 200, "c-tag", "<sip:carol@198.51.100.20:5060>"), kCarolServer);
  h.expect({});  // held by the hook
  REQUIRE(hook.pending.size() == 1);
  hook.pending[0](std::string("v=0\r\n"));
  h.proxy().advance(h.clock().now());  // any entry point pumps
  auto ok = h.expect({alice_lan});
  CHECK(ok[0].body() == "v=0\r\n");
  CHECK(values(ok[0], HeaderId::kVia) == std::vector<std::string>{"SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bK-p1",
                                                                  "SIP/2.0/UDP 10.0.0.7:5060;branch=z9hG4bK-a1"});
  CHECK(ok[0].content_length() == 5u);
  CHECK(hook.finals == std::vector<std::uint16_t>{200});
}

}  // namespace portcullis::proxy::test
