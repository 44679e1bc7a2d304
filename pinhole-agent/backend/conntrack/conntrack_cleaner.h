// NetfilterConntrackCleaner: removes the conntrack entries of a released binding (by ct mark) via
// libnetfilter_conntrack, so a closed hole really closes for established flows.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "pinhole-agent/backend/backend.h"

struct nfct_handle;

namespace portcullis::agent {

class NetfilterConntrackCleaner final : public ConntrackCleaner {
 public:
  /// Opens one long-lived ctnetlink handle (needs CAP_NET_ADMIN to delete).
  static Result<std::unique_ptr<NetfilterConntrackCleaner>> create();
  ~NetfilterConntrackCleaner() override;

  NetfilterConntrackCleaner(const NetfilterConntrackCleaner&) = delete;
  NetfilterConntrackCleaner& operator=(const NetfilterConntrackCleaner&) = delete;

  /// Dumps the entries whose (mark & mask) == mark (filtered in the kernel), then deletes each by
  /// its original tuple. Entries that vanish in between (ENOENT) are not errors and not counted.
  Result<std::size_t> flush_mark(std::uint32_t mark, std::uint32_t mask = 0xffffffff) override;
  /// Two or more marks: one unfiltered dump of the namespace's table, entries picked by mark in
  /// user space, then deleted by tuple. One walk instead of one per mark.
  std::size_t flush_marks(const std::vector<std::uint32_t>& marks) override;
  /// NFCT_Q_DESTROY with each tuple as the original tuple (the kernel's lookup also matches the
  /// reply direction). IPv4 only (kUnimplemented otherwise, before anything is deleted).
  Result<std::size_t> delete_flows(const std::vector<FlowTuple>& tuples) override;

 private:
  struct HandleCloser {
    void operator()(nfct_handle* h) const noexcept;
  };
  explicit NetfilterConntrackCleaner(std::unique_ptr<nfct_handle, HandleCloser> h)
      : handle_(std::move(h)) {}

  std::unique_ptr<nfct_handle, HandleCloser> handle_;
};

}  // namespace portcullis::agent
