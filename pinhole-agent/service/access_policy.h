// Who may act for which owner (fcp-notes §2.6, §2.10). The caller's identity comes from the
// verified client certificate (SAN URI/DNS, else CN), never from a message body; configuration
// maps identities to owner patterns. Owners are controller shards, so a pattern may be exact
// ("sbc-east/shard-1"), a prefix ("sbc-east/*") or "*" (every owner).
//
// Thread-safety: immutable after construction; share it freely between gRPC threads.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace portcullis::agent::service {

struct IdentityRule {
  /// Exact match against one certificate identity (a SAN URI such as
  /// "spiffe://voice.example/controller/sbc-east", a SAN DNS name, or the subject CN).
  std::string identity;
  std::vector<std::string> owners;
  /// May list every owner, watch every owner and drain the agent.
  bool admin = false;
};

/// The resolved rights of one caller.
struct Principal {
  std::string name;  // for logs: the identity that matched (or the first presented)
  bool known = false;
  bool admin = false;
  std::vector<std::string> owner_patterns;

  bool may_act_for(std::string_view owner) const;
  /// True when the principal may act for every owner ("*").
  bool all_owners() const;
};

class AccessPolicy {
 public:
  /// --insecure-lab: every caller is an admin for every owner.
  static AccessPolicy allow_all();
  explicit AccessPolicy(std::vector<IdentityRule> rules) : rules_(std::move(rules)) {}

  /// Rights of a caller presenting `identities` (all SANs + CN); the union of every matching
  /// rule. No match => known = false, no owners.
  Principal resolve(const std::vector<std::string>& identities) const;
  bool insecure() const noexcept { return allow_all_; }

 private:
  AccessPolicy() = default;
  std::vector<IdentityRule> rules_;
  bool allow_all_ = false;
};

/// Pattern syntax check for configuration: "*", "prefix*" or an exact owner name.
bool valid_owner_pattern(std::string_view pattern);

}  // namespace portcullis::agent::service
