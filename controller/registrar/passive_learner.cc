#include "controller/registrar/passive_learner.h"

#include <algorithm>
#include <optional>

#include "controller/registrar/aor.h"
#include "controller/registrar/contact_params.h"
#include "controller/sip/parser/headers.h"
#include "controller/sip/parser/uri.h"

namespace portcullis::registrar {
namespace {

// RFC 3261 §17.1.3: a response matches the client transaction by top Via branch and CSeq
// method; Call-ID and CSeq number are added because the branch is the relay's own and a peer
// could reuse it.
std::string match_key(std::string_view branch, std::string_view call_id, std::uint32_t cseq) {
  std::string key;
  key.reserve(branch.size() + call_id.size() + 12);
  key += branch;
  key += '\n';
  key += call_id;
  key += '\n';
  key += std::to_string(cseq);
  return key;
}

}  // namespace

PassiveLearner::PassiveLearner(PassiveLearnerConfig config, LocationStore& store, const Clock& clock)
    : config_(config), store_(store), clock_(clock) {}

Status PassiveLearner::on_register_relayed(const sip::SipMessage& original, const TransportContext& ctx,
                                           const sip::SipMessage& relayed) {
  if (!original.is_request() || original.method() != sip::Method::kRegister || !relayed.is_request() ||
      relayed.method() != sip::Method::kRegister || relayed.vias().empty()) {
    return unexpected(invalid_argument("not a REGISTER"));
  }
  std::string key = match_key(relayed.vias().front().branch, relayed.call_id(), relayed.cseq().number);
  if (pending_.contains(key)) {
    return ok_status();  // retransmission of a REGISTER already pending
  }
  expire_pending();
  if (deadlines_.size() >= 2 * config_.max_pending) {
    // Answered REGISTERs leave their deadline behind; compact so the queue stays bounded too.
    std::erase_if(deadlines_, [this](const Deadline& d) {
      auto p = pending_.find(d.key);
      return p == pending_.end() || p->second.seq != d.seq;
    });
  }
  if (pending_.size() >= config_.max_pending) {
    return unexpected(resource_exhausted("too many pending relayed REGISTERs"));
  }
  auto aor = canonical_aor(original.to().uri);
  if (!aor) {
    return unexpected(invalid_argument(std::string(aor.error().reason)));
  }
  const auto& orig_contacts = original.contact();
  const auto& relayed_contacts = relayed.contact();
  const auto& path = original.path();
  if (!orig_contacts || !relayed_contacts || !path ||
      orig_contacts->contacts.size() != relayed_contacts->contacts.size() ||
      orig_contacts->star != relayed_contacts->star) {
    return unexpected(invalid_argument("Contact lists of original and relayed REGISTER differ"));
  }
  Pending p;
  p.seq = next_seq_++;
  p.aor = std::move(aor).value();
  p.star = orig_contacts->star;
  for (std::size_t i = 0; i < orig_contacts->contacts.size(); ++i) {
    const sip::NameAddr& o = orig_contacts->contacts[i];
    auto params = read_contact_params(o);
    if (!params || !o.uri.is_sip_or_sips()) {
      return unexpected(invalid_argument("unusable Contact"));
    }
    p.contacts.push_back(PendingContact{std::string(o.uri.text), std::string(relayed_contacts->contacts[i].uri.text),
                                        params->q, std::string(params->instance_id), params->reg_id});
  }
  p.path = path_texts(*path);
  p.call_id.assign(original.call_id());
  p.cseq = original.cseq().number;
  p.received = ctx;
  deadlines_.push_back(Deadline{clock_.now() + config_.pending_timeout, p.seq, key});
  pending_.emplace(std::move(key), std::move(p));
  return ok_status();
}

LearnOutcome PassiveLearner::on_response(const sip::SipMessage& response) {
  LearnOutcome out;
  if (!response.is_response() || response.method() != sip::Method::kRegister || response.vias().empty()) {
    return out;
  }
  auto it = pending_.find(match_key(response.vias().front().branch, response.call_id(), response.cseq().number));
  if (it == pending_.end()) {
    return out;
  }
  const std::uint16_t status = response.status_code();
  if (status < 200) {
    out.result = LearnResult::kProvisional;
    return out;
  }
  Pending p = std::move(it->second);
  pending_.erase(it);  // its deadline entry is skipped later (seq no longer present)
  out.aor = p.aor;
  if (status >= 300) {
    // 401/407 challenges, 403, 423 ...: the upstream did not bind anything.
    out.result = LearnResult::kRejected;
    return out;
  }
  const auto& granted = response.contact();
  const auto& expires_header = response.expires();
  if (!granted || !expires_header) {
    out.result = LearnResult::kMalformed;
    return out;
  }
  out.result = LearnResult::kLearned;
  const Clock::TimePoint now = clock_.now();
  if (p.star) {
    out.removed = store_.remove_all(p.aor);
    return out;
  }
  for (const PendingContact& pc : p.contacts) {
    auto relayed_uri = sip::parse_uri(pc.relayed);
    std::optional<std::uint32_t> expires;
    if (relayed_uri) {
      // RFC 3261 §10.3 step 8: the 2xx lists every current binding with the expiry the
      // registrar chose; a contact missing from it is not bound.
      for (const sip::NameAddr& c : granted->contacts) {
        if (sip::uri_equivalent(c.uri, *relayed_uri)) {
          expires = sip::contact_expires(c);
          if (!expires && expires_header->has_value()) {
            expires = **expires_header;
          }
          break;
        }
      }
    }
    const BindingKey key{pc.original, pc.instance_id, pc.reg_id};
    if (!expires || *expires == 0) {
      if (store_.remove(p.aor, key)) {
        ++out.removed;
      }
      continue;
    }
    Binding b;
    b.contact = pc.original;
    b.path = p.path;
    b.instance_id = pc.instance_id;
    b.reg_id = pc.reg_id;
    b.call_id = p.call_id;
    b.cseq = p.cseq;
    b.q = pc.q;
    b.received = p.received;
    b.expires_at = now + std::chrono::seconds(std::min(*expires, config_.max_expires));
    b.updated_at = now;
    if (store_.put(p.aor, std::move(b))) {
      ++out.learned;
    }
  }
  return out;
}

std::size_t PassiveLearner::expire_pending() {
  const Clock::TimePoint now = clock_.now();
  std::size_t n = 0;
  while (!deadlines_.empty() && deadlines_.front().at <= now) {
    auto it = pending_.find(deadlines_.front().key);
    if (it != pending_.end() && it->second.seq == deadlines_.front().seq) {
      pending_.erase(it);
      ++n;
    }
    deadlines_.pop_front();
  }
  return n;
}

}  // namespace portcullis::registrar
