// IPv4/IPv6 address and transport endpoint value types with strict parse/format.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "common/base/result.h"

namespace portcullis::net {

enum class Family : std::uint8_t { kV4 = 4, kV6 = 6 };

/// An IP address held in network byte order. Default-constructed: 0.0.0.0.
class IpAddress {
 public:
  IpAddress() = default;

  static IpAddress v4(std::uint32_t host_order) noexcept;
  static IpAddress v4_bytes(const std::array<std::uint8_t, 4>& b) noexcept;
  static IpAddress v6_bytes(const std::array<std::uint8_t, 16>& b) noexcept;
  /// From raw network-order bytes (4 or 16 of them), as carried in protobuf `bytes` fields.
  static Result<IpAddress> from_bytes(std::string_view raw);

  /// Parses dotted-quad IPv4 or RFC 4291/5952 text IPv6 (no brackets, no zone id).
  static Result<IpAddress> parse(std::string_view text);

  Family family() const noexcept { return family_; }
  bool is_v4() const noexcept { return family_ == Family::kV4; }
  bool is_v6() const noexcept { return family_ == Family::kV6; }
  bool is_unspecified() const noexcept;
  bool is_loopback() const noexcept;
  bool is_multicast() const noexcept;
  /// 10/8, 172.16/12, 192.168/16, 100.64/10 (CGN), fc00::/7 (ULA), link-local: addresses that must
  /// never appear on the WAN side.
  bool is_private() const noexcept;

  /// IPv4 in host byte order; precondition is_v4().
  std::uint32_t v4_host_order() const noexcept;
  /// 4 or 16 network-order bytes.
  std::string_view bytes() const noexcept;

  /// Canonical text: dotted quad, or RFC 5952 compressed lowercase IPv6 (no brackets).
  std::string to_string() const;

  friend bool operator==(const IpAddress&, const IpAddress&) = default;
  friend auto operator<=>(const IpAddress&, const IpAddress&) = default;

 private:
  Family family_ = Family::kV4;
  std::array<std::uint8_t, 16> bytes_{};  // only the first 4 are used for IPv4
};

/// An address and a port. Text form: "192.0.2.1:5060" or "[2001:db8::1]:5060".
class Endpoint {
 public:
  Endpoint() = default;
  Endpoint(IpAddress address, std::uint16_t port) : address_(address), port_(port) {}

  /// Parses "a.b.c.d:port" or "[v6]:port". Port must be 1..65535 unless allow_port_zero.
  static Result<Endpoint> parse(std::string_view text, bool allow_port_zero = false);

  const IpAddress& address() const noexcept { return address_; }
  std::uint16_t port() const noexcept { return port_; }
  std::string to_string() const;

  friend bool operator==(const Endpoint&, const Endpoint&) = default;
  friend auto operator<=>(const Endpoint&, const Endpoint&) = default;

 private:
  IpAddress address_;
  std::uint16_t port_ = 0;
};

/// A CIDR prefix, e.g. 10.0.0.0/8, for policy (who may register, which agent serves a network).
class Prefix {
 public:
  Prefix() = default;
  static Result<Prefix> parse(std::string_view text);
  bool contains(const IpAddress& a) const noexcept;
  const IpAddress& network() const noexcept { return network_; }
  unsigned length() const noexcept { return length_; }
  std::string to_string() const;
  friend bool operator==(const Prefix&, const Prefix&) = default;

 private:
  IpAddress network_;
  unsigned length_ = 0;
};

}  // namespace portcullis::net

template <>
struct std::hash<portcullis::net::IpAddress> {
  std::size_t operator()(const portcullis::net::IpAddress& a) const noexcept {
    return std::hash<std::string_view>{}(a.bytes()) ^ static_cast<std::size_t>(a.family());
  }
};
template <>
struct std::hash<portcullis::net::Endpoint> {
  std::size_t operator()(const portcullis::net::Endpoint& e) const noexcept {
    return std::hash<portcullis::net::IpAddress>{}(e.address()) * 31u + e.port();
  }
};
