// DnsNextHopResolver: the proxy's NextHopResolver seam (controller/proxy/next_hop_resolver.h)
// over RFC 3263 server location (controller/sip/resolver: Rfc3263Locator on a DnsResolver).
// Targets become Peers in the same order (connection 0: the transport reuses or opens one); any
// locate error (not found, DNS failure, unsupported transport) becomes the empty list, which the
// proxy answers as 503 (RFC 3261 §16.9).
//
// Executor affinity: one shard's executor, like the locator and the ProxyCore it serves.
// `after_async` runs after every callback delivered later than resolve() returned, so the shard
// drains ProxyCore::take_sends() (next_hop_resolver.h contract); synchronous answers (numeric
// hosts, cache hits) need no extra drain because the shard drains after receive() anyway.
#pragma once

#include <functional>

#include "controller/proxy/next_hop_resolver.h"
#include "controller/sip/resolver/rfc3263_locator.h"

namespace portcullis::controller::app {

class DnsNextHopResolver final : public proxy::NextHopResolver {
 public:
  DnsNextHopResolver(sip::resolver::Rfc3263Locator& locator, std::function<void()> after_async)
      : locator_(locator), after_async_(std::move(after_async)) {}

  void resolve(const sip::Uri& uri, Callback done) override;

  std::uint64_t failures() const noexcept { return failures_; }

 private:
  sip::resolver::Rfc3263Locator& locator_;
  std::function<void()> after_async_;
  int resolve_depth_ = 0;  // > 0 while inside resolve()
  std::uint64_t failures_ = 0;
};

/// RFC 3263 targets → proxy peers, order kept (exposed for tests).
std::vector<sip::Peer> to_peers(const std::vector<sip::resolver::Target>& targets);

}  // namespace portcullis::controller::app
