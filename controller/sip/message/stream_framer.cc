#include "controller/sip/message/stream_framer.h"

#include <cstring>
#include <limits>
#include <utility>

#include "controller/sip/message/header_name.h"
#include "controller/sip/parser/headers.h"

namespace portcullis::sip {
namespace {

constexpr bool is_wsp(char c) noexcept { return c == ' ' || c == '\t'; }
constexpr bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

// Compact the buffer once this many consumed bytes sit at its front (amortised O(1) per byte).
constexpr std::size_t kCompactThreshold = 4096;

constexpr SipError too_large(std::string_view reason) { return {513, reason, false}; }

}  // namespace

StreamFramer::StreamFramer(FramerLimits limits) : limits_(limits) {}

void StreamFramer::feed(std::string_view bytes) {
  if (failed_ || bytes.empty()) {
    return;
  }
  if (consumed_ > 0 && (consumed_ >= kCompactThreshold || consumed_ * 2 >= buffer_.size())) {
    buffer_.erase(0, consumed_);
    // Between messages these may lag behind consumed_ (keep-alives were skipped): clamp.
    scanned_ = scanned_ > consumed_ ? scanned_ - consumed_ : 0;
    line_start_ = line_start_ > consumed_ ? line_start_ - consumed_ : 0;
    if (header_end_) {
      *header_end_ -= consumed_;
    }
    consumed_ = 0;
  }
  buffer_.append(bytes);
}

std::size_t StreamFramer::buffered() const noexcept { return buffer_.size() - consumed_; }

FramerEvent StreamFramer::fail(SipError error) {
  // RFC 4475 §3.1.2.3: after a framing error the stream cannot be resynchronised. Responses
  // are never answered (RFC 3261 §18.1.2), so the caller only needs to close.
  const std::string_view head = std::string_view(buffer_).substr(consumed_);
  error.drop = head.size() >= 4 && head.substr(0, 4) == "SIP/";
  failed_ = true;
  buffer_.clear();
  buffer_.shrink_to_fit();
  consumed_ = 0;
  scanned_ = 0;
  line_start_ = 0;
  header_end_.reset();
  return FramingError{error};
}

void StreamFramer::reset_message_state() {
  scanned_ = consumed_;
  line_start_ = consumed_;
  header_end_.reset();
  body_length_ = 0;
  header_lines_ = 0;
  in_message_ = false;
}

std::optional<FramerEvent> StreamFramer::next() {
  if (failed_) {
    return std::nullopt;
  }
  const std::string_view buf = buffer_;

  if (!in_message_) {
    // Between messages: RFC 5626 §4.4.1 keep-alives. CRLFCRLF is a ping; a lone CRLF is a pong
    // (or RFC 3261 §7.5 leading CRLF) and is skipped. Anything else starts a message.
    while (consumed_ < buf.size()) {
      const std::string_view rest = buf.substr(consumed_);
      if (rest[0] != '\r') {
        break;
      }
      if (rest.size() < 2) {
        return std::nullopt;  // need the LF
      }
      if (rest[1] != '\n') {
        return fail(bad_request("bare CR between messages"));
      }
      if (rest.size() < 4) {
        if (rest.size() == 3 && rest[2] != '\r') {
          consumed_ += 2;  // lone CRLF followed by the next message
          keepalive_bytes_ += 2;
          continue;
        }
        return std::nullopt;  // might still become CRLFCRLF
      }
      if (rest[2] == '\r' && rest[3] == '\n') {
        consumed_ += 4;
        keepalive_bytes_ = 0;
        reset_message_state();
        return FramerEvent{KeepAlivePing{}};
      }
      if (rest[2] == '\r') {
        return fail(bad_request("bare CR between messages"));
      }
      consumed_ += 2;
      keepalive_bytes_ += 2;
    }
    if (keepalive_bytes_ > limits_.max_keepalive_bytes) {
      return fail(bad_request("too many CRLFs between messages"));
    }
    if (consumed_ >= buf.size()) {
      return std::nullopt;
    }
    in_message_ = true;
    scanned_ = consumed_;
    line_start_ = consumed_;
  }

  if (!header_end_) {
    // Incremental search for the empty line: resume at scanned_, look only at new bytes.
    while (true) {
      const std::size_t from = scanned_;
      const void* lf = from < buf.size() ? std::memchr(buf.data() + from, '\n', buf.size() - from)
                                         : nullptr;
      if (lf == nullptr) {
        scanned_ = buf.size();
        break;
      }
      const auto nl = static_cast<std::size_t>(static_cast<const char*>(lf) - buf.data());
      if (nl == line_start_ || buf[nl - 1] != '\r') {
        return fail(bad_request("bare LF in header section"));
      }
      scanned_ = nl + 1;
      if (nl - 1 == line_start_) {
        header_end_ = nl + 1;  // empty line: end of the header section
        break;
      }
      // RFC 3261 §7.3.1: a line starting with SP/HTAB continues the previous field.
      if (line_start_ != consumed_ && !is_wsp(buf[line_start_])) {
        ++header_lines_;
        if (header_lines_ > limits_.max_headers) {
          return fail(too_large("too many header fields"));
        }
      }
      line_start_ = nl + 1;
      if (line_start_ - consumed_ > limits_.max_header_bytes) {
        return fail(too_large("header section too large"));
      }
    }
    if (!header_end_) {
      if (buf.size() - consumed_ > limits_.max_header_bytes) {
        return fail(too_large("header section too large"));
      }
      return std::nullopt;
    }
    if (*header_end_ - consumed_ > limits_.max_header_bytes) {
      return fail(too_large("header section too large"));
    }
    auto cl = find_content_length(buf.substr(consumed_, *header_end_ - consumed_));
    if (!cl) {
      return fail(cl.error());
    }
    body_length_ = *cl;
  }

  if (buf.size() - *header_end_ < body_length_) {
    return std::nullopt;  // RFC 4475 §3.1.2.2: on streams, wait for the rest of the body
  }
  const std::size_t end = *header_end_ + body_length_;
  FramedMessage msg{std::string(buf.substr(consumed_, end - consumed_))};
  consumed_ = end;
  keepalive_bytes_ = 0;
  reset_message_state();
  return FramerEvent{std::move(msg)};
}

Result<std::uint32_t, SipError> StreamFramer::find_content_length(std::string_view head) const {
  // One pass over the complete header section (start line skipped). Fields may be folded, so a
  // field runs until a line that does not start with SP/HTAB (RFC 3261 §7.3.1).
  std::size_t pos = head.find("\r\n");
  if (pos == std::string_view::npos) {
    return unexpected(bad_request("malformed start line"));
  }
  pos += 2;
  std::optional<std::uint32_t> found;
  while (pos + 2 <= head.size()) {
    if (head[pos] == '\r') {
      break;  // the empty line
    }
    const std::size_t begin = pos;
    std::size_t eol = head.find("\r\n", pos);
    if (eol == std::string_view::npos) {
      break;
    }
    pos = eol + 2;
    while (pos < head.size() && is_wsp(head[pos])) {
      eol = head.find("\r\n", pos);
      if (eol == std::string_view::npos) {
        return unexpected(bad_request("malformed header section"));
      }
      pos = eol + 2;
    }
    const std::string_view field = head.substr(begin, eol - begin);
    std::size_t name_end = 0;
    while (name_end < field.size() && field[name_end] != ':' && !is_wsp(field[name_end])) {
      ++name_end;
    }
    if (header_id(field.substr(0, name_end)) != HeaderId::kContentLength) {
      continue;
    }
    std::size_t colon = name_end;
    while (colon < field.size() && is_wsp(field[colon])) {
      ++colon;
    }
    if (colon >= field.size() || field[colon] != ':') {
      return unexpected(bad_request("malformed Content-Length header"));
    }
    if (found) {
      // RFC 4475 §3.3.9 mcl01: two Content-Lengths cannot frame a stream.
      return unexpected(bad_request("duplicate Content-Length header"));
    }
    // Unfold (remove CRLFs) and trim; a Content-Length value is short, so copying is cheap.
    std::string value;
    for (std::size_t i = colon + 1; i < field.size(); ++i) {
      if (field[i] != '\r' && field[i] != '\n') {
        value.push_back(field[i]);
      }
    }
    // parse_content_length trims LWS; 400 when malformed (RFC 4475 §3.1.2.3 ncl: the stream cannot
    // be framed), 513 above the limit.
    auto cl = parse_content_length(value, limits_.max_body_bytes);
    if (!cl) {
      return unexpected(cl.error());
    }
    found = *cl;
  }
  if (!found) {
    // RFC 3261 §18.3 / §20.14: Content-Length is mandatory on stream transports.
    return unexpected(bad_request("missing Content-Length on stream transport"));
  }
  return *found;
}

}  // namespace portcullis::sip
