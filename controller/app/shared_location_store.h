// SharedLocationStore: one LocationStore shared by every shard (one registrar's view of the
// world, whichever socket a REGISTER or an INVITE arrived on). A decorator that serialises every
// call with one mutex; the wrapped store stays single-threaded as its contract says.
//
// A REGISTER is several store calls (read bindings, plan, then put/refresh/remove, §10.3 step 7
// "all or nothing"), so the shard holds hold() across the whole Registrar::handle_register()
// call; the mutex is recursive so the per-call locks inside nest. Lookups from INVITEs lock
// only for the copy.
//
// Why a single mutex: a REGISTER is a few microseconds of in-memory work, so with a handful of
// shards contention stays low; bench/ measures it before anything cleverer (a lock per AoR hash
// slot, as Kamailio's usrloc does) is worth its complexity.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "controller/registrar/location_store.h"

namespace portcullis::controller::app {

class SharedLocationStore final : public registrar::LocationStore {
 public:
  explicit SharedLocationStore(std::unique_ptr<registrar::LocationStore> inner) : inner_(std::move(inner)) {}

  /// Holds the store for a sequence of calls (one REGISTER). Thread-safe.
  std::unique_lock<std::recursive_mutex> hold() const { return std::unique_lock(mutex_); }

  Status put(std::string_view aor, registrar::Binding binding) override;
  Status refresh(std::string_view aor, const registrar::BindingKey& key, Clock::TimePoint expires_at,
                 std::string_view call_id, std::uint32_t cseq, Clock::TimePoint now) override;
  bool remove(std::string_view aor, const registrar::BindingKey& key) override;
  std::size_t remove_all(std::string_view aor) override;
  std::vector<registrar::Binding> bindings(std::string_view aor) const override;
  std::vector<registrar::Binding> lookup(std::string_view aor, Clock::TimePoint now) const override;
  void for_each_current(Clock::TimePoint now, const BindingVisitor& visit) const override;
  std::size_t purge_expired(Clock::TimePoint now) override;
  std::size_t binding_count() const override;
  std::size_t binding_count(std::string_view aor) const override;
  std::size_t aor_count() const override;
  std::size_t capacity_left() const override;

  /// A registered UDP contact behind a NAT (its REGISTER came from another address than the
  /// Contact's host:port): where to send NAT keep-alives.
  struct NattedContact {
    std::string contact;
    net::Endpoint received;
    std::uint64_t connection = 0;
  };
  /// Every live NATed UDP contact, for the keep-alive timer. Thread-safe; the store is held only
  /// to copy the UDP bindings out, the NAT test runs after.
  std::vector<NattedContact> snapshot_natted(Clock::TimePoint now) const;

 private:
  mutable std::recursive_mutex mutex_;
  std::unique_ptr<registrar::LocationStore> inner_;
};

}  // namespace portcullis::controller::app
