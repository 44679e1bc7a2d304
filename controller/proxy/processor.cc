#include "controller/proxy/processor.h"

#include <algorithm>

namespace portcullis::proxy {

void ProcessorChain::insert(std::size_t index, std::unique_ptr<RequestProcessor> p) {
  index = std::min(index, processors_.size());
  processors_.insert(processors_.begin() + static_cast<std::ptrdiff_t>(index), std::move(p));
}

std::size_t ProcessorChain::find(std::string_view name) const noexcept {
  for (std::size_t i = 0; i < processors_.size(); ++i) {
    if (processors_[i]->name() == name) {
      return i;
    }
  }
  return processors_.size();
}

ProcessorAction ProcessorChain::run(RequestContext& ctx) {
  while (ctx.chain_position < processors_.size()) {
    const ProcessorAction a = processors_[ctx.chain_position]->process(ctx);
    switch (a) {
      case ProcessorAction::kContinue:
        ++ctx.chain_position;
        break;
      case ProcessorAction::kWaitForEvent:
        return a;
      case ProcessorAction::kSkipChain:
      case ProcessorAction::kStop:
        ctx.chain_position = processors_.size();
        return a;
    }
  }
  return ProcessorAction::kSkipChain;
}

}  // namespace portcullis::proxy
