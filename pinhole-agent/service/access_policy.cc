#include "pinhole-agent/service/access_policy.h"

#include <algorithm>

namespace portcullis::agent::service {

namespace {

bool pattern_matches(std::string_view pattern, std::string_view owner) {
  if (pattern == "*") {
    return true;
  }
  if (!pattern.empty() && pattern.back() == '*') {
    const std::string_view prefix = pattern.substr(0, pattern.size() - 1);
    return owner.size() >= prefix.size() && owner.substr(0, prefix.size()) == prefix;
  }
  return pattern == owner;
}

}  // namespace

bool Principal::may_act_for(std::string_view owner) const {
  if (owner.empty()) {
    return false;
  }
  return std::any_of(owner_patterns.begin(), owner_patterns.end(),
                     [&](const std::string& p) { return pattern_matches(p, owner); });
}

bool Principal::all_owners() const {
  return std::find(owner_patterns.begin(), owner_patterns.end(), "*") != owner_patterns.end();
}

AccessPolicy AccessPolicy::allow_all() {
  AccessPolicy p;
  p.allow_all_ = true;
  return p;
}

Principal AccessPolicy::resolve(const std::vector<std::string>& identities) const {
  Principal out;
  if (allow_all_) {
    out.name = identities.empty() ? "insecure-lab" : identities.front();
    out.known = true;
    out.admin = true;
    out.owner_patterns = {"*"};
    return out;
  }
  out.name = identities.empty() ? "(anonymous)" : identities.front();
  for (const IdentityRule& rule : rules_) {
    if (std::find(identities.begin(), identities.end(), rule.identity) == identities.end()) {
      continue;
    }
    if (!out.known) {
      out.name = rule.identity;
    }
    out.known = true;
    out.admin = out.admin || rule.admin;
    out.owner_patterns.insert(out.owner_patterns.end(), rule.owners.begin(), rule.owners.end());
  }
  return out;
}

bool valid_owner_pattern(std::string_view pattern) {
  if (pattern.empty() || pattern.size() > 33) {
    return false;
  }
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    const bool name_char = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                           c == '.' || c == '_' || c == ':' || c == '/' || c == '@' || c == '-';
    if (!(name_char || (c == '*' && i + 1 == pattern.size()))) {
      return false;
    }
  }
  return true;
}

}  // namespace portcullis::agent::service
