// Typed parsers for the header values the controller needs (RFC 3261 §20, §25.1). Each takes one
// header field value (already unfolded, LWS around it trimmed) and returns a value of views into
// it, or the SipError a stateless element should answer with. None allocate except for lists.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "common/base/result.h"
#include "controller/sip/parser/name_addr.h"
#include "controller/sip/parser/params.h"
#include "controller/sip/parser/sip_error.h"

namespace portcullis::sip {

// ---- Via (RFC 3261 §20.42, RFC 3581 rport) ----
struct Via {
  std::string_view protocol_name;  // "SIP"
  std::string_view protocol_version;  // "2.0"
  std::string_view transport;      // "UDP", "TCP", "TLS", "SCTP", "WS", or any token
  std::string_view host;           // sent-by host; IPv6 with brackets
  std::optional<std::uint16_t> port;
  ParamList params;
  std::string_view branch;         // empty if absent
  std::string_view received;       // empty if absent
  bool has_rport = false;          // ";rport" present (with or without a value)
  std::optional<std::uint16_t> rport;  // value if given
  std::string_view maddr;
  std::optional<std::uint8_t> ttl;
  std::string_view text;           // this via-parm as written

  /// branch starts with the RFC 3261 magic cookie "z9hG4bK" (§8.1.1.7).
  bool rfc3261_branch() const noexcept;
};
/// One Via header value may carry several via-parms separated by commas.
Result<std::vector<Via>, SipError> parse_via_list(std::string_view value);

// ---- CSeq (§20.16): number is 32-bit (§8.1.1.5: "MUST be less than 2**31" for new requests,
// but any value up to 2**32-1 must be accepted) ----
struct CSeq {
  std::uint32_t number = 0;
  std::string_view method;
};
Result<CSeq, SipError> parse_cseq(std::string_view value);

// ---- Numbers ----
/// Max-Forwards (§20.22): 0..255.
Result<std::uint8_t, SipError> parse_max_forwards(std::string_view value);
/// Content-Length (§20.14): digits only (else 400), not above `max_body` (else 513 Message Too Large,
/// also for values that overflow 32 bits).
Result<std::uint32_t, SipError> parse_content_length(std::string_view value, std::uint32_t max_body);
/// Expires (§20.19) and Min-Expires: delta-seconds, 32-bit; larger values clamp to 2**32-1
/// (§20.19 says a value above 2**32-1 is to be taken as 2**32-1).
Result<std::uint32_t, SipError> parse_delta_seconds(std::string_view value);

// ---- Contact (§20.10) ----
struct ContactList {
  bool star = false;               // "Contact: *"
  std::vector<NameAddr> contacts;
};
Result<ContactList, SipError> parse_contact(std::string_view value);
/// "expires" header parameter of a contact, if present and numeric.
std::optional<std::uint32_t> contact_expires(const NameAddr& contact);
/// "q" parameter in thousandths (q=0.5 → 500); nullopt when absent; error if out of 0..1.
Result<std::optional<std::uint16_t>, SipError> contact_q(const NameAddr& contact);

// ---- Content-Type (§20.15) ----
struct MediaType {
  std::string_view type;     // "application"
  std::string_view subtype;  // "sdp"
  ParamList params;
  bool is(std::string_view type, std::string_view subtype) const noexcept;
};
Result<MediaType, SipError> parse_media_type(std::string_view value);

// ---- Option-tag / method / token lists: Require, Proxy-Require, Supported, Unsupported,
// Allow (§20.32, §20.29, §20.37, §20.40, §20.5). Empty value is an empty list. ----
Result<std::vector<std::string_view>, SipError> parse_token_list(std::string_view value);

// ---- Authentication (§20.7, §20.27, §20.28, §20.44, RFC 7616) ----
struct AuthParam {
  std::string_view name;
  std::string_view value;  // quotes kept when quoted
  bool quoted = false;
};
struct AuthValue {
  std::string_view scheme;  // "Digest", or any other token
  std::vector<AuthParam> params;
  std::string_view token68;  // for schemes using token68 instead of params
  const AuthParam* find(std::string_view name) const noexcept;
};
/// Authorization / Proxy-Authorization / WWW-Authenticate / Proxy-Authenticate value.
Result<AuthValue, SipError> parse_auth(std::string_view value);

// ---- Date (§20.17): RFC 1123 date, "GMT" only ----
struct SipDate {
  std::int64_t unix_seconds = 0;
};
Result<SipDate, SipError> parse_date(std::string_view value);

// ---- Call-ID (§20.8): word [ "@" word ] ----
Result<std::string_view, SipError> parse_call_id(std::string_view value);

// ---- Tokens ----
bool is_token(std::string_view s) noexcept;  // RFC 3261 §25.1 token
/// RFC 3261 §25.1 Method: a token.
bool is_method(std::string_view s) noexcept;

}  // namespace portcullis::sip
