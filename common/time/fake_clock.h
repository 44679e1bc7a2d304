// A Clock that only moves when told to. Starts at an arbitrary non-zero instant so code that
// treats TimePoint{} as "unset" is caught by tests.
#pragma once

#include <atomic>

#include "common/time/clock.h"

namespace portcullis {

class FakeClock final : public Clock {
 public:
  FakeClock() = default;

  TimePoint now() const override { return TimePoint(Duration(steady_ns_.load())); }
  WallTime wall_now() const override {
    return WallTime(std::chrono::duration_cast<WallTime::duration>(Duration(wall_ns_.load())));
  }

  void advance(Duration d) {
    steady_ns_ += d.count();
    wall_ns_ += d.count();
  }
  void set_wall(WallTime t) {
    wall_ns_ = std::chrono::duration_cast<Duration>(t.time_since_epoch()).count();
  }

 private:
  // 1000 s after the epoch of the steady clock; 2026-01-01T00:00:00Z on the wall.
  std::atomic<Duration::rep> steady_ns_{1'000'000'000'000};
  std::atomic<Duration::rep> wall_ns_{1'767'225'600LL * 1'000'000'000LL};
};

}  // namespace portcullis
