#include "controller/sip/message/sip_message.h"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "tests/unit/controller/sip/message/test_messages.h"

namespace portcullis::sip {
namespace {

using testing::crlf;
using testing::typical_invite;

// Building blocks of a minimal valid OPTIONS (RFC 3261 §8.1.1).
constexpr std::string_view kStart = "OPTIONS sip:bob@example.com SIP/2.0\n";
constexpr std::string_view kVia = "Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\n";
constexpr std::string_view kFrom = "From: <sip:alice@example.com>;tag=1\n";
constexpr std::string_view kTo = "To: <sip:bob@example.com>\n";
constexpr std::string_view kCallId = "Call-ID: abc@192.0.2.1\n";
constexpr std::string_view kCSeq = "CSeq: 1 OPTIONS\n";
constexpr std::string_view kMaxForwards = "Max-Forwards: 70\n";
constexpr std::string_view kCl0 = "Content-Length: 0\n";

std::string options_with(std::string_view start, std::string_view extra_headers,
                         std::string_view tail = "\n") {
  std::string s(start);
  s.append(kVia).append(kFrom).append(kTo).append(kCallId).append(kCSeq).append(kMaxForwards);
  s.append(extra_headers);
  s.append(tail);
  return crlf(s);
}

std::string response_with(std::string_view status_line, std::string_view cseq, std::string_view extra) {
  std::string s(status_line);
  s.append(kVia).append(kFrom).append("To: <sip:bob@example.com>;tag=2\n").append(kCallId);
  s.append(cseq).append(extra).append("\n");
  return crlf(s);
}

}  // namespace

TEST_CASE("parse: typical INVITE is indexed and eagerly validated", "[unit]") {
  const std::string bytes = typical_invite();
  auto parsed = SipMessage::parse(bytes);
  REQUIRE(parsed.ok());
  const SipMessage& m = *parsed;

  CHECK(m.is_request());
  CHECK(m.method() == Method::kInvite);
  CHECK(m.method_text() == "INVITE");
  CHECK(m.request_uri_text() == "sip:bob@biloxi.example.com");
  CHECK(m.request_uri().scheme == UriScheme::kSip);
  CHECK(m.request_uri().host == "biloxi.example.com");
  CHECK(m.start_line() == "INVITE sip:bob@biloxi.example.com SIP/2.0");

  REQUIRE(m.headers().size() == 9);
  CHECK(m.headers()[0].id == HeaderId::kVia);
  CHECK(m.headers()[0].name == "Via");
  CHECK(m.headers()[0].value == "SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds");
  CHECK(m.headers()[0].raw == "Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds");
  CHECK(m.headers()[8].id == HeaderId::kContentLength);

  REQUIRE(m.vias().size() == 1);
  CHECK(m.vias()[0].transport == "UDP");
  CHECK(m.vias()[0].host == "pc33.atlanta.example.com");
  CHECK(m.vias()[0].branch == "z9hG4bK776asdhds");
  CHECK(m.from().tag() == "1928301774");
  CHECK(m.from().uri.user == "alice");
  CHECK(m.to().tag().empty());
  CHECK(m.call_id() == "a84b4c76e66710@pc33.atlanta.example.com");
  CHECK(m.cseq().number == 314159);
  CHECK(m.cseq().method == "INVITE");
  CHECK(m.max_forwards() == std::optional<std::uint8_t>(70));
  CHECK(m.content_length() == std::optional<std::uint32_t>(5));
  CHECK(m.body() == "v=0\r\n");
  CHECK(m.wire() == bytes);
  CHECK(m.message_bytes() == bytes);

  CHECK(m.count(HeaderId::kVia) == 1);
  CHECK(m.count(HeaderId::kRoute) == 0);
  CHECK(m.find(HeaderId::kRoute) == nullptr);
  CHECK(m.find("call-id") == &m.headers()[4]);
  CHECK(m.find("i") == &m.headers()[4]);
  CHECK(m.find("X-Unknown") == nullptr);

  const auto& ct = m.content_type();
  REQUIRE(ct.ok());
  REQUIRE(ct->has_value());
  CHECK((*ct)->is("application", "sdp"));
  const auto& contact = m.contact();
  REQUIRE(contact.ok());
  REQUIRE(contact->contacts.size() == 1);
  CHECK(contact->contacts[0].uri.host == "pc33.atlanta.example.com");
  CHECK(m.validate_all().ok());
}

TEST_CASE("parse: REGISTER in compact form with lists across fields", "[unit]") {
  const std::string bytes = crlf(
      "REGISTER sip:registrar.example.com SIP/2.0\n"
      "v: SIP/2.0/TCP 192.0.2.4:5070;branch=z9hG4bKnashds7\n"
      "v: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKa, SIP/2.0/UDP 10.0.0.2;branch=z9hG4bKb\n"
      "f: Bob <sip:bob@example.com>;tag=456248\n"
      "t: Bob <sip:bob@example.com>\n"
      "i: 843817637684230@998sdasdh09\n"
      "CSeq: 1826 REGISTER\n"
      "m: <sip:bob@192.0.2.4>;expires=60, <sip:bob@192.0.2.5>\n"
      "m: <sip:bob@192.0.2.6>\n"
      "k: path\n"
      "Supported: outbound, gruu\n"
      "Expires: 7200\n"
      "X-Custom: Foo\n"
      "l: 0\n"
      "\n");
  auto m = SipMessage::parse(bytes);
  REQUIRE(m.ok());
  CHECK(m->method() == Method::kRegister);
  REQUIRE(m->vias().size() == 3);
  CHECK(m->vias()[0].port == std::optional<std::uint16_t>(5070));
  CHECK(m->vias()[2].host == "10.0.0.2");
  CHECK(m->call_id() == "843817637684230@998sdasdh09");
  CHECK(m->content_length() == std::optional<std::uint32_t>(0));
  CHECK_FALSE(m->max_forwards().has_value());
  CHECK(m->find(HeaderId::kContentLength)->name == "l");
  CHECK(m->find("Content-Length")->value == "0");
  CHECK(m->find("x-custom")->value == "Foo");
  CHECK(m->count(HeaderId::kOther) == 1);

  const auto& contact = m->contact();
  REQUIRE(contact.ok());
  REQUIRE(contact->contacts.size() == 3);
  CHECK(contact->contacts[0].uri.host == "192.0.2.4");
  CHECK(contact->contacts[2].uri.host == "192.0.2.6");
  CHECK(contact_expires(contact->contacts[0]) == std::optional<std::uint32_t>(60));

  const auto& supported = m->supported();
  REQUIRE(supported.ok());
  CHECK(*supported == std::vector<std::string_view>{"path", "outbound", "gruu"});
  CHECK(m->expires().ok());
  CHECK(*m->expires() == std::optional<std::uint32_t>(7200));
  CHECK(*m->min_expires() == std::optional<std::uint32_t>{});
  REQUIRE(m->require().ok());
  CHECK(m->require()->empty());
  CHECK(m->validate_all().ok());
}

TEST_CASE("parse: responses take their method from CSeq", "[unit]") {
  SECTION("200 OK") {
    auto m = SipMessage::parse(response_with("SIP/2.0 200 OK\n", "CSeq: 7 INVITE\n", "l: 0\n"));
    REQUIRE(m.ok());
    CHECK(m->is_response());
    CHECK(m->status_code() == 200);
    CHECK(m->reason_phrase() == "OK");
    CHECK(m->method() == Method::kInvite);
    CHECK(m->method_text() == "INVITE");
    CHECK(m->to().tag() == "2");
  }
  SECTION("empty reason phrase (RFC 4475 §3.1.1.13)") {
    auto m = SipMessage::parse(response_with("SIP/2.0 183 \n", "CSeq: 7 INVITE\n", "l: 0\n"));
    REQUIRE(m.ok());
    CHECK(m->status_code() == 183);
    CHECK(m->reason_phrase().empty());
  }
  SECTION("UTF-8 reason phrase") {
    auto m = SipMessage::parse(
        response_with("SIP/2.0 404 Pas trouv\xC3\xA9\n", "CSeq: 7 BYE\n", "l: 0\n"));
    REQUIRE(m.ok());
    CHECK(m->reason_phrase() == "Pas trouv\xC3\xA9");
    CHECK(m->method() == Method::kBye);
  }
}

TEST_CASE("parse: line folding is unfolded into owned storage", "[unit]") {
  const std::string bytes = options_with(kStart,
                                         "Subject: lunch\n"
                                         " at noon\n"
                                         "X-Short:\n"
                                         "\tab\n"
                                         "Supported: timer,\n"
                                         "  100rel\n",
                                         "\n");
  auto parsed = SipMessage::parse(bytes);
  REQUIRE(parsed.ok());
  // Move the message around: views into both the buffer and the unfolded copies must survive.
  std::vector<SipMessage> holder;
  holder.push_back(std::move(parsed).value());
  for (int i = 0; i < 8; ++i) {
    holder.push_back(SipMessage::parse(options_with(kStart, "")).value());
  }
  const SipMessage& m = holder.front();
  const HeaderField* subject = m.find(HeaderId::kSubject);
  REQUIRE(subject != nullptr);
  CHECK(subject->value == "lunch at noon");
  CHECK(subject->raw == "Subject: lunch\r\n at noon");
  const HeaderField* x = m.find("x-short");
  REQUIRE(x != nullptr);
  CHECK(x->value == "ab");  // short enough for SSO: still valid after the moves
  CHECK(x->raw == "X-Short:\r\n\tab");
  REQUIRE(m.supported().ok());
  CHECK(*m.supported() == std::vector<std::string_view>{"timer", "100rel"});
}

TEST_CASE("parse: leading CRLFs are skipped, trailing datagram octets ignored", "[unit]") {
  const std::string core = options_with(kStart, "Content-Length: 3\n", "\nabc");
  const std::string bytes = "\r\n\r\n" + core + "GARBAGE AFTER THE BODY";
  auto m = SipMessage::parse(bytes);
  REQUIRE(m.ok());
  CHECK(m->start_line() == "OPTIONS sip:bob@example.com SIP/2.0");
  CHECK(m->body() == "abc");
  CHECK(m->message_bytes() == core);
  CHECK(m->wire() == bytes);
}

TEST_CASE("parse: datagram without Content-Length takes the rest as body", "[unit]") {
  auto m = SipMessage::parse(options_with(kStart, "", "\nhello\n"));
  REQUIRE(m.ok());
  CHECK_FALSE(m->content_length().has_value());
  CHECK(m->body() == "hello\r\n");
}

TEST_CASE("parse: stream framing requires Content-Length", "[unit]") {
  auto no_cl = SipMessage::parse(options_with(kStart, ""), testing::stream_options());
  REQUIRE_FALSE(no_cl.ok());
  CHECK(no_cl.error().status == 400);
  auto with_cl = SipMessage::parse(options_with(kStart, kCl0), testing::stream_options());
  REQUIRE(with_cl.ok());
  CHECK(with_cl->body().empty());
}

TEST_CASE("parse: unknown methods and non-SIP Request-URIs parse", "[unit]") {
  auto m = SipMessage::parse(crlf(
      "FOO tel:+1-201-555-0123 SIP/2.0\n"
      "Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\n"
      "From: <sip:alice@example.com>;tag=1\n"
      "To: <sip:bob@example.com>\n"
      "Call-ID: x\n"
      "CSeq: 1 FOO\n"
      "l: 0\n"
      "\n"));
  REQUIRE(m.ok());
  CHECK(m->method() == Method::kUnknown);
  CHECK(m->method_text() == "FOO");
  CHECK(m->request_uri().scheme == UriScheme::kTel);
}

TEST_CASE("parse: lazy results are cached, errors included", "[unit]") {
  auto m = SipMessage::parse(options_with(kStart, "Contact: <sip:a@b\nExpires: soon\n" , "\n"));
  REQUIRE(m.ok());  // neither is in the eager set
  const auto& c1 = m->contact();
  const auto& c2 = m->contact();
  CHECK(&c1 == &c2);
  REQUIRE_FALSE(c1.ok());
  CHECK(c1.error().status == 400);
  CHECK_FALSE(c1.error().drop);
  REQUIRE_FALSE(m->expires().ok());
  const auto v = m->validate_all();
  REQUIRE_FALSE(v.ok());
  CHECK(v.error() == c1.error());  // Contact is checked first
}

TEST_CASE("validate_all: Date, Contact, Route and token lists", "[unit]") {
  SECTION("bad Date") {
    auto m = SipMessage::parse(options_with(kStart, "Date: Fri, 01 Jan 2010 16:00:00 EST\n"));
    REQUIRE(m.ok());
    auto v = m->validate_all();
    REQUIRE_FALSE(v.ok());
    CHECK(v.error().status == 400);
    CHECK(m->date().error() == v.error());
  }
  SECTION("good Date") {
    auto m = SipMessage::parse(options_with(kStart, "Date: Sat, 13 Nov 2010 23:29:00 GMT\n"));
    REQUIRE(m.ok());
    CHECK(m->validate_all().ok());
    REQUIRE(m->date()->has_value());
    CHECK((*m->date())->unix_seconds == 1289690940);
  }
  SECTION("Route across two fields, in order") {
    auto m = SipMessage::parse(options_with(
        kStart, "Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>\nRoute: <sip:p3.example.com;lr>\n"));
    REQUIRE(m.ok());
    REQUIRE(m->route().ok());
    REQUIRE(m->route()->size() == 3);
    CHECK((*m->route())[0].uri.host == "p1.example.com");
    CHECK((*m->route())[2].uri.host == "p3.example.com");
    CHECK((*m->route())[2].uri.has_lr());
  }
  SECTION("Contact * alongside another contact") {
    auto m = SipMessage::parse(options_with(kStart, "Contact: *\nContact: <sip:a@example.com>\n"));
    REQUIRE(m.ok());
    REQUIRE_FALSE(m->contact().ok());
    CHECK(m->contact().error().status == 400);
  }
  SECTION("errors in responses are drops") {
    auto m = SipMessage::parse(response_with("SIP/2.0 200 OK\n", "CSeq: 1 INVITE\n",
                                             "Contact: <sip:a@b\nl: 0\n"));
    REQUIRE(m.ok());
    auto v = m->validate_all();
    REQUIRE_FALSE(v.ok());
    CHECK(v.error().drop);
  }
}

struct Rejection {
  const char* name;
  std::string text;
  std::uint16_t status;
  bool drop;
};

TEST_CASE("parse: every rejection code", "[unit]") {
  const std::string base_headers = std::string(kVia) + std::string(kFrom) + std::string(kTo) +
                                   std::string(kCallId) + std::string(kCSeq);
  const std::vector<Rejection> cases = {
      {"multiple SP in Request-Line", options_with("OPTIONS  sip:bob@example.com SIP/2.0\n", kCl0), 400, false},
      {"SP at end of Request-Line", options_with("OPTIONS sip:bob@example.com SIP/2.0 \n", kCl0), 400, false},
      {"<> around Request-URI", options_with("OPTIONS <sip:bob@example.com> SIP/2.0\n", kCl0), 400, false},
      {"LWS in Request-URI", options_with("OPTIONS sip:bob@example.com; lr SIP/2.0\n", kCl0), 400, false},
      {"headers in Request-URI", options_with("OPTIONS sip:bob@example.com?Route=%3Csip:x%3E SIP/2.0\n", kCl0), 400, false},
      {"no SIP-Version", options_with("OPTIONS sip:bob@example.com\n", kCl0), 400, false},
      {"bad method token", options_with("OPT(ONS sip:bob@example.com SIP/2.0\n", kCl0), 400, false},
      {"SIP/7.0", options_with("OPTIONS sip:bob@example.com SIP/7.0\n", kCl0), 505, false},
      {"HTTP version", options_with("OPTIONS sip:bob@example.com HTTP/1.1\n", kCl0), 400, false},
      {"header line without colon", options_with(kStart, "Foobar roobar\n"), 400, false},
      {"empty header name", options_with(kStart, ": value\n"), 400, false},
      {"space inside header name", options_with(kStart, "X Y: value\n"), 400, false},
      {"bare LF in headers", crlf(std::string(kStart) + base_headers) + "Subject: x\n\r\n", 400, false},
      {"bare CR in headers", crlf(std::string(kStart) + base_headers) + "Subject: x\ry\r\n\r\n", 400, false},
      {"missing empty line", crlf(std::string(kStart) + base_headers + "l: 0\n"), 400, false},
      {"continuation before any header", crlf(std::string(kStart) + " folded\n" + base_headers + "\n"), 400, false},
      {"missing Via", crlf(std::string(kStart) + std::string(kFrom) + std::string(kTo) + std::string(kCallId) + std::string(kCSeq) + "\n"), 400, false},
      {"missing From", crlf(std::string(kStart) + std::string(kVia) + std::string(kTo) + std::string(kCallId) + std::string(kCSeq) + "\n"), 400, false},
      {"missing To", crlf(std::string(kStart) + std::string(kVia) + std::string(kFrom) + std::string(kCallId) + std::string(kCSeq) + "\n"), 400, false},
      {"missing Call-ID", crlf(std::string(kStart) + std::string(kVia) + std::string(kFrom) + std::string(kTo) + std::string(kCSeq) + "\n"), 400, false},
      {"missing CSeq", crlf(std::string(kStart) + std::string(kVia) + std::string(kFrom) + std::string(kTo) + std::string(kCallId) + "\n"), 400, false},
      {"malformed Via", options_with(kStart, "Via: SIP/2.0/UDP 192.0.2.15;;,;,,\n"), 400, false},
      {"malformed From", crlf(std::string(kStart) + std::string(kVia) + "From: \"unterminated <sip:a@b>\n" + std::string(kTo) + std::string(kCallId) + std::string(kCSeq) + "\n"), 400, false},
      {"CSeq method mismatch", crlf(std::string(kStart) + std::string(kVia) + std::string(kFrom) + std::string(kTo) + std::string(kCallId) + "CSeq: 1 INVITE\n\n"), 400, false},
      {"CSeq above 2**32-1", crlf(std::string(kStart) + std::string(kVia) + std::string(kFrom) + std::string(kTo) + std::string(kCallId) + "CSeq: 4294967296 OPTIONS\n\n"), 400, false},
      {"duplicate To", options_with(kStart, "To: <sip:carol@example.com>\n"), 400, false},
      {"duplicate Call-ID (compact)", options_with(kStart, "i: other@192.0.2.2\n"), 400, false},
      {"duplicate Max-Forwards", options_with(kStart, "Max-Forwards: 5\n"), 400, false},
      {"duplicate Content-Length", options_with(kStart, "Content-Length: 0\nl: 0\n"), 400, false},
      {"duplicate Subject", options_with(kStart, "Subject: a\nSubject: b\n"), 400, false},
      {"Max-Forwards 256", crlf(std::string(kStart) + base_headers + "Max-Forwards: 256\n\n"), 400, false},
      {"negative Content-Length", options_with(kStart, "Content-Length: -1\n"), 400, false},
      {"non-numeric Content-Length", options_with(kStart, "Content-Length: ten\n"), 400, false},
      {"Content-Length beyond datagram", options_with(kStart, "Content-Length: 10\n", "\nabc"), 400, false},
      {"Content-Length 2**32", options_with(kStart, "Content-Length: 4294967296\n"), 513, false},
      {"empty message", std::string(), 400, false},
      {"only CRLFs", std::string("\r\n\r\n"), 400, false},
      // Responses are dropped, never answered (RFC 3261 §18.1.2).
      {"status code > 699", response_with("SIP/2.0 4294967301 better not break\n", "CSeq: 1 INVITE\n", ""), 400, true},
      {"status code 700", response_with("SIP/2.0 700 Nope\n", "CSeq: 1 INVITE\n", ""), 400, true},
      {"status code 099", response_with("SIP/2.0 099 Nope\n", "CSeq: 1 INVITE\n", ""), 400, true},
      {"no SP after status code", response_with("SIP/2.0 200\n", "CSeq: 1 INVITE\n", ""), 400, true},
      {"response version SIP/3.0", response_with("SIP/3.0 200 OK\n", "CSeq: 1 INVITE\n", ""), 505, true},
      {"control char in reason", response_with("SIP/2.0 200 O\x01K\n", "CSeq: 1 INVITE\n", ""), 400, true},
      {"response CSeq overlarge", response_with("SIP/2.0 503 Busy\n", "CSeq: 9292394834772304023312 OPTIONS\n", ""), 400, true},
      {"response without Via", crlf("SIP/2.0 200 OK\nFrom: <sip:a@b>;tag=1\nTo: <sip:c@d>\nCall-ID: x\nCSeq: 1 BYE\n\n"), 400, true},
      {"response duplicate CSeq", response_with("SIP/2.0 200 OK\n", "CSeq: 1 INVITE\nCSeq: 2 INVITE\n", ""), 400, true},
  };
  for (const Rejection& c : cases) {
    INFO(c.name);
    auto r = SipMessage::parse(c.text);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().status == c.status);
    CHECK(r.error().drop == c.drop);
    CHECK_FALSE(r.error().reason.empty());
  }
}

TEST_CASE("parse: limits answer 513", "[unit]") {
  const std::string ok = options_with(kStart, "Content-Length: 3\n", "\nabc");
  REQUIRE(SipMessage::parse(ok).ok());

  auto expect_513 = [&](ParseLimits limits, std::string text) {
    auto r = SipMessage::parse(std::move(text), {.framing = Framing::kDatagram, .limits = limits});
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().status == 513);
    CHECK_FALSE(r.error().drop);
  };
  SECTION("message bytes") {
    ParseLimits l;
    l.max_message_bytes = static_cast<std::uint32_t>(ok.size() - 1);
    expect_513(l, ok);
    l.max_message_bytes = static_cast<std::uint32_t>(ok.size());
    CHECK(SipMessage::parse(ok, {.framing = Framing::kDatagram, .limits = l}).ok());
  }
  SECTION("header bytes") {
    ParseLimits l;
    l.max_header_bytes = static_cast<std::uint32_t>(ok.size() - 4);  // header section = size - 3
    expect_513(l, ok);
    l.max_header_bytes = static_cast<std::uint32_t>(ok.size() - 3);
    CHECK(SipMessage::parse(ok, {.framing = Framing::kDatagram, .limits = l}).ok());
  }
  SECTION("header count") {
    ParseLimits l;
    l.max_headers = 6;  // the message has 7
    expect_513(l, ok);
    l.max_headers = 7;
    CHECK(SipMessage::parse(ok, {.framing = Framing::kDatagram, .limits = l}).ok());
  }
  SECTION("body bytes") {
    ParseLimits l;
    l.max_body_bytes = 2;
    expect_513(l, ok);
    expect_513(l, options_with(kStart, "", "\nabc"));  // no Content-Length
  }
  SECTION("Via count") {
    ParseLimits l;
    l.max_via = 2;
    expect_513(l, options_with(kStart, "Via: SIP/2.0/UDP a.example.com, SIP/2.0/UDP b.example.com\n"));
  }
}

TEST_CASE("method names round-trip", "[unit]") {
  for (const Method m : {Method::kInvite, Method::kAck, Method::kBye, Method::kCancel,
                         Method::kRegister, Method::kOptions, Method::kInfo, Method::kPrack,
                         Method::kUpdate, Method::kSubscribe, Method::kNotify, Method::kRefer,
                         Method::kMessage, Method::kPublish}) {
    CHECK(method_from_string(method_name(m)) == m);
  }
  CHECK(method_from_string("invite") == Method::kUnknown);  // RFC 3261 §7.1: case-sensitive
  CHECK(method_name(Method::kUnknown).empty());
}

}  // namespace portcullis::sip
