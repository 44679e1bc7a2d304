// portcullis-agent: the pinhole agent daemon. Composition root: reads the config, builds the
// backend (nftables + conntrack, or the in-memory fake), adopts kernel state left by a previous
// instance, and serves FCP over gRPC until SIGTERM/SIGINT.
//
// Exit codes: 0 clean shutdown / config OK, 1 runtime failure (cannot bind, no netlink, recovery
// failed), 2 usage or configuration error.
#include <csignal>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <memory>
#include <random>
#include <string>

#include <pthread.h>

#include "common/base/text.h"
#include "common/log/log.h"
#include "common/time/clock.h"
#include "pinhole-agent/app/agent_config.h"
#include "pinhole-agent/app/flow_watcher.h"
#include "pinhole-agent/backend/conntrack/async_cleaner.h"
#include "pinhole-agent/backend/conntrack/conntrack_cleaner.h"
#include "pinhole-agent/backend/conntrack/conntrack_events.h"
#include "pinhole-agent/backend/fake/fake_backend.h"
#include "pinhole-agent/backend/nft/nft_backend.h"
#include "pinhole-agent/service/fcp_service.h"
#include "pinhole-agent/service/server.h"
#include "proto/grpc_runtime.h"

namespace {

using namespace portcullis;
using namespace portcullis::agent;
using std::chrono::duration_cast;
using std::chrono::seconds;

constexpr int kExitOk = 0;
constexpr int kExitRuntime = 1;
constexpr int kExitUsage = 2;

void usage(std::FILE* out) {
  std::fprintf(out,
               "usage: portcullis-agent --config FILE [--check-config] [--insecure-lab]\n"
               "\n"
               "  --config FILE     agent configuration (YAML), see below\n"
               "  --check-config    validate the configuration (including TLS files) and exit\n"
               "  --insecure-lab    plaintext gRPC, every caller may act for every owner. LAB ONLY.\n"
               "  --help            this text\n\n%s",
               app::config_reference().c_str());
}

std::string hex64(std::uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

std::uint64_t random64() {
  std::random_device rd;  // /dev/urandom: epochs must not repeat across boots
  return (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
}

/// The state epoch string stored in the table comment: "<epoch hex>@<monotonic start s>". The
/// start is on CLOCK_MONOTONIC, which, like the table, does not survive a reboot.
std::string encode_epoch(std::uint64_t epoch, Clock::TimePoint start) {
  return hex64(epoch) + "@" + std::to_string(duration_cast<seconds>(start.time_since_epoch()).count());
}

bool decode_epoch(const std::string& text, std::uint64_t* epoch, Clock::TimePoint* start) {
  const auto at = text.find('@');
  if (at != 16) {
    return false;
  }
  std::uint64_t e = 0;
  for (std::size_t i = 0; i < 16; ++i) {
    const char c = text[i];
    const int d = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
    if (d < 0) {
      return false;
    }
    e = (e << 4) | static_cast<std::uint64_t>(d);
  }
  const auto s = parse_decimal(std::string_view(text).substr(at + 1), 1ULL << 40);
  if (!s) {
    return false;
  }
  *epoch = e;
  *start = Clock::TimePoint(seconds(static_cast<std::int64_t>(*s)));
  return true;
}

std::string read_all(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    return {};
  }
  std::string s;
  char buf[4096];
  std::size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) {
    s.append(buf, n);
  }
  std::fclose(f);
  return s;
}

int run(const app::AgentConfig& cfg) {
  auto log = log::get("agent");
  log::set_level(cfg.log_level);
  if (cfg.tls.insecure_lab) {
    log->warn("*** INSECURE LAB MODE: plaintext gRPC on {}, NO client authentication, EVERY caller may act "
              "for EVERY owner and drain the agent. Never use this on a production router. ***",
              cfg.listen_address);
  }

  // Block the shutdown signals in every thread (gRPC's included) so main can sigwait for them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  SystemClock clock;
  std::unique_ptr<PinholeBackend> backend;
  std::unique_ptr<ConntrackCleaner> conntrack;
  if (cfg.backend == app::BackendKind::kNft) {
    auto nft = NftBackend::create(cfg.nft);
    if (!nft.ok()) {
      log->error("nftables backend: {}", nft.error().to_string());
      return kExitRuntime;
    }
    backend = std::move(*nft);
    auto ct = NetfilterConntrackCleaner::create();
    if (!ct.ok()) {
      log->error("conntrack cleaner: {}", ct.error().to_string());
      return kExitRuntime;
    }
    // Releases reply once the nft batch commits; the conntrack walk (~14 ms whatever the table
    // holds) runs on the cleaner's own thread, one walk per <= 20 ms window of releases.
    // Exact pinholes' flows are deleted by tuple on a second handle, on the reply path (O(1)).
    auto direct = NetfilterConntrackCleaner::create();
    if (!direct.ok()) {
      log->error("conntrack cleaner: {}", direct.error().to_string());
      return kExitRuntime;
    }
    conntrack = std::make_unique<AsyncConntrackCleaner>(std::move(*ct), AsyncConntrackOptions{},
                                                        std::move(*direct));
  } else {
    log->warn("backend.type fake: bindings live in memory only; nothing reaches the kernel");
    backend = std::make_unique<FakeBackend>(clock);
    conntrack = std::make_unique<FakeConntrackCleaner>();
  }

  // Restart: adopt the table (and its epoch) if a previous instance left one.
  const std::string new_epoch = encode_epoch(random64(), clock.now());
  auto boot = backend->bootstrap(new_epoch);
  if (!boot.ok()) {
    log->error("backend bootstrap: {}", boot.error().to_string());
    return kExitRuntime;
  }
  AgentIdentity identity;
  identity.agent_id = cfg.agent_id;
  identity.instance_id = hex64(random64()) + hex64(random64());
  if (!decode_epoch(boot->state_epoch, &identity.state_epoch, &identity.epoch_start)) {
    // A table from something else (or an older format): its state cannot be tied to an epoch
    // controllers know, so announce a new one; controllers re-create their state.
    log->warn("stored state epoch '{}' is not ours; starting a new epoch", log_excerpt(boot->state_epoch));
    decode_epoch(new_epoch, &identity.state_epoch, &identity.epoch_start);
  }
  // Events are scoped to the epoch, which survives restarts: start above any earlier instance.
  const auto since_start = std::chrono::duration_cast<std::chrono::milliseconds>(clock.now() - identity.epoch_start);
  identity.first_event_seq = static_cast<std::uint64_t>(std::max<std::int64_t>(since_start.count(), 0)) * 1024 + 1;

  PinholeManager manager(cfg.manager, clock, *backend, *conntrack, identity);
  if (boot->adopted_existing) {
    auto snap = backend->snapshot();
    if (!snap.ok()) {
      log->error("snapshot of the adopted table: {}", snap.error().to_string());
      return kExitRuntime;
    }
    auto rec = manager.recover(*snap);
    if (!rec.ok()) {
      log->error("recovery: {}", rec.error().to_string());
      return kExitRuntime;
    }
    log->info("adopted table with state epoch {}: {} bindings recovered (ORPHANED until adopted), {} already "
              "expired, {} unreadable elements deleted",
              hex64(identity.state_epoch), rec->recovered, rec->expired, rec->discarded_elements);
  } else {
    log->info("new state epoch {}", hex64(identity.state_epoch));
  }

  service::ServerOptions server_options;
  server_options.listen_address = cfg.listen_address;
  server_options.insecure_lab = cfg.tls.insecure_lab;
  if (!cfg.tls.insecure_lab) {
    server_options.tls.cert_chain_pem = read_all(cfg.tls.cert_file);
    server_options.tls.private_key_pem = read_all(cfg.tls.key_file);
    server_options.tls.client_ca_pem = read_all(cfg.tls.client_ca_file);
  }
  service::AccessPolicy policy = cfg.tls.insecure_lab ? service::AccessPolicy::allow_all()
                                                      : service::AccessPolicy(cfg.tls.identities);
  service::FcpService svc(manager, cfg.manager, clock, std::move(policy), cfg.service);
  svc.start();
  // Kernel-observed traffic facts: conntrack NEW/DESTROY events of the agent's flows drive idle
  // timeouts and teach the agent the remote port a latch learned (LATCHED events).
  std::unique_ptr<ConntrackEventListener> flow_events;
  std::unique_ptr<app::FlowWatcher> flow_watcher;
  if (cfg.backend == app::BackendKind::kNft && cfg.conntrack_events) {
    ConntrackEventOptions ct_options;
    ct_options.receive_buffer_bytes = cfg.conntrack_event_buffer;
    auto listener = ConntrackEventListener::create(ct_options);
    if (!listener.ok()) {
      log->error("conntrack event listener: {}", listener.error().to_string());
      svc.stop();
      return kExitRuntime;
    }
    flow_events = std::move(*listener);
    flow_watcher = std::make_unique<app::FlowWatcher>(*flow_events, manager, svc);
    if (!flow_watcher->start()) {
      log->error("conntrack event watcher: {}", std::strerror(errno));
      svc.stop();
      return kExitRuntime;
    }
    // Flows that started before this instance (restart with traffic running) are counted too.
    svc.run_on_executor([&] {
      if (auto live = flow_events->dump_flows(); live.ok()) {
        manager.resync_flows(*live);
      }
    });
    log->info("following conntrack events of the agent's flows (kernel filter {}, buffer {} bytes)",
              flow_events->stats().kernel_filter_attached ? "attached" : "not attached",
              cfg.conntrack_event_buffer);
  }
  auto server = service::start_server(svc, server_options);
  if (!server.ok()) {
    log->error("{}", server.error().to_string());
    svc.stop();
    return kExitRuntime;
  }
  log->info("agent {} serving FCP on {} (port {}, {}, instance {})", cfg.agent_id, cfg.listen_address,
            server->port, cfg.tls.insecure_lab ? "INSECURE plaintext" : "mTLS", identity.instance_id);

  int sig = 0;
  sigwait(&signals, &sig);
  log->info("{}: shutting down (the table stays; holes keep their kernel leases)", strsignal(sig));
  // Stop accepting, tell sessions to go away, let in-flight RPCs finish, then stop the executor.
  // The table is deliberately left in place: a restarted agent adopts it (same state_epoch).
  svc.begin_shutdown();
  server->server->Shutdown(std::chrono::system_clock::now() +
                           duration_cast<std::chrono::system_clock::duration>(cfg.shutdown_grace));
  if (flow_watcher) {
    flow_watcher->stop();
    const ConntrackEventStats& st = flow_events->stats();
    log->info("conntrack events: {} delivered, {} ignored, {} overruns, {} resyncs ({} failed)", st.events,
              st.ignored, st.overruns, flow_watcher->resyncs(), flow_watcher->resync_failures());
  }
  svc.stop();
  log->info("stopped");
  return kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  portcullis::configure_grpc_process();
  std::string config_path;
  bool check_only = false;
  bool insecure = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--config" && i + 1 < argc) {
      config_path = argv[++i];
    } else if (a.rfind("--config=", 0) == 0) {
      config_path = a.substr(9);
    } else if (a == "--check-config") {
      check_only = true;
    } else if (a == "--insecure-lab") {
      insecure = true;
    } else if (a == "--help" || a == "-h") {
      usage(stdout);
      return kExitOk;
    } else {
      std::fprintf(stderr, "portcullis-agent: unknown argument '%s'\n", a.c_str());
      usage(stderr);
      return kExitUsage;
    }
  }
  if (config_path.empty()) {
    std::fprintf(stderr, "portcullis-agent: --config FILE is required\n");
    return kExitUsage;
  }
  auto cfg = app::load_agent_config(config_path, insecure);
  if (!cfg.ok()) {
    std::fprintf(stderr, "%s\n", cfg.error().message.c_str());
    return kExitUsage;
  }
  if (check_only) {
    std::printf("%s: OK (%zu pools, backend %s, %s)\n", config_path.c_str(), cfg->manager.pools.size(),
                cfg->backend == app::BackendKind::kNft ? "nft" : "fake",
                cfg->tls.insecure_lab ? "INSECURE lab mode" : "mTLS");
    return kExitOk;
  }
  return run(*cfg);
}
