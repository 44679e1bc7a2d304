#include "controller/proxy/proxy_identity.h"

#include <stdexcept>

#include "common/base/text.h"

namespace portcullis::proxy {
namespace {

std::string_view transport_token(sip::TransportProtocol t) {
  switch (t) {
    case sip::TransportProtocol::kUdp: return "udp";
    case sip::TransportProtocol::kTcp: return "tcp";
    case sip::TransportProtocol::kTls: return "tls";
    case sip::TransportProtocol::kSctp: return "sctp";
    case sip::TransportProtocol::kWs: return "ws";
    case sip::TransportProtocol::kWss: return "wss";
  }
  return "udp";
}

std::optional<sip::TransportProtocol> transport_from_token(std::string_view s) {
  for (auto t : {sip::TransportProtocol::kUdp, sip::TransportProtocol::kTcp,
                 sip::TransportProtocol::kTls, sip::TransportProtocol::kSctp,
                 sip::TransportProtocol::kWs, sip::TransportProtocol::kWss}) {
    if (iequals(s, transport_token(t))) {
      return t;
    }
  }
  return std::nullopt;
}

std::string_view strip_brackets(std::string_view host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    return host.substr(1, host.size() - 2);
  }
  return host;
}

/// Host equality: case-insensitive names; IP literals compared as addresses (so "[2001:DB8::1]"
/// equals "2001:db8:0::1").
bool same_host(std::string_view a, std::string_view b) {
  const std::string_view a_bare = strip_brackets(a);
  const std::string_view b_bare = strip_brackets(b);
  auto ia = net::IpAddress::parse(a_bare);
  auto ib = net::IpAddress::parse(b_bare);
  if (ia.ok() && ib.ok()) {
    return *ia == *ib;
  }
  return iequals(a_bare, b_bare);
}

std::string host_of(const Listener& l) {
  if (!l.advertised_host.empty()) {
    return l.advertised_host;
  }
  const std::string ip = l.address.address().to_string();
  return l.address.address().is_v6() ? "[" + ip + "]" : ip;
}

std::uint16_t port_of(const Listener& l) {
  return l.advertised_port != 0 ? l.advertised_port : l.address.port();
}

}  // namespace

std::string encode_flow_token(const sip::Peer& peer) {
  std::string out(transport_token(peer.transport));
  out += '~';
  out += peer.endpoint.address().to_string();
  out += '~';
  out += std::to_string(peer.endpoint.port());
  if (peer.connection != 0) {
    out += '~';
    out += std::to_string(peer.connection);
  }
  return out;
}

std::optional<sip::Peer> decode_flow_token(std::string_view token) {
  std::string_view parts[4];
  std::size_t n = 0;
  while (n < 4) {
    const std::size_t tilde = token.find('~');
    parts[n++] = token.substr(0, tilde);
    if (tilde == std::string_view::npos) {
      token = {};
      break;
    }
    token.remove_prefix(tilde + 1);
  }
  if (n < 3 || !token.empty()) {
    return std::nullopt;
  }
  const auto transport = transport_from_token(parts[0]);
  auto address = net::IpAddress::parse(parts[1]);
  const auto port = parse_decimal(parts[2], 65535);
  if (!transport || !address.ok() || !port || *port == 0) {
    return std::nullopt;
  }
  sip::Peer peer{*transport, net::Endpoint(*address, static_cast<std::uint16_t>(*port)), 0};
  if (n == 4) {
    const auto conn = parse_decimal(parts[3], UINT64_MAX);
    if (!conn) {
      return std::nullopt;
    }
    peer.connection = *conn;
  }
  return peer;
}

ProxyIdentity::ProxyIdentity(const ProxyConfig& config) : config_(config), codec_(config.topology_key) {
  if (config_.interfaces.empty()) {
    throw std::invalid_argument("proxy: at least one interface is required");
  }
  for (const ProxyInterface& iface : config_.interfaces) {
    if (iface.listeners.empty()) {
      throw std::invalid_argument("proxy: interface '" + iface.name + "' has no listener");
    }
  }
}

bool ProxyIdentity::host_port_matches(std::string_view host, std::uint16_t port) const {
  for (const ProxyInterface& iface : config_.interfaces) {
    for (const Listener& l : iface.listeners) {
      if (port != port_of(l) && port != l.address.port()) {
        continue;
      }
      if (same_host(host, host_of(l))) {
        return true;
      }
      if (same_host(host, l.address.address().to_string())) {
        return true;
      }
    }
  }
  for (const std::string& alias : config_.aliases) {
    // "host", "host:port", "[v6]", "[v6]:port" or a bare IPv6 address (any of our ports).
    std::string_view a = alias;
    std::optional<std::uint16_t> alias_port;
    std::size_t port_colon = std::string_view::npos;
    if (!a.empty() && a.front() == '[') {
      const std::size_t close = a.find(']');
      if (close != std::string_view::npos && close + 1 < a.size() && a[close + 1] == ':') {
        port_colon = close + 1;
      }
    } else if (a.find(':') != std::string_view::npos && a.find(':') == a.rfind(':')) {
      port_colon = a.find(':');
    }
    if (port_colon != std::string_view::npos) {
      if (const auto p = parse_decimal(a.substr(port_colon + 1), 65535)) {
        alias_port = static_cast<std::uint16_t>(*p);
      }
      a = a.substr(0, port_colon);
    }
    if (same_host(host, a) && (!alias_port || *alias_port == port)) {
      return true;
    }
  }
  return false;
}

bool ProxyIdentity::is_own_uri(const sip::Uri& uri) const {
  if (!uri.is_sip_or_sips()) {
    return false;
  }
  const bool tls = uri.scheme == sip::UriScheme::kSips || iequals(uri.transport(), "tls");
  const std::uint16_t port = uri.port.value_or(tls ? 5061 : 5060);
  if (!uri.maddr().empty()) {
    return host_port_matches(uri.maddr(), port);
  }
  return host_port_matches(uri.host, port);
}

bool ProxyIdentity::is_own_sent_by(const sip::Via& via) const {
  const bool tls = iequals(via.transport, "TLS");
  return host_port_matches(via.host, via.port.value_or(tls ? 5061 : 5060));
}

bool ProxyIdentity::is_our_domain(const sip::Uri& uri) const {
  if (!uri.is_sip_or_sips()) {
    return false;
  }
  for (const std::string& d : config_.domains) {
    if (iequals(d, uri.host)) {
      return true;
    }
  }
  return false;
}

std::optional<sip::Peer> ProxyIdentity::flow_of(const sip::Uri& uri) const {
  if (const auto hidden = uri.params.get(kRecordRouteParam); hidden && !hidden->empty()) {
    const auto plain = codec_.decode(*hidden);
    if (!plain) {
      return std::nullopt;
    }
    auto original = sip::parse_uri(*plain);
    if (!original) {
      return std::nullopt;
    }
    const auto token = original->params.get(kFlowParam);
    return token && !token->empty() ? decode_flow_token(*token) : std::nullopt;
  }
  const auto token = uri.params.get(kFlowParam);
  if (!token || token->empty()) {
    return std::nullopt;
  }
  return decode_flow_token(*token);
}

const ProxyInterface* ProxyIdentity::interface_of_uri(const sip::Uri& uri) const {
  if (!uri.is_sip_or_sips()) {
    return nullptr;
  }
  const bool tls = uri.scheme == sip::UriScheme::kSips || iequals(uri.transport(), "tls");
  const std::uint16_t port = uri.port.value_or(tls ? 5061 : 5060);
  for (const ProxyInterface& iface : config_.interfaces) {
    for (const Listener& l : iface.listeners) {
      if (port == port_of(l) && same_host(uri.host, host_of(l))) {
        return &iface;
      }
    }
  }
  return nullptr;
}

const ProxyInterface& ProxyIdentity::interface_for(const net::IpAddress& address) const {
  const ProxyInterface* fallback = nullptr;
  for (const ProxyInterface& iface : config_.interfaces) {
    for (const net::Prefix& p : iface.networks) {
      if (p.contains(address)) {
        return iface;
      }
    }
    if (iface.networks.empty() && fallback == nullptr) {
      fallback = &iface;
    }
  }
  return fallback != nullptr ? *fallback : config_.interfaces.front();
}

const Listener* ProxyIdentity::listener_for(const ProxyInterface& iface,
                                            sip::TransportProtocol transport) const {
  for (const Listener& l : iface.listeners) {
    if (l.transport == transport) {
      return &l;
    }
  }
  return nullptr;
}

const Listener* ProxyIdentity::listener_for(const sip::Peer& peer) const {
  return listener_for(interface_for(peer.endpoint.address()), peer.transport);
}

std::string ProxyIdentity::sent_by(const Listener& listener) {
  return host_of(listener) + ":" + std::to_string(port_of(listener));
}

std::string ProxyIdentity::record_route_value(const Listener& listener,
                                              const std::optional<sip::Peer>& flow) {
  std::string out = "<sip:";
  out += sent_by(listener);
  if (listener.transport != sip::TransportProtocol::kUdp) {
    out += ";transport=";
    out += transport_token(listener.transport);
  }
  out += ";lr";
  if (flow) {
    out += ';';
    out += kFlowParam;
    out += '=';
    out += encode_flow_token(*flow);
  }
  out += '>';
  return out;
}

}  // namespace portcullis::proxy
