// LatencyHistogram: constant-memory latency distribution for counters printed at shutdown (how
// long the media step held SIP messages for FCP). Log-linear buckets of microseconds: exact below
// 16 µs, then 16 sub-buckets per power of two (≤ 6.25 % relative error), up to 2^30 µs (~18 min;
// longer values land in the last bucket). record() never allocates; not thread-safe (one per shard).
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

namespace portcullis::media {

class LatencyHistogram {
 public:
  static constexpr unsigned kSubBits = 4;  // 16 sub-buckets per power of two
  static constexpr unsigned kMaxBit = 30;  // values ≥ 2^31 µs clamp into the last bucket
  static constexpr std::size_t kBuckets = (kMaxBit - kSubBits + 2) << kSubBits;

  void record(std::chrono::nanoseconds elapsed) {
    const auto us = static_cast<std::uint64_t>(std::max<std::int64_t>(
        0, std::chrono::duration_cast<std::chrono::microseconds>(elapsed).count()));
    ++buckets_[index_of(us)];
    ++count_;
    max_us_ = std::max(max_us_, us);
  }

  std::uint64_t count() const noexcept { return count_; }
  std::uint64_t max_us() const noexcept { return max_us_; }

  /// Upper bound (µs) of the bucket holding quantile q (0..1), capped at max_us(); 0 when empty.
  std::uint64_t quantile_us(double q) const {
    if (count_ == 0) {
      return 0;
    }
    const auto rank = static_cast<std::uint64_t>(q * static_cast<double>(count_ - 1)) + 1;
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < kBuckets; ++i) {
      seen += buckets_[i];
      if (seen >= rank) {
        return std::min(upper_of(i), max_us_);
      }
    }
    return max_us_;
  }

  /// Non-empty buckets as "lower_us:count" pairs separated by spaces, so that the histograms of
  /// several shards (or processes) can be merged by whoever reads the log.
  std::string buckets() const {
    std::string out;
    for (std::size_t i = 0; i < kBuckets; ++i) {
      if (buckets_[i] != 0) {
        out += (out.empty() ? "" : " ") + std::to_string(lower_of(i)) + ":" + std::to_string(buckets_[i]);
      }
    }
    return out;
  }

  static std::size_t index_of(std::uint64_t us) {
    constexpr std::uint64_t kSub = 1U << kSubBits;
    if (us < kSub) {
      return static_cast<std::size_t>(us);
    }
    const unsigned msb = std::min<unsigned>(static_cast<unsigned>(std::bit_width(us)) - 1, kMaxBit);
    const std::uint64_t sub = msb == static_cast<unsigned>(std::bit_width(us)) - 1 ? (us >> (msb - kSubBits)) & (kSub - 1)
                                                                                   : kSub - 1;
    return static_cast<std::size_t>(((msb - kSubBits + 1) << kSubBits) + sub);
  }
  static std::uint64_t lower_of(std::size_t index) {
    constexpr std::size_t kSub = 1U << kSubBits;
    if (index < kSub) {
      return index;
    }
    const unsigned shift = static_cast<unsigned>(index >> kSubBits) - 1;
    return (kSub + (index & (kSub - 1))) << shift;
  }
  static std::uint64_t upper_of(std::size_t index) {
    constexpr std::size_t kSub = 1U << kSubBits;
    if (index < kSub) {
      return index;
    }
    const unsigned shift = static_cast<unsigned>(index >> kSubBits) - 1;
    return lower_of(index) + (std::uint64_t{1} << shift) - 1;
  }

 private:
  std::array<std::uint64_t, kBuckets> buckets_{};
  std::uint64_t count_ = 0;
  std::uint64_t max_us_ = 0;
};

}  // namespace portcullis::media
