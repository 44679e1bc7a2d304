#include <chrono>
#include <map>
#include <random>
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

TEST_CASE("cancelling the earliest timer moves next_deadline, a callback may cancel a due timer", "[unit][common]") {
  FakeClock clock;
  TimerQueue q;
  std::vector<int> fired;
  const auto first = q.schedule(clock.now() + 10ms, [&] { fired.push_back(1); });
  TimerQueue::TimerId third = 0;
  q.schedule(clock.now() + 20ms, [&] {
    fired.push_back(2);
    CHECK(q.cancel(third));  // due at the same run, cancelled before it fires
  });
  third = q.schedule(clock.now() + 20ms, [&] { fired.push_back(3); });
  q.schedule(clock.now() + 30ms, [&] { fired.push_back(4); });
  CHECK(q.cancel(first));
  CHECK(*q.next_deadline() == clock.now() + 20ms);
  CHECK(q.size() == 3);
  clock.advance(1s);
  CHECK(q.run_due(clock.now()) == 2);
  CHECK(fired == std::vector<int>{2, 4});
  CHECK_FALSE(q.next_deadline().has_value());
}

TEST_CASE("timer queue agrees with a reference model under random schedule and cancel", "[unit][common]") {
  // Many cancellations (as SIP transactions do: most retransmission and timeout timers never
  // fire) exercise the lazy deletion and the compaction of the heap.
  FakeClock clock;
  TimerQueue q;
  std::mt19937 rng(7);
  std::map<std::pair<portcullis::Clock::TimePoint, TimerQueue::TimerId>, int> model;
  std::vector<TimerQueue::TimerId> ids;
  std::vector<int> fired;
  std::vector<int> expected;
  for (int round = 0; round < 200; ++round) {
    for (int i = 0; i < 50; ++i) {
      const auto when = clock.now() + std::chrono::milliseconds(rng() % 5000);
      const int tag = round * 100 + i;
      const auto id = q.schedule(when, [&fired, tag] { fired.push_back(tag); });
      model.emplace(std::pair{when, id}, tag);
      ids.push_back(id);
    }
    for (int i = 0; i < 45 && !ids.empty(); ++i) {
      const std::size_t k = rng() % ids.size();
      const auto id = ids[k];
      const bool in_model = std::erase_if(model, [id](const auto& e) { return e.first.second == id; }) > 0;
      CHECK(q.cancel(id) == in_model);
      ids.erase(ids.begin() + static_cast<std::ptrdiff_t>(k));
    }
    clock.advance(std::chrono::milliseconds(rng() % 100));
    while (!model.empty() && model.begin()->first.first <= clock.now()) {
      expected.push_back(model.begin()->second);
      model.erase(model.begin());
    }
    q.run_due(clock.now());
    REQUIRE(fired == expected);
    REQUIRE(q.size() == model.size());
    if (model.empty()) {
      CHECK_FALSE(q.next_deadline().has_value());
    } else {
      CHECK(*q.next_deadline() == model.begin()->first.first);
    }
  }
}

TEST_CASE("fake clock moves steady and wall time together", "[unit][common]") {
  FakeClock clock;
  const auto t0 = clock.now();
  const auto w0 = clock.wall_now();
  clock.advance(30s);
  CHECK(clock.now() - t0 == 30s);
  CHECK(clock.wall_now() - w0 == 30s);
}
