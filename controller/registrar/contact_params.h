// Helpers shared by Registrar and PassiveLearner: reading the registration parameters of one
// Contact value and rendering bindings back into Contact / Path header values.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/base/result.h"
#include "common/time/clock.h"
#include "controller/registrar/binding.h"
#include "controller/sip/parser/name_addr.h"
#include "controller/sip/parser/sip_error.h"

namespace portcullis::registrar {

struct ContactParams {
  std::uint16_t q = 1000;                 // RFC 3261 §20.10 q, thousandths; absent → 1000
  std::optional<std::uint32_t> expires;   // RFC 3261 §10.2.1.1 "expires" parameter
  std::string_view instance_id;           // RFC 5626 §4.1 "+sip.instance", as written
  std::uint32_t reg_id = 0;               // RFC 5626 §4.2; kept only together with instance_id
};

/// Reads q, expires, +sip.instance and reg-id. A malformed q or reg-id is a 400; a malformed
/// expires parameter is ignored (the Expires header or the default applies).
Result<ContactParams, sip::SipError> read_contact_params(const sip::NameAddr& contact);

/// "<uri>;params" for each Path value, to store and to echo (RFC 3327 §5.3).
std::vector<std::string> path_texts(const std::vector<sip::NameAddr>& path);

/// One Contact value of a 2xx to REGISTER: "<uri>;expires=N" plus q, +sip.instance and reg-id
/// when set (RFC 3261 §10.3 step 8; RFC 5626 §6).
std::string format_contact(const Binding& b, Clock::TimePoint now);

/// Seconds left until `expires_at`, rounded up; 0 when past.
std::uint32_t seconds_left(Clock::TimePoint expires_at, Clock::TimePoint now);

/// RFC 1123 date for the Date header (RFC 3261 §20.17), e.g. "Thu, 01 Jan 2026 00:00:00 GMT".
std::string format_http_date(Clock::WallTime t);

}  // namespace portcullis::registrar
