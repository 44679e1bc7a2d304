// Retry and timing policy of the FCP client (sans-I/O; fcp-notes §2.4, §2.9, §4.2).
//
// SIP timing decides the budget: a proxy holds an INVITE while it asks the agent for a binding,
// and the caller's INVITE client transaction retransmits at T1 = 500 ms and gives up at Timer B =
// 64*T1 = 32 s (RFC 3261 §17.1.1.2). A proxy should forward (or answer 100 Trying) well inside that
// — 100 ms to 1 s in practice — so one attempt gets 300 ms and all attempts together 1.5 s by
// default: a dead agent costs one call setup at most 1.5 s, never a Timer B expiry.
#pragma once

#include <chrono>
#include <optional>

#include "controller/fcp/fcp_types.h"

namespace portcullis::fcp {

struct RetryConfig {
  /// gRPC deadline of one attempt.
  Millis attempt_timeout{300};
  /// All attempts of one call, backoff included; the last attempt's deadline is cut to fit.
  Millis total_budget{1500};
  int max_attempts = 4;
  /// Backoff before attempt n+1: uniform in [b/2, b], b = min(initial * 2^(n-1), max).
  Millis initial_backoff{20};
  Millis max_backoff{200};
};

/// Returns an error text for a config that cannot work (e.g. budget below one attempt).
std::optional<std::string> validate(const RetryConfig& c);

/// Jittered exponential backoff after `failed_attempts` (>= 1) failures; rand01 in [0, 1).
Millis backoff_delay(const RetryConfig& c, int failed_attempts, double rand01);

/// Whether the client retries `e` by itself, and after how long; nullopt = hand it to the caller.
/// Retried here: kSameRequest (transport, deadline: same request_id), kAfterDelay when the
/// agent's retry_after fits in what is left of the budget (NOT_READY, queue full), and NO_SESSION
/// (the session is being re-established; the write is session-bound). Never: kNever,
/// kOtherAgent (draining: the caller picks another agent), other kAfterReread (re-read first).
std::optional<Millis> internal_retry_delay(const FcpError& e, const RetryConfig& c, int attempts_done,
                                           Millis remaining, double rand01);

/// PCP renewal schedule for kLifetimeOnly bindings (RFC 6887 §11.2.1, quoted in fcp-notes §1.4):
/// attempt 0 at a uniform random point in [1/2, 5/8] of the lifetime, then [3/4, 3/4 + 1/16],
/// [7/8, 7/8 + 1/32], ... — offsets from when the lifetime was granted. Consecutive renewals are
/// kept at least 4 s apart (`previous` = the offset of the previous attempt).
Millis renewal_offset(Millis lifetime, int attempt, double rand01, std::optional<Millis> previous = std::nullopt);

}  // namespace portcullis::fcp
