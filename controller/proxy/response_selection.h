// RFC 3261 §16.7 steps 6-7: choosing the best final response of a response context and
// preparing it to go upstream.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "controller/sip/message/sip_message.h"

namespace portcullis::proxy {

/// The final outcome of one branch: a received response, or a status the proxy decided on
/// itself (408 for Timer B/C, 503 for a transport error §16.9, 487 for a never-started branch).
struct BranchOutcome {
  std::uint16_t status = 0;
  const sip::SipMessage* response = nullptr;  // nullptr when synthesised
};

/// §16.7 step 6: index of the best outcome. A 6xx wins over everything; otherwise the lowest
/// class; within 4xx, 401, 407, 415, 420 and 484 are preferred ("SHOULD give preference");
/// otherwise the first received (lowest index). Precondition: !outcomes.empty().
std::size_t select_best(std::span<const BranchOutcome> outcomes);

/// §16.7 step 6: "If the selected response is 503, the proxy MUST ... generate a 500" (a 503
/// would make the upstream think *we* are overloaded). Every other status is kept.
std::uint16_t upstream_status(std::uint16_t selected);

/// §16.7 step 7: when the selected response is 401 or 407, every WWW-Authenticate and
/// Proxy-Authenticate value from the *other* 401/407 outcomes, as {name, value}, in order, so
/// the UAC can answer all challenges at once.
std::vector<std::pair<std::string, std::string>> collect_challenges(
    std::span<const BranchOutcome> outcomes, std::size_t selected);

}  // namespace portcullis::proxy
