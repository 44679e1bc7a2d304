// Domain <-> proto for the FCP client (internal to portcullis_fcp_client; only GrpcFcpClient and
// its tests include it). Shapes only: semantic validation is the agent's job (it answers
// INVALID_ARGUMENT naming the field), so the client never second-guesses a rule the agent owns.
#pragma once

#include <optional>
#include <string>

#include <grpcpp/support/status.h>

#include "controller/fcp/fcp_types.h"
#include "fcp/v1/fcp.pb.h"

namespace portcullis::fcp::convert {

namespace pb = ::portcullis::fcp::v1;

struct MetaFields {
  std::string request_id;
  std::string owner;
  std::uint64_t fencing_token = 0;
  std::uint64_t expected_generation = 0;
};

void to_proto(const MetaFields& m, pb::WriteMeta* out);
void to_proto(const net::Endpoint& e, pb::Endpoint* out);
void to_proto(const ReserveRequest& r, pb::ReserveBindingRequest* out);  // not meta
void to_proto(const RemotePeer& r, pb::RemoteSpec* out);

AgentInfo from_proto(const pb::AgentInfo& a);
/// Fails (kBadResponse) when an address does not parse.
FcpResult<BindingInfo> from_proto(const pb::Binding& b, const std::string& agent);
FcpEvent from_proto(const pb::Event& e, const std::string& agent);
EventKind from_proto(pb::Event::Kind k);
Cause from_proto(pb::Cause c);
FcpReason from_proto(pb::ErrorReason r);
RetryClass from_proto(pb::RetryClass r);

/// A non-OK gRPC status (+ the agent's ErrorDetail when it sent one) as an FcpError. Without a
/// detail the class comes from the code: UNAVAILABLE (no answer; the request may or may not have
/// arrived) and DEADLINE_EXCEEDED are kSameRequest, everything else kNever (fcp-notes §2.9).
FcpError from_status(const grpc::Status& status, const std::optional<pb::ErrorDetail>& detail,
                     const std::string& agent);

}  // namespace portcullis::fcp::convert
