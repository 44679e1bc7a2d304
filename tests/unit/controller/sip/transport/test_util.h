// Helpers for the transport tests: SIP texts, bounded io_context driving (no sleeps), a raw TCP
// client, and a recorder of transport callbacks.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/buffer.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>

#include "controller/sip/transport/asio_endpoint.h"
#include "controller/sip/transport/transport.h"

namespace portcullis::sip::testing {

namespace asio = boost::asio;
using namespace std::chrono_literals;

/// Test texts use '\n'; SIP needs CRLF.
inline std::string crlf(std::string_view text) {
  std::string out;
  for (const char c : text) {
    if (c == '\n') {
      out.push_back('\r');
    }
    out.push_back(c);
  }
  return out;
}

/// A request that passes SipMessage::parse (transaction-critical headers valid), 5-byte body.
inline std::string request(std::string_view call_id = "a84b4c76e66710", std::string_view method = "OPTIONS",
                           std::uint32_t cseq = 1) {
  return crlf("" + std::string(method) + " sip:bob@biloxi.example.com SIP/2.0\n" +
              "Via: SIP/2.0/TCP pc33.atlanta.example.com;branch=z9hG4bK776asdhds" +
              std::string(call_id) + "\n" +
              "Max-Forwards: 70\n"
              "To: Bob <sip:bob@biloxi.example.com>\n"
              "From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\n"
              "Call-ID: " + std::string(call_id) + "\n" +
              "CSeq: " + std::to_string(cseq) + " " + std::string(method) + "\n" +
              "Content-Type: text/plain\n"
              "Content-Length: 5\n"
              "\n"
              "v=0\n");
}

/// A 200 response to request(call_id, method, cseq).
inline std::string response(std::string_view call_id = "a84b4c76e66710", std::string_view method = "OPTIONS",
                            std::uint32_t cseq = 1) {
  return crlf("SIP/2.0 200 OK\n"
              "Via: SIP/2.0/TCP pc33.atlanta.example.com;branch=z9hG4bK776asdhds" +
              std::string(call_id) + "\n" +
              "To: Bob <sip:bob@biloxi.example.com>;tag=a6c85cf\n"
              "From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\n"
              "Call-ID: " + std::string(call_id) + "\n" +
              "CSeq: " + std::to_string(cseq) + " " + std::string(method) + "\n" +
              "Content-Length: 0\n"
              "\n");
}

/// Runs handlers until pred() holds or `timeout` passes. Returns pred().
template <class Pred>
bool run_until(asio::io_context& ioc, Pred pred, std::chrono::milliseconds timeout = 3000ms) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= deadline) {
      return pred();
    }
    if (ioc.stopped()) {
      ioc.restart();
    }
    ioc.run_one_for(10ms);
  }
  return true;
}

/// Runs until the io_context has no work left (graceful shutdown) or `timeout`. True if drained.
inline bool run_to_completion(asio::io_context& ioc, std::chrono::milliseconds timeout = 3000ms) {
  if (ioc.stopped()) {
    ioc.restart();
  }
  ioc.run_for(timeout);
  return ioc.stopped();
}

/// A plain TCP client on the test's io_context. Connect and writes are synchronous (loopback,
/// kernel buffers); reads are asynchronous into `data` until EOF or error (`closed`).
class RawClient : public std::enable_shared_from_this<RawClient> {
 public:
  explicit RawClient(asio::io_context& ioc) : socket_(ioc) {}

  static std::shared_ptr<RawClient> connect(asio::io_context& ioc, const net::Endpoint& to) {
    auto c = std::make_shared<RawClient>(ioc);
    c->socket_.connect(to_asio_endpoint<asio::ip::tcp::endpoint>(to));
    c->read();
    return c;
  }

  void write(std::string_view bytes) { asio::write(socket_, asio::buffer(bytes.data(), bytes.size())); }
  net::Endpoint local() const { return from_asio_endpoint(socket_.local_endpoint()); }
  void close() {
    boost::system::error_code ec;
    socket_.close(ec);
  }

  std::string data;
  bool closed = false;

 private:
  void read() {
    socket_.async_read_some(asio::buffer(buf_), [self = shared_from_this()](
                                                    const boost::system::error_code& ec, std::size_t n) {
      if (ec) {
        self->closed = true;
        return;
      }
      self->data.append(self->buf_.data(), n);
      self->read();
    });
  }

  asio::ip::tcp::socket socket_;
  std::array<char, 4096> buf_{};
};

/// Records every callback of a transport.
struct Recorder {
  std::vector<ReceivedMessage> messages;
  std::vector<RejectedMessage> rejected;
  std::vector<ConnectionClosed> closed;

  TransportCallbacks callbacks() {
    return TransportCallbacks{
        [this](ReceivedMessage m) { messages.push_back(std::move(m)); },
        [this](RejectedMessage r) { rejected.push_back(std::move(r)); },
        [this](const ConnectionClosed& c) { closed.push_back(c); }};
  }
};

/// Records a send completion.
struct SendResult {
  bool done = false;
  bool ok = false;
  std::string error;

  SendCompletion callback() {
    return [this](Status s) {
      done = true;
      ok = s.ok();
      if (!s.ok()) {
        error = s.error().to_string();
      }
    };
  }
};

inline net::Endpoint loopback_any_port() { return net::Endpoint(net::IpAddress::v4(0x7f000001), 0); }

}  // namespace portcullis::sip::testing
