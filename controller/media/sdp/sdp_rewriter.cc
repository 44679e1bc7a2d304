#include "controller/media/sdp/sdp_rewriter.h"

#include <string>

namespace portcullis::media::sdp {

namespace {

bool is_hold_address(const std::optional<Connection>& c) { return c && c->address.is_unspecified(); }

void rewrite_rtcp(MediaDescription& m, const PublicBinding& b) {
  const auto& old = m.rtcp();
  if (b.rtcp) {
    const bool same_address = b.rtcp->address() == b.rtp.address();
    const bool implicit = same_address && b.rtp.port() < 65535 && b.rtcp->port() == b.rtp.port() + 1;
    if (old || !implicit) {
      // Keep an address if the UA wrote one; add one when it differs from c= (RFC 3605 §2.1).
      const bool with_address = (old && old->address) || !same_address;
      m.set_rtcp(b.rtcp->port(), with_address ? std::optional<net::IpAddress>(b.rtcp->address()) : std::nullopt);
    }
    return;
  }
  if (!old) {
    return;
  }
  if (m.rtcp_mux()) {
    // RFC 5761 §5.1.3: with rtcp-mux the a=rtcp port is the RTP port.
    m.set_rtcp(b.rtp.port(), old->address ? std::optional<net::IpAddress>(b.rtp.address()) : std::nullopt);
  } else {
    m.strip_rtcp();
  }
}

}  // namespace

Result<void, Error> rewrite_for_nat(SessionDescription& sd, const std::vector<PublicBinding>& bindings,
                                    const NatRewriteOptions& options) {
  // Validate everything first: all-or-nothing.
  std::vector<const PublicBinding*> by_stream(sd.media_count(), nullptr);
  for (const auto& b : bindings) {
    if (b.stream >= sd.media_count()) {
      return unexpected(invalid_argument("binding for stream " + std::to_string(b.stream) + " which does not exist"));
    }
    if (sd.media(b.stream).is_rejected()) {
      return unexpected(invalid_argument("binding for rejected (port 0) stream " + std::to_string(b.stream)));
    }
    if (by_stream[b.stream] != nullptr) {
      return unexpected(invalid_argument("two bindings for stream " + std::to_string(b.stream)));
    }
    by_stream[b.stream] = &b;
  }
  for (std::size_t i : sd.streams_needing_binding()) {
    if (by_stream[i] == nullptr) {
      return unexpected(failed_precondition("no binding for active stream " + std::to_string(i)));
    }
  }
  // RFC 3264 §8: the version changes exactly when the description does.
  const SessionDescription before = sd;
  const auto finish = [&]() {
    if (options.strip_ice) {
      sd.strip_ice();
    }
    if (options.bump_version && !(sd == before)) {
      sd.bump_version();
    }
  };
  if (bindings.empty()) {
    finish();  // all streams rejected: no address to publish, but no ICE leak either
    return {};
  }

  // Which streams relied on the session-level c= before we touch anything.
  std::vector<bool> uses_session_c(sd.media_count(), false);
  const PublicBinding* session_source = nullptr;
  for (std::size_t i = 0; i < sd.media_count(); ++i) {
    uses_session_c[i] = sd.media(i).connections().empty();
    if (uses_session_c[i] && by_stream[i] != nullptr && session_source == nullptr) {
      session_source = by_stream[i];
    }
  }
  if (session_source == nullptr) {
    session_source = &bindings.front();
  }
  const bool session_hold = is_hold_address(sd.connection());
  if (sd.connection() && !session_hold) {
    sd.set_connection(session_source->rtp.address());
  }

  for (std::size_t i = 0; i < sd.media_count(); ++i) {
    const PublicBinding* b = by_stream[i];
    if (b == nullptr) {
      continue;
    }
    MediaDescription& m = sd.media(i);
    if (uses_session_c[i]) {
      if (!session_hold && b->rtp.address() != session_source->rtp.address()) {
        m.set_connection(b->rtp.address());
      }
    } else if (!m.connections().front().address.is_unspecified()) {
      m.set_connection(b->rtp.address());
    }
    m.set_port(b->rtp.port());
    rewrite_rtcp(m, *b);
  }

  if (options.rewrite_origin) {
    sd.set_origin_address(bindings.front().rtp.address());
  }
  finish();
  return {};
}

}  // namespace portcullis::media::sdp
