// PassiveLearner: bindings learned from REGISTERs relayed to an upstream registrar.
#include <catch2/catch.hpp>

#include <chrono>
#include <string>

#include "common/time/fake_clock.h"
#include "controller/registrar/in_memory_location_store.h"
#include "controller/registrar/passive_learner.h"
#include "controller/registrar/registrar.h"
#include "tests/unit/controller/registrar/register_builder.h"

namespace portcullis::registrar {
namespace {

using std::chrono::seconds;

// The REGISTER as the LAN phone sent it.
std::string original_text(const std::string& contact = "<sip:alice@10.0.0.2:5060>", std::uint32_t cseq = 1,
                          const std::string& expires = "3600") {
  return "REGISTER sip:pbx.provider.net SIP/2.0\r\n"
         "Via: SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bK-phone-" + std::to_string(cseq) + ";rport\r\n"
         "Max-Forwards: 70\r\n"
         "From: <sip:alice@provider.net>;tag=ph1\r\n"
         "To: <sip:alice@provider.net>\r\n"
         "Call-ID: lan-call-1\r\n"
         "CSeq: " + std::to_string(cseq) + " REGISTER\r\n"
         "Contact: " + contact + "\r\n"
         "Expires: " + expires + "\r\n"
         "Content-Length: 0\r\n\r\n";
}

// The same REGISTER as the controller relays it: its own Via on top, Contact rewritten to the
// public side.
std::string relayed_text(const std::string& contact = "<sip:alice@203.0.113.1:5060>", std::uint32_t cseq = 1,
                         const std::string& branch = "z9hG4bK-up-1") {
  return "REGISTER sip:pbx.provider.net SIP/2.0\r\n"
         "Via: SIP/2.0/UDP 203.0.113.1:5060;branch=" + branch + "\r\n"
         "Via: SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bK-phone-" + std::to_string(cseq) + ";rport=5060;received=10.0.0.2\r\n"
         "Max-Forwards: 69\r\n"
         "From: <sip:alice@provider.net>;tag=ph1\r\n"
         "To: <sip:alice@provider.net>\r\n"
         "Call-ID: lan-call-1\r\n"
         "CSeq: " + std::to_string(cseq) + " REGISTER\r\n"
         "Contact: " + contact + "\r\n"
         "Expires: 3600\r\n"
         "Content-Length: 0\r\n\r\n";
}

std::string response_text(int status, const std::string& reason, const std::string& extra,
                          std::uint32_t cseq = 1, const std::string& branch = "z9hG4bK-up-1") {
  return "SIP/2.0 " + std::to_string(status) + " " + reason + "\r\n"
         "Via: SIP/2.0/UDP 203.0.113.1:5060;branch=" + branch + "\r\n"
         "Via: SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bK-phone-" + std::to_string(cseq) + ";rport=5060;received=10.0.0.2\r\n"
         "From: <sip:alice@provider.net>;tag=ph1\r\n"
         "To: <sip:alice@provider.net>;tag=up99\r\n"
         "Call-ID: lan-call-1\r\n"
         "CSeq: " + std::to_string(cseq) + " REGISTER\r\n" + extra +
         "Content-Length: 0\r\n\r\n";
}

struct Fixture {
  FakeClock clock;
  InMemoryLocationStore store;
  PassiveLearner learner;
  TransportContext phone = test::udp_from("10.0.0.2:5060");

  explicit Fixture(PassiveLearnerConfig c = {}) : learner(c, store, clock) {}

  void relay(const std::string& original = original_text(), const std::string& relayed = relayed_text()) {
    const auto st = learner.on_register_relayed(test::parse(original), phone, test::parse(relayed));
    REQUIRE(st.ok());
  }
  LearnOutcome respond(const std::string& text) { return learner.on_response(test::parse(text)); }
};

TEST_CASE("passive: a 200 commits the binding with the expiry the upstream granted", "[unit]") {
  Fixture fx;
  fx.relay();
  CHECK(fx.learner.pending_count() == 1);
  CHECK(fx.store.binding_count() == 0);  // nothing before the upstream agrees

  CHECK(fx.respond(response_text(100, "Trying", "")).result == LearnResult::kProvisional);
  CHECK(fx.learner.pending_count() == 1);

  const LearnOutcome o = fx.respond(response_text(
      200, "OK", "Contact: <sip:alice@203.0.113.1:5060>;expires=300, <sip:alice@198.51.100.4>;expires=1000\r\n"));
  CHECK(o.result == LearnResult::kLearned);
  CHECK(o.aor == "sip:alice@provider.net");
  CHECK(o.learned == 1);
  CHECK(fx.learner.pending_count() == 0);

  const auto b = fx.store.lookup("sip:alice@provider.net", fx.clock.now());
  REQUIRE(b.size() == 1);  // the other contact in the 200 is not ours to learn
  CHECK(b[0].contact == "sip:alice@10.0.0.2:5060");  // the LAN contact, not the rewritten one
  CHECK(b[0].received.source == test::ep("10.0.0.2:5060"));
  CHECK(b[0].expires_at == fx.clock.now() + seconds(300));  // granted, not asked (3600)

  // A registrar on this controller can route to it: same store, same AoR key.
  RegistrarConfig rc;
  rc.domains = {"provider.net"};
  Registrar registrar(rc, fx.store, fx.clock);
  auto uri = sip::parse_uri("sip:alice@provider.net");
  REQUIRE(uri.ok());
  CHECK(registrar.lookup(*uri).size() == 1);

  // A second copy of the same 200 matches nothing any more.
  CHECK(fx.respond(response_text(200, "OK", "Contact: <sip:alice@203.0.113.1:5060>;expires=300\r\n")).result ==
        LearnResult::kNoMatch);
}

TEST_CASE("passive: the Expires header of the 200 applies when the contact has no parameter", "[unit]") {
  Fixture fx;
  fx.relay();
  const LearnOutcome o = fx.respond(response_text(200, "OK", "Contact: <sip:alice@203.0.113.1:5060>\r\nExpires: 120\r\n"));
  CHECK(o.learned == 1);
  CHECK(fx.store.bindings("sip:alice@provider.net").at(0).expires_at == fx.clock.now() + seconds(120));
}

TEST_CASE("passive: no learning on 401, 403 or a timeout", "[unit]") {
  Fixture fx;
  fx.relay();
  SECTION("401 challenge") {
    const LearnOutcome o = fx.respond(response_text(401, "Unauthorized",
                                                    "WWW-Authenticate: Digest realm=\"provider.net\", nonce=\"abc\"\r\n"));
    CHECK(o.result == LearnResult::kRejected);
    CHECK(o.learned == 0);
    CHECK(fx.learner.pending_count() == 0);
  }
  SECTION("403") {
    CHECK(fx.respond(response_text(403, "Forbidden", "")).result == LearnResult::kRejected);
    CHECK(fx.learner.pending_count() == 0);
  }
  SECTION("timeout: pending dropped, a late 200 matches nothing") {
    fx.clock.advance(seconds(31));
    CHECK(fx.learner.expire_pending() == 0);
    fx.clock.advance(seconds(1));
    CHECK(fx.learner.expire_pending() == 1);
    CHECK(fx.respond(response_text(200, "OK", "Contact: <sip:alice@203.0.113.1:5060>;expires=300\r\n")).result ==
          LearnResult::kNoMatch);
    CHECK(fx.learner.pending_count() == 0);
  }
  SECTION("a 200 for another branch or CSeq is not ours") {
    CHECK(fx.respond(response_text(200, "OK", "Contact: <sip:alice@203.0.113.1:5060>;expires=300\r\n", 1,
                                   "z9hG4bK-up-other")).result == LearnResult::kNoMatch);
    CHECK(fx.respond(response_text(200, "OK", "Contact: <sip:alice@203.0.113.1:5060>;expires=300\r\n", 2)).result ==
          LearnResult::kNoMatch);
    CHECK(fx.learner.pending_count() == 1);
  }
  CHECK(fx.store.binding_count() == 0);
}

TEST_CASE("passive: a de-registration confirmed by the upstream removes the learned binding", "[unit]") {
  Fixture fx;
  fx.relay();
  REQUIRE(fx.respond(response_text(200, "OK", "Contact: <sip:alice@203.0.113.1:5060>;expires=300\r\n")).learned == 1);

  fx.relay(original_text("<sip:alice@10.0.0.2:5060>", 2, "0"),
           relayed_text("<sip:alice@203.0.113.1:5060>", 2, "z9hG4bK-up-2"));
  // RFC 3261 §10.3 step 8: the 200 lists the remaining bindings; ours is absent → unbound.
  const LearnOutcome o = fx.respond(response_text(200, "OK", "", 2, "z9hG4bK-up-2"));
  CHECK(o.result == LearnResult::kLearned);
  CHECK(o.removed == 1);
  CHECK(fx.store.binding_count() == 0);
}

TEST_CASE("passive: pending registrations are bounded in count", "[unit]") {
  Fixture fx(PassiveLearnerConfig{.max_pending = 2, .pending_timeout = seconds(32), .max_expires = 7200});
  fx.relay(original_text(), relayed_text("<sip:alice@203.0.113.1:5060>", 1, "z9hG4bK-a"));
  fx.relay(original_text(), relayed_text("<sip:alice@203.0.113.1:5060>", 1, "z9hG4bK-b"));
  // A retransmission of a pending one is accepted and does not count twice.
  fx.relay(original_text(), relayed_text("<sip:alice@203.0.113.1:5060>", 1, "z9hG4bK-b"));
  const auto st = fx.learner.on_register_relayed(test::parse(original_text()), fx.phone,
                                                 test::parse(relayed_text("<sip:alice@203.0.113.1:5060>", 1, "z9hG4bK-c")));
  REQUIRE_FALSE(st.ok());
  CHECK(st.error().code == ErrorCode::kResourceExhausted);
  CHECK(fx.learner.pending_count() == 2);
  fx.clock.advance(seconds(32));
  fx.relay(original_text(), relayed_text("<sip:alice@203.0.113.1:5060>", 1, "z9hG4bK-c"));  // room again
  CHECK(fx.learner.pending_count() == 1);
}

TEST_CASE("passive: REGISTERs it cannot learn from are refused up front", "[unit]") {
  Fixture fx;
  std::string bad_aor = original_text();
  bad_aor.replace(bad_aor.find("To: <sip:alice@provider.net>"), 28, "To: isbn:2983792873");
  CHECK_FALSE(fx.learner.on_register_relayed(test::parse(bad_aor), fx.phone, test::parse(relayed_text())).ok());
  // Contact counts differ between original and relayed.
  CHECK_FALSE(fx.learner
                  .on_register_relayed(test::parse(original_text("<sip:alice@10.0.0.2>, <sip:alice@10.0.0.3>")),
                                       fx.phone, test::parse(relayed_text()))
                  .ok());
  CHECK(fx.learner.pending_count() == 0);
}

}  // namespace
}  // namespace portcullis::registrar
