// CaresDnsResolver: DnsResolver over c-ares, driven by a Boost.Asio executor. c-ares owns its
// sockets; we watch them with posix::stream_descriptor (ARES_OPT_SOCK_STATE_CB tells us which) and
// call ares_process_fd() on readiness, plus one steady_timer armed from ares_timeout() for
// retransmissions and timeouts. Answers are parsed by dns_message.h (TTLs included).
//
// Executor affinity: create, use and destroy on the executor's thread (a single-threaded
// io_context or a strand); callbacks run there via asio::post, never inside query().
// Destruction: no callback runs after the destructor starts; the executor may still hold
// cancelled handlers, which are harmless.
//
// Server configuration is explicit: with `servers` set, /etc/resolv.conf is never consulted
// (tests point it at 127.0.0.1:<port>). Only with `servers` empty and use_system_config true does
// c-ares read the system configuration.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <vector>

#include <boost/asio/any_io_executor.hpp>

#include "common/base/result.h"
#include "common/net/ip_address.h"
#include "controller/sip/resolver/dns_resolver.h"

namespace portcullis::sip::resolver {

struct CaresConfig {
  /// DNS servers, tried in order (UDP, with TCP on truncation).
  std::vector<net::Endpoint> servers;
  /// Read /etc/resolv.conf when `servers` is empty. Off: an empty `servers` is a config error.
  bool use_system_config = false;
  /// Timeout of the first try on each server (ARES_OPT_TIMEOUTMS); c-ares doubles it every round
  /// through the server list.
  std::chrono::milliseconds attempt_timeout{500};
  /// Rounds through the server list (ARES_OPT_TRIES).
  int tries = 2;
  /// Hard deadline per query, whatever c-ares is still trying: the callback gets kTimeout.
  std::chrono::milliseconds query_timeout{2000};
  /// Queries c-ares may have outstanding; more are refused with kOverloaded.
  std::size_t max_in_flight = 256;
};

class CaresDnsResolver final : public DnsResolver {
 public:
  /// Fails (kInvalidArgument / kInternal) on a bad config or if c-ares cannot initialise.
  static Result<std::unique_ptr<CaresDnsResolver>> create(boost::asio::any_io_executor executor, CaresConfig config);
  ~CaresDnsResolver() override;
  CaresDnsResolver(const CaresDnsResolver&) = delete;
  CaresDnsResolver& operator=(const CaresDnsResolver&) = delete;

  DnsQueryId query(std::string_view name, DnsType type, DnsCallback callback) override;
  void cancel(DnsQueryId id) override;

  /// Queries c-ares still works on (cancelled and timed-out ones included until c-ares is done).
  std::size_t in_flight() const noexcept;
  /// Queries whose callback has not run yet (and was not cancelled).
  std::size_t pending_callbacks() const noexcept;

 private:
  struct Impl;
  explicit CaresDnsResolver(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace portcullis::sip::resolver
