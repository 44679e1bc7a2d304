#include "controller/fcp/retry_policy.h"

#include <algorithm>
#include <cmath>
#include <string>

namespace portcullis::fcp {

using namespace std::chrono_literals;

std::optional<std::string> validate(const RetryConfig& c) {
  if (c.attempt_timeout <= 0ms) {
    return "retry.attempt_timeout must be > 0";
  }
  if (c.total_budget < c.attempt_timeout) {
    return "retry.total_budget must be >= retry.attempt_timeout";
  }
  if (c.max_attempts < 1) {
    return "retry.max_attempts must be >= 1";
  }
  if (c.initial_backoff < 0ms || c.max_backoff < c.initial_backoff) {
    return "retry backoff must satisfy 0 <= initial_backoff <= max_backoff";
  }
  return std::nullopt;
}

Millis backoff_delay(const RetryConfig& c, int failed_attempts, double rand01) {
  const int n = std::clamp(failed_attempts, 1, 30);
  const double base = std::min(static_cast<double>(c.initial_backoff.count()) * std::ldexp(1.0, n - 1),
                               static_cast<double>(c.max_backoff.count()));
  const double r = std::clamp(rand01, 0.0, 1.0);
  return Millis(static_cast<Millis::rep>(base / 2 + r * base / 2));
}

std::optional<Millis> internal_retry_delay(const FcpError& e, const RetryConfig& c, int attempts_done,
                                           Millis remaining, double rand01) {
  if (attempts_done >= c.max_attempts) {
    return std::nullopt;
  }
  Millis delay = backoff_delay(c, attempts_done, rand01);
  switch (e.retry_class) {
    case RetryClass::kSameRequest:
      break;
    case RetryClass::kAfterDelay:
      delay = std::max(delay, e.retry_after);
      break;
    case RetryClass::kAfterReread:
      if (e.reason != FcpReason::kNoSession) {
        return std::nullopt;
      }
      break;
    case RetryClass::kNever:
    case RetryClass::kOtherAgent:
      return std::nullopt;
  }
  if (e.reason == FcpReason::kShutdown) {
    return std::nullopt;
  }
  // Only worth it if an attempt still fits after the delay (a sliver of budget would just turn
  // into DEADLINE_EXCEEDED and hide the real error).
  if (delay + std::min(c.attempt_timeout, 50ms) > remaining) {
    return std::nullopt;
  }
  return delay;
}

Millis renewal_offset(Millis lifetime, int attempt, double rand01, std::optional<Millis> previous) {
  const int k = std::clamp(attempt, 0, 20);
  const double lt = static_cast<double>(lifetime.count());
  const double start = 1.0 - std::ldexp(1.0, -(k + 1));
  const double width = std::ldexp(1.0, -(k + 3));
  Millis offset(static_cast<Millis::rep>(lt * (start + std::clamp(rand01, 0.0, 1.0) * width)));
  if (previous) {
    offset = std::max(offset, *previous + 4s);  // "MUST NOT be sent less than four seconds apart"
  }
  return offset;
}

}  // namespace portcullis::fcp
