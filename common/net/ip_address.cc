#include "common/net/ip_address.h"

#include <arpa/inet.h>

#include <cstring>

#include "common/base/text.h"

namespace portcullis::net {

IpAddress IpAddress::v4(std::uint32_t host_order) noexcept {
  IpAddress a;
  a.family_ = Family::kV4;
  a.bytes_[0] = static_cast<std::uint8_t>(host_order >> 24);
  a.bytes_[1] = static_cast<std::uint8_t>(host_order >> 16);
  a.bytes_[2] = static_cast<std::uint8_t>(host_order >> 8);
  a.bytes_[3] = static_cast<std::uint8_t>(host_order);
  return a;
}

IpAddress IpAddress::v4_bytes(const std::array<std::uint8_t, 4>& b) noexcept {
  IpAddress a;
  a.family_ = Family::kV4;
  std::memcpy(a.bytes_.data(), b.data(), 4);
  return a;
}

IpAddress IpAddress::v6_bytes(const std::array<std::uint8_t, 16>& b) noexcept {
  IpAddress a;
  a.family_ = Family::kV6;
  a.bytes_ = b;
  return a;
}

Result<IpAddress> IpAddress::from_bytes(std::string_view raw) {
  IpAddress a;
  if (raw.size() == 4) {
    a.family_ = Family::kV4;
  } else if (raw.size() == 16) {
    a.family_ = Family::kV6;
  } else {
    return unexpected(invalid_argument("IP address must be 4 or 16 bytes, got " + std::to_string(raw.size())));
  }
  std::memcpy(a.bytes_.data(), raw.data(), raw.size());
  return a;
}

Result<IpAddress> IpAddress::parse(std::string_view text) {
  // inet_pton needs a NUL-terminated string; addresses are short, so bound the copy.
  char buf[INET6_ADDRSTRLEN + 1];
  // An embedded NUL would end the C string early and let "10.0.0.1\0junk" through.
  if (text.empty() || text.size() >= sizeof(buf) || text.find('\0') != std::string_view::npos) {
    return unexpected(invalid_argument("not an IP address: '" + log_excerpt(text, 64) + "'"));
  }
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  IpAddress a;
  if (text.find(':') == std::string_view::npos) {
    if (inet_pton(AF_INET, buf, a.bytes_.data()) == 1) {
      a.family_ = Family::kV4;
      return a;
    }
  } else if (inet_pton(AF_INET6, buf, a.bytes_.data()) == 1) {
    a.family_ = Family::kV6;
    return a;
  }
  return unexpected(invalid_argument("not an IP address: '" + log_excerpt(text, 64) + "'"));
}

bool IpAddress::is_unspecified() const noexcept {
  const std::size_t n = is_v4() ? 4 : 16;
  for (std::size_t i = 0; i < n; ++i) {
    if (bytes_[i] != 0) {
      return false;
    }
  }
  return true;
}

bool IpAddress::is_loopback() const noexcept {
  if (is_v4()) {
    return bytes_[0] == 127;
  }
  for (std::size_t i = 0; i < 15; ++i) {
    if (bytes_[i] != 0) {
      return false;
    }
  }
  return bytes_[15] == 1;
}

bool IpAddress::is_multicast() const noexcept {
  return is_v4() ? (bytes_[0] & 0xf0) == 0xe0 : bytes_[0] == 0xff;
}

bool IpAddress::is_private() const noexcept {
  if (is_v4()) {
    const auto b0 = bytes_[0];
    const auto b1 = bytes_[1];
    return b0 == 10 || (b0 == 172 && (b1 & 0xf0) == 16) || (b0 == 192 && b1 == 168) ||
           (b0 == 100 && (b1 & 0xc0) == 64) || (b0 == 169 && b1 == 254);
  }
  return (bytes_[0] & 0xfe) == 0xfc || (bytes_[0] == 0xfe && (bytes_[1] & 0xc0) == 0x80);
}

std::uint32_t IpAddress::v4_host_order() const noexcept {
  return (std::uint32_t{bytes_[0]} << 24) | (std::uint32_t{bytes_[1]} << 16) |
         (std::uint32_t{bytes_[2]} << 8) | std::uint32_t{bytes_[3]};
}

std::string_view IpAddress::bytes() const noexcept {
  return {reinterpret_cast<const char*>(bytes_.data()), is_v4() ? 4u : 16u};
}

std::string IpAddress::to_string() const {
  char buf[INET6_ADDRSTRLEN];
  const char* r = inet_ntop(is_v4() ? AF_INET : AF_INET6, bytes_.data(), buf, sizeof(buf));
  return r != nullptr ? std::string(r) : std::string();
}

Result<Endpoint> Endpoint::parse(std::string_view text, bool allow_port_zero) {
  std::string_view host;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return unexpected(invalid_argument("endpoint must be [v6]:port: '" + log_excerpt(text, 64) + "'"));
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos || text.find(':') != colon) {
      return unexpected(invalid_argument("endpoint must be ip:port: '" + log_excerpt(text, 64) + "'"));
    }
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  auto addr = IpAddress::parse(host);
  if (!addr) {
    return unexpected(std::move(addr).error());
  }
  const auto p = parse_decimal(port, 65535);
  if (!p || (*p == 0 && !allow_port_zero)) {
    return unexpected(invalid_argument("bad port in endpoint '" + log_excerpt(text, 64) + "'"));
  }
  return Endpoint(*addr, static_cast<std::uint16_t>(*p));
}

std::string Endpoint::to_string() const {
  if (address_.is_v6()) {
    return "[" + address_.to_string() + "]:" + std::to_string(port_);
  }
  return address_.to_string() + ":" + std::to_string(port_);
}

Result<Prefix> Prefix::parse(std::string_view text) {
  const auto slash = text.find('/');
  auto addr = IpAddress::parse(text.substr(0, slash));
  if (!addr) {
    return unexpected(std::move(addr).error());
  }
  const unsigned max_len = addr->is_v4() ? 32 : 128;
  unsigned len = max_len;
  if (slash != std::string_view::npos) {
    const auto l = parse_decimal(text.substr(slash + 1), max_len);
    if (!l) {
      return unexpected(invalid_argument("bad prefix length in '" + log_excerpt(text, 64) + "'"));
    }
    len = static_cast<unsigned>(*l);
  }
  Prefix p;
  p.network_ = *addr;
  p.length_ = len;
  // Normalise: clear host bits so 10.1.2.3/8 equals 10.0.0.0/8.
  std::array<std::uint8_t, 16> b{};
  std::memcpy(b.data(), addr->bytes().data(), addr->bytes().size());
  for (unsigned bit = len; bit < max_len; ++bit) {
    b[bit / 8] = static_cast<std::uint8_t>(b[bit / 8] & ~(0x80u >> (bit % 8)));
  }
  p.network_ = addr->is_v4() ? IpAddress::v4_bytes({b[0], b[1], b[2], b[3]}) : IpAddress::v6_bytes(b);
  return p;
}

bool Prefix::contains(const IpAddress& a) const noexcept {
  if (a.family() != network_.family()) {
    return false;
  }
  const auto x = a.bytes();
  const auto n = network_.bytes();
  unsigned bit = 0;
  for (; bit + 8 <= length_; bit += 8) {
    if (x[bit / 8] != n[bit / 8]) {
      return false;
    }
  }
  if (bit < length_) {
    const auto mask = static_cast<std::uint8_t>(0xff00u >> (length_ - bit));
    if ((static_cast<std::uint8_t>(x[bit / 8]) & mask) != (static_cast<std::uint8_t>(n[bit / 8]) & mask)) {
      return false;
    }
  }
  return true;
}

std::string Prefix::to_string() const { return network_.to_string() + "/" + std::to_string(length_); }

}  // namespace portcullis::net
