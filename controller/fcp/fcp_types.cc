#include "controller/fcp/fcp_types.h"

namespace portcullis::fcp {

std::vector<net::Endpoint> BindingInfo::public_endpoints() const {
  std::vector<net::Endpoint> out;
  for (std::uint32_t i = 0; i < port_count; ++i) {
    out.emplace_back(public_endpoint.address(), static_cast<std::uint16_t>(public_endpoint.port() + i));
  }
  return out;
}

std::string FcpError::to_string() const {
  std::string s = error.to_string();
  s += " [reason=";
  s += fcp::to_string(reason);
  s += " retry=";
  s += fcp::to_string(retry_class);
  if (retry_after.count() > 0) {
    s += " after=" + std::to_string(retry_after.count()) + "ms";
  }
  if (!agent.empty()) {
    s += " agent=" + agent;
  }
  if (!field.empty()) {
    s += " field=" + field;
  }
  if (!request_id.empty()) {
    s += " request_id=" + request_id;
  }
  s += " attempts=" + std::to_string(attempts) + "]";
  return s;
}

std::string_view to_string(FcpReason r) noexcept {
  switch (r) {
    case FcpReason::kNone: return "NONE";
    case FcpReason::kBadTuple: return "BAD_TUPLE";
    case FcpReason::kUnsupportedProtocol: return "UNSUPPORTED_PROTOCOL";
    case FcpReason::kInvalidField: return "INVALID_FIELD";
    case FcpReason::kUnknownBinding: return "UNKNOWN_BINDING";
    case FcpReason::kUnknownGroup: return "UNKNOWN_GROUP";
    case FcpReason::kKeyConflict: return "KEY_CONFLICT";
    case FcpReason::kEndpointInUse: return "ENDPOINT_IN_USE";
    case FcpReason::kStaleFencingToken: return "STALE_FENCING_TOKEN";
    case FcpReason::kNotOwner: return "NOT_OWNER";
    case FcpReason::kOwnerHeld: return "OWNER_HELD";
    case FcpReason::kNoSession: return "NO_SESSION";
    case FcpReason::kGenerationMismatch: return "GENERATION_MISMATCH";
    case FcpReason::kNoPorts: return "NO_PORTS";
    case FcpReason::kTableFull: return "TABLE_FULL";
    case FcpReason::kOwnerQuota: return "OWNER_QUOTA";
    case FcpReason::kCannotProvideExternal: return "CANNOT_PROVIDE_EXTERNAL";
    case FcpReason::kExcessiveRemotePeers: return "EXCESSIVE_REMOTE_PEERS";
    case FcpReason::kDraining: return "DRAINING";
    case FcpReason::kNotReady: return "NOT_READY";
    case FcpReason::kRealmDenied: return "REALM_DENIED";
    case FcpReason::kDataplaneError: return "DATAPLANE_ERROR";
    case FcpReason::kRequestIdReused: return "REQUEST_ID_REUSED";
    case FcpReason::kTransport: return "TRANSPORT";
    case FcpReason::kDeadline: return "DEADLINE";
    case FcpReason::kNoRoute: return "NO_ROUTE";
    case FcpReason::kAgentMismatch: return "AGENT_MISMATCH";
    case FcpReason::kShutdown: return "SHUTDOWN";
    case FcpReason::kBadResponse: return "BAD_RESPONSE";
  }
  return "?";
}

std::string_view to_string(RetryClass r) noexcept {
  switch (r) {
    case RetryClass::kNever: return "never";
    case RetryClass::kSameRequest: return "same-request";
    case RetryClass::kAfterDelay: return "after-delay";
    case RetryClass::kAfterReread: return "after-reread";
    case RetryClass::kOtherAgent: return "other-agent";
  }
  return "?";
}

std::string_view to_string(EventKind k) noexcept {
  switch (k) {
    case EventKind::kUnknown: return "UNKNOWN";
    case EventKind::kExpired: return "EXPIRED";
    case EventKind::kIdle: return "IDLE";
    case EventKind::kLatched: return "LATCHED";
    case EventKind::kOrphaned: return "ORPHANED";
    case EventKind::kAdopted: return "ADOPTED";
    case EventKind::kClosedByAgent: return "CLOSED_BY_AGENT";
    case EventKind::kDrain: return "DRAIN";
    case EventKind::kResyncRequired: return "RESYNC_REQUIRED";
  }
  return "?";
}

std::string_view to_string(BindingState s) noexcept {
  switch (s) {
    case BindingState::kUnknown: return "UNKNOWN";
    case BindingState::kReserved: return "RESERVED";
    case BindingState::kEnabled: return "ENABLED";
    case BindingState::kOrphaned: return "ORPHANED";
    case BindingState::kClosed: return "CLOSED";
  }
  return "?";
}

const std::string& agent_of(const BindingTarget& t) {
  return std::visit([](const auto& x) -> const std::string& { return x.agent; }, t);
}
const std::string& agent_of(const RenewTarget& t) {
  return std::visit([](const auto& x) -> const std::string& { return x.agent; }, t);
}
const std::string& agent_of(const ReleaseTarget& t) {
  return std::visit([](const auto& x) -> const std::string& { return x.agent; }, t);
}

}  // namespace portcullis::fcp
