// Agent config validation: every bad key is reported with the file, its line and the key path.
#include <string>

#include <catch2/catch.hpp>

#include "common/config/yaml_reader.h"
#include "pinhole-agent/app/agent_config.h"
#include "tests/unit/pinhole-agent/service/test_pki.h"

using namespace portcullis;
using namespace portcullis::agent::app;

namespace {

// Line numbers below refer to this text (line 1 = "agent:").
const std::string kGood = R"(agent:
  id: edge-1
  listen: 127.0.0.1:7443
  log_level: info
backend:
  type: fake
pools:
  - public_address: 203.0.113.10
    ports: {first: 40000, last: 40999}
timers:
  session_ttl: 15s
  heartbeat_interval: 5s
  max_lifetime: 12h
limits:
  max_bindings: 1000
tls:
  insecure_lab: true
)";

std::string replace(std::string text, const std::string& from, const std::string& to) {
  const auto at = text.find(from);
  REQUIRE(at != std::string::npos);
  return text.replace(at, from.size(), to);
}

std::string error_of(const std::string& text) {
  auto c = parse_agent_config(text, "agent.yaml");
  REQUIRE_FALSE(c.ok());
  return c.error().message;
}

}  // namespace

TEST_CASE("a valid config loads with its values") {
  auto c = parse_agent_config(kGood, "agent.yaml");
  REQUIRE(c.ok());
  CHECK(c->agent_id == "edge-1");
  CHECK(c->backend == BackendKind::kFake);
  REQUIRE(c->manager.pools.size() == 1);
  CHECK(c->manager.pools[0].first_port == 40000);
  CHECK(c->manager.pools[0].last_port == 40999);
  CHECK(c->manager.max_bindings == 1000);
  CHECK(c->manager.max_lifetime == std::chrono::hours(12));
  CHECK(c->tls.insecure_lab);
}

TEST_CASE("each bad key is named with its line") {
  struct Case {
    std::string from, to, expected;
  };
  const Case cases[] = {
      {"ports: {first: 40000", "ports: {first: 80",
       "agent.yaml:9: pools[0].ports.first: must be 1024..65535 (got '80')"},
      {"last: 40999}", "last: 30000}", "agent.yaml:9: pools[0].ports.last: must be >= ports.first"},
      {"public_address: 203.0.113.10", "public_address: 203.0.113.300",
       "agent.yaml:8: pools[0].public_address: must be a unicast IPv4/IPv6 address (got '203.0.113.300')"},
      {"session_ttl: 15s", "session_ttl: 15", "agent.yaml:11: timers.session_ttl: must be a duration with a unit"},
      {"session_ttl: 15s", "session_ttl: 1s", "agent.yaml:11: timers.session_ttl: must be 2s..1h (got 1s)"},
      {"heartbeat_interval: 5s", "heartbeat_interval: 20s",
       "agent.yaml:12: timers.heartbeat_interval: must be shorter than timers.session_ttl"},
      {"max_bindings: 1000", "max_bindings: lots", "agent.yaml:15: limits.max_bindings: must be 1..10000000"},
      {"type: fake", "type: iptables", "agent.yaml:6: backend.type: must be nft or fake"},
      {"log_level: info", "log_level: loud", "agent.yaml:4: agent.log_level: must be one of"},
      {"listen: 127.0.0.1:7443", "listen: 127.0.0.1", "agent.yaml:3: agent.listen: must be host:port"},
      {"  id: edge-1\n", "", "agent.yaml:1: agent.id: is required"},
      {"max_lifetime: 12h", "max_lifetme: 12h", "agent.yaml:13: timers.max_lifetme: unknown key"},
      {"insecure_lab: true", "insecure_lab: yes please", "agent.yaml:17: tls.insecure_lab: must be true or false"},
  };
  for (const Case& c : cases) {
    INFO(c.to);
    const std::string err = error_of(replace(kGood, c.from, c.to));
    CHECK_THAT(err, Catch::Contains(c.expected));
  }
}

TEST_CASE("several errors are reported at once, in line order") {
  std::string text = replace(kGood, "log_level: info", "log_level: loud");
  text = replace(text, "max_bindings: 1000", "max_bindings: 0");
  const std::string err = error_of(text);
  const auto a = err.find("agent.yaml:4: agent.log_level");
  const auto b = err.find("agent.yaml:15: limits.max_bindings");
  CHECK(a != std::string::npos);
  CHECK(b != std::string::npos);
  CHECK(a < b);
}

TEST_CASE("nft backend rules: interfaces required, pools clear of masquerade ports") {
  std::string text = replace(kGood, "type: fake", "type: nft");
  CHECK_THAT(error_of(text), Catch::Contains("agent.yaml:5: backend.wan_interfaces: is required"));
  text = replace(text, "type: nft", "type: nft\n  wan_interfaces: [eth0]\n  masquerade_ports: {first: 30000, last: 45000}");
  CHECK_THAT(error_of(text), Catch::Contains("pools[0].ports.first: overlaps backend.masquerade_ports"));
}

TEST_CASE("mTLS is required unless insecure lab, TLS files and identities are checked") {
  const std::string no_tls = replace(kGood, "tls:\n  insecure_lab: true\n", "");
  CHECK_THAT(error_of(no_tls), Catch::Contains("tls: is required"));
  CHECK(parse_agent_config(no_tls, "agent.yaml", /*insecure_lab_flag=*/true).ok());

  testing::TestPki pki;
  const auto server = pki.issue_server();
  const std::string tls = replace(kGood, "  insecure_lab: true\n",
                                  "  cert: " + server.cert_path + "\n  key: /nonexistent/agent.key\n  client_ca: " +
                                      pki.ca_path() +
                                      "\n  identities:\n    - identity: spiffe://x/controller/a\n      owners: "
                                      "[\"sbc a\"]\n");
  const std::string err = error_of(tls);
  CHECK_THAT(err, Catch::Contains("agent.yaml:18: tls.key: cannot read '/nonexistent/agent.key'"));
  CHECK_THAT(err, Catch::Contains("tls.identities[0].owners: 'sbc a' is not an owner pattern"));

  const std::string ok = replace(replace(tls, "/nonexistent/agent.key", server.key_path), "\"sbc a\"", "\"sbc-a/*\"");
  auto c = parse_agent_config(ok, "agent.yaml");
  REQUIRE(c.ok());
  CHECK_FALSE(c->tls.insecure_lab);
  REQUIRE(c->tls.identities.size() == 1);
  CHECK(c->tls.identities[0].owners == std::vector<std::string>{"sbc-a/*"});
}

TEST_CASE("YAML syntax errors name the line") {
  const std::string err = error_of("agent:\n  id: [unclosed\n");
  CHECK_THAT(err, Catch::StartsWith("agent.yaml:"));
  CHECK_THAT(err, Catch::Contains("(yaml)"));
}

TEST_CASE("durations") {
  using config::parse_duration;
  CHECK(parse_duration("250ms") == std::chrono::milliseconds(250));
  CHECK(parse_duration("15s") == std::chrono::seconds(15));
  CHECK(parse_duration("5m") == std::chrono::minutes(5));
  CHECK(parse_duration("12h") == std::chrono::hours(12));
  CHECK(parse_duration("1d") == std::chrono::hours(24));
  CHECK_FALSE(parse_duration("15"));
  CHECK_FALSE(parse_duration("-1s"));
  CHECK_FALSE(parse_duration("1.5s"));
  CHECK_FALSE(parse_duration("99999999999999h"));
}
