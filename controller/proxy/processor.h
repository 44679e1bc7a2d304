// The request processor chain (style.md §4.3, after reSIProcate repro's Processor): each step of
// RFC 3261 §16.3-§16.5 is a small class with `ProcessorAction process(RequestContext&)`, unit
// testable on its own, and the app can insert its own steps (digest auth, filters) between them.
//
//   kContinue      go on with the next processor
//   kWaitForEvent  park the request; ProxyCore::resume(id) re-runs *this* processor later
//                  (an asynchronous lookup finished)
//   kSkipChain     routing is decided: skip the remaining processors and forward to ctx.targets
//   kStop          the request is finished here: send ctx.response() if any (ACKs are dropped)
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "controller/proxy/request_context.h"

namespace portcullis::proxy {

enum class ProcessorAction : std::uint8_t { kContinue, kWaitForEvent, kSkipChain, kStop };

class RequestProcessor {
 public:
  virtual ~RequestProcessor() = default;
  /// For logs and tests.
  virtual std::string_view name() const = 0;
  /// Called on the proxy's executor. May call ctx.respond() and return kStop.
  virtual ProcessorAction process(RequestContext& ctx) = 0;
};

class ProcessorChain {
 public:
  void add(std::unique_ptr<RequestProcessor> p) { processors_.push_back(std::move(p)); }
  /// Inserts before position `index` (clamped to size()).
  void insert(std::size_t index, std::unique_ptr<RequestProcessor> p);
  std::size_t size() const noexcept { return processors_.size(); }
  const RequestProcessor& at(std::size_t i) const { return *processors_.at(i); }
  /// Index of the processor with this name, or size().
  std::size_t find(std::string_view name) const noexcept;

  /// Runs from ctx.chain_position. Returns kWaitForEvent (position kept on the waiting
  /// processor), kStop, or kSkipChain (also when every processor returned kContinue).
  ProcessorAction run(RequestContext& ctx);

 private:
  std::vector<std::unique_ptr<RequestProcessor>> processors_;
};

}  // namespace portcullis::proxy
