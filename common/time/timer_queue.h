// A sans-I/O timer queue: protocol code schedules callbacks at deadlines; whoever owns the I/O
// (an Asio timer in production, a test advancing a FakeClock) calls run_due(now) and arms itself
// for next_deadline(). Not thread-safe: one per executor, like the state it serves.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <unordered_map>
#include <utility>

#include "common/time/clock.h"

namespace portcullis {

class TimerQueue {
 public:
  using TimerId = std::uint64_t;
  using Callback = std::function<void()>;

  /// Schedules cb at `when`. Timers with equal deadlines fire in scheduling order.
  TimerId schedule(Clock::TimePoint when, Callback cb);
  /// Cancels a pending timer; false if it already fired or never existed.
  bool cancel(TimerId id);
  /// Fires every timer due at or before `now`, earliest first, including ones that callbacks
  /// schedule for a time <= now. Returns how many fired.
  std::size_t run_due(Clock::TimePoint now);
  std::optional<Clock::TimePoint> next_deadline() const;
  std::size_t size() const noexcept { return by_id_.size(); }
  bool empty() const noexcept { return by_id_.empty(); }

 private:
  using Key = std::pair<Clock::TimePoint, TimerId>;
  std::map<Key, Callback> by_deadline_;
  std::unordered_map<TimerId, Clock::TimePoint> by_id_;
  TimerId next_id_ = 1;
};

}  // namespace portcullis
