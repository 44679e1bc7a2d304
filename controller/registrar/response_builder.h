// Turns a RegisterDecision into response text, statelessly (RFC 3261 §8.2.6).
//
// TODO(portcullis): controller/sip/transaction/stateless.h has sip::make_response() doing the same
// copy; switch to it once portcullis_sip_transaction is a library this one may link.
#pragma once

#include <string>
#include <string_view>

#include "controller/registrar/registrar.h"
#include "controller/sip/message/sip_message.h"

namespace portcullis::registrar {

/// A To tag derived from the request (FNV-1a over Call-ID, From tag, top Via branch and CSeq), so
/// a retransmitted REGISTER gets the same tag. 16 lowercase hex digits.
std::string derive_to_tag(const sip::SipMessage& request);

/// RFC 3261 §8.2.6.2: status line, then every Via (in order), From, To (with a tag added when the
/// request had none, §8.2.6.2: `to_tag`, or derive_to_tag() when empty), Call-ID, CSeq, the
/// decision's header lines, and "Content-Length: 0". Control bytes in reason and values become
/// spaces (no header injection).
std::string build_response(const sip::SipMessage& request, const RegisterDecision& decision,
                           std::string_view to_tag = {});

}  // namespace portcullis::registrar
