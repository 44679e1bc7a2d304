// PassiveLearner: for deployments where the real registrar is upstream (a hosted PBX, a trunk
// provider) and the controller only relays REGISTERs. It remembers each relayed REGISTER and,
// when the upstream answers 2xx, records the bindings the upstream granted — with the transport
// facts of the phone's own REGISTER — so an inbound INVITE for a LAN user still finds where the
// phone really is. Non-2xx finals (401, 403 ...) and timeouts learn nothing.
//
//   phone ──REGISTER──► controller ──REGISTER (our Via on top)──► upstream registrar
//                        on_register_relayed(original, ctx, relayed)
//   phone ◄──200────── controller ◄──200 (Contact;expires=N)──── upstream
//                        on_response(200) → store.put(...)
//
// Sans-I/O; call expire_pending() from a timer. Threading: the store's executor.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/base/result.h"
#include "common/time/clock.h"
#include "controller/registrar/binding.h"
#include "controller/registrar/location_store.h"
#include "controller/sip/message/sip_message.h"

namespace portcullis::registrar {

struct PassiveLearnerConfig {
  /// Relayed REGISTERs awaiting a final response; more are relayed but not learned.
  std::size_t max_pending = 4096;
  /// Forget a relayed REGISTER after this long without a final response: Timer F = 64*T1
  /// (RFC 3261 §17.1.2.2), when the upstream client transaction gives up too.
  Clock::Duration pending_timeout = std::chrono::seconds(32);
  /// Upper bound on what we keep locally, whatever the upstream granted.
  std::uint32_t max_expires = 7200;
};

enum class LearnResult : std::uint8_t {
  kLearned,      // 2xx: bindings put and/or removed (see counts)
  kProvisional,  // 1xx: still pending
  kRejected,     // 300–699: pending dropped, nothing learned
  kNoMatch,      // not a response to a REGISTER we relayed (or it already timed out)
  kMalformed,    // 2xx whose Contact list does not parse: pending dropped, nothing learned
};

struct LearnOutcome {
  LearnResult result = LearnResult::kNoMatch;
  std::string aor;
  std::size_t learned = 0;
  std::size_t removed = 0;
};

class PassiveLearner {
 public:
  /// `store` and `clock` must outlive the learner.
  PassiveLearner(PassiveLearnerConfig config, LocationStore& store, const Clock& clock);

  /// Records a REGISTER as it leaves for the upstream. `original` is the request as the phone
  /// sent it (its Contact and Path are what we store), `ctx` where it came from, `relayed` the
  /// request as sent upstream: its top Via branch, Call-ID and CSeq key the match, and its
  /// Contacts correspond one to one, in order, to the original's (a relay may rewrite them).
  /// @return invalid_argument (not a REGISTER, non-SIP AoR, unparsable or mismatched contacts),
  ///         resource_exhausted (too many pending). The caller relays the request either way.
  Status on_register_relayed(const sip::SipMessage& original, const TransportContext& ctx,
                             const sip::SipMessage& relayed);

  /// Feeds a response from the upstream. Matches on top Via branch + Call-ID + CSeq number.
  LearnOutcome on_response(const sip::SipMessage& response);

  /// Drops pending REGISTERs older than pending_timeout. @return how many.
  std::size_t expire_pending();

  std::size_t pending_count() const noexcept { return pending_.size(); }

 private:
  struct PendingContact {
    std::string original;  // contact URI the phone registered (stored in the binding)
    std::string relayed;   // contact URI the upstream sees (matched in its 2xx)
    std::uint16_t q = 1000;
    std::string instance_id;
    std::uint32_t reg_id = 0;
  };
  struct Pending {
    std::uint64_t seq = 0;
    std::string aor;
    bool star = false;
    std::vector<PendingContact> contacts;
    std::vector<std::string> path;
    std::string call_id;
    std::uint32_t cseq = 0;
    TransportContext received;
  };
  struct Deadline {
    Clock::TimePoint at;
    std::uint64_t seq;
    std::string key;
  };

  PassiveLearnerConfig config_;
  LocationStore& store_;
  const Clock& clock_;
  std::unordered_map<std::string, Pending> pending_;
  std::deque<Deadline> deadlines_;  // constant timeout → already in deadline order
  std::uint64_t next_seq_ = 1;
};

}  // namespace portcullis::registrar
