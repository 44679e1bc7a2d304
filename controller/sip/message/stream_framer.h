// StreamFramer: cuts SIP messages out of a TCP/TLS byte stream (RFC 3261 §18.3). Sans-I/O: the
// transport feeds whatever bytes arrived; the framer returns complete messages, keep-alives, or a
// framing error after which the connection must be closed (RFC 4475 §3.1.2.3: the stream cannot be
// resynchronised).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "common/base/result.h"
#include "controller/sip/parser/sip_error.h"

namespace portcullis::sip {

struct FramerLimits {
  std::uint32_t max_header_bytes = 16384;  // start line + headers + blank line
  std::uint32_t max_headers = 128;
  std::uint32_t max_body_bytes = 65535;
  std::uint32_t max_keepalive_bytes = 64;  // leading CRLFs tolerated between messages
};

/// A complete message: hand `bytes` to SipMessage::parse with Framing::kStream.
struct FramedMessage {
  std::string bytes;
};
/// RFC 5626 §4.4.1: a client "ping" is CRLFCRLF; the server answers a single CRLF "pong".
struct KeepAlivePing {};
/// Unrecoverable: answer `error` if a request line was seen (optional), then close.
struct FramingError {
  SipError error;
};

using FramerEvent = std::variant<FramedMessage, KeepAlivePing, FramingError>;

class StreamFramer {
 public:
  explicit StreamFramer(FramerLimits limits = {});

  /// Appends received bytes. After a FramingError the framer ignores further input.
  void feed(std::string_view bytes);
  /// Returns the next event if one is complete, else nullopt (more bytes needed).
  std::optional<FramerEvent> next();
  /// Bytes buffered but not yet returned as an event.
  std::size_t buffered() const noexcept;
  bool failed() const noexcept { return failed_; }

 private:
  FramerEvent fail(SipError error);
  void reset_message_state();
  /// Finds the one Content-Length in a complete header section (start line included).
  Result<std::uint32_t, SipError> find_content_length(std::string_view head) const;

  FramerLimits limits_;
  std::string buffer_;
  std::size_t consumed_ = 0;      // bytes at the front of buffer_ already returned
  std::size_t scanned_ = 0;       // header-end search resumes here (no quadratic rescans)
  std::optional<std::size_t> header_end_;  // offset just past the CRLFCRLF, once found
  std::uint32_t body_length_ = 0;
  bool failed_ = false;
  bool in_message_ = false;           // past the keep-alives, inside a message's bytes
  std::size_t line_start_ = 0;        // start of the header line being scanned
  std::uint32_t header_lines_ = 0;    // header fields seen so far (folded lines not counted)
  std::uint32_t keepalive_bytes_ = 0; // lone CRLFs skipped since the last event
};

}  // namespace portcullis::sip
