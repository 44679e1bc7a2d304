#include "controller/sip/message/message_editor.h"

#include <catch2/catch.hpp>

#include <string>

#include "tests/unit/controller/sip/message/test_messages.h"

namespace portcullis::sip {
namespace {

using testing::crlf;

SipMessage parse_ok(const std::string& text) {
  auto r = SipMessage::parse(text);
  if (!r) {
    FAIL("parse failed: " << r.error().status << " " << r.error().reason);
  }
  return std::move(r).value();
}

std::size_t index_of(const SipMessage& m, HeaderId id) {
  for (std::size_t i = 0; i < m.headers().size(); ++i) {
    if (m.headers()[i].id == id) {
      return i;
    }
  }
  FAIL("header not found");
  return 0;
}

const std::string kProxyInput = crlf(
    "INVITE sip:bob@biloxi.example.com SIP/2.0\n"
    "Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds\n"
    "Max-Forwards:   70  \n"
    "Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>\n"
    "To: Bob <sip:bob@biloxi.example.com>\n"
    "from:   Alice <sip:alice@atlanta.example.com>\n"
    " ;tag=1928301774\n"
    "Call-ID: a84b4c76e66710\n"
    "CSeq: 314159 INVITE\n"
    "Contact: <sip:alice@10.0.0.1:5062;transport=tcp>\n"
    "Content-Length: 5\n"
    "\n"
    "v=0\n");

}  // namespace

TEST_CASE("editor: no edits reproduces the message bytes", "[unit][golden]") {
  const SipMessage m = parse_ok(kProxyInput);
  MessageEditor ed(m);
  CHECK(ed.serialize() == kProxyInput);
}

TEST_CASE("editor: leading CRLFs and trailing datagram octets are not forwarded", "[unit][golden]") {
  const SipMessage m = parse_ok("\r\n" + kProxyInput + "NOISE");
  MessageEditor ed(m);
  CHECK(ed.serialize() == kProxyInput);
}

TEST_CASE("editor: proxy forwarding edits (RFC 3261 §16.6)", "[unit][golden]") {
  const SipMessage m = parse_ok(kProxyInput);
  MessageEditor ed(m);
  ed.prepend_header("Via", "SIP/2.0/UDP 203.0.113.1:5060;branch=z9hG4bKproxy1");
  ed.replace_value(index_of(m, HeaderId::kMaxForwards), "69");
  REQUIRE(ed.pop_first_list_element(HeaderId::kRoute));
  ed.insert_before(HeaderId::kCallId, "Record-Route", "<sip:203.0.113.1;lr>");
  CHECK(ed.serialize() == crlf(
      "INVITE sip:bob@biloxi.example.com SIP/2.0\n"
      "Via: SIP/2.0/UDP 203.0.113.1:5060;branch=z9hG4bKproxy1\n"
      "Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds\n"
      "Max-Forwards:   69  \n"
      "Route: <sip:p2.example.com;lr>\n"
      "To: Bob <sip:bob@biloxi.example.com>\n"
      "from:   Alice <sip:alice@atlanta.example.com>\n"
      " ;tag=1928301774\n"
      "Record-Route: <sip:203.0.113.1;lr>\n"
      "Call-ID: a84b4c76e66710\n"
      "CSeq: 314159 INVITE\n"
      "Contact: <sip:alice@10.0.0.1:5062;transport=tcp>\n"
      "Content-Length: 5\n"
      "\n"
      "v=0\n"));

  // A second pop empties the Route field, which then disappears; a third finds nothing.
  REQUIRE(ed.pop_first_list_element(HeaderId::kRoute));
  CHECK_FALSE(ed.pop_first_list_element(HeaderId::kRoute));
  CHECK(ed.serialize().find("Route: <sip:p") == std::string::npos);
}

TEST_CASE("editor: popping Via elements across fields", "[unit][golden]") {
  const SipMessage m = parse_ok(crlf(
      "SIP/2.0 200 OK\n"
      "Via: SIP/2.0/UDP proxy.example.com;branch=z9hG4bK1, SIP/2.0/UDP a.example.com;branch=z9hG4bK2\n"
      "v: SIP/2.0/TCP b.example.com;branch=z9hG4bK3\n"
      "From: <sip:a@example.com>;tag=1\n"
      "To: <sip:b@example.com>;tag=2\n"
      "Call-ID: c\n"
      "CSeq: 1 INVITE\n"
      "Content-Length: 0\n"
      "\n"));
  MessageEditor ed(m);
  REQUIRE(ed.pop_first_list_element(HeaderId::kVia));
  CHECK(ed.serialize() == crlf(
      "SIP/2.0 200 OK\n"
      "Via: SIP/2.0/UDP a.example.com;branch=z9hG4bK2\n"
      "v: SIP/2.0/TCP b.example.com;branch=z9hG4bK3\n"
      "From: <sip:a@example.com>;tag=1\n"
      "To: <sip:b@example.com>;tag=2\n"
      "Call-ID: c\n"
      "CSeq: 1 INVITE\n"
      "Content-Length: 0\n"
      "\n"));
  REQUIRE(ed.pop_first_list_element(HeaderId::kVia));
  CHECK(ed.serialize() == crlf(
      "SIP/2.0 200 OK\n"
      "v: SIP/2.0/TCP b.example.com;branch=z9hG4bK3\n"
      "From: <sip:a@example.com>;tag=1\n"
      "To: <sip:b@example.com>;tag=2\n"
      "Call-ID: c\n"
      "CSeq: 1 INVITE\n"
      "Content-Length: 0\n"
      "\n"));
  REQUIRE(ed.pop_first_list_element(HeaderId::kVia));
  CHECK_FALSE(ed.pop_first_list_element(HeaderId::kVia));
}

TEST_CASE("editor: set_body rewrites Content-Length in place", "[unit][golden]") {
  SECTION("long form, spacing kept") {
    const SipMessage m = parse_ok(crlf(
        "MESSAGE sip:bob@example.com SIP/2.0\n"
        "Via: SIP/2.0/TCP 192.0.2.1;branch=z9hG4bK1\n"
        "From: <sip:a@example.com>;tag=1\n"
        "To: <sip:bob@example.com>\n"
        "Call-ID: c\n"
        "CSeq: 2 MESSAGE\n"
        "Content-Length :  5\n"
        "Content-Type: text/plain\n"
        "\n"
        "hello"));
    MessageEditor ed(m);
    ed.set_body("goodbye, world");
    CHECK(ed.serialize() == crlf(
        "MESSAGE sip:bob@example.com SIP/2.0\n"
        "Via: SIP/2.0/TCP 192.0.2.1;branch=z9hG4bK1\n"
        "From: <sip:a@example.com>;tag=1\n"
        "To: <sip:bob@example.com>\n"
        "Call-ID: c\n"
        "CSeq: 2 MESSAGE\n"
        "Content-Length :  14\n"
        "Content-Type: text/plain\n"
        "\n"
        "goodbye, world"));
  }
  SECTION("compact form") {
    const SipMessage m = parse_ok(crlf(
        "MESSAGE sip:bob@example.com SIP/2.0\n"
        "v: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\n"
        "f: <sip:a@example.com>;tag=1\n"
        "t: <sip:bob@example.com>\n"
        "i: c\n"
        "CSeq: 2 MESSAGE\n"
        "l: 0\n"
        "\n"));
    MessageEditor ed(m);
    ed.set_body("hi");
    CHECK(ed.serialize() == crlf(
        "MESSAGE sip:bob@example.com SIP/2.0\n"
        "v: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\n"
        "f: <sip:a@example.com>;tag=1\n"
        "t: <sip:bob@example.com>\n"
        "i: c\n"
        "CSeq: 2 MESSAGE\n"
        "l: 2\n"
        "\n"
        "hi"));
  }
}

TEST_CASE("editor: Content-Length is added when the original had none", "[unit][golden]") {
  const std::string head = crlf(
      "INVITE sip:UserB@example.com SIP/2.0\n"
      "Via: SIP/2.0/UDP iftgw.example.com\n"
      "From: <sip:+13035551111@ift.client.example.net;user=phone>\n"
      "To: sip:+16505552222@ss1.example.net;user=phone\n"
      "Call-ID: inv2543.1717@ift.client.example.com\n"
      "CSeq: 56 INVITE\n");
  const SipMessage m = parse_ok(head + "\r\nv=0\r\n");
  SECTION("body unchanged") {
    MessageEditor ed(m);
    CHECK(ed.serialize() == head + "Content-Length: 5\r\n\r\nv=0\r\n");
  }
  SECTION("body replaced") {
    MessageEditor ed(m);
    ed.set_body("");
    CHECK(ed.serialize() == head + "Content-Length: 0\r\n\r\n");
  }
}

TEST_CASE("editor: start line edits", "[unit][golden]") {
  SECTION("Request-URI") {
    const SipMessage m = parse_ok(kProxyInput);
    MessageEditor ed(m);
    ed.set_request_uri("sip:bob@192.0.2.7:5060");
    ed.set_status(500, "ignored on a request");
    const std::string out = ed.serialize();
    CHECK(out.substr(0, out.find("\r\n")) == "INVITE sip:bob@192.0.2.7:5060 SIP/2.0");
    CHECK(out.substr(out.find("\r\n")) == kProxyInput.substr(kProxyInput.find("\r\n")));
  }
  SECTION("status") {
    const std::string rest = crlf(
        "Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\n"
        "From: <sip:a@example.com>;tag=1\n"
        "To: <sip:b@example.com>;tag=2\n"
        "Call-ID: c\n"
        "CSeq: 1 INVITE\n"
        "Content-Length: 0\n"
        "\n");
    const SipMessage m = parse_ok("SIP/2.0 486 Busy Here\r\n" + rest);
    MessageEditor ed(m);
    ed.set_status(480, "Temporarily Unavailable");
    CHECK(ed.serialize() == "SIP/2.0 480 Temporarily Unavailable\r\n" + rest);
  }
}

TEST_CASE("editor: rewrite_uri_host_port", "[unit][golden]") {
  SECTION("Contact host and port, rest of the field verbatim") {
    const SipMessage m = parse_ok(kProxyInput);
    REQUIRE(m.contact().ok());
    const std::size_t ci = index_of(m, HeaderId::kContact);
    MessageEditor ed(m);
    ed.rewrite_uri_host_port(ci, m.contact()->contacts[0].uri, "203.0.113.9", 40000);
    const std::string out = ed.serialize();
    CHECK(out.find("\r\nContact: <sip:alice@203.0.113.9:40000;transport=tcp>\r\n") != std::string::npos);
    CHECK(out.size() == kProxyInput.size() + 4);  // "10.0.0.1:5062" -> "203.0.113.9:40000"
  }
  SECTION("Request-URI, port added then removed") {
    const SipMessage m = parse_ok(kProxyInput);
    MessageEditor ed(m);
    ed.rewrite_uri_host_port(std::nullopt, m.request_uri(), "192.0.2.7", 5070);
    CHECK(ed.serialize().substr(0, 42) == "INVITE sip:bob@192.0.2.7:5070 SIP/2.0\r\nVia");
    ed.rewrite_uri_host_port(std::nullopt, m.request_uri(), "[2001:db8::1]", std::nullopt);
    CHECK(ed.serialize().substr(0, 40) == "INVITE sip:bob@[2001:db8::1] SIP/2.0\r\nVi");
  }
  SECTION("folded Contact is rebuilt from its unfolded value") {
    const SipMessage m = parse_ok(crlf(
        "REGISTER sip:example.com SIP/2.0\n"
        "Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1\n"
        "From: <sip:a@example.com>;tag=1\n"
        "To: <sip:a@example.com>\n"
        "Call-ID: c\n"
        "CSeq: 1 REGISTER\n"
        "Contact:\n"
        "  <sip:a@10.0.0.1:5060>;expires=60\n"
        "l: 0\n"
        "\n"));
    REQUIRE(m.contact().ok());
    MessageEditor ed(m);
    ed.rewrite_uri_host_port(index_of(m, HeaderId::kContact), m.contact()->contacts[0].uri,
                             "198.51.100.2", 61000);
    CHECK(ed.serialize() == crlf(
        "REGISTER sip:example.com SIP/2.0\n"
        "Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1\n"
        "From: <sip:a@example.com>;tag=1\n"
        "To: <sip:a@example.com>\n"
        "Call-ID: c\n"
        "CSeq: 1 REGISTER\n"
        "Contact: <sip:a@198.51.100.2:61000>;expires=60\n"
        "l: 0\n"
        "\n"));
  }
  SECTION("a Uri from another field is ignored") {
    const SipMessage m = parse_ok(kProxyInput);
    MessageEditor ed(m);
    ed.rewrite_uri_host_port(index_of(m, HeaderId::kTo), m.contact()->contacts[0].uri, "x", 1);
    CHECK(ed.serialize() == kProxyInput);
  }
}

TEST_CASE("editor: remove, replace, append", "[unit][golden]") {
  const SipMessage m = parse_ok(crlf(
      "OPTIONS sip:bob@example.com SIP/2.0\n"
      "Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\n"
      "Route: <sip:a.example.com;lr>\n"
      "Subject: a\n"
      " folded subject\n"
      "From: <sip:a@example.com>;tag=1\n"
      "Route: <sip:b.example.com;lr>\n"
      "To: <sip:bob@example.com>\n"
      "Call-ID: c\n"
      "CSeq: 1 OPTIONS\n"
      "X-Secret: 42\n"
      "Content-Length: 0\n"
      "\n"));
  MessageEditor ed(m);
  CHECK(ed.remove_all(HeaderId::kRoute) == 2);
  CHECK(ed.remove_all(HeaderId::kRoute) == 0);
  CHECK_FALSE(ed.remove_first(HeaderId::kRecordRoute));
  ed.replace_value(index_of(m, HeaderId::kSubject), "new subject");
  ed.remove(8);  // X-Secret
  ed.append_header("User-Agent", "portcullis");
  ed.insert_before(HeaderId::kRecordRoute, "X-End", "no Record-Route: goes last");
  CHECK(ed.serialize() == crlf(
      "OPTIONS sip:bob@example.com SIP/2.0\n"
      "Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\n"
      "Subject: new subject\n"
      "From: <sip:a@example.com>;tag=1\n"
      "To: <sip:bob@example.com>\n"
      "Call-ID: c\n"
      "CSeq: 1 OPTIONS\n"
      "Content-Length: 0\n"
      "User-Agent: portcullis\n"
      "X-End: no Record-Route: goes last\n"
      "\n"));
  // The editor never touches the message: it can be re-edited from scratch.
  MessageEditor fresh(m);
  CHECK(fresh.serialize() == m.message_bytes());
}

TEST_CASE("editor: output re-parses", "[unit][golden]") {
  const SipMessage m = parse_ok(kProxyInput);
  MessageEditor ed(m);
  ed.prepend_header("Via", "SIP/2.0/TCP 203.0.113.1;branch=z9hG4bKx");
  ed.set_body("v=0\r\no=- 1 1 IN IP4 203.0.113.1\r\n");
  auto again = SipMessage::parse(ed.serialize(), testing::stream_options());
  REQUIRE(again.ok());
  CHECK(again->vias().size() == 2);
  CHECK(again->body() == "v=0\r\no=- 1 1 IN IP4 203.0.113.1\r\n");
  CHECK(again->content_length() == std::optional<std::uint32_t>(33));
}

}  // namespace portcullis::sip
