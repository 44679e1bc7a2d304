// RequestContext: one request on its way through the proxy's processor chain (processor.h), and
// the target set the chain produces (RFC 3261 §16.5). Processors read the request, write the
// routing decisions below, or answer it locally with respond().
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "controller/proxy/proxy_config.h"
#include "controller/sip/message/sip_message.h"
#include "controller/sip/transaction/stateless.h"
#include "controller/sip/transaction/transaction_types.h"

namespace portcullis::proxy {

/// Handle of one request inside a ProxyCore (never reused).
enum class RequestId : std::uint64_t {};

/// One entry of the target set (RFC 3261 §16.5) plus the routing facts that come with it.
struct ProxyTarget {
  /// Becomes the Request-URI of the forwarded copy (§16.6 step 2).
  std::string uri;
  /// Pre-loaded Route values pushed in front of the request's own (§16.6 step 6): the Path of a
  /// registered contact (RFC 3327 §5.3) or a static route / outbound proxy. Each a name-addr.
  std::vector<std::string> route_set;
  /// Send here without resolving when no Route remains: the flow a registered (possibly NATed)
  /// phone registered from (RFC 3581 / RFC 5626 §5.3).
  std::optional<sip::Peer> fixed_peer;
  /// Local next-hop policy (§16.6 step 7): resolve this URI instead of Route / Request-URI.
  std::string next_hop_uri;
  /// q-value in thousandths (§16.6: equal q → parallel, higher q first).
  std::uint16_t q = 1000;
};

/// A locally generated response header line.
struct ResponseHeader {
  std::string name;
  std::string value;
};

class RequestContext {
 public:
  RequestContext(RequestId id, sip::TransactionId server_txn, sip::MessagePtr request, sip::Peer from)
      : id_(id), server_txn_(server_txn), request_(std::move(request)), from_(from) {
    request_uri = std::string(request_->request_uri_text());
  }

  RequestId id() const noexcept { return id_; }
  /// kNoTransaction for an ACK (forwarded statelessly, §16.11).
  sip::TransactionId server_txn() const noexcept { return server_txn_; }
  const sip::SipMessage& request() const noexcept { return *request_; }
  const sip::MessagePtr& request_ptr() const noexcept { return request_; }
  sip::Method method() const noexcept { return request_->method(); }
  /// Where it came from (transport, source address, connection).
  const sip::Peer& from() const noexcept { return from_; }
  /// The interface the request arrived on (ProxyIdentity::interface_for(source)).
  const ProxyInterface* inbound = nullptr;

  // ---- written by the chain ----

  /// §16.3 step 4 / §16.6 step 8: loop-detection hash of the request as received.
  std::string loop_hash;
  /// Effective Request-URI after §16.4 (a strict router's R-URI restored from the last Route).
  std::string request_uri;
  /// Route values left after §16.4 popped ours, in order (name-addr text as written).
  std::vector<std::string> routes;
  /// routes / request_uri differ from the message (so the forwarded copy rewrites them).
  bool routes_changed = false;
  /// Flow token of the last of our own URIs removed by §16.4 (Route or strict R-URI): where an
  /// in-dialog request goes when nothing else is left to route on.
  std::optional<sip::Peer> flow;
  /// §16.5: where to fork to. Filled by the target processor (or earlier processors).
  std::vector<ProxyTarget> targets;
  /// A new body for every forwarded copy (the media step's rewritten SDP); Content-Length follows,
  /// Content-Type is kept.
  std::optional<std::string> body_override;

  // ---- local answer ----

  /// Answers the request here (the chain should then return kStop). RFC 3261 §8.2.6 copy of
  /// the request's Via/From/To/Call-ID/CSeq, plus `extra`. Ignored for ACK (never answered).
  void respond(std::uint16_t status, std::string_view reason = {}, std::vector<ResponseHeader> extra = {});
  /// Answers with a complete response text (e.g. the registrar's).
  void respond_with(std::string response_text) { response_ = std::move(response_text); }
  const std::optional<std::string>& response() const noexcept { return response_; }
  std::optional<std::uint16_t> response_status() const noexcept { return response_status_; }

  /// Chain bookkeeping: index of the processor to run next (WaitForEvent resumes here).
  std::size_t chain_position = 0;

 private:
  RequestId id_;
  sip::TransactionId server_txn_;
  sip::MessagePtr request_;
  sip::Peer from_;
  std::optional<std::string> response_;
  std::optional<std::uint16_t> response_status_;
};

inline void RequestContext::respond(std::uint16_t status, std::string_view reason,
                                    std::vector<ResponseHeader> extra) {
  if (request_->method() == sip::Method::kAck) {
    return;
  }
  std::vector<sip::ExtraHeader> headers;
  headers.reserve(extra.size());
  for (const ResponseHeader& h : extra) {
    headers.push_back(sip::ExtraHeader{h.name, h.value});
  }
  response_ = sip::make_response(*request_, status, reason, {}, headers);
  response_status_ = status;
}

}  // namespace portcullis::proxy
