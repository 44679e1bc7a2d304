// AgentDirectory: which pinhole agent serves which private network (architecture.md: each edge
// router runs one agent; a controller drives several). Routes are CIDR prefixes (common/net
// Prefix) with an optional realm (the agent's public address pool for that network, FCP
// ReserveBindingRequest.realm). Lookup is longest-prefix match, like the routing table that put
// the endpoint behind that router in the first place.
//
// A plain value type: build it at start-up, hand it to the client; not thread-safe to mutate
// while shared.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/base/result.h"
#include "common/net/ip_address.h"

namespace portcullis::fcp {

struct AgentRoute {
  net::Prefix prefix;
  std::string agent;  // agent name as configured for the client
  std::string realm;  // empty = the agent's default pool
  friend bool operator==(const AgentRoute&, const AgentRoute&) = default;
};

class AgentDirectory {
 public:
  /// Adds a route. The same prefix twice is a config error (kAlreadyExists) even for the same
  /// agent, so a typo cannot silently shadow another line; an empty agent name is kInvalidArgument.
  Status add(AgentRoute route);
  /// Convenience for config: "10.0.0.0/8" -> agent [realm].
  Status add(std::string_view prefix, std::string agent, std::string realm = {});

  /// The most specific route containing `address` (longest prefix; IPv4 and IPv6 never mix).
  std::optional<AgentRoute> route(const net::IpAddress& address) const;
  std::optional<AgentRoute> route(const net::Endpoint& endpoint) const { return route(endpoint.address()); }

  /// Distinct agent names, in the order first added.
  std::vector<std::string> agents() const;
  const std::vector<AgentRoute>& routes() const noexcept { return routes_; }
  bool empty() const noexcept { return routes_.empty(); }

 private:
  std::vector<AgentRoute> routes_;
};

}  // namespace portcullis::fcp
