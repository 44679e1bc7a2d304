// Time as a seam. Protocol logic (transactions, registrar, leases) never reads the system clock
// itself: it is handed a Clock, so tests drive time with FakeClock and never sleep.
#pragma once

#include <chrono>

namespace portcullis {

class Clock {
 public:
  using Duration = std::chrono::nanoseconds;
  using TimePoint = std::chrono::time_point<std::chrono::steady_clock, Duration>;
  using WallTime = std::chrono::system_clock::time_point;

  virtual ~Clock() = default;
  /// Monotonic time for deadlines and timers. Thread-safe in every implementation.
  virtual TimePoint now() const = 0;
  /// Wall-clock time, for CDRs, logs and Date headers only; never for timers.
  virtual WallTime wall_now() const = 0;
};

/// The real clock: std::chrono::steady_clock and system_clock.
class SystemClock final : public Clock {
 public:
  TimePoint now() const override { return std::chrono::steady_clock::now(); }
  WallTime wall_now() const override { return std::chrono::system_clock::now(); }
};

}  // namespace portcullis
