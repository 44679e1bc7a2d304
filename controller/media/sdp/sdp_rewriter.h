// The NAT rewrite the media layer applies to an offer or answer once the pinhole agent has
// allocated public endpoints: one call, all-or-nothing, minimal diff. Built only from the
// SessionDescription rewrite methods, so anything it produces re-parses to the same model.
#pragma once

#include <cstddef>
#include <optional>
#include <vector>

#include "common/base/result.h"
#include "common/net/ip_address.h"
#include "controller/media/sdp/session_description.h"

namespace portcullis::media::sdp {

/// The public side of one stream's pinhole(s), as returned by the agent.
struct PublicBinding {
  std::size_t stream = 0;  // index into SessionDescription::media()
  net::Endpoint rtp;
  /// RTCP endpoint; nullopt when no separate RTCP hole was opened (rtcp-mux or non-RTP).
  std::optional<net::Endpoint> rtcp;
};

struct NatRewriteOptions {
  /// ICE candidates carry LAN addresses we cannot rewrite consistently (RFC 8839 §5.1): strip
  /// every ICE attribute so the peer falls back to the c=/m= addresses.
  bool strip_ice = true;
  /// Replace the o= address with the first binding's address (topology hiding).
  bool rewrite_origin = true;
  /// RFC 3264 §8: increment the o= version when the rewrite changed anything (re-applying the
  /// same bindings to an already rewritten description changes nothing and keeps the version).
  bool bump_version = true;
};

/// Rewrites `sd` in place:
///  - every stream that needs a binding (port != 0) must have exactly one PublicBinding
///    (kFailedPrecondition otherwise, so no LAN address is ever left half-rewritten); bindings
///    for rejected or unknown streams are kInvalidArgument. Nothing is changed on error.
///  - m= port := rtp.port (the port count is kept; the binding covers the range);
///  - connection: a media-level c= is rewritten in place; a stream that used the session c= gets
///    a media-level c= only if its address differs from the new session c=. The session c= takes
///    the address of the first binding that relied on it (else the first binding). Hold markers
///    (c=0.0.0.0 / ::, RFC 3264 §8.4) are kept as they are.
///  - a=rtcp (RFC 3605): rewritten when present; added when the RTCP endpoint is not the implicit
///    rtp.port+1 at the same address; with rtcp-mux and no RTCP binding it follows the RTP port
///    (RFC 5761 §5.1.3); without either, a stale a=rtcp is removed.
///  - ICE stripped, o= address and version per `options` (ICE is stripped even when every stream
///    is rejected and there is nothing else to do).
Result<void, Error> rewrite_for_nat(SessionDescription& sd, const std::vector<PublicBinding>& bindings,
                                    const NatRewriteOptions& options = {});

}  // namespace portcullis::media::sdp
