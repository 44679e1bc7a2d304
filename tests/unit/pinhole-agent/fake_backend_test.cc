#include <chrono>

#include <catch2/catch.hpp>

#include "common/time/fake_clock.h"
#include "pinhole-agent/backend/fake/fake_backend.h"
#include "pinhole-agent/core/event_log.h"
#include "pinhole-agent/core/pinhole_manager.h"

using namespace std::chrono_literals;
using namespace portcullis;
using namespace portcullis::agent;

namespace {

net::Endpoint ep(const char* text) { return *net::Endpoint::parse(text); }

PortMapping mapping(const char* pub, const char* priv, std::chrono::milliseconds timeout = 10s) {
  PortMapping m;
  m.public_endpoint = ep(pub);
  m.private_endpoint = ep(priv);
  m.mark = 7;
  m.timeout = timeout;
  m.userdata = "b=7";
  return m;
}

}  // namespace

TEST_CASE("fake backend applies a batch all or nothing", "[unit][agent][fake]") {
  FakeClock clock;
  FakeBackend backend(clock);
  ChangeSet first;
  first.changes.push_back({ChangeOp::kCreate, mapping("203.0.113.1:40000", "10.0.0.2:4000")});
  REQUIRE(backend.apply(first).ok());

  // Second element is a create on an existing key: EEXIST aborts the whole batch.
  ChangeSet second;
  second.changes.push_back({ChangeOp::kCreate, mapping("203.0.113.1:40002", "10.0.0.3:4000")});
  second.changes.push_back({ChangeOp::kCreate, mapping("203.0.113.1:40000", "10.0.0.4:4000")});
  const Status st = backend.apply(second);
  REQUIRE_FALSE(st.ok());
  CHECK(st.error().code == ErrorCode::kAlreadyExists);
  CHECK(st.error().message.find("change[1] create mapping 203.0.113.1:40000") != std::string::npos);
  CHECK(backend.element_count() == 1);
  CHECK_FALSE(backend.mapping(ep("203.0.113.1:40002")));

  // A second mapping for the same private endpoint collides in the SNAT map.
  ChangeSet third;
  third.changes.push_back({ChangeOp::kCreate, mapping("203.0.113.1:40004", "10.0.0.2:4000")});
  CHECK(backend.apply(third).error().code == ErrorCode::kAlreadyExists);

  // Delete of an absent key is fine (idempotent release); upsert replaces.
  ChangeSet fourth;
  fourth.changes.push_back({ChangeOp::kDelete, mapping("203.0.113.1:49999", "10.0.0.9:4000")});
  fourth.changes.push_back({ChangeOp::kUpsert, mapping("203.0.113.1:40000", "10.0.0.2:4000", 20s)});
  REQUIRE(backend.apply(fourth).ok());
  CHECK(*backend.mapping_expiry(ep("203.0.113.1:40000")) == clock.now() + 20s);
  CHECK(backend.successful_applies() == 2);
  CHECK(backend.apply_calls() == 4);
}

TEST_CASE("fake backend drops expired elements and refuses endless ones", "[unit][agent][fake]") {
  FakeClock clock;
  FakeBackend backend(clock);
  ChangeSet cs;
  cs.changes.push_back({ChangeOp::kCreate, mapping("203.0.113.1:40000", "10.0.0.2:4000", 1500ms)});
  REQUIRE(backend.apply(cs).ok());
  clock.advance(1s);
  auto snap = backend.snapshot();
  REQUIRE(snap->mappings.size() == 1);
  CHECK(snap->mappings[0].timeout == 500ms);
  clock.advance(500ms);
  CHECK(backend.snapshot()->mappings.empty());

  ChangeSet forever;
  forever.changes.push_back({ChangeOp::kCreate, mapping("203.0.113.1:40000", "10.0.0.2:4000", 0ms)});
  CHECK(backend.apply(forever).error().code == ErrorCode::kInvalidArgument);

  backend.fail_next_apply(internal_error("netlink: ENOBUFS"));
  CHECK(backend.apply(cs).error().message == "netlink: ENOBUFS");
  CHECK(backend.apply(cs).ok());

  CHECK_FALSE(backend.bootstrap("epoch-a")->adopted_existing);
  const auto again = backend.bootstrap("epoch-b");
  CHECK(again->adopted_existing);
  CHECK(again->state_epoch == "epoch-a");
}

TEST_CASE("userdata encoding is bounded and round-trips", "[unit][agent][userdata]") {
  BindingUserdata u;
  u.id = 0xffffffffu;
  u.owner = std::string(kMaxOwnerBytes, 'o');
  u.fencing_token = ~0ull;
  u.group_id = std::string(kMaxGroupBytes, 'g');
  u.hard_deadline_s = 0xfffffffffLL;
  u.generation = 0xffffffffu;
  u.lifetime_only = true;
  const std::string text = encode_userdata(u);
  CHECK(text.size() <= kMaxUserdataBytes);
  CHECK(decode_userdata(text) == u);

  BindingUserdata small;
  small.id = 0x2a;
  small.owner = "sbc/shard-1";
  small.fencing_token = 5;
  small.hard_deadline_s = 0x10;
  small.generation = 3;
  CHECK(encode_userdata(small) == "b=2a;o=sbc/shard-1;t=5;x=10;v=3");
  CHECK(decode_userdata("b=2a;o=sbc/shard-1;t=5;x=10;v=3;z=future") == small);

  CHECK_FALSE(decode_userdata(""));
  CHECK_FALSE(decode_userdata("b=0;o=x;t=1;x=1"));        // id 0 is never used
  CHECK_FALSE(decode_userdata("b=2a;o=x;t=1"));           // no deadline
  CHECK_FALSE(decode_userdata("b=2a;o=a b;t=1;x=1"));     // bad owner charset
  CHECK_FALSE(decode_userdata("b=zz;o=x;t=1;x=1"));       // not hex
  CHECK_FALSE(decode_userdata("b=2a;o=x;t=1;x=1;junk"));  // no '='
}

TEST_CASE("event log serves resume positions inside its ring only", "[unit][agent][events]") {
  EventLog log(3, 100);
  for (int i = 0; i < 5; ++i) {
    Event e;
    e.binding_id = static_cast<BindingId>(i + 1);
    log.append(e);
  }
  CHECK(log.last_seq() == 104);
  CHECK(log.size() == 3);
  const auto tail = log.since(102);
  REQUIRE(tail);
  REQUIRE(tail->size() == 2);
  CHECK((*tail)[0].seq == 103);
  CHECK((*tail)[1].binding_id == 5);
  CHECK(log.since(101)->size() == 3);
  CHECK_FALSE(log.since(100));  // 101 was dropped
  CHECK_FALSE(log.since(105));  // never issued
  CHECK(log.since(104)->empty());
}
