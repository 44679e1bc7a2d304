// Via (RFC 3261 §20.42, §25.1; RFC 3581 rport).
#include "common/base/text.h"
#include "controller/sip/parser/headers.h"
#include "controller/sip/parser/scanner.h"

namespace portcullis::sip {

namespace {

using detail::Cursor;

constexpr SipError kBadVia = bad_request("malformed Via header");
constexpr SipError kBadViaParam = bad_request("malformed Via parameter");
constexpr SipError kEmptyVia = bad_request("empty Via header");

// Extracts the parameters the transaction and transport layers use. A repeated branch,
// received, rport, maddr or ttl is ambiguous (two elements could key the transaction
// differently), so it is rejected rather than resolved.
bool extract_via_params(Via& v) {
  bool seen_branch = false;
  bool seen_received = false;
  bool seen_maddr = false;
  for (const Param& p : v.params.items()) {
    if (iequals(p.name, "branch")) {
      // via-branch = "branch" EQUAL token
      if (seen_branch || !p.has_value || !is_token(p.value)) {
        return false;
      }
      seen_branch = true;
      v.branch = p.value;
    } else if (iequals(p.name, "received")) {
      // via-received = "received" EQUAL (IPv4address / IPv6address); the bracketed form is
      // also accepted because RFC 5118 §4.5 shows both in the wild.
      if (seen_received || !p.has_value) {
        return false;
      }
      const HostKind kind = detail::classify_host(p.value);
      if (kind != HostKind::kIpv4 && kind != HostKind::kIpv6Reference &&
          !detail::is_ipv6_address(p.value)) {
        return false;
      }
      seen_received = true;
      v.received = p.value;
    } else if (iequals(p.name, "rport")) {
      // RFC 3581 §3: response-port = "rport" [EQUAL 1*DIGIT]
      if (v.has_rport) {
        return false;
      }
      v.has_rport = true;
      if (p.has_value) {
        const auto port = parse_decimal(p.value, 65535);
        if (!port) {
          return false;
        }
        v.rport = static_cast<std::uint16_t>(*port);
      }
    } else if (iequals(p.name, "maddr")) {
      // via-maddr = "maddr" EQUAL host
      if (seen_maddr || !p.has_value || detail::classify_host(p.value) == HostKind::kNone) {
        return false;
      }
      seen_maddr = true;
      v.maddr = p.value;
    } else if (iequals(p.name, "ttl")) {
      // via-ttl = "ttl" EQUAL ttl; ttl = 1*3DIGIT ; 0 to 255
      if (v.ttl || !p.has_value || p.value.size() > 3) {
        return false;
      }
      const auto ttl = parse_decimal(p.value, 255);
      if (!ttl) {
        return false;
      }
      v.ttl = static_cast<std::uint8_t>(*ttl);
    }
  }
  return true;
}

// via-parm = sent-protocol LWS sent-by *( SEMI via-params )
// sent-protocol = protocol-name SLASH protocol-version SLASH transport; SLASH = SWS "/" SWS
// sent-by = host [ COLON port ]; COLON = SWS ":" SWS
Result<Via, SipError> take_via(Cursor& c) {
  Via v;
  const std::size_t start = c.pos();
  v.protocol_name = c.take_while(detail::kTokenChar);
  if (v.protocol_name.empty()) {
    return unexpected(kBadVia);
  }
  c.skip_lws();
  if (!c.consume('/')) {
    return unexpected(kBadVia);
  }
  c.skip_lws();
  v.protocol_version = c.take_while(detail::kTokenChar);
  if (v.protocol_version.empty()) {
    return unexpected(kBadVia);
  }
  c.skip_lws();
  if (!c.consume('/')) {
    return unexpected(kBadVia);
  }
  c.skip_lws();
  v.transport = c.take_while(detail::kTokenChar);  // unknown transports are fine (RFC 4475 §3.1.1.10)
  if (v.transport.empty() || !c.skip_lws()) {
    return unexpected(kBadVia);
  }
  if (detail::take_host(c, v.host) == HostKind::kNone) {
    return unexpected(kBadVia);
  }
  const std::size_t after_host = c.pos();
  c.skip_lws();
  if (c.consume(':')) {
    c.skip_lws();
    v.port = detail::take_port(c);
    if (!v.port) {
      return unexpected(kBadVia);
    }
  } else {
    c.set_pos(after_host);
  }
  if (!detail::take_header_params(c, v.params, detail::ParamMode::kVia)) {
    return unexpected(kBadViaParam);
  }
  v.text = c.slice(start);
  if (!extract_via_params(v)) {
    return unexpected(kBadViaParam);
  }
  return v;
}

}  // namespace

bool Via::rfc3261_branch() const noexcept {
  // RFC 3261 §8.1.1.7: the branch of an RFC 3261 element begins with "z9hG4bK" (case-sensitive).
  return branch.starts_with("z9hG4bK");
}

Result<std::vector<Via>, SipError> parse_via_list(std::string_view value) {
  Cursor c(value);
  c.skip_lws();
  if (c.eof()) {
    return unexpected(kEmptyVia);
  }
  std::vector<Via> out;
  while (true) {
    auto via = take_via(c);
    if (!via) {
      return unexpected(via.error());
    }
    if (out.size() >= detail::kMaxListElements) {
      return unexpected(kBadVia);
    }
    out.push_back(std::move(via).value());
    c.skip_lws();
    if (c.eof()) {
      return out;
    }
    // COMMA = SWS "," SWS; ",," and a trailing ',' are errors (RFC 4475 §3.1.2.1).
    if (!c.consume(',')) {
      return unexpected(kBadVia);
    }
    c.skip_lws();
  }
}

}  // namespace portcullis::sip
