// Scripted server transaction tests (RFC 3261 §17.2, RFC 6026 §8.7) on a FakeClock.
#include <catch2/catch.hpp>

#include "tests/unit/controller/sip/transaction/txn_script.h"

namespace portcullis::sip {
namespace {

using namespace test;

const std::string kInvite = request_text(Req().method("INVITE").branch("z9hG4bKuac1"));
const std::string kAck = request_text(Req().method("ACK").branch("z9hG4bKuac1").to_tag("uastag"));
const std::string kMessage = request_text(Req().method("MESSAGE").branch("z9hG4bKmsg"));
constexpr std::string_view k100 = "SIP/2.0 100 Trying";
constexpr std::string_view k180 = "SIP/2.0 180 Ringing";
constexpr std::string_view k200 = "SIP/2.0 200 OK";
constexpr std::string_view k486 = "SIP/2.0 486 Busy Here";

// Receives kInvite over `from` and returns the new server transaction (after the 100).
TransactionId start_invite(Script& s, const Peer& from) {
  s.wire(kInvite, from);
  const SendAction trying = s.expect<SendAction>();
  CHECK(first_line(trying.bytes) == k100);
  CHECK(parse(trying.bytes).to().tag().empty());  // §17.2.1: no To tag on the 100
  const RequestAction req = s.expect_request(trying.txn, Method::kInvite);
  CHECK(req.from == from);
  CHECK(req.cancels == kNoTransaction);
  CHECK(s.layer().kind(req.txn) == TransactionKind::kInviteServer);
  CHECK(s.layer().state(req.txn) == TransactionState::kProceeding);
  return req.txn;
}

TEST_CASE("INVITE server over UDP: 100, absorbed retransmits, G until ACK, Confirmed, Timer I",
          "[transaction][fsm][server]") {
  Script s;
  const TransactionId id = start_invite(s, kUacUdp);
  // Retransmitted INVITE in Proceeding: the latest provisional is resent (§17.2.1).
  s.wire(kInvite, kUacUdp);
  CHECK(s.expect_send(id, k100).to == kUacUdp);
  s.tu_respond(id, 180);
  s.expect_send(id, k180);
  s.wire(kInvite, kUacUdp);
  s.expect_send(id, k180);
  s.expect_nothing();
  CHECK(s.layer().stats().requests_absorbed == 2);

  s.advance(1s);
  s.tu_respond(id, 486);
  const SendAction final_resp = s.expect_send(id, k486);
  CHECK(parse(final_resp.bytes).to().tag() == "uastag");
  CHECK(s.layer().state(id) == TransactionState::kCompleted);
  s.wire(kInvite, kUacUdp);  // retransmission in Completed → final resent
  CHECK(s.expect_send(id, k486).bytes == final_resp.bytes);

  // Timer G: T1, 2*T1, 4*T1, then capped at T2 (from t = 1000 ms).
  const auto times = s.send_times_until(id, 14s);
  CHECK(times == std::vector<std::int64_t>{1500, 2500, 4500, 8500, 12500});

  CHECK(s.elapsed_ms() == 12500);
  s.wire(kAck, kUacUdp);  // absorbed, not passed up
  s.expect_nothing();
  CHECK(s.layer().state(id) == TransactionState::kConfirmed);
  s.advance(4s);
  s.wire(kAck, kUacUdp);  // ACK retransmission absorbed
  s.expect_nothing();
  CHECK(s.layer().stats().acks_absorbed == 2);
  // Timer I = T4 after the ACK (t = 12500 → 17500); no G, no H.
  s.advance(999ms);
  s.expect_nothing();
  s.advance(1ms);
  s.expect_terminated(id);
  CHECK(s.last_at_ms() == 17500);
  s.expect_nothing();
}

TEST_CASE("INVITE server: no ACK → Timer H at 64*T1 (§17.2.1)", "[transaction][fsm][server]") {
  Script s;
  const TransactionId id = start_invite(s, kUacUdp);
  s.tu_respond(id, 486);
  s.expect_send(id, k486);
  const auto times = s.send_times_until(id, 40s);
  CHECK(times == std::vector<std::int64_t>{500, 1500, 3500, 7500, 11500, 15500, 19500, 23500,
                                           27500, 31500});
  s.expect_timeout(id, TimerName::kH);
  CHECK(s.last_at_ms() == 32000);
  s.expect_terminated(id);
  s.expect_nothing();
}

TEST_CASE("INVITE server over TCP: no Timer G, ACK terminates at once (I = 0)",
          "[transaction][fsm][server]") {
  Script s;
  const TransactionId id = start_invite(s, kUacTcp);
  s.tu_respond(id, 486);
  CHECK(s.expect_send(id, k486).to == kUacTcp);  // same connection (§18.2.2)
  s.advance(10s);
  s.expect_nothing();
  s.wire(kAck, kUacTcp);
  s.expect_terminated(id);
  s.expect_nothing();
}

TEST_CASE("INVITE server over TCP: Timer H still fires without ACK", "[transaction][fsm][server]") {
  Script s;
  const TransactionId id = start_invite(s, kUacTcp);
  s.tu_respond(id, 500);
  s.expect_send(id, "SIP/2.0 500 Server Internal Error");
  s.advance(32s);
  s.expect_timeout(id, TimerName::kH);
  s.expect_terminated(id);
}

TEST_CASE("INVITE server: 2xx → Accepted, TU retransmits 2xx, ACK to TU, Timer L (RFC 6026)",
          "[transaction][fsm][server][rfc6026]") {
  Script s;
  const TransactionId id = start_invite(s, kUacUdp);
  s.tu_respond(id, 200);
  const SendAction ok = s.expect_send(id, k200);
  CHECK(s.layer().state(id) == TransactionState::kAccepted);

  s.advance(500ms);
  s.expect_nothing();  // the transaction never retransmits a 2xx
  s.wire(kInvite, kUacUdp);
  s.expect_nothing();  // INVITE retransmission absorbed in Accepted
  s.tu_send_response(id, std::string(ok.bytes));  // TU's 2xx retransmission (§13.3.1.4)
  s.expect_send(id, k200);
  auto not_final = s.layer().respond(id, 486);
  CHECK(not_final.error() == TxnError::kWrongState);

  // An ACK carrying the INVITE's branch is passed to the TU with the handle.
  s.wire(kAck, kUacUdp);
  s.expect_request(id, Method::kAck);
  // The usual ACK for a 2xx (new branch) matches nothing and goes to the TU without a handle.
  s.wire(request_text(Req().method("ACK").branch("z9hG4bKack2xx").to_tag("uastag")), kUacUdp);
  s.expect_request(kNoTransaction, Method::kAck);
  CHECK(s.layer().stats().stray_acks == 1);
  CHECK(s.layer().state(id) == TransactionState::kAccepted);

  // Timer L = 64*T1 from the 2xx.
  s.advance(31499ms);
  s.expect_nothing();
  s.advance(1ms);
  s.expect_terminated(id);
  CHECK(s.last_at_ms() == 32000);
}

TEST_CASE("non-INVITE server over UDP: Trying absorbs, Proceeding/Completed resend, Timer J",
          "[transaction][fsm][server]") {
  Script s;
  s.wire(kMessage, kUacUdp);
  const RequestAction req = s.expect<RequestAction>();
  const TransactionId id = req.txn;
  CHECK(s.layer().kind(id) == TransactionKind::kNonInviteServer);
  CHECK(s.layer().state(id) == TransactionState::kTrying);
  s.wire(kMessage, kUacUdp);
  s.expect_nothing();  // §17.2.2: Trying discards retransmissions

  s.tu_respond(id, 180);
  s.expect_send(id, k180);
  CHECK(s.layer().state(id) == TransactionState::kProceeding);
  s.wire(kMessage, kUacUdp);
  s.expect_send(id, k180);

  s.advance(1s);
  s.tu_respond(id, 200);
  const SendAction ok = s.expect_send(id, k200);
  CHECK(ok.to == kUacUdp);
  CHECK(s.layer().state(id) == TransactionState::kCompleted);
  CHECK(s.layer().respond(id, 404).error() == TxnError::kWrongState);
  s.wire(kMessage, kUacUdp);
  CHECK(s.expect_send(id, k200).bytes == ok.bytes);
  s.expect_nothing();
  CHECK(s.layer().stats().requests_absorbed == 3);

  // Timer J = 64*T1 from the final response (t = 1000 → 33000).
  s.advance(31999ms);
  s.expect_nothing();
  s.advance(1ms);
  s.expect_terminated(id);
  CHECK(s.last_at_ms() == 33000);
  // After J the request is new again.
  s.wire(kMessage, kUacUdp);
  CHECK(s.expect<RequestAction>().txn != id);
}

TEST_CASE("non-INVITE server over TCP: final response terminates at once (J = 0)",
          "[transaction][fsm][server]") {
  Script s;
  s.wire(kMessage, kUacTcp);
  const TransactionId id = s.expect<RequestAction>().txn;
  s.tu_respond(id, 202);
  CHECK(s.expect_send(id, "SIP/2.0 202 Accepted").to == kUacTcp);
  s.expect_terminated(id);
  s.expect_nothing();
}

TEST_CASE("request matching uses branch + sent-by + method (§17.2.3)", "[transaction][fsm][server]") {
  Script s;
  const TransactionId id = start_invite(s, kUacUdp);
  // Same branch, different sent-by: a different transaction.
  s.wire(request_text(Req().method("INVITE").branch("z9hG4bKuac1").via_host("192.0.2.11:5060")),
         kUacUdp);
  const TransactionId other = s.expect<SendAction>().txn;
  CHECK(other != id);
  s.expect_request(other, Method::kInvite);
  // Sent-by host compares case-insensitively.
  s.wire(request_text(Req().method("INVITE").branch("z9hG4bKuac1").via_host("PC.example.com")),
         kUacUdp);
  const TransactionId third = s.expect<SendAction>().txn;
  s.expect_request(third, Method::kInvite);
  s.wire(request_text(Req().method("INVITE").branch("z9hG4bKuac1").via_host("pc.EXAMPLE.com")),
         kUacUdp);
  s.expect_send(third, k100);  // a retransmission of the third
  // Same branch and sent-by, different method (not ACK/CANCEL): its own transaction.
  s.wire(request_text(Req().method("OPTIONS").branch("z9hG4bKuac1")), kUacUdp);
  CHECK(s.expect<RequestAction>().txn != id);
  s.expect_nothing();
}

TEST_CASE("find_invite_for_cancel looks up the INVITE a CANCEL targets (§9.2)",
          "[transaction][fsm][server][cancel]") {
  Script s;
  const TransactionId inv = start_invite(s, kUacUdp);
  CHECK(s.layer().find_invite_for_cancel(
            parse(request_text(Req().method("CANCEL").branch("z9hG4bKuac1")))) == inv);
  CHECK(!s.layer().find_invite_for_cancel(
      parse(request_text(Req().method("CANCEL").branch("z9hG4bKuac2")))));
  CHECK(!s.layer().find_invite_for_cancel(parse(request_text(
      Req().method("CANCEL").branch("z9hG4bKuac1").via_host("192.0.2.99:5060")))));
  CHECK(!s.layer().find_invite_for_cancel(parse(kInvite)));  // not a CANCEL
}

TEST_CASE("CANCEL flow: 200 to CANCEL, 487 to INVITE, CANCEL retransmission absorbed",
          "[transaction][fsm][server][cancel]") {
  Script s;
  const TransactionId inv = start_invite(s, kUacUdp);
  const std::string cancel = request_text(Req().method("CANCEL").branch("z9hG4bKuac1"));
  s.wire(cancel, kUacUdp);
  const RequestAction req = s.expect<RequestAction>();
  CHECK(req.request->method() == Method::kCancel);
  CHECK(req.txn != inv);
  CHECK(req.cancels == inv);
  CHECK(s.layer().kind(req.txn) == TransactionKind::kNonInviteServer);
  CHECK(s.layer().cancelled_invite(req.txn) == inv);

  s.tu_respond(req.txn, 200);
  CHECK(parse(s.expect_send(req.txn, k200).bytes).cseq().method == "CANCEL");
  s.tu_respond(inv, 487);
  s.expect_send(inv, "SIP/2.0 487 Request Terminated");
  s.wire(cancel, kUacUdp);  // CANCEL retransmission → its 200 again, INVITE untouched
  s.expect_send(req.txn, k200);
  s.wire(kAck, kUacUdp);
  s.expect_nothing();
  CHECK(s.layer().state(inv) == TransactionState::kConfirmed);

  // A CANCEL for an unknown INVITE still gets a transaction, with no target.
  s.wire(request_text(Req().method("CANCEL").branch("z9hG4bKnope")), kUacUdp);
  const RequestAction orphan = s.expect<RequestAction>();
  CHECK(orphan.cancels == kNoTransaction);
  CHECK(!s.layer().cancelled_invite(orphan.txn));
  s.tu_respond(orphan.txn, 481);
  s.expect_send(orphan.txn, "SIP/2.0 481 Call/Transaction Does Not Exist");
}

TEST_CASE("responses go back per §18.2.2: rport → source port", "[transaction][fsm][server]") {
  Script s;
  const Peer natted{TransportProtocol::kUdp, ep("203.0.113.77:40123"), 0};
  s.wire(request_text(Req().method("MESSAGE").branch("z9hG4bKnat").via_params(";rport")), natted);
  const TransactionId id = s.expect<RequestAction>().txn;
  s.tu_respond(id, 200);
  CHECK(s.expect_send(id, k200).to == natted);

  s.wire(request_text(Req().method("MESSAGE").branch("z9hG4bKnorport").via_host("192.0.2.10:5062")),
         natted);
  const TransactionId id2 = s.expect<RequestAction>().txn;
  s.tu_respond(id2, 200);
  CHECK(s.expect_send(id2, k200).to.endpoint == ep("203.0.113.77:5062"));
}

TEST_CASE("delayed 100 (Trying): only if the TU is silent for trying_delay (§17.2.1)",
          "[transaction][fsm][server]") {
  TransactionConfig config;
  config.trying_delay = std::chrono::milliseconds(200);
  Script s(config);
  s.wire(kInvite, kUacUdp);
  const TransactionId silent = s.expect<RequestAction>().txn;  // no 100 yet
  s.expect_nothing();
  s.advance(199ms);
  s.expect_nothing();
  s.advance(1ms);
  s.expect_send(silent, k100);
  s.wire(kInvite, kUacUdp);
  s.expect_send(silent, k100);

  s.wire(request_text(Req().method("INVITE").branch("z9hG4bKquick")), kUacUdp);
  const TransactionId quick = s.expect<RequestAction>().txn;
  s.advance(100ms);
  s.tu_respond(quick, 180);
  s.expect_send(quick, k180);
  s.advance(1s);
  s.expect_nothing();

  TransactionConfig off;
  off.auto_trying = false;
  Script t(off);
  t.wire(kInvite, kUacUdp);
  t.expect<RequestAction>();
  t.advance(1s);
  t.expect_nothing();
}

TEST_CASE("send_response validates its input", "[transaction][server]") {
  Script s;
  const TransactionId id = start_invite(s, kUacUdp);
  CHECK(s.layer().respond(TransactionId{12345}, 200).error() == TxnError::kUnknownTransaction);
  // A response whose Via is not the request's.
  const std::string foreign = response_text(request_text(Req().branch("z9hG4bKelse")), 200);
  CHECK(s.layer().send_response(id, parse(foreign)).error() == TxnError::kInvalidMessage);
  CHECK(s.layer().send_response(id, parse(kInvite)).error() == TxnError::kInvalidMessage);
  CHECK(s.layer().respond(id, 99).error() == TxnError::kInvalidMessage);
  const TransactionId client = s.tu_send(request_text(Req().branch("z9hG4bKout")), kNextHopUdp);
  CHECK(s.layer().respond(client, 200).error() == TxnError::kWrongKind);
}

}  // namespace
}  // namespace portcullis::sip
