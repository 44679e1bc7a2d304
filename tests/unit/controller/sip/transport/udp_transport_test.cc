#include "controller/sip/transport/udp_transport.h"

#include <catch2/catch.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>

#include "tests/unit/controller/sip/transport/test_util.h"

namespace portcullis::sip {
namespace {

using namespace testing;
using asio::ip::udp;

UdpConfig loopback_config() {
  UdpConfig config;
  config.listen.push_back(loopback_any_port());
  return config;
}

TEST_CASE("UDP: a request and its response make a round trip", "[unit][transport][udp]") {
  asio::io_context ioc;
  Recorder server_rx;
  Recorder client_rx;
  auto server = std::make_shared<UdpTransport>(ioc.get_executor(), loopback_config());
  auto client = std::make_shared<UdpTransport>(ioc.get_executor(), loopback_config());
  server->set_callbacks(server_rx.callbacks());
  client->set_callbacks(client_rx.callbacks());
  REQUIRE(server->start().ok());
  REQUIRE(client->start().ok());
  const net::Endpoint server_ep = server->local_endpoints().at(0);
  const net::Endpoint client_ep = client->local_endpoints().at(0);
  CHECK(server_ep.port() != 0);

  SendResult sent;
  client->send(OutboundMessage{server_ep, TransportKind::kUdp, request("udp1"), kNoConnection, {}},
               sent.callback());
  REQUIRE(run_until(ioc, [&] { return server_rx.messages.size() == 1 && sent.done; }));
  CHECK(sent.ok);
  const ReceivedMessage& in = server_rx.messages[0];
  CHECK(in.message.call_id() == "udp1");
  CHECK(in.kind == TransportKind::kUdp);
  CHECK(in.source == client_ep);
  CHECK(in.local == server_ep);
  CHECK(in.connection == server->socket_id(0));

  // RFC 3261 §18.2.2: answer from the socket the request arrived on.
  server->send(OutboundMessage{in.source, TransportKind::kUdp, response("udp1"), in.connection, {}});
  REQUIRE(run_until(ioc, [&] { return client_rx.messages.size() == 1; }));
  CHECK(client_rx.messages[0].message.status_code() == 200);
  CHECK(client_rx.messages[0].source == server_ep);

  CHECK(server->stats().messages_received == 1);
  CHECK(server->stats().messages_sent == 1);
  CHECK(client->stats().messages_sent == 1);

  server->stop();
  client->stop();
  CHECK(run_to_completion(ioc));
}

TEST_CASE("UDP: malformed datagrams are rejected and counted, keep-alives ignored",
          "[unit][transport][udp]") {
  asio::io_context ioc;
  Recorder rx;
  auto server = std::make_shared<UdpTransport>(ioc.get_executor(), loopback_config());
  server->set_callbacks(rx.callbacks());
  REQUIRE(server->start().ok());
  const auto to = to_asio_endpoint<udp::endpoint>(server->local_endpoints().at(0));

  udp::socket raw(ioc, udp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  const std::string garbage = "OPTIONS sip:x SIP/2.0\r\nthis is not a header\r\n\r\n";
  raw.send_to(asio::buffer(std::string("\r\n\r\n")), to);
  raw.send_to(asio::buffer(garbage), to);
  raw.send_to(asio::buffer(request("after")), to);
  REQUIRE(run_until(ioc, [&] { return rx.messages.size() == 1; }));
  REQUIRE(rx.rejected.size() == 1);
  CHECK(rx.rejected[0].bytes == garbage);
  CHECK(rx.rejected[0].error.status == 400);
  CHECK(rx.rejected[0].kind == TransportKind::kUdp);
  CHECK(rx.rejected[0].source == from_asio_endpoint(raw.local_endpoint()));
  CHECK(rx.rejected[0].connection == server->socket_id(0));
  CHECK(rx.messages[0].message.call_id() == "after");
  CHECK(server->stats().parse_errors == 1);
  CHECK(server->stats().keepalive_pings == 1);

  server->stop();
  raw.close();
  CHECK(run_to_completion(ioc));
}

TEST_CASE("UDP: sends are checked before they reach the socket", "[unit][transport][udp]") {
  asio::io_context ioc;
  UdpConfig config = loopback_config();
  config.parse_limits.max_message_bytes = 100;
  auto t = std::make_shared<UdpTransport>(ioc.get_executor(), config);
  REQUIRE(t->start().ok());
  const net::Endpoint v6_dest(*net::IpAddress::parse("::1"), 5060);

  SendResult too_big;
  SendResult wrong_family;
  SendResult wrong_kind;
  t->send(OutboundMessage{t->local_endpoints()[0], TransportKind::kUdp, std::string(200, 'x'),
                          kNoConnection, {}},
          too_big.callback());
  t->send(OutboundMessage{v6_dest, TransportKind::kUdp, "x", kNoConnection, {}},
          wrong_family.callback());
  t->send(OutboundMessage{t->local_endpoints()[0], TransportKind::kTcp, "x", kNoConnection, {}},
          wrong_kind.callback());
  REQUIRE(run_until(ioc, [&] { return too_big.done && wrong_family.done && wrong_kind.done; }));
  CHECK_FALSE(too_big.ok);
  CHECK_FALSE(wrong_family.ok);
  CHECK_FALSE(wrong_kind.ok);
  CHECK(t->stats().oversize_dropped == 1);
  CHECK(t->stats().send_failures == 3);

  // After stop() sends fail and the io_context drains.
  t->stop();
  SendResult after_stop;
  t->send(OutboundMessage{t->local_endpoints()[0], TransportKind::kUdp, "x", kNoConnection, {}},
          after_stop.callback());
  CHECK(run_to_completion(ioc));
  CHECK(after_stop.done);
  CHECK_FALSE(after_stop.ok);
}

}  // namespace
}  // namespace portcullis::sip
