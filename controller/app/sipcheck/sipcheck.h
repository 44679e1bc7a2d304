// The verdict portcullis-sipcheck gives one UDP datagram: what a strict stateless SIP element
// would do with it. Shared by the tool and the RFC 4475 conformance test.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "controller/sip/message/sip_message.h"

namespace portcullis::sipcheck {

enum class VerdictKind : std::uint8_t {
  kValid,    // well-formed: an element would process it
  kInvalid,  // a request to answer statelessly with `status`
  kDrop,     // a malformed response: discard silently (RFC 3261 §18.1.2)
};

struct Verdict {
  VerdictKind kind = VerdictKind::kValid;
  std::uint16_t status = 0;  // for kInvalid
  std::string_view reason;   // static text
};

/// Parses `datagram` as one UDP datagram (Framing::kDatagram), then validates every header that
/// has a typed parser (strict mode).
Verdict check_datagram(std::string datagram, const sip::ParseLimits& limits = {});

/// One output line without the file name: "valid", "invalid\t400\treason", "invalid\tdrop\treason".
std::string format_text(const Verdict& v);
/// One JSON object: {"file":...,"verdict":"valid|invalid","status":400|"drop","reason":...}.
std::string format_json(std::string_view file, const Verdict& v);

}  // namespace portcullis::sipcheck
