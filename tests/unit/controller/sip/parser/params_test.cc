#include <catch2/catch.hpp>

#include "controller/sip/parser/headers.h"
#include "controller/sip/parser/params.h"

namespace portcullis::sip {
namespace {

TEST_CASE("ParamList find and get are case-insensitive and return the first match", "[unit]") {
  ParamList list;
  list.push_back({"Tag", "abc", true});
  list.push_back({"lr", "", false});
  list.push_back({"tag", "second", true});

  REQUIRE(list.size() == 3);
  REQUIRE(list.find("TAG") != nullptr);
  CHECK(list.find("TAG")->value == "abc");
  CHECK(list.get("tag") == std::optional<std::string_view>("abc"));
  CHECK(list.has("LR"));
  CHECK(list.get("lr") == std::optional<std::string_view>(""));
  CHECK_FALSE(list.get("missing").has_value());
  CHECK(list.find("ta") == nullptr);
  CHECK_FALSE(ParamList{}.has("x"));
}

// Header parameters are exercised through name-addr, the main consumer (SEMI = SWS ";" SWS,
// EQUAL = SWS "=" SWS, gen-value = token / host / quoted-string).
TEST_CASE("header params: names, values, LWS, quoted and IPv6 values", "[unit]") {
  auto na = parse_name_addr(
      R"(<sip:a@b> ; tag = 98asjd8 ;lr; x="q;u,o\"te" ;h=[2001:db8::1];Empty)");
  REQUIRE(na.ok());
  const auto& items = na->params.items();
  REQUIRE(items.size() == 5);
  CHECK(items[0].name == "tag");
  CHECK(items[0].value == "98asjd8");
  CHECK(items[0].has_value);
  CHECK(items[1].name == "lr");
  CHECK_FALSE(items[1].has_value);
  CHECK(items[1].value.empty());
  CHECK(items[2].name == "x");
  CHECK(items[2].value == R"("q;u,o\"te")");
  CHECK(items[3].value == "[2001:db8::1]");
  CHECK(items[4].name == "Empty");
  CHECK(na->tag() == "98asjd8");
}

TEST_CASE("header params: malformed forms are rejected", "[unit]") {
  const std::string_view input = GENERATE(as<std::string_view>{},
      "<sip:a@b>;",             // trailing ';'
      "<sip:a@b>;;tag=1",       // empty name
      "<sip:a@b>;tag=",         // '=' without value
      "<sip:a@b>;tag=\"open",   // unterminated quoted value
      "<sip:a@b>;tag=a b",      // junk after value
      "<sip:a@b>;ta g=1",       // LWS inside a name
      "<sip:a@b>;=1",           // no name
      "<sip:a@b>;h=[::1",       // unterminated IPv6 reference
      "<sip:a@b>;h=[zz]",       // bad IPv6 reference
      "<sip:a@b>;t@g=1");       // non-token name
  CAPTURE(input);
  auto na = parse_name_addr(input);
  REQUIRE_FALSE(na.ok());
  CHECK(na.error().status == 400);
}

TEST_CASE("header params: too many parameters is an error, not unbounded growth", "[unit]") {
  std::string value = "<sip:a@b>";
  for (int i = 0; i < 64; ++i) {
    value += ";p";
  }
  CHECK(parse_name_addr(value).ok());
  value += ";p";
  CHECK_FALSE(parse_name_addr(value).ok());
}

TEST_CASE("media type params require a value", "[unit]") {
  CHECK(parse_media_type("multipart/mixed;boundary=7a9cbec02ceef655").ok());
  CHECK_FALSE(parse_media_type("multipart/mixed;boundary").ok());
}

}  // namespace
}  // namespace portcullis::sip
