// MediaSession: the media side of one SIP call (one dialog, or the early dialogs of one forked
// INVITE). Sans-I/O: the proxy/B2BUA hands it each SDP body it sees (offer or answer, RFC 3264)
// with a little signalling context; the session reserves NAT bindings for the streams of parties
// behind a pinhole agent, rewrites the body for the other side, opens pinholes only for the far
// end's media address, and releases the call's FCP group when the call ends. All FCP work goes
// through FcpClient; time comes from a Clock and a TimerQueue the owner drives.
//
// Who needs what (architecture.md "Life of a call"):
//   * A party is *inside* when its media address is on a network an agent serves (AgentDirectory
//     route of the SDP c= address; SignalContext::realm can force it). Each active stream of an
//     inside party gets a binding: RTP+RTCP as one pair (port_count 2, even parity), one port
//     with rtcp-mux (RFC 5761) or for non-RTP streams, two single ports when a=rtcp (RFC 3605)
//     names a non-adjacent port. Its SDP is rewritten to the public endpoints (sdp_rewriter.h).
//   * A party is *outside* otherwise: its SDP is forwarded unchanged, and the other side's
//     bindings get a pinhole for exactly its RTP/RTCP ip:port from the SDP — unless it is itself
//     behind a NAT (SDP address private, or not the signalling source IP): then a one-shot latch
//     restricted to the signalling source IP (RFC 7362 §5, fcp-notes §1.6).
//   * Pinholes are opened when the answer arrives (offer/answer complete): on each binding of
//     either side, for the other party's stream as the agent sees it (its public binding if it
//     is inside, its SDP address or latch IP if it is outside).
//
// Exchanges. One offer/answer exchange is outstanding at a time (RFC 3264 §4, RFC 3311 §5.2):
//   on_offer → (reserves) → rewritten offer; on_answer(kProvisional)* → on_answer(kFinal).
// Early media: an answer in a 18x opens the pinholes at once; a later answer (18x/2xx) with the
// same SDP changes nothing, with another SDP replaces the remotes. Forking: provisional answers
// from several forks (SignalContext::fork = To-tag) *all* get pinholes (the union of their
// remotes on the offerer's bindings, own bindings for inside answerers) until the final answer
// picks one fork; the others' remotes are removed and their bindings released. A re-INVITE or
// UPDATE offer reuses a stream's binding while its private endpoint is unchanged (no FCP call),
// reserves a new one when it changed (the old one is released once the answer is final, or the
// new one if the exchange fails), and updates a pinhole only when the far end's address/port
// changed (the enable replaces the remote set, so the old hole closes). Hold (a=sendonly /
// inactive or c=0.0.0.0, RFC 3264 §8.4): the hold markers stay in the rewritten SDP; bindings and
// pinholes are kept (RTCP keeps flowing) and a 0.0.0.0 address never becomes a remote.
//
// Idempotency. A retransmitted offer or answer (same sender, CSeq, fork and body) gets the first
// result again — joining it if it is still in flight — and never reserves twice. Natural keys are
// hashes of (group, party, fork, stream, component, private endpoint), so FCP retries and other
// controllers reserving the same stream land on the same binding. Group and natural keys are
// SHA-256 hex: no raw SIP string ever reaches an agent or a kernel object.
//
// Failure and cleanup. Nothing is left behind on any error path: a failed reserve releases every
// binding the exchange reserved; a reserve answered after its exchange failed or timed out is
// released when it arrives; a failed initial exchange releases the group. release_all() (BYE,
// CANCEL, final failure, transaction timeout, dialog/session-timer expiry) releases the group on
// every agent the session used, exactly once; the destructor does the same if it was not done.
//
// Threading: one executor — the FcpClient's. Every call on that executor; `done` callbacks are
// always posted to it (never invoked inline) and invoked exactly once, unless the session is
// destroyed first (then they are dropped). The FcpClient, the TimerQueue, the Clock and the
// AgentDirectory must outlive the session.
//
// Example (proxy, caller on the LAN):
//   MediaSession media(env, policy, {call_id, from_tag});
//   media.on_offer(invite.body(), invite.content_type(), {Party::kCaller, {}, peer.source},
//                  [&](MediaResult r) { r.action == MediaAction::kReject ? reply(r) : forward(r.body); });
//   media.on_answer(ok.body(), ok.content_type(), {Party::kCallee, {}, src, false, to_tag, cseq},
//                   AnswerKind::kFinal, [&](MediaResult r) { forward(r.body); });
//   media.release_all(EndReason::kBye);
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/net/ip_address.h"
#include "common/time/clock.h"
#include "common/time/timer_queue.h"
#include "controller/fcp/agent_directory.h"
#include "controller/fcp/fcp_client.h"
#include "controller/media/media_policy.h"

namespace portcullis::media {

/// The two parties of a call. The caller sent the dialog-creating INVITE; the callee answered it
/// (any fork). Re-INVITEs keep these roles whoever sends them.
enum class Party : std::uint8_t { kCaller, kCallee };

/// Where a party's media lives, as far as the signalling layer knows.
enum class Realm : std::uint8_t {
  /// Decide from the SDP: inside iff the AgentDirectory routes a stream's address (sticky once a
  /// party was seen inside, so a 0.0.0.0 hold keeps its bindings).
  kAuto,
  /// Behind an agent (the message came in on a LAN interface): every active stream must be routed
  /// by the AgentDirectory, else `unsupported` policy.
  kInside,
  /// Public side (WAN interface, trunk, remote phone): never gets bindings, even when its private
  /// address happens to fall inside one of our prefixes (a home NAT using 10.0.0.0/8).
  kOutside,
};

/// What the signalling layer knows about the message that carried the body.
struct SignalContext {
  /// The party that sent this body.
  Party from = Party::kCaller;
  Realm realm = Realm::kAuto;
  /// Observed source of the SIP message (received/rport, RFC 3581): the latch IP for a far end
  /// behind a NAT. nullopt = unknown (only the SDP address is then used).
  std::optional<net::Endpoint> source;
  /// Trust the SDP address of an outside party even if it differs from `source` (trunks with
  /// separate media servers). A private SDP address is still latched (policy).
  bool trust_sdp_address = false;
  /// Early dialog of a forked INVITE: the To-tag of the response (answers from the callee, offers
  /// in a 2xx/18x of a late-offer INVITE). Empty = the only one. Ignored once a final answer picked
  /// the fork.
  std::string fork;
  /// CSeq number of the transaction carrying the body (INVITE/UPDATE/PRACK, or of the INVITE for
  /// an answer in its response/ACK). Used to recognise retransmissions.
  std::uint32_t cseq = 0;
};

/// Answers in 18x (early media, RFC 3261 §13.3.1.1 / RFC 3262) are provisional; the answer in a
/// 2xx (or in the ACK for a late offer, or in a 2xx to UPDATE/PRACK) is final.
enum class AnswerKind : std::uint8_t { kProvisional, kFinal };

/// Why the session ended (release_all): counted and logged, the behaviour is the same.
enum class EndReason : std::uint8_t {
  kBye,
  kCancel,
  kFailure,             // final non-2xx for the initial INVITE (486, 603, ...)
  kTransactionTimeout,  // Timer B/C/F, 408
  kDialogExpired,       // session timer (RFC 4028) or dialog lifetime
  kShutdown,
};

enum class MediaAction : std::uint8_t {
  /// Forward `body` (the rewritten SDP; recompute Content-Length).
  kForward,
  /// Forward the original body untouched: no party behind an agent, an empty body, or a body the
  /// policy passes through (`error` says which problem, kNone when none).
  kPassThrough,
  /// Offer: answer the request with status/reason/warning/retry_after. Answer (a response cannot
  /// be refused by a proxy): media could not be set up for it — strip/drop a 18x body, and for a
  /// 2xx forward it and tear the dialog down (B2BUA) or let the UAs notice. Whatever this exchange
  /// reserved is released already; on a failed *initial* exchange the whole group is.
  kReject,
};

enum class MediaError : std::uint8_t {
  kNone,
  kContentType,   // body type not in sdp_content_types (415)
  kBadSdp,        // parse error: malformed, missing c=, unknown line type (488)
  kUnsupported,   // nettype/addrtype, FQDN, layered ports, stream count mismatch in answer (488)
  kTooManyStreams,// more m= lines than max_streams (488)
  kNoRoute,       // an inside party's stream that no agent serves (488)
  kGlare,         // an offer while another is outstanding (491, or 500 + Retry-After, RFC 3311 §5.2)
  kNoOffer,       // an answer without an outstanding offer (pass-through)
  kFcpFailed,     // the agent refused (500) or is unavailable / out of ports (503 + Retry-After)
  kFcpTimeout,    // fcp_timeout ran out (503 + Retry-After)
  kTerminated,    // the session was released (481 for offers; in-flight exchanges get 487/500)
};

std::string_view to_string(MediaError e) noexcept;

/// RFC 3261 §20.43 Warning: `<code> <agent> "<text>"`; the caller supplies its host as warn-agent.
struct SipWarning {
  int code = 399;
  std::string text;
  /// `code SP agent SP quoted-text`, with `"` and `\` in the text escaped.
  std::string to_header_value(std::string_view warn_agent) const;
  friend bool operator==(const SipWarning&, const SipWarning&) = default;
};

struct MediaResult {
  MediaAction action = MediaAction::kPassThrough;
  MediaError error = MediaError::kNone;
  /// kForward: the body to send. kPassThrough: a copy of the original body.
  std::string body;
  // ---- kReject ----
  int status = 0;      // 415, 481, 487, 488, 491, 500, 503
  std::string reason;  // reason phrase
  std::optional<SipWarning> warning;                 // 488 (RFC 3261 §21.4.26 SHOULD)
  std::optional<std::chrono::seconds> retry_after;   // 503, and 500 on glare
  /// Human detail for logs (never sent): which stream/line, the FCP error.
  std::string detail;
};

using MediaCallback = std::function<void(MediaResult)>;

/// Identity of the call. Only hashes of it are kept and sent to agents.
struct CallKey {
  std::string call_id;
  std::string from_tag;
};

class MediaSession;

/// Where sessions announce themselves so agent news can reach them (MediaRecovery): every
/// session adds itself when constructed and removes itself when destroyed, so the registry never
/// holds a dangling session.
class MediaSessionRegistry {
 public:
  virtual void add_session(MediaSession& session) = 0;
  virtual void remove_session(MediaSession& session) noexcept = 0;

 protected:
  ~MediaSessionRegistry() = default;
};

/// The shared environment of every session of one executor (shard).
struct MediaEnv {
  fcp::FcpClient& fcp;
  const fcp::AgentDirectory& directory;
  const Clock& clock;
  /// fcp_timeout timers. The owner arms its I/O timer for timers.next_deadline() and calls
  /// run_due(clock.now()) (tests: FakeClock::advance, then run_due).
  TimerQueue& timers;
  /// Counters; nullptr = not counted.
  MediaStats* stats = nullptr;
  /// Sessions register here (MediaRecovery); nullptr = none.
  MediaSessionRegistry* registry = nullptr;
};

/// A binding the session holds, for inspection (tests, `show calls`).
struct MediaBindingView {
  Party party = Party::kCaller;
  std::string fork;
  std::size_t stream = 0;
  bool rtcp_only = false;  // the separate RTCP binding of a non-adjacent a=rtcp
  fcp::BindingRef ref;
  std::string natural_key;
  net::Endpoint private_endpoint;
  net::Endpoint public_endpoint;
  std::uint32_t port_count = 1;
  /// Last remote set enabled on it (empty = reserved only).
  std::vector<fcp::RemotePeer> remotes;
  /// The agent lost it (new state epoch, or missing at a reconcile): waiting for re-creation;
  /// `ref` is stale and never used again (agents number bindings anew in a new epoch).
  bool lost = false;
  /// What a one-shot latch learned (LATCHED events): first port's remote, second port's port.
  std::optional<net::Endpoint> latched_remote;
  std::optional<std::uint16_t> latched_rtcp_port;
  /// When the session learned the binding (a reconcile ignores bindings newer than its List).
  Clock::TimePoint known_since{};
};

/// What re-creating one binding after a state loss gave (MediaSession::recreate_binding).
enum class RecreateOutcome : std::uint8_t {
  /// The same public port(s) again, and the same holes (a fired latch as its exact remote).
  kRecreated,
  /// The agent cannot give the same public port (CANNOT_PROVIDE_EXTERNAL, or the natural key is
  /// now on another port). Both phones' SDP name the old port: the stream's media is broken
  /// until a re-INVITE (which reserves it anew). The call itself is left alone.
  kPortLost,
  /// Another FCP failure (`error`); retryable ones may be tried again.
  kFailed,
  /// Nothing to do: the call ended, or the binding was replaced or re-created meanwhile.
  kSkipped,
};

std::string_view to_string(RecreateOutcome o) noexcept;

struct RecreateResult {
  RecreateOutcome outcome = RecreateOutcome::kSkipped;
  std::optional<fcp::FcpError> error;
};

using RecreateCallback = std::function<void(RecreateResult)>;

/// What an agent event meant for this session (MediaSession::on_binding_event).
enum class BindingEventEffect : std::uint8_t {
  kNotOurs,  // no binding of this session has that id
  kLatched,  // the latch learned a remote; remembered for a re-creation
  kClosed,   // expired / idle / closed by the agent: the session forgot the binding
  kNoted,    // orphaned / adopted / anything else: nothing to change
};

class MediaSession {
 public:
  MediaSession(MediaEnv env, MediaPolicy policy, const CallKey& key);
  /// Releases the group (fire-and-forget) if release_all() was not called; drops pending callbacks.
  ~MediaSession();
  MediaSession(const MediaSession&) = delete;
  MediaSession& operator=(const MediaSession&) = delete;

  /// An SDP offer (INVITE, re-INVITE, UPDATE, or a 2xx/18x for a late-offer INVITE). `done` gets
  /// the body to forward, or the error to answer with. An empty body is kPassThrough.
  void on_offer(std::string_view body, std::string_view content_type, const SignalContext& ctx, MediaCallback done);

  /// The SDP answer to the outstanding offer, from the other party. Opens the pinholes; `done`
  /// gets the rewritten answer. kFinal completes the exchange (and, the first time, confirms the
  /// dialog and its fork). An empty body is kPassThrough (a 2xx repeating no SDP, RFC 3261 §13.2.1).
  void on_answer(std::string_view body, std::string_view content_type, const SignalContext& ctx, AnswerKind kind,
                 MediaCallback done);

  /// The transaction carrying the outstanding offer failed (non-2xx final, timeout, 487 after
  /// CANCEL). Before the dialog was confirmed this ends the call: the group is released (same as
  /// release_all(kFailure)). For a re-INVITE/UPDATE only the exchange is rolled back: its new
  /// bindings are released, the previous streams and pinholes stay (RFC 3261 §14.1).
  void on_offer_failed(int status);

  /// The call is over: releases the call's group on every agent it used, once (idempotent; later
  /// offers get 481). In-flight exchanges complete with kReject/kTerminated.
  void release_all(EndReason reason);

  /// SHA-256(call-id, from-tag) as 32 hex digits (FCP group_id, <= 32 bytes).
  const std::string& group_id() const noexcept;
  bool released() const noexcept;
  /// The first final answer was accepted (the dialog's media is established).
  bool confirmed() const noexcept;
  /// An offer is waiting for its (final) answer.
  bool offer_outstanding() const noexcept;
  /// Agents the session has reserved on (the group is released on each).
  std::vector<std::string> agents() const;
  std::vector<MediaBindingView> bindings() const;

  /// The group id for a call without building a session (e.g. to release after a restart).
  static std::string make_group_id(std::string_view call_id, std::string_view from_tag);

  // ---- agent state loss and agent events (driven by MediaRecovery, media_recovery.h) ----

  /// The Call-ID, for logs only (agents only ever see hashes).
  const std::string& call_id() const noexcept;
  /// The agent lost every binding it had for us: marks this session's bindings on `agent` lost
  /// (their ids are never used again) and returns their natural keys, to re-create one by one.
  std::vector<std::string> mark_lost(const std::string& agent);
  /// The same for one binding (a reconcile found it missing); false if the session does not hold it.
  bool mark_lost_binding(const std::string& natural_key);
  /// Re-creates one lost binding: reserve with the same spec asking for the same public port
  /// (PublicPortHint::kExactOrFail, RFC 6887 §13.2 PREFER_FAILURE — the port is in both phones'
  /// SDP), then the same remote set (a latch that had fired becomes its learned exact remote).
  /// Runs in the session's message queue, so it never interleaves with an offer/answer exchange;
  /// bounded by policy.recovery.binding_timeout. A binding re-created for a call that ended
  /// meanwhile is released on arrival. `done` is posted, exactly once unless the session is
  /// destroyed first.
  void recreate_binding(const std::string& natural_key, RecreateCallback done);
  /// An agent event about one of this session's bindings (matched by binding id; lost bindings
  /// never match). A closed binding (expired, idle, closed by the agent) is forgotten: a later
  /// re-INVITE reserves the stream anew.
  BindingEventEffect on_binding_event(const fcp::FcpEvent& event);
  /// A reconcile's List answer for a binding this session holds under that natural key: takes
  /// the agent's id and latch state. False if the session does not hold the key.
  bool refresh_binding(const fcp::BindingInfo& listed);

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace portcullis::media
