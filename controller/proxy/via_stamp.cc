#include "controller/proxy/via_stamp.h"

#include <algorithm>
#include <functional>
#include <vector>

#include "common/base/text.h"
#include "controller/sip/message/message_editor.h"

namespace portcullis::proxy {
namespace {

bool inside(std::string_view outer, std::string_view inner) {
  const std::less<const char*> lt;
  return inner.data() != nullptr && !lt(inner.data(), outer.data()) &&
         !lt(outer.data() + outer.size(), inner.data() + inner.size());
}

struct Splice {
  std::size_t offset;
  std::size_t length;
  std::string text;
};

/// The span of ";name[=value]" inside `via_text` for a parameter, from its name to the end of its
/// value: [offset, length).
std::pair<std::size_t, std::size_t> param_span(std::string_view via_text, const sip::Param& p) {
  const auto begin = static_cast<std::size_t>(p.name.data() - via_text.data());
  std::size_t end = begin + p.name.size();
  if (p.has_value) {
    end = static_cast<std::size_t>(p.value.data() - via_text.data()) + p.value.size();
  }
  return {begin, end - begin};
}

}  // namespace

std::optional<std::string> stamp_received(const sip::SipMessage& request, const sip::Peer& from) {
  if (!request.is_request() || request.vias().empty()) {
    return std::nullopt;
  }
  const sip::Via& via = request.vias().front();
  const std::string source_ip = from.endpoint.address().to_string();
  std::string_view host = via.host;
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  const auto sent_by_ip = net::IpAddress::parse(host);
  const bool host_differs = !sent_by_ip.ok() || *sent_by_ip != from.endpoint.address();
  const bool add_received = host_differs || via.has_rport;
  if (!add_received) {
    return std::nullopt;
  }
  const std::string rport_value = std::to_string(from.endpoint.port());
  if (via.received == source_ip && (!via.has_rport || (via.rport && *via.rport == from.endpoint.port()))) {
    return std::nullopt;  // already says what we would write
  }

  std::vector<Splice> splices;
  bool received_done = false;
  for (const sip::Param& p : via.params.items()) {
    if (!inside(via.text, p.name)) {
      return std::nullopt;  // cannot locate: leave the request alone rather than corrupt it
    }
    if (iequals(p.name, "received") && !received_done) {
      const auto [off, len] = param_span(via.text, p);
      splices.push_back({off, len, "received=" + source_ip});
      received_done = true;
    } else if (iequals(p.name, "rport")) {
      const auto [off, len] = param_span(via.text, p);
      splices.push_back({off, len, "rport=" + rport_value});
    }
  }
  std::string parm(via.text);
  std::sort(splices.begin(), splices.end(),
            [](const Splice& a, const Splice& b) { return a.offset > b.offset; });
  for (const Splice& s : splices) {
    parm.replace(s.offset, s.length, s.text);
  }
  if (!received_done) {
    parm += ";received=" + source_ip;
  }

  // Put the new via-parm into the first Via field, keeping any further via-parms of that field.
  const auto& headers = request.headers();
  for (std::size_t i = 0; i < headers.size(); ++i) {
    if (headers[i].id != sip::HeaderId::kVia) {
      continue;
    }
    const std::string_view value = headers[i].value;
    if (!inside(value, via.text)) {
      return std::nullopt;
    }
    const auto off = static_cast<std::size_t>(via.text.data() - value.data());
    std::string new_value(value.substr(0, off));
    new_value += parm;
    new_value += value.substr(off + via.text.size());
    sip::MessageEditor editor(request);
    editor.replace_value(i, std::move(new_value));
    return editor.serialize();
  }
  return std::nullopt;
}

}  // namespace portcullis::proxy
