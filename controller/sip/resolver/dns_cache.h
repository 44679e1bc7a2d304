// DnsCache: a bounded positive/negative cache of DNS answers, keyed by (name, type), driven by a
// Clock. Positive answers live for their smallest record TTL; NXDOMAIN/NODATA answers for the
// RFC 2308 §5 negative TTL (SOA) or a configured default. Failures to get an answer (timeout,
// SERVFAIL) are not cached. Least recently used entries are evicted when full.
// Not thread-safe: one per executor, owned next to the Rfc3263Locator that uses it.
#pragma once

#include <chrono>
#include <cstdint>
#include <list>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "common/time/clock.h"
#include "controller/sip/resolver/dns_resolver.h"

namespace portcullis::sip::resolver {

struct DnsCacheConfig {
  std::size_t max_entries = 4096;
  /// Upper bound on any positive TTL (a hostile or misconfigured zone cannot pin an entry).
  std::chrono::seconds max_ttl{3600};
  /// For NXDOMAIN/NODATA without an SOA in the authority section.
  std::chrono::seconds default_negative_ttl{30};
  /// RFC 2308 §5 suggests 1–3 hours as a ceiling; a proxy wants to notice new records sooner.
  std::chrono::seconds max_negative_ttl{300};
};

struct DnsCacheStats {
  std::uint64_t hits = 0;
  std::uint64_t negative_hits = 0;
  std::uint64_t misses = 0;
  std::uint64_t evictions = 0;
};

class DnsCache {
 public:
  DnsCache(const Clock& clock, DnsCacheConfig config = {});

  /// A cached answer or negative answer, with every record TTL reduced by its age in the cache;
  /// nullopt if nothing fresh is cached.
  std::optional<DnsResult> lookup(std::string_view name, DnsType type);

  /// Stores an answer (for min_ttl() seconds) or a negative answer (for its negative TTL). Other
  /// errors and zero TTLs are ignored.
  void store(std::string_view name, DnsType type, const DnsResult& result);

  void clear();
  std::size_t size() const noexcept { return entries_.size(); }
  const DnsCacheStats& stats() const noexcept { return stats_; }

 private:
  struct Entry {
    std::string key;
    DnsResult result;
    Clock::TimePoint stored;
    Clock::TimePoint expires;
  };
  using Lru = std::list<Entry>;  // most recently used first

  static std::string make_key(std::string_view name, DnsType type);

  const Clock& clock_;
  DnsCacheConfig config_;
  Lru entries_;
  std::unordered_map<std::string, Lru::iterator> index_;
  DnsCacheStats stats_;
};

}  // namespace portcullis::sip::resolver
