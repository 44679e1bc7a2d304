#include "controller/sip/transport/stream_connection.h"

#include <catch2/catch.hpp>

#include <string>

#include "tests/unit/controller/sip/transport/test_util.h"

namespace portcullis::sip {
namespace {

using testing::crlf;
using testing::request;

FlowInfo flow() {
  return FlowInfo{TransportKind::kTcp, net::Endpoint(net::IpAddress::v4(0xc0000201), 40000),
                  net::Endpoint(net::IpAddress::v4(0xc0000202), 5060), ConnectionId{7}};
}

std::string drain_writes(StreamConnection& c) {
  std::string out;
  while (auto bytes = c.start_write()) {
    out += *bytes;
    (void)c.complete_write();
  }
  return out;
}

TEST_CASE("StreamConnection frames a message split across reads", "[unit][transport]") {
  TransportStats stats;
  StreamConnection c(flow(), {}, stats);
  const std::string msg = request();
  StreamConnection::ReadResult r;
  c.on_bytes(std::string_view(msg).substr(0, 10), r);
  c.on_bytes(std::string_view(msg).substr(10, msg.size() - 13), r);
  CHECK(r.deliveries.empty());
  c.on_bytes(std::string_view(msg).substr(msg.size() - 3), r);
  REQUIRE(r.deliveries.size() == 1);
  auto& m = std::get<ReceivedMessage>(r.deliveries[0]);
  CHECK(m.message.method() == Method::kOptions);
  CHECK(m.message.body() == "v=0\r\n");
  CHECK(m.source == flow().source);
  CHECK(m.local == flow().local);
  CHECK(m.kind == TransportKind::kTcp);
  CHECK(m.connection == ConnectionId{7});
  CHECK_FALSE(r.close.has_value());
  CHECK(stats.messages_received == 1);
}

TEST_CASE("StreamConnection delivers pipelined messages in order", "[unit][transport]") {
  TransportStats stats;
  StreamConnection c(flow(), {}, stats);
  StreamConnection::ReadResult r;
  c.on_bytes(request("first") + request("second", "INFO", 2), r);
  REQUIRE(r.deliveries.size() == 2);
  CHECK(std::get<ReceivedMessage>(r.deliveries[0]).message.call_id() == "first");
  CHECK(std::get<ReceivedMessage>(r.deliveries[1]).message.call_id() == "second");
}

TEST_CASE("StreamConnection answers a CRLFCRLF ping with a CRLF pong", "[unit][transport]") {
  // RFC 5626 §4.4.1.
  TransportStats stats;
  StreamConnection c(flow(), {}, stats);
  StreamConnection::ReadResult r;
  c.on_bytes("\r\n\r", r);
  CHECK(c.queued_messages() == 0);
  c.on_bytes("\n", r);
  CHECK(r.deliveries.empty());
  CHECK(drain_writes(c) == "\r\n");
  CHECK(stats.keepalive_pings == 1);
  CHECK(stats.keepalive_pongs == 1);
  // A message right after the ping still frames.
  c.on_bytes(request(), r);
  CHECK(r.deliveries.size() == 1);
}

TEST_CASE("StreamConnection reports an unparsable framed message and stays open", "[unit][transport]") {
  TransportStats stats;
  StreamConnection c(flow(), {}, stats);
  StreamConnection::ReadResult r;
  // Framed fine (Content-Length present) but no Call-ID: SipMessage::parse rejects it.
  const std::string bad = crlf(
      "OPTIONS sip:bob@example.com SIP/2.0\n"
      "Via: SIP/2.0/TCP h.example.com;branch=z9hG4bKx\n"
      "From: <sip:a@example.com>;tag=1\n"
      "To: <sip:bob@example.com>\n"
      "CSeq: 1 OPTIONS\n"
      "Content-Length: 0\n"
      "\n");
  c.on_bytes(bad + request(), r);
  REQUIRE(r.deliveries.size() == 2);
  const auto& rejected = std::get<RejectedMessage>(r.deliveries[0]);
  CHECK(rejected.error.status == 400);
  CHECK_FALSE(rejected.error.drop);
  CHECK(rejected.bytes == bad);
  CHECK(rejected.connection == ConnectionId{7});
  CHECK(std::holds_alternative<ReceivedMessage>(r.deliveries[1]));
  CHECK_FALSE(r.close.has_value());
  CHECK(stats.parse_errors == 1);
}

TEST_CASE("StreamConnection answers a framing error in a request, then closes", "[unit][transport]") {
  TransportStats stats;
  StreamConnection c(flow(), {}, stats);
  StreamConnection::ReadResult r;
  // A good message first, then one without Content-Length (mandatory on streams, RFC 3261 §18.3).
  const std::string no_length = crlf(
      "INVITE sip:bob@example.com SIP/2.0\n"
      "Via: SIP/2.0/TCP h.example.com;branch=z9hG4bKnolen\n"
      "From: <sip:a@example.com>;tag=1\n"
      "To: <sip:bob@example.com>\n"
      "Call-ID: nolen@h\n"
      "CSeq: 9 INVITE\n"
      "Max-Forwards: 70\n"
      "\n");
  c.on_bytes(request(), r);
  c.on_bytes(no_length, r);
  REQUIRE(r.deliveries.size() == 1);
  REQUIRE(r.close == CloseReason::kFramingError);
  CHECK(r.close_after_flush);
  CHECK(c.closing());
  const std::string answer = drain_writes(c);
  CHECK(answer.rfind("SIP/2.0 400 Bad Request\r\n", 0) == 0);
  CHECK(answer.find("Via: SIP/2.0/TCP h.example.com;branch=z9hG4bKnolen\r\n") != std::string::npos);
  CHECK(answer.find("Call-ID: nolen@h\r\n") != std::string::npos);
  CHECK(answer.find("CSeq: 9 INVITE\r\n") != std::string::npos);
  CHECK(answer.find("Max-Forwards") == std::string::npos);
  CHECK(answer.substr(answer.size() - 21) == "Content-Length: 0\r\n\r\n");
  CHECK(stats.framing_errors == 1);
  CHECK(stats.framing_error_answers == 1);
  // Input after the error is ignored.
  StreamConnection::ReadResult later;
  c.on_bytes(request(), later);
  CHECK(later.deliveries.empty());
}

TEST_CASE("StreamConnection closes at once on garbage and on a bad response", "[unit][transport]") {
  TransportStats stats;
  const std::string input = GENERATE(std::string("GARBAGE\r\n\r\n"),
                                     std::string("\x01\x02\x03\r\n\r\n"),
                                     std::string("SIP/2.0 200 OK\r\nVia: x\r\n\r\n"));
  StreamConnection c(flow(), {}, stats);
  StreamConnection::ReadResult r;
  c.on_bytes(input, r);
  CHECK(r.deliveries.empty());
  REQUIRE(r.close == CloseReason::kFramingError);
  CHECK_FALSE(r.close_after_flush);
  CHECK(c.queued_messages() == 0);
}

TEST_CASE("StreamConnection answers 513 for an oversize header section", "[unit][transport]") {
  TransportStats stats;
  StreamConnectionConfig config;
  config.parse_limits.max_header_bytes = 256;
  StreamConnection c(flow(), config, stats);
  StreamConnection::ReadResult r;
  std::string big = "MESSAGE sip:x@example.com SIP/2.0\r\nCall-ID: big\r\n";
  while (big.size() < 400) {
    big += "X-Filler: 0123456789abcdef\r\n";
  }
  c.on_bytes(big, r);
  REQUIRE(r.close == CloseReason::kFramingError);
  const std::string answer = drain_writes(c);
  CHECK(answer.rfind("SIP/2.0 513 Message Too Large\r\n", 0) == 0);
  CHECK(answer.find("Call-ID: big\r\n") != std::string::npos);
}

TEST_CASE("StreamConnection framing-error answers need a request line", "[unit][transport]") {
  const SipError e = bad_request("x");
  CHECK(StreamConnection::framing_error_answer("SIP/2.0 200 OK\r\n", e).empty());
  CHECK(StreamConnection::framing_error_answer("", e).empty());
  CHECK(StreamConnection::framing_error_answer("\r\n: x\r\n", e).empty());
  CHECK(StreamConnection::framing_error_answer("\r\nBYE sip:x SIP/2.0\r\n", e) ==
        "SIP/2.0 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
  // Folded Via continuation lines are copied with their field; an incomplete line is not.
  CHECK(StreamConnection::framing_error_answer(
            "BYE sip:x SIP/2.0\r\nv: SIP/2.0/TCP a\r\n ;branch=z9hG4bK1\r\nTo: <sip:x>", e) ==
        "SIP/2.0 400 Bad Request\r\nv: SIP/2.0/TCP a\r\n ;branch=z9hG4bK1\r\nContent-Length: 0\r\n\r\n");
}

TEST_CASE("StreamConnection bounds the write queue", "[unit][transport]") {
  TransportStats stats;
  StreamConnectionConfig config;
  config.max_write_queue_messages = 3;
  config.max_write_queue_bytes = 10;
  StreamConnection c(flow(), config, stats);

  StreamConnection::WriteItem a{"aaaa", {}, false};
  StreamConnection::WriteItem b{"bbbb", {}, false};
  StreamConnection::WriteItem too_big{"ccc", {}, false};
  REQUIRE(c.enqueue(std::move(a)));
  REQUIRE(c.enqueue(std::move(b)));
  CHECK(c.queued_bytes() == 8);
  CHECK_FALSE(c.enqueue(std::move(too_big)));  // 11 bytes > 10
  CHECK(too_big.bytes == "ccc");               // left untouched for the caller to fail

  // One write in flight: drain() keeps it (its buffer is in use) and returns the rest.
  const auto first = c.start_write();
  REQUIRE(first.has_value());
  CHECK(*first == "aaaa");
  CHECK_FALSE(c.start_write().has_value());  // one write at a time
  auto drained = c.drain();
  REQUIRE(drained.size() == 1);
  CHECK(drained[0].bytes == "bbbb");
  CHECK(c.complete_write().bytes == "aaaa");
  CHECK(c.queued_messages() == 0);
  CHECK(c.queued_bytes() == 0);

  // Message-count bound.
  for (int i = 0; i < 3; ++i) {
    StreamConnection::WriteItem x{"x", {}, false};
    REQUIRE(c.enqueue(std::move(x)));
  }
  StreamConnection::WriteItem fourth{"x", {}, false};
  CHECK_FALSE(c.enqueue(std::move(fourth)));
}

TEST_CASE("StreamConnection closes when a pong does not fit the write queue", "[unit][transport]") {
  TransportStats stats;
  StreamConnectionConfig config;
  config.max_write_queue_messages = 1;
  StreamConnection c(flow(), config, stats);
  StreamConnection::ReadResult r;
  c.on_bytes("\r\n\r\n\r\n\r\n", r);
  CHECK(r.close == CloseReason::kWriteQueueFull);
  CHECK(c.queued_messages() == 1);
}

}  // namespace
}  // namespace portcullis::sip
