// NftBackend: the PinholeBackend that programs nf_tables through libnftnl + libmnl (no `nft`
// process). One owned `table inet <name>` holds static chains; every binding, pinhole and latch is a
// set/map element with a kernel timeout. See pinhole-agent/backend/README.md for the ruleset.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "pinhole-agent/backend/backend.h"

namespace portcullis::agent {

struct NftBackendConfig {
  std::string table_name = "portcullis";
  /// Interfaces facing the public network: DNAT applies to packets arriving here, SNAT and
  /// masquerade to packets leaving here.
  std::vector<std::string> wan_interfaces;
  /// Interfaces facing the private network (non-UDP LAN→WAN traffic is allowed through).
  std::vector<std::string> lan_interfaces;
  /// Port range for masquerade of everything that is not a binding. Keep it disjoint from the
  /// binding pool, or conntrack may hand a pool port to an unrelated flow.
  std::uint16_t masquerade_port_min = 1024;
  std::uint16_t masquerade_port_max = 39999;
  std::uint32_t binding_set_size = 1048576;
  std::uint32_t pinhole_set_size = 1048576;
  std::uint32_t latch_set_size = 65536;
  /// Timeout of a pinhole the kernel creates when a latch fires. It is a constant of the latch
  /// rule (dynset), so it cannot vary per latch; the core rewrites the learned pinhole with its
  /// real lease after the NFLOG event.
  std::chrono::milliseconds latched_pinhole_timeout{60000};
  std::uint16_t nflog_group = 7;
  std::string nflog_prefix = "portcullis-latch ";
  /// Also create pin6/latch6 and their forward rules (IPv6 pinholes; no IPv6 NAT).
  bool ipv6 = true;
  /// Create the table with NFT_TABLE_F_OWNER|NFT_TABLE_F_PERSIST when the kernel supports
  /// PERSIST: only this agent's socket may change it, and a restarted agent adopts it.
  bool claim_ownership = true;
  /// kUpsert re-adds the element so the kernel re-arms its timeout in place (one message; needs
  /// Linux >= 6.10) instead of replacing it (remove + add). In-place keeps the existing element's
  /// userdata and data, so only enable it when upserts never change userdata.
  bool upsert_in_place = false;
  /// Socket buffer size (SO_SNDBUFFORCE/SO_RCVBUFFORCE, falling back to the unforced options).
  int socket_buffer_bytes = 8 * 1024 * 1024;
  /// Capability overrides (tests exercise the fallback paths on a new kernel with these).
  std::optional<bool> force_in_place_timeout_update;
  std::optional<bool> force_destroy_setelem;
};

class NftBackend final : public PinholeBackend {
 public:
  /// Opens the netlink socket and probes capabilities. Fails if nf_tables is unreachable.
  static Result<std::unique_ptr<NftBackend>> create(NftBackendConfig config);
  ~NftBackend() override;

  NftBackend(const NftBackend&) = delete;
  NftBackend& operator=(const NftBackend&) = delete;

  Result<BootstrapResult> bootstrap(const std::string& new_epoch) override;
  Status apply(const ChangeSet& changes) override;
  Result<BackendState> snapshot() const override;
  BackendCapabilities capabilities() const override;

  /// True when deletes use NFT_MSG_DESTROYSETELEM (Linux >= 6.3): absent keys are not an error.
  bool uses_destroy_setelem() const noexcept;

 private:
  struct Impl;
  explicit NftBackend(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace portcullis::agent
