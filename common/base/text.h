// Small text helpers shared by every parser: checked number parsing (no overflow, no sign
// surprises: pjproject#2093) and safe excerpts of hostile input for logs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace portcullis {

/// Parses an unsigned decimal made only of digits, with no sign or spaces, not above `max`.
/// Leading zeros are allowed (RFC 4475 §3.1.1.1 uses them). Empty, non-digit or overflow → nullopt.
std::optional<std::uint64_t> parse_decimal(std::string_view s, std::uint64_t max) noexcept;

/// ASCII case-insensitive equality (SIP tokens, header names, URI schemes).
bool iequals(std::string_view a, std::string_view b) noexcept;

/// Returns at most `max_bytes` of `s` with control and non-ASCII bytes escaped as \xNN, for logging
/// untrusted input without letting it forge log lines (Kamailio truncates to 100 bytes the same way).
std::string log_excerpt(std::string_view s, std::size_t max_bytes = 100);

inline constexpr char ascii_lower(char c) noexcept {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

}  // namespace portcullis
