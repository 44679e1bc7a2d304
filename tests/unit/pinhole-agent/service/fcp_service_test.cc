// FcpService end to end in process: a real gRPC server on 127.0.0.1:0 and a real client stub,
// PinholeManager on a FakeClock against the transactional FakeBackend. Time-dependent logic
// (expiry, orphaning) moves only with FakeClock::advance + run_timers_now(); gRPC itself uses the
// real clock (client deadlines only bound a failing test, they never drive logic).
#include <chrono>
#include <memory>
#include <string>

#include <catch2/catch.hpp>
#include <grpcpp/grpcpp.h>

#include "common/time/fake_clock.h"
#include "fcp/v1/fcp.grpc.pb.h"
#include "pinhole-agent/backend/fake/fake_backend.h"
#include "pinhole-agent/core/pinhole_manager.h"
#include "pinhole-agent/service/fcp_service.h"
#include "pinhole-agent/service/server.h"
#include "tests/unit/pinhole-agent/service/test_pki.h"

using namespace std::chrono_literals;
using namespace portcullis;
using namespace portcullis::agent;
using namespace portcullis::agent::service;
namespace pb = ::portcullis::fcp::v1;

namespace {

constexpr const char* kOwner = "sbc-a/shard-1";

std::string v4(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d) {
  return std::string{static_cast<char>(a), static_cast<char>(b), static_cast<char>(c), static_cast<char>(d)};
}

ManagerConfig small_config() {
  ManagerConfig c;
  // Four ports: exactly two RTP/RTCP pairs, so exhaustion is cheap to reach.
  c.pools.push_back(PoolConfig{*net::IpAddress::parse("203.0.113.1"), 40000, 40003, ""});
  return c;
}

struct Agent {
  FakeClock clock;
  FakeBackend backend{clock};
  FakeConntrackCleaner conntrack;
  ManagerConfig config;
  std::unique_ptr<PinholeManager> manager;
  std::unique_ptr<FcpService> service;
  RunningServer server;

  explicit Agent(AccessPolicy policy, ServerOptions options = {}, ManagerConfig c = small_config())
      : config(std::move(c)) {
    REQUIRE(validate_config(config).ok());
    REQUIRE(backend.bootstrap("epoch").ok());
    manager = std::make_unique<PinholeManager>(
        config, clock, backend, conntrack, AgentIdentity{"edge-1", "inst-1", 0xabcdULL, clock.now(), 1});
    service = std::make_unique<FcpService>(*manager, config, clock, std::move(policy));
    service->start();
    options.listen_address = "127.0.0.1:0";
    auto s = start_server(*service, options);
    REQUIRE(s.ok());
    server = std::move(*s);
  }
  ~Agent() {
    service->begin_shutdown();
    server.server->Shutdown(std::chrono::system_clock::now() + 2s);
    service->stop();
  }
  std::string target() const { return "127.0.0.1:" + std::to_string(server.port); }

  std::unique_ptr<pb::FirewallControl::Stub> insecure_stub() const {
    return pb::FirewallControl::NewStub(grpc::CreateChannel(target(), grpc::InsecureChannelCredentials()));
  }
  std::unique_ptr<pb::FirewallControl::Stub> tls_stub(const std::string& ca, const std::string& cert = {},
                                                      const std::string& key = {}) const {
    grpc::SslCredentialsOptions o;
    o.pem_root_certs = ca;
    o.pem_cert_chain = cert;
    o.pem_private_key = key;
    return pb::FirewallControl::NewStub(grpc::CreateChannel(target(), grpc::SslCredentials(o)));
  }
  /// Snapshot of what "nothing changed" compares.
  std::tuple<std::size_t, std::size_t, std::uint64_t> observed() {
    std::tuple<std::size_t, std::size_t, std::uint64_t> out;
    service->run_on_executor([&] {
      out = {manager->binding_count(), backend.successful_applies(), manager->events().last_seq()};
    });
    return out;
  }
};

ServerOptions lab() {
  ServerOptions o;
  o.insecure_lab = true;
  return o;
}

void deadline(grpc::ClientContext& ctx) { ctx.set_deadline(std::chrono::system_clock::now() + 10s); }

pb::ErrorDetail detail_of(const grpc::ClientContext& ctx) {
  pb::ErrorDetail d;
  const auto& md = ctx.GetServerTrailingMetadata();
  const auto it = md.find(kErrorDetailKey);
  if (it != md.end()) {
    REQUIRE(d.ParseFromArray(it->second.data(), static_cast<int>(it->second.size())));
  }
  return d;
}

int request_counter = 0;

pb::WriteMeta meta(const std::string& owner = kOwner, std::uint64_t token = 5) {
  pb::WriteMeta m;
  m.set_request_id("req-" + std::to_string(++request_counter));
  m.set_owner(owner);
  m.set_fencing_token(token);
  return m;
}

pb::ReserveBindingRequest reserve_pair(std::uint32_t private_port, const std::string& owner = kOwner,
                                       std::uint64_t token = 5) {
  pb::ReserveBindingRequest r;
  *r.mutable_meta() = meta(owner, token);
  r.set_protocol(pb::PROTOCOL_UDP);
  r.mutable_private_endpoint()->set_ip(v4(10, 0, 0, 2));
  r.mutable_private_endpoint()->set_port(private_port);
  r.set_port_count(2);
  r.set_parity(pb::PARITY_EVEN);
  r.mutable_lease()->mutable_lifetime()->set_seconds(3600);
  r.mutable_lease()->set_liveness(pb::LIVENESS_LIFETIME_ONLY);
  return r;
}

struct Call {
  grpc::Status status;
  pb::ErrorDetail detail;
};

template <class Req, class Resp, class Method>
Call call(pb::FirewallControl::Stub& stub, Method method, const Req& req, Resp* resp) {
  grpc::ClientContext ctx;
  deadline(ctx);
  Call c;
  c.status = (stub.*method)(&ctx, req, resp);
  c.detail = detail_of(ctx);
  return c;
}

Call reserve(pb::FirewallControl::Stub& stub, const pb::ReserveBindingRequest& r,
             pb::ReserveBindingResponse* out = nullptr) {
  pb::ReserveBindingResponse local;
  return call(stub, &pb::FirewallControl::Stub::ReserveBinding, r, out != nullptr ? out : &local);
}

net::Endpoint ep(const pb::Endpoint& e) {
  return net::Endpoint(*net::IpAddress::from_bytes(e.ip()), static_cast<std::uint16_t>(e.port()));
}

}  // namespace

TEST_CASE("reserve, enable, get, list, release round trip over gRPC") {
  Agent agent(AccessPolicy::allow_all(), lab());
  auto stub = agent.insecure_stub();

  pb::GetCapabilitiesResponse caps;
  REQUIRE(call(*stub, &pb::FirewallControl::Stub::GetCapabilities, pb::GetCapabilitiesRequest{}, &caps).status.ok());
  CHECK(caps.capabilities().pools_size() == 1);
  CHECK(caps.capabilities().pools(0).first_port() == 40000);
  CHECK(caps.agent().agent_id() == "edge-1");
  CHECK(caps.agent().state_epoch() == 0xabcdULL);

  pb::ReserveBindingResponse reserved;
  const Call c = reserve(*stub, reserve_pair(4000), &reserved);
  REQUIRE(c.status.ok());
  CHECK(reserved.created());
  const pb::Binding& b = reserved.binding();
  CHECK(b.state() == pb::BINDING_STATE_RESERVED);
  CHECK(b.owner() == kOwner);
  CHECK(b.port_count() == 2);
  CHECK(b.public_endpoint().port() == 40000);
  CHECK(ep(b.public_endpoint()).to_string() == "203.0.113.1:40000");
  CHECK(b.lease().liveness() == pb::LIVENESS_LIFETIME_ONLY);
  CHECK(reserved.agent().agent_id() == "edge-1");
  agent.service->run_on_executor([&] {
    CHECK(agent.backend.mapping(*net::Endpoint::parse("203.0.113.1:40000")).has_value());
    CHECK(agent.backend.mapping(*net::Endpoint::parse("203.0.113.1:40001")).has_value());
  });

  pb::EnablePinholesRequest en;
  *en.mutable_meta() = meta();
  en.set_binding_id(b.binding_id());
  auto* remote = en.add_remotes();
  remote->set_ip(v4(198, 51, 100, 7));
  remote->set_port(30000);
  pb::EnablePinholesResponse enabled;
  REQUIRE(call(*stub, &pb::FirewallControl::Stub::EnablePinholes, en, &enabled).status.ok());
  CHECK(enabled.binding().state() == pb::BINDING_STATE_ENABLED);
  REQUIRE(enabled.binding().pinholes_size() == 1);
  CHECK(enabled.binding().pinholes(0).remote().port() == 30000);
  agent.service->run_on_executor([&] {
    CHECK(agent.backend
              .pinhole(*net::Endpoint::parse("198.51.100.7:30000"), *net::Endpoint::parse("10.0.0.2:4000"))
              .has_value());
  });

  pb::GetBindingRequest get;
  get.set_owner(kOwner);
  get.set_binding_id(b.binding_id());
  pb::GetBindingResponse got;
  REQUIRE(call(*stub, &pb::FirewallControl::Stub::GetBinding, get, &got).status.ok());
  CHECK(got.binding().generation() == enabled.binding().generation());

  pb::ListBindingsRequest list;
  list.set_owner(kOwner);
  pb::ListBindingsResponse listed;
  REQUIRE(call(*stub, &pb::FirewallControl::Stub::ListBindings, list, &listed).status.ok());
  REQUIRE(listed.bindings_size() == 1);
  CHECK(listed.bindings(0).binding_id() == b.binding_id());

  pb::ReleaseRequest rel;
  *rel.mutable_meta() = meta();
  rel.set_binding_id(b.binding_id());
  pb::ReleaseResponse released;
  REQUIRE(call(*stub, &pb::FirewallControl::Stub::Release, rel, &released).status.ok());
  CHECK(released.existed());
  REQUIRE(released.final_state_size() == 1);
  CHECK(released.final_state(0).state() == pb::BINDING_STATE_CLOSED);
  CHECK(released.final_state(0).cause() == pb::CAUSE_REQUESTED);
  agent.service->run_on_executor([&] {
    CHECK(agent.backend.element_count() == 0);
    CHECK(agent.conntrack.flushed().size() == 1);
  });

  // Idempotent delete: again => OK, existed=false.
  *rel.mutable_meta() = meta();
  REQUIRE(call(*stub, &pb::FirewallControl::Stub::Release, rel, &released).status.ok());
  CHECK_FALSE(released.existed());
}

TEST_CASE("bad requests get the exact canonical code and ErrorDetail, and change nothing") {
  Agent agent(AccessPolicy::allow_all(), lab());
  auto stub = agent.insecure_stub();
  const auto before = agent.observed();

  struct Case {
    const char* name;
    pb::ReserveBindingRequest request;
    grpc::StatusCode code;
    pb::ErrorReason reason;
    const char* field;
  };
  std::vector<Case> cases;
  {
    auto r = reserve_pair(4000);
    r.mutable_private_endpoint()->set_ip("\x0a\x00\x02");  // 3 bytes
    cases.push_back({"3-byte address", r, grpc::StatusCode::INVALID_ARGUMENT, pb::ERROR_REASON_BAD_TUPLE,
                     "private_endpoint.ip"});
  }
  {
    auto r = reserve_pair(0);
    cases.push_back({"port 0", r, grpc::StatusCode::INVALID_ARGUMENT, pb::ERROR_REASON_BAD_TUPLE,
                     "private_endpoint.port"});
  }
  {
    auto r = reserve_pair(70000);
    cases.push_back({"port 70000", r, grpc::StatusCode::INVALID_ARGUMENT, pb::ERROR_REASON_BAD_TUPLE,
                     "private_endpoint.port"});
  }
  {
    auto r = reserve_pair(4000);
    r.mutable_lease()->mutable_lifetime()->set_seconds(-5);
    cases.push_back({"negative lifetime", r, grpc::StatusCode::INVALID_ARGUMENT,
                     pb::ERROR_REASON_INVALID_FIELD, "lease.lifetime"});
  }
  {
    auto r = reserve_pair(4000);
    r.mutable_lease()->mutable_lifetime()->set_seconds(0);
    r.mutable_lease()->mutable_lifetime()->set_nanos(1000);  // below min_lifetime (1 s)
    cases.push_back({"lifetime below min", r, grpc::StatusCode::INVALID_ARGUMENT,
                     pb::ERROR_REASON_INVALID_FIELD, "lease.lifetime"});
  }
  {
    auto r = reserve_pair(4000);
    r.set_protocol(pb::PROTOCOL_UNSPECIFIED);
    cases.push_back({"protocol unspecified", r, grpc::StatusCode::INVALID_ARGUMENT,
                     pb::ERROR_REASON_INVALID_FIELD, "protocol"});
  }
  {
    auto r = reserve_pair(4000);
    r.set_protocol(static_cast<pb::Protocol>(99));
    cases.push_back({"protocol 99", r, grpc::StatusCode::INVALID_ARGUMENT,
                     pb::ERROR_REASON_UNSUPPORTED_PROTOCOL, ""});
  }
  {
    auto r = reserve_pair(4000);
    r.mutable_lease()->set_liveness(pb::LIVENESS_UNSPECIFIED);
    cases.push_back({"liveness unspecified", r, grpc::StatusCode::INVALID_ARGUMENT,
                     pb::ERROR_REASON_INVALID_FIELD, "lease.liveness"});
  }
  {
    auto r = reserve_pair(4000);
    r.set_parity(pb::PARITY_UNSPECIFIED);
    cases.push_back({"parity unspecified", r, grpc::StatusCode::INVALID_ARGUMENT,
                     pb::ERROR_REASON_INVALID_FIELD, "parity"});
  }
  {
    auto r = reserve_pair(4000);
    r.mutable_lease()->clear_lifetime();
    cases.push_back({"no hard limit", r, grpc::StatusCode::INVALID_ARGUMENT, pb::ERROR_REASON_INVALID_FIELD,
                     "lease.hard_limit"});
  }
  {
    auto r = reserve_pair(4000);
    r.mutable_private_endpoint()->set_ip(std::string(16, '\x20'));  // v6 private, v4-only pool
    cases.push_back({"family without pool", r, grpc::StatusCode::INVALID_ARGUMENT, pb::ERROR_REASON_BAD_TUPLE,
                     ""});
  }
  for (const Case& c : cases) {
    INFO(c.name);
    const Call got = reserve(*stub, c.request);
    CHECK(got.status.error_code() == c.code);
    CHECK(got.detail.reason() == c.reason);
    CHECK(got.detail.retry_class() == pb::RETRY_CLASS_NEVER);
    CHECK(got.detail.agent().agent_id() == "edge-1");
    if (*c.field != '\0') {
      CHECK(got.detail.field() == c.field);
      CHECK(got.status.error_message().find(c.field) != std::string::npos);
    }
  }
  CHECK(agent.observed() == before);

  SECTION("unknown binding id") {
    pb::GetBindingRequest get;
    get.set_owner(kOwner);
    get.set_binding_id("999");
    pb::GetBindingResponse out;
    Call got = call(*stub, &pb::FirewallControl::Stub::GetBinding, get, &out);
    CHECK(got.status.error_code() == grpc::StatusCode::NOT_FOUND);
    CHECK(got.detail.reason() == pb::ERROR_REASON_UNKNOWN_BINDING);

    get.set_binding_id("not-an-id");
    got = call(*stub, &pb::FirewallControl::Stub::GetBinding, get, &out);
    CHECK(got.status.error_code() == grpc::StatusCode::NOT_FOUND);
    CHECK(got.detail.reason() == pb::ERROR_REASON_UNKNOWN_BINDING);

    pb::EnablePinholesRequest en;
    *en.mutable_meta() = meta();
    en.set_binding_id("999");
    auto* r = en.add_remotes();
    r->set_ip(v4(198, 51, 100, 7));
    r->set_port(30000);
    pb::EnablePinholesResponse eout;
    got = call(*stub, &pb::FirewallControl::Stub::EnablePinholes, en, &eout);
    CHECK(got.status.error_code() == grpc::StatusCode::NOT_FOUND);
    CHECK(got.detail.reason() == pb::ERROR_REASON_UNKNOWN_BINDING);
    CHECK(got.detail.binding_id() == "999");

    pb::RenewRequest rn;
    *rn.mutable_meta() = meta();
    rn.set_binding_id("999");
    rn.mutable_lifetime()->set_seconds(60);
    pb::RenewResponse rout;
    got = call(*stub, &pb::FirewallControl::Stub::Renew, rn, &rout);
    CHECK(got.status.error_code() == grpc::StatusCode::NOT_FOUND);
    CHECK(agent.observed() == before);
  }

  SECTION("exhausted pool") {
    REQUIRE(reserve(*stub, reserve_pair(4000)).status.ok());
    REQUIRE(reserve(*stub, reserve_pair(4002)).status.ok());
    const auto full = agent.observed();
    const Call got = reserve(*stub, reserve_pair(4004));
    CHECK(got.status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED);
    CHECK(got.detail.reason() == pb::ERROR_REASON_NO_PORTS);
    CHECK(got.detail.retry_class() == pb::RETRY_CLASS_AFTER_DELAY);
    CHECK(got.detail.retry_after().seconds() == 30);
    CHECK(agent.observed() == full);
  }

  SECTION("empty oneofs and unset required messages") {
    pb::EnablePinholesRequest en;
    *en.mutable_meta() = meta();
    pb::EnablePinholesResponse eout;
    Call got = call(*stub, &pb::FirewallControl::Stub::EnablePinholes, en, &eout);
    CHECK(got.status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    CHECK(got.detail.field() == "target");

    pb::ListBindingsRequest list;
    list.set_owner(kOwner);
    list.set_page_size(5000);
    pb::ListBindingsResponse lout;
    got = call(*stub, &pb::FirewallControl::Stub::ListBindings, list, &lout);
    CHECK(got.status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    CHECK(got.detail.field() == "page_size");

    pb::SetDrainingRequest drain;
    pb::SetDrainingResponse dout;
    got = call(*stub, &pb::FirewallControl::Stub::SetDraining, drain, &dout);
    CHECK(got.status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    CHECK(agent.observed() == before);
  }
}

TEST_CASE("stale fencing token is refused and changes nothing") {
  Agent agent(AccessPolicy::allow_all(), lab());
  auto stub = agent.insecure_stub();
  pb::ReserveBindingResponse reserved;
  REQUIRE(reserve(*stub, reserve_pair(4000, kOwner, 7), &reserved).status.ok());
  const auto before = agent.observed();

  pb::ReleaseRequest rel;
  *rel.mutable_meta() = meta(kOwner, 6);
  rel.set_binding_id(reserved.binding().binding_id());
  pb::ReleaseResponse out;
  const Call got = call(*stub, &pb::FirewallControl::Stub::Release, rel, &out);
  CHECK(got.status.error_code() == grpc::StatusCode::FAILED_PRECONDITION);
  CHECK(got.detail.reason() == pb::ERROR_REASON_STALE_FENCING_TOKEN);
  CHECK(got.detail.retry_class() == pb::RETRY_CLASS_NEVER);
  CHECK(agent.observed() == before);

  const Call stale_reserve = reserve(*stub, reserve_pair(4002, kOwner, 3));
  CHECK(stale_reserve.status.error_code() == grpc::StatusCode::FAILED_PRECONDITION);
  CHECK(stale_reserve.detail.reason() == pb::ERROR_REASON_STALE_FENCING_TOKEN);
  CHECK(agent.observed() == before);
}

TEST_CASE("drain refuses new bindings with UNAVAILABLE / DRAINING and keeps existing ones") {
  Agent agent(AccessPolicy::allow_all(), lab());
  auto stub = agent.insecure_stub();
  REQUIRE(reserve(*stub, reserve_pair(4000)).status.ok());
  pb::SetDrainingRequest drain;
  drain.set_mode(pb::SetDrainingRequest::MODE_DRAIN);
  pb::SetDrainingResponse dout;
  REQUIRE(call(*stub, &pb::FirewallControl::Stub::SetDraining, drain, &dout).status.ok());
  CHECK(dout.draining());
  CHECK(dout.bindings() == 1);
  const Call got = reserve(*stub, reserve_pair(4002));
  CHECK(got.status.error_code() == grpc::StatusCode::UNAVAILABLE);
  CHECK(got.detail.reason() == pb::ERROR_REASON_DRAINING);
  CHECK(got.detail.retry_class() == pb::RETRY_CLASS_OTHER_AGENT);
  drain.set_mode(pb::SetDrainingRequest::MODE_RESUME);
  REQUIRE(call(*stub, &pb::FirewallControl::Stub::SetDraining, drain, &dout).status.ok());
  CHECK(reserve(*stub, reserve_pair(4002)).status.ok());
}

TEST_CASE("mTLS: certificates required, identities mapped to owners") {
  testing::TestPki pki;
  const auto server_cert = pki.issue_server();
  const auto client_a = pki.issue_client("controller-a", "spiffe://test/controller/a");
  const auto client_b = pki.issue_client("controller-b", "spiffe://test/controller/b");
  const auto client_c = pki.issue_client("ops-console", "");  // identity by CN only
  const auto rogue = testing::TestPki::rogue().issue_client("controller-a", "spiffe://test/controller/a");

  AccessPolicy policy({
      {"spiffe://test/controller/a", {"sbc-a/*"}, false},
      {"spiffe://test/controller/b", {"sbc-b/shard-1"}, false},
      {"ops-console", {"*"}, true},
  });
  ServerOptions options;
  options.tls = TlsMaterial{server_cert.cert, server_cert.key, pki.ca_pem()};
  Agent agent(std::move(policy), options);

  SECTION("a client without a certificate is refused") {
    auto stub = agent.tls_stub(pki.ca_pem());
    const Call got = reserve(*stub, reserve_pair(4000));
    CHECK(got.status.error_code() == grpc::StatusCode::UNAVAILABLE);
    CHECK(agent.observed() == std::make_tuple(std::size_t{0}, std::size_t{0}, std::uint64_t{0}));
  }

  SECTION("a certificate from another CA is refused") {
    auto stub = agent.tls_stub(pki.ca_pem(), rogue.cert, rogue.key);
    CHECK(reserve(*stub, reserve_pair(4000)).status.error_code() == grpc::StatusCode::UNAVAILABLE);
  }

  SECTION("plaintext is refused") {
    auto stub = agent.insecure_stub();
    CHECK(reserve(*stub, reserve_pair(4000)).status.error_code() == grpc::StatusCode::UNAVAILABLE);
  }

  SECTION("each identity acts only for its owners") {
    auto a = agent.tls_stub(pki.ca_pem(), client_a.cert, client_a.key);
    auto b = agent.tls_stub(pki.ca_pem(), client_b.cert, client_b.key);
    pb::ReserveBindingResponse reserved;
    const Call ok = reserve(*a, reserve_pair(4000, "sbc-a/shard-1"), &reserved);
    REQUIRE(ok.status.ok());
    const auto before = agent.observed();

    const Call denied = reserve(*b, reserve_pair(4002, "sbc-a/shard-1"));
    CHECK(denied.status.error_code() == grpc::StatusCode::PERMISSION_DENIED);
    CHECK(denied.detail.reason() == pb::ERROR_REASON_REALM_DENIED);
    CHECK(denied.status.error_message().find("spiffe://test/controller/b") != std::string::npos);

    pb::ReleaseRequest rel;
    *rel.mutable_meta() = meta("sbc-a/shard-1");
    rel.set_binding_id(reserved.binding().binding_id());
    pb::ReleaseResponse rout;
    CHECK(call(*b, &pb::FirewallControl::Stub::Release, rel, &rout).status.error_code() ==
          grpc::StatusCode::PERMISSION_DENIED);

    // B reads A's binding through its own owner: the manager's owner check answers.
    pb::GetBindingRequest get;
    get.set_owner("sbc-b/shard-1");
    get.set_binding_id(reserved.binding().binding_id());
    pb::GetBindingResponse gout;
    const Call not_owner = call(*b, &pb::FirewallControl::Stub::GetBinding, get, &gout);
    CHECK(not_owner.status.error_code() == grpc::StatusCode::PERMISSION_DENIED);
    CHECK(not_owner.detail.reason() == pb::ERROR_REASON_NOT_OWNER);

    // Listing every owner needs the admin role.
    pb::ListBindingsRequest all;
    pb::ListBindingsResponse lout;
    CHECK(call(*a, &pb::FirewallControl::Stub::ListBindings, all, &lout).status.error_code() ==
          grpc::StatusCode::PERMISSION_DENIED);
    auto ops = agent.tls_stub(pki.ca_pem(), client_c.cert, client_c.key);
    REQUIRE(call(*ops, &pb::FirewallControl::Stub::ListBindings, all, &lout).status.ok());
    CHECK(lout.bindings_size() == 1);

    // Drain is admin-only too.
    pb::SetDrainingRequest drain;
    drain.set_mode(pb::SetDrainingRequest::MODE_DRAIN);
    pb::SetDrainingResponse dout;
    CHECK(call(*a, &pb::FirewallControl::Stub::SetDraining, drain, &dout).status.error_code() ==
          grpc::StatusCode::PERMISSION_DENIED);
    CHECK(agent.observed() == before);
  }

  SECTION("a Session claiming another identity's owner is refused") {
    auto b = agent.tls_stub(pki.ca_pem(), client_b.cert, client_b.key);
    grpc::ClientContext ctx;
    deadline(ctx);
    auto stream = b->Session(&ctx);
    pb::SessionRequest hello;
    auto* claim = hello.mutable_hello()->add_owners();
    claim->set_owner("sbc-a/shard-1");
    claim->set_fencing_token(1);
    REQUIRE(stream->Write(hello));
    pb::SessionResponse resp;
    CHECK_FALSE(stream->Read(&resp));
    const grpc::Status st = stream->Finish();
    CHECK(st.error_code() == grpc::StatusCode::PERMISSION_DENIED);
    CHECK(detail_of(ctx).reason() == pb::ERROR_REASON_REALM_DENIED);
  }
}

TEST_CASE("Session stream: hello, heartbeat, events, resume, end -> orphaned") {
  Agent agent(AccessPolicy::allow_all(), lab());
  auto stub = agent.insecure_stub();
  grpc::ClientContext ctx;
  deadline(ctx);
  auto stream = stub->Session(&ctx);

  pb::SessionRequest hello;
  hello.mutable_hello()->set_protocol_version("fcp.v1");
  hello.mutable_hello()->set_controller_instance("test");
  auto* claim = hello.mutable_hello()->add_owners();
  claim->set_owner(kOwner);
  claim->set_fencing_token(5);
  REQUIRE(stream->Write(hello));
  pb::SessionResponse resp;
  REQUIRE(stream->Read(&resp));
  REQUIRE(resp.has_hello_ack());
  const std::string session_id = resp.hello_ack().session_id();
  CHECK(session_id == "1");
  CHECK(resp.hello_ack().session_ttl().seconds() == 15);
  CHECK(resp.hello_ack().heartbeat_interval().seconds() == 5);
  CHECK(resp.hello_ack().capabilities().pools_size() == 1);
  CHECK(resp.agent().state_epoch() == 0xabcdULL);

  pb::SessionRequest hb;
  hb.mutable_heartbeat();
  REQUIRE(stream->Write(hb));
  REQUIRE(stream->Read(&resp));
  CHECK(resp.has_heartbeat_ack());

  // A session-bound binding with a short lifetime; its expiry is pushed to the stream.
  auto r = reserve_pair(4000);
  r.mutable_lease()->set_liveness(pb::LIVENESS_SESSION);
  r.mutable_lease()->mutable_lifetime()->set_seconds(2);
  pb::ReserveBindingResponse reserved;
  REQUIRE(reserve(*stub, r, &reserved).status.ok());
  agent.clock.advance(3s);
  agent.service->run_timers_now();
  REQUIRE(stream->Read(&resp));
  REQUIRE(resp.has_event());
  CHECK(resp.event().kind() == pb::Event::KIND_EXPIRED);
  CHECK(resp.event().cause() == pb::CAUSE_HARD_DEADLINE);
  CHECK(resp.event().binding_id() == reserved.binding().binding_id());
  CHECK(resp.event().owner() == kOwner);
  CHECK(resp.event().state_epoch() == 0xabcdULL);
  const std::uint64_t expired_seq = resp.event().seq();

  // Resume from before the event replays it (at-least-once); a wrong epoch => resync.
  pb::SessionRequest resume;
  resume.mutable_resume()->set_state_epoch(0xabcdULL);
  resume.mutable_resume()->set_last_seq(expired_seq - 1);
  REQUIRE(stream->Write(resume));
  REQUIRE(stream->Read(&resp));
  REQUIRE(resp.has_event());
  CHECK(resp.event().seq() == expired_seq);
  resume.mutable_resume()->set_state_epoch(0x1234ULL);
  REQUIRE(stream->Write(resume));
  REQUIRE(stream->Read(&resp));
  CHECK(resp.event().kind() == pb::Event::KIND_RESYNC_REQUIRED);

  // A live binding, then the stream ends: after the session TTL the binding is ORPHANED.
  auto r2 = reserve_pair(4002);
  r2.mutable_lease()->set_liveness(pb::LIVENESS_SESSION);
  pb::ReserveBindingResponse live;
  REQUIRE(reserve(*stub, r2, &live).status.ok());

  // An adopt into this session by the same identity works (equal token, live holder = us).
  pb::AdoptRequest adopt;
  *adopt.mutable_meta() = meta();
  adopt.set_session_id(session_id);
  pb::AdoptResponse aout;
  REQUIRE(call(*stub, &pb::FirewallControl::Stub::Adopt, adopt, &aout).status.ok());

  stream->WritesDone();
  CHECK_FALSE(stream->Read(&resp));
  CHECK(stream->Finish().ok());
  for (int i = 0; i < 100 && agent.service->live_streams() != 0; ++i) {
    std::this_thread::sleep_for(10ms);  // gRPC delivers the close asynchronously; no logic waits on it
  }
  agent.clock.advance(16s);
  agent.service->run_timers_now();
  pb::GetBindingRequest get;
  get.set_owner(kOwner);
  get.set_binding_id(live.binding().binding_id());
  pb::GetBindingResponse got;
  REQUIRE(call(*stub, &pb::FirewallControl::Stub::GetBinding, get, &got).status.ok());
  CHECK(got.binding().state() == pb::BINDING_STATE_ORPHANED);
  CHECK(got.binding().lease().has_orphan_deadline());
}

TEST_CASE("Session stream: first message must be hello, and watchers see events without claiming") {
  Agent agent(AccessPolicy::allow_all(), lab());
  auto stub = agent.insecure_stub();
  {
    grpc::ClientContext ctx;
    deadline(ctx);
    auto stream = stub->Session(&ctx);
    pb::SessionRequest hb;
    hb.mutable_heartbeat();
    REQUIRE(stream->Write(hb));
    pb::SessionResponse resp;
    CHECK_FALSE(stream->Read(&resp));
    CHECK(stream->Finish().error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  }
  grpc::ClientContext ctx;
  deadline(ctx);
  auto watcher = stub->Session(&ctx);
  pb::SessionRequest hello;
  hello.mutable_hello()->add_watch_owners("*");
  REQUIRE(watcher->Write(hello));
  pb::SessionResponse resp;
  REQUIRE(watcher->Read(&resp));
  REQUIRE(resp.has_hello_ack());

  // The watcher holds no owner, so a lifetime-only binding of kOwner stays with nobody's
  // session, and its expiry still reaches the watcher.
  auto r = reserve_pair(4000);
  r.mutable_lease()->mutable_lifetime()->set_seconds(1);
  REQUIRE(reserve(*stub, r).status.ok());
  agent.clock.advance(2s);
  agent.service->run_timers_now();
  REQUIRE(watcher->Read(&resp));
  CHECK(resp.event().kind() == pb::Event::KIND_EXPIRED);
  CHECK(resp.event().owner() == kOwner);
  ctx.TryCancel();
}

TEST_CASE("Apply: reserve + enable by natural key in one batch, a bad op changes nothing") {
  Agent agent(AccessPolicy::allow_all(), lab());
  auto stub = agent.insecure_stub();
  pb::ApplyRequest batch;
  *batch.mutable_meta() = meta();
  auto* op1 = batch.add_operations()->mutable_reserve();
  *op1 = reserve_pair(4000);
  op1->clear_meta();
  op1->set_natural_key("call-1/audio");
  auto* op2 = batch.add_operations()->mutable_enable();
  op2->set_natural_key("call-1/audio");
  auto* remote = op2->add_remotes();
  remote->set_ip(v4(198, 51, 100, 7));
  remote->mutable_latch();

  SECTION("nested meta is refused, nothing changes") {
    const auto before = agent.observed();
    *op2->mutable_meta() = meta();
    pb::ApplyResponse out;
    const Call got = call(*stub, &pb::FirewallControl::Stub::Apply, batch, &out);
    CHECK(got.status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    CHECK(got.detail.field() == "operations[1].enable.meta");
    CHECK(agent.observed() == before);
  }
  SECTION("applied atomically; a retry with the same request_id returns the same result") {
    pb::ApplyResponse out;
    REQUIRE(call(*stub, &pb::FirewallControl::Stub::Apply, batch, &out).status.ok());
    REQUIRE(out.results_size() == 2);
    CHECK(out.results(0).created());
    REQUIRE(out.results(1).bindings_size() == 1);
    CHECK(out.results(1).bindings(0).state() == pb::BINDING_STATE_ENABLED);
    CHECK(out.results(1).bindings(0).pinholes(0).remote().has_latch());
    const auto after = agent.observed();
    pb::ApplyResponse again;
    REQUIRE(call(*stub, &pb::FirewallControl::Stub::Apply, batch, &again).status.ok());
    CHECK(again.results(1).bindings(0).binding_id() == out.results(1).bindings(0).binding_id());
    CHECK(agent.observed() == after);
  }
}
