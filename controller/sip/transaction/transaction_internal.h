// Internal to portcullis_sip_transaction: the per-transaction record shared by
// transaction_layer.cc, client_transactions.cc and server_transactions.cc. Not a public header.
#pragma once

#include <array>
#include <string>
#include <vector>

#include "controller/sip/transaction/transaction_layer.h"

namespace portcullis::sip {

enum class CancelState : std::uint8_t { kNone, kPending, kSent, kDropped };

struct TransactionLayer::Transaction {
  TransactionId id = kNoTransaction;
  TransactionKind kind = TransactionKind::kNonInviteClient;
  TransactionState state = TransactionState::kTrying;
  MessagePtr request;
  /// Client: where the request goes (chosen by the TU). Server: where responses go (§18.2.2).
  Peer peer;
  bool reliable = false;

  /// Client: the request bytes as sent, for retransmission (Timers A, E).
  std::string request_bytes;
  /// Server: the most recent response sent, resent on request retransmissions (§17.2.1,
  /// §17.2.2) and by Timer G. Empty until the first response.
  std::string last_response;
  /// INVITE client: the ACK for the non-2xx final response, resent on its retransmissions
  /// (§17.1.1.2).
  std::string ack;
  /// Current retransmission interval of Timer A, E or G.
  Clock::Duration interval{};
  /// Running timer per slot (retransmit A/E/G or delayed 100, timeout B/F/H, linger D/I/J/K/L/M);
  /// 0 when idle (TimerQueue ids start at 1).
  std::array<TimerQueue::TimerId, 3> timers{};

  /// Index entries this transaction owns (removed on termination).
  std::string client_key;
  std::vector<std::string> server_keys;

  /// INVITE client: the CANCEL requested by the TU (§9.1).
  TransactionId cancel = kNoTransaction;
  CancelState cancel_state = CancelState::kNone;
  /// CANCEL server: the index key of the INVITE server transaction it targets (§9.2).
  std::string cancel_target_key;
};

}  // namespace portcullis::sip
