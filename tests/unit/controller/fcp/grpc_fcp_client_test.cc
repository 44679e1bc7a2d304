// GrpcFcpClient against a real agent in process (FcpService + PinholeManager + FakeBackend on
// 127.0.0.1). Agent time (leases, expiry, session TTL) moves only with FakeClock::advance +
// run_timers(); the client's §8.5 check reads the same FakeClock. gRPC and the client's own timers
// (heartbeats, backoff) run on real time; every wait is bounded (Loop::run_until with a cap).
#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>
#include <grpcpp/grpcpp.h>
#include <grpcpp/support/client_interceptor.h>

#include "common/time/fake_clock.h"
#include "controller/fcp/grpc_fcp_client.h"
#include "fcp/v1/fcp.grpc.pb.h"
#include "tests/unit/controller/fcp/client_harness.h"
#include "tests/unit/controller/fcp/in_process_agent.h"
#include "tests/unit/pinhole-agent/service/test_pki.h"

using namespace std::chrono_literals;
using namespace portcullis;
using portcullis::testing::await;
using portcullis::testing::InProcessAgent;
using portcullis::testing::Loop;
using portcullis::testing::Recorder;
namespace pb = ::portcullis::fcp::v1;

namespace {

constexpr const char* kOwner = "sbc-a/shard-1";

fcp::GrpcFcpClientConfig client_config(const std::vector<const InProcessAgent*>& agents, std::uint64_t token = 5) {
  fcp::GrpcFcpClientConfig c;
  c.owner = kOwner;
  c.fencing_token = token;
  c.controller_instance = "fcp-client-test";
  for (const InProcessAgent* a : agents) {
    c.agents.push_back(fcp::AgentEndpoint{a->agent_id(), a->target(), "", ""});
  }
  if (!agents.empty()) {
    REQUIRE(c.directory.add("10.0.0.0/8", agents[0]->agent_id()).ok());
  }
  c.tls.insecure_lab = true;
  // Generous per-attempt deadlines: sanitizer builds on a shared 2-core box are slow, and these
  // tests are about behaviour, not latency (the deadline test sets its own).
  c.retry.attempt_timeout = 3s;
  c.retry.total_budget = 8s;
  c.session.heartbeat_override = 50ms;
  c.session.reconnect_initial = 20ms;
  c.session.reconnect_max = 200ms;
  c.session.channel_reconnect_max = 200ms;
  return c;
}

std::unique_ptr<fcp::GrpcFcpClient> make_client(Loop& loop, fcp::GrpcFcpClientConfig config, const Clock& clock,
                                                Recorder* rec = nullptr) {
  auto c = fcp::GrpcFcpClient::create(loop.io.get_executor(), std::move(config), clock);
  REQUIRE(c.ok());
  auto client = std::move(*c);
  client->set_subscriber(rec);
  client->start();
  return client;
}

bool session_up(const fcp::GrpcFcpClient& c, const std::string& agent = "edge-1") {
  const auto s = c.stats(agent);
  return s && s->session == fcp::SessionState::kUp;
}

fcp::ReserveRequest pair_request(std::uint16_t private_port, const std::string& group = "call-1",
                                 fcp::Liveness liveness = fcp::Liveness::kSession) {
  fcp::ReserveRequest r;
  r.group_id = group;
  r.natural_key = group + "/audio/" + std::to_string(private_port);
  r.private_endpoint = *net::Endpoint::parse("10.0.0.2:" + std::to_string(private_port));
  r.port_count = 2;
  r.parity = fcp::Parity::kEven;
  r.lease.lifetime = 1h;
  r.lease.liveness = liveness;
  return r;
}

fcp::FcpResult<fcp::ReserveResult> reserve(Loop& loop, fcp::FcpClient& c, fcp::ReserveRequest r) {
  return await<fcp::ReserveResult>(loop, [&](auto cb) { c.reserve(std::move(r), cb); });
}

// ---- an interceptor that loses ReserveBinding answers after the agent applied them -----------

struct LossControl {
  std::mutex mu;
  int lose = 0;  // answers still to lose
  std::vector<std::string> request_ids;
};

class LoseAnswers final : public grpc::experimental::Interceptor {
 public:
  LoseAnswers(grpc::experimental::ClientRpcInfo* info, std::shared_ptr<LossControl> control)
      : reserve_(std::string_view(info->method()) == "/portcullis.fcp.v1.FirewallControl/ReserveBinding"),
        control_(std::move(control)) {}
  void Intercept(grpc::experimental::InterceptorBatchMethods* m) override {
    using grpc::experimental::InterceptionHookPoints;
    if (reserve_ && m->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_MESSAGE)) {
      if (const auto* msg = static_cast<const pb::ReserveBindingRequest*>(m->GetSendMessage())) {
        std::lock_guard lock(control_->mu);
        control_->request_ids.push_back(msg->meta().request_id());
      }
    }
    if (reserve_ && m->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_STATUS)) {
      std::lock_guard lock(control_->mu);
      if (control_->lose > 0) {
        --control_->lose;
        *m->GetRecvStatus() = grpc::Status(grpc::StatusCode::UNAVAILABLE, "answer lost on purpose (test)");
      }
    }
    m->Proceed();
  }

 private:
  bool reserve_;
  std::shared_ptr<LossControl> control_;
};

class LoseAnswersFactory final : public grpc::experimental::ClientInterceptorFactoryInterface {
 public:
  explicit LoseAnswersFactory(std::shared_ptr<LossControl> c) : control_(std::move(c)) {}
  grpc::experimental::Interceptor* CreateClientInterceptor(grpc::experimental::ClientRpcInfo* info) override {
    return new LoseAnswers(info, control_);
  }

 private:
  std::shared_ptr<LossControl> control_;
};

}  // namespace

TEST_CASE("reserve, enable, get, list, renew, release round trip through GrpcFcpClient", "[fcp][client][grpc]") {
  FakeClock clock;
  Loop loop;
  InProcessAgent agent(clock);
  Recorder rec;
  auto config = client_config({&agent});
  config.list_page_size = 1;  // list() must follow page tokens
  auto client = make_client(loop, std::move(config), clock, &rec);
  REQUIRE(loop.run_until([&] { return session_up(*client); }));

  // The directory routes 10.0.0.2 to edge-1; RTP/RTCP pair on an even public port.
  auto reserved = reserve(loop, *client, pair_request(4000));
  REQUIRE(reserved.ok());
  const fcp::BindingInfo b = reserved->binding;
  CHECK(reserved->created);
  CHECK(b.agent == "edge-1");
  CHECK(b.state == fcp::BindingState::kReserved);
  CHECK(b.owner == kOwner);
  CHECK(b.group_id == "call-1");
  CHECK(b.port_count == 2);
  REQUIRE(b.public_endpoints().size() == 2);
  CHECK(b.public_endpoints()[0].to_string() == "203.0.113.1:40000");
  CHECK(b.public_endpoints()[1].to_string() == "203.0.113.1:40001");
  CHECK(b.lease.liveness == fcp::Liveness::kSession);
  CHECK(b.lease.hard_deadline.has_value());

  // Same natural key, same spec: the same binding, not a second one (idempotent create).
  auto again = reserve(loop, *client, pair_request(4000));
  REQUIRE(again.ok());
  CHECK_FALSE(again->created);
  CHECK(again->binding.binding_id == b.binding_id);

  fcp::EnableRequest en;
  en.binding = b.ref();
  en.remotes = {fcp::RemotePeer::exact(*net::Endpoint::parse("198.51.100.7:30000"))};
  auto enabled = await<fcp::BindingInfo>(loop, [&](auto cb) { client->enable(en, cb); });
  REQUIRE(enabled.ok());
  CHECK(enabled->state == fcp::BindingState::kEnabled);
  REQUIRE(enabled->pinholes.size() == 1);
  CHECK(enabled->pinholes[0].remote.port == std::optional<std::uint16_t>(30000));
  CHECK(enabled->generation > b.generation);

  auto by_key = await<fcp::BindingInfo>(
      loop, [&](auto cb) { client->get(fcp::NaturalKeyRef{"edge-1", b.natural_key}, cb); });
  REQUIRE(by_key.ok());
  CHECK(by_key->binding_id == b.binding_id);
  CHECK(by_key->generation == enabled->generation);

  auto second = reserve(loop, *client, pair_request(4002));
  REQUIRE(second.ok());
  CHECK(second->binding.public_endpoint.port() == 40002);

  auto listed = await<std::vector<fcp::BindingInfo>>(loop, [&](auto cb) { client->list({"edge-1", "call-1"}, cb); });
  REQUIRE(listed.ok());
  REQUIRE(listed->size() == 2);
  CHECK(listed->at(0).binding_id != listed->at(1).binding_id);

  auto renewed = await<std::vector<fcp::BindingInfo>>(
      loop, [&](auto cb) { client->renew(fcp::RenewRequest{b.ref(), 2h, ""}, cb); });
  REQUIRE(renewed.ok());
  REQUIRE(renewed->size() == 1);
  CHECK(renewed->front().state == fcp::BindingState::kEnabled);

  // Release the whole call (MIDCOM group): both bindings close, the kernel elements are gone.
  auto released = await<fcp::ReleaseResult>(
      loop, [&](auto cb) { client->release(fcp::ReleaseRequest{fcp::GroupRef{"edge-1", "call-1"}, ""}, cb); });
  REQUIRE(released.ok());
  CHECK(released->existed);
  REQUIRE(released->final_state.size() == 2);
  CHECK(released->final_state[0].state == fcp::BindingState::kClosed);
  CHECK(released->final_state[0].cause == fcp::Cause::kRequested);
  CHECK(agent.binding_count() == 0);
  agent.on_executor([](agent::PinholeManager&, agent::FakeBackend& be) { CHECK(be.element_count() == 0); });

  // Idempotent delete; unknown binding is NOT_FOUND and never retried.
  auto again_released = await<fcp::ReleaseResult>(
      loop, [&](auto cb) { client->release(fcp::ReleaseRequest{b.ref(), ""}, cb); });
  REQUIRE(again_released.ok());
  CHECK_FALSE(again_released->existed);
  auto missing = await<fcp::BindingInfo>(loop, [&](auto cb) { client->get(b.ref(), cb); });
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().error.code == ErrorCode::kNotFound);
  CHECK(missing.error().reason == fcp::FcpReason::kUnknownBinding);
  CHECK(missing.error().retry_class == fcp::RetryClass::kNever);
  CHECK(missing.error().attempts == 1);

  // Every answer carried AgentInfo; nothing changed about the agent.
  REQUIRE(client->agent_info("edge-1").has_value());
  CHECK(client->agent_info("edge-1")->state_epoch == agent.state_epoch());
  CHECK(rec.losses.empty());
  CHECK(rec.reconciles.empty());
}

TEST_CASE("no route, bad request and unknown agent fail without touching the network", "[fcp][client][grpc]") {
  FakeClock clock;
  Loop loop;
  InProcessAgent agent(clock);
  auto client = make_client(loop, client_config({&agent}), clock);

  fcp::ReserveRequest r = pair_request(4000);
  r.private_endpoint = *net::Endpoint::parse("172.16.0.9:4000");
  auto no_route = reserve(loop, *client, r);
  REQUIRE_FALSE(no_route.ok());
  CHECK(no_route.error().reason == fcp::FcpReason::kNoRoute);

  auto unknown = await<fcp::BindingInfo>(loop, [&](auto cb) { client->get(fcp::BindingRef{"edge-9", "1"}, cb); });
  REQUIRE_FALSE(unknown.ok());
  CHECK(unknown.error().reason == fcp::FcpReason::kNoRoute);

  // The agent validates; the client reports its reason and field, and does not retry.
  fcp::ReserveRequest bad = pair_request(4000);
  bad.parity = fcp::Parity::kAny;  // a pair needs even parity
  auto refused = reserve(loop, *client, bad);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().error.code == ErrorCode::kInvalidArgument);
  CHECK(refused.error().reason == fcp::FcpReason::kInvalidField);
  CHECK(refused.error().retry_class == fcp::RetryClass::kNever);
  CHECK(refused.error().attempts == 1);
  CHECK_FALSE(refused.error().field.empty());
  CHECK(agent.binding_count() == 0);
}

TEST_CASE("a lost answer is retried with the same request_id and reserves once", "[fcp][client][grpc][idempotency]") {
  FakeClock clock;
  Loop loop;
  InProcessAgent agent(clock);
  auto control = std::make_shared<LossControl>();
  auto config = client_config({&agent});
  config.interceptors = [control] {
    std::vector<std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>> v;
    v.push_back(std::make_unique<LoseAnswersFactory>(control));
    return v;
  };
  auto client = make_client(loop, std::move(config), clock);
  REQUIRE(loop.run_until([&] { return session_up(*client); }));

  SECTION("inside the client's budget") {
    control->lose = 1;
    auto r = reserve(loop, *client, pair_request(4000));
    REQUIRE(r.ok());
    // The agent's dedup cache answered the retry with the first response (created=true).
    CHECK(r->created);
    std::lock_guard lock(control->mu);
    REQUIRE(control->request_ids.size() == 2);
    CHECK(control->request_ids[0] == control->request_ids[1]);
    CHECK(client->stats("edge-1")->rpc_retries == 1);
  }

  SECTION("by the caller, with the request_id from the error") {
    control->lose = 100;  // every attempt of the first call loses its answer
    fcp::ReserveRequest req = pair_request(4000);
    req.natural_key.clear();  // only the request_id makes this idempotent now
    auto failed = reserve(loop, *client, req);
    REQUIRE_FALSE(failed.ok());
    CHECK(failed.error().reason == fcp::FcpReason::kTransport);
    CHECK(failed.error().retry_class == fcp::RetryClass::kSameRequest);
    CHECK(failed.error().retryable());
    CHECK(failed.error().attempts >= 2);
    REQUIRE_FALSE(failed.error().request_id.empty());
    {
      std::lock_guard lock(control->mu);
      control->lose = 0;
    }
    req.request_id = failed.error().request_id;
    auto retried = reserve(loop, *client, req);
    REQUIRE(retried.ok());
    CHECK(retried->created);  // the first response, replayed
  }
  // Either way: one binding, two ports, on the agent.
  CHECK(agent.binding_count() == 1);
  agent.on_executor([](agent::PinholeManager&, agent::FakeBackend& be) {
    CHECK(be.mapping(*net::Endpoint::parse("203.0.113.1:40000")).has_value());
    CHECK_FALSE(be.mapping(*net::Endpoint::parse("203.0.113.1:40002")).has_value());
  });
}

TEST_CASE("an agent that does not answer in time surfaces DEADLINE_EXCEEDED as retryable", "[fcp][client][grpc]") {
  FakeClock clock;
  Loop loop;
  InProcessAgent agent(clock);
  auto config = client_config({&agent});
  config.retry.attempt_timeout = 150ms;
  config.retry.total_budget = 400ms;
  auto client = make_client(loop, std::move(config), clock);
  REQUIRE(loop.run_until([&] { return session_up(*client); }));

  // Wedge the agent's mutation executor (the only thread that answers RPCs).
  std::promise<void> entered;
  std::promise<void> gate;
  std::shared_future<void> open = gate.get_future().share();
  std::thread wedge([&] { agent.service().run_on_executor([&] {
    entered.set_value();
    open.wait_for(20s);  // bounded; the test opens it right after the assertion
  }); });
  entered.get_future().wait();

  const auto started = std::chrono::steady_clock::now();
  auto r = reserve(loop, *client, pair_request(4000));
  const auto took = std::chrono::steady_clock::now() - started;
  gate.set_value();
  wedge.join();

  REQUIRE_FALSE(r.ok());
  CHECK(r.error().error.code == ErrorCode::kDeadlineExceeded);
  CHECK(r.error().reason == fcp::FcpReason::kDeadline);
  CHECK(r.error().retry_class == fcp::RetryClass::kSameRequest);
  CHECK(r.error().retryable());
  CHECK(r.error().attempts >= 2);
  CHECK_FALSE(r.error().request_id.empty());
  CHECK(took < 2s);  // the whole budget is far inside SIP's patience (retry_policy.h)

  // Retrying later with the same request_id is safe: at most one binding, whatever the agent did
  // with the queued attempts.
  fcp::ReserveRequest again = pair_request(4000);
  again.request_id = r.error().request_id;
  auto ok = await<fcp::ReserveResult>(loop, [&](auto cb) { client->reserve(again, cb); });
  REQUIRE(ok.ok());
  CHECK(agent.binding_count() == 1);
}

TEST_CASE("session: hello + heartbeats keep the lease, without them bindings are orphaned", "[fcp][client][session]") {
  FakeClock clock;
  Loop loop;
  InProcessAgent agent(clock);
  Recorder rec;
  auto client = make_client(loop, client_config({&agent}), clock, &rec);
  REQUIRE(loop.run_until([&] { return session_up(*client); }));
  CHECK(client->stats("edge-1")->sessions_opened == 1);
  CHECK_FALSE(client->stats("edge-1")->session_id.empty());
  REQUIRE_FALSE(rec.sessions.empty());
  CHECK(rec.sessions.back().state == fcp::SessionState::kUp);

  auto r = reserve(loop, *client, pair_request(4000));
  REQUIRE(r.ok());
  const std::string id = r->binding.binding_id;

  // 30 s of agent time in 10 s steps (TTL 15 s): a heartbeat lands after every step.
  for (int i = 0; i < 3; ++i) {
    clock.advance(10s);
    const auto acks = client->stats("edge-1")->heartbeat_acks;
    REQUIRE(loop.run_until([&] { return client->stats("edge-1")->heartbeat_acks >= acks + 2; }));
    agent.run_timers();
    CHECK(agent.state_of(kOwner, id) == agent::BindingState::kReserved);
  }
  CHECK(client->stats("edge-1")->sessions_opened == 1);  // never had to reconnect
  CHECK(client->stats("edge-1")->heartbeats_sent >= 6);

  // The controller goes away: its stream ends, the lease lapses after the TTL, orphans.
  client.reset();
  for (int i = 0; i < 200 && agent.service().live_streams() != 0; ++i) {
    std::this_thread::sleep_for(10ms);  // gRPC delivers the close asynchronously; no logic waits on it
  }
  clock.advance(16s);
  agent.run_timers();
  CHECK(agent.state_of(kOwner, id) == agent::BindingState::kOrphaned);
}

TEST_CASE("an EXPIRED event reaches the subscriber once", "[fcp][client][session][events]") {
  FakeClock clock;
  Loop loop;
  InProcessAgent agent(clock);
  Recorder rec;
  auto client = make_client(loop, client_config({&agent}), clock, &rec);
  REQUIRE(loop.run_until([&] { return session_up(*client); }));

  fcp::ReserveRequest req = pair_request(4000);
  req.lease.lifetime = 2s;
  auto r = reserve(loop, *client, req);
  REQUIRE(r.ok());

  clock.advance(3s);
  agent.run_timers();
  REQUIRE(loop.run_until([&] { return !rec.events.empty(); }));
  const fcp::FcpEvent& e = rec.events.front();
  CHECK(e.kind == fcp::EventKind::kExpired);
  CHECK(e.cause == fcp::Cause::kHardDeadline);
  CHECK(e.agent == "edge-1");
  CHECK(e.owner == kOwner);
  CHECK(e.binding_id == r->binding.binding_id);
  CHECK(e.state_epoch == agent.state_epoch());
  CHECK(e.group_id == "call-1");
  CHECK(client->stats("edge-1")->events_delivered == 1);
}

TEST_CASE("agent restart with the same state epoch: reconnect, adopt, reconcile, calls survive", "[fcp][client][restart]") {
  FakeClock clock;
  Loop loop;
  InProcessAgent agent(clock);
  Recorder rec;
  auto client = make_client(loop, client_config({&agent}), clock, &rec);
  REQUIRE(loop.run_until([&] { return session_up(*client); }));
  auto r = reserve(loop, *client, pair_request(4000));
  REQUIRE(r.ok());
  const auto instance_before = client->agent_info("edge-1")->instance_id;

  agent.restart_keep_state();

  // The stream broke; the client reconnects to the new process, whose HelloAck shows a new
  // instance_id with the same state_epoch: Adopt, then on_reconcile_needed(kAgentRestarted).
  REQUIRE(loop.run_until([&] { return rec.has_reconcile(fcp::ReconcileReason::kAgentRestarted); }));
  CHECK(client->stats("edge-1")->sessions_opened == 2);
  CHECK(client->stats("edge-1")->restarts_seen == 1);
  CHECK(client->stats("edge-1")->adopts == 1);
  CHECK(rec.losses.empty());
  const auto& need = rec.reconciles.back();
  CHECK(need.agent == "edge-1");
  CHECK(need.info.instance_id != instance_before);
  CHECK(need.info.state_epoch == agent.state_epoch());
  CHECK(need.adopted + need.already_bound == 1);

  // The recovered binding is live again (not orphaned) and keeps its public port.
  auto got = await<fcp::BindingInfo>(loop, [&](auto cb) { client->get(r->binding.ref(), cb); });
  REQUIRE(got.ok());
  CHECK(got->state == fcp::BindingState::kReserved);
  CHECK(got->public_endpoint == r->binding.public_endpoint);
}

TEST_CASE("agent restart with a new state epoch: the re-create handler runs", "[fcp][client][restart]") {
  FakeClock clock;
  Loop loop;
  InProcessAgent agent(clock);
  Recorder rec;
  auto client = make_client(loop, client_config({&agent}), clock, &rec);
  REQUIRE(loop.run_until([&] { return session_up(*client); }));
  auto r = reserve(loop, *client, pair_request(4000));
  REQUIRE(r.ok());
  const std::uint64_t old_epoch = agent.state_epoch();

  agent.restart_lose_state();

  REQUIRE(loop.run_until([&] { return !rec.losses.empty(); }));
  REQUIRE(rec.losses.size() == 1);
  CHECK(rec.losses[0].agent == "edge-1");
  REQUIRE(rec.losses[0].before.has_value());
  CHECK(rec.losses[0].before->state_epoch == old_epoch);
  CHECK(rec.losses[0].after.state_epoch == agent.state_epoch());
  CHECK_FALSE(rec.losses[0].epoch_check_failed);
  CHECK_FALSE(rec.has_reconcile(fcp::ReconcileReason::kAgentRestarted));
  REQUIRE(loop.run_until([&] { return session_up(*client); }));

  // The binding is gone; re-create it on the same public port (PCP PREFER_FAILURE).
  auto gone = await<fcp::BindingInfo>(loop, [&](auto cb) { client->get(r->binding.ref(), cb); });
  REQUIRE_FALSE(gone.ok());
  CHECK(gone.error().reason == fcp::FcpReason::kUnknownBinding);
  fcp::ReserveRequest again = pair_request(4000);
  again.public_port = fcp::PublicPortHint{r->binding.public_endpoint, fcp::PublicPortHint::Mode::kExactOrFail};
  auto recreated = reserve(loop, *client, again);
  REQUIRE(recreated.ok());
  CHECK(recreated->created);
  CHECK(recreated->binding.public_endpoint == r->binding.public_endpoint);
}

TEST_CASE("draining agent: OTHER_AGENT, not retried here", "[fcp][client][grpc]") {
  FakeClock clock;
  Loop loop;
  InProcessAgent agent(clock);
  auto client = make_client(loop, client_config({&agent}), clock);
  REQUIRE(loop.run_until([&] { return session_up(*client); }));
  agent.on_executor([](agent::PinholeManager& m, agent::FakeBackend&) { m.set_draining(true); });

  auto r = reserve(loop, *client, pair_request(4000));
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().error.code == ErrorCode::kUnavailable);
  CHECK(r.error().reason == fcp::FcpReason::kDraining);
  CHECK(r.error().retry_class == fcp::RetryClass::kOtherAgent);
  CHECK(r.error().attempts == 1);
}

TEST_CASE("stale fencing token: writes refused (never retried), the session reports why", "[fcp][client][fencing]") {
  FakeClock clock;
  Loop loop;
  InProcessAgent agent(clock);
  auto current = make_client(loop, client_config({&agent}, 7), clock);
  REQUIRE(loop.run_until([&] { return session_up(*current); }));
  REQUIRE(reserve(loop, *current, pair_request(4000)).ok());

  Recorder rec;
  auto zombie = make_client(loop, client_config({&agent}, 5), clock, &rec);
  auto r = reserve(loop, *zombie, pair_request(4002));
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().error.code == ErrorCode::kFailedPrecondition);
  CHECK(r.error().reason == fcp::FcpReason::kStaleFencingToken);
  CHECK(r.error().retry_class == fcp::RetryClass::kNever);
  CHECK(r.error().attempts == 1);
  REQUIRE(loop.run_until([&] {
    for (const auto& s : rec.sessions) {
      if (s.state == fcp::SessionState::kDown && s.error && s.error->reason == fcp::FcpReason::kStaleFencingToken) {
        return true;
      }
    }
    return false;
  }));
  CHECK(agent.binding_count() == 1);

  // The shard lease moved: a higher token re-adopts on every live session.
  Recorder rec2;
  current->set_subscriber(&rec2);
  current->set_fencing_token(8);
  REQUIRE(loop.run_until([&] { return rec2.has_reconcile(fcp::ReconcileReason::kOwnerAdopted); }));
  CHECK(rec2.reconciles.back().already_bound == 1);
  current->set_subscriber(nullptr);
}

TEST_CASE("AgentDirectory routes each private network to its agent through one client", "[fcp][client][directory]") {
  FakeClock clock;
  Loop loop;
  InProcessAgent edge1(clock, "edge-1");
  InProcessAgent edge2(clock, "edge-2", agent::service::AccessPolicy::allow_all(), testing::lab_server(),
                       testing::agent_config("198.51.100.1", 50000, 50009));
  auto config = client_config({&edge1, &edge2});
  REQUIRE(config.directory.add("192.168.0.0/16", "edge-2").ok());
  auto client = make_client(loop, std::move(config), clock);
  REQUIRE(loop.run_until([&] { return session_up(*client, "edge-1") && session_up(*client, "edge-2"); }));

  auto a = reserve(loop, *client, pair_request(4000));
  fcp::ReserveRequest req_b = pair_request(4000, "call-2");
  req_b.private_endpoint = *net::Endpoint::parse("192.168.7.9:4000");
  auto b = reserve(loop, *client, req_b);
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK(a->binding.agent == "edge-1");
  CHECK(a->binding.public_endpoint.to_string() == "203.0.113.1:40000");
  CHECK(b->binding.agent == "edge-2");
  CHECK(b->binding.public_endpoint.to_string() == "198.51.100.1:50000");
  CHECK(edge1.binding_count() == 1);
  CHECK(edge2.binding_count() == 1);
}

TEST_CASE("mTLS: the client presents its certificate, a wrong CA never reaches the agent", "[fcp][client][tls]") {
  testing::TestPki pki;
  const auto server_cert = pki.issue_server();
  const auto client_cert = pki.issue_client("controller-a", "spiffe://test/controller/a");
  agent::service::ServerOptions options;
  options.tls = agent::service::TlsMaterial{server_cert.cert, server_cert.key, pki.ca_pem()};
  agent::service::AccessPolicy policy({agent::service::IdentityRule{"spiffe://test/controller/a", {"sbc-a/*"}, false}});

  FakeClock clock;
  Loop loop;
  InProcessAgent agent(clock, "edge-1", policy, options);

  auto config = client_config({&agent});
  config.tls = fcp::ClientTls{false, pki.ca_pem(), client_cert.cert, client_cert.key};
  config.agents[0].tls_server_name = "localhost";
  auto client = make_client(loop, config, clock);
  REQUIRE(loop.run_until([&] { return session_up(*client); }));
  REQUIRE(reserve(loop, *client, pair_request(4000)).ok());

  SECTION("an owner the identity may not act for") {
    auto other = config;
    other.owner = "sbc-b/shard-1";
    auto c2 = make_client(loop, other, clock);
    auto r = reserve(loop, *c2, pair_request(4002));
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().error.code == ErrorCode::kPermissionDenied);
    CHECK(r.error().reason == fcp::FcpReason::kRealmDenied);
    CHECK(r.error().retry_class == fcp::RetryClass::kNever);
  }
  SECTION("a client certificate from a CA the agent does not trust") {
    auto& rogue = testing::TestPki::rogue();
    const auto rogue_cert = rogue.issue_client("intruder", "spiffe://test/controller/a");
    auto bad = config;
    bad.tls = fcp::ClientTls{false, pki.ca_pem(), rogue_cert.cert, rogue_cert.key};
    bad.retry.attempt_timeout = 200ms;
    bad.retry.total_budget = 600ms;
    auto c3 = make_client(loop, bad, clock);
    auto r = reserve(loop, *c3, pair_request(4002));
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().retryable());  // UNAVAILABLE/DEADLINE from the transport: no agent answer
    CHECK(r.error().reason != fcp::FcpReason::kNone);
  }
  CHECK(agent.binding_count() == 1);
}

TEST_CASE("GrpcFcpClient::create validates its config", "[fcp][client]") {
  Loop loop;
  FakeClock clock;
  fcp::GrpcFcpClientConfig ok;
  ok.owner = kOwner;
  ok.agents.push_back({"edge-1", "127.0.0.1:1", "", ""});
  ok.tls.insecure_lab = true;
  REQUIRE(fcp::GrpcFcpClient::create(loop.io.get_executor(), ok, clock).ok());

  auto fails = [&](fcp::GrpcFcpClientConfig c) {
    auto r = fcp::GrpcFcpClient::create(loop.io.get_executor(), std::move(c), clock);
    return !r.ok() && r.error().code == ErrorCode::kInvalidArgument;
  };
  auto c = ok;
  c.owner.clear();
  CHECK(fails(c));
  c = ok;
  c.agents.push_back(c.agents[0]);
  CHECK(fails(c));
  c = ok;
  c.tls.insecure_lab = false;
  CHECK(fails(c));
  c = ok;
  REQUIRE(c.directory.add("10.0.0.0/8", "edge-7").ok());
  CHECK(fails(c));
  c = ok;
  c.retry.total_budget = 10ms;
  CHECK(fails(c));
}
