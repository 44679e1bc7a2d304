// DnsResolver: the seam between RFC 3263 server location (rfc3263_locator.h) and DNS I/O.
// Implementations: CaresDnsResolver (cares_dns_resolver.h, c-ares on a Boost.Asio executor) and,
// for tests, FakeDnsResolver (tests/support/fake_dns_resolver.h: answers from a table).
//
// Contract (every implementation):
//  - Executor affinity. A resolver is used from one executor (thread); query() and cancel() are
//    not thread-safe. Callbacks run on that executor.
//  - query() never invokes the callback before it returns (no re-entrancy into the caller). It
//    returns a non-zero id unique for the resolver's lifetime.
//  - Exactly one callback per query, unless the query is cancelled: after cancel(id) or after the
//    resolver is destroyed, no further callback is made for that query.
//  - A query that cannot be admitted (too many in flight) still completes through its callback,
//    with DnsErrorKind::kOverloaded.
//  - Names are plain domain names without a trailing dot; they are never completed with search
//    domains (RFC 3263 §4: the TARGET is fully qualified).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/base/result.h"
#include "common/net/ip_address.h"

namespace portcullis::sip::resolver {

/// The record types SIP server location needs (RFC 3263 §4). Values are the DNS TYPE codes.
enum class DnsType : std::uint16_t {
  kA = 1,
  kAaaa = 28,
  kSrv = 33,    // RFC 2782
  kNaptr = 35,  // RFC 3403
};
std::string_view dns_type_name(DnsType type) noexcept;

/// A or AAAA record.
struct AddressRecord {
  net::IpAddress address;
  std::uint32_t ttl = 0;  // seconds
  friend bool operator==(const AddressRecord&, const AddressRecord&) = default;
};

/// RFC 2782 SRV record.
struct SrvRecord {
  std::uint16_t priority = 0;
  std::uint16_t weight = 0;
  std::uint16_t port = 0;
  std::string target;  // lower-case, no trailing dot; "" for the root ("." = service not offered)
  std::uint32_t ttl = 0;
  friend bool operator==(const SrvRecord&, const SrvRecord&) = default;
};

/// RFC 3403 §4.1 NAPTR record.
struct NaptrRecord {
  std::uint16_t order = 0;
  std::uint16_t preference = 0;
  std::string flags;        // e.g. "s"
  std::string service;      // e.g. "SIP+D2U"
  std::string regexp;       // unused by SIP (RFC 3263 §4.1), kept for completeness
  std::string replacement;  // lower-case, no trailing dot; "" for the root
  std::uint32_t ttl = 0;
  friend bool operator==(const NaptrRecord&, const NaptrRecord&) = default;
};

/// A successful answer: at least one record of the queried type. Only the vector matching
/// `type` is filled (addresses for A and AAAA).
struct DnsAnswer {
  std::string name;  // the name queried (lower-case)
  DnsType type = DnsType::kA;
  std::vector<AddressRecord> addresses;
  std::vector<SrvRecord> srv;
  std::vector<NaptrRecord> naptr;

  bool empty() const noexcept { return addresses.empty() && srv.empty() && naptr.empty(); }
  /// The smallest TTL of the records, in seconds (the answer's lifetime in a cache).
  std::uint32_t min_ttl() const noexcept;
};

enum class DnsErrorKind : std::uint8_t {
  kNxDomain,       // RCODE 3: the name does not exist
  kNoData,         // NOERROR, but no record of this type
  kTimeout,        // no answer within the configured tries
  kServerFailure,  // SERVFAIL, REFUSED, NOTIMP, FORMERR, or an unparseable answer
  kOverloaded,     // too many queries in flight; not sent
  kBadName,        // the name cannot be queried (empty, too long, bad label)
  kInternal,       // resolver could not run the query (socket errors, out of memory)
};
std::string_view dns_error_kind_name(DnsErrorKind kind) noexcept;

struct DnsError {
  DnsErrorKind kind = DnsErrorKind::kInternal;
  std::string message;
  /// RFC 2308 §5: for NXDOMAIN / NODATA, how long the negative answer may be cached
  /// (min(SOA TTL, SOA MINIMUM) of the SOA in the authority section), when one was present.
  std::optional<std::uint32_t> negative_ttl;

  /// NXDOMAIN and NODATA are answers ("there is nothing"); the rest are failures to get one.
  bool is_negative_answer() const noexcept {
    return kind == DnsErrorKind::kNxDomain || kind == DnsErrorKind::kNoData;
  }
  std::string to_string() const;
};

using DnsResult = Result<DnsAnswer, DnsError>;
using DnsCallback = std::function<void(DnsResult)>;
using DnsQueryId = std::uint64_t;

class DnsResolver {
 public:
  virtual ~DnsResolver() = default;

  /// Starts one query of `type` for `name`. The callback runs later, exactly once, on the
  /// resolver's executor, unless cancel(id) is called first.
  /// @return a non-zero id for cancel().
  virtual DnsQueryId query(std::string_view name, DnsType type, DnsCallback callback) = 0;

  /// Drops interest in a query: its callback will not run. Unknown or finished ids are ignored.
  virtual void cancel(DnsQueryId id) = 0;
};

/// Lower-cases and strips one trailing dot: the canonical key form of a domain name.
std::string canonical_dns_name(std::string_view name);

}  // namespace portcullis::sip::resolver
