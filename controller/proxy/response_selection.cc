#include "controller/proxy/response_selection.h"

namespace portcullis::proxy {
namespace {

bool preferred_4xx(std::uint16_t s) {
  return s == 401 || s == 407 || s == 415 || s == 420 || s == 484;
}

}  // namespace

std::size_t select_best(std::span<const BranchOutcome> outcomes) {
  std::size_t best = 0;
  for (std::size_t i = 1; i < outcomes.size(); ++i) {
    const std::uint16_t cur = outcomes[best].status;
    const std::uint16_t cand = outcomes[i].status;
    const bool cur_6xx = cur >= 600;
    const bool cand_6xx = cand >= 600;
    if (cur_6xx != cand_6xx) {
      if (cand_6xx) {
        best = i;
      }
      continue;
    }
    if (cur_6xx) {
      continue;  // first 6xx wins
    }
    if (cand / 100 < cur / 100) {
      best = i;
      continue;
    }
    if (cand / 100 == cur / 100 && cand / 100 == 4 && preferred_4xx(cand) && !preferred_4xx(cur)) {
      best = i;
    }
  }
  return best;
}

std::uint16_t upstream_status(std::uint16_t selected) { return selected == 503 ? 500 : selected; }

std::vector<std::pair<std::string, std::string>> collect_challenges(
    std::span<const BranchOutcome> outcomes, std::size_t selected) {
  std::vector<std::pair<std::string, std::string>> out;
  const std::uint16_t s = outcomes[selected].status;
  if (s != 401 && s != 407) {
    return out;
  }
  for (std::size_t i = 0; i < outcomes.size(); ++i) {
    const BranchOutcome& o = outcomes[i];
    if (i == selected || o.response == nullptr || (o.status != 401 && o.status != 407)) {
      continue;
    }
    for (const sip::HeaderField& f : o.response->headers()) {
      if (f.id == sip::HeaderId::kWwwAuthenticate || f.id == sip::HeaderId::kProxyAuthenticate) {
        out.emplace_back(std::string(sip::header_canonical_name(f.id)), std::string(f.value));
      }
    }
  }
  return out;
}

}  // namespace portcullis::proxy
