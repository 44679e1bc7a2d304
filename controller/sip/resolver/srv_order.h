// RFC 2782 target selection order for SRV records: ascending priority, and within one priority a
// weighted random order. The random source is injected so tests are deterministic.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "controller/sip/resolver/dns_resolver.h"

namespace portcullis::sip::resolver {

/// Returns a uniformly distributed integer in [0, upper], both ends inclusive.
using RandomSource = std::function<std::uint32_t(std::uint32_t upper)>;

/// A Mersenne-Twister source with a fixed seed (tests, reproducible runs).
RandomSource make_seeded_random(std::uint64_t seed);
/// A source seeded from std::random_device (production).
RandomSource make_default_random();

/// Orders SRV records for trying (RFC 2782, "Usage rules"): by ascending priority; within a
/// priority, repeatedly pick a record with probability proportional to its weight (zero-weight
/// records placed first so they keep a small chance of selection, as the RFC prescribes).
std::vector<SrvRecord> order_srv_records(std::vector<SrvRecord> records, const RandomSource& random);

}  // namespace portcullis::sip::resolver
