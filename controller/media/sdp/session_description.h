// RFC 8866 session description: an ordered line model plus typed views of the lines the NAT
// rewriter needs, a strict-but-liberal parser for untrusted bodies, a serializer and in-place
// rewrite operations. Sans-I/O: plain values, no allocation beyond the model itself.
//
// Model. Every line keeps its type letter and value verbatim, in order (unknown attributes
// included), split into the session section and one section per m= line. Typed views (origin,
// connections, m= fields, a=rtcp) are cached when parsing and kept in step by the rewrite
// methods, which are the only way to change lines. Untouched lines serialise byte-identically.
//
// Line endings. CRLF and bare LF are both accepted (RFC 8866 §5: parsers SHOULD accept LF), as is
// a missing ending on the last line and trailing empty lines (dropped). serialize() always writes
// CRLF, the form RFC 8866 §5 requires on the wire, so parse→serialize is the identity for
// canonical CRLF input and normalises anything else.
//
// Example:
//   auto sd = SessionDescription::parse(body);
//   if (!sd.ok()) { count(sd.error().kind); return pass_through_or_488(sd.error()); }
//   for (std::size_t i : sd->streams_needing_binding()) {
//     const StreamInfo s = sd->stream(i);            // LAN address/ports to bind
//     sd->media(i).set_connection(public_addr);       // adds a media-level c= when needed
//     sd->media(i).set_port(public_rtp_port);
//     sd->media(i).set_rtcp(public_rtcp_port, public_addr);
//   }
//   sd->strip_ice();
//   sd->bump_version();                               // RFC 3264 §8
//   body = sd->serialize();                           // then recompute Content-Length
//
// Thread-compatible value type; not synchronised.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/base/result.h"
#include "common/net/ip_address.h"
#include "controller/media/sdp/sdp_error.h"
#include "controller/media/sdp/sdp_fields.h"

namespace portcullis::media::sdp {

/// Hard limits on untrusted bodies (docs/style.md §4.6 rule 5, applied to SDP).
struct SdpLimits {
  std::size_t max_bytes = 64 * 1024;     // whole body
  std::size_t max_lines = 1024;          // counting empty lines
  std::size_t max_line_length = 4096;    // bytes, without the line ending
  std::size_t max_media = 16;            // m= lines
};

class SdpParser;

/// One m= section: the m= line (always lines()[0]) and its i=, c=, b=, k=, a= lines.
class MediaDescription {
 public:
  // --- m= fields (RFC 8866 §5.14) ---
  const MediaField& field() const noexcept { return field_; }
  std::string_view media() const noexcept { return field_.media; }
  std::uint16_t port() const noexcept { return field_.port; }
  /// The "/<number of ports>" of the m= line; nullopt when absent.
  std::optional<std::uint16_t> port_count() const noexcept { return field_.port_count; }
  std::string_view proto() const noexcept { return field_.proto; }
  const std::vector<std::string>& formats() const noexcept { return field_.formats; }
  bool is_rtp() const noexcept { return is_rtp_proto(field_.proto); }
  /// RFC 3264 §6: port 0 means the stream is rejected/disabled; it never gets a binding.
  bool is_rejected() const noexcept { return field_.port == 0; }

  // --- media-level typed views ---
  /// Media-level c= lines in order (several only for layered multicast, RFC 8866 §5.7).
  const std::vector<Connection>& connections() const noexcept { return connections_; }
  /// a=rtcp (RFC 3605).
  const std::optional<RtcpAttribute>& rtcp() const noexcept { return rtcp_; }
  /// a=rtcp-mux present (RFC 5761 §5.1.1).
  bool rtcp_mux() const noexcept;
  /// Media-level direction attribute, if any (see SessionDescription::effective_direction).
  std::optional<Direction> direction() const noexcept;
  /// Any ICE attribute (a=candidate, a=ice-ufrag, ...) at media level.
  bool has_ice() const noexcept;
  /// Value of the first a=<name> (case-insensitive name); empty view for a flag attribute.
  std::optional<std::string_view> attribute(std::string_view name) const noexcept;
  /// All lines of the section, m= first.
  const std::vector<Line>& lines() const noexcept { return lines_; }

  // --- rewrite (each keeps lines and typed views in step) ---
  /// Replaces the m= port; keeps the port count.
  void set_port(std::uint16_t port);
  /// Sets or (nullopt) removes the "/<number of ports>" of the m= line.
  void set_port_count(std::optional<std::uint16_t> count);
  /// Makes `address` this stream's only media-level c= (`IN IP4`/`IN IP6` from its family):
  /// rewrites the first c=, drops the others, or inserts one after m=/i= (RFC 8866 §5 order).
  void set_connection(const net::IpAddress& address);
  /// Rewrites the a=rtcp line in place, or appends one (RFC 3605 §2.1).
  void set_rtcp(std::uint16_t port, std::optional<net::IpAddress> address = std::nullopt);
  /// Removes every a=rtcp line.
  void strip_rtcp();
  /// Sets the media-level direction (rewrites the first direction attribute, drops the others,
  /// or appends one); nullopt removes them so the session level applies.
  void set_direction(std::optional<Direction> direction);

  friend bool operator==(const MediaDescription&, const MediaDescription&) = default;

 private:
  friend class SdpParser;
  friend class SessionDescription;

  void strip_ice();

  std::vector<Line> lines_;
  MediaField field_;
  std::vector<Connection> connections_;
  std::optional<RtcpAttribute> rtcp_;
};

/// What the media layer needs to know about one stream to open a pinhole.
struct StreamInfo {
  std::size_t index = 0;
  std::string media;                       // "audio", "video", ...
  std::string proto;                       // "RTP/AVP", ...
  std::uint16_t port = 0;
  std::uint16_t port_count = 1;
  bool rejected = false;                   // port 0
  /// Media-level c= (the first) if present, else the session-level one.
  std::optional<net::IpAddress> address;
  /// RTCP (RTP profiles only): a=rtcp port if present, else the RTP port when rtcp-mux, else
  /// port+1 (RFC 3550 §11); nullopt for non-RTP streams or when port+1 would exceed 65535.
  std::optional<std::uint16_t> rtcp_port;
  /// a=rtcp address if present, else `address`.
  std::optional<net::IpAddress> rtcp_address;
  bool rtcp_mux = false;
  Direction direction = Direction::kSendRecv;  // media-level, else session-level, else sendrecv
  /// RFC 3264 §8.4: sendonly/inactive, or the legacy c=0.0.0.0 (or ::) hold.
  bool on_hold = false;
  bool has_ice = false;                    // ICE attributes at media or session level

  friend bool operator==(const StreamInfo&, const StreamInfo&) = default;
};

class SessionDescription {
 public:
  /// Parses an untrusted body. Not NUL-terminated, may contain NULs (rejected as kMalformed);
  /// never reads outside `body`. Rules beyond the grammar (RFC 8866 §5):
  ///  - v=0 first; exactly one o=; at most one s= and one session-level c=;
  ///  - session-only types (v o s u e p t r z) are rejected after the first m=;
  ///  - unknown type letters: kUnknownLineType; non-IN/IP4/IP6 types: kUnsupportedNetType;
  ///    FQDN connection addresses: kUnsupportedAddress;
  ///  - a non-zero-port stream without any c=: kMissingConnection;
  ///  - conflicting direction attributes at one level, or two a=rtcp in one section: kMalformed;
  ///  - empty lines only at the end; limits from `limits`.
  static Result<SessionDescription, SdpError> parse(std::string_view body, const SdpLimits& limits = {});

  /// All lines with CRLF endings.
  std::string serialize() const;

  // --- session-level views ---
  const Origin& origin() const noexcept { return origin_; }
  const std::optional<Connection>& connection() const noexcept { return connection_; }
  /// Session-level direction attribute, if any.
  std::optional<Direction> direction() const noexcept;
  /// Any ICE attribute at session or media level.
  bool has_ice() const noexcept;
  /// Value of the first session-level a=<name>.
  std::optional<std::string_view> attribute(std::string_view name) const noexcept;
  /// Session-section lines, v= first.
  const std::vector<Line>& lines() const noexcept { return lines_; }

  std::size_t media_count() const noexcept { return media_.size(); }
  /// Precondition: i < media_count().
  const MediaDescription& media(std::size_t i) const { return media_[i]; }
  MediaDescription& media(std::size_t i) { return media_[i]; }
  const std::vector<MediaDescription>& media_descriptions() const noexcept { return media_; }

  // --- queries for the media layer ---
  /// Media-level c= (first) else session-level c=; nullopt only for rejected streams.
  std::optional<Connection> effective_connection(std::size_t i) const;
  /// RFC 8866 §6.7: media-level direction overrides session-level; the default is sendrecv.
  Direction effective_direction(std::size_t i) const;
  StreamInfo stream(std::size_t i) const;
  std::vector<StreamInfo> streams() const;
  /// Indices of streams that need a pinhole: every stream whose port is not 0 (held streams
  /// included: they resume without a new binding).
  std::vector<std::size_t> streams_needing_binding() const;

  // --- rewrite ---
  /// Sets the session-level c= (rewritten in place or inserted before b=/t=, RFC 8866 §5 order).
  /// Media-level c= lines are left alone and still override it.
  void set_connection(const net::IpAddress& address);
  /// Rewrites the o= address (and addrtype), e.g. to hide the LAN address.
  void set_origin_address(const net::IpAddress& address);
  /// RFC 3264 §8: a modified description must carry the next o= version. Decimal increment,
  /// no overflow (the version is kept as text).
  void bump_version();
  /// Session-level direction; nullopt removes it.
  void set_direction(std::optional<Direction> direction);
  /// Removes every ICE attribute at every level (RFC 8839 §5: candidate, remote-candidates,
  /// ice-ufrag, ice-pwd, ice-options, ice-lite, ice-mismatch, ice-pacing, end-of-candidates):
  /// all of them or none, never half an ICE description.
  void strip_ice();

  friend bool operator==(const SessionDescription&, const SessionDescription&) = default;

 private:
  friend class SdpParser;

  std::vector<Line> lines_;
  Origin origin_;
  std::optional<Connection> connection_;
  std::vector<MediaDescription> media_;
};

}  // namespace portcullis::media::sdp
