#include <catch2/catch.hpp>

#include <string>

#include "controller/sip/parser/name_addr.h"

namespace portcullis::sip {
namespace {

struct NameAddrCase {
  std::string_view text;
  std::string_view display_name;
  std::string_view uri_text;
  bool angle_brackets;
  std::size_t param_count;
  std::string_view tag;
};

TEST_CASE("parse_name_addr: valid forms", "[unit]") {
  const NameAddrCase c = GENERATE(values<NameAddrCase>({
      {"<sip:a@b>", "", "sip:a@b", true, 0, ""},
      {"Bob <sip:bob@biloxi.com>;tag=a6c85cf", "Bob", "sip:bob@biloxi.com", true, 1, "a6c85cf"},
      {"\"Bob\" <sips:bob@192.0.2.4>", "\"Bob\"", "sips:bob@192.0.2.4", true, 0, ""},
      {"sip:a@b;tag=x", "", "sip:a@b", false, 1, "x"},
      // RFC 4475 §3.1.1.1 wsinv.dat (after unfolding).
      {"sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n", "", "sip:vivekg@chair-dnrc.example.com",
       false, 1, "1918181833n"},
      {"\"J Rosenberg \\\\\\\"\"       <sip:jdrosen@example.com>   ;   tag = 98asjd8",
       "\"J Rosenberg \\\\\\\"\"", "sip:jdrosen@example.com", true, 1, "98asjd8"},
      {"\"Quoted string \\\"\\\"\" <sip:jdrosen@example.com> ; newparam = newvalue ;  secondparam ; q = 0.33",
       "\"Quoted string \\\"\\\"\"", "sip:jdrosen@example.com", true, 3, ""},
      // RFC 4475 §3.1.1.6 lwsdisp.dat: no LWS between display name and '<'.
      {"caller<sip:caller@example.com>;tag=323", "caller", "sip:caller@example.com", true, 1, "323"},
      {"\"caller\"<sip:caller@example.com>", "\"caller\"", "sip:caller@example.com", true, 0, ""},
      // RFC 4475 §3.1.1.2 intmeth.dat.
      {"token1~` token2'+_ token3*%!.- <sip:mundane@example.com>;tag=_token~1'+`*%!-.",
       "token1~` token2'+_ token3*%!.-", "sip:mundane@example.com", true, 1, "_token~1'+`*%!-."},
      {"\"%Z%45\" <sip:resource@example.com>", "\"%Z%45\"", "sip:resource@example.com", true, 0, ""},
      // RFC 4475 §3.3.12 cparam01.dat: addr-spec form, so ;unknownparam is a header param.
      {"sip:+19725552222@gw1.example.net;unknownparam", "", "sip:+19725552222@gw1.example.net", false, 1, ""},
      // RFC 4475 §3.3.13 cparam02.dat: inside <>, it is a URI param.
      {"<sip:+19725552222@gw1.example.net;unknownparam>", "", "sip:+19725552222@gw1.example.net;unknownparam",
       true, 0, ""},
      // RFC 4475 §3.3.14 regescrt.dat: escaped header inside <> is fine.
      {"<sip:user@example.com?Route=%3Csip:sip.example.com%3E>", "",
       "sip:user@example.com?Route=%3Csip:sip.example.com%3E", true, 0, ""},
      // RFC 4475 §3.3.4 unksm2.dat.
      {"isbn:2983792873", "", "isbn:2983792873", false, 0, ""},
      {"<http://www.example.com>;tag=3234233", "", "http://www.example.com", true, 1, "3234233"},
      {"<name:John_Smith>", "", "name:John_Smith", true, 0, ""},
      {"\"\" <sip:a@b>", "\"\"", "sip:a@b", true, 0, ""},
      {"<sip:user;par=u%40example.net@example.com>", "", "sip:user;par=u%40example.net@example.com", true, 0, ""},
  }));
  CAPTURE(c.text);
  auto r = parse_name_addr(c.text);
  REQUIRE(r.ok());
  CHECK(r->display_name == c.display_name);
  CHECK(r->uri.text == c.uri_text);
  CHECK(r->angle_brackets == c.angle_brackets);
  CHECK(r->params.size() == c.param_count);
  CHECK(r->tag() == c.tag);
}

TEST_CASE("parse_name_addr: header params of wsinv.dat m: value", "[unit]") {
  auto r = parse_name_addr(
      "\"Quoted string \\\"\\\"\" <sip:jdrosen@example.com> ; newparam =       newvalue ;   secondparam ; q = 0.33");
  REQUIRE(r.ok());
  const auto& p = r->params.items();
  REQUIRE(p.size() == 3);
  CHECK(p[0].name == "newparam");
  CHECK(p[0].value == "newvalue");
  CHECK(p[1].name == "secondparam");
  CHECK_FALSE(p[1].has_value);
  CHECK(p[2].name == "q");
  CHECK(p[2].value == "0.33");
  CHECK(r->unquoted_display_name() == "Quoted string \"\"");
}

TEST_CASE("parse_name_addr: unquoted_display_name", "[unit]") {
  struct Case {
    std::string text;  // owns the bytes: some cases are built at run time
    std::string expected;
  };
  const Case c = GENERATE(values<Case>({
      {"\"J Rosenberg \\\\\\\"\" <sip:a@b>", "J Rosenberg \\\""},
      {"Alice Smith <sip:a@b>", "Alice Smith"},
      {"<sip:a@b>", ""},
      {"\"\" <sip:a@b>", ""},
      {"\"BEL:\\\a NUL:\\" + std::string(1, '\0') + " DEL:\\\x7f\" <sip:a@b>",
       "BEL:\a NUL:" + std::string(1, '\0') + " DEL:\x7f"},
      {"\"\xd0\x98\xd0\xb2\xd0\xb0\xd0\xbd\" <sip:a@b>", "\xd0\x98\xd0\xb2\xd0\xb0\xd0\xbd"},  // UTF-8
  }));
  CAPTURE(c.text);
  auto r = parse_name_addr(c.text);
  REQUIRE(r.ok());
  CHECK(r->unquoted_display_name() == c.expected);
}

TEST_CASE("parse_name_addr: malformed values are rejected with 400", "[unit]") {
  const std::string_view text = GENERATE(as<std::string_view>{},
      "",
      "   ",
      "\"Mr. J. User <sip:j.user@example.com>",          // quotbal.dat
      "Bell, Alexander <sip:a.g.bell@example.com>;tag=43",  // baddn.dat
      "Watson, Thomas <sip:t.watson@example.org>",
      "\"Watson, Thomas\" < sip:t.watson@example.org >",  // badaspec.dat
      "<sip:a@b >",
      "< sip:a@b>",
      "sip:user@example.com?Route=%3Csip:sip.example.com%3E",  // regbadct.dat
      "<sip:a@b",
      "sip:a@b>",
      "<sip:a@b>>",
      "<sip:a@b> junk",
      "<sip:a@b>;tag=1 junk",
      "<sip:a@b>, <sip:c@d>",                             // a list is not one name-addr
      "sip:a@b, sip:c@d",
      "\"Joe\" <sip:joe@example.org>;;;;",                 // badinv01.dat Contact
      "\"Joe\"",
      "Joe",
      "Joe sip:a@b",
      "\"Joe\" sip:a@b",
      "J\xc3\xb6rg <sip:a@b>",                             // UTF-8 needs quotes
      "<>",
      "<sip:a@b>;tag",                                     // fine syntactically? no: see below
      "\"a\\\" <sip:a@b>",                                 // escaped closing quote: unterminated
      "\"bad\rquote\" <sip:a@b>");
  CAPTURE(text);
  if (text == "<sip:a@b>;tag") {
    // A valueless tag is legal generic-param syntax; make sure it parses (and has no value).
    auto ok = parse_name_addr(text);
    REQUIRE(ok.ok());
    CHECK(ok->tag().empty());
    CHECK(ok->params.has("tag"));
    return;
  }
  auto r = parse_name_addr(text);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().status == 400);
}

TEST_CASE("parse_name_addr_list: commas inside quotes and <> do not split", "[unit]") {
  auto r = parse_name_addr_list(
      "\"Watson, Thomas\" <sip:t,w@example.org;x=a>;q=0.7 ,  <sip:c,d@e?h=1> , sip:e@f;expires=60");
  REQUIRE(r.ok());
  REQUIRE(r->size() == 3);
  CHECK((*r)[0].display_name == "\"Watson, Thomas\"");
  CHECK((*r)[0].uri.text == "sip:t,w@example.org;x=a");  // ',' is legal in the user part
  CHECK((*r)[0].uri.user == "t,w");
  CHECK((*r)[0].params.get("q") == std::optional<std::string_view>("0.7"));
  CHECK((*r)[1].uri.user == "c,d");
  REQUIRE((*r)[1].uri.headers.size() == 1);
  CHECK((*r)[1].uri.headers[0].value == "1");
  CHECK((*r)[2].uri.text == "sip:e@f");
  CHECK_FALSE((*r)[2].angle_brackets);
  CHECK((*r)[2].params.get("expires") == std::optional<std::string_view>("60"));
}

TEST_CASE("parse_name_addr_list: malformed lists", "[unit]") {
  const std::string_view text = GENERATE(as<std::string_view>{},
      "", " ", ",", "<sip:a@b>,", "<sip:a@b>,,<sip:c@d>", ",<sip:a@b>", "<sip:a@b> <sip:c@d>",
      "Bell, Alexander <sip:a.g.bell@example.com>", "<sip:a@b>, \"open <sip:c@d>", "<sip:a@b>, <sip:c@d");
  CAPTURE(text);
  auto r = parse_name_addr_list(text);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().status == 400);
}

TEST_CASE("split_comma_list", "[unit]") {
  SECTION("splits on top-level commas and trims LWS") {
    auto r = split_comma_list(" a , \"b,c\" <sip:x;y=1,2>;p=\"q,\\\"r\" ,\td ");
    REQUIRE(r.ok());
    REQUIRE(r->size() == 3);
    CHECK((*r)[0] == "a");
    CHECK((*r)[1] == "\"b,c\" <sip:x;y=1,2>;p=\"q,\\\"r\"");
    CHECK((*r)[2] == "d");
  }
  SECTION("empty value is an empty list") {
    auto r = split_comma_list("   ");
    REQUIRE(r.ok());
    CHECK(r->empty());
  }
  SECTION("quotes inside <> are not quotes") {
    auto r = split_comma_list("<sip:a\"b>, c");
    REQUIRE(r.ok());
    REQUIRE(r->size() == 2);
    CHECK((*r)[0] == "<sip:a\"b>");
  }
  SECTION("errors") {
    const std::string_view text = GENERATE(as<std::string_view>{},
        "a,,b", "a,", ",a", " , ", "\"a,b", "<a,b", "a, \"b\\\"", "a, \"b\\");
    CAPTURE(text);
    auto r = split_comma_list(text);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().status == 400);
  }
}

}  // namespace
}  // namespace portcullis::sip
