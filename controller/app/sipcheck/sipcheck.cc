#include "controller/app/sipcheck/sipcheck.h"

#include <utility>

namespace portcullis::sipcheck {

namespace {

Verdict from_error(const sip::SipError& e) {
  if (e.drop) {
    return {VerdictKind::kDrop, 0, e.reason};
  }
  return {VerdictKind::kInvalid, e.status, e.reason};
}

void append_json_string(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20 || c >= 0x7f) {
          // File names are bytes; escape anything that is not printable ASCII.
          out += "\\u00";
          out.push_back(kHex[c >> 4]);
          out.push_back(kHex[c & 0xf]);
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  out.push_back('"');
}

}  // namespace

Verdict check_datagram(std::string datagram, const sip::ParseLimits& limits) {
  sip::ParseOptions options;
  options.framing = sip::Framing::kDatagram;
  options.limits = limits;
  auto parsed = sip::SipMessage::parse(std::move(datagram), options);
  if (!parsed) {
    return from_error(parsed.error());
  }
  if (auto strict = parsed->validate_all(); !strict) {
    sip::SipError e = strict.error();
    // A bad header in a response is still a bad response: drop it, never answer a response.
    if (parsed->is_response()) {
      e.drop = true;
    }
    return from_error(e);
  }
  return {VerdictKind::kValid, 0, {}};
}

std::string format_text(const Verdict& v) {
  switch (v.kind) {
    case VerdictKind::kValid:
      return "valid";
    case VerdictKind::kInvalid:
      return "invalid\t" + std::to_string(v.status) + "\t" + std::string(v.reason);
    case VerdictKind::kDrop:
      return "invalid\tdrop\t" + std::string(v.reason);
  }
  return "valid";
}

std::string format_json(std::string_view file, const Verdict& v) {
  std::string out = "{\"file\":";
  append_json_string(out, file);
  out += ",\"verdict\":";
  out += v.kind == VerdictKind::kValid ? "\"valid\"" : "\"invalid\"";
  if (v.kind == VerdictKind::kInvalid) {
    out += ",\"status\":" + std::to_string(v.status);
  } else if (v.kind == VerdictKind::kDrop) {
    out += ",\"status\":\"drop\"";
  }
  if (v.kind != VerdictKind::kValid) {
    out += ",\"reason\":";
    append_json_string(out, v.reason);
  }
  out += "}";
  return out;
}

}  // namespace portcullis::sipcheck
