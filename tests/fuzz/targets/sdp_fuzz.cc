// Fuzz target for the SDP layer: parse untrusted bytes; when accepted, serialise, re-parse and
// require the same model (parse ∘ serialize is a fixpoint), then apply a NAT rewrite to every
// active stream and require the rewritten body to re-parse to the rewritten model, and the
// rewrite to be idempotent.
// abort() on any mismatch so both libFuzzer and the replay main report it.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "controller/media/sdp/sdp_rewriter.h"
#include "controller/media/sdp/session_description.h"

namespace {

using portcullis::media::sdp::Direction;
using portcullis::media::sdp::PublicBinding;
using portcullis::media::sdp::SdpLimits;
using portcullis::media::sdp::SessionDescription;
namespace net = portcullis::net;

// Re-parsing our own output may exceed the input limits by a few bytes/lines (CRLF normalisation,
// inserted c= lines, a longer version number); limits are for untrusted input only.
SdpLimits relaxed_limits() {
  SdpLimits l;
  l.max_bytes = 1u << 20;
  l.max_lines = 1u << 14;
  l.max_line_length = 1u << 16;
  l.max_media = 1024;
  return l;
}

void require_round_trip(const SessionDescription& sd) {
  const std::string text = sd.serialize();
  auto again = SessionDescription::parse(text, relaxed_limits());
  if (!again.ok() || !(*again == sd)) {
    std::abort();
  }
  // Serialising a re-parsed model is byte-identical (CRLF output is canonical).
  if (again->serialize() != text) {
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  auto parsed = SessionDescription::parse(body);
  if (!parsed.ok()) {
    return 0;
  }
  SessionDescription sd = std::move(*parsed);
  require_round_trip(sd);

  // Exercise the queries on every stream.
  for (const auto& s : sd.streams()) {
    if (!s.rejected && !s.address.has_value()) {
      std::abort();  // the parser guarantees a connection for every active stream
    }
  }

  // The rewrite the media layer performs: one binding per active stream, v4 or v6 by size parity.
  const bool v6 = (size & 1u) != 0;
  const auto public_addr = v6 ? net::IpAddress::parse("2001:db8::1").value() : net::IpAddress::parse("203.0.113.1").value();
  std::vector<PublicBinding> bindings;
  std::uint16_t port = 40000;
  for (std::size_t i : sd.streams_needing_binding()) {
    PublicBinding b;
    b.stream = i;
    b.rtp = net::Endpoint(public_addr, port);
    if (!sd.media(i).rtcp_mux()) {
      b.rtcp = net::Endpoint(public_addr, static_cast<std::uint16_t>(port + 1));
    }
    port = static_cast<std::uint16_t>(port + 2);
    bindings.push_back(b);
  }
  SessionDescription rewritten = sd;
  if (!portcullis::media::sdp::rewrite_for_nat(rewritten, bindings).ok()) {
    std::abort();  // bindings were built from the model itself
  }
  if (rewritten.has_ice()) {
    std::abort();  // ICE is stripped all or nothing
  }
  require_round_trip(rewritten);
  // Re-applying the same bindings is a no-op (and so does not bump the version, RFC 3264 §8).
  SessionDescription twice = rewritten;
  if (!portcullis::media::sdp::rewrite_for_nat(twice, bindings).ok() || !(twice == rewritten)) {
    std::abort();
  }

  // The low-level edits too, driven by the first byte.
  const std::uint8_t op = size > 0 ? data[0] : 0;
  if (sd.media_count() > 0) {
    auto& m = sd.media(op % sd.media_count());
    m.set_connection(public_addr);
    m.set_port(static_cast<std::uint16_t>(op * 257));
    m.set_port_count(op & 1u ? std::optional<std::uint16_t>(2) : std::nullopt);
    if (op & 2u) {
      m.set_rtcp(static_cast<std::uint16_t>(op + 1), op & 4u ? std::optional(public_addr) : std::nullopt);
    } else {
      m.strip_rtcp();
    }
    m.set_direction(static_cast<Direction>(op % 4));
  }
  sd.set_connection(public_addr);
  sd.set_direction(op & 8u ? std::optional(Direction::kSendOnly) : std::nullopt);
  sd.set_origin_address(public_addr);
  sd.strip_ice();
  sd.bump_version();
  require_round_trip(sd);
  return 0;
}
