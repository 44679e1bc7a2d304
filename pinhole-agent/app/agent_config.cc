#include "pinhole-agent/app/agent_config.h"

#include <algorithm>
#include <fstream>
#include <utility>

#include "common/base/text.h"
#include "common/config/yaml_reader.h"
#include "common/log/log.h"

namespace portcullis::agent::app {

namespace {

using namespace std::chrono_literals;
using config::DurationLimits;
using config::IntLimits;
using config::StringLimits;
using config::YamlMap;
using config::YamlReader;


bool valid_listen(const std::string& s) {
  const auto colon = s.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == s.size()) {
    return false;
  }
  const auto port = parse_decimal(s.substr(colon + 1), 65535);
  return port.has_value();
}


void read_agent(YamlMap& root, AgentConfig& c) {
  auto m = root.map("agent", true);
  if (!m) {
    return;
  }
  config::assign_if(m->string("id", StringLimits(true, true, 253)), c.agent_id);
  if (auto l = m->string("listen")) {
    if (!valid_listen(*l)) {
      m->error("listen", "must be host:port, e.g. 0.0.0.0:7443 or [::]:7443");
    } else {
      c.listen_address = *l;
    }
  }
  if (auto lvl = m->string("log_level")) {
    static const char* kLevels[] = {"trace", "debug", "info", "warn", "error", "critical", "off"};
    if (std::find(std::begin(kLevels), std::end(kLevels), *lvl) == std::end(kLevels)) {
      m->error("log_level", "must be one of trace, debug, info, warn, error, critical, off");
    } else {
      c.log_level = *lvl;
    }
  }
  m->finish();
}

void read_backend(YamlMap& root, AgentConfig& c) {
  auto m = root.map("backend", true);
  if (!m) {
    return;
  }
  if (auto t = m->string("type", StringLimits(true))) {
    if (*t == "nft") {
      c.backend = BackendKind::kNft;
    } else if (*t == "fake") {
      c.backend = BackendKind::kFake;
    } else {
      m->error("type", "must be nft or fake");
    }
  }
  if (auto t = m->string("table", StringLimits(false, true, 64))) {
    c.nft.table_name = *t;
  }
  config::assign_if(m->string_list("wan_interfaces"), c.nft.wan_interfaces);
  config::assign_if(m->string_list("lan_interfaces"), c.nft.lan_interfaces);
  if (c.backend == BackendKind::kNft && c.nft.wan_interfaces.empty()) {
    m->error("wan_interfaces", "is required for backend.type nft (the interfaces facing the public network)");
  }
  for (const auto& [key, list] : {std::pair<const char*, const std::vector<std::string>*>{
                                       "wan_interfaces", &c.nft.wan_interfaces},
                                   {"lan_interfaces", &c.nft.lan_interfaces}}) {
    for (const std::string& ifname : *list) {
      if (ifname.empty() || ifname.size() > 15) {
        m->error(key, "interface names are 1..15 bytes (IFNAMSIZ), got '" + ifname + "'");
      }
    }
  }
  if (auto mq = m->map("masquerade_ports")) {
    config::assign_if(mq->uint("first", {1, 65535, true}), c.nft.masquerade_port_min);
    config::assign_if(mq->uint("last", {1, 65535, true}), c.nft.masquerade_port_max);
    if (c.nft.masquerade_port_max < c.nft.masquerade_port_min) {
      mq->error("last", "must be >= masquerade_ports.first");
    }
    mq->finish();
  }
  config::assign_if(m->boolean("ipv6"), c.nft.ipv6);
  config::assign_if(m->boolean("upsert_in_place"), c.nft.upsert_in_place);
  config::assign_if(m->boolean("claim_ownership"), c.nft.claim_ownership);
  config::assign_if(m->uint("nflog_group", {0, 65535}), c.nft.nflog_group);
  config::assign_if(m->duration("latched_pinhole_timeout", {1s, 1h}), c.nft.latched_pinhole_timeout);
  config::assign_if(m->boolean("conntrack_events"), c.conntrack_events);
  config::assign_if(m->uint("conntrack_event_buffer", {65536, 1u << 30}), c.conntrack_event_buffer);
  m->finish();
}

void read_pools(YamlMap& root, AgentConfig& c) {
  auto pools = root.map_list("pools", true);
  if (!pools) {
    return;
  }
  if (pools->empty()) {
    root.error("pools", "needs at least one public address pool");
  }
  for (std::size_t i = 0; i < pools->size(); ++i) {
    YamlMap& p = (*pools)[i];
    PoolConfig pool;
    bool ok = true;
    if (auto a = p.string("public_address", StringLimits(true))) {
      auto ip = net::IpAddress::parse(*a);
      if (!ip.ok() || ip->is_unspecified() || ip->is_multicast() || ip->is_loopback()) {
        p.error("public_address", "must be a unicast IPv4/IPv6 address (got '" + *a + "')");
        ok = false;
      } else {
        pool.public_address = *ip;
      }
    } else {
      ok = false;
    }
    if (auto ports = p.map("ports", true)) {
      // Below 1024 are privileged service ports; never hand them to calls.
      auto first = ports->uint("first", {1024, 65535, true});
      auto last = ports->uint("last", {1024, 65535, true});
      if (first && last && *last < *first) {
        ports->error("last", "must be >= ports.first");
        ok = false;
      }
      if (first && last) {
        pool.first_port = static_cast<std::uint16_t>(*first);
        pool.last_port = static_cast<std::uint16_t>(*last);
        if (c.backend == BackendKind::kNft && *first <= c.nft.masquerade_port_max &&
            *last >= c.nft.masquerade_port_min) {
          ports->error("first", "overlaps backend.masquerade_ports " +
                                    std::to_string(c.nft.masquerade_port_min) + ".." +
                                    std::to_string(c.nft.masquerade_port_max) +
                                    " (conntrack could hand a pool port to an unrelated flow)");
          ok = false;
        }
      } else {
        ok = false;
      }
      ports->finish();
    } else {
      ok = false;
    }
    config::assign_if(p.string("realm", StringLimits(false, false, 32)), pool.realm);
    for (const PoolConfig& other : c.manager.pools) {
      if (ok && other.public_address == pool.public_address) {
        p.error("public_address", "repeats an earlier pool's address");
        ok = false;
      }
    }
    p.finish();
    if (ok) {
      c.manager.pools.push_back(pool);
    }
  }
}

void read_timers(YamlMap& root, AgentConfig& c) {
  auto m = root.map("timers");
  if (!m) {
    return;
  }
  ManagerConfig& mc = c.manager;
  config::assign_if(m->duration("session_ttl", {2s, 1h}), mc.session_ttl);
  config::assign_if(m->duration("heartbeat_interval", {1s, 30min}), mc.heartbeat_interval);
  config::assign_if(m->duration("min_lifetime", {1s, 1h}), mc.min_lifetime);
  config::assign_if(m->duration("max_lifetime", {1min, 7 * 24h}), mc.max_lifetime);
  // 2 s is the core's floor (validate_config); short leases are for namespace tests of the
  // fail-closed path (kill -9 the agent, holes close by kernel timeouts).
  config::assign_if(m->duration("kernel_lease", {2s, 1h}), mc.kernel_lease);
  config::assign_if(m->duration("default_orphan_grace", {1s, 24h}), mc.default_orphan_grace);
  config::assign_if(m->duration("max_orphan_grace", {1s, 24h}), mc.max_orphan_grace);
  config::assign_if(m->duration("default_reservation_timeout", {1s, 24h}), mc.default_reservation_timeout);
  config::assign_if(m->duration("max_reservation_timeout", {1s, 24h}), mc.max_reservation_timeout);
  config::assign_if(m->duration("max_idle_timeout", {1s, 7 * 24h}), mc.max_idle_timeout);
  config::assign_if(m->duration("dedup_window", {1s, 24h}), mc.dedup_window);
  config::assign_if(m->duration("retry_after", {1s, 1h}), mc.retry_after);
  if (auto d = m->duration("rpc_timeout", {100ms, 5min})) {
    c.service.rpc_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(*d);
  }
  config::assign_if(m->duration("hello_timeout", {1s, 5min}), c.service.hello_timeout);
  config::assign_if(m->duration("shutdown_grace", {0s, 5min}), c.shutdown_grace);
  // Cross-field rules with a line to point at (the manager re-checks them without lines).
  if (mc.heartbeat_interval >= mc.session_ttl) {
    m->error("heartbeat_interval", "must be shorter than timers.session_ttl");
  }
  if (mc.max_lifetime < mc.min_lifetime) {
    m->error("max_lifetime", "must be >= timers.min_lifetime");
  }
  if (mc.max_orphan_grace < mc.default_orphan_grace) {
    m->error("max_orphan_grace", "must be >= timers.default_orphan_grace");
  }
  if (mc.max_reservation_timeout < mc.default_reservation_timeout) {
    m->error("max_reservation_timeout", "must be >= timers.default_reservation_timeout");
  }
  m->finish();
}

void read_limits(YamlMap& root, AgentConfig& c) {
  auto m = root.map("limits");
  if (!m) {
    return;
  }
  ManagerConfig& mc = c.manager;
  config::assign_if(m->uint("max_bindings", {1, 10'000'000}), mc.max_bindings);
  config::assign_if(m->uint("max_bindings_per_owner", {1, 10'000'000}), mc.max_bindings_per_owner);
  config::assign_if(m->uint("max_ports_per_owner", {1, 10'000'000}), mc.max_ports_per_owner);
  config::assign_if(m->uint("max_remotes_per_binding", {1, 64}), mc.max_remotes_per_binding);
  config::assign_if(m->uint("max_batch_operations", {1, 1000}), mc.max_batch_operations);
  config::assign_if(m->uint("dedup_max_entries", {1, 10'000'000}), mc.dedup_max_entries);
  config::assign_if(m->uint("event_buffer_size", {1, 10'000'000}), mc.event_buffer_size);
  config::assign_if(m->uint("max_sessions", {1, 100'000}), c.service.max_sessions);
  config::assign_if(m->uint("max_pending_requests", {1, 1'000'000}), c.service.max_queue);
  config::assign_if(m->uint("max_stream_queue", {16, 10'000'000}), c.service.max_stream_queue);
  config::assign_if(m->uint("binding_set_size", {1024, 16'777'216}), c.nft.binding_set_size);
  config::assign_if(m->uint("pinhole_set_size", {1024, 16'777'216}), c.nft.pinhole_set_size);
  config::assign_if(m->uint("latch_set_size", {1024, 16'777'216}), c.nft.latch_set_size);
  m->finish();
}

void read_tls(YamlMap& root, AgentConfig& c, bool insecure_flag) {
  auto m = root.map("tls");
  c.tls.insecure_lab = insecure_flag;
  if (m) {
    if (auto v = m->boolean("insecure_lab")) {
      c.tls.insecure_lab = c.tls.insecure_lab || *v;
    }
  }
  const bool need = !c.tls.insecure_lab;
  if (!m) {
    if (need) {
      root.error("tls", "is required (mTLS is on by default; set tls.insecure_lab: true or pass --insecure-lab "
                        "for a lab)");
    }
    return;
  }
  struct FileKey {
    const char* key;
    std::string* out;
  };
  for (const FileKey& f : {FileKey{"cert", &c.tls.cert_file}, FileKey{"key", &c.tls.key_file},
                           FileKey{"client_ca", &c.tls.client_ca_file}}) {
    if (auto p = m->string(f.key, StringLimits(need, true))) {
      if (need && !config::file_readable(*p)) {
        m->error(f.key, "cannot read '" + *p + "'");
      } else {
        *f.out = *p;
      }
    }
  }
  if (auto ids = m->map_list("identities", need)) {
    if (ids->empty() && need) {
      m->error("identities", "needs at least one identity (nobody could use the agent)");
    }
    for (YamlMap& idm : *ids) {
      service::IdentityRule rule;
      config::assign_if(idm.string("identity", StringLimits(true, true, 2048)), rule.identity);
      if (auto owners = idm.string_list("owners", true)) {
        for (const std::string& o : *owners) {
          if (!service::valid_owner_pattern(o)) {
            idm.error("owners", "'" + o + "' is not an owner pattern (name, prefix* or *; [A-Za-z0-9._:/@-], <= 32 bytes)");
          }
        }
        rule.owners = *owners;
      }
      config::assign_if(idm.boolean("admin"), rule.admin);
      idm.finish();
      c.tls.identities.push_back(std::move(rule));
    }
  }
  m->finish();
}

Result<AgentConfig> finish_config(YamlReader& doc, AgentConfig c) {
  YamlMap root = doc.root();
  read_agent(root, c);
  read_backend(root, c);
  read_pools(root, c);
  read_timers(root, c);
  read_limits(root, c);
  read_tls(root, c, c.tls.insecure_lab);
  root.finish();
  if (doc.errors().empty()) {
    // Whatever the per-key checks missed, the manager's own validation still catches.
    const Status st = validate_config(c.manager);
    if (!st.ok()) {
      root.error_here(st.error().message);
    }
  }
  if (!doc.errors().empty()) {
    std::string text = doc.error_text();
    if (!text.empty() && text.back() == '\n') {
      text.pop_back();
    }
    return unexpected(invalid_argument(std::move(text)));
  }
  c.service.ipv6 = c.nft.ipv6;
  return c;
}

}  // namespace

Result<AgentConfig> parse_agent_config(const std::string& text, const std::string& name, bool insecure_lab_flag) {
  auto doc = YamlReader::load_string(text, name);
  if (!doc.ok()) {
    return unexpected(std::move(doc).error());
  }
  AgentConfig c;
  c.tls.insecure_lab = insecure_lab_flag;
  return finish_config(*doc, std::move(c));
}

Result<AgentConfig> load_agent_config(const std::string& path, bool insecure_lab_flag) {
  auto doc = YamlReader::load_file(path);
  if (!doc.ok()) {
    return unexpected(std::move(doc).error());
  }
  AgentConfig c;
  c.tls.insecure_lab = insecure_lab_flag;
  return finish_config(*doc, std::move(c));
}

std::string config_reference() {
  return R"(Configuration file (YAML). Durations take a unit: 500ms, 15s, 5m, 12h, 1d.
Unknown keys are errors. Errors name the file, line and key.

agent:
  id: STRING                      required. AgentInfo.agent_id; equals the SAN of the agent certificate
  listen: HOST:PORT               gRPC listen address (default 0.0.0.0:7443)
  log_level: LEVEL                trace|debug|info|warn|error|critical|off (default info)
backend:
  type: nft|fake                  required. nft = nf_tables via netlink (needs CAP_NET_ADMIN);
                                  fake = in-memory, for tests and demos (nothing reaches the kernel)
  table: NAME                     owned nftables table `inet NAME` (default portcullis)
  wan_interfaces: [IF, ...]       required for nft: interfaces facing the public network
  lan_interfaces: [IF, ...]       interfaces facing the private network
  masquerade_ports: {first, last} port range for masquerading other traffic (default 1024..39999);
                                  must not overlap any pool
  ipv6: BOOL                      IPv6 pinholes (no IPv6 NAT) (default true)
  upsert_in_place: BOOL           re-arm element timeouts in place (Linux >= 6.10) (default false)
  claim_ownership: BOOL           create the table with owner+persist flags when supported (default true)
  nflog_group: N                  NFLOG group of latch notifications (default 7)
  latched_pinhole_timeout: DUR    timeout of a pinhole created by a latch until the agent rewrites it (60s)
  conntrack_events: BOOL          follow conntrack NEW/DESTROY events of the agent's flows: idle
                                  timeouts and latch learning need it (default true)
  conntrack_event_buffer: BYTES   receive buffer of the event socket; a larger burst is lost and
                                  repaired by a conntrack dump (default 4194304)
pools:                            required, at least one:
  - public_address: IP            unicast public address of the pool
    ports: {first: N, last: N}    1024..65535, first <= last
    realm: NAME                   optional pool name requests may select (default "")
timers:
  session_ttl: DUR                controller session lease (default 15s)
  heartbeat_interval: DUR         advertised heartbeat interval, < session_ttl (default 5s)
  min_lifetime: DUR               shortest binding lifetime accepted (default 1s)
  max_lifetime: DUR               cap on every hard deadline (default 12h)
  kernel_lease: DUR               kernel element timeout horizon, re-armed every half (default 300s)
  default_orphan_grace: DUR       orphan grace when a request gives none (default 180s)
  max_orphan_grace: DUR           cap on orphan grace (default 30m)
  default_reservation_timeout: DUR  reserved-never-enabled timeout default (default 180s)
  max_reservation_timeout: DUR    cap (default 1h)
  max_idle_timeout: DUR           cap on idle timeouts (default 24h)
  dedup_window: DUR               request_id idempotency window (default 10m)
  retry_after: DUR                retry hint for NO_PORTS/TABLE_FULL/OWNER_QUOTA (default 30s)
  rpc_timeout: DUR                server-side cap on every unary RPC (default 5s)
  hello_timeout: DUR              a Session must say Hello within this (default 10s)
  shutdown_grace: DUR             SIGTERM: time for in-flight RPCs to finish (default 5s)
limits:
  max_bindings, max_bindings_per_owner, max_ports_per_owner       (100000, 20000, 40000)
  max_remotes_per_binding, max_batch_operations                   (8, 64)
  dedup_max_entries, event_buffer_size                            (100000, 100000)
  max_sessions, max_pending_requests, max_stream_queue            (1024, 4096, 10000)
  binding_set_size, pinhole_set_size, latch_set_size              nft set sizes (1048576, 1048576, 65536)
tls:                              required unless insecure_lab
  insecure_lab: BOOL              plaintext, every caller may act for every owner. LAB ONLY; logged at warn
  cert: FILE                      agent certificate chain (PEM)
  key: FILE                       agent private key (PEM)
  client_ca: FILE                 CA bundle client certificates must chain to (PEM)
  identities:                     who may act for which owners:
    - identity: STRING            a client certificate SAN URI or DNS name, or its subject CN
      owners: [PATTERN, ...]      owner names, "prefix*" or "*"
      admin: BOOL                 may list/watch every owner and drain the agent (default false)
)";
}

}  // namespace portcullis::agent::app
