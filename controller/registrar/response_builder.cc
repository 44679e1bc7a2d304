#include "controller/registrar/response_builder.h"

#include <vector>

namespace portcullis::registrar {

std::string build_response(const sip::SipMessage& request, const RegisterDecision& decision,
                           std::string_view to_tag) {
  std::vector<sip::ExtraHeader> extra;
  extra.reserve(decision.headers.size());
  for (const HeaderLine& h : decision.headers) {
    extra.push_back(sip::ExtraHeader{h.name, h.value});
  }
  return sip::make_response(request, decision.status, decision.reason, to_tag, extra);
}

}  // namespace portcullis::registrar
