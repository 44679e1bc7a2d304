// ResponseHook: lets the composition root see (and rewrite the body of) every response the proxy
// forwards upstream, asynchronously, and learn how each request ended. The media step
// (controller/app/media_step.h) uses it to hand SDP answers to MediaSession and to release a
// call's bindings on a final failure, CANCEL (487) or timeout (408).
//
// Ordering: responses of one request go upstream in the order they arrived; a response waiting
// for its hook holds back the later ones of the same request.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "controller/proxy/request_context.h"
#include "controller/sip/message/sip_message.h"
#include "controller/sip/transaction/transaction_types.h"

namespace portcullis::proxy {

/// What to do with a response: nullopt = forward it as it is; a string = replace the body
/// (Content-Length follows; Content-Type unchanged).
using ResponseBody = std::optional<std::string>;
using ResponseDone = std::function<void(ResponseBody)>;

class ResponseHook {
 public:
  virtual ~ResponseHook() = default;

  /// A 101-699 response from downstream is about to be forwarded upstream for `request`.
  /// `from` is where it came from. Return false to forward it unchanged now; return true to take
  /// it: `done` must then be called exactly once, later, on the core's executor (never inline).
  virtual bool on_response(const RequestContext& request, const sip::SipMessage& response, const sip::Peer& from,
                           ResponseDone done) = 0;

  /// A final response with `status` went upstream for `request` (forwarded or generated here:
  /// 408 Timer C/B, 487 after CANCEL, 503, 500, ...). Called once per request that got a final
  /// response; not for ACK.
  virtual void on_final(const RequestContext& request, std::uint16_t status) = 0;
};

}  // namespace portcullis::proxy
