// Registrar (RFC 3261 §10.3) driven with REGISTERs written as text, on a FakeClock.
#include <catch2/catch.hpp>

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "common/time/fake_clock.h"
#include "controller/registrar/in_memory_location_store.h"
#include "controller/registrar/registrar.h"
#include "controller/registrar/response_builder.h"
#include "tests/unit/controller/registrar/register_builder.h"

namespace portcullis::registrar {
namespace {

using std::chrono::seconds;
using test::make_register;
using test::RegisterSpec;
using test::udp_from;

RegistrarConfig default_config() {
  RegistrarConfig c;
  c.domains = {"Example.COM"};  // compared case-insensitively
  c.default_expires = 3600;
  c.min_expires = 60;
  c.max_expires = 7200;
  c.max_contacts_per_aor = 3;
  return c;
}

struct Fixture {
  FakeClock clock;
  InMemoryLocationStore store;
  Registrar registrar;

  explicit Fixture(RegistrarConfig config = default_config()) : registrar(std::move(config), store, clock) {}

  RegisterDecision reg(const RegisterSpec& spec, const TransportContext& ctx = udp_from("203.0.113.7:40001")) {
    return registrar.handle_register(make_register(spec), ctx);
  }
  std::vector<Target> targets(const char* uri = "sip:alice@example.com") {
    auto u = sip::parse_uri(uri);
    REQUIRE(u.ok());
    return registrar.lookup(*u);
  }
};

std::vector<std::string> contact_values(const RegisterDecision& d) {
  std::vector<std::string> out;
  for (const HeaderLine& h : d.headers) {
    if (h.name == "Contact") {
      out.push_back(h.value);
    }
  }
  return out;
}

std::string read_rfc4475(const char* name) {
  std::ifstream f(std::string(PORTCULLIS_RFC4475_DIR) + "/" + name, std::ios::binary);
  REQUIRE(f.good());
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

TEST_CASE("registrar: a new binding is stored with its transport facts and listed in the 200", "[unit]") {
  Fixture fx;
  RegisterSpec spec;
  spec.contacts = {"<sip:alice@10.0.0.2:5060;transport=udp>"};
  const RegisterDecision d = fx.reg(spec, udp_from("203.0.113.7:40001", 0));

  CHECK(d.status == 200);
  CHECK(d.reason == "OK");
  CHECK(d.aor == "sip:alice@example.com");
  CHECK(d.added == 1);
  CHECK(d.updated == 0);
  CHECK(contact_values(d) == std::vector<std::string>{"<sip:alice@10.0.0.2:5060;transport=udp>;expires=3600"});
  // FakeClock's wall clock starts at 2026-01-01T00:00:00Z, a Thursday (RFC 3261 §10.3 step 8).
  REQUIRE(d.header("Date") != nullptr);
  CHECK(d.header("Date")->value == "Thu, 01 Jan 2026 00:00:00 GMT");
  CHECK(fx.store.binding_count() == 1);
  CHECK(fx.store.aor_count() == 1);

  const auto t = fx.targets();
  REQUIRE(t.size() == 1);
  CHECK(t[0].contact == "sip:alice@10.0.0.2:5060;transport=udp");
  CHECK(t[0].received == test::ep("203.0.113.7:40001"));  // where the NATed phone really is
  CHECK(t[0].transport == TransportKind::kUdp);
  CHECK(t[0].local == test::ep("192.0.2.10:5060"));
  CHECK(t[0].q == 1000);
  CHECK(t[0].path.empty());

  // The AoR lookup canonicalises: escaped user, upper-case host, parameters and sips.
  CHECK(fx.targets("sips:%61lice@EXAMPLE.com;user=phone").size() == 1);
  CHECK(fx.targets("sip:bob@example.com").empty());
  CHECK(fx.targets("tel:+15551234").empty());
}

TEST_CASE("registrar: refresh with a higher CSeq moves the expiry and the source", "[unit]") {
  Fixture fx;
  RegisterSpec spec;
  spec.contacts = {"<sip:alice@10.0.0.2:5060>"};
  REQUIRE(fx.reg(spec).status == 200);
  const auto first_expiry = fx.store.bindings("sip:alice@example.com").at(0).expires_at;

  fx.clock.advance(seconds(1800));
  spec.cseq = 2;
  spec.branch = "z9hG4bK-reg-2";
  const RegisterDecision d = fx.reg(spec, udp_from("203.0.113.7:40999"));  // NAT rebinding
  CHECK(d.status == 200);
  CHECK(d.added == 0);
  CHECK(d.updated == 1);
  CHECK(contact_values(d) == std::vector<std::string>{"<sip:alice@10.0.0.2:5060>;expires=3600"});
  CHECK(d.header("Date")->value == "Thu, 01 Jan 2026 00:30:00 GMT");
  const auto b = fx.store.bindings("sip:alice@example.com");
  REQUIRE(b.size() == 1);
  CHECK(b[0].expires_at - first_expiry == seconds(1800));
  CHECK(b[0].cseq == 2);
  CHECK(b[0].received.source == test::ep("203.0.113.7:40999"));
}

TEST_CASE("registrar: an equivalent contact URI refreshes instead of adding (RFC 3261 §19.1.4)", "[unit]") {
  Fixture fx;
  RegisterSpec spec;
  spec.contacts = {"<sip:alice@PHONE.example.net:5060>"};
  REQUIRE(fx.reg(spec).status == 200);
  spec.cseq = 2;
  spec.contacts = {"<sip:%61lice@phone.example.net:5060>"};
  const RegisterDecision d = fx.reg(spec);
  CHECK(d.status == 200);
  CHECK(d.updated == 1);
  CHECK(fx.store.binding_count() == 1);
  CHECK(fx.store.bindings("sip:alice@example.com").at(0).contact == "sip:%61lice@phone.example.net:5060");
}

TEST_CASE("registrar: expires=0 removes one contact, the others stay", "[unit]") {
  Fixture fx;
  RegisterSpec spec;
  spec.contacts = {"<sip:alice@10.0.0.2>", "<sip:alice@10.0.0.3>"};
  REQUIRE(fx.reg(spec).status == 200);
  REQUIRE(fx.store.binding_count() == 2);

  spec.cseq = 2;
  spec.contacts = {"<sip:alice@10.0.0.2>;expires=0"};
  const RegisterDecision d = fx.reg(spec);
  CHECK(d.status == 200);
  CHECK(d.removed == 1);
  CHECK(contact_values(d) == std::vector<std::string>{"<sip:alice@10.0.0.3>;expires=3600"});
  CHECK(fx.store.binding_count() == 1);

  SECTION("Expires: 0 header removes too") {
    spec.cseq = 3;
    spec.contacts = {"<sip:alice@10.0.0.3>"};
    spec.expires = "0";
    const RegisterDecision d2 = fx.reg(spec);
    CHECK(d2.status == 200);
    CHECK(d2.removed == 1);
    CHECK(contact_values(d2).empty());
    CHECK(fx.store.binding_count() == 0);
    CHECK(fx.store.aor_count() == 0);
  }
}

TEST_CASE("registrar: Contact: * with Expires: 0 removes every binding (RFC 3261 §10.2.2)", "[unit]") {
  Fixture fx;
  RegisterSpec spec;
  spec.contacts = {"<sip:alice@10.0.0.2>", "<sip:alice@10.0.0.3>"};
  REQUIRE(fx.reg(spec).status == 200);
  RegisterSpec other = spec;
  other.call_id = "other-phone@10.0.0.9";
  other.contacts = {"<sip:alice@10.0.0.9>"};
  REQUIRE(fx.reg(other).status == 200);
  REQUIRE(fx.store.binding_count() == 3);

  RegisterSpec star = spec;
  star.cseq = 2;
  star.contacts = {"*"};

  SECTION("valid") {
    star.expires = "0";
    const RegisterDecision d = fx.reg(star);
    CHECK(d.status == 200);
    CHECK(d.removed == 3);
    CHECK(contact_values(d).empty());
    CHECK(d.header("Date") != nullptr);
    CHECK(fx.store.binding_count() == 0);
  }
  SECTION("without Expires → 400") {
    const RegisterDecision d = fx.reg(star);
    CHECK(d.status == 400);
    CHECK(d.reason == "Contact: * requires Expires: 0");
    CHECK(fx.store.binding_count() == 3);
  }
  SECTION("with Expires other than 0 → 400") {
    star.expires = "3600";
    CHECK(fx.reg(star).status == 400);
    CHECK(fx.store.binding_count() == 3);
  }
  SECTION("* together with another contact → 400") {
    star.expires = "0";
    star.contacts = {"*", "<sip:alice@10.0.0.2>"};
    CHECK(fx.reg(star).status == 400);
    CHECK(fx.store.binding_count() == 3);
  }
  SECTION("same Call-ID with an older CSeq → 500, nothing removed") {
    star.expires = "0";
    star.cseq = spec.cseq - 1;
    CHECK(fx.reg(star).status == 500);
    CHECK(fx.store.binding_count() == 3);
  }
}

TEST_CASE("registrar: 423 Interval Too Brief with Min-Expires, long intervals are clamped", "[unit]") {
  Fixture fx;
  RegisterSpec spec;
  spec.contacts = {"<sip:alice@10.0.0.2>", "<sip:alice@10.0.0.3>"};

  SECTION("Expires header below the minimum") {
    spec.expires = "30";
    const RegisterDecision d = fx.reg(spec);
    CHECK(d.status == 423);
    CHECK(d.reason == "Interval Too Brief");
    REQUIRE(d.header("Min-Expires") != nullptr);
    CHECK(d.header("Min-Expires")->value == "60");
    CHECK(fx.store.binding_count() == 0);  // nothing committed (§10.3: all or nothing)
  }
  SECTION("one contact's expires parameter below the minimum fails the whole request") {
    spec.contacts = {"<sip:alice@10.0.0.2>", "<sip:alice@10.0.0.3>;expires=59"};
    CHECK(fx.reg(spec).status == 423);
    CHECK(fx.store.binding_count() == 0);
  }
  SECTION("exactly the minimum is accepted") {
    spec.expires = "60";
    const RegisterDecision d = fx.reg(spec);
    CHECK(d.status == 200);
    CHECK(contact_values(d) == std::vector<std::string>{"<sip:alice@10.0.0.2>;expires=60",
                                                        "<sip:alice@10.0.0.3>;expires=60"});
  }
  SECTION("above the maximum is shortened to it") {
    spec.expires = "100000";
    const RegisterDecision d = fx.reg(spec);
    CHECK(d.status == 200);
    CHECK(contact_values(d) == std::vector<std::string>{"<sip:alice@10.0.0.2>;expires=7200",
                                                        "<sip:alice@10.0.0.3>;expires=7200"});
  }
}

TEST_CASE("registrar: a contact's expires parameter overrides the Expires header (RFC 3261 §10.2.1.1)", "[unit]") {
  Fixture fx;
  RegisterSpec spec;
  spec.expires = "1200";
  spec.contacts = {"<sip:alice@10.0.0.2>;expires=600", "<sip:alice@10.0.0.3>"};
  const RegisterDecision d = fx.reg(spec);
  REQUIRE(d.status == 200);
  CHECK(contact_values(d) == std::vector<std::string>{"<sip:alice@10.0.0.2>;expires=600",
                                                      "<sip:alice@10.0.0.3>;expires=1200"});
  // Seconds left count down on the fake clock.
  fx.clock.advance(seconds(100));
  RegisterSpec query;
  query.cseq = 2;
  const RegisterDecision q = fx.reg(query);  // no Contact: a query (§10.2.3)
  CHECK(q.status == 200);
  CHECK(q.added + q.updated + q.removed == 0);
  // Same q, same registration time: registration order.
  CHECK(contact_values(q) == std::vector<std::string>{"<sip:alice@10.0.0.2>;expires=500",
                                                      "<sip:alice@10.0.0.3>;expires=1100"});
}

TEST_CASE("registrar: lookup orders by q, then by most recent registration", "[unit]") {
  Fixture fx;
  RegisterSpec a;
  a.call_id = "phone-a";
  a.contacts = {"<sip:alice@10.0.0.2>;q=0.5"};
  REQUIRE(fx.reg(a).status == 200);
  fx.clock.advance(seconds(1));
  RegisterSpec b;
  b.call_id = "phone-b";
  b.contacts = {"<sip:alice@10.0.0.3>;q=0.9"};
  REQUIRE(fx.reg(b).status == 200);
  fx.clock.advance(seconds(1));
  RegisterSpec c;
  c.call_id = "phone-c";
  c.contacts = {"<sip:alice@10.0.0.4>;q=0.5"};
  const RegisterDecision d = fx.reg(c);
  REQUIRE(d.status == 200);

  const auto t = fx.targets();
  REQUIRE(t.size() == 3);
  CHECK(t[0].contact == "sip:alice@10.0.0.3");
  CHECK(t[0].q == 900);
  CHECK(t[1].contact == "sip:alice@10.0.0.4");  // q tie: the newer one first
  CHECK(t[2].contact == "sip:alice@10.0.0.2");
  CHECK(contact_values(d) == std::vector<std::string>{"<sip:alice@10.0.0.3>;expires=3599;q=0.9",
                                                      "<sip:alice@10.0.0.4>;expires=3600;q=0.5",
                                                      "<sip:alice@10.0.0.2>;expires=3598;q=0.5"});
  SECTION("malformed q → 400") {
    RegisterSpec bad;
    bad.call_id = "phone-d";
    bad.contacts = {"<sip:alice@10.0.0.5>;q=1.5"};
    CHECK(fx.reg(bad).status == 400);
    CHECK(fx.store.binding_count() == 3);
  }
}

TEST_CASE("registrar: several phones on one AoR, each with its own Call-ID", "[unit]") {
  Fixture fx;
  RegisterSpec desk;
  desk.call_id = "desk@10.0.0.2";
  desk.contacts = {"<sip:alice@10.0.0.2>"};
  RegisterSpec soft;
  soft.call_id = "soft@10.0.0.50";
  soft.contacts = {"<sip:alice@10.0.0.50:5080;transport=tcp>"};
  REQUIRE(fx.reg(desk, udp_from("203.0.113.7:40001")).status == 200);
  fx.clock.advance(seconds(5));
  const TransportContext tcp{test::ep("203.0.113.7:51000"), TransportKind::kTcp, test::ep("192.0.2.10:5060"), 42};
  const RegisterDecision d = fx.reg(soft, tcp);
  REQUIRE(d.status == 200);
  CHECK(contact_values(d).size() == 2);
  CHECK(fx.store.binding_count("sip:alice@example.com") == 2);

  const auto t = fx.targets();
  REQUIRE(t.size() == 2);
  CHECK(t[0].contact == "sip:alice@10.0.0.50:5080;transport=tcp");  // same q: newest first
  CHECK(t[0].transport == TransportKind::kTcp);
  CHECK(t[0].connection_id == 42);
  CHECK(t[0].received == test::ep("203.0.113.7:51000"));
  CHECK(t[1].transport == TransportKind::kUdp);
}

TEST_CASE("registrar: Path is stored for the proxy and echoed when the UA supports it (RFC 3327)", "[unit]") {
  Fixture fx;
  RegisterSpec spec;
  spec.contacts = {"<sip:alice@10.0.0.2>"};
  spec.extra = {"Path: <sip:edge1.example.com;lr>", "Path: <sip:edge2.example.com;lr;ob>"};

  SECTION("Supported: path") {
    spec.extra.push_back("Supported: path, gruu");
    const RegisterDecision d = fx.reg(spec);
    REQUIRE(d.status == 200);
    REQUIRE(d.header("Path") != nullptr);
    CHECK(d.header("Path")->value == "<sip:edge1.example.com;lr>, <sip:edge2.example.com;lr;ob>");
  }
  SECTION("no Supported: path → stored, not echoed") {
    const RegisterDecision d = fx.reg(spec);
    REQUIRE(d.status == 200);
    CHECK(d.header("Path") == nullptr);
  }
  const auto t = fx.targets();
  REQUIRE(t.size() == 1);
  CHECK(t[0].path == std::vector<std::string>{"<sip:edge1.example.com;lr>", "<sip:edge2.example.com;lr;ob>"});
}

TEST_CASE("registrar: max contacts per AoR", "[unit]") {
  RegistrarConfig config = default_config();
  config.max_contacts_per_aor = 2;

  SECTION("reject → 403") {
    Fixture fx(config);
    RegisterSpec spec;
    spec.contacts = {"<sip:alice@10.0.0.2>", "<sip:alice@10.0.0.3>"};
    REQUIRE(fx.reg(spec).status == 200);
    RegisterSpec third;
    third.call_id = "third";
    third.contacts = {"<sip:alice@10.0.0.4>"};
    const RegisterDecision d = fx.reg(third);
    CHECK(d.status == 403);
    CHECK(d.reason == "Too Many Contacts");
    CHECK(fx.store.binding_count() == 2);
    CHECK(fx.registrar.stats().rejected_too_many == 1);

    SECTION("removing one in the same request makes room") {
      RegisterSpec swap = spec;
      swap.cseq = 2;
      swap.contacts = {"<sip:alice@10.0.0.2>;expires=0", "<sip:alice@10.0.0.4>"};
      const RegisterDecision s = fx.reg(swap);
      CHECK(s.status == 200);
      CHECK(s.removed == 1);
      CHECK(s.added == 1);
      CHECK(fx.store.binding_count() == 2);
    }
  }
  SECTION("evict oldest") {
    config.overflow = ContactOverflow::kEvictOldest;
    Fixture fx(config);
    RegisterSpec one;
    one.call_id = "one";
    one.contacts = {"<sip:alice@10.0.0.2>"};
    REQUIRE(fx.reg(one).status == 200);
    fx.clock.advance(seconds(10));
    RegisterSpec two;
    two.call_id = "two";
    two.contacts = {"<sip:alice@10.0.0.3>"};
    REQUIRE(fx.reg(two).status == 200);
    fx.clock.advance(seconds(10));
    RegisterSpec three;
    three.call_id = "three";
    three.contacts = {"<sip:alice@10.0.0.4>"};
    const RegisterDecision d = fx.reg(three);
    CHECK(d.status == 200);
    CHECK(d.evicted == 1);
    const auto t = fx.targets();
    REQUIRE(t.size() == 2);
    CHECK(t[0].contact == "sip:alice@10.0.0.4");
    CHECK(t[1].contact == "sip:alice@10.0.0.3");

    RegisterSpec too_many;
    too_many.call_id = "four";
    too_many.contacts = {"<sip:alice@10.0.0.5>", "<sip:alice@10.0.0.6>", "<sip:alice@10.0.0.7>"};
    CHECK(fx.reg(too_many).status == 403);  // the request alone exceeds the limit
  }
}

TEST_CASE("registrar: domain and source-network policy", "[unit]") {
  RegisterSpec spec;
  spec.contacts = {"<sip:alice@10.0.0.2>"};

  SECTION("foreign Request-URI domain → 404 by default") {
    Fixture fx;
    spec.ruri = "sip:other.org";
    const RegisterDecision d = fx.reg(spec);
    CHECK(d.status == 404);
    CHECK(fx.registrar.stats().rejected_domain == 1);
  }
  SECTION("foreign Request-URI domain → 403 when configured") {
    RegistrarConfig c = default_config();
    c.foreign_domain_status = 403;
    Fixture fx(c);
    spec.ruri = "sip:other.org";
    CHECK(fx.reg(spec).status == 403);
  }
  SECTION("Request-URI host is case-insensitive, trailing dot allowed") {
    Fixture fx;
    spec.ruri = "sip:EXAMPLE.com.";
    CHECK(fx.reg(spec).status == 200);
  }
  SECTION("AoR in another domain → 404 (§10.3 step 5)") {
    Fixture fx;
    spec.to = "<sip:alice@other.org>";
    CHECK(fx.reg(spec).status == 404);
  }
  SECTION("non-SIP Request-URI → 416") {
    Fixture fx;
    spec.ruri = "tel:+15551234";
    CHECK(fx.reg(spec).status == 416);
  }
  SECTION("source networks") {
    RegistrarConfig c = default_config();
    c.allowed_sources = {*net::Prefix::parse("10.0.0.0/8"), *net::Prefix::parse("2001:db8::/32")};
    Fixture fx(c);
    CHECK(fx.reg(spec, udp_from("10.1.2.3:5060")).status == 200);
    RegisterSpec v6 = spec;
    v6.call_id = "v6-phone";
    v6.contacts = {"<sip:alice@[2001:db8::7]>"};
    CHECK(fx.reg(v6, udp_from("[2001:db8::7]:5060")).status == 200);
    RegisterSpec other = spec;
    other.call_id = "intruder";
    const RegisterDecision d = fx.reg(other, udp_from("198.51.100.1:5060"));
    CHECK(d.status == 403);
    CHECK(fx.registrar.stats().rejected_source == 1);
    CHECK(fx.store.binding_count() == 2);
  }
  SECTION("empty domain list serves nothing") {
    RegistrarConfig c = default_config();
    c.domains.clear();
    Fixture fx(c);
    CHECK(fx.reg(spec).status == 404);
  }
}

TEST_CASE("registrar: an AoR that is not SIP/SIPS → 400 (RFC 4475 §3.3.4 unksm2.dat)", "[unit]") {
  Fixture fx;
  SECTION("the torture message itself") {
    const RegisterDecision d = fx.registrar.handle_register(test::parse(read_rfc4475("unksm2.dat")),
                                                            udp_from("192.0.2.21:5060"));
    CHECK(d.status == 400);
    CHECK(d.reason == "Address-of-record must be a SIP or SIPS URI");
  }
  SECTION("the same To in a built REGISTER") {
    RegisterSpec spec;
    spec.to = "isbn:2983792873";
    spec.contacts = {"<sip:alice@10.0.0.2>"};
    CHECK(fx.reg(spec).status == 400);
  }
  SECTION("a non-SIP contact") {
    RegisterSpec spec;
    spec.contacts = {"<name:John_Smith>"};
    const RegisterDecision d = fx.reg(spec);
    CHECK(d.status == 400);
    CHECK(d.reason == "Contact URI must be SIP or SIPS");
  }
  CHECK(fx.store.binding_count() == 0);
}

TEST_CASE("registrar: RFC 4475 §3.3.14 regescrt.dat: the escaped header stays in the contact", "[unit]") {
  RegistrarConfig c = default_config();
  Fixture fx(c);
  const RegisterDecision d = fx.registrar.handle_register(test::parse(read_rfc4475("regescrt.dat")),
                                                          udp_from("192.0.2.5:5060"));
  REQUIRE(d.status == 200);
  CHECK(d.aor == "sip:user@example.com");
  CHECK(contact_values(d) ==
        std::vector<std::string>{"<sip:user@example.com?Route=%3Csip:sip.example.com%3E>;expires=3600"});
}

TEST_CASE("registrar: purge on the fake clock", "[unit]") {
  Fixture fx;
  RegisterSpec spec;
  spec.contacts = {"<sip:alice@10.0.0.2>;expires=60", "<sip:alice@10.0.0.3>;expires=120"};
  REQUIRE(fx.reg(spec).status == 200);
  RegisterSpec bob;
  bob.to = "<sip:bob@example.com>";
  bob.call_id = "bob";
  bob.contacts = {"<sip:bob@10.0.0.9>;expires=60"};
  REQUIRE(fx.reg(bob).status == 200);
  REQUIRE(fx.store.binding_count() == 3);

  fx.clock.advance(seconds(59));
  CHECK(fx.registrar.purge_expired() == 0);
  CHECK(fx.targets().size() == 2);
  fx.clock.advance(seconds(1));  // expires_at == now counts as expired
  CHECK(fx.targets().size() == 1);  // lookup hides it before the purge runs
  CHECK(fx.store.binding_count() == 3);
  CHECK(fx.registrar.purge_expired() == 2);
  CHECK(fx.store.binding_count() == 1);
  CHECK(fx.store.aor_count() == 1);
  fx.clock.advance(seconds(60));
  CHECK(fx.registrar.purge_expired() == 1);
  CHECK(fx.store.binding_count() == 0);
  CHECK(fx.store.aor_count() == 0);
}

TEST_CASE("registrar: Call-ID and CSeq ordering (RFC 3261 §10.3 step 7)", "[unit]") {
  Fixture fx;
  RegisterSpec spec;
  spec.cseq = 10;
  spec.contacts = {"<sip:alice@10.0.0.2>"};
  REQUIRE(fx.reg(spec).status == 200);

  SECTION("same Call-ID, same CSeq is the same request again: answered alike (§8.2.7)") {
    fx.clock.advance(seconds(5));
    const RegisterDecision d = fx.reg(spec);
    CHECK(d.status == 200);
    CHECK(d.added == 0);
    CHECK(d.updated == 1);
    CHECK(fx.store.binding_count() == 1);
    CHECK(fx.registrar.stats().rejected_out_of_order == 0);
    // A retransmitted removal finds nothing left to remove and still succeeds.
    spec.cseq = 11;
    spec.expires = "0";
    CHECK(fx.reg(spec).status == 200);
    CHECK(fx.store.binding_count() == 0);
    const RegisterDecision again = fx.reg(spec);
    CHECK(again.status == 200);
    CHECK(again.removed == 0);
    CHECK(fx.store.binding_count() == 0);
  }
  SECTION("same Call-ID, lower CSeq → 500; a removal cannot sneak in either") {
    spec.cseq = 9;
    spec.expires = "0";
    CHECK(fx.reg(spec).status == 500);
    CHECK(fx.store.binding_count() == 1);
  }
  SECTION("different Call-ID with a lower CSeq replaces the binding") {
    spec.call_id = "rebooted-phone";
    spec.cseq = 1;
    const RegisterDecision d = fx.reg(spec);
    CHECK(d.status == 200);
    CHECK(d.updated == 1);
    const auto b = fx.store.bindings("sip:alice@example.com");
    REQUIRE(b.size() == 1);
    CHECK(b[0].call_id == "rebooted-phone");
    CHECK(b[0].cseq == 1);
  }
  SECTION("an expired binding no longer constrains the CSeq") {
    fx.clock.advance(seconds(3600));
    CHECK(fx.reg(spec).status == 200);
  }
}

TEST_CASE("registrar: Require handling (RFC 3261 §8.2.2.3, §10.3 step 2)", "[unit]") {
  Fixture fx;
  RegisterSpec spec;
  spec.contacts = {"<sip:alice@10.0.0.2>"};
  SECTION("unknown extension → 420 with Unsupported") {
    spec.extra = {"Require: path, foo, 100rel"};
    const RegisterDecision d = fx.reg(spec);
    CHECK(d.status == 420);
    REQUIRE(d.header("Unsupported") != nullptr);
    CHECK(d.header("Unsupported")->value == "foo, 100rel");
    CHECK(fx.store.binding_count() == 0);
  }
  SECTION("path and outbound are known") {
    spec.extra = {"Require: Path", "Require: outbound"};
    CHECK(fx.reg(spec).status == 200);
  }
}

TEST_CASE("registrar: RFC 5626 instance-id + reg-id key the binding, not the contact", "[unit]") {
  Fixture fx;
  RegisterSpec spec;
  spec.extra = {"Supported: path, outbound"};
  spec.contacts = {"<sip:alice@10.0.0.2:5060;transport=tcp>;+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-000A95A0E128>\";reg-id=1"};
  const TransportContext flow1{test::ep("203.0.113.7:50001"), TransportKind::kTcp, test::ep("192.0.2.10:5060"), 7};
  RegisterDecision d = fx.reg(spec, flow1);
  REQUIRE(d.status == 200);
  REQUIRE(d.header("Require") != nullptr);
  CHECK(d.header("Require")->value == "outbound");
  CHECK(contact_values(d) == std::vector<std::string>{
      "<sip:alice@10.0.0.2:5060;transport=tcp>;expires=3600;+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-000A95A0E128>\";reg-id=1"});

  // The phone reconnects from a new port with a new contact: same instance and reg-id → replaced.
  spec.cseq = 2;
  spec.contacts = {"<sip:alice@10.0.0.2:6000;transport=tcp>;+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-000A95A0E128>\";reg-id=1"};
  const TransportContext flow2{test::ep("203.0.113.7:50002"), TransportKind::kTcp, test::ep("192.0.2.10:5060"), 8};
  d = fx.reg(spec, flow2);
  REQUIRE(d.status == 200);
  CHECK(d.updated == 1);
  const auto t = fx.targets();
  REQUIRE(t.size() == 1);
  CHECK(t[0].contact == "sip:alice@10.0.0.2:6000;transport=tcp");
  CHECK(t[0].connection_id == 8);
  CHECK(t[0].reg_id == 1);
  CHECK(t[0].instance_id == "\"<urn:uuid:00000000-0000-1000-8000-000A95A0E128>\"");

  // A second flow (reg-id=2) of the same instance is a second binding.
  spec.cseq = 3;
  spec.contacts = {"<sip:alice@10.0.0.2:6001;transport=tcp>;+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-000A95A0E128>\";reg-id=2"};
  REQUIRE(fx.reg(spec, flow2).status == 200);
  CHECK(fx.store.binding_count() == 2);

  SECTION("reg-id 0 is malformed") {
    spec.cseq = 4;
    spec.contacts = {"<sip:alice@10.0.0.2>;+sip.instance=\"<urn:uuid:1>\";reg-id=0"};
    CHECK(fx.reg(spec).status == 400);
  }
}

TEST_CASE("registrar: not a REGISTER → 405", "[unit]") {
  Fixture fx;
  std::string text = test::register_text(RegisterSpec{});
  text.replace(0, 8, "OPTIONS");
  text.replace(text.find("CSeq: 1 REGISTER"), 16, "CSeq: 1 OPTIONS");
  const RegisterDecision d = fx.registrar.handle_register(test::parse(text), udp_from("10.0.0.2:5060"));
  CHECK(d.status == 405);
  CHECK(d.header("Allow")->value == "REGISTER");
}

TEST_CASE("registrar: location store full → 503, nothing half-committed", "[unit]") {
  FakeClock clock;
  InMemoryLocationStore store({.max_bindings = 2});
  Registrar registrar(default_config(), store, clock);
  RegisterSpec spec;
  spec.contacts = {"<sip:alice@10.0.0.2>", "<sip:alice@10.0.0.3>"};
  REQUIRE(registrar.handle_register(make_register(spec), udp_from("10.0.0.2:5060")).status == 200);
  RegisterSpec bob;
  bob.to = "<sip:bob@example.com>";
  bob.call_id = "bob";
  bob.contacts = {"<sip:bob@10.0.0.9>"};
  const RegisterDecision d = registrar.handle_register(make_register(bob), udp_from("10.0.0.9:5060"));
  CHECK(d.status == 503);
  CHECK(d.header("Retry-After")->value == "60");
  CHECK(store.binding_count() == 2);
  // Once Alice's bindings expire, the purge inside handle_register makes room.
  clock.advance(seconds(3600));
  CHECK(registrar.handle_register(make_register(bob), udp_from("10.0.0.9:5060")).status == 200);
  CHECK(store.binding_count() == 1);
}

TEST_CASE("response builder: RFC 3261 §8.2.6 copy plus the decision's headers", "[unit]") {
  Fixture fx;
  RegisterSpec spec;
  spec.contacts = {"<sip:alice@10.0.0.2>"};
  const sip::SipMessage req = make_register(spec);
  const RegisterDecision d = fx.registrar.handle_register(req, udp_from("203.0.113.7:40001"));
  REQUIRE(d.status == 200);
  const std::string text = build_response(req, d, "totag-1");
  CHECK(text ==
        "SIP/2.0 200 OK\r\n"
        "Via: SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bK-reg-1;rport\r\n"
        "From: <sip:alice@example.com>;tag=from-1\r\n"
        "To: <sip:alice@example.com>;tag=totag-1\r\n"
        "Call-ID: reg-1@10.0.0.2\r\n"
        "CSeq: 1 REGISTER\r\n"
        "Contact: <sip:alice@10.0.0.2>;expires=3600\r\n"
        "Date: Thu, 01 Jan 2026 00:00:00 GMT\r\n"
        "Content-Length: 0\r\n\r\n");
  // What we build parses, and keeps the tag stable for a retransmission.
  const sip::SipMessage resp = test::parse(build_response(req, d));
  CHECK(resp.status_code() == 200);
  CHECK(resp.to().tag() == derive_to_tag(req));
  CHECK(derive_to_tag(req).size() == 16);
  CHECK(derive_to_tag(make_register(spec)) == derive_to_tag(req));

  SECTION("423 carries Min-Expires; no CR/LF injection through the reason") {
    RegisterDecision bad;
    bad.status = 423;
    bad.reason = "Interval\r\nX-Evil: 1";
    bad.headers = {{"Min-Expires", "60"}};
    const std::string t = build_response(req, bad, "t");
    CHECK(t.find("SIP/2.0 423 Interval  X-Evil: 1\r\n") == 0);
    CHECK(t.find("\r\nMin-Expires: 60\r\n") != std::string::npos);
  }
}

}  // namespace
}  // namespace portcullis::registrar
