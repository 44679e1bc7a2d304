// The error every SIP parsing step returns: the status a stateless element should answer with
// and a short reason. Reasons are static strings (no allocation on the error path of a flood).
#pragma once

#include <cstdint>
#include <string_view>

namespace portcullis::sip {

struct SipError {
  /// 400, 416, 420, 483, 505, 513 ... ; for a message that must be silently discarded (a bad
  /// response, RFC 3261 §18.1.2) the message layer sets `drop` instead of answering.
  std::uint16_t status = 400;
  /// Static text, e.g. "malformed Via header". Safe to put in a reason phrase or a Warning.
  std::string_view reason;
  bool drop = false;

  friend bool operator==(const SipError&, const SipError&) = default;
};

inline constexpr SipError bad_request(std::string_view reason) { return {400, reason, false}; }

}  // namespace portcullis::sip
