#include "controller/registrar/contact_params.h"

#include <chrono>
#include <cstdio>

#include "common/base/text.h"
#include "controller/sip/parser/headers.h"

namespace portcullis::registrar {

Result<ContactParams, sip::SipError> read_contact_params(const sip::NameAddr& contact) {
  ContactParams out;
  auto q = sip::contact_q(contact);
  if (!q) {
    return unexpected(q.error());
  }
  out.q = q->value_or(1000);
  out.expires = sip::contact_expires(contact);
  if (auto inst = contact.params.get("+sip.instance"); inst && !inst->empty()) {
    out.instance_id = *inst;
  }
  if (auto reg = contact.params.get("reg-id")) {
    // RFC 5626 §4.2: reg-id = 1*DIGIT, 1 to 2^31-1.
    const auto v = parse_decimal(*reg, 0x7fffffff);
    if (!v || *v == 0) {
      return unexpected(sip::bad_request("malformed reg-id"));
    }
    out.reg_id = static_cast<std::uint32_t>(*v);
  }
  if (out.instance_id.empty()) {
    // RFC 5626 §6: reg-id without +sip.instance does not make an outbound binding.
    out.reg_id = 0;
  }
  return out;
}

std::vector<std::string> path_texts(const std::vector<sip::NameAddr>& path) {
  std::vector<std::string> out;
  out.reserve(path.size());
  for (const sip::NameAddr& na : path) {
    std::string s = "<";
    s += na.uri.text;
    s += '>';
    for (const sip::Param& p : na.params.items()) {
      s += ';';
      s += p.name;
      if (p.has_value) {
        s += '=';
        s += p.value;
      }
    }
    out.push_back(std::move(s));
  }
  return out;
}

std::uint32_t seconds_left(Clock::TimePoint expires_at, Clock::TimePoint now) {
  if (expires_at <= now) {
    return 0;
  }
  const auto left = std::chrono::ceil<std::chrono::seconds>(expires_at - now).count();
  return left > 0xffffffffLL ? 0xffffffffU : static_cast<std::uint32_t>(left);
}

std::string format_contact(const Binding& b, Clock::TimePoint now) {
  std::string s = "<";
  s += b.contact;
  s += ">;expires=";
  s += std::to_string(seconds_left(b.expires_at, now));
  if (b.q != 1000) {
    char q[8];
    std::snprintf(q, sizeof(q), "0.%03u", static_cast<unsigned>(b.q));
    std::string qs(q);
    while (qs.back() == '0') {
      qs.pop_back();
    }
    if (qs.back() == '.') {
      qs.pop_back();
    }
    s += ";q=";
    s += qs;
  }
  if (!b.instance_id.empty()) {
    s += ";+sip.instance=";
    s += b.instance_id;
  }
  if (b.reg_id != 0) {
    s += ";reg-id=";
    s += std::to_string(b.reg_id);
  }
  return s;
}

std::string format_http_date(Clock::WallTime t) {
  using namespace std::chrono;
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const auto secs = floor<seconds>(t);
  const auto day = floor<days>(secs);
  const year_month_day ymd(day);
  const weekday wd(day);
  const hh_mm_ss hms(secs - day);
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%s, %02u %s %04d %02lld:%02lld:%02lld GMT", kDays[wd.c_encoding()],
                static_cast<unsigned>(ymd.day()), kMonths[static_cast<unsigned>(ymd.month()) - 1],
                static_cast<int>(ymd.year()), static_cast<long long>(hms.hours().count()),
                static_cast<long long>(hms.minutes().count()),
                static_cast<long long>(hms.seconds().count()));
  return buf;
}

}  // namespace portcullis::registrar
