// A real pinhole agent in the test process (FcpService + PinholeManager + FakeBackend on
// 127.0.0.1, insecure lab mode or mTLS), with process-restart simulations: keep the "kernel"
// state (same state_epoch, new instance_id; the new manager recovers from the backend) or lose it
// (backend wiped, new state_epoch). Only tests link agent code; the controller never does.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include <catch2/catch.hpp>

#include "common/time/fake_clock.h"
#include "pinhole-agent/backend/fake/fake_backend.h"
#include "pinhole-agent/core/pinhole_manager.h"
#include "pinhole-agent/service/fcp_service.h"
#include "pinhole-agent/service/server.h"

namespace portcullis::testing {

inline agent::ManagerConfig agent_config(const char* public_ip = "203.0.113.1", std::uint16_t first = 40000,
                                         std::uint16_t last = 40009) {
  agent::ManagerConfig c;
  c.pools.push_back(agent::PoolConfig{*net::IpAddress::parse(public_ip), first, last, ""});
  return c;
}

inline agent::service::ServerOptions lab_server() {
  agent::service::ServerOptions o;
  o.insecure_lab = true;
  return o;
}

class InProcessAgent {
 public:
  /// `clock` drives the agent's leases; tests share it with the client's EpochTracker so the
  /// RFC 6887 §8.5 check sees consistent deltas.
  InProcessAgent(FakeClock& clock, std::string agent_id = "edge-1",
                 agent::service::AccessPolicy policy = agent::service::AccessPolicy::allow_all(),
                 agent::service::ServerOptions options = lab_server(), agent::ManagerConfig config = agent_config())
      : clock_(clock), agent_id_(std::move(agent_id)), backend_(clock), config_(std::move(config)),
        policy_(std::move(policy)), options_(std::move(options)), epoch_start_(clock.now()) {
    REQUIRE(agent::validate_config(config_).ok());
    boot();
  }
  ~InProcessAgent() { stop(); }
  InProcessAgent(const InProcessAgent&) = delete;
  InProcessAgent& operator=(const InProcessAgent&) = delete;

  std::string target() const { return "127.0.0.1:" + std::to_string(port_); }
  int port() const { return port_; }
  const std::string& agent_id() const { return agent_id_; }
  std::uint64_t state_epoch() const { return state_epoch_; }
  agent::service::FcpService& service() { return *service_; }
  agent::FakeBackend& backend() { return backend_; }

  /// Due manager timers, stream housekeeping, event fan-out (after FakeClock::advance).
  void run_timers() { service_->run_timers_now(); }
  /// Runs `fn` on the agent's mutation executor (the only thread that may touch the manager).
  template <class F>
  void on_executor(F&& fn) {
    service_->run_on_executor([&] { fn(*manager_, backend_); });
  }
  std::size_t binding_count() {
    std::size_t n = 0;
    on_executor([&](agent::PinholeManager& m, agent::FakeBackend&) { n = m.binding_count(); });
    return n;
  }
  agent::BindingState state_of(const std::string& owner, const std::string& binding_id) {
    agent::BindingState s = agent::BindingState::kClosed;
    on_executor([&](agent::PinholeManager& m, agent::FakeBackend&) {
      auto b = m.get(owner, agent::ByBinding{static_cast<agent::BindingId>(std::stoul(binding_id))});
      if (b.ok()) {
        s = b->state;
      }
    });
    return s;
  }

  /// The agent process restarts; the kernel table survives: same state_epoch, new instance_id.
  void restart_keep_state() {
    stop();
    boot();
  }
  /// The host rebooted / the table was flushed: everything is gone, new state_epoch.
  void restart_lose_state() {
    stop();
    backend_.wipe();
    state_epoch_ += 0x1111;
    epoch_start_ = clock_.now();
    boot();
  }

  void stop() {
    if (!service_) {
      return;
    }
    service_->begin_shutdown();
    server_.server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
    service_->stop();
    server_.server.reset();
    service_.reset();
    manager_.reset();
  }

 private:
  void boot() {
    auto boot = backend_.bootstrap("epoch-" + std::to_string(state_epoch_));
    REQUIRE(boot.ok());
    ++instance_;
    // Events are scoped to the state epoch, which survives restarts: start above the previous
    // instance's sequence numbers (pinhole_manager.h AgentIdentity::first_event_seq).
    manager_ = std::make_unique<agent::PinholeManager>(
        config_, clock_, backend_, conntrack_,
        agent::AgentIdentity{agent_id_, "inst-" + std::to_string(instance_), state_epoch_, epoch_start_,
                             static_cast<std::uint64_t>(instance_) * 100000});
    if (boot->adopted_existing) {
      auto snap = backend_.snapshot();
      REQUIRE(snap.ok());
      REQUIRE(manager_->recover(*snap).ok());
    }
    service_ = std::make_unique<agent::service::FcpService>(*manager_, config_, clock_, policy_);
    service_->start();
    agent::service::ServerOptions o = options_;
    o.listen_address = "127.0.0.1:" + std::to_string(port_);
    auto s = agent::service::start_server(*service_, o);
    REQUIRE(s.ok());
    server_ = std::move(*s);
    port_ = server_.port;
  }

  FakeClock& clock_;
  std::string agent_id_;
  agent::FakeBackend backend_;
  agent::FakeConntrackCleaner conntrack_;
  agent::ManagerConfig config_;
  agent::service::AccessPolicy policy_;
  agent::service::ServerOptions options_;
  std::uint64_t state_epoch_ = 0xabcd;
  Clock::TimePoint epoch_start_;
  int instance_ = 0;
  int port_ = 0;
  std::unique_ptr<agent::PinholeManager> manager_;
  std::unique_ptr<agent::service::FcpService> service_;
  agent::service::RunningServer server_;
};

}  // namespace portcullis::testing
