#include "controller/sip/message/header_name.h"

#include <array>
#include <cstddef>

namespace portcullis::sip {
namespace {

constexpr char ascii_lower(char c) noexcept {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

/// `lower` is an all-lowercase literal of the same length as `name`.
constexpr bool iequals_lower(std::string_view name, std::string_view lower) noexcept {
  if (name.size() != lower.size()) {
    return false;
  }
  for (std::size_t i = 0; i < name.size(); ++i) {
    if (ascii_lower(name[i]) != lower[i]) {
      return false;
    }
  }
  return true;
}

struct NameEntry {
  std::string_view lower;
  HeaderId id;
};

// Long names, lowercase. Looked up by length and first character (no map, no hashing): the
// lengths spread the 43 names into buckets of at most a handful.
constexpr std::array kLongNames = {
    NameEntry{"to", HeaderId::kTo},
    NameEntry{"via", HeaderId::kVia},
    NameEntry{"from", HeaderId::kFrom},
    NameEntry{"cseq", HeaderId::kCSeq},
    NameEntry{"path", HeaderId::kPath},
    NameEntry{"date", HeaderId::kDate},
    NameEntry{"route", HeaderId::kRoute},
    NameEntry{"allow", HeaderId::kAllow},
    NameEntry{"event", HeaderId::kEvent},
    NameEntry{"accept", HeaderId::kAccept},
    NameEntry{"min-se", HeaderId::kMinSE},
    NameEntry{"server", HeaderId::kServer},
    NameEntry{"call-id", HeaderId::kCallId},
    NameEntry{"contact", HeaderId::kContact},
    NameEntry{"expires", HeaderId::kExpires},
    NameEntry{"require", HeaderId::kRequire},
    NameEntry{"subject", HeaderId::kSubject},
    NameEntry{"warning", HeaderId::kWarning},
    NameEntry{"privacy", HeaderId::kPrivacy},
    NameEntry{"refer-to", HeaderId::kReferTo},
    NameEntry{"replaces", HeaderId::kReplaces},
    NameEntry{"supported", HeaderId::kSupported},
    NameEntry{"timestamp", HeaderId::kTimestamp},
    NameEntry{"user-agent", HeaderId::kUserAgent},
    NameEntry{"flow-timer", HeaderId::kFlowTimer},
    NameEntry{"min-expires", HeaderId::kMinExpires},
    NameEntry{"unsupported", HeaderId::kUnsupported},
    NameEntry{"referred-by", HeaderId::kReferredBy},
    NameEntry{"retry-after", HeaderId::kRetryAfter},
    NameEntry{"max-forwards", HeaderId::kMaxForwards},
    NameEntry{"content-type", HeaderId::kContentType},
    NameEntry{"record-route", HeaderId::kRecordRoute},
    NameEntry{"allow-events", HeaderId::kAllowEvents},
    NameEntry{"proxy-require", HeaderId::kProxyRequire},
    NameEntry{"authorization", HeaderId::kAuthorization},
    NameEntry{"content-length", HeaderId::kContentLength},
    NameEntry{"session-expires", HeaderId::kSessionExpires},
    NameEntry{"www-authenticate", HeaderId::kWwwAuthenticate},
    NameEntry{"content-encoding", HeaderId::kContentEncoding},
    NameEntry{"proxy-authenticate", HeaderId::kProxyAuthenticate},
    NameEntry{"proxy-authorization", HeaderId::kProxyAuthorization},
    NameEntry{"content-disposition", HeaderId::kContentDisposition},
    NameEntry{"p-asserted-identity", HeaderId::kPAssertedIdentity},
};

constexpr std::size_t kMaxLongName = 19;

// [length] -> [first index, end index) into kLongNames (which is sorted by length).
struct Bucket {
  std::uint8_t begin = 0;
  std::uint8_t end = 0;
};

constexpr std::array<Bucket, kMaxLongName + 1> make_buckets() {
  std::array<Bucket, kMaxLongName + 1> buckets{};
  for (std::size_t i = 0; i < kLongNames.size(); ++i) {
    const std::size_t len = kLongNames[i].lower.size();
    if (buckets[len].end == 0) {
      buckets[len].begin = static_cast<std::uint8_t>(i);
    }
    buckets[len].end = static_cast<std::uint8_t>(i + 1);
  }
  return buckets;
}

constexpr bool sorted_by_length() {
  for (std::size_t i = 1; i < kLongNames.size(); ++i) {
    if (kLongNames[i - 1].lower.size() > kLongNames[i].lower.size()) {
      return false;
    }
  }
  return true;
}
static_assert(sorted_by_length(), "kLongNames must be sorted by length for the buckets");
static_assert(kLongNames.size() + 1 == static_cast<std::size_t>(HeaderId::kCount),
              "every HeaderId except kOther needs a long name");

constexpr std::array<Bucket, kMaxLongName + 1> kBuckets = make_buckets();

// RFC 3261 §7.3.3 compact forms, plus later ones registered with IANA for headers we know:
// b Referred-By (RFC 3892), o Event and u Allow-Events (RFC 6665), r Refer-To (RFC 3515),
// x Session-Expires (RFC 4028). a/d/j/n/y name headers we do not index (kOther).
constexpr HeaderId compact_form(char c) noexcept {
  switch (ascii_lower(c)) {
    case 'b': return HeaderId::kReferredBy;
    case 'c': return HeaderId::kContentType;
    case 'e': return HeaderId::kContentEncoding;
    case 'f': return HeaderId::kFrom;
    case 'i': return HeaderId::kCallId;
    case 'k': return HeaderId::kSupported;
    case 'l': return HeaderId::kContentLength;
    case 'm': return HeaderId::kContact;
    case 'o': return HeaderId::kEvent;
    case 'r': return HeaderId::kReferTo;
    case 's': return HeaderId::kSubject;
    case 't': return HeaderId::kTo;
    case 'u': return HeaderId::kAllowEvents;
    case 'v': return HeaderId::kVia;
    case 'x': return HeaderId::kSessionExpires;
    default: return HeaderId::kOther;
  }
}

constexpr std::array<std::string_view, static_cast<std::size_t>(HeaderId::kCount)> make_canonical() {
  std::array<std::string_view, static_cast<std::size_t>(HeaderId::kCount)> names{};
  names[static_cast<std::size_t>(HeaderId::kVia)] = "Via";
  names[static_cast<std::size_t>(HeaderId::kFrom)] = "From";
  names[static_cast<std::size_t>(HeaderId::kTo)] = "To";
  names[static_cast<std::size_t>(HeaderId::kCallId)] = "Call-ID";
  names[static_cast<std::size_t>(HeaderId::kCSeq)] = "CSeq";
  names[static_cast<std::size_t>(HeaderId::kMaxForwards)] = "Max-Forwards";
  names[static_cast<std::size_t>(HeaderId::kContentLength)] = "Content-Length";
  names[static_cast<std::size_t>(HeaderId::kContentType)] = "Content-Type";
  names[static_cast<std::size_t>(HeaderId::kContact)] = "Contact";
  names[static_cast<std::size_t>(HeaderId::kRoute)] = "Route";
  names[static_cast<std::size_t>(HeaderId::kRecordRoute)] = "Record-Route";
  names[static_cast<std::size_t>(HeaderId::kPath)] = "Path";
  names[static_cast<std::size_t>(HeaderId::kExpires)] = "Expires";
  names[static_cast<std::size_t>(HeaderId::kMinExpires)] = "Min-Expires";
  names[static_cast<std::size_t>(HeaderId::kRequire)] = "Require";
  names[static_cast<std::size_t>(HeaderId::kProxyRequire)] = "Proxy-Require";
  names[static_cast<std::size_t>(HeaderId::kSupported)] = "Supported";
  names[static_cast<std::size_t>(HeaderId::kUnsupported)] = "Unsupported";
  names[static_cast<std::size_t>(HeaderId::kAllow)] = "Allow";
  names[static_cast<std::size_t>(HeaderId::kAuthorization)] = "Authorization";
  names[static_cast<std::size_t>(HeaderId::kProxyAuthorization)] = "Proxy-Authorization";
  names[static_cast<std::size_t>(HeaderId::kWwwAuthenticate)] = "WWW-Authenticate";
  names[static_cast<std::size_t>(HeaderId::kProxyAuthenticate)] = "Proxy-Authenticate";
  names[static_cast<std::size_t>(HeaderId::kDate)] = "Date";
  names[static_cast<std::size_t>(HeaderId::kAccept)] = "Accept";
  names[static_cast<std::size_t>(HeaderId::kEvent)] = "Event";
  names[static_cast<std::size_t>(HeaderId::kReferTo)] = "Refer-To";
  names[static_cast<std::size_t>(HeaderId::kReferredBy)] = "Referred-By";
  names[static_cast<std::size_t>(HeaderId::kSubject)] = "Subject";
  names[static_cast<std::size_t>(HeaderId::kSessionExpires)] = "Session-Expires";
  names[static_cast<std::size_t>(HeaderId::kMinSE)] = "Min-SE";
  names[static_cast<std::size_t>(HeaderId::kUserAgent)] = "User-Agent";
  names[static_cast<std::size_t>(HeaderId::kServer)] = "Server";
  names[static_cast<std::size_t>(HeaderId::kWarning)] = "Warning";
  names[static_cast<std::size_t>(HeaderId::kContentEncoding)] = "Content-Encoding";
  names[static_cast<std::size_t>(HeaderId::kContentDisposition)] = "Content-Disposition";
  names[static_cast<std::size_t>(HeaderId::kAllowEvents)] = "Allow-Events";
  names[static_cast<std::size_t>(HeaderId::kRetryAfter)] = "Retry-After";
  names[static_cast<std::size_t>(HeaderId::kTimestamp)] = "Timestamp";
  names[static_cast<std::size_t>(HeaderId::kReplaces)] = "Replaces";
  names[static_cast<std::size_t>(HeaderId::kPAssertedIdentity)] = "P-Asserted-Identity";
  names[static_cast<std::size_t>(HeaderId::kPrivacy)] = "Privacy";
  names[static_cast<std::size_t>(HeaderId::kFlowTimer)] = "Flow-Timer";
  return names;
}

constexpr auto kCanonical = make_canonical();

constexpr bool canonical_matches_lookup_table() {
  for (const NameEntry& e : kLongNames) {
    if (!iequals_lower(kCanonical[static_cast<std::size_t>(e.id)], e.lower)) {
      return false;
    }
  }
  return true;
}
static_assert(canonical_matches_lookup_table(), "canonical names and lookup table disagree");

}  // namespace

HeaderId header_id(std::string_view name) noexcept {
  if (name.size() == 1) {
    return compact_form(name[0]);
  }
  if (name.empty() || name.size() > kMaxLongName) {
    return HeaderId::kOther;
  }
  const Bucket bucket = kBuckets[name.size()];
  const char first = ascii_lower(name[0]);
  for (std::size_t i = bucket.begin; i < bucket.end; ++i) {
    const NameEntry& e = kLongNames[i];
    if (e.lower[0] == first && iequals_lower(name, e.lower)) {
      return e.id;
    }
  }
  return HeaderId::kOther;
}

std::string_view header_canonical_name(HeaderId id) noexcept {
  const auto i = static_cast<std::size_t>(id);
  if (i >= kCanonical.size()) {
    return {};
  }
  return kCanonical[i];
}

bool header_is_single_instance(HeaderId id) noexcept {
  switch (id) {
    // RFC 3261 §20 / RFC 4475 §3.3.8: header fields whose grammar allows exactly one value.
    case HeaderId::kFrom:
    case HeaderId::kTo:
    case HeaderId::kCallId:
    case HeaderId::kCSeq:
    case HeaderId::kMaxForwards:
    case HeaderId::kContentLength:
    case HeaderId::kContentType:
    case HeaderId::kContentDisposition:
    case HeaderId::kExpires:
    case HeaderId::kMinExpires:
    case HeaderId::kDate:
    case HeaderId::kSubject:
    case HeaderId::kUserAgent:
    case HeaderId::kServer:
    case HeaderId::kRetryAfter:
    case HeaderId::kTimestamp:
    // RFC 3515 §2.1 (Refer-To), RFC 3892 §3 (Referred-By), RFC 3891 §6.1 (Replaces),
    // RFC 6665 §8.2.1 (Event), RFC 4028 §4-5 (Session-Expires, Min-SE), RFC 3323 §4.2 (Privacy),
    // RFC 5626 §11 (Flow-Timer).
    case HeaderId::kReferTo:
    case HeaderId::kReferredBy:
    case HeaderId::kReplaces:
    case HeaderId::kEvent:
    case HeaderId::kSessionExpires:
    case HeaderId::kMinSE:
    case HeaderId::kPrivacy:
    case HeaderId::kFlowTimer:
      return true;
    default:
      return false;
  }
}

bool header_is_list(HeaderId id) noexcept {
  switch (id) {
    // RFC 3261 §7.3.1: only headers defined as #(values) may be split or combined on commas.
    // The authentication headers are deliberately absent: their values contain commas but each
    // field is one credential/challenge (§7.3.1 last paragraph).
    case HeaderId::kVia:
    case HeaderId::kContact:
    case HeaderId::kRoute:
    case HeaderId::kRecordRoute:
    case HeaderId::kPath:
    case HeaderId::kRequire:
    case HeaderId::kProxyRequire:
    case HeaderId::kSupported:
    case HeaderId::kUnsupported:
    case HeaderId::kAllow:
    case HeaderId::kAccept:
    case HeaderId::kWarning:
    case HeaderId::kContentEncoding:
    case HeaderId::kAllowEvents:
    case HeaderId::kPAssertedIdentity:
      return true;
    default:
      return false;
  }
}

}  // namespace portcullis::sip
