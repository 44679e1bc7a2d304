#include "controller/registrar/in_memory_location_store.h"

#include <algorithm>

namespace portcullis::registrar {
namespace {

// glibc malloc: 8 bytes of chunk header per allocation, rounded to 16. Rough, but it keeps the
// accounting honest about many small allocations.
constexpr std::size_t kAllocOverhead = 16;

std::size_t heap_bytes(const std::string& s) {
  // libstdc++ keeps up to 15 chars inline (SSO); longer strings own capacity()+1 bytes.
  return s.capacity() > 15 ? s.capacity() + 1 + kAllocOverhead : 0;
}

std::size_t heap_bytes(const Binding& b) {
  std::size_t n = heap_bytes(b.contact) + heap_bytes(b.instance_id) + heap_bytes(b.call_id);
  if (b.path.capacity() > 0) {
    n += b.path.capacity() * sizeof(std::string) + kAllocOverhead;
  }
  for (const std::string& p : b.path) {
    n += heap_bytes(p);
  }
  return n;
}

}  // namespace

InMemoryLocationStore::InMemoryLocationStore(InMemoryLocationStoreConfig config) : config_(config) {}

void InMemoryLocationStore::reindex(AorMap::iterator it) {
  AorRecord& rec = it->second;
  if (rec.expiry != expiry_index_.end()) {
    expiry_index_.erase(rec.expiry);
    rec.expiry = expiry_index_.end();
  }
  if (rec.bindings.empty()) {
    aors_.erase(it);
    return;
  }
  Clock::TimePoint earliest = rec.bindings.front().expires_at;
  for (const Binding& b : rec.bindings) {
    earliest = std::min(earliest, b.expires_at);
  }
  // The view points into the map node's key, which never moves (unordered_map nodes are stable).
  rec.expiry = expiry_index_.emplace(earliest, std::string_view(it->first));
}

Status InMemoryLocationStore::put(std::string_view aor, Binding binding) {
  auto it = aors_.find(aor);
  if (it != aors_.end()) {
    const BindingKey key = BindingKey::of(binding);
    for (Binding& b : it->second.bindings) {
      if (key.matches(b)) {
        b = std::move(binding);
        reindex(it);
        return ok_status();
      }
    }
  }
  if (total_ >= config_.max_bindings) {
    return unexpected(resource_exhausted("location store full"));
  }
  if (it == aors_.end()) {
    it = aors_.emplace(std::string(aor), AorRecord{{}, expiry_index_.end()}).first;
  }
  it->second.bindings.push_back(std::move(binding));
  ++total_;
  reindex(it);
  return ok_status();
}

Status InMemoryLocationStore::refresh(std::string_view aor, const BindingKey& key,
                                      Clock::TimePoint expires_at, std::string_view call_id,
                                      std::uint32_t cseq, Clock::TimePoint now) {
  auto it = aors_.find(aor);
  if (it == aors_.end()) {
    return unexpected(not_found("no such AoR"));
  }
  for (Binding& b : it->second.bindings) {
    if (key.matches(b)) {
      b.expires_at = expires_at;
      if (b.call_id != call_id) {
        b.call_id.assign(call_id);
      }
      b.cseq = cseq;
      b.updated_at = now;
      reindex(it);
      return ok_status();
    }
  }
  return unexpected(not_found("no such binding"));
}

bool InMemoryLocationStore::remove(std::string_view aor, const BindingKey& key) {
  auto it = aors_.find(aor);
  if (it == aors_.end()) {
    return false;
  }
  auto& v = it->second.bindings;
  const auto pos = std::find_if(v.begin(), v.end(), [&](const Binding& b) { return key.matches(b); });
  if (pos == v.end()) {
    return false;
  }
  v.erase(pos);
  --total_;
  reindex(it);
  return true;
}

std::size_t InMemoryLocationStore::remove_all(std::string_view aor) {
  auto it = aors_.find(aor);
  if (it == aors_.end()) {
    return 0;
  }
  const std::size_t n = it->second.bindings.size();
  it->second.bindings.clear();
  total_ -= n;
  reindex(it);
  return n;
}

std::vector<Binding> InMemoryLocationStore::bindings(std::string_view aor) const {
  auto it = aors_.find(aor);
  if (it == aors_.end()) {
    return {};
  }
  return it->second.bindings;
}

std::vector<Binding> InMemoryLocationStore::lookup(std::string_view aor, Clock::TimePoint now) const {
  std::vector<Binding> out;
  auto it = aors_.find(aor);
  if (it == aors_.end()) {
    return out;
  }
  for (const Binding& b : it->second.bindings) {
    if (b.expires_at > now) {
      out.push_back(b);
    }
  }
  std::stable_sort(out.begin(), out.end(), [](const Binding& a, const Binding& b) {
    if (a.q != b.q) {
      return a.q > b.q;
    }
    return a.updated_at > b.updated_at;
  });
  return out;
}

void InMemoryLocationStore::for_each_current(Clock::TimePoint now, const BindingVisitor& visit) const {
  for (const auto& [aor, record] : aors_) {
    for (const Binding& b : record.bindings) {
      if (b.expires_at > now) {
        visit(aor, b);
      }
    }
  }
}

std::size_t InMemoryLocationStore::purge_expired(Clock::TimePoint now) {
  std::size_t removed = 0;
  while (!expiry_index_.empty() && expiry_index_.begin()->first <= now) {
    auto it = aors_.find(expiry_index_.begin()->second);
    if (it == aors_.end()) {  // cannot happen: every index entry belongs to a live AoR
      expiry_index_.erase(expiry_index_.begin());
      continue;
    }
    auto& v = it->second.bindings;
    const auto old_size = v.size();
    std::erase_if(v, [now](const Binding& b) { return b.expires_at <= now; });
    removed += old_size - v.size();
    total_ -= old_size - v.size();
    reindex(it);
  }
  return removed;
}

std::size_t InMemoryLocationStore::binding_count(std::string_view aor) const {
  auto it = aors_.find(aor);
  return it == aors_.end() ? 0 : it->second.bindings.size();
}

std::size_t InMemoryLocationStore::approx_memory_bytes() const {
  // Hash node: next pointer + key/value pair + cached hash code.
  constexpr std::size_t kHashNode = sizeof(void*) + sizeof(AorMap::value_type) + sizeof(std::size_t);
  // Red-black tree node: 3 pointers + colour, then the value.
  constexpr std::size_t kTreeNode = 4 * sizeof(void*) + sizeof(ExpiryIndex::value_type);
  std::size_t n = sizeof(*this) + aors_.bucket_count() * sizeof(void*);
  for (const auto& [aor, rec] : aors_) {
    n += kHashNode + kAllocOverhead + heap_bytes(aor);
    n += kTreeNode + kAllocOverhead;
    if (rec.bindings.capacity() > 0) {
      n += rec.bindings.capacity() * sizeof(Binding) + kAllocOverhead;
    }
    for (const Binding& b : rec.bindings) {
      n += heap_bytes(b);
    }
  }
  return n;
}

}  // namespace portcullis::registrar
