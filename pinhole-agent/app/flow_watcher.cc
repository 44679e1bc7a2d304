#include "pinhole-agent/app/flow_watcher.h"

#include <cerrno>
#include <cstring>
#include <future>
#include <memory>

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "common/log/log.h"

namespace portcullis::agent::app {

FlowWatcher::FlowWatcher(ConntrackEventListener& listener, PinholeManager& manager,
                         service::FcpService& service)
    : listener_(listener), manager_(manager), service_(service) {
  batch_.reserve(kMaxEventsPerDrain);
}

FlowWatcher::~FlowWatcher() {
  stop();
  if (stop_fd_ >= 0) {
    close(stop_fd_);
  }
}

bool FlowWatcher::start() {
  stop_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (stop_fd_ < 0) {
    return false;
  }
  thread_ = std::thread([this] { loop(); });
  return true;
}

void FlowWatcher::stop() {
  if (!thread_.joinable()) {
    return;
  }
  const std::uint64_t one = 1;
  (void)!write(stop_fd_, &one, sizeof one);
  thread_.join();
}

void FlowWatcher::loop() {
  auto log = log::get("conntrack");
  for (;;) {
    pollfd fds[2] = {{listener_.fd(), POLLIN, 0}, {stop_fd_, POLLIN, 0}};
    const int n = poll(fds, 2, -1);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      log->error("poll on the conntrack event socket: {}; idle detection and latch learning stop",
                 std::strerror(errno));
      return;
    }
    if (fds[1].revents != 0) {
      return;
    }
    if (fds[0].revents == 0) {
      continue;
    }
    // POLLIN, or POLLERR (ENOBUFS pending): either way the drain on the executor handles it.
    auto done = std::make_shared<std::promise<void>>();
    auto finished = done->get_future();
    if (!service_.post_to_executor([this, done] {
          drain();
          done->set_value();
        })) {
      // Executor queue full (or stopping): the events wait in the bounded socket buffer.
      pollfd stop{stop_fd_, POLLIN, 0};
      if (poll(&stop, 1, 10) > 0) {
        return;
      }
      continue;
    }
    finished.wait();
  }
}

void FlowWatcher::drain() {
  batch_.clear();
  const DrainResult r = listener_.drain(batch_, kMaxEventsPerDrain);
  for (const FlowEvent& e : batch_) {
    manager_.report_flow(e);
  }
  if (!r.overrun) {
    return;
  }
  // Events were lost: the table itself is the truth (one dump of the namespace's conntrack).
  auto live = listener_.dump_flows();
  if (!live.ok()) {
    ++resync_failures_;
    log::get("conntrack")->warn("conntrack events lost and the resync dump failed: {}", live.error().to_string());
    return;
  }
  manager_.resync_flows(*live);
  ++resyncs_;
  log::get("conntrack")->warn("conntrack events lost (socket buffer full, {} overruns so far): resynced from a "
                              "dump of {} flows",
                              listener_.stats().overruns, live->size());
}

}  // namespace portcullis::agent::app
