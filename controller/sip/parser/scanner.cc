#include "controller/sip/parser/scanner.h"

#include "common/base/text.h"

namespace portcullis::sip::detail {

bool take_quoted_string(Cursor& c) noexcept {
  if (!c.consume('"')) {
    return false;
  }
  while (!c.eof()) {
    const auto ch = static_cast<unsigned char>(c.peek());
    if (ch == '"') {
      c.advance();
      return true;
    }
    if (ch == '\\') {
      // quoted-pair = "\" (%x00-09 / %x0B-0C / %x0E-7F)
      if (c.remaining() < 2) {
        return false;
      }
      const auto next = static_cast<unsigned char>(c.peek_at(1));
      if (next == '\r' || next == '\n' || next >= 0x80) {
        return false;
      }
      c.advance(2);
      continue;
    }
    if (ch == ' ' || ch == '\t' || (ch >= 0x21 && ch <= 0x7e) || ch >= 0x80) {
      c.advance();
      continue;
    }
    if (ch == '\r' && c.peek_at(1) == '\n' && (c.peek_at(2) == ' ' || c.peek_at(2) == '\t')) {
      c.advance(3);  // still-folded LWS inside the quotes
      continue;
    }
    return false;  // bare control byte (including NUL, CR, LF)
  }
  return false;  // unterminated (RFC 4475 §3.1.2.6 quotbal.dat)
}

bool is_ipv4_address(std::string_view s) noexcept {
  // RFC 3261 §25.1: IPv4address = 1*3DIGIT "." 1*3DIGIT "." 1*3DIGIT "." 1*3DIGIT; each octet
  // must also fit in 0..255 or it is not an address at all.
  int groups = 0;
  std::size_t i = 0;
  while (true) {
    std::size_t digits = 0;
    unsigned value = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9' && digits < 4) {
      value = value * 10 + static_cast<unsigned>(s[i] - '0');
      ++digits;
      ++i;
    }
    if (digits == 0 || digits > 3 || value > 255) {
      return false;
    }
    ++groups;
    if (groups == 4) {
      return i == s.size();
    }
    if (i >= s.size() || s[i] != '.') {
      return false;
    }
    ++i;
  }
}

bool is_ipv6_address(std::string_view s) noexcept {
  // RFC 3261 §25.1: IPv6address = hexpart [ ":" IPv4address ];
  // hexpart = hexseq / hexseq "::" [ hexseq ] / "::" [ hexseq ]; hex4 = 1*4HEXDIG.
  const std::size_t n = s.size();
  std::size_t i = 0;
  int groups = 0;
  bool compressed = false;
  if (n >= 2 && s[0] == ':' && s[1] == ':') {
    compressed = true;
    i = 2;
    if (i == n) {
      return true;
    }
  } else if (n == 0 || s[0] == ':') {
    return false;
  }
  while (true) {
    const std::size_t start = i;
    while (i < n && hex_value(s[i]) >= 0 && i - start < 5) {
      ++i;
    }
    if (i < n && s[i] == '.') {
      // Trailing dotted quad counts as two groups.
      if (!is_ipv4_address(s.substr(start))) {
        return false;
      }
      groups += 2;
      break;
    }
    const std::size_t len = i - start;
    if (len == 0 || len > 4) {
      return false;
    }
    ++groups;
    if (i == n) {
      break;
    }
    if (s[i] != ':') {
      return false;
    }
    ++i;
    if (i < n && s[i] == ':') {
      if (compressed) {
        return false;  // at most one "::"
      }
      compressed = true;
      ++i;
      if (i == n) {
        break;
      }
    } else if (i == n) {
      return false;  // trailing single ':'
    }
    if (groups > 8) {
      return false;
    }
  }
  return compressed ? groups <= 7 : groups == 8;
}

bool is_hostname(std::string_view s) noexcept {
  // RFC 3261 §25.1: hostname = *( domainlabel "." ) toplabel [ "." ];
  // domainlabel = alphanum / alphanum *( alphanum / "-" ) alphanum;
  // toplabel = ALPHA / ALPHA *( alphanum / "-" ) alphanum.
  if (s.empty()) {
    return false;
  }
  if (s.back() == '.') {
    s.remove_suffix(1);
  }
  if (s.empty()) {
    return false;
  }
  std::size_t label_start = 0;
  for (std::size_t i = 0; i <= s.size(); ++i) {
    if (i == s.size() || s[i] == '.') {
      const std::string_view label = s.substr(label_start, i - label_start);
      if (label.empty() || label.front() == '-' || label.back() == '-') {
        return false;
      }
      for (char ch : label) {
        if (!is_class(ch, kAlpha | kDigit) && ch != '-') {
          return false;
        }
      }
      if (i == s.size() && !is_class(label.front(), kAlpha)) {
        return false;  // toplabel starts with ALPHA
      }
      label_start = i + 1;
    }
  }
  return true;
}

HostKind classify_host(std::string_view s) noexcept {
  if (s.size() >= 2 && s.front() == '[' && s.back() == ']') {
    return is_ipv6_address(s.substr(1, s.size() - 2)) ? HostKind::kIpv6Reference : HostKind::kNone;
  }
  if (is_ipv4_address(s)) {
    return HostKind::kIpv4;
  }
  if (is_hostname(s)) {
    return HostKind::kDomain;
  }
  return HostKind::kNone;
}

HostKind take_host(Cursor& c, std::string_view& host) noexcept {
  const std::size_t start = c.pos();
  if (c.consume('[')) {
    c.take_while(kIpv6Char);
    if (!c.consume(']')) {
      return HostKind::kNone;
    }
  } else {
    c.take_while(kHostChar);
  }
  host = c.slice(start);
  return classify_host(host);
}

std::optional<std::uint16_t> take_port(Cursor& c) noexcept {
  const std::string_view digits = c.take_while(kDigit);
  const auto value = parse_decimal(digits, 65535);
  if (!value) {
    return std::nullopt;
  }
  return static_cast<std::uint16_t>(*value);
}

}  // namespace portcullis::sip::detail
