// Conversions between Boost.Asio endpoints and common/net value types. Internal to the transport
// shells (udp_transport.cc, stream_transport.cc) and their tests.
#pragma once

#include <boost/asio/ip/address.hpp>

#include "common/net/ip_address.h"

namespace portcullis::sip {

inline net::IpAddress from_asio(const boost::asio::ip::address& a) {
  if (a.is_v4()) {
    return net::IpAddress::v4(a.to_v4().to_uint());
  }
  const auto b = a.to_v6().to_bytes();
  std::array<std::uint8_t, 16> bytes{};
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    bytes[i] = b[i];
  }
  return net::IpAddress::v6_bytes(bytes);
}

inline boost::asio::ip::address to_asio(const net::IpAddress& a) {
  if (a.is_v4()) {
    return boost::asio::ip::address_v4(a.v4_host_order());
  }
  boost::asio::ip::address_v6::bytes_type b{};
  const std::string_view raw = a.bytes();
  for (std::size_t i = 0; i < b.size() && i < raw.size(); ++i) {
    b[i] = static_cast<unsigned char>(raw[i]);
  }
  return boost::asio::ip::address_v6(b);
}

/// Works for tcp::endpoint and udp::endpoint.
template <class AsioEndpoint>
net::Endpoint from_asio_endpoint(const AsioEndpoint& e) {
  return net::Endpoint(from_asio(e.address()), e.port());
}

template <class AsioEndpoint>
AsioEndpoint to_asio_endpoint(const net::Endpoint& e) {
  return AsioEndpoint(to_asio(e.address()), e.port());
}

}  // namespace portcullis::sip
