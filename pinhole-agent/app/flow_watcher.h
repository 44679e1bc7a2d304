// FlowWatcher: feeds conntrack flow events of the agent's bindings to the PinholeManager.
//
// The ctnetlink event socket (ConntrackEventListener, non-blocking) is read on the mutation
// executor, the only thread that touches the manager; this class's thread only waits for the
// socket to become readable (poll) and then posts one drain task, waiting for it before polling
// again, so at most one drain is queued and no event is read off the executor. (The agent has no
// Asio io_context: its executor is a queue + condition variable, so a poll thread stands in for
// a posix::stream_descriptor::async_wait.)
//
// Each drain reads at most kMaxEventsPerDrain events (RPCs interleave with a burst), reports them
// (manager.report_flow), and after an overrun (ENOBUFS: the bounded socket buffer overflowed and
// events were lost) dumps the conntrack table and resyncs (manager.resync_flows), counted.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <thread>
#include <vector>

#include "pinhole-agent/backend/conntrack/conntrack_events.h"
#include "pinhole-agent/core/pinhole_manager.h"
#include "pinhole-agent/service/fcp_service.h"

namespace portcullis::agent::app {

class FlowWatcher {
 public:
  static constexpr std::size_t kMaxEventsPerDrain = 1024;

  /// All three must outlive the watcher.
  FlowWatcher(ConntrackEventListener& listener, PinholeManager& manager, service::FcpService& service);
  ~FlowWatcher();
  FlowWatcher(const FlowWatcher&) = delete;
  FlowWatcher& operator=(const FlowWatcher&) = delete;

  /// Starts the poll thread. False if the wake-up eventfd cannot be created.
  bool start();
  /// Stops and joins the poll thread (call before the executor stops).
  void stop();

  std::uint64_t resyncs() const noexcept { return resyncs_.load(); }
  std::uint64_t resync_failures() const noexcept { return resync_failures_.load(); }

 private:
  void loop();
  /// Executor thread.
  void drain();

  ConntrackEventListener& listener_;
  PinholeManager& manager_;
  service::FcpService& service_;
  int stop_fd_ = -1;
  std::thread thread_;
  std::vector<FlowEvent> batch_;  // executor-only; reused across drains
  std::atomic<std::uint64_t> resyncs_{0};
  std::atomic<std::uint64_t> resync_failures_{0};
};

}  // namespace portcullis::agent::app
