// name-addr / addr-spec with header parameters, as used by From, To, Contact, Route,
// Record-Route, Path, Reply-To (RFC 3261 §20.10, §25.1).
#pragma once

#include <string_view>
#include <vector>

#include "common/base/result.h"
#include "controller/sip/parser/params.h"
#include "controller/sip/parser/sip_error.h"
#include "controller/sip/parser/uri.h"

namespace portcullis::sip {

struct NameAddr {
  /// Display name as written: quoted (with the quotes) or a run of tokens; empty if none.
  std::string_view display_name;
  Uri uri;
  /// True when the URI was enclosed in <>. In addr-spec form (false) every ';' after the URI
  /// starts a header parameter, not a URI parameter (RFC 3261 §20.10, RFC 4475 §3.3.12).
  bool angle_brackets = false;
  ParamList params;  // header parameters after the URI (tag, expires, q, lr for Route ...)

  std::string_view tag() const noexcept;
  /// Display name without surrounding quotes and with \-escapes removed.
  std::string unquoted_display_name() const;
};

/// Parses one name-addr or addr-spec followed by header params. Rejects: unbalanced quotes,
/// non-token characters in an unquoted display name, whitespace inside the URI or between '<'
/// and the URI, a URI carrying '?' headers or ',' ';' '?' in addr-spec form (RFC 3261 §20:
/// these require <>), trailing junk.
Result<NameAddr, SipError> parse_name_addr(std::string_view value);

/// For headers that carry a comma-separated list of name-addrs (Contact, Route, Record-Route,
/// Path). Commas inside quotes or <> do not split. Empty elements (",,") are errors.
Result<std::vector<NameAddr>, SipError> parse_name_addr_list(std::string_view value);

/// Splits a header value on top-level commas (outside quotes and <>), trimming LWS. Returns an
/// error for an unterminated quote or '<', or an empty element.
Result<std::vector<std::string_view>, SipError> split_comma_list(std::string_view value);

}  // namespace portcullis::sip
