// ConnectionTable: sans-I/O bookkeeping of the stream connections of one transport: admission
// limits (total, per source IP), id allocation, and lookup by id and by (kind, remote endpoint)
// for connection reuse (RFC 3261 §18.1.1: a client MAY reuse a connection to the destination;
// §18.2.2: a response goes back over the connection its request came on).
//
// Not thread-safe: owned by the transport's strand. No sockets, no clock: the Asio shell
// (stream_transport.cc) calls it and executes the decisions; tests drive it directly.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <unordered_map>
#include <vector>

#include "common/net/ip_address.h"
#include "controller/sip/transport/transport.h"

namespace portcullis::sip {

struct ConnectionLimits {
  /// All connections, inbound and outbound. Beyond it new ones are refused (closed at once).
  std::size_t max_connections = 4096;
  /// Inbound connections from one source IP (port ignored). 0 = no per-IP limit.
  std::size_t max_connections_per_ip = 32;
};

enum class Direction : std::uint8_t { kInbound, kOutbound };

/// Why admit() refused a connection.
enum class Refusal : std::uint8_t { kTotalLimit, kPerIpLimit };

struct ConnectionEntry {
  ConnectionId id = kNoConnection;
  TransportKind kind = TransportKind::kTcp;
  Direction direction = Direction::kInbound;
  net::Endpoint remote;
  net::Endpoint local;
  /// Outbound connections are usable for reuse from the moment they are admitted (messages queue
  /// behind the connect); `established` only records that connect (+ TLS handshake) finished.
  bool established = false;
};

class ConnectionTable {
 public:
  explicit ConnectionTable(ConnectionLimits limits = {}) : limits_(limits) {}

  /// Checks the limits and, if they allow, records a new connection and returns its id.
  Result<ConnectionId, Refusal> admit(TransportKind kind, Direction direction,
                                      const net::Endpoint& remote, const net::Endpoint& local);
  /// Marks a connection established and updates its local endpoint (known after connect).
  void mark_established(ConnectionId id, const net::Endpoint& local);
  /// Forgets a connection. Unknown ids are ignored (returns false).
  bool remove(ConnectionId id);

  const ConnectionEntry* find(ConnectionId id) const;
  /// The most recently admitted live connection of `kind` to/from `remote`, for reuse.
  std::optional<ConnectionId> find(TransportKind kind, const net::Endpoint& remote) const;

  std::size_t size() const noexcept { return entries_.size(); }
  std::size_t count_from(const net::IpAddress& ip) const;
  std::vector<ConnectionId> ids() const;
  const ConnectionLimits& limits() const noexcept { return limits_; }

 private:
  struct Key {
    TransportKind kind;
    net::Endpoint remote;
    friend auto operator<=>(const Key&, const Key&) = default;
  };

  ConnectionLimits limits_;
  std::uint64_t next_id_ = 1;
  std::unordered_map<ConnectionId, ConnectionEntry> entries_;
  // Several connections may share a key (e.g. an inbound and an outbound one); the newest wins.
  std::multimap<Key, ConnectionId> by_remote_;
  std::unordered_map<net::IpAddress, std::size_t> inbound_per_ip_;
};

}  // namespace portcullis::sip
