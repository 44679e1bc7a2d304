// Client transactions: INVITE (RFC 3261 §17.1.1, RFC 6026 §8.4) and non-INVITE (§17.1.2), and
// CANCEL generation (§9.1).
#include <algorithm>
#include <utility>

#include "controller/sip/transaction/transaction_internal.h"
#include "controller/sip/transaction/transaction_layer.h"

namespace portcullis::sip {

Result<TransactionId, TxnError> TransactionLayer::send_request(SipMessage request, const Peer& to) {
  if (!request.is_request() || request.method() == Method::kAck || request.vias().empty()) {
    return unexpected(TxnError::kInvalidMessage);
  }
  const Via& top = request.vias().front();
  if (!top.rfc3261_branch()) {
    return unexpected(TxnError::kInvalidMessage);  // §8.1.1.7: we only send RFC 3261 branches
  }
  if (transactions_.size() >= config_.max_transactions) {
    return unexpected(TxnError::kLimitReached);
  }
  std::string key = client_key(top.branch, request.method_text());
  if (client_index_.contains(key)) {
    return unexpected(TxnError::kDuplicate);
  }
  const bool invite = request.method() == Method::kInvite;
  auto shared = std::make_shared<const SipMessage>(std::move(request));
  Transaction& t = create(invite ? TransactionKind::kInviteClient : TransactionKind::kNonInviteClient,
                          invite ? TransactionState::kCalling : TransactionState::kTrying,
                          std::move(shared), to);
  t.request_bytes = std::string(t.request->message_bytes());
  t.client_key = std::move(key);
  client_index_.emplace(t.client_key, t.id);
  send(t, t.request_bytes);
  const auto start = now();
  if (!t.reliable) {
    // §17.1.1.2: Timer A = T1 (INVITE); §17.1.2.2: Timer E = T1 (non-INVITE). Unreliable only.
    t.interval = config_.t1;
    start_timer(t, Slot::kRetransmit, invite ? TimerName::kA : TimerName::kE, start + config_.t1);
  }
  // §17.1.1.2: Timer B = 64*T1; §17.1.2.2: Timer F = 64*T1, for any transport.
  start_timer(t, Slot::kTimeout, invite ? TimerName::kB : TimerName::kF,
              start + config_.timer_b());
  return t.id;
}

Result<TransactionId, TxnError> TransactionLayer::send_cancel(TransactionId invite) {
  Transaction* t = find(invite);
  if (t == nullptr) {
    return unexpected(TxnError::kUnknownTransaction);
  }
  if (t->kind != TransactionKind::kInviteClient) {
    return unexpected(TxnError::kWrongKind);
  }
  if (t->cancel_state != CancelState::kNone) {
    return t->cancel;  // idempotent
  }
  if (t->state != TransactionState::kCalling && t->state != TransactionState::kProceeding) {
    // §9.1: a CANCEL SHOULD NOT be sent once a final response has been received.
    return unexpected(TxnError::kWrongState);
  }
  if (transactions_.size() >= config_.max_transactions) {
    return unexpected(TxnError::kLimitReached);
  }
  t->cancel = TransactionId{next_id_++};
  t->cancel_state = CancelState::kPending;
  if (t->state == TransactionState::kProceeding) {
    start_cancel(*t);
  }
  // else §9.1: "If no provisional response has been received, the CANCEL request MUST NOT be
  // sent; rather, the client MUST wait for the arrival of a provisional response".
  return t->cancel;
}

void TransactionLayer::start_cancel(Transaction& invite) {
  if (invite.cancel_state != CancelState::kPending) {
    return;
  }
  auto parsed = SipMessage::parse(make_cancel(*invite.request));
  std::string key;
  if (parsed) {
    key = client_key(parsed->vias().front().branch, "CANCEL");
  }
  if (!parsed || client_index_.contains(key)) {
    // Cannot happen for a request we built from a valid INVITE, unless the TU already sent its
    // own CANCEL through send_request(); the queued handle dies.
    invite.cancel_state = CancelState::kDropped;
    emit(TerminatedAction{invite.cancel});
    return;
  }
  invite.cancel_state = CancelState::kSent;
  // §9.1: the CANCEL is a non-INVITE client transaction to the INVITE's destination.
  auto c = std::make_unique<Transaction>();
  c->id = invite.cancel;
  c->kind = TransactionKind::kNonInviteClient;
  c->state = TransactionState::kTrying;
  c->request = std::make_shared<const SipMessage>(std::move(parsed).value());
  c->peer = invite.peer;
  c->reliable = invite.reliable;
  c->request_bytes = std::string(c->request->message_bytes());
  c->client_key = std::move(key);
  Transaction& ref = *c;
  transactions_.emplace(ref.id, std::move(c));
  client_index_.emplace(ref.client_key, ref.id);
  send(ref, ref.request_bytes);
  const auto start = now();
  if (!ref.reliable) {
    ref.interval = config_.t1;
    start_timer(ref, Slot::kRetransmit, TimerName::kE, start + config_.t1);
  }
  start_timer(ref, Slot::kTimeout, TimerName::kF, start + config_.timer_b());
}

void TransactionLayer::drop_pending_cancel(Transaction& invite) {
  if (invite.cancel_state == CancelState::kPending) {
    invite.cancel_state = CancelState::kDropped;
    emit(TerminatedAction{invite.cancel});
  }
}

void TransactionLayer::receive_response(MessagePtr response, const Peer& from) {
  const Via& top = response->vias().front();
  const auto it = client_index_.find(client_key(top.branch, response->cseq().method));
  if (top.branch.empty() || it == client_index_.end()) {
    // §18.1.2: no match → the transport user (core) decides; RFC 6026 §7.3: proxies drop these.
    ++stats_.stray_responses;
    emit(ResponseAction{kNoTransaction, std::move(response), from});
    return;
  }
  Transaction& t = *find(it->second);
  if (t.kind == TransactionKind::kInviteClient) {
    invite_client_response(t, response, from);
  } else {
    non_invite_client_response(t, response, from);
  }
}

void TransactionLayer::invite_client_response(Transaction& t, const MessagePtr& response,
                                              const Peer& from) {
  const std::uint16_t code = response->status_code();
  switch (t.state) {
    case TransactionState::kCalling:
    case TransactionState::kProceeding:
      if (code < 200) {
        // §17.1.1.2: Calling → Proceeding; retransmissions stop (and Timer B only guards
        // Calling: a proxy's Timer C, not the transaction, bounds Proceeding).
        stop_timer(t, Slot::kRetransmit);
        stop_timer(t, Slot::kTimeout);
        t.state = TransactionState::kProceeding;
        emit(ResponseAction{t.id, response, from});
        start_cancel(t);  // §9.1: a held CANCEL goes out now
        return;
      }
      stop_timer(t, Slot::kRetransmit);
      stop_timer(t, Slot::kTimeout);
      drop_pending_cancel(t);
      if (code < 300) {
        // RFC 6026 §8.4: 2xx → Accepted; Timer M = 64*T1 absorbs nothing but hands 2xx
        // retransmissions (and other forks' 2xx) to the TU.
        t.state = TransactionState::kAccepted;
        emit(ResponseAction{t.id, response, from});
        start_timer(t, Slot::kLinger, TimerName::kM, now() + config_.timer_b());
        return;
      }
      // §17.1.1.2: 300-699 → Completed; pass up, send the ACK (§17.1.1.3), Timer D.
      t.state = TransactionState::kCompleted;
      emit(ResponseAction{t.id, response, from});
      t.ack = make_non_2xx_ack(*t.request, *response);
      send(t, t.ack);
      if (t.reliable) {
        terminate(t);  // Timer D = 0 for reliable transports
      } else {
        start_timer(t, Slot::kLinger, TimerName::kD, now() + config_.timer_d);
      }
      return;
    case TransactionState::kCompleted:
      // §17.1.1.2: a retransmitted final response → resend the ACK, do not pass it up.
      ++stats_.responses_absorbed;
      if (code >= 300) {
        ++stats_.retransmissions_sent;
        send(t, t.ack);
      }
      return;
    case TransactionState::kAccepted:
      // RFC 6026 §8.4: 2xx in Accepted → TU; anything else is absorbed.
      if (code >= 200 && code < 300) {
        emit(ResponseAction{t.id, response, from});
      } else {
        ++stats_.responses_absorbed;
      }
      return;
    default:
      return;
  }
}

void TransactionLayer::non_invite_client_response(Transaction& t, const MessagePtr& response,
                                                  const Peer& from) {
  const std::uint16_t code = response->status_code();
  if (t.state == TransactionState::kCompleted) {
    ++stats_.responses_absorbed;  // §17.1.2.2: retransmissions are absorbed in Completed
    return;
  }
  if (code < 200) {
    // §17.1.2.2: Trying/Proceeding + 1xx → Proceeding, pass up. Timer E keeps running.
    t.state = TransactionState::kProceeding;
    emit(ResponseAction{t.id, response, from});
    return;
  }
  // §17.1.2.2: final → Completed, pass up, Timer K = T4 (0 for reliable).
  stop_timer(t, Slot::kRetransmit);
  stop_timer(t, Slot::kTimeout);
  t.state = TransactionState::kCompleted;
  emit(ResponseAction{t.id, response, from});
  if (t.reliable) {
    terminate(t);
  } else {
    start_timer(t, Slot::kLinger, TimerName::kK, now() + config_.t4);
  }
}

void TransactionLayer::client_timer(Transaction& t, TimerName name, Clock::TimePoint deadline) {
  switch (name) {
    case TimerName::kA:
      // §17.1.1.2: retransmit, Timer A doubles (no T2 cap for INVITE requests).
      if (t.state == TransactionState::kCalling) {
        ++stats_.retransmissions_sent;
        send(t, t.request_bytes);
        t.interval *= 2;
        start_timer(t, Slot::kRetransmit, TimerName::kA, deadline + t.interval);
      }
      return;
    case TimerName::kE:
      // §17.1.2.2: Trying: E = min(2E, T2); Proceeding: E = T2.
      if (t.state == TransactionState::kTrying || t.state == TransactionState::kProceeding) {
        ++stats_.retransmissions_sent;
        send(t, t.request_bytes);
        t.interval = t.state == TransactionState::kTrying ? std::min(2 * t.interval, config_.t2)
                                                          : config_.t2;
        start_timer(t, Slot::kRetransmit, TimerName::kE, deadline + t.interval);
      }
      return;
    case TimerName::kB:
    case TimerName::kF:
      // §17.1.1.2 / §17.1.2.2: timeout → inform the TU, Terminated.
      ++stats_.timeouts;
      emit(TimeoutAction{t.id, name});
      terminate(t);
      return;
    case TimerName::kD:  // §17.1.1.2
    case TimerName::kK:  // §17.1.2.2
    case TimerName::kM:  // RFC 6026 §8.4
      terminate(t);
      return;
    default:
      return;
  }
}

}  // namespace portcullis::sip
