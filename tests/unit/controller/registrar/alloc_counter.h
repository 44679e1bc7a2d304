// Counts bytes allocated through the global operator new while enabled (alloc_counter.cc replaces
// the replaceable global allocation functions for this test binary only).
#pragma once

#include <cstddef>
#include <cstdint>

namespace portcullis::registrar::test {

/// Net bytes requested through operator new (minus those released by operator delete) and the
/// number of live allocations, counted only between start() and stop().
struct AllocCounter {
  static void start();
  static void stop();
  static std::int64_t net_bytes();
  static std::int64_t net_allocations();
};

}  // namespace portcullis::registrar::test
