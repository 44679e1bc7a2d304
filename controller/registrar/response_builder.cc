#include "controller/registrar/response_builder.h"

#include <cstdint>
#include <cstdio>

namespace portcullis::registrar {
namespace {

void append_clean(std::string& out, std::string_view s) {
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    out += (u < 0x20 || u == 0x7f) && c != '\t' ? ' ' : c;
  }
}

void append_header(std::string& out, std::string_view name, std::string_view value) {
  out += name;
  out += ": ";
  append_clean(out, value);
  out += "\r\n";
}

std::uint64_t fnv1a(std::uint64_t h, std::string_view s) {
  for (char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ULL;
  }
  return h ^ 0xff;  // separator, so ("ab","c") and ("a","bc") differ
}

}  // namespace

std::string derive_to_tag(const sip::SipMessage& request) {
  std::uint64_t h = 14695981039346656037ULL;
  h = fnv1a(h, request.call_id());
  h = fnv1a(h, request.from().tag());
  if (!request.vias().empty()) {
    h = fnv1a(h, request.vias().front().branch);
  }
  h = fnv1a(h, std::to_string(request.cseq().number));
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

std::string build_response(const sip::SipMessage& request, const RegisterDecision& decision,
                           std::string_view to_tag) {
  std::string out;
  out.reserve(512);
  out += "SIP/2.0 ";
  out += std::to_string(decision.status);
  out += ' ';
  append_clean(out, decision.reason);
  out += "\r\n";
  for (const sip::HeaderField& f : request.headers()) {
    if (f.id == sip::HeaderId::kVia) {
      append_header(out, "Via", f.value);
    }
  }
  if (const sip::HeaderField* from = request.find(sip::HeaderId::kFrom)) {
    append_header(out, "From", from->value);
  }
  if (const sip::HeaderField* to = request.find(sip::HeaderId::kTo)) {
    std::string value(to->value);
    if (request.to().tag().empty()) {
      value += ";tag=";
      value += to_tag.empty() ? derive_to_tag(request) : std::string(to_tag);
    }
    append_header(out, "To", value);
  }
  append_header(out, "Call-ID", request.call_id());
  if (const sip::HeaderField* cseq = request.find(sip::HeaderId::kCSeq)) {
    append_header(out, "CSeq", cseq->value);
  }
  for (const HeaderLine& h : decision.headers) {
    append_header(out, h.name, h.value);
  }
  out += "Content-Length: 0\r\n\r\n";
  return out;
}

}  // namespace portcullis::registrar
