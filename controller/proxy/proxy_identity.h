// ProxyIdentity: who we are on the wire. Answers the questions RFC 3261 §16 keeps asking —
// "is this Route / Request-URI us?" (§16.4), "is this Via ours?" (§16.3 step 4), "is this domain
// ours?" (§16.5) — and builds our Via sent-by, Record-Route (§16.6 step 4) and Path (RFC 3327)
// URIs, including the RFC 5626-style flow token that carries a NATed peer's flow.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "controller/proxy/proxy_config.h"
#include "controller/proxy/topology.h"
#include "controller/sip/parser/headers.h"
#include "controller/sip/parser/uri.h"
#include "controller/sip/transaction/transaction_types.h"

namespace portcullis::proxy {

/// URI parameter carrying a flow token in our Record-Route / Path URIs.
inline constexpr std::string_view kFlowParam = "pc-flow";

/// "udp~203.0.113.7~40001" or "tcp~203.0.113.7~40001~42" (connection id when non-zero); IPv6
/// addresses unbracketed. Only URI-parameter-safe characters (RFC 3261 §25.1 paramchar).
std::string encode_flow_token(const sip::Peer& peer);
std::optional<sip::Peer> decode_flow_token(std::string_view token);

class ProxyIdentity {
 public:
  /// Throws std::invalid_argument for an unusable config (no interface, an interface without
  /// listeners): startup errors are fatal (style.md §4.4).
  explicit ProxyIdentity(const ProxyConfig& config);

  /// §16.4: the URI names this proxy — a sip/sips URI whose host is one of our listeners'
  /// advertised hosts or addresses, or an alias, and whose port (default 5060, 5061 for sips or
  /// transport=tls) matches. The user part is ignored.
  bool is_own_uri(const sip::Uri& uri) const;
  /// §16.3 step 4: this via-parm's sent-by is one of our listeners.
  bool is_own_sent_by(const sip::Via& via) const;
  /// §16.5: the host is one of ProxyConfig::domains.
  bool is_our_domain(const sip::Uri& uri) const;

  /// The interface that reaches `address` (see ProxyInterface::networks).
  const ProxyInterface& interface_for(const net::IpAddress& address) const;
  /// The interface's listener for `transport`, or nullptr.
  const Listener* listener_for(const ProxyInterface& iface, sip::TransportProtocol transport) const;
  /// interface_for + listener_for; nullptr when that interface has no such transport.
  const Listener* listener_for(const sip::Peer& peer) const;

  /// The flow token of one of our Record-Route / Path URIs: its pc-flow, or the pc-flow of the
  /// original a pc-rr parameter encodes (topology hiding, topology.h).
  std::optional<sip::Peer> flow_of(const sip::Uri& uri) const;
  /// Topology hiding: the reversible encoding keyed by ProxyConfig::topology_key.
  const TopologyCodec& codec() const noexcept { return codec_; }
  /// An interface's topology is hidden from `other` (it hides, `other` does not).
  static bool hidden_from(const ProxyInterface& iface, const ProxyInterface& other) {
    return iface.hide_topology && !other.hide_topology;
  }
  /// The interface one of our Record-Route / Path values (as we wrote it) faces, when it names
  /// one of our listeners; nullptr otherwise.
  const ProxyInterface* interface_of_uri(const sip::Uri& uri) const;

  /// "host:port" for our Via (§16.6 step 8).
  static std::string sent_by(const Listener& listener);
  /// "<sip:host:port;transport=tcp;lr;pc-flow=...>" (transport omitted for UDP, flow when given).
  static std::string record_route_value(const Listener& listener, const std::optional<sip::Peer>& flow);

 private:
  bool host_port_matches(std::string_view host, std::uint16_t port) const;

  const ProxyConfig& config_;
  TopologyCodec codec_;
};

}  // namespace portcullis::proxy
