// LatencyHistogram: bucket bounds, relative error, quantiles and the merge text.
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "controller/media/latency_histogram.h"

namespace portcullis::media {
namespace {

using std::chrono::microseconds;

TEST_CASE("latency histogram: every value lies inside its bucket, within 6.25 %", "[unit]") {
  std::mt19937_64 rng(11);
  std::vector<std::uint64_t> values{0, 1, 15, 16, 17, 31, 32, 33, 1000, 4095, 4096, 1'000'000};
  for (int i = 0; i < 20000; ++i) {
    values.push_back(rng() % (std::uint64_t{1} << (1 + rng() % 30)));
  }
  for (const std::uint64_t us : values) {
    const std::size_t i = LatencyHistogram::index_of(us);
    INFO(us << " -> bucket " << i);
    REQUIRE(i < LatencyHistogram::kBuckets);
    CHECK(LatencyHistogram::lower_of(i) <= us);
    CHECK(us <= LatencyHistogram::upper_of(i));
    const std::uint64_t width = LatencyHistogram::upper_of(i) - LatencyHistogram::lower_of(i) + 1;
    CHECK(width * 16 <= LatencyHistogram::lower_of(i) + 16);  // exact below 16, else <= 1/16
  }
  // Buckets tile the range: each starts right after the previous one ends.
  for (std::size_t i = 1; i < LatencyHistogram::kBuckets; ++i) {
    CHECK(LatencyHistogram::lower_of(i) == LatencyHistogram::upper_of(i - 1) + 1);
  }
}

TEST_CASE("latency histogram: quantiles, max, clamping and the bucket text", "[unit]") {
  LatencyHistogram h;
  CHECK(h.quantile_us(0.5) == 0);
  CHECK(h.buckets().empty());
  for (int i = 1; i <= 100; ++i) {
    h.record(microseconds(i * 10));  // 10 µs .. 1 000 µs
  }
  CHECK(h.count() == 100);
  CHECK(h.max_us() == 1000);
  const auto p50 = h.quantile_us(0.5);
  CHECK(p50 >= 500);
  CHECK(p50 <= 500 + 500 / 16);
  const auto p99 = h.quantile_us(0.99);
  CHECK(p99 >= 990);
  CHECK(p99 <= 1000);  // capped at the largest value seen
  CHECK(h.quantile_us(1.0) == 1000);
  // A negative duration (clock skew) counts as 0; a huge one lands in the last bucket.
  h.record(microseconds(-5));
  h.record(std::chrono::hours(24 * 365));
  CHECK(h.count() == 102);
  CHECK(h.buckets().rfind("0:1 ", 0) == 0);
  const std::string text = h.buckets();
  CHECK(text.find(std::to_string(LatencyHistogram::lower_of(LatencyHistogram::kBuckets - 1)) + ":1") !=
        std::string::npos);
}

}  // namespace
}  // namespace portcullis::media
