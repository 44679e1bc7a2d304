#include "pinhole-agent/backend/fake/fake_backend.h"

#include <chrono>
#include <string>
#include <type_traits>
#include <utility>

namespace portcullis::agent {
namespace {

std::string describe(const Change& c, std::size_t index) {
  std::string op = c.op == ChangeOp::kCreate ? "create" : c.op == ChangeOp::kUpsert ? "upsert" : "delete";
  std::string what = std::visit(
      [](const auto& o) -> std::string {
        using T = std::decay_t<decltype(o)>;
        if constexpr (std::is_same_v<T, PortMapping>) {
          return "mapping " + o.public_endpoint.to_string() + "->" + o.private_endpoint.to_string();
        } else if constexpr (std::is_same_v<T, Pinhole>) {
          return "pinhole " + o.remote.to_string() + "<->" + o.private_endpoint.to_string();
        } else {
          return "latch " + o.remote_address.to_string() + "->" + o.private_endpoint.to_string();
        }
      },
      c.object);
  return "change[" + std::to_string(index) + "] " + op + " " + what;
}

}  // namespace

Result<BootstrapResult> FakeBackend::bootstrap(const std::string& new_epoch) {
  if (epoch_) {
    return BootstrapResult{true, *epoch_};
  }
  epoch_ = new_epoch;
  return BootstrapResult{false, new_epoch};
}

void FakeBackend::wipe() {
  tables_ = Tables{};
  epoch_.reset();
}

void FakeBackend::purge(Tables& t, Clock::TimePoint now) const {
  std::erase_if(t.mappings, [&](const auto& kv) { return kv.second.expires <= now; });
  std::erase_if(t.pinholes, [&](const auto& kv) { return kv.second.expires <= now; });
  std::erase_if(t.latches, [&](const auto& kv) { return kv.second.expires <= now; });
}

Status FakeBackend::apply_one(Tables& t, const Change& c, std::size_t index,
                              Clock::TimePoint now) const {
  const auto check_timeout = [&](std::chrono::milliseconds timeout) -> Status {
    if (c.op != ChangeOp::kDelete && timeout <= std::chrono::milliseconds(0)) {
      return unexpected(invalid_argument(describe(c, index) + ": timeout must be > 0"));
    }
    return ok_status();
  };
  if (const auto* m = std::get_if<PortMapping>(&c.object)) {
    PORTCULLIS_RETURN_IF_ERROR(check_timeout(m->timeout));
    if (c.op == ChangeOp::kDelete) {
      t.mappings.erase(m->public_endpoint);
      return ok_status();
    }
    if (m->userdata.size() > 128) {
      return unexpected(invalid_argument(describe(c, index) + ": userdata exceeds 128 bytes"));
    }
    const auto it = t.mappings.find(m->public_endpoint);
    if (c.op == ChangeOp::kCreate && it != t.mappings.end()) {
      return unexpected(already_exists(describe(c, index) + ": File exists"));
    }
    // The SNAT map is keyed by the private endpoint: a second binding for it collides too.
    for (const auto& [pub, e] : t.mappings) {
      if (pub != m->public_endpoint && e.object.private_endpoint == m->private_endpoint) {
        return unexpected(already_exists(describe(c, index) + ": private endpoint mapped by " +
                                         pub.to_string()));
      }
    }
    t.mappings[m->public_endpoint] = Entry<PortMapping>{*m, now + m->timeout};
    return ok_status();
  }
  if (const auto* p = std::get_if<Pinhole>(&c.object)) {
    PORTCULLIS_RETURN_IF_ERROR(check_timeout(p->timeout));
    const auto key = std::make_tuple(p->remote, p->private_endpoint);
    if (c.op == ChangeOp::kDelete) {
      t.pinholes.erase(key);
      return ok_status();
    }
    if (c.op == ChangeOp::kCreate && t.pinholes.count(key) != 0) {
      return unexpected(already_exists(describe(c, index) + ": File exists"));
    }
    t.pinholes[key] = Entry<Pinhole>{*p, now + p->timeout};
    return ok_status();
  }
  const auto& l = std::get<Latch>(c.object);
  PORTCULLIS_RETURN_IF_ERROR(check_timeout(l.timeout));
  const auto key = std::make_tuple(l.remote_address, l.private_endpoint);
  if (c.op == ChangeOp::kDelete) {
    t.latches.erase(key);
    return ok_status();
  }
  if (c.op == ChangeOp::kCreate && t.latches.count(key) != 0) {
    return unexpected(already_exists(describe(c, index) + ": File exists"));
  }
  if (l.latched_timeout <= std::chrono::milliseconds(0)) {
    return unexpected(invalid_argument(describe(c, index) + ": latched_timeout must be > 0"));
  }
  t.latches[key] = Entry<Latch>{l, now + l.timeout};
  return ok_status();
}

Status FakeBackend::apply(const ChangeSet& changes) {
  ++apply_calls_;
  if (next_failure_) {
    Error e = std::move(*next_failure_);
    next_failure_.reset();
    return unexpected(std::move(e));
  }
  if (persistent_failure_) {
    return unexpected(*persistent_failure_);
  }
  const Clock::TimePoint now = clock_.now();
  purge(tables_, now);
  Tables copy = tables_;
  for (std::size_t i = 0; i < changes.changes.size(); ++i) {
    PORTCULLIS_RETURN_IF_ERROR(apply_one(copy, changes.changes[i], i, now));
  }
  tables_ = std::move(copy);  // all or nothing
  history_.push_back(changes);
  ++successful_applies_;
  return ok_status();
}

Result<BackendState> FakeBackend::snapshot() const {
  const Clock::TimePoint now = clock_.now();
  purge(tables_, now);
  const auto remaining = [&](Clock::TimePoint expires) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(expires - now);
  };
  BackendState s;
  for (const auto& [k, e] : tables_.mappings) {
    PortMapping m = e.object;
    m.timeout = remaining(e.expires);
    s.mappings.push_back(std::move(m));
  }
  for (const auto& [k, e] : tables_.pinholes) {
    Pinhole p = e.object;
    p.timeout = remaining(e.expires);
    s.pinholes.push_back(std::move(p));
  }
  for (const auto& [k, e] : tables_.latches) {
    Latch l = e.object;
    l.timeout = remaining(e.expires);
    s.latches.push_back(std::move(l));
  }
  return s;
}

bool FakeBackend::fire_latch(const net::Endpoint& remote, const net::Endpoint& private_endpoint) {
  const Clock::TimePoint now = clock_.now();
  purge(tables_, now);
  const auto it = tables_.latches.find(std::make_tuple(remote.address(), private_endpoint));
  if (it == tables_.latches.end()) {
    return false;
  }
  Pinhole p;
  p.protocol = it->second.object.protocol;
  p.remote = remote;
  p.private_endpoint = private_endpoint;
  p.timeout = it->second.object.latched_timeout;
  tables_.pinholes[std::make_tuple(remote, private_endpoint)] = Entry<Pinhole>{p, now + p.timeout};
  tables_.latches.erase(it);
  return true;
}

std::optional<PortMapping> FakeBackend::mapping(const net::Endpoint& public_endpoint) const {
  purge(tables_, clock_.now());
  const auto it = tables_.mappings.find(public_endpoint);
  if (it == tables_.mappings.end()) {
    return std::nullopt;
  }
  return it->second.object;
}

std::optional<Clock::TimePoint> FakeBackend::mapping_expiry(
    const net::Endpoint& public_endpoint) const {
  purge(tables_, clock_.now());
  const auto it = tables_.mappings.find(public_endpoint);
  if (it == tables_.mappings.end()) {
    return std::nullopt;
  }
  return it->second.expires;
}

std::optional<Pinhole> FakeBackend::pinhole(const net::Endpoint& remote,
                                            const net::Endpoint& private_ep) const {
  purge(tables_, clock_.now());
  const auto it = tables_.pinholes.find(std::make_tuple(remote, private_ep));
  if (it == tables_.pinholes.end()) {
    return std::nullopt;
  }
  return it->second.object;
}

std::optional<Latch> FakeBackend::latch(const net::IpAddress& remote,
                                        const net::Endpoint& private_ep) const {
  purge(tables_, clock_.now());
  const auto it = tables_.latches.find(std::make_tuple(remote, private_ep));
  if (it == tables_.latches.end()) {
    return std::nullopt;
  }
  return it->second.object;
}

std::size_t FakeBackend::element_count() const {
  purge(tables_, clock_.now());
  return tables_.mappings.size() + tables_.pinholes.size() + tables_.latches.size();
}

}  // namespace portcullis::agent
