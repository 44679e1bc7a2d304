// RFC 3261 §18.2.1 and RFC 3581 §4: what the server side of a hop writes into the top Via of a
// request it receives, so every response (ours or forwarded) finds the way back through NAT.
#pragma once

#include <optional>
#include <string>

#include "controller/sip/message/sip_message.h"
#include "controller/sip/transaction/transaction_types.h"

namespace portcullis::proxy {

/// The request with its top via-parm rewritten, or nullopt when nothing needs adding:
///  - §18.2.1: "received=<source IP>" when sent-by is a name or a different address;
///  - RFC 3581 §4: with "rport" present, "received" always and "rport=<source port>".
/// An existing received / rport value is replaced. Everything else is kept byte for byte.
std::optional<std::string> stamp_received(const sip::SipMessage& request, const sip::Peer& from);

}  // namespace portcullis::proxy
