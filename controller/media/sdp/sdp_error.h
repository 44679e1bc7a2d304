// The error every SDP parsing step returns. A value, never an exception (docs/style.md §4.4):
// a kind the caller can switch on (pass the body through untouched, answer 488, count a stat),
// a static message, and the 1-based line number it refers to.
#pragma once

#include <cstdint>
#include <string_view>

#include "common/base/error.h"

namespace portcullis::media::sdp {

enum class SdpErrorKind : std::uint8_t {
  /// A line breaks the RFC 8866 §9 grammar (bad number, bad token, NUL byte, duplicate
  /// single-instance line, line type in the wrong section, ...).
  kMalformed,
  /// The first line is not `v=` (RFC 8866 §5: "v=" MUST be first), or the body is empty.
  kMissingVersion,
  /// `v=` is present but not 0 (RFC 8866 §5.1).
  kUnsupportedVersion,
  /// A type letter we do not know. RFC 8866 §5: a parser MUST ignore or reject the whole
  /// description; a firewall cannot rewrite what it does not understand, so we reject.
  kUnknownLineType,
  /// A nettype/addrtype other than IN IP4 / IN IP6 (e.g. `ATM NSAP`, `IN E164`). Distinct so the
  /// caller may choose to pass such a body through unmodified instead of rejecting it.
  kUnsupportedNetType,
  /// A connection address that is not an IP literal (an FQDN or an extension address).
  kUnsupportedAddress,
  /// A media stream with a non-zero port has no media-level c= and there is no session c=
  /// (RFC 8866 §5.7). `line` is the m= line.
  kMissingConnection,
  /// More m= lines than SdpLimits::max_media.
  kTooManyMedia,
  /// More lines than SdpLimits::max_lines.
  kTooManyLines,
  /// A single line longer than SdpLimits::max_line_length.
  kLineTooLong,
  /// The body is larger than SdpLimits::max_bytes.
  kTooLarge,
};

/// Stable snake_case name, for stats (`sdp_parse_error_<name>`) and logs.
std::string_view sdp_error_kind_name(SdpErrorKind kind) noexcept;

struct SdpError {
  SdpErrorKind kind = SdpErrorKind::kMalformed;
  /// Static text (no allocation on the error path); safe to log or put in a Warning header.
  std::string_view message;
  /// 1-based line number in the parsed body; 0 when the error is about the body as a whole.
  std::uint32_t line = 0;

  friend bool operator==(const SdpError&, const SdpError&) = default;
};

/// The project-wide Error (kInvalidArgument; kResourceExhausted for the limit kinds), with the
/// kind, line and message in the text.
Error to_error(const SdpError& e);

}  // namespace portcullis::media::sdp
