#include "controller/sip/transport/tls_context.h"

#include <openssl/ssl.h>

namespace portcullis::sip {
namespace {

namespace ssl = boost::asio::ssl;

Result<TlsContextPtr> base_context(const TlsConfig& config, bool server) {
  auto ctx = std::make_shared<ssl::context>(server ? ssl::context::tls_server
                                                   : ssl::context::tls_client);
  boost::system::error_code ec;
  // RFC 7525 §3.1.1: no SSLv2/v3, TLS 1.0 or 1.1.
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                       ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                       ssl::context::no_tlsv1_1 | ssl::context::single_dh_use,
                   ec);
  if (ec) {
    return unexpected(internal_error("TLS options: " + ec.message()));
  }
  if (SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION) != 1) {
    return unexpected(internal_error("TLS: cannot set minimum version TLS 1.2"));
  }
  if (!config.certificate_chain_file.empty()) {
    ctx->use_certificate_chain_file(config.certificate_chain_file, ec);
    if (ec) {
      return unexpected(invalid_argument("TLS certificate chain " +
                                         config.certificate_chain_file + ": " + ec.message()));
    }
    ctx->use_private_key_file(config.private_key_file, ssl::context::pem, ec);
    if (ec) {
      return unexpected(
          invalid_argument("TLS private key " + config.private_key_file + ": " + ec.message()));
    }
    if (SSL_CTX_check_private_key(ctx->native_handle()) != 1) {
      return unexpected(invalid_argument("TLS private key " + config.private_key_file +
                                         " does not match the certificate"));
    }
  } else if (server) {
    return unexpected(invalid_argument("TLS server needs certificate_chain_file"));
  }
  if (!config.ca_file.empty()) {
    ctx->load_verify_file(config.ca_file, ec);
    if (ec) {
      return unexpected(invalid_argument("TLS CA file " + config.ca_file + ": " + ec.message()));
    }
  }
  return ctx;
}

}  // namespace

Result<TlsContextPtr> make_server_tls_context(const TlsConfig& config) {
  auto ctx = base_context(config, true);
  if (!ctx) {
    return ctx;
  }
  boost::system::error_code ec;
  if (config.require_client_certificate) {
    if (config.ca_file.empty()) {
      return unexpected(invalid_argument("TLS mutual authentication needs ca_file"));
    }
    // Mutual TLS: a client without a valid certificate fails the handshake.
    (*ctx)->set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert, ec);
  } else {
    (*ctx)->set_verify_mode(ssl::verify_none, ec);
  }
  if (ec) {
    return unexpected(internal_error("TLS verify mode: " + ec.message()));
  }
  return ctx;
}

Result<TlsContextPtr> make_client_tls_context(const TlsConfig& config) {
  auto ctx = base_context(config, false);
  if (!ctx) {
    return ctx;
  }
  boost::system::error_code ec;
  if (config.verify_server) {
    if (config.ca_file.empty()) {
      (*ctx)->set_default_verify_paths(ec);
      if (ec) {
        return unexpected(internal_error("TLS default verify paths: " + ec.message()));
      }
    }
    (*ctx)->set_verify_mode(ssl::verify_peer, ec);
  } else {
    (*ctx)->set_verify_mode(ssl::verify_none, ec);
  }
  if (ec) {
    return unexpected(internal_error("TLS verify mode: " + ec.message()));
  }
  return ctx;
}

}  // namespace portcullis::sip
