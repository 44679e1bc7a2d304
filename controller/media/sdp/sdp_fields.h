// Typed values of the SDP lines the NAT rewriter has to understand, and pure parse/format
// functions for them (RFC 8866 §9 grammar, RFC 3605 a=rtcp). Parsers never read past their input
// and return SdpError with line 0; SessionDescription::parse stamps the line number.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/base/result.h"
#include "common/net/ip_address.h"
#include "controller/media/sdp/sdp_error.h"

namespace portcullis::media::sdp {

/// One SDP line: its type letter and everything after "x=", without the line ending.
struct Line {
  char type = 'a';
  std::string value;

  friend bool operator==(const Line&, const Line&) = default;
};

/// RFC 8866 §6.7 / RFC 3264 §5.1 media direction attributes.
enum class Direction : std::uint8_t { kSendRecv, kSendOnly, kRecvOnly, kInactive };

/// "sendrecv", "sendonly", "recvonly", "inactive".
std::string_view direction_name(Direction d) noexcept;
/// Maps an attribute name (case-insensitive) to a direction; nullopt for any other attribute.
std::optional<Direction> parse_direction(std::string_view attribute_name) noexcept;

/// c= (RFC 8866 §5.7): `IN IP4 addr[/ttl[/count]]` or `IN IP6 addr[/count]`. The address type
/// is the address family.
struct Connection {
  net::IpAddress address;
  std::optional<std::uint8_t> ttl;      // IPv4 multicast only
  std::optional<std::uint16_t> count;   // number of multicast addresses, >= 1

  friend bool operator==(const Connection&, const Connection&) = default;
};

Result<Connection, SdpError> parse_connection(std::string_view value);
/// "IN IP4 203.0.113.7" / "IN IP6 2001:db8::7", plus "/ttl" and "/count" when set.
std::string format_connection(const Connection& c);

/// o= (RFC 8866 §5.2). Text fields are kept as written so an unchanged origin re-serialises
/// byte-identically; the username may contain spaces (some UAs do that), so the line is split
/// from the right.
struct Origin {
  std::string username;
  std::string session_id;       // 1*DIGIT, kept as text (often wider than 64 bits)
  std::string session_version;  // 1*DIGIT, arbitrary length; RFC 3264 §8 increments it
  std::string nettype;          // "IN", as written
  std::string addrtype;         // "IP4" / "IP6", as written
  std::string address_text;     // as written
  /// The address when `address_text` is an IP literal of `addrtype`; nullopt for an FQDN
  /// (RFC 8866 §5.2 allows one in o=).
  std::optional<net::IpAddress> address;

  friend bool operator==(const Origin&, const Origin&) = default;
};

Result<Origin, SdpError> parse_origin(std::string_view value);
std::string format_origin(const Origin& o);

/// m= (RFC 8866 §5.14): `<media> <port>[/<number of ports>] <proto> <fmt> ...`.
struct MediaField {
  std::string media;
  std::uint16_t port = 0;
  std::optional<std::uint16_t> port_count;  // as written; nullopt when absent (meaning 1)
  std::string proto;
  std::vector<std::string> formats;

  friend bool operator==(const MediaField&, const MediaField&) = default;
};

/// Rejects non-numeric, overflowing (pjproject#2093) or > 65535 ports, a zero port count, and,
/// for RTP profiles, formats that are not payload types 0..127 (RFC 3551 §3).
Result<MediaField, SdpError> parse_media_field(std::string_view value);
/// Fields joined with single spaces.
std::string format_media_field(const MediaField& m);

/// True for RTP-based profiles (RTP/AVP, RTP/SAVPF, UDP/TLS/RTP/SAVPF, TCP/RTP/AVP, ...).
bool is_rtp_proto(std::string_view proto) noexcept;

/// a= split at the first ':' (RFC 8866 §5.13). Views into the argument.
struct Attribute {
  std::string_view name;
  std::optional<std::string_view> value;
};

/// Fails when the name is not a token (RFC 8866 §9 `token`).
Result<Attribute, SdpError> split_attribute(std::string_view value);

/// a=rtcp (RFC 3605 §2.1): `port [nettype SP addrtype SP connection-address]`.
struct RtcpAttribute {
  std::uint16_t port = 0;
  std::optional<net::IpAddress> address;

  friend bool operator==(const RtcpAttribute&, const RtcpAttribute&) = default;
};

/// Parses the value after "a=rtcp:".
Result<RtcpAttribute, SdpError> parse_rtcp(std::string_view attribute_value);
/// "rtcp:<port>[ IN IP4|IP6 <addr>]", i.e. the whole a= value.
std::string format_rtcp(const RtcpAttribute& r);

/// ICE attributes (RFC 8839 §5, RFC 8840 end-of-candidates): candidate, remote-candidates,
/// ice-lite, ice-mismatch, ice-ufrag, ice-pwd, ice-pacing, ice-options, end-of-candidates.
bool is_ice_attribute(std::string_view name) noexcept;

/// Increments a decimal digit string by one ("9" -> "10"); RFC 3264 §8 version bump without
/// any overflow. Precondition: `digits` is 1*DIGIT.
std::string increment_decimal(std::string_view digits);

}  // namespace portcullis::media::sdp
