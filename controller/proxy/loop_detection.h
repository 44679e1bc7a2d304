// Loop detection (RFC 3261 §16.3 step 4, §16.6 step 8, RFC 5393 §4.2) and our Via branches.
//
// Every branch we create is "z9hG4bK-pc-<loop hash>-<unique>": the magic cookie (§8.1.1.7), a
// 16-hex-digit hash of the fields that decide routing, and 16 hex digits unique per client
// transaction. When a request arrives carrying a Via with our sent-by whose loop hash equals the
// hash of the request as it is now, it has come back unchanged: a loop (482). Same sent-by but
// a different hash is a spiral (the R-URI or Route changed) and is allowed.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "controller/proxy/proxy_identity.h"
#include "controller/sip/message/sip_message.h"

namespace portcullis::proxy {

inline constexpr std::string_view kBranchPrefix = "z9hG4bK-pc-";

/// RFC 3261 §16.6 step 8 / RFC 5393 §4.2: FNV-1a over the Request-URI, From tag, To tag,
/// Call-ID, CSeq number, and every Route, Proxy-Require and Proxy-Authorization value, as
/// received. Max-Forwards and Via are left out: they change on every hop. 16 lowercase hex.
std::string loop_hash(const sip::SipMessage& request);

/// kBranchPrefix + loop_hash + "-" + 16 hex digits of `unique`.
std::string make_branch(std::string_view loop_hash, std::uint64_t unique);

/// RFC 3261 §16.11: a stateless branch for forwarding an ACK for a 2xx, a pure function of the
/// request, so a retransmitted ACK gets the same branch: the loop hash plus a hash of the
/// incoming top Via (branch and sent-by).
std::string stateless_branch(std::string_view loop_hash, const sip::Via& incoming_top);

/// ProxyConfig::branch_shard lives in the top byte of the unique part of make_branch().
inline constexpr unsigned kBranchShardShift = 56;
inline constexpr std::uint64_t kBranchShardMask = (std::uint64_t{1} << kBranchShardShift) - 1;

/// The shard byte (ProxyConfig::branch_shard) of one of our branches: the first two hex digits
/// of the unique part. nullopt for branches we did not make (wrong prefix, length or digits).
std::optional<std::uint8_t> branch_shard(std::string_view branch);

/// The loop-hash part of one of our branches; nullopt for branches we did not make.
std::optional<std::string_view> branch_loop_hash(std::string_view branch);

/// §16.3 step 4: true when a Via of `request` carries our sent-by and a branch whose loop hash
/// equals `hash` (the request's loop_hash()).
bool is_looped(const sip::SipMessage& request, const ProxyIdentity& identity, std::string_view hash);

// ---- dialog shard affinity (ProxyConfig::route_shard) ----
//
// Several ProxyCores behind one address (controller/app shards): the core that record-routes a
// dialog-creating request writes its shard into every Record-Route value it adds, as the URI
// parameter "pc-shard=<0..255>". The UAs copy those values into the Route of every in-dialog
// request (RFC 3261 §12.1.1, §12.2.1.1), so a request that the kernel delivered to another
// shard's socket (the other party's 4-tuple hashes anywhere) names the shard that holds the
// dialog's state. It is a small integer, the same in every dialog the shard handles: it reveals
// nothing about either side's topology. From the wire it is untrusted: anything that is not 1-3
// decimal digits ≤ 255 reads as "no shard" (the receiving shard handles the request itself).

inline constexpr std::string_view kShardParam = "pc-shard";

/// One of our Record-Route values as built ("<sip:host:port;lr...>") with ";pc-shard=N" added
/// as a URI parameter (before the closing '>').
std::string with_route_shard(std::string value, std::uint8_t shard);

/// The pc-shard URI parameter; nullopt when absent or malformed.
std::optional<std::uint8_t> route_shard(const sip::Uri& uri);

/// The shard named by the route this in-dialog `request` follows: the first of our URIs that
/// carries one, looking at the Request-URI when it is one of our loose-route URIs (the previous
/// hop was a strict router, §16.4) and then the leading run of Route values that name us (RFC 5658
/// double Record-Route puts two in a row); inside a topology-hiding "pc-rr" token too. nullopt
/// when there is none, the Route header is malformed, or the request is a response.
std::optional<std::uint8_t> dialog_shard(const sip::SipMessage& request, const ProxyIdentity& identity);

}  // namespace portcullis::proxy
