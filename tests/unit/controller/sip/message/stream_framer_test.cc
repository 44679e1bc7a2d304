#include "controller/sip/message/stream_framer.h"

#include <catch2/catch.hpp>

#include <random>
#include <string>
#include <vector>

#include "controller/sip/message/sip_message.h"
#include "tests/unit/controller/sip/message/test_messages.h"

namespace portcullis::sip {
namespace {

using testing::crlf;
using testing::typical_invite;

/// Events flattened to comparable strings: "msg:<bytes>", "ping", "error:<status>:<drop>".
std::vector<std::string> drain(StreamFramer& framer) {
  std::vector<std::string> out;
  // Bounded: every event consumes input or fails the framer.
  for (int i = 0; i < 10000; ++i) {
    auto ev = framer.next();
    if (!ev) {
      break;
    }
    if (const auto* m = std::get_if<FramedMessage>(&*ev)) {
      out.push_back("msg:" + m->bytes);
    } else if (std::holds_alternative<KeepAlivePing>(*ev)) {
      out.emplace_back("ping");
    } else {
      const auto& e = std::get<FramingError>(*ev);
      out.push_back("error:" + std::to_string(e.error.status) + ":" + (e.error.drop ? "drop" : "answer"));
    }
  }
  return out;
}

std::vector<std::string> feed_whole(std::string_view input, FramerLimits limits = {}) {
  StreamFramer f(limits);
  f.feed(input);
  return drain(f);
}

std::vector<std::string> feed_bytewise(std::string_view input, FramerLimits limits = {}) {
  StreamFramer f(limits);
  std::vector<std::string> out;
  for (const char c : input) {
    f.feed(std::string_view(&c, 1));
    for (auto& e : drain(f)) {
      out.push_back(std::move(e));
    }
  }
  return out;
}

std::vector<std::string> feed_random(std::string_view input, std::uint32_t seed, FramerLimits limits = {}) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<std::size_t> len(1, 97);
  StreamFramer f(limits);
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos < input.size()) {
    const std::size_t n = std::min(len(rng), input.size() - pos);
    f.feed(input.substr(pos, n));
    pos += n;
    for (auto& e : drain(f)) {
      out.push_back(std::move(e));
    }
  }
  return out;
}

std::string register_msg() {
  return crlf(
      "REGISTER sip:example.com SIP/2.0\n"
      "v: SIP/2.0/TCP 192.0.2.4;branch=z9hG4bKnashds7\n"
      "f: <sip:bob@example.com>;tag=1\n"
      "t: <sip:bob@example.com>\n"
      "i: reg1\n"
      "CSeq: 1 REGISTER\n"
      "l: 0\n"
      "\n");
}

std::string with_headers(std::string_view extra, std::string_view body = "") {
  std::string s =
      "OPTIONS sip:bob@example.com SIP/2.0\n"
      "Via: SIP/2.0/TCP 192.0.2.1;branch=z9hG4bK1\n";
  s.append(extra);
  return crlf(s + "\n") + std::string(body);
}

}  // namespace

TEST_CASE("framer: messages, keep-alives and chunking give identical events", "[unit]") {
  const std::string invite = typical_invite();
  const std::string reg = register_msg();
  // Keep-alives between messages (RFC 5626 §4.4.1): a CRLFCRLF ping, then a lone CRLF pong.
  const std::string stream = "\r\n\r\n" + invite + reg + "\r\n" + invite + "\r\n\r\n" + reg;
  const std::vector<std::string> expected = {"ping",         "msg:" + invite, "msg:" + reg,
                                             "msg:" + invite, "ping",         "msg:" + reg};

  CHECK(feed_whole(stream) == expected);
  CHECK(feed_bytewise(stream) == expected);
  for (std::uint32_t seed = 1; seed <= 50; ++seed) {
    INFO("seed " << seed);
    CHECK(feed_random(stream, seed) == expected);
  }
}

TEST_CASE("framer: framed messages parse with Framing::kStream", "[unit]") {
  StreamFramer f;
  f.feed(typical_invite() + register_msg());
  auto ev = f.next();
  REQUIRE(ev);
  auto* fm = std::get_if<FramedMessage>(&*ev);
  REQUIRE(fm != nullptr);
  auto m = SipMessage::parse(std::move(fm->bytes), testing::stream_options());
  REQUIRE(m.ok());
  CHECK(m->method() == Method::kInvite);
  CHECK(m->body() == "v=0\r\n");
  CHECK(f.buffered() == register_msg().size());
}

TEST_CASE("framer: waits for the body and reports buffered bytes", "[unit]") {
  const std::string invite = typical_invite();
  StreamFramer f;
  f.feed(std::string_view(invite).substr(0, invite.size() - 2));
  CHECK_FALSE(f.next().has_value());
  CHECK(f.buffered() == invite.size() - 2);
  f.feed(std::string_view(invite).substr(invite.size() - 2));
  auto ev = f.next();
  REQUIRE(ev);
  CHECK(std::get<FramedMessage>(*ev).bytes == invite);
  CHECK(f.buffered() == 0);
  CHECK_FALSE(f.next().has_value());
}

TEST_CASE("framer: lone CRLF waits for more input before deciding", "[unit]") {
  StreamFramer f;
  f.feed("\r\n");
  CHECK_FALSE(f.next().has_value());
  f.feed("\r");
  CHECK_FALSE(f.next().has_value());
  f.feed("\n");
  auto ev = f.next();
  REQUIRE(ev);
  CHECK(std::holds_alternative<KeepAlivePing>(*ev));
  CHECK(f.buffered() == 0);
}

TEST_CASE("framer: folded and compact Content-Length", "[unit]") {
  const std::string folded = with_headers("Content-Length:\n  3\n", "abc");
  CHECK(feed_bytewise(folded) == std::vector<std::string>{"msg:" + folded});
  const std::string compact = with_headers("L :4\n", "abcd");
  CHECK(feed_whole(compact) == std::vector<std::string>{"msg:" + compact});
}

TEST_CASE("framer: every framing error", "[unit]") {
  struct Case {
    const char* name;
    std::string input;
    std::string expected;
    FramerLimits limits;
  };
  FramerLimits small_headers;
  small_headers.max_header_bytes = 64;
  FramerLimits small_body;
  small_body.max_body_bytes = 4;
  FramerLimits few_headers;
  few_headers.max_headers = 2;

  const std::vector<Case> cases = {
      {"missing Content-Length", with_headers("Subject: x\n"), "error:400:answer", {}},
      {"negative Content-Length (ncl)", with_headers("Content-Length: -999\n"), "error:400:answer", {}},
      {"garbage Content-Length", with_headers("l: 12abc\n"), "error:400:answer", {}},
      {"duplicate Content-Length (mcl01)", with_headers("Content-Length: 13\nl: 5\n"), "error:400:answer", {}},
      {"Content-Length overflow", with_headers("Content-Length: 99999999999\n"), "error:513:answer", {}},
      {"body over limit", with_headers("Content-Length: 5\n", "hello"), "error:513:answer", small_body},
      {"header section over limit", with_headers("Content-Length: 0\nSubject: xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n"),
       "error:513:answer", small_headers},
      {"unterminated header section over limit", std::string("OPTIONS sip:a@b SIP/2.0\r\n") + std::string(100, 'x'),
       "error:513:answer", small_headers},
      {"too many header fields", with_headers("Content-Length: 0\nSubject: x\n"), "error:513:answer", few_headers},
      {"bare LF in headers", "OPTIONS sip:a@b SIP/2.0\r\nl: 0\n\r\n", "error:400:answer", {}},
      {"bare LF starting a message", "\nOPTIONS sip:a@b SIP/2.0\r\n", "error:400:answer", {}},
      {"bare CR between messages", "\r\rOPTIONS", "error:400:answer", {}},
      {"response without Content-Length is a drop", crlf("SIP/2.0 200 OK\nVia: SIP/2.0/TCP h\n\n"),
       "error:400:drop", {}},
  };
  for (const Case& c : cases) {
    INFO(c.name);
    CHECK(feed_whole(c.input, c.limits) == std::vector<std::string>{c.expected});
    CHECK(feed_bytewise(c.input, c.limits) == std::vector<std::string>{c.expected});
    CHECK(feed_random(c.input, 7, c.limits) == std::vector<std::string>{c.expected});
  }
}

TEST_CASE("framer: after an error all input is ignored", "[unit]") {
  StreamFramer f;
  f.feed(with_headers("Subject: no length\n") + typical_invite());
  auto ev = f.next();
  REQUIRE(ev);
  REQUIRE(std::holds_alternative<FramingError>(*ev));
  CHECK(std::get<FramingError>(*ev).error.status == 400);
  CHECK(f.failed());
  CHECK_FALSE(f.next().has_value());
  f.feed(typical_invite());
  CHECK_FALSE(f.next().has_value());
  CHECK(f.buffered() == 0);
}

TEST_CASE("framer: a long run of messages keeps the buffer compact", "[unit]") {
  StreamFramer f;
  const std::string invite = typical_invite();
  std::size_t framed = 0;
  for (int i = 0; i < 2000; ++i) {
    f.feed(invite);
    f.feed("\r\n\r\n");
    for (const auto& e : drain(f)) {
      framed += e.rfind("msg:", 0) == 0 ? 1 : 0;
    }
    REQUIRE(f.buffered() == 0);
  }
  CHECK(framed == 2000);
}

}  // namespace portcullis::sip
