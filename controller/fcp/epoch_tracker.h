// EpochTracker: the controller's side of state-loss detection (fcp-notes §2.3, RFC 6887 §8.5).
// Sans-I/O: fed the AgentInfo of EVERY response and stream message of one agent, with the local
// monotonic time at which it arrived, it says what changed:
//
//   new state_epoch                   -> kStateLost: the agent lost kernel state; re-create all
//   same epoch, new instance_id       -> kRestarted: the process restarted and adopted the kernel
//                                        state; Adopt + reconcile, nothing was interrupted
//   same epoch, §8.5 check fails      -> kEpochCheckFailed: treat as state loss (notes §2.3 rule 3)
//   an epoch/instance already retired -> kStale: a late answer from before the change; ignore it
//
// The §8.5 test: invalid if curr_server < prev_server - 1, or client_delta + 2 < server_delta -
// server_delta/16, or server_delta + 2 < client_delta - client_delta/16 (seconds).
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>

#include "common/time/clock.h"
#include "controller/fcp/fcp_types.h"

namespace portcullis::fcp {

enum class AgentChange : std::uint8_t {
  kNone,
  kFirstContact,
  kRestarted,
  kStateLost,
  kEpochCheckFailed,
  kStale,
};

std::string_view to_string(AgentChange c) noexcept;

class EpochTracker {
 public:
  explicit EpochTracker(bool check_epoch_seconds = true) : check_epoch_seconds_(check_epoch_seconds) {}

  /// `arrived` is the local monotonic time the message arrived (take it as early as possible:
  /// queueing delay on our side looks like clock drift to the §8.5 test).
  AgentChange observe(const AgentInfo& info, Clock::TimePoint arrived);

  /// The latest identity seen (nullopt before the first contact).
  const std::optional<AgentInfo>& current() const noexcept { return current_; }

  /// The RFC 6887 §8.5 test on its own (exposed for tests).
  static bool epoch_time_valid(std::uint32_t prev_server, std::uint32_t curr_server, Clock::Duration client_delta);

 private:
  void rebase(const AgentInfo& info, Clock::TimePoint arrived);

  bool check_epoch_seconds_;
  std::optional<AgentInfo> current_;
  Clock::TimePoint prev_client_{};
  std::uint32_t prev_server_ = 0;
  std::set<std::uint64_t> retired_epochs_;
  std::set<std::string> retired_instances_;
};

}  // namespace portcullis::fcp
