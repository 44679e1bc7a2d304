#include "controller/app/shard.h"

#include <array>
#include <fstream>
#include <random>
#include <sstream>
#include <span>
#include <stdexcept>
#include <utility>

#include <boost/asio/post.hpp>

#include "common/base/text.h"
#include "common/log/log.h"
#include "controller/app/flow_routing.h"
#include "controller/sip/resolver/srv_order.h"
#include "controller/sip/transaction/stateless.h"
#include "controller/sip/transport/stream_connection.h"
#include "controller/sip/transport/stream_transport.h"
#include "controller/sip/transport/udp_transport.h"

namespace portcullis::controller::app {

namespace {

using namespace std::chrono_literals;

/// Expired bindings are invisible to lookups already; purging only frees their memory.
constexpr auto kPurgeInterval = 30s;
/// Granularity of the shard's timer wake-ups (arm_timer()): at most 40 a second however many
/// transactions run. Most expiries are cleanup (Timers D, I, J, K, L, M), where late only means
/// memory held a little longer; a retransmission (Timers A, E, G: T1 = 500 ms and up) leaves at
/// most 5 % of T1 late, finer than Kamailio's 1/16 s timer tick.
constexpr auto kTimerSlack = 25ms;
/// After stop(): time for the transports' close handlers before the io_context is stopped.
constexpr auto kStopGrace = 200ms;
/// RFC 3261 §21.5.4 Retry-After of the 503 answered while draining.
constexpr std::string_view kDrainRetryAfter = "5";
/// One byte of shard and slot numbers (flow_routing.h).
constexpr std::size_t kMaxSlots = 255;

std::size_t per_shard(std::size_t total, std::uint32_t shards) {
  return total == 0 ? 0 : (total + shards - 1) / shards;
}

std::chrono::steady_clock::time_point to_steady(Clock::TimePoint t) {
  return std::chrono::steady_clock::time_point(
      std::chrono::duration_cast<std::chrono::steady_clock::duration>(t.time_since_epoch()));
}

std::string listener_text(sip::TransportKind kind, const net::Endpoint& ep) {
  return std::string(sip::transport_kind_name(kind)) + " " + ep.to_string();
}

/// Drawn once (thread-safe static initialisation) and shared by every shard of the process.
const std::string& process_topology_key() {
  static const std::string key = [] {
    std::random_device rd;
    std::string k;
    for (int i = 0; i < 4; ++i) {
      k += std::to_string(rd());
      k += '.';
    }
    return k;
  }();
  return key;
}

}  // namespace

Shard::Shard(std::uint8_t index, const ControllerConfig& config, const Clock& clock, SharedLocationStore* store,
             const ShardDirectory& directory)
    : index_(index),
      count_(config.effective_threads()),
      config_(config),
      clock_(clock),
      store_(store),
      directory_(directory),
      work_(io_.get_executor()) {}

Shard::~Shard() {
  // Members go in reverse order: the proxy before the resolver it borrows, the transports before
  // io_. Stopping the transports first keeps their destructors from posting into a live loop.
  for (Slot& s : slots_) {
    s.transport->stop();
  }
}

// ---- start-up (main thread, before run()) ----

Status Shard::start() {
  if (Status s = start_transports(); !s.ok()) {
    return s;
  }
  if (Status s = start_resolver(); !s.ok()) {
    return s;
  }
  if (store_ != nullptr) {
    registrar_ = std::make_unique<registrar::Registrar>(config_.registrar, *store_, clock_);
  }
  proxy::ProxyConfig pc = config_.proxy;
  if (count_ > 1) {
    pc.branch_shard = index_;
    pc.route_shard = index_;
    if (pc.topology_key.empty()) {
      // Every shard must read every other shard's pc-ct / pch- / pc-rr tokens (a request for a
      // hidden Contact outside any dialog lands anywhere): one random key per process, not one
      // per core (ProxyConfig::topology_key).
      pc.topology_key = process_topology_key();
    }
  }
  sip::TransactionConfig tc = config_.transactions;
  tc.max_transactions = per_shard(tc.max_transactions, count_);
  try {
    proxy_ = std::make_unique<proxy::ProxyCore>(std::move(pc), clock_, *next_hop_, registrar_.get(), tc);
  } catch (const std::invalid_argument& e) {
    return unexpected(invalid_argument(std::string("proxy: ") + e.what()));
  }
  if (config_.media.enabled) {
    if (Status st = start_media(); !st.ok()) {
      return st;
    }
  }
  if (index_ == 0 && registrar_) {
    arm_purge();
    if (config_.nat.keepalive_interval.count() > 0) {
      arm_keepalive();
    }
  }
  return ok_status();
}

namespace {

Result<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return unexpected(invalid_argument("cannot read '" + path + "'"));
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

media::BadBodyAction to_action(BadSdpAction a) {
  return a == BadSdpAction::kPass ? media::BadBodyAction::kPassThrough : media::BadBodyAction::kReject;
}

}  // namespace

Status Shard::start_media() {
  const FcpConfig& f = config_.fcp;
  fcp::GrpcFcpClientConfig gc;
  gc.owner = f.owner + "/shard-" + std::to_string(index_);
  gc.fencing_token = f.fencing_token;
  gc.controller_instance = config_.id + "/" + std::to_string(index_);
  for (const FcpAgentConfig& a : f.agents) {
    fcp::AgentEndpoint ep;
    ep.name = a.id;
    ep.target = a.address;
    ep.tls_server_name = a.tls_server_name;
    gc.agents.push_back(std::move(ep));
    for (const net::Prefix& p : a.networks) {
      if (Status st = gc.directory.add(p.to_string(), a.id, a.realm); !st.ok()) {
        return unexpected(invalid_argument("fcp: agent " + a.id + ": " + st.error().message));
      }
    }
  }
  agent_directory_ = gc.directory;
  gc.tls.insecure_lab = f.insecure_lab;
  if (!f.insecure_lab) {
    auto ca = read_file(f.ca_file);
    auto cert = read_file(f.cert_file);
    auto key = read_file(f.key_file);
    if (!ca.ok() || !cert.ok() || !key.ok()) {
      return unexpected(invalid_argument("fcp: cannot read the TLS files"));
    }
    gc.tls.ca_pem = *ca;
    gc.tls.cert_chain_pem = *cert;
    gc.tls.private_key_pem = *key;
  }
  auto client = fcp::GrpcFcpClient::create(io_.get_executor(), std::move(gc), clock_);
  if (!client.ok()) {
    return unexpected(Error(client.error().code, "fcp: " + client.error().message));
  }
  fcp_ = std::move(client).value();

  const MediaConfig& m = config_.media;
  media::MediaPolicy policy;
  policy.malformed = to_action(m.on_bad_sdp);
  policy.unsupported = to_action(m.on_unsupported);
  policy.over_limit = to_action(m.on_too_many_streams);
  policy.other_content_type = to_action(m.on_other_content);
  policy.max_streams = m.max_streams;
  policy.fcp_timeout = m.fcp_timeout;
  policy.lease.lifetime = m.lifetime;
  policy.lease.idle_timeout = m.idle_timeout;
  policy.lease.orphan_grace = m.orphan_grace;
  policy.lease.reservation_timeout = m.reservation_timeout;
  policy.latch_private_address = m.latch_private_address;
  policy.latch_source_mismatch = m.latch_source_mismatch;
  media::MediaEnv env{*fcp_, agent_directory_, clock_, media_timers_, nullptr};
  auto step = std::make_unique<MediaStep>(env, std::move(policy), config_.id);
  media_ = step.get();
  media_->attach(proxy_.get(), [this] { after_event(); });
  proxy::ProcessorChain& chain = proxy_->request_chain();
  chain.insert(chain.find("target") + 1, std::move(step));
  proxy_->set_response_hook(media_);
  boost::asio::post(io_, [this] { fcp_->start(); });
  return ok_status();
}

void Shard::arm_keepalive() {
  keepalive_timer_.expires_after(config_.nat.keepalive_interval);
  keepalive_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec == boost::asio::error::operation_aborted || stopped_) {
      return;
    }
    send_keepalives();
    arm_keepalive();
  });
}

void Shard::send_keepalives() {
  if (store_ == nullptr) {
    return;
  }
  // Registered contacts whose REGISTER came from another address than its Contact (a NAT), over
  // UDP: refresh their NAT mapping so requests keep reaching them (RFC 5626 §4.4 spirit; here
  // the server sends, since most phones do not).
  const auto bindings = store_->snapshot_natted(clock_.now());
  for (const auto& b : bindings) {
    sip::Peer to{sip::TransportProtocol::kUdp, b.received, 0};
    std::string bytes;
    if (config_.nat.keepalive_method == "options") {
      const proxy::Listener* l = proxy_->identity().listener_for(to);
      const std::string sent_by = l != nullptr ? proxy::ProxyIdentity::sent_by(*l) : std::string("invalid");
      const std::string branch = "z9hG4bK-pc-ka-" + std::to_string(++counters_.keepalives_sent) + "-" +
                                 std::to_string(clock_.now().time_since_epoch().count() & 0xffffff);
      bytes = "OPTIONS " + b.contact + " SIP/2.0\r\nVia: SIP/2.0/UDP " + sent_by + ";branch=" + branch +
              "\r\nMax-Forwards: 70\r\nFrom: <sip:keepalive@" + sent_by + ">;tag=ka" +
              std::to_string(counters_.keepalives_sent) + "\r\nTo: <" + b.contact + ">\r\nCall-ID: ka-" + branch +
              "\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
    } else {
      bytes = "\r\n\r\n";
      ++counters_.keepalives_sent;
    }
    send(sip::SendAction{sip::kNoTransaction, to, std::move(bytes)});
  }
}

Status Shard::start_transports() {
  const bool reuse_port = count_ > 1;
  const auto exec = io_.get_executor();

  sip::UdpConfig udp;
  udp.parse_limits = config_.parse_limits;
  udp.reuse_port = reuse_port;
  sip::StreamConfig tcp;
  tcp.kind = sip::TransportKind::kTcp;
  tcp.limits.max_connections = per_shard(config_.max_connections, count_);
  tcp.limits.max_connections_per_ip = per_shard(config_.max_connections_per_ip, count_);
  tcp.connection.parse_limits = config_.parse_limits;
  tcp.idle_timeout = config_.idle_timeout;
  tcp.reuse_port = reuse_port;
  std::vector<const ListenConfig*> tls_listeners;
  for (const ListenConfig& l : config_.listen) {
    switch (l.transport) {
      case sip::TransportProtocol::kUdp:
        udp.listen.push_back(l.address);
        break;
      case sip::TransportProtocol::kTcp:
        tcp.listen.push_back(l.address);
        break;
      default:
        tls_listeners.push_back(&l);
        break;
    }
  }
  if (2 + tls_listeners.size() > kMaxSlots) {
    return unexpected(invalid_argument("too many tls listeners (at most " + std::to_string(kMaxSlots - 2) + ")"));
  }

  // Transports are created with this shard's io_context as both executor and owner: one thread
  // runs it, so every callback is serial with the proxy core (transport.h contract).
  if (!udp.listen.empty()) {
    auto t = std::make_shared<sip::UdpTransport>(exec, udp, exec);
    const auto slot = static_cast<std::uint8_t>(slots_.size());
    slots_.push_back(Slot{sip::TransportKind::kUdp, t, {}, &t->stats()});
    udp_slot_ = slot;
    install_callbacks(slot);
    if (Status s = t->start(); !s.ok()) {
      return s;
    }
    slots_[slot].bound = t->local_endpoints();
    for (std::size_t i = 0; i < slots_[slot].bound.size(); ++i) {
      udp_socket_ids_.push_back(t->socket_id(i));
    }
  }
  std::vector<sip::StreamConfig> streams;
  if (!tcp.listen.empty()) {
    streams.push_back(tcp);
  }
  for (const ListenConfig* l : tls_listeners) {
    sip::StreamConfig tls = tcp;
    tls.kind = sip::TransportKind::kTls;
    tls.listen = {l->address};
    sip::TlsConfig tc;
    tc.certificate_chain_file = l->cert_file;
    tc.private_key_file = l->key_file;
    tc.ca_file = l->ca_file;
    tc.require_client_certificate = l->require_client_cert;
    tls.tls = tc;
    streams.push_back(std::move(tls));
  }
  for (sip::StreamConfig& sc : streams) {
    const sip::TransportKind kind = sc.kind;
    auto created = sip::StreamTransport::create(exec, std::move(sc), exec);
    if (!created.ok()) {
      return unexpected(std::move(created).error());
    }
    std::shared_ptr<sip::StreamTransport> t = std::move(created).value();
    const auto slot = static_cast<std::uint8_t>(slots_.size());
    slots_.push_back(Slot{kind, t, {}, &t->stats()});
    install_callbacks(slot);
    if (Status s = t->start(); !s.ok()) {
      return s;
    }
    slots_[slot].bound = t->local_endpoints();
  }
  return ok_status();
}

void Shard::install_callbacks(std::uint8_t slot) {
  sip::TransportCallbacks cb;
  cb.on_message = [this, slot](sip::ReceivedMessage m) { on_message(slot, std::move(m)); };
  cb.on_rejected = [this, slot](sip::RejectedMessage r) { on_rejected(slot, std::move(r)); };
  slots_[slot].transport->set_callbacks(std::move(cb));
}

Status Shard::start_resolver() {
  sip::resolver::CaresConfig cc;
  cc.servers = config_.dns_servers;
  cc.use_system_config = config_.dns_servers.empty();
  auto dns = sip::resolver::CaresDnsResolver::create(io_.get_executor(), cc);
  if (!dns.ok()) {
    return unexpected(Error(dns.error().code, "dns: " + dns.error().message));
  }
  dns_ = std::move(dns).value();
  dns_cache_ = std::make_unique<sip::resolver::DnsCache>(clock_);
  // RFC 3263 §4.1 may only pick transports we can send on.
  sip::resolver::LocatorConfig lc;
  lc.transports.clear();
  for (sip::TransportKind k : {sip::TransportKind::kUdp, sip::TransportKind::kTcp, sip::TransportKind::kTls}) {
    if (default_slot(k)) {
      lc.transports.push_back(static_cast<sip::resolver::TargetTransport>(k));
    }
  }
  locator_ = std::make_unique<sip::resolver::Rfc3263Locator>(*dns_, sip::resolver::make_default_random(), lc,
                                                              dns_cache_.get());
  next_hop_ = std::make_unique<DnsNextHopResolver>(*locator_, [this] { after_event(); });
  return ok_status();
}

// ---- thread-safe controls ----

void Shard::run() { io_.run(); }

void Shard::begin_drain() {
  boost::asio::post(io_, [this] { draining_ = true; });
}

void Shard::stop() {
  boost::asio::post(io_, [this] {
    if (stopped_) {
      return;
    }
    stopped_ = true;
    timer_.cancel();
    purge_timer_.cancel();
    keepalive_timer_.cancel();
    if (media_ != nullptr) {
      log::get("controller")->info("shard {}: {} calls with media at shutdown", index_, media_->calls());
    }
    if (count_ > 1) {
      log::get("controller")->info("shard {}: handed {} in-dialog requests and {} responses to other shards",
                                   index_, counters_.requests_handed_over, counters_.responses_handed_over);
    }
    if (fcp_) {
      fcp_->shutdown();
    }
    for (Slot& s : slots_) {
      s.transport->stop();
    }
    work_.reset();
    // The resolver may still hold timers for queries in flight; do not wait for them.
    stop_timer_.expires_after(kStopGrace);
    stop_timer_.async_wait([this](const boost::system::error_code&) { io_.stop(); });
  });
}

std::vector<std::string> Shard::bound_listeners() const {
  std::vector<std::string> out;
  for (const Slot& s : slots_) {
    for (const net::Endpoint& ep : s.bound) {
      out.push_back(listener_text(s.kind, ep));
    }
  }
  return out;
}

const proxy::ProxyStats& Shard::proxy_stats() const { return proxy_->stats(); }

const registrar::RegistrarStats* Shard::registrar_stats() const {
  return registrar_ ? &registrar_->stats() : nullptr;
}

std::map<std::string, std::uint64_t> Shard::transport_totals() const {
  std::map<std::string, std::uint64_t> out;
  for (const Slot& s : slots_) {
    const sip::TransportStats& st = *s.stats;
    out["messages_received"] += st.messages_received.load();
    out["messages_sent"] += st.messages_sent.load();
    out["send_failures"] += st.send_failures.load();
    out["parse_errors"] += st.parse_errors.load();
    out["framing_errors"] += st.framing_errors.load();
    out["oversize_dropped"] += st.oversize_dropped.load();
    out["connections_accepted"] += st.connections_accepted.load();
    out["connections_opened"] += st.connections_opened.load();
    out["connections_refused"] += st.connections_refused_total.load() + st.connections_refused_per_ip.load();
  }
  return out;
}

// ---- events ----

void Shard::on_message(std::uint8_t slot, sip::ReceivedMessage m) {
  const sip::Peer from = to_peer(m.kind, m.source, index_, slot, m.connection);
  dispatch(std::move(m.message), from);
}

void Shard::hand_over(std::uint8_t owner, sip::SipMessage message, const sip::Peer& from) {
  // `from` keeps naming the flow on this shard: send() translates a UDP flow to the owner's
  // socket on the same address and posts TCP/TLS sends back to the shard holding the connection.
  Shard* target = directory_[owner];
  boost::asio::post(target->io_, [target, msg = std::move(message), from]() mutable {
    target->dispatch(std::move(msg), from, true);
  });
}

void Shard::dispatch(sip::SipMessage message, const sip::Peer& from, bool handed_over) {
  if (stopped_) {
    return;
  }
  // Owners are read from the message only on the shard that received it: a message handed over
  // is never handed on, so a forged or inconsistent tag costs at most one post, never a loop.
  const bool may_hand_over = count_ > 1 && !handed_over;
  if (message.is_response()) {
    // SO_REUSEPORT spreads datagrams by 4-tuple, so a response may land on a shard other than
    // the one that sent the request; its branch says which one holds the client transaction.
    if (may_hand_over) {
      if (const auto owner = owning_shard(message, count_); owner && *owner != index_) {
        ++counters_.responses_handed_over;
        hand_over(*owner, std::move(message), from);
        return;
      }
    }
    proxy_->receive(std::move(message), from);
    after_event();
    return;
  }
  if (may_hand_over) {
    // Dialog shard affinity: an in-dialog request (ACK for a 2xx, BYE, re-INVITE, UPDATE, PRACK,
    // INFO, NOTIFY...) comes from the other party's 4-tuple, so it may land on a shard other
    // than the one that record-routed the dialog and holds its state (the MediaSession). Our
    // Route entries name that shard (ProxyConfig::route_shard). No (valid) pc-shard: handled here.
    //
    // CANCEL and the ACK for a non-2xx final match the INVITE server transaction by its branch
    // (§9.2, §17.2.3), not by a Route of ours, and carry the INVITE's Route (§9.1, §17.1.1.3):
    // for a re-INVITE that names the dialog's shard, which is where the re-INVITE went. For an
    // initial INVITE they carry no Route of ours, but come over the INVITE's own flow (same UDP
    // 4-tuple, same TCP/TLS connection), so the kernel gives them to the INVITE's shard. When a UA
    // sends them from another port anyway, the shard that gets them has no transaction: the
    // CANCEL is answered 481 (ProxyCore::on_cancel) and the INVITE rings on until answered or
    // Timer C; the ACK matches nothing and is proxied statelessly as a stray ACK (§16.11), while
    // the INVITE's shard retransmits its final response until Timer H (§17.2.1) and gives up.
    // Media state is not at risk: it follows the INVITE's final response, which its branch
    // brings to the INVITE's shard.
    if (const auto owner = dialog_owning_shard(message, proxy_->identity(), count_); owner && *owner != index_) {
      ++counters_.requests_handed_over;
      hand_over(*owner, std::move(message), from);
      return;
    }
  }
  if (draining_ && starts_new_work(message)) {
    ++counters_.drain_rejected;
    const sip::ExtraHeader retry{"Retry-After", kDrainRetryAfter};
    std::string text = sip::make_response(message, 503, {}, {}, std::span(&retry, 1));
    send(sip::SendAction{sip::kNoTransaction, sip::response_peer(message, from), std::move(text)});
    return;
  }
  if (store_ != nullptr && message.method() == sip::Method::kRegister) {
    // One REGISTER is several store calls; other shards must not interleave theirs
    // (shared_location_store.h).
    const auto hold = store_->hold();
    proxy_->receive(std::move(message), from);
  } else {
    proxy_->receive(std::move(message), from);
  }
  after_event();
}

void Shard::on_rejected(std::uint8_t slot, sip::RejectedMessage r) {
  // RFC 3261 §18.1.2: a broken response is discarded. A broken request is answered over the same
  // flow with the parser's status (400, 505, 513), copying the Via/From/To/Call-ID/CSeq lines that
  // are intact (§8.2.6, best effort). SipMessage::parse failed, so stateless.h's make_response
  // (which takes a parsed request) cannot be used; the transport's builder works on raw bytes.
  std::string answer;
  if (!r.error.drop) {
    answer = sip::StreamConnection::framing_error_answer(r.bytes, r.error);
  }
  if (answer.empty()) {
    ++counters_.rejected_dropped;
    log::get("controller")->debug("dropped unparsable message from {}: {}", r.source.to_string(), r.error.reason);
    return;
  }
  ++counters_.rejected_answered;
  log::get("controller")->debug("answered unparsable request from {} with {}: {}", r.source.to_string(),
                                r.error.status, r.error.reason);
  // Unreliable transports: back to the packet source (the Via cannot be trusted, RFC 3581 spirit);
  // streams: over the connection it came on.
  sip::OutboundMessage out{r.source, r.kind, std::move(answer), r.connection, {}};
  send_local(slot, std::move(out), sip::kNoTransaction, index_);
}

void Shard::after_event() {
  if (stopped_) {
    return;
  }
  for (sip::SendAction& s : proxy_->take_sends()) {
    send(std::move(s));
  }
  active_.store(proxy_->active_requests(), std::memory_order_relaxed);
  arm_timer();
}

void Shard::arm_timer() {
  std::optional<Clock::TimePoint> next = proxy_->next_deadline();
  if (const auto m = media_timers_.next_deadline(); m && (!next || *m < *next)) {
    next = m;
  }
  // Re-arm only for an earlier deadline. A later (or no) deadline leaves the armed wait alone:
  // it fires early, finds nothing due and arms for the real one. Every re-arm cancels a wait
  // (a queued handler) and reprograms the timerfd, and nearly every new transaction pushes a
  // later deadline, so re-arming on each change cost more than the occasional early wake-up.
  // Deadlines are rounded up to kTimerSlack so timers due close together share one wake-up.
  if (!next || (armed_ && *armed_ <= *next)) {
    return;
  }
  const auto slack = std::chrono::duration_cast<Clock::Duration>(kTimerSlack);
  const Clock::TimePoint at{((next->time_since_epoch() + slack - Clock::Duration(1)) / slack) * slack};
  armed_ = at;
  timer_.expires_at(to_steady(at));
  timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec == boost::asio::error::operation_aborted || stopped_) {
      return;  // re-armed or stopping; a newer wait (if any) is pending
    }
    armed_.reset();
    media_timers_.run_due(clock_.now());
    proxy_->advance(clock_.now());
    after_event();
  });
}

void Shard::arm_purge() {
  purge_timer_.expires_after(kPurgeInterval);
  purge_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec == boost::asio::error::operation_aborted || stopped_) {
      return;
    }
    counters_.registrar_purged += registrar_->purge_expired();
    arm_purge();
  });
}

// ---- output ----

std::optional<std::uint8_t> Shard::default_slot(sip::TransportKind kind) const {
  for (std::size_t i = 0; i < slots_.size(); ++i) {
    if (slots_[i].kind == kind) {
      return static_cast<std::uint8_t>(i);
    }
  }
  return std::nullopt;
}

std::optional<sip::ConnectionId> Shard::same_udp_socket(const Shard& other, sip::ConnectionId id) const {
  // Every shard binds the same UDP addresses in the same order, so listen index i is the same
  // local address everywhere (only the socket ids differ).
  for (std::size_t i = 0; i < other.udp_socket_ids_.size() && i < udp_socket_ids_.size(); ++i) {
    if (other.udp_socket_ids_[i] == id) {
      return udp_socket_ids_[i];
    }
  }
  return std::nullopt;
}

void Shard::send(sip::SendAction action) {
  const auto kind = to_kind(action.to.transport);
  if (!kind) {
    ++counters_.unsupported_transport;
    transport_error(action.txn);
    return;
  }
  sip::OutboundMessage out{action.to.endpoint, *kind, std::move(action.bytes), sip::kNoConnection,
                           std::move(action.to.server_name)};  // RFC 5922 identity, TLS only
  std::optional<std::uint8_t> slot;
  if (const auto flow = decode_flow(action.to.connection); flow && flow->shard < count_) {
    if (flow->shard == index_) {
      if (flow->slot < slots_.size() && slots_[flow->slot].kind == *kind) {
        slot = flow->slot;
        out.connection = flow->connection;
      }
    } else {
      Shard* owner = directory_[flow->shard];
      if (*kind == sip::TransportKind::kUdp) {
        // A UDP "flow" is just the local address; our socket on that address will do.
        if (const auto id = same_udp_socket(*owner, flow->connection)) {
          slot = udp_slot_;
          out.connection = *id;
        }
      } else if (flow->slot < owner->slots_.size() && owner->slots_[flow->slot].kind == *kind) {
        // A TCP/TLS connection lives on the shard that accepted or opened it (RFC 3261 §18.2.2:
        // responses go back over it; RFC 5626 flows reach NATed phones only through it).
        ++counters_.sends_handed_over;
        out.connection = flow->connection;
        boost::asio::post(owner->io_, [owner, s = flow->slot, msg = std::move(out), txn = action.txn,
                                       origin = index_]() mutable {
          owner->send_local(s, std::move(msg), txn, origin);
        });
        return;
      }
    }
  }
  if (!slot && *kind == sip::TransportKind::kUdp && udp_slot_ && proxy_) {
    // A new flow: leave from the socket of the listener the core wrote into the Via (the
    // interface facing the peer), not just the first UDP socket.
    if (const proxy::Listener* l = proxy_->identity().listener_for(action.to)) {
      const auto& bound = slots_[*udp_slot_].bound;
      for (std::size_t i = 0; i < bound.size() && i < udp_socket_ids_.size(); ++i) {
        if (bound[i] == l->address) {
          slot = udp_slot_;
          out.connection = udp_socket_ids_[i];
          break;
        }
      }
    }
  }
  if (!slot) {
    slot = default_slot(*kind);
  }
  if (!slot) {
    ++counters_.unsupported_transport;
    transport_error(action.txn);
    return;
  }
  send_local(*slot, std::move(out), action.txn, index_);
}

void Shard::send_local(std::uint8_t slot, sip::OutboundMessage message, sip::TransactionId txn, std::uint8_t origin) {
  if (slot >= slots_.size()) {
    ++counters_.unsupported_transport;
    return;
  }
  slots_[slot].transport->send(std::move(message), [this, txn, origin](Status st) {
    if (st.ok()) {
      return;
    }
    ++counters_.send_failures;
    log::get("controller")->debug("send failed: {}", st.error().to_string());
    if (txn == sip::kNoTransaction) {
      return;
    }
    Shard* owner = origin == index_ ? this : directory_[origin];
    // Always posted: the proxy must not see a transport error inside its own receive() call.
    boost::asio::post(owner->io_, [owner, txn] { owner->transport_error(txn); });
  });
}

void Shard::transport_error(sip::TransactionId txn) {
  if (txn == sip::kNoTransaction || stopped_) {
    return;
  }
  boost::asio::post(io_, [this, txn] {
    if (stopped_) {
      return;
    }
    proxy_->transport_error(txn);
    after_event();
  });
}

}  // namespace portcullis::controller::app
