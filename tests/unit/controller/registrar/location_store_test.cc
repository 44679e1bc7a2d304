// InMemoryLocationStore on its own: the LocationStore contract, bounds, and memory per binding.
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <map>
#include <vector>
#include <cstdio>
#include <string>

#include "common/time/fake_clock.h"
#include "controller/registrar/in_memory_location_store.h"
#include "tests/unit/controller/registrar/alloc_counter.h"
#include "tests/unit/controller/registrar/register_builder.h"

namespace portcullis::registrar {
namespace {

using std::chrono::seconds;

Binding make_binding(std::string contact, Clock::TimePoint now, seconds ttl, std::uint16_t q = 1000) {
  Binding b;
  b.contact = std::move(contact);
  b.call_id = "call";
  b.cseq = 1;
  b.q = q;
  b.expires_at = now + ttl;
  b.updated_at = now;
  return b;
}

TEST_CASE("location store: put, replace, refresh, remove, remove_all, counts", "[unit]") {
  FakeClock clock;
  InMemoryLocationStore store;
  const auto now = clock.now();
  REQUIRE(store.put("sip:a@x", make_binding("sip:a@1.1.1.1", now, seconds(60))).ok());
  REQUIRE(store.put("sip:a@x", make_binding("sip:a@2.2.2.2", now, seconds(60))).ok());
  REQUIRE(store.put("sip:b@x", make_binding("sip:b@3.3.3.3", now, seconds(60))).ok());
  CHECK(store.binding_count() == 3);
  CHECK(store.binding_count("sip:a@x") == 2);
  CHECK(store.aor_count() == 2);

  // Same key → replaced, not added.
  Binding again = make_binding("sip:a@1.1.1.1", now, seconds(120), 500);
  REQUIRE(store.put("sip:a@x", again).ok());
  CHECK(store.binding_count() == 3);
  CHECK(store.bindings("sip:a@x").at(0).q == 500);

  // refresh: expiry, Call-ID, CSeq move; q stays.
  clock.advance(seconds(10));
  REQUIRE(store.refresh("sip:a@x", {"sip:a@1.1.1.1", {}, 0}, clock.now() + seconds(300), "call-2", 7, clock.now()).ok());
  const Binding r = store.bindings("sip:a@x").at(0);
  CHECK(r.expires_at == clock.now() + seconds(300));
  CHECK(r.call_id == "call-2");
  CHECK(r.cseq == 7);
  CHECK(r.q == 500);
  CHECK(r.updated_at == clock.now());
  const auto missing = store.refresh("sip:a@x", {"sip:a@9.9.9.9", {}, 0}, clock.now(), "c", 1, clock.now());
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().code == ErrorCode::kNotFound);
  CHECK(store.refresh("sip:nobody@x", {"sip:a@1.1.1.1", {}, 0}, clock.now(), "c", 1, clock.now()).error().code ==
        ErrorCode::kNotFound);

  CHECK(store.remove("sip:a@x", {"sip:a@2.2.2.2", {}, 0}));
  CHECK_FALSE(store.remove("sip:a@x", {"sip:a@2.2.2.2", {}, 0}));
  CHECK(store.binding_count() == 2);
  CHECK(store.remove_all("sip:a@x") == 1);
  CHECK(store.remove_all("sip:a@x") == 0);
  CHECK(store.aor_count() == 1);
  CHECK(store.binding_count() == 1);
}

TEST_CASE("location store: outbound keys ignore the contact, plain keys ignore instance", "[unit]") {
  FakeClock clock;
  InMemoryLocationStore store;
  Binding ob = make_binding("sip:a@1.1.1.1:1000", clock.now(), seconds(60));
  ob.instance_id = "\"<urn:uuid:1>\"";
  ob.reg_id = 1;
  REQUIRE(store.put("sip:a@x", ob).ok());
  Binding moved = ob;
  moved.contact = "sip:a@1.1.1.1:2000";
  REQUIRE(store.put("sip:a@x", moved).ok());
  CHECK(store.binding_count() == 1);
  CHECK(store.bindings("sip:a@x").at(0).contact == "sip:a@1.1.1.1:2000");
  // A plain binding with the same contact text is a different binding.
  REQUIRE(store.put("sip:a@x", make_binding("sip:a@1.1.1.1:2000", clock.now(), seconds(60))).ok());
  CHECK(store.binding_count() == 2);
  CHECK(store.remove("sip:a@x", {"ignored", "\"<urn:uuid:1>\"", 1}));
  CHECK(store.bindings("sip:a@x").at(0).instance_id.empty());
}

TEST_CASE("location store: lookup order and expiry, purge follows the clock", "[unit]") {
  FakeClock clock;
  InMemoryLocationStore store;
  const auto t0 = clock.now();
  REQUIRE(store.put("sip:a@x", make_binding("sip:a@1", t0, seconds(30), 100)).ok());
  clock.advance(seconds(1));
  REQUIRE(store.put("sip:a@x", make_binding("sip:a@2", clock.now(), seconds(90), 1000)).ok());
  clock.advance(seconds(1));
  REQUIRE(store.put("sip:a@x", make_binding("sip:a@3", clock.now(), seconds(60), 100)).ok());
  auto l = store.lookup("sip:a@x", clock.now());
  REQUIRE(l.size() == 3);
  CHECK(l[0].contact == "sip:a@2");
  CHECK(l[1].contact == "sip:a@3");
  CHECK(l[2].contact == "sip:a@1");
  CHECK(store.lookup("sip:none@x", clock.now()).empty());

  clock.advance(seconds(28));  // t0 + 30: sip:a@1 expires exactly now
  CHECK(store.lookup("sip:a@x", clock.now()).size() == 2);
  CHECK(store.purge_expired(clock.now()) == 1);
  CHECK(store.purge_expired(clock.now()) == 0);
  clock.advance(seconds(1000));
  CHECK(store.purge_expired(clock.now()) == 2);
  CHECK(store.binding_count() == 0);
  CHECK(store.aor_count() == 0);
}

TEST_CASE("location store: for_each_current visits exactly the live bindings", "[unit]") {
  FakeClock clock;
  InMemoryLocationStore store;
  REQUIRE(store.put("sip:a@x", make_binding("sip:a@1", clock.now(), seconds(30))).ok());
  REQUIRE(store.put("sip:a@x", make_binding("sip:a@2", clock.now(), seconds(90))).ok());
  REQUIRE(store.put("sip:b@x", make_binding("sip:b@1", clock.now(), seconds(90))).ok());
  const auto visit = [&] {
    std::map<std::string, std::vector<std::string>> seen;
    store.for_each_current(clock.now(), [&](std::string_view aor, const Binding& b) {
      seen[std::string(aor)].push_back(b.contact);
    });
    for (auto& [aor, contacts] : seen) {
      std::sort(contacts.begin(), contacts.end());
    }
    return seen;
  };
  using Seen = std::map<std::string, std::vector<std::string>>;
  CHECK(visit() == Seen{{"sip:a@x", {"sip:a@1", "sip:a@2"}}, {"sip:b@x", {"sip:b@1"}}});
  clock.advance(seconds(30));  // sip:a@1 expires; not purged yet, but no longer visited
  CHECK(store.binding_count() == 3);
  CHECK(visit() == Seen{{"sip:a@x", {"sip:a@2"}}, {"sip:b@x", {"sip:b@1"}}});
  clock.advance(seconds(60));
  CHECK(visit().empty());
}

TEST_CASE("location store: total bindings are bounded", "[unit]") {
  FakeClock clock;
  InMemoryLocationStore store({.max_bindings = 2});
  REQUIRE(store.put("sip:a@x", make_binding("sip:a@1", clock.now(), seconds(60))).ok());
  REQUIRE(store.put("sip:b@x", make_binding("sip:b@1", clock.now(), seconds(60))).ok());
  CHECK(store.capacity_left() == 0);
  const auto full = store.put("sip:c@x", make_binding("sip:c@1", clock.now(), seconds(60)));
  REQUIRE_FALSE(full.ok());
  CHECK(full.error().code == ErrorCode::kResourceExhausted);
  CHECK(store.aor_count() == 2);  // no empty AoR left behind
  // Replacing an existing binding still works when full.
  CHECK(store.put("sip:a@x", make_binding("sip:a@1", clock.now(), seconds(120))).ok());
}

// Memory budget: ≤ 1 KB per binding including the AoR key, hash node, expiry index and bucket
// array, for a realistic binding (45-char contact, 40-char Call-ID, one Path entry, an RFC 5626
// instance id, one binding per AoR — the worst case, since the AoR overhead is not shared).
TEST_CASE("location store: memory per binding stays under 1 KB", "[unit]") {
  constexpr int kBindings = 10'000;
  FakeClock clock;
  InMemoryLocationStore store({.max_bindings = kBindings});
  test::AllocCounter::start();
  for (int i = 0; i < kBindings; ++i) {
    char aor[64];
    char contact[96];
    char call_id[96];
    std::snprintf(aor, sizeof(aor), "sip:user%06d@example.com", i);
    std::snprintf(contact, sizeof(contact), "sip:user%06d@192.168.100.200:5060;transport=udp", i);
    std::snprintf(call_id, sizeof(call_id), "a84b4c76e66710-%06d@192.168.100.200", i);
    Binding b;
    b.contact = contact;
    b.call_id = call_id;
    b.path = {"<sip:edge1.example.com;lr>"};
    b.instance_id = "\"<urn:uuid:00000000-0000-1000-8000-000A95A0E128>\"";
    b.reg_id = 1;
    b.cseq = 1;
    b.expires_at = clock.now() + seconds(3600);
    b.updated_at = clock.now();
    b.received = test::udp_from("203.0.113.7:40001");
    REQUIRE(store.put(aor, std::move(b)).ok());
  }
  test::AllocCounter::stop();
  const double counted = static_cast<double>(test::AllocCounter::net_bytes()) / kBindings;
  const double allocations = static_cast<double>(test::AllocCounter::net_allocations()) / kBindings;
  const double accounted = static_cast<double>(store.approx_memory_bytes()) / kBindings;
  // Counted bytes exclude allocator headers; add 16 per live allocation to compare like with like.
  const double counted_with_overhead = counted + 16.0 * allocations;
  INFO("sizeof(Binding) = " << sizeof(Binding) << ", counted " << counted << " B + " << allocations
                            << " allocations, accounted " << accounted << " B per binding");
  CHECK(sizeof(Binding) <= 256);
  CHECK(counted_with_overhead <= 1024.0);
  CHECK(accounted <= 1024.0);
  // The accounting function tracks reality within 10%.
  CHECK(accounted >= counted_with_overhead * 0.9);
  CHECK(accounted <= counted_with_overhead * 1.1);
  WARN("memory per binding: counted " << counted_with_overhead << " B (" << allocations
                                      << " allocations), accounted " << accounted << " B, sizeof(Binding) "
                                      << sizeof(Binding));
}

}  // namespace
}  // namespace portcullis::registrar
