// ProxyConfig: everything the RFC 3261 §16 proxy core needs to know about itself and its
// routing policy. Plain values; the composition root (controller/app) fills it from the config
// file. ProxyIdentity (proxy_identity.h) validates it and answers "is this URI us?".
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/net/ip_address.h"
#include "common/time/clock.h"
#include "controller/sip/transaction/transaction_types.h"

namespace portcullis::proxy {

/// One socket the transport layer listens on, and how we name it in Via and Record-Route.
struct Listener {
  sip::TransportProtocol transport = sip::TransportProtocol::kUdp;
  /// The bound address (what peers on this interface send to).
  net::Endpoint address;
  /// Host written into Via sent-by and Record-Route/Path URIs; empty: address's IP.
  std::string advertised_host;
  /// Port for Via / Record-Route; 0: address's port.
  std::uint16_t advertised_port = 0;
};

/// A side of the firewall (e.g. "lan", "wan"). A request arrives on the interface whose
/// `networks` contain its source and leaves on the one whose `networks` contain its next hop;
/// when those differ (or the transport changes) we double Record-Route (RFC 5658 §4).
struct ProxyInterface {
  std::string name;
  /// Remote networks reached through this interface. Empty: the default interface (the first
  /// interface with no networks; if none, the first interface).
  std::vector<net::Prefix> networks;
  /// At least one. The first one with a transport is used for that transport.
  std::vector<Listener> listeners;
  /// A private side (LAN): its topology is hidden from every interface without this flag
  /// (topology.h): our Via is the only one a request from here carries out; Contact, Call-ID
  /// host and our own Record-Route entry facing it are encoded; they are decoded on the way back.
  bool hide_topology = false;
};

/// RFC 3261 §16.5/§16.6 local policy for requests to a domain we do not serve.
struct StaticRoute {
  /// Request-URI host, compared case-insensitively; "*" matches every domain not ours.
  std::string domain;
  /// Where to send, e.g. "sip:trunk.example.net;lr" or "sip:198.51.100.7:5060;transport=tcp".
  std::string uri;
  /// true: push `uri` as a Route (§16.6 step 6 "visit a specific proxy"; it must be a loose
  /// router). false: only send there (§16.6 step 7 local next-hop policy), message unchanged.
  bool push_route = true;
};

struct ProxyConfig {
  /// Domains we are responsible for (§16.5): their users are looked up in the registrar, and
  /// REGISTERs for them go to the registrar. Case-insensitive.
  std::vector<std::string> domains;
  /// Our interfaces and sockets. At least one interface with one listener.
  std::vector<ProxyInterface> interfaces;
  /// Other "host" or "host:port" spellings that name this proxy in Route / Request-URI (§16.4),
  /// e.g. "proxy.example.com".
  std::vector<std::string> aliases;
  std::vector<StaticRoute> static_routes;
  /// Outbound proxy for requests leaving our domains (pushed as a Route, §16.6 step 6), used
  /// when no static route matches and the request carries no Route. Empty: none.
  std::string outbound_proxy;
  /// Option tags we support in Proxy-Require (§16.3 step 5); anything else gets 420.
  std::vector<std::string> supported_options;

  /// §16.6 step 4: Record-Route initial dialog-creating requests (INVITE, SUBSCRIBE, REFER,
  /// NOTIFY without To tag). A firewall wants to see every in-dialog request, so on by default.
  bool record_route = true;
  /// RFC 5626 §5.3-style flow tokens in our Record-Route / Path URIs ("pc-flow"), so in-dialog
  /// requests reach a NATed phone on the flow its INVITE / REGISTER came on.
  bool flow_tokens = true;
  /// RFC 3327: add our Path when relaying a REGISTER whose UA sent "Supported: path".
  bool add_path = true;
  /// REGISTERs the local registrar answers are handled as a stateless UAS (RFC 3261 §8.2.7): no
  /// server transaction, the response goes straight to the transport, and a retransmission is
  /// processed again. Sound because the registrar is idempotent for an identical request (same
  /// Call-ID and CSeq re-applies the same bindings, registrar.h). Saves the transaction's state
  /// for 64*T1 after each answer (Timer J), which dominates a busy registrar's memory churn.
  /// REGISTERs relayed to another registrar always go through a transaction.
  bool stateless_register = true;
  /// §16.3 step 1: run SipMessage::validate_all() on every request and answer 400 on failure.
  bool strict = false;
  /// §16.3 step 3: OPTIONS with Max-Forwards 0 is answered 200 as a UAS (§11) instead of 483,
  /// which makes "ping the proxy with Max-Forwards: 0" work. Other methods get 483.
  bool answer_options_at_zero_max_forwards = true;
  /// §16.5: status when the R-URI is in our domain and has no current binding. Without a user
  /// database "unknown user" and "known but offline" (480) cannot be told apart.
  std::uint16_t no_binding_status = 404;
  /// §16.8 Timer C: "greater than 3 minutes". Per INVITE branch, reset on 101-199.
  Clock::Duration timer_c = std::chrono::seconds(181);
  /// Secret for the reversible encodings of topology hiding (topology.h). Shards of one process
  /// must share it; empty: a fixed per-core random value (fine for one shard; controller/app
  /// gives its shards one random key per process when the config names none).
  std::string topology_key;
  /// RFC 5393 §4.1 amplification bound: at most this many branches per request.
  std::size_t max_branches = 16;
  /// Seed for the unique part of our Via branches (§8.1.1.7). 0: std::random_device.
  std::uint64_t branch_seed = 0;
  /// Several ProxyCores on several executors behind one address (controller/app shards): when
  /// set, the top 8 bits of the unique part of every branch we create carry this value, so the
  /// owner can hand a response that arrived on another executor to the core holding its client
  /// transaction (branch_shard() in loop_detection.h). CANCELs reuse the INVITE's branch (§9.1)
  /// and carry it too. Unset: all 64 bits are random.
  std::optional<std::uint8_t> branch_shard;
  /// Dialog shard affinity, the request-side twin of branch_shard: when set, every Record-Route
  /// value we add (both of an RFC 5658 pair, and the original inside a topology-hiding pc-rr
  /// token) carries ";pc-shard=<this>" (dialog_shard() in loop_detection.h), so an in-dialog
  /// request that arrived on another executor is handed to the core that record-routed the dialog
  /// and holds its state (the media step's MediaSession). Unset: no parameter.
  std::optional<std::uint8_t> route_shard;
};

}  // namespace portcullis::proxy
