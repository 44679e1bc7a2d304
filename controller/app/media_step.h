// MediaStep: the media side of the proxy. One per shard, on the shard's executor (the FcpClient's).
// It is both a request processor (inserted after "target" in ProxyCore's chain) and the core's
// ResponseHook, and it owns one MediaSession (controller/media/media_session.h) per call:
//
//   INVITE / re-INVITE / UPDATE with SDP   → on_offer (kWaitForEvent, resumed when the agents
//                                            answered) → body rewritten, or 488/415/503 + Warning
//   PRACK / ACK with SDP                   → on_answer (late offer) or on_offer
//   18x / 2xx with SDP                     → on_answer (provisional / final), body rewritten
//                                            (on_offer for a late-offer INVITE's 2xx)
//   final ≥ 300, 408 (Timer B/C), 487      → on_offer_failed (initial INVITE: the call's group is
//     (CANCEL), 503 ...                       released)
//   BYE                                    → release_all(kBye)
//
// A call is found by (Call-ID as the private side wrote it, caller's From-tag); the Call-ID is
// revealed first (topology hiding encodes it toward the WAN).
//
// Agent restarts: the step owns a MediaRecovery (controller/media/media_recovery.h) that its
// sessions register with and that it makes the FcpClient's subscriber. A new state epoch
// re-creates every live call's bindings on that agent (same public ports, same holes, a bounded
// number at a time); a restart that kept the state is reconciled (List vs live calls); agent
// events about live calls' bindings are logged and counted.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>

#include "controller/media/latency_histogram.h"
#include "controller/media/media_recovery.h"
#include "controller/media/media_session.h"
#include "controller/proxy/processor.h"
#include "controller/proxy/proxy_core.h"
#include "controller/proxy/response_hook.h"

namespace portcullis::controller::app {

class MediaStep final : public proxy::RequestProcessor, public proxy::ResponseHook {
 public:
  /// `env` and `identity` must outlive the step. `warn_agent` is the warn-agent of Warning headers.
  MediaStep(media::MediaEnv env, media::MediaPolicy policy, std::string warn_agent);
  ~MediaStep() override;

  /// The core to resume waiting requests on, and what to run after any asynchronous completion
  /// (the shard's after_event: flush sends, re-arm timers).
  void attach(proxy::ProxyCore* core, std::function<void()> after_event);

  // ---- RequestProcessor ----
  std::string_view name() const override { return "media"; }
  proxy::ProcessorAction process(proxy::RequestContext& ctx) override;

  // ---- ResponseHook ----
  bool on_response(const proxy::RequestContext& request, const sip::SipMessage& response, const sip::Peer& from,
                   proxy::ResponseDone done) override;
  void on_final(const proxy::RequestContext& request, std::uint16_t status) override;

  /// Releases every call (controller shutdown).
  void release_all();
  std::size_t calls() const noexcept { return calls_.size(); }
  const media::MediaStats& stats() const noexcept { return stats_; }
  const media::MediaRecovery& recovery() const noexcept { return recovery_; }
  /// How long SIP messages waited for the agents (FCP), from the hold to the release: SDP offers
  /// (INVITE, UPDATE, late-offer 2xx) and answers (18x/2xx, ACK/PRACK). Logged by the destructor.
  const media::LatencyHistogram& offer_hold_times() const noexcept { return offer_hold_; }
  const media::LatencyHistogram& answer_hold_times() const noexcept { return answer_hold_; }

 private:
  struct Call {
    std::unique_ptr<media::MediaSession> session;
    std::string caller_tag;
  };

  std::string call_id_of(const sip::SipMessage& msg) const;
  /// The call a message belongs to and the party that sent it (by From-tag), or nullptr.
  Call* find(const sip::SipMessage& msg, media::Party* sender);
  void erase(const sip::SipMessage& msg);
  media::Realm realm_of(const proxy::RequestContext& ctx) const;
  void finish(proxy::RequestId id, media::MediaResult result);

  media::MediaEnv env_;
  media::MediaStats stats_;
  media::MediaPolicy policy_;
  // Before calls_: sessions remove themselves from it when destroyed.
  media::MediaRecovery recovery_;
  std::string warn_agent_;
  proxy::ProxyCore* core_ = nullptr;
  std::function<void()> after_event_;
  std::unordered_map<std::string, Call> calls_;  // key: call-id '\n' caller tag
  std::unordered_map<proxy::RequestId, media::MediaResult> results_;
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
  media::LatencyHistogram offer_hold_;
  media::LatencyHistogram answer_hold_;
};

}  // namespace portcullis::controller::app
