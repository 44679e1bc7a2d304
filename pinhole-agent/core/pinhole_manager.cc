#include "pinhole-agent/core/pinhole_manager.h"

#include <algorithm>
#include <cassert>
#include <charconv>
#include <limits>
#include <string_view>
#include <tuple>

namespace portcullis::agent {
namespace {

using std::chrono::duration_cast;
using std::chrono::milliseconds;
using std::chrono::seconds;

// ---- errors ----

AgentError make_error(ErrorCode code, ErrorReason reason, std::string message,
                      RetryClass retry = RetryClass::kNever, Clock::Duration after = {}) {
  return AgentError{code, reason, std::move(message), retry, after};
}
Unexpected<AgentError> fail(ErrorCode code, ErrorReason reason, std::string message,
                            RetryClass retry = RetryClass::kNever, Clock::Duration after = {}) {
  return unexpected(make_error(code, reason, std::move(message), retry, after));
}
Unexpected<AgentError> invalid(std::string message) {
  return fail(ErrorCode::kInvalidArgument, ErrorReason::kInvalidField, std::move(message));
}
Unexpected<AgentError> bad_tuple(std::string message) {
  return fail(ErrorCode::kInvalidArgument, ErrorReason::kBadTuple, std::move(message));
}

std::string seconds_text(Clock::Duration d) {
  return std::to_string(duration_cast<milliseconds>(d).count()) + "ms";
}

bool safe_name(std::string_view s) {
  for (const char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == ':' || c == '/' || c == '@' || c == '-';
    if (!ok) {
      return false;
    }
  }
  return true;
}

/// Names in kernel userdata and indexes: bounded, from a charset that cannot forge the
/// "k=v;k=v" encoding (style P3).
AgentResult<bool> check_name(std::string_view value, std::size_t max, bool required,
                             const char* field) {
  if (value.empty()) {
    if (required) {
      return invalid(std::string(field) + " must not be empty");
    }
    return true;
  }
  if (value.size() > max) {
    return invalid(std::string(field) + " must be at most " + std::to_string(max) + " bytes");
  }
  if (!safe_name(value)) {
    return invalid(std::string(field) + " may contain only [A-Za-z0-9._:/@-]");
  }
  return true;
}

AgentResult<bool> check_host_address(const net::IpAddress& a, const std::string& field) {
  if (a.is_unspecified() || a.is_multicast() || a.is_loopback()) {
    return bad_tuple(field + " must be a unicast host address, got " + a.to_string());
  }
  return true;
}

bool valid_protocol(L4Protocol p) { return p == L4Protocol::kUdp || p == L4Protocol::kTcp; }

// ---- fingerprints (same request_id must mean the same request, AIP-155) ----

class Fingerprint {
 public:
  Fingerprint& add(std::string_view s) {
    add(static_cast<std::uint64_t>(s.size()));
    for (const char c : s) {
      mix(static_cast<std::uint8_t>(c));
    }
    return *this;
  }
  Fingerprint& add(std::uint64_t v) {
    for (int i = 0; i < 8; ++i) {
      mix(static_cast<std::uint8_t>(v >> (8 * i)));
    }
    return *this;
  }
  Fingerprint& add(const net::Endpoint& e) { return add(e.to_string()); }
  Fingerprint& add(Clock::Duration d) { return add(static_cast<std::uint64_t>(d.count())); }
  Fingerprint& add(const Target& t) {
    add(static_cast<std::uint64_t>(t.index()));
    if (const auto* b = std::get_if<ByBinding>(&t)) {
      add(static_cast<std::uint64_t>(b->id));
    } else if (const auto* g = std::get_if<ByGroup>(&t)) {
      add(g->group_id);
    } else {
      add(std::get<ByNaturalKey>(t).natural_key);
    }
    return *this;
  }
  std::uint64_t value() const noexcept { return h_; }

 private:
  void mix(std::uint8_t b) {
    h_ ^= b;
    h_ *= 1099511628211ull;  // FNV-1a
  }
  std::uint64_t h_ = 1469598103934665603ull;
};

// The fencing token is deliberately not part of the fingerprint: a retry after the controller
// re-acquired its shard lease is still the same request.
void fp_meta(Fingerprint& f, const WriteMeta& m) {
  f.add(m.request_id).add(m.owner).add(m.expected_generation);
}
void fp_op(Fingerprint& f, const ReserveRequest& r) {
  f.add("reserve").add(r.natural_key).add(r.group_id).add(static_cast<std::uint64_t>(r.protocol));
  f.add(r.private_endpoint).add(static_cast<std::uint64_t>(r.port_count));
  f.add(static_cast<std::uint64_t>(r.parity)).add(r.realm);
  f.add(static_cast<std::uint64_t>(r.public_port.has_value()));
  if (r.public_port) {
    f.add(r.public_port->suggested).add(static_cast<std::uint64_t>(r.public_port->preference));
  }
  f.add(r.lease.lifetime).add(static_cast<std::uint64_t>(r.lease.liveness));
  f.add(r.lease.orphan_grace).add(r.lease.idle_timeout).add(r.lease.reservation_timeout);
}
void fp_op(Fingerprint& f, const EnableRequest& r) {
  f.add("enable").add(r.target).add(static_cast<std::uint64_t>(r.remotes.size()));
  for (const RemoteSpec& s : r.remotes) {
    f.add(s.address.to_string()).add(static_cast<std::uint64_t>(s.port));
    f.add(static_cast<std::uint64_t>(s.rtcp_port)).add(static_cast<std::uint64_t>(s.latch));
  }
}
void fp_op(Fingerprint& f, const RenewRequest& r) { f.add("renew").add(r.target).add(r.lifetime); }
void fp_op(Fingerprint& f, const ReleaseRequest& r) { f.add("release").add(r.target); }

std::string id_text(BindingId id) { return std::to_string(id); }

// ---- kernel elements of a binding ----

struct Element {
  int kind = 0;  // 0 mapping, 1 pinhole, 2 latch
  net::Endpoint key1;
  net::Endpoint key2;
  Change change;
  /// Created by the kernel's packet path (a latch that fired): write with upsert, not create.
  bool kernel_made = false;

  auto key() const { return std::tie(kind, key1, key2); }
};

std::uint16_t component_remote_port(const RemoteSpec& s, int component) {
  if (component == 0) {
    return s.port;
  }
  return s.rtcp_port != 0 ? s.rtcp_port : static_cast<std::uint16_t>(s.port + 1);
}

std::string pinhole_userdata(BindingId id) {
  std::string s = "b=";
  char buf[9];
  const auto res = std::to_chars(buf, buf + sizeof(buf), id, 16);
  s.append(buf, res.ptr);
  return s;
}

std::vector<Element> elements_of(const Binding& b, Clock::TimePoint now) {
  std::vector<Element> out;
  out.reserve(static_cast<std::size_t>(b.port_count) * (1 + b.pinholes.size()));
  // Kernel timeouts never exceed the armed expiry (invariant I1): floor to milliseconds, and
  // never write 0 (which nftables would read as "no timeout").
  auto timeout = duration_cast<milliseconds>(b.kernel_expiry - now);
  if (timeout < milliseconds(1)) {
    timeout = milliseconds(1);
  }
  BindingUserdata u;
  u.id = b.id;
  u.owner = b.owner;
  u.fencing_token = b.fencing_token;
  u.group_id = b.group_id;
  u.hard_deadline_s = duration_cast<seconds>(b.lease.hard_deadline.time_since_epoch()).count();
  u.generation = b.generation;
  u.lifetime_only = b.lease.liveness == Liveness::kLifetimeOnly;
  const std::string mapping_userdata = encode_userdata(u);
  const std::string pin_userdata = pinhole_userdata(b.id);

  for (int i = 0; i < b.port_count; ++i) {
    PortMapping m;
    m.protocol = b.protocol;
    m.public_endpoint = net::Endpoint(b.public_endpoint.address(),
                                      static_cast<std::uint16_t>(b.public_endpoint.port() + i));
    m.private_endpoint = net::Endpoint(b.private_endpoint.address(),
                                       static_cast<std::uint16_t>(b.private_endpoint.port() + i));
    m.mark = b.mark();
    m.timeout = timeout;
    m.userdata = mapping_userdata;
    out.push_back(Element{0, m.public_endpoint, net::Endpoint{}, Change{ChangeOp::kCreate, m}, false});
  }
  for (const PinholeState& ps : b.pinholes) {
    for (int i = 0; i < b.port_count; ++i) {
      const net::Endpoint priv(b.private_endpoint.address(),
                               static_cast<std::uint16_t>(b.private_endpoint.port() + i));
      const bool latch = ps.spec.latch == LatchMode::kOneShot;
      if (latch && ps.latched_port[i] == 0) {
        Latch l;
        l.protocol = b.protocol;
        l.remote_address = ps.spec.address;
        l.private_endpoint = priv;
        l.timeout = timeout;
        l.latched_timeout = timeout;
        out.push_back(Element{2, net::Endpoint(ps.spec.address, 0), priv,
                              Change{ChangeOp::kCreate, l}, false});
        continue;
      }
      Pinhole p;
      p.protocol = b.protocol;
      p.remote = net::Endpoint(ps.spec.address,
                               latch ? ps.latched_port[i] : component_remote_port(ps.spec, i));
      p.private_endpoint = priv;
      p.timeout = timeout;
      p.userdata = pin_userdata;
      out.push_back(Element{1, p.remote, priv, Change{ChangeOp::kCreate, p}, latch});
    }
  }
  return out;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------------

Status validate_config(const ManagerConfig& c) {
  if (c.pools.empty()) {
    return unexpected(invalid_argument("pools must not be empty"));
  }
  for (std::size_t i = 0; i < c.pools.size(); ++i) {
    const PoolConfig& p = c.pools[i];
    const std::string f = "pools[" + std::to_string(i) + "]";
    if (p.public_address.is_unspecified() || p.public_address.is_multicast()) {
      return unexpected(invalid_argument(f + ".public_address must be a unicast address"));
    }
    if (p.first_port == 0 || p.last_port < p.first_port) {
      return unexpected(invalid_argument(f + " port range must satisfy 1 <= first <= last"));
    }
    for (std::size_t j = 0; j < i; ++j) {
      if (c.pools[j].public_address == p.public_address) {
        return unexpected(invalid_argument(f + ".public_address repeats pools[" +
                                           std::to_string(j) + "]"));
      }
    }
  }
  if (c.min_lifetime <= Clock::Duration::zero() || c.max_lifetime < c.min_lifetime) {
    return unexpected(invalid_argument("lifetimes must satisfy 0 < min_lifetime <= max_lifetime"));
  }
  if (c.kernel_lease < seconds(2)) {
    return unexpected(invalid_argument("kernel_lease must be >= 2s"));
  }
  if (c.session_ttl <= Clock::Duration::zero() || c.heartbeat_interval <= Clock::Duration::zero() ||
      c.heartbeat_interval >= c.session_ttl) {
    return unexpected(invalid_argument("need 0 < heartbeat_interval < session_ttl"));
  }
  if (c.default_orphan_grace <= Clock::Duration::zero() ||
      c.max_orphan_grace < c.default_orphan_grace) {
    return unexpected(invalid_argument("need 0 < default_orphan_grace <= max_orphan_grace"));
  }
  if (c.default_reservation_timeout <= Clock::Duration::zero() ||
      c.max_reservation_timeout < c.default_reservation_timeout) {
    return unexpected(
        invalid_argument("need 0 < default_reservation_timeout <= max_reservation_timeout"));
  }
  if (c.dedup_max_entries == 0 || c.event_buffer_size == 0 || c.max_bindings == 0 ||
      c.max_remotes_per_binding == 0 || c.max_batch_operations == 0) {
    return unexpected(invalid_argument("size limits must be > 0"));
  }
  return ok_status();
}

// ---------------------------------------------------------------------------------------------
// Construction
// ---------------------------------------------------------------------------------------------

struct PinholeManager::Journal {
  Clock::TimePoint now{};
  /// First-seen old value per touched binding / owner; rollback restores these.
  std::map<BindingId, std::optional<Binding>> binding_undo;
  std::map<std::string, std::optional<OwnerState>> owner_undo;
  ChangeSet changes;
  std::vector<Event> events;
  std::vector<std::uint32_t> flush_marks;
  /// Ports of erased bindings, quarantined (ticket filled in at commit).
  std::vector<QuarantinedRange> quarantined;
  /// A port quarantined by this transaction was re-allocated in it: flush before replying.
  bool await_flush = false;
  /// Flows of deleted exact pinholes, deleted by tuple at commit (no walk).
  std::vector<FlowTuple> flow_tuples;
  /// Marks of erased bindings whose flows are all in flow_tuples: walked only if the tuple
  /// deletes fail.
  std::vector<std::uint32_t> tuple_marks;
  /// Allocation cursors at the start: a refused transaction does not move next-fit either.
  std::vector<std::uint32_t> cursors;
  /// Recovery: the elements already exist in the kernel, so creates become upserts.
  bool upsert_all = false;
};

PinholeManager::PinholeManager(ManagerConfig config, const Clock& clock, PinholeBackend& backend,
                               ConntrackCleaner& conntrack, AgentIdentity identity)
    : config_(std::move(config)),
      clock_(clock),
      backend_(backend),
      conntrack_(conntrack),
      identity_(std::move(identity)),
      events_(config_.event_buffer_size, identity_.first_event_seq) {
  assert(validate_config(config_).ok());
  for (const PoolConfig& p : config_.pools) {
    Pool pool;
    pool.config = p;
    pool.used.assign(static_cast<std::size_t>(p.last_port - p.first_port) + 1, 0);
    pools_.push_back(std::move(pool));
  }
}

PinholeManager::~PinholeManager() = default;

// ---------------------------------------------------------------------------------------------
// Transactions: mutate in place with an undo journal; one backend apply; commit or roll back.
// ---------------------------------------------------------------------------------------------

template <class T, class Body>
AgentResult<T> PinholeManager::transact(Body&& body) {
  assert(journal_ == nullptr && "transactions do not nest");
  Journal j;
  j.now = clock_.now();
  j.changes.changes.reserve(8);
  j.cursors.reserve(pools_.size());
  for (const Pool& p : pools_) {
    j.cursors.push_back(p.cursor);
  }
  journal_ = &j;
  AgentResult<T> result = body(j);
  journal_ = nullptr;
  if (!result.ok()) {
    rollback(j);
    return result;
  }
  if (!j.changes.empty()) {
    const Status st = backend_.apply(j.changes);
    if (!st.ok()) {
      rollback(j);
      ++stats_.backend_apply_failures;
      const Error& e = st.error();
      if (e.code == ErrorCode::kResourceExhausted) {
        return fail(ErrorCode::kResourceExhausted, ErrorReason::kTableFull,
                    "dataplane: " + e.message, RetryClass::kAfterDelay, config_.retry_after);
      }
      if (e.code == ErrorCode::kAlreadyExists) {
        return fail(ErrorCode::kAborted, ErrorReason::kDataplaneError, "dataplane: " + e.message,
                    RetryClass::kAfterReread);
      }
      return fail(ErrorCode::kInternal, ErrorReason::kDataplaneError, "dataplane: " + e.message,
                  RetryClass::kAfterDelay, config_.retry_after);
    }
  }
  for (Event& e : j.events) {
    events_.append(std::move(e));
  }
  // Invariant I3: elements are gone (the per-packet check already drops), now remove the flows.
  // Exact pinholes: deleted by tuple now (one lookup each). Anything else (latches, IPv6, or a
  // failed tuple delete): flush by mark, scheduled, not awaited: the cleaner coalesces releases
  // into one conntrack walk off the reply path, and the released public ports stay quarantined
  // until that walk has completed.
  // Each tuple delete is a netlink round trip on the reply path: past kMaxSyncFlowDeletes (a
  // big Apply of releases) one deferred walk is cheaper.
  constexpr std::size_t kMaxSyncFlowDeletes = 64;
  bool tuples_ok = j.flow_tuples.size() <= kMaxSyncFlowDeletes || j.tuple_marks.empty();
  if (tuples_ok && !j.flow_tuples.empty()) {
    tuples_ok = conntrack_.delete_flows(j.flow_tuples).ok();
  }
  if (!tuples_ok) {
    j.flush_marks.insert(j.flush_marks.end(), j.tuple_marks.begin(), j.tuple_marks.end());
  }
  std::uint64_t ticket = 0;
  if (!j.flush_marks.empty()) {
    ticket = conntrack_.schedule_flush(j.flush_marks);
  }
  for (QuarantinedRange& q : j.quarantined) {
    if (q.by_tuple && tuples_ok) {
      free_range(q);  // its flows are gone already
    } else {
      q.ticket = ticket;
      quarantine_.push_back(q);
    }
  }
  if (ticket != 0 && j.await_flush) {
    conntrack_.await_ticket(ticket);  // a port released in this batch was re-bound in it
  }
  release_quarantine();
  return result;
}

void PinholeManager::rollback(Journal& j) {
  journal_ = nullptr;
  for (std::size_t i = 0; i < pools_.size() && i < j.cursors.size(); ++i) {
    pools_[i].cursor = j.cursors[i];
  }
  for (auto& [id, old] : j.binding_undo) {
    if (bindings_.count(id) != 0) {
      raw_erase(id);
    }
    if (old) {
      raw_put(*old);
    }
  }
  for (auto& [owner, old] : j.owner_undo) {
    if (old) {
      owners_[owner] = *old;
    } else {
      owners_.erase(owner);
    }
  }
}

void PinholeManager::put(Binding b, bool force_arm) {
  assert(journal_ != nullptr);
  Journal& j = *journal_;
  const auto it = bindings_.find(b.id);
  const Binding* old = it == bindings_.end() ? nullptr : &it->second;
  j.binding_undo.try_emplace(b.id, old ? std::optional<Binding>(*old) : std::nullopt);
  if (force_arm || old == nullptr || old->expiry() != b.expiry()) {
    arm(b, j.now);
  }
  append_diff(old, &b, j.now);
  raw_put(b);
}

void PinholeManager::erase(BindingId id) {
  assert(journal_ != nullptr);
  Journal& j = *journal_;
  const auto it = bindings_.find(id);
  if (it == bindings_.end()) {
    return;
  }
  j.binding_undo.try_emplace(id, it->second);
  append_diff(&it->second, nullptr, j.now);
  const bool by_tuple = flows_known(it->second);
  (by_tuple ? j.tuple_marks : j.flush_marks).push_back(it->second.mark());
  const std::size_t first_range = j.quarantined.size();
  raw_erase(id, /*quarantine=*/true);
  for (std::size_t i = first_range; i < j.quarantined.size(); ++i) {
    j.quarantined[i].by_tuple = by_tuple;
  }
}

void PinholeManager::set_owner(const std::string& owner, OwnerState state) {
  assert(journal_ != nullptr);
  const auto it = owners_.find(owner);
  journal_->owner_undo.try_emplace(
      owner, it == owners_.end() ? std::nullopt : std::optional<OwnerState>(it->second));
  owners_[owner] = state;
}

void PinholeManager::emit(EventKind kind, Cause cause, const Binding& b, std::string detail,
                          std::optional<net::Endpoint> latched) {
  assert(journal_ != nullptr);
  Event e;
  e.time = journal_->now;
  e.kind = kind;
  e.cause = cause;
  e.owner = b.owner;
  e.group_id = b.group_id;
  e.binding_id = b.id;
  e.latched_remote = latched;
  e.detail = std::move(detail);
  journal_->events.push_back(std::move(e));
}

void PinholeManager::raw_put(const Binding& b) {
  if (bindings_.count(b.id) != 0) {
    raw_erase(b.id);
  }
  const Binding& stored = bindings_.emplace(b.id, b).first->second;
  if (!stored.natural_key.empty()) {
    by_natural_key_[{stored.owner, stored.natural_key}] = stored.id;
  }
  if (!stored.group_id.empty()) {
    by_group_[{stored.owner, stored.group_id}].insert(stored.id);
  }
  by_owner_[stored.owner].insert(stored.id);
  for (int i = 0; i < stored.port_count; ++i) {
    by_private_[net::Endpoint(stored.private_endpoint.address(),
                              static_cast<std::uint16_t>(stored.private_endpoint.port() + i))] =
        stored.id;
  }
  mark_ports(stored, true);
  OwnerUsage& u = usage_[stored.owner];
  ++u.bindings;
  u.ports += stored.port_count;
  const Clock::TimePoint t = next_action(stored);
  schedule_.emplace(t, stored.id);
  scheduled_at_[stored.id] = t;
}

void PinholeManager::raw_erase(BindingId id, bool quarantine) {
  const auto it = bindings_.find(id);
  if (it == bindings_.end()) {
    return;
  }
  const Binding& b = it->second;
  if (!b.natural_key.empty()) {
    by_natural_key_.erase({b.owner, b.natural_key});
  }
  if (!b.group_id.empty()) {
    const auto g = by_group_.find({b.owner, b.group_id});
    if (g != by_group_.end()) {
      g->second.erase(id);
      if (g->second.empty()) {
        by_group_.erase(g);
      }
    }
  }
  const auto o = by_owner_.find(b.owner);
  if (o != by_owner_.end()) {
    o->second.erase(id);
    if (o->second.empty()) {
      by_owner_.erase(o);
    }
  }
  for (int i = 0; i < b.port_count; ++i) {
    by_private_.erase(net::Endpoint(b.private_endpoint.address(),
                                    static_cast<std::uint16_t>(b.private_endpoint.port() + i)));
  }
  mark_ports(b, false, quarantine);
  OwnerUsage& u = usage_[b.owner];
  u.bindings -= 1;
  u.ports -= b.port_count;
  if (u.bindings == 0) {
    usage_.erase(b.owner);
  }
  const auto s = scheduled_at_.find(id);
  if (s != scheduled_at_.end()) {
    schedule_.erase({s->second, id});
    scheduled_at_.erase(s);
  }
  bindings_.erase(it);
}

// ---------------------------------------------------------------------------------------------
// Kernel timeouts
// ---------------------------------------------------------------------------------------------

void PinholeManager::arm(Binding& b, Clock::TimePoint now) const {
  // fcp-notes §2.4: element timeout = min(expiry, now + kernel_lease), so the kernel closes the
  // hole by itself if the agent dies (invariant I1).
  b.kernel_armed_at = now;
  b.kernel_expiry = std::min(b.expiry(), now + config_.kernel_lease);
}

Clock::TimePoint PinholeManager::next_action(const Binding& b) const {
  Clock::TimePoint t = b.expiry();
  if (b.lease.idle_since && b.lease.idle_timeout > Clock::Duration::zero()) {
    t = std::min(t, *b.lease.idle_since + b.lease.idle_timeout);
  }
  if (b.kernel_expiry < b.expiry()) {
    t = std::min(t, b.kernel_armed_at + config_.kernel_lease / 2);
  }
  return t;
}

void PinholeManager::append_diff(const Binding* old_b, const Binding* new_b, Clock::TimePoint now) {
  const std::vector<Element> old_e = old_b ? elements_of(*old_b, now) : std::vector<Element>{};
  const std::vector<Element> new_e = new_b ? elements_of(*new_b, now) : std::vector<Element>{};
  std::vector<Change>& out = journal_->changes.changes;
  const auto find = [](const std::vector<Element>& v, const Element& e) -> const Element* {
    for (const Element& x : v) {
      if (x.key() == e.key()) {
        return &x;
      }
    }
    return nullptr;
  };
  for (const Element& e : old_e) {
    if (find(new_e, e) == nullptr) {
      out.push_back(Change{ChangeOp::kDelete, e.change.object});
      if (const auto* p = std::get_if<Pinhole>(&e.change.object);
          p != nullptr && p->remote.address().is_v4() && old_b->public_endpoint.address().is_v4()) {
        // The flow remote -> public (inbound original, or the SNATed outbound flow's reply).
        const auto component = static_cast<std::uint16_t>(p->private_endpoint.port() -
                                                          old_b->private_endpoint.port());
        journal_->flow_tuples.push_back(FlowTuple{
            p->protocol, p->remote,
            net::Endpoint(old_b->public_endpoint.address(),
                          static_cast<std::uint16_t>(old_b->public_endpoint.port() + component))});
      }
    }
  }
  for (const Element& e : new_e) {
    const Element* prev = find(old_e, e);
    if (prev == nullptr) {
      const bool upsert = e.kernel_made || journal_->upsert_all;
      out.push_back(Change{upsert ? ChangeOp::kUpsert : ChangeOp::kCreate, e.change.object});
    } else if (journal_->upsert_all || !(prev->change.object == e.change.object)) {
      out.push_back(Change{ChangeOp::kUpsert, e.change.object});
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Ports (RFC 4787 REQ-3: no port overloading; REQ-4: parity)
// ---------------------------------------------------------------------------------------------

PinholeManager::Pool* PinholeManager::pool_for(const net::IpAddress& a) {
  for (Pool& p : pools_) {
    if (p.config.public_address == a) {
      return &p;
    }
  }
  return nullptr;
}

bool PinholeManager::ports_free(const Pool& p, std::uint32_t first, std::uint32_t count) const {
  if (first < p.config.first_port || first + count - 1 > p.config.last_port) {
    return false;
  }
  for (std::uint32_t i = 0; i < count; ++i) {
    if (p.used[first + i - p.config.first_port] != 0) {
      return false;
    }
  }
  return true;
}

bool PinholeManager::ports_quarantined(const Pool& p, std::uint32_t first, std::uint32_t count) const {
  if (first < p.config.first_port || first + count - 1 > p.config.last_port) {
    return false;
  }
  bool any = false;
  for (std::uint32_t i = 0; i < count; ++i) {
    const std::uint8_t slot = p.used[first + i - p.config.first_port];
    if (slot == kUsed) {
      return false;
    }
    any = any || slot == kQuarantined;
  }
  return any;
}

void PinholeManager::mark_ports(const Binding& b, bool used, bool quarantine) {
  Pool* p = pool_for(b.public_endpoint.address());
  if (p == nullptr) {
    return;  // recovered binding on an address no longer configured: keep it, do not allocate
  }
  const std::uint8_t target = used ? kUsed : (quarantine ? kQuarantined : kFree);
  std::uint32_t first_off = 0;
  std::uint32_t count = 0;
  for (int i = 0; i < b.port_count; ++i) {
    const std::uint32_t port = b.public_endpoint.port() + static_cast<std::uint32_t>(i);
    if (port >= p->config.first_port && port <= p->config.last_port) {
      std::uint8_t& slot = p->used[port - p->config.first_port];
      if (slot == kFree && target != kFree) {
        ++p->in_use;
      } else if (slot != kFree && target == kFree) {
        --p->in_use;
      }
      slot = target;
      if (count == 0) {
        first_off = port - p->config.first_port;
      }
      ++count;
    }
  }
  if (target == kQuarantined && count != 0) {
    assert(journal_ != nullptr);
    journal_->quarantined.push_back(
        QuarantinedRange{0, static_cast<std::uint32_t>(p - pools_.data()), first_off, count});
  }
}

bool PinholeManager::flows_known(const Binding& b) {
  // Every confirmed flow of a binding passed the forward chain's pinhole check, so its flows
  // are exactly those of its pinholes, as long as no latch may have fired unseen (the kernel
  // learned a remote port the agent does not know) and NAT tuples apply (IPv4). Pinholes
  // removed earlier by Enable had their flows deleted then.
  // A binding without pinholes cannot have confirmed flows either, but keeps the (deferred)
  // walk: it costs no reply latency and covers flows this reasoning misses.
  if (b.pinholes.empty() || !b.public_endpoint.address().is_v4() ||
      !b.private_endpoint.address().is_v4()) {
    return false;
  }
  for (const PinholeState& ps : b.pinholes) {
    if (!ps.spec.address.is_v4()) {
      return false;
    }
    if (ps.spec.latch == LatchMode::kOneShot) {
      for (int i = 0; i < b.port_count; ++i) {
        if (ps.latched_port[i] == 0) {
          return false;
        }
      }
    }
  }
  return true;
}

void PinholeManager::free_range(const QuarantinedRange& q) {
  Pool& p = pools_[q.pool];
  for (std::uint32_t i = 0; i < q.count; ++i) {
    std::uint8_t& slot = p.used[q.offset + i];
    if (slot == kQuarantined) {
      slot = kFree;
      --p.in_use;
    }
  }
}

std::size_t PinholeManager::release_quarantine() {
  if (quarantine_.empty()) {
    return 0;
  }
  const std::uint64_t done = conntrack_.completed_ticket();
  std::size_t freed = 0;
  while (!quarantine_.empty() && quarantine_.front().ticket <= done) {
    freed += quarantine_.front().count;
    free_range(quarantine_.front());
    quarantine_.pop_front();
  }
  return freed;
}

bool PinholeManager::drain_quarantine() {
  if (quarantine_.empty()) {
    return false;
  }
  conntrack_.await_ticket(quarantine_.back().ticket);
  release_quarantine();
  return true;
}

std::size_t PinholeManager::quarantined_ports() {
  release_quarantine();
  std::size_t n = 0;
  for (const QuarantinedRange& q : quarantine_) {
    n += q.count;
  }
  return n;
}

AgentResult<net::Endpoint> PinholeManager::allocate(const ReserveRequest& r) {
  release_quarantine();
  const net::Family family = r.private_endpoint.address().family();
  const std::uint32_t count = r.port_count;
  const bool even = r.parity == Parity::kEven;
  std::vector<Pool*> candidates;
  for (Pool& p : pools_) {
    if (p.config.public_address.family() == family &&
        (r.realm.empty() || p.config.realm == r.realm)) {
      candidates.push_back(&p);
    }
  }
  if (candidates.empty()) {
    return fail(ErrorCode::kInvalidArgument, ErrorReason::kBadTuple,
                "private_endpoint: no public pool of this address family" +
                    std::string(r.realm.empty() ? "" : " in realm '" + r.realm + "'"));
  }

  if (r.public_port) {
    // PCP PREFER_FAILURE (RFC 6887 §13.2): exactly the suggested port, or fail.
    const net::Endpoint& s = r.public_port->suggested;
    const bool exact = r.public_port->preference == PortPreference::kExactOrFail;
    std::string why;
    for (Pool* p : candidates) {
      if (!s.address().is_unspecified() && p->config.public_address != s.address()) {
        continue;
      }
      if (even && s.port() % 2 != 0) {
        why = "is odd but parity EVEN was requested";
        break;
      }
      if (ports_free(*p, s.port(), count)) {
        return net::Endpoint(p->config.public_address, s.port());
      }
      // Exactly this port, still quarantined: flush-before-reuse (rare: PCP PREFER_FAILURE
      // right after a release of the same port). Released by an earlier transaction: wait for
      // its walk. Released earlier in this one (Apply [release, reserve same port]): the delete
      // precedes the create in the one nft batch, and the commit flushes synchronously.
      if (exact && ports_quarantined(*p, s.port(), count)) {
        drain_quarantine();
        if (ports_free(*p, s.port(), count)) {
          return net::Endpoint(p->config.public_address, s.port());
        }
        if (ports_quarantined(*p, s.port(), count)) {
          journal_->await_flush = true;
          return net::Endpoint(p->config.public_address, s.port());
        }
      }
      why = s.port() < p->config.first_port || s.port() + count - 1 > p->config.last_port
                ? "is outside the pool"
                : "is in use";
    }
    if (why.empty()) {
      why = "is on an address this agent does not serve";
    }
    if (exact) {
      return fail(ErrorCode::kFailedPrecondition, ErrorReason::kCannotProvideExternal,
                  "public_port.suggested " + s.to_string() + " " + why);
    }
  }

  // Next-fit skips quarantined ports; only when nothing else is free does it wait for their
  // flush (flush-before-reuse) and scan once more.
  for (int attempt = 0; attempt < 2; ++attempt) {
    for (Pool* p : candidates) {
      const auto size = static_cast<std::uint32_t>(p->used.size());
      if (size - p->in_use < count) {
        continue;  // full: without this, every allocation after the first pool fills scans it whole
      }
      for (std::uint32_t i = 0; i < size; ++i) {
        const std::uint32_t off = (p->cursor + i) % size;
        const std::uint32_t port = p->config.first_port + off;
        if (even && port % 2 != 0) {
          continue;
        }
        if (ports_free(*p, port, count)) {
          p->cursor = (off + count) % size;  // next-fit: a just-released port is reused last
          return net::Endpoint(p->config.public_address, static_cast<std::uint16_t>(port));
        }
      }
    }
    if (attempt == 0 && !drain_quarantine()) {
      break;
    }
  }
  return fail(ErrorCode::kResourceExhausted, ErrorReason::kNoPorts,
              "no free public port" + std::string(count == 2 ? " pair" : "") +
                  (even ? " with even parity" : ""),
              RetryClass::kAfterDelay, config_.retry_after);
}

// ---------------------------------------------------------------------------------------------
// Write plumbing: meta, fencing, idempotency
// ---------------------------------------------------------------------------------------------

AgentResult<bool> PinholeManager::check_meta(const WriteMeta& meta) const {
  if (meta.request_id.empty() || meta.request_id.size() > kMaxRequestIdBytes) {
    return invalid("meta.request_id must be 1.." + std::to_string(kMaxRequestIdBytes) + " bytes");
  }
  for (const char c : meta.request_id) {
    if (c <= ' ' || c > '~') {
      return invalid("meta.request_id must be printable ASCII without spaces");
    }
  }
  const auto name = check_name(meta.owner, kMaxOwnerBytes, true, "meta.owner");
  if (!name.ok()) {
    return name;
  }
  // Invariant I4: a writer whose token is below the highest seen for the owner lost its shard.
  const auto it = owners_.find(meta.owner);
  if (it != owners_.end() && meta.fencing_token < it->second.max_token) {
    return fail(ErrorCode::kFailedPrecondition, ErrorReason::kStaleFencingToken,
                "meta.fencing_token " + std::to_string(meta.fencing_token) + " < " +
                    std::to_string(it->second.max_token) + " already seen for owner '" +
                    meta.owner + "'");
  }
  return true;
}

void PinholeManager::note_token(const WriteMeta& meta) {
  const auto it = owners_.find(meta.owner);
  OwnerState s = it == owners_.end() ? OwnerState{} : it->second;
  if (it == owners_.end() || meta.fencing_token > s.max_token) {
    s.max_token = std::max(s.max_token, meta.fencing_token);
    set_owner(meta.owner, s);
  }
}

void PinholeManager::prune_dedup(Clock::TimePoint now) {
  while (!dedup_order_.empty() && dedup_order_.front().first + config_.dedup_window <= now) {
    const auto it = dedup_.find(dedup_order_.front().second);
    if (it != dedup_.end() && it->second.at == dedup_order_.front().first) {
      dedup_.erase(it);
    }
    dedup_order_.pop_front();
  }
}

template <class T>
AgentResult<T> PinholeManager::idempotent(const WriteMeta& meta, std::uint64_t fingerprint,
                                          const std::function<AgentResult<T>()>& body) {
  const Clock::TimePoint now = clock_.now();
  prune_dedup(now);
  // Fencing first: a stale writer is refused even when replaying an old request id.
  const auto m = check_meta(meta);
  if (!m.ok()) {
    return unexpected(m.error());
  }
  std::pair<std::string, std::string> key{meta.owner, meta.request_id};
  const auto hit = dedup_.find(key);
  if (hit != dedup_.end()) {
    const T* cached = std::get_if<T>(&hit->second.response);
    if (hit->second.fingerprint != fingerprint || cached == nullptr) {
      return fail(ErrorCode::kInvalidArgument, ErrorReason::kRequestIdReused,
                  "meta.request_id '" + meta.request_id +
                      "' was already used for a different request");
    }
    ++stats_.dedup_hits;
    return *cached;
  }
  AgentResult<T> result = body();
  if (result.ok()) {
    // Only successes are remembered: a failed request changed nothing and may be retried.
    while (dedup_.size() >= config_.dedup_max_entries && !dedup_order_.empty()) {
      dedup_.erase(dedup_order_.front().second);
      dedup_order_.pop_front();
    }
    dedup_.emplace(key, DedupEntry{fingerprint, now, CachedResponse(result.value())});
    dedup_order_.emplace_back(now, std::move(key));
  }
  return result;
}

AgentResult<bool> PinholeManager::check_access(const Binding& b, const WriteMeta& meta) const {
  if (b.owner != meta.owner) {
    return fail(ErrorCode::kPermissionDenied, ErrorReason::kNotOwner,
                "binding " + id_text(b.id) + " is not owned by '" + meta.owner + "'");
  }
  if (meta.expected_generation != 0 && meta.expected_generation != b.generation) {
    return fail(ErrorCode::kAborted, ErrorReason::kGenerationMismatch,
                "meta.expected_generation " + std::to_string(meta.expected_generation) +
                    " != current " + std::to_string(b.generation) + " of binding " + id_text(b.id),
                RetryClass::kAfterReread);
  }
  return true;
}

AgentResult<Binding*> PinholeManager::resolve_one(const Target& t, const WriteMeta& meta) {
  Binding* b = nullptr;
  if (const auto* by_id = std::get_if<ByBinding>(&t)) {
    const auto it = bindings_.find(by_id->id);
    if (it == bindings_.end()) {
      return fail(ErrorCode::kNotFound, ErrorReason::kUnknownBinding,
                  "binding_id " + id_text(by_id->id) + " not found");
    }
    b = &it->second;
  } else if (const auto* by_key = std::get_if<ByNaturalKey>(&t)) {
    const auto name = check_name(by_key->natural_key, kMaxNaturalKeyBytes, true, "natural_key");
    if (!name.ok()) {
      return unexpected(name.error());
    }
    const auto it = by_natural_key_.find({meta.owner, by_key->natural_key});
    if (it == by_natural_key_.end()) {
      return fail(ErrorCode::kNotFound, ErrorReason::kUnknownBinding,
                  "natural_key '" + by_key->natural_key + "' not found for owner '" + meta.owner +
                      "'");
    }
    b = &bindings_.at(it->second);
  } else {
    return invalid("target: a group is not accepted here; give binding_id or natural_key");
  }
  const auto access = check_access(*b, meta);
  if (!access.ok()) {
    return unexpected(access.error());
  }
  return b;
}

void PinholeManager::touch_write(Binding& b, const WriteMeta& meta) {
  ++b.generation;
  b.fencing_token = meta.fencing_token;
}

Binding PinholeManager::closed_copy(const Binding& b, Cause cause) const {
  Binding c = b;
  c.state = BindingState::kClosed;
  c.cause = cause;
  ++c.generation;
  return c;
}

bool PinholeManager::session_live(SessionId id, Clock::TimePoint now) const {
  const auto it = sessions_.find(id);
  return it != sessions_.end() && it->second.lease_expiry > now;
}

// ---------------------------------------------------------------------------------------------
// Reserve (MIDCOM PRR, PCP MAP)
// ---------------------------------------------------------------------------------------------

AgentResult<ReserveResult> PinholeManager::reserve(const ReserveRequest& request) {
  Fingerprint f;
  fp_meta(f, request.meta);
  fp_op(f, request);
  return idempotent<ReserveResult>(request.meta, f.value(), [&]() {
    return transact<ReserveResult>([&](Journal&) { return do_reserve(request, request.meta); });
  });
}

AgentResult<ReserveResult> PinholeManager::do_reserve(const ReserveRequest& r,
                                                      const WriteMeta& meta) {
  const Clock::TimePoint now = journal_->now;
  if (draining_) {
    return fail(ErrorCode::kUnavailable, ErrorReason::kDraining,
                "agent is draining: new bindings are refused, try another agent",
                RetryClass::kOtherAgent);
  }
  // ---- validation: every field, before anything changes ----
  for (const auto& check :
       {check_name(r.natural_key, kMaxNaturalKeyBytes, false, "natural_key"),
        check_name(r.group_id, kMaxGroupBytes, false, "group_id"),
        check_name(r.realm, kMaxGroupBytes, false, "realm")}) {
    if (!check.ok()) {
      return unexpected(check.error());
    }
  }
  if (!valid_protocol(r.protocol)) {
    return fail(ErrorCode::kInvalidArgument, ErrorReason::kUnsupportedProtocol,
                "protocol " + std::to_string(static_cast<int>(r.protocol)) +
                    " is not supported (UDP or TCP)");
  }
  if (r.port_count != 1 && r.port_count != 2) {
    return invalid("port_count must be 1 or 2, got " + std::to_string(r.port_count));
  }
  if (r.parity != Parity::kAny && r.parity != Parity::kEven) {
    return invalid("parity is not a known value");
  }
  if (r.port_count == 2 && r.parity != Parity::kEven) {
    return invalid("parity must be EVEN when port_count is 2 (RTP/RTCP, RFC 4787 REQ-4)");
  }
  if (r.private_endpoint.port() == 0) {
    return bad_tuple("private_endpoint.port must be 1..65535");
  }
  if (r.private_endpoint.port() + r.port_count - 1 > 65535) {
    return bad_tuple("private_endpoint.port + port_count - 1 exceeds 65535");
  }
  const auto host = check_host_address(r.private_endpoint.address(), "private_endpoint.ip");
  if (!host.ok()) {
    return unexpected(host.error());
  }
  if (r.public_port) {
    const net::Endpoint& s = r.public_port->suggested;
    if (s.port() == 0) {
      return bad_tuple("public_port.suggested.port must be 1..65535");
    }
    if (!s.address().is_unspecified() &&
        s.address().family() != r.private_endpoint.address().family()) {
      return bad_tuple("public_port.suggested.ip family differs from private_endpoint.ip");
    }
    if (r.public_port->preference != PortPreference::kPrefer &&
        r.public_port->preference != PortPreference::kExactOrFail) {
      return invalid("public_port.mode is not a known value");
    }
  }
  if (!r.realm.empty()) {
    const bool known = std::any_of(pools_.begin(), pools_.end(),
                                   [&](const Pool& p) { return p.config.realm == r.realm; });
    if (!known) {
      return invalid("realm '" + r.realm + "' is not served by this agent");
    }
  }
  const LeaseRequest& l = r.lease;
  if (l.lifetime < config_.min_lifetime) {
    return invalid("lease.lifetime must be >= " + seconds_text(config_.min_lifetime) + ", got " +
                   seconds_text(l.lifetime));
  }
  if (l.liveness != Liveness::kSession && l.liveness != Liveness::kLifetimeOnly) {
    return invalid("lease.liveness is not a known value");
  }
  if (l.orphan_grace < Clock::Duration::zero()) {
    return invalid("lease.orphan_grace must not be negative");
  }
  if (l.reservation_timeout < Clock::Duration::zero()) {
    return invalid("lease.reservation_timeout must not be negative");
  }
  if (l.idle_timeout < Clock::Duration::zero() || l.idle_timeout > config_.max_idle_timeout) {
    return invalid("lease.idle_timeout must be 0.." + seconds_text(config_.max_idle_timeout));
  }

  // ---- natural key: idempotent create (fcp-notes §2.5) ----
  if (!r.natural_key.empty()) {
    const auto it = by_natural_key_.find({meta.owner, r.natural_key});
    if (it != by_natural_key_.end()) {
      const Binding& b = bindings_.at(it->second);
      const bool same =
          b.protocol == r.protocol && b.private_endpoint == r.private_endpoint &&
          b.port_count == r.port_count && b.parity == r.parity && b.group_id == r.group_id &&
          (r.realm.empty() || b.realm == r.realm) &&
          (!r.public_port || r.public_port->preference == PortPreference::kPrefer ||
           b.public_endpoint.port() == r.public_port->suggested.port());
      if (!same) {
        return fail(ErrorCode::kAlreadyExists, ErrorReason::kKeyConflict,
                    "natural_key '" + r.natural_key + "' exists as binding " + id_text(b.id) +
                        " with a different spec");
      }
      return ReserveResult{b, false};
    }
  }
  // ---- conflicts, quotas, session ----
  for (std::uint32_t i = 0; i < r.port_count; ++i) {
    const net::Endpoint e(r.private_endpoint.address(),
                          static_cast<std::uint16_t>(r.private_endpoint.port() + i));
    const auto it = by_private_.find(e);
    if (it != by_private_.end()) {
      // One mapping per private endpoint: endpoint-independent mapping (RFC 4787 REQ-1).
      return fail(ErrorCode::kAlreadyExists, ErrorReason::kEndpointInUse,
                  "private_endpoint " + e.to_string() + " is already bound by binding " +
                      id_text(it->second));
    }
  }
  if (bindings_.size() >= config_.max_bindings) {
    return fail(ErrorCode::kResourceExhausted, ErrorReason::kTableFull,
                "agent holds the maximum of " + std::to_string(config_.max_bindings) + " bindings",
                RetryClass::kAfterDelay, config_.retry_after);
  }
  const auto u = usage_.find(meta.owner);
  const OwnerUsage usage = u == usage_.end() ? OwnerUsage{} : u->second;
  if (usage.bindings + 1 > config_.max_bindings_per_owner ||
      usage.ports + r.port_count > config_.max_ports_per_owner) {
    // PCP USER_EX_QUOTA: a short-lifetime error (RFC 6887 §7.4).
    return fail(ErrorCode::kResourceExhausted, ErrorReason::kOwnerQuota,
                "owner '" + meta.owner + "' quota exceeded (" + std::to_string(usage.bindings) +
                    " bindings, " + std::to_string(usage.ports) + " ports held)",
                RetryClass::kAfterDelay, config_.retry_after);
  }
  if (l.liveness == Liveness::kSession) {
    const auto o = owners_.find(meta.owner);
    if (o == owners_.end() || !o->second.holder || !session_live(*o->second.holder, now)) {
      return fail(ErrorCode::kFailedPrecondition, ErrorReason::kNoSession,
                  "lease.liveness SESSION needs a live Session holding owner '" + meta.owner +
                      "' (Hello or Adopt first)",
                  RetryClass::kAfterReread);
    }
  }
  auto pub = allocate(r);
  if (!pub.ok()) {
    return unexpected(std::move(pub).error());
  }

  // ---- build ----
  while (next_id_ == 0 || bindings_.count(next_id_) != 0) {
    ++next_id_;
  }
  Binding b;
  b.id = next_id_++;
  b.owner = meta.owner;
  b.group_id = r.group_id;
  b.natural_key = r.natural_key;
  b.realm = r.realm.empty() ? pool_for(pub->address())->config.realm : r.realm;
  b.protocol = r.protocol;
  b.private_endpoint = r.private_endpoint;
  b.public_endpoint = *pub;
  b.port_count = static_cast<std::uint8_t>(r.port_count);
  b.parity = r.parity;
  b.state = BindingState::kReserved;
  b.created_at = now;
  b.fencing_token = meta.fencing_token;
  // Granted lifetime <= min(requested, max) (RFC 5190 midcomRuleLifetime).
  b.lease.hard_deadline = now + std::min(l.lifetime, config_.max_lifetime);
  b.lease.liveness = l.liveness;
  b.lease.orphan_grace = l.orphan_grace == Clock::Duration::zero()
                             ? config_.default_orphan_grace
                             : std::min(l.orphan_grace, config_.max_orphan_grace);
  b.lease.idle_timeout = l.idle_timeout;
  b.lease.reservation_timeout = l.reservation_timeout == Clock::Duration::zero()
                                    ? config_.default_reservation_timeout
                                    : std::min(l.reservation_timeout, config_.max_reservation_timeout);
  b.lease.reservation_deadline =
      std::min(now + b.lease.reservation_timeout, b.lease.hard_deadline);
  note_token(meta);
  const BindingId id = b.id;
  put(std::move(b));
  return ReserveResult{bindings_.at(id), true};
}

// ---------------------------------------------------------------------------------------------
// Enable (MIDCOM PER, PCP FILTER)
// ---------------------------------------------------------------------------------------------

AgentResult<Binding> PinholeManager::enable(const EnableRequest& request) {
  Fingerprint f;
  fp_meta(f, request.meta);
  fp_op(f, request);
  return idempotent<Binding>(request.meta, f.value(), [&]() {
    return transact<Binding>([&](Journal&) { return do_enable(request, request.meta); });
  });
}

AgentResult<Binding> PinholeManager::do_enable(const EnableRequest& r, const WriteMeta& meta) {
  auto target = resolve_one(r.target, meta);
  if (!target.ok()) {
    return unexpected(std::move(target).error());
  }
  const Binding& b = **target;
  if (r.remotes.empty()) {
    return invalid("remotes must not be empty (use Release to close the binding)");
  }
  if (r.remotes.size() > config_.max_remotes_per_binding) {
    return fail(ErrorCode::kFailedPrecondition, ErrorReason::kExcessiveRemotePeers,
                "remotes: at most " + std::to_string(config_.max_remotes_per_binding) +
                    " per binding, got " + std::to_string(r.remotes.size()));
  }
  for (std::size_t i = 0; i < r.remotes.size(); ++i) {
    const RemoteSpec& s = r.remotes[i];
    const std::string f = "remotes[" + std::to_string(i) + "]";
    const auto host = check_host_address(s.address, f + ".ip");
    if (!host.ok()) {
      return unexpected(host.error());
    }
    if (s.address.family() != b.private_endpoint.address().family()) {
      return bad_tuple(f + ".ip family differs from the binding's private endpoint");
    }
    if (s.latch == LatchMode::kOneShot) {
      if (s.port != 0 || s.rtcp_port != 0) {
        return bad_tuple(f + ": a one-shot latch learns the port; port must be unset");
      }
    } else if (s.latch == LatchMode::kNone) {
      if (s.port == 0) {
        return bad_tuple(f + ".port must be 1..65535 (or use a one-shot latch)");
      }
      if (b.port_count == 2 && s.rtcp_port == 0 && s.port == 65535) {
        return bad_tuple(f + ".port + 1 (RTCP) exceeds 65535; give rtcp_port");
      }
    } else {
      return invalid(f + ".latch is not a known value");
    }
    for (std::size_t j = 0; j < i; ++j) {
      if (r.remotes[j] == s) {
        return invalid(f + " repeats remotes[" + std::to_string(j) + "]");
      }
    }
  }
  Binding nb = b;
  nb.pinholes.clear();
  for (const RemoteSpec& s : r.remotes) {
    PinholeState ps{s, {0, 0}};
    for (const PinholeState& old : b.pinholes) {
      if (old.spec == s) {
        ps = old;  // keep what a latch learned
      }
    }
    nb.pinholes.push_back(ps);
  }
  if (nb.state == BindingState::kOrphaned) {
    nb.state_before_orphan = BindingState::kEnabled;
  } else {
    nb.state = BindingState::kEnabled;
  }
  nb.lease.reservation_deadline.reset();  // MIDCOM: enabled(8), the reservation is consumed
  touch_write(nb, meta);
  note_token(meta);
  const BindingId id = nb.id;
  put(std::move(nb));
  return bindings_.at(id);
}

// ---------------------------------------------------------------------------------------------
// Renew (MIDCOM RLC / GLC; lifetime 0 deletes)
// ---------------------------------------------------------------------------------------------

AgentResult<RenewResult> PinholeManager::renew(const RenewRequest& request) {
  Fingerprint f;
  fp_meta(f, request.meta);
  fp_op(f, request);
  return idempotent<RenewResult>(request.meta, f.value(), [&]() {
    return transact<RenewResult>([&](Journal&) { return do_renew(request, request.meta); });
  });
}

AgentResult<RenewResult> PinholeManager::do_renew(const RenewRequest& r, const WriteMeta& meta) {
  const Clock::TimePoint now = journal_->now;
  if (r.lifetime < Clock::Duration::zero() ||
      (r.lifetime != Clock::Duration::zero() && r.lifetime < config_.min_lifetime)) {
    return invalid("lifetime must be 0 (delete) or >= " + seconds_text(config_.min_lifetime) +
                   ", got " + seconds_text(r.lifetime));
  }
  std::vector<BindingId> ids;
  if (const auto* g = std::get_if<ByGroup>(&r.target)) {
    const auto name = check_name(g->group_id, kMaxGroupBytes, true, "group_id");
    if (!name.ok()) {
      return unexpected(name.error());
    }
    if (meta.expected_generation != 0) {
      return invalid("meta.expected_generation applies to a single binding, not a group");
    }
    const auto it = by_group_.find({meta.owner, g->group_id});
    if (it == by_group_.end()) {
      return fail(ErrorCode::kNotFound, ErrorReason::kUnknownGroup,
                  "group_id '" + g->group_id + "' not found for owner '" + meta.owner + "'");
    }
    ids.assign(it->second.begin(), it->second.end());
  } else {
    auto b = resolve_one(r.target, meta);
    if (!b.ok()) {
      return unexpected(std::move(b).error());
    }
    ids.push_back((*b)->id);
  }
  note_token(meta);
  RenewResult out;
  for (const BindingId id : ids) {
    const Binding& b = bindings_.at(id);
    if (r.lifetime == Clock::Duration::zero()) {
      out.bindings.push_back(closed_copy(b, Cause::kRequested));
      erase(id);
      continue;
    }
    Binding nb = b;
    nb.lease.hard_deadline = now + std::min(r.lifetime, config_.max_lifetime);
    if (nb.lease.reservation_deadline) {
      nb.lease.reservation_deadline = std::min(now + nb.lease.reservation_timeout,
                                               nb.lease.hard_deadline);
    }
    if (nb.lease.orphan_deadline) {
      nb.lease.orphan_deadline = std::min(*nb.lease.orphan_deadline, nb.lease.hard_deadline);
    }
    touch_write(nb, meta);
    put(std::move(nb));
    out.bindings.push_back(bindings_.at(id));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Release (idempotent delete)
// ---------------------------------------------------------------------------------------------

AgentResult<ReleaseResult> PinholeManager::release(const ReleaseRequest& request) {
  Fingerprint f;
  fp_meta(f, request.meta);
  fp_op(f, request);
  return idempotent<ReleaseResult>(request.meta, f.value(), [&]() {
    return transact<ReleaseResult>([&](Journal&) { return do_release(request, request.meta); });
  });
}

AgentResult<ReleaseResult> PinholeManager::do_release(const ReleaseRequest& r,
                                                      const WriteMeta& meta) {
  std::vector<BindingId> ids;
  if (const auto* by_id = std::get_if<ByBinding>(&r.target)) {
    const auto it = bindings_.find(by_id->id);
    if (it != bindings_.end()) {
      const auto access = check_access(it->second, meta);
      if (!access.ok()) {
        return unexpected(access.error());
      }
      ids.push_back(by_id->id);
    }
  } else if (const auto* by_key = std::get_if<ByNaturalKey>(&r.target)) {
    const auto name = check_name(by_key->natural_key, kMaxNaturalKeyBytes, true, "natural_key");
    if (!name.ok()) {
      return unexpected(name.error());
    }
    const auto it = by_natural_key_.find({meta.owner, by_key->natural_key});
    if (it != by_natural_key_.end()) {
      const auto access = check_access(bindings_.at(it->second), meta);
      if (!access.ok()) {
        return unexpected(access.error());
      }
      ids.push_back(it->second);
    }
  } else {
    const auto& g = std::get<ByGroup>(r.target);
    const auto name = check_name(g.group_id, kMaxGroupBytes, true, "group_id");
    if (!name.ok()) {
      return unexpected(name.error());
    }
    const auto it = by_group_.find({meta.owner, g.group_id});
    if (it != by_group_.end()) {
      ids.assign(it->second.begin(), it->second.end());
    }
  }
  ReleaseResult out;
  out.existed = !ids.empty();
  note_token(meta);
  for (const BindingId id : ids) {
    out.final_state.push_back(closed_copy(bindings_.at(id), Cause::kRequested));
    erase(id);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Apply (atomic batch: one nf_tables transaction)
// ---------------------------------------------------------------------------------------------

AgentResult<ApplyResult> PinholeManager::apply(const ApplyRequest& request) {
  Fingerprint f;
  fp_meta(f, request.meta);
  f.add("apply").add(static_cast<std::uint64_t>(request.operations.size()));
  for (const Operation& op : request.operations) {
    std::visit([&](const auto& o) { fp_op(f, o); }, op);
  }
  return idempotent<ApplyResult>(request.meta, f.value(), [&]() {
    return transact<ApplyResult>([&](Journal&) -> AgentResult<ApplyResult> {
      if (request.operations.empty()) {
        return invalid("operations must not be empty");
      }
      if (request.operations.size() > config_.max_batch_operations) {
        return invalid("operations: at most " + std::to_string(config_.max_batch_operations) +
                       " per batch, got " + std::to_string(request.operations.size()));
      }
      ApplyResult out;
      for (std::size_t i = 0; i < request.operations.size(); ++i) {
        const std::string prefix = "operations[" + std::to_string(i) + "]: ";
        const Operation& op = request.operations[i];
        const WriteMeta& op_meta = std::visit([](const auto& o) -> const WriteMeta& { return o.meta; }, op);
        if (!(op_meta == WriteMeta{})) {
          return invalid(prefix + "meta must be unset; the batch meta applies");
        }
        OperationResult res;
        AgentError err;
        bool ok = true;
        if (const auto* rv = std::get_if<ReserveRequest>(&op)) {
          auto x = do_reserve(*rv, request.meta);
          if ((ok = x.ok())) {
            res.bindings.push_back(x->binding);
            res.created = x->created;
          } else {
            err = std::move(x).error();
          }
        } else if (const auto* en = std::get_if<EnableRequest>(&op)) {
          auto x = do_enable(*en, request.meta);
          if ((ok = x.ok())) {
            res.bindings.push_back(*x);
          } else {
            err = std::move(x).error();
          }
        } else if (const auto* rn = std::get_if<RenewRequest>(&op)) {
          auto x = do_renew(*rn, request.meta);
          if ((ok = x.ok())) {
            res.bindings = std::move(x->bindings);
          } else {
            err = std::move(x).error();
          }
        } else {
          auto x = do_release(std::get<ReleaseRequest>(op), request.meta);
          if ((ok = x.ok())) {
            res.bindings = std::move(x->final_state);
            res.existed = x->existed;
          } else {
            err = std::move(x).error();
          }
        }
        if (!ok) {
          err.message = prefix + err.message;
          return unexpected(std::move(err));
        }
        out.results.push_back(std::move(res));
      }
      return out;
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Sessions, owners, adoption (fcp-notes §2.3, §2.6)
// ---------------------------------------------------------------------------------------------

AgentResult<AdoptResult> PinholeManager::do_adopt(const std::string& owner, std::uint64_t token,
                                                  SessionId session) {
  const Clock::TimePoint now = journal_->now;
  if (!session_live(session, now) || sessions_.at(session).ended) {
    return fail(ErrorCode::kFailedPrecondition, ErrorReason::kNoSession,
                "session_id " + std::to_string(session) + " is not a live session",
                RetryClass::kAfterReread);
  }
  const auto it = owners_.find(owner);
  OwnerState s = it == owners_.end() ? OwnerState{} : it->second;
  if (token < s.max_token) {
    return fail(ErrorCode::kFailedPrecondition, ErrorReason::kStaleFencingToken,
                "fencing_token " + std::to_string(token) + " < " + std::to_string(s.max_token) +
                    " already seen for owner '" + owner + "'");
  }
  // Equal token is fine for the same holder re-attaching (stream break, agent restart); taking
  // an owner from another live session needs a newer token (invariant I4).
  if (s.holder && *s.holder != session && token == s.max_token && session_live(*s.holder, now) &&
      !sessions_.at(*s.holder).ended) {
    return fail(ErrorCode::kFailedPrecondition, ErrorReason::kOwnerHeld,
                "owner '" + owner + "' is held by live session " + std::to_string(*s.holder) +
                    "; adopting needs fencing_token > " + std::to_string(s.max_token));
  }
  s.max_token = token;
  s.holder = session;
  set_owner(owner, s);
  AdoptResult out;
  const auto ids_it = by_owner_.find(owner);
  if (ids_it == by_owner_.end()) {
    return out;
  }
  const std::vector<BindingId> ids(ids_it->second.begin(), ids_it->second.end());
  for (const BindingId id : ids) {
    const Binding& b = bindings_.at(id);
    if (b.lease.liveness != Liveness::kSession) {
      continue;
    }
    if (b.state != BindingState::kOrphaned) {
      ++out.already_bound;
      continue;
    }
    Binding nb = b;
    nb.state = nb.state_before_orphan;
    nb.lease.orphan_deadline.reset();
    ++nb.generation;
    nb.fencing_token = token;
    emit(EventKind::kAdopted, Cause::kAdopted, nb, "session " + std::to_string(session));
    put(std::move(nb));
    ++out.adopted;
  }
  return out;
}

AgentResult<AdoptResult> PinholeManager::adopt(const AdoptRequest& request) {
  Fingerprint f;
  fp_meta(f, request.meta);
  f.add("adopt").add(static_cast<std::uint64_t>(request.session));
  return idempotent<AdoptResult>(request.meta, f.value(), [&]() {
    return transact<AdoptResult>([&](Journal&) {
      return do_adopt(request.meta.owner, request.meta.fencing_token, request.session);
    });
  });
}

AgentResult<SessionInfo> PinholeManager::open_session(const std::vector<OwnerClaim>& claims) {
  for (std::size_t i = 0; i < claims.size(); ++i) {
    const auto name = check_name(claims[i].owner, kMaxOwnerBytes, true,
                                 ("owners[" + std::to_string(i) + "].owner").c_str());
    if (!name.ok()) {
      return unexpected(name.error());
    }
  }
  const SessionId id = next_session_++;
  sessions_[id] = Session{clock_.now() + config_.session_ttl, false};
  auto r = transact<std::vector<AdoptResult>>([&](Journal&) -> AgentResult<std::vector<AdoptResult>> {
    std::vector<AdoptResult> out;
    for (std::size_t i = 0; i < claims.size(); ++i) {
      auto a = do_adopt(claims[i].owner, claims[i].fencing_token, id);
      if (!a.ok()) {
        AgentError e = std::move(a).error();
        e.message = "owners[" + std::to_string(i) + "]: " + e.message;
        return unexpected(std::move(e));
      }
      out.push_back(*a);
    }
    return out;
  });
  if (!r.ok()) {
    sessions_.erase(id);
    return unexpected(std::move(r).error());
  }
  return SessionInfo{id, config_.session_ttl, config_.heartbeat_interval, std::move(*r)};
}

AgentResult<Clock::TimePoint> PinholeManager::heartbeat(SessionId session) {
  const Clock::TimePoint now = clock_.now();
  if (!session_live(session, now)) {
    return fail(ErrorCode::kNotFound, ErrorReason::kNoSession,
                "session_id " + std::to_string(session) + " is unknown or its lease lapsed");
  }
  Session& s = sessions_.at(session);
  s.lease_expiry = now + config_.session_ttl;
  return s.lease_expiry;
}

void PinholeManager::end_session(SessionId session) {
  const auto it = sessions_.find(session);
  if (it != sessions_.end()) {
    it->second.ended = true;
  }
}

void PinholeManager::orphan_owner(const std::string& owner, Clock::TimePoint now) {
  const auto it = owners_.find(owner);
  if (it != owners_.end()) {
    OwnerState s = it->second;
    s.holder.reset();
    set_owner(owner, s);
  }
  const auto ids_it = by_owner_.find(owner);
  if (ids_it == by_owner_.end()) {
    return;
  }
  const std::vector<BindingId> ids(ids_it->second.begin(), ids_it->second.end());
  for (const BindingId id : ids) {
    const Binding& b = bindings_.at(id);
    if (b.lease.liveness != Liveness::kSession || b.state == BindingState::kOrphaned) {
      continue;
    }
    Binding nb = b;
    nb.state_before_orphan = b.state;
    nb.state = BindingState::kOrphaned;
    // Invariant I2: bounded orphan life, never past the hard deadline.
    nb.lease.orphan_deadline = std::min(now + nb.lease.orphan_grace, nb.lease.hard_deadline);
    ++nb.generation;
    emit(EventKind::kOrphaned, Cause::kSessionLapsed, nb, "");
    put(std::move(nb));
  }
}

// ---------------------------------------------------------------------------------------------
// Reads
// ---------------------------------------------------------------------------------------------

AgentResult<Binding> PinholeManager::get(const std::string& owner, const Target& key) const {
  const Binding* b = nullptr;
  if (const auto* by_id = std::get_if<ByBinding>(&key)) {
    const auto it = bindings_.find(by_id->id);
    if (it != bindings_.end()) {
      b = &it->second;
    } else {
      return fail(ErrorCode::kNotFound, ErrorReason::kUnknownBinding,
                  "binding_id " + id_text(by_id->id) + " not found");
    }
  } else if (const auto* by_key = std::get_if<ByNaturalKey>(&key)) {
    const auto it = by_natural_key_.find({owner, by_key->natural_key});
    if (it == by_natural_key_.end()) {
      return fail(ErrorCode::kNotFound, ErrorReason::kUnknownBinding,
                  "natural_key '" + by_key->natural_key + "' not found for owner '" + owner + "'");
    }
    b = &bindings_.at(it->second);
  } else {
    return invalid("key: give binding_id or natural_key");
  }
  if (!owner.empty() && b->owner != owner) {
    return fail(ErrorCode::kPermissionDenied, ErrorReason::kNotOwner,
                "binding " + id_text(b->id) + " is not owned by '" + owner + "'");
  }
  return *b;
}

AgentResult<ListResult> PinholeManager::list(const ListRequest& request) const {
  if (!request.group_id.empty() && request.owner.empty()) {
    return invalid("group_id filter needs owner");
  }
  const std::size_t page = request.page_size == 0 ? 100 : std::min<std::size_t>(request.page_size, 1000);
  ListResult out;
  for (auto it = bindings_.upper_bound(request.page_token); it != bindings_.end(); ++it) {
    const Binding& b = it->second;
    if ((!request.owner.empty() && b.owner != request.owner) ||
        (!request.group_id.empty() && b.group_id != request.group_id)) {
      continue;
    }
    if (out.bindings.size() == page) {
      out.next_page_token = out.bindings.back().id;
      break;
    }
    out.bindings.push_back(b);
  }
  return out;
}

std::optional<std::uint64_t> PinholeManager::max_token_seen(const std::string& owner) const {
  const auto it = owners_.find(owner);
  if (it == owners_.end()) {
    return std::nullopt;
  }
  return it->second.max_token;
}

AgentInfo PinholeManager::agent_info() const {
  const auto secs = duration_cast<seconds>(clock_.now() - identity_.epoch_start).count();
  const auto clamped = std::clamp<std::int64_t>(secs, 0, std::numeric_limits<std::uint32_t>::max());
  return AgentInfo{identity_.agent_id, identity_.instance_id, identity_.state_epoch,
                   static_cast<std::uint32_t>(clamped)};
}

ResumeResult PinholeManager::resume(std::uint64_t state_epoch, std::uint64_t last_seq,
                                    const std::set<std::string>& owners) const {
  ResumeResult out;
  if (state_epoch != identity_.state_epoch) {
    out.resync_required = true;
    return out;
  }
  auto events = events_.since(last_seq);
  if (!events) {
    out.resync_required = true;
    return out;
  }
  for (Event& e : *events) {
    if (owners.empty() || e.owner.empty() || owners.count(e.owner) != 0) {
      out.events.push_back(std::move(e));
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Time: sessions lapse, bindings expire, kernel timeouts are re-armed
// ---------------------------------------------------------------------------------------------

std::optional<Clock::TimePoint> PinholeManager::next_deadline() const {
  std::optional<Clock::TimePoint> t;
  if (!schedule_.empty()) {
    t = schedule_.begin()->first;
  }
  for (const auto& [id, s] : sessions_) {
    if (!t || s.lease_expiry < *t) {
      t = s.lease_expiry;
    }
  }
  return t;
}

TickResult PinholeManager::tick() {
  TickResult out;
  const Clock::TimePoint now = clock_.now();
  prune_dedup(now);

  // 1. Session leases (fcp-notes §2.4 layer b): lapsed => the owners' bindings orphan.
  std::vector<SessionId> lapsed;
  for (const auto& [id, s] : sessions_) {
    if (s.lease_expiry <= now) {
      lapsed.push_back(id);
    }
  }
  for (const SessionId sid : lapsed) {
    std::vector<std::string> held;
    for (const auto& [owner, st] : owners_) {
      if (st.holder == sid) {
        held.push_back(owner);
      }
    }
    std::size_t orphaned = 0;
    auto r = transact<bool>([&](Journal& j) -> AgentResult<bool> {
      for (const std::string& owner : held) {
        orphan_owner(owner, now);
      }
      orphaned = j.events.size();
      return true;
    });
    if (r.ok()) {
      out.orphaned += orphaned;
      ++out.sessions_lapsed;
      sessions_.erase(sid);
    } else {
      ++out.backend_failures;  // retried on the next tick; the kernel lease still bounds exposure
    }
  }

  // 2. Bindings due: close expired / idle ones, re-arm kernel timeouts.
  std::vector<BindingId> due;
  for (const auto& [t, id] : schedule_) {
    if (t > now) {
      break;
    }
    due.push_back(id);
  }
  if (due.empty()) {
    return out;
  }
  const auto process = [&](const std::vector<BindingId>& ids, TickResult& counts) {
    return transact<bool>([&](Journal&) -> AgentResult<bool> {
      for (const BindingId id : ids) {
        const Binding& b = bindings_.at(id);
        if (b.lease.idle_since && b.lease.idle_timeout > Clock::Duration::zero() &&
            *b.lease.idle_since + b.lease.idle_timeout <= now) {
          // RFC 5190 midcomRuleMaxIdleTime: timedOut(9).
          emit(EventKind::kIdle, Cause::kIdle, b, "");
          erase(id);
          ++counts.expired;
        } else if (b.expiry() <= now) {
          emit(EventKind::kExpired, b.expiry_cause(), b, "");
          erase(id);
          ++counts.expired;
        } else {
          put(Binding(b), /*force_arm=*/true);
          ++counts.rearmed;
        }
      }
      return true;
    });
  };
  TickResult batch;
  if (process(due, batch).ok()) {
    out.expired += batch.expired;
    out.rearmed += batch.rearmed;
    return out;
  }
  // One bad element must not block every re-arm: fall back to one transaction per binding.
  ++out.backend_failures;
  for (const BindingId id : due) {
    TickResult one;
    if (process({id}, one).ok()) {
      out.expired += one.expired;
      out.rearmed += one.rearmed;
    } else {
      ++out.backend_failures;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Traffic facts from the I/O shell
// ---------------------------------------------------------------------------------------------

AgentResult<bool> PinholeManager::report_idle(BindingId id, Clock::TimePoint idle_since) {
  const auto it = bindings_.find(id);
  if (it == bindings_.end()) {
    return fail(ErrorCode::kNotFound, ErrorReason::kUnknownBinding,
                "binding_id " + id_text(id) + " not found");
  }
  if (it->second.lease.idle_timeout == Clock::Duration::zero()) {
    return false;
  }
  return transact<bool>([&](Journal& j) -> AgentResult<bool> {
    Binding nb = bindings_.at(id);
    nb.lease.idle_since = idle_since;
    if (idle_since + nb.lease.idle_timeout <= j.now) {
      emit(EventKind::kIdle, Cause::kIdle, nb, "");
      erase(id);
      return true;
    }
    put(std::move(nb));
    return false;
  });
}

AgentResult<bool> PinholeManager::report_traffic(BindingId id) {
  const auto it = bindings_.find(id);
  if (it == bindings_.end()) {
    return fail(ErrorCode::kNotFound, ErrorReason::kUnknownBinding,
                "binding_id " + id_text(id) + " not found");
  }
  if (!it->second.lease.idle_since) {
    return false;
  }
  return transact<bool>([&](Journal&) -> AgentResult<bool> {
    Binding nb = bindings_.at(id);
    nb.lease.idle_since.reset();
    put(std::move(nb));
    return true;
  });
}

AgentResult<Binding> PinholeManager::report_latched(const net::Endpoint& remote,
                                                    const net::Endpoint& private_endpoint) {
  const auto it = by_private_.find(private_endpoint);
  if (it == by_private_.end()) {
    return fail(ErrorCode::kNotFound, ErrorReason::kUnknownBinding,
                "no binding for private endpoint " + private_endpoint.to_string());
  }
  const BindingId id = it->second;
  return transact<Binding>([&](Journal&) -> AgentResult<Binding> {
    Binding nb = bindings_.at(id);
    const int component = private_endpoint.port() - nb.private_endpoint.port();
    PinholeState* hit = nullptr;
    for (PinholeState& ps : nb.pinholes) {
      if (ps.spec.latch == LatchMode::kOneShot && ps.spec.address == remote.address() &&
          ps.latched_port[component] == 0) {
        hit = &ps;
        break;
      }
    }
    if (hit == nullptr || remote.port() == 0) {
      return fail(ErrorCode::kNotFound, ErrorReason::kUnknownBinding,
                  "no pending latch for " + remote.address().to_string() + " on " +
                      private_endpoint.to_string());
    }
    // RFC 7362 §4: one-shot, restricted to the signalled address; now an exact pinhole.
    hit->latched_port[component] = remote.port();
    ++nb.generation;
    emit(EventKind::kLatched, Cause::kLatched, nb, "component " + std::to_string(component),
         remote);
    put(std::move(nb));
    return bindings_.at(id);
  });
}

void PinholeManager::report_flow(const FlowEvent& e) {
  ++stats_.flow_events;
  const BindingId id = e.mark;
  if (bindings_.find(id) == bindings_.end()) {
    // A flow of a closed binding (e.g. our own release flush): forget its count.
    ++stats_.flow_events_unknown_mark;
    live_flows_.erase(id);
    return;
  }
  std::uint32_t& count = live_flows_[id];
  const bool had_flows = count > 0;
  if (e.kind == FlowEvent::Kind::kNew) {
    ++count;
    const std::uint32_t now_live = count;
    learn_latch(id, e);
    note_flow_count(id, now_live, had_flows);
  } else {
    // A DESTROY without a NEW seen (flows older than the listener) only clamps at zero.
    if (count > 0) {
      --count;
    }
    const std::uint32_t now_live = count;
    if (now_live == 0) {
      live_flows_.erase(id);
    }
    note_flow_count(id, now_live, true);
  }
}

void PinholeManager::resync_flows(const std::vector<FlowEvent>& live) {
  ++stats_.flow_resyncs;
  std::unordered_map<BindingId, std::uint32_t> counts;
  for (const FlowEvent& e : live) {
    if (bindings_.count(e.mark) != 0) {
      ++counts[e.mark];
    }
  }
  const auto before = std::move(live_flows_);
  live_flows_ = counts;
  for (const FlowEvent& e : live) {
    if (bindings_.count(e.mark) != 0) {
      learn_latch(e.mark, e);
    }
  }
  for (const auto& [id, n] : counts) {
    const auto b = before.find(id);
    note_flow_count(id, n, b != before.end() && b->second > 0);
  }
  for (const auto& [id, n] : before) {
    if (n > 0 && counts.count(id) == 0 && bindings_.count(id) != 0) {
      note_flow_count(id, 0, true);  // its last flows ended while events were lost
    }
  }
}

std::uint32_t PinholeManager::live_flows(BindingId id) const {
  const auto it = live_flows_.find(id);
  return it == live_flows_.end() ? 0 : it->second;
}

void PinholeManager::learn_latch(BindingId id, const FlowEvent& e) {
  const auto it = bindings_.find(id);
  if (it == bindings_.end() || e.kind != FlowEvent::Kind::kNew) {
    return;
  }
  const Binding& b = it->second;
  const auto in_binding = [&b](const net::Endpoint& ep) {
    return ep.address() == b.private_endpoint.address() && ep.port() >= b.private_endpoint.port() &&
           ep.port() < b.private_endpoint.port() + b.port_count;
  };
  // Only an inbound flow can be a latching packet (the latch rule matches WAN -> private). Its
  // original source is the remote; after DNAT the reply comes from the private endpoint.
  if (in_binding(e.original_source) || !in_binding(e.reply_source) || e.original_source.port() == 0) {
    return;
  }
  const int component = e.reply_source.port() - b.private_endpoint.port();
  bool pending = false;
  for (const PinholeState& ps : b.pinholes) {
    if (ps.spec.latch == LatchMode::kOneShot && ps.spec.address == e.original_source.address() &&
        ps.latched_port[component] == 0) {
      pending = true;
      break;
    }
  }
  if (!pending) {
    return;
  }
  if (report_latched(e.original_source, e.reply_source).ok()) {
    ++stats_.latches_learned;
  } else {
    ++stats_.traffic_fact_failures;
  }
}

void PinholeManager::note_flow_count(BindingId id, std::uint32_t live, bool had_flows) {
  const auto it = bindings_.find(id);
  if (it == bindings_.end() || it->second.lease.idle_timeout == Clock::Duration::zero()) {
    return;
  }
  bool ok = true;
  if (live > 0) {
    if (it->second.lease.idle_since) {
      ok = report_traffic(id).ok();
    }
  } else if (had_flows && !it->second.lease.idle_since) {
    // The last flow ended: conntrack removed it after its UDP timeout without packets, so the
    // binding has been quiet at least that long; RFC 5190 midcomRuleMaxIdleTime counts from now.
    ok = report_idle(id, clock_.now()).ok();
  }
  if (!ok) {
    ++stats_.traffic_fact_failures;
  }
}

// ---------------------------------------------------------------------------------------------
// Operator
// ---------------------------------------------------------------------------------------------

void PinholeManager::set_draining(bool draining) {
  if (draining && !draining_) {
    Event e;
    e.time = clock_.now();
    e.kind = EventKind::kDrain;
    e.cause = Cause::kDrain;
    e.detail = "new bindings are refused";
    events_.append(std::move(e));
  }
  draining_ = draining;
}

AgentResult<Binding> PinholeManager::close_by_agent(BindingId id, Cause cause) {
  const auto it = bindings_.find(id);
  if (it == bindings_.end()) {
    return fail(ErrorCode::kNotFound, ErrorReason::kUnknownBinding,
                "binding_id " + id_text(id) + " not found");
  }
  return transact<Binding>([&](Journal&) -> AgentResult<Binding> {
    const Binding& b = bindings_.at(id);
    Binding closed = closed_copy(b, cause);
    emit(EventKind::kClosedByAgent, cause, b, "");
    erase(id);
    return closed;
  });
}

// ---------------------------------------------------------------------------------------------
// Restart adoption (fcp-notes §3.7 / nftables-notes §3.7)
// ---------------------------------------------------------------------------------------------

AgentResult<RecoverResult> PinholeManager::recover(const BackendState& state) {
  if (!bindings_.empty()) {
    return fail(ErrorCode::kFailedPrecondition, ErrorReason::kNotReady,
                "recover must run before any binding exists");
  }
  return transact<RecoverResult>([&](Journal& j) -> AgentResult<RecoverResult> {
    j.upsert_all = true;
    const Clock::TimePoint now = j.now;
    RecoverResult out;
    struct Partial {
      BindingUserdata meta;
      std::vector<PortMapping> mappings;
      bool bad = false;
    };
    std::map<BindingId, Partial> partial;
    for (const PortMapping& m : state.mappings) {
      const auto u = decode_userdata(m.userdata);
      if (!u || m.mark != u->id) {
        j.changes.changes.push_back(Change{ChangeOp::kDelete, m});  // fail closed
        ++out.discarded_elements;
        continue;
      }
      Partial& p = partial[u->id];
      if (!p.mappings.empty() && !(p.meta == *u)) {
        p.bad = true;
      }
      p.meta = *u;
      p.mappings.push_back(m);
    }
    std::map<net::Endpoint, BindingId> private_index;
    std::map<BindingId, Binding> rebuilt;
    for (auto& [id, p] : partial) {
      std::sort(p.mappings.begin(), p.mappings.end(), [](const PortMapping& a, const PortMapping& b) {
        return a.public_endpoint.port() < b.public_endpoint.port();
      });
      const std::size_t n = p.mappings.size();
      bool consistent = !p.bad && n <= 2;
      if (consistent && n == 2) {
        const PortMapping& a = p.mappings[0];
        const PortMapping& b = p.mappings[1];
        consistent = a.public_endpoint.address() == b.public_endpoint.address() &&
                     b.public_endpoint.port() == a.public_endpoint.port() + 1 &&
                     b.private_endpoint.address() == a.private_endpoint.address() &&
                     b.private_endpoint.port() == a.private_endpoint.port() + 1 &&
                     a.protocol == b.protocol;
      }
      if (!consistent) {
        for (const PortMapping& m : p.mappings) {
          j.changes.changes.push_back(Change{ChangeOp::kDelete, m});
          ++out.discarded_elements;
        }
        continue;
      }
      Binding b;
      b.id = id;
      b.owner = p.meta.owner;
      b.group_id = p.meta.group_id;
      b.protocol = p.mappings[0].protocol;
      b.private_endpoint = p.mappings[0].private_endpoint;
      b.public_endpoint = p.mappings[0].public_endpoint;
      b.port_count = static_cast<std::uint8_t>(n);
      b.parity = n == 2 ? Parity::kEven : Parity::kAny;
      if (const Pool* pool = pool_for(b.public_endpoint.address())) {
        b.realm = pool->config.realm;
      }
      b.generation = p.meta.generation;
      b.fencing_token = p.meta.fencing_token;
      b.created_at = now;
      b.lease.hard_deadline = Clock::TimePoint(seconds(p.meta.hard_deadline_s));
      b.lease.liveness = p.meta.lifetime_only ? Liveness::kLifetimeOnly : Liveness::kSession;
      b.lease.orphan_grace = config_.default_orphan_grace;
      b.lease.reservation_timeout = config_.default_reservation_timeout;
      for (int i = 0; i < b.port_count; ++i) {
        private_index[net::Endpoint(b.private_endpoint.address(),
                                    static_cast<std::uint16_t>(b.private_endpoint.port() + i))] = id;
      }
      rebuilt.emplace(id, std::move(b));
    }
    // Pinholes and latches attach by private endpoint; strays are deleted (fail closed).
    for (const Pinhole& ph : state.pinholes) {
      const auto it = private_index.find(ph.private_endpoint);
      if (it == private_index.end()) {
        j.changes.changes.push_back(Change{ChangeOp::kDelete, ph});
        ++out.discarded_elements;
        continue;
      }
      Binding& b = rebuilt.at(it->second);
      const int component = ph.private_endpoint.port() - b.private_endpoint.port();
      PinholeState* ps = nullptr;
      for (PinholeState& x : b.pinholes) {
        if (x.spec.latch == LatchMode::kNone && x.spec.address == ph.remote.address()) {
          ps = &x;
        }
      }
      if (ps == nullptr) {
        b.pinholes.push_back(PinholeState{RemoteSpec{ph.remote.address(), 0, 0, LatchMode::kNone}, {0, 0}});
        ps = &b.pinholes.back();
      }
      if (component == 0) {
        ps->spec.port = ph.remote.port();
      } else {
        ps->spec.rtcp_port = ph.remote.port();
      }
    }
    for (auto& [id, b] : rebuilt) {
      for (PinholeState& ps : b.pinholes) {
        if (ps.spec.port == 0) {
          ps.spec.port = static_cast<std::uint16_t>(ps.spec.rtcp_port - 1);
        }
        if (ps.spec.rtcp_port == ps.spec.port + 1) {
          ps.spec.rtcp_port = 0;  // the RFC 3550 default
        }
      }
    }
    for (const Latch& l : state.latches) {
      const auto it = private_index.find(l.private_endpoint);
      if (it == private_index.end()) {
        j.changes.changes.push_back(Change{ChangeOp::kDelete, l});
        ++out.discarded_elements;
        continue;
      }
      Binding& b = rebuilt.at(it->second);
      const RemoteSpec spec{l.remote_address, 0, 0, LatchMode::kOneShot};
      const bool known = std::any_of(b.pinholes.begin(), b.pinholes.end(),
                                     [&](const PinholeState& x) { return x.spec == spec; });
      if (!known) {
        b.pinholes.push_back(PinholeState{spec, {0, 0}});
      }
    }
    for (auto& [id, b] : rebuilt) {
      // Invariant I4 across restarts: the highest token in the table.
      const auto o = owners_.find(b.owner);
      if (o == owners_.end() || o->second.max_token < b.fencing_token) {
        OwnerState s = o == owners_.end() ? OwnerState{} : o->second;
        s.max_token = b.fencing_token;
        set_owner(b.owner, s);
      }
      const BindingState live = b.pinholes.empty() ? BindingState::kReserved : BindingState::kEnabled;
      if (live == BindingState::kReserved) {
        b.lease.reservation_deadline = std::min(now + b.lease.reservation_timeout,
                                                b.lease.hard_deadline);
      }
      if (b.lease.hard_deadline <= now) {
        b.state = live;
        j.binding_undo.try_emplace(id, std::nullopt);
        raw_put(b);
        emit(EventKind::kExpired, Cause::kHardDeadline, b, "expired while the agent was down");
        erase(id);
        ++out.expired;
        continue;
      }
      if (b.lease.liveness == Liveness::kSession) {
        b.state_before_orphan = live;
        b.state = BindingState::kOrphaned;
        b.lease.orphan_deadline = std::min(now + b.lease.orphan_grace, b.lease.hard_deadline);
        emit(EventKind::kOrphaned, Cause::kSessionLapsed, b, "agent restarted; awaiting Adopt");
      } else {
        b.state = live;
      }
      next_id_ = std::max<BindingId>(next_id_, id + 1);
      put(std::move(b));
      ++out.recovered;
    }
    return out;
  });
}

}  // namespace portcullis::agent
