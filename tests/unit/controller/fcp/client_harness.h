// Test plumbing for the FCP client: an io_context driven with bounded waits (never sleeps for
// logic), a subscriber that records everything, and a helper that turns a callback call into a
// value.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>

#include "controller/fcp/fcp_client.h"

namespace portcullis::testing {

struct Loop {
  boost::asio::io_context io;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard = boost::asio::make_work_guard(io);

  /// Runs handlers until `pred` holds or `cap` passes (then false).
  bool run_until(const std::function<bool()>& pred, std::chrono::milliseconds cap = std::chrono::seconds(10)) {
    const auto end = std::chrono::steady_clock::now() + cap;
    while (!pred()) {
      if (std::chrono::steady_clock::now() > end) {
        return false;
      }
      io.run_one_for(std::chrono::milliseconds(10));
    }
    return true;
  }
  /// Runs whatever is ready now (no waiting).
  void drain() {
    while (io.poll_one() > 0) {
    }
  }
};

/// Calls `start(callback)` and runs the loop until the callback ran (bounded).
template <class T, class Start>
fcp::FcpResult<T> await(Loop& loop, Start start, std::chrono::milliseconds cap = std::chrono::seconds(15)) {
  std::optional<fcp::FcpResult<T>> out;
  start([&](fcp::FcpResult<T> r) { out.emplace(std::move(r)); });
  REQUIRE(loop.run_until([&] { return out.has_value(); }, cap));
  return std::move(*out);
}

struct Recorder final : fcp::FcpSubscriber {
  std::vector<fcp::FcpEvent> events;
  std::vector<fcp::StateLost> losses;
  std::vector<fcp::ReconcileNeeded> reconciles;
  std::vector<fcp::SessionStatus> sessions;

  void on_event(const fcp::FcpEvent& e) override { events.push_back(e); }
  void on_state_lost(const fcp::StateLost& l) override { losses.push_back(l); }
  void on_reconcile_needed(const fcp::ReconcileNeeded& r) override { reconciles.push_back(r); }
  void on_session(const fcp::SessionStatus& s) override { sessions.push_back(s); }

  bool has_reconcile(fcp::ReconcileReason reason) const {
    for (const auto& r : reconciles) {
      if (r.reason == reason) {
        return true;
      }
    }
    return false;
  }
};

}  // namespace portcullis::testing
