// Counters of one transport instance. Every drop and every close is counted (degraded handling
// must be visible, docs/style.md §4.11). Plain atomics, relaxed: they are written from the
// transport's strand and its sessions' strands and read from anywhere (tests, an admin page).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>

#include "controller/sip/transport/transport.h"

namespace portcullis::sip {

struct TransportStats {
  using Counter = std::atomic<std::uint64_t>;

  Counter messages_received{0};    // delivered through on_message
  Counter messages_sent{0};        // datagrams sent / stream writes completed
  Counter send_failures{0};        // sends completed with an error
  Counter parse_errors{0};         // framed but SipMessage::parse failed (→ on_rejected)
  Counter framing_errors{0};       // StreamFramer failures (connection closed)
  Counter framing_error_answers{0};  // 400/513 sent before closing on a framing error
  Counter oversize_dropped{0};     // UDP datagram or outbound message above the size limit
  Counter keepalive_pings{0};      // RFC 5626 §4.4.1 CRLFCRLF received (stream) / CRLF datagrams
  Counter keepalive_pongs{0};      // CRLF answered
  Counter connections_accepted{0};
  Counter connections_opened{0};   // outbound connects that succeeded
  Counter connections_refused_total{0};   // over StreamConfig::limits.max_connections
  Counter connections_refused_per_ip{0};  // over StreamConfig::limits.max_connections_per_ip
  std::array<Counter, static_cast<std::size_t>(CloseReason::kCount)> connections_closed{};

  void add(Counter& c, std::uint64_t n = 1) noexcept { c.fetch_add(n, std::memory_order_relaxed); }
  void closed(CloseReason r) noexcept { add(connections_closed[static_cast<std::size_t>(r)]); }
  std::uint64_t closed_count(CloseReason r) const noexcept {
    return connections_closed[static_cast<std::size_t>(r)].load(std::memory_order_relaxed);
  }
};

}  // namespace portcullis::sip
