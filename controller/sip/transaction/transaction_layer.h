// TransactionLayer: the RFC 3261 §17 transaction layer with the RFC 6026 fixes, sans-I/O.
//
// It owns every client and server transaction of one executor and is driven by three kinds of
// event; each call queues Actions that the owner drains with take_actions():
//
//   wire  → receive(message, from)            a parsed request or response from the transport
//   TU    → send_request / send_response / respond / send_cancel / send_stateless
//           transport_error(txn)              the transport failed to send for txn
//   time  → advance(now)                      fire due timers; arm a real timer for next_deadline()
//
//   Actions: SendAction (bytes → peer), RequestAction / ResponseAction (to the TU, with the
//   transaction handle), TimeoutAction (B, F, H), TransportErrorAction, TerminatedAction.
//
// The four machines (see README.md for the diagrams):
//   INVITE client     Calling → Proceeding → Completed (ACK sent, Timer D) | Accepted (Timer M)
//   non-INVITE client Trying → Proceeding → Completed (Timer K)
//   INVITE server     Proceeding → Completed (G, H) → Confirmed (I) | Accepted (Timer L)
//   non-INVITE server Trying → Proceeding → Completed (Timer J)
// Over reliable transports A, E and G are never started and D, I, J, K are zero, so the
// transaction terminates in the same call (RFC 3261 §17.1.1.2, §17.1.2.2, §17.2.1, §17.2.2).
//
// Matching: responses by top Via branch + CSeq method (§17.1.3); requests by top Via branch +
// sent-by + method, ACK matching the INVITE (§17.2.3). A CANCEL gets its own non-INVITE server
// transaction; RequestAction::cancels and cancelled_invite() name the INVITE it targets.
// Requests without the "z9hG4bK" cookie use §17.2.3's RFC 2543 fallback or are refused with a
// stateless 400, per TransactionConfig::legacy_requests.
//
// Ownership and threading: not thread-safe; one instance per executor. The Clock is borrowed and
// must outlive the layer. Messages passed in are moved in and shared (MessagePtr) with the TU.
// A TransactionId stays valid until its TerminatedAction has been emitted; calls with a dead
// handle return kUnknownTransaction and have no effect.
// Error policy: wire input never fails a call (bad or unmatched input is counted in stats() and
// dropped, or answered statelessly); TU misuse is reported as TxnError.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/base/result.h"
#include "common/time/clock.h"
#include "common/time/timer_queue.h"
#include "controller/sip/message/sip_message.h"
#include "controller/sip/transaction/stateless.h"
#include "controller/sip/transaction/transaction_types.h"

namespace portcullis::sip {

class TransactionLayer {
 public:
  explicit TransactionLayer(const Clock& clock, TransactionConfig config = {});
  ~TransactionLayer();
  TransactionLayer(const TransactionLayer&) = delete;
  TransactionLayer& operator=(const TransactionLayer&) = delete;

  // ---- wire ----

  /// A message parsed by the transport. Requests create or match server transactions; responses
  /// match client transactions. Never fails; see stats() for what was absorbed or dropped.
  void receive(SipMessage message, const Peer& from);

  // ---- TU ----

  /// Starts a client transaction (INVITE or non-INVITE; not ACK: an ACK for a 2xx is its own
  /// hop, send it with send_stateless). The request must carry a top Via with an RFC 3261
  /// branch (§8.1.1.7); the TU chose `to` (RFC 3263). Sends at once and starts A/B or E/F.
  Result<TransactionId, TxnError> send_request(SipMessage request, const Peer& to);

  /// Passes a response from the TU to a server transaction (§17.2.1, §17.2.2, RFC 6026 §8.7: in
  /// Accepted only 2xx retransmissions are accepted). The response's top Via branch must equal
  /// the request's. Sent to response_peer(request, from).
  Result<void, TxnError> send_response(TransactionId server, SipMessage response);

  /// Convenience: send_response(server, make_response(request, status, reason, to_tag)).
  Result<void, TxnError> respond(TransactionId server, std::uint16_t status,
                                 std::string_view reason = {}, std::string_view to_tag = {});

  /// RFC 3261 §9.1: CANCELs the INVITE client transaction `invite`. Returns the handle of the
  /// CANCEL's own non-INVITE client transaction. If no provisional response has arrived yet the
  /// CANCEL is held and sent on the first 1xx (§9.1 "MUST NOT be sent"); if a final response
  /// arrives first it is dropped with a TerminatedAction for that handle. A second call returns
  /// the same handle. kWrongState once a final response has been received.
  Result<TransactionId, TxnError> send_cancel(TransactionId invite);

  /// Queues bytes for the transport outside any transaction (ACK for 2xx, 2xx retransmissions by a
  /// UA core, stateless forwarding). Emits a SendAction with kNoTransaction.
  void send_stateless(std::string bytes, const Peer& to);

  /// The transport failed to deliver a message of `txn` (§17.1.4, §17.2.4): the TU is informed
  /// and the transaction terminates. Unknown handles are ignored.
  void transport_error(TransactionId txn);

  // ---- time ----

  /// Fires every timer due at or before `now`. Retransmission schedules are computed from each
  /// timer's deadline, so a late advance() does not stretch them.
  void advance(Clock::TimePoint now);
  /// The earliest pending timer, for the owner to arm a real timer.
  std::optional<Clock::TimePoint> next_deadline() const;

  // ---- output ----

  /// Drains the queued actions, oldest first.
  std::vector<Action> take_actions();

  // ---- queries ----

  std::size_t size() const noexcept { return transactions_.size(); }
  std::optional<TransactionState> state(TransactionId txn) const;
  std::optional<TransactionKind> kind(TransactionId txn) const;
  /// The request that created the transaction, or nullptr.
  MessagePtr request(TransactionId txn) const;
  /// For a CANCEL server transaction: the live INVITE server transaction it cancels (§9.2).
  std::optional<TransactionId> cancelled_invite(TransactionId cancel_server) const;
  /// The INVITE server transaction a (received) CANCEL request targets, per §9.2 / §17.2.3.
  std::optional<TransactionId> find_invite_for_cancel(const SipMessage& cancel) const;
  const TransactionStats& stats() const noexcept { return stats_; }
  const TransactionConfig& config() const noexcept { return config_; }

 private:
  struct Transaction;
  enum class Slot : std::uint8_t { kRetransmit = 0, kTimeout = 1, kLinger = 2, kCount = 3 };

  // Matching (§17.1.3, §17.2.3).
  static std::string client_key(std::string_view branch, std::string_view method);
  std::optional<std::string> server_key(const SipMessage& request, bool as_invite) const;
  static std::string legacy_ack_key(const SipMessage& request, std::string_view to_tag);

  Transaction* find(TransactionId id);
  const Transaction* find(TransactionId id) const;
  Transaction& create(TransactionKind kind, TransactionState state, MessagePtr request,
                      const Peer& peer);
  void terminate(Transaction& t);

  // Timers.
  void start_timer(Transaction& t, Slot slot, TimerName name, Clock::TimePoint when);
  void stop_timer(Transaction& t, Slot slot);
  void on_timer(TransactionId id, Slot slot, TimerName name, Clock::TimePoint deadline);
  Clock::TimePoint now() const { return clock_.now(); }

  // Output helpers.
  void emit(Action a) { actions_.push_back(std::move(a)); }
  void send(const Transaction& t, const std::string& bytes);

  // Client side (client_transactions.cc).
  void receive_response(MessagePtr response, const Peer& from);
  void invite_client_response(Transaction& t, const MessagePtr& response, const Peer& from);
  void non_invite_client_response(Transaction& t, const MessagePtr& response, const Peer& from);
  void start_cancel(Transaction& invite);
  void drop_pending_cancel(Transaction& invite);
  void client_timer(Transaction& t, TimerName name, Clock::TimePoint deadline);

  // Server side (server_transactions.cc).
  void receive_request(MessagePtr request, const Peer& from);
  void reject_statelessly(const SipMessage& request, const Peer& from, std::uint16_t status,
                          std::string_view reason, std::span<const ExtraHeader> extra = {});
  void invite_server_request(Transaction& t, const MessagePtr& request, const Peer& from);
  void non_invite_server_request(Transaction& t);
  void server_timer(Transaction& t, TimerName name, Clock::TimePoint deadline);

  const Clock& clock_;
  TransactionConfig config_;
  TimerQueue timers_;
  std::uint64_t next_id_ = 1;
  std::unordered_map<TransactionId, std::unique_ptr<Transaction>> transactions_;
  std::unordered_map<std::string, TransactionId> client_index_;
  std::unordered_map<std::string, TransactionId> server_index_;
  std::vector<Action> actions_;
  TransactionStats stats_;
};

}  // namespace portcullis::sip
