#include "pinhole-agent/core/event_log.h"

#include <utility>

namespace portcullis::agent {

std::uint64_t EventLog::append(Event e) {
  e.seq = next_seq_++;
  if (buffer_.size() == capacity_) {
    buffer_.pop_front();
  }
  buffer_.push_back(std::move(e));
  return buffer_.back().seq;
}

std::optional<std::vector<Event>> EventLog::since(std::uint64_t last_seq) const {
  if (last_seq > this->last_seq()) {
    return std::nullopt;  // a position we never issued: the controller talks about another epoch
  }
  const std::uint64_t oldest = buffer_.empty() ? next_seq_ : buffer_.front().seq;
  if (last_seq + 1 < oldest) {
    return std::nullopt;  // events between last_seq and the buffer were dropped
  }
  std::vector<Event> out;
  for (const Event& e : buffer_) {
    if (e.seq > last_seq) {
      out.push_back(e);
    }
  }
  return out;
}

}  // namespace portcullis::agent
