#include "controller/sip/transport/stream_transport.h"

#include <catch2/catch.hpp>

#include <boost/asio/io_context.hpp>

#include "tests/unit/controller/sip/transport/test_util.h"

namespace portcullis::sip {
namespace {

using namespace testing;

StreamConfig tcp_config() {
  StreamConfig config;
  config.kind = TransportKind::kTcp;
  config.listen.push_back(loopback_any_port());
  return config;
}

/// A TCP server transport on 127.0.0.1 plus the io_context; stops and drains on destruction.
struct TcpFixture {
  explicit TcpFixture(StreamConfig config = tcp_config()) {
    auto created = StreamTransport::create(ioc.get_executor(), std::move(config));
    REQUIRE(created.ok());
    server = *created;
    server->set_callbacks(rx.callbacks());
    REQUIRE(server->start().ok());
    endpoint = server->local_endpoints().at(0);
  }
  ~TcpFixture() {
    server->stop();
    run_to_completion(ioc);
  }

  asio::io_context ioc;
  Recorder rx;
  std::shared_ptr<StreamTransport> server;
  net::Endpoint endpoint;
};

TEST_CASE("TCP: a message split across writes is framed once complete", "[unit][transport][tcp]") {
  TcpFixture f;
  auto client = RawClient::connect(f.ioc, f.endpoint);
  const std::string msg = request("split");
  client->write(std::string_view(msg).substr(0, 20));
  // Bounded: let the server read the first part; nothing can be delivered yet.
  f.ioc.run_for(std::chrono::milliseconds(30));
  CHECK(f.rx.messages.empty());
  client->write(std::string_view(msg).substr(20, 100));
  f.ioc.run_for(std::chrono::milliseconds(30));
  CHECK(f.rx.messages.empty());
  client->write(std::string_view(msg).substr(120));
  REQUIRE(run_until(f.ioc, [&] { return f.rx.messages.size() == 1; }));
  const ReceivedMessage& m = f.rx.messages[0];
  CHECK(m.message.call_id() == "split");
  CHECK(m.kind == TransportKind::kTcp);
  CHECK(m.source == client->local());
  CHECK(m.local == f.endpoint);
  CHECK(m.connection != kNoConnection);
  CHECK(f.server->stats().connections_accepted == 1);
}

TEST_CASE("TCP: two pipelined messages in one write", "[unit][transport][tcp]") {
  TcpFixture f;
  auto client = RawClient::connect(f.ioc, f.endpoint);
  client->write(request("one") + request("two", "INFO", 2));
  REQUIRE(run_until(f.ioc, [&] { return f.rx.messages.size() == 2; }));
  CHECK(f.rx.messages[0].message.call_id() == "one");
  CHECK(f.rx.messages[1].message.call_id() == "two");
  CHECK(f.rx.messages[0].connection == f.rx.messages[1].connection);
  CHECK(f.server->stats().messages_received == 2);
}

TEST_CASE("TCP: CRLFCRLF keep-alive ping gets a CRLF pong", "[unit][transport][tcp]") {
  // RFC 5626 §4.4.1.
  TcpFixture f;
  auto client = RawClient::connect(f.ioc, f.endpoint);
  client->write("\r\n\r\n");
  REQUIRE(run_until(f.ioc, [&] { return client->data == "\r\n"; }));
  CHECK(f.server->stats().keepalive_pings == 1);
  CHECK(f.server->stats().keepalive_pongs == 1);
  CHECK(f.server->stats().messages_sent == 0);  // pongs are not messages
  CHECK_FALSE(client->closed);
}

TEST_CASE("TCP: garbage closes the connection and is counted", "[unit][transport][tcp]") {
  TcpFixture f;
  auto client = RawClient::connect(f.ioc, f.endpoint);
  client->write("GARBAGE\r\n\r\n");
  REQUIRE(run_until(f.ioc, [&] { return client->closed; }));
  CHECK(client->data.empty());
  REQUIRE(run_until(f.ioc, [&] { return f.rx.closed.size() == 1; }));
  CHECK(f.rx.closed[0].reason == CloseReason::kFramingError);
  CHECK(f.server->stats().framing_errors == 1);
  CHECK(f.server->stats().closed_count(CloseReason::kFramingError) == 1);
  CHECK(f.server->connection_count() == 0);
}

TEST_CASE("TCP: a request that cannot be framed is answered, then closed", "[unit][transport][tcp]") {
  TcpFixture f;
  auto client = RawClient::connect(f.ioc, f.endpoint);
  client->write(crlf("OPTIONS sip:bob@example.com SIP/2.0\n"
                     "Via: SIP/2.0/TCP h.example.com;branch=z9hG4bKnolen\n"
                     "Call-ID: nolen@h\n"
                     "\n"));
  REQUIRE(run_until(f.ioc, [&] { return client->closed; }));
  CHECK(client->data.rfind("SIP/2.0 400 Bad Request\r\n", 0) == 0);
  CHECK(client->data.find("Call-ID: nolen@h\r\n") != std::string::npos);
  CHECK(f.server->stats().framing_error_answers == 1);
}

TEST_CASE("TCP: an unparsable framed request is reported and the connection stays",
          "[unit][transport][tcp]") {
  TcpFixture f;
  auto client = RawClient::connect(f.ioc, f.endpoint);
  client->write(crlf("OPTIONS sip:bob@example.com SIP/2.0\n"
                     "Via: SIP/2.0/TCP h.example.com;branch=z9hG4bKx\n"
                     "Content-Length: 0\n"
                     "\n") +
                request("next"));
  REQUIRE(run_until(f.ioc, [&] { return f.rx.messages.size() == 1; }));
  REQUIRE(f.rx.rejected.size() == 1);
  CHECK(f.rx.rejected[0].connection == f.rx.messages[0].connection);
  CHECK(f.rx.rejected[0].kind == TransportKind::kTcp);
  CHECK_FALSE(client->closed);
  CHECK(f.server->stats().parse_errors == 1);
}

TEST_CASE("TCP: connections beyond the per-source limit are closed at once", "[unit][transport][tcp]") {
  StreamConfig config = tcp_config();
  config.limits.max_connections_per_ip = 2;
  TcpFixture f(config);
  auto c1 = RawClient::connect(f.ioc, f.endpoint);
  auto c2 = RawClient::connect(f.ioc, f.endpoint);
  REQUIRE(run_until(f.ioc, [&] { return f.server->stats().connections_accepted == 2; }));
  auto c3 = RawClient::connect(f.ioc, f.endpoint);
  REQUIRE(run_until(f.ioc, [&] { return c3->closed; }));
  CHECK(f.server->stats().connections_refused_per_ip == 1);
  CHECK(f.server->connection_count() == 2);
  // The admitted ones still work.
  c1->write("\r\n\r\n");
  c2->write("\r\n\r\n");
  REQUIRE(run_until(f.ioc, [&] { return c1->data == "\r\n" && c2->data == "\r\n"; }));
  // Closing one makes room for another.
  c1->close();
  REQUIRE(run_until(f.ioc, [&] { return f.server->connection_count() == 1; }));
  auto c4 = RawClient::connect(f.ioc, f.endpoint);
  c4->write("\r\n\r\n");
  REQUIRE(run_until(f.ioc, [&] { return c4->data == "\r\n"; }));
  CHECK(f.server->stats().closed_count(CloseReason::kPeerClosed) == 1);
}

TEST_CASE("TCP: connections beyond the total limit are closed at once", "[unit][transport][tcp]") {
  StreamConfig config = tcp_config();
  config.limits.max_connections = 1;
  TcpFixture f(config);
  auto c1 = RawClient::connect(f.ioc, f.endpoint);
  REQUIRE(run_until(f.ioc, [&] { return f.server->stats().connections_accepted == 1; }));
  auto c2 = RawClient::connect(f.ioc, f.endpoint);
  REQUIRE(run_until(f.ioc, [&] { return c2->closed; }));
  CHECK(f.server->stats().connections_refused_total == 1);
  CHECK_FALSE(c1->closed);
}

TEST_CASE("TCP: an idle connection is closed after the idle timeout", "[unit][transport][tcp]") {
  StreamConfig config = tcp_config();
  config.idle_timeout = std::chrono::milliseconds(200);
  TcpFixture f(config);
  auto client = RawClient::connect(f.ioc, f.endpoint);
  const auto start = std::chrono::steady_clock::now();
  REQUIRE(run_until(f.ioc, [&] { return client->closed; }, std::chrono::milliseconds(2000)));
  CHECK(std::chrono::steady_clock::now() - start >= std::chrono::milliseconds(190));
  REQUIRE(run_until(f.ioc, [&] { return f.rx.closed.size() == 1; }));
  CHECK(f.rx.closed[0].reason == CloseReason::kIdleTimeout);
  CHECK(f.server->stats().closed_count(CloseReason::kIdleTimeout) == 1);
}

TEST_CASE("TCP: responses reuse the inbound connection", "[unit][transport][tcp]") {
  // RFC 3261 §18.2.2.
  TcpFixture f;
  auto client = RawClient::connect(f.ioc, f.endpoint);
  client->write(request("reuse"));
  REQUIRE(run_until(f.ioc, [&] { return f.rx.messages.size() == 1; }));
  const ReceivedMessage& in = f.rx.messages[0];

  SECTION("by connection id, even with a destination nobody listens on") {
    SendResult sent;
    const net::Endpoint nowhere(net::IpAddress::v4(0x7f000001), 9);
    f.server->send(OutboundMessage{nowhere, TransportKind::kTcp, response("reuse"), in.connection, {}},
                   sent.callback());
    REQUIRE(run_until(f.ioc, [&] { return client->data == response("reuse"); }));
    REQUIRE(run_until(f.ioc, [&] { return sent.done; }));
    CHECK(sent.ok);
  }
  SECTION("by the source endpoint when no id is given") {
    f.server->send(OutboundMessage{in.source, TransportKind::kTcp, response("reuse"), kNoConnection, {}});
    REQUIRE(run_until(f.ioc, [&] { return client->data == response("reuse"); }));
  }
  CHECK(f.server->stats().connections_opened == 0);
  CHECK(f.server->stats().messages_sent == 1);
  CHECK(f.server->connection_count() == 1);
}

TEST_CASE("TCP: outbound requests open one connection and reuse it", "[unit][transport][tcp]") {
  TcpFixture f;
  Recorder client_rx;
  StreamConfig client_config;
  client_config.kind = TransportKind::kTcp;  // no listen: client only
  auto created = StreamTransport::create(f.ioc.get_executor(), client_config);
  REQUIRE(created.ok());
  auto client = *created;
  client->set_callbacks(client_rx.callbacks());
  REQUIRE(client->start().ok());

  SendResult s1;
  SendResult s2;
  client->send(OutboundMessage{f.endpoint, TransportKind::kTcp, request("o1"), kNoConnection, {}},
               s1.callback());
  client->send(OutboundMessage{f.endpoint, TransportKind::kTcp, request("o2", "INFO", 2),
                               kNoConnection, {}},
               s2.callback());
  REQUIRE(run_until(f.ioc, [&] { return f.rx.messages.size() == 2 && s1.done && s2.done; }));
  CHECK(s1.ok);
  CHECK(s2.ok);
  CHECK(f.rx.messages[0].connection == f.rx.messages[1].connection);
  CHECK(client->stats().connections_opened == 1);
  CHECK(f.server->stats().connections_accepted == 1);

  // The server answers over the same connection; the client receives it on its connection.
  f.server->send(OutboundMessage{f.rx.messages[0].source, TransportKind::kTcp, response("o1"),
                                 f.rx.messages[0].connection, {}});
  REQUIRE(run_until(f.ioc, [&] { return client_rx.messages.size() == 1; }));
  CHECK(client_rx.messages[0].message.status_code() == 200);
  CHECK(client_rx.messages[0].source == f.endpoint);

  client->stop();
  REQUIRE(run_until(f.ioc, [&] { return client_rx.closed.size() == 1; }));
  CHECK(client_rx.closed[0].reason == CloseReason::kShutdown);
}

TEST_CASE("TCP: a failed connect fails the send", "[unit][transport][tcp]") {
  asio::io_context ioc;
  // Find a free port, then close it: nothing listens there.
  net::Endpoint dead;
  {
    asio::ip::tcp::acceptor probe(ioc, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    dead = from_asio_endpoint(probe.local_endpoint());
  }
  StreamConfig config;
  config.kind = TransportKind::kTcp;
  config.connect_timeout = std::chrono::milliseconds(500);
  auto client = *StreamTransport::create(ioc.get_executor(), config);
  Recorder rx;
  client->set_callbacks(rx.callbacks());
  SendResult sent;
  client->send(OutboundMessage{dead, TransportKind::kTcp, request(), kNoConnection, {}}, sent.callback());
  REQUIRE(run_until(ioc, [&] { return sent.done && rx.closed.size() == 1; }));
  CHECK_FALSE(sent.ok);
  CHECK(rx.closed[0].reason == CloseReason::kConnectFailed);
  CHECK(client->stats().closed_count(CloseReason::kConnectFailed) == 1);
  CHECK(client->connection_count() == 0);
  client->stop();
  CHECK(run_to_completion(ioc));
}

TEST_CASE("TCP: stop closes every connection and lets the io_context drain", "[unit][transport][tcp]") {
  asio::io_context ioc;
  Recorder rx;
  auto server = *StreamTransport::create(ioc.get_executor(), tcp_config());
  server->set_callbacks(rx.callbacks());
  REQUIRE(server->start().ok());
  auto c1 = RawClient::connect(ioc, server->local_endpoints()[0]);
  auto c2 = RawClient::connect(ioc, server->local_endpoints()[0]);
  REQUIRE(run_until(ioc, [&] { return server->stats().connections_accepted == 2; }));
  server->stop();
  CHECK(run_to_completion(ioc));  // no handler left: acceptor, sessions and timers all done
  CHECK(c1->closed);
  CHECK(c2->closed);
  CHECK(server->stats().closed_count(CloseReason::kShutdown) == 2);
  CHECK(server->connection_count() == 0);
  // Sends after stop fail.
  SendResult sent;
  server->send(OutboundMessage{c1->local(), TransportKind::kTcp, "x", kNoConnection, {}}, sent.callback());
  CHECK(run_to_completion(ioc));
  CHECK(sent.done);
  CHECK_FALSE(sent.ok);
}

}  // namespace
}  // namespace portcullis::sip
