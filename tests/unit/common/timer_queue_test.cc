#include <chrono>
#include <vector>

#include <catch2/catch.hpp>

#include "common/time/fake_clock.h"
#include "common/time/timer_queue.h"

using namespace std::chrono_literals;
using portcullis::FakeClock;
using portcullis::TimerQueue;

TEST_CASE("timers fire in deadline order on a fake clock", "[unit][common]") {
  FakeClock clock;
  TimerQueue q;
  std::vector<int> fired;
  q.schedule(clock.now() + 500ms, [&] { fired.push_back(2); });
  q.schedule(clock.now() + 100ms, [&] { fired.push_back(1); });
  const auto cancelled = q.schedule(clock.now() + 200ms, [&] { fired.push_back(99); });
  q.schedule(clock.now() + 500ms, [&] { fired.push_back(3); });
  CHECK(q.cancel(cancelled));
  CHECK_FALSE(q.cancel(cancelled));
  CHECK(*q.next_deadline() == clock.now() + 100ms);

  clock.advance(99ms);
  CHECK(q.run_due(clock.now()) == 0);
  clock.advance(1ms);
  CHECK(q.run_due(clock.now()) == 1);
  clock.advance(1s);
  CHECK(q.run_due(clock.now()) == 2);
  CHECK(fired == std::vector<int>{1, 2, 3});
  CHECK(q.empty());
}

TEST_CASE("a callback may schedule an already-due timer", "[unit][common]") {
  FakeClock clock;
  TimerQueue q;
  int count = 0;
  q.schedule(clock.now(), [&] {
    ++count;
    q.schedule(clock.now(), [&] { ++count; });
  });
  CHECK(q.run_due(clock.now()) == 2);
  CHECK(count == 2);
}

TEST_CASE("fake clock moves steady and wall time together", "[unit][common]") {
  FakeClock clock;
  const auto t0 = clock.now();
  const auto w0 = clock.wall_now();
  clock.advance(30s);
  CHECK(clock.now() - t0 == 30s);
  CHECK(clock.wall_now() - w0 == 30s);
}
