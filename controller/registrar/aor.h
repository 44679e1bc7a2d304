// Address-of-record canonicalisation: the key under which bindings are stored and looked up.
#pragma once

#include <string>

#include "common/base/result.h"
#include "controller/sip/parser/sip_error.h"
#include "controller/sip/parser/uri.h"

namespace portcullis::registrar {

/// RFC 3261 §10.3 step 5: the AoR is the To URI of a REGISTER (and the Request-URI of a request
/// the proxy routes, §16.5). Canonical form "sip:user@host[:port]":
///  - scheme sip or sips only; anything else (isbn:, tel:, http: ...) is a 400, as RFC 4475 §3.3.4
///    (unksm2.dat) expects of a registrar. sips folds into sip (RFC 5630 treats the two URIs as
///    one resource), so a call to sip:alice reaches a phone that registered sips:alice; enforcing
///    TLS for a sips Request-URI is the proxy's job, not the key's;
///  - user %-unescaped (RFC 3261 §19.1.4: escapes compare as their characters), case kept;
///  - host lowercased (§19.1.4: case-insensitive); port kept when present;
///  - password, URI parameters and headers dropped.
Result<std::string, sip::SipError> canonical_aor(const sip::Uri& uri);

/// Lowercased host of a sip/sips URI, for the served-domain check (§10.3 step 1).
std::string canonical_host(const sip::Uri& uri);

}  // namespace portcullis::registrar
