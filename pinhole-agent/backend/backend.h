// The data-plane seam of the pinhole agent. PinholeManager (core/) computes what the kernel must
// hold; a PinholeBackend makes it so, one atomic ChangeSet at a time.
//
// Implementations:
//   NftBackend        backend/nft/        libnftnl + libmnl, one owned `table inet <name>`
//   ConntrackCleaner  backend/conntrack/  libnetfilter_conntrack flush by mark
//   AsyncConntrackCleaner backend/conntrack/  runs another cleaner's walks on its own thread,
//                     coalescing every mark scheduled within max_delay into one walk
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

/// One conntrack flow, named by either of its tuples (the kernel's lookup finds both directions).
struct FlowTuple {
  L4Protocol protocol = L4Protocol::kUdp;
  net::Endpoint source;
  net::Endpoint destination;
  friend bool operator==(const FlowTuple&, const FlowTuple&) = default;
};

/// A conntrack flow of one of the agent's bindings starting or ending, as ctnetlink reports it
/// (NFNLGRP_CONNTRACK_NEW / _DESTROY, or one entry of a resync dump as kNew). `mark` is the ct
/// mark the ruleset copied from bind_mark4 (= the binding id); 0 never reaches the manager.
struct FlowEvent {
  enum class Kind : std::uint8_t { kNew, kDestroy };
  Kind kind = Kind::kNew;
  std::uint32_t mark = 0;
  L4Protocol protocol = L4Protocol::kUdp;
  /// The first packet's tuple (before NAT): remote -> public for an inbound flow, private ->
  /// remote for an outbound one.
  net::Endpoint original_source;
  net::Endpoint original_destination;
  /// The reply direction's source (after DNAT: the private endpoint of an inbound flow).
  net::Endpoint reply_source;
  friend bool operator==(const FlowEvent&, const FlowEvent&) = default;
};

/// Removes conntrack entries so a closed hole really closes (moby#44742, kubernetes#31983).
class ConntrackCleaner {
 public:
  virtual ~ConntrackCleaner() = default;
  /// Deletes the flow of each tuple (one lookup each, no table walk); absent flows are not
  /// errors. Returns how many existed. Synchronous. Default: kUnimplemented (callers then flush
  /// by mark).
  virtual Result<std::size_t> delete_flows(const std::vector<FlowTuple>& /*tuples*/) {
    return unexpected(Error(ErrorCode::kUnimplemented, "conntrack delete by tuple not supported"));
  }
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

  // ---- deferred flush (the reply path never waits for a conntrack walk) ----
  //
  // Security does not depend on the flush (the forward chain checks the pinhole set per packet
  // before any ct-established accept); it is hygiene, and it keeps a stale entry from bypassing
  // a NEW binding's DNAT when a public port is reused (moby#44742). So the manager schedules the
  // released marks, replies, and keeps the released public ports out of allocation until the
  // ticket of their flush has completed.

  /// Schedules a flush of `marks` and returns its ticket; tickets complete in order. Default:
  /// flushes now (flush_marks), so the ticket is already complete on return.
  virtual std::uint64_t schedule_flush(const std::vector<std::uint32_t>& marks) {
    sync_failures_ += flush_marks(marks);
    return ++sync_ticket_;
  }
  /// Every ticket <= this one has been flushed. Thread-safe in asynchronous implementations.
  virtual std::uint64_t completed_ticket() const { return sync_ticket_; }
  /// Blocks until `ticket` is complete, starting a pending walk at once (flush-before-reuse).
  virtual void await_ticket(std::uint64_t /*ticket*/) {}
  /// Marks whose scheduled flush failed, since construction.
  virtual std::uint64_t flush_failures() const { return sync_failures_; }

 private:
  std::uint64_t sync_ticket_ = 0;
  std::uint64_t sync_failures_ = 0;
};

}  // namespace portcullis::agent
