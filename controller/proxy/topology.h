// Topology hiding between a private interface (ProxyInterface::hide_topology, the LAN) and the
// others (the WAN): what a proxy can hide without becoming a B2BUA.
//
//   leaving private -> public          coming back public -> private
//   Vias below ours removed            responses get the original request's Vias back
//   Contact <sip:a@10.0.0.2:5060>      Request-URI <sip:a@WAN:5060;pc-ct=TOKEN> -> the original
//     -> <sip:a@WAN:5060;pc-ct=TOKEN>
//   Call-ID x@10.0.0.2 -> x@pch-TOKEN  Call-ID x@pch-TOKEN -> x@10.0.0.2
//   our Record-Route facing the LAN    the entry is popped like any of ours; its flow token is
//     <sip:LAN;lr;pc-flow=..>            read from the decoded original
//     -> <sip:WAN;lr;pc-rr=TOKEN>
//
// TOKEN is a deterministic, keyed, reversible encoding (TopologyCodec): the same input always
// gives the same token (every message of a dialog maps the same way, across shards sharing the
// key), and it decodes only with the key. It hides addresses from casual inspection and from
// captures; it is an obfuscation (64-bit keyed keystream), not an authenticated cipher.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace portcullis::proxy {

inline constexpr std::string_view kContactParam = "pc-ct";
inline constexpr std::string_view kRecordRouteParam = "pc-rr";
inline constexpr std::string_view kCallIdPrefix = "pch-";

/// SDP safety net for bodies nobody rewrote (a pass-through policy, port-0 streams only): every
/// o= / c= / a=rtcp address for which `is_private` holds becomes `replacement`. nullopt when
/// nothing changed. Line-based; the body is otherwise untouched.
std::optional<std::string> scrub_sdp_addresses(std::string_view body, const std::function<bool(std::string_view)>& is_private,
                                               std::string_view replacement);

class TopologyCodec {
 public:
  /// An empty key is replaced by a random one.
  explicit TopologyCodec(std::string_view key);

  /// Lower-case hex, [0-9a-f]+ (safe in URI parameters and Call-ID words).
  std::string encode(std::string_view plain) const;
  /// nullopt when the token is not one of ours.
  std::optional<std::string> decode(std::string_view token) const;

  /// "x@10.0.0.2" -> "x@pch-TOKEN" (only the part after the last '@'); a Call-ID without '@' or
  /// already encoded is returned as is.
  std::string hide_call_id(std::string_view call_id) const;
  /// The inverse; anything not produced by hide_call_id is returned as is.
  std::string reveal_call_id(std::string_view call_id) const;

 private:
  std::uint64_t key_ = 0;
};

}  // namespace portcullis::proxy
