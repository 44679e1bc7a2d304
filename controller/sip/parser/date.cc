// Date (RFC 3261 §20.17): SIP-date = rfc1123-date, and only "GMT" (RFC 4475 §3.1.2.12).
#include <array>

#include "common/base/text.h"
#include "controller/sip/parser/headers.h"
#include "controller/sip/parser/scanner.h"

namespace portcullis::sip {

namespace {

constexpr SipError kBadDate = bad_request("malformed Date header");

constexpr std::array<std::string_view, 7> kWeekdays = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
constexpr std::array<std::string_view, 12> kMonths = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

// Fixed-width decimal; nullopt unless exactly `s.size()` digits.
std::optional<int> fixed_digits(std::string_view s) noexcept {
  int v = 0;
  for (char ch : s) {
    if (ch < '0' || ch > '9') {
      return std::nullopt;
    }
    v = v * 10 + (ch - '0');
  }
  return v;
}

bool is_leap(int y) noexcept { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int days_in_month(int y, int m) noexcept {
  static constexpr std::array<int, 12> kDays = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return (m == 2 && is_leap(y)) ? 29 : kDays[static_cast<std::size_t>(m - 1)];
}

// Days since 1970-01-01 for a proleptic Gregorian date (H. Hinnant's days_from_civil).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) noexcept {
  y -= m <= 2 ? 1 : 0;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

template <std::size_t N>
int index_of(const std::array<std::string_view, N>& names, std::string_view s) noexcept {
  for (std::size_t i = 0; i < N; ++i) {
    if (iequals(names[i], s)) {
      return static_cast<int>(i);
    }
  }
  return -1;
}

}  // namespace

// rfc1123-date = wkday "," SP date1 SP time SP "GMT"; date1 = 2DIGIT SP month SP 4DIGIT;
// time = 2DIGIT ":" 2DIGIT ":" 2DIGIT. Fixed layout: "Sat, 13 Nov 2010 23:29:00 GMT".
Result<SipDate, SipError> parse_date(std::string_view value) {
  const std::string_view s = detail::trim_lws(value);
  constexpr std::size_t kLength = 29;
  if (s.size() != kLength || s[3] != ',' || s[4] != ' ' || s[7] != ' ' || s[11] != ' ' ||
      s[16] != ' ' || s[19] != ':' || s[22] != ':' || s[25] != ' ') {
    return unexpected(kBadDate);
  }
  if (index_of(kWeekdays, s.substr(0, 3)) < 0 || !iequals(s.substr(26, 3), "GMT")) {
    return unexpected(kBadDate);
  }
  const int month = index_of(kMonths, s.substr(8, 3)) + 1;
  const auto day = fixed_digits(s.substr(5, 2));
  const auto year = fixed_digits(s.substr(12, 4));
  const auto hour = fixed_digits(s.substr(17, 2));
  const auto minute = fixed_digits(s.substr(20, 2));
  const auto second = fixed_digits(s.substr(23, 2));
  if (month < 1 || !day || !year || !hour || !minute || !second) {
    return unexpected(kBadDate);
  }
  // 60 admits a leap second.
  if (*day < 1 || *day > days_in_month(*year, month) || *hour > 23 || *minute > 59 || *second > 60) {
    return unexpected(kBadDate);
  }
  SipDate out;
  out.unix_seconds = days_from_civil(*year, static_cast<unsigned>(month), static_cast<unsigned>(*day)) * 86400 +
                     *hour * 3600 + *minute * 60 + *second;
  return out;
}

}  // namespace portcullis::sip
