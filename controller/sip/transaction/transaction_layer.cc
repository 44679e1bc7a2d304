// Shared machinery of the transaction layer: matching keys, the transaction table, timers,
// dispatch and queries. The machines live in client_transactions.cc and server_transactions.cc.
#include "controller/sip/transaction/transaction_layer.h"

#include <utility>

#include "common/base/text.h"
#include "controller/sip/transaction/transaction_internal.h"

namespace portcullis::sip {

namespace {

constexpr char kSep = '\n';  // cannot occur inside an unfolded header value

void append_field(std::string& key, std::string_view part) {
  key.append(part);
  key.push_back(kSep);
}

}  // namespace

TransactionLayer::TransactionLayer(const Clock& clock, TransactionConfig config)
    : clock_(clock), config_(config) {}

TransactionLayer::~TransactionLayer() = default;

// ---- matching ----

std::string TransactionLayer::client_key(std::string_view branch, std::string_view method) {
  // RFC 3261 §17.1.3: a response matches a client transaction if the branch of its top Via and
  // the method of its CSeq match the request that created the transaction (the method because
  // a CANCEL shares its INVITE's branch).
  std::string key;
  key.reserve(branch.size() + method.size() + 2);
  append_field(key, branch);
  append_field(key, method);
  return key;
}

std::optional<std::string> TransactionLayer::server_key(const SipMessage& request,
                                                        bool as_invite) const {
  const Via& top = request.vias().front();
  const bool is_ack = request.method() == Method::kAck;
  const std::string_view method = (as_invite || is_ack) ? std::string_view("INVITE")
                                                        : request.method_text();
  std::string key;
  if (top.rfc3261_branch()) {
    // RFC 3261 §17.2.3: branch + sent-by of the top Via + method, ACK matching the INVITE.
    key.reserve(top.branch.size() + top.host.size() + method.size() + 16);
    append_field(key, "3261");
    append_field(key, top.branch);
    for (const char c : top.host) {
      key.push_back(ascii_lower(c));
    }
    key.push_back(':');
    if (top.port) {
      key.append(std::to_string(*top.port));
    }
    key.push_back(kSep);
    append_field(key, method);
    return key;
  }
  if (config_.legacy_requests == LegacyRequestPolicy::kReject) {
    return std::nullopt;
  }
  if (is_ack) {
    // §17.2.3 (RFC 2543): the ACK also needs the To tag of the response the server sent.
    return legacy_ack_key(request, request.to().tag());
  }
  // §17.2.3 (RFC 2543): Request-URI, To tag, From tag, Call-ID, CSeq and top Via. A CANCEL is
  // looked up as_invite: its Request-URI, To, From, Call-ID, CSeq number and Via equal the
  // INVITE's (§9.1).
  append_field(key, "2543");
  append_field(key, method);
  append_field(key, request.request_uri_text());
  append_field(key, request.to().tag());
  append_field(key, request.from().tag());
  append_field(key, request.call_id());
  append_field(key, std::to_string(request.cseq().number));
  append_field(key, top.text);
  return key;
}

std::string TransactionLayer::legacy_ack_key(const SipMessage& request, std::string_view to_tag) {
  // RFC 3261 §17.2.3: an RFC 2543 ACK matches if Request-URI, From tag, Call-ID, CSeq number,
  // top Via equal the INVITE's, and its To tag equals the tag of the response sent.
  std::string key;
  append_field(key, "2543ack");
  append_field(key, request.request_uri_text());
  append_field(key, request.from().tag());
  append_field(key, request.call_id());
  append_field(key, std::to_string(request.cseq().number));
  append_field(key, request.vias().front().text);
  append_field(key, to_tag);
  return key;
}

// ---- table ----

TransactionLayer::Transaction* TransactionLayer::find(TransactionId id) {
  const auto it = transactions_.find(id);
  return it == transactions_.end() ? nullptr : it->second.get();
}

const TransactionLayer::Transaction* TransactionLayer::find(TransactionId id) const {
  const auto it = transactions_.find(id);
  return it == transactions_.end() ? nullptr : it->second.get();
}

TransactionLayer::Transaction& TransactionLayer::create(TransactionKind kind,
                                                        TransactionState state,
                                                        MessagePtr request, const Peer& peer) {
  auto t = std::make_unique<Transaction>();
  t->id = TransactionId{next_id_++};
  t->kind = kind;
  t->state = state;
  t->request = std::move(request);
  t->peer = peer;
  t->reliable = is_reliable(peer.transport);
  Transaction& ref = *t;
  transactions_.emplace(ref.id, std::move(t));
  return ref;
}

void TransactionLayer::terminate(Transaction& t) {
  for (std::size_t i = 0; i < t.timers.size(); ++i) {
    stop_timer(t, static_cast<Slot>(i));
  }
  if (!t.client_key.empty()) {
    client_index_.erase(t.client_key);
  }
  for (const std::string& key : t.server_keys) {
    const auto it = server_index_.find(key);
    if (it != server_index_.end() && it->second == t.id) {
      server_index_.erase(it);
    }
  }
  if (t.kind == TransactionKind::kInviteClient) {
    drop_pending_cancel(t);
  }
  const TransactionId id = t.id;
  emit(TerminatedAction{id});
  transactions_.erase(id);  // destroys t (§17.1.1.2: "MUST be destroyed immediately")
}

// ---- timers ----

void TransactionLayer::start_timer(Transaction& t, Slot slot, TimerName name,
                                   Clock::TimePoint when) {
  stop_timer(t, slot);
  const TransactionId id = t.id;
  t.timers[static_cast<std::size_t>(slot)] =
      timers_.schedule(when, [this, id, slot, name, when] { on_timer(id, slot, name, when); });
}

void TransactionLayer::stop_timer(Transaction& t, Slot slot) {
  auto& timer = t.timers[static_cast<std::size_t>(slot)];
  if (timer != 0) {
    timers_.cancel(timer);
    timer = 0;
  }
}

void TransactionLayer::on_timer(TransactionId id, Slot slot, TimerName name,
                                Clock::TimePoint deadline) {
  Transaction* t = find(id);
  if (t == nullptr) {
    return;
  }
  t->timers[static_cast<std::size_t>(slot)] = 0;
  if (t->kind == TransactionKind::kInviteClient || t->kind == TransactionKind::kNonInviteClient) {
    client_timer(*t, name, deadline);
  } else {
    server_timer(*t, name, deadline);
  }
}

void TransactionLayer::advance(Clock::TimePoint now) { timers_.run_due(now); }

std::optional<Clock::TimePoint> TransactionLayer::next_deadline() const {
  return timers_.next_deadline();
}

// ---- I/O ----

void TransactionLayer::send(const Transaction& t, const std::string& bytes) {
  emit(SendAction{t.id, t.peer, bytes});
}

void TransactionLayer::send_stateless(std::string bytes, const Peer& to) {
  emit(SendAction{kNoTransaction, to, std::move(bytes)});
}

std::vector<Action> TransactionLayer::take_actions() {
  std::vector<Action> out;
  out.swap(actions_);
  return out;
}

void TransactionLayer::receive(SipMessage message, const Peer& from) {
  if (message.vias().empty()) {
    return;  // parse() guarantees a Via; never trust that blindly (no keying possible)
  }
  auto shared = std::make_shared<const SipMessage>(std::move(message));
  if (shared->is_request()) {
    receive_request(std::move(shared), from);
  } else {
    receive_response(std::move(shared), from);
  }
}

void TransactionLayer::transport_error(TransactionId txn) {
  Transaction* t = find(txn);
  if (t == nullptr) {
    return;
  }
  // §17.1.4 / §17.2.4: inform the TU and go to Terminated. (RFC 3263 fail-over to a backup
  // address is the TU's choice: it can start a new client transaction.)
  emit(TransportErrorAction{txn});
  terminate(*t);
}

// ---- queries ----

std::optional<TransactionState> TransactionLayer::state(TransactionId txn) const {
  const Transaction* t = find(txn);
  return t == nullptr ? std::nullopt : std::optional<TransactionState>(t->state);
}

std::optional<TransactionKind> TransactionLayer::kind(TransactionId txn) const {
  const Transaction* t = find(txn);
  return t == nullptr ? std::nullopt : std::optional<TransactionKind>(t->kind);
}

MessagePtr TransactionLayer::request(TransactionId txn) const {
  const Transaction* t = find(txn);
  return t == nullptr ? nullptr : t->request;
}

std::optional<TransactionId> TransactionLayer::cancelled_invite(TransactionId cancel_server) const {
  const Transaction* t = find(cancel_server);
  if (t == nullptr || t->cancel_target_key.empty()) {
    return std::nullopt;
  }
  const auto it = server_index_.find(t->cancel_target_key);
  if (it == server_index_.end()) {
    return std::nullopt;
  }
  return it->second;
}

std::optional<TransactionId> TransactionLayer::find_invite_for_cancel(
    const SipMessage& cancel) const {
  if (!cancel.is_request() || cancel.method() != Method::kCancel || cancel.vias().empty()) {
    return std::nullopt;
  }
  const auto key = server_key(cancel, /*as_invite=*/true);
  if (!key) {
    return std::nullopt;
  }
  const auto it = server_index_.find(*key);
  if (it == server_index_.end()) {
    return std::nullopt;
  }
  return it->second;
}

}  // namespace portcullis::sip
