#include "controller/proxy/proxy_core.h"

#include <algorithm>
#include <random>
#include <utility>

#include "common/base/text.h"
#include "controller/proxy/loop_detection.h"
#include "controller/proxy/request_processors.h"
#include "controller/proxy/response_selection.h"
#include "controller/proxy/topology.h"
#include "controller/proxy/via_stamp.h"
#include "controller/sip/message/message_editor.h"
#include "controller/sip/parser/name_addr.h"
#include "controller/sip/transaction/stateless.h"

namespace portcullis::proxy {

// ---- per-request state ----

enum class BranchState : std::uint8_t {
  kWaiting,     // a later q group (§16.6 sequential search): not started yet
  kResolving,   // waiting for the NextHopResolver
  kTrying,      // client transaction started, no provisional yet
  kProceeding,  // provisional received
  kDone,        // final outcome known (received or decided here)
};

/// One target of the target set and the client transaction(s) serving it (§16.6, §16.7).
struct ProxyCore::Branch {
  ProxyTarget target;
  std::size_t group = 0;
  BranchState state = BranchState::kWaiting;

  // Routing decided once per branch (§16.6 steps 2, 6, 7).
  std::string ruri;
  std::vector<std::string> routes;
  bool routes_rewritten = false;
  std::optional<sip::Peer> fixed_peer;  // registered flow / in-dialog flow token: no resolving
  bool fixed_is_target_flow = false;    // the fixed peer is a registered target's flow

  std::vector<sip::Peer> hops;  // RFC 3263 candidates, tried in order
  std::size_t hop = 0;
  std::uint64_t resolve_generation = 0;

  sip::TransactionId txn = sip::kNoTransaction;  // the current attempt
  std::optional<TimerQueue::TimerId> timer_c;
  bool provisional = false;
  bool cancel_sent = false;

  std::uint16_t status = 0;   // final outcome
  sip::MessagePtr response;   // nullptr when decided here
  sip::Peer response_from;    // where `response` came from
};

/// A response on its way upstream, possibly waiting for the ResponseHook.
struct UpstreamResponse {
  std::uint64_t seq = 0;
  std::string text;  // ready to send but for the body
  bool ready = false;
  ResponseBody body;
  std::uint16_t status = 0;
};

/// A request and its response context (§16.7).
struct ProxyCore::Proxied {
  std::unique_ptr<RequestContext> ctx;
  std::vector<Branch> branches;
  std::size_t group = 0;
  std::size_t group_count = 0;
  bool chain_waiting = false;
  bool final_sent = false;       // a final response went upstream (or none is possible)
  bool cancelled = false;        // CANCEL from upstream (§16.10)
  bool no_new_branches = false;  // 2xx / 6xx seen or cancelled (§16.7 steps 5, 10)
  bool server_done = false;      // server transaction terminated (always true for ACK)
  std::size_t live_txns = 0;     // client transactions not yet terminated
  std::size_t pending_resolves = 0;
  std::deque<UpstreamResponse> upstream;  // responses waiting for the hook (in order)
  std::uint64_t upstream_seq = 0;
  bool final_notified = false;

  bool all_done() const {
    return std::all_of(branches.begin(), branches.end(),
                       [](const Branch& b) { return b.state == BranchState::kDone; });
  }
  bool group_done(std::size_t g) const {
    return std::all_of(branches.begin(), branches.end(),
                       [g](const Branch& b) { return b.group != g || b.state == BranchState::kDone; });
  }
};

/// Every public entry point runs inside one: the outermost pumps the transaction layer and the
/// resolver queue before returning, and nested calls (synchronous resolver callbacks) only queue.
class ProxyCore::DepthGuard {
 public:
  explicit DepthGuard(ProxyCore& core) : core_(core) { ++core_.depth_; }
  ~DepthGuard() {
    if (core_.depth_ == 1) {
      core_.pump();
    }
    --core_.depth_;
  }
  DepthGuard(const DepthGuard&) = delete;
  DepthGuard& operator=(const DepthGuard&) = delete;

 private:
  ProxyCore& core_;
};

namespace {

std::uint64_t splitmix64(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

bool has_option(const sip::SipMessage& msg, std::string_view tag) {
  const auto& supported = msg.supported();
  if (!supported) {
    return false;
  }
  return std::any_of(supported->begin(), supported->end(),
                     [&](std::string_view s) { return iequals(s, tag); });
}

std::string uri_of_name_addr(std::string_view name_addr) {
  auto na = sip::parse_name_addr(name_addr);
  return na ? std::string(na->uri.text) : std::string();
}

}  // namespace

// ---- construction ----

ProxyCore::ProxyCore(ProxyConfig config, const Clock& clock, NextHopResolver& resolver,
                     registrar::Registrar* registrar, sip::TransactionConfig txn_config)
    : config_(std::move(config)),
      identity_(config_),
      clock_(clock),
      resolver_(resolver),
      registrar_(registrar),
      txn_(clock, txn_config) {
  unique_state_ = config_.branch_seed;
  if (unique_state_ == 0) {
    std::random_device rd;
    unique_state_ = (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
  }
  chain_.add(std::make_unique<ValidationProcessor>(config_, identity_, stats_));
  if (std::any_of(config_.interfaces.begin(), config_.interfaces.end(),
                  [](const ProxyInterface& i) { return i.hide_topology; })) {
    chain_.add(std::make_unique<TopologyProcessor>(identity_));
  }
  chain_.add(std::make_unique<RoutePreprocessor>(identity_, stats_));
  if (registrar_ != nullptr) {
    chain_.add(std::make_unique<RegistrarProcessor>(*registrar_, identity_, stats_));
  }
  chain_.add(std::make_unique<LocalRequestProcessor>(config_, identity_, stats_));
  chain_.add(std::make_unique<TargetProcessor>(config_, identity_, registrar_, stats_));
}

ProxyCore::~ProxyCore() = default;

std::uint64_t ProxyCore::next_unique() {
  std::uint64_t unique = splitmix64(unique_state_);
  if (config_.branch_shard) {
    // 56 random bits stay unique enough per client transaction (§8.1.1.7); the top byte routes
    // responses back to this core (ProxyConfig::branch_shard).
    unique = (unique & kBranchShardMask) | (static_cast<std::uint64_t>(*config_.branch_shard) << kBranchShardShift);
  }
  return unique;
}

ProxyCore::Proxied* ProxyCore::find(RequestId id) {
  const auto it = requests_.find(id);
  return it == requests_.end() ? nullptr : it->second.get();
}

// ---- public entry points ----

void ProxyCore::receive(sip::SipMessage message, const sip::Peer& from) {
  DepthGuard guard(*this);
  if (message.is_request()) {
    // RFC 3261 §18.2.1 / RFC 3581 §4: record where the request really came from before the
    // transaction layer stores it, so every response we send or forward carries it.
    if (auto stamped = stamp_received(message, from)) {
      sip::ParseOptions opts;
      opts.framing = sip::is_reliable(from.transport) ? sip::Framing::kStream : sip::Framing::kDatagram;
      auto reparsed = sip::SipMessage::parse(std::move(*stamped), opts);
      if (reparsed) {
        message = std::move(reparsed).value();
      } else {
        ++stats_.internal_errors;  // keep the original: it parsed once, it is still usable
      }
    }
  }
  if (answers_register_statelessly(message)) {
    answer_statelessly(std::move(message), from);
    return;
  }
  txn_.receive(std::move(message), from);
}

bool ProxyCore::answers_register_statelessly(const sip::SipMessage& message) const {
  // The same test RegistrarProcessor makes after route preprocessing, decided up front and
  // conservatively: any Route header (even one naming us) takes the transaction path, so a
  // REGISTER this core relays to another registrar always has a server transaction.
  if (!config_.stateless_register || registrar_ == nullptr || !message.is_request() ||
      message.method() != sip::Method::kRegister || message.find(sip::HeaderId::kRoute) != nullptr) {
    return false;
  }
  return identity_.is_our_domain(message.request_uri());
}

void ProxyCore::answer_statelessly(sip::SipMessage message, const sip::Peer& from) {
  // RFC 3261 §8.2.7 stateless UAS: the full request chain (validation, registrar), then the
  // response straight to the transport. A retransmission runs again and gets the same answer.
  ++stats_.requests_received;
  ++stats_.registers_stateless;
  const sip::Peer to = sip::response_peer(message, from);
  RequestContext ctx(RequestId{0}, sip::kNoTransaction, std::make_shared<const sip::SipMessage>(std::move(message)),
                     from);
  ctx.inbound = &identity_.interface_for(from.endpoint.address());
  const ProcessorAction result = chain_.run(ctx);
  if (result != ProcessorAction::kStop || !ctx.response()) {
    // Only a processor inserted by the composition root could do this (none acts on REGISTER
    // today); a stateless request has no context to wait or fork in.
    ++stats_.internal_errors;
    ctx.respond(500, "Stateless REGISTER not completed");
  }
  ++stats_.local_responses;
  sends_.push_back(sip::SendAction{sip::kNoTransaction, to, std::move(*ctx.response())});
}

void ProxyCore::transport_error(sip::TransactionId txn) {
  DepthGuard guard(*this);
  txn_.transport_error(txn);
}

void ProxyCore::advance(Clock::TimePoint now) {
  DepthGuard guard(*this);
  txn_.advance(now);
  timers_.run_due(now);
}

std::optional<Clock::TimePoint> ProxyCore::next_deadline() const {
  const auto a = txn_.next_deadline();
  const auto b = timers_.next_deadline();
  if (a && b) {
    return std::min(*a, *b);
  }
  return a ? a : b;
}

std::vector<sip::SendAction> ProxyCore::take_sends() {
  std::vector<sip::SendAction> out;
  out.swap(sends_);
  return out;
}

void ProxyCore::resume(RequestId id) {
  DepthGuard guard(*this);
  Proxied* p = find(id);
  if (p == nullptr || !p->chain_waiting) {
    return;
  }
  p->chain_waiting = false;
  if (p->final_sent) {
    release_later(id);  // answered meanwhile (CANCEL → 487)
    return;
  }
  run_chain(*p);
}

// ---- dispatch ----

void ProxyCore::pump() {
  for (;;) {
    std::vector<sip::Action> actions = txn_.take_actions();
    if (actions.empty() && resolved_.empty()) {
      break;
    }
    for (sip::Action& action : actions) {
      if (auto* s = std::get_if<sip::SendAction>(&action)) {
        sends_.push_back(std::move(*s));
      } else if (auto* rq = std::get_if<sip::RequestAction>(&action)) {
        on_request(std::move(*rq));
      } else if (auto* rs = std::get_if<sip::ResponseAction>(&action)) {
        on_response(*rs);
      } else if (auto* t = std::get_if<sip::TimeoutAction>(&action)) {
        if (t->timer == sip::TimerName::kB || t->timer == sip::TimerName::kF) {
          on_client_failure(t->txn, 408);
        }
      } else if (auto* e = std::get_if<sip::TransportErrorAction>(&action)) {
        on_client_failure(e->txn, 503);
      } else if (auto* d = std::get_if<sip::TerminatedAction>(&action)) {
        on_terminated(d->txn);
      }
    }
    while (!resolved_.empty()) {
      Resolved r = std::move(resolved_.front());
      resolved_.pop_front();
      on_resolved(std::move(r));
    }
  }
  release_finished();
}

void ProxyCore::on_request(sip::RequestAction a) {
  ++stats_.requests_received;
  const sip::Method method = a.request->method();
  if (method == sip::Method::kCancel) {
    on_cancel(a);
    return;
  }
  if (a.txn == sip::kNoTransaction && method != sip::Method::kAck) {
    return;  // cannot happen: only ACKs arrive outside a transaction
  }
  const RequestId id{next_request_++};
  auto p = std::make_unique<Proxied>();
  // An ACK is forwarded statelessly (§16.11) even when an Accepted INVITE server transaction
  // handed it up (RFC 6026 §8.7): it is never answered.
  const sip::TransactionId server = method == sip::Method::kAck ? sip::kNoTransaction : a.txn;
  p->ctx = std::make_unique<RequestContext>(id, server, std::move(a.request), a.from);
  p->ctx->inbound = &identity_.interface_for(a.from.endpoint.address());
  p->server_done = server == sip::kNoTransaction;
  if (server != sip::kNoTransaction) {
    by_server_[server] = id;
  }
  Proxied& ref = *p;
  requests_.emplace(id, std::move(p));
  run_chain(ref);
}

void ProxyCore::run_chain(Proxied& p) {
  const ProcessorAction result = chain_.run(*p.ctx);
  switch (result) {
    case ProcessorAction::kWaitForEvent:
      p.chain_waiting = true;
      return;
    case ProcessorAction::kStop:
      if (p.ctx->response()) {
        send_local(p, *p.ctx->response());
      } else if (p.ctx->method() == sip::Method::kAck) {
        ++stats_.acks_dropped;
      }
      p.final_sent = true;
      release_later(p.ctx->id());
      return;
    case ProcessorAction::kContinue:
    case ProcessorAction::kSkipChain:
      start_forwarding(p);
      return;
  }
}

// ---- §16.6: forking ----

void ProxyCore::start_forwarding(Proxied& p) {
  RequestContext& ctx = *p.ctx;
  if (p.final_sent) {
    release_later(ctx.id());
    return;
  }
  std::vector<ProxyTarget> targets = std::move(ctx.targets);
  ctx.targets.clear();
  if (targets.empty()) {
    ++stats_.internal_errors;  // a chain that neither answered nor chose a target
    send_local(p, sip::make_response(ctx.request(), 500));
    p.final_sent = true;
    release_later(ctx.id());
    return;
  }
  if (ctx.method() == sip::Method::kAck && targets.size() > 1) {
    targets.resize(1);  // an ACK is never forked
  }
  if (targets.size() > config_.max_branches) {
    stats_.branches_truncated += targets.size() - config_.max_branches;
    targets.resize(config_.max_branches);
  }
  // §16.6: higher q first; equal q in parallel. The registrar already sorts; keep its order
  // among equals (freshest registration first).
  std::stable_sort(targets.begin(), targets.end(),
                   [](const ProxyTarget& a, const ProxyTarget& b) { return a.q > b.q; });
  p.branches.resize(targets.size());
  std::size_t group = 0;
  for (std::size_t i = 0; i < targets.size(); ++i) {
    if (i > 0 && targets[i].q != targets[i - 1].q) {
      ++group;
    }
    Branch& b = p.branches[i];
    b.target = std::move(targets[i]);
    b.group = group;
  }
  p.group = 0;
  p.group_count = group + 1;
  start_group(p);
}

void ProxyCore::start_group(Proxied& p) {
  const std::size_t g = p.group;
  for (std::size_t i = 0; i < p.branches.size(); ++i) {
    if (p.branches[i].group == g) {
      p.branches[i].state = BranchState::kResolving;
    }
  }
  for (std::size_t i = 0; i < p.branches.size(); ++i) {
    if (p.branches[i].group == g && p.branches[i].state == BranchState::kResolving &&
        p.branches[i].hops.empty() && p.branches[i].resolve_generation == 0) {
      start_branch(p, i);
    }
  }
}

void ProxyCore::start_branch(Proxied& p, std::size_t i) {
  RequestContext& ctx = *p.ctx;
  Branch& b = p.branches[i];
  ++stats_.branches_created;
  b.state = BranchState::kResolving;
  b.resolve_generation = 1;

  // §16.6 step 2: the Request-URI is the target; step 6: pre-loaded routes in front.
  b.ruri = b.target.uri;
  b.routes = b.target.route_set;
  b.routes.insert(b.routes.end(), ctx.routes.begin(), ctx.routes.end());
  b.routes_rewritten = ctx.routes_changed || !b.target.route_set.empty();
  bool strict_next_hop = false;
  if (!b.routes.empty()) {
    // §16.6 step 6: a strict router next: the R-URI goes to the end of the Route set and the
    // strict router's URI becomes the R-URI.
    auto first = sip::parse_name_addr(b.routes.front());
    if (first && !first->uri.has_lr()) {
      std::string strict_uri(first->uri.text);
      b.routes.erase(b.routes.begin());
      b.routes.push_back("<" + b.ruri + ">");
      b.ruri = std::move(strict_uri);
      b.routes_rewritten = true;
      strict_next_hop = true;
    }
  }
  // §16.6 step 7: the next hop.
  std::string resolve_uri;
  if (!b.target.next_hop_uri.empty()) {
    resolve_uri = b.target.next_hop_uri;  // local policy
  } else if (strict_next_hop) {
    resolve_uri = b.ruri;
  } else if (!b.routes.empty()) {
    resolve_uri = uri_of_name_addr(b.routes.front());
  } else if (b.target.fixed_peer) {
    b.fixed_peer = b.target.fixed_peer;  // registered contact: where its REGISTER came from
    b.fixed_is_target_flow = true;
  } else if (ctx.flow) {
    b.fixed_peer = ctx.flow;  // in-dialog request to a NATed peer: its flow token
  } else {
    resolve_uri = b.ruri;
  }

  if (b.fixed_peer) {
    b.hops = {*b.fixed_peer};
    b.hop = 0;
    attempt(p, i);
    return;
  }
  auto uri = sip::parse_uri(resolve_uri);
  if (!uri || !uri->is_sip_or_sips()) {
    ++stats_.resolve_failures;
    complete_branch(p, i, 503, nullptr);
    after_branch_done(p);
    return;
  }
  ++p.pending_resolves;
  const RequestId id = ctx.id();
  const std::uint64_t generation = b.resolve_generation;
  std::weak_ptr<int> alive = alive_;
  resolver_.resolve(*uri, [this, alive, id, i, generation](std::vector<sip::Peer> hops) {
    if (alive.expired()) {
      return;
    }
    resolved_.push_back(Resolved{id, i, generation, std::move(hops)});
    if (depth_ == 0) {
      DepthGuard guard(*this);  // a later callback: process it now
    }
  });
}

void ProxyCore::on_resolved(Resolved r) {
  Proxied* p = find(r.id);
  if (p == nullptr) {
    return;
  }
  --p->pending_resolves;
  release_later(r.id);
  Branch& b = p->branches[r.branch];
  if (r.generation != b.resolve_generation || b.state != BranchState::kResolving) {
    return;  // cancelled meanwhile
  }
  if (r.hops.empty()) {
    ++stats_.resolve_failures;
    complete_branch(*p, r.branch, 503, nullptr);
    after_branch_done(*p);
    return;
  }
  b.hops = std::move(r.hops);
  b.hop = 0;
  attempt(*p, r.branch);
}

bool ProxyCore::should_record_route(const RequestContext& ctx) const {
  if (!config_.record_route || !ctx.request().to().tag().empty()) {
    return false;
  }
  switch (ctx.method()) {
    case sip::Method::kInvite:
    case sip::Method::kSubscribe:
    case sip::Method::kRefer:
    case sip::Method::kNotify:
      return true;
    default:
      return false;
  }
}

std::optional<sip::Peer> ProxyCore::inbound_flow(const RequestContext& ctx) const {
  if (!config_.flow_tokens) {
    return std::nullopt;
  }
  // The previous hop needs its flow reused when it is on a connection (RFC 5626 §5.3) or
  // behind NAT: it asked for rport, or its sent-by is not where the packet came from.
  const sip::Peer& from = ctx.from();
  const sip::Via& via = ctx.request().vias().front();
  bool nat = sip::is_reliable(from.transport) || via.has_rport;
  if (!nat) {
    std::string_view host = via.host;
    if (host.size() >= 2 && host.front() == '[') {
      host = host.substr(1, host.size() - 2);
    }
    auto ip = net::IpAddress::parse(host);
    nat = !ip.ok() || *ip != from.endpoint.address() || via.port.value_or(5060) != from.endpoint.port();
  }
  return nat ? std::optional<sip::Peer>(from) : std::nullopt;
}

std::string ProxyCore::build_request(const Proxied& p, const Branch& b, const sip::Peer& peer,
                                     const Listener& out, std::string_view branch_param) const {
  const RequestContext& ctx = *p.ctx;
  const sip::SipMessage& req = ctx.request();
  sip::MessageEditor ed(req);

  // §16.6 step 2: Request-URI.
  if (b.ruri != req.request_uri_text()) {
    ed.set_request_uri(b.ruri);
  }
  const ProxyInterface& out_iface = identity_.interface_for(peer.endpoint.address());
  const bool hide = ctx.inbound != nullptr && ProxyIdentity::hidden_from(*ctx.inbound, out_iface);
  if (hide) {
    // Topology hiding: our Via is the only one that leaves the private side; responses get the
    // original Vias back from the request (forward_response).
    ed.remove_all(sip::HeaderId::kVia);
  }
  if (ctx.inbound != nullptr) {
    hide_topology(ed, req, *ctx.inbound, out_iface, true);
  }
  if (ctx.body_override) {
    ed.set_body(*ctx.body_override);
  }
  if (hide) {
    if (auto scrubbed = scrub_body(req, ctx.body_override ? std::string_view(*ctx.body_override) : req.body(), out_iface)) {
      ed.set_body(std::move(*scrubbed));
    }
  }

  // §16.6 step 8: our Via on top; branch per §16.6 step 8 / RFC 5393 (loop_detection.h).
  std::string via = "SIP/2.0/";
  via += sip::transport_name(peer.transport);
  via += ' ';
  via += ProxyIdentity::sent_by(out);
  via += ";branch=";
  via += branch_param;
  ed.prepend_header("Via", std::move(via));

  // §16.6 step 3: Max-Forwards decremented, or 70 when absent.
  if (const auto mf = req.max_forwards()) {
    const auto& headers = req.headers();
    for (std::size_t i = 0; i < headers.size(); ++i) {
      if (headers[i].id == sip::HeaderId::kMaxForwards) {
        ed.replace_value(i, std::to_string(*mf - 1));
        break;
      }
    }
  } else {
    ed.prepend_header("Max-Forwards", "70");
  }

  const std::optional<sip::Peer> in_flow = inbound_flow(ctx);
  const Listener* in = ctx.inbound != nullptr ? identity_.listener_for(*ctx.inbound, ctx.from().transport) : nullptr;
  if (in == nullptr) {
    in = &out;
  }
  const bool has_rr = req.find(sip::HeaderId::kRecordRoute) != nullptr;

  // §16.6 step 4: Record-Route. RFC 5658 §4: two entries when the request changes interface
  // or transport, or when a side needs its flow token: the first faces the next hop, the
  // second the previous hop. In-dialog requests pop both (RoutePreprocessor).
  if (should_record_route(ctx)) {
    const std::optional<sip::Peer> out_flow =
        config_.flow_tokens && b.fixed_is_target_flow ? b.fixed_peer : std::nullopt;
    const bool twice = in != &out || in_flow || out_flow;
    // Dialog shard affinity (ProxyConfig::route_shard): every entry names this core's shard, so
    // whichever of ours a UA's route set starts with leads its in-dialog requests here.
    const auto stamp = [this](std::string value) {
      if (config_.route_shard) {
        value = with_route_shard(std::move(value), *config_.route_shard);
      }
      return value;
    };
    std::vector<std::string> values;
    values.push_back(stamp(ProxyIdentity::record_route_value(out, out_flow)));
    if (twice) {
      // Stamped before it may be encoded: the private side gets the original back (hide_topology).
      std::string in_value = stamp(ProxyIdentity::record_route_value(*in, in_flow));
      if (hide) {
        // The entry facing the private side (its address, the phone's flow) travels encoded.
        auto na = sip::parse_name_addr(in_value);
        if (na) {
          std::string hidden = "<sip:" + ProxyIdentity::sent_by(out);
          if (out.transport != sip::TransportProtocol::kUdp) {
            hidden += ";transport=";
            hidden += sip::transport_name(out.transport);
          }
          hidden += ";lr;";
          hidden += kRecordRouteParam;
          hidden += '=';
          hidden += identity_.codec().encode(na->uri.text);
          hidden += '>';
          in_value = stamp(std::move(hidden));
        }
      }
      values.push_back(std::move(in_value));
    }
    for (std::string& v : values) {
      if (has_rr) {
        ed.insert_before(sip::HeaderId::kRecordRoute, "Record-Route", std::move(v));
      } else {
        ed.prepend_header("Record-Route", std::move(v));
      }
    }
  }
  // RFC 3327 §5.2: relaying a REGISTER, put our Path first — the URI the registrar's side uses
  // to reach us, with the UA's flow when it needs one. Only when the UA supports Path (§5.1).
  if (ctx.method() == sip::Method::kRegister && config_.add_path && has_option(req, "path")) {
    std::string v = ProxyIdentity::record_route_value(out, in_flow);
    if (req.find(sip::HeaderId::kPath) != nullptr) {
      ed.insert_before(sip::HeaderId::kPath, "Path", std::move(v));
    } else {
      ed.prepend_header("Path", std::move(v));
    }
  }
  // §16.4 / §16.6 step 6: the Route set as decided (ours popped, pre-loaded pushed).
  if (b.routes_rewritten) {
    const bool had_route = req.find(sip::HeaderId::kRoute) != nullptr;
    ed.remove_all(sip::HeaderId::kRoute);
    for (const std::string& r : b.routes) {
      if (had_route) {
        ed.insert_before(sip::HeaderId::kRoute, "Route", r);
      } else {
        ed.prepend_header("Route", r);
      }
    }
  }
  return ed.serialize();
}

void ProxyCore::attempt(Proxied& p, std::size_t i) {
  RequestContext& ctx = *p.ctx;
  Branch& b = p.branches[i];
  const sip::Peer peer = b.hops[b.hop];
  const Listener* out = identity_.listener_for(peer);
  if (out == nullptr) {
    // No socket of that transport on the interface facing the peer: like a transport error.
    if (b.hop + 1 < b.hops.size()) {
      ++b.hop;
      ++stats_.failovers;
      attempt(p, i);
    } else {
      ++stats_.transport_errors;
      complete_branch(p, i, 503, nullptr);
      after_branch_done(p);
    }
    return;
  }
  const bool ack = ctx.method() == sip::Method::kAck;
  const std::string branch_param = ack ? stateless_branch(ctx.loop_hash, ctx.request().vias().front())
                                       : make_branch(ctx.loop_hash, next_unique());
  std::string text = build_request(p, b, peer, *out, branch_param);
  if (ack) {
    // §16.11: an ACK for a 2xx is its own hop-by-hop "transaction" with no state.
    txn_.send_stateless(std::move(text), peer);
    ++stats_.acks_forwarded;
    complete_branch(p, i, 200, nullptr);
    release_later(ctx.id());
    return;
  }
  // Messages we build always carry Content-Length (MessageEditor adds it), so the default
  // (datagram) framing parses them whatever transport they leave on.
  auto parsed = sip::SipMessage::parse(std::move(text));
  if (!parsed) {
    ++stats_.internal_errors;
    complete_branch(p, i, 500, nullptr);
    after_branch_done(p);
    return;
  }
  auto started = txn_.send_request(std::move(parsed).value(), peer);
  if (!started) {
    ++stats_.internal_errors;  // kLimitReached: shed like an overloaded next hop
    complete_branch(p, i, 503, nullptr);
    after_branch_done(p);
    return;
  }
  ++stats_.requests_forwarded;
  b.txn = *started;
  b.state = BranchState::kTrying;
  b.provisional = false;
  ++p.live_txns;
  by_client_[b.txn] = {ctx.id(), i};
  if (ctx.method() == sip::Method::kInvite) {
    // §16.8: Timer C for every INVITE branch.
    stop_timer_c(b);
    const RequestId id = ctx.id();
    b.timer_c = timers_.schedule(clock_.now() + config_.timer_c, [this, id, i] { on_timer_c(id, i); });
  }
}

// ---- §16.7: responses ----

void ProxyCore::on_response(const sip::ResponseAction& a) {
  if (a.txn == sip::kNoTransaction) {
    ++stats_.stray_responses;  // RFC 6026 §7.3: a proxy drops responses matching nothing
    return;
  }
  if (cancel_txns_.contains(a.txn)) {
    return;  // the 200 for our CANCEL (§16.10): nothing to relay
  }
  const auto it = by_client_.find(a.txn);
  if (it == by_client_.end()) {
    ++stats_.stray_responses;
    return;
  }
  Proxied* p = find(it->second.first);
  if (p == nullptr) {
    ++stats_.stray_responses;
    return;
  }
  const std::size_t i = it->second.second;
  Branch& b = p->branches[i];
  const sip::SipMessage& resp = *a.response;
  const std::uint16_t code = resp.status_code();
  if (b.txn != a.txn) {
    ++stats_.late_responses_dropped;  // an abandoned RFC 3263 attempt
    return;
  }
  if (code < 200) {
    if (b.state == BranchState::kDone) {
      return;
    }
    b.state = BranchState::kProceeding;
    b.provisional = true;
    if (code > 100 && p->ctx->method() == sip::Method::kInvite) {
      // §16.8: "If the client transaction receives a provisional response [101-199], the proxy
      // MUST reset Timer C".
      stop_timer_c(b);
      const RequestId id = p->ctx->id();
      b.timer_c = timers_.schedule(clock_.now() + config_.timer_c, [this, id, i] { on_timer_c(id, i); });
    }
    // §16.7 step 5: provisional responses other than 100 are forwarded immediately.
    if (code > 100 && !p->final_sent) {
      forward_response(*p, resp, &a.from);
    }
    return;
  }
  if (code < 300) {
    // §16.7 step 5 / step 10: every 2xx is forwarded immediately (also a second fork's 2xx and
    // 2xx retransmissions, RFC 6026), then every other pending branch is cancelled.
    if (b.state != BranchState::kDone) {
      complete_branch(*p, i, code, a.response);
      b.response_from = a.from;
    }
    forward_response(*p, resp, &a.from);
    p->final_sent = true;
    p->no_new_branches = true;
    cancel_pending(*p);
    after_branch_done(*p);
    return;
  }
  if (b.state == BranchState::kDone) {
    ++stats_.late_responses_dropped;  // e.g. the 487 after Timer C decided 408
    return;
  }
  if (code == 503 && !b.provisional && b.hop + 1 < b.hops.size()) {
    // RFC 3263 §4.3: a 503 from this server: try the next candidate with a new transaction.
    ++b.hop;
    ++stats_.failovers;
    stop_timer_c(b);
    attempt(*p, i);
    return;
  }
  complete_branch(*p, i, code, a.response);
  b.response_from = a.from;
  if (code >= 600) {
    // §16.7 step 5: a 6xx ends the search: cancel the others, start nothing new.
    p->no_new_branches = true;
    cancel_pending(*p);
  }
  after_branch_done(*p);
}

void ProxyCore::on_client_failure(sip::TransactionId txn, std::uint16_t status) {
  if (txn == sip::kNoTransaction || cancel_txns_.contains(txn)) {
    return;
  }
  const auto it = by_client_.find(txn);
  if (it == by_client_.end()) {
    return;  // a server transaction (Timer H, transport error): it ends on its own
  }
  Proxied* p = find(it->second.first);
  if (p == nullptr) {
    return;
  }
  const std::size_t i = it->second.second;
  Branch& b = p->branches[i];
  if (b.txn != txn || b.state == BranchState::kDone) {
    return;
  }
  if (status == 408) {
    ++stats_.branch_timeouts;
  } else {
    ++stats_.transport_errors;
  }
  if (!b.provisional && b.hop + 1 < b.hops.size() && !p->no_new_branches) {
    // RFC 3263 §4.3: timeout or transport failure → next candidate.
    ++b.hop;
    ++stats_.failovers;
    stop_timer_c(b);
    attempt(*p, i);
    return;
  }
  // §16.7 step 5 ("as if it received a 408") and §16.9 ("as if ... 503").
  complete_branch(*p, i, status, nullptr);
  after_branch_done(*p);
}

void ProxyCore::on_timer_c(RequestId id, std::size_t i) {
  DepthGuard guard(*this);
  Proxied* p = find(id);
  if (p == nullptr) {
    return;
  }
  Branch& b = p->branches[i];
  b.timer_c.reset();
  if (b.state == BranchState::kDone) {
    return;
  }
  ++stats_.timer_c_fired;
  const sip::TransactionId txn = b.txn;
  // §16.8: with a provisional response, CANCEL the branch; without one, behave as if it
  // received a 408. Either way we stop waiting for it ("terminate the client transaction"):
  // the branch counts as 408 and a later 487 is dropped.
  if (b.provisional && !b.cancel_sent) {
    if (auto c = txn_.send_cancel(txn)) {
      cancel_txns_.insert(*c);
      b.cancel_sent = true;
      ++stats_.cancels_sent;
    }
  }
  complete_branch(*p, i, 408, nullptr);
  after_branch_done(*p);
  // The INVITE client transaction waits in Proceeding for a final response that may never
  // come; if it is still there after 64*T1, end it (the transaction layer has no other abort).
  const Clock::Duration grace = txn_.config().timer_b();
  timers_.schedule(clock_.now() + grace, [this, txn] {
    const auto state = txn_.state(txn);
    if (state && (*state == sip::TransactionState::kProceeding || *state == sip::TransactionState::kCalling)) {
      DepthGuard inner(*this);
      txn_.transport_error(txn);
    }
  });
}

void ProxyCore::complete_branch(Proxied& p, std::size_t i, std::uint16_t status, sip::MessagePtr response) {
  Branch& b = p.branches[i];
  if (b.state == BranchState::kResolving) {
    ++b.resolve_generation;  // a resolution still running is now stale
  }
  b.state = BranchState::kDone;
  b.status = status;
  b.response = std::move(response);
  stop_timer_c(b);
  release_later(p.ctx->id());
}

void ProxyCore::cancel_pending(Proxied& p) {
  for (std::size_t i = 0; i < p.branches.size(); ++i) {
    Branch& b = p.branches[i];
    switch (b.state) {
      case BranchState::kWaiting:
      case BranchState::kResolving:
        // Never sent: it ends here as "Request Terminated".
        complete_branch(p, i, 487, nullptr);
        break;
      case BranchState::kTrying:
      case BranchState::kProceeding:
        // §9.1 / §16.10: CANCEL INVITE branches (held by the transaction layer until a
        // provisional arrives). Non-INVITE branches run to completion.
        if (p.ctx->method() == sip::Method::kInvite && !b.cancel_sent) {
          if (auto c = txn_.send_cancel(b.txn)) {
            cancel_txns_.insert(*c);
            b.cancel_sent = true;
            ++stats_.cancels_sent;
          }
        }
        break;
      case BranchState::kDone:
        break;
    }
  }
}

void ProxyCore::after_branch_done(Proxied& p) {
  if (!p.group_done(p.group)) {
    return;
  }
  if (!p.no_new_branches && p.group + 1 < p.group_count) {
    // §16.6 sequential search: the next q group.
    ++p.group;
    start_group(p);
    return;
  }
  if (!p.all_done()) {
    return;
  }
  if (!p.final_sent) {
    send_best(p);
  }
  release_later(p.ctx->id());
}

void ProxyCore::send_best(Proxied& p) {
  std::vector<BranchOutcome> outcomes;
  outcomes.reserve(p.branches.size());
  for (const Branch& b : p.branches) {
    outcomes.push_back(BranchOutcome{b.status, b.response.get()});
  }
  if (outcomes.empty()) {
    send_local(p, sip::make_response(p.ctx->request(), 500));
    return;
  }
  const std::size_t best = select_best(outcomes);
  const std::uint16_t selected = outcomes[best].status;
  const std::uint16_t status = upstream_status(selected);
  if (status != selected) {
    ++stats_.converted_503;
  }
  const auto challenges = collect_challenges(outcomes, best);
  if (outcomes[best].response != nullptr) {
    forward_response(p, *outcomes[best].response, &p.branches[best].response_from,
                     status != selected ? std::optional<std::uint16_t>(status) : std::nullopt, challenges);
  } else {
    send_local(p, sip::make_response(p.ctx->request(), status));
  }
  p.final_sent = true;
}

void ProxyCore::forward_response(Proxied& p, const sip::SipMessage& response, const sip::Peer* from,
                                 std::optional<std::uint16_t> new_status,
                                 const std::vector<std::pair<std::string, std::string>>& extra) {
  if (p.server_done || p.ctx->server_txn() == sip::kNoTransaction) {
    ++stats_.upstream_send_failures;
    return;
  }
  if (response.vias().empty()) {
    ++stats_.stray_responses;
    return;
  }
  const sip::SipMessage& req = p.ctx->request();
  sip::MessageEditor ed(response);
  // §16.7 step 3: remove our Via. The ones below it are the request's Vias as the downstream
  // echoed them (or none when topology hiding stripped them); put back the exact texts of the
  // request as received — the top one with the received / rport we stamped, which is what our
  // server transaction matches the response against.
  ed.remove_all(sip::HeaderId::kVia);
  // (prepend_header inserts in call order before the first original field: topmost first)
  for (const sip::Via& via : req.vias()) {
    ed.prepend_header("Via", std::string(via.text));
  }
  if (new_status) {
    ed.set_status(*new_status, std::string(sip::default_reason_phrase(*new_status)));
  }
  for (const auto& [name, value] : extra) {
    ed.append_header(name, value);  // §16.7 step 7: every challenge, unmodified
  }
  if (p.ctx->inbound != nullptr && from != nullptr) {
    const ProxyInterface& down = identity_.interface_for(from->endpoint.address());
    hide_topology(ed, response, down, *p.ctx->inbound, false);
    if (ProxyIdentity::hidden_from(down, *p.ctx->inbound)) {
      if (auto scrubbed = scrub_body(response, response.body(), *p.ctx->inbound)) {
        ed.set_body(std::move(*scrubbed));
      }
    }
  }
  const std::uint16_t status = new_status.value_or(response.status_code());
  UpstreamResponse up;
  up.seq = ++p.upstream_seq;
  up.text = ed.serialize();
  up.status = status;
  up.ready = true;
  p.upstream.push_back(std::move(up));
  if (hook_ != nullptr && from != nullptr && p.ctx->method() != sip::Method::kAck) {
    const RequestId id = p.ctx->id();
    const std::uint64_t seq = p.upstream.back().seq;
    std::weak_ptr<int> alive = alive_;
    p.upstream.back().ready = false;
    const bool taken = hook_->on_response(*p.ctx, response, *from, [this, alive, id, seq](ResponseBody body) {
      if (alive.expired()) {
        return;
      }
      on_hook_done(id, seq, std::move(body));
    });
    if (!taken) {
      p.upstream.back().ready = true;
    }
  }
  flush_upstream(p);
}

void ProxyCore::on_hook_done(RequestId id, std::uint64_t seq, ResponseBody body) {
  DepthGuard guard(*this);
  Proxied* p = find(id);
  if (p == nullptr) {
    return;
  }
  for (UpstreamResponse& up : p->upstream) {
    if (up.seq == seq) {
      up.ready = true;
      up.body = std::move(body);
    }
  }
  flush_upstream(*p);
  release_later(id);
}

void ProxyCore::flush_upstream(Proxied& p) {
  while (!p.upstream.empty() && p.upstream.front().ready) {
    UpstreamResponse up = std::move(p.upstream.front());
    p.upstream.pop_front();
    if (p.server_done) {
      ++stats_.upstream_send_failures;
      continue;
    }
    auto parsed = sip::SipMessage::parse(std::move(up.text));
    if (!parsed) {
      ++stats_.internal_errors;
      continue;
    }
    sip::SipMessage msg = std::move(parsed).value();
    if (up.body) {
      sip::MessageEditor ed(msg);
      ed.set_body(std::move(*up.body));
      auto rewritten = sip::SipMessage::parse(ed.serialize());
      if (!rewritten) {
        ++stats_.internal_errors;
        continue;
      }
      msg = std::move(rewritten).value();
    }
    if (auto r = txn_.send_response(p.ctx->server_txn(), std::move(msg)); !r) {
      ++stats_.upstream_send_failures;
      continue;
    }
    ++stats_.responses_forwarded;
    if (up.status >= 200) {
      notify_final(p, up.status);
    }
  }
}

void ProxyCore::notify_final(Proxied& p, std::uint16_t status) {
  if (p.final_notified || hook_ == nullptr) {
    return;
  }
  p.final_notified = true;
  hook_->on_final(*p.ctx, status);
}

namespace {

/// Rewrites the URIs of every element of list header `id` with `fn` (nullopt: unchanged).
template <class Fn>
void rewrite_list(sip::MessageEditor& ed, const sip::SipMessage& msg, sip::HeaderId id, Fn&& fn) {
  const auto& headers = msg.headers();
  for (std::size_t i = 0; i < headers.size(); ++i) {
    if (headers[i].id != id) {
      continue;
    }
    auto parts = sip::split_comma_list(headers[i].value);
    if (!parts) {
      continue;
    }
    bool changed = false;
    std::string value;
    for (const std::string_view part : *parts) {
      std::string element(part);
      if (auto replaced = fn(part)) {
        element = std::move(*replaced);
        changed = true;
      }
      if (!value.empty()) {
        value += ", ";
      }
      value += element;
    }
    if (changed) {
      ed.replace_value(i, std::move(value));
    }
  }
}

/// name-addr / addr-spec `element` with its URI replaced by `uri` (header parameters kept).
std::string with_uri(std::string_view element, const sip::NameAddr& na, std::string_view uri) {
  const auto pos = element.find(na.uri.text);
  if (pos == std::string_view::npos) {
    return "<" + std::string(uri) + ">";
  }
  const bool angle = pos > 0 && element[pos - 1] == '<';
  std::string out(element.substr(0, pos));
  if (!angle) {
    out += '<';
  }
  out += uri;
  if (!angle) {
    out += '>';
  }
  out += element.substr(pos + na.uri.text.size());
  return out;
}

}  // namespace

std::optional<std::string> ProxyCore::scrub_body(const sip::SipMessage& msg, std::string_view body,
                                                 const ProxyInterface& out) const {
  if (body.empty()) {
    return std::nullopt;
  }
  const sip::HeaderField* ct = msg.find(sip::HeaderId::kContentType);
  if (ct == nullptr || ct->value.find("sdp") == std::string_view::npos) {
    return std::nullopt;
  }
  const Listener* l = identity_.listener_for(out, sip::TransportProtocol::kUdp);
  if (l == nullptr) {
    l = &out.listeners.front();
  }
  const std::string replacement = l->address.address().to_string();
  auto scrubbed = scrub_sdp_addresses(
      body,
      [this](std::string_view a) {
        auto ip = net::IpAddress::parse(a);
        return ip.ok() && identity_.interface_for(*ip).hide_topology;
      },
      replacement);
  if (scrubbed) {
    ++stats_.sdp_scrubbed;
  }
  return scrubbed;
}

void ProxyCore::hide_topology(sip::MessageEditor& ed, const sip::SipMessage& msg, const ProxyInterface& in,
                              const ProxyInterface& out, bool request) const {
  const TopologyCodec& codec = identity_.codec();
  const auto is_hidden_address = [&](std::string_view host) {
    if (host.size() >= 2 && host.front() == '[') {
      host = host.substr(1, host.size() - 2);
    }
    auto ip = net::IpAddress::parse(host);
    return ip.ok() && identity_.interface_for(*ip).hide_topology;
  };
  const auto call_id_index = [&]() -> std::optional<std::size_t> {
    const auto& headers = msg.headers();
    for (std::size_t i = 0; i < headers.size(); ++i) {
      if (headers[i].id == sip::HeaderId::kCallId) {
        return i;
      }
    }
    return std::nullopt;
  };
  const Listener* out_listener = identity_.listener_for(out, sip::TransportProtocol::kUdp);
  if (out_listener == nullptr) {
    out_listener = &out.listeners.front();
  }
  if (ProxyIdentity::hidden_from(in, out)) {
    // Private -> public. Call-ID host: only when it is a private address (a public one is the
    // other side's own Call-ID coming back and must stay as it is).
    const std::string call_id(msg.call_id());
    if (const auto at = call_id.rfind('@'); at != std::string::npos && is_hidden_address(call_id.substr(at + 1))) {
      if (auto idx = call_id_index()) {
        ed.replace_value(*idx, codec.hide_call_id(call_id));
      }
    }
    // Contact of a private UA -> our public address with the original encoded.
    rewrite_list(ed, msg, sip::HeaderId::kContact, [&](std::string_view element) -> std::optional<std::string> {
      auto na = sip::parse_name_addr(element);
      if (!na || !na->uri.is_sip_or_sips() || !is_hidden_address(na->uri.host)) {
        return std::nullopt;
      }
      std::string uri = na->uri.scheme == sip::UriScheme::kSips ? "sips:" : "sip:";
      if (!na->uri.user.empty()) {
        uri += na->uri.user;
        uri += '@';
      }
      uri += ProxyIdentity::sent_by(*out_listener);
      uri += ';';
      uri += kContactParam;
      uri += '=';
      uri += codec.encode(na->uri.text);
      return with_uri(element, *na, uri);
    });
    if (!request) {
      // Our Record-Route entries facing the private side, in a response going public.
      rewrite_list(ed, msg, sip::HeaderId::kRecordRoute, [&](std::string_view element) -> std::optional<std::string> {
        auto na = sip::parse_name_addr(element);
        if (!na) {
          return std::nullopt;
        }
        const ProxyInterface* faces = identity_.interface_of_uri(na->uri);
        if (faces == nullptr || !faces->hide_topology || na->uri.params.get(kRecordRouteParam)) {
          return std::nullopt;
        }
        std::string uri = "sip:" + ProxyIdentity::sent_by(*out_listener) + ";lr;";
        uri += kRecordRouteParam;
        uri += '=';
        uri += codec.encode(na->uri.text);
        return with_uri(element, *na, uri);
      });
    }
  } else if (out.hide_topology) {
    // Toward the private side: decode what we encoded.
    const std::string call_id(msg.call_id());
    if (std::string revealed = codec.reveal_call_id(call_id); revealed != call_id) {
      if (auto idx = call_id_index()) {
        ed.replace_value(*idx, std::move(revealed));
      }
    }
    rewrite_list(ed, msg, sip::HeaderId::kRecordRoute, [&](std::string_view element) -> std::optional<std::string> {
      auto na = sip::parse_name_addr(element);
      if (!na || !identity_.is_own_uri(na->uri)) {
        return std::nullopt;
      }
      const auto token = na->uri.params.get(kRecordRouteParam);
      if (!token) {
        return std::nullopt;
      }
      auto plain = codec.decode(*token);
      if (!plain) {
        return std::nullopt;
      }
      return with_uri(element, *na, *plain);
    });
  }
}

void ProxyCore::send_local(Proxied& p, const std::string& text) {
  if (p.ctx->server_txn() == sip::kNoTransaction || p.server_done) {
    return;
  }
  auto parsed = sip::SipMessage::parse(std::string(text));
  if (!parsed) {
    ++stats_.internal_errors;
    return;
  }
  const std::uint16_t status = parsed->status_code();
  if (auto r = txn_.send_response(p.ctx->server_txn(), std::move(parsed).value()); !r) {
    ++stats_.upstream_send_failures;
    return;
  }
  ++stats_.local_responses;
  if (status >= 200) {
    notify_final(p, status);
  }
}

// ---- §16.10: CANCEL ----

void ProxyCore::on_cancel(const sip::RequestAction& a) {
  ++stats_.cancels_received;
  const auto it = a.cancels == sip::kNoTransaction ? by_server_.end() : by_server_.find(a.cancels);
  if (it == by_server_.end()) {
    // §16.10 would forward it statelessly; we never forward an INVITE statelessly, so no
    // response context means no transaction downstream either: answer as a UAS would (§9.2).
    ++stats_.cancels_unmatched;
    (void)txn_.respond(a.txn, 481);
    ++stats_.local_responses;
    return;
  }
  // "If a matching response context is found, the element MUST immediately return a 200 (OK)
  // response to the CANCEL request" and cancel every pending client transaction.
  (void)txn_.respond(a.txn, 200);
  ++stats_.local_responses;
  Proxied* p = find(it->second);
  if (p == nullptr || p->final_sent) {
    return;
  }
  p->cancelled = true;
  p->no_new_branches = true;
  if (p->chain_waiting || p->branches.empty()) {
    // Still deciding where to go: nothing was sent, so the 487 is ours to give.
    send_local(*p, sip::make_response(p->ctx->request(), 487));
    p->final_sent = true;
    return;
  }
  cancel_pending(*p);
  after_branch_done(*p);
}

// ---- termination and cleanup ----

void ProxyCore::on_terminated(sip::TransactionId txn) {
  if (cancel_txns_.erase(txn) > 0) {
    return;
  }
  if (const auto s = by_server_.find(txn); s != by_server_.end()) {
    if (Proxied* p = find(s->second)) {
      p->server_done = true;
      release_later(s->second);
    }
    by_server_.erase(s);
    return;
  }
  const auto c = by_client_.find(txn);
  if (c == by_client_.end()) {
    return;
  }
  const auto [id, i] = c->second;
  by_client_.erase(c);
  Proxied* p = find(id);
  if (p == nullptr) {
    return;
  }
  --p->live_txns;
  Branch& b = p->branches[i];
  if (b.txn == txn && b.state != BranchState::kDone) {
    complete_branch(*p, i, 408, nullptr);  // defensive: a transaction ending without an outcome
    after_branch_done(*p);
  }
  release_later(id);
}

void ProxyCore::stop_timer_c(Branch& b) {
  if (b.timer_c) {
    timers_.cancel(*b.timer_c);
    b.timer_c.reset();
  }
}

void ProxyCore::release_finished() {
  std::vector<RequestId> candidates;
  candidates.swap(release_candidates_);
  for (const RequestId id : candidates) {
    Proxied* p = find(id);
    if (p == nullptr) {
      continue;
    }
    if (p->server_done && p->live_txns == 0 && p->pending_resolves == 0 && !p->chain_waiting &&
        p->upstream.empty() && p->all_done()) {
      for (Branch& b : p->branches) {
        stop_timer_c(b);
      }
      requests_.erase(id);
    }
  }
}

}  // namespace portcullis::proxy
