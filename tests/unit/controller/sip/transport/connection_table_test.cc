#include "controller/sip/transport/connection_table.h"

#include <catch2/catch.hpp>

namespace portcullis::sip {
namespace {

net::Endpoint ep(std::uint32_t ip, std::uint16_t port) { return {net::IpAddress::v4(ip), port}; }

const net::Endpoint kLocal = ep(0x0a000001, 5060);

TEST_CASE("ConnectionTable admits, finds and removes connections", "[unit][transport]") {
  ConnectionTable table;
  auto a = table.admit(TransportKind::kTcp, Direction::kInbound, ep(0xc0000201, 40000), kLocal);
  auto b = table.admit(TransportKind::kTcp, Direction::kInbound, ep(0xc0000201, 40001), kLocal);
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK(*a != *b);
  CHECK(*a != kNoConnection);
  CHECK(table.size() == 2);
  CHECK(table.count_from(net::IpAddress::v4(0xc0000201)) == 2);

  const ConnectionEntry* entry = table.find(*a);
  REQUIRE(entry != nullptr);
  CHECK(entry->remote == ep(0xc0000201, 40000));
  CHECK(entry->local == kLocal);
  CHECK(entry->established);

  // Lookup by (kind, remote) for reuse; the kind is part of the key.
  CHECK(table.find(TransportKind::kTcp, ep(0xc0000201, 40001)) == *b);
  CHECK_FALSE(table.find(TransportKind::kTls, ep(0xc0000201, 40001)).has_value());
  CHECK_FALSE(table.find(TransportKind::kTcp, ep(0xc0000201, 40002)).has_value());

  CHECK(table.remove(*a));
  CHECK_FALSE(table.remove(*a));
  CHECK(table.find(*a) == nullptr);
  CHECK_FALSE(table.find(TransportKind::kTcp, ep(0xc0000201, 40000)).has_value());
  CHECK(table.count_from(net::IpAddress::v4(0xc0000201)) == 1);
  CHECK(table.size() == 1);
}

TEST_CASE("ConnectionTable never reuses ids", "[unit][transport]") {
  ConnectionTable table;
  auto a = table.admit(TransportKind::kTcp, Direction::kInbound, ep(1, 1), kLocal);
  REQUIRE(a.ok());
  REQUIRE(table.remove(*a));
  auto b = table.admit(TransportKind::kTcp, Direction::kInbound, ep(1, 1), kLocal);
  REQUIRE(b.ok());
  CHECK(static_cast<std::uint64_t>(*b) > static_cast<std::uint64_t>(*a));
}

TEST_CASE("ConnectionTable enforces the total limit", "[unit][transport]") {
  ConnectionTable table(ConnectionLimits{2, 0});
  REQUIRE(table.admit(TransportKind::kTcp, Direction::kInbound, ep(1, 1), kLocal).ok());
  auto second = table.admit(TransportKind::kTcp, Direction::kOutbound, ep(2, 5060), {});
  REQUIRE(second.ok());
  auto third = table.admit(TransportKind::kTcp, Direction::kInbound, ep(3, 1), kLocal);
  REQUIRE_FALSE(third.ok());
  CHECK(third.error() == Refusal::kTotalLimit);
  // Outbound connections count toward the total too.
  auto fourth = table.admit(TransportKind::kTcp, Direction::kOutbound, ep(4, 5060), {});
  REQUIRE_FALSE(fourth.ok());
  CHECK(fourth.error() == Refusal::kTotalLimit);
  // Removing one frees a slot.
  REQUIRE(table.remove(*second));
  CHECK(table.admit(TransportKind::kTcp, Direction::kInbound, ep(3, 1), kLocal).ok());
}

TEST_CASE("ConnectionTable enforces the per-source-IP limit on inbound only", "[unit][transport]") {
  ConnectionTable table(ConnectionLimits{100, 2});
  const std::uint32_t ip = 0xc6336401;
  auto a = table.admit(TransportKind::kTcp, Direction::kInbound, ep(ip, 1000), kLocal);
  REQUIRE(a.ok());
  REQUIRE(table.admit(TransportKind::kTls, Direction::kInbound, ep(ip, 1001), kLocal).ok());
  auto third = table.admit(TransportKind::kTcp, Direction::kInbound, ep(ip, 1002), kLocal);
  REQUIRE_FALSE(third.ok());
  CHECK(third.error() == Refusal::kPerIpLimit);
  // Another source is unaffected; outbound connections to that IP are not limited per IP.
  CHECK(table.admit(TransportKind::kTcp, Direction::kInbound, ep(ip + 1, 1000), kLocal).ok());
  auto out = table.admit(TransportKind::kTcp, Direction::kOutbound, ep(ip, 5060), {});
  REQUIRE(out.ok());
  CHECK_FALSE(table.find(*out)->established);
  table.mark_established(*out, kLocal);
  CHECK(table.find(*out)->established);
  CHECK(table.count_from(net::IpAddress::v4(ip)) == 2);
  // Closing one inbound connection admits the next.
  REQUIRE(table.remove(*a));
  CHECK(table.admit(TransportKind::kTcp, Direction::kInbound, ep(ip, 1002), kLocal).ok());
}

TEST_CASE("ConnectionTable reuse picks the newest connection to a remote", "[unit][transport]") {
  ConnectionTable table;
  const net::Endpoint remote = ep(0x0a000002, 5060);
  auto older = table.admit(TransportKind::kTcp, Direction::kOutbound, remote, {});
  auto newer = table.admit(TransportKind::kTcp, Direction::kInbound, remote, kLocal);
  REQUIRE(older.ok());
  REQUIRE(newer.ok());
  CHECK(table.find(TransportKind::kTcp, remote) == *newer);
  REQUIRE(table.remove(*newer));
  CHECK(table.find(TransportKind::kTcp, remote) == *older);
  CHECK(table.ids().size() == 1);
}

}  // namespace
}  // namespace portcullis::sip
