// The one place where the transport layer's vocabulary (TransportKind, ConnectionId — one id
// space per transport instance) meets the transaction layer's (TransportProtocol, Peer — one
// opaque uint64 per flow), and where a message is routed to the shard that owns its state.
//
// Peer::connection, as the app fills it, says which transport instance on which shard owns the
// flow:
//
//   bit 63 ........ 56 55 ......... 48 47 ................................ 0
//       shard (0..255)   slot (0..255)    the transport's own ConnectionId
//
// `slot` indexes the shard's transports (every shard builds the same list, in the same order,
// from the same config). 0 is kept for "no connection" (kNoConnection / Peer::connection 0):
// transports never hand out id 0, so an encoded flow is never 0.
//
// Responses: every shard's ProxyCore writes its shard index into the branches it creates
// (ProxyConfig::branch_shard), so a response that the kernel delivered to another shard's socket
// (SO_REUSEPORT hashes on the 4-tuple) is handed to the shard that holds its client transaction.
//
// In-dialog requests: the shard that record-routes a dialog-creating request writes its index
// into its Record-Route URIs (ProxyConfig::route_shard, ";pc-shard=N"). The other party's ACK,
// BYE, re-INVITE, UPDATE... come from its own 4-tuple and may land anywhere; their Route names
// the shard holding the dialog's state (the media step's MediaSession), and they are handed to it.
#pragma once

#include <cstdint>
#include <optional>

#include "controller/proxy/proxy_identity.h"
#include "controller/sip/message/sip_message.h"
#include "controller/sip/transaction/transaction_types.h"
#include "controller/sip/transport/transport.h"

namespace portcullis::controller::app {

inline constexpr unsigned kFlowShardShift = 56;
inline constexpr unsigned kFlowSlotShift = 48;
inline constexpr std::uint64_t kFlowIdMask = (std::uint64_t{1} << kFlowSlotShift) - 1;

struct FlowRef {
  std::uint8_t shard = 0;
  std::uint8_t slot = 0;
  sip::ConnectionId connection = sip::kNoConnection;

  friend bool operator==(const FlowRef&, const FlowRef&) = default;
};

/// kNoConnection encodes as 0. Transport ids above 2^48 cannot occur in practice (one new
/// connection per microsecond for nine years); they are masked.
std::uint64_t encode_flow(const FlowRef& flow) noexcept;
/// nullopt for 0 ("any flow").
std::optional<FlowRef> decode_flow(std::uint64_t connection) noexcept;

/// TransportKind and the first three TransportProtocol values are the same numbers
/// (transport.h); these are the only conversions the app does.
sip::TransportProtocol to_protocol(sip::TransportKind kind) noexcept;
/// nullopt for transports the controller does not serve (SCTP, WS, WSS).
std::optional<sip::TransportKind> to_kind(sip::TransportProtocol protocol) noexcept;

/// The Peer the transaction layer / proxy sees for a message received on `slot` of `shard`.
sip::Peer to_peer(sip::TransportKind kind, const net::Endpoint& source, std::uint8_t shard, std::uint8_t slot,
                  sip::ConnectionId connection) noexcept;

/// The shard owning the client transaction of `response` (from its top Via branch), when the
/// branch is one of ours and names a shard below `shard_count`; nullopt otherwise (a stray
/// response: whoever received it drops it).
std::optional<std::uint8_t> owning_shard(const sip::SipMessage& response, std::uint32_t shard_count);

/// The shard that record-routed the dialog of in-dialog `request` (dialog_shard() in
/// loop_detection.h: our Route URIs' pc-shard), when it names a shard below `shard_count`;
/// nullopt otherwise — no such Route, a malformed or out-of-range parameter (untrusted input):
/// whoever received the request handles it.
std::optional<std::uint8_t> dialog_owning_shard(const sip::SipMessage& request, const proxy::ProxyIdentity& identity,
                                                std::uint32_t shard_count);

/// While draining: a request that would start new work (not ACK, not CANCEL, no To tag) and is
/// answered 503 + Retry-After instead so the client fails over (RFC 3261 §21.5.4).
bool starts_new_work(const sip::SipMessage& request) noexcept;

}  // namespace portcullis::controller::app
