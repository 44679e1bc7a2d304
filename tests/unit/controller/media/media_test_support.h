// Helpers shared by the MediaSession and MediaRecovery tests: SDP bodies as lines, addresses, and
// the signalling context of the two phones (A on the LAN, B on the WAN).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

#include "common/net/ip_address.h"
#include "controller/media/media_session.h"

namespace portcullis::media::test {

inline std::string body_of(std::initializer_list<std::string_view> lines) {
  std::string out;
  for (std::string_view l : lines) {
    out.append(l);
    out.append("\r\n");
  }
  return out;
}

inline net::Endpoint ep(std::string_view text) { return *net::Endpoint::parse(text); }
inline net::IpAddress ip(std::string_view text) { return *net::IpAddress::parse(text); }

/// Phone A on the LAN sends (INVITE, re-INVITE, BYE ...) from 10.0.0.2:5060.
inline SignalContext lan_caller(std::uint32_t cseq = 1) {
  SignalContext c;
  c.from = Party::kCaller;
  c.source = ep("10.0.0.2:5060");
  c.cseq = cseq;
  return c;
}

/// Phone B (or another callee) on the WAN answers on fork `fork` from `src`.
inline SignalContext wan_callee(std::uint32_t cseq = 1, std::string fork = "totag-1",
                                std::string_view src = "198.51.100.7:5060") {
  SignalContext c;
  c.from = Party::kCallee;
  c.source = ep(src);
  c.fork = std::move(fork);
  c.cseq = cseq;
  return c;
}

}  // namespace portcullis::media::test
