#include "controller/registrar/aor.h"

#include "common/base/text.h"

namespace portcullis::registrar {

std::string canonical_host(const sip::Uri& uri) {
  std::string host(uri.host);
  for (char& c : host) {
    c = ascii_lower(c);
  }
  // A fully qualified "example.com." names the same domain as "example.com".
  if (host.size() > 1 && host.back() == '.') {
    host.pop_back();
  }
  return host;
}

Result<std::string, sip::SipError> canonical_aor(const sip::Uri& uri) {
  if (!uri.is_sip_or_sips()) {
    // RFC 4475 §3.3.4: a registrar rejects a To that is not a SIP or SIPS URI with 400.
    return unexpected(sip::bad_request("Address-of-record must be a SIP or SIPS URI"));
  }
  if (uri.host.empty()) {
    return unexpected(sip::bad_request("Address-of-record without host"));
  }
  std::string out = "sip:";
  if (!uri.user.empty()) {
    out += sip::unescape(uri.user);
    out += '@';
  }
  out += canonical_host(uri);
  if (uri.port) {
    out += ':';
    out += std::to_string(*uri.port);
  }
  return out;
}

}  // namespace portcullis::registrar
