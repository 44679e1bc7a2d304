// Builds the gRPC server around an FcpService: mTLS credentials (required by default), keepalive
// settings from fcp-notes §2.10, message size limits.
#pragma once

#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "common/base/result.h"
#include "pinhole-agent/service/fcp_service.h"

namespace portcullis::agent::service {

/// PEM contents (not paths): the caller reads the files, so errors name the config key.
struct TlsMaterial {
  std::string cert_chain_pem;
  std::string private_key_pem;
  /// Client certificates must chain to one of these.
  std::string client_ca_pem;
};

struct ServerOptions {
  /// "host:port"; port 0 picks a free port (tests).
  std::string listen_address = "0.0.0.0:7443";
  /// Plaintext, every caller an admin for every owner. Lab use only; the app logs it at warn.
  bool insecure_lab = false;
  TlsMaterial tls;
  int max_message_bytes = 4 * 1024 * 1024;
};

struct RunningServer {
  std::unique_ptr<grpc::Server> server;
  int port = 0;
};

/// mTLS server credentials: GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY.
std::shared_ptr<grpc::ServerCredentials> make_server_credentials(const ServerOptions& options);

/// Registers `service` and starts listening. The service must be start()ed by the caller.
Result<RunningServer> start_server(FcpService& service, const ServerOptions& options);

}  // namespace portcullis::agent::service
