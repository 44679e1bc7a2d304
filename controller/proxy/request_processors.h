// The default request chain (RFC 3261 §16.3-§16.5), in the order ProxyCore installs it:
//
//   ValidationProcessor    §16.3   400 (strict) · 416 scheme · 483/OPTIONS 200 · 482 loop · 420
//   RoutePreprocessor      §16.4   strict-router R-URI restore · pop our Route(s) · flow token
//   RegistrarProcessor     §10.3   REGISTER for our domain → Registrar, answered here
//   LocalRequestProcessor  §11     requests addressed to the proxy itself (OPTIONS → 200)
//   TargetProcessor        §16.5   location lookup / static route / outbound proxy / R-URI
//
// Each holds references to the core's config, identity and stats; all must outlive it.
#pragma once

#include <string_view>

#include "controller/proxy/processor.h"
#include "controller/proxy/proxy_config.h"
#include "controller/proxy/proxy_identity.h"
#include "controller/proxy/proxy_stats.h"
#include "controller/registrar/registrar.h"

namespace portcullis::proxy {

/// RFC 3261 §16.3 request validation, steps 1-5 in the RFC's order (step 6, Proxy-Authorization,
/// belongs to controller/security and is inserted after this processor).
class ValidationProcessor final : public RequestProcessor {
 public:
  ValidationProcessor(const ProxyConfig& config, const ProxyIdentity& identity, ProxyStats& stats)
      : config_(config), identity_(identity), stats_(stats) {}
  std::string_view name() const override { return "validation"; }
  ProcessorAction process(RequestContext& ctx) override;

 private:
  const ProxyConfig& config_;
  const ProxyIdentity& identity_;
  ProxyStats& stats_;
};

/// RFC 3261 §16.4 route information preprocessing (+ RFC 5658 double Record-Route: every
/// leading Route naming us is removed).
class RoutePreprocessor final : public RequestProcessor {
 public:
  RoutePreprocessor(const ProxyIdentity& identity, ProxyStats& stats) : identity_(identity), stats_(stats) {}
  std::string_view name() const override { return "route-preprocess"; }
  ProcessorAction process(RequestContext& ctx) override;

 private:
  const ProxyIdentity& identity_;
  ProxyStats& stats_;
};

/// Topology hiding (topology.h): a Request-URI carrying pc-ct (a Contact we encoded for a public
/// interface) becomes the original URI again, so the request reaches the private UA.
class TopologyProcessor final : public RequestProcessor {
 public:
  explicit TopologyProcessor(const ProxyIdentity& identity) : identity_(identity) {}
  std::string_view name() const override { return "topology"; }
  ProcessorAction process(RequestContext& ctx) override;

 private:
  const ProxyIdentity& identity_;
};

/// REGISTER whose Request-URI is one of our domains (and that is not routed further): the
/// registrar decides (RFC 3261 §10.3) and the response is sent through the server transaction.
class RegistrarProcessor final : public RequestProcessor {
 public:
  RegistrarProcessor(registrar::Registrar& registrar, const ProxyIdentity& identity, ProxyStats& stats)
      : registrar_(registrar), identity_(identity), stats_(stats) {}
  std::string_view name() const override { return "registrar"; }
  ProcessorAction process(RequestContext& ctx) override;

 private:
  registrar::Registrar& registrar_;
  const ProxyIdentity& identity_;
  ProxyStats& stats_;
};

/// A Request-URI naming the proxy itself with nothing left to route on: OPTIONS is answered 200
/// as a UAS would (§11.2); anything else 404; ACK dropped.
class LocalRequestProcessor final : public RequestProcessor {
 public:
  LocalRequestProcessor(const ProxyConfig& config, const ProxyIdentity& identity, ProxyStats& stats)
      : config_(config), identity_(identity), stats_(stats) {}
  std::string_view name() const override { return "local"; }
  ProcessorAction process(RequestContext& ctx) override;

 private:
  const ProxyConfig& config_;
  const ProxyIdentity& identity_;
  ProxyStats& stats_;
};

/// RFC 3261 §16.5 target set determination. ACK, requests still carrying a Route, requests with
/// a flow token and an maddr R-URI keep the R-URI as the only target. Our domain: the
/// registrar's bindings (q order, Path as route set, received flow as fixed peer); none →
/// ProxyConfig::no_binding_status. Other domains: the first matching static route, else the
/// outbound proxy, else the R-URI itself. A tel: URI with no static route gets 404.
class TargetProcessor final : public RequestProcessor {
 public:
  TargetProcessor(const ProxyConfig& config, const ProxyIdentity& identity, registrar::Registrar* registrar,
                  ProxyStats& stats)
      : config_(config), identity_(identity), registrar_(registrar), stats_(stats) {}
  std::string_view name() const override { return "target"; }
  ProcessorAction process(RequestContext& ctx) override;

 private:
  const ProxyConfig& config_;
  const ProxyIdentity& identity_;
  registrar::Registrar* registrar_;
  ProxyStats& stats_;
};

/// Allow / Supported / Accept lines of our OPTIONS answer (§11.2).
std::vector<ResponseHeader> options_headers(const ProxyConfig& config);

}  // namespace portcullis::proxy
