#include "controller/sip/resolver/failover.h"

#include <algorithm>

namespace portcullis::sip::resolver {

std::string_view target_transport_name(TargetTransport t) noexcept {
  switch (t) {
    case TargetTransport::kUdp:
      return "UDP";
    case TargetTransport::kTcp:
      return "TCP";
    case TargetTransport::kTls:
      return "TLS";
  }
  return "?";
}

std::string Target::to_string() const {
  std::string out(target_transport_name(transport));
  out += ' ';
  out += endpoint.to_string();
  if (!host.empty()) {
    out += " (";
    out += host;
    out += ')';
  }
  return out;
}

TargetBlacklist::TargetBlacklist(const Clock& clock, BlacklistConfig config) : clock_(clock), config_(config) {}

void TargetBlacklist::add(TargetTransport transport, const net::Endpoint& endpoint,
                          std::optional<Clock::Duration> duration) {
  if (config_.max_entries == 0) {
    return;
  }
  Clock::Duration d = duration ? *duration : Clock::Duration(config_.default_duration);
  d = std::clamp(d, Clock::Duration::zero(), Clock::Duration(config_.max_duration));
  if (d <= Clock::Duration::zero()) {
    return;
  }
  const auto now = clock_.now();
  const Key key{transport, endpoint};
  if (entries_.find(key) == entries_.end() && entries_.size() >= config_.max_entries) {
    purge_expired(now);
    if (entries_.size() >= config_.max_entries) {
      const auto soonest = std::min_element(entries_.begin(), entries_.end(),
                                            [](const auto& a, const auto& b) { return a.second < b.second; });
      entries_.erase(soonest);
    }
  }
  auto& until = entries_[key];
  until = std::max(until, now + d);  // a shorter ban never shortens a longer one
}

bool TargetBlacklist::contains(TargetTransport transport, const net::Endpoint& endpoint) {
  const auto it = entries_.find(Key{transport, endpoint});
  if (it == entries_.end()) {
    return false;
  }
  if (clock_.now() >= it->second) {
    entries_.erase(it);
    return false;
  }
  return true;
}

void TargetBlacklist::remove(TargetTransport transport, const net::Endpoint& endpoint) {
  entries_.erase(Key{transport, endpoint});
}

void TargetBlacklist::purge_expired(Clock::TimePoint now) {
  std::erase_if(entries_, [now](const auto& kv) { return now >= kv.second; });
}

TargetCursor::TargetCursor(std::vector<Target> targets, TargetBlacklist* blacklist)
    : targets_(std::move(targets)), blacklist_(blacklist) {}

std::optional<Target> TargetCursor::next() {
  while (position_ < targets_.size()) {
    const Target& t = targets_[position_++];
    if (blacklist_ != nullptr && blacklist_->contains(t.transport, t.endpoint)) {
      continue;
    }
    return t;
  }
  return std::nullopt;
}

void TargetCursor::report_failure(const Target& target, FailureKind kind,
                                  std::optional<Clock::Duration> retry_after) {
  if (blacklist_ == nullptr) {
    return;
  }
  // RFC 3261 §21.5.4: a 503 with Retry-After asks us to stay away for that long; other failures
  // use the default ban.
  const auto duration = kind == FailureKind::kServiceUnavailable ? retry_after : std::nullopt;
  blacklist_->add(target.transport, target.endpoint, duration);
}

}  // namespace portcullis::sip::resolver
