// Proto <-> domain translation for the FCP service (style §4.9: the gRPC layer is translation
// only). These functions check proto *shapes* — address byte lengths, port ranges, UNSPECIFIED
// enums, oneofs left empty, Duration/Timestamp ranges — and leave every semantic decision (caps,
// ownership, fencing, pools) to PinholeManager. Errors are AgentErrors naming the proto field,
// so the service maps them exactly like the manager's own errors.
//
// Time: the manager works on the monotonic Clock; protos carry wall-clock instants. Conversion
// goes through one (now, wall_now) pair per request (fcp.proto header: instants are converted by
// the agent from its monotonic clock).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "fcp/v1/fcp.pb.h"
#include "pinhole-agent/core/pinhole_manager.h"

namespace portcullis::agent::service {

namespace pb = ::portcullis::fcp::v1;

/// The instant pair used to convert monotonic <-> wall time within one request.
struct TimeBase {
  Clock::TimePoint now{};
  Clock::WallTime wall{};
  static TimeBase from(const Clock& clock) { return {clock.now(), clock.wall_now()}; }
};

// ---- errors ----

/// An INVALID_ARGUMENT AgentError with the given reason, naming `field`.
AgentError invalid_field(std::string_view field, std::string message,
                         ErrorReason reason = ErrorReason::kInvalidField);

/// The ErrorDetail sent as "fcp-error-detail-bin" for `error`. `field` overrides the field path
/// guessed from the message's first word.
pb::ErrorDetail error_detail(const AgentError& error, const AgentInfo& agent,
                             std::string_view binding_id = {});
pb::ErrorReason to_proto(ErrorReason r);
pb::RetryClass to_proto(RetryClass r);

// ---- ids ----

std::string binding_id_text(BindingId id);
/// Binding ids are opaque to clients: anything that is not the decimal of a live id is simply
/// unknown (NOT_FOUND / UNKNOWN_BINDING), never a parse error.
AgentResult<BindingId> parse_binding_id(std::string_view text);

// ---- requests ----

AgentResult<WriteMeta> meta_from_proto(const pb::WriteMeta& m);
AgentResult<net::IpAddress> address_from_proto(const std::string& raw, std::string_view field);
AgentResult<net::Endpoint> endpoint_from_proto(const pb::Endpoint& e, std::string_view field,
                                               bool allow_port_zero = false);
AgentResult<Clock::Duration> duration_from_proto(const google::protobuf::Duration& d,
                                                 std::string_view field);
AgentResult<LeaseRequest> lease_from_proto(const pb::LeasePolicy& lease, const TimeBase& t);
AgentResult<RemoteSpec> remote_from_proto(const pb::RemoteSpec& r, std::string_view field);

/// `nested` = an Apply operation: its meta must be unset (the batch meta applies).
AgentResult<ReserveRequest> reserve_from_proto(const pb::ReserveBindingRequest& r, const TimeBase& t,
                                               bool nested = false);
AgentResult<EnableRequest> enable_from_proto(const pb::EnablePinholesRequest& r, bool nested = false);
AgentResult<RenewRequest> renew_from_proto(const pb::RenewRequest& r, bool nested = false);
AgentResult<ReleaseRequest> release_from_proto(const pb::ReleaseRequest& r, bool nested = false);
AgentResult<ApplyRequest> apply_from_proto(const pb::ApplyRequest& r, const TimeBase& t);

// ---- responses ----

void to_proto(const AgentInfo& a, pb::AgentInfo* out);
void to_proto(const net::Endpoint& e, pb::Endpoint* out);
void to_proto(Clock::TimePoint tp, const TimeBase& t, google::protobuf::Timestamp* out);
void to_proto(Clock::Duration d, google::protobuf::Duration* out);
void to_proto(const Binding& b, const TimeBase& t, pb::Binding* out);
void to_proto(const Event& e, std::uint64_t state_epoch, const TimeBase& t, pb::Event* out);
void to_proto(const ManagerConfig& c, pb::Capabilities* out, bool ipv6);

pb::BindingState to_proto(BindingState s);
pb::Cause to_proto(Cause c);
pb::Event::Kind to_proto(EventKind k);

}  // namespace portcullis::agent::service
