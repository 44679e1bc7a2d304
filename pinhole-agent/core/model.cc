#include "pinhole-agent/core/model.h"

#include <algorithm>

namespace portcullis::agent {

Clock::TimePoint Binding::expiry() const noexcept {
  Clock::TimePoint t = lease.hard_deadline;
  if (lease.reservation_deadline) {
    t = std::min(t, *lease.reservation_deadline);
  }
  if (lease.orphan_deadline) {
    t = std::min(t, *lease.orphan_deadline);
  }
  return t;
}

Cause Binding::expiry_cause() const noexcept {
  // Ties go to the hard deadline: it is the limit the controller asked for.
  const Clock::TimePoint t = expiry();
  if (t == lease.hard_deadline) {
    return Cause::kHardDeadline;
  }
  if (lease.orphan_deadline && t == *lease.orphan_deadline) {
    return Cause::kOrphanGraceExpired;
  }
  return Cause::kReservationTimeout;
}

std::string AgentError::to_string() const {
  std::string out(error_code_name(code));
  out += "/";
  out += error_reason_name(reason);
  if (!message.empty()) {
    out += ": ";
    out += message;
  }
  return out;
}

std::string_view binding_state_name(BindingState s) noexcept {
  switch (s) {
    case BindingState::kReserved: return "RESERVED";
    case BindingState::kEnabled: return "ENABLED";
    case BindingState::kOrphaned: return "ORPHANED";
    case BindingState::kClosed: return "CLOSED";
  }
  return "UNKNOWN";
}

std::string_view cause_name(Cause c) noexcept {
  switch (c) {
    case Cause::kUnspecified: return "UNSPECIFIED";
    case Cause::kRequested: return "REQUESTED";
    case Cause::kHardDeadline: return "HARD_DEADLINE";
    case Cause::kIdle: return "IDLE";
    case Cause::kReservationTimeout: return "RESERVATION_TIMEOUT";
    case Cause::kOrphanGraceExpired: return "ORPHAN_GRACE_EXPIRED";
    case Cause::kDrain: return "DRAIN";
    case Cause::kAdmin: return "ADMIN";
    case Cause::kStateLost: return "STATE_LOST";
    case Cause::kPolicy: return "POLICY";
    case Cause::kSessionLapsed: return "SESSION_LAPSED";
    case Cause::kAdopted: return "ADOPTED";
    case Cause::kLatched: return "LATCHED";
  }
  return "UNKNOWN";
}

std::string_view event_kind_name(EventKind k) noexcept {
  switch (k) {
    case EventKind::kExpired: return "EXPIRED";
    case EventKind::kIdle: return "IDLE";
    case EventKind::kLatched: return "LATCHED";
    case EventKind::kOrphaned: return "ORPHANED";
    case EventKind::kAdopted: return "ADOPTED";
    case EventKind::kClosedByAgent: return "CLOSED_BY_AGENT";
    case EventKind::kDrain: return "DRAIN";
  }
  return "UNKNOWN";
}

std::string_view error_reason_name(ErrorReason r) noexcept {
  switch (r) {
    case ErrorReason::kUnspecified: return "UNSPECIFIED";
    case ErrorReason::kBadTuple: return "BAD_TUPLE";
    case ErrorReason::kUnsupportedProtocol: return "UNSUPPORTED_PROTOCOL";
    case ErrorReason::kInvalidField: return "INVALID_FIELD";
    case ErrorReason::kUnknownBinding: return "UNKNOWN_BINDING";
    case ErrorReason::kUnknownGroup: return "UNKNOWN_GROUP";
    case ErrorReason::kKeyConflict: return "KEY_CONFLICT";
    case ErrorReason::kEndpointInUse: return "ENDPOINT_IN_USE";
    case ErrorReason::kStaleFencingToken: return "STALE_FENCING_TOKEN";
    case ErrorReason::kNotOwner: return "NOT_OWNER";
    case ErrorReason::kOwnerHeld: return "OWNER_HELD";
    case ErrorReason::kNoSession: return "NO_SESSION";
    case ErrorReason::kGenerationMismatch: return "GENERATION_MISMATCH";
    case ErrorReason::kNoPorts: return "NO_PORTS";
    case ErrorReason::kTableFull: return "TABLE_FULL";
    case ErrorReason::kOwnerQuota: return "OWNER_QUOTA";
    case ErrorReason::kCannotProvideExternal: return "CANNOT_PROVIDE_EXTERNAL";
    case ErrorReason::kExcessiveRemotePeers: return "EXCESSIVE_REMOTE_PEERS";
    case ErrorReason::kDraining: return "DRAINING";
    case ErrorReason::kNotReady: return "NOT_READY";
    case ErrorReason::kRealmDenied: return "REALM_DENIED";
    case ErrorReason::kDataplaneError: return "DATAPLANE_ERROR";
    case ErrorReason::kRequestIdReused: return "REQUEST_ID_REUSED";
  }
  return "UNKNOWN";
}

}  // namespace portcullis::agent
