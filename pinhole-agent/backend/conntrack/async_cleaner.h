// AsyncConntrackCleaner: runs another ConntrackCleaner's walks on its own thread, so a release
// replies as soon as its nf_tables batch commits.
//
// schedule_flush() queues marks and returns a ticket at once. The worker starts one walk
// (inner.flush_marks with every mark queued so far) `max_delay` after the first queued mark, or
// at once when `max_pending_marks` are queued, await_ticket() is called, or the cleaner is
// destroyed. Marks queued during a walk go to the next one. Tickets complete in order.
//
// Threading: schedule_flush / completed_ticket / await_ticket / flush_failures from any thread
// (the agent calls them from its mutation executor). The inner cleaner is used only under
// walk_mu_ (the worker, or a synchronous flush_mark(s) passthrough).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "pinhole-agent/backend/backend.h"

namespace portcullis::agent {

struct AsyncConntrackOptions {
  /// Longest a scheduled mark waits before its walk starts (coalescing window).
  std::chrono::milliseconds max_delay{20};
  /// A walk starts at once when this many marks are queued.
  std::size_t max_pending_marks = 4096;
};

class AsyncConntrackCleaner final : public ConntrackCleaner {
 public:
  /// `direct` (optional, its own handle) serves delete_flows on the caller's thread without
  /// waiting for a walk in progress; without it delete_flows goes to `inner` under walk_mu_.
  AsyncConntrackCleaner(std::unique_ptr<ConntrackCleaner> inner, AsyncConntrackOptions options,
                        std::unique_ptr<ConntrackCleaner> direct = nullptr);
  /// Runs the pending walk (if any) at once, then joins the worker.
  ~AsyncConntrackCleaner() override;
  AsyncConntrackCleaner(const AsyncConntrackCleaner&) = delete;
  AsyncConntrackCleaner& operator=(const AsyncConntrackCleaner&) = delete;

  /// Synchronous passthroughs (serialised with the worker's walks).
  Result<std::size_t> flush_mark(std::uint32_t mark, std::uint32_t mask = 0xffffffff) override;
  std::size_t flush_marks(const std::vector<std::uint32_t>& marks) override;
  Result<std::size_t> delete_flows(const std::vector<FlowTuple>& tuples) override;

  std::uint64_t schedule_flush(const std::vector<std::uint32_t>& marks) override;
  std::uint64_t completed_ticket() const override { return completed_.load(std::memory_order_acquire); }
  void await_ticket(std::uint64_t ticket) override;
  std::uint64_t flush_failures() const override { return failures_.load(std::memory_order_relaxed); }

  /// Walks run so far (tests, metrics).
  std::uint64_t walks() const noexcept { return walks_.load(std::memory_order_relaxed); }

 private:
  void run();

  const std::unique_ptr<ConntrackCleaner> inner_;
  const AsyncConntrackOptions options_;
  const std::unique_ptr<ConntrackCleaner> direct_;

  std::mutex walk_mu_;  // serialises use of inner_

  std::mutex mu_;
  std::condition_variable work_cv_;
  std::condition_variable done_cv_;
  std::vector<std::uint32_t> pending_;
  std::chrono::steady_clock::time_point first_pending_at_{};
  std::uint64_t last_ticket_ = 0;
  bool urgent_ = false;
  bool stopping_ = false;

  std::atomic<std::uint64_t> completed_{0};
  std::atomic<std::uint64_t> failures_{0};
  std::atomic<std::uint64_t> walks_{0};
  std::thread worker_;
};

}  // namespace portcullis::agent
