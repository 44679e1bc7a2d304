#include <catch2/catch.hpp>

#include <string>

#include "controller/sip/parser/headers.h"

namespace portcullis::sip {
namespace {

TEST_CASE("parse_cseq", "[unit]") {
  SECTION("valid") {
    struct Case {
      std::string_view text;
      std::uint32_t number;
      std::string_view method;
    };
    const Case c = GENERATE(values<Case>({
        {"4711 INVITE", 4711, "INVITE"},
        {"0009   INVITE", 9, "INVITE"},  // wsinv.dat, unfolded
        {"0009\r\n  INVITE", 9, "INVITE"},
        {"0 ACK", 0, "ACK"},
        {"4294967295 BYE", 4294967295u, "BYE"},
        {"139122385 !interesting-Method0123456789_*+`.%indeed'~", 139122385,
         "!interesting-Method0123456789_*+`.%indeed'~"},  // intmeth.dat
        {"29344 RE%47IST%45R", 29344, "RE%47IST%45R"},    // esc02.dat
        {" 1\tOPTIONS ", 1, "OPTIONS"},
    }));
    CAPTURE(c.text);
    auto r = parse_cseq(c.text);
    REQUIRE(r.ok());
    CHECK(r->number == c.number);
    CHECK(r->method == c.method);
  }
  SECTION("invalid") {
    const std::string_view text = GENERATE(as<std::string_view>{},
        "", "INVITE", "1", "1INVITE", "-1 INVITE", "+1 INVITE", "1 INV ITE", "1 INVITE x", "1 INVITE,",
        "4294967296 INVITE",                    // pjproject#2093
        "36893488147419103232 REGISTER",        // scalar02.dat
        "9292394834772304023312 OPTIONS",       // scalarlg.dat
        "1 <INVITE>", "0x10 INVITE");
    CAPTURE(text);
    auto r = parse_cseq(text);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error() == SipError{400, "malformed CSeq header", false});
  }
}

TEST_CASE("parse_max_forwards", "[unit]") {
  struct Case {
    std::string_view text;
    int expected;  // -1: error
  };
  const Case c = GENERATE(values<Case>({
      {"70", 70}, {"0068", 68}, {"0", 0}, {"255", 255}, {"00000000000000000000255", 255},
      {"256", -1}, {"300", -1}, {"-1", -1}, {"", -1}, {"7 0", -1}, {"1e2", -1}, {"99999999999999999999999", -1},
  }));
  CAPTURE(c.text);
  auto r = parse_max_forwards(c.text);
  if (c.expected < 0) {
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().status == 400);
  } else {
    REQUIRE(r.ok());
    CHECK(*r == c.expected);
  }
}

TEST_CASE("parse_content_length", "[unit]") {
  CHECK(parse_content_length("0", 100).value() == 0u);
  CHECK(parse_content_length("150", 150).value() == 150u);
  CHECK(parse_content_length("000150", 65535).value() == 150u);
  CHECK(parse_content_length("4294967295", 4294967295u).value() == 4294967295u);

  const std::string_view malformed = GENERATE(as<std::string_view>{}, "-999", "", "abc", "1 2", "+5", "0x10", "1.0");
  CAPTURE(malformed);
  auto bad = parse_content_length(malformed, 65535);
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error() == SipError{400, "malformed Content-Length header", false});

  auto too_big = parse_content_length("9999", 1500);
  REQUIRE_FALSE(too_big.ok());
  CHECK(too_big.error().status == 513);
  auto overflow = parse_content_length("99999999999999999999999999", 4294967295u);
  REQUIRE_FALSE(overflow.ok());
  CHECK(overflow.error().status == 513);
}

TEST_CASE("parse_delta_seconds clamps large values", "[unit]") {
  CHECK(parse_delta_seconds("3600").value() == 3600u);
  CHECK(parse_delta_seconds("0").value() == 0u);
  CHECK(parse_delta_seconds("4294967295").value() == 4294967295u);
  CHECK(parse_delta_seconds("4294967296").value() == 4294967295u);
  CHECK(parse_delta_seconds("1" + std::string(102, '0')).value() == 4294967295u);  // scalar02.dat
  CHECK_FALSE(parse_delta_seconds("").ok());
  CHECK_FALSE(parse_delta_seconds("-1").ok());
  CHECK_FALSE(parse_delta_seconds("10s").ok());
}

TEST_CASE("parse_contact", "[unit]") {
  SECTION("star") {
    auto r = parse_contact("*");
    REQUIRE(r.ok());
    CHECK(r->star);
    CHECK(r->contacts.empty());
  }
  SECTION("list with q and expires") {
    auto r = parse_contact(
        "\"Mr. Watson\" <sip:watson@worcester.bell-telephone.com>;q=0.7; expires=3600, "
        "\"Mr. Watson\" <mailto:watson@bell-telephone.com> ;q=0.1");
    REQUIRE(r.ok());
    CHECK_FALSE(r->star);
    REQUIRE(r->contacts.size() == 2);
    CHECK(r->contacts[0].uri.host == "worcester.bell-telephone.com");
    CHECK(contact_expires(r->contacts[0]) == std::optional<std::uint32_t>(3600));
    CHECK(contact_q(r->contacts[0]).value() == std::optional<std::uint16_t>(700));
    CHECK(r->contacts[1].uri.scheme == UriScheme::kOther);
    CHECK_FALSE(contact_expires(r->contacts[1]).has_value());
    CHECK(contact_q(r->contacts[1]).value() == std::optional<std::uint16_t>(100));
  }
  SECTION("cparam01.dat: addr-spec params are contact params") {
    auto r = parse_contact("sip:+19725552222@gw1.example.net;unknownparam");
    REQUIRE(r.ok());
    REQUIRE(r->contacts.size() == 1);
    CHECK(r->contacts[0].params.has("unknownparam"));
    CHECK(r->contacts[0].uri.params.empty());
  }
  SECTION("scalar02.dat: overlarge expires clamps") {
    auto r = parse_contact("<sip:user@host129.example.com>  ;expires=280297596632815");
    REQUIRE(r.ok());
    CHECK(contact_expires(r->contacts[0]) == std::optional<std::uint32_t>(4294967295u));
  }
  SECTION("errors") {
    const std::string_view text = GENERATE(as<std::string_view>{},
        "", "*, <sip:a@b>", "<sip:a@b>, *", "**", "\"Joe\" <sip:joe@example.org>;;;;",
        "sip:user@example.com?Route=%3Csip:sip.example.com%3E", "<sip:a@b>,");
    CAPTURE(text);
    auto r = parse_contact(text);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().status == 400);
  }
}

TEST_CASE("contact_q", "[unit]") {
  struct Case {
    std::string_view param;
    int expected;  // -1 error, -2 absent
  };
  const Case c = GENERATE(values<Case>({
      {"", -2}, {";q=0", 0}, {";q=1", 1000}, {";q=0.5", 500}, {";q=0.33", 330}, {";q=0.001", 1},
      {";q=0.", 0}, {";q=1.000", 1000}, {";q=1.", 1000}, {";q=0.999", 999},
      {";q=1.001", -1}, {";q=2", -1}, {";q=0.1234", -1}, {";q=.5", -1}, {";q", -1}, {";q=00.5", -1},
      {";q=\"0.5\"", -1}, {";q=0,5", -1},
  }));
  const std::string text = "<sip:a@b>" + std::string(c.param);
  CAPTURE(text);
  auto na = parse_name_addr(text);
  if (!na.ok()) {
    CHECK(c.expected == -1);  // e.g. ";q=0,5" fails already as a name-addr
    return;
  }
  auto q = contact_q(*na);
  if (c.expected == -1) {
    REQUIRE_FALSE(q.ok());
    CHECK(q.error().status == 400);
  } else if (c.expected == -2) {
    REQUIRE(q.ok());
    CHECK_FALSE(q->has_value());
  } else {
    REQUIRE(q.ok());
    REQUIRE(q->has_value());
    CHECK(**q == c.expected);
  }
}

TEST_CASE("contact_expires ignores non-numeric values", "[unit]") {
  auto na = parse_name_addr("<sip:a@b>;expires=soon");
  REQUIRE(na.ok());
  CHECK_FALSE(contact_expires(*na).has_value());
}

TEST_CASE("parse_media_type", "[unit]") {
  SECTION("valid") {
    auto r = parse_media_type("multipart/mixed;boundary=7a9cbec02ceef655");
    REQUIRE(r.ok());
    CHECK(r->type == "multipart");
    CHECK(r->subtype == "mixed");
    CHECK(r->params.get("boundary") == std::optional<std::string_view>("7a9cbec02ceef655"));
    CHECK(r->is("MULTIPART", "Mixed"));
    CHECK_FALSE(r->is("application", "sdp"));

    auto sdp = parse_media_type("application / sdp ; charset = \"utf-8\" ;level=1");
    REQUIRE(sdp.ok());
    CHECK(sdp->is("application", "sdp"));
    REQUIRE(sdp->params.size() == 2);
    CHECK(sdp->params.items()[0].value == "\"utf-8\"");

    auto unk = parse_media_type("application/unknownformat");  // invut.dat
    REQUIRE(unk.ok());
    CHECK(unk->subtype == "unknownformat");
    CHECK(unk->params.empty());
  }
  SECTION("invalid") {
    const std::string_view text = GENERATE(as<std::string_view>{},
        "", "application", "application/", "/sdp", "application/sdp;", "application/sdp;charset",
        "application/sdp;charset=", "application/sdp x", "text/plain, text/html", "app lication/sdp",
        "application/sdp;a=\"open");
    CAPTURE(text);
    auto r = parse_media_type(text);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().status == 400);
  }
}

TEST_CASE("parse_token_list", "[unit]") {
  auto r = parse_token_list("nothingSupportsThis, nothingSupportsThisEither");  // bext01.dat
  REQUIRE(r.ok());
  REQUIRE(r->size() == 2);
  CHECK((*r)[0] == "nothingSupportsThis");
  CHECK((*r)[1] == "nothingSupportsThisEither");

  auto one = parse_token_list(" 100rel ");
  REQUIRE(one.ok());
  REQUIRE(one->size() == 1);
  CHECK((*one)[0] == "100rel");

  auto spaced = parse_token_list("INVITE ,ACK\t,  BYE");
  REQUIRE(spaced.ok());
  CHECK(spaced->size() == 3);
  CHECK((*spaced)[2] == "BYE");

  auto empty = parse_token_list("");
  REQUIRE(empty.ok());
  CHECK(empty->empty());
  auto blank = parse_token_list("   ");
  REQUIRE(blank.ok());
  CHECK(blank->empty());

  const std::string_view bad = GENERATE(as<std::string_view>{}, ",", "a,", ",a", "a,,b", "a b", "a;b", "\"a\"", "a, <b>");
  CAPTURE(bad);
  auto e = parse_token_list(bad);
  REQUIRE_FALSE(e.ok());
  CHECK(e.error().status == 400);
}

TEST_CASE("parse_call_id", "[unit]") {
  const std::string_view valid = GENERATE(as<std::string_view>{},
      "a84b4c76e66710@pc33.atlanta.com",
      "wsinv.ndaksdj@192.0.2.1",
      "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{",  // intmeth.dat
      "3d9485ad0c49859b@Zmx1ZmZ5LW1hYy0xNi5sb2NhbA..",
      "no-at-sign");
  CAPTURE(valid);
  auto r = parse_call_id(valid);
  REQUIRE(r.ok());
  CHECK(*r == valid);
  CHECK(r->data() == valid.data());

  auto trimmed = parse_call_id("  abc@def  ");
  REQUIRE(trimmed.ok());
  CHECK(*trimmed == "abc@def");

  const std::string_view invalid = GENERATE(as<std::string_view>{},
      "", "a@", "@b", "a@b@c", "a b", "a,b", "a;b", "a@b c", "a\x01");
  CAPTURE(invalid);
  auto e = parse_call_id(invalid);
  REQUIRE_FALSE(e.ok());
  CHECK(e.error() == SipError{400, "malformed Call-ID header", false});
}

TEST_CASE("is_token / is_method", "[unit]") {
  CHECK(is_token("INVITE"));
  CHECK(is_token("!interesting-Method0123456789_*+`.%indeed'~"));
  CHECK_FALSE(is_token(""));
  CHECK_FALSE(is_token("a b"));
  CHECK_FALSE(is_token("a:b"));
  CHECK_FALSE(is_token(std::string_view("a\0b", 3)));
  CHECK(is_method("RE%47IST%45R"));
  CHECK_FALSE(is_method("<INVITE>"));
}

TEST_CASE("parse_auth", "[unit]") {
  SECTION("Digest credentials") {
    auto r = parse_auth(
        "Digest username=\"bob\", realm=\"biloxi.com\",nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\" ,"
        " uri=\"sip:bob@biloxi.com\", qop=auth, nc=00000001, cnonce=\"0a4f113b\","
        " response=\"6629fae49393a05397450978507c4ef1\", opaque=\"5ccc069c403ebaf9f0171e9517f40e41\","
        " algorithm=MD5, note=\"a \\\"quoted\\\", value\"");
    REQUIRE(r.ok());
    CHECK(r->scheme == "Digest");
    CHECK(r->token68.empty());
    REQUIRE(r->params.size() == 11);
    CHECK(r->params[0].name == "username");
    CHECK(r->params[0].value == "\"bob\"");
    CHECK(r->params[0].quoted);
    REQUIRE(r->find("QOP") != nullptr);
    CHECK(r->find("qop")->value == "auth");
    CHECK_FALSE(r->find("qop")->quoted);
    CHECK(r->find("nc")->value == "00000001");
    CHECK(r->find("note")->value == "\"a \\\"quoted\\\", value\"");
    CHECK(r->find("missing") == nullptr);
  }
  SECTION("unknown scheme (regaut01.dat)") {
    auto r = parse_auth("NoOneKnowsThisScheme opaque-data=here");
    REQUIRE(r.ok());
    CHECK(r->scheme == "NoOneKnowsThisScheme");
    REQUIRE(r->params.size() == 1);
    CHECK(r->params[0].name == "opaque-data");
    CHECK(r->params[0].value == "here");
  }
  SECTION("token68 and bare scheme") {
    auto basic = parse_auth("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
    REQUIRE(basic.ok());
    CHECK(basic->scheme == "Basic");
    CHECK(basic->params.empty());
    CHECK(basic->token68 == "QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
    auto eq = parse_auth("Foo abc=");  // not an auth-param (no value), so token68
    REQUIRE(eq.ok());
    CHECK(eq->params.empty());
    CHECK(eq->token68 == "abc=");
    auto bare = parse_auth("Negotiate");
    REQUIRE(bare.ok());
    CHECK(bare->scheme == "Negotiate");
    CHECK(bare->params.empty());
    CHECK(bare->token68.empty());
  }
  SECTION("challenge with quoted qop list") {
    auto r = parse_auth("Digest realm=\"atlanta.com\", domain=\"sip:boxesbybob.com\", qop=\"auth,auth-int\", "
                        "nonce=\"f84f1cec41e6cbe5aea9c8e88d359\", opaque=\"\", stale=FALSE, algorithm=MD5");
    REQUIRE(r.ok());
    CHECK(r->params.size() == 7);
    CHECK(r->find("qop")->value == "\"auth,auth-int\"");
    CHECK(r->find("opaque")->value == "\"\"");
    CHECK(r->find("stale")->value == "FALSE");
  }
  SECTION("malformed") {
    const std::string_view text = GENERATE(as<std::string_view>{},
        "", "Digest realm=\"x\",", "Digest ,realm=\"x\"", "Digest realm=\"x\",,nonce=\"y\"", "Digest realm=\"open",
        "Digest realm= ,x", "Digest realm=\"x\" nonce=\"y\"", "Digest a=b c", "\"Digest\" realm=x", "Digest=x",
        "Basic abc==x", "Basic a b");
    CAPTURE(text);
    auto r = parse_auth(text);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().status == 400);
  }
}

TEST_CASE("parse_date", "[unit]") {
  SECTION("valid") {
    struct Case {
      std::string_view text;
      std::int64_t unix_seconds;
    };
    const Case c = GENERATE(values<Case>({
        {"Sat, 13 Nov 2010 23:29:00 GMT", 1289690940},
        {"Thu, 01 Jan 1970 00:00:00 GMT", 0},
        {"Sat, 15 Oct 2005 04:44:56 GMT", 1129351496},  // mpart01.dat
        {"Thu, 21 Feb 2002 13:02:03 GMT", 1014296523},  // RFC 3261 §20.17
        {"Tue, 29 Feb 2000 12:00:00 gmt", 951825600},
        {"Fri, 31 Dec 9999 23:59:59 GMT", 253402300799},
    }));
    CAPTURE(c.text);
    auto r = parse_date(c.text);
    REQUIRE(r.ok());
    CHECK(r->unix_seconds == c.unix_seconds);
  }
  SECTION("invalid") {
    const std::string_view text = GENERATE(as<std::string_view>{},
        "Fri, 01 Jan 2010 16:00:00 EST",  // RFC 4475 §3.1.2.12 baddate.dat
        "", "Sat, 13 Nov 2010 23:29:00", "Sat, 13 Nov 2010 23:29:00 UTC", "Sat,13 Nov 2010 23:29:00 GMT",
        "Sat, 3 Nov 2010 23:29:00 GMT", "Sat, 13 Nov 10 23:29:00 GMT", "Xyz, 13 Nov 2010 23:29:00 GMT",
        "Sat, 13 Foo 2010 23:29:00 GMT", "Sat, 32 Jan 2010 23:29:00 GMT", "Sat, 29 Feb 2010 23:29:00 GMT",
        "Sat, 29 Feb 1900 00:00:00 GMT", "Sat, 00 Jan 2010 00:00:00 GMT", "Sat, 13 Nov 2010 24:00:00 GMT",
        "Sat, 13 Nov 2010 23:60:00 GMT", "Sat, 13 Nov 2010 23:29:61 GMT", "Sat, 13 Nov 2010 23:29:00 GMT x",
        "Sat, 13 Nov 2010 2a:29:00 GMT", "Sat, 13 Nov -010 23:29:00 GMT", "Sat, 13 Nov 2010 23-29-00 GMT",
        "Saturday, 13-Nov-10 23:29:00 GMT");
    CAPTURE(text);
    auto r = parse_date(text);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error() == SipError{400, "malformed Date header", false});
  }
}

}  // namespace
}  // namespace portcullis::sip
