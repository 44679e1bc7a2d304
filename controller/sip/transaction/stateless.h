// Stateless message builders and helpers used by the transaction layer and, later, by the proxy
// and UA cores. All of them take parsed messages (so the transaction-critical headers are known
// valid) and return serialised text ready for the wire or for SipMessage::parse.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "controller/sip/message/sip_message.h"
#include "controller/sip/transaction/transaction_types.h"

namespace portcullis::sip {

/// An extra header for a generated message, e.g. {"Retry-After", "5"}.
struct ExtraHeader {
  std::string_view name;
  std::string_view value;
};

/// RFC 3261 §21 reason phrase for common codes ("Trying", "Bad Request" ...); a class default
/// ("Client Error" ...) for others.
std::string_view default_reason_phrase(std::uint16_t status) noexcept;

/// A To tag derived from the request (FNV-1a over Call-ID, From tag, top Via branch or text, and
/// CSeq), so every retransmission of a request gets the same tag (RFC 3261 §16.11 suggests the
/// same for stateless proxies). 16 lowercase hex digits.
std::string stateless_to_tag(const SipMessage& request);

/// RFC 3261 §8.2.6: a response to `request` with every Via (in order), From, To, Call-ID and
/// CSeq copied; Timestamp copied for a 100 (§8.2.6.1). A To tag is added when the request's To
/// has none and status > 100 (§8.2.6.2; the 100 from a transaction SHOULD NOT carry one,
/// §17.2.1): `to_tag`, or stateless_to_tag(request) when it is empty or not a token. Empty
/// `reason` means default_reason_phrase(status). CR, LF and other control bytes in the reason
/// and in extra headers are replaced by spaces (no header injection). Ends with
/// "Content-Length: 0".
/// Precondition: request.is_request(), 100 <= status <= 699.
std::string make_response(const SipMessage& request, std::uint16_t status,
                          std::string_view reason = {}, std::string_view to_tag = {},
                          std::span<const ExtraHeader> extra = {});

/// RFC 3261 §17.1.1.3: the ACK an INVITE client transaction sends for a 300-699 response:
/// Request-URI, Call-ID, From and CSeq number of the INVITE; To of the response (with its tag);
/// one Via equal to the INVITE's top Via (same branch); the INVITE's Route fields; CSeq method ACK.
std::string make_non_2xx_ack(const SipMessage& invite, const SipMessage& response);

/// RFC 3261 §9.1: the CANCEL for `invite`: same Request-URI, Call-ID, To, From and CSeq number,
/// CSeq method CANCEL, one Via equal to the INVITE's top Via, the INVITE's Route fields.
std::string make_cancel(const SipMessage& invite);

/// RFC 3261 §18.2.2 + RFC 3581 §4: where a server sends responses to a request received from
/// `from`. Reliable: back to `from` (same connection). Unreliable: the source address, and the
/// source port if the top Via has ";rport", else the Via sent-by port (default 5060). Via
/// "maddr" (multicast) is not supported and ignored.
Peer response_peer(const SipMessage& request, const Peer& from);

}  // namespace portcullis::sip
