// ConntrackEventListener: the kernel's view of the agent's flows, from ctnetlink multicast
// events (NFNLGRP_CONNTRACK_NEW + NFNLGRP_CONNTRACK_DESTROY) through libnetfilter_conntrack.
//
// What it is for: the ruleset copies the binding id into the ct mark of every flow of a binding
// (chain mark_pre), so NEW / DESTROY events with a non-zero mark tell the agent when a binding's
// flows start and end (idle detection: conntrack expires a UDP flow after
// nf_conntrack_udp_timeout[_stream] without packets) and which remote port a one-shot latch
// learned (the latching packet creates the first inbound flow; its NEW event carries the remote
// source port and the binding's mark).
//
// Sans thread: the owner polls fd() for readability (the agent's watcher thread) and calls
// drain() on the thread that owns the manager. The socket is non-blocking; its receive buffer is
// bounded (`receive_buffer_bytes`). When the kernel could not queue an event (ENOBUFS: events
// were lost) drain() reports an overrun and the owner resyncs from dump_flows().
//
// Filtering: a BSF program attached to the socket (nfct_filter_attach) drops, in the kernel,
// events of other L4 protocols and with ct mark 0 (flows that are not the agent's); events are
// also checked in user space (the BSF filter is best effort: older kernels may refuse it).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "pinhole-agent/backend/backend.h"

struct nfct_handle;

namespace portcullis::agent {

struct ConntrackEventOptions {
  /// SO_RCVBUF(FORCE) of the event socket: a burst larger than this is lost (ENOBUFS) and
  /// recovered by a resync dump. ~200 bytes per event: 4 MiB holds ~20 000 events.
  std::size_t receive_buffer_bytes = 4u << 20;
  /// Attach the kernel-side BSF filter (mark != 0, UDP).
  bool kernel_filter = true;
  /// Resync dumps stop after this many of the agent's flows (bounded memory).
  std::size_t max_dump_flows = 4'000'000;
};

struct DrainResult {
  /// Events appended to the output.
  std::size_t events = 0;
  /// The kernel dropped events (ENOBUFS) since the last drain: resync with dump_flows().
  bool overrun = false;
  /// More events may be queued (the batch limit was reached).
  bool more = false;
};

struct ConntrackEventStats {
  std::uint64_t events = 0;          // delivered to the caller
  std::uint64_t ignored = 0;         // mark 0 / not UDP / unparseable (user-space filter)
  std::uint64_t overruns = 0;        // ENOBUFS: events lost, resync needed
  std::uint64_t dumps = 0;           // resync dumps
  bool kernel_filter_attached = false;
};

class ConntrackEventListener {
 public:
  /// Subscribes to NEW and DESTROY events of the current network namespace (CAP_NET_ADMIN).
  static Result<std::unique_ptr<ConntrackEventListener>> create(const ConntrackEventOptions& options = {});
  ~ConntrackEventListener();
  ConntrackEventListener(const ConntrackEventListener&) = delete;
  ConntrackEventListener& operator=(const ConntrackEventListener&) = delete;

  /// The non-blocking netlink socket to poll for POLLIN.
  int fd() const noexcept;
  /// Reads queued events without blocking, at most `max_events`, appending them to `out`.
  DrainResult drain(std::vector<FlowEvent>& out, std::size_t max_events = 4096);
  /// Every live flow with a non-zero mark, as kNew events (one dump of the namespace's table on
  /// a separate handle). Used after an overrun.
  Result<std::vector<FlowEvent>> dump_flows();
  const ConntrackEventStats& stats() const noexcept { return stats_; }

 private:
  struct HandleCloser {
    void operator()(nfct_handle* h) const noexcept;
  };
  using Handle = std::unique_ptr<nfct_handle, HandleCloser>;
  ConntrackEventListener(Handle events, Handle dump, ConntrackEventOptions options);

  Handle events_;
  Handle dump_;
  ConntrackEventOptions options_;
  ConntrackEventStats stats_;
};

}  // namespace portcullis::agent
