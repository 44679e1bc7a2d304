// UdpTransport: SIP over UDP (RFC 3261 §18). One socket per listen address; each datagram is one
// message (Framing::kDatagram), up to 65535 bytes. A datagram that does not parse is reported
// through on_rejected (and counted) so the upper layer can answer 400 statelessly or drop it.
//
// Threading: all sockets and state live on one strand (executor()); every callback runs there.
// To use several cores, create one UdpTransport per io_context with UdpConfig::reuse_port so the
// kernel spreads datagrams over the sockets bound to the same address (SO_REUSEPORT).
//
// Connection ids: the ReceivedMessage of a datagram carries the id of the socket it arrived on;
// sending with that id leaves from the same local address (RFC 3261 §18.2.2).
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

#include <boost/asio/any_io_executor.hpp>

#include "common/base/result.h"
#include "common/net/ip_address.h"
#include "controller/sip/message/sip_message.h"
#include "controller/sip/transport/transport.h"
#include "controller/sip/transport/transport_stats.h"

namespace portcullis::sip {

struct UdpConfig {
  /// Addresses to bind (port 0: an ephemeral port, see local_endpoints()). At least one.
  std::vector<net::Endpoint> listen;
  /// max_message_bytes also bounds outbound datagrams.
  ParseLimits parse_limits;
  /// Datagrams handed to the kernel but not completed; beyond it sends fail (kResourceExhausted).
  std::size_t max_pending_sends = 1024;
  /// SO_REUSEPORT, for one socket per io_context on the same address.
  bool reuse_port = false;
};

class UdpTransport final : public Transport {
 public:
  /// `executor`: the io_context (executor) to run on. `owner`: the executor that owns the sockets
  /// and runs every callback; it must be a strand (or an io_context run by one thread). Empty: a
  /// new strand of `executor`. Pass the same `owner` to every transport of a TransportGroup.
  UdpTransport(boost::asio::any_io_executor executor, UdpConfig config,
               boost::asio::any_io_executor owner = {});
  ~UdpTransport() override;
  UdpTransport(const UdpTransport&) = delete;
  UdpTransport& operator=(const UdpTransport&) = delete;

  /// Binds every listen address and starts receiving. Call once, before running the io_context
  /// or from executor(). Errors: kInvalidArgument / kUnavailable naming the address.
  Status start();
  /// The bound addresses (ephemeral ports resolved), in listen order. Valid after start().
  const std::vector<net::Endpoint>& local_endpoints() const;
  /// The connection id of the socket bound to local_endpoints()[index].
  ConnectionId socket_id(std::size_t index) const;
  const TransportStats& stats() const;

  boost::asio::any_io_executor executor() const override;
  void set_callbacks(TransportCallbacks callbacks) override;
  void send(OutboundMessage message, SendCompletion done = {}) override;
  void stop() override;

 private:
  class Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace portcullis::sip
