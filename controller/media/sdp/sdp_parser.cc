// SessionDescription::parse: RFC 8866 §5 line structure and §9 grammar for the lines we type.
#include <cstdint>
#include <string_view>
#include <vector>

#include "controller/media/sdp/line_utils.h"
#include "controller/media/sdp/session_description.h"

namespace portcullis::media::sdp {

class SdpParser {
 public:
  SdpParser(std::string_view body, const SdpLimits& limits) : body_(body), limits_(limits) {}

  Result<SessionDescription, SdpError> run();

 private:
  Unexpected<SdpError> fail(SdpErrorKind kind, std::string_view message) const {
    return unexpected(SdpError{kind, message, line_no_});
  }
  Unexpected<SdpError> stamp(SdpError e) const {
    e.line = line_no_;
    return unexpected(e);
  }

  Result<void, SdpError> handle_line(char type, std::string_view value);
  Result<void, SdpError> handle_attribute(std::string_view value);

  std::string_view body_;
  const SdpLimits& limits_;
  SessionDescription sd_;
  std::uint32_t line_no_ = 0;
  bool seen_version_ = false;
  bool seen_origin_ = false;
  bool seen_name_ = false;
  std::optional<Direction> level_direction_;  // direction attribute seen at the current level
  std::vector<std::uint32_t> media_line_numbers_;
};

Result<SessionDescription, SdpError> SdpParser::run() {
  if (body_.size() > limits_.max_bytes) {
    return fail(SdpErrorKind::kTooLarge, "SDP body exceeds the size limit");
  }
  std::uint32_t first_empty_line = 0;  // empty lines are tolerated only at the end
  std::size_t pos = 0;
  while (pos < body_.size()) {
    // string_view::find is bounded by the view: no NUL terminator needed (style.md §4.6 rule 6).
    const std::size_t nl = body_.find('\n', pos);
    const std::size_t end = nl == std::string_view::npos ? body_.size() : nl;
    std::string_view raw = body_.substr(pos, end - pos);
    pos = nl == std::string_view::npos ? body_.size() : nl + 1;
    // RFC 8866 §5: lines end in CRLF; parsers SHOULD also accept a bare LF.
    if (!raw.empty() && raw.back() == '\r') {
      raw.remove_suffix(1);
    }
    ++line_no_;
    if (line_no_ > limits_.max_lines) {
      return fail(SdpErrorKind::kTooManyLines, "too many SDP lines");
    }
    if (raw.size() > limits_.max_line_length) {
      return fail(SdpErrorKind::kLineTooLong, "SDP line too long");
    }
    if (raw.empty()) {
      if (first_empty_line == 0) {
        first_empty_line = line_no_;
      }
      continue;
    }
    if (!seen_version_ && (raw.size() < 2 || raw[0] != 'v' || raw[1] != '=')) {
      return fail(SdpErrorKind::kMissingVersion, "SDP must start with v=");
    }
    if (first_empty_line != 0) {
      return unexpected(SdpError{SdpErrorKind::kMalformed, "empty line inside SDP", first_empty_line});
    }
    // RFC 8866 §5: text is any byte but NUL, CR and LF.
    for (char c : raw) {
      if (c == '\0' || c == '\r') {
        return fail(SdpErrorKind::kMalformed, "NUL or CR inside an SDP line");
      }
    }
    if (raw.size() < 2 || raw[1] != '=') {
      return fail(SdpErrorKind::kMalformed, "SDP line is not of the form <type>=<value>");
    }
    PORTCULLIS_RETURN_IF_ERROR(handle_line(raw[0], raw.substr(2)));
  }
  if (!seen_version_) {
    return unexpected(SdpError{SdpErrorKind::kMissingVersion, "SDP must start with v=", 0});
  }
  if (!seen_origin_) {
    return unexpected(SdpError{SdpErrorKind::kMalformed, "SDP has no o= line", 0});
  }
  // RFC 8866 §5.7: a c= in every media description or one at session level. Rejected streams
  // (port 0) get no binding, so a missing c= there is harmless; be liberal.
  if (!sd_.connection_) {
    for (std::size_t i = 0; i < sd_.media_.size(); ++i) {
      const auto& m = sd_.media_[i];
      if (!m.is_rejected() && m.connections_.empty()) {
        return unexpected(SdpError{SdpErrorKind::kMissingConnection,
                                   "media stream has no c= and there is no session-level c=",
                                   media_line_numbers_[i]});
      }
    }
  }
  return std::move(sd_);
}

Result<void, SdpError> SdpParser::handle_line(char type, std::string_view value) {
  const bool in_media = !sd_.media_.empty();
  switch (type) {
    case 'v':
      if (seen_version_) {
        return fail(SdpErrorKind::kMalformed, "v= must appear only as the first line");
      }
      if (value != "0") {
        return fail(SdpErrorKind::kUnsupportedVersion, "SDP version is not 0");
      }
      seen_version_ = true;
      break;
    case 'o': {
      if (in_media) {
        return fail(SdpErrorKind::kMalformed, "o= inside a media description");
      }
      if (seen_origin_) {
        return fail(SdpErrorKind::kMalformed, "duplicate o= line");
      }
      auto o = parse_origin(value);
      if (!o.ok()) {
        return stamp(o.error());
      }
      sd_.origin_ = std::move(*o);
      seen_origin_ = true;
      break;
    }
    case 's':
      if (in_media) {
        return fail(SdpErrorKind::kMalformed, "s= inside a media description");
      }
      if (seen_name_) {
        return fail(SdpErrorKind::kMalformed, "duplicate s= line");
      }
      seen_name_ = true;
      break;
    case 'u':
    case 'e':
    case 'p':
    case 't':
    case 'r':
    case 'z':
      // RFC 8866 §5: session-level only. Their relative order is not enforced (be liberal).
      if (in_media) {
        return fail(SdpErrorKind::kMalformed, "session-level line inside a media description");
      }
      break;
    case 'i':
    case 'b':
    case 'k':
      break;  // kept verbatim at either level
    case 'c': {
      auto c = parse_connection(value);
      if (!c.ok()) {
        return stamp(c.error());
      }
      if (in_media) {
        sd_.media_.back().connections_.push_back(*c);
      } else {
        if (sd_.connection_) {
          return fail(SdpErrorKind::kMalformed, "duplicate session-level c= line");
        }
        sd_.connection_ = *c;
      }
      break;
    }
    case 'a':
      PORTCULLIS_RETURN_IF_ERROR(handle_attribute(value));
      break;
    case 'm': {
      if (sd_.media_.size() >= limits_.max_media) {
        return fail(SdpErrorKind::kTooManyMedia, "too many m= lines");
      }
      auto m = parse_media_field(value);
      if (!m.ok()) {
        return stamp(m.error());
      }
      MediaDescription md;
      md.field_ = std::move(*m);
      md.lines_.push_back(Line{type, std::string(value)});
      sd_.media_.push_back(std::move(md));
      media_line_numbers_.push_back(line_no_);
      level_direction_.reset();
      return {};
    }
    default:
      if (type >= 'a' && type <= 'z') {
        return fail(SdpErrorKind::kUnknownLineType, "unknown SDP line type");
      }
      return fail(SdpErrorKind::kMalformed, "SDP line type is not a lowercase letter");
  }
  auto& lines = in_media ? sd_.media_.back().lines_ : sd_.lines_;
  lines.push_back(Line{type, std::string(value)});
  return {};
}

Result<void, SdpError> SdpParser::handle_attribute(std::string_view value) {
  auto a = split_attribute(value);
  if (!a.ok()) {
    return stamp(a.error());
  }
  const bool in_media = !sd_.media_.empty();
  if (!a->value) {
    if (auto d = parse_direction(a->name)) {
      // RFC 3264 §5.1 allows one direction per level; two different ones leave the firewall
      // guessing which holes to open.
      if (level_direction_ && *level_direction_ != *d) {
        return fail(SdpErrorKind::kMalformed, "conflicting direction attributes");
      }
      level_direction_ = d;
    }
  }
  // RFC 3605 §2.1: a=rtcp is a media-level attribute; at session level it is kept verbatim.
  if (in_media && iequals(a->name, "rtcp")) {
    auto& m = sd_.media_.back();
    if (m.rtcp_) {
      return fail(SdpErrorKind::kMalformed, "duplicate a=rtcp in one media description");
    }
    auto r = parse_rtcp(a->value.value_or(std::string_view{}));
    if (!r.ok()) {
      return stamp(r.error());
    }
    m.rtcp_ = *r;
  }
  return {};
}

Result<SessionDescription, SdpError> SessionDescription::parse(std::string_view body, const SdpLimits& limits) {
  return SdpParser(body, limits).run();
}

}  // namespace portcullis::media::sdp
