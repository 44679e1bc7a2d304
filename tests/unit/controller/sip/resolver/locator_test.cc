// Rfc3263Locator driven by FakeDnsResolver + FakeClock: RFC 3263 §4 cases, no I/O, no sleeps.
#include <catch2/catch.hpp>

#include <optional>
#include <string>
#include <vector>

#include "common/time/fake_clock.h"
#include "controller/sip/parser/uri.h"
#include "controller/sip/resolver/dns_cache.h"
#include "controller/sip/resolver/failover.h"
#include "controller/sip/resolver/rfc3263_locator.h"
#include "tests/support/fake_dns_resolver.h"

namespace portcullis::sip::resolver {
namespace {

using std::chrono::seconds;
using T = TargetTransport;

struct Harness {
  FakeClock clock;
  FakeDnsResolver dns{clock};
  std::optional<DnsCache> cache;
  std::optional<Rfc3263Locator> locator;
  std::optional<LocateResult> result;
  int callbacks = 0;
  LocateId last_id = 0;

  explicit Harness(LocatorConfig config = {}, bool with_cache = false, std::uint64_t seed = 1) {
    if (with_cache) {
      cache.emplace(clock);
    }
    locator.emplace(dns, make_seeded_random(seed), std::move(config), cache ? &*cache : nullptr);
  }

  // Starts a locate; the URI text only has to live for the call.
  void start(const std::string& text) {
    result.reset();
    const auto uri = parse_uri(text);
    REQUIRE(uri.ok());
    last_id = locator->locate(*uri, [this](LocateResult r) {
      ++callbacks;
      result = std::move(r);
    });
  }
  // Starts, answers everything due now, and returns the result.
  const LocateResult& locate(const std::string& text) {
    start(text);
    dns.run_due();
    REQUIRE(result.has_value());
    return *result;
  }
};

std::vector<std::string> describe(const std::vector<Target>& targets) {
  std::vector<std::string> out;
  for (const auto& t : targets) {
    out.push_back(std::string(target_transport_name(t.transport)) + " " + t.endpoint.to_string());
  }
  return out;
}

bool queried(const FakeDnsResolver& dns, const std::string& name, DnsType type) {
  return dns.query_count(name, type) > 0;
}

}  // namespace

TEST_CASE("numeric IPv4 host is used directly, UDP and port 5060 by default", "[unit][resolver]") {
  Harness h;
  h.start("sip:alice@192.0.2.1");
  REQUIRE(h.result.has_value());  // synchronous: no DNS needed
  CHECK(h.last_id == 0);
  REQUIRE(h.result->ok());
  CHECK(describe(h.result->value()) == std::vector<std::string>{"UDP 192.0.2.1:5060"});
  CHECK(h.dns.query_count() == 0);
}

TEST_CASE("numeric IPv6 host, explicit port, transport and sips", "[unit][resolver]") {
  Harness h;
  SECTION("sip with port") {
    CHECK(describe(h.locate("sip:[2001:db8::1]:5070").value()) == std::vector<std::string>{"UDP [2001:db8::1]:5070"});
  }
  SECTION("sips means TLS on 5061") {
    CHECK(describe(h.locate("sips:[2001:db8::1]").value()) == std::vector<std::string>{"TLS [2001:db8::1]:5061"});
  }
  SECTION("transport=tcp") {
    CHECK(describe(h.locate("sip:192.0.2.7;transport=TCP").value()) == std::vector<std::string>{"TCP 192.0.2.7:5060"});
  }
  SECTION("sips with transport=tcp is TLS") {
    CHECK(describe(h.locate("sips:192.0.2.7;transport=tcp").value()) == std::vector<std::string>{"TLS 192.0.2.7:5061"});
  }
  SECTION("maddr overrides the host (RFC 3263 §4)") {
    CHECK(describe(h.locate("sip:bob@example.com;maddr=192.0.2.9").value()) ==
          std::vector<std::string>{"UDP 192.0.2.9:5060"});
  }
  CHECK(h.dns.query_count() == 0);
}

TEST_CASE("invalid or unsupported URIs fail synchronously", "[unit][resolver]") {
  Harness h;
  SECTION("sips with transport=udp") {
    CHECK(h.locate("sips:example.com;transport=udp").error().code == ErrorCode::kInvalidArgument);
  }
  SECTION("unsupported transport") {
    CHECK(h.locate("sip:example.com;transport=sctp").error().code == ErrorCode::kUnimplemented);
  }
  SECTION("tel URI") {
    CHECK(h.locate("tel:+15551234567").error().code == ErrorCode::kInvalidArgument);
  }
  SECTION("sips when TLS is disabled") {
    LocatorConfig cfg;
    cfg.transports = {T::kUdp, T::kTcp};
    Harness no_tls(cfg);
    CHECK(no_tls.locate("sips:example.com").error().code == ErrorCode::kUnimplemented);
  }
  CHECK(h.dns.query_count() == 0);
}

TEST_CASE("explicit port: A/AAAA lookups only (RFC 3263 §4.2)", "[unit][resolver]") {
  Harness h;
  h.dns.add_address("example.com", "192.0.2.10");
  h.dns.add_address("example.com", "2001:db8::10");
  h.dns.add_naptr("example.com", 10, 10, "s", "SIP+D2T", "_sip._tcp.example.com");  // must be ignored
  const auto& r = h.locate("sip:example.com:5080");
  CHECK(describe(r.value()) == std::vector<std::string>{"UDP 192.0.2.10:5080", "UDP [2001:db8::10]:5080"});
  CHECK(h.dns.query_count() == 2);
  CHECK_FALSE(queried(h.dns, "example.com", DnsType::kNaptr));
  CHECK(r.value().front().domain == "example.com");
}

TEST_CASE("transport parameter: SRV for that transport, no NAPTR (RFC 3263 §4.1, §4.2)", "[unit][resolver]") {
  Harness h;
  h.dns.add_srv("_sip._tcp.example.com", 10, 0, 5070, "pbx.example.com");
  h.dns.add_address("pbx.example.com", "192.0.2.20");
  const auto& r = h.locate("sip:example.com;transport=tcp");
  CHECK(describe(r.value()) == std::vector<std::string>{"TCP 192.0.2.20:5070"});
  CHECK_FALSE(queried(h.dns, "example.com", DnsType::kNaptr));
  CHECK_FALSE(queried(h.dns, "_sip._udp.example.com", DnsType::kSrv));
  CHECK(r.value().front().host == "pbx.example.com");

  SECTION("no SRV: A record of the domain, default port for that transport") {
    Harness g;
    g.dns.add_address("example.com", "192.0.2.21");
    CHECK(describe(g.locate("sips:example.com;transport=tcp").value()) ==
          std::vector<std::string>{"TLS 192.0.2.21:5061"});
    CHECK(queried(g.dns, "_sips._tcp.example.com", DnsType::kSrv));
  }
}

TEST_CASE("NAPTR order/preference selects the SRV sets in order (RFC 3263 §4.1, RFC 3403)", "[unit][resolver]") {
  Harness h;
  h.dns.add_naptr("example.com", 50, 50, "s", "SIP+D2U", "_sip._udp.example.com");
  h.dns.add_naptr("example.com", 10, 100, "s", "SIPS+D2T", "_sips._tcp.example.com");
  h.dns.add_naptr("example.com", 10, 50, "S", "sip+d2t", "_sip._tcp.example.com");
  h.dns.add_naptr("example.com", 5, 5, "s", "SIP+D2S", "_sip._sctp.example.com");   // unsupported: skipped
  h.dns.add_naptr("example.com", 1, 1, "u", "E2U+sip", "!^.*$!sip:x@y!");          // not an "s" record
  h.dns.add_srv("_sip._udp.example.com", 0, 0, 5060, "udp.example.com");
  h.dns.add_srv("_sip._tcp.example.com", 0, 0, 5060, "tcp.example.com");
  h.dns.add_srv("_sips._tcp.example.com", 0, 0, 5061, "tls.example.com");
  h.dns.add_address("udp.example.com", "192.0.2.1");
  h.dns.add_address("tcp.example.com", "192.0.2.2");
  h.dns.add_address("tls.example.com", "192.0.2.3");
  const auto& r = h.locate("sip:example.com");
  CHECK(describe(r.value()) ==
        std::vector<std::string>{"TCP 192.0.2.2:5060", "TLS 192.0.2.3:5061", "UDP 192.0.2.1:5060"});
  CHECK_FALSE(queried(h.dns, "_sip._sctp.example.com", DnsType::kSrv));
  // TLS targets carry the URI domain for certificate checks (RFC 5922), not the SRV target.
  CHECK(r.value()[1].domain == "example.com");
  CHECK(r.value()[1].host == "tls.example.com");
}

TEST_CASE("no usable NAPTR: SRV for each supported transport in configured order", "[unit][resolver]") {
  LocatorConfig cfg;
  cfg.transports = {T::kTls, T::kTcp, T::kUdp};
  Harness h(cfg);
  h.dns.add_naptr("example.com", 10, 10, "s", "SIP+D2S", "_sip._sctp.example.com");
  h.dns.add_srv("_sip._udp.example.com", 0, 0, 5060, "a.example.com");
  h.dns.add_srv("_sip._tcp.example.com", 0, 0, 5062, "a.example.com");
  h.dns.add_address("a.example.com", "192.0.2.1");
  const auto& r = h.locate("sip:example.com");
  CHECK(describe(r.value()) == std::vector<std::string>{"TCP 192.0.2.1:5062", "UDP 192.0.2.1:5060"});
  CHECK(queried(h.dns, "_sips._tcp.example.com", DnsType::kSrv));
}

TEST_CASE("SRV priority first, then weight with the seeded random source (RFC 2782)", "[unit][resolver]") {
  SECTION("scripted draws give an exact order") {
    std::vector<SrvRecord> records{
        {20, 0, 5060, "c", 60}, {10, 60, 5060, "a", 60}, {10, 40, 5060, "b", 60}, {10, 0, 5060, "z", 60}};
    std::vector<std::uint32_t> draws{100, 0, 0, 0};
    std::size_t next = 0;
    std::vector<std::uint32_t> uppers;
    RandomSource scripted = [&](std::uint32_t upper) {
      uppers.push_back(upper);
      return std::min(draws.at(next++), upper);
    };
    const auto ordered = order_srv_records(records, scripted);
    std::vector<std::string> names;
    for (const auto& r : ordered) {
      names.push_back(r.target);
    }
    // Priority 10 group: z (weight 0) is placed first; draw 100 of sum 100 picks b (running sum
    // 0, 60, 100); then sum 60, draw 0 picks z (running sum 0 >= 0); then a; then priority 20.
    CHECK(names == std::vector<std::string>{"b", "z", "a", "c"});
    CHECK(uppers == std::vector<std::uint32_t>{100, 60, 60, 0});
  }
  SECTION("weights are honoured statistically, reproducibly for a seed") {
    const std::vector<SrvRecord> records{{10, 75, 1, "heavy", 60}, {10, 25, 2, "light", 60}, {5, 1, 3, "top", 60}};
    auto random = make_seeded_random(42);
    int heavy_second = 0;
    constexpr int kRuns = 4000;
    for (int i = 0; i < kRuns; ++i) {
      const auto ordered = order_srv_records(records, random);
      REQUIRE(ordered.front().target == "top");
      heavy_second += ordered[1].target == "heavy" ? 1 : 0;
    }
    CHECK(heavy_second > kRuns * 70 / 100);
    CHECK(heavy_second < kRuns * 80 / 100);
  }
  SECTION("through the locator: lower priority value first") {
    Harness h;
    h.dns.add_srv("_sip._udp.example.com", 20, 100, 5060, "backup.example.com");
    h.dns.add_srv("_sip._udp.example.com", 10, 1, 5060, "primary.example.com");
    h.dns.add_address("primary.example.com", "192.0.2.1");
    h.dns.add_address("backup.example.com", "192.0.2.2");
    CHECK(describe(h.locate("sip:example.com").value()) ==
          std::vector<std::string>{"UDP 192.0.2.1:5060", "UDP 192.0.2.2:5060"});
  }
  SECTION("same seed, same order") {
    auto run = [](std::uint64_t seed) {
      Harness h({}, false, seed);
      for (int i = 0; i < 6; ++i) {
        const std::string host = "h" + std::to_string(i) + ".example.com";
        h.dns.add_srv("_sip._udp.example.com", 10, 10, 5060, host);
        h.dns.add_address(host, "192.0.2." + std::to_string(i + 1));
      }
      return describe(h.locate("sip:example.com").value());
    };
    CHECK(run(7) == run(7));
    CHECK(run(7).size() == 6);
  }
}

TEST_CASE("no NAPTR and no SRV: A/AAAA of the domain on the default port (RFC 3263 §4.2)", "[unit][resolver]") {
  SECTION("IPv4 first by default") {
    Harness h;
    h.dns.add_address("example.com", "2001:db8::1");
    h.dns.add_address("example.com", "192.0.2.1");
    CHECK(describe(h.locate("sip:example.com").value()) ==
          std::vector<std::string>{"UDP 192.0.2.1:5060", "UDP [2001:db8::1]:5060"});
    CHECK(queried(h.dns, "example.com", DnsType::kNaptr));
    CHECK(queried(h.dns, "_sip._udp.example.com", DnsType::kSrv));
    CHECK(queried(h.dns, "_sip._tcp.example.com", DnsType::kSrv));
    CHECK(queried(h.dns, "_sips._tcp.example.com", DnsType::kSrv));
  }
  SECTION("prefer_ipv6 and IPv4 disabled") {
    LocatorConfig cfg;
    cfg.prefer_ipv6 = true;
    Harness h(cfg);
    h.dns.add_address("example.com", "192.0.2.1");
    h.dns.add_address("example.com", "2001:db8::1");
    CHECK(describe(h.locate("sip:example.com").value()) ==
          std::vector<std::string>{"UDP [2001:db8::1]:5060", "UDP 192.0.2.1:5060"});
    cfg.use_ipv4 = false;
    Harness v6only(cfg);
    v6only.dns.add_address("example.com", "192.0.2.1");
    v6only.dns.add_address("example.com", "2001:db8::1");
    CHECK(describe(v6only.locate("sip:example.com").value()) == std::vector<std::string>{"UDP [2001:db8::1]:5060"});
    CHECK_FALSE(queried(v6only.dns, "example.com", DnsType::kA));
  }
}

TEST_CASE("sips: TLS only, whatever NAPTR/SRV offer (RFC 3263 §4.1)", "[unit][resolver]") {
  SECTION("NAPTR with UDP, TCP and TLS") {
    Harness h;
    h.dns.add_naptr("example.com", 10, 10, "s", "SIP+D2U", "_sip._udp.example.com");
    h.dns.add_naptr("example.com", 20, 10, "s", "SIPS+D2T", "_sips._tcp.example.com");
    h.dns.add_naptr("example.com", 30, 10, "s", "SIP+D2T", "_sip._tcp.example.com");
    h.dns.add_srv("_sip._udp.example.com", 0, 0, 5060, "a.example.com");
    h.dns.add_srv("_sip._tcp.example.com", 0, 0, 5060, "a.example.com");
    h.dns.add_srv("_sips._tcp.example.com", 0, 0, 5061, "a.example.com");
    h.dns.add_address("a.example.com", "192.0.2.1");
    CHECK(describe(h.locate("sips:example.com").value()) == std::vector<std::string>{"TLS 192.0.2.1:5061"});
    CHECK_FALSE(queried(h.dns, "_sip._udp.example.com", DnsType::kSrv));
    CHECK_FALSE(queried(h.dns, "_sip._tcp.example.com", DnsType::kSrv));
  }
  SECTION("no NAPTR, no SRV: A record with TLS on 5061") {
    Harness h;
    h.dns.add_address("example.com", "192.0.2.5");
    CHECK(describe(h.locate("sips:example.com").value()) == std::vector<std::string>{"TLS 192.0.2.5:5061"});
    CHECK(h.dns.query_count("_sip._udp.example.com", DnsType::kSrv) == 0);
    CHECK(h.dns.query_count("_sips._tcp.example.com", DnsType::kSrv) == 1);
  }
}

TEST_CASE("SRV target '.' means the service is not offered (RFC 2782)", "[unit][resolver]") {
  Harness h;
  h.dns.add_srv("_sip._udp.example.com", 0, 0, 0, "");
  h.dns.add_address("example.com", "192.0.2.1");  // must not be used
  const auto& r = h.locate("sip:example.com");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == ErrorCode::kNotFound);
  CHECK_FALSE(queried(h.dns, "example.com", DnsType::kA));
}

TEST_CASE("failover order and blacklist expiry (RFC 3263 §4.3)", "[unit][resolver]") {
  Harness h;
  h.dns.add_srv("_sip._udp.example.com", 10, 0, 5060, "a.example.com");
  h.dns.add_srv("_sip._udp.example.com", 20, 0, 5060, "b.example.com");
  h.dns.add_srv("_sip._udp.example.com", 30, 0, 5060, "c.example.com");
  h.dns.add_address("a.example.com", "192.0.2.1");
  h.dns.add_address("b.example.com", "192.0.2.2");
  h.dns.add_address("c.example.com", "192.0.2.3");
  const std::vector<Target> targets = h.locate("sip:example.com").value();
  REQUIRE(targets.size() == 3);

  TargetBlacklist blacklist(h.clock, BlacklistConfig{seconds(30), seconds(120), 16});
  TargetCursor first(targets, &blacklist);
  auto t = first.next();
  REQUIRE(t);
  CHECK(t->endpoint.to_string() == "192.0.2.1:5060");
  first.report_failure(*t, FailureKind::kServiceUnavailable, seconds(60));  // 503 + Retry-After: 60
  t = first.next();
  REQUIRE(t);
  CHECK(t->endpoint.to_string() == "192.0.2.2:5060");
  first.report_failure(*t, FailureKind::kTimeout);  // Timer B: default 30 s
  t = first.next();
  REQUIRE(t);
  CHECK(t->endpoint.to_string() == "192.0.2.3:5060");
  first.report_failure(*t, FailureKind::kTransportError);
  CHECK_FALSE(first.next());

  // A later request skips the blacklisted servers...
  h.clock.advance(seconds(29));
  TargetCursor second(targets, &blacklist);
  CHECK_FALSE(second.next());
  // ...until their bans expire: b and c after 30 s, a after its Retry-After of 60 s.
  h.clock.advance(seconds(2));
  TargetCursor third(targets, &blacklist);
  CHECK(third.next()->endpoint.to_string() == "192.0.2.2:5060");
  CHECK(third.next()->endpoint.to_string() == "192.0.2.3:5060");
  CHECK_FALSE(third.next());
  h.clock.advance(seconds(30));
  TargetCursor fourth(targets, &blacklist);
  CHECK(fourth.next()->endpoint.to_string() == "192.0.2.1:5060");
}

TEST_CASE("blacklist caps Retry-After and bounds its size", "[unit][resolver]") {
  FakeClock clock;
  TargetBlacklist bl(clock, BlacklistConfig{seconds(10), seconds(100), 2});
  const net::Endpoint a(net::IpAddress::v4(0xC0000201), 5060);
  const net::Endpoint b(net::IpAddress::v4(0xC0000202), 5060);
  const net::Endpoint c(net::IpAddress::v4(0xC0000203), 5060);
  bl.add(T::kUdp, a, std::chrono::hours(24));  // capped to 100 s
  bl.add(T::kUdp, b);                          // 10 s
  CHECK(bl.contains(T::kUdp, a));
  CHECK_FALSE(bl.contains(T::kTcp, a));  // per transport
  bl.add(T::kUdp, c, seconds(50));       // full: evicts b, the soonest to expire
  CHECK(bl.size() == 2);
  CHECK_FALSE(bl.contains(T::kUdp, b));
  clock.advance(seconds(101));
  CHECK_FALSE(bl.contains(T::kUdp, a));
  CHECK_FALSE(bl.contains(T::kUdp, c));
}

TEST_CASE("cache: answers reused within TTL, re-queried after (Clock-based)", "[unit][resolver]") {
  Harness h({}, /*with_cache=*/true);
  h.dns.add_naptr("example.com", 10, 10, "s", "SIP+D2U", "_sip._udp.example.com", 3600);
  h.dns.add_srv("_sip._udp.example.com", 0, 0, 5060, "a.example.com", 600);
  h.dns.add_address("a.example.com", "192.0.2.1", 60);
  // AAAA for a.example.com: NXDOMAIN-free NODATA with an SOA negative TTL of 30 s.
  h.dns.set_error("a.example.com", DnsType::kAaaa, DnsErrorKind::kNoData, 30);

  REQUIRE(h.locate("sip:example.com").ok());
  const std::size_t first_round = h.dns.query_count();
  CHECK(first_round == 4);  // NAPTR, SRV, A, AAAA

  h.clock.advance(seconds(20));
  h.start("sip:example.com");
  CHECK(h.last_id == 0);  // everything cached: answered synchronously
  REQUIRE(h.result.has_value());
  CHECK(describe(h.result->value()) == std::vector<std::string>{"UDP 192.0.2.1:5060"});
  CHECK(h.dns.query_count() == first_round);

  h.clock.advance(seconds(20));  // 40 s: negative AAAA (30 s) expired, A (60 s) still fresh
  REQUIRE(h.locate("sip:example.com").ok());
  CHECK(h.dns.query_count() == first_round + 1);
  CHECK(h.dns.query_count("a.example.com", DnsType::kAaaa) == 2);

  h.clock.advance(seconds(30));  // 70 s: A expired too
  REQUIRE(h.locate("sip:example.com").ok());
  CHECK(h.dns.query_count("a.example.com", DnsType::kA) == 2);
  CHECK(h.dns.query_count("example.com", DnsType::kNaptr) == 1);
  CHECK(h.cache->stats().hits > 0);
}

TEST_CASE("DnsCache: TTL countdown, caps, failures not cached, LRU bound", "[unit][resolver]") {
  FakeClock clock;
  DnsCache cache(clock, DnsCacheConfig{2, seconds(100), seconds(5), seconds(50)});
  DnsAnswer a;
  a.name = "a.example.com";
  a.type = DnsType::kA;
  a.addresses.push_back({net::IpAddress::v4(0xC0000201), 300});
  cache.store("A.Example.COM.", DnsType::kA, a);  // canonicalised key; TTL capped at 100 s
  clock.advance(seconds(40));
  auto hit = cache.lookup("a.example.com", DnsType::kA);
  REQUIRE(hit);
  CHECK(hit->value().addresses.front().ttl == 260);
  clock.advance(seconds(60));
  CHECK_FALSE(cache.lookup("a.example.com", DnsType::kA));

  cache.store("t.example.com", DnsType::kA, unexpected(DnsError{DnsErrorKind::kTimeout, "", std::nullopt}));
  cache.store("s.example.com", DnsType::kA, unexpected(DnsError{DnsErrorKind::kServerFailure, "", std::nullopt}));
  CHECK(cache.size() == 0);

  cache.store("n.example.com", DnsType::kA, unexpected(DnsError{DnsErrorKind::kNxDomain, "", std::nullopt}));
  clock.advance(seconds(4));
  auto neg = cache.lookup("n.example.com", DnsType::kA);
  REQUIRE(neg);
  CHECK(neg->error().kind == DnsErrorKind::kNxDomain);
  clock.advance(seconds(2));  // default negative TTL 5 s
  CHECK_FALSE(cache.lookup("n.example.com", DnsType::kA));

  a.addresses.front().ttl = 0;
  cache.store("zero.example.com", DnsType::kA, a);  // TTL 0: not cached
  CHECK(cache.size() == 0);

  a.addresses.front().ttl = 30;
  cache.store("1.example.com", DnsType::kA, a);
  cache.store("2.example.com", DnsType::kA, a);
  CHECK(cache.lookup("1.example.com", DnsType::kA));  // 1 is now most recently used
  cache.store("3.example.com", DnsType::kA, a);       // evicts 2
  CHECK(cache.size() == 2);
  CHECK(cache.lookup("1.example.com", DnsType::kA));
  CHECK_FALSE(cache.lookup("2.example.com", DnsType::kA));
  CHECK(cache.stats().evictions == 1);
}

TEST_CASE("NXDOMAIN everywhere: kNotFound", "[unit][resolver]") {
  Harness h;
  const auto& r = h.locate("sip:nowhere.example");  // the fake answers NXDOMAIN for unknown names
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == ErrorCode::kNotFound);
  CHECK(queried(h.dns, "nowhere.example", DnsType::kA));
  CHECK(queried(h.dns, "nowhere.example", DnsType::kAaaa));
}

TEST_CASE("timeouts: kUnavailable only once the DNS gives up, partial answers still count", "[unit][resolver]") {
  SECTION("everything times out") {
    Harness h;
    for (const auto* n : {"example.com"}) {
      h.dns.set_timeout(n, DnsType::kNaptr);
      h.dns.set_timeout(n, DnsType::kA);
      h.dns.set_timeout(n, DnsType::kAaaa);
    }
    h.dns.set_timeout("_sip._udp.example.com", DnsType::kSrv);
    h.dns.set_timeout("_sip._tcp.example.com", DnsType::kSrv);
    h.dns.set_timeout("_sips._tcp.example.com", DnsType::kSrv);
    h.start("sip:example.com");
    h.dns.run_due();
    CHECK_FALSE(h.result.has_value());
    CHECK(h.locator->in_progress() == 1);
    for (int stage = 0; stage < 3 && !h.result; ++stage) {  // NAPTR, SRV, A/AAAA: 2 s each
      h.clock.advance(seconds(2));
      h.dns.run_due();
    }
    REQUIRE(h.result.has_value());
    REQUIRE_FALSE(h.result->ok());
    CHECK(h.result->error().code == ErrorCode::kUnavailable);
    CHECK(h.locator->in_progress() == 0);
  }
  SECTION("NAPTR times out, SRV answers") {
    Harness h;
    h.dns.set_timeout("example.com", DnsType::kNaptr);
    h.dns.add_srv("_sip._tcp.example.com", 0, 0, 5060, "a.example.com");
    h.dns.add_address("a.example.com", "192.0.2.1");
    h.start("sip:example.com");
    h.clock.advance(seconds(2));
    h.dns.run_due();
    REQUIRE(h.result.has_value());
    CHECK(describe(h.result->value()) == std::vector<std::string>{"TCP 192.0.2.1:5060"});
  }
  SECTION("one of A/AAAA fails, the other answers") {
    Harness h;
    h.dns.add_address("example.com", "192.0.2.1");
    h.dns.set_error("example.com", DnsType::kAaaa, DnsErrorKind::kServerFailure);
    CHECK(describe(h.locate("sip:example.com:5060").value()) == std::vector<std::string>{"UDP 192.0.2.1:5060"});
  }
}

TEST_CASE("slow answers: nothing is delivered early, cancel and destruction stop callbacks", "[unit][resolver]") {
  Harness h;
  h.dns.add_address("example.com", "192.0.2.1");
  h.dns.set_delay("example.com", DnsType::kA, seconds(1));
  SECTION("delay") {
    h.start("sip:example.com:5060");
    CHECK(h.last_id != 0);
    h.dns.run_due();
    CHECK_FALSE(h.result.has_value());
    h.clock.advance(seconds(1));
    h.dns.run_due();
    REQUIRE(h.result.has_value());
    CHECK(h.result->ok());
  }
  SECTION("cancel") {
    h.start("sip:example.com:5060");
    h.locator->cancel(h.last_id);
    CHECK(h.dns.cancelled() == 2);
    h.clock.advance(seconds(1));
    h.dns.run_due();
    CHECK(h.callbacks == 0);
    CHECK(h.locator->in_progress() == 0);
  }
  SECTION("destroying the locator") {
    h.start("sip:example.com:5060");
    h.locator.reset();
    CHECK(h.dns.pending() == 0);
    CHECK(h.callbacks == 0);
  }
}

TEST_CASE("bounds: query budget and target cap", "[unit][resolver]") {
  LocatorConfig cfg;
  cfg.max_targets = 3;
  cfg.max_srv_records = 4;
  cfg.use_ipv6 = false;
  Harness h(cfg);
  for (int i = 0; i < 10; ++i) {
    const std::string host = "h" + std::to_string(i) + ".example.com";
    h.dns.add_srv("_sip._udp.example.com", static_cast<std::uint16_t>(i), 0, 5060, host);
    h.dns.add_address(host, "192.0.2." + std::to_string(i + 1));
  }
  const auto& r = h.locate("sip:example.com");
  CHECK(describe(r.value()) ==
        std::vector<std::string>{"UDP 192.0.2.1:5060", "UDP 192.0.2.2:5060", "UDP 192.0.2.3:5060"});
  CHECK(h.dns.query_count(std::string("h4.example.com"), DnsType::kA) == 0);  // max_srv_records = 4

  LocatorConfig tight;
  tight.max_queries = 2;
  Harness b(tight);
  const auto& r2 = b.locate("sip:example.com");
  REQUIRE_FALSE(r2.ok());
  CHECK(r2.error().code == ErrorCode::kUnavailable);
  CHECK(b.dns.query_count() == 2);
}

}  // namespace portcullis::sip::resolver
