#include "controller/fcp/proto_convert.h"

#include <chrono>

namespace portcullis::fcp::convert {

namespace {

Millis from_proto(const google::protobuf::Duration& d) {
  return std::chrono::duration_cast<Millis>(std::chrono::seconds(d.seconds()) + std::chrono::nanoseconds(d.nanos()));
}

void to_proto(Millis d, google::protobuf::Duration* out) {
  const auto secs = std::chrono::duration_cast<std::chrono::seconds>(d);
  out->set_seconds(secs.count());
  out->set_nanos(static_cast<std::int32_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(d - secs).count()));
}

std::optional<WallTime> from_proto(const google::protobuf::Timestamp& t, bool present) {
  if (!present) {
    return std::nullopt;
  }
  return WallTime(std::chrono::duration_cast<WallTime::duration>(std::chrono::seconds(t.seconds()) +
                                                                  std::chrono::nanoseconds(t.nanos())));
}

FcpError bad_response(std::string message) {
  FcpError e;
  e.error = Error(ErrorCode::kInternal, std::move(message));
  e.reason = FcpReason::kBadResponse;
  return e;
}

FcpResult<net::Endpoint> endpoint(const pb::Endpoint& e, const char* what) {
  auto ip = net::IpAddress::from_bytes(e.ip());
  if (!ip || e.port() > 65535) {
    return unexpected(bad_response(std::string("agent sent a malformed ") + what));
  }
  return net::Endpoint(*ip, static_cast<std::uint16_t>(e.port()));
}

Liveness from_proto(pb::Liveness l) {
  return l == pb::LIVENESS_LIFETIME_ONLY ? Liveness::kLifetimeOnly : Liveness::kSession;
}

BindingState from_proto(pb::BindingState s) {
  switch (s) {
    case pb::BINDING_STATE_RESERVED: return BindingState::kReserved;
    case pb::BINDING_STATE_ENABLED: return BindingState::kEnabled;
    case pb::BINDING_STATE_ORPHANED: return BindingState::kOrphaned;
    case pb::BINDING_STATE_CLOSED: return BindingState::kClosed;
    default: return BindingState::kUnknown;
  }
}

}  // namespace

void to_proto(const MetaFields& m, pb::WriteMeta* out) {
  out->set_request_id(m.request_id);
  out->set_owner(m.owner);
  out->set_fencing_token(m.fencing_token);
  out->set_expected_generation(m.expected_generation);
}

void to_proto(const net::Endpoint& e, pb::Endpoint* out) {
  out->set_ip(std::string(e.address().bytes()));
  out->set_port(e.port());
}

void to_proto(const ReserveRequest& r, pb::ReserveBindingRequest* out) {
  out->set_natural_key(r.natural_key);
  out->set_group_id(r.group_id);
  out->set_protocol(r.protocol == Protocol::kTcp ? pb::PROTOCOL_TCP : pb::PROTOCOL_UDP);
  to_proto(r.private_endpoint, out->mutable_private_endpoint());
  out->set_port_count(r.port_count);
  out->set_parity(r.parity == Parity::kEven ? pb::PARITY_EVEN : pb::PARITY_ANY);
  if (r.public_port) {
    auto* pp = out->mutable_public_port();
    if (!r.public_port->suggested.address().is_unspecified()) {
      pp->mutable_suggested()->set_ip(std::string(r.public_port->suggested.address().bytes()));
    }
    pp->mutable_suggested()->set_port(r.public_port->suggested.port());
    pp->set_mode(r.public_port->mode == PublicPortHint::Mode::kExactOrFail ? pb::PublicPortRequest::MODE_EXACT_OR_FAIL
                                                                            : pb::PublicPortRequest::MODE_PREFER);
  }
  out->set_realm(r.realm);
  auto* lease = out->mutable_lease();
  to_proto(r.lease.lifetime, lease->mutable_lifetime());
  lease->set_liveness(r.lease.liveness == Liveness::kLifetimeOnly ? pb::LIVENESS_LIFETIME_ONLY : pb::LIVENESS_SESSION);
  if (r.lease.orphan_grace.count() > 0) {
    to_proto(r.lease.orphan_grace, lease->mutable_orphan_grace());
  }
  if (r.lease.idle_timeout.count() > 0) {
    to_proto(r.lease.idle_timeout, lease->mutable_idle_timeout());
  }
  if (r.lease.reservation_timeout.count() > 0) {
    to_proto(r.lease.reservation_timeout, lease->mutable_reservation_timeout());
  }
}

void to_proto(const RemotePeer& r, pb::RemoteSpec* out) {
  out->set_ip(std::string(r.address.bytes()));
  if (r.port) {
    out->set_port(*r.port);
  } else {
    out->mutable_latch();
  }
  out->set_rtcp_port(r.rtcp_port);
}

AgentInfo from_proto(const pb::AgentInfo& a) {
  return AgentInfo{a.agent_id(), a.instance_id(), a.state_epoch(), a.epoch_seconds()};
}

FcpResult<BindingInfo> from_proto(const pb::Binding& b, const std::string& agent) {
  BindingInfo out;
  out.agent = agent;
  out.binding_id = b.binding_id();
  out.natural_key = b.natural_key();
  out.group_id = b.group_id();
  out.owner = b.owner();
  out.generation = b.generation();
  out.fencing_token = b.fencing_token();
  out.state = from_proto(b.state());
  out.cause = from_proto(b.cause());
  out.protocol = b.protocol() == pb::PROTOCOL_TCP ? Protocol::kTcp : Protocol::kUdp;
  auto priv = endpoint(b.private_endpoint(), "binding.private_endpoint");
  if (!priv) {
    return unexpected(std::move(priv).error());
  }
  out.private_endpoint = *priv;
  auto pub = endpoint(b.public_endpoint(), "binding.public_endpoint");
  if (!pub) {
    return unexpected(std::move(pub).error());
  }
  out.public_endpoint = *pub;
  out.port_count = b.port_count();
  out.parity = b.parity() == pb::PARITY_EVEN ? Parity::kEven : Parity::kAny;
  for (const pb::Pinhole& p : b.pinholes()) {
    PinholeInfo ph;
    auto ip = net::IpAddress::from_bytes(p.remote().ip());
    if (!ip) {
      return unexpected(bad_response("agent sent a malformed pinhole remote"));
    }
    ph.remote.address = *ip;
    if (p.remote().port_selection_case() == pb::RemoteSpec::kPort) {
      ph.remote.port = static_cast<std::uint16_t>(p.remote().port());
    }
    ph.remote.rtcp_port = static_cast<std::uint16_t>(p.remote().rtcp_port());
    if (p.has_latched_remote()) {
      auto l = endpoint(p.latched_remote(), "pinhole.latched_remote");
      if (!l) {
        return unexpected(std::move(l).error());
      }
      ph.latched_remote = *l;
    }
    out.pinholes.push_back(std::move(ph));
  }
  const pb::LeaseStatus& l = b.lease();
  out.lease.liveness = from_proto(l.liveness());
  out.lease.hard_deadline = from_proto(l.hard_deadline(), l.has_hard_deadline());
  out.lease.reservation_deadline = from_proto(l.reservation_deadline(), l.has_reservation_deadline());
  out.lease.orphan_deadline = from_proto(l.orphan_deadline(), l.has_orphan_deadline());
  out.lease.expire_time = from_proto(l.expire_time(), l.has_expire_time());
  out.lease.orphan_grace = from_proto(l.orphan_grace());
  out.lease.idle_timeout = from_proto(l.idle_timeout());
  out.realm = b.realm();
  return out;
}

EventKind from_proto(pb::Event::Kind k) {
  switch (k) {
    case pb::Event::KIND_EXPIRED: return EventKind::kExpired;
    case pb::Event::KIND_IDLE: return EventKind::kIdle;
    case pb::Event::KIND_LATCHED: return EventKind::kLatched;
    case pb::Event::KIND_ORPHANED: return EventKind::kOrphaned;
    case pb::Event::KIND_ADOPTED: return EventKind::kAdopted;
    case pb::Event::KIND_CLOSED_BY_AGENT: return EventKind::kClosedByAgent;
    case pb::Event::KIND_DRAIN: return EventKind::kDrain;
    case pb::Event::KIND_RESYNC_REQUIRED: return EventKind::kResyncRequired;
    default: return EventKind::kUnknown;
  }
}

Cause from_proto(pb::Cause c) {
  switch (c) {
    case pb::CAUSE_REQUESTED: return Cause::kRequested;
    case pb::CAUSE_HARD_DEADLINE: return Cause::kHardDeadline;
    case pb::CAUSE_IDLE: return Cause::kIdle;
    case pb::CAUSE_RESERVATION_TIMEOUT: return Cause::kReservationTimeout;
    case pb::CAUSE_ORPHAN_GRACE_EXPIRED: return Cause::kOrphanGraceExpired;
    case pb::CAUSE_DRAIN: return Cause::kDrain;
    case pb::CAUSE_ADMIN: return Cause::kAdmin;
    case pb::CAUSE_STATE_LOST: return Cause::kStateLost;
    case pb::CAUSE_POLICY: return Cause::kPolicy;
    case pb::CAUSE_SESSION_LAPSED: return Cause::kSessionLapsed;
    case pb::CAUSE_ADOPTED: return Cause::kAdopted;
    case pb::CAUSE_LATCHED: return Cause::kLatched;
    default: return Cause::kUnspecified;
  }
}

FcpEvent from_proto(const pb::Event& e, const std::string& agent) {
  FcpEvent out;
  out.agent = agent;
  out.state_epoch = e.state_epoch();
  out.seq = e.seq();
  out.time = from_proto(e.time(), e.has_time()).value_or(WallTime{});
  out.kind = from_proto(e.kind());
  out.cause = from_proto(e.cause());
  out.owner = e.owner();
  out.group_id = e.group_id();
  out.binding_id = e.binding_id();
  if (e.has_latched_remote()) {
    if (auto l = endpoint(e.latched_remote(), "event.latched_remote")) {
      out.latched_remote = *l;
    }
  }
  out.detail = e.detail();
  return out;
}

FcpReason from_proto(pb::ErrorReason r) {
  switch (r) {
    case pb::ERROR_REASON_BAD_TUPLE: return FcpReason::kBadTuple;
    case pb::ERROR_REASON_UNSUPPORTED_PROTOCOL: return FcpReason::kUnsupportedProtocol;
    case pb::ERROR_REASON_INVALID_FIELD: return FcpReason::kInvalidField;
    case pb::ERROR_REASON_UNKNOWN_BINDING: return FcpReason::kUnknownBinding;
    case pb::ERROR_REASON_UNKNOWN_GROUP: return FcpReason::kUnknownGroup;
    case pb::ERROR_REASON_KEY_CONFLICT: return FcpReason::kKeyConflict;
    case pb::ERROR_REASON_ENDPOINT_IN_USE: return FcpReason::kEndpointInUse;
    case pb::ERROR_REASON_STALE_FENCING_TOKEN: return FcpReason::kStaleFencingToken;
    case pb::ERROR_REASON_NOT_OWNER: return FcpReason::kNotOwner;
    case pb::ERROR_REASON_OWNER_HELD: return FcpReason::kOwnerHeld;
    case pb::ERROR_REASON_NO_SESSION: return FcpReason::kNoSession;
    case pb::ERROR_REASON_GENERATION_MISMATCH: return FcpReason::kGenerationMismatch;
    case pb::ERROR_REASON_NO_PORTS: return FcpReason::kNoPorts;
    case pb::ERROR_REASON_TABLE_FULL: return FcpReason::kTableFull;
    case pb::ERROR_REASON_OWNER_QUOTA: return FcpReason::kOwnerQuota;
    case pb::ERROR_REASON_CANNOT_PROVIDE_EXTERNAL: return FcpReason::kCannotProvideExternal;
    case pb::ERROR_REASON_EXCESSIVE_REMOTE_PEERS: return FcpReason::kExcessiveRemotePeers;
    case pb::ERROR_REASON_DRAINING: return FcpReason::kDraining;
    case pb::ERROR_REASON_NOT_READY: return FcpReason::kNotReady;
    case pb::ERROR_REASON_REALM_DENIED: return FcpReason::kRealmDenied;
    case pb::ERROR_REASON_DATAPLANE_ERROR: return FcpReason::kDataplaneError;
    case pb::ERROR_REASON_REQUEST_ID_REUSED: return FcpReason::kRequestIdReused;
    default: return FcpReason::kNone;
  }
}

RetryClass from_proto(pb::RetryClass r) {
  switch (r) {
    case pb::RETRY_CLASS_AFTER_DELAY: return RetryClass::kAfterDelay;
    case pb::RETRY_CLASS_AFTER_REREAD: return RetryClass::kAfterReread;
    case pb::RETRY_CLASS_OTHER_AGENT: return RetryClass::kOtherAgent;
    default: return RetryClass::kNever;
  }
}

FcpError from_status(const grpc::Status& status, const std::optional<pb::ErrorDetail>& detail,
                     const std::string& agent) {
  FcpError e;
  // Our ErrorCode numbers are the gRPC numbers (common/base/error.h).
  const int code = static_cast<int>(status.error_code());
  e.error = Error(code >= 0 && code <= 16 ? static_cast<ErrorCode>(code) : ErrorCode::kUnknown,
                  status.error_message());
  e.agent = agent;
  if (detail) {
    e.reason = from_proto(detail->reason());
    e.retry_class = from_proto(detail->retry_class());
    e.retry_after = from_proto(detail->retry_after());
    e.field = detail->field();
    e.binding_id = detail->binding_id();
  }
  switch (status.error_code()) {
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      // The agent may have done it: retry with the same request_id (fcp-notes §2.9, §4.2).
      e.reason = FcpReason::kDeadline;
      e.retry_class = RetryClass::kSameRequest;
      break;
    case grpc::StatusCode::UNAVAILABLE:
      if (!detail) {
        e.reason = FcpReason::kTransport;
        e.retry_class = RetryClass::kSameRequest;
      }
      break;
    case grpc::StatusCode::CANCELLED:
      if (!detail) {
        e.reason = FcpReason::kShutdown;
        e.retry_class = RetryClass::kSameRequest;
      }
      break;
    default:
      break;
  }
  return e;
}

}  // namespace portcullis::fcp::convert
