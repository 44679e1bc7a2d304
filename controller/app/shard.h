// Shard: everything one core runs — an io_context driven by one thread, its own UDP socket and
// TCP/TLS acceptors on the shared addresses (SO_REUSEPORT when there are several shards), its own
// c-ares resolver and RFC 3263 locator, a Registrar over the shared location store, and its own
// TransactionLayer + ProxyCore. All state of a shard is touched only on its thread (style.md §4.5:
// one executor per piece of state); shards talk only by posting to each other's io_context:
//
//   socket ──► on_message ─┬─ response whose branch names shard k ≠ this ──post──► shard k
//                          ├─ request whose Route (our Record-Route) names shard k ≠ this ──post──► shard k
//                          ├─ draining + initial request ──► stateless 503 + Retry-After
//                          └─ ProxyCore::receive ──► after_event: take_sends() ──► send()
//   send(): Peer::connection names (shard, slot, transport id) (flow_routing.h)
//            ├─ this shard, or UDP (any shard has a socket on the same address) ──► transport
//            └─ a TCP/TLS connection of shard k ──post──► shard k's transport; errors post back
//   steady_timer at ProxyCore::next_deadline() ──► advance(now); shard 0: registrar purge timer
//
// The composition root (controller_main.cc) creates every shard, start()s them on the main
// thread (binding errors are reported before any thread runs), then runs each on its thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "common/base/result.h"
#include "common/time/clock.h"
#include "common/time/timer_queue.h"
#include "controller/fcp/agent_directory.h"
#include "controller/fcp/grpc_fcp_client.h"
#include "controller/app/controller_config.h"
#include "controller/app/dns_next_hop_resolver.h"
#include "controller/app/media_step.h"
#include "controller/app/shared_location_store.h"
#include "controller/proxy/proxy_core.h"
#include "controller/registrar/registrar.h"
#include "controller/sip/resolver/cares_dns_resolver.h"
#include "controller/sip/resolver/dns_cache.h"
#include "controller/sip/resolver/rfc3263_locator.h"
#include "controller/sip/transport/transport.h"
#include "controller/sip/transport/transport_stats.h"

namespace portcullis::controller::app {

class Shard;
/// Every shard by index. Filled before any shard thread starts; read-only afterwards.
using ShardDirectory = std::vector<Shard*>;

/// Degraded-path counters of the shell (style.md §4.11). Touched on the shard's thread only; read
/// after it stopped.
struct ShardCounters {
  std::uint64_t responses_handed_over = 0;   // response for another shard's client transaction
  std::uint64_t requests_handed_over = 0;    // in-dialog request for a dialog another shard routed
  std::uint64_t sends_handed_over = 0;       // send over another shard's TCP/TLS connection
  std::uint64_t rejected_answered = 0;       // unparsable request answered 400/505/513
  std::uint64_t rejected_dropped = 0;        // unparsable response (or no request line): dropped
  std::uint64_t drain_rejected = 0;          // 503 while shutting down
  std::uint64_t send_failures = 0;           // transport reported an error
  std::uint64_t unsupported_transport = 0;   // a send for a transport we have no listener for
  std::uint64_t registrar_purged = 0;        // expired bindings removed by the purge timer
  std::uint64_t keepalives_sent = 0;         // NAT keep-alives to registered contacts
};

class Shard {
 public:
  /// `store` is null when the registrar is disabled. `config`, `clock`, `store` and `directory`
  /// must outlive the shard.
  Shard(std::uint8_t index, const ControllerConfig& config, const Clock& clock, SharedLocationStore* store,
        const ShardDirectory& directory);
  ~Shard();
  Shard(const Shard&) = delete;
  Shard& operator=(const Shard&) = delete;

  /// Builds and binds the transports, the resolver, the registrar and the proxy core. Call once,
  /// from the main thread, before run(). The error names the address or file that failed.
  Status start();
  /// The thread body: runs the io_context until stop() completes. Exceptions propagate.
  void run();
  /// Thread-safe. New work (initial requests) is answered 503 + Retry-After from now on;
  /// transactions and dialogs in progress carry on.
  void begin_drain();
  /// Thread-safe. Requests with live proxy state, as of the last event.
  std::size_t active_requests() const noexcept { return active_.load(std::memory_order_relaxed); }
  /// Thread-safe. Stops the transports and timers; run() returns shortly after.
  void stop();

  std::uint8_t index() const noexcept { return index_; }
  /// "UDP 127.0.0.1:5060", ... as bound (valid after start()).
  std::vector<std::string> bound_listeners() const;

  // Read these only after run() returned.
  const proxy::ProxyStats& proxy_stats() const;
  const registrar::RegistrarStats* registrar_stats() const;
  const ShardCounters& counters() const noexcept { return counters_; }
  std::map<std::string, std::uint64_t> transport_totals() const;

 private:
  struct Slot {
    sip::TransportKind kind = sip::TransportKind::kUdp;
    sip::TransportPtr transport;
    std::vector<net::Endpoint> bound;
    const sip::TransportStats* stats = nullptr;
  };

  Status start_transports();
  Status start_resolver();
  Status start_media();
  void arm_keepalive();
  void send_keepalives();
  void install_callbacks(std::uint8_t slot);

  // Events (this shard's thread).
  void on_message(std::uint8_t slot, sip::ReceivedMessage message);
  void on_rejected(std::uint8_t slot, sip::RejectedMessage rejected);
  /// `handed_over`: posted here by another shard, which already chose this one; never posted on.
  void dispatch(sip::SipMessage message, const sip::Peer& from, bool handed_over = false);
  /// Posts `message` to shard `owner`'s dispatch.
  void hand_over(std::uint8_t owner, sip::SipMessage message, const sip::Peer& from);
  void after_event();
  void arm_timer();
  void arm_purge();

  // Output.
  void send(sip::SendAction action);
  void send_local(std::uint8_t slot, sip::OutboundMessage message, sip::TransactionId txn, std::uint8_t origin);
  void transport_error(sip::TransactionId txn);
  /// The slot serving new flows of `kind` (the first one configured), or nullopt.
  std::optional<std::uint8_t> default_slot(sip::TransportKind kind) const;
  /// The UDP socket of this shard bound where `other`'s UDP socket `id` is bound.
  std::optional<sip::ConnectionId> same_udp_socket(const Shard& other, sip::ConnectionId id) const;

  const std::uint8_t index_;
  const std::uint32_t count_;
  const ControllerConfig& config_;
  const Clock& clock_;
  SharedLocationStore* store_;
  const ShardDirectory& directory_;

  // Declared first so it is destroyed last: transports and timers must not outlive it.
  boost::asio::io_context io_{1};
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;

  std::vector<Slot> slots_;
  std::optional<std::uint8_t> udp_slot_;
  /// UDP socket ids by listen index; immutable after start(), so other shards may read it.
  std::vector<sip::ConnectionId> udp_socket_ids_;

  std::unique_ptr<sip::resolver::CaresDnsResolver> dns_;
  std::unique_ptr<sip::resolver::DnsCache> dns_cache_;
  std::unique_ptr<sip::resolver::Rfc3263Locator> locator_;
  std::unique_ptr<DnsNextHopResolver> next_hop_;
  std::unique_ptr<registrar::Registrar> registrar_;
  // Media: declared before the proxy, whose chain owns the MediaStep that borrows them.
  fcp::AgentDirectory agent_directory_;
  TimerQueue media_timers_;
  std::unique_ptr<fcp::GrpcFcpClient> fcp_;
  std::unique_ptr<proxy::ProxyCore> proxy_;
  MediaStep* media_ = nullptr;  // owned by proxy_'s chain
  boost::asio::steady_timer keepalive_timer_{io_};

  boost::asio::steady_timer timer_{io_};
  std::optional<Clock::TimePoint> armed_;
  boost::asio::steady_timer purge_timer_{io_};
  boost::asio::steady_timer stop_timer_{io_};
  bool draining_ = false;
  bool stopped_ = false;
  std::atomic<std::size_t> active_{0};
  ShardCounters counters_;
};

}  // namespace portcullis::controller::app
