#include "controller/fcp/epoch_tracker.h"

#include <chrono>

namespace portcullis::fcp {

std::string_view to_string(AgentChange c) noexcept {
  switch (c) {
    case AgentChange::kNone: return "none";
    case AgentChange::kFirstContact: return "first-contact";
    case AgentChange::kRestarted: return "restarted";
    case AgentChange::kStateLost: return "state-lost";
    case AgentChange::kEpochCheckFailed: return "epoch-check-failed";
    case AgentChange::kStale: return "stale";
  }
  return "?";
}

bool EpochTracker::epoch_time_valid(std::uint32_t prev_server, std::uint32_t curr_server,
                                    Clock::Duration client_delta) {
  // RFC 6887 §8.5, in seconds. One second of slack backwards: answers of concurrent requests may
  // arrive out of order.
  if (static_cast<std::int64_t>(curr_server) + 1 < static_cast<std::int64_t>(prev_server)) {
    return false;
  }
  const double server_delta = static_cast<double>(curr_server) - static_cast<double>(prev_server);
  const double client = std::chrono::duration<double>(client_delta).count();
  if (client + 2 < server_delta - server_delta / 16) {
    return false;
  }
  if (server_delta + 2 < client - client / 16) {
    return false;
  }
  return true;
}

void EpochTracker::rebase(const AgentInfo& info, Clock::TimePoint arrived) {
  current_ = info;
  prev_client_ = arrived;
  prev_server_ = info.epoch_seconds;
}

AgentChange EpochTracker::observe(const AgentInfo& info, Clock::TimePoint arrived) {
  if (!current_) {
    rebase(info, arrived);
    return AgentChange::kFirstContact;
  }
  if (retired_epochs_.contains(info.state_epoch)) {
    return AgentChange::kStale;
  }
  if (info.state_epoch != current_->state_epoch) {
    retired_epochs_.insert(current_->state_epoch);
    retired_instances_.insert(current_->instance_id);
    rebase(info, arrived);
    return AgentChange::kStateLost;
  }
  if (info.instance_id != current_->instance_id && retired_instances_.contains(info.instance_id)) {
    return AgentChange::kStale;
  }
  const bool valid =
      !check_epoch_seconds_ || epoch_time_valid(prev_server_, info.epoch_seconds, arrived - prev_client_);
  const bool restarted = info.instance_id != current_->instance_id;
  if (restarted) {
    retired_instances_.insert(current_->instance_id);
  }
  if (!valid) {
    rebase(info, arrived);
    return AgentChange::kEpochCheckFailed;
  }
  if (restarted) {
    rebase(info, arrived);
    return AgentChange::kRestarted;
  }
  // §8.5: the previous values are the last valid ones; only move forward so an out-of-order
  // answer does not shift the baseline back.
  if (info.epoch_seconds >= prev_server_) {
    rebase(info, arrived);
  }
  return AgentChange::kNone;
}

}  // namespace portcullis::fcp
