#include "pinhole-agent/service/translate.h"

#include <algorithm>
#include <charconv>
#include <limits>

#include "common/base/text.h"

namespace portcullis::agent::service {

namespace {

using std::chrono::duration_cast;
using std::chrono::nanoseconds;
using std::chrono::seconds;

// Durations beyond this are clamped before conversion: int64 nanoseconds overflow at ~292 years,
// and the manager caps every lifetime far below this anyway (max_lifetime).
constexpr std::int64_t kMaxDurationSeconds = 100LL * 365 * 24 * 3600;
// 9999-12-31T23:59:59Z, the largest valid google.protobuf.Timestamp; clamping first keeps the
// subtraction below from overflowing on hostile input.
constexpr std::int64_t kMaxTimestampSeconds = 253402300799LL;

Unexpected<AgentError> bad_tuple(std::string_view field, std::string message) {
  return unexpected(invalid_field(field, std::move(message), ErrorReason::kBadTuple));
}
Unexpected<AgentError> bad_field(std::string_view field, std::string message) {
  return unexpected(invalid_field(field, std::move(message)));
}

std::string join(std::string_view a, std::string_view b) {
  std::string s(a);
  s += '.';
  s += b;
  return s;
}

// The first word of a manager message is the field path when it looks like one
// ("private_endpoint.port must be ..."); ErrorDetail.field carries it for machines.
std::string guess_field(std::string_view message) {
  std::size_t n = 0;
  while (n < message.size()) {
    const char c = message[n];
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
                    c == '[' || c == ']';
    if (!ok) {
      break;
    }
    ++n;
  }
  if (n == 0 || n == message.size() || message[n] != ' ') {
    return {};
  }
  const std::string_view word = message.substr(0, n);
  // A single plain word is a field only when the sentence says so ("protocol must be ...",
  // "target is required"); otherwise it is prose ("agent is draining").
  const std::string_view rest = message.substr(n + 1);
  if (word.find_first_of("._[") == std::string_view::npos && rest.rfind("must ", 0) != 0 &&
      rest.rfind("is required", 0) != 0 && rest.rfind("is not", 0) != 0) {
    return {};
  }
  return std::string(word);
}

AgentResult<bool> require_no_meta(bool has_meta, std::string_view op) {
  if (has_meta) {
    return bad_field(join(op, "meta"), std::string(op) + ".meta must be unset inside Apply (the batch meta applies)");
  }
  return true;
}

}  // namespace

AgentError invalid_field(std::string_view field, std::string message, ErrorReason reason) {
  AgentError e;
  e.code = ErrorCode::kInvalidArgument;
  e.reason = reason;
  e.message = std::move(message);
  e.retry_class = RetryClass::kNever;
  (void)field;  // the message starts with the field path; error_detail() extracts it
  return e;
}

pb::ErrorReason to_proto(ErrorReason r) {
  switch (r) {
    case ErrorReason::kUnspecified: return pb::ERROR_REASON_UNSPECIFIED;
    case ErrorReason::kBadTuple: return pb::ERROR_REASON_BAD_TUPLE;
    case ErrorReason::kUnsupportedProtocol: return pb::ERROR_REASON_UNSUPPORTED_PROTOCOL;
    case ErrorReason::kInvalidField: return pb::ERROR_REASON_INVALID_FIELD;
    case ErrorReason::kUnknownBinding: return pb::ERROR_REASON_UNKNOWN_BINDING;
    case ErrorReason::kUnknownGroup: return pb::ERROR_REASON_UNKNOWN_GROUP;
    case ErrorReason::kKeyConflict: return pb::ERROR_REASON_KEY_CONFLICT;
    case ErrorReason::kEndpointInUse: return pb::ERROR_REASON_ENDPOINT_IN_USE;
    case ErrorReason::kStaleFencingToken: return pb::ERROR_REASON_STALE_FENCING_TOKEN;
    case ErrorReason::kNotOwner: return pb::ERROR_REASON_NOT_OWNER;
    case ErrorReason::kOwnerHeld: return pb::ERROR_REASON_OWNER_HELD;
    case ErrorReason::kNoSession: return pb::ERROR_REASON_NO_SESSION;
    case ErrorReason::kGenerationMismatch: return pb::ERROR_REASON_GENERATION_MISMATCH;
    case ErrorReason::kNoPorts: return pb::ERROR_REASON_NO_PORTS;
    case ErrorReason::kTableFull: return pb::ERROR_REASON_TABLE_FULL;
    case ErrorReason::kOwnerQuota: return pb::ERROR_REASON_OWNER_QUOTA;
    case ErrorReason::kCannotProvideExternal: return pb::ERROR_REASON_CANNOT_PROVIDE_EXTERNAL;
    case ErrorReason::kExcessiveRemotePeers: return pb::ERROR_REASON_EXCESSIVE_REMOTE_PEERS;
    case ErrorReason::kDraining: return pb::ERROR_REASON_DRAINING;
    case ErrorReason::kNotReady: return pb::ERROR_REASON_NOT_READY;
    case ErrorReason::kRealmDenied: return pb::ERROR_REASON_REALM_DENIED;
    case ErrorReason::kDataplaneError: return pb::ERROR_REASON_DATAPLANE_ERROR;
    case ErrorReason::kRequestIdReused: return pb::ERROR_REASON_REQUEST_ID_REUSED;
  }
  return pb::ERROR_REASON_UNSPECIFIED;
}

pb::RetryClass to_proto(RetryClass r) {
  switch (r) {
    case RetryClass::kNever: return pb::RETRY_CLASS_NEVER;
    case RetryClass::kAfterDelay: return pb::RETRY_CLASS_AFTER_DELAY;
    case RetryClass::kAfterReread: return pb::RETRY_CLASS_AFTER_REREAD;
    case RetryClass::kOtherAgent: return pb::RETRY_CLASS_OTHER_AGENT;
  }
  return pb::RETRY_CLASS_UNSPECIFIED;
}

pb::ErrorDetail error_detail(const AgentError& error, const AgentInfo& agent,
                             std::string_view binding_id) {
  pb::ErrorDetail d;
  d.set_reason(to_proto(error.reason));
  d.set_retry_class(to_proto(error.retry_class));
  if (error.retry_after > Clock::Duration::zero()) {
    to_proto(error.retry_after, d.mutable_retry_after());
  }
  d.set_field(guess_field(error.message));
  d.set_binding_id(std::string(binding_id));
  to_proto(agent, d.mutable_agent());
  return d;
}

std::string binding_id_text(BindingId id) { return std::to_string(id); }

AgentResult<BindingId> parse_binding_id(std::string_view text) {
  const auto v = parse_decimal(text, std::numeric_limits<BindingId>::max());
  if (!v || *v == 0 || text.size() > 10 || (text.size() > 1 && text[0] == '0')) {
    AgentError e;
    e.code = ErrorCode::kNotFound;
    e.reason = ErrorReason::kUnknownBinding;
    e.message = "binding_id '" + log_excerpt(text, 32) + "' not found";
    return unexpected(std::move(e));
  }
  return static_cast<BindingId>(*v);
}

AgentResult<WriteMeta> meta_from_proto(const pb::WriteMeta& m) {
  // Names, lengths and characters are the manager's business (check_meta); only the shape here.
  return WriteMeta{m.request_id(), m.owner(), m.fencing_token(), m.expected_generation()};
}

AgentResult<net::IpAddress> address_from_proto(const std::string& raw, std::string_view field) {
  if (raw.size() != 4 && raw.size() != 16) {
    return bad_tuple(field, std::string(field) + " must be 4 or 16 bytes (got " +
                                std::to_string(raw.size()) + ")");
  }
  auto a = net::IpAddress::from_bytes(raw);
  if (!a.ok()) {
    return bad_tuple(field, std::string(field) + ": " + a.error().message);
  }
  return *a;
}

namespace {
/// address_from_proto(raw, field + ".ip"), building the field path only for an error (this runs
/// for every endpoint of every write; the path string was one allocation each).
AgentResult<net::IpAddress> ip_of(const std::string& raw, std::string_view field) {
  if (raw.size() == 4 || raw.size() == 16) {
    if (auto a = net::IpAddress::from_bytes(raw); a.ok()) {
      return *a;
    }
  }
  return address_from_proto(raw, join(field, "ip"));
}
}  // namespace

AgentResult<net::Endpoint> endpoint_from_proto(const pb::Endpoint& e, std::string_view field,
                                               bool allow_port_zero) {
  auto a = ip_of(e.ip(), field);
  if (!a.ok()) {
    return unexpected(std::move(a).error());
  }
  if (e.port() > 65535 || (e.port() == 0 && !allow_port_zero)) {
    return bad_tuple(join(field, "port"), join(field, "port") + " must be 1..65535");
  }
  return net::Endpoint(*a, static_cast<std::uint16_t>(e.port()));
}

AgentResult<Clock::Duration> duration_from_proto(const google::protobuf::Duration& d,
                                                 std::string_view field) {
  if (d.seconds() < 0 || d.nanos() < 0 || d.nanos() > 999'999'999) {
    return bad_field(field, std::string(field) + " must be a non-negative duration");
  }
  const std::int64_t s = std::min<std::int64_t>(d.seconds(), kMaxDurationSeconds);
  return duration_cast<Clock::Duration>(seconds(s)) + nanoseconds(d.nanos());
}

AgentResult<LeaseRequest> lease_from_proto(const pb::LeasePolicy& lease, const TimeBase& t) {
  LeaseRequest out;
  switch (lease.hard_limit_case()) {
    case pb::LeasePolicy::kLifetime: {
      auto d = duration_from_proto(lease.lifetime(), "lease.lifetime");
      if (!d.ok()) {
        return unexpected(std::move(d).error());
      }
      out.lifetime = *d;
      break;
    }
    case pb::LeasePolicy::kHardDeadline: {
      const auto& ts = lease.hard_deadline();
      if (ts.nanos() < 0 || ts.nanos() > 999'999'999) {
        return bad_field("lease.hard_deadline", "lease.hard_deadline is not a valid timestamp");
      }
      const std::int64_t wall_s =
          duration_cast<seconds>(t.wall.time_since_epoch()).count();
      // Seconds first (bounded), so a far-future Timestamp cannot overflow nanoseconds.
      const std::int64_t delta_s =
          std::clamp<std::int64_t>(std::clamp<std::int64_t>(ts.seconds(), 0, kMaxTimestampSeconds) - wall_s,
                                   -1, kMaxDurationSeconds);
      if (delta_s < 0) {
        return bad_field("lease.hard_deadline", "lease.hard_deadline is in the past");
      }
      // delta_s is bounded, so this cannot overflow; the sub-second parts are added separately.
      const auto wall_subsec =
          duration_cast<Clock::Duration>(t.wall.time_since_epoch()) - duration_cast<Clock::Duration>(seconds(wall_s));
      out.lifetime = duration_cast<Clock::Duration>(seconds(delta_s)) + nanoseconds(ts.nanos()) - wall_subsec;
      if (out.lifetime <= Clock::Duration::zero()) {
        return bad_field("lease.hard_deadline", "lease.hard_deadline is in the past");
      }
      break;
    }
    case pb::LeasePolicy::HARD_LIMIT_NOT_SET:
      return bad_field("lease.hard_limit",
                       "lease.hard_limit is required: give lease.lifetime or lease.hard_deadline");
  }
  switch (lease.liveness()) {
    case pb::LIVENESS_SESSION: out.liveness = Liveness::kSession; break;
    case pb::LIVENESS_LIFETIME_ONLY: out.liveness = Liveness::kLifetimeOnly; break;
    default:
      return bad_field("lease.liveness", "lease.liveness must be LIVENESS_SESSION or LIVENESS_LIFETIME_ONLY");
  }
  struct Opt {
    bool has;
    const google::protobuf::Duration* d;
    const char* field;
    Clock::Duration* out;
  };
  const Opt opts[] = {
      {lease.has_orphan_grace(), &lease.orphan_grace(), "lease.orphan_grace", &out.orphan_grace},
      {lease.has_idle_timeout(), &lease.idle_timeout(), "lease.idle_timeout", &out.idle_timeout},
      {lease.has_reservation_timeout(), &lease.reservation_timeout(), "lease.reservation_timeout",
       &out.reservation_timeout},
  };
  for (const Opt& o : opts) {
    if (!o.has) {
      continue;
    }
    auto d = duration_from_proto(*o.d, o.field);
    if (!d.ok()) {
      return unexpected(std::move(d).error());
    }
    *o.out = *d;
  }
  return out;
}

AgentResult<RemoteSpec> remote_from_proto(const pb::RemoteSpec& r, std::string_view field) {
  RemoteSpec out;
  auto a = ip_of(r.ip(), field);
  if (!a.ok()) {
    return unexpected(std::move(a).error());
  }
  out.address = *a;
  switch (r.port_selection_case()) {
    case pb::RemoteSpec::kPort:
      if (r.port() == 0 || r.port() > 65535) {
        return bad_tuple(join(field, "port"), join(field, "port") + " must be 1..65535");
      }
      out.port = static_cast<std::uint16_t>(r.port());
      out.latch = LatchMode::kNone;
      break;
    case pb::RemoteSpec::kLatch:
      out.latch = LatchMode::kOneShot;
      break;
    case pb::RemoteSpec::PORT_SELECTION_NOT_SET:
      return bad_field(join(field, "port_selection"),
                       join(field, "port_selection") + " is required: give port or latch");
  }
  if (r.rtcp_port() > 65535) {
    return bad_tuple(join(field, "rtcp_port"), join(field, "rtcp_port") + " must be 0..65535");
  }
  out.rtcp_port = static_cast<std::uint16_t>(r.rtcp_port());
  return out;
}

AgentResult<ReserveRequest> reserve_from_proto(const pb::ReserveBindingRequest& r, const TimeBase& t,
                                               bool nested) {
  ReserveRequest out;
  if (nested) {
    auto n = require_no_meta(r.has_meta(), "reserve");
    if (!n.ok()) {
      return unexpected(std::move(n).error());
    }
  } else {
    out.meta = *meta_from_proto(r.meta());
  }
  out.natural_key = r.natural_key();
  out.group_id = r.group_id();
  switch (r.protocol()) {
    case pb::PROTOCOL_UDP: out.protocol = L4Protocol::kUdp; break;
    case pb::PROTOCOL_TCP: out.protocol = L4Protocol::kTcp; break;
    case pb::PROTOCOL_UNSPECIFIED:
      return bad_field("protocol", "protocol must be PROTOCOL_UDP or PROTOCOL_TCP");
    default:
      return unexpected(invalid_field("protocol", "protocol " + std::to_string(r.protocol()) + " is not supported",
                                      ErrorReason::kUnsupportedProtocol));
  }
  if (!r.has_private_endpoint()) {
    return bad_tuple("private_endpoint", "private_endpoint is required");
  }
  auto priv = endpoint_from_proto(r.private_endpoint(), "private_endpoint");
  if (!priv.ok()) {
    return unexpected(std::move(priv).error());
  }
  out.private_endpoint = *priv;
  out.port_count = r.port_count();
  switch (r.parity()) {
    case pb::PARITY_ANY: out.parity = Parity::kAny; break;
    case pb::PARITY_EVEN: out.parity = Parity::kEven; break;
    default: return bad_field("parity", "parity must be PARITY_ANY or PARITY_EVEN");
  }
  if (r.has_public_port()) {
    const pb::PublicPortRequest& pp = r.public_port();
    PublicPortRequest p;
    const pb::Endpoint& s = pp.suggested();
    if (s.ip().empty()) {
      // Empty = any pool address; the family follows the private endpoint.
      p.suggested = net::Endpoint(out.private_endpoint.address().is_v4()
                                      ? net::IpAddress()
                                      : net::IpAddress::v6_bytes({}),
                                  0);
      if (s.port() == 0 || s.port() > 65535) {
        return bad_tuple("public_port.suggested.port", "public_port.suggested.port must be 1..65535");
      }
      p.suggested = net::Endpoint(p.suggested.address(), static_cast<std::uint16_t>(s.port()));
    } else {
      auto e = endpoint_from_proto(s, "public_port.suggested");
      if (!e.ok()) {
        return unexpected(std::move(e).error());
      }
      p.suggested = *e;
    }
    switch (pp.mode()) {
      case pb::PublicPortRequest::MODE_PREFER: p.preference = PortPreference::kPrefer; break;
      case pb::PublicPortRequest::MODE_EXACT_OR_FAIL: p.preference = PortPreference::kExactOrFail; break;
      default:
        return bad_field("public_port.mode", "public_port.mode must be MODE_PREFER or MODE_EXACT_OR_FAIL");
    }
    out.public_port = p;
  }
  out.realm = r.realm();
  if (!r.has_lease()) {
    return bad_field("lease", "lease is required (lease.lifetime or lease.hard_deadline)");
  }
  auto lease = lease_from_proto(r.lease(), t);
  if (!lease.ok()) {
    return unexpected(std::move(lease).error());
  }
  out.lease = *lease;
  return out;
}

namespace {

template <class Proto>
AgentResult<Target> binding_or_key_target(const Proto& r, bool has_id, bool has_key,
                                          const char* field) {
  if (has_id) {
    auto id = parse_binding_id(r.binding_id());
    if (!id.ok()) {
      return unexpected(std::move(id).error());
    }
    return Target{ByBinding{*id}};
  }
  if (has_key) {
    return Target{ByNaturalKey{r.natural_key()}};
  }
  return bad_field(field, std::string(field) + " is required");
}

}  // namespace

AgentResult<EnableRequest> enable_from_proto(const pb::EnablePinholesRequest& r, bool nested) {
  EnableRequest out;
  if (nested) {
    auto n = require_no_meta(r.has_meta(), "enable");
    if (!n.ok()) {
      return unexpected(std::move(n).error());
    }
  } else {
    out.meta = *meta_from_proto(r.meta());
  }
  auto target = binding_or_key_target(r, r.target_case() == pb::EnablePinholesRequest::kBindingId,
                                      r.target_case() == pb::EnablePinholesRequest::kNaturalKey,
                                      "target");
  if (!target.ok()) {
    return unexpected(std::move(target).error());
  }
  out.target = *target;
  for (int i = 0; i < r.remotes_size(); ++i) {
    auto spec = remote_from_proto(r.remotes(i), "remotes[" + std::to_string(i) + "]");
    if (!spec.ok()) {
      return unexpected(std::move(spec).error());
    }
    out.remotes.push_back(*spec);
  }
  return out;
}

AgentResult<RenewRequest> renew_from_proto(const pb::RenewRequest& r, bool nested) {
  RenewRequest out;
  if (nested) {
    auto n = require_no_meta(r.has_meta(), "renew");
    if (!n.ok()) {
      return unexpected(std::move(n).error());
    }
  } else {
    out.meta = *meta_from_proto(r.meta());
  }
  switch (r.target_case()) {
    case pb::RenewRequest::kBindingId: {
      auto id = parse_binding_id(r.binding_id());
      if (!id.ok()) {
        return unexpected(std::move(id).error());
      }
      out.target = ByBinding{*id};
      break;
    }
    case pb::RenewRequest::kGroupId: out.target = ByGroup{r.group_id()}; break;
    case pb::RenewRequest::TARGET_NOT_SET:
      return bad_field("target", "target is required: give binding_id or group_id");
  }
  if (!r.has_lifetime()) {
    return bad_field("lifetime", "lifetime is required (0 deletes)");
  }
  auto d = duration_from_proto(r.lifetime(), "lifetime");
  if (!d.ok()) {
    return unexpected(std::move(d).error());
  }
  out.lifetime = *d;
  return out;
}

AgentResult<ReleaseRequest> release_from_proto(const pb::ReleaseRequest& r, bool nested) {
  ReleaseRequest out;
  if (nested) {
    auto n = require_no_meta(r.has_meta(), "release");
    if (!n.ok()) {
      return unexpected(std::move(n).error());
    }
  } else {
    out.meta = *meta_from_proto(r.meta());
  }
  switch (r.target_case()) {
    case pb::ReleaseRequest::kBindingId: {
      // Idempotent delete: a malformed id names nothing, which the manager reports as
      // existed=false; id 0 is never allocated, so it is a safe stand-in.
      auto id = parse_binding_id(r.binding_id());
      out.target = ByBinding{id.ok() ? *id : 0};
      break;
    }
    case pb::ReleaseRequest::kGroupId: out.target = ByGroup{r.group_id()}; break;
    case pb::ReleaseRequest::kNaturalKey: out.target = ByNaturalKey{r.natural_key()}; break;
    case pb::ReleaseRequest::TARGET_NOT_SET:
      return bad_field("target", "target is required: give binding_id, group_id or natural_key");
  }
  return out;
}

AgentResult<ApplyRequest> apply_from_proto(const pb::ApplyRequest& r, const TimeBase& t) {
  ApplyRequest out;
  out.meta = *meta_from_proto(r.meta());
  for (int i = 0; i < r.operations_size(); ++i) {
    const pb::Operation& op = r.operations(i);
    const std::string prefix = "operations[" + std::to_string(i) + "]";
    auto wrap = [&](AgentError e) {
      e.message = prefix + "." + e.message;
      return unexpected(std::move(e));
    };
    switch (op.op_case()) {
      case pb::Operation::kReserve: {
        auto x = reserve_from_proto(op.reserve(), t, true);
        if (!x.ok()) {
          return wrap(std::move(x).error());
        }
        out.operations.emplace_back(std::move(*x));
        break;
      }
      case pb::Operation::kEnable: {
        auto x = enable_from_proto(op.enable(), true);
        if (!x.ok()) {
          return wrap(std::move(x).error());
        }
        out.operations.emplace_back(std::move(*x));
        break;
      }
      case pb::Operation::kRenew: {
        auto x = renew_from_proto(op.renew(), true);
        if (!x.ok()) {
          return wrap(std::move(x).error());
        }
        out.operations.emplace_back(std::move(*x));
        break;
      }
      case pb::Operation::kRelease: {
        auto x = release_from_proto(op.release(), true);
        if (!x.ok()) {
          return wrap(std::move(x).error());
        }
        out.operations.emplace_back(std::move(*x));
        break;
      }
      case pb::Operation::OP_NOT_SET:
        return unexpected(invalid_field(prefix, prefix + ".op is required"));
    }
  }
  return out;
}

// ---- responses ----

void to_proto(const AgentInfo& a, pb::AgentInfo* out) {
  out->set_agent_id(a.agent_id);
  out->set_instance_id(a.instance_id);
  out->set_state_epoch(a.state_epoch);
  out->set_epoch_seconds(a.epoch_seconds);
}

void to_proto(const net::Endpoint& e, pb::Endpoint* out) {
  out->set_ip(std::string(e.address().bytes()));
  out->set_port(e.port());
}

void to_proto(Clock::TimePoint tp, const TimeBase& t, google::protobuf::Timestamp* out) {
  const auto wall = t.wall.time_since_epoch() + duration_cast<Clock::WallTime::duration>(tp - t.now);
  const auto ns = duration_cast<nanoseconds>(wall).count();
  std::int64_t s = ns / 1'000'000'000;
  std::int64_t n = ns % 1'000'000'000;
  if (n < 0) {
    n += 1'000'000'000;
    --s;
  }
  out->set_seconds(s);
  out->set_nanos(static_cast<std::int32_t>(n));
}

void to_proto(Clock::Duration d, google::protobuf::Duration* out) {
  const auto ns = duration_cast<nanoseconds>(d).count();
  out->set_seconds(ns / 1'000'000'000);
  out->set_nanos(static_cast<std::int32_t>(ns % 1'000'000'000));
}

pb::BindingState to_proto(BindingState s) {
  switch (s) {
    case BindingState::kReserved: return pb::BINDING_STATE_RESERVED;
    case BindingState::kEnabled: return pb::BINDING_STATE_ENABLED;
    case BindingState::kOrphaned: return pb::BINDING_STATE_ORPHANED;
    case BindingState::kClosed: return pb::BINDING_STATE_CLOSED;
  }
  return pb::BINDING_STATE_UNSPECIFIED;
}

pb::Cause to_proto(Cause c) {
  switch (c) {
    case Cause::kUnspecified: return pb::CAUSE_UNSPECIFIED;
    case Cause::kRequested: return pb::CAUSE_REQUESTED;
    case Cause::kHardDeadline: return pb::CAUSE_HARD_DEADLINE;
    case Cause::kIdle: return pb::CAUSE_IDLE;
    case Cause::kReservationTimeout: return pb::CAUSE_RESERVATION_TIMEOUT;
    case Cause::kOrphanGraceExpired: return pb::CAUSE_ORPHAN_GRACE_EXPIRED;
    case Cause::kDrain: return pb::CAUSE_DRAIN;
    case Cause::kAdmin: return pb::CAUSE_ADMIN;
    case Cause::kStateLost: return pb::CAUSE_STATE_LOST;
    case Cause::kPolicy: return pb::CAUSE_POLICY;
    case Cause::kSessionLapsed: return pb::CAUSE_SESSION_LAPSED;
    case Cause::kAdopted: return pb::CAUSE_ADOPTED;
    case Cause::kLatched: return pb::CAUSE_LATCHED;
  }
  return pb::CAUSE_UNSPECIFIED;
}

pb::Event::Kind to_proto(EventKind k) {
  switch (k) {
    case EventKind::kExpired: return pb::Event::KIND_EXPIRED;
    case EventKind::kIdle: return pb::Event::KIND_IDLE;
    case EventKind::kLatched: return pb::Event::KIND_LATCHED;
    case EventKind::kOrphaned: return pb::Event::KIND_ORPHANED;
    case EventKind::kAdopted: return pb::Event::KIND_ADOPTED;
    case EventKind::kClosedByAgent: return pb::Event::KIND_CLOSED_BY_AGENT;
    case EventKind::kDrain: return pb::Event::KIND_DRAIN;
  }
  return pb::Event::KIND_UNSPECIFIED;
}

void to_proto(const Binding& b, const TimeBase& t, pb::Binding* out) {
  out->set_binding_id(binding_id_text(b.id));
  out->set_natural_key(b.natural_key);
  out->set_group_id(b.group_id);
  out->set_owner(b.owner);
  out->set_generation(b.generation);
  out->set_fencing_token(b.fencing_token);
  out->set_state(to_proto(b.state));
  out->set_cause(to_proto(b.cause));
  out->set_protocol(b.protocol == L4Protocol::kTcp ? pb::PROTOCOL_TCP : pb::PROTOCOL_UDP);
  to_proto(b.private_endpoint, out->mutable_private_endpoint());
  to_proto(b.public_endpoint, out->mutable_public_endpoint());
  out->set_port_count(b.port_count);
  out->set_parity(b.parity == Parity::kEven ? pb::PARITY_EVEN : pb::PARITY_ANY);
  for (const PinholeState& p : b.pinholes) {
    pb::Pinhole* ph = out->add_pinholes();
    pb::RemoteSpec* r = ph->mutable_remote();
    r->set_ip(std::string(p.spec.address.bytes()));
    if (p.spec.latch == LatchMode::kOneShot) {
      r->mutable_latch();
      if (p.latched_port[0] != 0) {
        to_proto(net::Endpoint(p.spec.address, p.latched_port[0]), ph->mutable_latched_remote());
      }
    } else {
      r->set_port(p.spec.port);
    }
    r->set_rtcp_port(p.spec.rtcp_port);
  }
  pb::LeaseStatus* l = out->mutable_lease();
  to_proto(b.lease.hard_deadline, t, l->mutable_hard_deadline());
  l->set_liveness(b.lease.liveness == Liveness::kSession ? pb::LIVENESS_SESSION
                                                         : pb::LIVENESS_LIFETIME_ONLY);
  to_proto(b.lease.orphan_grace, l->mutable_orphan_grace());
  to_proto(b.lease.idle_timeout, l->mutable_idle_timeout());
  if (b.lease.reservation_deadline) {
    to_proto(*b.lease.reservation_deadline, t, l->mutable_reservation_deadline());
  }
  if (b.lease.orphan_deadline) {
    to_proto(*b.lease.orphan_deadline, t, l->mutable_orphan_deadline());
  }
  if (b.state != BindingState::kClosed) {
    to_proto(b.expiry(), t, l->mutable_expire_time());
    to_proto(b.kernel_expiry, t, l->mutable_kernel_expire_time());
  }
  out->set_realm(b.realm);
}

void to_proto(const Event& e, std::uint64_t state_epoch, const TimeBase& t, pb::Event* out) {
  out->set_state_epoch(state_epoch);
  out->set_seq(e.seq);
  to_proto(e.time, t, out->mutable_time());
  out->set_kind(to_proto(e.kind));
  out->set_cause(to_proto(e.cause));
  out->set_owner(e.owner);
  out->set_group_id(e.group_id);
  if (e.binding_id != 0) {
    out->set_binding_id(binding_id_text(e.binding_id));
  }
  if (e.latched_remote) {
    to_proto(*e.latched_remote, out->mutable_latched_remote());
  }
  out->set_detail(e.detail);
}

void to_proto(const ManagerConfig& c, pb::Capabilities* out, bool ipv6) {
  for (const PoolConfig& p : c.pools) {
    auto* r = out->add_pools();
    r->set_public_ip(std::string(p.public_address.bytes()));
    r->set_first_port(p.first_port);
    r->set_last_port(p.last_port);
    r->set_realm(p.realm);
    if (std::find(out->realms().begin(), out->realms().end(), p.realm) == out->realms().end()) {
      out->add_realms(p.realm);
    }
  }
  to_proto(c.max_lifetime, out->mutable_max_lifetime());
  to_proto(c.max_orphan_grace, out->mutable_max_orphan_grace());
  to_proto(c.session_ttl, out->mutable_session_ttl());
  to_proto(c.heartbeat_interval, out->mutable_heartbeat_interval());
  out->set_max_batch_operations(static_cast<std::uint32_t>(c.max_batch_operations));
  out->set_max_bindings(c.max_bindings);
  out->set_max_remotes_per_binding(static_cast<std::uint32_t>(c.max_remotes_per_binding));
  if (ipv6) {
    out->add_features(pb::Capabilities::FEATURE_IPV6);
  }
  out->add_features(pb::Capabilities::FEATURE_LATCHING);
}

}  // namespace portcullis::agent::service
