#include <unordered_set>

#include <catch2/catch.hpp>

#include "common/net/ip_address.h"

using portcullis::net::Endpoint;
using portcullis::net::IpAddress;
using portcullis::net::Prefix;

TEST_CASE("IPv4 and IPv6 parse and format canonically", "[unit][common]") {
  auto v4 = IpAddress::parse("192.0.2.10");
  REQUIRE(v4.ok());
  CHECK(v4->is_v4());
  CHECK(v4->to_string() == "192.0.2.10");
  CHECK(v4->v4_host_order() == 0xC000020Au);

  auto v6 = IpAddress::parse("2001:DB8:0:0:0:0:0:1");
  REQUIRE(v6.ok());
  CHECK(v6->is_v6());
  CHECK(v6->to_string() == "2001:db8::1");
  CHECK(v6->bytes().size() == 16);
}

TEST_CASE("bad addresses are errors, not exceptions", "[unit][common]") {
  for (const char* bad : {"", "1.2.3", "1.2.3.256", "1.2.3.4.5", "::g", "[::1]", "01.2.3.4x",
                          "2001:db8::1%eth0", "a very long string that is certainly not an address at all"}) {
    INFO(bad);
    CHECK_FALSE(IpAddress::parse(bad).ok());
  }
  CHECK_FALSE(IpAddress::parse(std::string_view("10.0.0.1\0junk", 13)).ok());
  CHECK_FALSE(IpAddress::parse(std::string_view("10.0.0.1\0", 9)).ok());
}

TEST_CASE("address classes", "[unit][common]") {
  CHECK(IpAddress::parse("10.1.2.3")->is_private());
  CHECK(IpAddress::parse("172.31.0.1")->is_private());
  CHECK_FALSE(IpAddress::parse("172.32.0.1")->is_private());
  CHECK(IpAddress::parse("192.168.0.1")->is_private());
  CHECK(IpAddress::parse("100.64.0.1")->is_private());
  CHECK_FALSE(IpAddress::parse("203.0.113.1")->is_private());
  CHECK(IpAddress::parse("fd00::1")->is_private());
  CHECK(IpAddress::parse("fe80::1")->is_private());
  CHECK_FALSE(IpAddress::parse("2001:db8::1")->is_private());
  CHECK(IpAddress::parse("0.0.0.0")->is_unspecified());
  CHECK(IpAddress::parse("::")->is_unspecified());
  CHECK(IpAddress::parse("127.0.0.5")->is_loopback());
  CHECK(IpAddress::parse("::1")->is_loopback());
  CHECK(IpAddress::parse("224.0.0.1")->is_multicast());
  CHECK(IpAddress::parse("ff02::1")->is_multicast());
}

TEST_CASE("from_bytes accepts only 4 or 16 bytes", "[unit][common]") {
  CHECK(IpAddress::from_bytes(std::string("\xc0\x00\x02\x01", 4))->to_string() == "192.0.2.1");
  CHECK_FALSE(IpAddress::from_bytes("abc").ok());
  CHECK_FALSE(IpAddress::from_bytes("").ok());
}

TEST_CASE("endpoints parse with brackets for IPv6", "[unit][common]") {
  auto e = Endpoint::parse("192.0.2.1:5060");
  REQUIRE(e.ok());
  CHECK(e->port() == 5060);
  CHECK(e->to_string() == "192.0.2.1:5060");
  auto e6 = Endpoint::parse("[2001:db8::5]:5061");
  REQUIRE(e6.ok());
  CHECK(e6->to_string() == "[2001:db8::5]:5061");
  CHECK_FALSE(Endpoint::parse("2001:db8::5:5061").ok());
  CHECK_FALSE(Endpoint::parse("192.0.2.1:0").ok());
  CHECK(Endpoint::parse("192.0.2.1:0", true).ok());
  CHECK_FALSE(Endpoint::parse("192.0.2.1:65536").ok());
  CHECK_FALSE(Endpoint::parse("192.0.2.1").ok());
  CHECK_FALSE(Endpoint::parse("[::1]5060").ok());
  std::unordered_set<Endpoint> set{*e, *e6, *e};
  CHECK(set.size() == 2);
}

TEST_CASE("prefixes normalise and match", "[unit][common]") {
  auto p = Prefix::parse("10.1.2.3/8");
  REQUIRE(p.ok());
  CHECK(p->to_string() == "10.0.0.0/8");
  CHECK(p->contains(*IpAddress::parse("10.200.0.1")));
  CHECK_FALSE(p->contains(*IpAddress::parse("11.0.0.1")));
  CHECK_FALSE(p->contains(*IpAddress::parse("::1")));
  auto q = Prefix::parse("172.16.0.0/12");
  CHECK(q->contains(*IpAddress::parse("172.31.255.255")));
  CHECK_FALSE(q->contains(*IpAddress::parse("172.32.0.0")));
  auto v6 = Prefix::parse("2001:db8::/33");
  CHECK(v6->contains(*IpAddress::parse("2001:db8:7fff::1")));
  CHECK_FALSE(v6->contains(*IpAddress::parse("2001:db8:8000::1")));
  CHECK(Prefix::parse("192.0.2.1")->length() == 32);
  CHECK_FALSE(Prefix::parse("10.0.0.0/33").ok());
  CHECK_FALSE(Prefix::parse("10.0.0.0/").ok());
}
