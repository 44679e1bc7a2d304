// AsyncConntrackCleaner: coalescing, bounds and ordering of deferred walks (real thread; the
// only timing checked exactly is the lower bound of the coalescing window).
#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "pinhole-agent/backend/conntrack/async_cleaner.h"
#include "pinhole-agent/backend/fake/fake_backend.h"

using namespace std::chrono_literals;
using namespace portcullis;
using namespace portcullis::agent;

namespace {

/// Lets the test keep the fake after the async cleaner (and its worker) are gone.
class Forwarding final : public ConntrackCleaner {
 public:
  explicit Forwarding(FakeConntrackCleaner& fake) : fake_(fake) {}
  Result<std::size_t> flush_mark(std::uint32_t mark, std::uint32_t mask) override {
    return fake_.flush_mark(mark, mask);
  }
  std::size_t flush_marks(const std::vector<std::uint32_t>& marks) override {
    return fake_.flush_marks(marks);
  }

 private:
  FakeConntrackCleaner& fake_;
};

bool wait_completed(const ConntrackCleaner& c, std::uint64_t ticket) {
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (c.completed_ticket() < ticket) {
    if (std::chrono::steady_clock::now() > deadline) {
      return false;
    }
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

}  // namespace

TEST_CASE("async cleaner coalesces marks into one walk", "[unit][agent][conntrack]") {
  FakeConntrackCleaner fake;
  {
    AsyncConntrackCleaner c(std::make_unique<Forwarding>(fake), {std::chrono::hours(1), 4096});
    CHECK(c.schedule_flush({7}) == 1);
    CHECK(c.schedule_flush({3, 7}) == 2);
    CHECK(c.completed_ticket() == 0);
    CHECK(c.walks() == 0);
    c.await_ticket(2);  // flush-before-reuse: starts the walk at once
    CHECK(c.completed_ticket() == 2);
    CHECK(c.walks() == 1);
    CHECK(fake.walks() == std::vector<std::vector<std::uint32_t>>{{3, 7}});  // sorted, unique
    c.await_ticket(1);  // already complete: returns
    CHECK(c.walks() == 1);
    CHECK(c.schedule_flush({9}) == 3);
  }  // destruction runs the pending walk
  CHECK(fake.walks() == std::vector<std::vector<std::uint32_t>>{{3, 7}, {9}});
}

TEST_CASE("async cleaner bounds delay and pending marks", "[unit][agent][conntrack]") {
  FakeConntrackCleaner fake;
  SECTION("a walk starts max_delay after the first mark") {
    AsyncConntrackCleaner c(std::make_unique<Forwarding>(fake), {30ms, 4096});
    const auto start = std::chrono::steady_clock::now();
    const std::uint64_t t = c.schedule_flush({5});
    REQUIRE(wait_completed(c, t));
    CHECK(std::chrono::steady_clock::now() - start >= 30ms);
    CHECK(c.walks() == 1);
    CHECK(fake.flushed() == std::vector<std::uint32_t>{5});
  }
  SECTION("max_pending_marks starts a walk at once") {
    AsyncConntrackCleaner c(std::make_unique<Forwarding>(fake), {std::chrono::hours(1), 3});
    c.schedule_flush({1, 2});
    const std::uint64_t t = c.schedule_flush({3});
    REQUIRE(wait_completed(c, t));
    CHECK(fake.walks() == std::vector<std::vector<std::uint32_t>>{{1, 2, 3}});
  }
  SECTION("failures are counted per mark") {
    fake.set_failure(Error(ErrorCode::kUnavailable, "ENOBUFS"));
    AsyncConntrackCleaner c(std::make_unique<Forwarding>(fake), {std::chrono::hours(1), 4096});
    c.await_ticket(c.schedule_flush({1, 2}));
    CHECK(c.flush_failures() == 2);
  }
}
