#include "controller/registrar/registrar.h"

#include <algorithm>
#include <chrono>
#include <optional>
#include <utility>

#include "common/base/text.h"
#include "controller/registrar/aor.h"
#include "controller/registrar/contact_params.h"
#include "controller/sip/parser/headers.h"
#include "controller/sip/parser/uri.h"

namespace portcullis::registrar {
namespace {

// Extensions a UA may Require of us (RFC 3261 §8.2.2.3, §10.3 step 2).
constexpr std::string_view kSupportedExtensions[] = {"path", "outbound"};

// RFC 3261 §10.3 step 7: a 423 is allowed only for intervals "smaller than one hour".
constexpr std::uint32_t kOneHour = 3600;

bool has_tag(const std::vector<std::string_view>& tags, std::string_view tag) {
  return std::any_of(tags.begin(), tags.end(), [&](std::string_view t) { return iequals(t, tag); });
}

// One Contact of the request after planning (RFC 3261 §10.3 step 7).
struct PlannedContact {
  const sip::NameAddr* contact = nullptr;
  ContactParams params;
  std::uint32_t expires = 0;         // granted, after default/min/max
  std::optional<std::size_t> match;  // index into the AoR's stored bindings
};

bool same_key(const ContactParams& a, const sip::Uri& a_uri, const ContactParams& b, const sip::Uri& b_uri) {
  const bool a_ob = a.reg_id != 0;
  const bool b_ob = b.reg_id != 0;
  if (a_ob || b_ob) {
    return a_ob && b_ob && a.reg_id == b.reg_id && a.instance_id == b.instance_id;
  }
  return sip::uri_equivalent(a_uri, b_uri);
}

}  // namespace

const HeaderLine* RegisterDecision::header(std::string_view name) const noexcept {
  for (const HeaderLine& h : headers) {
    if (h.name == name) {
      return &h;
    }
  }
  return nullptr;
}

std::vector<Target> to_targets(const std::vector<Binding>& bindings) {
  std::vector<Target> out;
  out.reserve(bindings.size());
  for (const Binding& b : bindings) {
    out.push_back(Target{b.contact, b.path, b.received.source, b.received.transport, b.received.local,
                         b.received.connection_id, b.q, b.instance_id, b.reg_id});
  }
  return out;
}

Registrar::Registrar(RegistrarConfig config, LocationStore& store, const Clock& clock)
    : config_(std::move(config)), store_(store), clock_(clock) {
  for (std::string& d : config_.domains) {
    for (char& c : d) {
      c = ascii_lower(c);
    }
  }
}

bool Registrar::serves(const sip::Uri& uri) const {
  const std::string host = canonical_host(uri);
  return std::find(config_.domains.begin(), config_.domains.end(), host) != config_.domains.end();
}

RegisterDecision Registrar::reject(std::uint16_t status, std::string reason, std::uint64_t& counter) {
  ++counter;
  RegisterDecision d;
  d.status = status;
  d.reason = std::move(reason);
  return d;
}

void Registrar::add_success_headers(RegisterDecision& d, const sip::SipMessage& request, bool outbound) {
  const Clock::TimePoint now = clock_.now();
  d.bindings = store_.lookup(d.aor, now);
  // RFC 3261 §10.3 step 8: every current binding, each with the expiry the registrar chose.
  for (const Binding& b : d.bindings) {
    d.headers.push_back({"Contact", format_contact(b, now)});
  }
  // RFC 3327 §5.3: echo the Path the registrar stored, if the UA said it understands Path.
  const auto& supported = request.supported();
  const auto& path = request.path();
  if (supported && has_tag(*supported, "path") && path && !path->empty()) {
    std::string joined;
    for (const std::string& p : path_texts(*path)) {
      if (!joined.empty()) {
        joined += ", ";
      }
      joined += p;
    }
    d.headers.push_back({"Path", std::move(joined)});
  }
  if (outbound) {
    // RFC 5626 §6: a registrar that honoured reg-id says so with Require: outbound.
    d.headers.push_back({"Require", "outbound"});
  }
  // RFC 3261 §10.3 step 8: "The response SHOULD include a Date header field."
  d.headers.push_back({"Date", format_http_date(clock_.wall_now())});
  d.status = 200;
  d.reason = "OK";
  ++stats_.accepted;
}

RegisterDecision Registrar::handle_register(const sip::SipMessage& request, const TransportContext& ctx) {
  if (!request.is_request() || request.method() != sip::Method::kRegister) {
    RegisterDecision d = reject(405, "Method Not Allowed", stats_.rejected_malformed);
    d.headers.push_back({"Allow", "REGISTER"});
    return d;
  }
  const Clock::TimePoint now = clock_.now();

  // Policy before anything else: who may register at all (checked on the packet source, which a
  // NATed or hostile sender cannot forge on a connection, RFC 3581 §4).
  if (!config_.allowed_sources.empty()) {
    const bool allowed = std::any_of(config_.allowed_sources.begin(), config_.allowed_sources.end(),
                                     [&](const net::Prefix& p) { return p.contains(ctx.source.address()); });
    if (!allowed) {
      return reject(403, "Forbidden", stats_.rejected_source);
    }
  }

  // §10.3 step 1: the Request-URI names the domain; we only answer for ours.
  const sip::Uri& ruri = request.request_uri();
  if (!ruri.is_sip_or_sips()) {
    return reject(416, "Unsupported URI Scheme", stats_.rejected_malformed);  // §8.2.2.1
  }
  if (!serves(ruri)) {
    return reject(config_.foreign_domain_status,
                  config_.foreign_domain_status == 403 ? "Forbidden" : "Not Found", stats_.rejected_domain);
  }

  // §10.3 step 2: Require processing as a UAS (§8.2.2.3) → 420 listing what we lack.
  const auto& require = request.require();
  if (!require) {
    return reject(400, std::string(require.error().reason), stats_.rejected_malformed);
  }
  std::string unsupported;
  for (std::string_view tag : *require) {
    const bool known = std::any_of(std::begin(kSupportedExtensions), std::end(kSupportedExtensions),
                                   [&](std::string_view k) { return iequals(k, tag); });
    if (!known) {
      if (!unsupported.empty()) {
        unsupported += ", ";
      }
      unsupported += tag;
    }
  }
  if (!unsupported.empty()) {
    RegisterDecision d = reject(420, "Bad Extension", stats_.rejected_extension);
    d.headers.push_back({"Unsupported", std::move(unsupported)});
    return d;
  }

  // §10.3 steps 3–4 (authentication, authorisation) ran in controller/security.

  // §10.3 step 5: the AoR is the To URI; it must be SIP/SIPS (RFC 4475 §3.3.4) and ours.
  auto aor = canonical_aor(request.to().uri);
  if (!aor) {
    return reject(aor.error().status, std::string(aor.error().reason), stats_.rejected_malformed);
  }
  if (!serves(request.to().uri)) {
    return reject(404, "Not Found", stats_.rejected_domain);
  }

  const auto& contacts = request.contact();
  if (!contacts) {
    return reject(400, std::string(contacts.error().reason), stats_.rejected_malformed);
  }
  const auto& expires_header = request.expires();
  if (!expires_header) {
    return reject(400, std::string(expires_header.error().reason), stats_.rejected_malformed);
  }
  const auto& path = request.path();
  if (!path) {
    return reject(400, std::string(path.error().reason), stats_.rejected_malformed);
  }
  const std::string_view call_id = request.call_id();
  const std::uint32_t cseq = request.cseq().number;

  std::vector<Binding> stored = store_.bindings(*aor);
  auto is_current = [now](const Binding& b) { return b.expires_at > now; };
  // §10.3 step 7: same Call-ID and a lower CSeq than the stored one → the update MUST be
  // aborted. An equal CSeq is the same request again (a UA never reuses a CSeq, §8.1.1.5): a
  // retransmission, or a copy that took another path. It is re-applied, which changes nothing
  // the first one did not, and answered the same way: what lets REGISTER be answered by a
  // stateless UAS (§8.2.7, ProxyConfig::stateless_register).
  auto out_of_order = [&](const Binding& b) { return is_current(b) && b.call_id == call_id && cseq < b.cseq; };

  // §10.3 step 6: "Contact: *" removes everything, but only with Expires: 0 and alone (the
  // message layer already rejects * mixed with other contacts).
  if (contacts->star) {
    if (!expires_header->has_value() || **expires_header != 0) {
      return reject(400, "Contact: * requires Expires: 0", stats_.rejected_malformed);
    }
    if (std::any_of(stored.begin(), stored.end(), out_of_order)) {
      return reject(500, "CSeq Out Of Order", stats_.rejected_out_of_order);
    }
    RegisterDecision d;
    d.aor = std::move(aor).value();
    d.removed = static_cast<std::size_t>(std::count_if(stored.begin(), stored.end(), is_current));
    store_.remove_all(d.aor);
    add_success_headers(d, request, false);
    return d;
  }

  // Parse stored contact URIs once, for §19.1.4 equivalence. Views point into `stored`, which is
  // not modified from here on.
  std::vector<std::optional<sip::Uri>> stored_uris;
  stored_uris.reserve(stored.size());
  for (const Binding& b : stored) {
    auto u = sip::parse_uri(b.contact);
    stored_uris.push_back(u ? std::optional<sip::Uri>(std::move(u).value()) : std::nullopt);
  }

  // §10.3 step 7, first pass: validate every contact and plan the change, writing nothing, so the
  // request succeeds or fails as a whole ("MUST be committed ... if and only if all ... succeed").
  std::vector<PlannedContact> plan;
  bool too_brief = false;
  bool outbound = false;
  for (const sip::NameAddr& na : contacts->contacts) {
    if (!na.uri.is_sip_or_sips()) {
      return reject(400, "Contact URI must be SIP or SIPS", stats_.rejected_malformed);
    }
    auto params = read_contact_params(na);
    if (!params) {
      return reject(400, std::string(params.error().reason), stats_.rejected_malformed);
    }
    PlannedContact pc{&na, *params, 0, std::nullopt};
    outbound = outbound || pc.params.reg_id != 0;
    // §10.2.1.1: the contact's expires parameter wins over the Expires header, which wins over
    // our default.
    std::uint32_t requested = config_.default_expires;
    if (pc.params.expires) {
      requested = *pc.params.expires;
    } else if (expires_header->has_value()) {
      requested = **expires_header;
    }
    if (requested != 0 && requested < kOneHour && requested < config_.min_expires) {
      too_brief = true;
    }
    pc.expires = std::min(requested, config_.max_expires);
    for (std::size_t i = 0; i < stored.size(); ++i) {
      const Binding& b = stored[i];
      const bool hit = pc.params.reg_id != 0
                           ? (b.is_outbound() && b.reg_id == pc.params.reg_id && b.instance_id == pc.params.instance_id)
                           : (!b.is_outbound() && stored_uris[i] && sip::uri_equivalent(*stored_uris[i], na.uri));
      if (hit) {
        pc.match = i;
        break;
      }
    }
    if (pc.match && out_of_order(stored[*pc.match])) {
      return reject(500, "CSeq Out Of Order", stats_.rejected_out_of_order);
    }
    // The same contact twice in one REGISTER: the later value wins.
    auto dup = std::find_if(plan.begin(), plan.end(), [&](const PlannedContact& p) {
      return same_key(p.params, p.contact->uri, pc.params, na.uri);
    });
    if (dup != plan.end()) {
      *dup = pc;
    } else {
      plan.push_back(pc);
    }
  }
  if (too_brief) {
    RegisterDecision d = reject(423, "Interval Too Brief", stats_.rejected_interval);
    d.headers.push_back({"Min-Expires", std::to_string(config_.min_expires)});
    return d;
  }

  // Contacts per AoR after the change: current bindings not touched by this request, plus every
  // planned contact that stays bound.
  std::vector<bool> touched(stored.size(), false);
  std::size_t staying = 0;
  std::size_t brand_new = 0;
  for (const PlannedContact& pc : plan) {
    if (pc.match) {
      touched[*pc.match] = true;
    }
    if (pc.expires > 0) {
      ++staying;
      if (!pc.match) {
        ++brand_new;
      }
    }
  }
  std::vector<std::size_t> untouched;  // current, not named in this request
  for (std::size_t i = 0; i < stored.size(); ++i) {
    if (!touched[i] && is_current(stored[i])) {
      untouched.push_back(i);
    }
  }
  std::vector<std::size_t> evict;
  if (staying + untouched.size() > config_.max_contacts_per_aor) {
    if (config_.overflow == ContactOverflow::kReject || staying > config_.max_contacts_per_aor) {
      return reject(403, "Too Many Contacts", stats_.rejected_too_many);
    }
    std::sort(untouched.begin(), untouched.end(),
              [&](std::size_t a, std::size_t b) { return stored[a].updated_at < stored[b].updated_at; });
    const std::size_t excess = staying + untouched.size() - config_.max_contacts_per_aor;
    evict.assign(untouched.begin(), untouched.begin() + static_cast<std::ptrdiff_t>(excess));
  }
  if (brand_new > store_.capacity_left() + evict.size()) {
    store_.purge_expired(now);
    if (brand_new > store_.capacity_left() + evict.size()) {
      RegisterDecision d = reject(503, "Service Unavailable", stats_.rejected_full);
      d.headers.push_back({"Retry-After", "60"});
      return d;
    }
  }

  // Second pass: commit.
  RegisterDecision d;
  d.aor = std::move(aor).value();
  for (std::size_t i : evict) {
    store_.remove(d.aor, BindingKey::of(stored[i]));
    ++d.evicted;
  }
  const std::vector<std::string> path_values = path_texts(*path);
  for (const PlannedContact& pc : plan) {
    if (pc.expires == 0) {
      // §10.3 step 7: an expiration of zero removes the binding.
      if (pc.match) {
        if (is_current(stored[*pc.match])) {
          ++d.removed;
        }
        store_.remove(d.aor, BindingKey::of(stored[*pc.match]));
      }
      continue;
    }
    Binding b;
    b.contact.assign(pc.contact->uri.text);
    b.path = path_values;
    b.instance_id.assign(pc.params.instance_id);
    b.reg_id = pc.params.reg_id;
    b.call_id.assign(call_id);
    b.cseq = cseq;
    b.q = pc.params.q;
    b.received = ctx;
    b.expires_at = now + std::chrono::seconds(pc.expires);
    b.updated_at = now;
    if (pc.match) {
      const Binding& old = stored[*pc.match];
      if (!BindingKey::of(b).matches(old)) {
        // Equivalent URI written differently: replace the old spelling.
        store_.remove(d.aor, BindingKey::of(old));
      }
      if (is_current(old)) {
        ++d.updated;
      } else {
        ++d.added;
      }
    } else {
      ++d.added;
    }
    if (auto st = store_.put(d.aor, std::move(b)); !st) {
      // Capacity was checked above, so only a store failure lands here.
      return reject(500, "Location Store Failure", stats_.rejected_full);
    }
  }
  add_success_headers(d, request, outbound);
  return d;
}

std::vector<Target> Registrar::lookup(const sip::Uri& uri) const {
  auto aor = canonical_aor(uri);
  if (!aor) {
    return {};
  }
  return to_targets(store_.lookup(*aor, clock_.now()));
}

std::size_t Registrar::purge_expired() { return store_.purge_expired(clock_.now()); }

}  // namespace portcullis::registrar
