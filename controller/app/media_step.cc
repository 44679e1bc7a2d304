#include "controller/app/media_step.h"

#include <utility>

#include "common/log/log.h"
#include "controller/proxy/topology.h"

namespace portcullis::controller::app {

namespace {

std::string content_type_of(const sip::SipMessage& msg) {
  const sip::HeaderField* f = msg.find(sip::HeaderId::kContentType);
  return f != nullptr ? std::string(f->value) : std::string("application/sdp");
}

/// RFC 1918 / RFC 6598 IPv4 or IPv6 ULA: an SDP address that only means something behind a NAT.
bool is_private_address(std::string_view text) {
  auto ip = net::IpAddress::parse(text);
  if (!ip.ok()) {
    return false;
  }
  for (const char* p : {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7"}) {
    auto prefix = net::Prefix::parse(p);
    if (prefix.ok() && prefix->contains(*ip)) {
      return true;
    }
  }
  return false;
}

/// Far-end NAT (a home worker): private o=/c=/a=rtcp addresses of an outside party's SDP become
/// the address its signalling came from, so the inside phone sends where the packets will really
/// come from (the latch admits them). Ports are kept (most home NATs preserve them; the latch
/// learns the real source port for the inbound direction either way).
std::optional<std::string> fix_far_end_sdp(std::string_view body, const net::Endpoint& source) {
  if (is_private_address(source.address().to_string())) {
    return std::nullopt;  // the signalling source is private too: nothing better to offer
  }
  return proxy::scrub_sdp_addresses(body, is_private_address, source.address().to_string());
}

media::MediaEnv counted(media::MediaEnv env, media::MediaStats* stats) {
  env.stats = stats;
  return env;
}

std::string key_of(std::string_view call_id, std::string_view tag) {
  std::string k(call_id);
  k += '\n';
  k += tag;
  return k;
}

}  // namespace

MediaStep::MediaStep(media::MediaEnv env, media::MediaPolicy policy, std::string warn_agent)
    : env_(env),
      policy_(std::move(policy)),
      recovery_(counted(env, &stats_), policy_.recovery),  // becomes the FcpClient's subscriber
      warn_agent_(std::move(warn_agent)) {
  env_.stats = &stats_;
  env_.registry = &recovery_;
}

MediaStep::~MediaStep() {
  // One line per shard at shutdown (bench/nat_vs_kamailio.sh merges the buckets of every shard).
  for (const auto* h : {&offer_hold_, &answer_hold_}) {
    if (h->count() != 0) {
      log::get("media")->info("fcp hold {}: n={} p50={}us p99={}us max={}us buckets={}",
                              h == &offer_hold_ ? "offer" : "answer", h->count(), h->quantile_us(0.5),
                              h->quantile_us(0.99), h->max_us(), h->buckets());
    }
  }
}

void MediaStep::attach(proxy::ProxyCore* core, std::function<void()> after_event) {
  core_ = core;
  after_event_ = std::move(after_event);
  // Recovery work finishes on FCP answers and retry timers: flush and re-arm the shard's timer.
  recovery_.set_after_work([this] {
    if (after_event_) {
      after_event_();
    }
  });
}

std::string MediaStep::call_id_of(const sip::SipMessage& msg) const {
  return core_ != nullptr ? core_->identity().codec().reveal_call_id(msg.call_id()) : std::string(msg.call_id());
}

MediaStep::Call* MediaStep::find(const sip::SipMessage& msg, media::Party* sender) {
  const std::string cid = call_id_of(msg);
  if (auto it = calls_.find(key_of(cid, msg.from().tag())); it != calls_.end()) {
    *sender = media::Party::kCaller;
    return &it->second;
  }
  if (!msg.to().tag().empty()) {
    if (auto it = calls_.find(key_of(cid, msg.to().tag())); it != calls_.end()) {
      *sender = media::Party::kCallee;
      return &it->second;
    }
  }
  return nullptr;
}

void MediaStep::erase(const sip::SipMessage& msg) {
  const std::string cid = call_id_of(msg);
  if (calls_.erase(key_of(cid, msg.from().tag())) == 0 && !msg.to().tag().empty()) {
    calls_.erase(key_of(cid, msg.to().tag()));
  }
}

media::Realm MediaStep::realm_of(const proxy::RequestContext& ctx) const {
  if (ctx.inbound == nullptr || core_ == nullptr) {
    return media::Realm::kAuto;
  }
  if (ctx.inbound->hide_topology) {
    return media::Realm::kAuto;
  }
  // A public realm while another one is private: its parties never get bindings, even when a
  // home NAT uses addresses inside our prefixes.
  for (const proxy::ProxyInterface& i : core_->config().interfaces) {
    if (i.hide_topology) {
      return media::Realm::kOutside;
    }
  }
  return media::Realm::kAuto;
}

void MediaStep::finish(proxy::RequestId id, media::MediaResult result) {
  if (core_ == nullptr) {
    return;
  }
  results_[id] = std::move(result);
  core_->resume(id);
  results_.erase(id);  // resumed (consumed) or no longer waiting (answered meanwhile)
  if (after_event_) {
    after_event_();
  }
}

proxy::ProcessorAction MediaStep::process(proxy::RequestContext& ctx) {
  const sip::SipMessage& req = ctx.request();
  const sip::Method method = ctx.method();
  if (method == sip::Method::kBye) {
    media::Party sender = media::Party::kCaller;
    if (Call* call = find(req, &sender)) {
      call->session->release_all(media::EndReason::kBye);
      erase(req);
    }
    return proxy::ProcessorAction::kContinue;
  }
  const bool offer_method = method == sip::Method::kInvite || method == sip::Method::kUpdate;
  const bool answer_method = method == sip::Method::kAck || method == sip::Method::kPrack;
  if (!offer_method && !answer_method) {
    return proxy::ProcessorAction::kContinue;
  }
  if (auto it = results_.find(ctx.id()); it != results_.end()) {
    media::MediaResult r = std::move(it->second);
    results_.erase(it);
    const bool far_end = policy_.latch_private_address && realm_of(ctx) == media::Realm::kOutside;
    switch (r.action) {
      case media::MediaAction::kForward:
        ctx.body_override = std::move(r.body);
        if (far_end) {
          if (auto fixed = fix_far_end_sdp(*ctx.body_override, ctx.from().endpoint)) {
            ctx.body_override = std::move(*fixed);
          }
        }
        return proxy::ProcessorAction::kContinue;
      case media::MediaAction::kPassThrough:
        if (r.error != media::MediaError::kNone) {
          log::get("media")->info("passing body through: {} ({})", media::to_string(r.error), r.detail);
        } else if (far_end) {
          if (auto fixed = fix_far_end_sdp(req.body(), ctx.from().endpoint)) {
            ctx.body_override = std::move(*fixed);
          }
        }
        return proxy::ProcessorAction::kContinue;
      case media::MediaAction::kReject: {
        log::get("media")->info("{} rejected: {} {} ({})", sip::method_name(method), r.status, r.reason, r.detail);
        if (method == sip::Method::kAck) {
          return proxy::ProcessorAction::kContinue;  // an ACK cannot be refused
        }
        std::vector<proxy::ResponseHeader> extra;
        if (r.warning) {
          extra.push_back({"Warning", r.warning->to_header_value(warn_agent_)});
        }
        if (r.retry_after) {
          extra.push_back({"Retry-After", std::to_string(r.retry_after->count())});
        }
        ctx.respond(static_cast<std::uint16_t>(r.status), r.reason, std::move(extra));
        return proxy::ProcessorAction::kStop;
      }
    }
    return proxy::ProcessorAction::kContinue;
  }

  media::Party sender = media::Party::kCaller;
  Call* call = find(req, &sender);
  const bool initial = method == sip::Method::kInvite && req.to().tag().empty();
  if (call == nullptr) {
    if (!initial) {
      return proxy::ProcessorAction::kContinue;  // not a call we set up media for
    }
    const std::string cid = call_id_of(req);
    Call c;
    c.caller_tag = std::string(req.from().tag());
    c.session = std::make_unique<media::MediaSession>(env_, policy_, media::CallKey{cid, c.caller_tag});
    call = &(calls_[key_of(cid, c.caller_tag)] = std::move(c));
    sender = media::Party::kCaller;
  }
  if (req.body().empty()) {
    return proxy::ProcessorAction::kContinue;  // late offer, or an ACK / PRACK without SDP
  }
  media::SignalContext sc;
  sc.from = sender;
  sc.realm = realm_of(ctx);
  sc.source = ctx.from().endpoint;
  sc.cseq = req.cseq().number;
  const proxy::RequestId id = ctx.id();
  std::weak_ptr<int> alive = alive_;
  const bool is_answer = answer_method && call->session->offer_outstanding();
  auto done = [this, alive, id, is_answer, held = env_.clock.now()](media::MediaResult r) {
    if (!alive.expired()) {
      (is_answer ? answer_hold_ : offer_hold_).record(env_.clock.now() - held);
      finish(id, std::move(r));
    }
  };
  const std::string ctype = content_type_of(req);
  if (is_answer) {
    call->session->on_answer(req.body(), ctype, sc, media::AnswerKind::kFinal, std::move(done));
  } else {
    call->session->on_offer(req.body(), ctype, sc, std::move(done));
  }
  return proxy::ProcessorAction::kWaitForEvent;
}

bool MediaStep::on_response(const proxy::RequestContext& request, const sip::SipMessage& response,
                            const sip::Peer& from, proxy::ResponseDone done) {
  const sip::Method method = request.method();
  if (method != sip::Method::kInvite && method != sip::Method::kUpdate && method != sip::Method::kPrack) {
    return false;
  }
  const std::uint16_t status = response.status_code();
  if (status <= 100 || status >= 300 || response.body().empty() || core_ == nullptr) {
    return false;
  }
  media::Party request_sender = media::Party::kCaller;
  Call* call = find(request.request(), &request_sender);
  if (call == nullptr) {
    return false;
  }
  media::SignalContext sc;
  sc.from = request_sender == media::Party::kCaller ? media::Party::kCallee : media::Party::kCaller;
  const proxy::ProxyInterface& iface = core_->identity().interface_for(from.endpoint.address());
  sc.realm = media::Realm::kAuto;
  if (!iface.hide_topology) {
    for (const proxy::ProxyInterface& i : core_->config().interfaces) {
      if (i.hide_topology) {
        sc.realm = media::Realm::kOutside;
      }
    }
  }
  sc.source = from.endpoint;
  sc.fork = std::string(response.to().tag());
  sc.cseq = response.cseq().number;
  const bool far_end = policy_.latch_private_address && sc.realm == media::Realm::kOutside;
  const net::Endpoint source = from.endpoint;
  std::string original(response.body());
  // The request carried the offer: this body is the answer. A request without a body (late offer)
  // gets the offer in its response.
  const bool is_answer =
      !request.request().body().empty() || (method == sip::Method::kPrack && call->session->offer_outstanding());
  std::weak_ptr<int> alive = alive_;
  auto cb = [this, alive, is_answer, held = env_.clock.now(), done = std::move(done), far_end, source,
             original = std::move(original)](media::MediaResult r) {
    if (!alive.expired()) {
      (is_answer ? answer_hold_ : offer_hold_).record(env_.clock.now() - held);
    }
    if (r.action == media::MediaAction::kForward) {
      if (far_end) {
        if (auto fixed = fix_far_end_sdp(r.body, source)) {
          r.body = std::move(*fixed);
        }
      }
      done(std::move(r.body));
    } else if (r.action == media::MediaAction::kPassThrough && r.error == media::MediaError::kNone && far_end) {
      done(fix_far_end_sdp(original, source));
    } else {
      if (r.action == media::MediaAction::kReject) {
        log::get("media")->warn("answer not usable: {} ({})", media::to_string(r.error), r.detail);
      }
      done(std::nullopt);
    }
    // The released response is queued in the core: send it now, not at the shard's next event
    // (as finish() does for held requests).
    if (!alive.expired() && after_event_) {
      after_event_();
    }
  };
  const std::string ctype = content_type_of(response);
  if (is_answer) {
    call->session->on_answer(response.body(), ctype, sc,
                             status < 200 ? media::AnswerKind::kProvisional : media::AnswerKind::kFinal, std::move(cb));
  } else {
    call->session->on_offer(response.body(), ctype, sc, std::move(cb));
  }
  return true;
}

void MediaStep::on_final(const proxy::RequestContext& request, std::uint16_t status) {
  results_.erase(request.id());
  const sip::Method method = request.method();
  if (status < 300 || (method != sip::Method::kInvite && method != sip::Method::kUpdate)) {
    return;
  }
  media::Party sender = media::Party::kCaller;
  Call* call = find(request.request(), &sender);
  if (call == nullptr) {
    return;
  }
  const bool initial = method == sip::Method::kInvite && request.request().to().tag().empty();
  if (initial) {
    // No dialog: the call is over (486, 603, 487 after CANCEL, 408 Timer C/B, 503 ...).
    call->session->release_all(status == 487   ? media::EndReason::kCancel
                               : status == 408 ? media::EndReason::kTransactionTimeout
                                               : media::EndReason::kFailure);
    erase(request.request());
  } else if (call->session->offer_outstanding()) {
    call->session->on_offer_failed(status);  // re-INVITE / UPDATE: roll back this exchange only
  }
}

void MediaStep::release_all() {
  for (auto& [key, call] : calls_) {
    call.session->release_all(media::EndReason::kShutdown);
  }
  calls_.clear();
}

}  // namespace portcullis::controller::app
