#include "pinhole-agent/service/server.h"

#include <grpc/grpc_security_constants.h>

namespace portcullis::agent::service {

std::shared_ptr<grpc::ServerCredentials> make_server_credentials(const ServerOptions& options) {
  if (options.insecure_lab) {
    return grpc::InsecureServerCredentials();
  }
  // Require AND verify: a peer without a certificate chaining to client_ca never reaches a
  // handler (UNAVAILABLE/handshake failure on its side), fcp-notes §2.10.
  grpc::SslServerCredentialsOptions ssl(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  ssl.pem_root_certs = options.tls.client_ca_pem;
  ssl.pem_key_cert_pairs.push_back({options.tls.private_key_pem, options.tls.cert_chain_pem});
  return grpc::SslServerCredentials(ssl);
}

Result<RunningServer> start_server(FcpService& service, const ServerOptions& options) {
  grpc::ServerBuilder builder;
  RunningServer out;
  builder.AddListeningPort(options.listen_address, make_server_credentials(options), &out.port);
  builder.RegisterService(&service);
  builder.SetMaxReceiveMessageSize(options.max_message_bytes);
  builder.SetMaxSendMessageSize(options.max_message_bytes);
  // fcp-notes §2.10: controllers ping every 10 s; the 5 min server default would GOAWAY them
  // with "too_many_pings". Our own pings find dead peers between heartbeats.
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 5000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 30000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10000);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  out.server = builder.BuildAndStart();
  if (!out.server || out.port == 0) {
    return unexpected(unavailable("cannot listen on " + options.listen_address +
                                  (options.insecure_lab ? "" : " (check the TLS certificate and key)")));
  }
  return out;
}

}  // namespace portcullis::agent::service
