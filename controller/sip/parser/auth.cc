// Authorization, Proxy-Authorization, WWW-Authenticate, Proxy-Authenticate values
// (RFC 3261 §20.7, §20.27, §20.28, §20.44, §25.1; RFC 7235 §2.1 token68; RFC 7616 Digest).
#include "common/base/text.h"
#include "controller/sip/parser/headers.h"
#include "controller/sip/parser/scanner.h"

namespace portcullis::sip {

namespace {

using detail::Cursor;

constexpr SipError kBadAuth = bad_request("malformed authentication header");

// auth-param *(COMMA auth-param); auth-param = auth-param-name EQUAL ( token / quoted-string ).
// Returns false without reporting why: the caller then tries the token68 form.
bool take_auth_params(Cursor& c, std::vector<AuthParam>& out) {
  while (true) {
    AuthParam p;
    p.name = c.take_while(detail::kTokenChar);
    if (p.name.empty()) {
      return false;
    }
    c.skip_lws();
    if (!c.consume('=')) {
      return false;
    }
    c.skip_lws();
    const std::size_t value_start = c.pos();
    if (c.at('"')) {
      if (!detail::take_quoted_string(c)) {
        return false;
      }
      p.quoted = true;
    } else if (c.take_while(detail::kTokenChar).empty()) {
      return false;
    }
    p.value = c.slice(value_start);
    if (out.size() >= detail::kMaxParams) {
      return false;
    }
    out.push_back(p);
    c.skip_lws();
    if (c.eof()) {
      return true;
    }
    if (!c.consume(',')) {
      return false;  // ",," and a trailing ',' fail on the empty name above
    }
    c.skip_lws();
  }
}

}  // namespace

const AuthParam* AuthValue::find(std::string_view name) const noexcept {
  for (const AuthParam& p : params) {
    if (iequals(p.name, name)) {
      return &p;
    }
  }
  return nullptr;
}

Result<AuthValue, SipError> parse_auth(std::string_view value) {
  Cursor c(detail::trim_lws(value));
  AuthValue out;
  // credentials = ("Digest" LWS digest-response) / other-response;
  // other-response = auth-scheme LWS auth-param *(COMMA auth-param). Unknown schemes are
  // legal (RFC 4475 §3.3.7 regaut01.dat).
  out.scheme = c.take_while(detail::kTokenChar);
  if (out.scheme.empty()) {
    return unexpected(kBadAuth);
  }
  if (c.eof()) {
    return out;  // RFC 7235 allows a bare scheme (e.g. a challenge with no parameters)
  }
  if (!c.skip_lws()) {
    return unexpected(kBadAuth);
  }
  const std::size_t params_start = c.pos();
  if (take_auth_params(c, out.params)) {
    return out;
  }
  // token68 = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=" (RFC 7235 §2.1)
  out.params.clear();
  c.set_pos(params_start);
  if (c.take_while(detail::kToken68).empty()) {
    return unexpected(kBadAuth);
  }
  while (c.consume('=')) {
  }
  if (!c.eof()) {
    return unexpected(kBadAuth);
  }
  out.token68 = c.slice(params_start);
  return out;
}

}  // namespace portcullis::sip
