// Private to controller/sip/parser: the cursor-based name-addr parser shared by
// parse_name_addr, parse_name_addr_list and parse_contact.
#pragma once

#include "common/base/result.h"
#include "controller/sip/parser/name_addr.h"
#include "controller/sip/parser/scanner.h"

namespace portcullis::sip::detail {

/// Parses one name-addr / addr-spec plus its header parameters at the cursor, skipping LWS on
/// both sides. Stops before a top-level ',' or any other character that cannot continue the
/// element; the caller decides whether that is the end of a list element or trailing junk.
Result<NameAddr, SipError> take_name_addr(Cursor& c);

}  // namespace portcullis::sip::detail
