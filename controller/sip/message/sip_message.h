// SipMessage: one SIP request or response, parsed zero-copy.
//
// The receive buffer is owned once (moved in). The start line and every header field are indexed
// as string_views into it. The transaction-critical headers (Via, From, To, Call-ID, CSeq,
// Max-Forwards, Content-Length) are validated eagerly by parse(), so a message that gets through
// parse() can always be answered or matched to a transaction. Every other header is parsed on
// first typed access and the Result (value or error) is cached.
//
// Usage:
//   auto parsed = SipMessage::parse(std::move(datagram));  // Framing::kDatagram by default
//   if (!parsed) { /* answer parsed.error().status statelessly, or drop if .drop */ }
//   const SipMessage& msg = *parsed;
//   auto& vias = msg.vias();                 // validated already, never an error here
//   auto contact = msg.contact();            // Result<ContactList, SipError>, parsed now, cached
//
// Thread-compatibility: const methods may be called from one thread at a time (lazy caches).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/base/result.h"
#include "controller/sip/message/header_name.h"
#include "controller/sip/parser/headers.h"
#include "controller/sip/parser/name_addr.h"
#include "controller/sip/parser/sip_error.h"
#include "controller/sip/parser/uri.h"

namespace portcullis::sip {

enum class Method : std::uint8_t {
  kUnknown, kInvite, kAck, kBye, kCancel, kRegister, kOptions, kInfo, kPrack, kUpdate,
  kSubscribe, kNotify, kRefer, kMessage, kPublish
};
/// Case-sensitive (RFC 3261 §7.1: methods are case-sensitive).
Method method_from_string(std::string_view s) noexcept;
std::string_view method_name(Method m) noexcept;

enum class Framing : std::uint8_t {
  /// UDP: a missing Content-Length means the body is the rest of the datagram (RFC 3261 §18.3);
  /// bytes beyond Content-Length are discarded (RFC 4475 §3.1.1.8).
  kDatagram,
  /// TCP/TLS: the framer has already cut the message by Content-Length, which is required.
  kStream,
};

struct ParseLimits {
  std::uint32_t max_message_bytes = 65535;  // larger → 513 Message Too Large
  std::uint32_t max_header_bytes = 16384;   // start line + headers; larger → 513
  std::uint32_t max_headers = 128;          // header fields; more → 513
  std::uint32_t max_body_bytes = 65535;     // Content-Length above this → 513
  // via-parms in total; more → 513. 70 = the initial Max-Forwards of RFC 3261 §8.1.1.6, so a
  // message that legitimately crossed that many hops still fits (RFC 4475 longreq.dat has 34).
  std::uint32_t max_via = 70;
};

struct ParseOptions {
  Framing framing = Framing::kDatagram;
  ParseLimits limits;
};

/// One header field as it appears in the message.
struct HeaderField {
  HeaderId id = HeaderId::kOther;
  std::string_view name;   // as written ("v", "Via", "VIA")
  std::string_view value;  // unfolded (RFC 3261 §7.3.1) and trimmed; may point into an owned copy
  std::string_view raw;    // the whole field line(s) as received, without the final CRLF
};

class SipMessage {
 public:
  /// Parses a complete message. On failure the SipError says how to answer (status/reason) or
  /// to drop (malformed responses, RFC 3261 §18.1.2 / RFC 4475 §3.1.2.19).
  static Result<SipMessage, SipError> parse(std::string buffer, const ParseOptions& options = {});

  SipMessage(SipMessage&&) noexcept;
  SipMessage& operator=(SipMessage&&) noexcept;
  ~SipMessage();

  // ---- start line ----
  bool is_request() const noexcept;
  bool is_response() const noexcept { return !is_request(); }
  Method method() const noexcept;               // request: from the start line; response: from CSeq
  std::string_view method_text() const noexcept;  // request: as written; response: CSeq method
  std::string_view request_uri_text() const noexcept;  // requests only
  /// Parsed Request-URI (validated eagerly; requests only).
  const Uri& request_uri() const noexcept;
  std::uint16_t status_code() const noexcept;   // responses only
  std::string_view reason_phrase() const noexcept;  // responses only
  std::string_view start_line() const noexcept;

  // ---- header index ----
  const std::vector<HeaderField>& headers() const noexcept;
  /// First field with this id, or nullptr.
  const HeaderField* find(HeaderId id) const noexcept;
  /// First field whose name matches (case-insensitive, compact forms resolved), or nullptr.
  const HeaderField* find(std::string_view name) const noexcept;
  std::size_t count(HeaderId id) const noexcept;

  // ---- eagerly validated (never fail after parse()) ----
  /// All via-parms of all Via fields, topmost first.
  const std::vector<Via>& vias() const noexcept;
  const NameAddr& from() const noexcept;
  const NameAddr& to() const noexcept;
  std::string_view call_id() const noexcept;
  const CSeq& cseq() const noexcept;
  /// nullopt if absent (allowed for RFC 2543 peers; a proxy adds 70).
  std::optional<std::uint8_t> max_forwards() const noexcept;
  /// nullopt if absent (datagram only).
  std::optional<std::uint32_t> content_length() const noexcept;
  std::string_view body() const noexcept;

  // ---- parsed on first use, cached ----
  const Result<ContactList, SipError>& contact() const;
  const Result<std::vector<NameAddr>, SipError>& route() const;
  const Result<std::vector<NameAddr>, SipError>& record_route() const;
  const Result<std::vector<NameAddr>, SipError>& path() const;
  /// nullopt when absent.
  const Result<std::optional<MediaType>, SipError>& content_type() const;
  const Result<std::optional<std::uint32_t>, SipError>& expires() const;
  const Result<std::optional<std::uint32_t>, SipError>& min_expires() const;
  /// Concatenation of all fields of that header, in order.
  const Result<std::vector<std::string_view>, SipError>& require() const;
  const Result<std::vector<std::string_view>, SipError>& proxy_require() const;
  const Result<std::vector<std::string_view>, SipError>& supported() const;
  const Result<std::vector<std::string_view>, SipError>& unsupported() const;
  const Result<std::vector<std::string_view>, SipError>& allow() const;
  /// All Authorization (or Proxy-Authorization ...) fields, each parsed.
  const Result<std::vector<AuthValue>, SipError>& authorization() const;
  const Result<std::vector<AuthValue>, SipError>& proxy_authorization() const;
  const Result<std::vector<AuthValue>, SipError>& www_authenticate() const;
  const Result<std::vector<AuthValue>, SipError>& proxy_authenticate() const;
  const Result<std::optional<SipDate>, SipError>& date() const;

  /// Parses every known header that has a typed parser and returns the first error. Strict
  /// elements (and portcullis-sipcheck) call this; the hot path uses the lazy accessors.
  Result<void, SipError> validate_all() const;

  /// The message bytes as received (including any trailing datagram bytes beyond the body).
  std::string_view wire() const noexcept;
  /// The message bytes that count: start line, headers, blank line, body (no trailing noise).
  std::string_view message_bytes() const noexcept;

 private:
  struct Impl;
  explicit SipMessage(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace portcullis::sip
