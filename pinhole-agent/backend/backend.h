// The data-plane seam of the pinhole agent. PinholeManager (core/) computes what the kernel must
// hold; a PinholeBackend makes it so, one atomic ChangeSet at a time.
//
// Implementations:
//   NftBackend        backend/nft/        libnftnl + libmnl, one owned `table inet <name>`
//   ConntrackCleaner  backend/conntrack/  libnetfilter_conntrack flush by mark
//   FakeBackend       backend/fake/       in-memory, transactional; for unit tests
//
// Threading: not thread-safe. The agent calls a backend from its single mutation executor.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "common/base/result.h"
#include "common/net/ip_address.h"

namespace portcullis::agent {

enum class L4Protocol : std::uint8_t { kUdp = 17, kTcp = 6 };

/// A NAT binding as the kernel sees it: inbound DNAT public→private, outbound SNAT private→public
/// (endpoint-independent mapping, RFC 4787 REQ-1) and the ct mark that tags its flows.
/// One PortMapping per port: an RTP+RTCP binding is two PortMappings.
struct PortMapping {
  L4Protocol protocol = L4Protocol::kUdp;
  net::Endpoint public_endpoint;
  net::Endpoint private_endpoint;
  /// Copied into ct mark on the first packet of each flow, so release can flush by mark.
  std::uint32_t mark = 0;
  /// Kernel-side lease: the element disappears by itself after this long (never 0 = forever).
  std::chrono::milliseconds timeout{0};
  /// Recovery metadata stored with the element (<= 128 bytes), parsed back on agent restart.
  std::string userdata;
  friend bool operator==(const PortMapping&, const PortMapping&) = default;
};

/// An exact hole: packets between `remote` and `private_endpoint` pass, both directions.
struct Pinhole {
  L4Protocol protocol = L4Protocol::kUdp;
  net::Endpoint remote;
  net::Endpoint private_endpoint;
  std::chrono::milliseconds timeout{0};
  std::string userdata;
  friend bool operator==(const Pinhole&, const Pinhole&) = default;
};

/// A one-shot latch (RFC 7362 style, restricted to the signalled remote IP): the first packet from
/// `remote_address` to `private_endpoint` creates a Pinhole for its source port, and the latch is
/// consumed, in the kernel's packet path.
struct Latch {
  L4Protocol protocol = L4Protocol::kUdp;
  net::IpAddress remote_address;
  net::Endpoint private_endpoint;
  std::chrono::milliseconds timeout{0};
  /// Timeout given to the pinhole the kernel creates when the latch fires.
  std::chrono::milliseconds latched_timeout{0};
  friend bool operator==(const Latch&, const Latch&) = default;
};

enum class ChangeOp : std::uint8_t {
  /// Create; fails with kAlreadyExists if the key is present (catches allocator bugs).
  kCreate,
  /// Create or update the timeout/userdata of an existing element (lease re-arm).
  kUpsert,
  /// Delete; an absent key is not an error (idempotent release).
  kDelete,
};

struct Change {
  ChangeOp op = ChangeOp::kCreate;
  std::variant<PortMapping, Pinhole, Latch> object;
};

/// Applied all-or-nothing (one nf_tables transaction).
struct ChangeSet {
  std::vector<Change> changes;
  bool empty() const noexcept { return changes.empty(); }
};

/// What the backend holds; element timeouts are the remaining time at snapshot.
struct BackendState {
  std::vector<PortMapping> mappings;
  std::vector<Pinhole> pinholes;
  std::vector<Latch> latches;
};

struct BootstrapResult {
  /// True when the owned table already existed (agent restart): its elements are still live.
  bool adopted_existing = false;
  /// The state epoch stored with the table: the existing one when adopted, else `new_epoch`.
  std::string state_epoch;
};

struct BackendCapabilities {
  bool in_place_timeout_update = false;  // re-add updates the timeout (Linux >= 6.10)
  bool table_persist_flag = false;       // NFT_TABLE_F_PERSIST
  bool ipv6 = true;
};

class PinholeBackend {
 public:
  virtual ~PinholeBackend() = default;

  /// Creates the owned table with its static chains and sets if missing, or adopts it if present
  /// (keeping every element). `new_epoch` is recorded when the table is created.
  virtual Result<BootstrapResult> bootstrap(const std::string& new_epoch) = 0;

  /// Applies every change or none. The error message names the failing change.
  virtual Status apply(const ChangeSet& changes) = 0;

  /// Reads the owned state back (agent restart and tests only; slow for large tables).
  virtual Result<BackendState> snapshot() const = 0;

  virtual BackendCapabilities capabilities() const = 0;
};

/// Removes conntrack entries so a closed hole really closes (moby#44742, kubernetes#31983).
class ConntrackCleaner {
 public:
  virtual ~ConntrackCleaner() = default;
  /// Deletes every conntrack entry whose mark equals `mark` (under `mask`). Returns how many.
  virtual Result<std::size_t> flush_mark(std::uint32_t mark, std::uint32_t mask = 0xffffffff) = 0;
  /// flush_mark for each of `marks` (exact marks); returns how many of them failed. Overridden
  /// where one pass over the table can serve every mark (a ctnetlink dump walks the whole global
  /// conntrack hash whatever the filter, ~14 ms with 262 144 buckets).
  virtual std::size_t flush_marks(const std::vector<std::uint32_t>& marks) {
    std::size_t failures = 0;
    for (const std::uint32_t mark : marks) {
      if (!flush_mark(mark).ok()) {
        ++failures;
      }
    }
    return failures;
  }
};

}  // namespace portcullis::agent
