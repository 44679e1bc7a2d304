// LocationStore: the location service of RFC 3261 §10.2 / §16.5 as a seam. The registrar writes
// bindings, the proxy reads them. InMemoryLocationStore is the default (one controller); a Redis
// implementation shares bindings between controllers (docs/architecture.md "Where state lives").
#pragma once

#include <cstddef>
#include <functional>
#include <string_view>
#include <vector>

#include "common/base/result.h"
#include "common/time/clock.h"
#include "controller/registrar/binding.h"

namespace portcullis::registrar {

/// Keyed by canonical AoR text (registrar/aor.h: "sip:user@host[:port]").
///
/// Threading: not thread-safe; call every method from the executor that owns the registrar
/// (style.md §4.5). No callbacks. Methods never throw on bad input: they report errors as values.
///
/// Atomicity: the registrar validates a whole REGISTER before it writes, so the only write that can
/// fail is a capacity limit; it checks `capacity_left()` first. A shared (Redis) implementation must
/// run one REGISTER's writes as one transaction — TODO(portcullis): add a batch `commit()` when it lands.
class LocationStore {
 public:
  virtual ~LocationStore() = default;

  /// Inserts `binding` under `aor`, or replaces the binding that BindingKey::of(binding) matches.
  /// @return resource_exhausted when a new binding would exceed the store's total capacity.
  virtual Status put(std::string_view aor, Binding binding) = 0;

  /// Extends an existing binding: new expiry, Call-ID/CSeq and update time; q, path and transport
  /// facts are kept. @return not_found if no binding matches `key`.
  virtual Status refresh(std::string_view aor, const BindingKey& key, Clock::TimePoint expires_at,
                         std::string_view call_id, std::uint32_t cseq, Clock::TimePoint now) = 0;

  /// Removes the binding matching `key`. @return whether one was removed.
  virtual bool remove(std::string_view aor, const BindingKey& key) = 0;

  /// Removes every binding of `aor` (RFC 3261 §10.2.2 "Contact: *"). @return how many.
  virtual std::size_t remove_all(std::string_view aor) = 0;

  /// Every binding of `aor`, expired ones included (the registrar's §10.3 step 7 comparisons need
  /// them until purged), in insertion order.
  virtual std::vector<Binding> bindings(std::string_view aor) const = 0;

  /// Bindings of `aor` still valid at `now`, sorted by q descending, then most recently updated
  /// first (RFC 3261 §16.6: higher q tried first; ties: the freshest registration).
  virtual std::vector<Binding> lookup(std::string_view aor, Clock::TimePoint now) const = 0;

  /// Calls `visit` for every binding still valid at `now`, AoR by AoR in no particular order
  /// (periodic jobs such as NAT keep-alives). `visit` must not call back into the store.
  using BindingVisitor = std::function<void(std::string_view aor, const Binding& binding)>;
  virtual void for_each_current(Clock::TimePoint now, const BindingVisitor& visit) const = 0;

  /// Removes every binding with expires_at <= now, and AoRs left empty. Driven by the owner's
  /// timer (a Clock tick), never by a thread of its own. @return how many bindings were removed.
  virtual std::size_t purge_expired(Clock::TimePoint now) = 0;

  virtual std::size_t binding_count() const = 0;
  virtual std::size_t binding_count(std::string_view aor) const = 0;
  virtual std::size_t aor_count() const = 0;
  /// How many more bindings fit before put() fails with resource_exhausted.
  virtual std::size_t capacity_left() const = 0;
};

}  // namespace portcullis::registrar
