// StreamConnection: the sans-I/O core of one TCP/TLS connection (RFC 3261 §18.3). It owns the
// StreamFramer, parses framed messages, answers RFC 5626 §4.4.1 keep-alive pings, decides when the
// connection must close, and keeps the bounded write queue. The Asio session
// (stream_transport.cc) only moves bytes between the socket and this class and runs timers.
//
// Not thread-safe: owned by the session's strand. Counters go to the shared TransportStats.
#pragma once

#include <cstddef>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "controller/sip/message/sip_message.h"
#include "controller/sip/message/stream_framer.h"
#include "controller/sip/transport/transport.h"
#include "controller/sip/transport/transport_stats.h"

namespace portcullis::sip {

struct StreamConnectionConfig {
  /// Header/body/message limits, shared by the framer and SipMessage::parse. A message above
  /// them is a framing error (413/513 and close), because the stream cannot skip it safely.
  ParseLimits parse_limits;
  /// Leading CRLFs tolerated between messages (RFC 3261 §7.5, RFC 5626 pongs).
  std::uint32_t max_keepalive_bytes = 64;
  /// Write queue bound (Beast `queue_limit`): beyond either, the connection is closed.
  std::size_t max_write_queue_bytes = 1024 * 1024;
  std::size_t max_write_queue_messages = 256;
  /// On a framing error, send "SIP/2.0 400|513 ..." before closing if a request line was seen
  /// (RFC 4475 §3.1.2.3 allows either answering or just closing).
  bool answer_framing_errors = true;
};

class StreamConnection {
 public:
  using Delivery = std::variant<ReceivedMessage, RejectedMessage>;

  struct WriteItem {
    std::string bytes;
    SendCompletion done;  // may be empty
    bool internal = false;  // pongs and framing-error answers: not counted as messages sent
  };

  /// What on_bytes() produced. Deliveries are in arrival order.
  struct ReadResult {
    std::vector<Delivery> deliveries;
    /// Close now (`close_after_flush` false) or once the write queue has drained.
    std::optional<CloseReason> close;
    bool close_after_flush = false;
  };

  StreamConnection(FlowInfo flow, StreamConnectionConfig config, TransportStats& stats);

  /// Feeds bytes read from the socket. Pongs and framing-error answers are queued for writing.
  /// After a close decision further input is ignored.
  void on_bytes(std::string_view bytes, ReadResult& out);

  /// Queues bytes for writing. False if the queue bound would be exceeded: the caller must close
  /// the connection with kWriteQueueFull (the item is left untouched; the caller completes it).
  bool enqueue(WriteItem&& item);
  /// The bytes to write next, if the queue is non-empty and no write is in progress; marks the
  /// write in progress. The view stays valid until complete_write().
  std::optional<std::string_view> start_write();
  /// The write in progress finished; returns its item (to run its completion).
  WriteItem complete_write();
  /// Removes every queued item except the one being written (its buffer is still in use; it is
  /// returned by complete_write()), for failing their completions on close.
  std::vector<WriteItem> drain();

  bool write_in_progress() const noexcept { return writing_; }
  std::size_t queued_messages() const noexcept { return queue_.size(); }
  std::size_t queued_bytes() const noexcept { return queued_bytes_; }
  bool closing() const noexcept { return closing_; }
  const FlowInfo& flow() const noexcept { return flow_; }
  /// Updates the local endpoint once known (outbound connections).
  void set_local(const net::Endpoint& local) { flow_.local = local; }

  /// The text answered on a framing error: status line, the Via/From/To/Call-ID/CSeq lines found
  /// complete in `head` (best effort, RFC 3261 §8.2.6), Content-Length: 0. Empty if `head` does
  /// not start with a request line (responses are never answered, RFC 3261 §18.1.2).
  static std::string framing_error_answer(std::string_view head, const SipError& error);

 private:
  void update_head(std::string_view chunk);
  void deliver(std::string bytes, ReadResult& out);

  FlowInfo flow_;
  StreamConnectionConfig config_;
  TransportStats& stats_;
  StreamFramer framer_;
  // The first bytes of the message being framed, kept so a framing error can be answered.
  std::string head_;
  bool head_known_ = true;
  bool closing_ = false;

  std::deque<WriteItem> queue_;
  std::size_t queued_bytes_ = 0;
  bool writing_ = false;
};

}  // namespace portcullis::sip
