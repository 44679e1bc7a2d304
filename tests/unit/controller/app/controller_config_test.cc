// Controller config validation: the agreed schema loads into the layers' configs, and every bad
// key is reported with the file, its line and the key path.
#include <cstdio>
#include <fstream>
#include <string>

#include <catch2/catch.hpp>

#include "controller/app/controller_config.h"

using namespace portcullis;
using namespace portcullis::controller::app;
using namespace std::chrono_literals;

namespace {

// Line numbers below refer to this text (line 1 = "controller:").
const std::string kGood = R"(controller:
  id: ctl-1
  log_level: info
  threads: 2
listen:
  - transport: udp
    address: 127.0.0.1:5060
    advertise: 203.0.113.1
    realm: wan
  - transport: tcp
    address: 127.0.0.1:5060
    realm: wan
  - transport: udp
    address: 10.0.0.1:5060
    advertise: "[2001:db8::1]:5070"
    realm: lan
domains: [example.test]
registrar:
  enabled: true
  default_expires: 3600
  min_expires: 60
  max_expires: 7200
  max_contacts_per_aor: 10
  allowed_sources: [127.0.0.0/8]
proxy:
  record_route: true
  strict: false
  timer_c: 181s
  max_forwards_options_200: true
  routes:
    - domain: other.test
      uri: sip:127.0.0.1:5070;lr
  outbound_proxy: ""
limits:
  max_message_bytes: 65535
  max_connections: 10000
  max_connections_per_ip: 200
  idle_timeout: 600s
  max_transactions: 200000
timers: { t1: 500ms, t2: 4s, t4: 5s }
dns:
  servers: []
)";

const std::string kMinimal = R"(controller:
  id: c
listen:
  - transport: udp
    address: 127.0.0.1:5060
registrar:
  enabled: false
)";

std::string replace(std::string text, const std::string& from, const std::string& to) {
  const auto at = text.find(from);
  REQUIRE(at != std::string::npos);
  return text.replace(at, from.size(), to);
}

std::string error_of(const std::string& text) {
  auto c = parse_controller_config(text, "ctl.yaml");
  REQUIRE_FALSE(c.ok());
  return c.error().message;
}

/// A readable file for the TLS keys (only readability is checked at load time).
std::string temp_file(const std::string& name) {
  const std::string path = "/tmp/controller_config_test_" + name;
  std::ofstream(path) << "not really PEM\n";
  return path;
}

}  // namespace

TEST_CASE("the agreed schema loads into the layers' configs") {
  auto c = parse_controller_config(kGood, "ctl.yaml");
  INFO((c.ok() ? "" : c.error().message));
  REQUIRE(c.ok());
  CHECK(c->id == "ctl-1");
  CHECK(c->log_level == "info");
  CHECK(c->threads == 2);
  CHECK(c->effective_threads() == 2);
  REQUIRE(c->listen.size() == 3);
  CHECK(c->listen[0].transport == sip::TransportProtocol::kUdp);
  CHECK(c->listen[0].address.to_string() == "127.0.0.1:5060");
  CHECK(c->listen[0].advertised_host == "203.0.113.1");
  CHECK(c->listen[0].advertised_port == 0);
  CHECK(c->listen[1].transport == sip::TransportProtocol::kTcp);
  CHECK(c->listen[2].advertised_host == "[2001:db8::1]");
  CHECK(c->listen[2].advertised_port == 5070);

  // Listeners grouped by realm, in order of first appearance.
  REQUIRE(c->proxy.interfaces.size() == 2);
  CHECK(c->proxy.interfaces[0].name == "wan");
  CHECK(c->proxy.interfaces[0].listeners.size() == 2);
  CHECK(c->proxy.interfaces[0].listeners[0].advertised_host == "203.0.113.1");
  CHECK(c->proxy.interfaces[1].name == "lan");
  CHECK(c->proxy.interfaces[1].listeners[0].advertised_port == 5070);

  CHECK(c->domains == std::vector<std::string>{"example.test"});
  CHECK(c->proxy.domains == c->domains);
  CHECK(c->registrar.domains == c->domains);
  CHECK(c->registrar_enabled);
  CHECK(c->registrar.default_expires == 3600);
  CHECK(c->registrar.min_expires == 60);
  CHECK(c->registrar.max_expires == 7200);
  CHECK(c->registrar.max_contacts_per_aor == 10);
  REQUIRE(c->registrar.allowed_sources.size() == 1);
  CHECK(c->registrar.allowed_sources[0].to_string() == "127.0.0.0/8");

  CHECK(c->proxy.record_route);
  CHECK_FALSE(c->proxy.strict);
  CHECK(c->proxy.timer_c == 181s);
  CHECK(c->proxy.answer_options_at_zero_max_forwards);
  REQUIRE(c->proxy.static_routes.size() == 1);
  CHECK(c->proxy.static_routes[0].domain == "other.test");
  CHECK(c->proxy.static_routes[0].uri == "sip:127.0.0.1:5070;lr");
  CHECK(c->proxy.static_routes[0].push_route);
  CHECK(c->proxy.outbound_proxy.empty());

  CHECK(c->parse_limits.max_message_bytes == 65535);
  CHECK(c->max_connections == 10000);
  CHECK(c->max_connections_per_ip == 200);
  CHECK(c->idle_timeout == 600s);
  CHECK(c->transactions.max_transactions == 200000);
  CHECK(c->transactions.t1 == 500ms);
  CHECK(c->transactions.t2 == 4s);
  CHECK(c->transactions.t4 == 5s);
  CHECK(c->dns_servers.empty());
}

TEST_CASE("defaults of a minimal config") {
  auto c = parse_controller_config(kMinimal, "ctl.yaml");
  INFO((c.ok() ? "" : c.error().message));
  REQUIRE(c.ok());
  CHECK(c->threads == 1);
  CHECK(c->log_level == "info");
  CHECK_FALSE(c->registrar_enabled);
  CHECK(c->domains.empty());
  CHECK(c->proxy.interfaces.size() == 1);
  CHECK(c->proxy.interfaces[0].name == "default");
  CHECK(c->proxy.record_route);
  CHECK(c->proxy.timer_c == 181s);
  CHECK(c->proxy.stateless_register);
  CHECK(c->transactions.max_transactions == 1000000);
  CHECK(c->max_connections == 10000);
  CHECK(c->max_connections_per_ip == 200);
  CHECK(c->idle_timeout == 600s);
  CHECK(c->parse_limits.max_message_bytes == 65535);
}

TEST_CASE("threads 0 means one shard per CPU") {
  auto c = parse_controller_config(replace(kGood, "threads: 2", "threads: 0"), "ctl.yaml");
  REQUIRE(c.ok());
  CHECK(c->threads == 0);
  CHECK(c->effective_threads() >= 1);
}

TEST_CASE("dns servers take IP, IP:port and [IPv6]:port") {
  auto c = parse_controller_config(
      replace(kGood, "servers: []", "servers: [127.0.0.1:5353, 192.0.2.53, \"[2001:db8::53]:5300\"]"), "ctl.yaml");
  INFO((c.ok() ? "" : c.error().message));
  REQUIRE(c.ok());
  REQUIRE(c->dns_servers.size() == 3);
  CHECK(c->dns_servers[0].to_string() == "127.0.0.1:5353");
  CHECK(c->dns_servers[1].to_string() == "192.0.2.53:53");
  CHECK(c->dns_servers[2].to_string() == "[2001:db8::53]:5300");
}

TEST_CASE("each bad key is named with its line") {
  struct Case {
    std::string from, to, expected;
  };
  const Case cases[] = {
      {"threads: 2", "threads: 65", "ctl.yaml:4: controller.threads: must be 0..64"},
      {"log_level: info", "log_level: loud", "ctl.yaml:3: controller.log_level: must be one of"},
      {"id: ctl-1", "id: \"ctl 1\"", "ctl.yaml:2: controller.id: must use only letters"},
      {"  id: ctl-1\n", "", "ctl.yaml:1: controller.id: is required"},
      {"transport: udp\n    address: 127.0.0.1:5060\n    advertise", "transport: sctp\n    address: 127.0.0.1:5060\n    advertise",
       "ctl.yaml:6: listen[0].transport: must be udp, tcp or tls (got 'sctp')"},
      {"address: 10.0.0.1:5060", "address: 10.0.0.1", "ctl.yaml:14: listen[2].address: must be IP:port"},
      {"address: 10.0.0.1:5060", "address: 10.0.0.1:0", "ctl.yaml:14: listen[2].address: must be IP:port"},
      {"advertise: 203.0.113.1", "advertise: \"bad host!\"", "ctl.yaml:8: listen[0].advertise: must be a host name"},
      {"realm: lan", "realm: \"l a n\"", "ctl.yaml:16: listen[2].realm: must use only letters"},
      {"domains: [example.test]", "domains: [\"exa mple\"]", "ctl.yaml:17: domains: 'exa mple' is not a domain"},
      {"default_expires: 3600", "default_expires: 30", "ctl.yaml:20: registrar.default_expires: must be within"},
      {"min_expires: 60", "min_expires: 9000", "ctl.yaml:21: registrar.min_expires: must be <= registrar.max_expires"},
      {"max_contacts_per_aor: 10", "max_contacts_per_aor: 0", "ctl.yaml:23: registrar.max_contacts_per_aor: must be 1..1000"},
      {"allowed_sources: [127.0.0.0/8]", "allowed_sources: [127.0.0.0/33]",
       "ctl.yaml:24: registrar.allowed_sources: '127.0.0.0/33' is not a CIDR prefix"},
      {"record_route: true", "record_route: maybe", "ctl.yaml:26: proxy.record_route: must be true or false"},
      {"timer_c: 181s", "timer_c: 181", "ctl.yaml:28: proxy.timer_c: must be a duration with a unit"},
      {"timer_c: 181s", "timer_c: 2h", "ctl.yaml:28: proxy.timer_c: must be 1s..1h"},
      {"domain: other.test", "domain: \"other test\"", "ctl.yaml:31: proxy.routes[0].domain: must be a domain name"},
      {"uri: sip:127.0.0.1:5070", "uri: http://x", "ctl.yaml:32: proxy.routes[0].uri: must be a sip: or sips: URI"},
      {"outbound_proxy: \"\"", "outbound_proxy: tel:+123", "ctl.yaml:33: proxy.outbound_proxy: must be empty or a sip:"},
      {"max_message_bytes: 65535", "max_message_bytes: 70000", "ctl.yaml:35: limits.max_message_bytes: must be 1024..65535"},
      {"max_connections_per_ip: 200", "max_connections_per_ip: 20000",
       "ctl.yaml:37: limits.max_connections_per_ip: must be <= limits.max_connections"},
      {"idle_timeout: 600s", "idle_timeout: 0s", "ctl.yaml:38: limits.idle_timeout: must be 1s..24h"},
      {"max_transactions: 200000", "max_transactions: 0", "ctl.yaml:39: limits.max_transactions: must be 1..100000000"},
      {"t2: 4s", "t2: 100ms", "ctl.yaml:40: timers.t2: must be >= timers.t1"},
      {"servers: []", "servers: [dns.example]", "ctl.yaml:42: dns.servers: 'dns.example' is not IP"},
      {"  max_transactions: 200000\n", "  max_transactions: 200000\n  max_transaction: 1\n",
       "ctl.yaml:40: limits.max_transaction: unknown key"},
      {"dns:\n", "dsn:\n  x: 1\ndns:\n", "ctl.yaml:41: dsn: unknown key"},
  };
  for (const Case& c : cases) {
    INFO(c.from << " -> " << c.to);
    const std::string err = error_of(replace(kGood, c.from, c.to));
    INFO(err);
    CHECK(err.find(c.expected) != std::string::npos);
  }
}

TEST_CASE("every error is reported, in line order") {
  std::string text = replace(kGood, "threads: 2", "threads: 99");
  text = replace(text, "idle_timeout: 600s", "idle_timeout: forever");
  const std::string err = error_of(text);
  const auto first = err.find("ctl.yaml:4: controller.threads");
  const auto second = err.find("ctl.yaml:38: limits.idle_timeout");
  REQUIRE(first != std::string::npos);
  REQUIRE(second != std::string::npos);
  CHECK(first < second);
}

TEST_CASE("listen needs at least one entry") {
  CHECK(error_of("controller: {id: c}\nregistrar: {enabled: false}\nlisten: []\n").find("ctl.yaml:3: listen: needs at least one") !=
        std::string::npos);
  CHECK(error_of("controller: {id: c}\nregistrar: {enabled: false}\n").find("listen: is required") != std::string::npos);
}

TEST_CASE("a listener may not be bound twice but udp and tcp may share an address") {
  const std::string dup = replace(kGood, "address: 10.0.0.1:5060", "address: 127.0.0.1:5060");
  CHECK(error_of(dup).find("ctl.yaml:14: listen[2].address: 127.0.0.1:5060 is already used by an earlier UDP listener") !=
        std::string::npos);
  const std::string tls_on_tcp_port = replace(kMinimal, "  - transport: udp\n    address: 127.0.0.1:5060\n",
                                              "  - transport: tcp\n    address: 127.0.0.1:5060\n"
                                              "  - transport: tls\n    address: 127.0.0.1:5060\n"
                                              "    cert: " + temp_file("cert.pem") + "\n    key: " +
                                                  temp_file("key.pem") + "\n");
  CHECK(error_of(tls_on_tcp_port).find("listen[1].address: 127.0.0.1:5060 is already used by an earlier TCP listener") !=
        std::string::npos);
}

TEST_CASE("tls listeners need readable cert and key, and ca with require_client_cert") {
  const std::string cert = temp_file("cert.pem");
  const std::string key = temp_file("key.pem");
  const std::string base = "controller: {id: c}\nregistrar: {enabled: false}\nlisten:\n"
                           "  - transport: tls\n    address: 127.0.0.1:5061\n";
  SECTION("complete") {
    auto c = parse_controller_config(base + "    cert: " + cert + "\n    key: " + key + "\n", "ctl.yaml");
    INFO((c.ok() ? "" : c.error().message));
    REQUIRE(c.ok());
    CHECK(c->listen[0].transport == sip::TransportProtocol::kTls);
    CHECK(c->listen[0].cert_file == cert);
    CHECK(c->listen[0].key_file == key);
    CHECK_FALSE(c->listen[0].require_client_cert);
  }
  SECTION("missing key") {
    CHECK(error_of(base + "    cert: " + cert + "\n").find("ctl.yaml:4: listen[0].key: is required") != std::string::npos);
  }
  SECTION("unreadable cert") {
    CHECK(error_of(base + "    cert: /nonexistent/cert.pem\n    key: " + key + "\n")
              .find("ctl.yaml:6: listen[0].cert: cannot read '/nonexistent/cert.pem'") != std::string::npos);
  }
  SECTION("mutual TLS without ca") {
    CHECK(error_of(base + "    cert: " + cert + "\n    key: " + key + "\n    require_client_cert: true\n")
              .find("ctl.yaml:8: listen[0].require_client_cert: needs ca") != std::string::npos);
  }
  SECTION("mutual TLS with ca") {
    auto c = parse_controller_config(
        base + "    cert: " + cert + "\n    key: " + key + "\n    ca: " + cert + "\n    require_client_cert: true\n",
        "ctl.yaml");
    REQUIRE(c.ok());
    CHECK(c->listen[0].require_client_cert);
    CHECK(c->listen[0].ca_file == cert);
  }
  SECTION("tls keys on a udp listener") {
    CHECK(error_of(replace(kMinimal, "address: 127.0.0.1:5060\n", "address: 127.0.0.1:5060\n    cert: " + cert + "\n")).find("listen[0]: cert, key, ca and require_client_cert apply to transport tls only") !=
          std::string::npos);
  }
}

TEST_CASE("registrar.stateless turns the stateless REGISTER answer off") {
  const std::string head = "controller:\n  id: c\nlisten:\n  - transport: udp\n    address: 127.0.0.1:5060\n";
  auto c = parse_controller_config(head + "domains: [example.test]\nregistrar:\n  stateless: false\n", "ctl.yaml");
  INFO((c.ok() ? "" : c.error().message));
  REQUIRE(c.ok());
  CHECK(c->registrar_enabled);
  CHECK_FALSE(c->proxy.stateless_register);
  auto bad = parse_controller_config(head + "registrar:\n  enabled: false\n  stateless: sometimes\n", "ctl.yaml");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().message.find("registrar.stateless: must be true or false") != std::string::npos);
}

TEST_CASE("an enabled registrar needs domains") {
  CHECK(error_of(replace(kMinimal, "enabled: false", "enabled: true"))
            .find("ctl.yaml:7: registrar.enabled: the registrar needs at least one entry in domains") != std::string::npos);
  CHECK(error_of(replace(kMinimal, "registrar:\n  enabled: false\n", "")).find("domains: is required while the registrar is enabled") !=
        std::string::npos);
}

TEST_CASE("a static route must be a loose-routing URI") {
  const std::string text = replace(kGood, "uri: sip:127.0.0.1:5070;lr", "uri: sip:127.0.0.1:5070");
  auto c = parse_controller_config(text, "ctl.yaml");
  REQUIRE_FALSE(c.ok());
  CHECK(c.error().message.find("routes[0].uri: must be a loose-routing URI: add ;lr") != std::string::npos);
}

TEST_CASE("a route may match every foreign domain and an outbound proxy is a sip URI") {
  std::string text = replace(kGood, "domain: other.test", "domain: \"*\"");
  text = replace(text, "outbound_proxy: \"\"", "outbound_proxy: sip:edge.example.net;lr");
  auto c = parse_controller_config(text, "ctl.yaml");
  INFO((c.ok() ? "" : c.error().message));
  REQUIRE(c.ok());
  CHECK(c->proxy.static_routes[0].domain == "*");
  CHECK(c->proxy.outbound_proxy == "sip:edge.example.net;lr");
}

TEST_CASE("YAML syntax errors name the file and line") {
  auto c = parse_controller_config("controller:\n  id: [unclosed\n", "ctl.yaml");
  REQUIRE_FALSE(c.ok());
  CHECK(c.error().message.find("ctl.yaml:") != std::string::npos);
}

TEST_CASE("load_controller_config reads a file and names it") {
  const std::string path = "/tmp/controller_config_test_file.yaml";
  std::ofstream(path) << replace(kGood, "threads: 2", "threads: x");
  auto c = load_controller_config(path);
  REQUIRE_FALSE(c.ok());
  CHECK(c.error().message.find(path + ":4: controller.threads") != std::string::npos);
  CHECK_FALSE(load_controller_config("/nonexistent/ctl.yaml").ok());
}

TEST_CASE("--help documents every key of the schema") {
  const std::string ref = controller_config_reference();
  for (const char* key :
       {"controller:", "id:", "log_level:", "threads:", "listen:", "transport:", "address:", "advertise:", "realm:",
        "cert:", "key:", "ca:", "require_client_cert:", "domains:", "registrar:", "enabled:", "default_expires:",
        "min_expires:", "max_expires:", "max_contacts_per_aor:", "allowed_sources:", "stateless:", "proxy:", "record_route:",
        "strict:", "timer_c:", "max_forwards_options_200:", "routes:", "domain:", "uri:", "outbound_proxy:",
        "limits:", "max_message_bytes:", "max_connections:", "max_connections_per_ip:", "idle_timeout:",
        "max_transactions:", "timers:", "t1:", "t2:", "t4:", "dns:", "servers:"}) {
    INFO(key);
    CHECK(ref.find(key) != std::string::npos);
  }
}

// ---- NAT traversal slice: realms, fcp, media, nat ----

namespace {

const std::string kNat = R"(controller:
  id: ctl-lab
listen:
  - transport: udp
    address: 10.0.0.10:5060
    realm: lan
  - transport: udp
    address: 203.0.113.2:5060
    realm: wan
realms:
  - name: lan
    networks: [10.0.0.0/24, 10.1.0.0/16]
    hide_topology: true
  - name: wan
domains: [lab.example]
nat:
  keepalive_interval: 20s
  keepalive_method: options
fcp:
  owner: ctl-lab
  fencing_token: 7
  insecure_lab: true
  agents:
    - id: edge-1
      address: 10.0.0.1:7443
      networks: [10.0.0.0/24]
      tls_server_name: edge-1.lab
media:
  on_bad_sdp: pass
  max_streams: 4
  orphan_grace: 5s
)";

}  // namespace

TEST_CASE("realms give interfaces their networks and topology hiding") {
  auto c = parse_controller_config(kNat, "ctl.yaml");
  INFO((c.ok() ? "" : c.error().message));
  REQUIRE(c.ok());
  REQUIRE(c->proxy.interfaces.size() == 2);
  CHECK(c->proxy.interfaces[0].name == "lan");
  CHECK(c->proxy.interfaces[0].networks.size() == 2);
  CHECK(c->proxy.interfaces[0].hide_topology);
  CHECK(c->proxy.interfaces[1].name == "wan");
  CHECK(c->proxy.interfaces[1].networks.empty());
  CHECK_FALSE(c->proxy.interfaces[1].hide_topology);
}

TEST_CASE("fcp, media and nat sections load") {
  auto c = parse_controller_config(kNat, "ctl.yaml");
  REQUIRE(c.ok());
  CHECK(c->fcp.enabled);
  CHECK(c->fcp.owner == "ctl-lab");
  CHECK(c->fcp.fencing_token == 7);
  CHECK(c->fcp.insecure_lab);
  REQUIRE(c->fcp.agents.size() == 1);
  CHECK(c->fcp.agents[0].id == "edge-1");
  CHECK(c->fcp.agents[0].address == "10.0.0.1:7443");
  CHECK(c->fcp.agents[0].tls_server_name == "edge-1.lab");
  CHECK(c->media.enabled);  // on by default with fcp
  CHECK(c->media.on_bad_sdp == BadSdpAction::kPass);
  CHECK(c->media.on_unsupported == BadSdpAction::kReject);
  CHECK(c->media.max_streams == 4);
  CHECK(c->media.orphan_grace == 5s);
  CHECK(c->nat.keepalive_interval == 20s);
  CHECK(c->nat.keepalive_method == "options");
}

TEST_CASE("the NAT sections report bad keys with their lines") {
  CHECK(error_of(replace(kNat, "    networks: [10.0.0.0/24, 10.1.0.0/16]", "    networks: [10.0.0.0/33]"))
            .find("ctl.yaml:12: realms[0].networks:") != std::string::npos);
  CHECK(error_of(replace(kNat, "  - name: wan\n", "  - name: dmz\n")).find("realm 'dmz' has no listen entry") !=
        std::string::npos);
  CHECK(error_of(replace(kNat, "      networks: [10.0.0.0/24]\n", "")).find("needs at least one CIDR") !=
        std::string::npos);
  CHECK(error_of(replace(kNat, "  on_bad_sdp: pass", "  on_bad_sdp: maybe")).find("must be reject or pass") !=
        std::string::npos);
  CHECK(error_of(replace(kNat, "  keepalive_method: options", "  keepalive_method: stun"))
            .find("must be crlf or options") != std::string::npos);
  CHECK(error_of(replace(kNat, "  insecure_lab: true\n", "")).find("fcp.cert") != std::string::npos);
  // Several shards: in-dialog requests find their call's shard through our Record-Route.
  const std::string two_shards = replace(kNat, "  id: ctl-lab\n", "  id: ctl-lab\n  threads: 2\n");
  const std::string no_rr = "domains: [lab.example]\nproxy:\n  record_route: false\n";
  CHECK(error_of(replace(two_shards, "domains: [lab.example]\n", no_rr))
            .find("media with several controller.threads needs proxy.record_route: true") != std::string::npos);
}

TEST_CASE("media runs on several shards when the proxy record-routes") {
  auto c = parse_controller_config(replace(kNat, "  id: ctl-lab\n", "  id: ctl-lab\n  threads: 2\n"), "ctl.yaml");
  INFO((c.ok() ? "" : c.error().message));
  REQUIRE(c.ok());
  CHECK(c->effective_threads() == 2);
  CHECK(c->media.enabled);
  CHECK(c->proxy.record_route);
}

TEST_CASE("media without fcp is an error, and no fcp means no media") {
  auto c = parse_controller_config(kMinimal, "ctl.yaml");
  REQUIRE(c.ok());
  CHECK_FALSE(c->fcp.enabled);
  CHECK_FALSE(c->media.enabled);
  CHECK(error_of(kMinimal + "media:\n  enabled: true\n").find("media needs an fcp section") != std::string::npos);
}
