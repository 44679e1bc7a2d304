#include "controller/sip/message/sip_message.h"

#include "common/base/text.h"

#include <array>
#include <cstring>
#include <forward_list>
#include <limits>
#include <utility>

namespace portcullis::sip {
namespace {

constexpr std::uint32_t kNoIndex = std::numeric_limits<std::uint32_t>::max();
constexpr std::size_t kIdCount = static_cast<std::size_t>(HeaderId::kCount);

constexpr std::size_t idx(HeaderId id) noexcept { return static_cast<std::size_t>(id); }

constexpr bool is_wsp(char c) noexcept { return c == ' ' || c == '\t'; }

constexpr bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }


std::string_view trim_wsp(std::string_view s) noexcept {
  std::size_t b = 0;
  std::size_t e = s.size();
  while (b < e && is_wsp(s[b])) {
    ++b;
  }
  while (e > b && is_wsp(s[e - 1])) {
    --e;
  }
  return s.substr(b, e - b);
}

// RFC 3261 §7.1: SIP-Version = "SIP" "/" 1*DIGIT "." 1*DIGIT (the literal is case-insensitive).
bool looks_like_sip_version(std::string_view v) noexcept {
  if (v.size() < 7 || !iequals(v.substr(0, 4), "SIP/")) {
    return false;
  }
  std::size_t i = 4;
  const std::size_t major_begin = i;
  while (i < v.size() && is_digit(v[i])) {
    ++i;
  }
  if (i == major_begin || i >= v.size() || v[i] != '.') {
    return false;
  }
  ++i;
  const std::size_t minor_begin = i;
  while (i < v.size() && is_digit(v[i])) {
    ++i;
  }
  return i > minor_begin && i == v.size();
}

enum class LineStatus : std::uint8_t { kOk, kNoEnd, kBareLf, kBareCr };

/// Finds the CRLF ending the line that starts at `pos`; `cr` receives the CR's offset. RFC 3261
/// §7: lines end in CRLF. A bare LF or CR inside the header section is rejected (a downstream
/// parser could read it as a line end: header injection).
LineStatus find_line_end(std::string_view buf, std::size_t pos, std::size_t& cr) noexcept {
  if (pos >= buf.size()) {
    return LineStatus::kNoEnd;
  }
  const void* lf = std::memchr(buf.data() + pos, '\n', buf.size() - pos);
  if (lf == nullptr) {
    return LineStatus::kNoEnd;
  }
  const auto nl = static_cast<std::size_t>(static_cast<const char*>(lf) - buf.data());
  if (nl == pos || buf[nl - 1] != '\r') {
    return LineStatus::kBareLf;
  }
  cr = nl - 1;
  if (cr > pos && std::memchr(buf.data() + pos, '\r', cr - pos) != nullptr) {
    return LineStatus::kBareCr;
  }
  return LineStatus::kOk;
}

SipError line_error(LineStatus s) noexcept {
  switch (s) {
    case LineStatus::kBareLf: return bad_request("bare LF in header section");
    case LineStatus::kBareCr: return bad_request("bare CR in header section");
    case LineStatus::kNoEnd:
    case LineStatus::kOk: break;
  }
  return bad_request("header section not terminated by an empty line");
}

constexpr SipError too_large(std::string_view reason) { return {513, reason, false}; }

template <class T>
using SipResult = Result<T, SipError>;

// Lazy typed access: parse on first use and keep the Result (value or error), so a second access
// reports the same thing without parsing again.
template <class Slot, class Parse>
const auto& cached(Slot& slot, Parse&& parse) {
  if (!slot) {
    slot.emplace(parse());
  }
  return *slot;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Methods

Method method_from_string(std::string_view s) noexcept {
  switch (s.size()) {
    case 3:
      if (s == "ACK") { return Method::kAck; }
      if (s == "BYE") { return Method::kBye; }
      break;
    case 4:
      if (s == "INFO") { return Method::kInfo; }
      break;
    case 5:
      if (s == "PRACK") { return Method::kPrack; }
      if (s == "REFER") { return Method::kRefer; }
      break;
    case 6:
      if (s == "INVITE") { return Method::kInvite; }
      if (s == "CANCEL") { return Method::kCancel; }
      if (s == "UPDATE") { return Method::kUpdate; }
      if (s == "NOTIFY") { return Method::kNotify; }
      break;
    case 7:
      if (s == "OPTIONS") { return Method::kOptions; }
      if (s == "MESSAGE") { return Method::kMessage; }
      if (s == "PUBLISH") { return Method::kPublish; }
      break;
    case 8:
      if (s == "REGISTER") { return Method::kRegister; }
      break;
    case 9:
      if (s == "SUBSCRIBE") { return Method::kSubscribe; }
      break;
    default:
      break;
  }
  return Method::kUnknown;
}

std::string_view method_name(Method m) noexcept {
  switch (m) {
    case Method::kInvite: return "INVITE";
    case Method::kAck: return "ACK";
    case Method::kBye: return "BYE";
    case Method::kCancel: return "CANCEL";
    case Method::kRegister: return "REGISTER";
    case Method::kOptions: return "OPTIONS";
    case Method::kInfo: return "INFO";
    case Method::kPrack: return "PRACK";
    case Method::kUpdate: return "UPDATE";
    case Method::kSubscribe: return "SUBSCRIBE";
    case Method::kNotify: return "NOTIFY";
    case Method::kRefer: return "REFER";
    case Method::kMessage: return "MESSAGE";
    case Method::kPublish: return "PUBLISH";
    case Method::kUnknown: break;
  }
  return {};
}

// ---------------------------------------------------------------------------------------------
// Impl

struct SipMessage::Impl {
  // The one owned copy of the bytes. Impl lives on the heap, so views into `buffer` (and into the
  // strings of `unfolded`) stay valid when the SipMessage handle moves, whatever SSO does.
  std::string buffer;
  // Unfolded copies of header values that were folded over several lines (RFC 3261 §7.3.1).
  // List nodes never move, so views into them stay valid as more are added; unlike std::deque,
  // an empty forward_list allocates nothing (folding is rare, the hot path must not pay for it).
  std::forward_list<std::string> unfolded;

  bool request = true;
  Method method = Method::kUnknown;
  std::string_view method_text;
  std::string_view request_uri_text;
  std::string_view reason;
  std::string_view start_line;
  std::uint16_t status = 0;
  Uri request_uri;

  std::vector<HeaderField> headers;
  std::array<std::uint32_t, kIdCount> first{};
  std::array<std::uint32_t, kIdCount> counts{};

  std::vector<Via> vias;
  NameAddr from;
  NameAddr to;
  std::string_view call_id;
  CSeq cseq;
  std::optional<std::uint8_t> max_forwards;
  std::optional<std::uint32_t> content_length;
  std::string_view body;
  std::size_t message_begin = 0;
  std::size_t message_end = 0;

  // Lazy caches (RFC-neutral: the Result, value or error, is computed once).
  mutable std::optional<SipResult<ContactList>> contact;
  mutable std::optional<SipResult<std::vector<NameAddr>>> route;
  mutable std::optional<SipResult<std::vector<NameAddr>>> record_route;
  mutable std::optional<SipResult<std::vector<NameAddr>>> path;
  mutable std::optional<SipResult<std::optional<MediaType>>> content_type;
  mutable std::optional<SipResult<std::optional<std::uint32_t>>> expires;
  mutable std::optional<SipResult<std::optional<std::uint32_t>>> min_expires;
  mutable std::optional<SipResult<std::vector<std::string_view>>> require;
  mutable std::optional<SipResult<std::vector<std::string_view>>> proxy_require;
  mutable std::optional<SipResult<std::vector<std::string_view>>> supported;
  mutable std::optional<SipResult<std::vector<std::string_view>>> unsupported;
  mutable std::optional<SipResult<std::vector<std::string_view>>> allow;
  mutable std::optional<SipResult<std::vector<AuthValue>>> authorization;
  mutable std::optional<SipResult<std::vector<AuthValue>>> proxy_authorization;
  mutable std::optional<SipResult<std::vector<AuthValue>>> www_authenticate;
  mutable std::optional<SipResult<std::vector<AuthValue>>> proxy_authenticate;
  mutable std::optional<SipResult<std::optional<SipDate>>> date;

  Impl() { first.fill(kNoIndex); }

  /// RFC 3261 §18.1.2 / RFC 4475 §3.1.2.19: a malformed response is discarded, never answered.
  SipError mark(SipError e) const noexcept {
    e.drop = !request;
    return e;
  }

  const HeaderField* first_field(HeaderId id) const noexcept {
    const std::uint32_t i = first[idx(id)];
    return i == kNoIndex ? nullptr : &headers[i];
  }

  SipResult<void> scan(const ParseOptions& options);
  SipResult<void> scan_request_line(std::string_view line);
  SipResult<void> scan_status_line(std::string_view line);
  SipResult<void> scan_headers(std::size_t& pos, const ParseLimits& limits);
  SipResult<void> validate_eager(const ParseOptions& options, std::size_t body_begin);

  // Typed lazy helpers.
  SipResult<std::vector<std::string_view>> token_list(HeaderId id) const;
  SipResult<std::vector<NameAddr>> name_addr_list(HeaderId id) const;
  SipResult<std::vector<AuthValue>> auth_list(HeaderId id) const;
  SipResult<std::optional<std::uint32_t>> delta_seconds(HeaderId id) const;
};

SipResult<void> SipMessage::Impl::scan_request_line(std::string_view line) {
  // RFC 3261 §7.1 / §25.1: Request-Line = Method SP Request-URI SP SIP-Version CRLF, exactly one
  // SP between the elements (RFC 4475 §3.1.2.9 lwsstart, §3.1.2.10 trws are rejected).
  const std::size_t sp1 = line.find(' ');
  if (sp1 == std::string_view::npos) {
    return unexpected(bad_request("malformed Request-Line"));
  }
  method_text = line.substr(0, sp1);
  if (!is_method(method_text)) {
    return unexpected(bad_request("malformed method in Request-Line"));
  }
  const std::size_t sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || sp2 == sp1 + 1) {
    return unexpected(bad_request("malformed Request-Line"));
  }
  request_uri_text = line.substr(sp1 + 1, sp2 - sp1 - 1);
  const std::string_view version = line.substr(sp2 + 1);
  if (!iequals(version, "SIP/2.0")) {
    if (looks_like_sip_version(version)) {
      // RFC 3261 §8.2.2 / RFC 4475 §3.1.2.16 badvers.
      return unexpected(SipError{505, "SIP version not supported", false});
    }
    return unexpected(bad_request("malformed SIP-Version in Request-Line"));
  }
  method = method_from_string(method_text);
  auto uri = parse_uri(request_uri_text);
  if (!uri) {
    return unexpected(bad_request("malformed Request-URI"));
  }
  request_uri = std::move(uri).value();
  // RFC 3261 §19.1.5: headers are not allowed in a Request-URI (RFC 4475 §3.1.2.11 escruri).
  if (request_uri.is_sip_or_sips() && !request_uri.headers.empty()) {
    return unexpected(bad_request("headers not allowed in Request-URI"));
  }
  return {};
}

SipResult<void> SipMessage::Impl::scan_status_line(std::string_view line) {
  // RFC 3261 §7.2: Status-Line = SIP-Version SP Status-Code SP Reason-Phrase CRLF, with
  // Status-Code = 3DIGIT (RFC 4475 §3.1.2.19 bigcode) and a possibly empty Reason-Phrase
  // (§3.1.1.13 noreason). The drop flag is added by the caller.
  if (line.size() < 8 || !iequals(line.substr(0, 8), "SIP/2.0 ")) {
    return unexpected(SipError{505, "malformed or unsupported Status-Line version", false});
  }
  if (line.size() < 12) {
    return unexpected(bad_request("malformed Status-Line"));
  }
  const std::string_view code = line.substr(8, 3);
  if (!is_digit(code[0]) || !is_digit(code[1]) || !is_digit(code[2]) || line[11] != ' ') {
    return unexpected(bad_request("malformed Status-Code"));
  }
  status = static_cast<std::uint16_t>((code[0] - '0') * 100 + (code[1] - '0') * 10 + (code[2] - '0'));
  if (status < 100 || status > 699) {
    return unexpected(bad_request("Status-Code out of range"));
  }
  reason = line.substr(12);
  for (const char c : reason) {
    const auto u = static_cast<unsigned char>(c);
    // Reason-Phrase allows UTF-8 (RFC 4475 §3.1.1.12 unreason) but no control characters.
    if ((u < 0x20 && c != '\t') || u == 0x7f) {
      return unexpected(bad_request("control character in Reason-Phrase"));
    }
  }
  return {};
}

SipResult<void> SipMessage::Impl::scan_headers(std::size_t& pos, const ParseLimits& limits) {
  const std::string_view buf = buffer;
  const std::size_t n = buf.size();
  // Each iteration consumes at least one full line, so the loop is bounded by the buffer size.
  while (true) {
    if (pos + 1 < n && buf[pos] == '\r' && buf[pos + 1] == '\n') {
      pos += 2;  // the empty line ending the header section (RFC 3261 §7)
      if (pos - message_begin > limits.max_header_bytes) {
        return unexpected(too_large("header section too large"));
      }
      return {};
    }
    if (pos >= n) {
      // RFC 4475 §3.1.2.15 (archive copy of baddn.dat): no empty line after the headers.
      return unexpected(bad_request("header section not terminated by an empty line"));
    }
    if (is_wsp(buf[pos])) {
      return unexpected(bad_request("continuation line without a header field"));
    }
    const std::size_t field_begin = pos;
    std::size_t cr = 0;
    LineStatus ls = find_line_end(buf, pos, cr);
    if (ls != LineStatus::kOk) {
      return unexpected(line_error(ls));
    }
    std::size_t field_end = cr;
    pos = cr + 2;
    bool folded = false;
    // RFC 3261 §7.3.1: a line starting with SP/HTAB continues the previous field (LWS folding).
    while (pos < n && is_wsp(buf[pos])) {
      ls = find_line_end(buf, pos, cr);
      if (ls != LineStatus::kOk) {
        return unexpected(line_error(ls));
      }
      field_end = cr;
      pos = cr + 2;
      folded = true;
    }
    if (pos - message_begin > limits.max_header_bytes) {
      return unexpected(too_large("header section too large"));
    }
    if (headers.size() >= limits.max_headers) {
      return unexpected(too_large("too many header fields"));
    }

    const std::string_view raw = buf.substr(field_begin, field_end - field_begin);
    // header-name HCOLON: HCOLON = *( SP / HTAB ) ":" SWS (RFC 3261 §25.1; RFC 4475 wsinv).
    std::size_t name_end = 0;
    while (name_end < raw.size() && raw[name_end] != ':' && !is_wsp(raw[name_end]) &&
           raw[name_end] != '\r') {
      ++name_end;
    }
    const std::string_view name = raw.substr(0, name_end);
    std::size_t colon = name_end;
    while (colon < raw.size() && is_wsp(raw[colon])) {
      ++colon;
    }
    if (colon >= raw.size() || raw[colon] != ':' || name.empty() || !is_token(name)) {
      return unexpected(bad_request("malformed header field line"));
    }
    std::string_view value = raw.substr(colon + 1);
    if (folded) {
      // Unfold by removing each CRLF; the SP/HTAB that followed it stays as the LWS.
      std::string& copy = unfolded.emplace_front();
      copy.reserve(value.size());
      for (std::size_t i = 0; i < value.size(); ++i) {
        if (value[i] == '\r' && i + 1 < value.size() && value[i + 1] == '\n') {
          ++i;
          continue;
        }
        copy.push_back(value[i]);
      }
      value = copy;
    }
    value = trim_wsp(value);

    const HeaderId id = header_id(name);
    const std::size_t i = idx(id);
    if (id != HeaderId::kOther) {
      if (counts[i] == 0) {
        first[i] = static_cast<std::uint32_t>(headers.size());
      } else if (header_is_single_instance(id)) {
        // RFC 4475 §3.3.8 multi01, §3.3.9 mcl01.
        return unexpected(id == HeaderId::kContentLength
                              ? bad_request("duplicate Content-Length header")
                              : bad_request("duplicate single-instance header field"));
      }
      ++counts[i];
    }
    headers.push_back(HeaderField{id, name, value, raw});
  }
}

SipResult<void> SipMessage::Impl::validate_eager(const ParseOptions& options, std::size_t body_begin) {
  const ParseLimits& limits = options.limits;

  // Via (RFC 3261 §8.1.1.7, §18.2.1): every field, in order; the transaction layer keys on the
  // topmost one and a proxy on the second, so all must be well-formed.
  if (counts[idx(HeaderId::kVia)] == 0) {
    return unexpected(bad_request("missing Via header"));
  }
  for (std::size_t h = first[idx(HeaderId::kVia)]; h < headers.size(); ++h) {
    if (headers[h].id != HeaderId::kVia) {
      continue;
    }
    auto list = parse_via_list(headers[h].value);
    if (!list) {
      return unexpected(list.error());
    }
    if (vias.empty()) {
      vias = std::move(list).value();
    } else {
      vias.insert(vias.end(), list->begin(), list->end());
    }
    if (vias.size() > limits.max_via) {
      return unexpected(too_large("too many Via entries"));
    }
  }
  if (vias.empty()) {
    return unexpected(bad_request("missing Via header"));
  }

  // From / To (§8.1.1.2-3), exactly once each (duplicates were refused by the scanner).
  const HeaderField* f = first_field(HeaderId::kFrom);
  if (f == nullptr) {
    return unexpected(bad_request("missing From header"));
  }
  auto from_r = parse_name_addr(f->value);
  if (!from_r) {
    return unexpected(from_r.error());
  }
  from = std::move(from_r).value();

  f = first_field(HeaderId::kTo);
  if (f == nullptr) {
    return unexpected(bad_request("missing To header"));
  }
  auto to_r = parse_name_addr(f->value);
  if (!to_r) {
    return unexpected(to_r.error());
  }
  to = std::move(to_r).value();

  // Call-ID (§8.1.1.4).
  f = first_field(HeaderId::kCallId);
  if (f == nullptr) {
    return unexpected(bad_request("missing Call-ID header"));
  }
  auto cid = parse_call_id(f->value);
  if (!cid) {
    return unexpected(cid.error());
  }
  call_id = *cid;

  // CSeq (§8.1.1.5): the method must match the Request-Line (RFC 4475 §3.1.2.17-18).
  f = first_field(HeaderId::kCSeq);
  if (f == nullptr) {
    return unexpected(bad_request("missing CSeq header"));
  }
  auto cs = parse_cseq(f->value);
  if (!cs) {
    return unexpected(cs.error());
  }
  cseq = *cs;
  if (request) {
    if (cseq.method != method_text) {
      return unexpected(bad_request("CSeq method does not match Request-Line"));
    }
  } else {
    method_text = cseq.method;
    method = method_from_string(cseq.method);
  }

  // Max-Forwards (§8.1.1.6): optional for RFC 2543 peers (RFC 4475 §3.4.1).
  f = first_field(HeaderId::kMaxForwards);
  if (f != nullptr) {
    auto mf = parse_max_forwards(f->value);
    if (!mf) {
      return unexpected(mf.error());
    }
    max_forwards = *mf;
  }

  // Content-Length (§20.14, §18.3).
  const std::size_t available = buffer.size() - body_begin;
  f = first_field(HeaderId::kContentLength);
  if (f != nullptr) {
    // 400 for a malformed value (RFC 4475 §3.1.2.3), 513 above the limit or on overflow.
    auto cl = parse_content_length(f->value, limits.max_body_bytes);
    if (!cl) {
      return unexpected(cl.error());
    }
    if (*cl > available) {
      // RFC 4475 §3.1.2.2 clerr: over UDP answer 400. (The stream framer never hands over a
      // short message, so on streams this only happens when the caller misframed.)
      return unexpected(bad_request("Content-Length larger than message"));
    }
    content_length = *cl;
    body = std::string_view(buffer).substr(body_begin, *cl);
  } else {
    if (options.framing == Framing::kStream) {
      return unexpected(bad_request("missing Content-Length on stream transport"));
    }
    if (available > limits.max_body_bytes) {
      return unexpected(too_large("body too large"));
    }
    // RFC 3261 §18.3: no Content-Length on a datagram means the body runs to its end.
    body = std::string_view(buffer).substr(body_begin);
  }
  message_end = body_begin + body.size();
  return {};
}

SipResult<void> SipMessage::Impl::scan(const ParseOptions& options) {
  const std::string_view buf = buffer;
  const std::size_t n = buf.size();
  std::size_t pos = 0;
  // RFC 3261 §7.5: CRLFs preceding the start line should be ignored.
  while (pos + 1 < n && buf[pos] == '\r' && buf[pos + 1] == '\n') {
    pos += 2;
  }
  message_begin = pos;
  request = !(n - pos >= 4 && buf.substr(pos, 4) == "SIP/");

  if (n > options.limits.max_message_bytes) {
    return unexpected(too_large("message too large"));
  }

  std::size_t cr = 0;
  const LineStatus ls = find_line_end(buf, pos, cr);
  if (ls != LineStatus::kOk) {
    return unexpected(ls == LineStatus::kNoEnd ? bad_request("start line not terminated")
                                               : line_error(ls));
  }
  start_line = buf.substr(pos, cr - pos);
  if (start_line.size() > options.limits.max_header_bytes) {
    return unexpected(too_large("start line too large"));
  }
  pos = cr + 2;
  if (request) {
    PORTCULLIS_RETURN_IF_ERROR(scan_request_line(start_line));
  } else {
    PORTCULLIS_RETURN_IF_ERROR(scan_status_line(start_line));
  }

  // Most messages carry 10-20 fields; one reservation avoids regrowth on the hot path.
  headers.reserve(24);
  PORTCULLIS_RETURN_IF_ERROR(scan_headers(pos, options.limits));
  return validate_eager(options, pos);
}

// ---- lazy helpers ----

SipResult<std::vector<std::string_view>> SipMessage::Impl::token_list(HeaderId id) const {
  std::vector<std::string_view> out;
  const std::uint32_t begin = first[idx(id)];
  if (begin == kNoIndex) {
    return out;
  }
  for (std::size_t h = begin; h < headers.size(); ++h) {
    if (headers[h].id != id) {
      continue;
    }
    auto r = parse_token_list(headers[h].value);
    if (!r) {
      return unexpected(mark(r.error()));
    }
    out.insert(out.end(), r->begin(), r->end());
  }
  return out;
}

SipResult<std::vector<NameAddr>> SipMessage::Impl::name_addr_list(HeaderId id) const {
  std::vector<NameAddr> out;
  const std::uint32_t begin = first[idx(id)];
  if (begin == kNoIndex) {
    return out;
  }
  for (std::size_t h = begin; h < headers.size(); ++h) {
    if (headers[h].id != id) {
      continue;
    }
    auto r = parse_name_addr_list(headers[h].value);
    if (!r) {
      return unexpected(mark(r.error()));
    }
    for (NameAddr& na : *r) {
      out.push_back(std::move(na));
    }
  }
  return out;
}

SipResult<std::vector<AuthValue>> SipMessage::Impl::auth_list(HeaderId id) const {
  std::vector<AuthValue> out;
  const std::uint32_t begin = first[idx(id)];
  if (begin == kNoIndex) {
    return out;
  }
  // One credential / challenge per field (RFC 3261 §7.3.1: these are not comma-combined).
  for (std::size_t h = begin; h < headers.size(); ++h) {
    if (headers[h].id != id) {
      continue;
    }
    auto r = parse_auth(headers[h].value);
    if (!r) {
      return unexpected(mark(r.error()));
    }
    out.push_back(std::move(r).value());
  }
  return out;
}

SipResult<std::optional<std::uint32_t>> SipMessage::Impl::delta_seconds(HeaderId id) const {
  const HeaderField* f = first_field(id);
  if (f == nullptr) {
    return std::optional<std::uint32_t>{};
  }
  auto r = parse_delta_seconds(f->value);
  if (!r) {
    return unexpected(mark(r.error()));
  }
  return std::optional<std::uint32_t>{*r};
}

// ---------------------------------------------------------------------------------------------
// SipMessage

SipMessage::SipMessage(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SipMessage::SipMessage(SipMessage&&) noexcept = default;
SipMessage& SipMessage::operator=(SipMessage&&) noexcept = default;
SipMessage::~SipMessage() = default;

Result<SipMessage, SipError> SipMessage::parse(std::string buffer, const ParseOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->buffer = std::move(buffer);
  auto scanned = impl->scan(options);
  if (!scanned) {
    return unexpected(impl->mark(scanned.error()));
  }
  return SipMessage(std::move(impl));
}

bool SipMessage::is_request() const noexcept { return impl_->request; }
Method SipMessage::method() const noexcept { return impl_->method; }
std::string_view SipMessage::method_text() const noexcept { return impl_->method_text; }
std::string_view SipMessage::request_uri_text() const noexcept { return impl_->request_uri_text; }
const Uri& SipMessage::request_uri() const noexcept { return impl_->request_uri; }
std::uint16_t SipMessage::status_code() const noexcept { return impl_->status; }
std::string_view SipMessage::reason_phrase() const noexcept { return impl_->reason; }
std::string_view SipMessage::start_line() const noexcept { return impl_->start_line; }

const std::vector<HeaderField>& SipMessage::headers() const noexcept { return impl_->headers; }

const HeaderField* SipMessage::find(HeaderId id) const noexcept {
  if (id == HeaderId::kOther || idx(id) >= kIdCount) {
    return nullptr;
  }
  return impl_->first_field(id);
}

const HeaderField* SipMessage::find(std::string_view name) const noexcept {
  const HeaderId id = header_id(name);
  if (id != HeaderId::kOther) {
    return find(id);
  }
  for (const HeaderField& h : impl_->headers) {
    if (h.id == HeaderId::kOther && iequals(h.name, name)) {
      return &h;
    }
  }
  return nullptr;
}

std::size_t SipMessage::count(HeaderId id) const noexcept {
  if (id == HeaderId::kOther) {
    std::size_t c = 0;
    for (const HeaderField& h : impl_->headers) {
      c += h.id == HeaderId::kOther ? 1 : 0;
    }
    return c;
  }
  if (idx(id) >= kIdCount) {
    return 0;
  }
  return impl_->counts[idx(id)];
}

const std::vector<Via>& SipMessage::vias() const noexcept { return impl_->vias; }
const NameAddr& SipMessage::from() const noexcept { return impl_->from; }
const NameAddr& SipMessage::to() const noexcept { return impl_->to; }
std::string_view SipMessage::call_id() const noexcept { return impl_->call_id; }
const CSeq& SipMessage::cseq() const noexcept { return impl_->cseq; }
std::optional<std::uint8_t> SipMessage::max_forwards() const noexcept { return impl_->max_forwards; }
std::optional<std::uint32_t> SipMessage::content_length() const noexcept {
  return impl_->content_length;
}
std::string_view SipMessage::body() const noexcept { return impl_->body; }

std::string_view SipMessage::wire() const noexcept { return impl_->buffer; }
std::string_view SipMessage::message_bytes() const noexcept {
  return std::string_view(impl_->buffer)
      .substr(impl_->message_begin, impl_->message_end - impl_->message_begin);
}

// ---- lazy accessors ----

const Result<ContactList, SipError>& SipMessage::contact() const {
  Impl& m = *impl_;
  if (!m.contact) {
    m.contact.emplace([&]() -> SipResult<ContactList> {
      ContactList out;
      const std::uint32_t begin = m.first[idx(HeaderId::kContact)];
      if (begin == kNoIndex) {
        return out;
      }
      std::size_t fields = 0;
      for (std::size_t h = begin; h < m.headers.size(); ++h) {
        if (m.headers[h].id != HeaderId::kContact) {
          continue;
        }
        ++fields;
        auto r = parse_contact(m.headers[h].value);
        if (!r) {
          return unexpected(m.mark(r.error()));
        }
        out.star = out.star || r->star;
        for (NameAddr& na : r->contacts) {
          out.contacts.push_back(std::move(na));
        }
      }
      // RFC 3261 §10.2.2: "*" must be the only Contact value.
      if (out.star && (fields > 1 || !out.contacts.empty())) {
        return unexpected(m.mark(bad_request("Contact * combined with other contacts")));
      }
      return out;
    }());
  }
  return *m.contact;
}

const Result<std::vector<NameAddr>, SipError>& SipMessage::route() const {
  return cached(impl_->route, [this] { return impl_->name_addr_list(HeaderId::kRoute); });
}

const Result<std::vector<NameAddr>, SipError>& SipMessage::record_route() const {
  return cached(impl_->record_route, [this] { return impl_->name_addr_list(HeaderId::kRecordRoute); });
}

const Result<std::vector<NameAddr>, SipError>& SipMessage::path() const {
  return cached(impl_->path, [this] { return impl_->name_addr_list(HeaderId::kPath); });
}

const Result<std::optional<MediaType>, SipError>& SipMessage::content_type() const {
  Impl& m = *impl_;
  if (!m.content_type) {
    m.content_type.emplace([&]() -> SipResult<std::optional<MediaType>> {
      const HeaderField* f = m.first_field(HeaderId::kContentType);
      if (f == nullptr) {
        return std::optional<MediaType>{};
      }
      auto r = parse_media_type(f->value);
      if (!r) {
        return unexpected(m.mark(r.error()));
      }
      return std::optional<MediaType>{std::move(r).value()};
    }());
  }
  return *m.content_type;
}

const Result<std::optional<std::uint32_t>, SipError>& SipMessage::expires() const {
  return cached(impl_->expires, [this] { return impl_->delta_seconds(HeaderId::kExpires); });
}

const Result<std::optional<std::uint32_t>, SipError>& SipMessage::min_expires() const {
  return cached(impl_->min_expires, [this] { return impl_->delta_seconds(HeaderId::kMinExpires); });
}

const Result<std::vector<std::string_view>, SipError>& SipMessage::require() const {
  return cached(impl_->require, [this] { return impl_->token_list(HeaderId::kRequire); });
}

const Result<std::vector<std::string_view>, SipError>& SipMessage::proxy_require() const {
  return cached(impl_->proxy_require, [this] { return impl_->token_list(HeaderId::kProxyRequire); });
}

const Result<std::vector<std::string_view>, SipError>& SipMessage::supported() const {
  return cached(impl_->supported, [this] { return impl_->token_list(HeaderId::kSupported); });
}

const Result<std::vector<std::string_view>, SipError>& SipMessage::unsupported() const {
  return cached(impl_->unsupported, [this] { return impl_->token_list(HeaderId::kUnsupported); });
}

const Result<std::vector<std::string_view>, SipError>& SipMessage::allow() const {
  return cached(impl_->allow, [this] { return impl_->token_list(HeaderId::kAllow); });
}

const Result<std::vector<AuthValue>, SipError>& SipMessage::authorization() const {
  return cached(impl_->authorization, [this] { return impl_->auth_list(HeaderId::kAuthorization); });
}

const Result<std::vector<AuthValue>, SipError>& SipMessage::proxy_authorization() const {
  return cached(impl_->proxy_authorization, [this] { return impl_->auth_list(HeaderId::kProxyAuthorization); });
}

const Result<std::vector<AuthValue>, SipError>& SipMessage::www_authenticate() const {
  return cached(impl_->www_authenticate, [this] { return impl_->auth_list(HeaderId::kWwwAuthenticate); });
}

const Result<std::vector<AuthValue>, SipError>& SipMessage::proxy_authenticate() const {
  return cached(impl_->proxy_authenticate, [this] { return impl_->auth_list(HeaderId::kProxyAuthenticate); });
}

const Result<std::optional<SipDate>, SipError>& SipMessage::date() const {
  Impl& m = *impl_;
  if (!m.date) {
    m.date.emplace([&]() -> SipResult<std::optional<SipDate>> {
      const HeaderField* f = m.first_field(HeaderId::kDate);
      if (f == nullptr) {
        return std::optional<SipDate>{};
      }
      auto r = parse_date(f->value);
      if (!r) {
        return unexpected(m.mark(r.error()));
      }
      return std::optional<SipDate>{*r};
    }());
  }
  return *m.date;
}

Result<void, SipError> SipMessage::validate_all() const {
  // Order follows the message's likely importance to a proxy; the first error wins.
  if (const auto& r = contact(); !r) { return unexpected(r.error()); }
  if (const auto& r = route(); !r) { return unexpected(r.error()); }
  if (const auto& r = record_route(); !r) { return unexpected(r.error()); }
  if (const auto& r = path(); !r) { return unexpected(r.error()); }
  if (const auto& r = content_type(); !r) { return unexpected(r.error()); }
  if (const auto& r = expires(); !r) { return unexpected(r.error()); }
  if (const auto& r = min_expires(); !r) { return unexpected(r.error()); }
  if (const auto& r = require(); !r) { return unexpected(r.error()); }
  if (const auto& r = proxy_require(); !r) { return unexpected(r.error()); }
  if (const auto& r = supported(); !r) { return unexpected(r.error()); }
  if (const auto& r = unsupported(); !r) { return unexpected(r.error()); }
  if (const auto& r = allow(); !r) { return unexpected(r.error()); }
  if (const auto& r = authorization(); !r) { return unexpected(r.error()); }
  if (const auto& r = proxy_authorization(); !r) { return unexpected(r.error()); }
  if (const auto& r = www_authenticate(); !r) { return unexpected(r.error()); }
  if (const auto& r = proxy_authenticate(); !r) { return unexpected(r.error()); }
  if (const auto& r = date(); !r) { return unexpected(r.error()); }
  return {};
}

}  // namespace portcullis::sip
