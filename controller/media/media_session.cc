#include "controller/media/media_session.h"

#include <algorithm>
#include <array>
#include <deque>
#include <map>
#include <set>
#include <tuple>
#include <utility>

#include <boost/asio/post.hpp>

#include "common/base/text.h"
#include "controller/media/media_keys.h"
#include "controller/media/sdp/sdp_rewriter.h"

namespace portcullis::media {

std::string_view to_string(MediaError e) noexcept {
  switch (e) {
    case MediaError::kNone: return "none";
    case MediaError::kContentType: return "content_type";
    case MediaError::kBadSdp: return "bad_sdp";
    case MediaError::kUnsupported: return "unsupported";
    case MediaError::kTooManyStreams: return "too_many_streams";
    case MediaError::kNoRoute: return "no_route";
    case MediaError::kGlare: return "glare";
    case MediaError::kNoOffer: return "no_offer";
    case MediaError::kFcpFailed: return "fcp_failed";
    case MediaError::kFcpTimeout: return "fcp_timeout";
    case MediaError::kTerminated: return "terminated";
  }
  return "unknown";
}

std::string_view to_string(RecreateOutcome o) noexcept {
  switch (o) {
    case RecreateOutcome::kRecreated:
      return "recreated";
    case RecreateOutcome::kPortLost:
      return "port_lost";
    case RecreateOutcome::kFailed:
      return "failed";
    case RecreateOutcome::kSkipped:
      return "skipped";
  }
  return "unknown";
}

std::string SipWarning::to_header_value(std::string_view warn_agent) const {
  std::string out = std::to_string(code);
  out.push_back(' ');
  out.append(warn_agent);
  out.append(" \"");
  for (char c : text) {
    if (c == '"' || c == '\\') {
      out.push_back('\\');
    }
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

namespace {

constexpr std::size_t idx(Party p) noexcept { return p == Party::kCaller ? 0 : 1; }
constexpr Party other(Party p) noexcept { return p == Party::kCaller ? Party::kCallee : Party::kCaller; }
constexpr std::string_view party_name(Party p) noexcept { return p == Party::kCaller ? "caller" : "callee"; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

bool content_type_allowed(std::string_view content_type, const std::vector<std::string>& allowed) {
  const std::string_view type = trim(content_type.substr(0, content_type.find(';')));
  return std::any_of(allowed.begin(), allowed.end(), [&](const std::string& a) { return iequals(type, a); });
}

/// One FCP binding of a stream: an RTP+RTCP pair, a single RTP (rtcp-mux, non-RTP) port, or the
/// separate RTCP port of a non-adjacent a=rtcp (RFC 3605).
enum class ComponentKind : std::uint8_t { kPair, kRtp, kRtcp };

constexpr std::string_view kind_name(ComponentKind k) noexcept {
  switch (k) {
    case ComponentKind::kPair: return "pair";
    case ComponentKind::kRtp: return "rtp";
    case ComponentKind::kRtcp: return "rtcp";
  }
  return "?";
}

struct Component {
  std::string key;  // natural key
  ComponentKind kind = ComponentKind::kPair;
  Party party = Party::kCaller;
  std::string fork;
  std::size_t stream = 0;
  fcp::ReserveRequest request;
};

/// How the agent serving the *other* party sees one stream's media source: an exact ip:port
/// (RTCP port alongside), or only an IP to latch on (RFC 7362, one-shot, fcp-notes §1.6).
struct PeerView {
  net::IpAddress ip;
  std::optional<std::uint16_t> port;  // nullopt: latch on `ip`
  std::uint16_t rtcp_port = 0;        // the actual RTCP source port; 0 = none/unknown
  friend bool operator==(const PeerView&, const PeerView&) = default;
};

struct StreamPlan {
  sdp::StreamInfo info;
  bool active = false;                // port != 0 (RFC 3264 §6: port 0 = rejected)
  std::vector<Component> components;  // inside party, active stream
  std::optional<PeerView> peer;       // nullopt: no usable remote (rejected, 0.0.0.0 hold, NAT without source)
};

struct SidePlan {
  Party party = Party::kCaller;
  std::string fork;
  bool inside = false;
  std::vector<StreamPlan> streams;
};

fcp::RemotePeer remote_for(const PeerView& v, ComponentKind kind) {
  if (!v.port) {
    return fcp::RemotePeer::latch(v.ip);
  }
  const auto next = static_cast<std::uint16_t>(*v.port + 1);
  switch (kind) {
    case ComponentKind::kPair:
      // RFC 3550 §11: RTCP on port + 1 unless a=rtcp (RFC 3605) or rtcp-mux (RFC 5761) says otherwise.
      return fcp::RemotePeer{v.ip, v.port, (v.rtcp_port == 0 || v.rtcp_port == next) ? std::uint16_t{0} : v.rtcp_port};
    case ComponentKind::kRtp:
      return fcp::RemotePeer{v.ip, v.port, 0};
    case ComponentKind::kRtcp:
      return fcp::RemotePeer{v.ip, v.rtcp_port != 0 ? v.rtcp_port : next, 0};
  }
  return fcp::RemotePeer::latch(v.ip);
}

struct Problem {
  MediaError error = MediaError::kBadSdp;
  SipWarning warning;
  std::string detail;
};

Problem from_sdp_error(const sdp::SdpError& e) {
  std::string detail = std::string(sdp::sdp_error_kind_name(e.kind)) + " (line " + std::to_string(e.line) +
                       "): " + std::string(e.message);
  switch (e.kind) {
    case sdp::SdpErrorKind::kTooManyMedia:
      return {MediaError::kTooManyStreams, {399, "Too many media streams"}, std::move(detail)};
    case sdp::SdpErrorKind::kUnsupportedNetType:
      return {MediaError::kUnsupported, {300, "Incompatible network protocol"}, std::move(detail)};
    case sdp::SdpErrorKind::kUnsupportedAddress:
      return {MediaError::kUnsupported, {301, "Incompatible network address formats"}, std::move(detail)};
    default:
      return {MediaError::kBadSdp, {399, "Malformed session description"}, std::move(detail)};
  }
}

MediaResult pass_result(std::string_view body, MediaError e = MediaError::kNone, std::string detail = {}) {
  MediaResult r;
  r.action = MediaAction::kPassThrough;
  r.error = e;
  r.body = std::string(body);
  r.detail = std::move(detail);
  return r;
}

MediaResult reject_result(int status, std::string reason, MediaError e, std::string detail) {
  MediaResult r;
  r.action = MediaAction::kReject;
  r.error = e;
  r.status = status;
  r.reason = std::move(reason);
  r.detail = std::move(detail);
  return r;
}

struct Binding {
  Party party = Party::kCaller;
  std::string fork;
  std::size_t stream = 0;
  ComponentKind kind = ComponentKind::kPair;
  fcp::BindingInfo info;
  std::vector<fcp::RemotePeer> remotes;  // last enabled set
  fcp::ReserveRequest request;           // as first reserved: what a re-creation asks for again
  /// The agent lost it (state loss, or missing at a reconcile). Its id is stale — an agent numbers
  /// bindings anew in a new epoch, so the old id may name another call's binding — and is never
  /// sent again; the next exchange or MediaRecovery reserves it anew.
  bool lost = false;
  Clock::TimePoint since{};
  std::optional<net::Endpoint> latched;       // component 0's remote learned by a latch
  std::optional<std::uint16_t> latched_rtcp;  // component 1's remote port
};

struct AnswerState {
  std::string digest;
  AnswerKind kind = AnswerKind::kProvisional;
  SidePlan plan;
  MediaResult result;
};

/// One offer/answer exchange (RFC 3264 §4): the offer and the provisional answers per fork.
struct Exchange {
  Party offerer = Party::kCaller;
  std::uint32_t cseq = 0;
  std::string digest;
  SidePlan offer;
  MediaResult result;  // what the offer's callback got
  bool initial = false;  // before the dialog was confirmed
  std::map<std::string, AnswerState> answers;
};

/// A completed message, for retransmissions after its exchange ended (a 2xx is retransmitted
/// until the ACK, RFC 3261 §13.3.1.4).
struct Cached {
  Party from = Party::kCaller;
  std::uint32_t cseq = 0;
  std::string fork;
  std::string digest;
  AnswerKind kind = AnswerKind::kFinal;
  MediaResult result;
};

/// The FCP calls of one on_offer/on_answer, under one fcp_timeout budget.
struct Op {
  std::size_t pending = 0;
  std::optional<fcp::FcpError> error;
  bool finished = false;
  TimerQueue::TimerId timer = 0;
  bool recreate = false;  // a binding re-creation (MediaRecovery), not an offer/answer exchange
  std::function<void()> settled;                                   // every call of the phase answered
  std::function<void(MediaError, std::string)> abort;              // timeout / termination
};

std::string digest_of(std::string_view content_type, std::string_view body) {
  return hash_fields({trim(content_type.substr(0, content_type.find(';'))), body});
}

}  // namespace

// =============================================================================================

struct MediaSession::Impl : std::enable_shared_from_this<MediaSession::Impl> {
  Impl(MediaEnv e, MediaPolicy p, const CallKey& key)
      : env(e), policy(std::move(p)), group(group_id_for(key.call_id, key.from_tag)), call_id(key.call_id) {}

  MediaEnv env;
  MediaPolicy policy;
  std::string group;
  std::string call_id;  // logs only

  std::map<std::string, Binding> bindings;  // natural key → binding we hold
  std::map<std::string, int> reserving;     // natural keys with a reserve in flight
  std::vector<std::string> agents;          // every agent reserved on (group released on each)
  bool released = false;
  bool confirmed = false;
  std::string confirmed_fork;
  std::array<std::optional<SidePlan>, 2> committed;
  std::array<bool, 2> seen_inside{false, false};
  std::optional<Exchange> ex;
  std::optional<Cached> last_offer;
  std::optional<Cached> last_answer;

  std::shared_ptr<Op> current_op;
  std::deque<std::function<void()>> queue;
  bool busy = false;

  // ---- small helpers ----

  void count(std::uint64_t MediaStats::*m) {
    if (env.stats != nullptr) {
      ++(env.stats->*m);
    }
  }

  void deliver(const MediaCallback& done, MediaResult r) {
    boost::asio::post(env.fcp.executor(), [w = weak_from_this(), done, r = std::move(r)]() mutable {
      if (w.lock()) {
        done(std::move(r));
      }
    });
  }

  std::string fork_of(Party p, const SignalContext& ctx) const {
    if (p == Party::kCaller) {
      return {};
    }
    return confirmed ? confirmed_fork : ctx.fork;
  }

  BadBodyAction action_for(MediaError e) const {
    switch (e) {
      case MediaError::kContentType: return policy.other_content_type;
      case MediaError::kTooManyStreams: return policy.over_limit;
      case MediaError::kUnsupported:
      case MediaError::kNoRoute: return policy.unsupported;
      default: return policy.malformed;
    }
  }

  void count_problem(MediaError e) {
    switch (e) {
      case MediaError::kContentType: count(&MediaStats::rejected_content_type); break;
      case MediaError::kTooManyStreams: count(&MediaStats::rejected_stream_limit); break;
      case MediaError::kNoRoute: count(&MediaStats::rejected_no_route); break;
      default: count(&MediaStats::rejected_sdp); break;
    }
  }

  /// A body the session will not rewrite: pass it through or refuse it, per policy.
  MediaResult bad_body(std::string_view body, Problem p) {
    if (action_for(p.error) == BadBodyAction::kPassThrough) {
      count(&MediaStats::passed_through);
      return pass_result(body, p.error, std::move(p.detail));
    }
    count_problem(p.error);
    if (p.error == MediaError::kContentType) {
      // RFC 3261 §21.4.13: 415; the caller adds `Accept: application/sdp`.
      return reject_result(415, "Unsupported Media Type", p.error, std::move(p.detail));
    }
    MediaResult r = reject_result(488, "Not Acceptable Here", p.error, std::move(p.detail));
    r.warning = std::move(p.warning);  // RFC 3261 §21.4.26: SHOULD carry a Warning
    return r;
  }

  MediaResult fcp_failure(const fcp::FcpError& e) {
    count(&MediaStats::fcp_failures);
    const bool transient = e.retry_class != fcp::RetryClass::kNever || e.reason == fcp::FcpReason::kNoPorts ||
                           e.reason == fcp::FcpReason::kTableFull || e.reason == fcp::FcpReason::kOwnerQuota ||
                           e.reason == fcp::FcpReason::kTransport || e.reason == fcp::FcpReason::kDeadline;
    if (!transient) {
      return reject_result(500, "Server Internal Error", MediaError::kFcpFailed, e.to_string());
    }
    MediaResult r = reject_result(503, "Service Unavailable", MediaError::kFcpFailed, e.to_string());
    r.retry_after = policy.retry_after;
    if (e.retry_after > fcp::Millis::zero()) {
      r.retry_after = std::chrono::ceil<std::chrono::seconds>(e.retry_after);
    }
    return r;
  }

  MediaResult timeout_result() {
    count(&MediaStats::fcp_timeouts);
    MediaResult r = reject_result(503, "Service Unavailable", MediaError::kFcpTimeout,
                                  "pinhole agent did not answer within " +
                                      std::to_string(policy.fcp_timeout.count()) + " ms");
    r.retry_after = policy.retry_after;
    return r;
  }

  // ---- queue: one message at a time, so retransmissions find the first one's result ----

  void enqueue(std::function<void()> work) {
    queue.push_back(std::move(work));
    pump();
  }

  void pump() {
    while (!busy && !queue.empty()) {
      auto work = std::move(queue.front());
      queue.pop_front();
      work();
    }
  }

  std::shared_ptr<Op> start_op(std::optional<std::chrono::milliseconds> budget = std::nullopt) {
    auto op = std::make_shared<Op>();
    op->timer = env.timers.schedule(env.clock.now() + budget.value_or(policy.fcp_timeout),
                                    [w = weak_from_this(), op] {
                                      auto self = w.lock();
                                      if (!self || op->finished) {
                                        return;
                                      }
                                      auto abort = op->abort;
                                      self->end_op(op);
                                      if (abort) {
                                        abort(MediaError::kFcpTimeout, {});
                                      }
                                      self->pump();
                                    });
    current_op = op;
    busy = true;
    return op;
  }

  void end_op(const std::shared_ptr<Op>& op) {
    op->finished = true;
    env.timers.cancel(op->timer);
    op->settled = nullptr;
    op->abort = nullptr;
    if (current_op == op) {
      current_op.reset();
      busy = false;
    }
  }

  static void settle(const std::shared_ptr<Op>& op) {
    auto f = std::move(op->settled);
    op->settled = nullptr;
    if (f) {
      f();
    }
  }

  // ---- bindings ----

  void release_binding_ref(const fcp::BindingRef& ref) {
    count(&MediaStats::releases);
    env.fcp.release(fcp::ReleaseRequest{ref, {}}, [](fcp::FcpResult<fcp::ReleaseResult>) {});
  }

  std::set<std::string> referenced_keys() const {
    std::set<std::string> keys;
    auto add = [&](const SidePlan& p) {
      for (const StreamPlan& s : p.streams) {
        for (const Component& c : s.components) {
          keys.insert(c.key);
        }
      }
    };
    for (const auto& c : committed) {
      if (c) {
        add(*c);
      }
    }
    if (ex) {
      add(ex->offer);
      for (const auto& [fork, a] : ex->answers) {
        add(a.plan);
      }
    }
    return keys;
  }

  /// Releases every binding no committed stream and no outstanding exchange uses any more.
  void release_unreferenced() {
    const std::set<std::string> keep = referenced_keys();
    for (auto it = bindings.begin(); it != bindings.end();) {
      if (keep.contains(it->first)) {
        ++it;
        continue;
      }
      if (!it->second.lost) {  // a lost binding is gone already, and its id may be another's now
        release_binding_ref(it->second.info.ref());
      }
      it = bindings.erase(it);
    }
  }

  void note_agent(const std::string& agent) {
    if (std::find(agents.begin(), agents.end(), agent) == agents.end()) {
      agents.push_back(agent);
    }
  }

  void run_reserves(const std::shared_ptr<Op>& op, std::vector<Component> missing, std::function<void()> then) {
    op->settled = std::move(then);
    op->pending = missing.size();
    if (missing.empty()) {
      settle(op);
      return;
    }
    for (Component& c : missing) {
      note_agent(c.request.agent);
      count(&MediaStats::reserves);
      ++reserving[c.key];
      fcp::ReserveRequest request = c.request;
      env.fcp.reserve(std::move(request), [w = weak_from_this(), op, fcp = &env.fcp, c = std::move(c)](
                                              fcp::FcpResult<fcp::ReserveResult> r) {
        auto self = w.lock();
        if (!self) {
          // The session is gone (its group release is already on its way): never leave this behind.
          if (r.ok()) {
            fcp->release(fcp::ReleaseRequest{r->binding.ref(), {}}, [](fcp::FcpResult<fcp::ReleaseResult>) {});
          }
          return;
        }
        self->on_reserved(op, c, std::move(r));
        self->pump();
      });
    }
  }

  void on_reserved(const std::shared_ptr<Op>& op, const Component& c, fcp::FcpResult<fcp::ReserveResult> r) {
    if (auto it = reserving.find(c.key); it != reserving.end() && --it->second == 0) {
      reserving.erase(it);
    }
    if (op->finished) {
      // Answered after its exchange failed, timed out or the call ended: release it unless a
      // later exchange holds (or is reserving) the same natural key.
      const auto held = bindings.find(c.key);
      const bool owned = held != bindings.end() && r.ok() && !held->second.lost &&
                         held->second.info.binding_id == r->binding.binding_id;
      if (r.ok() && !owned && !reserving.contains(c.key)) {
        count(&MediaStats::late_bindings_released);
        release_binding_ref(r->binding.ref());
      }
      return;
    }
    if (r.ok()) {
      Binding b;
      b.party = c.party;
      b.fork = c.fork;
      b.stream = c.stream;
      b.kind = c.kind;
      b.info = r->binding;
      b.request = c.request;
      b.request.request_id.clear();
      b.request.public_port.reset();
      b.since = env.clock.now();
      for (const fcp::PinholeInfo& p : r->binding.pinholes) {
        b.remotes.push_back(p.remote);
      }
      bindings[c.key] = std::move(b);
    } else if (!op->error) {
      op->error = std::move(r).error();
    }
    if (--op->pending == 0) {
      settle(op);
    }
  }

  using EnableList = std::vector<std::pair<std::string, std::vector<fcp::RemotePeer>>>;

  void run_enables(const std::shared_ptr<Op>& op, EnableList list, std::function<void()> then) {
    op->settled = std::move(then);
    op->pending = list.size();
    if (list.empty()) {
      settle(op);
      return;
    }
    for (auto& [key, remotes] : list) {
      const auto it = bindings.find(key);
      fcp::EnableRequest request;
      request.binding = it->second.info.ref();
      request.remotes = remotes;
      count(&MediaStats::enables);
      for (const fcp::RemotePeer& p : remotes) {
        if (!p.port) {
          count(&MediaStats::latches);
        }
      }
      env.fcp.enable(std::move(request), [w = weak_from_this(), op, key = key, remotes = std::move(remotes)](
                                             fcp::FcpResult<fcp::BindingInfo> r) {
        auto self = w.lock();
        if (!self) {
          return;
        }
        self->on_enabled(op, key, remotes, std::move(r));
        self->pump();
      });
    }
  }

  void on_enabled(const std::shared_ptr<Op>& op, const std::string& key, const std::vector<fcp::RemotePeer>& remotes,
                  fcp::FcpResult<fcp::BindingInfo> r) {
    if (op->finished) {
      return;  // the binding is released with its exchange or the group; nothing to undo
    }
    if (r.ok()) {
      if (auto it = bindings.find(key); it != bindings.end()) {
        it->second.remotes = remotes;
        it->second.info.generation = r->generation;
      }
    } else if (!op->error) {
      op->error = std::move(r).error();
    }
    if (--op->pending == 0) {
      settle(op);
    }
  }

  /// Components without a binding yet; the others keep theirs (counted as reused).
  std::vector<Component> missing_components(const SidePlan& plan) {
    std::vector<Component> out;
    std::set<std::string> seen;
    for (const StreamPlan& s : plan.streams) {
      for (const Component& c : s.components) {
        if (!seen.insert(c.key).second) {
          continue;
        }
        const auto it = bindings.find(c.key);
        if (it == bindings.end()) {
          out.push_back(c);
        } else if (it->second.lost) {
          // Lost with its agent's state and not re-created yet: reserve it now, preferring the
          // public port the other side already knows.
          Component again = c;
          again.request.public_port =
              fcp::PublicPortHint{it->second.info.public_endpoint, fcp::PublicPortHint::Mode::kPrefer};
          out.push_back(std::move(again));
        } else {
          count(&MediaStats::bindings_reused);
        }
      }
    }
    return out;
  }

  // ---- planning: which streams need what ----

  Component make_component(Party party, const std::string& fork, std::size_t stream, ComponentKind kind,
                           const net::Endpoint& private_endpoint, const fcp::AgentRoute& route, const std::string& proto) {
    Component c;
    c.kind = kind;
    c.party = party;
    c.fork = fork;
    c.stream = stream;
    const std::uint32_t port_count = kind == ComponentKind::kPair ? 2 : 1;
    // Natural key: the same stream of the same party at the same private endpoint is the same
    // binding, however often it is offered (retransmissions, re-INVITEs, FCP retries).
    c.key = hash_fields({"stream", group, party_name(party), fork, std::to_string(stream), kind_name(kind),
                         private_endpoint.to_string(), std::to_string(port_count)});
    fcp::ReserveRequest& r = c.request;
    r.agent = route.agent;
    r.realm = route.realm;
    r.group_id = group;
    r.natural_key = c.key;
    r.protocol = (proto.size() >= 3 && iequals(std::string_view(proto).substr(0, 3), "TCP")) ? fcp::Protocol::kTcp
                                                                                             : fcp::Protocol::kUdp;
    r.private_endpoint = private_endpoint;
    r.port_count = port_count;
    r.parity = port_count == 2 ? fcp::Parity::kEven : fcp::Parity::kAny;  // RFC 4787 REQ-4
    r.lease = policy.lease;
    return c;
  }

  Result<SidePlan, Problem> plan_side(const sdp::SessionDescription& sd, const SignalContext& ctx, Party party,
                                      const std::string& fork) {
    SidePlan plan;
    plan.party = party;
    plan.fork = fork;
    std::vector<sdp::StreamInfo> infos = sd.streams();

    switch (ctx.realm) {
      case Realm::kOutside: plan.inside = false; break;
      case Realm::kInside: plan.inside = true; break;
      case Realm::kAuto:
        plan.inside = seen_inside[idx(party)] ||
                      std::any_of(infos.begin(), infos.end(), [&](const sdp::StreamInfo& s) {
                        return !s.rejected && s.address && !s.address->is_unspecified() &&
                               env.directory.route(*s.address).has_value();
                      });
        break;
    }

    for (sdp::StreamInfo& info : infos) {
      StreamPlan s;
      s.active = !info.rejected;
      const std::size_t i = info.index;
      if (s.active && plan.inside) {
        if (info.port_count > 1) {
          return unexpected(Problem{MediaError::kUnsupported, {307, "Layered media streams are not supported"},
                                    "m= line " + std::to_string(i) + " has a port count of " +
                                        std::to_string(info.port_count)});
        }
        if (!info.address || info.address->is_unspecified()) {
          // RFC 3264 §8.4 hold with c=0.0.0.0: keep the stream's binding; nothing to reserve.
          const auto& prev = committed[idx(party)];
          if (!prev || i >= prev->streams.size() || prev->streams[i].components.empty()) {
            return unexpected(Problem{MediaError::kNoRoute, {399, "No media path for this stream"},
                                      "stream " + std::to_string(i) + " is on hold (unspecified address) "
                                      "and has no binding to keep"});
          }
          s.components = prev->streams[i].components;
        } else {
          const auto route = env.directory.route(*info.address);
          if (!route) {
            return unexpected(Problem{MediaError::kNoRoute, {399, "No media path for this address"},
                                      "no agent serves " + info.address->to_string() + " (stream " +
                                          std::to_string(i) + ")"});
          }
          const net::Endpoint rtp(*info.address, info.port);
          const net::IpAddress rtcp_address = info.rtcp_address.value_or(*info.address);
          if (!info.rtcp_port || info.rtcp_mux) {
            // Non-RTP, or RTP+RTCP on one port (RFC 5761 §5.1.1): a single binding.
            s.components.push_back(make_component(party, fork, i, ComponentKind::kRtp, rtp, *route, info.proto));
          } else if (*info.rtcp_port == info.port + 1 && rtcp_address == *info.address) {
            // RFC 3550 §11 adjacent pair: one binding of two ports, even/odd (RFC 4787 REQ-4).
            s.components.push_back(make_component(party, fork, i, ComponentKind::kPair, rtp, *route, info.proto));
          } else {
            // RFC 3605 a=rtcp elsewhere: a binding for each.
            const auto rtcp_route = env.directory.route(rtcp_address);
            if (!rtcp_route) {
              return unexpected(Problem{MediaError::kNoRoute, {399, "No media path for this address"},
                                        "no agent serves the RTCP address " + rtcp_address.to_string()});
            }
            s.components.push_back(make_component(party, fork, i, ComponentKind::kRtp, rtp, *route, info.proto));
            s.components.push_back(make_component(party, fork, i, ComponentKind::kRtcp,
                                                  net::Endpoint(rtcp_address, *info.rtcp_port), *rtcp_route,
                                                  info.proto));
          }
        }
      } else if (s.active && info.address && !info.address->is_unspecified()) {
        // Outside party: exactly its SDP address, unless it is behind a NAT itself (RFC 7362):
        // then latch, one-shot, only on the IP the signalling came from.
        const net::IpAddress& a = *info.address;
        const bool natted = (policy.latch_private_address && a.is_private()) ||
                            (policy.latch_source_mismatch && !ctx.trust_sdp_address && ctx.source &&
                             ctx.source->address() != a);
        if (natted) {
          if (ctx.source) {
            s.peer = PeerView{ctx.source->address(), std::nullopt, 0};
          }
        } else {
          s.peer = PeerView{a, info.port, info.rtcp_port.value_or(0)};
        }
      }
      s.info = std::move(info);
      plan.streams.push_back(std::move(s));
    }
    return plan;
  }

  /// The public view of an inside party's streams, once its bindings exist.
  void fill_inside_peers(SidePlan& plan) const {
    if (!plan.inside) {
      return;
    }
    for (StreamPlan& s : plan.streams) {
      if (!s.active || s.components.empty()) {
        continue;
      }
      const Binding* rtp = nullptr;
      const Binding* rtcp = nullptr;
      for (const Component& c : s.components) {
        const auto it = bindings.find(c.key);
        if (it == bindings.end()) {
          continue;
        }
        (c.kind == ComponentKind::kRtcp ? rtcp : rtp) = &it->second;
      }
      if (rtp == nullptr) {
        s.peer.reset();
        continue;
      }
      PeerView v;
      v.ip = rtp->info.public_endpoint.address();
      v.port = rtp->info.public_endpoint.port();
      if (rtp->kind == ComponentKind::kPair) {
        v.rtcp_port = static_cast<std::uint16_t>(*v.port + 1);
      } else if (rtcp != nullptr) {
        v.rtcp_port = rtcp->info.public_endpoint.port();
      } else if (s.info.rtcp_mux) {
        v.rtcp_port = *v.port;
      }
      s.peer = v;
    }
  }

  Result<std::string, Error> rewrite(sdp::SessionDescription sd, const SidePlan& plan) const {
    std::vector<sdp::PublicBinding> publics;
    for (std::size_t i = 0; i < plan.streams.size(); ++i) {
      const StreamPlan& s = plan.streams[i];
      if (!s.active) {
        continue;
      }
      sdp::PublicBinding pb;
      pb.stream = i;
      bool have_rtp = false;
      for (const Component& c : s.components) {
        const auto it = bindings.find(c.key);
        if (it == bindings.end()) {
          continue;
        }
        const std::vector<net::Endpoint> eps = it->second.info.public_endpoints();
        if (c.kind == ComponentKind::kRtcp) {
          pb.rtcp = it->second.info.public_endpoint;
        } else {
          pb.rtp = it->second.info.public_endpoint;
          have_rtp = true;
          if (c.kind == ComponentKind::kPair && eps.size() > 1) {
            pb.rtcp = eps[1];
          }
        }
      }
      if (have_rtp) {
        publics.push_back(pb);
      }
    }
    auto r = sdp::rewrite_for_nat(sd, publics, policy.rewrite);
    if (!r.ok()) {
      return unexpected(r.error());
    }
    return sd.serialize();
  }

  /// The remote sets the answer calls for, where they differ from what the bindings have.
  EnableList compute_enables(const std::string& fork, const SidePlan& answer, AnswerKind kind) const {
    EnableList out;
    auto want = [&](const Component& c, const std::vector<PeerView>& views) {
      if (views.empty()) {
        return;  // rejected stream, 0.0.0.0 hold, NAT without a source: keep what is there
      }
      std::vector<fcp::RemotePeer> remotes;
      for (const PeerView& v : views) {
        fcp::RemotePeer p = remote_for(v, c.kind);
        if (std::find(remotes.begin(), remotes.end(), p) == remotes.end()) {
          remotes.push_back(p);
        }
      }
      const auto it = bindings.find(c.key);
      if (it == bindings.end() || it->second.lost || it->second.remotes == remotes) {
        return;
      }
      if (std::find_if(out.begin(), out.end(), [&](const auto& e) { return e.first == c.key; }) == out.end()) {
        out.emplace_back(c.key, std::move(remotes));
      }
    };
    auto view_of = [](const SidePlan& p, std::size_t i, std::vector<PeerView>& views) {
      if (i < p.streams.size() && p.streams[i].active && p.streams[i].peer &&
          std::find(views.begin(), views.end(), *p.streams[i].peer) == views.end()) {
        views.push_back(*p.streams[i].peer);
      }
    };
    // The offerer's bindings: the answerer's streams. Provisional answers of several forks all
    // get pinholes (union); the final answer keeps only its fork (RFC 3261 §13.2.2.4).
    const SidePlan& offer = ex->offer;
    for (std::size_t i = 0; i < offer.streams.size(); ++i) {
      const StreamPlan& s = offer.streams[i];
      if (!s.active || s.components.empty()) {
        continue;
      }
      std::vector<PeerView> views;
      if (kind == AnswerKind::kProvisional) {
        for (const auto& [f, a] : ex->answers) {
          view_of(f == fork ? answer : a.plan, i, views);
        }
      }
      view_of(answer, i, views);
      for (const Component& c : s.components) {
        want(c, views);
      }
    }
    // The answerer's bindings: the offerer's streams.
    for (std::size_t i = 0; i < answer.streams.size(); ++i) {
      const StreamPlan& s = answer.streams[i];
      if (!s.active || s.components.empty()) {
        continue;
      }
      std::vector<PeerView> views;
      view_of(offer, i, views);
      for (const Component& c : s.components) {
        want(c, views);
      }
    }
    return out;
  }

  // ---- offer ----

  void do_offer(const std::string& body, const std::string& content_type, const SignalContext& ctx,
                const MediaCallback& done) {
    count(&MediaStats::offers);
    const std::string digest = digest_of(content_type, body);
    // Retransmission (or spiral) of the outstanding or the last completed offer.
    if (ex && ex->offerer == ctx.from && ex->cseq == ctx.cseq) {
      if (ex->digest == digest) {
        count(&MediaStats::retransmissions);
        deliver(done, ex->result);
        return;
      }
      if (ex->result.action == MediaAction::kForward && ex->result.body == body) {
        // Our own rewritten offer coming back through us (spiral, RFC 3261 §16.3 step 4).
        deliver(done, pass_result(body));
        return;
      }
    }
    if (last_offer && last_offer->from == ctx.from && last_offer->cseq == ctx.cseq && last_offer->digest == digest) {
      count(&MediaStats::retransmissions);
      deliver(done, last_offer->result);
      return;
    }
    if (released) {
      deliver(done, reject_result(481, "Call/Transaction Does Not Exist", MediaError::kTerminated,
                                  "media session released"));
      return;
    }
    if (body.empty()) {
      deliver(done, pass_result(body));  // no offer here (late offer: it comes in the 2xx)
      return;
    }
    if (ex) {
      count(&MediaStats::rejected_glare);
      if (ex->offerer == ctx.from) {
        // RFC 3261 §14.2 / RFC 3311 §5.2: an offer while our forwarded offer is unanswered.
        MediaResult r = reject_result(500, "Server Internal Error", MediaError::kGlare,
                                      "offer while the previous offer is unanswered");
        r.retry_after = policy.retry_after;
        deliver(done, std::move(r));
      } else {
        deliver(done, reject_result(491, "Request Pending", MediaError::kGlare, "offers crossed (glare)"));
      }
      return;
    }
    if (!content_type_allowed(content_type, policy.sdp_content_types)) {
      deliver(done, bad_body(body, Problem{MediaError::kContentType, {},
                                           "body type " + log_excerpt(content_type, 64) + " is not SDP"}));
      return;
    }
    sdp::SdpLimits limits = policy.sdp_limits;
    limits.max_media = policy.max_streams;
    auto parsed = sdp::SessionDescription::parse(body, limits);
    if (!parsed.ok()) {
      deliver(done, bad_body(body, from_sdp_error(parsed.error())));
      return;
    }
    const std::string fork = fork_of(ctx.from, ctx);
    auto plan = plan_side(*parsed, ctx, ctx.from, fork);
    if (!plan.ok()) {
      deliver(done, bad_body(body, std::move(plan).error()));
      return;
    }

    ex.emplace();
    ex->offerer = ctx.from;
    ex->cseq = ctx.cseq;
    ex->digest = digest;
    ex->offer = std::move(*plan);
    ex->initial = !confirmed;

    auto op = start_op();
    op->abort = [this, done](MediaError e, const std::string&) {
      fail_offer(done, e == MediaError::kFcpTimeout ? timeout_result()
                                                    : reject_result(487, "Request Terminated", e, "call ended"));
    };
    run_reserves(op, missing_components(ex->offer), [this, op, done, sd = std::move(*parsed), body]() {
      if (op->error) {
        const fcp::FcpError e = *op->error;
        end_op(op);
        fail_offer(done, fcp_failure(e));
        return;
      }
      fill_inside_peers(ex->offer);
      MediaResult r;
      if (ex->offer.inside) {
        auto out = rewrite(sd, ex->offer);
        if (!out.ok()) {
          end_op(op);
          fail_offer(done, reject_result(500, "Server Internal Error", MediaError::kUnsupported,
                                         out.error().to_string()));
          return;
        }
        count(&MediaStats::rewritten);
        r.action = MediaAction::kForward;
        r.body = std::move(*out);
      } else {
        count(&MediaStats::unchanged);
        r = pass_result(body);
      }
      ex->result = r;
      end_op(op);
      deliver(done, std::move(r));
    });
  }

  /// The exchange failed before the offer was forwarded: drop it and whatever it reserved. A
  /// failed initial offer ends the call (the caller answers the INVITE with `r`).
  void fail_offer(const MediaCallback& done, MediaResult r) {
    bool initial = false;
    if (ex) {
      last_offer = Cached{ex->offerer, ex->cseq, {}, ex->digest, AnswerKind::kFinal, r};
      initial = ex->initial;
      ex.reset();
    }
    if (!released) {
      release_unreferenced();
    }
    deliver(done, std::move(r));
    if (initial) {
      release_all(EndReason::kFailure);
    }
  }

  // ---- answer ----

  void do_answer(const std::string& body, const std::string& content_type, const SignalContext& ctx, AnswerKind kind,
                 const MediaCallback& done) {
    count(&MediaStats::answers);
    const std::string fork = fork_of(ctx.from, ctx);
    const std::string digest = digest_of(content_type, body);
    if (last_answer && last_answer->from == ctx.from && last_answer->cseq == ctx.cseq && last_answer->fork == fork &&
        last_answer->digest == digest && last_answer->kind == kind) {
      count(&MediaStats::retransmissions);
      deliver(done, last_answer->result);
      return;
    }
    if (released) {
      deliver(done, reject_result(0, {}, MediaError::kTerminated, "media session released"));
      return;
    }
    if (!ex || ex->offerer == ctx.from) {
      count(&MediaStats::answers_without_offer);
      deliver(done, pass_result(body, MediaError::kNoOffer, "no outstanding offer from the other party"));
      return;
    }
    if (body.empty()) {
      // A 2xx without SDP after an answer in a reliable 18x (RFC 3262): that answer is final now.
      const auto it = ex->answers.find(fork);
      if (kind == AnswerKind::kFinal && it != ex->answers.end()) {
        SidePlan plan = it->second.plan;
        apply_answer(ctx, kind, fork, digest, std::move(plan), std::nullopt, body, done);
        return;
      }
      deliver(done, pass_result(body));
      return;
    }
    if (const auto it = ex->answers.find(fork);
        it != ex->answers.end() && it->second.digest == digest && it->second.kind == kind) {
      count(&MediaStats::retransmissions);
      deliver(done, it->second.result);
      return;
    }
    auto refuse = [&](Problem p) {
      MediaResult r = bad_body(body, std::move(p));
      deliver(done, r);
      if (r.action == MediaAction::kReject && kind == AnswerKind::kFinal && ex->initial) {
        release_all(EndReason::kFailure);  // the call cannot have media through us
      }
    };
    if (!content_type_allowed(content_type, policy.sdp_content_types)) {
      refuse(Problem{MediaError::kContentType, {}, "body type " + log_excerpt(content_type, 64) + " is not SDP"});
      return;
    }
    sdp::SdpLimits limits = policy.sdp_limits;
    limits.max_media = policy.max_streams;
    auto parsed = sdp::SessionDescription::parse(body, limits);
    if (!parsed.ok()) {
      refuse(from_sdp_error(parsed.error()));
      return;
    }
    if (parsed->media_count() != ex->offer.streams.size()) {
      refuse(Problem{MediaError::kUnsupported, {399, "Answer does not match the offer"},
                     "answer has " + std::to_string(parsed->media_count()) + " m= lines, the offer " +
                         std::to_string(ex->offer.streams.size()) + " (RFC 3264 §6)"});
      return;
    }
    auto plan = plan_side(*parsed, ctx, ctx.from, fork);
    if (!plan.ok()) {
      refuse(std::move(plan).error());
      return;
    }
    apply_answer(ctx, kind, fork, digest, std::move(*plan), std::move(*parsed), body, done);
  }

  void apply_answer(const SignalContext& ctx, AnswerKind kind, const std::string& fork, const std::string& digest,
                    SidePlan plan, std::optional<sdp::SessionDescription> sd, const std::string& body,
                    const MediaCallback& done) {
    auto op = start_op();
    op->abort = [this, done, kind](MediaError e, const std::string&) {
      fail_answer(done, kind,
                  e == MediaError::kFcpTimeout ? timeout_result() : reject_result(0, {}, e, "call ended"));
    };
    auto shared_plan = std::make_shared<SidePlan>(std::move(plan));
    const Party from = ctx.from;
    const std::uint32_t cseq = ctx.cseq;
    run_reserves(op, missing_components(*shared_plan), [=, this, sd = std::move(sd)]() {
      if (op->error) {
        const fcp::FcpError e = *op->error;
        end_op(op);
        fail_answer(done, kind, fcp_failure(e));
        return;
      }
      fill_inside_peers(*shared_plan);
      run_enables(op, compute_enables(fork, *shared_plan, kind), [=, this]() {
        if (op->error) {
          const fcp::FcpError e = *op->error;
          end_op(op);
          fail_answer(done, kind, fcp_failure(e));
          return;
        }
        MediaResult r;
        if (shared_plan->inside && sd) {
          auto out = rewrite(*sd, *shared_plan);
          if (!out.ok()) {
            end_op(op);
            fail_answer(done, kind, reject_result(500, "Server Internal Error", MediaError::kUnsupported,
                                                  out.error().to_string()));
            return;
          }
          count(&MediaStats::rewritten);
          r.action = MediaAction::kForward;
          r.body = std::move(*out);
        } else if (!sd && shared_plan->inside) {
          r = pass_result(body);  // a 2xx repeating no SDP: nothing to rewrite
        } else {
          count(&MediaStats::unchanged);
          r = pass_result(body);
        }
        end_op(op);
        if (kind == AnswerKind::kProvisional) {
          ex->answers[fork] = AnswerState{digest, kind, *shared_plan, r};
        } else {
          commit(fork, std::move(*shared_plan), Cached{from, cseq, fork, digest, kind, r});
        }
        deliver(done, std::move(r));
      });
    });
  }

  void fail_answer(const MediaCallback& done, AnswerKind kind, MediaResult r) {
    const bool end_call = !released && kind == AnswerKind::kFinal && ex && ex->initial;
    if (!released) {
      release_unreferenced();  // the bindings this answer reserved are in no plan yet
    }
    deliver(done, std::move(r));
    if (end_call) {
      release_all(EndReason::kFailure);
    }
  }

  /// A final answer completes the exchange: its streams become the dialog's; bindings of other
  /// forks, of replaced private endpoints and of streams the answer rejected are released.
  void commit(const std::string& fork, SidePlan answer, Cached cached) {
    const Party offerer = ex->offerer;
    const Party answerer = other(offerer);
    SidePlan offer = std::move(ex->offer);
    for (std::size_t i = 0; i < offer.streams.size() && i < answer.streams.size(); ++i) {
      if (!answer.streams[i].active) {
        offer.streams[i].components.clear();  // RFC 3264 §6: rejected by the answerer, no media
      }
    }
    seen_inside[idx(offerer)] = seen_inside[idx(offerer)] || offer.inside;
    seen_inside[idx(answerer)] = seen_inside[idx(answerer)] || answer.inside;
    if (!confirmed) {
      confirmed = true;
      confirmed_fork = answerer == Party::kCallee ? fork : offer.fork;
    }
    last_offer = Cached{offerer, ex->cseq, {}, ex->digest, AnswerKind::kFinal, ex->result};
    last_answer = std::move(cached);
    committed[idx(offerer)] = std::move(offer);
    committed[idx(answerer)] = std::move(answer);
    ex.reset();
    release_unreferenced();
  }

  // ---- endings ----

  void offer_failed(int /*status*/) {
    if (released) {
      return;
    }
    if (!confirmed) {
      release_all(EndReason::kFailure);
      return;
    }
    // re-INVITE / UPDATE refused: RFC 3261 §14.1, the session stays as it was.
    if (current_op && !current_op->recreate) {
      auto op = current_op;
      auto abort = op->abort;
      end_op(op);
      if (abort) {
        abort(MediaError::kTerminated, {});
      }
    }
    ex.reset();
    release_unreferenced();
    pump();
  }

  void release_all(EndReason /*reason*/) {
    if (released) {
      return;
    }
    released = true;
    count(&MediaStats::sessions_terminated);
    for (const std::string& agent : agents) {
      count(&MediaStats::releases);
      env.fcp.release(fcp::ReleaseRequest{fcp::GroupRef{agent, group}, {}},
                      [](fcp::FcpResult<fcp::ReleaseResult>) {});
    }
    bindings.clear();
    committed = {};
    ex.reset();
    if (current_op) {
      auto op = current_op;
      auto abort = op->abort;
      end_op(op);
      if (abort) {
        abort(MediaError::kTerminated, {});
      }
    }
    pump();
  }

  // ---- agent state loss (MediaRecovery) ----

  std::vector<std::string> mark_lost(const std::string& agent) {
    std::vector<std::string> keys;
    if (released) {
      return keys;
    }
    for (auto& [key, b] : bindings) {
      if (b.info.agent == agent) {
        b.lost = true;
        keys.push_back(key);
      }
    }
    return keys;
  }

  bool mark_lost_binding(const std::string& key) {
    const auto it = bindings.find(key);
    if (released || it == bindings.end()) {
      return false;
    }
    it->second.lost = true;
    return true;
  }

  void deliver_recreate(const RecreateCallback& done, RecreateResult r) {
    boost::asio::post(env.fcp.executor(), [w = weak_from_this(), done, r = std::move(r)]() mutable {
      if (w.lock()) {
        done(std::move(r));
      }
    });
  }

  /// The remote set to enable on a re-created binding: what the session had asked for, except
  /// that a one-shot latch which had fired becomes its learned remote (exact), so media passes at
  /// once instead of waiting to latch again. A pair latches per port: exact only when both ports
  /// had latched; otherwise the latch again (the far end keeps sending, the first packet re-latches).
  static std::vector<fcp::RemotePeer> remotes_after_loss(const Binding& b) {
    std::vector<fcp::RemotePeer> out;
    for (const fcp::RemotePeer& p : b.remotes) {
      fcp::RemotePeer q = p;
      if (!p.port && b.latched && b.latched->address() == p.address &&
          (b.info.port_count < 2 || b.latched_rtcp.has_value())) {
        std::uint16_t rtcp = 0;  // 0 = port + 1 (RFC 3550 §11)
        if (b.info.port_count >= 2 && *b.latched_rtcp != static_cast<std::uint16_t>(b.latched->port() + 1)) {
          rtcp = *b.latched_rtcp;
        }
        q = fcp::RemotePeer::exact(*b.latched, rtcp);
      }
      if (std::find(out.begin(), out.end(), q) == out.end()) {
        out.push_back(q);
      }
    }
    return out;
  }

  void do_recreate(const std::string& key, const RecreateCallback& done) {
    const auto it = bindings.find(key);
    if (released || it == bindings.end() || !it->second.lost) {
      deliver_recreate(done, {RecreateOutcome::kSkipped, std::nullopt});
      return;
    }
    Binding& b = it->second;
    fcp::ReserveRequest request = b.request;
    request.request_id.clear();  // a new request: the client reuses its id for its own retries
    // RFC 6887 §13.2 PREFER_FAILURE: the old port or nothing — the port is in both phones' SDP.
    request.public_port =
        fcp::PublicPortHint{b.info.public_endpoint, fcp::PublicPortHint::Mode::kExactOrFail};
    const net::Endpoint old_public = b.info.public_endpoint;
    auto op = start_op(policy.recovery.binding_timeout);
    op->recreate = true;
    op->abort = [this, done](MediaError e, const std::string&) {
      if (e == MediaError::kFcpTimeout) {
        fcp::FcpError err;
        err.error = Error(ErrorCode::kDeadlineExceeded,
                          "binding re-creation did not finish in " +
                              std::to_string(policy.recovery.binding_timeout.count()) + " ms");
        err.reason = fcp::FcpReason::kDeadline;
        err.retry_class = fcp::RetryClass::kSameRequest;
        deliver_recreate(done, {RecreateOutcome::kFailed, std::move(err)});
      } else {
        deliver_recreate(done, {RecreateOutcome::kSkipped, std::nullopt});  // the call ended
      }
    };
    count(&MediaStats::reserves);
    env.fcp.reserve(std::move(request), [w = weak_from_this(), op, fcp = &env.fcp, key, old_public,
                                         done](fcp::FcpResult<fcp::ReserveResult> r) {
      auto self = w.lock();
      if (!self) {
        if (r.ok()) {  // the session is gone: never leave its re-created binding behind
          fcp->release(fcp::ReleaseRequest{r->binding.ref(), {}}, [](fcp::FcpResult<fcp::ReleaseResult>) {});
        }
        return;
      }
      self->on_recreate_reserved(op, key, old_public, std::move(r), done);
      self->pump();
    });
  }

  void on_recreate_reserved(const std::shared_ptr<Op>& op, const std::string& key,
                            const net::Endpoint& old_public, fcp::FcpResult<fcp::ReserveResult> r,
                            const RecreateCallback& done) {
    if (op->finished) {
      // The call ended (its group release may have overtaken this reserve) or the budget ran out:
      // the outcome is reported already; release what the agent created.
      if (r.ok()) {
        count(&MediaStats::late_bindings_released);
        release_binding_ref(r->binding.ref());
      }
      return;
    }
    if (!r.ok()) {
      end_op(op);
      fcp::FcpError e = std::move(r).error();
      const bool port_lost = e.reason == fcp::FcpReason::kCannotProvideExternal;
      deliver_recreate(done,
                       {port_lost ? RecreateOutcome::kPortLost : RecreateOutcome::kFailed, std::move(e)});
      return;
    }
    const auto it = bindings.find(key);
    if (it == bindings.end()) {
      // Forgotten meanwhile (closed-by-agent event for the new id, or a re-INVITE released it).
      count(&MediaStats::late_bindings_released);
      release_binding_ref(r->binding.ref());
      end_op(op);
      deliver_recreate(done, {RecreateOutcome::kSkipped, std::nullopt});
      return;
    }
    Binding& b = it->second;
    b.info = r->binding;
    b.lost = false;
    b.since = env.clock.now();
    if (b.info.public_endpoint != old_public) {
      // The natural key already existed on another port (created=false): keep that binding (it is
      // ours and valid; a re-INVITE rewrites the SDP to it), but this stream's media is broken.
      b.remotes.clear();
      end_op(op);
      fcp::FcpError e;
      e.error = Error(
          ErrorCode::kFailedPrecondition,
          "binding re-created on " + b.info.public_endpoint.to_string() + ", not " + old_public.to_string());
      e.reason = fcp::FcpReason::kCannotProvideExternal;
      deliver_recreate(done, {RecreateOutcome::kPortLost, std::move(e)});
      return;
    }
    std::vector<fcp::RemotePeer> remotes = remotes_after_loss(b);
    if (remotes.empty()) {
      end_op(op);  // reserved only (offer without answer yet): the answer enables it
      deliver_recreate(done, {RecreateOutcome::kRecreated, std::nullopt});
      return;
    }
    count(&MediaStats::enables);
    fcp::EnableRequest request;
    request.binding = b.info.ref();
    request.remotes = std::move(remotes);
    env.fcp.enable(std::move(request),
                   [w = weak_from_this(), op, key, done](fcp::FcpResult<fcp::BindingInfo> e) {
                     auto self = w.lock();
                     if (!self) {
                       return;  // the session's group release covers the binding
                     }
                     self->on_recreate_enabled(op, key, std::move(e), done);
                     self->pump();
                   });
  }

  void on_recreate_enabled(const std::shared_ptr<Op>& op, const std::string& key,
                           fcp::FcpResult<fcp::BindingInfo> r, const RecreateCallback& done) {
    if (op->finished) {
      return;  // released with the group, or reported as timed out (the binding stays held)
    }
    end_op(op);
    const auto it = bindings.find(key);
    if (!r.ok()) {
      if (it != bindings.end()) {
        // Holes missing: lost again, so a retry reserves (idempotent on the natural key: the same
        // binding comes back) and enables again; no stale id is used meanwhile.
        it->second.lost = true;
      }
      deliver_recreate(done, {RecreateOutcome::kFailed, std::move(r).error()});
      return;
    }
    if (it != bindings.end()) {
      it->second.info.generation = r->generation;  // `remotes` keeps what the session asked for
    }
    deliver_recreate(done, {RecreateOutcome::kRecreated, std::nullopt});
  }

  Binding* find_by_id(const std::string& agent, const std::string& binding_id) {
    for (auto& [key, b] : bindings) {
      if (!b.lost && b.info.agent == agent && b.info.binding_id == binding_id) {
        return &b;
      }
    }
    return nullptr;
  }

  BindingEventEffect on_binding_event(const fcp::FcpEvent& e) {
    if (released || e.binding_id.empty()) {
      return BindingEventEffect::kNotOurs;
    }
    Binding* b = find_by_id(e.agent, e.binding_id);
    if (b == nullptr) {
      return BindingEventEffect::kNotOurs;
    }
    switch (e.kind) {
      case fcp::EventKind::kLatched: {
        if (!e.latched_remote) {
          return BindingEventEffect::kNoted;
        }
        // The agent names the port of the pair in the detail ("component 1" = the RTCP port).
        if (e.detail.find("component 1") != std::string::npos) {
          b->latched_rtcp = e.latched_remote->port();
        } else {
          b->latched = *e.latched_remote;
        }
        return BindingEventEffect::kLatched;
      }
      case fcp::EventKind::kExpired:
      case fcp::EventKind::kIdle:
      case fcp::EventKind::kClosedByAgent:
        for (auto it = bindings.begin(); it != bindings.end(); ++it) {
          if (&it->second == b) {
            bindings.erase(it);
            break;
          }
        }
        return BindingEventEffect::kClosed;
      default:
        return BindingEventEffect::kNoted;
    }
  }

  bool refresh_binding(const fcp::BindingInfo& listed) {
    const auto it = bindings.find(listed.natural_key);
    if (released || it == bindings.end() || it->second.info.agent != listed.agent) {
      return false;
    }
    Binding& b = it->second;
    b.info.binding_id = listed.binding_id;
    b.info.generation = listed.generation;
    for (const fcp::PinholeInfo& p : listed.pinholes) {
      if (p.latched_remote && !b.latched) {
        b.latched = *p.latched_remote;  // the List only reports the first port's latch
      }
    }
    return true;
  }

  void shutdown() {
    if (current_op) {
      // Late answers see `finished` (and an expired session) and release what they created.
      current_op->finished = true;
      current_op->settled = nullptr;  // breaks the op -> continuation -> op cycle
      current_op->abort = nullptr;
      env.timers.cancel(current_op->timer);
      current_op.reset();
    }
    queue.clear();
    if (!released) {
      released = true;
      for (const std::string& agent : agents) {
        env.fcp.release(fcp::ReleaseRequest{fcp::GroupRef{agent, group}, {}},
                        [](fcp::FcpResult<fcp::ReleaseResult>) {});
      }
    }
  }
};

// =============================================================================================

MediaSession::MediaSession(MediaEnv env, MediaPolicy policy, const CallKey& key)
    : impl_(std::make_shared<Impl>(env, std::move(policy), key)) {
  if (impl_->env.registry != nullptr) {
    impl_->env.registry->add_session(*this);
  }
}

MediaSession::~MediaSession() {
  if (impl_->env.registry != nullptr) {
    impl_->env.registry->remove_session(*this);
  }
  impl_->shutdown();
}

void MediaSession::on_offer(std::string_view body, std::string_view content_type, const SignalContext& ctx,
                            MediaCallback done) {
  impl_->enqueue([impl = impl_.get(), body = std::string(body), ct = std::string(content_type), ctx,
                  done = std::move(done)] { impl->do_offer(body, ct, ctx, done); });
}

void MediaSession::on_answer(std::string_view body, std::string_view content_type, const SignalContext& ctx,
                             AnswerKind kind, MediaCallback done) {
  impl_->enqueue([impl = impl_.get(), body = std::string(body), ct = std::string(content_type), ctx, kind,
                  done = std::move(done)] { impl->do_answer(body, ct, ctx, kind, done); });
}

void MediaSession::on_offer_failed(int status) { impl_->offer_failed(status); }

void MediaSession::release_all(EndReason reason) { impl_->release_all(reason); }

const std::string& MediaSession::group_id() const noexcept { return impl_->group; }
bool MediaSession::released() const noexcept { return impl_->released; }
bool MediaSession::confirmed() const noexcept { return impl_->confirmed; }
bool MediaSession::offer_outstanding() const noexcept { return impl_->ex.has_value(); }
std::vector<std::string> MediaSession::agents() const { return impl_->agents; }

std::vector<MediaBindingView> MediaSession::bindings() const {
  std::vector<MediaBindingView> out;
  for (const auto& [key, b] : impl_->bindings) {
    MediaBindingView v;
    v.party = b.party;
    v.fork = b.fork;
    v.stream = b.stream;
    v.rtcp_only = b.kind == ComponentKind::kRtcp;
    v.ref = b.info.ref();
    v.natural_key = key;
    v.private_endpoint = b.info.private_endpoint;
    v.public_endpoint = b.info.public_endpoint;
    v.port_count = b.info.port_count;
    v.remotes = b.remotes;
    v.lost = b.lost;
    v.latched_remote = b.latched;
    v.latched_rtcp_port = b.latched_rtcp;
    v.known_since = b.since;
    out.push_back(std::move(v));
  }
  std::sort(out.begin(), out.end(), [](const MediaBindingView& a, const MediaBindingView& b) {
    return std::tie(a.party, a.fork, a.stream, a.rtcp_only) < std::tie(b.party, b.fork, b.stream, b.rtcp_only);
  });
  return out;
}

std::string MediaSession::make_group_id(std::string_view call_id, std::string_view from_tag) {
  return group_id_for(call_id, from_tag);
}

const std::string& MediaSession::call_id() const noexcept {
  return impl_->call_id;
}

std::vector<std::string> MediaSession::mark_lost(const std::string& agent) {
  return impl_->mark_lost(agent);
}

bool MediaSession::mark_lost_binding(const std::string& natural_key) {
  return impl_->mark_lost_binding(natural_key);
}

void MediaSession::recreate_binding(const std::string& natural_key, RecreateCallback done) {
  impl_->enqueue(
      [impl = impl_.get(), key = natural_key, done = std::move(done)] { impl->do_recreate(key, done); });
}

BindingEventEffect MediaSession::on_binding_event(const fcp::FcpEvent& event) {
  return impl_->on_binding_event(event);
}

bool MediaSession::refresh_binding(const fcp::BindingInfo& listed) {
  return impl_->refresh_binding(listed);
}

}  // namespace portcullis::media
