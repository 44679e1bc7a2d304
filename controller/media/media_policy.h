// MediaPolicy: the configuration of the media layer (what MediaSession does with bodies it cannot
// or may not rewrite, stream limits, FCP budgets and leases, NAT heuristics) and MediaStats, its
// counters (Envoy ALL_*_STATS macro list, style.md §4.11). Plain values; no behaviour.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "controller/fcp/fcp_types.h"
#include "controller/media/sdp/sdp_rewriter.h"
#include "controller/media/sdp/session_description.h"

namespace portcullis::media {

/// What to do with a body the session will not rewrite.
enum class BadBodyAction : std::uint8_t {
  /// Offer: answer the request with an error (488 + Warning, or 415 for a body type). Answer: the
  /// result says kReject (a response cannot be refused; see MediaResult).
  kReject,
  /// Forward the body untouched: no binding, no pinhole, the session does nothing for it.
  kPassThrough,
};

/// What the media layer does when an agent loses or keeps its state (fcp-notes §2.3, §4.2;
/// controller/media/media_recovery.h).
struct MediaRecoveryPolicy {
  /// Re-creations (reserve + enable of one binding) in flight at once per executor: a restarted
  /// agent with 10 000 calls must not get 20 000 RPCs at the same instant.
  std::size_t max_in_flight = 32;
  /// Bindings waiting for re-creation beyond this are not re-created (counted and logged).
  std::size_t max_queued = 200000;
  /// Budget for one binding's re-creation inside its session: reserve then enable, each bounded
  /// by the client's own budget (RetryConfig: 1.5 s), so this only catches a client that never
  /// answers.
  std::chrono::milliseconds binding_timeout{4000};
  /// A re-creation that failed transiently (no answer, NOT_READY, NO_SESSION) is tried again
  /// `retry_delay` later, at most `max_attempts` times in all.
  int max_attempts = 3;
  std::chrono::milliseconds retry_delay{1000};
  /// Reconcile (agent restarted with its state, or events lost): release this owner's bindings
  /// whose group is no live call (leftovers of calls that ended while the agent was away).
  bool release_unknown = true;
};

struct MediaPolicy {
  // ---- bodies ----
  /// Content types (type/subtype, case-insensitive, parameters ignored) the session rewrites.
  std::vector<std::string> sdp_content_types = {"application/sdp"};
  /// Any other non-empty body type (multipart/mixed, application/isup, ...): 415 or pass-through.
  BadBodyAction other_content_type = BadBodyAction::kReject;
  /// Parser limits for untrusted bodies (max_media is raised to max_streams + 1 internally so the
  /// limit below decides, with its own action).
  sdp::SdpLimits sdp_limits;
  /// More m= lines than this (rejected port-0 streams included): over_limit.
  std::size_t max_streams = 8;
  BadBodyAction over_limit = BadBodyAction::kReject;
  /// Grammar errors, unknown line types, missing c= for an active stream (kMissingConnection).
  BadBodyAction malformed = BadBodyAction::kReject;
  /// Unknown nettype/addrtype (`IN E164`, `ATM NSAP`), FQDN connection address, layered
  /// `m=<port>/<n>` with n > 1, a stream of a party behind an agent that no agent serves.
  BadBodyAction unsupported = BadBodyAction::kReject;

  // ---- NAT (RFC 7362 latching, fcp-notes §1.6: only the signalled source IP, one-shot) ----
  /// A remote (outside) party whose SDP address is private (RFC 1918/6598/ULA) is behind a NAT:
  /// latch its pinholes on the signalling source IP instead of trusting the SDP address.
  bool latch_private_address = true;
  /// The same when its SDP address is public but differs from the signalling source IP. Turn off
  /// for trunks whose media IP legitimately differs (or set SignalContext::trust_sdp_address).
  bool latch_source_mismatch = true;

  // ---- FCP ----
  /// Budget for all FCP calls of one offer or answer; beyond it the exchange fails (503 +
  /// Retry-After) and everything it reserved is released. Matches RetryConfig's 1.5 s total.
  std::chrono::milliseconds fcp_timeout{1500};
  /// Retry-After on 503 when the agent gave none (RFC 3261 §21.5.4, §20.33).
  std::chrono::seconds retry_after{5};
  /// Lease of every binding (kSession liveness; idle 120 s per RFC 4787 REQ-5; a reservation
  /// never enabled closes after 300 s, longer than Timer C's 3 minutes of ringing).
  fcp::LeaseOptions lease = {std::chrono::hours(12), fcp::Liveness::kSession, std::chrono::milliseconds(0),
                             std::chrono::seconds(120), std::chrono::seconds(300)};
  /// ICE strip / o= hiding / version bump for rewritten descriptions.
  sdp::NatRewriteOptions rewrite;

  // ---- agent restarts (MediaRecovery) ----
  MediaRecoveryPolicy recovery;
};

// clang-format off
#define PORTCULLIS_MEDIA_STATS(COUNTER)                                                            \
  COUNTER(offers)                  /* on_offer calls (retransmissions included) */                \
  COUNTER(answers)                 /* on_answer calls (retransmissions included) */               \
  COUNTER(retransmissions)         /* offer/answer seen before: cached result, no FCP call */      \
  COUNTER(rewritten)               /* bodies rewritten for the other side */                      \
  COUNTER(unchanged)               /* bodies forwarded as they were (nothing behind an agent) */  \
  COUNTER(passed_through)          /* bodies forwarded untouched by policy despite a problem */   \
  COUNTER(rejected_content_type)   /* body type not SDP (415 / kReject) */                        \
  COUNTER(rejected_sdp)            /* unparsable / unsupported SDP (488) */                       \
  COUNTER(rejected_stream_limit)   /* more m= lines than max_streams (488) */                     \
  COUNTER(rejected_no_route)       /* a stream of a party behind an agent no agent serves */      \
  COUNTER(rejected_glare)          /* offer while an offer is outstanding (491 / 500) */          \
  COUNTER(answers_without_offer)   /* answer with no outstanding offer (ignored) */               \
  COUNTER(fcp_failures)            /* an exchange failed on an FCP error (500 / 503) */           \
  COUNTER(fcp_timeouts)            /* an exchange ran out of fcp_timeout (503) */                 \
  COUNTER(reserves)                /* reserve calls sent */                                       \
  COUNTER(bindings_reused)         /* stream kept its binding (re-INVITE, early media, hold) */   \
  COUNTER(enables)                 /* enable calls sent */                                        \
  COUNTER(latches)                 /* remotes latched on the signalling IP (far end behind NAT) */\
  COUNTER(releases)                /* release calls sent (groups and single bindings) */          \
  COUNTER(late_bindings_released)  /* reserve answered after its exchange was abandoned */        \
  COUNTER(sessions_terminated)     /* groups released (once per session) */                      \
  COUNTER(state_losses)            /* agents that lost their kernel state (new state_epoch) */    \
  COUNTER(recreate_queued)         /* bindings queued for re-creation (state loss, reconcile) */  \
  COUNTER(bindings_recreated)      /* re-created on the same public port, holes re-enabled */     \
  COUNTER(recreate_port_lost)      /* the same public port could not be had: media broken */      \
  COUNTER(recreate_failed)         /* re-creation failed otherwise (after its retries) */         \
  COUNTER(recreate_retries)        /* transient re-creation failures tried again */               \
  COUNTER(recreate_skipped)        /* call ended / stream moved before its turn: nothing to do */ \
  COUNTER(recreate_dropped)        /* recovery queue full: not re-created */                      \
  COUNTER(calls_media_broken)      /* calls with a binding that could not be re-created */        \
  COUNTER(reconciles)              /* List + compare after a restart, resync or re-adoption */    \
  COUNTER(reconcile_missing)       /* bindings a live call held that the agent no longer had */   \
  COUNTER(reconcile_released)      /* this owner's bindings of no live call, released */          \
  COUNTER(bindings_closed_by_agent)/* expired / idle / closed-by-agent while the call was live */ \
  COUNTER(bindings_orphaned)       /* ORPHANED events: our session lapsed (re-adopted on reconnect) */ \
  COUNTER(agent_drains)            /* DRAIN events: an agent refuses new bindings */
// clang-format on

/// Counters; shared by every session of one executor (not synchronised).
struct MediaStats {
#define PORTCULLIS_MEDIA_STAT_MEMBER(name) std::uint64_t name = 0;
  PORTCULLIS_MEDIA_STATS(PORTCULLIS_MEDIA_STAT_MEMBER)
#undef PORTCULLIS_MEDIA_STAT_MEMBER

  /// Calls fn(name, value) for every counter, in declaration order (for metrics export).
  template <class Fn>
  void for_each(Fn&& fn) const {
#define PORTCULLIS_MEDIA_STAT_VISIT(name) fn(std::string_view(#name), name);
    PORTCULLIS_MEDIA_STATS(PORTCULLIS_MEDIA_STAT_VISIT)
#undef PORTCULLIS_MEDIA_STAT_VISIT
  }
};

}  // namespace portcullis::media
