#include "controller/media/sdp/sdp_fields.h"

#include <array>

#include "common/base/text.h"

namespace portcullis::media::sdp {

namespace {

constexpr std::size_t kMaxFields = 64;

Unexpected<SdpError> fail(SdpErrorKind kind, std::string_view message) {
  return unexpected(SdpError{kind, message, 0});
}

Unexpected<SdpError> malformed(std::string_view message) {
  return fail(SdpErrorKind::kMalformed, message);
}

// Splits on runs of SP, ignoring leading and trailing spaces. RFC 8866 §9 uses single SPs, but
// trailing spaces are a common interoperability wart and the raw line is preserved anyway.
// Returns false when there are more than `out.size()` fields.
bool split_fields(std::string_view value, std::vector<std::string_view>& out) {
  out.clear();
  std::size_t i = 0;
  while (i < value.size()) {
    while (i < value.size() && value[i] == ' ') {
      ++i;
    }
    if (i == value.size()) {
      break;
    }
    const std::size_t start = i;
    while (i < value.size() && value[i] != ' ') {
      ++i;
    }
    if (out.size() == kMaxFields) {
      return false;
    }
    out.push_back(value.substr(start, i - start));
  }
  return true;
}

// RFC 8866 §9: token-char = %x21 / %x23-27 / %x2A-2B / %x2D-2E / %x30-39 / %x41-5A / %x5E-7E
bool is_token_char(char ch) noexcept {
  const auto c = static_cast<unsigned char>(ch);
  return c == 0x21 || (c >= 0x23 && c <= 0x27) || c == 0x2a || c == 0x2b || c == 0x2d || c == 0x2e ||
         (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x5e && c <= 0x7e);
}

bool is_token(std::string_view s) noexcept {
  if (s.empty()) {
    return false;
  }
  for (char c : s) {
    if (!is_token_char(c)) {
      return false;
    }
  }
  return true;
}

bool is_digits(std::string_view s) noexcept {
  if (s.empty()) {
    return false;
  }
  for (char c : s) {
    if (c < '0' || c > '9') {
      return false;
    }
  }
  return true;
}

// RFC 8866 §9: proto = token *("/" token)
bool is_proto(std::string_view s) noexcept {
  if (s.empty()) {
    return false;
  }
  std::size_t start = 0;
  while (true) {
    const std::size_t slash = s.find('/', start);
    const std::string_view part = s.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    if (!is_token(part)) {
      return false;
    }
    if (slash == std::string_view::npos) {
      return true;
    }
    start = slash + 1;
  }
}

bool contains_ci(std::string_view haystack, std::string_view needle) noexcept {
  if (needle.size() > haystack.size()) {
    return false;
  }
  for (std::size_t i = 0; i + needle.size() <= haystack.size(); ++i) {
    if (iequals(haystack.substr(i, needle.size()), needle)) {
      return true;
    }
  }
  return false;
}

// nettype SP addrtype: only IN IP4 / IN IP6 are understood (RFC 8866 §8.2.6, §8.2.7).
Result<net::Family, SdpError> parse_net_addr_type(std::string_view nettype, std::string_view addrtype) {
  if (!iequals(nettype, "IN")) {
    return fail(SdpErrorKind::kUnsupportedNetType, "network type is not IN");
  }
  if (iequals(addrtype, "IP4")) {
    return net::Family::kV4;
  }
  if (iequals(addrtype, "IP6")) {
    return net::Family::kV6;
  }
  return fail(SdpErrorKind::kUnsupportedNetType, "address type is not IP4 or IP6");
}

// An IP literal of the given family. Text that cannot be an IP literal at all (letters outside
// hex, '%', '[') is an FQDN or extension address: kUnsupportedAddress, not kMalformed.
Result<net::IpAddress, SdpError> parse_address(std::string_view text, net::Family family) {
  if (text.empty()) {
    return malformed("empty connection address");
  }
  auto parsed = net::IpAddress::parse(text);
  if (parsed.ok()) {
    if (parsed->family() != family) {
      return malformed("connection address does not match its address type");
    }
    return *parsed;
  }
  bool literal_chars = true;
  for (char c : text) {
    const bool digit_or_dot = (c >= '0' && c <= '9') || c == '.';
    const bool hex_or_colon = (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':';
    if (!(digit_or_dot || (family == net::Family::kV6 && hex_or_colon))) {
      literal_chars = false;
      break;
    }
  }
  if (literal_chars) {
    return malformed("invalid IP address");
  }
  return fail(SdpErrorKind::kUnsupportedAddress, "connection address is not an IP literal");
}

const char* addrtype_text(const net::IpAddress& a) noexcept { return a.is_v4() ? "IP4" : "IP6"; }

}  // namespace

std::string_view direction_name(Direction d) noexcept {
  switch (d) {
    case Direction::kSendRecv:
      return "sendrecv";
    case Direction::kSendOnly:
      return "sendonly";
    case Direction::kRecvOnly:
      return "recvonly";
    case Direction::kInactive:
      return "inactive";
  }
  return "sendrecv";
}

std::optional<Direction> parse_direction(std::string_view attribute_name) noexcept {
  static constexpr std::array<Direction, 4> kAll = {Direction::kSendRecv, Direction::kSendOnly,
                                                     Direction::kRecvOnly, Direction::kInactive};
  for (Direction d : kAll) {
    if (iequals(attribute_name, direction_name(d))) {
      return d;
    }
  }
  return std::nullopt;
}

Result<Connection, SdpError> parse_connection(std::string_view value) {
  std::vector<std::string_view> f;
  if (!split_fields(value, f) || f.size() != 3) {
    return malformed("c= must be <nettype> <addrtype> <connection-address>");
  }
  auto family = parse_net_addr_type(f[0], f[1]);
  if (!family.ok()) {
    return unexpected(family.error());
  }
  // RFC 8866 §5.7: IP4 `addr[/ttl[/count]]`, IP6 `addr[/count]`.
  std::array<std::string_view, 3> parts{};
  std::size_t n = 0;
  std::string_view rest = f[2];
  while (true) {
    if (n == parts.size()) {
      return malformed("too many '/' parts in connection address");
    }
    const std::size_t slash = rest.find('/');
    parts[n++] = rest.substr(0, slash);
    if (slash == std::string_view::npos) {
      break;
    }
    rest = rest.substr(slash + 1);
  }
  Connection c;
  auto addr = parse_address(parts[0], *family);
  if (!addr.ok()) {
    return unexpected(addr.error());
  }
  c.address = *addr;
  std::size_t next = 1;
  if (*family == net::Family::kV4 && n >= 2) {
    const auto ttl = parse_decimal(parts[1], 255);
    if (!ttl) {
      return malformed("c= TTL is not a number in 0..255");
    }
    c.ttl = static_cast<std::uint8_t>(*ttl);
    next = 2;
  }
  if (n > next + 1) {
    return malformed("too many '/' parts in connection address");
  }
  if (n == next + 1) {
    const auto count = parse_decimal(parts[next], 65535);
    if (!count || *count == 0) {
      return malformed("c= address count is not a number in 1..65535");
    }
    c.count = static_cast<std::uint16_t>(*count);
  }
  return c;
}

std::string format_connection(const Connection& c) {
  std::string out = "IN ";
  out += addrtype_text(c.address);
  out += ' ';
  out += c.address.to_string();
  if (c.ttl && c.address.is_v4()) {
    out += '/';
    out += std::to_string(*c.ttl);
  }
  if (c.count) {
    out += '/';
    out += std::to_string(*c.count);
  }
  return out;
}

Result<Origin, SdpError> parse_origin(std::string_view value) {
  std::vector<std::string_view> f;
  if (!split_fields(value, f) || f.size() < 6) {
    return malformed("o= must be <username> <sess-id> <sess-version> <nettype> <addrtype> <address>");
  }
  const std::size_t n = f.size();
  if (!is_digits(f[n - 5])) {
    return malformed("o= session id is not a number");
  }
  if (!is_digits(f[n - 4])) {
    return malformed("o= session version is not a number");
  }
  auto family = parse_net_addr_type(f[n - 3], f[n - 2]);
  if (!family.ok()) {
    return unexpected(family.error());
  }
  Origin o;
  // Username: everything before the session id (spaces inside kept, outer spaces dropped).
  const auto user_end = static_cast<std::size_t>(f[n - 5].data() - value.data());
  std::string_view user = value.substr(0, user_end);
  while (!user.empty() && user.back() == ' ') {
    user.remove_suffix(1);
  }
  while (!user.empty() && user.front() == ' ') {
    user.remove_prefix(1);
  }
  o.username = std::string(user);
  o.session_id = std::string(f[n - 5]);
  o.session_version = std::string(f[n - 4]);
  o.nettype = std::string(f[n - 3]);
  o.addrtype = std::string(f[n - 2]);
  o.address_text = std::string(f[n - 1]);
  // RFC 8866 §5.2 allows an FQDN here, and nothing routes on it: be liberal.
  auto addr = net::IpAddress::parse(f[n - 1]);
  if (addr.ok() && addr->family() == *family) {
    o.address = *addr;
  }
  return o;
}

std::string format_origin(const Origin& o) {
  std::string out;
  out.reserve(o.username.size() + o.session_id.size() + o.session_version.size() + o.address_text.size() + 16);
  out += o.username;
  out += ' ';
  out += o.session_id;
  out += ' ';
  out += o.session_version;
  out += ' ';
  out += o.nettype;
  out += ' ';
  out += o.addrtype;
  out += ' ';
  out += o.address_text;
  return out;
}

bool is_rtp_proto(std::string_view proto) noexcept { return contains_ci(proto, "RTP/"); }

Result<MediaField, SdpError> parse_media_field(std::string_view value) {
  std::vector<std::string_view> f;
  if (!split_fields(value, f)) {
    return malformed("too many fields in m= line");
  }
  // Liberal: a rejected stream is sometimes sent without formats; everything else needs 3 fields.
  if (f.size() < 3) {
    return malformed("m= must be <media> <port> <proto> <fmt> ...");
  }
  MediaField m;
  if (!is_token(f[0])) {
    return malformed("m= media type is not a token");
  }
  m.media = std::string(f[0]);
  const std::size_t slash = f[1].find('/');
  const auto port = parse_decimal(f[1].substr(0, slash), 65535);
  if (!port) {
    return malformed("m= port is not a number in 0..65535");
  }
  m.port = static_cast<std::uint16_t>(*port);
  if (slash != std::string_view::npos) {
    const auto count = parse_decimal(f[1].substr(slash + 1), 65535);
    if (!count || *count == 0) {
      return malformed("m= port count is not a number in 1..65535");
    }
    m.port_count = static_cast<std::uint16_t>(*count);
  }
  if (!is_proto(f[2])) {
    return malformed("m= proto is not token *(\"/\" token)");
  }
  m.proto = std::string(f[2]);
  const bool rtp = is_rtp_proto(m.proto);
  m.formats.reserve(f.size() - 3);
  for (std::size_t i = 3; i < f.size(); ++i) {
    if (!is_token(f[i])) {
      return malformed("m= format is not a token");
    }
    // RFC 3551 §3 / RFC 8866 §5.14: for RTP profiles the formats are payload types 0..127.
    if (rtp && !parse_decimal(f[i], 127)) {
      return malformed("m= RTP payload type is not a number in 0..127");
    }
    m.formats.emplace_back(f[i]);
  }
  return m;
}

std::string format_media_field(const MediaField& m) {
  std::string out = m.media;
  out += ' ';
  out += std::to_string(m.port);
  if (m.port_count) {
    out += '/';
    out += std::to_string(*m.port_count);
  }
  out += ' ';
  out += m.proto;
  for (const auto& fmt : m.formats) {
    out += ' ';
    out += fmt;
  }
  return out;
}

Result<Attribute, SdpError> split_attribute(std::string_view value) {
  Attribute a;
  const std::size_t colon = value.find(':');
  a.name = value.substr(0, colon);
  if (colon != std::string_view::npos) {
    a.value = value.substr(colon + 1);
  }
  if (!is_token(a.name)) {
    return malformed("attribute name is not a token");
  }
  return a;
}

Result<RtcpAttribute, SdpError> parse_rtcp(std::string_view attribute_value) {
  std::vector<std::string_view> f;
  if (!split_fields(attribute_value, f) || (f.size() != 1 && f.size() != 4)) {
    return malformed("a=rtcp must be <port> [<nettype> <addrtype> <address>]");
  }
  RtcpAttribute r;
  const auto port = parse_decimal(f[0], 65535);
  if (!port) {
    return malformed("a=rtcp port is not a number in 0..65535");
  }
  r.port = static_cast<std::uint16_t>(*port);
  if (f.size() == 4) {
    auto family = parse_net_addr_type(f[1], f[2]);
    if (!family.ok()) {
      return unexpected(family.error());
    }
    auto addr = parse_address(f[3], *family);
    if (!addr.ok()) {
      return unexpected(addr.error());
    }
    r.address = *addr;
  }
  return r;
}

std::string format_rtcp(const RtcpAttribute& r) {
  std::string out = "rtcp:";
  out += std::to_string(r.port);
  if (r.address) {
    out += " IN ";
    out += addrtype_text(*r.address);
    out += ' ';
    out += r.address->to_string();
  }
  return out;
}

bool is_ice_attribute(std::string_view name) noexcept {
  static constexpr std::array<std::string_view, 9> kIce = {
      "candidate", "remote-candidates", "ice-lite",    "ice-mismatch",     "ice-ufrag",
      "ice-pwd",   "ice-pacing",        "ice-options", "end-of-candidates"};
  for (std::string_view n : kIce) {
    if (iequals(name, n)) {
      return true;
    }
  }
  return false;
}

std::string increment_decimal(std::string_view digits) {
  std::string out(digits);
  for (std::size_t i = out.size(); i > 0; --i) {
    if (out[i - 1] != '9') {
      ++out[i - 1];
      return out;
    }
    out[i - 1] = '0';
  }
  out.insert(out.begin(), '1');
  return out;
}

}  // namespace portcullis::media::sdp
