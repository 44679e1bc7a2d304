#include <catch2/catch.hpp>

#include <string>

#include "controller/sip/parser/uri.h"

namespace portcullis::sip {
namespace {

using namespace std::string_view_literals;

struct SipUriCase {
  std::string_view text;
  UriScheme scheme;
  std::string_view user;
  std::string_view password;
  bool has_password;
  std::string_view host;
  HostKind host_kind;
  int port;  // -1: absent
  std::string_view host_port;
  std::size_t param_count;
  std::size_t header_count;
};

TEST_CASE("parse_uri: valid sip/sips URIs", "[unit]") {
  const SipUriCase c = GENERATE(values<SipUriCase>({
      {"sip:alice@atlanta.com", UriScheme::kSip, "alice", "", false, "atlanta.com", HostKind::kDomain, -1,
       "atlanta.com", 0, 0},
      {"SIPS:Bob@Biloxi.COM:5061", UriScheme::kSips, "Bob", "", false, "Biloxi.COM", HostKind::kDomain, 5061,
       "Biloxi.COM:5061", 0, 0},
      {"sip:alice:secretword@atlanta.com;transport=tcp", UriScheme::kSip, "alice", "secretword", true,
       "atlanta.com", HostKind::kDomain, -1, "atlanta.com", 1, 0},
      {"sip:user:@h.example", UriScheme::kSip, "user", "", true, "h.example", HostKind::kDomain, -1, "h.example",
       0, 0},
      {"sip:+1-212-555-1212:1234@gateway.com;user=phone", UriScheme::kSip, "+1-212-555-1212", "1234", true,
       "gateway.com", HostKind::kDomain, -1, "gateway.com", 1, 0},
      {"sip:192.0.2.4", UriScheme::kSip, "", "", false, "192.0.2.4", HostKind::kIpv4, -1, "192.0.2.4", 0, 0},
      {"sip:atlanta.com;method=REGISTER?to=alice%40atlanta.com", UriScheme::kSip, "", "", false, "atlanta.com",
       HostKind::kDomain, -1, "atlanta.com", 1, 1},
      {"sip:alice@atlanta.com?subject=project%20x&priority=urgent", UriScheme::kSip, "alice", "", false,
       "atlanta.com", HostKind::kDomain, -1, "atlanta.com", 0, 2},
      {"sip:[2001:db8::10]:5070;lr", UriScheme::kSip, "", "", false, "[2001:db8::10]", HostKind::kIpv6Reference,
       5070, "[2001:db8::10]:5070", 1, 0},
      {"sip:u@[::ffff:192.0.2.1]", UriScheme::kSip, "u", "", false, "[::ffff:192.0.2.1]",
       HostKind::kIpv6Reference, -1, "[::ffff:192.0.2.1]", 0, 0},
      {"sip:host.example.:00065535", UriScheme::kSip, "", "", false, "host.example.", HostKind::kDomain, 65535,
       "host.example.:00065535", 0, 0},
      // RFC 4475 §3.1.1.9 semiuri.dat: ';' inside the user part.
      {"sip:user;par=u%40example.net@example.com", UriScheme::kSip, "user;par=u%40example.net", "", false,
       "example.com", HostKind::kDomain, -1, "example.com", 0, 0},
      // RFC 4475 §3.1.1.3 esc01.dat.
      {"sip:sips%3Auser%40example.com@example.net", UriScheme::kSip, "sips%3Auser%40example.com", "", false,
       "example.net", HostKind::kDomain, -1, "example.net", 0, 0},
      {"sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31", UriScheme::kSip, "cal%6Cer", "", false,
       "host5.example.net", HostKind::kDomain, -1, "host5.example.net", 2, 0},
      // RFC 4475 §3.1.1.4 escnull.dat.
      {"sip:null-%00-null@example.com", UriScheme::kSip, "null-%00-null", "", false, "example.com",
       HostKind::kDomain, -1, "example.com", 0, 0},
      // RFC 4475 §3.1.1.2 intmeth.dat Request-URI.
      {"sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)"
       "@example.com",
       UriScheme::kSip, "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*", "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)",
       true, "example.com", HostKind::kDomain, -1, "example.com", 0, 0},
      // RFC 4475 §3.3.14 regescrt.dat.
      {"sip:user@example.com?Route=%3Csip:sip.example.com%3E", UriScheme::kSip, "user", "", false, "example.com",
       HostKind::kDomain, -1, "example.com", 0, 1},
      {"sip:a@b?h=", UriScheme::kSip, "a", "", false, "b", HostKind::kDomain, -1, "b", 0, 1},
  }));
  CAPTURE(c.text);
  auto r = parse_uri(c.text);
  REQUIRE(r.ok());
  CHECK(r->scheme == c.scheme);
  CHECK(r->is_sip_or_sips());
  CHECK(r->user == c.user);
  CHECK(r->password == c.password);
  CHECK(r->has_password == c.has_password);
  CHECK(r->host == c.host);
  CHECK(r->host_kind == c.host_kind);
  if (c.port < 0) {
    CHECK_FALSE(r->port.has_value());
  } else {
    REQUIRE(r->port.has_value());
    CHECK(*r->port == c.port);
  }
  CHECK(r->host_port == c.host_port);
  CHECK(r->params.size() == c.param_count);
  CHECK(r->headers.size() == c.header_count);
  CHECK(r->text == c.text);
  CHECK(r->text.data() == c.text.data());  // zero-copy
}

TEST_CASE("parse_uri: parameter and header views", "[unit]") {
  auto r = parse_uri("sip:services.example.com;lr;unknownwith=value;unknown-no-value;maddr=239.255.255.1;"
                     "TRANSPORT=udp?Subject=hi%20there&Call-Info=%3Chttp://x%3E");
  REQUIRE(r.ok());
  REQUIRE(r->params.size() == 5);
  CHECK(r->has_lr());
  CHECK(r->params.items()[1].name == "unknownwith");
  CHECK(r->params.items()[1].value == "value");
  CHECK_FALSE(r->params.items()[2].has_value);
  CHECK(r->maddr() == "239.255.255.1");
  CHECK(r->transport() == "udp");
  REQUIRE(r->headers.size() == 2);
  CHECK(r->headers[0].name == "Subject");
  CHECK(r->headers[0].value == "hi%20there");
  CHECK(r->headers[1].name == "Call-Info");
  CHECK(r->headers[1].value == "%3Chttp://x%3E");

  auto plain = parse_uri("sip:a@b");
  REQUIRE(plain.ok());
  CHECK(plain->transport().empty());
  CHECK(plain->maddr().empty());
  CHECK_FALSE(plain->has_lr());
}

TEST_CASE("parse_uri: tel URIs (RFC 3966)", "[unit]") {
  auto g = parse_uri("tel:+1-201-555-0123;ext=1234;isub=x%20y");
  REQUIRE(g.ok());
  CHECK(g->scheme == UriScheme::kTel);
  CHECK_FALSE(g->is_sip_or_sips());
  CHECK(g->telephone_subscriber == "+1-201-555-0123");
  REQUIRE(g->params.size() == 2);
  CHECK(g->params.get("ext") == std::optional<std::string_view>("1234"));
  CHECK(g->host.empty());

  auto l = parse_uri("TEL:7042;phone-context=example.com");
  REQUIRE(l.ok());
  CHECK(l->scheme_text == "TEL");
  CHECK(l->telephone_subscriber == "7042");
  CHECK(l->params.get("phone-context") == std::optional<std::string_view>("example.com"));

  auto hex = parse_uri("tel:*AB#;phone-context=+1-555");
  REQUIRE(hex.ok());
  CHECK(hex->telephone_subscriber == "*AB#");
}

TEST_CASE("parse_uri: other schemes stay opaque", "[unit]") {
  struct Case {
    std::string_view text;
    std::string_view scheme;
    std::string_view opaque;
  };
  const Case c = GENERATE(values<Case>({
      {"soap.beep://192.0.2.103:3002", "soap.beep", "//192.0.2.103:3002"},  // RFC 4475 novelsc.dat
      {"isbn:2983792873", "isbn", "2983792873"},                              // unksm2.dat
      {"http://www.example.com", "http", "//www.example.com"},
      {"name:John_Smith", "name", "John_Smith"},
      {"nobodyKnowsThisScheme:totallyopaquecontent", "nobodyKnowsThisScheme", "totallyopaquecontent"},
      {"mailto:a%40b@c.example?subject=x", "mailto", "a%40b@c.example?subject=x"},
      {"urn:service:sos", "urn", "service:sos"},
  }));
  CAPTURE(c.text);
  auto r = parse_uri(c.text);
  REQUIRE(r.ok());
  CHECK(r->scheme == UriScheme::kOther);
  CHECK(r->scheme_text == c.scheme);
  CHECK(r->opaque == c.opaque);
  CHECK(r->host.empty());
  CHECK(r->params.empty());
}

TEST_CASE("parse_uri: malformed URIs are rejected with 400", "[unit]") {
  const std::string_view text = GENERATE(as<std::string_view>{},
      "", "sip", "sip:", ":foo", "1sip:a@b", "si p:a@b",
      "sip:user@example.com; lr",          // RFC 4475 lwsruri.dat
      " sip:a@b", "sip:a@b ", "sip:a @b", "sip:a@b\t",
      "<sip:user@example.com>",            // ltgtruri.dat
      "sip:@example.com",                  // empty user
      "sip:a@",                            // empty host
      "sip:a@b:",                          // empty port
      "sip:a@b:65536",                     // port overflow
      "sip:a@b:99999999999999999999999",   // huge port
      "sip:a@b:5x",
      "sip:a%zzb@c", "sip:a%4@c", "sip:a@c;x=%g0", "sip:a%",    // bad escapes
      "sip:a@b;", "sip:a@b;;lr", "sip:a@b;x=", "sip:a@b;=x",     // bad params
      "sip:a@b?", "sip:a@b?x", "sip:a@b?=v", "sip:a@b?x=1&",     // bad headers
      "sip:a@-bad.example", "sip:a@bad-.example", "sip:a@example.123", "sip:a@ex_ample.com",
      "sip:a@256.1.1.1", "sip:a@1.2.3", "sip:a@..", "sip:a@.", "sip:a@a..b",
      "sip:[::1", "sip:[]", "sip:[1:2:3:4:5:6:7:8:9]", "sip:[1::2::3]", "sip:[12345::1]", "sip:[::1]x",
      "sip:[1:2:3:4:5:6:7]", "sip:[:1:2:3:4:5:6:7]", "sip:[1:2:3:4:5:6:7:]", "sip:[::1.2.3.256]",
      "sip:[fe80::1%25eth0]",
      "sip:a\"b@c", "sip:a<b@c", "sip:a@b>", "sip:a@b#frag",
      "tel:", "tel:+", "tel:+1a", "tel:1234", "tel:+1;", "tel:+1;=x", "tel:+1;a=", "tel:+1;phone-context",
      "tel:+1 2", "http:", "http:a b", "isbn:12<3", "foo:bar%2");
  CAPTURE(text);
  auto r = parse_uri(text);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().status == 400);
  CHECK_FALSE(r.error().reason.empty());
  CHECK_FALSE(r.error().drop);
}

TEST_CASE("parse_uri: embedded NUL bytes are rejected and never end the scan", "[unit]") {
  const std::string with_nul("sip:a\0b@example.com", 19);
  CHECK_FALSE(parse_uri(with_nul).ok());
  const std::string nul_host("sip:a@exam\0ple.com", 18);
  CHECK_FALSE(parse_uri(nul_host).ok());
  const std::string nul_tail("sip:a@example.com\0", 18);
  CHECK_FALSE(parse_uri(nul_tail).ok());
  // The view ends before the NUL: parsing must stop at the view, not at the NUL.
  const std::string backing("sip:a@example.com;lr\0garbage", 28);
  auto r = parse_uri(std::string_view(backing).substr(0, 20));
  REQUIRE(r.ok());
  CHECK(r->host == "example.com");
  CHECK(r->has_lr());
}

TEST_CASE("unescape decodes exactly once (RFC 3261 §19.1.2)", "[unit]") {
  struct Case {
    std::string_view in;
    std::string out;
  };
  const Case c = GENERATE(values<Case>({
      {"value%41", "valueA"},
      {"%2541", "%41"},
      {"v%61lue%25%34%31", "value%41"},   // esc01.dat: not "valueA"
      {"%zz%4", "%zz%4"},                 // invalid escapes copied through
      {"%", "%"},
      {"a%4", "a%4"},
      {"%6c%6C", "ll"},
      {"", ""},
      {"null-%00-null", std::string("null-\0-null", 11)},
  }));
  CAPTURE(c.in);
  CHECK(unescape(c.in) == c.out);
}

struct EquivCase {
  std::string_view a;
  std::string_view b;
  bool equal;
};

TEST_CASE("uri_equivalent: RFC 3261 §19.1.4 examples and more", "[unit]") {
  const EquivCase c = GENERATE(values<EquivCase>({
      // §19.1.4 equivalent pairs.
      {"sip:%61lice@atlanta.com;transport=TCP", "sip:alice@AtLanTa.CoM;Transport=tcp", true},
      {"sip:carol@chicago.com", "sip:carol@chicago.com;newparam=5", true},
      {"sip:carol@chicago.com", "sip:carol@chicago.com;security=on", true},
      {"sip:carol@chicago.com;newparam=5", "sip:carol@chicago.com;security=on", true},
      {"sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com",
       "sip:biloxi.com;method=REGISTER;transport=tcp?to=sip:bob%40biloxi.com", true},
      {"sip:alice@atlanta.com?subject=project%20x&priority=urgent",
       "sip:alice@atlanta.com?priority=urgent&subject=project%20x", true},
      // §19.1.4 non-equivalent pairs.
      {"SIP:ALICE@AtLanTa.CoM;Transport=udp", "sip:alice@AtLanTa.CoM;Transport=UDP", false},
      {"sip:bob@biloxi.com", "sip:bob@biloxi.com:5060", false},
      {"sip:bob@biloxi.com", "sip:bob@biloxi.com;transport=udp", false},
      {"sip:bob@biloxi.com", "sip:bob@biloxi.com:6000;transport=tcp", false},
      {"sip:carol@chicago.com", "sip:carol@chicago.com?Subject=next%20meeting", false},
      {"sip:bob@phone21.boxesbybob.com", "sip:bob@192.0.2.4", false},
      // §19.1.4 rules not covered by the examples.
      {"sip:alice@atlanta.com", "sips:alice@atlanta.com", false},
      {"sip:alice@atlanta.com", "sip:alice@atlanta.com;user=phone", false},
      {"sip:alice@atlanta.com;ttl=1", "sip:alice@atlanta.com", false},
      {"sip:alice@atlanta.com;method=INVITE", "sip:alice@atlanta.com", false},
      {"sip:alice@atlanta.com;maddr=239.255.255.1", "sip:alice@atlanta.com", false},
      {"sip:alice@atlanta.com;x=1", "sip:alice@atlanta.com;x=2", false},
      {"sip:alice:pw@atlanta.com", "sip:alice:PW@atlanta.com", false},
      {"sip:alice:pw@atlanta.com", "sip:alice@atlanta.com", false},
      {"sip:alice@atlanta.com:5060", "sip:alice@atlanta.com:05060", true},
      {"sip:a;b@h", "sip:a%3Bb@h", false},   // escaped reserved char stays distinct
      {"sip:a%3bb@h", "sip:a%3Bb@h", true},  // hex case does not matter
      {"sip:value%41@h", "sip:valueA@h", true},
      {"sip:value%2541@h", "sip:valueA@h", false},
      {"sip:%00@host5.example.com", "sip:%00%00@host5.example.com", false},  // escnull.dat
      {"sip:alice@atlanta.com?a=1", "sip:alice@atlanta.com?a=1&b=2", false},
      {"sip:alice@atlanta.com;lr", "sip:alice@atlanta.com;LR", true},
      // tel (RFC 3966 §4) and other schemes.
      {"tel:+1-201-555-0123", "tel:+12015550123", true},
      {"tel:+1-201-555-0123", "tel:+12015550124", false},
      {"tel:7042;phone-context=example.com", "tel:7042;PHONE-CONTEXT=Example.com", true},
      {"tel:7042;phone-context=example.com", "tel:7042;phone-context=example.org", false},
      {"tel:+1;ext=2", "tel:+1", false},
      {"tel:+1", "sip:+1@h", false},
      {"isbn:2983792873", "ISBN:2983792873", true},
      {"isbn:2983792873", "isbn:2983792874", false},
      {"http://a", "isbn://a", false},
  }));
  CAPTURE(c.a, c.b);
  auto a = parse_uri(c.a);
  auto b = parse_uri(c.b);
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK(uri_equivalent(*a, *b) == c.equal);
  CHECK(uri_equivalent(*b, *a) == c.equal);
  CHECK(uri_equivalent(*a, *a));
}

TEST_CASE("a URI parameter given twice is rejected (ambiguous, breaks equality)", "[unit][uri]") {
  // Found by sip_uri_fuzz: uri_equivalent(u, u) was false for a tel URI with two phone-contexts.
  for (const char* text : {"sip:alice@example.com;transport=udp;transport=tcp",
                           "sip:alice@example.com;lr;LR",
                           "tel:+1-201-555-0123;phone-context=a.example;phone-context=b.example",
                           "tel:+1-201-555-0123;e34;phone-context=example.com;e34"}) {
    INFO(text);
    const auto r = parse_uri(text);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error() == SipError{400, "duplicate URI parameter", false});
  }
  const auto distinct = parse_uri("tel:+1-201-555-0123;ext=1;phone-context=example.com");
  REQUIRE(distinct.ok());
  CHECK(uri_equivalent(*distinct, *distinct));
}

}  // namespace
}  // namespace portcullis::sip
