#include "controller/sip/resolver/srv_order.h"

#include <algorithm>
#include <memory>
#include <random>

namespace portcullis::sip::resolver {

RandomSource make_seeded_random(std::uint64_t seed) {
  auto engine = std::make_shared<std::mt19937_64>(seed);
  return [engine](std::uint32_t upper) {
    return std::uniform_int_distribution<std::uint32_t>(0, upper)(*engine);
  };
}

RandomSource make_default_random() {
  std::random_device rd;
  return make_seeded_random((std::uint64_t{rd()} << 32) | rd());
}

std::vector<SrvRecord> order_srv_records(std::vector<SrvRecord> records, const RandomSource& random) {
  // RFC 2782: "arrange all SRV RRs (that have not been ordered yet) in any order, except that all
  // those with weight 0 are placed at the beginning of the list" -- stable_sort keeps the rest in
  // answer order, which makes the result a pure function of the random draws.
  std::stable_sort(records.begin(), records.end(), [](const SrvRecord& a, const SrvRecord& b) {
    if (a.priority != b.priority) {
      return a.priority < b.priority;
    }
    return a.weight == 0 && b.weight != 0;
  });
  std::vector<SrvRecord> out;
  out.reserve(records.size());
  auto group_begin = records.begin();
  while (group_begin != records.end()) {
    const auto group_end = std::find_if(group_begin, records.end(), [&](const SrvRecord& r) {
      return r.priority != group_begin->priority;
    });
    std::vector<SrvRecord> group(std::make_move_iterator(group_begin), std::make_move_iterator(group_end));
    while (!group.empty()) {
      // "Compute the sum of the weights of those RRs, and with each RR associate the running sum
      // in the selected order. Then choose a uniform random number between 0 and the sum computed
      // (inclusive), and select the RR whose running sum value is the first in the selected order
      // which is greater than or equal to the random number selected."
      std::uint32_t sum = 0;
      for (const auto& r : group) {
        sum += r.weight;  // at most 65535 records of weight 65535: fits in 32 bits
      }
      const std::uint32_t pick = random(sum);
      std::uint32_t running = 0;
      std::size_t chosen = group.size() - 1;
      for (std::size_t i = 0; i < group.size(); ++i) {
        running += group[i].weight;
        if (running >= pick) {
          chosen = i;
          break;
        }
      }
      out.push_back(std::move(group[chosen]));
      group.erase(group.begin() + static_cast<std::ptrdiff_t>(chosen));
    }
    group_begin = group_end;
  }
  return out;
}

}  // namespace portcullis::sip::resolver
