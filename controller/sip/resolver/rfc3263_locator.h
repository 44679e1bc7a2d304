// Rfc3263Locator: RFC 3263 §4 "Client Usage" — turns a sip/sips URI into an ordered list of
// (transport, IP, port) targets, through NAPTR (RFC 3403), SRV (RFC 2782) and A/AAAA lookups.
//
// Sans-I/O apart from the DnsResolver seam: it owns no sockets or timers; answers arrive through
// DnsResolver callbacks, so tests drive it with FakeDnsResolver and FakeClock.
//
// Executor affinity: one executor; the resolver, cache and blacklist must be used on the same one.
// Lifetime: the DnsResolver, Clock and DnsCache must outlive the locator. Destroying the locator
// cancels every unfinished locate() (their callbacks never run). A LocateCallback may call
// locate() and cancel(), but must not destroy the locator.
//
//   locate(uri) ─► numeric host? ──────────────────────────────────────────► [target]
//                 port given? ─────────────────────────────► A/AAAA(host) ─► [targets]
//                 transport param? ─► SRV(_sip._udp.host…) ─► A/AAAA(srv targets)
//                 otherwise NAPTR(host) ─► SRV(replacement) ─► A/AAAA(srv targets)
//                       └ no usable NAPTR ─► SRV for each supported transport
//                                              └ no SRV ─► A/AAAA(host), port 5060/5061
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <unordered_map>
#include <vector>

#include "common/base/result.h"
#include "common/time/clock.h"
#include "controller/sip/parser/uri.h"
#include "controller/sip/resolver/dns_cache.h"
#include "controller/sip/resolver/dns_resolver.h"
#include "controller/sip/resolver/srv_order.h"
#include "controller/sip/resolver/target.h"

namespace portcullis::sip::resolver {

struct LocatorConfig {
  /// Transports this proxy can use, in the order SRV queries are tried when the domain has no
  /// NAPTR records (RFC 3263 §4.1 leaves that order to the client). TLS is required for sips.
  std::vector<TargetTransport> transports{TargetTransport::kUdp, TargetTransport::kTcp, TargetTransport::kTls};
  /// Query NAPTR first (RFC 3263 §4.1). Off: go straight to the SRV queries.
  bool use_naptr = true;
  bool use_ipv4 = true;
  bool use_ipv6 = true;
  /// Order of the addresses of one host: IPv6 first when true.
  bool prefer_ipv6 = false;
  /// Bounds against hostile or huge zones: targets returned, NAPTR records followed, SRV records
  /// per SRV answer used, DNS queries per locate().
  std::size_t max_targets = 16;
  std::size_t max_naptr_records = 4;
  std::size_t max_srv_records = 8;
  std::size_t max_queries = 40;
};

struct LocatorStats {
  std::uint64_t locates = 0;
  std::uint64_t numeric = 0;
  std::uint64_t dns_queries = 0;
  std::uint64_t cache_hits = 0;
  std::uint64_t dns_failures = 0;  // timeouts, SERVFAIL, overload, query budget exhausted
  std::uint64_t not_found = 0;
};

/// The outcome of locate(): targets in the order to try them (§4.3), or an error:
///  - kInvalidArgument: not a sip/sips URI, or a transport that contradicts the scheme (sips +
///    transport=udp);
///  - kUnimplemented: a transport this locator does not support (sctp, ws, or one disabled in
///    LocatorConfig::transports);
///  - kNotFound: DNS said the names do not exist / have no records (proxy: 404 / 604);
///  - kUnavailable: no target because DNS failed (timeout, SERVFAIL) (proxy: 503).
using LocateResult = Result<std::vector<Target>>;
using LocateCallback = std::function<void(LocateResult)>;
using LocateId = std::uint64_t;

class Rfc3263Locator {
 public:
  /// `cache` may be null (no caching).
  Rfc3263Locator(DnsResolver& dns, RandomSource random, LocatorConfig config = {}, DnsCache* cache = nullptr);
  ~Rfc3263Locator();
  Rfc3263Locator(const Rfc3263Locator&) = delete;
  Rfc3263Locator& operator=(const Rfc3263Locator&) = delete;

  /// Starts locating `uri` (copied; the caller's buffer may go away). The callback runs exactly
  /// once unless cancel()led. When the answer is known without waiting (numeric host, invalid URI,
  /// everything cached) the callback runs before locate() returns and the result is 0; otherwise
  /// locate() returns a non-zero id for cancel().
  LocateId locate(const Uri& uri, LocateCallback callback);

  /// Abandons a locate(): its outstanding DNS queries are cancelled and its callback never runs.
  void cancel(LocateId id);

  std::size_t in_progress() const noexcept { return jobs_.size(); }
  const LocatorStats& stats() const noexcept { return stats_; }

 private:
  struct Job;
  using Handler = std::function<void(Job&, DnsResult)>;

  void start(Job& job, const Uri& uri);
  void issue(Job& job, const std::string& name, DnsType type, Handler handler);
  void start_naptr(Job& job);
  void on_naptr(Job& job, DnsResult result);
  void start_srv_phase(Job& job);
  void start_srv_set(Job& job, TargetTransport transport, std::string name);
  void on_srv(Job& job, std::size_t set_index, DnsResult result);
  void start_address_fallback(Job& job);
  void add_host(Job& job, std::size_t set_index, TargetTransport transport, std::string host, std::uint16_t port);
  void note_failure(Job& job, const DnsResult& result);
  void release(Job& job);
  void finish(Job& job, LocateResult result);

  DnsResolver& dns_;
  RandomSource random_;
  LocatorConfig config_;
  DnsCache* cache_;
  LocateId next_id_ = 1;
  std::unordered_map<LocateId, std::unique_ptr<Job>> jobs_;
  LocatorStats stats_;
};

}  // namespace portcullis::sip::resolver
