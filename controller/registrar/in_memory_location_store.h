// InMemoryLocationStore: the default LocationStore for one controller (resip ships its in-memory
// store as the reference implementation the same way). Also what the tests use: no fake needed.
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "controller/registrar/location_store.h"

namespace portcullis::registrar {

struct InMemoryLocationStoreConfig {
  /// Hard cap on bindings across all AoRs; put() of a new binding beyond it fails.
  std::size_t max_bindings = 100'000;
};

/// Layout: AoR text → vector of bindings (usually 1–3, so a vector beats a node container), plus an
/// expiry index holding one entry per AoR (its earliest expires_at), so purge_expired() touches only
/// AoRs that have something to purge. See README.md for the measured bytes per binding.
class InMemoryLocationStore final : public LocationStore {
 public:
  explicit InMemoryLocationStore(InMemoryLocationStoreConfig config = {});
  InMemoryLocationStore(const InMemoryLocationStore&) = delete;
  InMemoryLocationStore& operator=(const InMemoryLocationStore&) = delete;

  Status put(std::string_view aor, Binding binding) override;
  Status refresh(std::string_view aor, const BindingKey& key, Clock::TimePoint expires_at,
                 std::string_view call_id, std::uint32_t cseq, Clock::TimePoint now) override;
  bool remove(std::string_view aor, const BindingKey& key) override;
  std::size_t remove_all(std::string_view aor) override;
  std::vector<Binding> bindings(std::string_view aor) const override;
  std::vector<Binding> lookup(std::string_view aor, Clock::TimePoint now) const override;
  void for_each_current(Clock::TimePoint now, const BindingVisitor& visit) const override;
  std::size_t purge_expired(Clock::TimePoint now) override;
  std::size_t binding_count() const override { return total_; }
  std::size_t binding_count(std::string_view aor) const override;
  std::size_t aor_count() const override { return aors_.size(); }
  std::size_t capacity_left() const override {
    return total_ >= config_.max_bindings ? 0 : config_.max_bindings - total_;
  }

  /// sizeof/capacity accounting of everything the store holds (keys, records, binding strings,
  /// expiry index, hash buckets), with a fixed per-node allocator overhead. An estimate for
  /// metrics and the memory test; the test cross-checks it against counted allocations.
  std::size_t approx_memory_bytes() const;

 private:
  struct StringHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
  };
  using ExpiryIndex = std::multimap<Clock::TimePoint, std::string_view>;
  struct AorRecord {
    std::vector<Binding> bindings;
    ExpiryIndex::iterator expiry;  // entry for min(expires_at); end() when bindings is empty
  };
  using AorMap = std::unordered_map<std::string, AorRecord, StringHash, std::equal_to<>>;

  /// Re-files `it` in the expiry index after its bindings changed; erases the AoR if empty.
  void reindex(AorMap::iterator it);

  InMemoryLocationStoreConfig config_;
  AorMap aors_;
  ExpiryIndex expiry_index_;
  std::size_t total_ = 0;
};

}  // namespace portcullis::registrar
