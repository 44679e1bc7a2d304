#include <catch2/catch.hpp>

#include <string>

#include "controller/sip/parser/headers.h"

namespace portcullis::sip {
namespace {

TEST_CASE("parse_via_list: single via-parm with every extracted parameter", "[unit]") {
  auto r = parse_via_list(
      "SIP/2.0/UDP pc33.atlanta.com:5066;branch=z9hG4bK776asdhds;received=192.0.2.1;rport=5060;"
      "maddr=239.255.255.1;ttl=16;x-ext=\"v\"");
  REQUIRE(r.ok());
  REQUIRE(r->size() == 1);
  const Via& v = (*r)[0];
  CHECK(v.protocol_name == "SIP");
  CHECK(v.protocol_version == "2.0");
  CHECK(v.transport == "UDP");
  CHECK(v.host == "pc33.atlanta.com");
  REQUIRE(v.port.has_value());
  CHECK(*v.port == 5066);
  CHECK(v.branch == "z9hG4bK776asdhds");
  CHECK(v.rfc3261_branch());
  CHECK(v.received == "192.0.2.1");
  CHECK(v.has_rport);
  REQUIRE(v.rport.has_value());
  CHECK(*v.rport == 5060);
  CHECK(v.maddr == "239.255.255.1");
  REQUIRE(v.ttl.has_value());
  CHECK(*v.ttl == 16);
  CHECK(v.params.size() == 6);
  CHECK(v.params.get("x-ext") == std::optional<std::string_view>("\"v\""));
}

TEST_CASE("parse_via_list: RFC 4475 wsinv.dat LWS everywhere (unfolded)", "[unit]") {
  SECTION("Via header") {
    auto r = parse_via_list("SIP  /   2.0   /UDP     192.0.2.2;rport;branch=390skdjuw");
    REQUIRE(r.ok());
    REQUIRE(r->size() == 1);
    const Via& v = (*r)[0];
    CHECK(v.protocol_name == "SIP");
    CHECK(v.protocol_version == "2.0");
    CHECK(v.transport == "UDP");
    CHECK(v.host == "192.0.2.2");
    CHECK_FALSE(v.port.has_value());
    CHECK(v.has_rport);
    CHECK_FALSE(v.rport.has_value());
    CHECK(v.branch == "390skdjuw");
    CHECK_FALSE(v.rfc3261_branch());
    CHECK(v.text == "SIP  /   2.0   /UDP     192.0.2.2;rport;branch=390skdjuw");
  }
  SECTION("v: header with two via-parms") {
    auto r = parse_via_list(
        "SIP  / 2.0  / TCP     spindle.example.com   ;   branch  =   z9hG4bK9ikj8  ,  SIP  /    2.0   / UDP  "
        "192.168.255.111   ; branch=  z9hG4bK30239");
    REQUIRE(r.ok());
    REQUIRE(r->size() == 2);
    CHECK((*r)[0].transport == "TCP");
    CHECK((*r)[0].host == "spindle.example.com");
    CHECK((*r)[0].branch == "z9hG4bK9ikj8");
    CHECK((*r)[0].text == "SIP  / 2.0  / TCP     spindle.example.com   ;   branch  =   z9hG4bK9ikj8");
    CHECK((*r)[1].transport == "UDP");
    CHECK((*r)[1].host == "192.168.255.111");
    CHECK((*r)[1].branch == "z9hG4bK30239");
  }
  SECTION("still-folded CRLF WSP is also LWS") {
    auto r = parse_via_list("SIP  /   2.0\r\n /UDP\r\n    192.0.2.2;branch=390skdjuw");
    REQUIRE(r.ok());
    CHECK((*r)[0].host == "192.0.2.2");
  }
}

TEST_CASE("parse_via_list: transports, hosts and ports", "[unit]") {
  struct Case {
    std::string_view text;
    std::string_view transport;
    std::string_view host;
    int port;
  };
  const Case c = GENERATE(values<Case>({
      {"SIP/2.0/UDP t1.example.com;branch=z9hG4bKkdjuw", "UDP", "t1.example.com", -1},  // transports.dat
      {"SIP/2.0/SCTP t2.example.com;branch=z9hG4bKklasjdhf", "SCTP", "t2.example.com", -1},
      {"SIP/2.0/TLS t3.example.com;branch=z9hG4bK2980unddj", "TLS", "t3.example.com", -1},
      {"SIP/2.0/UNKNOWN t4.example.com;branch=z9hG4bKasd0f3en", "UNKNOWN", "t4.example.com", -1},
      {"SIP/2.0/WSS df7jal23ls0d.invalid;branch=z9hG4bKasudf", "WSS", "df7jal23ls0d.invalid", -1},
      {"SIP/2.0/UDP [2001:db8::9:1]:5070;branch=z9hG4bKas3", "UDP", "[2001:db8::9:1]", 5070},
      {"SIP/2.0/UDP 192.0.2.59:5050;branch=z9hG4bKkdjuw39234", "UDP", "192.0.2.59", 5050},
      {"SIP/2.0/UDP host : 5060", "UDP", "host", 5060},
      {"SIP/2.0/UDP 255.255.255.255;branch=z9hG4bK1saber23", "UDP", "255.255.255.255", -1},  // bcast.dat
      {"SIP/2.0/TCP host.example.com;branch=z9hG4bK209%fzsnel234", "TCP", "host.example.com", -1},  // esc02
      {"SIP/2.0/TCP host1.example.com;branch=z9hG4bK-.!%66*_+`'~", "TCP", "host1.example.com", -1},  // intmeth
      {"SIP/2.0/UDP iftgw.example.com", "UDP", "iftgw.example.com", -1},  // inv2543.dat
      {"SIP/2.0/UDP h:0", "UDP", "h", 0},
  }));
  CAPTURE(c.text);
  auto r = parse_via_list(c.text);
  REQUIRE(r.ok());
  REQUIRE(r->size() == 1);
  CHECK((*r)[0].transport == c.transport);
  CHECK((*r)[0].host == c.host);
  if (c.port < 0) {
    CHECK_FALSE((*r)[0].port.has_value());
  } else {
    REQUIRE((*r)[0].port.has_value());
    CHECK(*(*r)[0].port == c.port);
  }
}

TEST_CASE("parse_via_list: received accepts IPv4 and IPv6 with or without brackets", "[unit]") {
  const std::string_view received = GENERATE(as<std::string_view>{}, "192.0.2.1", "2001:db8::1", "[2001:db8::1]",
                                             "::ffff:192.0.2.1");
  const std::string text = "SIP/2.0/UDP h;branch=z9hG4bK1;received=" + std::string(received);
  CAPTURE(text);
  auto r = parse_via_list(text);
  REQUIRE(r.ok());
  CHECK((*r)[0].received == received);
}

TEST_CASE("parse_via_list: many via-parms", "[unit]") {
  std::string value;
  for (int i = 0; i < 40; ++i) {
    value += (i ? ", " : "") + std::string("SIP/2.0/TCP sip") + std::to_string(i) + ".example.com;branch=z9hG4bK" +
             std::to_string(i);
  }
  auto r = parse_via_list(value);
  REQUIRE(r.ok());
  REQUIRE(r->size() == 40);
  CHECK((*r)[39].host == "sip39.example.com");
  CHECK((*r)[39].branch == "z9hG4bK39");
}

TEST_CASE("parse_via_list: malformed values are rejected with 400", "[unit]") {
  const std::string_view text = GENERATE(as<std::string_view>{},
      "",
      "SIP/2.0/UDP 192.0.2.15;;,;,,",   // RFC 4475 §3.1.2.1 badinv01.dat
      "SIP/2.0/UDP h;",                 // trailing ';'
      "SIP/2.0/UDP h,",                 // trailing ','
      "SIP/2.0/UDP h,,SIP/2.0/UDP g",
      "SIP/2.0/UDP h;branch",           // branch needs a value
      "SIP/2.0/UDP h;branch=",
      "SIP/2.0/UDP h;branch=\"quoted\"",
      "SIP/2.0/UDP h;branch=a;branch=b",  // ambiguous
      "SIP/2.0/UDP h;received=example.com",
      "SIP/2.0/UDP h;received",
      "SIP/2.0/UDP h;rport=65536",
      "SIP/2.0/UDP h;rport=",
      "SIP/2.0/UDP h;rport=x",
      "SIP/2.0/UDP h;ttl=256",
      "SIP/2.0/UDP h;ttl=0001",
      "SIP/2.0/UDP h;maddr=bad_host",
      "SIP/2.0/UDP",
      "SIP/2.0/UDP ",
      "SIP/2.0/UDPhost",
      "SIP/2.0 host",
      "SIP/2.0/ host",
      "SIP//UDP host",
      "/2.0/UDP host",
      "SIP/2.0/UDP host:",
      "SIP/2.0/UDP host:65536",
      "SIP/2.0/UDP host:99999999999999999999",
      "SIP/2.0/UDP host junk",
      "SIP/2.0/UDP -host",
      "SIP/2.0/UDP [::1",
      "SIP/2.0/UDP [::g]",
      "SIP/2.0/UDP ho st",
      "SIP/2.0/UDP h;branch=z9hG4bK1 SIP/2.0/UDP g",
      "SIP/2.0/UDP h;x=\"unterminated");
  CAPTURE(text);
  auto r = parse_via_list(text);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().status == 400);
  CHECK_FALSE(r.error().reason.empty());
}

TEST_CASE("Via::rfc3261_branch", "[unit]") {
  auto cookie_only = parse_via_list("SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK");  // badbranch.dat
  REQUIRE(cookie_only.ok());
  CHECK((*cookie_only)[0].branch == "z9hG4bK");
  CHECK((*cookie_only)[0].rfc3261_branch());
  auto wrong_case = parse_via_list("SIP/2.0/UDP 192.0.2.1;branch=Z9HG4BK1");
  REQUIRE(wrong_case.ok());
  CHECK_FALSE((*wrong_case)[0].rfc3261_branch());
  auto none = parse_via_list("SIP/2.0/UDP 192.0.2.1");
  REQUIRE(none.ok());
  CHECK((*none)[0].branch.empty());
  CHECK_FALSE((*none)[0].rfc3261_branch());
}

}  // namespace
}  // namespace portcullis::sip
