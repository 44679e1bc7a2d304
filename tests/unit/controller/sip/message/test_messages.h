// Shared test inputs for the message-layer tests.
#pragma once

#include <string>
#include <string_view>

#include "controller/sip/message/sip_message.h"

namespace portcullis::sip::testing {

/// Writes test messages with '\n' line ends for readability; converts them to CRLF.
inline std::string crlf(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 16);
  for (const char c : text) {
    if (c == '\n') {
      out.push_back('\r');
    }
    out.push_back(c);
  }
  return out;
}

/// ParseOptions for a message cut by the stream framer (Content-Length required).
inline ParseOptions stream_options() {
  ParseOptions o;
  o.framing = Framing::kStream;
  return o;
}

/// RFC 3665 §3.8-style INVITE with a 5-byte body.
inline std::string typical_invite() {
  return crlf(
      "INVITE sip:bob@biloxi.example.com SIP/2.0\n"
      "Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds\n"
      "Max-Forwards: 70\n"
      "To: Bob <sip:bob@biloxi.example.com>\n"
      "From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\n"
      "Call-ID: a84b4c76e66710@pc33.atlanta.example.com\n"
      "CSeq: 314159 INVITE\n"
      "Contact: <sip:alice@pc33.atlanta.example.com>\n"
      "Content-Type: application/sdp\n"
      "Content-Length: 5\n"
      "\n"
      "v=0\n");
}

}  // namespace portcullis::sip::testing
