#include "controller/media/media_recovery.h"

#include <algorithm>

#include <boost/asio/post.hpp>

#include "common/base/text.h"
#include "common/log/log.h"

namespace portcullis::media {

namespace {

std::string_view cause_name(fcp::Cause c) noexcept {
  switch (c) {
    case fcp::Cause::kUnspecified:
      return "unspecified";
    case fcp::Cause::kRequested:
      return "requested";
    case fcp::Cause::kHardDeadline:
      return "hard deadline";
    case fcp::Cause::kIdle:
      return "idle";
    case fcp::Cause::kReservationTimeout:
      return "reservation timeout";
    case fcp::Cause::kOrphanGraceExpired:
      return "orphan grace expired";
    case fcp::Cause::kDrain:
      return "drain";
    case fcp::Cause::kAdmin:
      return "admin";
    case fcp::Cause::kStateLost:
      return "state lost";
    case fcp::Cause::kPolicy:
      return "policy";
    case fcp::Cause::kSessionLapsed:
      return "session lapsed";
    case fcp::Cause::kAdopted:
      return "adopted";
    case fcp::Cause::kLatched:
      return "latched";
  }
  return "?";
}

std::string_view reason_name(fcp::ReconcileReason r) noexcept {
  switch (r) {
    case fcp::ReconcileReason::kAgentRestarted:
      return "agent restarted with its state";
    case fcp::ReconcileReason::kResyncRequired:
      return "events lost (resync)";
    case fcp::ReconcileReason::kOwnerAdopted:
      return "owner re-adopted";
  }
  return "?";
}

/// Short form of a natural key (SHA-256 hex) for logs.
std::string_view short_key(const std::string& key) {
  return std::string_view(key).substr(0, 12);
}

}  // namespace

MediaRecovery::MediaRecovery(MediaEnv env, MediaRecoveryPolicy policy, std::function<void()> after_work)
    : env_(env), policy_(policy), after_work_(std::move(after_work)) {
  env_.registry = nullptr;  // sessions join this object; it joins nothing
  if (policy_.max_in_flight == 0) {
    policy_.max_in_flight = 1;
  }
  if (policy_.max_attempts < 1) {
    policy_.max_attempts = 1;
  }
  env_.fcp.set_subscriber(this);
}

MediaRecovery::~MediaRecovery() {
  env_.fcp.set_subscriber(nullptr);
  for (const auto& [id, timer] : delayed_) {
    env_.timers.cancel(timer);
  }
}

// ---- registry ----

void MediaRecovery::add_session(MediaSession& session) {
  sessions_[session.group_id()] = &session;
}

void MediaRecovery::remove_session(MediaSession& session) noexcept {
  const auto it = sessions_.find(session.group_id());
  if (it == sessions_.end() || it->second != &session) {
    return;
  }
  const std::string group = it->first;
  sessions_.erase(it);
  broken_.erase(group);
  // A destroyed session drops its pending callbacks: free its slots here. Its queued and delayed
  // jobs are skipped when their turn comes (the session is no longer found).
  bool freed = false;
  for (auto j = in_flight_.begin(); j != in_flight_.end();) {
    if (j->second.group == group) {
      pending_.erase({j->second.group, j->second.key});
      count(&MediaStats::recreate_skipped);
      j = in_flight_.erase(j);
      freed = true;
    } else {
      ++j;
    }
  }
  if (freed) {
    schedule_pump();
  }
}

MediaSession* MediaRecovery::find(const std::string& group) const {
  const auto it = sessions_.find(group);
  return it == sessions_.end() ? nullptr : it->second;
}

// ---- subscriber ----

void MediaRecovery::on_state_lost(const fcp::StateLost& loss) {
  count(&MediaStats::state_losses);
  draining_.erase(loss.agent);  // a new agent state: the drain was the old process's
  std::size_t bindings = 0;
  std::size_t calls = 0;
  std::size_t dropped = 0;
  for (const auto& [group, session] : sessions_) {
    const std::vector<std::string> keys = session->mark_lost(loss.agent);
    if (keys.empty()) {
      continue;
    }
    ++calls;
    for (const std::string& key : keys) {
      ++bindings;
      if (!enqueue(Job{group, key, loss.agent, 0})) {
        ++dropped;
      }
    }
  }
  auto log = log::get("media");
  log->warn(
      "agent '{}' lost its state ({}epoch {:#x} -> {:#x}): re-creating {} binding(s) of {} call(s) on the "
      "same public ports, {} at a time",
      loss.agent, loss.epoch_check_failed ? "epoch check failed, " : "",
      loss.before ? loss.before->state_epoch : 0, loss.after.state_epoch, bindings, calls,
      policy_.max_in_flight);
  if (dropped > 0) {
    log->error("agent '{}': recovery queue full ({} max): {} binding(s) not re-created", loss.agent,
               policy_.max_queued, dropped);
  }
  schedule_pump();
}

void MediaRecovery::on_reconcile_needed(const fcp::ReconcileNeeded& need) {
  count(&MediaStats::reconciles);
  if (need.reason == fcp::ReconcileReason::kAgentRestarted) {
    draining_.erase(need.agent);
  }
  log::get("media")->info("agent '{}': reconciling ({}; adopted {}, already bound {})", need.agent,
                          reason_name(need.reason), need.adopted, need.already_bound);
  ++reconciles_pending_;
  const Clock::TimePoint listed_at = env_.clock.now();
  std::weak_ptr<int> alive = alive_;
  env_.fcp.list(fcp::ListRequest{need.agent, {}}, [this, alive, agent = need.agent, listed_at](
                                                      fcp::FcpResult<std::vector<fcp::BindingInfo>> r) {
    if (alive.expired()) {
      return;
    }
    --reconciles_pending_;
    if (!r.ok()) {
      log::get("media")->warn("agent '{}': reconcile List failed: {}", agent, r.error().to_string());
    } else {
      reconcile(agent, std::move(*r), listed_at);
      pump();
    }
    done_work();
  });
}

void MediaRecovery::reconcile(const std::string& agent, std::vector<fcp::BindingInfo> listed,
                              Clock::TimePoint listed_at) {
  std::unordered_map<std::string, const fcp::BindingInfo*> by_key;
  for (const fcp::BindingInfo& b : listed) {
    if (!b.natural_key.empty()) {
      by_key.emplace(b.natural_key, &b);
    }
  }
  std::size_t missing = 0;
  for (const auto& [group, session] : sessions_) {
    for (const MediaBindingView& v : session->bindings()) {
      if (v.ref.agent != agent || v.lost || v.known_since > listed_at) {
        continue;  // elsewhere, already being re-created, or learned after the List was sent
      }
      if (const auto it = by_key.find(v.natural_key); it != by_key.end()) {
        session->refresh_binding(*it->second);  // the agent's id and latch state are authoritative
        continue;
      }
      if (session->mark_lost_binding(v.natural_key)) {
        ++missing;
        enqueue(Job{group, v.natural_key, agent, 0});
      }
    }
  }
  std::size_t released = 0;
  if (policy_.release_unknown) {
    for (const fcp::BindingInfo& b : listed) {
      // Only media bindings (every one has a group) of calls that are over. A live call's
      // binding the session does not know yet is left alone: its reserve may be in flight.
      if (b.group_id.empty() || sessions_.contains(b.group_id)) {
        continue;
      }
      ++released;
      count(&MediaStats::releases);
      env_.fcp.release(fcp::ReleaseRequest{b.ref(), {}}, [](fcp::FcpResult<fcp::ReleaseResult>) {});
    }
  }
  count(&MediaStats::reconcile_missing, missing);
  count(&MediaStats::reconcile_released, released);
  log::get("media")->info(
      "agent '{}': reconciled {} listed binding(s): {} missing (re-creating), {} of no live call "
      "released",
      agent, listed.size(), missing, released);
}

void MediaRecovery::on_event(const fcp::FcpEvent& event) {
  auto log = log::get("media");
  switch (event.kind) {
    case fcp::EventKind::kDrain:
      count(&MediaStats::agent_drains);
      draining_.insert(event.agent);
      // One agent per prefix (AgentDirectory): nowhere else to put new calls; the agent refuses
      // new bindings itself (DRAINING -> 503 + Retry-After) and keeps the live ones.
      log->warn("agent '{}' is draining: it refuses new bindings, live calls keep theirs ({})", event.agent,
                event.detail);
      return;
    case fcp::EventKind::kOrphaned:
      count(&MediaStats::bindings_orphaned);
      break;
    default:
      break;
  }
  if (event.group_id.empty() || event.binding_id.empty()) {
    return;
  }
  MediaSession* session = find(event.group_id);
  if (session == nullptr) {
    return;  // a call that is over (its release is on its way or done)
  }
  if (session->on_binding_event(event) == BindingEventEffect::kClosed) {
    count(&MediaStats::bindings_closed_by_agent);
    log->warn(
        "call {}: agent '{}' closed binding {} of the live call ({}, {}): that stream has no media until a "
        "re-INVITE",
        log_excerpt(session->call_id(), 128), event.agent, event.binding_id, fcp::to_string(event.kind),
        cause_name(event.cause));
  }
}

void MediaRecovery::on_session(const fcp::SessionStatus& status) {
  if (status.state == fcp::SessionState::kUp) {
    if (down_agents_.erase(status.agent) > 0) {
      schedule_pump();
    }
  } else {
    down_agents_.insert(status.agent);
  }
}

// ---- the queue ----

bool MediaRecovery::enqueue(Job job) {
  if (!pending_.insert({job.group, job.key}).second) {
    return true;  // already queued, waiting to retry or in flight
  }
  if (queued_count_ + delayed_.size() >= policy_.max_queued) {
    pending_.erase({job.group, job.key});
    count(&MediaStats::recreate_dropped);
    return false;
  }
  count(&MediaStats::recreate_queued);
  queues_[job.agent].push_back(std::move(job));
  ++queued_count_;
  return true;
}

void MediaRecovery::schedule_pump() {
  if (pump_scheduled_) {
    return;
  }
  pump_scheduled_ = true;
  boost::asio::post(env_.fcp.executor(), [this, alive = std::weak_ptr<int>(alive_)] {
    if (alive.expired()) {
      return;
    }
    pump_scheduled_ = false;
    pump();
    done_work();
  });
}

void MediaRecovery::pump() {
  // Round robin over the agents whose session is up, one job each per pass, so one agent's
  // backlog does not starve another's.
  bool progress = true;
  while (progress && queued_count_ > 0 && in_flight_.size() < policy_.max_in_flight) {
    progress = false;
    for (auto it = queues_.begin(); it != queues_.end() && in_flight_.size() < policy_.max_in_flight;) {
      if (it->second.empty()) {
        it = queues_.erase(it);
        continue;
      }
      if (down_agents_.contains(it->first)) {
        ++it;
        continue;
      }
      Job job = std::move(it->second.front());
      it->second.pop_front();
      --queued_count_;
      progress = true;
      start(std::move(job));
      ++it;
    }
  }
}

void MediaRecovery::start(Job job) {
  MediaSession* session = find(job.group);
  if (session == nullptr) {
    pending_.erase({job.group, job.key});
    count(&MediaStats::recreate_skipped);
    return;
  }
  const std::uint64_t id = next_job_++;
  const std::string key = job.key;
  in_flight_.emplace(id, std::move(job));
  peak_in_flight_ = std::max(peak_in_flight_, in_flight_.size());
  // Posted by the session, exactly once unless it is destroyed first (remove_session frees the slot).
  session->recreate_binding(key, [this, alive = std::weak_ptr<int>(alive_), id](RecreateResult r) {
    if (alive.expired()) {
      return;
    }
    finished(id, std::move(r));
    pump();
    done_work();
  });
}

void MediaRecovery::finished(std::uint64_t id, RecreateResult result) {
  const auto it = in_flight_.find(id);
  if (it == in_flight_.end()) {
    return;
  }
  Job job = std::move(it->second);
  in_flight_.erase(it);
  MediaSession* session = find(job.group);
  auto log = log::get("media");
  const std::string call = session != nullptr ? log_excerpt(session->call_id(), 128) : std::string("?");
  const std::string why = result.error ? result.error->to_string() : std::string();
  switch (result.outcome) {
    case RecreateOutcome::kRecreated:
    case RecreateOutcome::kSkipped: {
      pending_.erase({job.group, job.key});
      count(result.outcome == RecreateOutcome::kRecreated ? &MediaStats::bindings_recreated
                                                          : &MediaStats::recreate_skipped);
      // Lost again meanwhile (a second state loss while this one was in flight): once more.
      if (session != nullptr) {
        for (const MediaBindingView& v : session->bindings()) {
          if (v.natural_key == job.key && v.lost) {
            enqueue(Job{job.group, job.key, job.agent, 0});
            break;
          }
        }
      }
      return;
    }
    case RecreateOutcome::kPortLost:
      pending_.erase({job.group, job.key});
      count(&MediaStats::recreate_port_lost);
      if (broken_.insert(job.group).second) {
        count(&MediaStats::calls_media_broken);
      }
      // Both phones' SDP name the old port; the call is left alone (no invented re-INVITE).
      log->error(
          "call {}: agent '{}' cannot give binding {} its public port back ({}): that stream's media is "
          "broken until a re-INVITE",
          call, job.agent, short_key(job.key), why);
      return;
    case RecreateOutcome::kFailed: {
      const bool retry = session != nullptr && result.error && result.error->retryable() &&
                         job.attempts + 1 < policy_.max_attempts;
      if (!retry) {
        pending_.erase({job.group, job.key});
        count(&MediaStats::recreate_failed);
        if (session != nullptr && broken_.insert(job.group).second) {
          count(&MediaStats::calls_media_broken);
        }
        log->error("call {}: re-creating binding {} on agent '{}' failed after {} attempt(s): {}", call,
                   short_key(job.key), job.agent, job.attempts + 1, why);
        return;
      }
      ++job.attempts;
      count(&MediaStats::recreate_retries);
      log->info("call {}: re-creating binding {} on agent '{}' failed ({}); trying again in {} ms", call,
                short_key(job.key), job.agent, why, policy_.retry_delay.count());
      const std::uint64_t rid = next_job_++;
      delayed_jobs_.emplace(rid, std::move(job));
      delayed_[rid] = env_.timers.schedule(
          env_.clock.now() + policy_.retry_delay, [this, alive = std::weak_ptr<int>(alive_), rid] {
            if (alive.expired()) {
              return;
            }
            delayed_.erase(rid);
            auto node = delayed_jobs_.extract(rid);
            if (node.empty()) {
              return;
            }
            const std::string agent = node.mapped().agent;
            queues_[agent].push_back(std::move(node.mapped()));  // still in pending_
            ++queued_count_;
            pump();
          });
      return;
    }
  }
}

void MediaRecovery::done_work() {
  if (after_work_) {
    after_work_();
  }
}

}  // namespace portcullis::media
