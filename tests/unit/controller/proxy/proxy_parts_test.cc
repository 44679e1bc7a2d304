// Unit tests of the proxy's pieces: response selection (§16.7), loop-detection branches
// (§16.6 step 8), flow tokens and our-URI recognition (§16.4), RFC 3581 Via stamping.
#include "controller/proxy/loop_detection.h"
#include "controller/proxy/proxy_identity.h"
#include "controller/proxy/response_selection.h"
#include "controller/proxy/via_stamp.h"
#include "tests/unit/controller/proxy/proxy_harness.h"

namespace portcullis::proxy::test {
namespace {

std::string resp(std::uint16_t code, std::string_view extra = {}) {
  std::string m = "SIP/2.0 " + std::to_string(code) + " X\r\n"
                  "Via: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bK-pc-1\r\n"
                  "From: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.com>;tag=2\r\n"
                  "Call-ID: c\r\nCSeq: 1 INVITE\r\n";
  m += extra;
  m += "Content-Length: 0\r\n\r\n";
  return m;
}

TEST_CASE("response selection: §16.7 step 6", "[unit]") {
  auto pick = [](std::vector<std::uint16_t> codes) {
    std::vector<BranchOutcome> o;
    for (auto c : codes) {
      o.push_back({c, nullptr});
    }
    return o[select_best(o)].status;
  };
  CHECK(pick({486, 603, 302}) == 603);  // 6xx wins over anything
  CHECK(pick({486, 302, 500}) == 302);  // otherwise the lowest class
  CHECK(pick({486, 404, 480}) == 486);  // within a class: first
  CHECK(pick({486, 407, 401}) == 407);  // preferred 4xx
  CHECK(pick({503, 408}) == 408);
  CHECK(pick({503}) == 503);
  CHECK(upstream_status(503) == 500);
  CHECK(upstream_status(486) == 486);
}

TEST_CASE("response selection: 401/407 challenges are combined (§16.7 step 7)", "[unit]") {
  const sip::SipMessage a = parse(resp(401, "WWW-Authenticate: Digest realm=\"a\", nonce=\"1\"\r\n"));
  const sip::SipMessage b = parse(resp(407, "Proxy-Authenticate: Digest realm=\"b\", nonce=\"2\"\r\n"));
  const sip::SipMessage c = parse(resp(486));
  std::vector<BranchOutcome> o{{401, &a}, {407, &b}, {486, &c}};
  const std::size_t best = select_best(o);
  CHECK(best == 0);
  const auto extra = collect_challenges(o, best);
  REQUIRE(extra.size() == 1);
  CHECK(extra[0].first == "Proxy-Authenticate");
  CHECK(extra[0].second == "Digest realm=\"b\", nonce=\"2\"");
  CHECK(collect_challenges(o, 2).empty());
}

TEST_CASE("loop detection: branch format and hash inputs", "[unit]") {
  const std::string hash(16, 'a');
  const std::string branch = make_branch(hash, 0x1234);
  CHECK(branch == "z9hG4bK-pc-aaaaaaaaaaaaaaaa-0000000000001234");
  CHECK(branch_loop_hash(branch) == std::optional<std::string_view>(hash));
  CHECK(!branch_loop_hash("z9hG4bK-other"));

  Request r;
  const sip::SipMessage m1 = parse(r.text());
  Request r2 = r;
  r2.max_forwards = 12;  // Max-Forwards and Via do not count
  r2.via = "SIP/2.0/UDP 10.9.9.9;branch=z9hG4bK-other";
  CHECK(loop_hash(m1) == loop_hash(parse(r2.text())));
  Request r3 = r;
  r3.ruri = "sip:bob@elsewhere.example";
  CHECK(loop_hash(m1) != loop_hash(parse(r3.text())));
  Request r4 = r;
  r4.extra = {"Proxy-Authorization: Digest username=\"a\""};
  CHECK(loop_hash(m1) != loop_hash(parse(r4.text())));
}

TEST_CASE("identity: our URIs, sent-by, domains and flow tokens", "[unit]") {
  const ProxyConfig c = lan_wan_config();
  const ProxyIdentity id(c);
  auto own = [&](std::string_view text) { return id.is_own_uri(sip::parse_uri(text).value()); };
  CHECK(own("sip:192.0.2.10;lr"));
  CHECK(own("sip:192.0.2.10:5060;lr"));
  CHECK(own("sip:10.0.0.1;lr"));
  CHECK(own("sip:PROXY.example.com;lr"));
  CHECK(!own("sip:192.0.2.10:5070;lr"));
  CHECK(!own("sip:example.com"));
  CHECK(!own("sips:192.0.2.10"));  // 5061 default: no TLS listener
  CHECK(own("sip:x@192.0.2.99;maddr=192.0.2.10"));
  CHECK(id.is_our_domain(sip::parse_uri("sip:bob@EXAMPLE.com").value()));
  CHECK(&id.interface_for(net::IpAddress::parse("10.1.2.3").value()) == &c.interfaces[0]);
  CHECK(&id.interface_for(net::IpAddress::parse("8.8.8.8").value()) == &c.interfaces[1]);
  CHECK(id.listener_for(udp("10.1.2.3:5060"))->address == ep("10.0.0.1:5060"));
  CHECK(id.listener_for(tcp("10.1.2.3:5060", 1)) == nullptr);

  const Peer p{TransportProtocol::kTcp, ep("[2001:db8::5]:5070"), 99};
  const std::string token = encode_flow_token(p);
  CHECK(token == "tcp~2001:db8::5~5070~99");
  CHECK(decode_flow_token(token) == std::optional<Peer>(p));
  CHECK(decode_flow_token("udp~203.0.113.5~40000") == std::optional<Peer>(kAliceNat));
  CHECK(!decode_flow_token("udp~nothost~1"));
  CHECK(!decode_flow_token("udp~1.2.3.4~0"));
  CHECK(!decode_flow_token("bogus~1.2.3.4~5"));
  CHECK(!decode_flow_token("udp~1.2.3.4~5~6~7"));
  // A flow token must survive as a URI parameter.
  const std::string rr = ProxyIdentity::record_route_value(c.interfaces[1].listeners[1], p);
  CHECK(rr == "<sip:192.0.2.10:5060;transport=tcp;lr;pc-flow=tcp~2001:db8::5~5070~99>");
  auto na = sip::parse_name_addr(rr);
  REQUIRE(na.ok());
  CHECK(decode_flow_token(*na->uri.params.get(kFlowParam)) == std::optional<Peer>(p));

  ProxyConfig bad;
  CHECK_THROWS_AS(ProxyIdentity(bad), std::invalid_argument);
}

TEST_CASE("via stamp: RFC 3261 §18.2.1 received, RFC 3581 rport", "[unit]") {
  Request r;  // Via 10.0.0.2:5060;rport from 203.0.113.5:40000
  const sip::SipMessage m = parse(r.text());
  auto s = stamp_received(m, kAliceNat);
  REQUIRE(s);
  CHECK(value(parse(*s), sip::HeaderId::kVia) ==
        "SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bK-a1;rport=40000;received=203.0.113.5");

  // Same address, no rport: nothing to add.
  Request plain;
  plain.via = "SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bK-a1";
  CHECK(!stamp_received(parse(plain.text()), udp("10.0.0.2:5060")));

  // A forged received is replaced; a second via-parm in the same field is kept.
  Request forged;
  forged.via = "SIP/2.0/UDP 10.0.0.2;received=1.1.1.1;branch=z9hG4bK-a1, SIP/2.0/UDP 10.0.0.9;branch=z9hG4bK-x";
  auto f = stamp_received(parse(forged.text()), kAliceNat);
  REQUIRE(f);
  CHECK(value(parse(*f), sip::HeaderId::kVia) ==
        "SIP/2.0/UDP 10.0.0.2;received=203.0.113.5;branch=z9hG4bK-a1, SIP/2.0/UDP 10.0.0.9;branch=z9hG4bK-x");
}

}  // namespace
}  // namespace portcullis::proxy::test
