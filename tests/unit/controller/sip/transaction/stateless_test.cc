// Stateless builders: make_response (RFC 3261 §8.2.6), the non-2xx ACK (§17.1.1.3), CANCEL
// (§9.1) and response routing (§18.2.2, RFC 3581).
#include <catch2/catch.hpp>

#include "controller/sip/transaction/stateless.h"
#include "tests/unit/controller/sip/transaction/txn_script.h"

namespace portcullis::sip {
namespace {

using test::parse;
using test::Req;

const char* const kInvite =
    "INVITE sip:bob@example.com SIP/2.0\r\n"
    "v: SIP/2.0/UDP 203.0.113.5:5060;branch=z9hG4bKproxy1, SIP/2.0/UDP 192.0.2.10;branch=z9hG4bKa\r\n"
    "Via: SIP/2.0/TCP 10.0.0.1:5060;branch=z9hG4bKb\r\n"
    "Max-Forwards: 69\r\n"
    "Route: <sip:p1.example.com;lr>\r\n"
    "Route: <sip:p2.example.com;lr>\r\n"
    "f: Alice <sip:alice@example.com>;tag=ft\r\n"
    "t: Bob <sip:bob@example.com>\r\n"
    "i: cid-42\r\n"
    "CSeq: 7 INVITE\r\n"
    "Timestamp: 54\r\n"
    "Content-Length: 0\r\n"
    "\r\n";

TEST_CASE("make_response copies Via/From/To/Call-ID/CSeq and adds a To tag (§8.2.6)",
          "[transaction][stateless]") {
  const SipMessage req = parse(kInvite);
  CHECK(make_response(req, 486, {}, "uas1") ==
        "SIP/2.0 486 Busy Here\r\n"
        "Via: SIP/2.0/UDP 203.0.113.5:5060;branch=z9hG4bKproxy1, SIP/2.0/UDP 192.0.2.10;branch=z9hG4bKa\r\n"
        "Via: SIP/2.0/TCP 10.0.0.1:5060;branch=z9hG4bKb\r\n"
        "From: Alice <sip:alice@example.com>;tag=ft\r\n"
        "To: Bob <sip:bob@example.com>;tag=uas1\r\n"
        "Call-ID: cid-42\r\n"
        "CSeq: 7 INVITE\r\n"
        "Content-Length: 0\r\n"
        "\r\n");
  // The result parses and keys like the request.
  const SipMessage resp = parse(make_response(req, 486, {}, "uas1"));
  CHECK(resp.status_code() == 486);
  CHECK(resp.vias().size() == 3);
  CHECK(resp.to().tag() == "uas1");
}

TEST_CASE("make_response: 100 Trying has no To tag and copies Timestamp (§8.2.6.1, §17.2.1)",
          "[transaction][stateless]") {
  const SipMessage req = parse(kInvite);
  const std::string out = make_response(req, 100, "Trying");
  CHECK(out.find("To: Bob <sip:bob@example.com>\r\n") != std::string::npos);
  CHECK(out.find("Timestamp: 54\r\n") != std::string::npos);
  CHECK(test::first_line(out) == "SIP/2.0 100 Trying");
  // A non-100 does not copy Timestamp.
  CHECK(make_response(req, 180, {}, "x").find("Timestamp") == std::string::npos);
}

TEST_CASE("make_response keeps an existing To tag and derives a stable one when none is given",
          "[transaction][stateless]") {
  const SipMessage in_dialog = parse(test::request_text(Req().method("BYE").to_tag("existing")));
  const SipMessage r1 = parse(make_response(in_dialog, 200, {}, "ignored"));
  CHECK(r1.to().tag() == "existing");

  const SipMessage req = parse(kInvite);
  const SipMessage again = parse(kInvite);
  const std::string tag = stateless_to_tag(req);
  CHECK(tag.size() == 16);
  CHECK(tag == stateless_to_tag(again));  // retransmissions get the same tag
  CHECK(parse(make_response(req, 404)).to().tag() == tag);
  CHECK(tag != stateless_to_tag(parse(test::request_text())));
}

TEST_CASE("make_response: extra headers, default reason, no header injection",
          "[transaction][stateless]") {
  const SipMessage req = parse(kInvite);
  const ExtraHeader extra[] = {{"Retry-After", "5"}};
  const std::string out = make_response(req, 503, {}, "t", extra);
  CHECK(test::first_line(out) == "SIP/2.0 503 Service Unavailable");
  CHECK(out.find("Retry-After: 5\r\nContent-Length: 0\r\n\r\n") != std::string::npos);

  const std::string evil = make_response(req, 499, "Bad\r\nX-Injected: 1", "t\r\nY: 2");
  CHECK(test::first_line(evil) == "SIP/2.0 499 Bad  X-Injected: 1");
  CHECK(evil.find("\r\nX-Injected") == std::string::npos);
  CHECK(evil.find("\r\nY: 2") == std::string::npos);
  CHECK(parse(evil).status_code() == 499);
  CHECK(parse(evil).to().tag() == stateless_to_tag(req));  // a non-token tag is replaced
  CHECK(test::first_line(make_response(req, 299)) == "SIP/2.0 299 OK");
}

TEST_CASE("make_non_2xx_ack follows §17.1.1.3", "[transaction][stateless]") {
  const SipMessage invite = parse(kInvite);
  const SipMessage resp = parse(make_response(invite, 404, {}, "uas9"));
  CHECK(make_non_2xx_ack(invite, resp) ==
        "ACK sip:bob@example.com SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 203.0.113.5:5060;branch=z9hG4bKproxy1\r\n"
        "Route: <sip:p1.example.com;lr>\r\n"
        "Route: <sip:p2.example.com;lr>\r\n"
        "Max-Forwards: 70\r\n"
        "From: Alice <sip:alice@example.com>;tag=ft\r\n"
        "To: Bob <sip:bob@example.com>;tag=uas9\r\n"
        "Call-ID: cid-42\r\n"
        "CSeq: 7 ACK\r\n"
        "Content-Length: 0\r\n"
        "\r\n");
  const SipMessage ack = parse(make_non_2xx_ack(invite, resp));
  CHECK(ack.method() == Method::kAck);
  CHECK(ack.vias().size() == 1);
  CHECK(ack.vias().front().branch == "z9hG4bKproxy1");
}

TEST_CASE("make_cancel follows §9.1", "[transaction][stateless]") {
  const SipMessage invite = parse(kInvite);
  CHECK(make_cancel(invite) ==
        "CANCEL sip:bob@example.com SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 203.0.113.5:5060;branch=z9hG4bKproxy1\r\n"
        "Route: <sip:p1.example.com;lr>\r\n"
        "Route: <sip:p2.example.com;lr>\r\n"
        "Max-Forwards: 70\r\n"
        "From: Alice <sip:alice@example.com>;tag=ft\r\n"
        "To: Bob <sip:bob@example.com>\r\n"
        "Call-ID: cid-42\r\n"
        "CSeq: 7 CANCEL\r\n"
        "Content-Length: 0\r\n"
        "\r\n");
}

TEST_CASE("response_peer: §18.2.2 and RFC 3581 rport", "[transaction][stateless]") {
  const Peer from{TransportProtocol::kUdp, test::ep("192.0.2.99:33333"), 0};
  // No rport: source address, Via sent-by port.
  CHECK(response_peer(parse(test::request_text(Req().via_host("192.0.2.10:5070"))), from).endpoint ==
        test::ep("192.0.2.99:5070"));
  // No port in Via: 5060.
  CHECK(response_peer(parse(test::request_text(Req().via_host("pc.example.com"))), from).endpoint ==
        test::ep("192.0.2.99:5060"));
  // rport: source address and port.
  CHECK(response_peer(parse(test::request_text(Req().via_params(";rport"))), from).endpoint ==
        test::ep("192.0.2.99:33333"));
  // Reliable: the same connection.
  const Peer tcp{TransportProtocol::kTcp, test::ep("192.0.2.99:40000"), 12};
  CHECK(response_peer(parse(test::request_text(Req().via_transport("TCP"))), tcp) == tcp);
}

}  // namespace
}  // namespace portcullis::sip
