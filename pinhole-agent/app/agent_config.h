// The pinhole agent's configuration file (YAML): schema, defaults, validation with
// "file:line: key: message" errors, and the --help text documenting every key. The YAML is
// turned into the typed configs the components take (ManagerConfig, NftBackendConfig,
// ServiceOptions, AccessPolicy rules); nothing else reads the file.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "common/base/result.h"
#include "pinhole-agent/backend/nft/nft_backend.h"
#include "pinhole-agent/core/pinhole_manager.h"
#include "pinhole-agent/service/access_policy.h"
#include "pinhole-agent/service/fcp_service.h"

namespace portcullis::agent::app {

enum class BackendKind : std::uint8_t { kNft, kFake };

struct TlsConfig {
  bool insecure_lab = false;
  std::string cert_file;
  std::string key_file;
  std::string client_ca_file;
  std::vector<service::IdentityRule> identities;
};

struct AgentConfig {
  std::string agent_id;
  std::string listen_address = "0.0.0.0:7443";
  std::string log_level = "info";
  BackendKind backend = BackendKind::kNft;
  NftBackendConfig nft;
  /// Listen to ctnetlink NEW/DESTROY events of the agent's flows (idle detection, latches).
  bool conntrack_events = true;
  /// Receive buffer of that socket; a larger burst is lost and repaired by a resync dump.
  std::size_t conntrack_event_buffer = 4u << 20;
  ManagerConfig manager;
  service::ServiceOptions service;
  std::chrono::nanoseconds shutdown_grace = std::chrono::seconds(5);
  TlsConfig tls;
};

/// Loads and validates `path`. On failure the error message holds every problem, one per line,
/// each "path:line: key: message". `insecure_lab_flag` (--insecure-lab) makes TLS keys optional.
Result<AgentConfig> load_agent_config(const std::string& path, bool insecure_lab_flag = false);
/// Same, from text (tests); `name` stands in for the file name in messages.
Result<AgentConfig> parse_agent_config(const std::string& text, const std::string& name,
                                       bool insecure_lab_flag = false);

/// The documentation of every key, printed by --help.
std::string config_reference();

}  // namespace portcullis::agent::app
