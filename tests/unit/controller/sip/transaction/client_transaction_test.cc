// Scripted client transaction tests (RFC 3261 §17.1, RFC 6026 §8.4) on a FakeClock.
#include <catch2/catch.hpp>

#include "tests/unit/controller/sip/transaction/txn_script.h"

namespace portcullis::sip {
namespace {

using namespace test;

const std::string kInvite = request_text(Req().method("INVITE").branch("z9hG4bKinv"));
const std::string kOptions = request_text(Req().method("OPTIONS").branch("z9hG4bKopt"));
constexpr std::string_view kInviteLine = "INVITE sip:bob@example.com SIP/2.0";
constexpr std::string_view kOptionsLine = "OPTIONS sip:bob@example.com SIP/2.0";

TEST_CASE("INVITE client over UDP: Timer A doubles from T1, Timer B at 64*T1 (§17.1.1.2)",
          "[transaction][fsm][client]") {
  Script s;
  const TransactionId id = s.tu_send(kInvite, kNextHopUdp);
  const SendAction first = s.expect_send(id, kInviteLine);
  CHECK(first.to == kNextHopUdp);
  CHECK(first.bytes == kInvite);
  CHECK(s.layer().state(id) == TransactionState::kCalling);

  const auto times = s.send_times_until(id, 40s);
  CHECK(times == std::vector<std::int64_t>{500, 1500, 3500, 7500, 15500, 31500});
  s.expect_timeout(id, TimerName::kB);
  CHECK(s.last_at_ms() == 32000);
  s.expect_terminated(id);
  s.expect_nothing();
  CHECK(s.layer().size() == 0);
  CHECK(!s.layer().next_deadline());
  CHECK(s.layer().stats().timeouts == 1);
}

TEST_CASE("INVITE client over TCP: no Timer A, Timer B still fires", "[transaction][fsm][client]") {
  Script s;
  const TransactionId id = s.tu_send(kInvite, kNextHopTcp);
  CHECK(s.expect_send(id, kInviteLine).to == kNextHopTcp);
  CHECK(s.send_times_until(id, 40s).empty());
  s.expect_timeout(id, TimerName::kB);
  CHECK(s.last_at_ms() == 32000);
  s.expect_terminated(id);
}

TEST_CASE("INVITE client: 1xx stops A, 3xx-6xx is ACKed, retransmissions re-ACKed, Timer D",
          "[transaction][fsm][client]") {
  Script s;
  const TransactionId id = s.tu_send(kInvite, kNextHopUdp);
  s.expect_send(id, kInviteLine);
  s.advance(500ms);
  s.expect_send(id, kInviteLine);  // A at T1

  s.wire(response_text(kInvite, 100), kNextHopUdp);
  s.expect_response(id, 100);
  CHECK(s.layer().state(id) == TransactionState::kProceeding);
  s.wire(response_text(kInvite, 180), kNextHopUdp);
  s.expect_response(id, 180);
  s.advance(60s);  // no retransmission and no Timer B in Proceeding
  s.expect_nothing();

  s.wire(response_text(kInvite, 486), kNextHopUdp);
  s.expect_response(id, 486);
  const SendAction ack = s.expect_send(id, "ACK sip:bob@example.com SIP/2.0");
  CHECK(ack.to == kNextHopUdp);
  const SipMessage parsed_ack = parse(ack.bytes);
  CHECK(parsed_ack.vias().size() == 1);
  CHECK(parsed_ack.vias().front().branch == "z9hG4bKinv");  // §17.1.1.3: same branch
  CHECK(parsed_ack.to().tag() == "totag1");                 // To from the response
  CHECK(parsed_ack.cseq().method == "ACK");
  CHECK(parsed_ack.cseq().number == 1);
  CHECK(parsed_ack.request_uri_text() == "sip:bob@example.com");
  CHECK(parsed_ack.find(HeaderId::kRoute) != nullptr);
  CHECK(s.layer().state(id) == TransactionState::kCompleted);

  // A retransmitted 486 is absorbed and re-ACKed with identical bytes.
  s.advance(1s);
  s.wire(response_text(kInvite, 486), kNextHopUdp);
  CHECK(s.expect_send(id, "ACK sip:bob@example.com SIP/2.0").bytes == ack.bytes);
  s.expect_nothing();
  CHECK(s.layer().stats().responses_absorbed == 1);

  // Timer D = 32 s after the first final response.
  s.advance(30999ms);
  s.expect_nothing();
  s.advance(1ms);
  s.expect_terminated(id);
  s.expect_nothing();
}

TEST_CASE("INVITE client over TCP: non-2xx final is ACKed and terminates at once (D = 0)",
          "[transaction][fsm][client]") {
  Script s;
  const TransactionId id = s.tu_send(kInvite, kNextHopTcp);
  s.expect_send(id, kInviteLine);
  s.wire(response_text(kInvite, 603), kNextHopTcp);
  s.expect_response(id, 603);
  CHECK(s.expect_send(id, "ACK sip:bob@example.com SIP/2.0").to == kNextHopTcp);
  s.expect_terminated(id);
  s.expect_nothing();
  CHECK(s.layer().size() == 0);
}

TEST_CASE("INVITE client: 2xx → Accepted, 2xx retransmissions go to the TU, Timer M (RFC 6026)",
          "[transaction][fsm][client][rfc6026]") {
  Script s;
  const TransactionId id = s.tu_send(kInvite, kNextHopUdp);
  s.expect_send(id, kInviteLine);
  s.advance(100ms);
  s.wire(response_text(kInvite, 200, "uas-a"), kNextHopUdp);
  s.expect_response(id, 200);
  s.expect_nothing();  // the transaction never ACKs a 2xx
  CHECK(s.layer().state(id) == TransactionState::kAccepted);

  s.advance(2s);
  s.wire(response_text(kInvite, 200, "uas-a"), kNextHopUdp);  // retransmission
  s.expect_response(id, 200);
  s.wire(response_text(kInvite, 200, "uas-b"), kNextHopUdp);  // another fork's 2xx
  CHECK(s.expect_response(id, 200).response->to().tag() == "uas-b");
  s.wire(response_text(kInvite, 486), kNextHopUdp);  // non-2xx in Accepted: absorbed
  s.wire(response_text(kInvite, 180), kNextHopUdp);
  s.expect_nothing();

  // Timer M = 64*T1 from the first 2xx (t = 100 ms).
  s.advance(29999ms);
  s.expect_nothing();
  s.advance(1ms);
  s.expect_terminated(id);
  CHECK(s.last_at_ms() == 32100);
  // After termination, a 2xx is a stray the UA core may still use.
  s.wire(response_text(kInvite, 200, "uas-a"), kNextHopUdp);
  s.expect_response(kNoTransaction, 200);
}

TEST_CASE("non-INVITE client over UDP: Timer E doubles up to T2, Timer F (§17.1.2.2)",
          "[transaction][fsm][client]") {
  Script s;
  const TransactionId id = s.tu_send(kOptions, kNextHopUdp);
  CHECK(s.expect_send(id, kOptionsLine).bytes == kOptions);
  CHECK(s.layer().state(id) == TransactionState::kTrying);
  const auto times = s.send_times_until(id, 40s);
  CHECK(times == std::vector<std::int64_t>{500, 1500, 3500, 7500, 11500, 15500, 19500, 23500,
                                           27500, 31500});
  s.expect_timeout(id, TimerName::kF);
  CHECK(s.last_at_ms() == 32000);
  s.expect_terminated(id);
  s.expect_nothing();
}

TEST_CASE("non-INVITE client: Timer E is T2 in Proceeding (§17.1.2.2)", "[transaction][fsm][client]") {
  Script s;
  const TransactionId id = s.tu_send(kOptions, kNextHopUdp);
  s.expect_send(id, kOptionsLine);
  s.advance(200ms);
  s.wire(response_text(kOptions, 100), kNextHopUdp);
  s.expect_response(id, 100);
  CHECK(s.layer().state(id) == TransactionState::kProceeding);
  const auto times = s.send_times_until(id, 20s);
  CHECK(times == std::vector<std::int64_t>{500, 4500, 8500, 12500, 16500});
  s.expect_nothing();
}

TEST_CASE("non-INVITE client: final response → Completed, retransmissions absorbed, Timer K = T4",
          "[transaction][fsm][client]") {
  Script s;
  const TransactionId id = s.tu_send(kOptions, kNextHopUdp);
  s.expect_send(id, kOptionsLine);
  s.advance(1s);
  s.expect_send(id, kOptionsLine);  // E at 500 ms
  s.wire(response_text(kOptions, 200), kNextHopUdp);
  s.expect_response(id, 200);
  CHECK(s.layer().state(id) == TransactionState::kCompleted);
  s.wire(response_text(kOptions, 200), kNextHopUdp);
  s.wire(response_text(kOptions, 404), kNextHopUdp);
  s.expect_nothing();
  CHECK(s.layer().stats().responses_absorbed == 2);
  s.advance(4999ms);
  s.expect_nothing();
  s.advance(1ms);
  s.expect_terminated(id);
  CHECK(s.last_at_ms() == 6000);
}

TEST_CASE("non-INVITE client over TCP: no Timer E, final terminates at once (K = 0)",
          "[transaction][fsm][client]") {
  Script s;
  const TransactionId id = s.tu_send(kOptions, kNextHopTcp);
  s.expect_send(id, kOptionsLine);
  s.advance(10s);
  s.expect_nothing();
  s.wire(response_text(kOptions, 180), kNextHopTcp);
  s.expect_response(id, 180);
  s.wire(response_text(kOptions, 200), kNextHopTcp);
  s.expect_response(id, 200);
  s.expect_terminated(id);
  s.expect_nothing();
}

TEST_CASE("responses match on branch + CSeq method (§17.1.3), others are strays",
          "[transaction][fsm][client]") {
  Script s;
  const TransactionId id = s.tu_send(kOptions, kNextHopUdp);
  s.expect_send(id, kOptionsLine);
  // Same branch, other method.
  s.wire(response_text(request_text(Req().method("REGISTER").branch("z9hG4bKopt")), 200),
         kNextHopUdp);
  s.expect_response(kNoTransaction, 200);
  // Other branch.
  s.wire(response_text(request_text(Req().method("OPTIONS").branch("z9hG4bKother")), 200),
         kNextHopUdp);
  s.expect_response(kNoTransaction, 200);
  CHECK(s.layer().stats().stray_responses == 2);
  CHECK(s.layer().state(id) == TransactionState::kTrying);
}

TEST_CASE("CANCEL is held until a provisional response, then sent as its own transaction (§9.1)",
          "[transaction][fsm][client][cancel]") {
  Script s;
  const TransactionId inv = s.tu_send(kInvite, kNextHopUdp);
  s.expect_send(inv, kInviteLine);
  auto cancel = s.layer().send_cancel(inv);
  REQUIRE(cancel.ok());
  const TransactionId can = *cancel;
  s.collect();
  s.expect_nothing();  // §9.1: not before a 1xx
  CHECK(s.layer().send_cancel(inv).value() == can);  // idempotent

  s.advance(300ms);
  s.wire(response_text(kInvite, 180), kNextHopUdp);
  s.expect_response(inv, 180);
  const SendAction sent = s.expect_send(can, "CANCEL sip:bob@example.com SIP/2.0");
  CHECK(sent.to == kNextHopUdp);
  const SipMessage c = parse(sent.bytes);
  CHECK(c.vias().front().branch == "z9hG4bKinv");
  CHECK(c.cseq().method == "CANCEL");
  CHECK(s.layer().kind(can) == TransactionKind::kNonInviteClient);

  // The CANCEL's 200 and the INVITE's 487 go to their own transactions.
  const std::string cancel_text(sent.bytes);
  s.wire(response_text(cancel_text, 200), kNextHopUdp);
  s.expect_response(can, 200);
  s.wire(response_text(kInvite, 487), kNextHopUdp);
  s.expect_response(inv, 487);
  s.expect_send(inv, "ACK sip:bob@example.com SIP/2.0");
  s.expect_nothing();
}

TEST_CASE("a held CANCEL dies when the INVITE completes first, no CANCEL after a final",
          "[transaction][fsm][client][cancel]") {
  Script s;
  const TransactionId inv = s.tu_send(kInvite, kNextHopUdp);
  s.expect_send(inv, kInviteLine);
  const TransactionId can = s.layer().send_cancel(inv).value();
  s.wire(response_text(kInvite, 486), kNextHopUdp);
  s.expect_terminated(can);
  s.expect_response(inv, 486);
  s.expect_send(inv, "ACK sip:bob@example.com SIP/2.0");
  s.expect_nothing();
  CHECK(!s.layer().state(can));
  CHECK(s.layer().send_cancel(inv).value() == can);  // same (dead) handle

  Script t;
  const TransactionId inv2 = t.tu_send(kInvite, kNextHopUdp);
  t.wire(response_text(kInvite, 200), kNextHopUdp);
  auto late = t.layer().send_cancel(inv2);
  REQUIRE(!late.ok());
  CHECK(late.error() == TxnError::kWrongState);
}

TEST_CASE("CANCEL in Proceeding goes out at once and retransmits on Timer E",
          "[transaction][fsm][client][cancel]") {
  Script s;
  const TransactionId inv = s.tu_send(kInvite, kNextHopUdp);
  s.expect_send(inv, kInviteLine);
  s.wire(response_text(kInvite, 100), kNextHopUdp);
  s.expect_response(inv, 100);
  const TransactionId can = s.layer().send_cancel(inv).value();
  s.collect();
  s.expect_send(can, "CANCEL sip:bob@example.com SIP/2.0");
  s.advance(500ms);
  s.expect_send(can, "CANCEL sip:bob@example.com SIP/2.0");
  s.expect_nothing();
}

TEST_CASE("transport error on a client transaction informs the TU (§17.1.4)",
          "[transaction][fsm][client]") {
  Script s;
  const TransactionId id = s.tu_send(kOptions, kNextHopTcp);
  s.expect_send(id, kOptionsLine);
  s.layer().transport_error(id);
  s.collect();
  CHECK(s.expect<TransportErrorAction>().txn == id);
  s.expect_terminated(id);
  s.expect_nothing();
  s.layer().transport_error(id);  // dead handle: ignored
  s.collect();
  s.expect_nothing();
}

TEST_CASE("send_request rejects what is not a new client transaction", "[transaction][client]") {
  Script s;
  TransactionLayer& layer = s.layer();
  auto ack = layer.send_request(parse(request_text(Req().method("ACK"))), kNextHopUdp);
  CHECK(ack.error() == TxnError::kInvalidMessage);
  auto legacy = layer.send_request(parse(request_text(Req().branch("1234"))), kNextHopUdp);
  CHECK(legacy.error() == TxnError::kInvalidMessage);
  auto resp = layer.send_request(parse(response_text(kInvite, 200)), kNextHopUdp);
  CHECK(resp.error() == TxnError::kInvalidMessage);
  REQUIRE(layer.send_request(parse(kInvite), kNextHopUdp).ok());
  CHECK(layer.send_request(parse(kInvite), kNextHopUdp).error() == TxnError::kDuplicate);
  CHECK(layer.send_cancel(TransactionId{999}).error() == TxnError::kUnknownTransaction);
}

}  // namespace
}  // namespace portcullis::sip
