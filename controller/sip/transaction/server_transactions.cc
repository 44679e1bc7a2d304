// Server transactions: INVITE (RFC 3261 §17.2.1, RFC 6026 §8.7) and non-INVITE (§17.2.2),
// request matching (§17.2.3) and the stateless refusals (RFC 2543 policy, overload).
#include <algorithm>
#include <string>
#include <utility>

#include "controller/sip/transaction/transaction_internal.h"
#include "controller/sip/transaction/transaction_layer.h"

namespace portcullis::sip {

void TransactionLayer::reject_statelessly(const SipMessage& request, const Peer& from,
                                          std::uint16_t status, std::string_view reason,
                                          std::span<const ExtraHeader> extra) {
  emit(SendAction{kNoTransaction, response_peer(request, from),
                  make_response(request, status, reason, {}, extra)});
}

void TransactionLayer::receive_request(MessagePtr request, const Peer& from) {
  const bool is_ack = request->method() == Method::kAck;
  std::optional<std::string> key = server_key(*request, /*as_invite=*/false);
  if (!key) {
    // LegacyRequestPolicy::kReject: no RFC 3261 branch. ACKs are never answered (§17.1.1.3).
    if (is_ack) {
      ++stats_.legacy_acks_dropped;
    } else {
      ++stats_.legacy_rejected;
      reject_statelessly(*request, from, 400, "Missing RFC 3261 Via Branch");
    }
    return;
  }
  const auto it = server_index_.find(*key);
  if (it != server_index_.end()) {
    Transaction& t = *find(it->second);
    if (t.kind == TransactionKind::kInviteServer) {
      invite_server_request(t, request, from);
    } else {
      non_invite_server_request(t);
    }
    return;
  }
  if (is_ack) {
    // §17.2.3: an ACK matching no transaction is the ACK for a 2xx (a new branch, §13.2.2.4):
    // straight to the TU / core.
    ++stats_.stray_acks;
    emit(RequestAction{kNoTransaction, std::move(request), from});
    return;
  }
  if (transactions_.size() >= config_.max_transactions) {
    // Overload: shed statelessly with 503 + Retry-After (RFC 3261 §21.5.4).
    ++stats_.overload_rejected;
    const std::string retry_after = std::to_string(config_.overload_retry_after_s);
    const ExtraHeader extra[] = {{"Retry-After", retry_after}};
    reject_statelessly(*request, from, 503, {}, extra);
    return;
  }
  const bool invite = request->method() == Method::kInvite;
  Transaction& t =
      create(invite ? TransactionKind::kInviteServer : TransactionKind::kNonInviteServer,
             invite ? TransactionState::kProceeding : TransactionState::kTrying, request,
             response_peer(*request, from));
  t.server_keys.push_back(std::move(*key));
  server_index_.emplace(t.server_keys.back(), t.id);
  TransactionId cancels = kNoTransaction;
  if (request->method() == Method::kCancel) {
    // §9.2: a CANCEL is its own non-INVITE server transaction; remember which INVITE it targets.
    if (auto target = server_key(*request, /*as_invite=*/true)) {
      t.cancel_target_key = std::move(*target);
      if (const auto found = server_index_.find(t.cancel_target_key);
          found != server_index_.end()) {
        cancels = found->second;
      }
    }
  }
  if (invite && config_.auto_trying) {
    // §17.2.1: 100 (Trying) unless the TU answers within 200 ms.
    if (config_.trying_delay <= Clock::Duration::zero()) {
      t.last_response = make_response(*request, 100, "Trying");
      send(t, t.last_response);
    } else {
      start_timer(t, Slot::kRetransmit, TimerName::kTrying, now() + config_.trying_delay);
    }
  }
  emit(RequestAction{t.id, std::move(request), from, cancels});
}

void TransactionLayer::invite_server_request(Transaction& t, const MessagePtr& request,
                                             const Peer& from) {
  if (request->method() == Method::kAck) {
    switch (t.state) {
      case TransactionState::kCompleted:
        // §17.2.1: ACK in Completed → Confirmed; G and H stop; Timer I = T4 (0 reliable).
        ++stats_.acks_absorbed;
        stop_timer(t, Slot::kRetransmit);
        stop_timer(t, Slot::kTimeout);
        t.state = TransactionState::kConfirmed;
        if (t.reliable) {
          terminate(t);
        } else {
          start_timer(t, Slot::kLinger, TimerName::kI, now() + config_.t4);
        }
        return;
      case TransactionState::kConfirmed:
        ++stats_.acks_absorbed;  // §17.2.1: ACK retransmissions are absorbed
        return;
      case TransactionState::kAccepted:
        // RFC 6026 §8.7: an ACK in Accepted is passed to the TU (it is the 2xx's ACK).
        emit(RequestAction{t.id, request, from});
        return;
      default:
        ++stats_.stray_acks;  // ACK before any final response: nothing to acknowledge
        return;
    }
  }
  // A retransmitted INVITE.
  ++stats_.requests_absorbed;
  switch (t.state) {
    case TransactionState::kProceeding:
    case TransactionState::kCompleted:
      // §17.2.1: resend the most recent provisional (Proceeding) or the final (Completed).
      if (!t.last_response.empty()) {
        ++stats_.retransmissions_sent;
        send(t, t.last_response);
      }
      return;
    default:
      // Confirmed: absorbed (§17.2.1). Accepted: absorbed, the TU owns 2xx retransmission
      // (RFC 6026 §8.7).
      return;
  }
}

void TransactionLayer::non_invite_server_request(Transaction& t) {
  // §17.2.2: Trying: discard. Proceeding / Completed: resend the last response.
  ++stats_.requests_absorbed;
  if (t.state != TransactionState::kTrying && !t.last_response.empty()) {
    ++stats_.retransmissions_sent;
    send(t, t.last_response);
  }
}

Result<void, TxnError> TransactionLayer::send_response(TransactionId server, SipMessage response) {
  Transaction* found = find(server);
  if (found == nullptr) {
    return unexpected(TxnError::kUnknownTransaction);
  }
  Transaction& t = *found;
  if (t.kind != TransactionKind::kInviteServer && t.kind != TransactionKind::kNonInviteServer) {
    return unexpected(TxnError::kWrongKind);
  }
  if (!response.is_response() || response.vias().empty() ||
      response.vias().front().text != t.request->vias().front().text) {
    return unexpected(TxnError::kInvalidMessage);  // §8.2.6.2: Via copied from the request
  }
  const std::uint16_t code = response.status_code();
  if (code < 100 || code > 699) {
    return unexpected(TxnError::kInvalidMessage);
  }
  std::string bytes(response.message_bytes());

  if (t.kind == TransactionKind::kInviteServer) {
    if (t.state == TransactionState::kAccepted) {
      // RFC 6026 §8.7: 2xx retransmissions from the TU are sent; nothing else is allowed.
      if (code < 200 || code >= 300) {
        return unexpected(TxnError::kWrongState);
      }
      send(t, bytes);
      return {};
    }
    if (t.state != TransactionState::kProceeding) {
      return unexpected(TxnError::kWrongState);
    }
    stop_timer(t, Slot::kRetransmit);  // a pending delayed 100 is no longer needed
    send(t, bytes);
    t.last_response = std::move(bytes);
    if (code < 200) {
      return {};  // §17.2.1: provisional responses do not change state
    }
    if (config_.legacy_requests == LegacyRequestPolicy::kMatch &&
        !t.request->vias().front().rfc3261_branch()) {
      // §17.2.3 (RFC 2543): the ACK is matched with the To tag of the response sent.
      t.server_keys.push_back(legacy_ack_key(*t.request, response.to().tag()));
      server_index_.emplace(t.server_keys.back(), t.id);
    }
    if (code < 300) {
      // RFC 6026 §8.7: 2xx → Accepted, Timer L = 64*T1; the TU retransmits the 2xx itself.
      t.state = TransactionState::kAccepted;
      start_timer(t, Slot::kLinger, TimerName::kL, now() + config_.timer_b());
      return {};
    }
    // §17.2.1: 300-699 → Completed; Timer G = T1 (unreliable only), Timer H = 64*T1.
    t.state = TransactionState::kCompleted;
    const auto start = now();
    if (!t.reliable) {
      t.interval = config_.t1;
      start_timer(t, Slot::kRetransmit, TimerName::kG, start + config_.t1);
    }
    start_timer(t, Slot::kTimeout, TimerName::kH, start + config_.timer_b());
    return {};
  }

  // Non-INVITE server, §17.2.2.
  if (t.state == TransactionState::kCompleted) {
    return unexpected(TxnError::kWrongState);  // "any other final responses ... MUST be discarded"
  }
  send(t, bytes);
  t.last_response = std::move(bytes);
  if (code < 200) {
    t.state = TransactionState::kProceeding;
    return {};
  }
  t.state = TransactionState::kCompleted;
  if (t.reliable) {
    terminate(t);  // Timer J = 0 for reliable transports
  } else {
    start_timer(t, Slot::kLinger, TimerName::kJ, now() + config_.timer_b());
  }
  return {};
}

Result<void, TxnError> TransactionLayer::respond(TransactionId server, std::uint16_t status,
                                                 std::string_view reason,
                                                 std::string_view to_tag) {
  const Transaction* t = find(server);
  if (t == nullptr) {
    return unexpected(TxnError::kUnknownTransaction);
  }
  if (t->kind != TransactionKind::kInviteServer && t->kind != TransactionKind::kNonInviteServer) {
    return unexpected(TxnError::kWrongKind);
  }
  if (status < 100 || status > 699) {
    return unexpected(TxnError::kInvalidMessage);
  }
  auto parsed = SipMessage::parse(make_response(*t->request, status, reason, to_tag));
  if (!parsed) {
    return unexpected(TxnError::kInvalidMessage);
  }
  return send_response(server, std::move(parsed).value());
}

void TransactionLayer::server_timer(Transaction& t, TimerName name, Clock::TimePoint deadline) {
  switch (name) {
    case TimerName::kTrying:
      // §17.2.1: the TU did not answer within the delay → 100 (Trying), no To tag.
      if (t.state == TransactionState::kProceeding && t.last_response.empty()) {
        t.last_response = make_response(*t.request, 100, "Trying");
        send(t, t.last_response);
      }
      return;
    case TimerName::kG:
      // §17.2.1: resend the final response; G = min(2G, T2).
      if (t.state == TransactionState::kCompleted) {
        ++stats_.retransmissions_sent;
        send(t, t.last_response);
        t.interval = std::min(2 * t.interval, config_.t2);
        start_timer(t, Slot::kRetransmit, TimerName::kG, deadline + t.interval);
      }
      return;
    case TimerName::kH:
      // §17.2.1: no ACK within 64*T1 → inform the TU, Terminated.
      ++stats_.timeouts;
      emit(TimeoutAction{t.id, TimerName::kH});
      terminate(t);
      return;
    case TimerName::kI:  // §17.2.1
    case TimerName::kJ:  // §17.2.2
    case TimerName::kL:  // RFC 6026 §8.7
      terminate(t);
      return;
    default:
      return;
  }
}

}  // namespace portcullis::sip
