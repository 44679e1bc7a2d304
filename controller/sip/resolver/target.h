// Target: one place to send a request, as produced by RFC 3263 server location (§4.1 transport,
// §4.2 address and port), plus the failover bookkeeping the proxy uses after a failure (§4.3).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/net/ip_address.h"

namespace portcullis::sip::resolver {

/// The transports RFC 3263 selects among. Values equal controller/sip/transport's TransportKind
/// (kUdp = 0, kTcp = 1, kTls = 2) so the two convert with static_cast; this folder does not link
/// the transport layer.
enum class TargetTransport : std::uint8_t { kUdp = 0, kTcp = 1, kTls = 2 };

/// "UDP", "TCP", "TLS".
std::string_view target_transport_name(TargetTransport t) noexcept;

/// RFC 3261 §19.1.2: 5060 for sip over UDP/TCP, 5061 for TLS.
constexpr std::uint16_t default_port(TargetTransport t) noexcept {
  return t == TargetTransport::kTls ? std::uint16_t{5061} : std::uint16_t{5060};
}

struct Target {
  TargetTransport transport = TargetTransport::kUdp;
  net::Endpoint endpoint;
  /// The name whose A/AAAA records gave the address (an SRV target, or the URI host); empty for a
  /// numeric host. For logs.
  std::string host;
  /// The URI host (or maddr) the resolution started from. For TLS this is the identity to check
  /// in the server certificate (RFC 5922 §4), never the SRV target.
  std::string domain;

  std::string to_string() const;  // "TLS 192.0.2.1:5061 (sip1.example.com)"
  friend bool operator==(const Target&, const Target&) = default;
};

}  // namespace portcullis::sip::resolver
