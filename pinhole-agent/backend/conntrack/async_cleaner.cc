#include "pinhole-agent/backend/conntrack/async_cleaner.h"

#include <algorithm>
#include <utility>

namespace portcullis::agent {

AsyncConntrackCleaner::AsyncConntrackCleaner(std::unique_ptr<ConntrackCleaner> inner,
                                             AsyncConntrackOptions options,
                                             std::unique_ptr<ConntrackCleaner> direct)
    : inner_(std::move(inner)), options_(options), direct_(std::move(direct)) {
  pending_.reserve(std::min<std::size_t>(options_.max_pending_marks, 1024));
  worker_ = std::thread([this] { run(); });
}

AsyncConntrackCleaner::~AsyncConntrackCleaner() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  work_cv_.notify_all();
  worker_.join();
}

Result<std::size_t> AsyncConntrackCleaner::flush_mark(std::uint32_t mark, std::uint32_t mask) {
  std::lock_guard lock(walk_mu_);
  return inner_->flush_mark(mark, mask);
}

std::size_t AsyncConntrackCleaner::flush_marks(const std::vector<std::uint32_t>& marks) {
  std::lock_guard lock(walk_mu_);
  return inner_->flush_marks(marks);
}

Result<std::size_t> AsyncConntrackCleaner::delete_flows(const std::vector<FlowTuple>& tuples) {
  if (direct_) {
    return direct_->delete_flows(tuples);
  }
  std::lock_guard lock(walk_mu_);
  return inner_->delete_flows(tuples);
}

std::uint64_t AsyncConntrackCleaner::schedule_flush(const std::vector<std::uint32_t>& marks) {
  bool notify = false;
  std::uint64_t ticket = 0;
  {
    std::lock_guard lock(mu_);
    if (pending_.empty()) {
      first_pending_at_ = std::chrono::steady_clock::now();
      notify = true;
    }
    pending_.insert(pending_.end(), marks.begin(), marks.end());
    notify = notify || pending_.size() >= options_.max_pending_marks;
    ticket = ++last_ticket_;
  }
  if (notify) {
    work_cv_.notify_one();
  }
  return ticket;
}

void AsyncConntrackCleaner::await_ticket(std::uint64_t ticket) {
  std::unique_lock lock(mu_);
  if (completed_.load(std::memory_order_acquire) >= ticket) {
    return;
  }
  urgent_ = true;
  work_cv_.notify_one();
  done_cv_.wait(lock, [&] { return completed_.load(std::memory_order_acquire) >= ticket; });
}

void AsyncConntrackCleaner::run() {
  std::vector<std::uint32_t> batch;
  batch.reserve(pending_.capacity());
  std::unique_lock lock(mu_);
  for (;;) {
    work_cv_.wait(lock, [&] { return stopping_ || !pending_.empty(); });
    if (pending_.empty()) {
      return;  // stopping, nothing left
    }
    // Coalescing window: every release within max_delay of the first shares one walk.
    work_cv_.wait_until(lock, first_pending_at_ + options_.max_delay, [&] {
      return stopping_ || urgent_ || pending_.size() >= options_.max_pending_marks;
    });
    urgent_ = false;
    batch.swap(pending_);
    pending_.clear();
    const std::uint64_t ticket = last_ticket_;
    lock.unlock();

    std::sort(batch.begin(), batch.end());
    batch.erase(std::unique(batch.begin(), batch.end()), batch.end());
    std::size_t failed = 0;
    {
      std::lock_guard walk(walk_mu_);
      failed = inner_->flush_marks(batch);
    }
    batch.clear();
    failures_.fetch_add(failed, std::memory_order_relaxed);
    walks_.fetch_add(1, std::memory_order_relaxed);

    lock.lock();
    completed_.store(ticket, std::memory_order_release);
    done_cv_.notify_all();
  }
}

}  // namespace portcullis::agent
