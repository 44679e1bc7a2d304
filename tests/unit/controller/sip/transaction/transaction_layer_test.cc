// Layer-wide behaviour: RFC 2543 request policy (§17.2.3), the transaction cap, stray ACKs,
// stateless sends, handles.
#include <catch2/catch.hpp>

#include "tests/unit/controller/sip/transaction/txn_script.h"

namespace portcullis::sip {
namespace {

using namespace test;

// RFC 2543 requests: no "z9hG4bK" cookie in the branch (or no branch at all).
const std::string kLegacyInvite = request_text(Req().method("INVITE").branch("old-1"));
const std::string kLegacyAck = request_text(Req().method("ACK").branch("old-1").to_tag("uastag"));

TEST_CASE("RFC 2543 requests are matched with the §17.2.3 fallback (kMatch)",
          "[transaction][fsm][rfc2543]") {
  Script s;
  s.wire(kLegacyInvite, kUacUdp);
  const TransactionId id = s.expect<SendAction>().txn;
  s.expect_request(id, Method::kInvite);
  s.wire(kLegacyInvite, kUacUdp);  // retransmission
  s.expect_send(id, "SIP/2.0 100 Trying");
  // Same fields but another CSeq: a new transaction.
  s.wire(request_text(Req().method("INVITE").branch("old-1").cseq(2)), kUacUdp);
  const TransactionId other = s.expect<SendAction>().txn;
  CHECK(other != id);
  s.expect_request(other, Method::kInvite);

  // CANCEL finds the INVITE by Request-URI, tags, Call-ID, CSeq number and top Via.
  const std::string cancel = request_text(Req().method("CANCEL").branch("old-1"));
  CHECK(s.layer().find_invite_for_cancel(parse(cancel)) == id);

  s.tu_respond(id, 486, "uastag");
  s.expect_send(id, "SIP/2.0 486 Busy Here");
  // An ACK with the wrong To tag matches nothing; with the response's tag it is absorbed.
  s.wire(request_text(Req().method("ACK").branch("old-1").to_tag("wrong")), kUacUdp);
  s.expect_request(kNoTransaction, Method::kAck);
  s.wire(kLegacyAck, kUacUdp);
  s.expect_nothing();
  CHECK(s.layer().state(id) == TransactionState::kConfirmed);

  // No branch at all is legacy too.
  s.wire(request_text(Req().method("OPTIONS").branch("")), kUacUdp);
  const TransactionId nobranch = s.expect<RequestAction>().txn;
  s.wire(request_text(Req().method("OPTIONS").branch("")), kUacUdp);
  s.expect_nothing();  // absorbed in Trying
  CHECK(s.layer().kind(nobranch) == TransactionKind::kNonInviteServer);
}

TEST_CASE("RFC 2543 requests are refused with a stateless 400 (kReject)",
          "[transaction][fsm][rfc2543]") {
  TransactionConfig config;
  config.legacy_requests = LegacyRequestPolicy::kReject;
  Script s(config);
  s.wire(kLegacyInvite, kUacUdp);
  const SendAction bad = s.expect_send(kNoTransaction, "SIP/2.0 400 Missing RFC 3261 Via Branch");
  CHECK(bad.to == kUacUdp);
  CHECK(parse(bad.bytes).cseq().number == 1);
  s.wire(kLegacyAck, kUacUdp);  // never answered
  s.expect_nothing();
  CHECK(s.layer().size() == 0);
  CHECK(s.layer().stats().legacy_rejected == 1);
  CHECK(s.layer().stats().legacy_acks_dropped == 1);
}

TEST_CASE("transaction cap: 503 + Retry-After statelessly, kLimitReached for the TU",
          "[transaction][fsm][limits]") {
  TransactionConfig config;
  config.max_transactions = 2;
  config.overload_retry_after_s = 7;
  Script s(config);
  s.wire(request_text(Req().method("MESSAGE").branch("z9hG4bK1")), kUacUdp);
  const TransactionId first = s.expect<RequestAction>().txn;
  const TransactionId out = s.tu_send(request_text(Req().method("OPTIONS").branch("z9hG4bK2")),
                                      kNextHopUdp);
  s.expect_send(out, "OPTIONS sip:bob@example.com SIP/2.0");
  CHECK(s.layer().size() == 2);

  s.wire(request_text(Req().method("MESSAGE").branch("z9hG4bK3")), kUacUdp);
  const SendAction busy = s.expect_send(kNoTransaction, "SIP/2.0 503 Service Unavailable");
  CHECK(busy.to == kUacUdp);
  const SipMessage parsed = parse(busy.bytes);
  REQUIRE(parsed.find(HeaderId::kRetryAfter) != nullptr);
  CHECK(parsed.find(HeaderId::kRetryAfter)->value == "7");
  CHECK(!parsed.to().tag().empty());
  // Retransmissions of an existing transaction are still served at the cap.
  s.wire(request_text(Req().method("MESSAGE").branch("z9hG4bK1")), kUacUdp);
  s.expect_nothing();
  // ACKs are never answered, even at the cap.
  s.wire(request_text(Req().method("ACK").branch("z9hG4bK9").to_tag("x")), kUacUdp);
  s.expect_request(kNoTransaction, Method::kAck);

  auto refused = s.layer().send_request(parse(request_text(Req().branch("z9hG4bK4"))), kNextHopUdp);
  CHECK(refused.error() == TxnError::kLimitReached);
  CHECK(s.layer().stats().overload_rejected == 1);

  // Room again once one terminates.
  s.layer().transport_error(first);
  s.collect();
  s.expect<TransportErrorAction>();
  s.expect_terminated(first);
  CHECK(s.layer().send_request(parse(request_text(Req().branch("z9hG4bK4"))), kNextHopUdp).ok());
}

TEST_CASE("send_stateless passes bytes through without a transaction", "[transaction]") {
  Script s;
  s.layer().send_stateless("ACK sip:x SIP/2.0\r\n\r\n", kNextHopUdp);
  s.collect();
  const SendAction a = s.expect_send(kNoTransaction, "ACK sip:x SIP/2.0");
  CHECK(a.to == kNextHopUdp);
  CHECK(s.layer().size() == 0);
}

TEST_CASE("handles are unique and queries on dead handles are empty", "[transaction]") {
  Script s;
  const TransactionId a = s.tu_send(request_text(Req().method("OPTIONS").branch("z9hG4bKa")),
                                    kNextHopTcp);
  s.wire(request_text(Req().method("OPTIONS").branch("z9hG4bKa")), kUacUdp);  // server side
  s.expect<SendAction>();
  const TransactionId b = s.expect<RequestAction>().txn;
  CHECK(a != b);
  CHECK(s.layer().request(a)->method() == Method::kOptions);
  s.wire(response_text(request_text(Req().method("OPTIONS").branch("z9hG4bKa")), 200), kNextHopTcp);
  s.expect_response(a, 200);
  s.expect_terminated(a);
  CHECK(!s.layer().state(a));
  CHECK(!s.layer().kind(a));
  CHECK(s.layer().request(a) == nullptr);
  CHECK(s.layer().state(b) == TransactionState::kTrying);
}

TEST_CASE("a late advance() keeps the retransmission schedule anchored to deadlines",
          "[transaction][fsm]") {
  Script s;
  const TransactionId id = s.tu_send(request_text(Req().method("OPTIONS").branch("z9hG4bKlate")),
                                     kNextHopUdp);
  s.expect<SendAction>();
  // One call 2 s late fires E at 0.5 and 1.5 (both due), then the next is due at 3.5.
  s.advance(2s);
  s.expect_send(id, "OPTIONS sip:bob@example.com SIP/2.0");
  s.expect_send(id, "OPTIONS sip:bob@example.com SIP/2.0");
  s.expect_nothing();
  CHECK(*s.layer().next_deadline() - s.start() == std::chrono::milliseconds(3500));
}

}  // namespace
}  // namespace portcullis::sip
