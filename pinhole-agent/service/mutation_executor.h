// The agent's single mutation executor: one thread that owns the PinholeManager (and through it
// the backend and conntrack handles). gRPC threads never touch the manager; they post tasks here
// and finish their RPC from the task (style §4.5: one executor owns each piece of mutable state;
// no mutex held across netlink I/O, because no other thread ever waits for this state).
//
// After every batch of tasks, and whenever the wait times out, the loop calls the `idle` hook,
// which runs due timers (manager.tick()) and returns how long the thread may sleep before it is
// needed again. The queue is bounded: post() refuses work beyond `max_queue` so a flood of RPCs
// sheds load at the edge instead of growing memory (style §4.5 backpressure).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

namespace portcullis::agent::service {

class MutationExecutor {
 public:
  using Task = std::function<void()>;
  /// Runs on the executor thread; returns the longest time to sleep before calling it again.
  using IdleHook = std::function<std::chrono::nanoseconds()>;

  explicit MutationExecutor(std::size_t max_queue = 4096) : max_queue_(max_queue) {}
  ~MutationExecutor();
  MutationExecutor(const MutationExecutor&) = delete;
  MutationExecutor& operator=(const MutationExecutor&) = delete;

  void start(IdleHook idle);
  /// Runs every queued task, then joins the thread. Later posts are refused.
  void stop();

  /// Queues `task`; false when stopped or (unless `force`) the queue is full. `force` is for
  /// tasks that must not be lost (a stream ending must reach end_session).
  bool post(Task task, bool force = false);
  /// Wakes the loop so the idle hook runs soon (e.g. the clock moved in a test).
  void wake();
  /// Runs `fn` on the executor and waits for it (tests, start-up, shutdown). Must not be called
  /// from the executor thread.
  void run_sync(const Task& fn);
  bool on_executor_thread() const noexcept { return std::this_thread::get_id() == thread_id_; }
  std::size_t queued() const;

 private:
  void loop();

  const std::size_t max_queue_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Task> queue_;
  bool stopping_ = false;
  bool started_ = false;
  bool woken_ = false;
  IdleHook idle_;
  std::thread thread_;
  std::thread::id thread_id_;
};

}  // namespace portcullis::agent::service
