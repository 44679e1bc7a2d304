#include "pinhole-agent/service/mutation_executor.h"

#include <cassert>
#include <future>

namespace portcullis::agent::service {

MutationExecutor::~MutationExecutor() { stop(); }

void MutationExecutor::start(IdleHook idle) {
  std::lock_guard lock(mu_);
  assert(!started_);
  idle_ = std::move(idle);
  started_ = true;
  thread_ = std::thread([this] { loop(); });
  thread_id_ = thread_.get_id();
}

void MutationExecutor::stop() {
  {
    std::lock_guard lock(mu_);
    if (!started_ || stopping_) {
      stopping_ = true;
      if (!thread_.joinable()) {
        return;
      }
    }
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) {
    thread_.join();
  }
}

bool MutationExecutor::post(Task task, bool force) {
  {
    std::lock_guard lock(mu_);
    if (stopping_ || (!force && queue_.size() >= max_queue_)) {
      return false;
    }
    queue_.push_back(std::move(task));
  }
  cv_.notify_one();
  return true;
}

void MutationExecutor::wake() {
  {
    std::lock_guard lock(mu_);
    woken_ = true;
  }
  cv_.notify_one();
}

void MutationExecutor::run_sync(const Task& fn) {
  assert(!on_executor_thread());
  std::promise<void> done;
  auto fut = done.get_future();
  if (!post([&] { fn(); done.set_value(); }, true)) {
    return;  // stopped: nothing runs any more
  }
  fut.wait();
}

std::size_t MutationExecutor::queued() const {
  std::lock_guard lock(mu_);
  return queue_.size();
}

void MutationExecutor::loop() {
  std::chrono::nanoseconds sleep_for{0};
  for (;;) {
    std::deque<Task> batch;
    {
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, sleep_for, [&] { return stopping_ || woken_ || !queue_.empty(); });
      woken_ = false;
      batch.swap(queue_);
      if (stopping_ && batch.empty()) {
        return;
      }
    }
    for (Task& t : batch) {
      t();
    }
    sleep_for = idle_ ? idle_() : std::chrono::seconds(1);
  }
}

}  // namespace portcullis::agent::service
