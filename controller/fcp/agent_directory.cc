#include "controller/fcp/agent_directory.h"

#include <algorithm>

#include "common/base/text.h"

namespace portcullis::fcp {

Status AgentDirectory::add(AgentRoute route) {
  if (route.agent.empty()) {
    return unexpected(invalid_argument("route " + route.prefix.to_string() + " names no agent"));
  }
  for (const AgentRoute& r : routes_) {
    if (r.prefix == route.prefix) {
      return unexpected(already_exists("prefix " + route.prefix.to_string() + " is already routed to agent '" +
                                       r.agent + "'"));
    }
  }
  routes_.push_back(std::move(route));
  return ok_status();
}

Status AgentDirectory::add(std::string_view prefix, std::string agent, std::string realm) {
  auto p = net::Prefix::parse(prefix);
  if (!p) {
    return unexpected(invalid_argument("bad agent route prefix '" + log_excerpt(prefix, 64) + "': " +
                                       p.error().message));
  }
  return add(AgentRoute{*p, std::move(agent), std::move(realm)});
}

std::optional<AgentRoute> AgentDirectory::route(const net::IpAddress& address) const {
  const AgentRoute* best = nullptr;
  for (const AgentRoute& r : routes_) {
    if (r.prefix.contains(address) && (best == nullptr || r.prefix.length() > best->prefix.length())) {
      best = &r;
    }
  }
  if (best == nullptr) {
    return std::nullopt;
  }
  return *best;
}

std::vector<std::string> AgentDirectory::agents() const {
  std::vector<std::string> out;
  for (const AgentRoute& r : routes_) {
    if (std::find(out.begin(), out.end(), r.agent) == out.end()) {
      out.push_back(r.agent);
    }
  }
  return out;
}

}  // namespace portcullis::fcp
