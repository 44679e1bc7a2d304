#include <catch2/catch.hpp>

#include "common/base/text.h"

using portcullis::iequals;
using portcullis::log_excerpt;
using portcullis::parse_decimal;

TEST_CASE("parse_decimal is checked against overflow and junk", "[unit][common]") {
  CHECK(parse_decimal("0", 10) == 0u);
  CHECK(parse_decimal("0009", 10) == 9u);
  CHECK(parse_decimal("4294967295", 0xffffffffu) == 4294967295u);
  CHECK_FALSE(parse_decimal("4294967296", 0xffffffffu).has_value());
  CHECK_FALSE(parse_decimal("18446744073709551616", UINT64_MAX).has_value());
  CHECK(parse_decimal("18446744073709551615", UINT64_MAX) == UINT64_MAX);
  CHECK_FALSE(parse_decimal("", 10).has_value());
  CHECK_FALSE(parse_decimal("-1", 10).has_value());
  CHECK_FALSE(parse_decimal("+1", 10).has_value());
  CHECK_FALSE(parse_decimal("1 ", 10).has_value());
  CHECK_FALSE(parse_decimal("11", 10).has_value());
  CHECK_FALSE(parse_decimal("5", 3).has_value());
  CHECK(parse_decimal("3", 3) == 3u);
}

TEST_CASE("iequals folds ASCII case only", "[unit][common]") {
  CHECK(iequals("Via", "vIA"));
  CHECK_FALSE(iequals("Via", "Vias"));
  CHECK_FALSE(iequals("\xc3\xa9", "\xc3\x89"));
}

TEST_CASE("log_excerpt escapes control bytes and truncates", "[unit][common]") {
  CHECK(log_excerpt("INVITE\r\n") == "INVITE\\x0d\\x0a");
  CHECK(log_excerpt(std::string_view("a\0b", 3)) == "a\\x00b");
  CHECK(log_excerpt("abcdef", 3) == "abc...");
  CHECK(log_excerpt("back\\slash") == "back\\x5cslash");
}
