// The controller's configuration file (YAML): schema, defaults, validation with
// "file:line: key: message" errors (common/config/yaml_reader.h), and the --help text documenting
// every key. The YAML is turned into the typed configs the layers take (ProxyConfig,
// RegistrarConfig, TransactionConfig, the transport limits); nothing else reads the file.
// docs/configuration.md ("Controller") and deploy/controller.example.yaml describe the same schema.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/base/result.h"
#include "common/net/ip_address.h"
#include "controller/proxy/proxy_config.h"
#include "controller/registrar/registrar.h"
#include "controller/sip/message/sip_message.h"
#include "controller/sip/transaction/transaction_types.h"

namespace portcullis::controller::app {

/// One `listen:` entry: a socket the transports bind, and how the proxy names it.
struct ListenConfig {
  /// kUdp, kTcp or kTls.
  sip::TransportProtocol transport = sip::TransportProtocol::kUdp;
  net::Endpoint address;
  /// `advertise`: host (and optional port) written into Via / Record-Route; empty: the address.
  std::string advertised_host;
  std::uint16_t advertised_port = 0;
  /// `realm`: listeners with the same realm form one proxy interface (ProxyInterface).
  std::string realm;
  // TLS only.
  std::string cert_file;
  std::string key_file;
  std::string ca_file;
  bool require_client_cert = false;
};

/// One `realms:` entry: which remote networks a realm (a group of listeners) faces.
struct RealmConfig {
  std::string name;
  std::vector<net::Prefix> networks;
  /// Hide this realm's topology from realms without the flag (controller/proxy/topology.h).
  bool hide_topology = false;
};

/// One `fcp.agents:` entry: a pinhole agent and the private networks it serves.
struct FcpAgentConfig {
  std::string id;       // AgentInfo.agent_id (pinned)
  std::string address;  // gRPC target host:port
  std::vector<net::Prefix> networks;
  std::string tls_server_name;  // when the certificate names the agent differently
  std::string realm;            // agent pool realm (ReserveRequest.realm); empty = default pool
};

/// `fcp:` — how this controller reaches its pinhole agents.
struct FcpConfig {
  bool enabled = false;  // the section is present
  /// Owner prefix: shard i acts as "<owner>/shard-<i>" (the agent's identities grant "<owner>/*").
  std::string owner;
  std::uint64_t fencing_token = 1;
  std::string cert_file;
  std::string key_file;
  std::string ca_file;
  bool insecure_lab = false;
  std::vector<FcpAgentConfig> agents;
};

enum class BadSdpAction : std::uint8_t { kReject, kPass };

/// `media:` — the MediaSession policy (controller/media/media_policy.h), as configured.
struct MediaConfig {
  bool enabled = false;  // default: on when fcp is configured
  BadSdpAction on_bad_sdp = BadSdpAction::kReject;        // malformed, missing c=
  BadSdpAction on_unsupported = BadSdpAction::kReject;    // nettype, FQDN, no agent for the network
  BadSdpAction on_too_many_streams = BadSdpAction::kReject;
  BadSdpAction on_other_content = BadSdpAction::kPass;    // non-SDP bodies
  std::uint32_t max_streams = 8;
  std::chrono::milliseconds fcp_timeout{1500};
  std::chrono::milliseconds lifetime{std::chrono::hours(12)};
  std::chrono::milliseconds idle_timeout{std::chrono::seconds(120)};
  std::chrono::milliseconds orphan_grace{0};  // 0 = agent default
  std::chrono::milliseconds reservation_timeout{std::chrono::seconds(300)};
  bool latch_private_address = true;
  bool latch_source_mismatch = true;
};

/// `nat:` — far-end NAT support for remote phones.
struct NatConfig {
  /// Keep-alives to registered contacts behind a NAT (rport / source != Contact); 0 = off.
  std::chrono::milliseconds keepalive_interval{0};
  /// "crlf" (RFC 5626 §4.4.1 double-CRLF over UDP) or "options" (SIP OPTIONS ping).
  std::string keepalive_method = "crlf";
};

struct ControllerConfig {
  std::string id;
  std::string log_level = "info";
  /// As written; 0 = one per CPU. See effective_threads().
  std::uint32_t threads = 1;
  std::vector<ListenConfig> listen;
  std::vector<RealmConfig> realms;
  FcpConfig fcp;
  MediaConfig media;
  NatConfig nat;
  std::vector<std::string> domains;
  bool registrar_enabled = true;
  /// domains, allowed_sources, expiry bounds, max_contacts_per_aor.
  registrar::RegistrarConfig registrar;
  /// domains, interfaces (from `listen`, grouped by realm), static routes, outbound proxy, flags,
  /// Timer C.
  proxy::ProxyConfig proxy;
  /// T1, T2, T4, max_transactions (total across shards; the app divides it).
  sip::TransactionConfig transactions;
  /// limits.max_message_bytes (and the body limit it implies).
  sip::ParseLimits parse_limits;
  /// Totals across shards (the app divides them).
  std::size_t max_connections = 10'000;
  std::size_t max_connections_per_ip = 200;
  std::chrono::milliseconds idle_timeout{std::chrono::seconds(600)};
  /// Empty: the system resolver configuration (/etc/resolv.conf).
  std::vector<net::Endpoint> dns_servers;

  /// threads, with 0 replaced by the number of CPUs (at least 1).
  std::uint32_t effective_threads() const;
};

/// Loads and validates `path`. On failure the error message holds every problem, one per line,
/// each "path:line: key: message", in line order. TLS files must be readable.
Result<ControllerConfig> load_controller_config(const std::string& path);
/// Same, from text (tests); `name` stands in for the file name in messages.
Result<ControllerConfig> parse_controller_config(const std::string& text, const std::string& name);

/// The documentation of every key, printed by --help.
std::string controller_config_reference();

}  // namespace portcullis::controller::app
