// MediaRecovery: what the media layer does when a pinhole agent loses or keeps its state
// (fcp-notes §2.3 controller rules, §4.2 scenarios; PCP's ANNOUNCE/epoch behaviour, RFC 6887 §14).
// It is the FcpSubscriber of one executor's FcpClient and the registry its MediaSessions join.
// Sans-I/O: FCP through FcpClient, time through Clock + TimerQueue (the owner drives run_due and
// calls nothing else; `after_work` tells it that new timers may need arming).
//
//   on_state_lost(agent)        new state_epoch, or the RFC 6887 §8.5 check failed: every binding
//                               of every live call on that agent is gone. Each session marks its
//                               bindings there lost (their ids are never used again), and each one
//                               is queued for re-creation: reserve the SAME public port
//                               (PublicPortHint::kExactOrFail — both phones' SDP name it), same
//                               group, natural key and private endpoint, then the same holes (a
//                               fired latch as its exact learned remote). A port the agent cannot
//                               give back means that stream's media is broken: logged with the
//                               Call-ID, counted (recreate_port_lost, calls_media_broken), and the
//                               call is left alone — no re-INVITE is invented (a later re-INVITE or
//                               UPDATE from a phone reserves the stream anew, preferring the port).
//   on_reconcile_needed(agent)  same epoch, new instance (the client has already sent Adopt), or
//                               events were lost (RESYNC_REQUIRED), or the owner was re-adopted:
//                               List this owner's bindings there and compare with the live calls.
//                               A binding a call holds that the agent lacks is re-created as above;
//                               a listed binding whose group is no live call's is released
//                               (policy.release_unknown). Bindings of a live call the session does
//                               not know yet are left alone (a reserve may be in flight).
//   on_event                    LATCHED: remembered for a re-creation. EXPIRED / IDLE /
//                               CLOSED_BY_AGENT of a live call's binding: logged with the Call-ID,
//                               counted, and the session forgets the binding. ORPHANED: counted
//                               (the client re-adopts on reconnect). DRAIN: the agent is marked
//                               draining (see draining()); AgentDirectory maps each prefix to one
//                               agent, so there is no other agent to place new calls on, and the
//                               agent refuses new bindings itself (DRAINING → 503 + Retry-After).
//   on_session                  re-creations wait while the agent's session is down (they would
//                               only fail with NO_SESSION) and resume when it is up again.
//
// Bounded work: re-creations run at most policy.max_in_flight at a time (each is one reserve then
// one enable, inside its session's message queue so it never interleaves with an offer/answer
// exchange), from per-agent FIFO queues of at most policy.max_queued bindings; a (group, key)
// is queued once. Transient failures are tried again retry_delay later, max_attempts in all.
// A call that ends while its re-creation is in flight releases the re-created binding on arrival
// (MediaSession), and its queued jobs are skipped.
//
// Threading: the FcpClient's executor, like the sessions. The constructor makes this object the
// client's subscriber and the destructor unsets it; the client must outlive it, and the sessions
// registered with it must be destroyed before it (they remove themselves from the registry).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "controller/fcp/fcp_client.h"
#include "controller/media/media_session.h"

namespace portcullis::media {

class MediaRecovery final : public MediaSessionRegistry, public fcp::FcpSubscriber {
 public:
  /// `env.fcp`, `env.timers`, `env.clock` must outlive this object; `env.stats` may be null.
  /// `after_work` (may be empty) runs after every piece of asynchronous work this object did on
  /// its own (an FCP answer, a retry timer): the owner re-arms its timer for env.timers there.
  MediaRecovery(MediaEnv env, MediaRecoveryPolicy policy, std::function<void()> after_work = {});
  ~MediaRecovery();
  MediaRecovery(const MediaRecovery&) = delete;
  MediaRecovery& operator=(const MediaRecovery&) = delete;

  void set_after_work(std::function<void()> after_work) { after_work_ = std::move(after_work); }

  // ---- MediaSessionRegistry ----
  void add_session(MediaSession& session) override;
  void remove_session(MediaSession& session) noexcept override;

  // ---- fcp::FcpSubscriber ----
  void on_event(const fcp::FcpEvent& event) override;
  void on_state_lost(const fcp::StateLost& loss) override;
  void on_reconcile_needed(const fcp::ReconcileNeeded& need) override;
  void on_session(const fcp::SessionStatus& status) override;

  // ---- inspection (tests, show commands) ----
  std::size_t sessions() const noexcept { return sessions_.size(); }
  /// Bindings waiting (queued or waiting to retry), not counting those in flight.
  std::size_t queued() const noexcept { return queued_count_ + delayed_.size(); }
  std::size_t in_flight() const noexcept { return in_flight_.size(); }
  /// The largest number of re-creations in flight at once so far.
  std::size_t peak_in_flight() const noexcept { return peak_in_flight_; }
  bool draining(const std::string& agent) const { return draining_.contains(agent); }
  /// Reconciles whose List has not answered yet.
  std::size_t reconciles_pending() const noexcept { return reconciles_pending_; }

 private:
  struct Job {
    std::string group;
    std::string key;  // natural key
    std::string agent;
    int attempts = 0;
  };

  void count(std::uint64_t MediaStats::*m, std::uint64_t n = 1) {
    if (env_.stats != nullptr) {
      env_.stats->*m += n;
    }
  }
  MediaSession* find(const std::string& group) const;
  /// Queues one binding (deduplicated); false if the queue is full.
  bool enqueue(Job job);
  /// Starts queued jobs while fewer than max_in_flight run and their agent's session is up.
  void pump();
  /// pump() later on the executor (never re-entered from a subscriber or session callback).
  void schedule_pump();
  void start(Job job);
  void finished(std::uint64_t id, RecreateResult result);
  void reconcile(const std::string& agent, std::vector<fcp::BindingInfo> listed, Clock::TimePoint listed_at);
  void done_work();

  MediaEnv env_;
  MediaRecoveryPolicy policy_;
  std::function<void()> after_work_;

  std::unordered_map<std::string, MediaSession*> sessions_;  // group id -> live session
  std::unordered_set<std::string> broken_;                   // groups counted in calls_media_broken
  std::map<std::string, std::deque<Job>> queues_;            // agent -> jobs, FIFO
  std::size_t queued_count_ = 0;
  std::set<std::pair<std::string, std::string>> pending_;  // (group, key) queued, delayed or in flight
  std::unordered_map<std::uint64_t, Job> in_flight_;
  std::unordered_map<std::uint64_t, TimerQueue::TimerId> delayed_;  // job id -> retry timer
  std::unordered_map<std::uint64_t, Job> delayed_jobs_;
  std::uint64_t next_job_ = 1;
  std::size_t peak_in_flight_ = 0;
  std::set<std::string> down_agents_;
  std::set<std::string> draining_;
  std::size_t reconciles_pending_ = 0;
  bool pump_scheduled_ = false;
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

}  // namespace portcullis::media
