#include "controller/sip/resolver/rfc3263_locator.h"

#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <utility>

namespace portcullis::sip::resolver {
namespace {

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    auto lower = [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; };
    if (lower(a[i]) != lower(b[i])) {
      return false;
    }
  }
  return true;
}

// RFC 3263 §4.1: the NAPTR services SIP defines (RFC 3263 §4.1 and the IANA registry):
// "SIP+D2U" (UDP), "SIP+D2T" (TCP), "SIPS+D2T" (TLS over TCP). SCTP (D2S) is not supported.
std::optional<TargetTransport> naptr_service_transport(std::string_view service) {
  if (iequals(service, "SIP+D2U")) {
    return TargetTransport::kUdp;
  }
  if (iequals(service, "SIP+D2T")) {
    return TargetTransport::kTcp;
  }
  if (iequals(service, "SIPS+D2T")) {
    return TargetTransport::kTls;
  }
  return std::nullopt;
}

// RFC 3263 §4.1/§4.2 SRV owner names: "_sips._tcp" for TLS, "_sip._tcp" for TCP, "_sip._udp" for UDP.
std::string srv_name(TargetTransport transport, std::string_view domain) {
  std::string out;
  switch (transport) {
    case TargetTransport::kUdp:
      out = "_sip._udp.";
      break;
    case TargetTransport::kTcp:
      out = "_sip._tcp.";
      break;
    case TargetTransport::kTls:
      out = "_sips._tcp.";
      break;
  }
  out += domain;
  return out;
}

}  // namespace

struct Rfc3263Locator::Job {
  enum class Stage : std::uint8_t { kNaptr, kSrv, kAddress };

  struct Host {
    TargetTransport transport = TargetTransport::kUdp;
    std::string name;
    std::uint16_t port = 0;
    std::vector<net::IpAddress> v4;
    std::vector<net::IpAddress> v6;
  };
  // One SRV answer (or the A/AAAA fallback): its hosts, in the order RFC 2782 chose.
  struct HostSet {
    TargetTransport transport = TargetTransport::kUdp;
    std::vector<Host> hosts;
  };

  LocateId id = 0;
  LocateCallback callback;
  bool sips = false;
  std::string target;  // RFC 3263 §4: TARGET = maddr or host, canonical form
  TargetTransport fallback_transport = TargetTransport::kUdp;
  Stage stage = Stage::kNaptr;
  int pending = 0;  // outstanding queries + guards held by running code
  std::size_t queries = 0;
  std::size_t srv_records = 0;
  bool dns_failed = false;
  std::string last_error;
  std::vector<DnsQueryId> outstanding;
  std::vector<HostSet> sets;
};

Rfc3263Locator::Rfc3263Locator(DnsResolver& dns, RandomSource random, LocatorConfig config, DnsCache* cache)
    : dns_(dns), random_(std::move(random)), config_(std::move(config)), cache_(cache) {}

Rfc3263Locator::~Rfc3263Locator() {
  for (auto& [id, job] : jobs_) {
    for (const DnsQueryId q : job->outstanding) {
      dns_.cancel(q);
    }
  }
}

LocateId Rfc3263Locator::locate(const Uri& uri, LocateCallback callback) {
  const LocateId id = next_id_++;
  ++stats_.locates;
  auto owned = std::make_unique<Job>();
  owned->id = id;
  owned->callback = std::move(callback);
  Job& job = *owned;
  jobs_.emplace(id, std::move(owned));
  ++job.pending;  // guard: cached answers complete synchronously inside start()
  start(job, uri);
  auto it = jobs_.find(id);
  if (it == jobs_.end()) {
    return 0;  // finished inside start() (numeric host or bad URI)
  }
  release(*it->second);
  return jobs_.count(id) != 0 ? id : 0;
}

void Rfc3263Locator::cancel(LocateId id) {
  const auto it = jobs_.find(id);
  if (it == jobs_.end()) {
    return;
  }
  for (const DnsQueryId q : it->second->outstanding) {
    dns_.cancel(q);
  }
  jobs_.erase(it);
}

void Rfc3263Locator::start(Job& job, const Uri& uri) {
  if (!uri.is_sip_or_sips()) {
    finish(job, unexpected(invalid_argument("RFC 3263 locates sip and sips URIs only")));
    return;
  }
  job.sips = uri.scheme == UriScheme::kSips;
  auto supported = [&](TargetTransport t) {
    return std::find(config_.transports.begin(), config_.transports.end(), t) != config_.transports.end();
  };

  // RFC 3263 §4: "If the URI contains an maddr parameter with a value [...] TARGET is the maddr;
  // otherwise TARGET is the host value of the hostport component of the URI."
  std::string_view host = uri.maddr().empty() ? uri.host : uri.maddr();
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host.empty()) {
    finish(job, unexpected(invalid_argument("URI has no host")));
    return;
  }

  // RFC 3263 §4.1: an explicit transport parameter selects the transport.
  std::optional<TargetTransport> forced;
  if (const std::string_view tp = uri.transport(); !tp.empty()) {
    if (iequals(tp, "udp")) {
      if (job.sips) {
        // RFC 3261 §26.2.2: sips requires TLS over a reliable transport.
        finish(job, unexpected(invalid_argument("sips URI with transport=udp")));
        return;
      }
      forced = TargetTransport::kUdp;
    } else if (iequals(tp, "tcp")) {
      // RFC 3263 §4.1: "if the transport is TCP and the URI is a SIPS URI, TLS is used".
      forced = job.sips ? TargetTransport::kTls : TargetTransport::kTcp;
    } else if (iequals(tp, "tls")) {
      forced = TargetTransport::kTls;  // deprecated by RFC 3261 but still seen
    } else {
      finish(job, unexpected(Error(ErrorCode::kUnimplemented, "unsupported transport=" + std::string(tp))));
      return;
    }
  }
  if (job.sips && !supported(TargetTransport::kTls)) {
    finish(job, unexpected(Error(ErrorCode::kUnimplemented, "sips URI but TLS is not enabled")));
    return;
  }
  if (forced && !supported(*forced)) {
    finish(job, unexpected(Error(ErrorCode::kUnimplemented,
                                 "transport " + std::string(target_transport_name(*forced)) + " not enabled")));
    return;
  }
  // RFC 3263 §4.1: without NAPTR/SRV, "the client SHOULD use TCP for a SIPS URI and UDP for a SIP
  // URI" (TLS over TCP for sips). With UDP disabled, a sip URI falls back to TCP.
  TargetTransport default_transport = TargetTransport::kTls;
  if (!job.sips) {
    default_transport = supported(TargetTransport::kUdp) ? TargetTransport::kUdp : TargetTransport::kTcp;
    if (!supported(default_transport)) {
      default_transport = TargetTransport::kTls;
    }
    if (!supported(default_transport)) {
      finish(job, unexpected(Error(ErrorCode::kUnimplemented, "no transport enabled")));
      return;
    }
  }
  job.fallback_transport = forced.value_or(default_transport);

  // RFC 3263 §4.1/§4.2: a numeric TARGET is used as is, on the URI port or the default port.
  if (auto ip = net::IpAddress::parse(host); ip.ok()) {
    ++stats_.numeric;
    const TargetTransport t = job.fallback_transport;
    Target target{t, net::Endpoint(*ip, uri.port.value_or(default_port(t))), {}, ip->to_string()};
    finish(job, std::vector<Target>{std::move(target)});
    return;
  }
  job.target = canonical_dns_name(host);
  if (job.target.empty()) {
    finish(job, unexpected(invalid_argument("URI has no host")));
    return;
  }

  if (uri.port) {
    // RFC 3263 §4.2: "If the TARGET was not a numeric IP address, but a port is present in the
    // URI, the client performs an A or AAAA record lookup of the domain name."
    job.stage = Job::Stage::kAddress;
    job.sets.push_back({job.fallback_transport, {}});
    add_host(job, 0, job.fallback_transport, job.target, *uri.port);
    return;
  }
  if (forced) {
    // RFC 3263 §4.2: transport known, no port: SRV query for that transport.
    job.stage = Job::Stage::kSrv;
    start_srv_set(job, *forced, srv_name(*forced, job.target));
    return;
  }
  if (config_.use_naptr) {
    start_naptr(job);
    return;
  }
  start_srv_phase(job);
}

void Rfc3263Locator::issue(Job& job, const std::string& name, DnsType type, Handler handler) {
  if (job.queries >= config_.max_queries) {
    job.dns_failed = true;
    job.last_error = "DNS query budget exhausted";
    ++stats_.dns_failures;
    return;
  }
  ++job.queries;
  if (cache_ != nullptr) {
    if (auto hit = cache_->lookup(name, type)) {
      // Runs synchronously; the caller holds a pending guard, so the job cannot finish here.
      ++stats_.cache_hits;
      handler(job, std::move(*hit));
      return;
    }
  }
  ++stats_.dns_queries;
  ++job.pending;
  auto query_id = std::make_shared<DnsQueryId>(0);
  const LocateId id = job.id;
  // DnsResolver contract: the callback never runs inside query(), so query_id is set by then.
  *query_id = dns_.query(name, type, [this, id, name, type, query_id, handler = std::move(handler)](DnsResult r) {
    if (cache_ != nullptr) {
      cache_->store(name, type, r);
    }
    const auto it = jobs_.find(id);
    if (it == jobs_.end()) {
      return;
    }
    Job& j = *it->second;
    std::erase(j.outstanding, *query_id);
    handler(j, std::move(r));
    release(j);
  });
  job.outstanding.push_back(*query_id);
}

void Rfc3263Locator::start_naptr(Job& job) {
  job.stage = Job::Stage::kNaptr;
  issue(job, job.target, DnsType::kNaptr, [this](Job& j, DnsResult r) { on_naptr(j, std::move(r)); });
}

void Rfc3263Locator::on_naptr(Job& job, DnsResult result) {
  if (!result.ok()) {
    // RFC 3263 §4.1: "If no NAPTR records are found, the client constructs SRV queries". A failed
    // NAPTR query is treated the same way so one broken record type does not block the domain.
    note_failure(job, result);
    start_srv_phase(job);
    return;
  }
  struct Usable {
    const NaptrRecord* record;
    TargetTransport transport;
  };
  std::vector<Usable> usable;
  for (const NaptrRecord& rec : result.value().naptr) {
    // RFC 3263 §4.1: SIP uses terminal NAPTRs with the "s" flag (next lookup: SRV) and an empty
    // regexp; the replacement is the SRV owner name.
    if (!iequals(rec.flags, "s") || rec.replacement.empty()) {
      continue;
    }
    const auto transport = naptr_service_transport(rec.service);
    if (!transport) {
      continue;
    }
    // RFC 3263 §4.1: a SIPS URI only uses SIPS+D2T records (TLS).
    if (job.sips && *transport != TargetTransport::kTls) {
      continue;
    }
    if (std::find(config_.transports.begin(), config_.transports.end(), *transport) == config_.transports.end()) {
      continue;
    }
    usable.push_back({&rec, *transport});
  }
  if (usable.empty()) {
    // RFC 3263 §4.1 discards NAPTRs for unsupported services; with none left this is equivalent
    // to no NAPTR at all.
    start_srv_phase(job);
    return;
  }
  // RFC 3403 §4.1: ORDER first (lower first), then PREFERENCE (lower first).
  std::stable_sort(usable.begin(), usable.end(), [](const Usable& a, const Usable& b) {
    if (a.record->order != b.record->order) {
      return a.record->order < b.record->order;
    }
    return a.record->preference < b.record->preference;
  });
  job.stage = Job::Stage::kSrv;
  std::size_t followed = 0;
  std::vector<std::pair<TargetTransport, std::string>> seen;
  for (const Usable& u : usable) {
    if (followed == config_.max_naptr_records) {
      break;
    }
    auto key = std::make_pair(u.transport, u.record->replacement);
    if (std::find(seen.begin(), seen.end(), key) != seen.end()) {
      continue;
    }
    seen.push_back(key);
    ++followed;
    // RFC 3263 §4.3: the records after the first serve as further fall-back alternatives.
    start_srv_set(job, u.transport, u.record->replacement);
  }
}

void Rfc3263Locator::start_srv_phase(Job& job) {
  // RFC 3263 §4.1: "If no NAPTR records are found, the client constructs SRV queries for those
  // transport protocols it supports, and does a query for each." sips: only _sips._tcp.
  job.stage = Job::Stage::kSrv;
  for (const TargetTransport t : config_.transports) {
    if (job.sips && t != TargetTransport::kTls) {
      continue;
    }
    start_srv_set(job, t, srv_name(t, job.target));
  }
}

void Rfc3263Locator::start_srv_set(Job& job, TargetTransport transport, std::string name) {
  job.sets.push_back({transport, {}});
  const std::size_t index = job.sets.size() - 1;
  issue(job, name, DnsType::kSrv, [this, index](Job& j, DnsResult r) { on_srv(j, index, std::move(r)); });
}

void Rfc3263Locator::on_srv(Job& job, std::size_t set_index, DnsResult result) {
  if (!result.ok()) {
    note_failure(job, result);
    return;
  }
  const std::vector<SrvRecord> ordered = order_srv_records(result.value().srv, random_);
  job.srv_records += ordered.size();
  std::size_t used = 0;
  for (const SrvRecord& rec : ordered) {
    if (used == config_.max_srv_records) {
      break;
    }
    // RFC 2782: 'A Target of "." means that the service is decidedly not available at this
    // domain.' It counts as an SRV answer (no fall-back to A/AAAA) but yields no host.
    if (rec.target.empty()) {
      continue;
    }
    ++used;
    add_host(job, set_index, job.sets[set_index].transport, rec.target, rec.port);
  }
}

void Rfc3263Locator::add_host(Job& job, std::size_t set_index, TargetTransport transport, std::string host,
                              std::uint16_t port) {
  auto& hosts = job.sets[set_index].hosts;
  hosts.push_back(Job::Host{transport, host, port, {}, {}});
  const std::size_t host_index = hosts.size() - 1;
  auto store = [this, set_index, host_index](bool v6) {
    return [this, set_index, host_index, v6](Job& j, DnsResult r) {
      if (!r.ok()) {
        note_failure(j, r);
        return;
      }
      auto& h = j.sets[set_index].hosts[host_index];
      auto& dst = v6 ? h.v6 : h.v4;
      for (const AddressRecord& a : r.value().addresses) {
        dst.push_back(a.address);
      }
    };
  };
  // RFC 3263 §4.2: "performs an A or AAAA record lookup" -- both, as enabled, in parallel.
  if (config_.use_ipv4) {
    issue(job, host, DnsType::kA, store(false));
  }
  if (config_.use_ipv6) {
    issue(job, host, DnsType::kAaaa, store(true));
  }
}

void Rfc3263Locator::start_address_fallback(Job& job) {
  // RFC 3263 §4.2: "If no SRV records were found, the client performs an A or AAAA record lookup
  // of the domain name. [...] contacted using the transport protocol determined previously, at
  // the default port for that transport."
  job.stage = Job::Stage::kAddress;
  job.sets.push_back({job.fallback_transport, {}});
  add_host(job, job.sets.size() - 1, job.fallback_transport, job.target, default_port(job.fallback_transport));
}

void Rfc3263Locator::note_failure(Job& job, const DnsResult& result) {
  if (result.ok()) {
    return;
  }
  if (!result.error().is_negative_answer()) {
    job.dns_failed = true;
    ++stats_.dns_failures;
  }
  job.last_error = result.error().to_string();
}

void Rfc3263Locator::release(Job& job) {
  if (--job.pending > 0) {
    return;
  }
  // Quiescent: every query of the current stage has answered.
  if (job.stage == Job::Stage::kNaptr) {
    ++job.pending;
    start_srv_phase(job);
    release(job);
    return;
  }
  if (job.stage == Job::Stage::kSrv && job.srv_records == 0) {
    ++job.pending;
    start_address_fallback(job);
    release(job);
    return;
  }

  std::vector<Target> targets;
  auto append = [&](const Job::Host& h, const net::IpAddress& a) {
    if (targets.size() >= config_.max_targets) {
      return;
    }
    Target t{h.transport, net::Endpoint(a, h.port), h.name, job.target};
    const bool dup = std::any_of(targets.begin(), targets.end(), [&](const Target& o) {
      return o.transport == t.transport && o.endpoint == t.endpoint;
    });
    if (!dup) {
      targets.push_back(std::move(t));
    }
  };
  for (const auto& set : job.sets) {
    for (const auto& h : set.hosts) {
      const auto& first = config_.prefer_ipv6 ? h.v6 : h.v4;
      const auto& second = config_.prefer_ipv6 ? h.v4 : h.v6;
      for (const auto& a : first) {
        append(h, a);
      }
      for (const auto& a : second) {
        append(h, a);
      }
    }
  }
  if (!targets.empty()) {
    finish(job, std::move(targets));
    return;
  }
  std::string why = job.target;
  if (!job.last_error.empty()) {
    why += ": " + job.last_error;
  }
  if (job.dns_failed) {
    finish(job, unexpected(unavailable("DNS failure locating " + why)));
  } else {
    ++stats_.not_found;
    finish(job, unexpected(not_found("no SIP server for " + why)));
  }
}

void Rfc3263Locator::finish(Job& job, LocateResult result) {
  LocateCallback callback = std::move(job.callback);
  for (const DnsQueryId q : job.outstanding) {
    dns_.cancel(q);
  }
  jobs_.erase(job.id);  // `job` is gone from here on
  if (callback) {
    callback(std::move(result));
  }
}

}  // namespace portcullis::sip::resolver
