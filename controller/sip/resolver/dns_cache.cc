#include "controller/sip/resolver/dns_cache.h"

#include <algorithm>

namespace portcullis::sip::resolver {
namespace {

std::uint32_t remaining(std::uint32_t ttl, std::uint32_t age) { return ttl > age ? ttl - age : 0; }

}  // namespace

DnsCache::DnsCache(const Clock& clock, DnsCacheConfig config) : clock_(clock), config_(config) {}

std::string DnsCache::make_key(std::string_view name, DnsType type) {
  std::string key = std::to_string(static_cast<unsigned>(type));
  key += ':';
  key += canonical_dns_name(name);
  return key;
}

std::optional<DnsResult> DnsCache::lookup(std::string_view name, DnsType type) {
  const auto it = index_.find(make_key(name, type));
  if (it == index_.end()) {
    ++stats_.misses;
    return std::nullopt;
  }
  const auto now = clock_.now();
  Entry& e = *it->second;
  if (now >= e.expires) {
    entries_.erase(it->second);
    index_.erase(it);
    ++stats_.misses;
    return std::nullopt;
  }
  entries_.splice(entries_.begin(), entries_, it->second);  // mark most recently used
  const auto age = static_cast<std::uint32_t>(std::chrono::duration_cast<std::chrono::seconds>(now - e.stored).count());
  if (!e.result.ok()) {
    ++stats_.negative_hits;
    DnsError err = e.result.error();
    if (err.negative_ttl) {
      err.negative_ttl = remaining(*err.negative_ttl, age);
    }
    return DnsResult(unexpected(std::move(err)));
  }
  ++stats_.hits;
  DnsAnswer answer = e.result.value();
  for (auto& r : answer.addresses) {
    r.ttl = remaining(r.ttl, age);
  }
  for (auto& r : answer.srv) {
    r.ttl = remaining(r.ttl, age);
  }
  for (auto& r : answer.naptr) {
    r.ttl = remaining(r.ttl, age);
  }
  return DnsResult(std::move(answer));
}

void DnsCache::store(std::string_view name, DnsType type, const DnsResult& result) {
  if (config_.max_entries == 0) {
    return;
  }
  std::chrono::seconds ttl{0};
  if (result.ok()) {
    ttl = std::min(std::chrono::seconds(result.value().min_ttl()), config_.max_ttl);
  } else if (result.error().is_negative_answer()) {
    // RFC 2308 §5: the negative TTL is taken from the SOA; without one we use a default.
    const auto& neg = result.error().negative_ttl;
    ttl = neg ? std::chrono::seconds(*neg) : config_.default_negative_ttl;
    ttl = std::min(ttl, config_.max_negative_ttl);
  } else {
    return;  // timeouts and server failures are not answers
  }
  if (ttl.count() <= 0) {
    return;  // RFC 1035 §3.2.1: TTL 0 = use only for the transaction in progress
  }
  std::string key = make_key(name, type);
  if (const auto it = index_.find(key); it != index_.end()) {
    entries_.erase(it->second);
    index_.erase(it);
  }
  while (entries_.size() >= config_.max_entries) {
    index_.erase(entries_.back().key);
    entries_.pop_back();
    ++stats_.evictions;
  }
  const auto now = clock_.now();
  entries_.push_front(Entry{key, result, now, now + ttl});
  index_.emplace(std::move(key), entries_.begin());
}

void DnsCache::clear() {
  entries_.clear();
  index_.clear();
}

}  // namespace portcullis::sip::resolver
