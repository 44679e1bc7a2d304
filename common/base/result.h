// Result<T, E>: a value or an error, never an exception. Used wherever input is untrusted
// (SIP/SDP parsing, FCP requests, config files). C++20 has no std::expected, so this is the
// small subset of it the project needs.
#pragma once

#include <cassert>
#include <type_traits>
#include <utility>
#include <variant>

#include "common/base/error.h"

namespace portcullis {

template <class E>
struct Unexpected {
  E error;
};

/// Wraps an error so it converts into any Result<T, E>.
template <class E>
Unexpected<std::decay_t<E>> unexpected(E&& e) {
  return {std::forward<E>(e)};
}

template <class T, class E = Error>
class [[nodiscard]] Result {
 public:
  using value_type = T;
  using error_type = E;

  Result(const T& v) : v_(std::in_place_index<0>, v) {}  // NOLINT: implicit by design
  Result(T&& v) : v_(std::in_place_index<0>, std::move(v)) {}  // NOLINT
  template <class G>
  Result(Unexpected<G> u) : v_(std::in_place_index<1>, std::move(u.error)) {}  // NOLINT

  bool ok() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }

  T& value() & { assert(ok()); return std::get<0>(v_); }
  const T& value() const& { assert(ok()); return std::get<0>(v_); }
  T&& value() && { assert(ok()); return std::move(std::get<0>(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const E& error() const& { assert(!ok()); return std::get<1>(v_); }
  E&& error() && { assert(!ok()); return std::move(std::get<1>(v_)); }

  template <class U>
  T value_or(U&& fallback) const& {
    return ok() ? value() : static_cast<T>(std::forward<U>(fallback));
  }

 private:
  std::variant<T, E> v_;
};

template <class E>
class [[nodiscard]] Result<void, E> {
 public:
  using value_type = void;
  using error_type = E;

  Result() = default;
  template <class G>
  Result(Unexpected<G> u) : error_(std::move(u.error)), has_error_(true) {}  // NOLINT

  bool ok() const noexcept { return !has_error_; }
  explicit operator bool() const noexcept { return ok(); }
  const E& error() const& { assert(!ok()); return error_; }
  E&& error() && { assert(!ok()); return std::move(error_); }

 private:
  E error_{};
  bool has_error_ = false;
};

using Status = Result<void, Error>;

inline Status ok_status() { return {}; }

}  // namespace portcullis

/// Propagates the error of an expression returning a Result; evaluates to nothing.
#define PORTCULLIS_RETURN_IF_ERROR(expr)                     \
  do {                                                       \
    auto portcullis_status_ = (expr);                        \
    if (!portcullis_status_.ok()) {                          \
      return ::portcullis::unexpected(std::move(portcullis_status_).error()); \
    }                                                        \
  } while (false)
