#include "controller/sip/transport/connection_table.h"

namespace portcullis::sip {

Result<ConnectionId, Refusal> ConnectionTable::admit(TransportKind kind, Direction direction,
                                                     const net::Endpoint& remote,
                                                     const net::Endpoint& local) {
  if (entries_.size() >= limits_.max_connections) {
    return unexpected(Refusal::kTotalLimit);
  }
  if (direction == Direction::kInbound && limits_.max_connections_per_ip != 0) {
    const auto it = inbound_per_ip_.find(remote.address());
    if (it != inbound_per_ip_.end() && it->second >= limits_.max_connections_per_ip) {
      return unexpected(Refusal::kPerIpLimit);
    }
  }
  const ConnectionId id{next_id_++};
  ConnectionEntry entry;
  entry.id = id;
  entry.kind = kind;
  entry.direction = direction;
  entry.remote = remote;
  entry.local = local;
  // An accepted connection is established already; an outbound one after connect/handshake.
  entry.established = direction == Direction::kInbound;
  entries_.emplace(id, entry);
  by_remote_.emplace(Key{kind, remote}, id);
  if (direction == Direction::kInbound) {
    ++inbound_per_ip_[remote.address()];
  }
  return id;
}

void ConnectionTable::mark_established(ConnectionId id, const net::Endpoint& local) {
  const auto it = entries_.find(id);
  if (it != entries_.end()) {
    it->second.established = true;
    it->second.local = local;
  }
}

bool ConnectionTable::remove(ConnectionId id) {
  const auto it = entries_.find(id);
  if (it == entries_.end()) {
    return false;
  }
  const ConnectionEntry& e = it->second;
  auto [first, last] = by_remote_.equal_range(Key{e.kind, e.remote});
  for (auto r = first; r != last; ++r) {
    if (r->second == id) {
      by_remote_.erase(r);
      break;
    }
  }
  if (e.direction == Direction::kInbound) {
    const auto ip = inbound_per_ip_.find(e.remote.address());
    if (ip != inbound_per_ip_.end() && --ip->second == 0) {
      inbound_per_ip_.erase(ip);
    }
  }
  entries_.erase(it);
  return true;
}

const ConnectionEntry* ConnectionTable::find(ConnectionId id) const {
  const auto it = entries_.find(id);
  return it == entries_.end() ? nullptr : &it->second;
}

std::optional<ConnectionId> ConnectionTable::find(TransportKind kind,
                                                  const net::Endpoint& remote) const {
  auto [first, last] = by_remote_.equal_range(Key{kind, remote});
  std::optional<ConnectionId> newest;
  for (auto r = first; r != last; ++r) {
    // Ids grow monotonically, so the largest id is the newest connection.
    if (!newest || static_cast<std::uint64_t>(r->second) > static_cast<std::uint64_t>(*newest)) {
      newest = r->second;
    }
  }
  return newest;
}

std::size_t ConnectionTable::count_from(const net::IpAddress& ip) const {
  const auto it = inbound_per_ip_.find(ip);
  return it == inbound_per_ip_.end() ? 0 : it->second;
}

std::vector<ConnectionId> ConnectionTable::ids() const {
  std::vector<ConnectionId> out;
  out.reserve(entries_.size());
  for (const auto& [id, entry] : entries_) {
    out.push_back(id);
  }
  return out;
}

}  // namespace portcullis::sip
