// Request-URI and name-addr URIs: sip, sips (RFC 3261 §19.1, §25.1), tel (RFC 3966) and any
// other absoluteURI kept opaque (so the proxy can answer 416, RFC 3261 §8.2.2.1).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/base/result.h"
#include "controller/sip/parser/params.h"
#include "controller/sip/parser/sip_error.h"

namespace portcullis::sip {

enum class UriScheme : std::uint8_t { kSip, kSips, kTel, kOther };
enum class HostKind : std::uint8_t { kNone, kDomain, kIpv4, kIpv6Reference };

struct UriHeader {
  std::string_view name;   // escaped form, as written
  std::string_view value;  // escaped form, as written
};

/// A parsed URI. Every view points into the parsed text, still %-escaped; use unescape() to
/// compare user parts. For kOther, only `scheme_text` and `opaque` are set.
struct Uri {
  UriScheme scheme = UriScheme::kOther;
  std::string_view scheme_text;  // "sip", "SIPS", "tel", "isbn", ... as written
  std::string_view user;         // sip/sips: userinfo user (may contain escapes, ';' for user-params)
  std::string_view password;     // sip/sips: after ':' in userinfo; empty if none
  bool has_password = false;
  std::string_view host;         // sip/sips: hostname, IPv4, or "[v6]" with the brackets
  HostKind host_kind = HostKind::kNone;
  std::optional<std::uint16_t> port;
  std::string_view host_port;    // sip/sips: the whole "host[:port]" span (for rewriting)
  ParamList params;              // sip/sips uri-parameters; tel: the par list
  std::vector<UriHeader> headers;  // sip/sips "?h=v&h2=v2"
  std::string_view telephone_subscriber;  // tel: global/local number, as written
  std::string_view opaque;       // kOther: everything after "scheme:"
  std::string_view text;         // the whole URI as parsed

  bool is_sip_or_sips() const noexcept { return scheme == UriScheme::kSip || scheme == UriScheme::kSips; }
  /// "transport" parameter or empty.
  std::string_view transport() const noexcept;
  /// "maddr" parameter or empty.
  std::string_view maddr() const noexcept;
  bool has_lr() const noexcept { return params.has("lr"); }
};

/// Parses a URI. Rejects embedded whitespace, '<' '>', control bytes, bad escapes (%zz), ports
/// above 65535, empty hosts (sip/sips), malformed IPv6 references. Never reads past `text`.
Result<Uri, SipError> parse_uri(std::string_view text);

/// Decodes %HH escapes exactly once (RFC 3261 §19.1.2: "value%41" decodes to "valueA", and
/// "%2541" to "%41"); an invalid escape is copied through as-is. %00 yields a NUL byte.
std::string unescape(std::string_view escaped);

/// RFC 3261 §19.1.4 URI equality for sip/sips (scheme, unescaped user/password case-sensitive,
/// host case-insensitive, port, the user/ttl/method/maddr/transport params, other params when
/// present in both, headers). tel: compares the subscriber ignoring visual separators. Other: text.
bool uri_equivalent(const Uri& a, const Uri& b);

}  // namespace portcullis::sip
