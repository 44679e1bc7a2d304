#include "tests/unit/controller/registrar/alloc_counter.h"

#include <atomic>
#include <cstdlib>
#include <new>

namespace portcullis::registrar::test {
namespace {

// Every block carries a 16-byte header holding its size (16 keeps max_align_t alignment), so
// operator delete knows what it releases even when the unsized form is called.
constexpr std::size_t kHeader = 16;

std::atomic<bool> g_enabled{false};
std::atomic<std::int64_t> g_bytes{0};
std::atomic<std::int64_t> g_count{0};

void* allocate(std::size_t n) {
  void* raw = std::malloc(n + kHeader);
  if (raw == nullptr) {
    throw std::bad_alloc();
  }
  auto* header = static_cast<std::size_t*>(raw);
  header[0] = n;
  header[1] = g_enabled.load(std::memory_order_relaxed) ? 1 : 0;  // counted?
  if (header[1] != 0) {
    g_bytes += static_cast<std::int64_t>(n);
    ++g_count;
  }
  return static_cast<char*>(raw) + kHeader;
}

void release(void* p) noexcept {
  if (p == nullptr) {
    return;
  }
  auto* header = reinterpret_cast<std::size_t*>(static_cast<char*>(p) - kHeader);
  if (header[1] != 0 && g_enabled.load(std::memory_order_relaxed)) {
    g_bytes -= static_cast<std::int64_t>(header[0]);
    --g_count;
  }
  std::free(header);
}

}  // namespace

void AllocCounter::start() {
  g_bytes = 0;
  g_count = 0;
  g_enabled = true;
}
void AllocCounter::stop() { g_enabled = false; }
std::int64_t AllocCounter::net_bytes() { return g_bytes.load(); }
std::int64_t AllocCounter::net_allocations() { return g_count.load(); }

}  // namespace portcullis::registrar::test

// The replaceable global allocation functions ([new.delete.single], [new.delete.array]),
// nothrow forms included: with ASan, libasan defines them too, and a nothrow block (e.g. from
// std::stable_sort's temporary buffer) released by our plain delete would be a mismatch. The
// align_val_t forms stay with the library; they pair only with each other.
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  try {
    return portcullis::registrar::test::allocate(n);
  } catch (...) {
    return nullptr;
  }
}
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept {
  try {
    return portcullis::registrar::test::allocate(n);
  } catch (...) {
    return nullptr;
  }
}
void operator delete(void* p, const std::nothrow_t&) noexcept { portcullis::registrar::test::release(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { portcullis::registrar::test::release(p); }
void* operator new(std::size_t n) { return portcullis::registrar::test::allocate(n); }
void* operator new[](std::size_t n) { return portcullis::registrar::test::allocate(n); }
void operator delete(void* p) noexcept { portcullis::registrar::test::release(p); }
void operator delete[](void* p) noexcept { portcullis::registrar::test::release(p); }
void operator delete(void* p, std::size_t) noexcept { portcullis::registrar::test::release(p); }
void operator delete[](void* p, std::size_t) noexcept { portcullis::registrar::test::release(p); }
