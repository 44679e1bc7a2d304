#include "controller/app/controller_config.h"

#include <algorithm>
#include <fstream>
#include <thread>
#include <utility>

#include "common/base/text.h"
#include "common/config/yaml_reader.h"
#include "controller/sip/parser/uri.h"

namespace portcullis::controller::app {

namespace {

using namespace std::chrono_literals;
using config::DurationLimits;
using config::IntLimits;
using config::StringLimits;
using config::YamlMap;
using config::YamlReader;

/// Shards are numbered in one byte (ProxyConfig::branch_shard, the connection-id codec); 64 is
/// far beyond what one SIP box needs and keeps per-shard limits meaningful.
constexpr std::uint32_t kMaxThreads = 64;



bool is_hostname(std::string_view s) {
  if (s.empty() || s.size() > 253 || s.front() == '.' || s.front() == '-') {
    return false;
  }
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-';
  });
}

/// "host", "host:port", "[v6]", "[v6]:port" or a bare IPv6 address. Hosts are IP literals or
/// DNS names (they go into Via sent-by and Record-Route, RFC 3261 §20.42 / §25.1).
bool parse_host_port(std::string_view text, std::string& host, std::uint16_t& port) {
  port = 0;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos) {
      return false;
    }
    const std::string_view v6 = text.substr(1, close - 1);
    auto ip = net::IpAddress::parse(v6);
    if (!ip.ok() || !ip->is_v6()) {
      return false;
    }
    host = "[" + ip->to_string() + "]";
    std::string_view rest = text.substr(close + 1);
    if (rest.empty()) {
      return true;
    }
    if (rest.front() != ':') {
      return false;
    }
    const auto p = parse_decimal(rest.substr(1), 65535);
    if (!p || *p == 0) {
      return false;
    }
    port = static_cast<std::uint16_t>(*p);
    return true;
  }
  if (std::count(text.begin(), text.end(), ':') > 1) {
    auto ip = net::IpAddress::parse(text);
    if (!ip.ok() || !ip->is_v6()) {
      return false;
    }
    host = "[" + ip->to_string() + "]";
    return true;
  }
  std::string_view h = text;
  if (const auto colon = text.find(':'); colon != std::string_view::npos) {
    const auto p = parse_decimal(text.substr(colon + 1), 65535);
    if (!p || *p == 0) {
      return false;
    }
    port = static_cast<std::uint16_t>(*p);
    h = text.substr(0, colon);
  }
  if (!is_hostname(h)) {
    return false;
  }
  host = std::string(h);
  return true;
}

/// "ip", "ip:port", "[v6]:port", bare v6; the port defaults to 53.
std::optional<net::Endpoint> parse_dns_server(std::string_view text) {
  if (auto ep = net::Endpoint::parse(text); ep.ok()) {
    return *ep;
  }
  if (auto ip = net::IpAddress::parse(text); ip.ok()) {
    return net::Endpoint(*ip, 53);
  }
  if (text.size() > 2 && text.front() == '[' && text.back() == ']') {
    if (auto ip = net::IpAddress::parse(text.substr(1, text.size() - 2)); ip.ok()) {
      return net::Endpoint(*ip, 53);
    }
  }
  return std::nullopt;
}

bool is_sip_uri(const std::string& text) {
  auto uri = sip::parse_uri(text);
  return uri.ok() && uri->is_sip_or_sips() && !uri->host.empty();
}

void read_controller(YamlMap& root, ControllerConfig& c) {
  auto m = root.map("controller", true);
  if (!m) {
    return;
  }
  if (auto id = m->string("id", StringLimits(true, true, 64))) {
    const bool token = std::all_of(id->begin(), id->end(), [](char ch) {
      return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '.' ||
             ch == '-' || ch == '_';
    });
    if (!token) {
      m->error("id", "must use only letters, digits, '.', '-' and '_' (got '" + log_excerpt(*id, 64) + "')");
    } else {
      c.id = *id;
    }
  }
  if (auto lvl = m->string("log_level")) {
    static const char* kLevels[] = {"trace", "debug", "info", "warn", "error"};
    if (std::find(std::begin(kLevels), std::end(kLevels), *lvl) == std::end(kLevels)) {
      m->error("log_level", "must be one of trace, debug, info, warn, error");
    } else {
      c.log_level = *lvl;
    }
  }
  config::assign_if(m->uint("threads", {0, kMaxThreads}), c.threads);
  m->finish();
}

void read_listen(YamlMap& root, ControllerConfig& c) {
  auto list = root.map_list("listen", true);
  if (!list) {
    return;
  }
  if (list->empty()) {
    root.error("listen", "needs at least one entry (transport + address)");
  }
  for (YamlMap& e : *list) {
    ListenConfig l;
    bool ok = true;
    if (auto t = e.string("transport", StringLimits(true))) {
      if (*t == "udp") {
        l.transport = sip::TransportProtocol::kUdp;
      } else if (*t == "tcp") {
        l.transport = sip::TransportProtocol::kTcp;
      } else if (*t == "tls") {
        l.transport = sip::TransportProtocol::kTls;
      } else {
        e.error("transport", "must be udp, tcp or tls (got '" + log_excerpt(*t, 32) + "')");
        ok = false;
      }
    } else {
      ok = false;
    }
    if (auto a = e.string("address", StringLimits(true))) {
      auto ep = net::Endpoint::parse(*a);
      if (!ep.ok()) {
        e.error("address", "must be IP:port or [IPv6]:port with port 1..65535 (got '" + log_excerpt(*a, 64) + "')");
        ok = false;
      } else if (ep->address().is_multicast()) {
        e.error("address", "must not be a multicast address");
        ok = false;
      } else {
        l.address = *ep;
      }
    } else {
      ok = false;
    }
    if (auto adv = e.string("advertise", StringLimits(false, true, 255))) {
      if (!parse_host_port(*adv, l.advertised_host, l.advertised_port)) {
        e.error("advertise", "must be a host name or IP address, optionally with :port (got '" +
                                 log_excerpt(*adv, 64) + "')");
      }
    }
    if (auto r = e.string("realm", StringLimits(false, true, 32))) {
      if (!is_hostname(*r)) {
        e.error("realm", "must use only letters, digits, '.' and '-' (got '" + log_excerpt(*r, 32) + "')");
      } else {
        l.realm = *r;
      }
    }
    // TLS settings: read them for every entry (unknown-key check), require them for tls only.
    const bool tls = ok && l.transport == sip::TransportProtocol::kTls;
    const bool has_tls_key = e.has("cert") || e.has("key") || e.has("ca") || e.has("require_client_cert");
    if (ok && !tls && has_tls_key) {
      e.error_here("cert, key, ca and require_client_cert apply to transport tls only");
    }
    struct FileKey {
      const char* key;
      std::string* out;
      bool required;
    };
    for (const FileKey& f : {FileKey{"cert", &l.cert_file, true}, FileKey{"key", &l.key_file, true},
                             FileKey{"ca", &l.ca_file, false}}) {
      if (auto p = e.string(f.key, StringLimits(tls && f.required, true))) {
        if (tls && !config::file_readable(*p)) {
          e.error(f.key, "cannot read '" + log_excerpt(*p, 200) + "'");
        } else {
          *f.out = *p;
        }
      }
    }
    config::assign_if(e.boolean("require_client_cert"), l.require_client_cert);
    if (tls && l.require_client_cert && l.ca_file.empty()) {
      e.error("require_client_cert", "needs ca (the CA bundle client certificates must chain to)");
    }
    e.finish();
    if (!ok) {
      continue;
    }
    for (const ListenConfig& other : c.listen) {
      // The same address may serve UDP and TCP (RFC 3261 §18.2.1 expects both on 5060), but
      // TCP and TLS cannot share a port, nor can one transport bind an address twice.
      const bool both_stream = other.transport != sip::TransportProtocol::kUdp &&
                               l.transport != sip::TransportProtocol::kUdp;
      if (other.address == l.address && (other.transport == l.transport || both_stream)) {
        e.error("address", l.address.to_string() + " is already used by an earlier " +
                               std::string(sip::transport_name(other.transport)) + " listener");
        ok = false;
        break;
      }
    }
    if (ok) {
      c.listen.push_back(std::move(l));
    }
  }
}

void read_domains(YamlMap& root, ControllerConfig& c) {
  auto d = root.string_list("domains");
  if (!d) {
    return;
  }
  for (const std::string& domain : *d) {
    std::string host;
    std::uint16_t port = 0;
    if (!parse_host_port(domain, host, port) || port != 0) {
      root.error("domains", "'" + log_excerpt(domain, 64) + "' is not a domain name or IP address");
      continue;
    }
    c.domains.push_back(domain);
  }
}

void read_registrar(YamlMap& root, ControllerConfig& c) {
  auto m = root.map("registrar");
  registrar::RegistrarConfig& r = c.registrar;
  if (m) {
    config::assign_if(m->boolean("enabled"), c.registrar_enabled);
    config::assign_if(m->uint("default_expires", {1, 7 * 24 * 3600}), r.default_expires);
    config::assign_if(m->uint("min_expires", {1, 7 * 24 * 3600}), r.min_expires);
    config::assign_if(m->uint("max_expires", {1, 7 * 24 * 3600}), r.max_expires);
    config::assign_if(m->uint("max_contacts_per_aor", {1, 1000}), r.max_contacts_per_aor);
    config::assign_if(m->boolean("stateless"), c.proxy.stateless_register);
    if (auto sources = m->string_list("allowed_sources")) {
      for (const std::string& s : *sources) {
        auto p = net::Prefix::parse(s);
        if (!p.ok()) {
          m->error("allowed_sources", "'" + log_excerpt(s, 64) + "' is not a CIDR prefix (e.g. 10.0.0.0/8)");
        } else {
          r.allowed_sources.push_back(*p);
        }
      }
    }
    if (r.min_expires > r.max_expires) {
      m->error("min_expires", "must be <= registrar.max_expires");
    }
    if (r.default_expires < r.min_expires || r.default_expires > r.max_expires) {
      m->error("default_expires", "must be within registrar.min_expires..registrar.max_expires");
    }
    m->finish();
  }
  if (c.registrar_enabled && c.domains.empty()) {
    if (m) {
      m->error("enabled", "the registrar needs at least one entry in domains (or set registrar.enabled: false)");
    } else {
      root.error("domains", "is required while the registrar is enabled (or set registrar.enabled: false)");
    }
  }
  r.domains = c.domains;
}

void read_proxy(YamlMap& root, ControllerConfig& c) {
  proxy::ProxyConfig& p = c.proxy;
  auto m = root.map("proxy");
  if (m) {
    config::assign_if(m->boolean("record_route"), p.record_route);
    config::assign_if(m->boolean("strict"), p.strict);
    // RFC 3261 §16.8 wants > 3 min; shorter values are accepted for tests and labs.
    config::assign_if(m->duration("timer_c", {1s, 1h}), p.timer_c);
    config::assign_if(m->boolean("max_forwards_options_200"), p.answer_options_at_zero_max_forwards);
    if (auto routes = m->map_list("routes")) {
      for (YamlMap& rm : *routes) {
        proxy::StaticRoute route;
        bool ok = true;
        if (auto d = rm.string("domain", StringLimits(true, true, 253))) {
          std::string host;
          std::uint16_t port = 0;
          if (*d != "*" && (!parse_host_port(*d, host, port) || port != 0)) {
            rm.error("domain", "must be a domain name, an IP address or * (got '" + log_excerpt(*d, 64) + "')");
            ok = false;
          }
          route.domain = *d;
        } else {
          ok = false;
        }
        if (auto u = rm.string("uri", StringLimits(true, true, 1024))) {
          if (!is_sip_uri(*u)) {
            rm.error("uri", "must be a sip: or sips: URI, e.g. sip:192.0.2.7:5060;transport=tcp (got '" +
                                log_excerpt(*u, 64) + "')");
            ok = false;
          } else if (!sip::parse_uri(*u)->has_lr()) {
            // Static routes are pushed as Route entries. Without ;lr the next hop is treated as an RFC 2543
            // strict router (RFC 3261 §16.6 step 6) and the Request-URI is replaced by it, which silently
            // misroutes; nobody configures that on purpose today, so refuse it.
            rm.error("uri", "must be a loose-routing URI: add ;lr (got '" + log_excerpt(*u, 64) + "')");
            ok = false;
          }
          route.uri = *u;
        } else {
          ok = false;
        }
        rm.finish();
        if (ok) {
          p.static_routes.push_back(std::move(route));
        }
      }
    }
    if (auto ob = m->string("outbound_proxy", StringLimits(false, false, 1024))) {
      if (!ob->empty() && !is_sip_uri(*ob)) {
        m->error("outbound_proxy", "must be empty or a sip: / sips: URI (got '" + log_excerpt(*ob, 64) + "')");
      } else {
        p.outbound_proxy = *ob;
      }
    }
    m->finish();
  }
  p.domains = c.domains;
}

void read_limits(YamlMap& root, ControllerConfig& c) {
  auto m = root.map("limits");
  if (!m) {
    return;
  }
  // The UDP datagram bound is 65535; 1 KiB is far below any real INVITE with SDP.
  config::assign_if(m->uint("max_message_bytes", {1024, 65535}), c.parse_limits.max_message_bytes);
  config::assign_if(m->uint("max_connections", {1, 1'000'000}), c.max_connections);
  config::assign_if(m->uint("max_connections_per_ip", {0, 1'000'000}), c.max_connections_per_ip);
  config::assign_if(m->duration("idle_timeout", {1s, 24h}), c.idle_timeout);
  config::assign_if(m->uint("max_transactions", {1, 100'000'000}), c.transactions.max_transactions);
  if (c.max_connections_per_ip > c.max_connections) {
    m->error("max_connections_per_ip", "must be <= limits.max_connections");
  }
  m->finish();
}

void read_timers(YamlMap& root, ControllerConfig& c) {
  auto m = root.map("timers");
  if (!m) {
    return;
  }
  sip::TransactionConfig& t = c.transactions;
  config::assign_if(m->duration("t1", {10ms, 10s}), t.t1);
  config::assign_if(m->duration("t2", {10ms, 60s}), t.t2);
  config::assign_if(m->duration("t4", {10ms, 60s}), t.t4);
  if (t.t2 < t.t1) {
    m->error("t2", "must be >= timers.t1 (RFC 3261 §17.1.2.2 caps retransmissions at T2)");
  }
  m->finish();
}

void read_dns(YamlMap& root, ControllerConfig& c) {
  auto m = root.map("dns");
  if (!m) {
    return;
  }
  if (auto servers = m->string_list("servers")) {
    for (const std::string& s : *servers) {
      if (auto ep = parse_dns_server(s)) {
        c.dns_servers.push_back(*ep);
      } else {
        m->error("servers", "'" + log_excerpt(s, 64) + "' is not IP, IP:port or [IPv6]:port");
      }
    }
  }
  m->finish();
}

std::vector<net::Prefix> read_prefixes(YamlMap& m, const std::string& key) {
  std::vector<net::Prefix> out;
  if (auto list = m.string_list(key)) {
    for (const std::string& s : *list) {
      auto p = net::Prefix::parse(s);
      if (!p.ok()) {
        m.error(key, "'" + log_excerpt(s, 64) + "' is not a CIDR prefix (e.g. 10.0.0.0/8)");
      } else {
        out.push_back(*p);
      }
    }
  }
  return out;
}

std::optional<BadSdpAction> read_action(YamlMap& m, const std::string& key) {
  auto v = m.string(key);
  if (!v) {
    return std::nullopt;
  }
  if (*v == "reject") {
    return BadSdpAction::kReject;
  }
  if (*v == "pass") {
    return BadSdpAction::kPass;
  }
  m.error(key, "must be reject or pass (got '" + log_excerpt(*v, 32) + "')");
  return std::nullopt;
}

void read_realms(YamlMap& root, ControllerConfig& c) {
  auto list = root.map_list("realms");
  if (!list) {
    return;
  }
  for (YamlMap& e : *list) {
    RealmConfig r;
    if (auto n = e.string("name", StringLimits(true, true, 32))) {
      if (!is_hostname(*n)) {
        e.error("name", "must use only letters, digits, '.' and '-' (got '" + log_excerpt(*n, 32) + "')");
      }
      r.name = *n;
    }
    r.networks = read_prefixes(e, "networks");
    config::assign_if(e.boolean("hide_topology"), r.hide_topology);
    const bool used = std::any_of(c.listen.begin(), c.listen.end(), [&](const ListenConfig& l) {
      return (l.realm.empty() ? std::string("default") : l.realm) == r.name;
    });
    if (!r.name.empty() && !used) {
      e.error("name", "realm '" + r.name + "' has no listen entry");
    }
    for (const RealmConfig& other : c.realms) {
      if (other.name == r.name) {
        e.error("name", "realm '" + r.name + "' is listed twice");
      }
    }
    e.finish();
    c.realms.push_back(std::move(r));
  }
}

void read_fcp(YamlMap& root, ControllerConfig& c) {
  auto m = root.map("fcp");
  if (!m) {
    return;
  }
  FcpConfig& f = c.fcp;
  f.enabled = true;
  if (auto o = m->string("owner", StringLimits(true, true, 64))) {
    f.owner = *o;
  }
  config::assign_if(m->uint("fencing_token", {1, UINT64_MAX / 2}), f.fencing_token);
  config::assign_if(m->boolean("insecure_lab"), f.insecure_lab);
  for (auto [key, out] : {std::pair<const char*, std::string*>{"cert", &f.cert_file}, {"key", &f.key_file},
                          {"ca", &f.ca_file}}) {
    if (auto p = m->string(key, StringLimits(!f.insecure_lab, true))) {
      if (!config::file_readable(*p)) {
        m->error(key, "cannot read '" + log_excerpt(*p, 200) + "'");
      } else {
        *out = *p;
      }
    }
  }
  if (auto agents = m->map_list("agents", true)) {
    if (agents->empty()) {
      m->error("agents", "needs at least one agent");
    }
    for (YamlMap& a : *agents) {
      FcpAgentConfig ag;
      if (auto id = a.string("id", StringLimits(true, true, 64))) {
        ag.id = *id;
      }
      if (auto addr = a.string("address", StringLimits(true, true, 255))) {
        std::string host;
        std::uint16_t port = 0;
        if (!parse_host_port(*addr, host, port) || port == 0) {
          a.error("address", "must be host:port (got '" + log_excerpt(*addr, 64) + "')");
        }
        ag.address = *addr;
      }
      ag.networks = read_prefixes(a, "networks");
      if (ag.networks.empty()) {
        a.error_here("networks: needs at least one CIDR prefix (the private networks the agent serves)");
      }
      if (auto n = a.string("tls_server_name", StringLimits(false, true, 255))) {
        ag.tls_server_name = *n;
      }
      if (auto r = a.string("realm", StringLimits(false, true, 32))) {
        ag.realm = *r;
      }
      for (const FcpAgentConfig& other : f.agents) {
        if (other.id == ag.id) {
          a.error("id", "agent '" + ag.id + "' is listed twice");
        }
      }
      a.finish();
      f.agents.push_back(std::move(ag));
    }
  }
  m->finish();
}

void read_media(YamlMap& root, ControllerConfig& c) {
  MediaConfig& md = c.media;
  md.enabled = c.fcp.enabled;
  auto m = root.map("media");
  if (!m) {
    return;
  }
  config::assign_if(m->boolean("enabled"), md.enabled);
  if (auto a = read_action(*m, "on_bad_sdp")) md.on_bad_sdp = *a;
  if (auto a = read_action(*m, "on_unsupported")) md.on_unsupported = *a;
  if (auto a = read_action(*m, "on_too_many_streams")) md.on_too_many_streams = *a;
  if (auto a = read_action(*m, "on_other_content")) md.on_other_content = *a;
  config::assign_if(m->uint("max_streams", {1, 64}), md.max_streams);
  config::assign_if(m->duration("fcp_timeout", {100ms, 30s}), md.fcp_timeout);
  config::assign_if(m->duration("lifetime", {1s, 24h}), md.lifetime);
  config::assign_if(m->duration("idle_timeout", {0ms, 24h}), md.idle_timeout);
  config::assign_if(m->duration("orphan_grace", {0ms, 1h}), md.orphan_grace);
  config::assign_if(m->duration("reservation_timeout", {1s, 1h}), md.reservation_timeout);
  config::assign_if(m->boolean("latch_private_address"), md.latch_private_address);
  config::assign_if(m->boolean("latch_source_mismatch"), md.latch_source_mismatch);
  if (md.enabled && !c.fcp.enabled) {
    m->error("enabled", "media needs an fcp section (the agents that open the holes)");
  }
  if (md.enabled && c.effective_threads() != 1 && !c.proxy.record_route) {
    // In-dialog requests find the shard holding their call through our Record-Route (pc-shard).
    m->error("enabled", "media with several controller.threads needs proxy.record_route: true");
  }
  m->finish();
}

void read_nat(YamlMap& root, ControllerConfig& c) {
  auto m = root.map("nat");
  if (!m) {
    return;
  }
  config::assign_if(m->duration("keepalive_interval", {0ms, 1h}), c.nat.keepalive_interval);
  if (c.nat.keepalive_interval.count() != 0 && c.nat.keepalive_interval < 1s) {
    m->error("keepalive_interval", "must be 0 (off) or at least 1s");
  }
  if (auto k = m->string("keepalive_method")) {
    if (*k != "crlf" && *k != "options") {
      m->error("keepalive_method", "must be crlf or options (got '" + log_excerpt(*k, 32) + "')");
    } else {
      c.nat.keepalive_method = *k;
    }
  }
  m->finish();
}

/// Listeners grouped by realm, in order of first appearance: one ProxyInterface per realm, with
/// the networks and topology hiding of its `realms:` entry. An interface without networks is a
/// default one (the first such serves every peer no other realm claims).
void build_interfaces(ControllerConfig& c) {
  c.proxy.interfaces.clear();
  for (const ListenConfig& l : c.listen) {
    const std::string name = l.realm.empty() ? "default" : l.realm;
    auto it = std::find_if(c.proxy.interfaces.begin(), c.proxy.interfaces.end(),
                           [&](const proxy::ProxyInterface& i) { return i.name == name; });
    if (it == c.proxy.interfaces.end()) {
      proxy::ProxyInterface iface{name, {}, {}};
      for (const RealmConfig& r : c.realms) {
        if (r.name == name) {
          iface.networks = r.networks;
          iface.hide_topology = r.hide_topology;
        }
      }
      c.proxy.interfaces.push_back(std::move(iface));
      it = std::prev(c.proxy.interfaces.end());
    }
    proxy::Listener listener;
    listener.transport = l.transport;
    listener.address = l.address;
    listener.advertised_host = l.advertised_host;
    listener.advertised_port = l.advertised_port;
    it->listeners.push_back(std::move(listener));
  }
}

Result<ControllerConfig> finish_config(YamlReader& doc) {
  ControllerConfig c;
  // Schema defaults that differ from the layers' own (docs/configuration.md "Controller").
  // Each finished call keeps ~3 transactions for 32 s (Timer J/K); 1 400 calls/s from one client
  // socket lands on one shard, so 200 000 split over shards refused calls in the benchmark.
  c.transactions.max_transactions = 1'000'000;
  YamlMap root = doc.root();
  read_controller(root, c);
  read_listen(root, c);
  read_domains(root, c);
  read_registrar(root, c);
  read_proxy(root, c);
  read_limits(root, c);
  read_timers(root, c);
  read_dns(root, c);
  read_realms(root, c);
  read_fcp(root, c);
  read_media(root, c);
  read_nat(root, c);
  root.finish();
  // Streams: a body can never be larger than the whole message.
  c.parse_limits.max_body_bytes = std::min(c.parse_limits.max_body_bytes, c.parse_limits.max_message_bytes);
  c.parse_limits.max_header_bytes = std::min(c.parse_limits.max_header_bytes, c.parse_limits.max_message_bytes);
  build_interfaces(c);
  if (!doc.errors().empty()) {
    std::string text = doc.error_text();
    if (!text.empty() && text.back() == '\n') {
      text.pop_back();
    }
    return unexpected(invalid_argument(std::move(text)));
  }
  return c;
}

}  // namespace

std::uint32_t ControllerConfig::effective_threads() const {
  if (threads != 0) {
    return threads;
  }
  const unsigned cpus = std::thread::hardware_concurrency();
  return std::clamp<std::uint32_t>(cpus == 0 ? 1 : cpus, 1, kMaxThreads);
}

Result<ControllerConfig> parse_controller_config(const std::string& text, const std::string& name) {
  auto doc = YamlReader::load_string(text, name);
  if (!doc.ok()) {
    return unexpected(std::move(doc).error());
  }
  return finish_config(*doc);
}

Result<ControllerConfig> load_controller_config(const std::string& path) {
  auto doc = YamlReader::load_file(path);
  if (!doc.ok()) {
    return unexpected(std::move(doc).error());
  }
  return finish_config(*doc);
}

std::string controller_config_reference() {
  return R"(Configuration file (YAML). Durations take a unit: 500ms, 15s, 5m, 12h.
Unknown keys are errors. Errors name the file, line and key.

controller:
  id: NAME                        required. Names this controller in logs ([A-Za-z0-9._-], <= 64 bytes)
  log_level: LEVEL                trace|debug|info|warn|error (default info)
  threads: N                      shards: one io_context + thread each, 0 = one per CPU (default 1, max 64)
listen:                           required, at least one:
  - transport: udp|tcp|tls        required
    address: IP:PORT              required. Bound address, e.g. 0.0.0.0:5060 or [::]:5060; the
                                  same address may serve udp and tcp; tcp and tls need different ports
    advertise: HOST[:PORT]        optional. Host (and port) written in Via / Record-Route / Path
                                  instead of the bound address (e.g. the public address)
    realm: NAME                   optional. Listeners with the same realm form one interface
                                  (lan, wan, ...); the first realm listed is the default one
    cert: FILE                    tls: required. Certificate chain, leaf first (PEM)
    key: FILE                     tls: required. Private key (PEM)
    ca: FILE                      tls: CA bundle for verifying peers (PEM); required with
                                  require_client_cert
    require_client_cert: BOOL     tls: mutual TLS, clients without a valid certificate are refused
                                  (default false)
domains: [DOMAIN, ...]            domains we are authoritative for: REGISTERs go to the registrar,
                                  requests are routed to registered contacts (default [])
registrar:
  enabled: BOOL                   local registrar (default true; needs domains)
  default_expires: SECONDS        expiry when the REGISTER gives none (default 3600)
  min_expires: SECONDS            shorter requests are answered 423 (default 60)
  max_expires: SECONDS            longer requests are shortened (default 7200)
  max_contacts_per_aor: N         more are answered 403 (default 10)
  allowed_sources: [CIDR, ...]    packet sources allowed to register; empty = any (default [])
  stateless: BOOL                 answer REGISTER as a stateless UAS, RFC 3261 8.2.7: no
                                  transaction kept after the reply (default true)
proxy:
  record_route: BOOL              Record-Route dialog-creating requests (default true)
  strict: BOOL                    validate every header of every request, 400 on error (default false)
  timer_c: DUR                    RFC 3261 16.8 INVITE branch timeout, 1s..1h (default 181s)
  max_forwards_options_200: BOOL  OPTIONS with Max-Forwards 0 answered 200 instead of 483 (default true)
  routes:                         static routes for domains that are not ours, first match wins:
    - domain: DOMAIN|*            request-URI host (* = any domain not ours)
      uri: SIP-URI                next hop, pushed as a loose Route, e.g. sip:192.0.2.7:5060;lr
  outbound_proxy: SIP-URI         next hop for foreign requests no route matched; "" = use the
                                  request-URI (default "")
limits:
  max_message_bytes: N            UDP datagram / stream message bound, 1024..65535; larger → 513
                                  (default 65535)
  max_connections: N              TCP+TLS connections, in and out, whole process (default 10000)
  max_connections_per_ip: N       inbound connections from one address, 0 = unlimited (default 200)
  idle_timeout: DUR               close a connection idle this long (default 600s)
  max_transactions: N             live SIP transactions, whole process; beyond it 503 (default 1000000)
timers:                           RFC 3261 17.1.1.1 / 17.1.2.2, 10ms..10s / 60s / 60s
  t1: DUR                         RTT estimate (default 500ms)
  t2: DUR                         retransmit cap, >= t1 (default 4s)
  t4: DUR                         max time a message stays in the network (default 5s)
dns:
  servers: [IP[:PORT], ...]       resolvers for RFC 3263 lookups; empty = /etc/resolv.conf (default [])
realms:                           optional, per realm named in listen:
  - name: NAME                    required, a realm some listen entry uses
    networks: [CIDR, ...]         remote networks this realm faces (peers there are reached through
                                  its listeners); a realm without networks is the default one
    hide_topology: BOOL           private side: Vias stripped, Contact / Call-ID host / our
                                  Record-Route encoded toward realms without it (default false)
fcp:                              optional: the pinhole agents (enables media by default)
  owner: NAME                     required. Owner prefix; shard i acts as NAME/shard-I
  fencing_token: N                fencing token of the owner (default 1)
  cert: FILE / key: FILE / ca: FILE   mTLS client certificate, key, CA of the agents (PEM)
  insecure_lab: BOOL              plaintext gRPC, lab only (default false)
  agents:                         required, at least one:
    - id: AGENT-ID                required, the agent's agent.id (pinned)
      address: HOST:PORT          required, gRPC address
      networks: [CIDR, ...]       required, private networks behind this agent
      tls_server_name: NAME       name in the agent's certificate when not HOST
      realm: NAME                 agent pool realm to reserve from (default pool)
media:                            MediaSession policy
  enabled: BOOL                   default: true when fcp is configured (threads > 1: needs record_route)
  on_bad_sdp: reject|pass         malformed SDP, missing c= (default reject: 488 + Warning)
  on_unsupported: reject|pass     unknown nettype/addrtype, FQDN, no agent (default reject)
  on_too_many_streams: reject|pass  more than max_streams m= lines (default reject)
  on_other_content: reject|pass   non-SDP bodies (default pass)
  max_streams: N                  (default 8)
  fcp_timeout: DUR                budget of the FCP calls of one offer/answer (default 1500ms)
  lifetime: DUR / idle_timeout: DUR / orphan_grace: DUR / reservation_timeout: DUR
                                  binding lease (12h / 120s / agent default / 300s); orphan_grace
                                  is how long holes outlive a lost controller
  latch_private_address: BOOL     latch remotes with a private SDP address on the source IP (true)
  latch_source_mismatch: BOOL     the same when the SDP address differs from the source (true)
nat:
  keepalive_interval: DUR         keep-alives to registered contacts behind NAT; 0 = off (default 0)
  keepalive_method: crlf|options  double CRLF datagram or SIP OPTIONS (default crlf)

Process-wide limits are split evenly across shards (rounded up).
)";
}

}  // namespace portcullis::controller::app
