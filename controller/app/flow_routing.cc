#include "controller/app/flow_routing.h"

#include "controller/proxy/loop_detection.h"

namespace portcullis::controller::app {

std::uint64_t encode_flow(const FlowRef& flow) noexcept {
  const auto id = static_cast<std::uint64_t>(flow.connection) & kFlowIdMask;
  if (id == 0) {
    return 0;
  }
  return (static_cast<std::uint64_t>(flow.shard) << kFlowShardShift) |
         (static_cast<std::uint64_t>(flow.slot) << kFlowSlotShift) | id;
}

std::optional<FlowRef> decode_flow(std::uint64_t connection) noexcept {
  if (connection == 0) {
    return std::nullopt;
  }
  FlowRef f;
  f.shard = static_cast<std::uint8_t>(connection >> kFlowShardShift);
  f.slot = static_cast<std::uint8_t>((connection >> kFlowSlotShift) & 0xff);
  f.connection = sip::ConnectionId{connection & kFlowIdMask};
  return f;
}

sip::TransportProtocol to_protocol(sip::TransportKind kind) noexcept {
  return static_cast<sip::TransportProtocol>(kind);
}

std::optional<sip::TransportKind> to_kind(sip::TransportProtocol protocol) noexcept {
  switch (protocol) {
    case sip::TransportProtocol::kUdp:
      return sip::TransportKind::kUdp;
    case sip::TransportProtocol::kTcp:
      return sip::TransportKind::kTcp;
    case sip::TransportProtocol::kTls:
      return sip::TransportKind::kTls;
    default:
      return std::nullopt;
  }
}

sip::Peer to_peer(sip::TransportKind kind, const net::Endpoint& source, std::uint8_t shard, std::uint8_t slot,
                  sip::ConnectionId connection) noexcept {
  return sip::Peer{to_protocol(kind), source, encode_flow(FlowRef{shard, slot, connection})};
}

std::optional<std::uint8_t> owning_shard(const sip::SipMessage& response, std::uint32_t shard_count) {
  if (response.vias().empty()) {
    return std::nullopt;
  }
  const auto shard = proxy::branch_shard(response.vias().front().branch);
  if (!shard || *shard >= shard_count) {
    return std::nullopt;
  }
  return shard;
}

std::optional<std::uint8_t> dialog_owning_shard(const sip::SipMessage& request, const proxy::ProxyIdentity& identity,
                                                std::uint32_t shard_count) {
  const auto shard = proxy::dialog_shard(request, identity);
  if (!shard || *shard >= shard_count) {
    return std::nullopt;
  }
  return shard;
}

bool starts_new_work(const sip::SipMessage& request) noexcept {
  const sip::Method m = request.method();
  return request.is_request() && m != sip::Method::kAck && m != sip::Method::kCancel && request.to().tag().empty();
}

}  // namespace portcullis::controller::app
