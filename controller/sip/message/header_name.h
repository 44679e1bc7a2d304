// Known header names, their compact forms (RFC 3261 §7.3.3 and later RFCs) and canonical
// spelling. Unknown headers are kOther and keep the name as written.
#pragma once

#include <cstdint>
#include <string_view>

namespace portcullis::sip {

enum class HeaderId : std::uint8_t {
  kOther = 0,
  kVia, kFrom, kTo, kCallId, kCSeq, kMaxForwards, kContentLength, kContentType, kContact,
  kRoute, kRecordRoute, kPath, kExpires, kMinExpires, kRequire, kProxyRequire, kSupported,
  kUnsupported, kAllow, kAuthorization, kProxyAuthorization, kWwwAuthenticate,
  kProxyAuthenticate, kDate, kAccept, kEvent, kReferTo, kReferredBy, kSubject, kSessionExpires,
  kMinSE, kUserAgent, kServer, kWarning, kContentEncoding, kContentDisposition, kAllowEvents,
  kRetryAfter, kTimestamp, kReplaces, kPAssertedIdentity, kPrivacy, kFlowTimer,
  kCount  // number of ids, not a header
};

/// Looks up a header name as written (case-insensitive; compact forms such as "v", "i", "l").
HeaderId header_id(std::string_view name) noexcept;

/// Canonical long name ("Via", "Call-ID", "CSeq" ...); empty for kOther.
std::string_view header_canonical_name(HeaderId id) noexcept;

/// Headers that may appear at most once (a second one is a 400, RFC 4475 §3.3.8).
bool header_is_single_instance(HeaderId id) noexcept;

/// Headers whose value is a comma-separated list that may be split across several fields
/// (RFC 3261 §7.3.1); others must not be split on commas.
bool header_is_list(HeaderId id) noexcept;

}  // namespace portcullis::sip
