#include "controller/proxy/request_processors.h"

#include <algorithm>

#include "common/base/text.h"
#include "controller/proxy/loop_detection.h"
#include "controller/registrar/response_builder.h"
#include "controller/sip/parser/name_addr.h"

namespace portcullis::proxy {
namespace {

std::string join(const std::vector<std::string_view>& items) {
  std::string out;
  for (const std::string_view s : items) {
    if (!out.empty()) {
      out += ", ";
    }
    out += s;
  }
  return out;
}

}  // namespace

std::vector<ResponseHeader> options_headers(const ProxyConfig& config) {
  std::vector<ResponseHeader> out;
  out.push_back({"Allow", "INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, PRACK, UPDATE, INFO, "
                          "SUBSCRIBE, NOTIFY, REFER, MESSAGE"});
  out.push_back({"Accept", "application/sdp"});
  std::string supported = "path";
  for (const std::string& tag : config.supported_options) {
    if (!iequals(tag, "path")) {
      supported += ", " + tag;
    }
  }
  out.push_back({"Supported", supported});
  return out;
}

// ---- §16.3 ----

ProcessorAction ValidationProcessor::process(RequestContext& ctx) {
  const sip::SipMessage& req = ctx.request();
  ctx.loop_hash = loop_hash(req);

  // Step 1: reasonable syntax. parse() already validated the transaction-critical set; strict
  // mode also parses everything else now.
  if (config_.strict) {
    if (auto v = req.validate_all(); !v) {
      ++stats_.rejected_malformed;
      ctx.respond(400, v.error().reason);
      return ProcessorAction::kStop;
    }
  }
  // Step 2: URI scheme. We route sip, sips and tel (§16.3: "If the Request-URI has a URI whose
  // scheme is not understood by the proxy, the proxy SHOULD reject the request with 416").
  if (req.request_uri().scheme == sip::UriScheme::kOther) {
    ++stats_.rejected_scheme;
    ctx.respond(416);
    return ProcessorAction::kStop;
  }
  // Step 3: Max-Forwards.
  if (const auto mf = req.max_forwards(); mf && *mf == 0) {
    if (req.method() == sip::Method::kOptions && config_.answer_options_at_zero_max_forwards) {
      // "If the request is OPTIONS, the proxy MAY act as the final recipient and respond".
      ++stats_.options_answered;
      ctx.respond(200, {}, options_headers(config_));
      return ProcessorAction::kStop;
    }
    ++stats_.rejected_max_forwards;
    ctx.respond(483);
    return ProcessorAction::kStop;
  }
  // Step 4: loop detection (RFC 5393 §4.2 makes it a MUST for forking proxies).
  if (is_looped(req, identity_, ctx.loop_hash)) {
    ++stats_.rejected_loop;
    ctx.respond(482);
    return ProcessorAction::kStop;
  }
  // Step 5: Proxy-Require.
  const auto& proxy_require = req.proxy_require();
  if (!proxy_require) {
    ++stats_.rejected_malformed;
    ctx.respond(400, proxy_require.error().reason);
    return ProcessorAction::kStop;
  }
  std::vector<std::string_view> unsupported;
  for (const std::string_view tag : *proxy_require) {
    const bool known = std::any_of(config_.supported_options.begin(), config_.supported_options.end(),
                                   [&](const std::string& s) { return iequals(s, tag); });
    if (!known) {
      unsupported.push_back(tag);
    }
  }
  if (!unsupported.empty()) {
    ++stats_.rejected_extension;
    ctx.respond(420, {}, {{"Unsupported", join(unsupported)}});
    return ProcessorAction::kStop;
  }
  return ProcessorAction::kContinue;
}

// ---- §16.4 ----

ProcessorAction RoutePreprocessor::process(RequestContext& ctx) {
  const sip::SipMessage& req = ctx.request();
  const auto& parsed = req.route();
  if (!parsed) {
    ++stats_.rejected_malformed;
    ctx.respond(400, parsed.error().reason);
    return ProcessorAction::kStop;
  }
  // The elements as written, to copy unchanged into the forwarded request.
  std::vector<std::string> texts;
  for (const sip::HeaderField& f : req.headers()) {
    if (f.id != sip::HeaderId::kRoute) {
      continue;
    }
    auto parts = sip::split_comma_list(f.value);
    if (!parts) {
      ++stats_.rejected_malformed;
      ctx.respond(400, parts.error().reason);
      return ProcessorAction::kStop;
    }
    for (const std::string_view p : *parts) {
      texts.emplace_back(p);
    }
  }
  if (texts.size() != parsed->size()) {
    ++stats_.rejected_malformed;
    ctx.respond(400, "malformed Route header");
    return ProcessorAction::kStop;
  }
  std::size_t first = 0;
  std::size_t last = texts.size();

  // "If the Request-URI contains a value this proxy previously placed into a Record-Route header
  // field, the proxy MUST replace the Request-URI in the request with the last value from the
  // Route header field, and remove that value from the Route header field" (the previous hop was
  // a strict router, RFC 2543).
  const sip::Uri& ruri = req.request_uri();
  if (last > 0 && identity_.is_own_uri(ruri) && ruri.has_lr()) {
    ctx.request_uri = std::string((*parsed)[last - 1].uri.text);
    ctx.flow = identity_.flow_of(ruri);
    --last;
    ctx.routes_changed = true;
  }
  // "If the first value in the Route header field indicates this proxy, the proxy MUST remove
  // that value". We keep removing while the next one is ours too: RFC 5658 double Record-Route
  // put two of ours in a row. The flow of the last one removed faces the next hop.
  while (first < last && identity_.is_own_uri((*parsed)[first].uri)) {
    ctx.flow = identity_.flow_of((*parsed)[first].uri);
    ++first;
    ctx.routes_changed = true;
  }
  ctx.routes.assign(texts.begin() + static_cast<std::ptrdiff_t>(first),
                    texts.begin() + static_cast<std::ptrdiff_t>(last));
  return ProcessorAction::kContinue;
}

// ---- topology hiding ----

ProcessorAction TopologyProcessor::process(RequestContext& ctx) {
  auto ruri = sip::parse_uri(ctx.request_uri);
  if (!ruri || !identity_.is_own_uri(*ruri)) {
    return ProcessorAction::kContinue;
  }
  const auto token = ruri->params.get(kContactParam);
  if (!token || token->empty()) {
    return ProcessorAction::kContinue;
  }
  if (auto original = identity_.codec().decode(*token)) {
    ctx.request_uri = std::move(*original);
  }
  return ProcessorAction::kContinue;
}

// ---- REGISTER ----

ProcessorAction RegistrarProcessor::process(RequestContext& ctx) {
  if (ctx.method() != sip::Method::kRegister || !ctx.routes.empty()) {
    return ProcessorAction::kContinue;
  }
  auto ruri = sip::parse_uri(ctx.request_uri);
  if (!ruri || !identity_.is_our_domain(*ruri)) {
    return ProcessorAction::kContinue;  // someone else's registrar: relay it (§16.5)
  }
  registrar::TransportContext tc;
  tc.source = ctx.from().endpoint;
  tc.transport = ctx.from().transport;
  tc.connection_id = ctx.from().connection;
  if (ctx.inbound != nullptr) {
    if (const Listener* l = identity_.listener_for(*ctx.inbound, ctx.from().transport)) {
      tc.local = l->address;
    }
  }
  const registrar::RegisterDecision d = registrar_.handle_register(ctx.request(), tc);
  ++stats_.registers_handled;
  ctx.respond_with(registrar::build_response(ctx.request(), d));
  return ProcessorAction::kStop;
}

// ---- requests for us ----

ProcessorAction LocalRequestProcessor::process(RequestContext& ctx) {
  if (!ctx.routes.empty() || ctx.flow) {
    return ProcessorAction::kContinue;
  }
  auto ruri = sip::parse_uri(ctx.request_uri);
  if (!ruri || !identity_.is_own_uri(*ruri) || identity_.is_our_domain(*ruri)) {
    return ProcessorAction::kContinue;
  }
  if (ctx.method() == sip::Method::kOptions) {
    ++stats_.options_answered;
    ctx.respond(200, {}, options_headers(config_));
  } else {
    ++stats_.not_found;
    ctx.respond(404);
  }
  return ProcessorAction::kStop;
}

// ---- §16.5 ----

ProcessorAction TargetProcessor::process(RequestContext& ctx) {
  if (!ctx.targets.empty()) {
    return ProcessorAction::kSkipChain;  // an earlier processor decided
  }
  ProxyTarget as_is;
  as_is.uri = ctx.request_uri;
  auto ruri_r = sip::parse_uri(ctx.request_uri);
  if (!ruri_r) {
    ++stats_.rejected_malformed;
    ctx.respond(400, ruri_r.error().reason);
    return ProcessorAction::kStop;
  }
  const sip::Uri& ruri = *ruri_r;
  // Already routed: an ACK (never forked), a request still carrying a Route or a flow token
  // (in-dialog, or pre-loaded by the UAC), or an maddr R-URI ("MUST be placed into the target
  // set as the only target URI").
  if (ctx.method() == sip::Method::kAck || !ctx.routes.empty() || ctx.flow || !ruri.maddr().empty()) {
    ctx.targets.push_back(std::move(as_is));
    return ProcessorAction::kContinue;
  }
  if (identity_.is_our_domain(ruri) && ctx.method() != sip::Method::kRegister && registrar_ != nullptr) {
    for (const registrar::Target& t : registrar_->lookup(ruri)) {
      ProxyTarget pt;
      pt.uri = t.contact;
      pt.route_set = t.path;
      if (t.received.port() != 0) {
        pt.fixed_peer = sip::Peer{t.transport, t.received, t.connection_id};
      }
      pt.q = t.q;
      ctx.targets.push_back(std::move(pt));
    }
    if (ctx.targets.empty()) {
      ++stats_.not_found;
      ctx.respond(config_.no_binding_status);
      return ProcessorAction::kStop;
    }
    return ProcessorAction::kContinue;
  }
  if (!identity_.is_our_domain(ruri)) {
    for (const StaticRoute& r : config_.static_routes) {
      const bool match = r.domain == "*" ? true : (ruri.is_sip_or_sips() && iequals(r.domain, ruri.host));
      if (!match) {
        continue;
      }
      if (r.push_route) {
        as_is.route_set.push_back("<" + r.uri + ">");
      } else {
        as_is.next_hop_uri = r.uri;
      }
      ctx.targets.push_back(std::move(as_is));
      return ProcessorAction::kContinue;
    }
    if (!config_.outbound_proxy.empty()) {
      as_is.route_set.push_back("<" + config_.outbound_proxy + ">");
      ctx.targets.push_back(std::move(as_is));
      return ProcessorAction::kContinue;
    }
  }
  if (!ruri.is_sip_or_sips()) {
    // tel: (RFC 3966) has no host to resolve; without a static route we cannot place the call.
    ++stats_.not_found;
    ctx.respond(404, "No Route For URI");
    return ProcessorAction::kStop;
  }
  ctx.targets.push_back(std::move(as_is));
  return ProcessorAction::kContinue;
}

}  // namespace portcullis::proxy
