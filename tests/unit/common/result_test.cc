#include <memory>
#include <string>

#include <catch2/catch.hpp>

#include "common/base/result.h"

using portcullis::ErrorCode;
using portcullis::Result;
using portcullis::Status;

namespace {
Result<int> half(int x) {
  if (x % 2 != 0) {
    return portcullis::unexpected(portcullis::invalid_argument("odd: " + std::to_string(x)));
  }
  return x / 2;
}

Status check_even(int x) {
  PORTCULLIS_RETURN_IF_ERROR(half(x));
  return {};
}
}  // namespace

TEST_CASE("Result carries a value or an error", "[unit][common]") {
  auto good = half(8);
  REQUIRE(good.ok());
  CHECK(*good == 4);
  auto bad = half(3);
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().code == ErrorCode::kInvalidArgument);
  CHECK(bad.error().to_string() == "INVALID_ARGUMENT: odd: 3");
  CHECK(bad.value_or(-1) == -1);
}

TEST_CASE("Result holds move-only values", "[unit][common]") {
  Result<std::unique_ptr<int>> r = std::make_unique<int>(7);
  REQUIRE(r.ok());
  auto p = std::move(r).value();
  CHECK(*p == 7);
}

TEST_CASE("RETURN_IF_ERROR propagates the first error", "[unit][common]") {
  CHECK(check_even(4).ok());
  const auto s = check_even(5);
  REQUIRE_FALSE(s.ok());
  CHECK(s.error().message == "odd: 5");
}
