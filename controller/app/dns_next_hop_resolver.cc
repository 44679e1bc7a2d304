#include "controller/app/dns_next_hop_resolver.h"

#include <utility>

#include "common/base/text.h"
#include "common/log/log.h"

namespace portcullis::controller::app {

std::vector<sip::Peer> to_peers(const std::vector<sip::resolver::Target>& targets) {
  std::vector<sip::Peer> peers;
  peers.reserve(targets.size());
  for (const sip::resolver::Target& t : targets) {
    // TargetTransport and TransportProtocol share the values of UDP, TCP and TLS (target.h).
    sip::Peer p{static_cast<sip::TransportProtocol>(t.transport), t.endpoint};
    // RFC 5922 §4: a TLS next hop is authenticated by the domain the resolution started from,
    // never by the SRV target or the address it led to. A numeric host carries no name.
    if (p.transport == sip::TransportProtocol::kTls && !t.domain.empty() && !net::IpAddress::parse(t.domain).ok()) {
      p.server_name = t.domain;
    }
    peers.push_back(std::move(p));
  }
  return peers;
}

void DnsNextHopResolver::resolve(const sip::Uri& uri, Callback done) {
  // Flag the synchronous window so a callback run inside locate() does not trigger a drain in
  // the middle of ProxyCore::receive().
  ++resolve_depth_;
  const std::string text(uri.text);
  locator_.locate(uri, [this, done = std::move(done), text](sip::resolver::LocateResult result) {
    std::vector<sip::Peer> hops;
    if (result.ok()) {
      hops = to_peers(*result);
    } else {
      ++failures_;
      log::get("controller")->debug("no next hop for {}: {}", log_excerpt(text), result.error().to_string());
    }
    const bool async = resolve_depth_ == 0;
    done(std::move(hops));
    if (async && after_async_) {
      after_async_();
    }
  });
  --resolve_depth_;
}

}  // namespace portcullis::controller::app
