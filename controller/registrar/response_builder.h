// Turns a RegisterDecision into response text, statelessly (RFC 3261 §8.2.6), through the
// transaction library's sip::make_response: the registrar adds only its decision's header lines.
#pragma once

#include <string>
#include <string_view>

#include "controller/registrar/registrar.h"
#include "controller/sip/message/sip_message.h"
#include "controller/sip/transaction/stateless.h"

namespace portcullis::registrar {

/// A To tag derived from the request, so a retransmitted REGISTER gets the same tag: exactly
/// sip::stateless_to_tag() (16 lowercase hex digits).
inline std::string derive_to_tag(const sip::SipMessage& request) {
  return sip::stateless_to_tag(request);
}

/// sip::make_response(request, decision.status, decision.reason, to_tag, decision.headers):
/// status line, every Via (in order), From, To (with a tag added when the request had none,
/// §8.2.6.2: `to_tag`, or derive_to_tag() when empty), Call-ID, CSeq, the decision's header
/// lines, and "Content-Length: 0". Control bytes in reason and values become spaces.
std::string build_response(const sip::SipMessage& request, const RegisterDecision& decision,
                           std::string_view to_tag = {});

}  // namespace portcullis::registrar
