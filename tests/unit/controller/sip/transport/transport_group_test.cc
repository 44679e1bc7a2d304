#include "controller/sip/transport/transport.h"

#include <catch2/catch.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>

#include "controller/sip/transport/stream_transport.h"
#include "controller/sip/transport/udp_transport.h"
#include "tests/unit/controller/sip/transport/test_util.h"

namespace portcullis::sip {
namespace {

using namespace testing;

TEST_CASE("Transport names", "[unit][transport]") {
  CHECK(transport_kind_name(TransportKind::kUdp) == "UDP");
  CHECK(transport_kind_name(TransportKind::kTls) == "TLS");
  CHECK(close_reason_name(CloseReason::kIdleTimeout) == "idle_timeout");
  CHECK_FALSE(is_stream(TransportKind::kUdp));
  CHECK(is_stream(TransportKind::kTcp));
}

TEST_CASE("TransportGroup routes by kind on one owner strand", "[unit][transport]") {
  asio::io_context ioc;
  const asio::any_io_executor owner = asio::make_strand(ioc);
  Recorder rx;

  UdpConfig udp_config;
  udp_config.listen.push_back(loopback_any_port());
  auto udp = std::make_shared<UdpTransport>(ioc.get_executor(), udp_config, owner);
  StreamConfig tcp_config;
  tcp_config.listen.push_back(loopback_any_port());
  auto tcp = *StreamTransport::create(ioc.get_executor(), tcp_config, owner);
  REQUIRE(udp->start().ok());
  REQUIRE(tcp->start().ok());
  CHECK(udp->executor() == owner);
  CHECK(tcp->executor() == owner);

  auto group = std::make_shared<TransportGroup>();
  group->add(TransportKind::kUdp, udp);
  group->add(TransportKind::kTcp, tcp);
  group->set_callbacks(rx.callbacks());
  CHECK(group->executor() == owner);

  // The group sends to its own listeners: one message per kind arrives through one callback set.
  SendResult udp_sent;
  SendResult tcp_sent;
  SendResult tls_sent;
  group->send(OutboundMessage{udp->local_endpoints()[0], TransportKind::kUdp, request("g-udp"),
                              kNoConnection, {}},
              udp_sent.callback());
  group->send(OutboundMessage{tcp->local_endpoints()[0], TransportKind::kTcp, request("g-tcp"),
                              kNoConnection, {}},
              tcp_sent.callback());
  group->send(OutboundMessage{tcp->local_endpoints()[0], TransportKind::kTls, request("g-tls"),
                              kNoConnection, {}},
              tls_sent.callback());
  REQUIRE(run_until(ioc, [&] {
    return rx.messages.size() == 2 && udp_sent.done && tcp_sent.done && tls_sent.done;
  }));
  CHECK(udp_sent.ok);
  CHECK(tcp_sent.ok);
  CHECK_FALSE(tls_sent.ok);  // no TLS transport in the group
  int udp_count = 0;
  int tcp_count = 0;
  for (const auto& m : rx.messages) {
    udp_count += m.kind == TransportKind::kUdp ? 1 : 0;
    tcp_count += m.kind == TransportKind::kTcp ? 1 : 0;
  }
  CHECK(udp_count == 1);
  CHECK(tcp_count == 1);

  group->stop();
  CHECK(run_to_completion(ioc));
}

}  // namespace
}  // namespace portcullis::sip
