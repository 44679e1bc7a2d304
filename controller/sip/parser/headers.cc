// CSeq, numeric headers, Contact, Content-Type, token lists, Call-ID (RFC 3261 §20, §25.1).
#include "controller/sip/parser/headers.h"

#include <limits>

#include "common/base/text.h"
#include "controller/sip/parser/name_addr_internal.h"
#include "controller/sip/parser/scanner.h"

namespace portcullis::sip {

namespace {

using detail::Cursor;
using detail::trim_lws;

constexpr std::uint64_t kMaxUint32 = std::numeric_limits<std::uint32_t>::max();

constexpr SipError kBadCSeq = bad_request("malformed CSeq header");
constexpr SipError kBadMaxForwards = bad_request("malformed Max-Forwards header");
constexpr SipError kBadContentLength = bad_request("malformed Content-Length header");
constexpr SipError kBodyTooLarge = {513, "Content-Length exceeds limit", false};
constexpr SipError kBadDeltaSeconds = bad_request("malformed delta-seconds value");
constexpr SipError kBadQ = bad_request("malformed q parameter");
constexpr SipError kBadMediaType = bad_request("malformed media type");
constexpr SipError kBadTokenList = bad_request("malformed token list");
constexpr SipError kBadCallId = bad_request("malformed Call-ID header");

bool all_digits(std::string_view s) noexcept {
  if (s.empty()) {
    return false;
  }
  for (char ch : s) {
    if (ch < '0' || ch > '9') {
      return false;
    }
  }
  return true;
}

}  // namespace

bool is_token(std::string_view s) noexcept {
  if (s.empty()) {
    return false;
  }
  for (char ch : s) {
    if (!detail::is_class(ch, detail::kTokenChar)) {
      return false;
    }
  }
  return true;
}

bool is_method(std::string_view s) noexcept { return is_token(s); }

// CSeq = 1*DIGIT LWS Method. Leading zeros are fine (RFC 4475 §3.1.1.1 "0009"); values above
// 2**32-1 are a 400 (RFC 4475 §3.1.2.4, pjproject#2093).
Result<CSeq, SipError> parse_cseq(std::string_view value) {
  Cursor c(trim_lws(value));
  const auto number = parse_decimal(c.take_while(detail::kDigit), kMaxUint32);
  if (!number || !c.skip_lws()) {
    return unexpected(kBadCSeq);
  }
  CSeq out;
  out.number = static_cast<std::uint32_t>(*number);
  out.method = c.take_while(detail::kTokenChar);
  if (out.method.empty() || !c.eof()) {
    return unexpected(kBadCSeq);
  }
  return out;
}

Result<std::uint8_t, SipError> parse_max_forwards(std::string_view value) {
  const auto v = parse_decimal(trim_lws(value), 255);
  if (!v) {
    return unexpected(kBadMaxForwards);
  }
  return static_cast<std::uint8_t>(*v);
}

Result<std::uint32_t, SipError> parse_content_length(std::string_view value, std::uint32_t max_body) {
  // RFC 4475 §3.1.2.3: a negative or non-numeric length is malformed, never a counter.
  const std::string_view digits = trim_lws(value);
  if (!all_digits(digits)) {
    return unexpected(kBadContentLength);
  }
  const auto v = parse_decimal(digits, max_body);
  if (!v) {
    return unexpected(kBodyTooLarge);  // well-formed but above the configured limit
  }
  return static_cast<std::uint32_t>(*v);
}

Result<std::uint32_t, SipError> parse_delta_seconds(std::string_view value) {
  const std::string_view digits = trim_lws(value);
  if (!all_digits(digits)) {
    return unexpected(kBadDeltaSeconds);
  }
  // RFC 3261 §20.19: larger values are taken as 2**32-1 (RFC 4475 §3.1.2.4 Expires: 1e103).
  return static_cast<std::uint32_t>(parse_decimal(digits, kMaxUint32).value_or(kMaxUint32));
}

// Contact = ("Contact" / "m") HCOLON ( STAR / (contact-param *(COMMA contact-param)))
Result<ContactList, SipError> parse_contact(std::string_view value) {
  const std::string_view v = trim_lws(value);
  ContactList out;
  if (v == "*") {
    out.star = true;
    return out;
  }
  auto list = parse_name_addr_list(v);
  if (!list) {
    return unexpected(list.error());  // keep the specific reason (quote, '<', param ...)
  }
  out.contacts = std::move(list).value();
  return out;
}

std::optional<std::uint32_t> contact_expires(const NameAddr& contact) {
  const auto v = contact.params.get("expires");
  if (!v) {
    return std::nullopt;
  }
  const auto seconds = parse_delta_seconds(*v);
  if (!seconds) {
    return std::nullopt;
  }
  return *seconds;
}

// qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )
Result<std::optional<std::uint16_t>, SipError> contact_q(const NameAddr& contact) {
  const Param* p = contact.params.find("q");
  if (p == nullptr) {
    return std::optional<std::uint16_t>{};
  }
  const std::string_view s = p->value;
  if (!p->has_value || s.empty() || (s[0] != '0' && s[0] != '1')) {
    return unexpected(kBadQ);
  }
  const bool one = s[0] == '1';
  std::uint16_t thousandths = one ? 1000 : 0;
  if (s.size() > 1) {
    if (s[1] != '.' || s.size() > 5) {
      return unexpected(kBadQ);
    }
    std::uint16_t scale = 100;
    for (std::size_t i = 2; i < s.size(); ++i) {
      const char ch = s[i];
      if (ch < '0' || ch > '9' || (one && ch != '0')) {
        return unexpected(kBadQ);
      }
      thousandths = static_cast<std::uint16_t>(thousandths + (ch - '0') * scale);
      scale = static_cast<std::uint16_t>(scale / 10);
    }
  }
  return std::optional<std::uint16_t>{thousandths};
}

bool MediaType::is(std::string_view t, std::string_view s) const noexcept {
  return iequals(type, t) && iequals(subtype, s);
}

// media-type = m-type SLASH m-subtype *(SEMI m-parameter); m-parameter = m-attribute EQUAL m-value
Result<MediaType, SipError> parse_media_type(std::string_view value) {
  Cursor c(trim_lws(value));
  MediaType out;
  out.type = c.take_while(detail::kTokenChar);
  c.skip_lws();
  if (out.type.empty() || !c.consume('/')) {
    return unexpected(kBadMediaType);
  }
  c.skip_lws();
  out.subtype = c.take_while(detail::kTokenChar);
  if (out.subtype.empty() ||
      !detail::take_header_params(c, out.params, detail::ParamMode::kValueRequired)) {
    return unexpected(kBadMediaType);
  }
  c.skip_lws();
  if (!c.eof()) {
    return unexpected(kBadMediaType);
  }
  return out;
}

// e.g. Require = "Require" HCOLON option-tag *(COMMA option-tag); Supported and Allow may be
// empty (RFC 3261 §20.37, §20.5), so an empty value is an empty list.
Result<std::vector<std::string_view>, SipError> parse_token_list(std::string_view value) {
  Cursor c(trim_lws(value));
  std::vector<std::string_view> out;
  if (c.eof()) {
    return out;
  }
  while (true) {
    const std::string_view token = c.take_while(detail::kTokenChar);
    if (token.empty() || out.size() >= detail::kMaxListElements) {
      return unexpected(kBadTokenList);
    }
    out.push_back(token);
    c.skip_lws();
    if (c.eof()) {
      return out;
    }
    if (!c.consume(',')) {
      return unexpected(kBadTokenList);
    }
    c.skip_lws();
  }
}

// callid = word [ "@" word ] (RFC 3261 §25.1; RFC 4475 §3.1.1.2 uses every word character).
Result<std::string_view, SipError> parse_call_id(std::string_view value) {
  const std::string_view v = trim_lws(value);
  Cursor c(v);
  if (c.take_while(detail::kWordChar).empty()) {
    return unexpected(kBadCallId);
  }
  if (c.consume('@') && c.take_while(detail::kWordChar).empty()) {
    return unexpected(kBadCallId);
  }
  if (!c.eof()) {
    return unexpected(kBadCallId);
  }
  return v;
}

}  // namespace portcullis::sip
