// MessageEditor: a list of edits applied to a SipMessage, serialised into a new buffer. Bytes the
// edits do not touch are copied verbatim (including folding and header-name case), so a proxy
// changes only what it must. Content-Length is rewritten when the body changes or when asked.
//
//   MessageEditor ed(msg);
//   ed.prepend_header("Via", "SIP/2.0/UDP 203.0.113.1:5060;branch=z9hG4bK...");
//   ed.remove_first(HeaderId::kRoute);
//   ed.set_request_uri("sip:bob@192.0.2.7:5060");
//   std::string out = ed.serialize();
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "controller/sip/message/sip_message.h"

namespace portcullis::sip {

class MessageEditor {
 public:
  explicit MessageEditor(const SipMessage& message);

  /// Replaces the Request-URI (requests only).
  void set_request_uri(std::string uri);
  /// Replaces the status line's code and reason (responses only).
  void set_status(std::uint16_t code, std::string reason);

  /// Inserts a header field before all others (e.g. a proxy's Via, RFC 3261 §16.6 step 8).
  void prepend_header(std::string name, std::string value);
  /// Inserts a header field before the first field with id `before` (or at the end if none).
  void insert_before(HeaderId before, std::string name, std::string value);
  /// Appends a header field after all others.
  void append_header(std::string name, std::string value);
  /// Replaces the whole value of header field number `index` (index into message.headers()).
  void replace_value(std::size_t index, std::string value);
  /// Removes header field number `index`.
  void remove(std::size_t index);
  /// Removes the first field with this id; false if none.
  bool remove_first(HeaderId id);
  /// Removes every field with this id; returns how many.
  std::size_t remove_all(HeaderId id);
  /// Removes the first element (via-parm / name-addr) of a list header field and, if that empties
  /// the field, the field itself (a proxy popping its own Via or Route, RFC 3261 §16.7 / §16.4).
  bool pop_first_list_element(HeaderId id);

  /// Replaces the body; Content-Length follows. Content-Type is left to the caller.
  void set_body(std::string body);

  /// Rewrites host[:port] of a URI located inside header field `index` (e.g. a Contact) or of
  /// the Request-URI (index = nullopt). `uri` must come from that field / the Request-URI of the
  /// same message (its views locate the span). port = nullopt removes the port.
  void rewrite_uri_host_port(std::optional<std::size_t> index, const Uri& uri, std::string_view host,
                             std::optional<std::uint16_t> port);

  /// Builds the new message. The original SipMessage must still be alive.
  std::string serialize() const;

 private:
  struct Edit;
  const SipMessage& message_;
  std::vector<Edit> edits_;
  std::optional<std::string> request_uri_;
  std::optional<std::pair<std::uint16_t, std::string>> status_;
  std::optional<std::string> body_;

 public:
  ~MessageEditor();
  MessageEditor(const MessageEditor&) = delete;
  MessageEditor& operator=(const MessageEditor&) = delete;
};

}  // namespace portcullis::sip
