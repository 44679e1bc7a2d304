#include "controller/media/sdp/sdp_error.h"

#include <string>

namespace portcullis::media::sdp {

std::string_view sdp_error_kind_name(SdpErrorKind kind) noexcept {
  switch (kind) {
    case SdpErrorKind::kMalformed:
      return "malformed";
    case SdpErrorKind::kMissingVersion:
      return "missing_version";
    case SdpErrorKind::kUnsupportedVersion:
      return "unsupported_version";
    case SdpErrorKind::kUnknownLineType:
      return "unknown_line_type";
    case SdpErrorKind::kUnsupportedNetType:
      return "unsupported_net_type";
    case SdpErrorKind::kUnsupportedAddress:
      return "unsupported_address";
    case SdpErrorKind::kMissingConnection:
      return "missing_connection";
    case SdpErrorKind::kTooManyMedia:
      return "too_many_media";
    case SdpErrorKind::kTooManyLines:
      return "too_many_lines";
    case SdpErrorKind::kLineTooLong:
      return "line_too_long";
    case SdpErrorKind::kTooLarge:
      return "too_large";
  }
  return "unknown";
}

Error to_error(const SdpError& e) {
  const bool limit = e.kind == SdpErrorKind::kTooManyMedia || e.kind == SdpErrorKind::kTooManyLines ||
                     e.kind == SdpErrorKind::kLineTooLong || e.kind == SdpErrorKind::kTooLarge;
  std::string text = "SDP ";
  text += sdp_error_kind_name(e.kind);
  if (e.line != 0) {
    text += " at line " + std::to_string(e.line);
  }
  text += ": ";
  text += e.message;
  return {limit ? ErrorCode::kResourceExhausted : ErrorCode::kInvalidArgument, std::move(text)};
}

}  // namespace portcullis::media::sdp
