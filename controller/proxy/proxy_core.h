// ProxyCore: an RFC 3261 §16 stateful proxy, sans-I/O. It owns the TransactionLayer (§17) of one
// executor and is its transaction user: every request runs through a processor chain (§16.3 -
// §16.5, processor.h / request_processors.h), is forked to its target set (§16.6, parallel for
// equal q, sequential by decreasing q), and the branches' responses are collected in a response
// context (§16.7): provisional and 2xx responses go upstream at once, the best final response
// when every branch has finished. CANCEL (§16.10), Timer C (§16.8), stateless ACK-for-2xx
// forwarding (§16.11), RFC 5393 loop detection, RFC 3581 received/rport, RFC 3327 Path and
// RFC 3263 failover are handled here. See README.md for the chain and the diagrams.
//
//   ProxyCore proxy(config, clock, resolver, &registrar);
//   proxy.receive(std::move(msg), peer);          // a parsed message from the transport
//   for (auto& s : proxy.take_sends()) transport.send(s.to, s.bytes);
//   proxy.advance(clock.now());                   // when next_deadline() is due
//
// Threading: not thread-safe; one instance per executor (style.md §4.5). The clock, resolver
// and registrar are borrowed and must outlive the core. Resolver callbacks must arrive on the
// core's executor; after one, drain take_sends() as after any other event.
// Error policy: wire input never throws or asserts; every rejection or drop is counted in
// stats(). Config errors throw std::invalid_argument from the constructor (startup is fatal).
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common/time/clock.h"
#include "common/time/timer_queue.h"
#include "controller/proxy/next_hop_resolver.h"
#include "controller/proxy/processor.h"
#include "controller/proxy/proxy_config.h"
#include "controller/proxy/proxy_identity.h"
#include "controller/proxy/proxy_stats.h"
#include "controller/proxy/request_context.h"
#include "controller/proxy/response_hook.h"
#include "controller/registrar/registrar.h"
#include "controller/sip/message/message_editor.h"
#include "controller/sip/transaction/transaction_layer.h"

template <>
struct std::hash<portcullis::proxy::RequestId> {
  std::size_t operator()(portcullis::proxy::RequestId id) const noexcept {
    return std::hash<std::uint64_t>{}(static_cast<std::uint64_t>(id));
  }
};

namespace portcullis::proxy {

class ProxyCore {
 public:
  /// `registrar` may be null (no local registrar: REGISTERs are relayed, our domains are
  /// routed by static routes). Installs the default chain (request_processors.h).
  ProxyCore(ProxyConfig config, const Clock& clock, NextHopResolver& resolver,
            registrar::Registrar* registrar, sip::TransactionConfig txn_config = {});
  ~ProxyCore();
  ProxyCore(const ProxyCore&) = delete;
  ProxyCore& operator=(const ProxyCore&) = delete;

  // ---- wire ----

  /// A message parsed by the transport. Requests get RFC 3581 / §18.2.1 received+rport in their
  /// top Via first, then go to the transaction layer; responses go straight to it.
  void receive(sip::SipMessage message, const sip::Peer& from);
  /// The transport could not deliver a message of `txn` (RFC 3261 §16.9: the branch counts as
  /// 503, or the next RFC 3263 candidate is tried).
  void transport_error(sip::TransactionId txn);

  // ---- time ----

  /// Fires transaction timers and Timer C due at or before `now`.
  void advance(Clock::TimePoint now);
  std::optional<Clock::TimePoint> next_deadline() const;

  // ---- output ----

  /// Everything to put on the wire, oldest first.
  std::vector<sip::SendAction> take_sends();

  // ---- chain ----

  /// The request chain, for the composition root to insert processors (auth, filters).
  ProcessorChain& request_chain() noexcept { return chain_; }
  /// Sees every response forwarded upstream and every final outcome (response_hook.h); nullptr =
  /// none. Must outlive the core or be unset first.
  void set_response_hook(ResponseHook* hook) noexcept { hook_ = hook; }
  /// Re-runs the chain of a request whose processor returned kWaitForEvent, starting with that
  /// processor. Unknown or not-waiting ids are ignored.
  void resume(RequestId id);

  // ---- queries ----

  const ProxyStats& stats() const noexcept { return stats_; }
  const ProxyConfig& config() const noexcept { return config_; }
  const ProxyIdentity& identity() const noexcept { return identity_; }
  const sip::TransactionLayer& transactions() const noexcept { return txn_; }
  /// Requests with live state (response contexts, ACKs being resolved).
  std::size_t active_requests() const noexcept { return requests_.size(); }

 private:
  struct Branch;
  struct Proxied;
  struct Resolved {
    RequestId id;
    std::size_t branch;
    std::uint64_t generation;
    std::vector<sip::Peer> hops;
  };
  class DepthGuard;

  // Stateless REGISTER (ProxyConfig::stateless_register).
  bool answers_register_statelessly(const sip::SipMessage& message) const;
  void answer_statelessly(sip::SipMessage message, const sip::Peer& from);

  // Event dispatch.
  void pump();
  void on_request(sip::RequestAction a);
  void on_cancel(const sip::RequestAction& a);
  void on_response(const sip::ResponseAction& a);
  void on_client_failure(sip::TransactionId txn, std::uint16_t status);
  void on_terminated(sip::TransactionId txn);
  void on_resolved(Resolved r);
  void on_timer_c(RequestId id, std::size_t branch);

  // Chain and forking (§16.5, §16.6).
  void run_chain(Proxied& p);
  void start_forwarding(Proxied& p);
  void start_group(Proxied& p);
  void start_branch(Proxied& p, std::size_t i);
  void attempt(Proxied& p, std::size_t i);
  std::string build_request(const Proxied& p, const Branch& b, const sip::Peer& peer,
                            const Listener& out, std::string_view branch_param) const;
  bool should_record_route(const RequestContext& ctx) const;
  std::optional<sip::Peer> inbound_flow(const RequestContext& ctx) const;

  // Response context (§16.7, §16.10).
  void complete_branch(Proxied& p, std::size_t i, std::uint16_t status, sip::MessagePtr response);
  void after_branch_done(Proxied& p);
  void cancel_pending(Proxied& p);
  void send_best(Proxied& p);
  void forward_response(Proxied& p, const sip::SipMessage& response, const sip::Peer* from,
                        std::optional<std::uint16_t> new_status = std::nullopt,
                        const std::vector<std::pair<std::string, std::string>>& extra = {});
  void send_local(Proxied& p, const std::string& text);
  void on_hook_done(RequestId id, std::uint64_t seq, ResponseBody body);
  void flush_upstream(Proxied& p);
  void notify_final(Proxied& p, std::uint16_t status);
  /// An SDP body leaving a private interface for `out` with private addresses nobody rewrote:
  /// those addresses replaced by `out`'s own (topology.h scrub_sdp_addresses).
  std::optional<std::string> scrub_body(const sip::SipMessage& msg, std::string_view body,
                                        const ProxyInterface& out) const;
  /// Topology hiding of a message leaving toward `out` that came from `in` (topology.h).
  void hide_topology(sip::MessageEditor& ed, const sip::SipMessage& msg, const ProxyInterface& in,
                     const ProxyInterface& out, bool request) const;

  // Bookkeeping.
  Proxied* find(RequestId id);
  void release_later(RequestId id) { release_candidates_.push_back(id); }
  void release_finished();
  void stop_timer_c(Branch& b);
  std::uint64_t next_unique();

  ProxyConfig config_;
  ProxyIdentity identity_;
  const Clock& clock_;
  NextHopResolver& resolver_;
  registrar::Registrar* registrar_;
  sip::TransactionLayer txn_;
  TimerQueue timers_;
  ProcessorChain chain_;
  mutable ProxyStats stats_;
  ResponseHook* hook_ = nullptr;

  std::uint64_t next_request_ = 1;
  std::uint64_t unique_state_ = 0;
  std::unordered_map<RequestId, std::unique_ptr<Proxied>> requests_;
  std::unordered_map<sip::TransactionId, RequestId> by_server_;
  std::unordered_map<sip::TransactionId, std::pair<RequestId, std::size_t>> by_client_;
  std::unordered_set<sip::TransactionId> cancel_txns_;
  std::deque<Resolved> resolved_;
  std::vector<RequestId> release_candidates_;
  std::vector<sip::SendAction> sends_;
  int depth_ = 0;
  /// Expires with the core, so a resolver callback arriving later does nothing.
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

}  // namespace portcullis::proxy
