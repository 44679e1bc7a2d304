// Event log with a bounded ring buffer for Session Resume (fcp-notes §2.7): every event gets a
// monotonically increasing seq within the state epoch; a Resume position that fell out of the
// buffer means RESYNC_REQUIRED (the K8s watch "410 Gone" pattern).
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <vector>

#include "pinhole-agent/core/model.h"

namespace portcullis::agent {

class EventLog {
 public:
  explicit EventLog(std::size_t capacity, std::uint64_t first_seq = 1)
      : capacity_(capacity == 0 ? 1 : capacity), next_seq_(first_seq == 0 ? 1 : first_seq) {}

  /// Assigns the next seq, stores the event (dropping the oldest when full) and returns the seq.
  std::uint64_t append(Event e);

  /// Events with seq > last_seq, oldest first; nullopt when the position cannot be served
  /// (older than the buffer, or ahead of the newest seq).
  std::optional<std::vector<Event>> since(std::uint64_t last_seq) const;

  /// Seq of the newest event (0 = none yet).
  std::uint64_t last_seq() const noexcept { return next_seq_ - 1; }
  std::size_t size() const noexcept { return buffer_.size(); }
  const std::deque<Event>& buffer() const noexcept { return buffer_; }

 private:
  std::size_t capacity_;
  std::deque<Event> buffer_;
  std::uint64_t next_seq_;
};

}  // namespace portcullis::agent
