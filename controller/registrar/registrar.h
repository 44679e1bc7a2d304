// Registrar: RFC 3261 §10.3 REGISTER processing, sans-I/O. It takes a parsed REGISTER and the
// transport facts of its arrival, updates a LocationStore, and returns the response to send as a
// RegisterDecision (status, reason, header lines). build_response() (response_builder.h) turns a
// decision into wire text; the transaction layer sends it.
//
//   InMemoryLocationStore store;
//   Registrar registrar(config, store, clock);
//   RegisterDecision d = registrar.handle_register(msg, {.source = src, .transport = kUdp});
//   send(build_response(msg, d));
//   ...
//   for (const Target& t : registrar.lookup(invite.request_uri())) { /* fork to t */ }
//
// Not in here, by design: digest authentication and "may this user register this AoR"
// (§10.3 steps 3–4) belong to controller/security, which runs before handle_register().
// Threading: call from the executor that owns the store.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/net/ip_address.h"
#include "common/time/clock.h"
#include "controller/registrar/binding.h"
#include "controller/registrar/location_store.h"
#include "controller/sip/message/sip_message.h"

namespace portcullis::registrar {

enum class ContactOverflow : std::uint8_t {
  kReject,       // 403 "Too Many Contacts"
  kEvictOldest,  // drop the least recently updated bindings not named in this REGISTER
};

struct RegistrarConfig {
  /// Domains this registrar is responsible for (RFC 3261 §10.3 step 1), compared
  /// case-insensitively with the Request-URI host and the AoR host. Empty: serves nothing.
  std::vector<std::string> domains;
  /// Status for a REGISTER whose Request-URI or AoR is outside `domains`: 404 or 403.
  std::uint16_t foreign_domain_status = 404;
  /// Source networks allowed to register (checked on the packet source, not on Via). Empty: any.
  std::vector<net::Prefix> allowed_sources;
  /// RFC 3261 §10.2.1.1: used when neither the contact nor the request gives an expiry.
  std::uint32_t default_expires = 3600;
  /// RFC 3261 §10.3 step 7: shorter non-zero requests are answered 423 with Min-Expires.
  std::uint32_t min_expires = 60;
  /// Longer requests are shortened to this (a registrar MAY decrease, §10.3 step 7).
  std::uint32_t max_expires = 7200;
  std::size_t max_contacts_per_aor = 10;
  ContactOverflow overflow = ContactOverflow::kReject;
};

/// One header line of the response, e.g. {"Contact", "<sip:a@10.0.0.2>;expires=3600"}.
struct HeaderLine {
  std::string name;
  std::string value;
  friend bool operator==(const HeaderLine&, const HeaderLine&) = default;
};

struct RegisterDecision {
  std::uint16_t status = 500;
  std::string reason;
  /// In order: Contact (one line per current binding, §10.3 step 8), Path (RFC 3327 §5.3, only
  /// when the UA sent Supported: path), Require: outbound (RFC 5626 §6), Date, or Min-Expires
  /// (423) / Unsupported (420).
  std::vector<HeaderLine> headers;
  /// Canonical AoR when it was established (empty for early rejections).
  std::string aor;
  /// Bindings of the AoR after the request, as listed in Contact (2xx only).
  std::vector<Binding> bindings;
  std::size_t added = 0;
  std::size_t updated = 0;
  std::size_t removed = 0;
  std::size_t evicted = 0;

  /// First header value with this name (exact match), or nullptr.
  const HeaderLine* header(std::string_view name) const noexcept;
  bool ok() const noexcept { return status >= 200 && status < 300; }
};

/// Counters for observability (style.md §4.11): every rejection is counted by reason.
struct RegistrarStats {
  std::uint64_t accepted = 0;
  std::uint64_t rejected_source = 0;
  std::uint64_t rejected_domain = 0;
  std::uint64_t rejected_extension = 0;
  std::uint64_t rejected_malformed = 0;
  std::uint64_t rejected_interval = 0;
  std::uint64_t rejected_out_of_order = 0;
  std::uint64_t rejected_too_many = 0;
  std::uint64_t rejected_full = 0;
};

class Registrar {
 public:
  /// `store` and `clock` must outlive the registrar.
  Registrar(RegistrarConfig config, LocationStore& store, const Clock& clock);

  /// Processes one REGISTER (precondition: request.is_request() and method() == kRegister;
  /// anything else gets a 405). Never throws; every outcome is a decision to answer with.
  RegisterDecision handle_register(const sip::SipMessage& request, const TransportContext& ctx);

  /// Targets for a request addressed to `uri` (RFC 3261 §16.5): current bindings of its AoR,
  /// best first. Empty if the URI is not sip/sips or nothing is registered.
  std::vector<Target> lookup(const sip::Uri& uri) const;

  /// Removes expired bindings; call from a periodic timer. @return how many were removed.
  std::size_t purge_expired();

  const RegistrarStats& stats() const noexcept { return stats_; }
  const RegistrarConfig& config() const noexcept { return config_; }

 private:
  bool serves(const sip::Uri& uri) const;
  RegisterDecision reject(std::uint16_t status, std::string reason, std::uint64_t& counter);
  void add_success_headers(RegisterDecision& d, const sip::SipMessage& request, bool outbound);

  RegistrarConfig config_;
  LocationStore& store_;
  const Clock& clock_;
  RegistrarStats stats_;
};

/// Converts bindings (as from LocationStore::lookup) into proxy targets, order kept.
std::vector<Target> to_targets(const std::vector<Binding>& bindings);

}  // namespace portcullis::registrar
