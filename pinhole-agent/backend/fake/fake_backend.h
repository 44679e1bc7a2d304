// In-memory PinholeBackend and ConntrackCleaner for unit tests (style §4.12: fakes, not mocks).
//
// FakeBackend is transactional like nf_tables (fcp-notes §2.5 [M]): apply() validates and applies
// every change to a copy and swaps it in only if all succeed. Like the kernel it refuses a
// create on an existing key (EEXIST -> ALREADY_EXISTS), treats a delete of an absent key as
// success, and drops elements whose timeout ran out on the injected Clock. It also refuses a
// timeout <= 0, because no code path may write "never expires" (invariant I1).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "common/base/error.h"
#include "common/time/clock.h"
#include "pinhole-agent/backend/backend.h"

namespace portcullis::agent {

class FakeBackend final : public PinholeBackend {
 public:
  explicit FakeBackend(const Clock& clock) : clock_(clock) {}

  Result<BootstrapResult> bootstrap(const std::string& new_epoch) override;
  Status apply(const ChangeSet& changes) override;
  Result<BackendState> snapshot() const override;
  BackendCapabilities capabilities() const override { return capabilities_; }

  // ---- test controls ----

  /// The next apply() fails with `error` and changes nothing.
  void fail_next_apply(Error error) { next_failure_ = std::move(error); }
  /// Every apply() fails while set (e.g. netlink down).
  void set_failing(std::optional<Error> error) { persistent_failure_ = std::move(error); }
  /// Simulates the kernel packet path firing a one-shot latch: deletes the latch and creates a
  /// pinhole for `remote` with the latch's latched_timeout. False if no such latch.
  bool fire_latch(const net::Endpoint& remote, const net::Endpoint& private_endpoint);
  /// Simulates a host reboot / table flush: everything is gone, including the table.
  void wipe();

  // ---- inspection ----

  std::size_t apply_calls() const noexcept { return apply_calls_; }
  std::size_t successful_applies() const noexcept { return successful_applies_; }
  const std::vector<ChangeSet>& history() const noexcept { return history_; }
  /// Live (unexpired) elements.
  std::optional<PortMapping> mapping(const net::Endpoint& public_endpoint) const;
  std::optional<Pinhole> pinhole(const net::Endpoint& remote, const net::Endpoint& private_ep) const;
  std::optional<Latch> latch(const net::IpAddress& remote, const net::Endpoint& private_ep) const;
  /// Absolute expiry of an element on the fake's clock.
  std::optional<Clock::TimePoint> mapping_expiry(const net::Endpoint& public_endpoint) const;
  std::size_t element_count() const;

 private:
  template <class T>
  struct Entry {
    T object;
    Clock::TimePoint expires{};
  };
  struct Tables {
    std::map<net::Endpoint, Entry<PortMapping>> mappings;  // key: public endpoint
    std::map<std::tuple<net::Endpoint, net::Endpoint>, Entry<Pinhole>> pinholes;
    std::map<std::tuple<net::IpAddress, net::Endpoint>, Entry<Latch>> latches;
  };
  void purge(Tables& t, Clock::TimePoint now) const;
  Status apply_one(Tables& t, const Change& c, std::size_t index, Clock::TimePoint now) const;

  const Clock& clock_;
  mutable Tables tables_;
  std::optional<std::string> epoch_;
  std::optional<Error> next_failure_;
  std::optional<Error> persistent_failure_;
  std::size_t apply_calls_ = 0;
  std::size_t successful_applies_ = 0;
  std::vector<ChangeSet> history_;
  BackendCapabilities capabilities_{true, false, true};
};

class FakeConntrackCleaner final : public ConntrackCleaner {
 public:
  Result<std::size_t> flush_mark(std::uint32_t mark, std::uint32_t mask = 0xffffffff) override {
    if (failure_) {
      return unexpected(*failure_);
    }
    flushed_.push_back(mark & mask);
    return std::size_t{0};
  }
  /// Unimplemented (callers flush by mark) unless set_tuple_deletes(true); then records.
  Result<std::size_t> delete_flows(const std::vector<FlowTuple>& tuples) override {
    if (!tuple_deletes_) {
      return ConntrackCleaner::delete_flows(tuples);
    }
    if (failure_) {
      return unexpected(*failure_);
    }
    deleted_flows_.insert(deleted_flows_.end(), tuples.begin(), tuples.end());
    return std::size_t{0};
  }
  std::size_t flush_marks(const std::vector<std::uint32_t>& marks) override {
    walks_.push_back(marks);
    return ConntrackCleaner::flush_marks(marks);
  }

  /// Immediate by default (ticket complete on return). Deferred: queued until
  /// complete_scheduled() or await_ticket(), like AsyncConntrackCleaner's worker.
  std::uint64_t schedule_flush(const std::vector<std::uint32_t>& marks) override {
    queued_.insert(queued_.end(), marks.begin(), marks.end());
    ++issued_;
    if (!deferred_) {
      complete_scheduled();
    }
    return issued_;
  }
  std::uint64_t completed_ticket() const override { return completed_; }
  void await_ticket(std::uint64_t ticket) override {
    ++awaits_;
    if (completed_ < ticket) {
      complete_scheduled();
    }
  }
  std::uint64_t flush_failures() const override { return failures_; }

  // ---- test controls ----
  void set_failure(std::optional<Error> e) { failure_ = std::move(e); }
  void set_deferred(bool deferred) { deferred_ = deferred; }
  void set_tuple_deletes(bool on) { tuple_deletes_ = on; }
  /// Runs the one walk for every queued mark; completes every issued ticket.
  void complete_scheduled() {
    if (!queued_.empty()) {
      failures_ += flush_marks(queued_);
      queued_.clear();
    }
    completed_ = issued_;
  }

  // ---- inspection ----
  const std::vector<std::uint32_t>& flushed() const noexcept { return flushed_; }
  /// Marks of each flush_marks call (one walk each), in order.
  const std::vector<std::vector<std::uint32_t>>& walks() const noexcept { return walks_; }
  const std::vector<std::uint32_t>& queued() const noexcept { return queued_; }
  const std::vector<FlowTuple>& deleted_flows() const noexcept { return deleted_flows_; }
  std::uint64_t issued_tickets() const noexcept { return issued_; }
  std::size_t awaits() const noexcept { return awaits_; }
  void clear() {
    flushed_.clear();
    walks_.clear();
  }

 private:
  std::vector<std::uint32_t> flushed_;
  std::vector<std::vector<std::uint32_t>> walks_;
  std::vector<std::uint32_t> queued_;
  std::optional<Error> failure_;
  bool deferred_ = false;
  bool tuple_deletes_ = false;
  std::vector<FlowTuple> deleted_flows_;
  std::uint64_t issued_ = 0;
  std::uint64_t completed_ = 0;
  std::uint64_t failures_ = 0;
  std::size_t awaits_ = 0;
};

}  // namespace portcullis::agent
