#include "controller/registrar/binding.h"

namespace portcullis::registrar {

std::string_view transport_kind_name(TransportKind t) noexcept {
  switch (t) {
    case TransportKind::kUdp: return "UDP";
    case TransportKind::kTcp: return "TCP";
    case TransportKind::kTls: return "TLS";
    case TransportKind::kSctp: return "SCTP";
    case TransportKind::kWs: return "WS";
    case TransportKind::kWss: return "WSS";
  }
  return "UDP";
}

}  // namespace portcullis::registrar
