// Failover across the targets RFC 3263 produced (§4.3), with a Clock-based blacklist so a server
// that just failed is skipped by later requests too for a while.
//
// RFC 3263 §4.3: "For SIP requests, failure occurs if the transaction layer reports a 503 error
// response or a transport failure of some sort [...]. Failure also occurs if the transaction
// layer times out without ever having received any response, provisional or final (i.e., timer B
// or timer F in RFC 3261 fires). If a failure occurs, the client SHOULD create a new request [...]
// to the next element in the list."
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <optional>
#include <utility>
#include <vector>

#include "common/time/clock.h"
#include "controller/sip/resolver/target.h"

namespace portcullis::sip::resolver {

enum class FailureKind : std::uint8_t {
  kServiceUnavailable,  // a 503 response (RFC 3263 §4.3)
  kTimeout,             // Timer B / Timer F fired without any response
  kTransportError,      // connect failure, ICMP unreachable, TLS handshake failure
};

struct BlacklistConfig {
  /// How long a failed target is skipped when the failure carries no Retry-After.
  std::chrono::seconds default_duration{30};
  /// Cap for a 503 Retry-After (RFC 3261 §21.5.4) so a hostile value cannot ban a server forever.
  std::chrono::seconds max_duration{600};
  std::size_t max_entries = 1024;
};

/// (transport, endpoint) pairs that recently failed. Entries expire by the Clock; when full, the
/// entry closest to expiry is dropped. Not thread-safe: one per executor.
class TargetBlacklist {
 public:
  TargetBlacklist(const Clock& clock, BlacklistConfig config = {});

  /// Blacklists for `duration` (capped at max_duration), or default_duration when unset.
  void add(TargetTransport transport, const net::Endpoint& endpoint,
           std::optional<Clock::Duration> duration = std::nullopt);
  bool contains(TargetTransport transport, const net::Endpoint& endpoint);
  void remove(TargetTransport transport, const net::Endpoint& endpoint);
  /// Number of entries, expired ones included until they are next looked at.
  std::size_t size() const noexcept { return entries_.size(); }

 private:
  using Key = std::pair<TargetTransport, net::Endpoint>;
  void purge_expired(Clock::TimePoint now);

  const Clock& clock_;
  BlacklistConfig config_;
  std::map<Key, Clock::TimePoint> entries_;  // key -> until
};

/// Walks one request's target list in order (RFC 3263 §4.3), skipping blacklisted targets.
/// Usage: t = next(); send; on 503/timeout/transport error: report_failure(t, ...); t = next()...
class TargetCursor {
 public:
  /// `blacklist` may be null (no cross-request memory); it must outlive the cursor.
  TargetCursor(std::vector<Target> targets, TargetBlacklist* blacklist);

  /// The next target not yet returned and not blacklisted; nullopt when the list is exhausted.
  std::optional<Target> next();

  /// Records a failure of `target` (normally the one next() just returned): it is blacklisted for
  /// `retry_after` (a 503's Retry-After) or the blacklist's default duration.
  void report_failure(const Target& target, FailureKind kind,
                      std::optional<Clock::Duration> retry_after = std::nullopt);

  /// Targets after the current position, blacklisted ones included.
  std::size_t remaining() const noexcept { return targets_.size() - position_; }
  const std::vector<Target>& targets() const noexcept { return targets_; }

 private:
  std::vector<Target> targets_;
  std::size_t position_ = 0;
  TargetBlacklist* blacklist_;
};

}  // namespace portcullis::sip::resolver
