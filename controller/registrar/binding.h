// Value types of the location service: one Binding (RFC 3261 §10 "binding" of a contact address
// to an address-of-record), the transport facts the registrar stores with it for NAT traversal
// (RFC 3581 received/rport, RFC 5626 flows), and the Target the proxy gets back from a lookup.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/net/ip_address.h"
#include "common/time/clock.h"
#include "controller/sip/transaction/transaction_types.h"

namespace portcullis::registrar {

/// The transport a REGISTER arrived on: the transaction layer's type (sip::transport_name() gives
/// "UDP", "TCP" ...). The alias keeps existing spellings compiling; new code names
/// sip::TransportProtocol directly.
using TransportKind = sip::TransportProtocol;

/// Where and how a request really arrived: the facts a NATed phone cannot lie about
/// (RFC 3581 §4: the source IP:port; RFC 5626 §5.3: the flow it came on).
struct TransportContext {
  net::Endpoint source;          // packet source address (what RFC 3581 calls received/rport)
  sip::TransportProtocol transport = sip::TransportProtocol::kUdp;
  net::Endpoint local;           // our address/port the request arrived on
  std::uint64_t connection_id = 0;  // stream-transport connection; 0 = none (UDP)
};

/// One contact bound to an address-of-record. The AoR itself is the store's key, not a member, so
/// it is stored once per AoR rather than once per binding (memory budget, README.md).
struct Binding {
  std::string contact;           // contact URI as registered (no header params), RFC 3261 §10.3 step 6
  std::vector<std::string> path;  // RFC 3327 §5.3: Path values in request order (first = nearest the registrar)
  std::string instance_id;       // RFC 5626 §4.1 "+sip.instance" value as written (quotes kept); empty if none
  std::string call_id;           // RFC 3261 §10.3 step 7: Call-ID and CSeq of the last update
  std::uint32_t cseq = 0;
  std::uint32_t reg_id = 0;      // RFC 5626 §4.2 reg-id; 0 = none (reg-id is 1..2^31-1)
  std::uint16_t q = 1000;        // q-value in thousandths; absent = 1000 (RFC 3261 §16.6 step 1 leaves it to us)
  TransportContext received;     // where the REGISTER came from (RFC 3581, RFC 5626 flow)
  Clock::TimePoint expires_at{};
  Clock::TimePoint updated_at{};  // last REGISTER that created or refreshed it

  /// RFC 5626 §6: a binding with both +sip.instance and reg-id is keyed by them instead of by the
  /// contact URI.
  bool is_outbound() const noexcept { return !instance_id.empty() && reg_id != 0; }
};

/// What identifies a binding within one AoR: (instance-id, reg-id) for RFC 5626 bindings, the
/// contact URI text otherwise. The registrar resolves URI equivalence (RFC 3261 §19.1.4) before
/// asking the store, so the store compares text exactly.
struct BindingKey {
  std::string_view contact;
  std::string_view instance_id;
  std::uint32_t reg_id = 0;

  static BindingKey of(const Binding& b) noexcept { return {b.contact, b.instance_id, b.reg_id}; }
  bool matches(const Binding& b) const noexcept {
    if (!instance_id.empty() && reg_id != 0) {
      return b.reg_id == reg_id && b.instance_id == instance_id;
    }
    return !b.is_outbound() && b.contact == contact;
  }
};

/// One place the proxy may send a request for an AoR (RFC 3261 §16.5 target set entry).
struct Target {
  std::string contact;            // becomes the Request-URI
  std::vector<std::string> path;  // RFC 3327 §5.3: pre-loaded Route set, in order
  net::Endpoint received;         // where the phone really is (send here, not to the Contact host)
  sip::TransportProtocol transport = sip::TransportProtocol::kUdp;
  net::Endpoint local;            // our socket that heard the REGISTER
  std::uint64_t connection_id = 0;  // RFC 5626 flow: reuse this connection if still open
  std::uint16_t q = 1000;
  std::string instance_id;
  std::uint32_t reg_id = 0;
};

}  // namespace portcullis::registrar
