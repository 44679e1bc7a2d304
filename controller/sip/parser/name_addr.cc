#include "controller/sip/parser/name_addr.h"

#include "controller/sip/parser/name_addr_internal.h"
#include "controller/sip/parser/scanner.h"

namespace portcullis::sip {

namespace {

using detail::Cursor;

constexpr SipError kUnterminatedQuote = bad_request("unterminated quoted string");
constexpr SipError kBadDisplayName = bad_request("malformed display name");
constexpr SipError kUnterminatedAngle = bad_request("unterminated '<' in name-addr");
constexpr SipError kAddrSpecNeedsAngles = bad_request("URI with ',' ';' or '?' must be enclosed in <>");
constexpr SipError kBadHeaderParam = bad_request("malformed header parameter");
constexpr SipError kTrailingJunk = bad_request("unexpected characters after name-addr");
constexpr SipError kEmptyElement = bad_request("empty list element");
constexpr SipError kTooManyElements = bad_request("too many list elements");
constexpr SipError kEmptyValue = bad_request("empty header value");

bool ends_addr_spec(char ch) noexcept {
  return ch == ';' || ch == ',' || ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

}  // namespace

namespace detail {

Result<NameAddr, SipError> take_name_addr(Cursor& c) {
  NameAddr na;
  c.skip_lws();
  const std::size_t start = c.pos();
  bool angle_form = true;
  if (c.at('"')) {
    // display-name = quoted-string; LAQUOT = SWS "<".
    if (!take_quoted_string(c)) {
      return unexpected(kUnterminatedQuote);
    }
    na.display_name = c.slice(start);
    c.skip_lws();
    if (!c.at('<')) {
      return unexpected(kBadDisplayName);
    }
  } else if (!c.at('<')) {
    const std::string_view first = c.take_while(kTokenChar);
    if (first.empty()) {
      return unexpected(kBadDisplayName);
    }
    if (c.at(':')) {
      // A token immediately followed by ':' is a URI scheme: addr-spec form.
      angle_form = false;
      c.set_pos(start);
    } else {
      // display-name = *(token LWS), then LAQUOT. RFC 4475 §3.1.1.6 (lwsdisp.dat): no LWS
      // before '<' is a known grammar bug and is accepted. Anything else that is not a token,
      // e.g. the ',' in "Bell, Alexander <sip:...>" (RFC 4475 §3.1.2.15), is an error.
      std::size_t last_end = c.pos();
      while (true) {
        c.skip_lws();
        if (c.at('<')) {
          break;
        }
        if (c.take_while(kTokenChar).empty()) {
          return unexpected(kBadDisplayName);
        }
        last_end = c.pos();
      }
      na.display_name = c.slice(start, last_end);
    }
  }

  if (angle_form) {
    c.consume('<');
    const std::string_view rest = c.rest();
    const std::size_t close = rest.find('>');
    if (close == std::string_view::npos) {
      return unexpected(kUnterminatedAngle);
    }
    // LWS between '<' and the URI or before '>' is rejected by parse_uri (RFC 4475 §3.1.2.14).
    auto uri = parse_uri(rest.substr(0, close));
    if (!uri) {
      return unexpected(uri.error());
    }
    na.uri = std::move(uri).value();
    na.angle_brackets = true;
    c.advance(close + 1);
  } else {
    const std::size_t uri_start = c.pos();
    while (!c.eof() && !ends_addr_spec(c.peek())) {
      c.advance();
    }
    const std::string_view text = c.slice(uri_start);
    // RFC 3261 §20.10: a URI containing ',' '?' or ';' must be in <>; here ',' and ';' end the
    // URI, so only '?' (URI headers, RFC 4475 §3.1.2.13 regbadct.dat) is left to reject.
    if (text.find('?') != std::string_view::npos) {
      return unexpected(kAddrSpecNeedsAngles);
    }
    auto uri = parse_uri(text);
    if (!uri) {
      return unexpected(uri.error());
    }
    na.uri = std::move(uri).value();
  }

  // In addr-spec form every ';' after the URI starts a header parameter (RFC 4475 §3.3.12).
  if (!take_header_params(c, na.params, ParamMode::kGeneric)) {
    return unexpected(kBadHeaderParam);
  }
  c.skip_lws();
  return na;
}

}  // namespace detail

std::string_view NameAddr::tag() const noexcept {
  const auto v = params.get("tag");
  return v ? *v : std::string_view{};
}

std::string NameAddr::unquoted_display_name() const {
  std::string_view s = display_name;
  if (s.size() < 2 || s.front() != '"' || s.back() != '"') {
    return std::string(s);
  }
  s = s.substr(1, s.size() - 2);
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 1 < s.size()) {
      ++i;  // quoted-pair: keep the escaped byte
    }
    out.push_back(s[i]);
  }
  return out;
}

Result<NameAddr, SipError> parse_name_addr(std::string_view value) {
  Cursor c(value);
  auto na = detail::take_name_addr(c);
  if (!na) {
    return na;
  }
  if (!c.eof()) {
    return unexpected(kTrailingJunk);
  }
  return na;
}

Result<std::vector<NameAddr>, SipError> parse_name_addr_list(std::string_view value) {
  Cursor c(value);
  c.skip_lws();
  if (c.eof()) {
    return unexpected(kEmptyValue);  // 1#(name-addr / addr-spec)
  }
  std::vector<NameAddr> out;
  while (true) {
    if (c.at(',')) {
      return unexpected(kEmptyElement);
    }
    auto na = detail::take_name_addr(c);
    if (!na) {
      return unexpected(na.error());
    }
    if (out.size() >= detail::kMaxListElements) {
      return unexpected(kTooManyElements);
    }
    out.push_back(std::move(na).value());
    if (c.eof()) {
      return out;
    }
    if (!c.consume(',')) {
      return unexpected(kTrailingJunk);
    }
    c.skip_lws();
    if (c.eof()) {
      return unexpected(kEmptyElement);
    }
  }
}

Result<std::vector<std::string_view>, SipError> split_comma_list(std::string_view value) {
  std::vector<std::string_view> out;
  if (detail::trim_lws(value).empty()) {
    return out;  // an empty value is an empty list, not one empty element
  }
  std::size_t element_start = 0;
  std::size_t i = 0;
  const std::size_t n = value.size();
  // Returns the error for this element, or nullptr when it was appended.
  auto flush = [&](std::size_t end) -> const SipError* {
    const std::string_view element = detail::trim_lws(value.substr(element_start, end - element_start));
    if (element.empty()) {
      return &kEmptyElement;
    }
    if (out.size() >= detail::kMaxListElements) {
      return &kTooManyElements;
    }
    out.push_back(element);
    return nullptr;
  };
  while (i < n) {
    const char ch = value[i];
    if (ch == '"') {
      ++i;
      while (i < n && value[i] != '"') {
        i += (value[i] == '\\') ? 2 : 1;
      }
      if (i >= n) {
        return unexpected(kUnterminatedQuote);
      }
      ++i;
    } else if (ch == '<') {
      const std::size_t close = value.find('>', i + 1);
      if (close == std::string_view::npos) {
        return unexpected(kUnterminatedAngle);
      }
      i = close + 1;
    } else if (ch == ',') {
      if (const SipError* e = flush(i)) {
        return unexpected(*e);
      }
      element_start = ++i;
    } else {
      ++i;
    }
  }
  if (const SipError* e = flush(n)) {
    return unexpected(*e);
  }
  return out;
}

}  // namespace portcullis::sip
