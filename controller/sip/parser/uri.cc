#include "controller/sip/parser/uri.h"

#include <array>

#include "common/base/text.h"
#include "controller/sip/parser/scanner.h"

namespace portcullis::sip {

namespace {

using detail::Cursor;
using detail::is_class;
using detail::take_escaped_run;

constexpr SipError kBadUri = bad_request("malformed URI");
constexpr SipError kBadScheme = bad_request("malformed URI scheme");
constexpr SipError kBadUserinfo = bad_request("malformed URI userinfo");
constexpr SipError kBadHost = bad_request("malformed URI host");
constexpr SipError kBadPort = bad_request("malformed URI port");
constexpr SipError kBadUriParam = bad_request("malformed URI parameter");
constexpr SipError kBadUriHeader = bad_request("malformed URI header");
constexpr SipError kBadTel = bad_request("malformed tel URI");
constexpr SipError kTooManyParams = bad_request("too many URI parameters");
constexpr SipError kDuplicateParam = bad_request("duplicate URI parameter");

// A parameter given twice (";transport=udp;transport=tcp", two phone-contexts) means different things
// to different elements, and makes RFC 3261 §19.1.4 / RFC 3966 §4 equality ill-defined: reject it,
// as Via does for its own parameters. Lists are short (kMaxParams), so quadratic is fine.
bool has_param_named(const ParamList& params, std::string_view name) noexcept {
  for (const Param& existing : params.items()) {
    if (iequals(existing.name, name)) {
      return true;
    }
  }
  return false;
}

constexpr std::uint32_t kUserChars = detail::kUnreserved | detail::kUserUnreserved;
constexpr std::uint32_t kPasswordChars = detail::kUnreserved | detail::kPasswordExtra;
constexpr std::uint32_t kParamChars = detail::kUnreserved | detail::kParamUnreserved;
constexpr std::uint32_t kHeaderChars = detail::kUnreserved | detail::kHnvUnreserved;
// uric = reserved / unreserved / escaped (RFC 2396 via RFC 3261 §25.1). '[' and ']' are added
// for IPv6 literals in http-style URIs (RFC 2732).
constexpr std::uint32_t kUricChars = detail::kUnreserved | detail::kReserved | detail::kParamUnreserved;

// ---- sip / sips (RFC 3261 §19.1.1, §25.1) ----

Result<Uri, SipError> parse_sip_uri(Uri uri, std::string_view body) {
  Cursor c(body);
  // userinfo = ( user / telephone-subscriber ) [ ":" password ] "@". '@' may appear only there:
  // it is in none of the host, uri-parameter or header character sets.
  const std::size_t at = body.find('@');
  if (at != std::string_view::npos) {
    Cursor u(body.substr(0, at));
    if (!take_escaped_run(u, kUserChars) || u.pos() == 0) {
      return unexpected(kBadUserinfo);
    }
    uri.user = u.slice(0);
    if (u.consume(':')) {
      const std::size_t pw_start = u.pos();
      if (!take_escaped_run(u, kPasswordChars)) {
        return unexpected(kBadUserinfo);
      }
      uri.password = u.slice(pw_start);
      uri.has_password = true;
    }
    if (!u.eof()) {
      return unexpected(kBadUserinfo);
    }
    c.set_pos(at + 1);
  }

  const std::size_t hp_start = c.pos();
  uri.host_kind = detail::take_host(c, uri.host);
  if (uri.host_kind == HostKind::kNone) {
    return unexpected(kBadHost);
  }
  if (c.consume(':')) {
    uri.port = detail::take_port(c);
    if (!uri.port) {
      return unexpected(kBadPort);
    }
  }
  uri.host_port = c.slice(hp_start);

  // uri-parameters = *( ";" uri-parameter ); other-param = pname [ "=" pvalue ], both 1*paramchar.
  while (c.consume(';')) {
    Param p;
    const std::size_t name_start = c.pos();
    if (!take_escaped_run(c, kParamChars) || c.pos() == name_start) {
      return unexpected(kBadUriParam);
    }
    p.name = c.slice(name_start);
    if (c.consume('=')) {
      const std::size_t value_start = c.pos();
      if (!take_escaped_run(c, kParamChars) || c.pos() == value_start) {
        return unexpected(kBadUriParam);
      }
      p.value = c.slice(value_start);
      p.has_value = true;
    }
    if (uri.params.size() >= detail::kMaxParams) {
      return unexpected(kTooManyParams);
    }
    if (has_param_named(uri.params, p.name)) {
      return unexpected(kDuplicateParam);
    }
    uri.params.push_back(p);
  }

  // headers = "?" header *( "&" header ); header = hname "=" hvalue; hname non-empty.
  if (c.consume('?')) {
    do {
      UriHeader h;
      const std::size_t name_start = c.pos();
      if (!take_escaped_run(c, kHeaderChars) || c.pos() == name_start) {
        return unexpected(kBadUriHeader);
      }
      h.name = c.slice(name_start);
      if (!c.consume('=')) {
        return unexpected(kBadUriHeader);
      }
      const std::size_t value_start = c.pos();
      if (!take_escaped_run(c, kHeaderChars)) {
        return unexpected(kBadUriHeader);
      }
      h.value = c.slice(value_start);
      if (uri.headers.size() >= detail::kMaxUriHeaders) {
        return unexpected(kBadUriHeader);
      }
      uri.headers.push_back(h);
    } while (c.consume('&'));
  }

  if (!c.eof()) {
    // Whitespace, '<', '>', '"', control bytes or anything else outside the grammar.
    return unexpected(kBadUri);
  }
  return uri;
}

// ---- tel (RFC 3966 §3) ----

bool is_visual_separator(char ch) noexcept {
  return ch == '-' || ch == '.' || ch == '(' || ch == ')';
}

Result<Uri, SipError> parse_tel_uri(Uri uri, std::string_view body) {
  Cursor c(body);
  const std::size_t start = c.pos();
  bool global = false;
  if (c.consume('+')) {
    global = true;
  }
  bool has_digit = false;
  while (!c.eof() && c.peek() != ';') {
    const char ch = c.peek();
    if (is_visual_separator(ch)) {
      c.advance();
      continue;
    }
    // global-number-digits use DIGIT; local-number-digits use HEXDIG / "*" / "#".
    const bool ok = global ? is_class(ch, detail::kDigit)
                           : (is_class(ch, detail::kHexDigit) || ch == '*' || ch == '#');
    if (!ok) {
      return unexpected(kBadTel);
    }
    has_digit = true;
    c.advance();
  }
  if (!has_digit) {
    return unexpected(kBadTel);
  }
  uri.telephone_subscriber = c.slice(start);
  // par = parameter / extension / isdn-subaddress; parameter = ";" pname ["=" pvalue ];
  // pname = 1*( alphanum / "-" ); pvalue = 1*paramchar (isub values allow uric).
  constexpr std::uint32_t kTelValueChars = kParamChars | detail::kTelParamExtra;
  bool has_context = false;
  while (c.consume(';')) {
    Param p;
    const std::size_t name_start = c.pos();
    while (!c.eof() && (is_class(c.peek(), detail::kAlpha | detail::kDigit) || c.peek() == '-')) {
      c.advance();
    }
    p.name = c.slice(name_start);
    if (p.name.empty()) {
      return unexpected(kBadTel);
    }
    if (c.consume('=')) {
      const std::size_t value_start = c.pos();
      if (!take_escaped_run(c, kTelValueChars) || c.pos() == value_start) {
        return unexpected(kBadTel);
      }
      p.value = c.slice(value_start);
      p.has_value = true;
    }
    if (iequals(p.name, "phone-context")) {
      if (!p.has_value) {
        return unexpected(kBadTel);
      }
      has_context = true;
    }
    if (uri.params.size() >= detail::kMaxParams) {
      return unexpected(kTooManyParams);
    }
    if (has_param_named(uri.params, p.name)) {
      return unexpected(kDuplicateParam);
    }
    uri.params.push_back(p);
  }
  if (!c.eof()) {
    return unexpected(kBadTel);
  }
  // RFC 3966 §5.1.5: a local number MUST carry a phone-context.
  if (!global && !has_context) {
    return unexpected(kBadTel);
  }
  return uri;
}

}  // namespace

Result<Uri, SipError> parse_uri(std::string_view text) {
  Uri uri;
  uri.text = text;
  // scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) (RFC 3261 §25.1)
  Cursor c(text);
  if (!c.at_class(detail::kAlpha)) {
    return unexpected(kBadScheme);
  }
  uri.scheme_text = c.take_while(detail::kSchemeChar);
  if (!c.consume(':')) {
    return unexpected(kBadScheme);
  }
  const std::string_view body = c.rest();
  if (iequals(uri.scheme_text, "sip")) {
    uri.scheme = UriScheme::kSip;
    return parse_sip_uri(std::move(uri), body);
  }
  if (iequals(uri.scheme_text, "sips")) {
    uri.scheme = UriScheme::kSips;
    return parse_sip_uri(std::move(uri), body);
  }
  if (iequals(uri.scheme_text, "tel")) {
    uri.scheme = UriScheme::kTel;
    return parse_tel_uri(std::move(uri), body);
  }
  // absoluteURI = scheme ":" ( hier-part / opaque-part ): kept opaque, but the characters still
  // have to be URI characters so that LWS, '<', '>' and controls are rejected (RFC 4475 §3.3.3).
  uri.scheme = UriScheme::kOther;
  if (body.empty() || !take_escaped_run(c, kUricChars) || !c.eof()) {
    return unexpected(kBadUri);
  }
  uri.opaque = body;
  return uri;
}

std::string_view Uri::transport() const noexcept {
  const auto v = params.get("transport");
  return v ? *v : std::string_view{};
}

std::string_view Uri::maddr() const noexcept {
  const auto v = params.get("maddr");
  return v ? *v : std::string_view{};
}

std::string unescape(std::string_view escaped) {
  std::string out;
  out.reserve(escaped.size());
  for (std::size_t i = 0; i < escaped.size(); ++i) {
    const char ch = escaped[i];
    if (ch == '%' && i + 2 < escaped.size() && detail::hex_value(escaped[i + 1]) >= 0 &&
        detail::hex_value(escaped[i + 2]) >= 0) {
      out.push_back(static_cast<char>(detail::hex_value(escaped[i + 1]) * 16 +
                                      detail::hex_value(escaped[i + 2])));
      i += 2;
    } else {
      out.push_back(ch);
    }
  }
  return out;
}

namespace {

// RFC 3261 §19.1.4: "Characters other than those in the 'reserved' set are equivalent to their
// '%' HEX HEX encoding." An escaped reserved character therefore stays distinct from the literal
// one. EscapedReader yields one logical character at a time without allocating.
struct LogicalChar {
  char value;
  bool escaped_reserved;  // "%3B" stays distinct from ";"
};

class EscapedReader {
 public:
  explicit EscapedReader(std::string_view s) noexcept : s_(s) {}
  bool done() const noexcept { return i_ >= s_.size(); }
  LogicalChar next() noexcept {
    const char ch = s_[i_];
    if (ch == '%' && i_ + 2 < s_.size() && detail::hex_value(s_[i_ + 1]) >= 0 &&
        detail::hex_value(s_[i_ + 2]) >= 0) {
      const char decoded =
          static_cast<char>(detail::hex_value(s_[i_ + 1]) * 16 + detail::hex_value(s_[i_ + 2]));
      i_ += 3;
      return {decoded, is_class(decoded, detail::kReserved)};
    }
    ++i_;
    return {ch, false};
  }

 private:
  std::string_view s_;
  std::size_t i_ = 0;
};

bool escaped_equal(std::string_view a, std::string_view b, bool case_sensitive) noexcept {
  EscapedReader ra(a);
  EscapedReader rb(b);
  while (!ra.done() && !rb.done()) {
    const LogicalChar ca = ra.next();
    const LogicalChar cb = rb.next();
    if (ca.escaped_reserved != cb.escaped_reserved) {
      return false;
    }
    const bool same =
        case_sensitive ? ca.value == cb.value : ascii_lower(ca.value) == ascii_lower(cb.value);
    if (!same) {
      return false;
    }
  }
  return ra.done() && rb.done();
}

const Param* find_param_escaped(const ParamList& list, std::string_view name) noexcept {
  for (const Param& p : list.items()) {
    if (escaped_equal(p.name, name, /*case_sensitive=*/false)) {
      return &p;
    }
  }
  return nullptr;
}

bool params_equivalent(const ParamList& a, const ParamList& b) noexcept {
  // "A user, ttl, or method uri-parameter appearing in only one URI never matches";
  // "A URI that includes an maddr parameter will not match a URI that contains no maddr";
  // the §19.1.4 examples show the same for transport.
  static constexpr std::array<std::string_view, 5> kMustMatch = {"user", "ttl", "method", "maddr",
                                                                 "transport"};
  for (std::string_view name : kMustMatch) {
    if ((find_param_escaped(a, name) == nullptr) != (find_param_escaped(b, name) == nullptr)) {
      return false;
    }
  }
  // "Any uri-parameter appearing in both URIs must match"; values compare case-insensitively.
  for (const Param& pa : a.items()) {
    const Param* pb = find_param_escaped(b, pa.name);
    if (pb == nullptr) {
      continue;
    }
    if (pa.has_value != pb->has_value || !escaped_equal(pa.value, pb->value, false)) {
      return false;
    }
  }
  return true;
}

bool headers_equivalent(const std::vector<UriHeader>& a, const std::vector<UriHeader>& b) {
  // "Any present header component MUST be present in both URIs and match", in any order.
  if (a.size() != b.size()) {
    return false;
  }
  auto contains = [](const std::vector<UriHeader>& list, const UriHeader& h) {
    for (const UriHeader& x : list) {
      if (escaped_equal(x.name, h.name, false) && escaped_equal(x.value, h.value, true)) {
        return true;
      }
    }
    return false;
  };
  for (const UriHeader& h : a) {
    if (!contains(b, h)) {
      return false;
    }
  }
  for (const UriHeader& h : b) {
    if (!contains(a, h)) {
      return false;
    }
  }
  return true;
}

bool tel_subscriber_equal(std::string_view a, std::string_view b) noexcept {
  // RFC 3966 §4: visual separators carry no meaning; hex digits compare case-insensitively.
  std::size_t i = 0;
  std::size_t j = 0;
  while (true) {
    while (i < a.size() && is_visual_separator(a[i])) {
      ++i;
    }
    while (j < b.size() && is_visual_separator(b[j])) {
      ++j;
    }
    if (i == a.size() || j == b.size()) {
      return i == a.size() && j == b.size();
    }
    if (ascii_lower(a[i]) != ascii_lower(b[j])) {
      return false;
    }
    ++i;
    ++j;
  }
}

bool tel_params_equal(const ParamList& a, const ParamList& b) noexcept {
  // RFC 3966 §4: same parameters in any order; values compared case-insensitively.
  if (a.size() != b.size()) {
    return false;
  }
  for (const Param& pa : a.items()) {
    const Param* pb = find_param_escaped(b, pa.name);
    if (pb == nullptr || pa.has_value != pb->has_value || !escaped_equal(pa.value, pb->value, false)) {
      return false;
    }
  }
  return true;
}

}  // namespace

bool uri_equivalent(const Uri& a, const Uri& b) {
  if (a.scheme != b.scheme) {
    return false;  // includes "a SIP and a SIPS URI are never equivalent"
  }
  switch (a.scheme) {
    case UriScheme::kSip:
    case UriScheme::kSips:
      break;
    case UriScheme::kTel:
      return tel_subscriber_equal(a.telephone_subscriber, b.telephone_subscriber) &&
             tel_params_equal(a.params, b.params);
    case UriScheme::kOther:
      return iequals(a.scheme_text, b.scheme_text) && a.opaque == b.opaque;
  }
  // "Comparison of the userinfo of SIP and SIPS URIs is case-sensitive", after unescaping.
  if (!escaped_equal(a.user, b.user, true) || a.has_password != b.has_password ||
      !escaped_equal(a.password, b.password, true)) {
    return false;
  }
  // Host case-insensitive; "a URI omitting any component with a default value will not match a
  // URI explicitly containing that component with its default value" (port 5060).
  if (!iequals(a.host, b.host) || a.port != b.port) {
    return false;
  }
  return params_equivalent(a.params, b.params) && headers_equivalent(a.headers, b.headers);
}

}  // namespace portcullis::sip
