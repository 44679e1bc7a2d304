// PinholeManager: the pinhole agent's authoritative desired state, sans I/O.
//
// It validates controller requests, allocates public ports, keeps leases, owners, fencing tokens,
// sessions, groups and the idempotency cache, and turns every accepted change into one
// backend ChangeSet (one nf_tables transaction). The gRPC service layer translates proto <-> the
// request/response structs below; an I/O shell drives time by calling tick() at next_deadline()
// and reports traffic facts (idle, latched) it learns from conntrack and NFLOG.
//
// Transactions: every mutation runs against the in-memory state with an undo journal, then calls
// PinholeBackend::apply once. If any validation fails or the backend refuses the batch, the
// journal is rolled back: manager state, the event log and the idempotency cache are exactly as
// before (fcp-notes §2.5 atomic Apply).
//
// Leases (fcp-notes §2.4, invariants §4.1): every binding has a hard deadline capped by
// max_lifetime (I1); session-bound bindings become ORPHANED when the owner's session lease lapses
// and close after orphan grace unless adopted (I2); kernel element timeouts are
// min(expiry, now + kernel_lease) and are re-armed every kernel_lease/2 by tick(), so holes close
// even if the agent dies.
//
// Threading: not thread-safe; call from the agent's single mutation executor. Time comes only
// from the injected Clock. No threads, no sleeps.
//
// Example:
//   PinholeManager m(config, clock, backend, conntrack, identity);
//   auto s = m.open_session({{"sbc/shard-1", 7}});
//   auto r = m.reserve({.meta = {"req-1", "sbc/shard-1", 7}, .protocol = L4Protocol::kUdp,
//                       .private_endpoint = ep, .port_count = 2, .parity = Parity::kEven,
//                       .lease = {.lifetime = 4h}});
//   m.enable({.meta = {"req-2", "sbc/shard-1", 7}, .target = ByBinding{r->binding.id},
//             .remotes = {{.address = remote_ip, .port = 30000}}});
//   ... every few seconds: m.heartbeat(s->id); at next_deadline(): m.tick();
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include "common/base/result.h"
#include "common/net/ip_address.h"
#include "common/time/clock.h"
#include "pinhole-agent/backend/backend.h"
#include "pinhole-agent/core/event_log.h"
#include "pinhole-agent/core/model.h"

namespace portcullis::agent {

/// One public address and its port range (inclusive).
struct PoolConfig {
  net::IpAddress public_address;
  std::uint16_t first_port = 0;
  std::uint16_t last_port = 0;
  /// Optional pool name a request may select ("" = default realm).
  std::string realm;
};

struct ManagerConfig {
  std::vector<PoolConfig> pools;
  /// Agent cap on every hard deadline (fcp-notes §4.3: 12 h).
  Clock::Duration max_lifetime = std::chrono::hours(12);
  /// Shortest lifetime accepted (shorter is INVALID_ARGUMENT).
  Clock::Duration min_lifetime = std::chrono::seconds(1);
  /// Kernel-side horizon; re-armed every kernel_lease / 2 (fcp-notes §2.4).
  Clock::Duration kernel_lease = std::chrono::seconds(300);
  Clock::Duration session_ttl = std::chrono::seconds(15);
  Clock::Duration heartbeat_interval = std::chrono::seconds(5);
  Clock::Duration default_orphan_grace = std::chrono::seconds(180);
  Clock::Duration max_orphan_grace = std::chrono::minutes(30);
  Clock::Duration default_reservation_timeout = std::chrono::seconds(180);
  Clock::Duration max_reservation_timeout = std::chrono::hours(1);
  Clock::Duration max_idle_timeout = std::chrono::hours(24);
  /// Idempotency window and size (AIP-155; >= the longest client retry horizon).
  Clock::Duration dedup_window = std::chrono::minutes(10);
  std::size_t dedup_max_entries = 100'000;
  /// Event ring buffer for Resume.
  std::size_t event_buffer_size = 100'000;
  std::size_t max_bindings = 100'000;
  std::size_t max_bindings_per_owner = 20'000;
  std::size_t max_ports_per_owner = 40'000;
  std::size_t max_remotes_per_binding = 8;
  std::size_t max_batch_operations = 64;
  /// Retry-after hint for short-lifetime errors (PCP NO_RESOURCES/USER_EX_QUOTA, RFC 6887 §7.4).
  Clock::Duration retry_after = std::chrono::seconds(30);
};

/// Checks a configuration once at start-up; names the offending field.
Status validate_config(const ManagerConfig& config);

/// Who this agent is (AgentInfo). instance_id and state_epoch are drawn by the I/O shell.
struct AgentIdentity {
  std::string agent_id;
  std::string instance_id;
  std::uint64_t state_epoch = 0;
  /// When state_epoch began on the monotonic clock (kept across agent restarts with the table).
  Clock::TimePoint epoch_start{};
  /// Seq of this instance's first event. Events are scoped to state_epoch, which survives agent
  /// restarts, so the shell should pass a value above any earlier instance's (e.g. milliseconds
  /// since epoch_start x 1024); a Resume from before it then gets RESYNC_REQUIRED.
  std::uint64_t first_event_seq = 1;
};

struct AgentInfo {
  std::string agent_id;
  std::string instance_id;
  std::uint64_t state_epoch = 0;
  std::uint32_t epoch_seconds = 0;  // PCP Epoch Time (RFC 6887 §8.5)
};

/// Carried by every write (fcp-notes §2.3, §2.5).
struct WriteMeta {
  std::string request_id;
  std::string owner;
  std::uint64_t fencing_token = 0;
  /// 0 = don't care; otherwise must equal the binding's generation.
  std::uint64_t expected_generation = 0;
  friend bool operator==(const WriteMeta&, const WriteMeta&) = default;
};

struct ByBinding {
  BindingId id = 0;
};
struct ByGroup {
  std::string group_id;
};
struct ByNaturalKey {
  std::string natural_key;
};
using Target = std::variant<ByBinding, ByGroup, ByNaturalKey>;

enum class PortPreference : std::uint8_t {
  /// Use the suggested port when free, else allocate.
  kPrefer,
  /// PCP PREFER_FAILURE (RFC 6887 §13.2): exactly this port or CANNOT_PROVIDE_EXTERNAL.
  kExactOrFail,
};

struct PublicPortRequest {
  /// Address unspecified (0.0.0.0 / ::) = any pool address of the family.
  net::Endpoint suggested;
  PortPreference preference = PortPreference::kPrefer;
};

struct ReserveRequest {
  WriteMeta meta;
  std::string natural_key;
  std::string group_id;
  L4Protocol protocol = L4Protocol::kUdp;
  net::Endpoint private_endpoint;
  std::uint32_t port_count = 1;
  Parity parity = Parity::kAny;
  std::optional<PublicPortRequest> public_port;
  std::string realm;
  LeaseRequest lease;
};
struct ReserveResult {
  Binding binding;
  bool created = true;
};

struct EnableRequest {
  WriteMeta meta;
  Target target;  // ByBinding or ByNaturalKey
  std::vector<RemoteSpec> remotes;
};

struct RenewRequest {
  WriteMeta meta;
  Target target;  // ByBinding or ByGroup
  /// New lifetime from now; 0 deletes (RFC 5190 midcomRuleLifetime).
  Clock::Duration lifetime{0};
};
struct RenewResult {
  std::vector<Binding> bindings;
};

struct ReleaseRequest {
  WriteMeta meta;
  Target target;
};
struct ReleaseResult {
  bool existed = false;
  std::vector<Binding> final_state;
};

/// An Apply operation; its own meta must be empty (the batch meta applies).
using Operation = std::variant<ReserveRequest, EnableRequest, RenewRequest, ReleaseRequest>;
struct ApplyRequest {
  WriteMeta meta;
  std::vector<Operation> operations;
};
struct OperationResult {
  std::vector<Binding> bindings;
  bool created = false;
  bool existed = false;
};
struct ApplyResult {
  std::vector<OperationResult> results;
};

struct OwnerClaim {
  std::string owner;
  std::uint64_t fencing_token = 0;
};
struct AdoptRequest {
  WriteMeta meta;  // request_id, owner, fencing_token
  SessionId session = 0;
};
struct AdoptResult {
  std::size_t adopted = 0;        // were ORPHANED, live again
  std::size_t already_bound = 0;  // were bound to a live session and moved
};

struct SessionInfo {
  SessionId id = 0;
  Clock::Duration ttl{0};
  Clock::Duration heartbeat_interval{0};
  std::vector<AdoptResult> claims;  // one per OwnerClaim, same order
};

struct ListRequest {
  std::string owner;  // "" = all owners (admin)
  std::string group_id;
  std::size_t page_size = 0;  // 0 = 100; at most 1000
  BindingId page_token = 0;   // 0 = first page; else list ids > page_token
};
struct ListResult {
  std::vector<Binding> bindings;
  BindingId next_page_token = 0;  // 0 = last page
};

struct ResumeResult {
  bool resync_required = false;
  std::vector<Event> events;
};

struct TickResult {
  std::size_t orphaned = 0;
  std::size_t expired = 0;
  std::size_t rearmed = 0;
  std::size_t sessions_lapsed = 0;
  /// Backend batches refused (the affected bindings are retried on the next tick).
  std::size_t backend_failures = 0;
};

struct RecoverResult {
  std::size_t recovered = 0;
  std::size_t expired = 0;
  /// Elements without parseable recovery metadata; deleted (fail closed).
  std::size_t discarded_elements = 0;
};

struct ManagerStats {
  std::uint64_t conntrack_flush_failures = 0;
  std::uint64_t backend_apply_failures = 0;
  std::uint64_t dedup_hits = 0;
  /// report_flow calls, those for marks of no live binding, latches learned from flows,
  /// resync_flows calls, and traffic facts the backend refused (idle/latch transactions).
  std::uint64_t flow_events = 0;
  std::uint64_t flow_events_unknown_mark = 0;
  std::uint64_t latches_learned = 0;
  std::uint64_t flow_resyncs = 0;
  std::uint64_t traffic_fact_failures = 0;
};

/// Recovery metadata stored with each mapping element (<= 128 bytes, nftables-notes §3.7):
/// "b=<id hex>;o=<owner>;t=<token hex>;g=<group>;x=<hard deadline, monotonic s, hex>;v=<gen hex>"
/// plus ";l=1" for LIFETIME_ONLY bindings. Owner and group are limited to 32 bytes of
/// [A-Za-z0-9._:/@-], so the worst case is 126 bytes.
struct BindingUserdata {
  BindingId id = 0;
  std::string owner;
  std::uint64_t fencing_token = 0;
  std::string group_id;
  std::int64_t hard_deadline_s = 0;  // seconds of the monotonic clock's epoch (floor)
  std::uint64_t generation = 1;
  bool lifetime_only = false;
  friend bool operator==(const BindingUserdata&, const BindingUserdata&) = default;
};
std::string encode_userdata(const BindingUserdata& u);
std::optional<BindingUserdata> decode_userdata(std::string_view text);
inline constexpr std::size_t kMaxUserdataBytes = 128;
inline constexpr std::size_t kMaxOwnerBytes = 32;
inline constexpr std::size_t kMaxGroupBytes = 32;
inline constexpr std::size_t kMaxNaturalKeyBytes = 64;
inline constexpr std::size_t kMaxRequestIdBytes = 64;

class PinholeManager {
 public:
  /// Precondition: validate_config(config) is OK. The clock, backend and cleaner must outlive
  /// the manager.
  PinholeManager(ManagerConfig config, const Clock& clock, PinholeBackend& backend,
                 ConntrackCleaner& conntrack, AgentIdentity identity);
  ~PinholeManager();
  PinholeManager(const PinholeManager&) = delete;
  PinholeManager& operator=(const PinholeManager&) = delete;

  // ---- restart adoption (fcp-notes §3.7) ----

  /// Rebuilds bindings from a backend snapshot taken right after bootstrap adopted an existing
  /// table. Session-bound bindings come back ORPHANED with orphan grace counted from now;
  /// max fencing tokens are restored from the metadata. Must be called before any write.
  AgentResult<RecoverResult> recover(const BackendState& state);

  // ---- sessions and owners ----

  /// Hello: opens a session (lease = session_ttl) and claims each owner as Adopt does. A claim
  /// failing (e.g. stale token) fails the whole Hello and opens nothing.
  AgentResult<SessionInfo> open_session(const std::vector<OwnerClaim>& claims);
  /// Any stream message renews the session lease. NOT_FOUND once lapsed.
  AgentResult<Clock::TimePoint> heartbeat(SessionId session);
  /// The stream ended. The lease keeps running (objects orphan when it lapses), but an
  /// equal-token claim from a new session may take the owners over at once.
  void end_session(SessionId session);
  /// Moves every binding of meta.owner to `session`; orphans become live again (ADOPTED).
  AgentResult<AdoptResult> adopt(const AdoptRequest& request);

  // ---- controller writes (all idempotent on (owner, request_id)) ----

  AgentResult<ReserveResult> reserve(const ReserveRequest& request);
  AgentResult<Binding> enable(const EnableRequest& request);
  AgentResult<RenewResult> renew(const RenewRequest& request);
  AgentResult<ReleaseResult> release(const ReleaseRequest& request);
  AgentResult<ApplyResult> apply(const ApplyRequest& request);

  // ---- reads ----

  /// owner "" = admin read. Wrong owner => PERMISSION_DENIED.
  AgentResult<Binding> get(const std::string& owner, const Target& key) const;
  AgentResult<ListResult> list(const ListRequest& request) const;
  std::size_t binding_count() const noexcept { return bindings_.size(); }
  std::optional<std::uint64_t> max_token_seen(const std::string& owner) const;
  AgentInfo agent_info() const;

  // ---- events ----

  /// Events after `last_seq` for `state_epoch`; resync_required if the epoch differs or the
  /// position fell out of the ring buffer (the K8s 410 Gone pattern). owners empty = all.
  ResumeResult resume(std::uint64_t state_epoch, std::uint64_t last_seq,
                      const std::set<std::string>& owners = {}) const;
  const EventLog& events() const noexcept { return events_; }

  // ---- time and traffic facts from the I/O shell ----

  /// Lapses sessions, orphans their bindings, closes expired bindings (flushing conntrack),
  /// re-arms kernel timeouts due for refresh. Call at next_deadline() (and at least every
  /// kernel_lease / 2).
  TickResult tick();
  /// Earliest instant tick() has work; nullopt when idle.
  std::optional<Clock::TimePoint> next_deadline() const;
  /// conntrack shows no flow of the binding since `idle_since`: closes it (IDLE) once
  /// idle_since + idle_timeout has passed. No-op for bindings without an idle timeout.
  AgentResult<bool> report_idle(BindingId id, Clock::TimePoint idle_since);
  /// Traffic seen: cancels a pending idle close.
  AgentResult<bool> report_traffic(BindingId id);
  /// NFLOG saw the latching packet `remote` -> `private_endpoint`: records it, rewrites the
  /// learned pinhole with the real lease and emits LATCHED.
  AgentResult<Binding> report_latched(const net::Endpoint& remote,
                                      const net::Endpoint& private_endpoint);
  /// conntrack (ctnetlink NEW/DESTROY event) saw a flow of binding `event.mark` start or end.
  /// The manager counts live flows per binding: the first flow cancels a pending idle close
  /// (report_traffic); when the last one ends (conntrack expired it after its UDP timeout), the
  /// idle clock starts (report_idle with now) and the binding closes IDLE after idle_timeout
  /// unless a flow starts again. A NEW inbound flow from the address of a pending one-shot latch
  /// is the latching packet: its source port is learned (report_latched: LATCHED event, exact
  /// pinhole with the real lease). Unknown marks are ignored (flows of closed bindings).
  void report_flow(const FlowEvent& event);
  /// After lost events (ENOBUFS on the event socket): `live` is every flow with a mark now.
  /// Flow counts are replaced; bindings that had flows and have none now start their idle clock;
  /// latches that fired unseen are learned.
  void resync_flows(const std::vector<FlowEvent>& live);
  /// Live flows of a binding as reported by report_flow/resync_flows.
  std::uint32_t live_flows(BindingId id) const;

  // ---- operator ----

  /// Drain: refuse new reservations (UNAVAILABLE / DRAINING), keep existing ones.
  void set_draining(bool draining);
  bool draining() const noexcept { return draining_; }
  /// Closes a binding on the agent's own initiative (CLOSED_BY_AGENT).
  AgentResult<Binding> close_by_agent(BindingId id, Cause cause);

  const ManagerStats& stats() const {
    stats_.conntrack_flush_failures = conntrack_.flush_failures();
    return stats_;
  }

  /// Public ports released but held out of allocation until the conntrack flush of their
  /// binding's mark has completed (port-reuse correctness, moby#44742). Frees those whose flush
  /// is done first.
  std::size_t quarantined_ports();

 private:
  /// Pool::used slot values.
  static constexpr std::uint8_t kFree = 0;
  static constexpr std::uint8_t kUsed = 1;
  static constexpr std::uint8_t kQuarantined = 2;  // released, conntrack flush not yet done
  struct Pool {
    PoolConfig config;
    std::vector<std::uint8_t> used;  // index: port - first_port; kFree / kUsed / kQuarantined
    std::uint32_t cursor = 0;        // next-fit: do not reuse a just-freed port at once
    std::uint32_t in_use = 0;        // count of non-free `used` entries: full pools are skipped in O(1)
  };
  /// Released ports waiting for the flush ticket of their mark.
  struct QuarantinedRange {
    std::uint64_t ticket = 0;
    std::uint32_t pool = 0;
    std::uint32_t offset = 0;  // port - first_port
    std::uint32_t count = 0;
    bool by_tuple = false;  // freed at commit if the binding's tuple deletes succeed
  };
  struct OwnerState {
    std::uint64_t max_token = 0;
    std::optional<SessionId> holder;
  };
  struct OwnerUsage {
    std::size_t bindings = 0;
    std::size_t ports = 0;
  };
  struct Session {
    Clock::TimePoint lease_expiry{};
    bool ended = false;
  };
  struct Journal;
  using CachedResponse =
      std::variant<ReserveResult, Binding, RenewResult, ReleaseResult, ApplyResult, AdoptResult>;
  struct DedupEntry {
    std::uint64_t fingerprint = 0;
    Clock::TimePoint at{};
    CachedResponse response;
  };

  // transactions
  template <class T, class Body>
  AgentResult<T> transact(Body&& body);
  void rollback(Journal& j);
  void put(Binding b, bool force_arm = false);
  void erase(BindingId id);
  void set_owner(const std::string& owner, OwnerState state);
  void emit(EventKind kind, Cause cause, const Binding& b, std::string detail,
            std::optional<net::Endpoint> latched = std::nullopt);
  void raw_put(const Binding& b);
  void raw_erase(BindingId id, bool quarantine = false);

  // write helpers
  template <class T>
  AgentResult<T> idempotent(const WriteMeta& meta, std::uint64_t fingerprint,
                            const std::function<AgentResult<T>()>& body);
  AgentResult<bool> check_meta(const WriteMeta& meta) const;
  AgentResult<ReserveResult> do_reserve(const ReserveRequest& r, const WriteMeta& meta);
  AgentResult<Binding> do_enable(const EnableRequest& r, const WriteMeta& meta);
  AgentResult<RenewResult> do_renew(const RenewRequest& r, const WriteMeta& meta);
  AgentResult<ReleaseResult> do_release(const ReleaseRequest& r, const WriteMeta& meta);
  AgentResult<AdoptResult> do_adopt(const std::string& owner, std::uint64_t token,
                                    SessionId session);
  AgentResult<Binding*> resolve_one(const Target& t, const WriteMeta& meta);
  AgentResult<bool> check_access(const Binding& b, const WriteMeta& meta) const;
  void touch_write(Binding& b, const WriteMeta& meta);
  void note_token(const WriteMeta& meta);
  Binding closed_copy(const Binding& b, Cause cause) const;

  // ports
  Pool* pool_for(const net::IpAddress& a);
  AgentResult<net::Endpoint> allocate(const ReserveRequest& r);
  bool ports_free(const Pool& p, std::uint32_t first, std::uint32_t count) const;
  /// No port of the range is in use, at least one is quarantined.
  bool ports_quarantined(const Pool& p, std::uint32_t first, std::uint32_t count) const;
  /// used: slots -> kUsed. !used: slots -> kFree, or kQuarantined (recorded in the journal).
  void mark_ports(const Binding& b, bool used, bool quarantine = false);
  /// Frees quarantined ranges whose flush ticket has completed; returns how many were freed.
  std::size_t release_quarantine();
  /// Sets kQuarantined slots of the range back to kFree.
  void free_range(const QuarantinedRange& q);
  /// True when every conntrack flow the binding can have is one of its pinholes' tuples.
  static bool flows_known(const Binding& b);
  /// Flush-before-reuse: waits for every scheduled flush, then frees all quarantined ports.
  /// False if nothing was quarantined.
  bool drain_quarantine();

  // leases and kernel
  void arm(Binding& b, Clock::TimePoint now) const;
  Clock::TimePoint next_action(const Binding& b) const;
  void append_diff(const Binding* old_b, const Binding* new_b, Clock::TimePoint now);
  bool session_live(SessionId id, Clock::TimePoint now) const;
  void orphan_owner(const std::string& owner, Clock::TimePoint now);

  // dedup
  void prune_dedup(Clock::TimePoint now);

  // traffic facts
  /// A NEW flow of binding `id`: learns a pending latch if this is its latching packet.
  void learn_latch(BindingId id, const FlowEvent& e);
  /// Idle bookkeeping after the live flow count of `id` changed to `live`.
  void note_flow_count(BindingId id, std::uint32_t live, bool had_flows);

  ManagerConfig config_;
  const Clock& clock_;
  PinholeBackend& backend_;
  ConntrackCleaner& conntrack_;
  AgentIdentity identity_;

  std::map<BindingId, Binding> bindings_;
  std::map<std::pair<std::string, std::string>, BindingId> by_natural_key_;
  std::map<std::pair<std::string, std::string>, std::set<BindingId>> by_group_;
  std::map<std::string, std::set<BindingId>> by_owner_;
  std::unordered_map<net::Endpoint, BindingId> by_private_;  // every private port
  std::set<std::pair<Clock::TimePoint, BindingId>> schedule_;
  std::unordered_map<BindingId, Clock::TimePoint> scheduled_at_;
  std::map<std::string, OwnerState> owners_;
  std::map<std::string, OwnerUsage> usage_;
  std::map<SessionId, Session> sessions_;
  std::vector<Pool> pools_;
  BindingId next_id_ = 1;
  SessionId next_session_ = 1;
  bool draining_ = false;

  std::map<std::pair<std::string, std::string>, DedupEntry> dedup_;
  std::deque<std::pair<Clock::TimePoint, std::pair<std::string, std::string>>> dedup_order_;

  EventLog events_;
  Journal* journal_ = nullptr;
  mutable ManagerStats stats_;
  std::deque<QuarantinedRange> quarantine_;  // ticket order
  /// Live conntrack flows per binding (ct mark), from report_flow / resync_flows. Not part of
  /// Binding: it is an observation of the kernel, not desired state, and is not journaled.
  std::unordered_map<BindingId, std::uint32_t> live_flows_;
};

}  // namespace portcullis::agent
