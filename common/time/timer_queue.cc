#include "common/time/timer_queue.h"

#include <algorithm>

namespace portcullis {

namespace {

/// std::push_heap/pop_heap build a max-heap; "later" as less-than puts the earliest on top.
/// Equal deadlines: the lower (older) id first, so they fire in scheduling order.
struct FiresLater {
  template <typename Entry>
  bool operator()(const Entry& a, const Entry& b) const noexcept {
    return a.when != b.when ? a.when > b.when : a.id > b.id;
  }
};

/// Cancelled entries tolerated beyond the live ones before a rebuild.
constexpr std::size_t kCompactSlack = 1024;

}  // namespace

TimerQueue::TimerId TimerQueue::schedule(Clock::TimePoint when, Callback cb) {
  const TimerId id = next_id_++;
  heap_.push_back(Entry{when, id, std::move(cb)});
  std::push_heap(heap_.begin(), heap_.end(), FiresLater{});
  live_.insert(id);
  return id;
}

bool TimerQueue::cancel(TimerId id) {
  if (live_.erase(id) == 0) {
    return false;
  }
  drop_cancelled_top();
  compact_if_sparse();
  return true;
}

void TimerQueue::drop_cancelled_top() {
  while (!heap_.empty() && !live_.contains(heap_.front().id)) {
    std::pop_heap(heap_.begin(), heap_.end(), FiresLater{});
    heap_.pop_back();
  }
}

void TimerQueue::compact_if_sparse() {
  if (heap_.size() <= 2 * live_.size() + kCompactSlack) {
    return;
  }
  std::erase_if(heap_, [this](const Entry& e) { return !live_.contains(e.id); });
  std::make_heap(heap_.begin(), heap_.end(), FiresLater{});
}

std::size_t TimerQueue::run_due(Clock::TimePoint now) {
  std::size_t fired = 0;
  while (!heap_.empty() && heap_.front().when <= now) {
    std::pop_heap(heap_.begin(), heap_.end(), FiresLater{});
    Entry due = std::move(heap_.back());
    heap_.pop_back();
    live_.erase(due.id);
    // Restore "the top is live" before the callback, which may look at next_deadline().
    drop_cancelled_top();
    ++fired;
    due.callback();
  }
  return fired;
}

std::optional<Clock::TimePoint> TimerQueue::next_deadline() const {
  if (heap_.empty()) {
    return std::nullopt;
  }
  return heap_.front().when;
}

}  // namespace portcullis
