#include "controller/sip/parser/params.h"

#include "common/base/text.h"
#include "controller/sip/parser/scanner.h"

namespace portcullis::sip {

const Param* ParamList::find(std::string_view name) const noexcept {
  for (const Param& p : items_) {
    if (iequals(p.name, name)) {
      return &p;
    }
  }
  return nullptr;
}

std::optional<std::string_view> ParamList::get(std::string_view name) const noexcept {
  const Param* p = find(name);
  if (p == nullptr) {
    return std::nullopt;
  }
  return p->value;
}

namespace detail {

namespace {

// gen-value = token / host / quoted-string (RFC 3261 §25.1). A host other than an IPv6
// reference is made of token characters, so "token" covers hostnames and IPv4 too.
bool take_gen_value(Cursor& c, std::string_view name, ParamMode mode) noexcept {
  if (c.at('"')) {
    return take_quoted_string(c);
  }
  if (c.at('[')) {
    std::string_view host;
    return take_host(c, host) == HostKind::kIpv6Reference;
  }
  if (mode == ParamMode::kVia && iequals(name, "received")) {
    // via-received = "received" EQUAL (IPv4address / IPv6address): the IPv6 form is written
    // without brackets and so contains ':' (RFC 3261 §25.1, RFC 5118 §4.5).
    const std::string_view v = c.take_while(kIpv6Char);
    return !v.empty();
  }
  return !c.take_while(kTokenChar).empty();
}

}  // namespace

bool take_header_params(Cursor& c, ParamList& out, ParamMode mode) {
  while (true) {
    const std::size_t before = c.pos();
    c.skip_lws();
    if (!c.consume(';')) {
      c.set_pos(before);
      return true;
    }
    c.skip_lws();
    const std::string_view name = c.take_while(kTokenChar);
    if (name.empty()) {
      return false;  // ";;" or a trailing ';' (RFC 4475 §3.1.2.1 badinv01.dat)
    }
    Param p{name, {}, false};
    const std::size_t after_name = c.pos();
    c.skip_lws();
    if (c.consume('=')) {
      c.skip_lws();
      const std::size_t value_start = c.pos();
      if (!take_gen_value(c, name, mode)) {
        return false;
      }
      p.value = c.slice(value_start);
      p.has_value = true;
    } else {
      if (mode == ParamMode::kValueRequired) {
        return false;
      }
      c.set_pos(after_name);
    }
    if (out.size() >= kMaxParams) {
      return false;
    }
    out.push_back(p);
  }
}

}  // namespace detail
}  // namespace portcullis::sip
