#include "common/time/timer_queue.h"

namespace portcullis {

TimerQueue::TimerId TimerQueue::schedule(Clock::TimePoint when, Callback cb) {
  const TimerId id = next_id_++;
  by_deadline_.emplace(Key{when, id}, std::move(cb));
  by_id_.emplace(id, when);
  return id;
}

bool TimerQueue::cancel(TimerId id) {
  const auto it = by_id_.find(id);
  if (it == by_id_.end()) {
    return false;
  }
  by_deadline_.erase(Key{it->second, id});
  by_id_.erase(it);
  return true;
}

std::size_t TimerQueue::run_due(Clock::TimePoint now) {
  std::size_t fired = 0;
  while (!by_deadline_.empty()) {
    auto it = by_deadline_.begin();
    if (it->first.first > now) {
      break;
    }
    Callback cb = std::move(it->second);
    by_id_.erase(it->first.second);
    by_deadline_.erase(it);
    ++fired;
    cb();
  }
  return fired;
}

std::optional<Clock::TimePoint> TimerQueue::next_deadline() const {
  if (by_deadline_.empty()) {
    return std::nullopt;
  }
  return by_deadline_.begin()->first.first;
}

}  // namespace portcullis
