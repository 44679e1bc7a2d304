// Call flows through TransactionLayer + ProxyCore + Registrar on a fake wire (RFC 3261 §16):
// registration, a basic call with ACK and BYE on the record-routed path, CANCEL, forking,
// sequential search by q, Timer C, 503 → 500, RFC 3263 failover, NAT flows, Path.
#include "tests/unit/controller/proxy/proxy_harness.h"

namespace portcullis::proxy::test {
namespace {

using sip::HeaderId;

const std::string kBranchPrefix = "SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-pc-";
const std::string kAliceVia = "SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bK-a1;rport=40000;received=203.0.113.5";
const std::string kRrBob = "<sip:192.0.2.10:5060;lr;pc-flow=udp~203.0.113.6~41000>";
const std::string kRrAlice = "<sip:192.0.2.10:5060;lr;pc-flow=udp~203.0.113.5~40000>";

void register_alice_and_bob(Harness& h) {
  h.register_user("alice", "<sip:alice@10.0.0.2:5060>", kAliceNat, "10.0.0.2:5060");
  h.register_user("bob", "<sip:bob@10.0.0.3:5060>", kBobNat, "10.0.0.3:5060");
}

/// Sends Alice's INVITE to bob and returns the INVITE(s) the proxy forwarded, after checking
/// the 100 (Trying) went back to Alice's NAT address (RFC 3581).
std::vector<sip::SipMessage> alice_invites_bob(Harness& h, const std::vector<Peer>& branches,
                                               Request r = Request()) {
  h.receive(r.text(), kAliceNat);
  std::vector<Peer> to{kAliceNat};
  to.insert(to.end(), branches.begin(), branches.end());
  auto out = h.expect(to);
  CHECK(out[0].start_line() == "SIP/2.0 100 Trying");
  out.erase(out.begin());
  return out;
}

TEST_CASE("proxy: two registered NATed phones call, ACK and BYE follow the record-routed path", "[unit]") {
  Harness h;
  register_alice_and_bob(h);

  auto inv = alice_invites_bob(h, {kBobNat});
  const sip::SipMessage& fwd = inv[0];
  // §16.6 step 2: R-URI = the registered contact; sent where the REGISTER came from (NAT).
  CHECK(fwd.start_line() == "INVITE sip:bob@10.0.0.3:5060 SIP/2.0");
  // §16.6 step 8 + RFC 3581: our Via on top, Alice's below with received/rport.
  const auto vias = values(fwd, HeaderId::kVia);
  REQUIRE(vias.size() == 2);
  CHECK(vias[0].rfind(kBranchPrefix, 0) == 0);
  CHECK(vias[1] == kAliceVia);
  // §16.6 step 3.
  CHECK(value(fwd, HeaderId::kMaxForwards) == "69");
  // §16.6 step 4 + RFC 5658: both sides need their flow → two entries, callee side first.
  CHECK(values(fwd, HeaderId::kRecordRoute) == std::vector<std::string>{kRrBob, kRrAlice});
  CHECK(fwd.find(HeaderId::kRoute) == nullptr);

  // 180 and 200 go straight back to Alice's NAT binding, our Via removed.
  h.receive(answer(fwd, 180, "b-tag", "<sip:bob@10.0.0.3:5060>"), kBobNat);
  auto ringing = h.expect({kAliceNat});
  CHECK(ringing[0].start_line() == "SIP/2.0 180 Ringing");
  CHECK(values(ringing[0], HeaderId::kVia) == std::vector<std::string>{kAliceVia});

  h.receive(answer(fwd, 200, "b-tag", "<sip:bob@10.0.0.3:5060>"), kBobNat);
  auto ok = h.expect({kAliceNat});
  CHECK(ok[0].start_line() == "SIP/2.0 200 OK");
  CHECK(values(ok[0], HeaderId::kVia) == std::vector<std::string>{kAliceVia});
  CHECK(values(ok[0], HeaderId::kRecordRoute) == std::vector<std::string>{kRrBob, kRrAlice});
  CHECK(ok[0].to().tag() == "b-tag");

  // ACK for the 2xx: Alice's route set is the Record-Route reversed (§12.1.2). Forwarded
  // statelessly (§16.11) to Bob's flow, both of our Route entries removed (§16.4).
  Request ack;
  ack.method = "ACK";
  ack.ruri = "sip:bob@10.0.0.3:5060";
  ack.via = "SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bK-a2;rport";
  ack.to = "<sip:bob@example.com>;tag=b-tag";
  ack.contact.clear();
  ack.extra = {"Route: " + kRrAlice + ", " + kRrBob};
  h.receive(ack.text(), kAliceNat);
  auto acks = h.expect({kBobNat});
  CHECK(acks[0].start_line() == "ACK sip:bob@10.0.0.3:5060 SIP/2.0");
  CHECK(acks[0].find(HeaderId::kRoute) == nullptr);
  CHECK(value(acks[0], HeaderId::kMaxForwards) == "69");
  const auto ack_vias = values(acks[0], HeaderId::kVia);
  REQUIRE(ack_vias.size() == 2);
  CHECK(ack_vias[0].rfind(kBranchPrefix, 0) == 0);
  // §16.11: a retransmitted ACK gets the same branch.
  h.receive(ack.text(), kAliceNat);
  auto again = h.expect({kBobNat});
  CHECK(values(again[0], HeaderId::kVia)[0] == ack_vias[0]);
  CHECK(h.proxy().stats().acks_forwarded == 2);

  // Bob hangs up: his route set is the Record-Route in order; the BYE reaches Alice's flow.
  Request bye;
  bye.method = "BYE";
  bye.ruri = "sip:alice@10.0.0.2:5060";
  bye.via = "SIP/2.0/UDP 10.0.0.3:5060;branch=z9hG4bK-b1;rport";
  bye.from = "<sip:bob@example.com>;tag=b-tag";
  bye.to = "\"Alice\" <sip:alice@example.com>;tag=a-tag";
  bye.cseq = 7;
  bye.contact.clear();
  bye.extra = {"Route: " + kRrBob, "Route: " + kRrAlice};
  h.receive(bye.text(), kBobNat);
  auto byes = h.expect({kAliceNat});
  const sip::SipMessage& fbye = byes[0];
  CHECK(fbye.start_line() == "BYE sip:alice@10.0.0.2:5060 SIP/2.0");
  CHECK(fbye.find(HeaderId::kRoute) == nullptr);
  CHECK(fbye.find(HeaderId::kRecordRoute) == nullptr);  // in-dialog: not record-routed
  CHECK(values(fbye, HeaderId::kVia)[1] ==
        "SIP/2.0/UDP 10.0.0.3:5060;branch=z9hG4bK-b1;rport=41000;received=203.0.113.6");

  h.receive(answer(fbye, 200, ""), kAliceNat);
  auto bye_ok = h.expect({kBobNat});
  CHECK(bye_ok[0].start_line() == "SIP/2.0 200 OK");
  CHECK(bye_ok[0].cseq().method == "BYE");

  // Everything winds down once the transactions' timers have run.
  h.advance(40s);
  CHECK(h.proxy().active_requests() == 0);
  CHECK(h.proxy().stats().stray_responses == 0);
  CHECK(h.proxy().stats().registers_handled == 2);
}

TEST_CASE("proxy: CANCEL before answer → 200 to the CANCEL, CANCEL to the branch, 487 back", "[unit]") {
  Harness h;
  register_alice_and_bob(h);
  Request invite;
  auto inv = alice_invites_bob(h, {kBobNat});
  h.receive(answer(inv[0], 180, "b-tag"), kBobNat);
  h.expect({kAliceNat});

  Request cancel = invite;
  cancel.method = "CANCEL";
  cancel.contact.clear();
  h.receive(cancel.text(), kAliceNat);
  auto out = h.expect({kAliceNat, kBobNat});
  CHECK(out[0].start_line() == "SIP/2.0 200 OK");
  CHECK(out[0].cseq().method == "CANCEL");
  // §9.1: the CANCEL matches our INVITE: same R-URI, same (our) branch.
  CHECK(out[1].start_line() == "CANCEL sip:bob@10.0.0.3:5060 SIP/2.0");
  CHECK(out[1].vias().front().branch == inv[0].vias().front().branch);

  h.receive(answer(out[1], 200, "b-tag"), kBobNat);  // 200 for the CANCEL: absorbed
  CHECK(h.sends().empty());
  h.receive(answer(inv[0], 487, "b-tag"), kBobNat);
  auto fin = h.expect({kBobNat, kAliceNat});
  CHECK(fin[0].start_line().substr(0, 4) == "ACK ");  // hop-by-hop ACK for the 487
  CHECK(fin[1].start_line() == "SIP/2.0 487 Request Terminated");
  CHECK(h.proxy().stats().cancels_received == 1);
  CHECK(h.proxy().stats().cancels_sent == 1);
}

TEST_CASE("proxy: CANCEL without a matching INVITE → 481", "[unit]") {
  Harness h;
  Request cancel;
  cancel.method = "CANCEL";
  cancel.contact.clear();
  h.receive(cancel.text(), kAliceNat);
  auto out = h.expect({kAliceNat});
  CHECK(out[0].start_line() == "SIP/2.0 481 Call/Transaction Does Not Exist");
  CHECK(h.proxy().stats().cancels_unmatched == 1);
}

TEST_CASE("proxy: parallel forking to two contacts — one answers, the other is cancelled", "[unit]") {
  Harness h;
  h.register_user("alice", "<sip:alice@10.0.0.2:5060>", kAliceNat, "10.0.0.2:5060");
  h.register_user("bob", "<sip:bob@10.0.0.3:5060>", kBobNat, "10.0.0.3:5060");
  h.clock().advance(1s);
  h.register_user("bob", "<sip:bob@10.0.0.4:5060>", kBobMobileNat, "10.0.0.4:5060");

  // Equal q: both at once (freshest registration first).
  auto inv = alice_invites_bob(h, {kBobMobileNat, kBobNat});
  CHECK(inv[0].start_line() == "INVITE sip:bob@10.0.0.4:5060 SIP/2.0");
  CHECK(inv[1].start_line() == "INVITE sip:bob@10.0.0.3:5060 SIP/2.0");
  CHECK(inv[0].vias().front().branch != inv[1].vias().front().branch);

  h.receive(answer(inv[1], 180, "desk"), kBobNat);
  h.receive(answer(inv[0], 180, "mobile"), kBobMobileNat);
  auto ringing = h.expect({kAliceNat, kAliceNat});
  CHECK(ringing[0].to().tag() == "desk");
  CHECK(ringing[1].to().tag() == "mobile");

  // The mobile answers: 200 upstream at once, CANCEL to the desk phone (§16.7 step 10).
  h.receive(answer(inv[0], 200, "mobile", "<sip:bob@10.0.0.4:5060>"), kBobMobileNat);
  auto out = h.expect({kAliceNat, kBobNat});
  CHECK(out[0].start_line() == "SIP/2.0 200 OK");
  CHECK(out[0].to().tag() == "mobile");
  CHECK(out[1].start_line() == "CANCEL sip:bob@10.0.0.3:5060 SIP/2.0");

  h.receive(answer(out[1], 200, "desk"), kBobNat);  // 200 for the CANCEL: absorbed
  CHECK(h.sends().empty());
  SECTION("the desk phone's 487 ends its branch; nothing more goes to Alice") {
    h.receive(answer(inv[1], 487, "desk"), kBobNat);
    auto ack = h.expect({kBobNat});
    CHECK(ack[0].start_line().substr(0, 4) == "ACK ");
  }
  SECTION("the desk phone answered too (race with the CANCEL): that 2xx is forwarded as well") {
    h.receive(answer(inv[1], 200, "desk", "<sip:bob@10.0.0.3:5060>"), kBobNat);
    auto second = h.expect({kAliceNat});
    CHECK(second[0].start_line() == "SIP/2.0 200 OK");
    CHECK(second[0].to().tag() == "desk");  // Alice's UA ACKs and BYEs it (RFC 3261 §13.2.2.4)
  }
  CHECK(h.proxy().stats().branches_created == 2);
}

TEST_CASE("proxy: sequential forking by q — 486 from the first moves on to the next", "[unit]") {
  Harness h;
  h.register_user("alice", "<sip:alice@10.0.0.2:5060>", kAliceNat, "10.0.0.2:5060");
  h.register_user("bob", "<sip:bob@10.0.0.3:5060>;q=1.0", kBobNat, "10.0.0.3:5060");
  h.register_user("bob", "<sip:bob@10.0.0.4:5060>;q=0.5", kBobMobileNat, "10.0.0.4:5060");

  auto first = alice_invites_bob(h, {kBobNat});
  CHECK(first[0].start_line() == "INVITE sip:bob@10.0.0.3:5060 SIP/2.0");
  h.receive(answer(first[0], 486, "desk"), kBobNat);
  // The 486 is ACKed and kept; the q=0.5 contact is tried; Alice hears nothing yet.
  auto next = h.expect({kBobNat, kBobMobileNat});
  CHECK(next[0].start_line().substr(0, 4) == "ACK ");
  CHECK(next[1].start_line() == "INVITE sip:bob@10.0.0.4:5060 SIP/2.0");

  SECTION("the second answers") {
    h.receive(answer(next[1], 200, "mobile", "<sip:bob@10.0.0.4:5060>"), kBobMobileNat);
    auto ok = h.expect({kAliceNat});
    CHECK(ok[0].start_line() == "SIP/2.0 200 OK");
  }
  SECTION("the second declines too: best response is the 486") {
    h.receive(answer(next[1], 480, "mobile"), kBobMobileNat);
    auto fin = h.expect({kBobMobileNat, kAliceNat});
    CHECK(fin[1].start_line() == "SIP/2.0 486 Busy Here");  // same class: the first received
  }
}

TEST_CASE("proxy: 6xx from one branch cancels the others and wins", "[unit]") {
  Harness h;
  h.register_user("bob", "<sip:bob@10.0.0.3:5060>", kBobNat, "10.0.0.3:5060");
  h.register_user("bob", "<sip:bob@10.0.0.4:5060>", kBobMobileNat, "10.0.0.4:5060");
  auto inv = alice_invites_bob(h, {kBobNat, kBobMobileNat});
  h.receive(answer(inv[0], 180, "desk"), kBobNat);
  h.expect({kAliceNat});
  h.receive(answer(inv[1], 603, "mobile"), kBobMobileNat);
  auto out = h.expect({kBobMobileNat, kBobNat});  // ACK for the 603, CANCEL to the desk
  CHECK(out[1].start_line().substr(0, 7) == "CANCEL ");
  h.receive(answer(inv[0], 487, "desk"), kBobNat);
  auto fin = h.expect({kBobNat, kAliceNat});
  CHECK(fin[1].start_line() == "SIP/2.0 603 Decline");
}

TEST_CASE("proxy: Timer C fires → CANCEL to the branch and 408 upstream — a late 487 is dropped", "[unit]") {
  Harness h;
  register_alice_and_bob(h);
  auto inv = alice_invites_bob(h, {kBobNat});
  h.receive(answer(inv[0], 100, ""), kBobNat);  // Proceeding: Timer B no longer runs
  h.advance(60s);
  CHECK(h.sends().empty());
  h.receive(answer(inv[0], 180, "b-tag"), kBobNat);  // resets Timer C (§16.8)
  h.expect({kAliceNat});
  h.advance(180s);
  CHECK(h.sends().empty());
  h.advance(1s);  // 181 s after the 180
  auto out = h.expect({kBobNat, kAliceNat});
  CHECK(out[0].start_line() == "CANCEL sip:bob@10.0.0.3:5060 SIP/2.0");
  CHECK(out[1].start_line() == "SIP/2.0 408 Request Timeout");
  CHECK(h.proxy().stats().timer_c_fired == 1);
  h.receive(answer(out[0], 200, "b-tag"), kBobNat);
  h.receive(answer(inv[0], 487, "b-tag"), kBobNat);
  auto ack = h.expect({kBobNat});
  CHECK(ack[0].start_line().substr(0, 4) == "ACK ");
  CHECK(h.proxy().stats().late_responses_dropped == 1);
  h.advance(40s);
  CHECK(h.proxy().active_requests() == 0);
}

TEST_CASE("proxy: Timer C without any answer — the stuck transaction is reaped", "[unit]") {
  Harness h;
  register_alice_and_bob(h);
  auto inv = alice_invites_bob(h, {kBobNat});
  h.receive(answer(inv[0], 100, ""), kBobNat);  // 100 only: Proceeding, Timer C not reset
  CHECK(h.sends().empty());
  h.advance(181s);
  auto out = h.expect({kBobNat, kAliceNat});
  CHECK(out[0].start_line().substr(0, 7) == "CANCEL ");
  CHECK(out[1].start_line() == "SIP/2.0 408 Request Timeout");
  // Bob never answers the CANCEL or the INVITE: everything is gone after 64*T1.
  h.advance(5min);
  CHECK(h.proxy().active_requests() == 0);
  CHECK(h.proxy().transactions().size() == 0);
}

TEST_CASE("proxy: every branch times out (Timer B) → 408", "[unit]") {
  Harness h;
  h.register_user("bob", "<sip:bob@10.0.0.3:5060>", kBobNat, "10.0.0.3:5060");
  h.register_user("bob", "<sip:bob@10.0.0.4:5060>", kBobMobileNat, "10.0.0.4:5060");
  alice_invites_bob(h, {kBobNat, kBobMobileNat});
  h.advance(31s);
  for (const auto& s : h.sends()) {
    CHECK(first_line(s.bytes).substr(0, 7) == "INVITE ");  // Timer A retransmissions only
  }
  h.advance(2s);
  auto out = h.sends();
  REQUIRE(!out.empty());
  CHECK(out.back().to == kAliceNat);
  CHECK(first_line(out.back().bytes) == "SIP/2.0 408 Request Timeout");
  CHECK(h.proxy().stats().branch_timeouts == 2);
}

TEST_CASE("proxy: 503 as best response becomes 500 (§16.7 step 6)", "[unit]") {
  Harness h;
  register_alice_and_bob(h);
  auto inv = alice_invites_bob(h, {kBobNat});
  h.receive(answer(inv[0], 503, "b-tag"), kBobNat);
  auto out = h.expect({kBobNat, kAliceNat});
  CHECK(out[1].start_line() == "SIP/2.0 500 Server Internal Error");
  CHECK(out[1].to().tag() == "b-tag");
  CHECK(h.proxy().stats().converted_503 == 1);
}

TEST_CASE("proxy: RFC 3263 failover: a 503 from the first server moves to the next", "[unit]") {
  Harness h;
  const Peer second = udp("198.51.100.21:5060");
  h.resolver.add("biloxi.example", {kCarolServer, second});
  Request r;
  r.ruri = "sip:carol@biloxi.example";
  r.to = "<sip:carol@biloxi.example>";
  h.receive(r.text(), kAliceNat);
  auto out = h.expect({kAliceNat, kCarolServer});
  CHECK(out[1].start_line() == "INVITE sip:carol@biloxi.example SIP/2.0");
  h.receive(answer(out[1], 503, "c1"), kCarolServer);
  auto retry = h.expect({kCarolServer, second});
  CHECK(retry[0].start_line().substr(0, 4) == "ACK ");
  CHECK(retry[1].vias().front().branch != out[1].vias().front().branch);
  h.receive(answer(retry[1], 200, "c2", "<sip:carol@198.51.100.21>"), second);
  auto ok = h.expect({kAliceNat});
  CHECK(ok[0].start_line() == "SIP/2.0 200 OK");
  CHECK(h.proxy().stats().failovers == 1);
}

TEST_CASE("proxy: asynchronous resolution — CANCEL while resolving → 487 from us", "[unit]") {
  Harness h;
  h.resolver.deferred = true;
  h.resolver.add("biloxi.example", {kCarolServer});
  Request r;
  r.ruri = "sip:carol@biloxi.example";
  r.to = "<sip:carol@biloxi.example>";

  SECTION("resolution completes later") {
    h.receive(r.text(), kAliceNat);
    h.expect({kAliceNat});  // 100 only
    REQUIRE(h.resolver.pending() == 1);
    h.resolver.complete_all();
    auto out = h.expect({kCarolServer});
    CHECK(out[0].start_line() == "INVITE sip:carol@biloxi.example SIP/2.0");
  }
  SECTION("cancelled first") {
    h.receive(r.text(), kAliceNat);
    h.expect({kAliceNat});
    Request cancel = r;
    cancel.method = "CANCEL";
    h.receive(cancel.text(), kAliceNat);
    auto out = h.expect({kAliceNat, kAliceNat});
    CHECK(out[0].start_line() == "SIP/2.0 200 OK");
    CHECK(out[1].start_line() == "SIP/2.0 487 Request Terminated");
    h.resolver.complete_all();
    CHECK(h.sends().empty());
  }
}

TEST_CASE("proxy: a phone registered over TCP is reached on its connection", "[unit]") {
  Harness h;
  const Peer bob_tcp = tcp("203.0.113.6:50123", 77);
  h.register_user("bob", "<sip:bob@10.0.0.3:5060;transport=tcp>", bob_tcp, "10.0.0.3:5060");
  auto inv = alice_invites_bob(h, {bob_tcp});
  CHECK(values(inv[0], HeaderId::kVia)[0].rfind("SIP/2.0/TCP 192.0.2.10:5060;branch=z9hG4bK-pc-", 0) == 0);
  CHECK(values(inv[0], HeaderId::kRecordRoute)[0] ==
        "<sip:192.0.2.10:5060;transport=tcp;lr;pc-flow=tcp~203.0.113.6~50123~77>");
  CHECK(values(inv[0], HeaderId::kRecordRoute)[1] == kRrAlice);

  // Alice calling over TCP herself: responses go back on her connection.
  Harness h2;
  h2.register_user("bob", "<sip:bob@10.0.0.3:5060>", kBobNat, "10.0.0.3:5060");
  const Peer alice_tcp = tcp("203.0.113.5:50999", 12);
  Request r;
  r.via = "SIP/2.0/TCP 10.0.0.2:5060;branch=z9hG4bK-t1";
  h2.receive(r.text(), alice_tcp);
  auto out = h2.expect({alice_tcp, kBobNat});
  CHECK(values(out[1], HeaderId::kVia)[1] ==
        "SIP/2.0/TCP 10.0.0.2:5060;branch=z9hG4bK-t1;received=203.0.113.5");
  h2.receive(answer(out[1], 180, "b"), kBobNat);
  h2.expect({alice_tcp});
}

TEST_CASE("proxy: relayed REGISTER gets our Path — requests on that Path reach the phone's flow", "[unit]") {
  Harness h;
  const Peer upstream = udp("198.51.100.80:5060");
  h.resolver.add("upstream.example", {upstream});
  Request reg;
  reg.method = "REGISTER";
  reg.ruri = "sip:upstream.example";
  reg.from = "<sip:alice@upstream.example>;tag=r1";
  reg.to = "<sip:alice@upstream.example>";
  reg.extra = {"Supported: path"};
  h.receive(reg.text(), kAliceNat);
  auto out = h.expect({upstream});
  const std::string path = "<sip:192.0.2.10:5060;lr;pc-flow=udp~203.0.113.5~40000>";
  CHECK(values(out[0], HeaderId::kPath) == std::vector<std::string>{path});
  CHECK(out[0].find(HeaderId::kRecordRoute) == nullptr);

  // The upstream's proxy sends an INVITE for Alice along the Path (RFC 3327 §5.3).
  Request inv;
  inv.ruri = "sip:alice@10.0.0.2:5060";
  inv.via = "SIP/2.0/UDP 198.51.100.80:5060;branch=z9hG4bK-up1";
  inv.from = "<sip:dave@upstream.example>;tag=d1";
  inv.to = "<sip:alice@upstream.example>";
  inv.contact = "<sip:dave@198.51.100.81>";
  inv.extra = {"Route: " + path};
  h.receive(inv.text(), upstream);
  auto fwd = h.expect({upstream, kAliceNat});
  CHECK(fwd[0].start_line() == "SIP/2.0 100 Trying");
  CHECK(fwd[1].start_line() == "INVITE sip:alice@10.0.0.2:5060 SIP/2.0");
  CHECK(fwd[1].find(HeaderId::kRoute) == nullptr);
}

TEST_CASE("proxy: a registered contact's Path becomes the Route set (RFC 3327)", "[unit]") {
  Harness h;
  const Peer edge = udp("198.51.100.90:5060");
  h.resolver.add("edge.example.net", {edge});
  h.register_user("carol", "<sip:carol@10.9.9.9>", edge, "198.51.100.90:5060",
                  {"Path: <sip:edge.example.net;lr>", "Supported: path"});
  Request r;
  r.ruri = "sip:carol@example.com";
  r.to = "<sip:carol@example.com>";
  h.receive(r.text(), kAliceNat);
  auto out = h.expect({kAliceNat, edge});
  CHECK(out[1].start_line() == "INVITE sip:carol@10.9.9.9 SIP/2.0");
  CHECK(values(out[1], HeaderId::kRoute) == std::vector<std::string>{"<sip:edge.example.net;lr>"});
  CHECK(h.resolver.queries.back() == "sip:edge.example.net;lr");
}

TEST_CASE("proxy: two Record-Routes when the request changes interface (RFC 5658)", "[unit]") {
  Harness h(lan_wan_config());
  h.resolver.add("biloxi.example", {kCarolServer});
  const Peer alice_lan = udp("10.0.0.2:5060");
  Request r;
  r.ruri = "sip:carol@biloxi.example";
  r.to = "<sip:carol@biloxi.example>";
  r.via = "SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bK-l1";
  h.receive(r.text(), alice_lan);
  auto out = h.expect({alice_lan, kCarolServer});
  const sip::SipMessage& fwd = out[1];
  CHECK(values(fwd, HeaderId::kVia) ==
        std::vector<std::string>{values(fwd, HeaderId::kVia)[0], "SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bK-l1"});
  CHECK(values(fwd, HeaderId::kVia)[0].rfind(kBranchPrefix, 0) == 0);
  CHECK(values(fwd, HeaderId::kRecordRoute) ==
        std::vector<std::string>{"<sip:192.0.2.10:5060;lr>", "<sip:10.0.0.1:5060;lr>"});

  // Carol's BYE comes back with the Record-Route as her route set: both popped, sent into the
  // LAN from the LAN address.
  Request bye;
  bye.method = "BYE";
  bye.ruri = "sip:alice@10.0.0.2:5060";
  bye.via = "SIP/2.0/UDP 198.51.100.20:5060;branch=z9hG4bK-c9";
  bye.from = "<sip:carol@biloxi.example>;tag=c-tag";
  bye.to = "<sip:alice@example.com>;tag=a-tag";
  bye.contact.clear();
  bye.extra = {"Route: <sip:192.0.2.10:5060;lr>, <sip:10.0.0.1:5060;lr>"};
  h.receive(bye.text(), kCarolServer);
  auto b = h.expect({alice_lan});
  CHECK(b[0].start_line() == "BYE sip:alice@10.0.0.2:5060 SIP/2.0");
  CHECK(b[0].find(HeaderId::kRoute) == nullptr);
  CHECK(values(b[0], HeaderId::kVia)[0].rfind("SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-pc-", 0) == 0);
}

TEST_CASE("proxy: a forwarded request without Max-Forwards gets 70", "[unit]") {
  Harness h;
  register_alice_and_bob(h);
  Request r;
  r.max_forwards.reset();
  auto inv = alice_invites_bob(h, {kBobNat}, r);
  CHECK(value(inv[0], HeaderId::kMaxForwards) == "70");
}

TEST_CASE("proxy: a static route is pushed as Route — an outbound proxy for foreign domains", "[unit]") {
  ProxyConfig c = base_config();
  c.static_routes = {StaticRoute{"trunk.example", "sip:sbc.trunk.example;lr", true}};
  c.outbound_proxy = "sip:outbound.example.org;lr";
  Harness h(c);
  const Peer sbc = udp("198.51.100.60:5060");
  const Peer obp = udp("198.51.100.61:5060");
  h.resolver.add("sbc.trunk.example", {sbc});
  h.resolver.add("outbound.example.org", {obp});
  Request r;
  r.ruri = "sip:+15551234@trunk.example";
  r.to = "<sip:+15551234@trunk.example>";
  h.receive(r.text(), kAliceNat);
  auto out = h.expect({kAliceNat, sbc});
  CHECK(out[1].start_line() == "INVITE sip:+15551234@trunk.example SIP/2.0");
  CHECK(values(out[1], HeaderId::kRoute) == std::vector<std::string>{"<sip:sbc.trunk.example;lr>"});

  Request o;
  o.ruri = "sip:carol@biloxi.example";
  o.call_id = "call-2";
  o.via = "SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bK-o1;rport";
  h.receive(o.text(), kAliceNat);
  auto out2 = h.expect({kAliceNat, obp});
  CHECK(values(out2[1], HeaderId::kRoute) == std::vector<std::string>{"<sip:outbound.example.org;lr>"});
}

TEST_CASE("proxy: REGISTER for our domain is answered by a stateless UAS (RFC 3261 §8.2.7)", "[unit]") {
  const auto run = [](bool stateless) {
    ProxyConfig config = base_config();
    config.stateless_register = stateless;
    Harness h(config);
    Request reg;
    reg.method = "REGISTER";
    reg.ruri = "sip:example.com";
    reg.from = "<sip:alice@example.com>;tag=r1";
    reg.to = "<sip:alice@example.com>";
    reg.contact = "<sip:alice@10.0.0.2:5060>";
    h.receive(reg.text(), kAliceNat);
    auto first = h.expect({kAliceNat});
    CHECK(first[0].start_line() == "SIP/2.0 200 OK");
    // RFC 3581: the response carries received/rport even without a transaction.
    CHECK(values(first[0], HeaderId::kVia)[0] ==
          "SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bK-a1;rport=40000;received=203.0.113.5");
    CHECK(values(first[0], HeaderId::kContact).size() == 1);
    // The retransmission: the same answer (regenerated, or absorbed by the transaction).
    h.receive(reg.text(), kAliceNat);
    auto again = h.expect({kAliceNat});
    CHECK(again[0].start_line() == "SIP/2.0 200 OK");
    CHECK(values(again[0], HeaderId::kContact) == values(first[0], HeaderId::kContact));
    CHECK(h.store().binding_count() == 1);
    return std::pair{h.proxy().transactions().size(), h.proxy().stats().registers_stateless};
  };
  SECTION("stateless: no transaction is kept, both copies are processed") {
    const auto [transactions, stateless] = run(true);
    CHECK(transactions == 0);
    CHECK(stateless == 2);
  }
  SECTION("stateful (stateless_register: false): Timer J keeps the transaction, it absorbs the copy") {
    const auto [transactions, stateless] = run(false);
    CHECK(transactions == 1);
    CHECK(stateless == 0);
  }
  SECTION("a bad REGISTER is rejected statelessly too") {
    Harness h;
    Request reg;
    reg.method = "REGISTER";
    reg.ruri = "sip:example.com";
    reg.to = "<sip:alice@example.com>";
    reg.max_forwards = 0;
    h.receive(reg.text(), kAliceNat);
    auto out = h.expect({kAliceNat});
    CHECK(out[0].start_line().substr(0, 11) == "SIP/2.0 483");
    CHECK(h.proxy().transactions().size() == 0);
  }
  SECTION("a REGISTER with a Route, or for another domain, is relayed through a transaction") {
    Harness h;
    const Peer upstream = udp("198.51.100.80:5060");
    h.resolver.add("upstream.example", {upstream});
    Request reg;
    reg.method = "REGISTER";
    reg.ruri = "sip:upstream.example";
    reg.to = "<sip:alice@upstream.example>";
    h.receive(reg.text(), kAliceNat);
    auto out = h.expect({upstream});
    CHECK(out[0].start_line() == "REGISTER sip:upstream.example SIP/2.0");
    CHECK(h.proxy().transactions().size() == 2);  // server + client
    CHECK(h.proxy().stats().registers_stateless == 0);
  }
}

}  // namespace
}  // namespace portcullis::proxy::test
