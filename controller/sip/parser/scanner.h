// Private to controller/sip/parser: RFC 3261 §25.1 character classes and a bounded cursor.
// Nothing here relies on a NUL terminator; every read is checked against the view's end
// (style.md §4.6 rule 6). Not part of the contract other layers code against.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "controller/sip/parser/params.h"
#include "controller/sip/parser/uri.h"

namespace portcullis::sip::detail {

// One bit per RFC 3261 §25.1 production we need a membership test for.
enum CharClass : std::uint32_t {
  kAlpha = 1u << 0,
  kDigit = 1u << 1,
  kHexDigit = 1u << 2,
  kTokenChar = 1u << 3,       // token
  kUnreserved = 1u << 4,      // alphanum / mark
  kUserUnreserved = 1u << 5,  // "&" / "=" / "+" / "$" / "," / ";" / "?" / "/"
  kPasswordExtra = 1u << 6,   // "&" / "=" / "+" / "$" / ","
  kParamUnreserved = 1u << 7,  // "[" / "]" / "/" / ":" / "&" / "+" / "$"
  kHnvUnreserved = 1u << 8,   // "[" / "]" / "/" / "?" / ":" / "+" / "$"
  kWordChar = 1u << 9,        // Call-ID word
  kReserved = 1u << 10,       // ";" / "/" / "?" / ":" / "@" / "&" / "=" / "+" / "$" / ","
  kWsp = 1u << 11,            // SP / HTAB
  kSchemeChar = 1u << 12,     // ALPHA / DIGIT / "+" / "-" / "."
  kHostChar = 1u << 13,       // alphanum / "-" / "." (hostname, IPv4)
  kTelParamExtra = 1u << 14,  // RFC 3966 isub uric extras accepted in tel par values
  kToken68 = 1u << 15,        // RFC 7235 token68 (without the trailing '=')
  kIpv6Char = 1u << 16,       // HEXDIG / ":" / "." inside an IPv6 reference
};

namespace table_impl {
constexpr void mark(std::array<std::uint32_t, 256>& t, std::string_view chars, std::uint32_t bit) {
  for (char c : chars) {
    t[static_cast<unsigned char>(c)] |= bit;
  }
}

constexpr std::array<std::uint32_t, 256> build() {
  std::array<std::uint32_t, 256> t{};
  constexpr std::string_view kUpper = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
  constexpr std::string_view kLower = "abcdefghijklmnopqrstuvwxyz";
  constexpr std::string_view kDigits = "0123456789";
  constexpr std::string_view kMark = "-_.!~*'()";
  const std::uint32_t alnum_bits =
      kTokenChar | kUnreserved | kWordChar | kSchemeChar | kHostChar | kToken68;
  mark(t, kUpper, kAlpha | alnum_bits);
  mark(t, kLower, kAlpha | alnum_bits);
  mark(t, kDigits, kDigit | kHexDigit | kIpv6Char | alnum_bits);
  mark(t, "abcdefABCDEF", kHexDigit | kIpv6Char);
  mark(t, ":.", kIpv6Char);
  mark(t, kMark, kUnreserved);
  // token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~")
  mark(t, "-.!%*_+`'~", kTokenChar);
  mark(t, "&=+$,;?/", kUserUnreserved);
  mark(t, "&=+$,", kPasswordExtra);
  mark(t, "[]/:&+$", kParamUnreserved);
  mark(t, "[]/?:+$", kHnvUnreserved);
  // word = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~" / "(" / ")" /
  //        "<" / ">" / ":" / "\" / DQUOTE / "/" / "[" / "]" / "?" / "{" / "}")
  mark(t, "-.!%*_+`'~()<>:\\\"/[]?{}", kWordChar);
  mark(t, ";/?:@&=+$,", kReserved);
  mark(t, " \t", kWsp);
  mark(t, "+-.", kSchemeChar);
  mark(t, "-.", kHostChar);
  mark(t, "?@=,", kTelParamExtra);
  mark(t, "-._~+/", kToken68);
  return t;
}
}  // namespace table_impl

inline constexpr std::array<std::uint32_t, 256> kCharTable = table_impl::build();

constexpr bool is_class(char c, std::uint32_t mask) noexcept {
  return (kCharTable[static_cast<unsigned char>(c)] & mask) != 0;
}

constexpr int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;
}

/// A read position inside a view. All accessors are bounds-checked; peek() on eof yields '\0'
/// only as a sentinel that no character class contains, never by reading past the end.
class Cursor {
 public:
  explicit constexpr Cursor(std::string_view s) noexcept : s_(s) {}

  constexpr bool eof() const noexcept { return pos_ >= s_.size(); }
  constexpr std::size_t pos() const noexcept { return pos_; }
  constexpr void set_pos(std::size_t p) noexcept { pos_ = p < s_.size() ? p : s_.size(); }
  constexpr std::size_t remaining() const noexcept { return s_.size() - pos_; }
  /// Current byte, or '\0' at the end. Callers that care about a real NUL check eof() first.
  constexpr char peek() const noexcept { return eof() ? '\0' : s_[pos_]; }
  constexpr char peek_at(std::size_t ahead) const noexcept {
    return (ahead < remaining()) ? s_[pos_ + ahead] : '\0';
  }
  constexpr bool at(char c) const noexcept { return !eof() && s_[pos_] == c; }
  constexpr bool at_class(std::uint32_t mask) const noexcept { return !eof() && is_class(s_[pos_], mask); }
  constexpr void advance(std::size_t n = 1) noexcept { set_pos(pos_ + n); }
  constexpr bool consume(char c) noexcept {
    if (at(c)) {
      ++pos_;
      return true;
    }
    return false;
  }
  /// Skips a run of `mask` characters; returns the run.
  constexpr std::string_view take_while(std::uint32_t mask) noexcept {
    const std::size_t start = pos_;
    while (pos_ < s_.size() && is_class(s_[pos_], mask)) {
      ++pos_;
    }
    return s_.substr(start, pos_ - start);
  }
  /// Skips LWS. The message layer unfolds continuation lines to spaces, but a still-folded
  /// CRLF followed by SP/HTAB is also LWS (RFC 3261 §25.1: LWS = [*WSP CRLF] 1*WSP).
  /// Returns true when anything was skipped.
  constexpr bool skip_lws() noexcept {
    const std::size_t start = pos_;
    while (pos_ < s_.size()) {
      const char c = s_[pos_];
      if (c == ' ' || c == '\t') {
        ++pos_;
      } else if (c == '\r' && pos_ + 2 < s_.size() && s_[pos_ + 1] == '\n' &&
                 (s_[pos_ + 2] == ' ' || s_[pos_ + 2] == '\t')) {
        pos_ += 3;
      } else {
        break;
      }
    }
    return pos_ != start;
  }
  constexpr std::string_view slice(std::size_t from) const noexcept {
    return from <= pos_ ? s_.substr(from, pos_ - from) : std::string_view{};
  }
  constexpr std::string_view slice(std::size_t from, std::size_t to) const noexcept {
    return (from <= to && to <= s_.size()) ? s_.substr(from, to - from) : std::string_view{};
  }
  constexpr std::string_view rest() const noexcept { return s_.substr(pos_); }
  constexpr std::string_view input() const noexcept { return s_; }

 private:
  std::string_view s_;
  std::size_t pos_ = 0;
};

/// Consumes a run of characters in `mask` or valid %HH escapes (RFC 3261 §25.1 `escaped`).
/// Returns false on a '%' not followed by two hex digits (the cursor then points at it).
constexpr bool take_escaped_run(Cursor& c, std::uint32_t mask) noexcept {
  while (!c.eof()) {
    const char ch = c.peek();
    if (ch == '%') {
      if (hex_value(c.peek_at(1)) < 0 || hex_value(c.peek_at(2)) < 0) {
        return false;
      }
      c.advance(3);
    } else if (is_class(ch, mask)) {
      c.advance();
    } else {
      break;
    }
  }
  return true;
}

/// Trims SP/HTAB (and folded CRLF) at both ends; header values usually arrive trimmed already.
constexpr std::string_view trim_lws(std::string_view s) noexcept {
  std::size_t b = 0;
  std::size_t e = s.size();
  while (b < e && (s[b] == ' ' || s[b] == '\t' || s[b] == '\r' || s[b] == '\n')) {
    ++b;
  }
  while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t' || s[e - 1] == '\r' || s[e - 1] == '\n')) {
    --e;
  }
  return s.substr(b, e - b);
}

// Hard limits (style.md §4.6 rule 5): a flood of ";a;a;a" must not grow vectors without bound.
inline constexpr std::size_t kMaxParams = 64;
inline constexpr std::size_t kMaxUriHeaders = 32;
inline constexpr std::size_t kMaxListElements = 256;

/// Consumes a quoted-string (RFC 3261 §25.1) starting at '"'. qdtext allows LWS, %x21,
/// %x23-5B, %x5D-7E and any byte >= 0x80 (UTF8-NONASCII; not validated further); quoted-pair
/// is "\" followed by any byte except CR, LF and >= 0x80. Returns false if unterminated.
bool take_quoted_string(Cursor& c) noexcept;

// Host grammar (RFC 3261 §25.1 host = hostname / IPv4address / IPv6reference).
bool is_ipv4_address(std::string_view s) noexcept;
bool is_ipv6_address(std::string_view s) noexcept;
bool is_hostname(std::string_view s) noexcept;
/// Classifies a complete host string ("[v6]" keeps its brackets); kNone when invalid.
HostKind classify_host(std::string_view s) noexcept;
/// Consumes a host at the cursor: "[...]" or a run of hostname characters. Returns kNone
/// (cursor unspecified) when the host is empty or invalid.
HostKind take_host(Cursor& c, std::string_view& host) noexcept;
/// Consumes 1*DIGIT and checks it against 0..65535.
std::optional<std::uint16_t> take_port(Cursor& c) noexcept;

enum class ParamMode : std::uint8_t {
  kGeneric,   // generic-param: token [ EQUAL gen-value ]
  kValueRequired,  // m-parameter: m-attribute EQUAL m-value
  kVia,       // generic-param, plus unbracketed IPv6 in "received" (RFC 3261 via-received)
};

/// Parses *( SEMI param ) at the cursor (RFC 3261 §25.1, SEMI = SWS ";" SWS). Stops, with the
/// cursor before any trailing LWS, at the first character that does not start "SWS ;".
/// Errors: empty name (";;"), '=' without a value, bad quoted string, too many parameters.
bool take_header_params(Cursor& c, ParamList& out, ParamMode mode);

}  // namespace portcullis::sip::detail
