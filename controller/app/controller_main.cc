// portcullis-controller: the SIP controller daemon — registrar + RFC 3261 §16 stateful proxy.
// Composition root (style.md §4.1: the only code that names concrete classes): reads the config,
// builds the shared location store and one Shard per thread (transports, c-ares resolver,
// registrar, ProxyCore; shard.h), runs them, and on SIGTERM/SIGINT drains and stops.
//
// Exit codes: 0 clean shutdown / config OK, 1 runtime failure (cannot bind, resolver init, a shard
// thread died), 2 usage or configuration error.
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <exception>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/log/log.h"
#include "common/time/clock.h"
#include "controller/app/controller_config.h"
#include "controller/app/shard.h"
#include "controller/app/shared_location_store.h"
#include "controller/registrar/in_memory_location_store.h"
#include "controller/sip/transport/tls_context.h"
#include "proto/grpc_runtime.h"

namespace {

/// glibc malloc, tuned for a long-running server whose working set grows with load: one arena
/// instead of one per thread, grown and trimmed in 16/64 MiB steps. glibc grows a per-thread
/// arena one page at a time, with an mprotect() each time; under call load that was 8 system
/// calls per call, more than the call's own sendto()s (bench/proxy_vs_kamailio.sh, strace -c).
/// Small allocations still come from each thread's tcache without taking the arena lock.
void tune_allocator() {
  mallopt(M_ARENA_MAX, 1);
  mallopt(M_TOP_PAD, 16 << 20);
  mallopt(M_TRIM_THRESHOLD, 64 << 20);
}


using namespace portcullis;
using namespace portcullis::controller::app;
using namespace std::chrono_literals;

constexpr int kExitOk = 0;
constexpr int kExitRuntime = 1;
constexpr int kExitUsage = 2;

/// SIGTERM: how long transactions in progress get to finish while new work is refused (503).
/// Short: an orchestrator's own kill timeout is typically 10 s or more, and clients fail over.
constexpr auto kDrainTimeout = 2s;
constexpr auto kDrainPoll = 20ms;

void usage(std::FILE* out) {
  std::fprintf(out,
               "usage: portcullis-controller --config FILE [--check-config]\n"
               "\n"
               "  --config FILE     controller configuration (YAML), see below\n"
               "  --check-config    validate the configuration (including TLS certificates and keys) and exit\n"
               "  --help            this text\n"
               "\n"
               "Exit codes: 0 ok, 1 runtime failure, 2 usage or configuration error.\n\n%s",
               controller_config_reference().c_str());
}

/// Builds every TLS server context once, so a certificate that does not match its key (or a
/// file that is not PEM) is a configuration error, not a runtime one.
bool check_tls(const ControllerConfig& cfg, const std::string& path) {
  bool ok = true;
  for (std::size_t i = 0; i < cfg.listen.size(); ++i) {
    const ListenConfig& l = cfg.listen[i];
    if (l.transport != sip::TransportProtocol::kTls) {
      continue;
    }
    sip::TlsConfig tc;
    tc.certificate_chain_file = l.cert_file;
    tc.private_key_file = l.key_file;
    tc.ca_file = l.ca_file;
    tc.require_client_certificate = l.require_client_cert;
    if (auto ctx = sip::make_server_tls_context(tc); !ctx.ok()) {
      std::fprintf(stderr, "%s: listen[%zu]: %s\n", path.c_str(), i, ctx.error().message.c_str());
      ok = false;
    }
  }
  return ok;
}

std::string describe_listen(const ListenConfig& l) {
  std::string s = std::string(sip::transport_name(l.transport)) + " " + l.address.to_string();
  std::string extra;
  if (!l.advertised_host.empty()) {
    extra += "advertise " + l.advertised_host;
    if (l.advertised_port != 0) {
      extra += ":" + std::to_string(l.advertised_port);
    }
  }
  if (!l.realm.empty()) {
    extra += (extra.empty() ? "" : ", ") + std::string("realm ") + l.realm;
  }
  if (l.require_client_cert) {
    extra += (extra.empty() ? "" : ", ") + std::string("mutual TLS");
  }
  return extra.empty() ? s : s + " (" + extra + ")";
}

std::string join(const std::vector<std::string>& items, const char* sep) {
  std::string out;
  for (const std::string& i : items) {
    out += (out.empty() ? "" : sep) + i;
  }
  return out;
}

void log_totals(const std::vector<std::unique_ptr<Shard>>& shards) {
  auto log = log::get("controller");
  std::map<std::string, std::uint64_t> proxy;
  std::map<std::string, std::uint64_t> transport;
  ShardCounters shell;
  std::uint64_t registered = 0;
  std::uint64_t register_rejected = 0;
  for (const auto& s : shards) {
    s->proxy_stats().for_each([&](std::string_view name, std::uint64_t v) { proxy[std::string(name)] += v; });
    for (const auto& [k, v] : s->transport_totals()) {
      transport[k] += v;
    }
    const ShardCounters& c = s->counters();
    shell.responses_handed_over += c.responses_handed_over;
    shell.sends_handed_over += c.sends_handed_over;
    shell.rejected_answered += c.rejected_answered;
    shell.rejected_dropped += c.rejected_dropped;
    shell.drain_rejected += c.drain_rejected;
    shell.send_failures += c.send_failures;
    shell.unsupported_transport += c.unsupported_transport;
    shell.registrar_purged += c.registrar_purged;
    if (const registrar::RegistrarStats* r = s->registrar_stats()) {
      registered += r->accepted;
      register_rejected += r->rejected_source + r->rejected_domain + r->rejected_extension + r->rejected_malformed +
                           r->rejected_interval + r->rejected_out_of_order + r->rejected_too_many + r->rejected_full;
    }
  }
  const auto nonzero = [](const std::map<std::string, std::uint64_t>& m) {
    std::vector<std::string> parts;
    for (const auto& [k, v] : m) {
      if (v != 0) {
        parts.push_back(k + "=" + std::to_string(v));
      }
    }
    return parts.empty() ? std::string("-") : join(parts, " ");
  };
  log->info("proxy totals: {}", nonzero(proxy));
  log->info("transport totals: {}", nonzero(transport));
  log->info("registrar: {} accepted, {} rejected, {} purged; shell: {} responses and {} sends handed between "
            "shards, {} unparsable requests answered, {} dropped, {} drain 503s, {} send failures, {} unsupported "
            "transport",
            registered, register_rejected, shell.registrar_purged, shell.responses_handed_over,
            shell.sends_handed_over, shell.rejected_answered, shell.rejected_dropped, shell.drain_rejected,
            shell.send_failures, shell.unsupported_transport);
}

int run(const ControllerConfig& cfg) {
  auto log = log::get("controller");
  log::set_level(cfg.log_level);

  // Block the shutdown signals in every thread (the shard threads inherit the mask) so main can
  // sigwait for them; a dying shard thread raises SIGTERM to wake main the same way.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  SystemClock clock;
  std::unique_ptr<SharedLocationStore> store;
  if (cfg.registrar_enabled) {
    store = std::make_unique<SharedLocationStore>(std::make_unique<registrar::InMemoryLocationStore>());
  }
  const std::uint32_t n = cfg.effective_threads();
  ShardDirectory directory(n, nullptr);
  std::vector<std::unique_ptr<Shard>> shards;
  for (std::uint32_t i = 0; i < n; ++i) {
    shards.push_back(std::make_unique<Shard>(static_cast<std::uint8_t>(i), cfg, clock, store.get(), directory));
    directory[i] = shards.back().get();
  }
  for (auto& s : shards) {
    if (Status st = s->start(); !st.ok()) {
      log->error("shard {}: cannot start: {}", s->index(), st.error().to_string());
      return kExitRuntime;
    }
  }

  std::atomic<bool> failed{false};
  std::vector<std::thread> threads;
  for (auto& s : shards) {
    Shard* shard = s.get();
    threads.emplace_back([shard, &failed, log] {
      try {
        shard->run();
      } catch (const std::exception& e) {
        log->critical("shard {} died: {}", shard->index(), e.what());
        failed = true;
        ::kill(::getpid(), SIGTERM);
      }
    });
  }

  std::vector<std::string> listening;
  for (const ListenConfig& l : cfg.listen) {
    listening.push_back(describe_listen(l));
  }
  std::vector<std::string> dns;
  for (const net::Endpoint& e : cfg.dns_servers) {
    dns.push_back(e.to_string());
  }
  log->info("controller {} up: {} shard{}; listening on {}; registrar {}; domains [{}]; dns {}", cfg.id, n,
            n == 1 ? "" : "s", join(listening, ", "), cfg.registrar_enabled ? "on" : "off", join(cfg.domains, ", "),
            dns.empty() ? std::string("system resolver") : join(dns, ", "));

  int sig = 0;
  sigwait(&signals, &sig);
  log->info("{}: draining (new requests get 503, at most {} ms)", strsignal(sig),
            std::chrono::duration_cast<std::chrono::milliseconds>(kDrainTimeout).count());
  for (auto& s : shards) {
    s->begin_drain();
  }
  const auto deadline = std::chrono::steady_clock::now() + kDrainTimeout;
  while (!failed && std::chrono::steady_clock::now() < deadline) {
    std::size_t active = 0;
    for (auto& s : shards) {
      active += s->active_requests();
    }
    if (active == 0) {
      break;
    }
    std::this_thread::sleep_for(kDrainPoll);
  }
  for (auto& s : shards) {
    s->stop();
  }
  for (std::thread& t : threads) {
    t.join();
  }
  log_totals(shards);
  log->info("stopped");
  return failed ? kExitRuntime : kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  tune_allocator();
  portcullis::configure_grpc_process();
  std::string config_path;
  bool check_only = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--config" && i + 1 < argc) {
      config_path = argv[++i];
    } else if (a.rfind("--config=", 0) == 0) {
      config_path = a.substr(9);
    } else if (a == "--check-config") {
      check_only = true;
    } else if (a == "--help" || a == "-h") {
      usage(stdout);
      return kExitOk;
    } else {
      std::fprintf(stderr, "portcullis-controller: unknown argument '%s'\n", a.c_str());
      usage(stderr);
      return kExitUsage;
    }
  }
  if (config_path.empty()) {
    std::fprintf(stderr, "portcullis-controller: --config FILE is required (see --help)\n");
    return kExitUsage;
  }
  auto cfg = load_controller_config(config_path);
  if (!cfg.ok()) {
    std::fprintf(stderr, "%s\n", cfg.error().message.c_str());
    return kExitUsage;
  }
  if (!check_tls(*cfg, config_path)) {
    return kExitUsage;
  }
  if (check_only) {
    std::printf("%s: OK (controller %s, %zu listeners, %u shard%s, registrar %s)\n", config_path.c_str(),
                cfg->id.c_str(), cfg->listen.size(), cfg->effective_threads(),
                cfg->effective_threads() == 1 ? "" : "s", cfg->registrar_enabled ? "on" : "off");
    return kExitOk;
  }
  try {
    return run(*cfg);
  } catch (const std::exception& e) {
    log::get("controller")->critical("fatal: {}", e.what());
    return kExitRuntime;
  }
}
