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

bool readable(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return in.good();
}

template <class T, class U>
void set_if(std::optional<T> v, U& out) {
  if (v) {
    if constexpr (requires { std::chrono::duration_cast<U>(*v); }) {
      out = std::chrono::duration_cast<U>(*v);
    } else {
      out = static_cast<U>(*v);
    }
  }
}

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
  set_if(m->uint("threads", {0, kMaxThreads}), c.threads);
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
        if (tls && !readable(*p)) {
          e.error(f.key, "cannot read '" + log_excerpt(*p, 200) + "'");
        } else {
          *f.out = *p;
        }
      }
    }
    set_if(e.boolean("require_client_cert"), l.require_client_cert);
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
    set_if(m->boolean("enabled"), c.registrar_enabled);
    set_if(m->uint("default_expires", {1, 7 * 24 * 3600}), r.default_expires);
    set_if(m->uint("min_expires", {1, 7 * 24 * 3600}), r.min_expires);
    set_if(m->uint("max_expires", {1, 7 * 24 * 3600}), r.max_expires);
    set_if(m->uint("max_contacts_per_aor", {1, 1000}), r.max_contacts_per_aor);
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
    set_if(m->boolean("record_route"), p.record_route);
    set_if(m->boolean("strict"), p.strict);
    // RFC 3261 §16.8 wants > 3 min; shorter values are accepted for tests and labs.
    set_if(m->duration("timer_c", {1s, 1h}), p.timer_c);
    set_if(m->boolean("max_forwards_options_200"), p.answer_options_at_zero_max_forwards);
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
  set_if(m->uint("max_message_bytes", {1024, 65535}), c.parse_limits.max_message_bytes);
  set_if(m->uint("max_connections", {1, 1'000'000}), c.max_connections);
  set_if(m->uint("max_connections_per_ip", {0, 1'000'000}), c.max_connections_per_ip);
  set_if(m->duration("idle_timeout", {1s, 24h}), c.idle_timeout);
  set_if(m->uint("max_transactions", {1, 100'000'000}), c.transactions.max_transactions);
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
  set_if(m->duration("t1", {10ms, 10s}), t.t1);
  set_if(m->duration("t2", {10ms, 60s}), t.t2);
  set_if(m->duration("t4", {10ms, 60s}), t.t4);
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

/// Listeners grouped by realm, in order of first appearance: one ProxyInterface per realm. The
/// agreed schema has no per-realm networks, so the first interface is the default for every
/// peer (ProxyInterface::networks empty).
void build_interfaces(ControllerConfig& c) {
  c.proxy.interfaces.clear();
  for (const ListenConfig& l : c.listen) {
    const std::string name = l.realm.empty() ? "default" : l.realm;
    auto it = std::find_if(c.proxy.interfaces.begin(), c.proxy.interfaces.end(),
                           [&](const proxy::ProxyInterface& i) { return i.name == name; });
    if (it == c.proxy.interfaces.end()) {
      c.proxy.interfaces.push_back(proxy::ProxyInterface{name, {}, {}});
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
  c.transactions.max_transactions = 200'000;
  YamlMap root = doc.root();
  read_controller(root, c);
  read_listen(root, c);
  read_domains(root, c);
  read_registrar(root, c);
  read_proxy(root, c);
  read_limits(root, c);
  read_timers(root, c);
  read_dns(root, c);
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
  max_transactions: N             live SIP transactions, whole process; beyond it 503 (default 200000)
timers:                           RFC 3261 17.1.1.1 / 17.1.2.2, 10ms..10s / 60s / 60s
  t1: DUR                         RTT estimate (default 500ms)
  t2: DUR                         retransmit cap, >= t1 (default 4s)
  t4: DUR                         max time a message stays in the network (default 5s)
dns:
  servers: [IP[:PORT], ...]       resolvers for RFC 3263 lookups; empty = /etc/resolv.conf (default [])

Process-wide limits are split evenly across shards (rounded up).
)";
}

}  // namespace portcullis::controller::app
