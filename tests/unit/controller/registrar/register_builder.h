// Test helpers: REGISTERs and responses written as text and parsed by the real SipMessage.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "common/net/ip_address.h"
#include "controller/registrar/binding.h"
#include "controller/sip/message/sip_message.h"

namespace portcullis::registrar::test {

struct RegisterSpec {
  std::string ruri = "sip:example.com";
  std::string to = "<sip:alice@example.com>";
  std::string call_id = "reg-1@10.0.0.2";
  std::uint32_t cseq = 1;
  std::string branch = "z9hG4bK-reg-1";
  std::vector<std::string> contacts;    // one Contact field each
  std::optional<std::string> expires;   // Expires header value
  std::vector<std::string> extra;       // whole extra header lines ("Supported: path")
};

inline std::string register_text(const RegisterSpec& s) {
  std::string m = "REGISTER " + s.ruri + " SIP/2.0\r\n";
  m += "Via: SIP/2.0/UDP 10.0.0.2:5060;branch=" + s.branch + ";rport\r\n";
  m += "Max-Forwards: 70\r\n";
  m += "From: <sip:alice@example.com>;tag=from-1\r\n";
  m += "To: " + s.to + "\r\n";
  m += "Call-ID: " + s.call_id + "\r\n";
  m += "CSeq: " + std::to_string(s.cseq) + " REGISTER\r\n";
  for (const std::string& c : s.contacts) {
    m += "Contact: " + c + "\r\n";
  }
  if (s.expires) {
    m += "Expires: " + *s.expires + "\r\n";
  }
  for (const std::string& e : s.extra) {
    m += e + "\r\n";
  }
  m += "Content-Length: 0\r\n\r\n";
  return m;
}

inline sip::SipMessage parse(std::string text) {
  auto r = sip::SipMessage::parse(std::move(text));
  if (!r) {
    FAIL("parse failed: " << r.error().reason);
  }
  return std::move(r).value();
}

inline sip::SipMessage make_register(const RegisterSpec& s) { return parse(register_text(s)); }

inline net::Endpoint ep(const char* text) {
  auto r = net::Endpoint::parse(text);
  REQUIRE(r.ok());
  return *r;
}

inline TransportContext udp_from(const char* source, std::uint64_t connection = 0) {
  return TransportContext{ep(source), TransportKind::kUdp, ep("192.0.2.10:5060"), connection};
}

}  // namespace portcullis::registrar::test
