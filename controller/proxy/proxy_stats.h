// Proxy counters, declared as a macro list (Envoy ALL_*_STATS pattern, style.md §4.11): every
// rejection and every degraded decision is counted.
#pragma once

#include <cstdint>
#include <string_view>

namespace portcullis::proxy {

// clang-format off
#define PORTCULLIS_PROXY_STATS(COUNTER)                                                          \
  COUNTER(requests_received)        /* requests handed to the core (incl. ACK, CANCEL) */        \
  COUNTER(requests_forwarded)       /* client transactions started (every branch and retry) */   \
  COUNTER(acks_forwarded)           /* ACKs for 2xx forwarded statelessly (§16.11) */            \
  COUNTER(acks_dropped)             /* ACKs we could not route (never answered) */               \
  COUNTER(responses_forwarded)      /* responses sent upstream (provisional, 2xx, best final) */ \
  COUNTER(local_responses)          /* responses generated here (errors, OPTIONS, REGISTER) */   \
  COUNTER(rejected_malformed)       /* 400, §16.3 step 1 (strict mode, bad Route) */             \
  COUNTER(rejected_scheme)          /* 416, §16.3 step 2 */                                      \
  COUNTER(rejected_max_forwards)    /* 483, §16.3 step 3 */                                      \
  COUNTER(rejected_loop)            /* 482, §16.3 step 4 / RFC 5393 */                           \
  COUNTER(rejected_extension)       /* 420, §16.3 step 5 */                                      \
  COUNTER(not_found)                /* no binding for our domain (§16.5) */                       \
  COUNTER(options_answered)         /* OPTIONS to us / Max-Forwards 0 answered 200 */            \
  COUNTER(registers_handled)        /* REGISTERs answered by the registrar */                    \
  COUNTER(registers_stateless)      /* of which answered without a transaction (§8.2.7) */      \
  COUNTER(branches_created)         /* targets forked to (§16.6) */                              \
  COUNTER(branches_truncated)       /* targets dropped by max_branches (RFC 5393) */             \
  COUNTER(failovers)                /* next RFC 3263 candidate tried */                          \
  COUNTER(resolve_failures)         /* next hop not resolvable (branch → 503) */                 \
  COUNTER(transport_errors)         /* branch → 503 (§16.9) */                                   \
  COUNTER(branch_timeouts)          /* Timer B / F (branch → 408) */                             \
  COUNTER(timer_c_fired)            /* §16.8 */                                                  \
  COUNTER(cancels_received)         /* CANCEL from upstream (§16.10) */                          \
  COUNTER(cancels_unmatched)        /* CANCEL without response context → 481 */                  \
  COUNTER(cancels_sent)             /* CANCELs to branches (§16.7 step 10, §16.8, §16.10) */     \
  COUNTER(converted_503)            /* best response 503 → 500 (§16.7 step 6) */                 \
  COUNTER(stray_responses)          /* responses matching no branch: dropped (RFC 6026 §7.3) */  \
  COUNTER(late_responses_dropped)   /* responses for a finished context (e.g. 487 after 408) */  \
  COUNTER(upstream_send_failures)   /* send_response refused (server transaction gone) */        \
  COUNTER(sdp_scrubbed)             /* private o=/c= addresses hidden in an unrewritten SDP body */ \
  COUNTER(internal_errors)          /* could not build / parse our own message (BUG) */
// clang-format on

struct ProxyStats {
#define PORTCULLIS_PROXY_STAT_MEMBER(name) std::uint64_t name = 0;
  PORTCULLIS_PROXY_STATS(PORTCULLIS_PROXY_STAT_MEMBER)
#undef PORTCULLIS_PROXY_STAT_MEMBER

  /// Calls fn(name, value) for every counter, in declaration order (for metrics export).
  template <class Fn>
  void for_each(Fn&& fn) const {
#define PORTCULLIS_PROXY_STAT_VISIT(name) fn(std::string_view(#name), name);
    PORTCULLIS_PROXY_STATS(PORTCULLIS_PROXY_STAT_VISIT)
#undef PORTCULLIS_PROXY_STAT_VISIT
  }
};

}  // namespace portcullis::proxy
