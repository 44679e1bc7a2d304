#include "controller/app/shared_location_store.h"

#include "controller/sip/parser/uri.h"

namespace portcullis::controller::app {

Status SharedLocationStore::put(std::string_view aor, registrar::Binding binding) {
  const auto lock = hold();
  return inner_->put(aor, std::move(binding));
}

std::vector<SharedLocationStore::NattedContact> SharedLocationStore::snapshot_natted(Clock::TimePoint now) const {
  std::vector<NattedContact> udp;
  for_each_current(now, [&](std::string_view, const registrar::Binding& b) {
    if (b.received.transport == sip::TransportProtocol::kUdp) {
      udp.push_back(NattedContact{b.contact, b.received.source, b.received.connection_id});
    }
  });
  // NATed: the REGISTER came from another address than the Contact's host:port (or the Contact
  // host is a name we cannot compare).
  std::erase_if(udp, [](const NattedContact& c) {
    auto uri = sip::parse_uri(c.contact);
    if (!uri.ok()) {
      return false;
    }
    auto ip = net::IpAddress::parse(uri->host);
    return ip.ok() && *ip == c.received.address() && uri->port.value_or(5060) == c.received.port();
  });
  return udp;
}

void SharedLocationStore::for_each_current(Clock::TimePoint now, const BindingVisitor& visit) const {
  const auto lock = hold();
  inner_->for_each_current(now, visit);
}

Status SharedLocationStore::refresh(std::string_view aor, const registrar::BindingKey& key,
                                    Clock::TimePoint expires_at, std::string_view call_id, std::uint32_t cseq,
                                    Clock::TimePoint now) {
  const auto lock = hold();
  return inner_->refresh(aor, key, expires_at, call_id, cseq, now);
}

bool SharedLocationStore::remove(std::string_view aor, const registrar::BindingKey& key) {
  const auto lock = hold();
  return inner_->remove(aor, key);
}

std::size_t SharedLocationStore::remove_all(std::string_view aor) {
  const auto lock = hold();
  return inner_->remove_all(aor);
}

std::vector<registrar::Binding> SharedLocationStore::bindings(std::string_view aor) const {
  const auto lock = hold();
  return inner_->bindings(aor);
}

std::vector<registrar::Binding> SharedLocationStore::lookup(std::string_view aor, Clock::TimePoint now) const {
  const auto lock = hold();
  return inner_->lookup(aor, now);
}

std::size_t SharedLocationStore::purge_expired(Clock::TimePoint now) {
  const auto lock = hold();
  return inner_->purge_expired(now);
}

std::size_t SharedLocationStore::binding_count() const {
  const auto lock = hold();
  return inner_->binding_count();
}

std::size_t SharedLocationStore::binding_count(std::string_view aor) const {
  const auto lock = hold();
  return inner_->binding_count(aor);
}

std::size_t SharedLocationStore::aor_count() const {
  const auto lock = hold();
  return inner_->aor_count();
}

std::size_t SharedLocationStore::capacity_left() const {
  const auto lock = hold();
  return inner_->capacity_left();
}

}  // namespace portcullis::controller::app
