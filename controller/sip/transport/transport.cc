#include "controller/sip/transport/transport.h"

#include <utility>

#include <boost/asio/post.hpp>

namespace portcullis::sip {

std::string_view transport_kind_name(TransportKind kind) noexcept {
  switch (kind) {
    case TransportKind::kUdp: return "UDP";
    case TransportKind::kTcp: return "TCP";
    case TransportKind::kTls: return "TLS";
  }
  return "?";
}

std::string_view close_reason_name(CloseReason reason) noexcept {
  switch (reason) {
    case CloseReason::kPeerClosed: return "peer_closed";
    case CloseReason::kIdleTimeout: return "idle_timeout";
    case CloseReason::kFramingError: return "framing_error";
    case CloseReason::kWriteQueueFull: return "write_queue_full";
    case CloseReason::kIoError: return "io_error";
    case CloseReason::kConnectFailed: return "connect_failed";
    case CloseReason::kHandshakeFailed: return "handshake_failed";
    case CloseReason::kShutdown: return "shutdown";
    case CloseReason::kCount: break;
  }
  return "?";
}

void TransportGroup::add(TransportKind kind, TransportPtr transport) {
  transports_[static_cast<std::size_t>(kind)] = std::move(transport);
}

boost::asio::any_io_executor TransportGroup::executor() const {
  for (const auto& t : transports_) {
    if (t) {
      return t->executor();
    }
  }
  return {};
}

void TransportGroup::set_callbacks(TransportCallbacks callbacks) {
  for (const auto& t : transports_) {
    if (t) {
      t->set_callbacks(callbacks);
    }
  }
}

void TransportGroup::send(OutboundMessage message, SendCompletion done) {
  const auto index = static_cast<std::size_t>(message.kind);
  if (index < kKinds && transports_[index]) {
    transports_[index]->send(std::move(message), std::move(done));
    return;
  }
  if (!done) {
    return;
  }
  Status error = unexpected(
      invalid_argument("no transport for " + std::string(transport_kind_name(message.kind))));
  // Keep the contract: completions run on the executor, never inline in send().
  auto ex = executor();
  if (ex) {
    boost::asio::post(ex, [done = std::move(done), error = std::move(error)]() mutable {
      done(std::move(error));
    });
  } else {
    done(std::move(error));
  }
}

void TransportGroup::stop() {
  for (const auto& t : transports_) {
    if (t) {
      t->stop();
    }
  }
}

}  // namespace portcullis::sip
