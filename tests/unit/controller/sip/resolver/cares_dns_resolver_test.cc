// CaresDnsResolver against a tiny authoritative DNS responder on 127.0.0.1:<ephemeral> running
// on the same io_context. Replies are built by hand (dns_wire.h). No other DNS server is ever
// contacted: c-ares is configured with this server only. Every wait is a bounded run_for.
#include <catch2/catch.hpp>

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>

#include "common/time/clock.h"
#include "controller/sip/parser/uri.h"
#include "controller/sip/resolver/cares_dns_resolver.h"
#include "controller/sip/resolver/rfc3263_locator.h"
#include "tests/unit/controller/sip/resolver/dns_wire.h"

namespace portcullis::sip::resolver {
namespace {

namespace asio = boost::asio;
using udp = asio::ip::udp;
using namespace std::chrono_literals;

/// Answers queries from a table keyed by "name/type"; a missing key means "never answer".
class TestDnsServer {
 public:
  using Responder = std::function<test::Bytes(const test::Question&)>;

  explicit TestDnsServer(asio::io_context& io) : socket_(io, udp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
    receive();
  }

  std::uint16_t port() const { return socket_.local_endpoint().port(); }
  void on(const std::string& name, std::uint16_t type, Responder r) { table_[key(name, type)] = std::move(r); }
  int queries(const std::string& name, std::uint16_t type) const {
    const auto it = counts_.find(key(name, type));
    return it == counts_.end() ? 0 : it->second;
  }

 private:
  static std::string key(const std::string& name, std::uint16_t type) { return name + "/" + std::to_string(type); }

  void receive() {
    socket_.async_receive_from(asio::buffer(buffer_), peer_, [this](boost::system::error_code ec, std::size_t n) {
      if (ec) {
        return;
      }
      if (const auto q = test::parse_question(buffer_.data(), n)) {
        const std::string k = key(q->name, q->type);
        ++counts_[k];
        if (const auto it = table_.find(k); it != table_.end()) {
          auto reply = std::make_shared<test::Bytes>(it->second(*q));
          socket_.async_send_to(asio::buffer(*reply), peer_, [reply](boost::system::error_code, std::size_t) {});
        }
      }
      receive();
    });
  }

  udp::socket socket_;
  udp::endpoint peer_;
  std::array<std::uint8_t, 1500> buffer_{};
  std::map<std::string, Responder> table_;
  std::map<std::string, int> counts_;
};

/// Runs the io_context in short slices until `done` or the wall-clock budget is spent.
bool run_until(asio::io_context& io, const std::function<bool()>& done, std::chrono::milliseconds budget = 3000ms) {
  const auto deadline = std::chrono::steady_clock::now() + budget;
  while (!done() && std::chrono::steady_clock::now() < deadline) {
    io.restart();
    io.run_for(10ms);
  }
  return done();
}

struct Env {
  asio::io_context io;
  TestDnsServer server{io};
  std::unique_ptr<CaresDnsResolver> resolver;

  explicit Env(CaresConfig cfg = {}) {
    cfg.servers = {net::Endpoint(net::IpAddress::v4(0x7F000001), server.port())};
    auto r = CaresDnsResolver::create(io.get_executor(), cfg);
    REQUIRE(r.ok());
    resolver = std::move(r).value();
  }

  DnsResult resolve(const std::string& name, DnsType type, std::chrono::milliseconds budget = 3000ms) {
    std::optional<DnsResult> out;
    resolver->query(name, type, [&](DnsResult r) { out = std::move(r); });
    REQUIRE(run_until(io, [&] { return out.has_value(); }, budget));
    return std::move(*out);
  }
};

void populate(TestDnsServer& s) {
  s.on("a.test", 1, [](const test::Question& q) {
    return test::ResponseBuilder(q).add_a(120, {127, 0, 0, 10}).add_a(60, {127, 0, 0, 11}).build();
  });
  s.on("a.test", 28, [](const test::Question& q) {
    return test::ResponseBuilder(q).add_aaaa(90, {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5}).build();
  });
  s.on("_sip._udp.a.test", 33, [](const test::Question& q) {
    return test::ResponseBuilder(q)
        .add_srv(300, 10, 50, 5070, "a.test")
        .add_srv(300, 20, 0, 5080, "sip2._sip._udp.a.test", /*compress_suffix=*/true)
        .build();
  });
  s.on("a.test", 35, [](const test::Question& q) {
    return test::ResponseBuilder(q)
        .add_naptr(3600, 10, 10, "s", "SIP+D2U", "", "_sip._udp.a.test")
        .add_naptr(3600, 20, 10, "s", "SIP+D2T", "", "_sip._tcp.a.test")
        .build();
  });
  s.on("missing.test", 1, [](const test::Question& q) { return test::ResponseBuilder(q, 3).add_soa(600, 45).build(); });
  s.on("nodata.test", 1, [](const test::Question& q) { return test::ResponseBuilder(q, 0).add_soa(20, 300).build(); });
  s.on("broken.test", 1, [](const test::Question& q) { return test::ResponseBuilder(q, 2).build(); });
  // "silent.test" is not in the table: the server never answers it.
}

}  // namespace

TEST_CASE("CaresDnsResolver: A, AAAA, SRV, NAPTR from a local DNS server", "[unit][resolver][cares]") {
  Env env;
  populate(env.server);

  const auto a = env.resolve("a.test", DnsType::kA);
  REQUIRE(a.ok());
  REQUIRE(a->addresses.size() == 2);
  CHECK(a->addresses[0] == AddressRecord{*net::IpAddress::parse("127.0.0.10"), 120});
  CHECK(a->addresses[1].ttl == 60);

  const auto aaaa = env.resolve("A.TEST.", DnsType::kAaaa);
  REQUIRE(aaaa.ok());
  CHECK(aaaa->addresses.at(0).address.to_string() == "2001:db8::5");
  CHECK(aaaa->addresses.at(0).ttl == 90);

  const auto srv = env.resolve("_sip._udp.a.test", DnsType::kSrv);
  REQUIRE(srv.ok());
  REQUIRE(srv->srv.size() == 2);
  CHECK(srv->srv[0] == SrvRecord{10, 50, 5070, "a.test", 300});
  CHECK(srv->srv[1].target == "sip2._sip._udp.a.test");

  const auto naptr = env.resolve("a.test", DnsType::kNaptr);
  REQUIRE(naptr.ok());
  REQUIRE(naptr->naptr.size() == 2);
  CHECK(naptr->naptr[0] == NaptrRecord{10, 10, "s", "SIP+D2U", "", "_sip._udp.a.test", 3600});
  CHECK(env.resolver->in_flight() == 0);
}

TEST_CASE("CaresDnsResolver: NXDOMAIN, NODATA, SERVFAIL, bad names", "[unit][resolver][cares]") {
  CaresConfig cfg;
  cfg.attempt_timeout = 200ms;
  cfg.tries = 1;
  Env env(cfg);
  populate(env.server);

  const auto nx = env.resolve("missing.test", DnsType::kA);
  REQUIRE_FALSE(nx.ok());
  CHECK(nx.error().kind == DnsErrorKind::kNxDomain);
  CHECK(nx.error().negative_ttl == 45u);  // min(SOA TTL 600, MINIMUM 45)

  const auto nodata = env.resolve("nodata.test", DnsType::kA);
  REQUIRE_FALSE(nodata.ok());
  CHECK(nodata.error().kind == DnsErrorKind::kNoData);
  CHECK(nodata.error().negative_ttl == 20u);

  const auto servfail = env.resolve("broken.test", DnsType::kA);
  REQUIRE_FALSE(servfail.ok());
  CHECK(servfail.error().kind == DnsErrorKind::kServerFailure);

  const auto bad = env.resolve("a..test", DnsType::kA);
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().kind == DnsErrorKind::kBadName);
  CHECK(env.server.queries("a..test", 1) == 0);
}

TEST_CASE("CaresDnsResolver: a server that never answers times out within the configured tries",
          "[unit][resolver][cares]") {
  SECTION("c-ares tries (100 ms + 200 ms)") {
    CaresConfig cfg;
    cfg.attempt_timeout = 100ms;
    cfg.tries = 2;
    cfg.query_timeout = 5000ms;
    Env env(cfg);
    populate(env.server);
    const auto start = std::chrono::steady_clock::now();
    const auto r = env.resolve("silent.test", DnsType::kA);
    const auto took = std::chrono::steady_clock::now() - start;
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().kind == DnsErrorKind::kTimeout);
    CHECK(env.server.queries("silent.test", 1) == 2);
    CHECK(took < 2000ms);
    CHECK(env.resolver->in_flight() == 0);
  }
  SECTION("overall query deadline beats slow c-ares retries") {
    CaresConfig cfg;
    cfg.attempt_timeout = 1000ms;
    cfg.tries = 3;
    cfg.query_timeout = 150ms;
    Env env(cfg);
    populate(env.server);
    const auto start = std::chrono::steady_clock::now();
    const auto r = env.resolve("silent.test", DnsType::kA);
    const auto took = std::chrono::steady_clock::now() - start;
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().kind == DnsErrorKind::kTimeout);
    CHECK(took < 900ms);
  }
}

TEST_CASE("CaresDnsResolver: bounded in-flight queries, cancel, no inline callbacks", "[unit][resolver][cares]") {
  CaresConfig cfg;
  cfg.max_in_flight = 1;
  cfg.attempt_timeout = 100ms;
  cfg.tries = 1;
  Env env(cfg);
  populate(env.server);

  std::optional<DnsResult> first;
  std::optional<DnsResult> second;
  bool cancelled_called = false;
  env.resolver->query("a.test", DnsType::kA, [&](DnsResult r) { first = std::move(r); });
  env.resolver->query("a.test", DnsType::kAaaa, [&](DnsResult r) { second = std::move(r); });
  CHECK_FALSE(second.has_value());  // even a refusal is delivered later, never inside query()
  REQUIRE(run_until(env.io, [&] { return first.has_value() && second.has_value(); }));
  CHECK(first->ok());
  REQUIRE_FALSE(second->ok());
  CHECK(second->error().kind == DnsErrorKind::kOverloaded);

  const DnsQueryId id = env.resolver->query("a.test", DnsType::kA, [&](DnsResult) { cancelled_called = true; });
  env.resolver->cancel(id);
  CHECK(env.resolver->pending_callbacks() == 0);
  run_until(env.io, [&] { return env.resolver->in_flight() == 0; });
  CHECK(env.resolver->in_flight() == 0);
  CHECK_FALSE(cancelled_called);
}

TEST_CASE("CaresDnsResolver: destroyed with queries outstanding", "[unit][resolver][cares]") {
  Env env;
  populate(env.server);
  bool called = false;
  env.resolver->query("silent.test", DnsType::kA, [&](DnsResult) { called = true; });
  env.io.restart();
  env.io.run_for(20ms);
  env.resolver.reset();
  env.io.restart();
  env.io.run_for(50ms);
  CHECK_FALSE(called);
}

TEST_CASE("Rfc3263Locator over CaresDnsResolver: NAPTR -> SRV -> A/AAAA end to end", "[unit][resolver][cares]") {
  CaresConfig cfg;
  cfg.attempt_timeout = 200ms;
  cfg.tries = 1;
  Env env(cfg);
  populate(env.server);
  env.server.on("sip2._sip._udp.a.test", 1, [](const test::Question& q) {
    return test::ResponseBuilder(q).add_a(60, {127, 0, 0, 20}).build();
  });
  env.server.on("sip2._sip._udp.a.test", 28, [](const test::Question& q) { return test::ResponseBuilder(q, 0).build(); });
  env.server.on("_sip._tcp.a.test", 33, [](const test::Question& q) { return test::ResponseBuilder(q, 3).build(); });

  SystemClock clock;
  DnsCache cache(clock);
  Rfc3263Locator locator(*env.resolver, make_seeded_random(3), {}, &cache);
  const auto uri = parse_uri("sip:bob@a.test");
  REQUIRE(uri.ok());
  std::optional<LocateResult> result;
  CHECK(locator.locate(*uri, [&](LocateResult r) { result = std::move(r); }) != 0);
  REQUIRE(run_until(env.io, [&] { return result.has_value(); }));
  REQUIRE(result->ok());
  std::vector<std::string> got;
  for (const auto& t : result->value()) {
    got.push_back(t.to_string());
  }
  CHECK(got == std::vector<std::string>{"UDP 127.0.0.10:5070 (a.test)", "UDP 127.0.0.11:5070 (a.test)",
                                        "UDP [2001:db8::5]:5070 (a.test)",
                                        "UDP 127.0.0.20:5080 (sip2._sip._udp.a.test)"});
  // A second locate is answered from the cache without touching the network.
  const int naptr_queries = env.server.queries("a.test", 35);
  std::optional<LocateResult> again;
  CHECK(locator.locate(*uri, [&](LocateResult r) { again = std::move(r); }) == 0);
  REQUIRE(again.has_value());
  CHECK(again->value().size() == 4);
  CHECK(env.server.queries("a.test", 35) == naptr_queries);
}

}  // namespace portcullis::sip::resolver
