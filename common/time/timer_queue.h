// A sans-I/O timer queue: protocol code schedules callbacks at deadlines; whoever owns the I/O
// (an Asio timer in production, a test advancing a FakeClock) calls run_due(now) and arms itself
// for next_deadline(). Not thread-safe: one per executor, like the state it serves.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <unordered_set>
#include <utility>
#include <vector>

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
  std::size_t size() const noexcept { return live_.size(); }
  bool empty() const noexcept { return live_.empty(); }

 private:
  struct Entry {
    Clock::TimePoint when;
    TimerId id;
    Callback callback;
  };
  /// Pops cancelled entries off the top, so the top is always a live timer (next_deadline()).
  void drop_cancelled_top();
  /// Rebuilds the heap without cancelled entries once they outnumber the live ones.
  void compact_if_sparse();

  // A binary min-heap by (when, id) with lazy deletion: cancel() only forgets the id, and the
  // entry is dropped when it reaches the top (or by compaction). Scheduling and cancelling are
  // the hot path of every SIP transaction (several timers each, most cancelled): a heap in one
  // vector costs no node allocation per timer, unlike the std::map it replaced.
  std::vector<Entry> heap_;
  std::unordered_set<TimerId> live_;
  TimerId next_id_ = 1;
};

}  // namespace portcullis
