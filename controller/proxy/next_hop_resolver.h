// NextHopResolver: the proxy's seam to RFC 3263 server location ("where do I send a request for
// this URI?"). The real implementation (controller/sip/resolver, c-ares NAPTR/SRV/A/AAAA) is
// adapted to it by the composition root; tests use a fake.
#pragma once

#include <functional>
#include <vector>

#include "controller/sip/parser/uri.h"
#include "controller/sip/transaction/transaction_types.h"

namespace portcullis::proxy {

class NextHopResolver {
 public:
  /// Ordered candidates, best first (RFC 3263 §4.3 SRV priority/weight order, then A/AAAA
  /// order). The proxy tries the next one on a transaction timeout, a transport error or a 503
  /// received before any provisional response (RFC 3263 §4.3). Empty: nothing found (the
  /// proxy treats the branch as answered 503, RFC 3261 §16.9).
  using Callback = std::function<void(std::vector<sip::Peer> hops)>;

  virtual ~NextHopResolver() = default;

  /// Starts resolving `uri` (sip or sips, RFC 3263 §4: maddr, transport parameter, numeric host,
  /// port, NAPTR/SRV/A/AAAA). `uri`'s views are valid only during this call: copy what you keep.
  /// `done` is invoked exactly once, on the proxy's executor, either inside resolve() (cache
  /// hit, numeric host) or later. The proxy tolerates late callbacks for requests that are gone.
  /// After a later callback the owner drains ProxyCore::take_sends() as after any other event.
  virtual void resolve(const sip::Uri& uri, Callback done) = 0;
};

}  // namespace portcullis::proxy
