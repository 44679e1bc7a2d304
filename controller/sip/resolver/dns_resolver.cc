#include "controller/sip/resolver/dns_resolver.h"

#include <algorithm>
#include <limits>

namespace portcullis::sip::resolver {

std::string_view dns_type_name(DnsType type) noexcept {
  switch (type) {
    case DnsType::kA:
      return "A";
    case DnsType::kAaaa:
      return "AAAA";
    case DnsType::kSrv:
      return "SRV";
    case DnsType::kNaptr:
      return "NAPTR";
  }
  return "?";
}

std::string_view dns_error_kind_name(DnsErrorKind kind) noexcept {
  switch (kind) {
    case DnsErrorKind::kNxDomain:
      return "nxdomain";
    case DnsErrorKind::kNoData:
      return "nodata";
    case DnsErrorKind::kTimeout:
      return "timeout";
    case DnsErrorKind::kServerFailure:
      return "server_failure";
    case DnsErrorKind::kOverloaded:
      return "overloaded";
    case DnsErrorKind::kBadName:
      return "bad_name";
    case DnsErrorKind::kInternal:
      return "internal";
  }
  return "?";
}

std::uint32_t DnsAnswer::min_ttl() const noexcept {
  std::uint32_t ttl = std::numeric_limits<std::uint32_t>::max();
  bool any = false;
  for (const auto& r : addresses) {
    ttl = std::min(ttl, r.ttl);
    any = true;
  }
  for (const auto& r : srv) {
    ttl = std::min(ttl, r.ttl);
    any = true;
  }
  for (const auto& r : naptr) {
    ttl = std::min(ttl, r.ttl);
    any = true;
  }
  return any ? ttl : 0;
}

std::string DnsError::to_string() const {
  std::string out(dns_error_kind_name(kind));
  if (!message.empty()) {
    out += ": ";
    out += message;
  }
  return out;
}

std::string canonical_dns_name(std::string_view name) {
  if (!name.empty() && name.back() == '.') {
    name.remove_suffix(1);
  }
  std::string out(name);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c - 'A' + 'a');
    }
  }
  return out;
}

}  // namespace portcullis::sip::resolver
