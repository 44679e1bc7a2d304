// FakeDnsResolver: a DnsResolver answering from a table, in FakeClock time. Nothing is delivered
// inside query() (DnsResolver contract); answers wait until the test calls run_due() with the
// clock at or past their due time. Per (name, type) a rule can delay the answer, make it an
// error, or make it time out (a kTimeout error after `timeout_after`). Unknown names: NXDOMAIN.
// Counts and logs every query so tests can assert on cache use and query budgets.
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "common/time/clock.h"
#include "controller/sip/resolver/dns_resolver.h"

namespace portcullis::sip::resolver {

class FakeDnsResolver final : public DnsResolver {
 public:
  explicit FakeDnsResolver(const Clock& clock) : clock_(clock) {}

  // ---- table ----
  void add_address(const std::string& name, const std::string& ip, std::uint32_t ttl = 300) {
    const auto addr = net::IpAddress::parse(ip);
    const DnsType type = addr->is_v4() ? DnsType::kA : DnsType::kAaaa;
    answer_for(name, type).addresses.push_back({*addr, ttl});
  }
  void add_srv(const std::string& name, std::uint16_t priority, std::uint16_t weight, std::uint16_t port,
               const std::string& target, std::uint32_t ttl = 300) {
    answer_for(name, DnsType::kSrv).srv.push_back({priority, weight, port, target, ttl});
  }
  void add_naptr(const std::string& name, std::uint16_t order, std::uint16_t preference, const std::string& flags,
                 const std::string& service, const std::string& replacement, std::uint32_t ttl = 300) {
    answer_for(name, DnsType::kNaptr).naptr.push_back({order, preference, flags, service, "", replacement, ttl});
  }
  void set_error(const std::string& name, DnsType type, DnsErrorKind kind,
                 std::optional<std::uint32_t> negative_ttl = std::nullopt) {
    Rule& r = rules_[key(name, type)];
    r.error = DnsError{kind, "fake", negative_ttl};
  }
  /// The query never gets an answer from the "server": kTimeout after timeout_after().
  void set_timeout(const std::string& name, DnsType type) {
    Rule& r = rules_[key(name, type)];
    r.error = DnsError{DnsErrorKind::kTimeout, "fake timeout", std::nullopt};
    r.delay = timeout_after_;
  }
  void set_delay(const std::string& name, DnsType type, Clock::Duration delay) { rules_[key(name, type)].delay = delay; }
  void set_timeout_after(Clock::Duration d) { timeout_after_ = d; }
  void clear_rules() { rules_.clear(); }

  // ---- DnsResolver ----
  DnsQueryId query(std::string_view name, DnsType type, DnsCallback callback) override {
    const std::string n = canonical_dns_name(name);
    log_.emplace_back(n, type);
    const DnsQueryId id = next_id_++;
    Pending p{id, clock_.now(), std::move(callback), DnsResult(unexpected(DnsError{DnsErrorKind::kNxDomain, "fake", std::nullopt}))};
    if (const auto it = rules_.find(key(n, type)); it != rules_.end()) {
      p.due += it->second.delay;
      if (it->second.error) {
        p.result = DnsResult(unexpected(*it->second.error));
      } else if (it->second.answer) {
        DnsAnswer a = *it->second.answer;
        a.name = n;
        a.type = type;
        p.result = DnsResult(std::move(a));
      }
    }
    pending_.push_back(std::move(p));
    return id;
  }
  void cancel(DnsQueryId id) override {
    const auto before = pending_.size();
    std::erase_if(pending_, [id](const Pending& p) { return p.id == id; });
    cancelled_ += before - pending_.size();
  }

  // ---- driving ----
  /// Delivers every answer due at clock.now(), in (due, id) order, including answers to queries
  /// the callbacks make. Returns how many were delivered.
  std::size_t run_due() {
    std::size_t delivered = 0;
    for (;;) {
      const auto now = clock_.now();
      auto it = std::min_element(pending_.begin(), pending_.end(), [](const Pending& a, const Pending& b) {
        return std::tie(a.due, a.id) < std::tie(b.due, b.id);
      });
      if (it == pending_.end() || it->due > now) {
        return delivered;
      }
      Pending p = std::move(*it);
      pending_.erase(it);
      ++delivered;
      p.callback(std::move(p.result));
    }
  }
  std::size_t pending() const noexcept { return pending_.size(); }

  // ---- introspection ----
  std::size_t query_count() const noexcept { return log_.size(); }
  std::size_t query_count(const std::string& name, DnsType type) const {
    return static_cast<std::size_t>(std::count(log_.begin(), log_.end(), std::make_pair(canonical_dns_name(name), type)));
  }
  const std::vector<std::pair<std::string, DnsType>>& log() const noexcept { return log_; }
  std::size_t cancelled() const noexcept { return cancelled_; }

 private:
  struct Rule {
    std::optional<DnsAnswer> answer;
    std::optional<DnsError> error;
    Clock::Duration delay{0};
  };
  struct Pending {
    DnsQueryId id;
    Clock::TimePoint due;
    DnsCallback callback;
    DnsResult result;
  };
  static std::pair<std::string, DnsType> key(const std::string& name, DnsType type) {
    return {canonical_dns_name(name), type};
  }
  DnsAnswer& answer_for(const std::string& name, DnsType type) {
    Rule& r = rules_[key(name, type)];
    if (!r.answer) {
      r.answer = DnsAnswer{};
    }
    return *r.answer;
  }

  const Clock& clock_;
  std::map<std::pair<std::string, DnsType>, Rule> rules_;
  std::vector<Pending> pending_;
  std::vector<std::pair<std::string, DnsType>> log_;
  DnsQueryId next_id_ = 1;
  std::size_t cancelled_ = 0;
  Clock::Duration timeout_after_ = std::chrono::seconds(2);
};

}  // namespace portcullis::sip::resolver
