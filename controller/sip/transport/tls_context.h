// TLS configuration for the SIP-over-TLS transport (RFC 3261 §26.3.1, RFC 5630, RFC 5922):
// server certificate and key, optional CA for verifying client certificates (mutual TLS), and the
// client side verification of the server certificate with an optional host name check.
// TLS 1.2 is the minimum version (RFC 7525 §3.1.1).
#pragma once

#include <memory>
#include <string>

#include <boost/asio/ssl/context.hpp>

#include "common/base/result.h"

namespace portcullis::sip {

struct TlsConfig {
  /// PEM certificate chain (leaf first) and private key. Required to accept TLS connections;
  /// optional for outbound ones (then used as the client certificate for mutual TLS).
  std::string certificate_chain_file;
  std::string private_key_file;
  /// PEM CA bundle used to verify peers: client certificates (server side) and server
  /// certificates (client side). Empty on the client side: the system default paths.
  std::string ca_file;
  /// Server side: require and verify a client certificate (mutual TLS). A client without one
  /// fails the handshake. Needs ca_file.
  bool require_client_certificate = false;
  /// Client side: verify the server's certificate chain.
  bool verify_server = true;
  /// Client side: check the server certificate against OutboundMessage::server_name (DNS SAN)
  /// or, when empty, the destination address (IP SAN) (RFC 5922 §7.2, RFC 6125).
  bool verify_host_name = true;
};

using TlsContextPtr = std::shared_ptr<boost::asio::ssl::context>;

/// Context for accepted connections. Errors: kInvalidArgument naming the file that failed.
Result<TlsContextPtr> make_server_tls_context(const TlsConfig& config);
/// Context for outbound connections.
Result<TlsContextPtr> make_client_tls_context(const TlsConfig& config);

}  // namespace portcullis::sip
