// parse_dns_response on hand-built messages: every record type, negative answers with SOA, and
// hostile input (truncation, pointer loops, forward pointers).
#include <catch2/catch.hpp>

#include "controller/sip/resolver/dns_message.h"
#include "tests/unit/controller/sip/resolver/dns_wire.h"

namespace portcullis::sip::resolver {
namespace {

DnsResult parse(const test::Bytes& b, DnsType type, std::string_view name) {
  return parse_dns_response(std::span<const std::uint8_t>(b.data(), b.size()), type, name);
}

}  // namespace

TEST_CASE("DNS response parsing: A, AAAA, SRV, NAPTR with TTLs", "[unit][resolver]") {
  SECTION("A, CNAME skipped") {
    const auto q = test::make_question(7, "www.Test", 1);
    const auto b = test::ResponseBuilder(q).add_cname(50, "real.test").add_a(120, {192, 0, 2, 1}).add_a(60, {192, 0, 2, 2}).build();
    const auto r = parse(b, DnsType::kA, "www.Test.");
    REQUIRE(r.ok());
    CHECK(r->name == "www.test");
    REQUIRE(r->addresses.size() == 2);
    CHECK(r->addresses[0].address.to_string() == "192.0.2.1");
    CHECK(r->addresses[0].ttl == 120);
    CHECK(r->min_ttl() == 60);
  }
  SECTION("AAAA") {
    const auto q = test::make_question(7, "v6.test", 28);
    const auto b = test::ResponseBuilder(q).add_aaaa(30, {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}).build();
    const auto r = parse(b, DnsType::kAaaa, "v6.test");
    REQUIRE(r.ok());
    CHECK(r->addresses.at(0).address.to_string() == "2001:db8::1");
  }
  SECTION("SRV, plain and compressed targets, TTL with the top bit set is 0 (RFC 2181 §8)") {
    const auto q = test::make_question(7, "_sip._udp.test", 33);
    const auto b = test::ResponseBuilder(q)
                       .add_srv(300, 10, 60, 5060, "Sip1.Test")
                       .add_srv(0x80000001u, 20, 0, 5070, "sip2._sip._udp.test", /*compress_suffix=*/true)
                       .build();
    const auto r = parse(b, DnsType::kSrv, "_sip._udp.test");
    REQUIRE(r.ok());
    REQUIRE(r->srv.size() == 2);
    CHECK(r->srv[0] == SrvRecord{10, 60, 5060, "sip1.test", 300});
    CHECK(r->srv[1] == SrvRecord{20, 0, 5070, "sip2._sip._udp.test", 0});
  }
  SECTION("NAPTR") {
    const auto q = test::make_question(7, "test", 35);
    const auto b = test::ResponseBuilder(q).add_naptr(3600, 10, 20, "s", "SIP+D2T", "", "_sip._tcp.test").build();
    const auto r = parse(b, DnsType::kNaptr, "test");
    REQUIRE(r.ok());
    CHECK(r->naptr.at(0) == NaptrRecord{10, 20, "s", "SIP+D2T", "", "_sip._tcp.test", 3600});
  }
}

TEST_CASE("DNS response parsing: negative answers and failures", "[unit][resolver]") {
  const auto q = test::make_question(1, "missing.test", 1);
  SECTION("NXDOMAIN with SOA: negative TTL = min(SOA TTL, MINIMUM) (RFC 2308 §5)") {
    const auto r = parse(test::ResponseBuilder(q, 3).add_soa(900, 60).build(), DnsType::kA, "missing.test");
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().kind == DnsErrorKind::kNxDomain);
    CHECK(r.error().negative_ttl == 60u);
  }
  SECTION("NODATA without SOA") {
    const auto r = parse(test::ResponseBuilder(q, 0).add_cname(10, "x.test").build(), DnsType::kA, "missing.test");
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().kind == DnsErrorKind::kNoData);
    CHECK_FALSE(r.error().negative_ttl);
  }
  SECTION("SERVFAIL, REFUSED") {
    CHECK(parse(test::ResponseBuilder(q, 2).build(), DnsType::kA, "x").error().kind == DnsErrorKind::kServerFailure);
    CHECK(parse(test::ResponseBuilder(q, 5).build(), DnsType::kA, "x").error().kind == DnsErrorKind::kServerFailure);
  }
}

TEST_CASE("DNS response parsing: hostile input never reads out of bounds", "[unit][resolver]") {
  const auto q = test::make_question(1, "a.test", 33);
  const auto good = test::ResponseBuilder(q).add_srv(60, 1, 1, 5060, "b.test").build();
  SECTION("every truncation is rejected or parsed, never crashes") {
    for (std::size_t n = 0; n < good.size(); ++n) {
      const test::Bytes cut(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(n));
      const auto r = parse(cut, DnsType::kSrv, "a.test");
      CHECK_FALSE(r.ok());
    }
    CHECK(parse(good, DnsType::kSrv, "a.test").ok());
  }
  SECTION("pointer loop and forward pointer") {
    test::Bytes loop = good;
    // The answer's owner pointer (right after the question) points at itself.
    const std::size_t owner = 12 + q.raw_question.size();
    loop[owner] = static_cast<std::uint8_t>(0xC0 | (owner >> 8));
    loop[owner + 1] = static_cast<std::uint8_t>(owner & 0xFF);
    CHECK(parse(loop, DnsType::kSrv, "a.test").error().kind == DnsErrorKind::kServerFailure);
    test::Bytes forward = good;
    forward[owner + 1] = static_cast<std::uint8_t>(forward.size() - 2);
    CHECK_FALSE(parse(forward, DnsType::kSrv, "a.test").ok());
  }
  SECTION("a query (QR=0) is not a response") {
    test::Bytes query = good;
    query[2] &= 0x7F;
    CHECK_FALSE(parse(query, DnsType::kSrv, "a.test").ok());
  }
}

}  // namespace portcullis::sip::resolver
