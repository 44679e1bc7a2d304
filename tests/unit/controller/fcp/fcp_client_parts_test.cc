// The sans-I/O parts of the FCP client: AgentDirectory routing, EpochTracker (fcp-notes §2.3,
// RFC 6887 §8.5), retry policy and the PCP renewal schedule, proto conversion of errors.
#include <chrono>

#include <catch2/catch.hpp>

#include "common/time/fake_clock.h"
#include "controller/fcp/agent_directory.h"
#include "controller/fcp/epoch_tracker.h"
#include "controller/fcp/proto_convert.h"
#include "controller/fcp/retry_policy.h"

using namespace std::chrono_literals;
using namespace portcullis;
using namespace portcullis::fcp;

TEST_CASE("AgentDirectory: longest prefix wins, families never mix, config errors are named", "[fcp][directory]") {
  AgentDirectory d;
  REQUIRE(d.add("10.0.0.0/8", "edge-1").ok());
  REQUIRE(d.add("10.20.0.0/16", "edge-2", "branch").ok());
  REQUIRE(d.add("fd00::/8", "edge-6").ok());
  REQUIRE(d.add("0.0.0.0/0", "edge-default").ok());

  auto r = d.route(*net::IpAddress::parse("10.20.3.4"));
  REQUIRE(r);
  CHECK(r->agent == "edge-2");
  CHECK(r->realm == "branch");
  CHECK(d.route(*net::IpAddress::parse("10.21.0.1"))->agent == "edge-1");
  CHECK(d.route(*net::Endpoint::parse("192.0.2.1:5060"))->agent == "edge-default");
  CHECK(d.route(*net::IpAddress::parse("fd12::1"))->agent == "edge-6");
  CHECK_FALSE(d.route(*net::IpAddress::parse("2001:db8::1")));  // no v6 default route
  CHECK(d.agents() == std::vector<std::string>{"edge-1", "edge-2", "edge-6", "edge-default"});

  CHECK(d.add("10.0.0.0/8", "edge-9").error().code == ErrorCode::kAlreadyExists);
  CHECK(d.add("10.1.2.3/8", "edge-9").error().code == ErrorCode::kAlreadyExists);  // normalised
  CHECK(d.add("10.0.0.0/33", "edge-9").error().code == ErrorCode::kInvalidArgument);
  CHECK(d.add("172.16.0.0/12", "").error().code == ErrorCode::kInvalidArgument);
}

TEST_CASE("EpochTracker: first contact, restart, state loss, stale answers", "[fcp][epoch]") {
  FakeClock clock;
  EpochTracker t;
  const AgentInfo a{"edge-1", "inst-1", 0xabcd, 100};
  CHECK(t.observe(a, clock.now()) == AgentChange::kFirstContact);
  clock.advance(5s);
  CHECK(t.observe({"edge-1", "inst-1", 0xabcd, 105}, clock.now()) == AgentChange::kNone);

  // Same epoch, new instance: restarted with the kernel state kept.
  clock.advance(5s);
  CHECK(t.observe({"edge-1", "inst-2", 0xabcd, 110}, clock.now()) == AgentChange::kRestarted);
  CHECK(t.current()->instance_id == "inst-2");
  // A late answer from the old process is not another restart.
  CHECK(t.observe({"edge-1", "inst-1", 0xabcd, 109}, clock.now()) == AgentChange::kStale);

  // New epoch: state lost; late answers of the old epoch are stale, not a flip back.
  clock.advance(1s);
  CHECK(t.observe({"edge-1", "inst-3", 0x1234, 0}, clock.now()) == AgentChange::kStateLost);
  CHECK(t.observe({"edge-1", "inst-2", 0xabcd, 111}, clock.now()) == AgentChange::kStale);
  CHECK(t.current()->state_epoch == 0x1234);
}

TEST_CASE("EpochTracker: the RFC 6887 §8.5 epoch-time test", "[fcp][epoch]") {
  // Tolerances: 1 s backwards; deltas within 2 s + 1/16.
  CHECK(EpochTracker::epoch_time_valid(100, 99, 0s));
  CHECK_FALSE(EpochTracker::epoch_time_valid(100, 98, 0s));
  CHECK(EpochTracker::epoch_time_valid(100, 160, 60s));
  CHECK(EpochTracker::epoch_time_valid(100, 161, 60s));
  CHECK_FALSE(EpochTracker::epoch_time_valid(100, 100, 60s));   // server clock stood still: reset
  CHECK_FALSE(EpochTracker::epoch_time_valid(100, 200, 60s));   // server ran ahead
  CHECK(EpochTracker::epoch_time_valid(1000, 1600, 630s));      // 1/16 slack on long gaps

  FakeClock clock;
  EpochTracker t;
  CHECK(t.observe({"edge-1", "inst-1", 7, 500}, clock.now()) == AgentChange::kFirstContact);
  clock.advance(30s);
  // Same epoch and instance, but epoch_seconds went back to 3: state loss (notes §2.3 rule 3).
  CHECK(t.observe({"edge-1", "inst-1", 7, 3}, clock.now()) == AgentChange::kEpochCheckFailed);
  clock.advance(10s);
  CHECK(t.observe({"edge-1", "inst-1", 7, 13}, clock.now()) == AgentChange::kNone);  // rebased

  EpochTracker unchecked(false);
  CHECK(unchecked.observe({"edge-1", "inst-1", 7, 500}, clock.now()) == AgentChange::kFirstContact);
  CHECK(unchecked.observe({"edge-1", "inst-1", 7, 3}, clock.now()) == AgentChange::kNone);
}

TEST_CASE("retry policy: what the client retries itself, within the budget", "[fcp][retry]") {
  RetryConfig c;  // defaults: 300 ms per attempt, 1.5 s in total
  CHECK_FALSE(validate(c).has_value());
  CHECK(c.total_budget < 2s);
  CHECK(c.attempt_timeout <= 300ms);

  FcpError transport;
  transport.retry_class = RetryClass::kSameRequest;
  transport.reason = FcpReason::kTransport;
  REQUIRE(internal_retry_delay(transport, c, 1, 1000ms, 0.5));
  CHECK(*internal_retry_delay(transport, c, 1, 1000ms, 0.0) == 10ms);
  CHECK(*internal_retry_delay(transport, c, 1, 1000ms, 1.0) == 20ms);
  CHECK(*internal_retry_delay(transport, c, 3, 1000ms, 1.0) == 80ms);
  CHECK_FALSE(internal_retry_delay(transport, c, 4, 1000ms, 0.5));  // max_attempts
  CHECK_FALSE(internal_retry_delay(transport, c, 1, 30ms, 0.5));    // nothing left of the budget

  FcpError never;
  never.retry_class = RetryClass::kNever;
  CHECK_FALSE(internal_retry_delay(never, c, 1, 1000ms, 0.5));
  FcpError draining;
  draining.retry_class = RetryClass::kOtherAgent;
  CHECK_FALSE(internal_retry_delay(draining, c, 1, 1000ms, 0.5));

  FcpError not_ready;
  not_ready.retry_class = RetryClass::kAfterDelay;
  not_ready.retry_after = 100ms;
  CHECK(*internal_retry_delay(not_ready, c, 1, 1000ms, 0.5) == 100ms);
  not_ready.retry_after = 30s;  // NO_PORTS: far beyond the budget, the caller decides
  CHECK_FALSE(internal_retry_delay(not_ready, c, 1, 1000ms, 0.5));

  FcpError reread;
  reread.retry_class = RetryClass::kAfterReread;
  reread.reason = FcpReason::kGenerationMismatch;
  CHECK_FALSE(internal_retry_delay(reread, c, 1, 1000ms, 0.5));
  reread.reason = FcpReason::kNoSession;  // the session is coming back: worth a retry
  CHECK(internal_retry_delay(reread, c, 1, 1000ms, 0.5));

  RetryConfig bad;
  bad.total_budget = 100ms;
  CHECK(validate(bad).has_value());
}

TEST_CASE("PCP renewal schedule: 1/2..5/8, then 3/4.., 7/8.., at least 4 s apart", "[fcp][retry]") {
  CHECK(renewal_offset(800s, 0, 0.0) == 400s);
  CHECK(renewal_offset(800s, 0, 1.0) == 500s);
  CHECK(renewal_offset(800s, 1, 0.0) == 600s);
  CHECK(renewal_offset(800s, 1, 1.0) == 650s);
  CHECK(renewal_offset(800s, 2, 0.0) == 700s);
  CHECK(renewal_offset(800s, 2, 1.0) == 725s);
  CHECK(renewal_offset(8s, 1, 0.0, 4s) == 8s);  // 6 s would be < 4 s after the previous one
}

TEST_CASE("errors from the wire: code, ErrorDetail and retry class", "[fcp][convert]") {
  namespace pb = ::portcullis::fcp::v1;
  const auto transport = convert::from_status(grpc::Status(grpc::StatusCode::UNAVAILABLE, "connect failed"),
                                              std::nullopt, "edge-1");
  CHECK(transport.error.code == ErrorCode::kUnavailable);
  CHECK(transport.reason == FcpReason::kTransport);
  CHECK(transport.retry_class == RetryClass::kSameRequest);

  pb::ErrorDetail d;
  d.set_reason(pb::ERROR_REASON_DRAINING);
  d.set_retry_class(pb::RETRY_CLASS_OTHER_AGENT);
  const auto drain = convert::from_status(grpc::Status(grpc::StatusCode::UNAVAILABLE, "draining"), d, "edge-1");
  CHECK(drain.reason == FcpReason::kDraining);
  CHECK(drain.retry_class == RetryClass::kOtherAgent);

  pb::ErrorDetail ports;
  ports.set_reason(pb::ERROR_REASON_NO_PORTS);
  ports.set_retry_class(pb::RETRY_CLASS_AFTER_DELAY);
  ports.mutable_retry_after()->set_seconds(30);
  ports.set_field("public_port");
  const auto exhausted =
      convert::from_status(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "no ports"), ports, "edge-1");
  CHECK(exhausted.error.code == ErrorCode::kResourceExhausted);
  CHECK(exhausted.retry_after == 30s);
  CHECK(exhausted.field == "public_port");
  CHECK(exhausted.to_string().find("NO_PORTS") != std::string::npos);

  const auto deadline =
      convert::from_status(grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "late"), std::nullopt, "edge-1");
  CHECK(deadline.reason == FcpReason::kDeadline);
  CHECK(deadline.retry_class == RetryClass::kSameRequest);
}
