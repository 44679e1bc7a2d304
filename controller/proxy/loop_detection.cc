#include "controller/proxy/loop_detection.h"

#include <array>

#include "common/base/text.h"
#include "controller/proxy/topology.h"

namespace portcullis::proxy {
namespace {

constexpr std::uint64_t kFnvOffset = 14695981039346656037ULL;
constexpr std::uint64_t kFnvPrime = 1099511628211ULL;

void fnv1a(std::uint64_t& h, std::string_view s) {
  for (const char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= kFnvPrime;
  }
  h ^= 0xff;  // field separator: ("ab", "c") and ("a", "bc") differ
  h *= kFnvPrime;
}

std::string hex16(std::uint64_t v) {
  static constexpr std::array<char, 16> kHex = {'0', '1', '2', '3', '4', '5', '6', '7',
                                                '8', '9', 'a', 'b', 'c', 'd', 'e', 'f'};
  std::string out(16, '0');
  for (std::size_t i = 0; i < 16; ++i) {
    out[15 - i] = kHex[(v >> (4 * i)) & 0xf];
  }
  return out;
}

}  // namespace

std::string loop_hash(const sip::SipMessage& request) {
  std::uint64_t h = kFnvOffset;
  fnv1a(h, request.request_uri_text());
  fnv1a(h, request.from().tag());
  fnv1a(h, request.to().tag());
  fnv1a(h, request.call_id());
  fnv1a(h, std::to_string(request.cseq().number));
  for (const sip::HeaderField& f : request.headers()) {
    if (f.id == sip::HeaderId::kRoute || f.id == sip::HeaderId::kProxyRequire ||
        f.id == sip::HeaderId::kProxyAuthorization) {
      fnv1a(h, sip::header_canonical_name(f.id));
      fnv1a(h, f.value);
    }
  }
  return hex16(h);
}

std::string make_branch(std::string_view loop_hash, std::uint64_t unique) {
  std::string out(kBranchPrefix);
  out += loop_hash;
  out += '-';
  out += hex16(unique);
  return out;
}

std::string stateless_branch(std::string_view loop_hash, const sip::Via& incoming_top) {
  std::uint64_t h = kFnvOffset;
  fnv1a(h, incoming_top.branch);
  fnv1a(h, incoming_top.host);
  fnv1a(h, std::to_string(incoming_top.port.value_or(0)));
  return make_branch(loop_hash, h);
}

std::optional<std::string_view> branch_loop_hash(std::string_view branch) {
  if (branch.size() < kBranchPrefix.size() + 16 || branch.substr(0, kBranchPrefix.size()) != kBranchPrefix) {
    return std::nullopt;
  }
  return branch.substr(kBranchPrefix.size(), 16);
}

std::optional<std::uint8_t> branch_shard(std::string_view branch) {
  // kBranchPrefix + 16 hex (loop hash) + '-' + 16 hex (unique); the shard is the unique's top byte.
  constexpr std::size_t kUniqueAt = kBranchPrefix.size() + 16 + 1;
  if (branch.size() != kUniqueAt + 16 || branch.substr(0, kBranchPrefix.size()) != kBranchPrefix ||
      branch[kUniqueAt - 1] != '-') {
    return std::nullopt;
  }
  const auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') {
      return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
      return c - 'a' + 10;
    }
    return -1;
  };
  const int hi = hex(branch[kUniqueAt]);
  const int lo = hex(branch[kUniqueAt + 1]);
  if (hi < 0 || lo < 0) {
    return std::nullopt;
  }
  return static_cast<std::uint8_t>(hi * 16 + lo);
}

bool is_looped(const sip::SipMessage& request, const ProxyIdentity& identity, std::string_view hash) {
  for (const sip::Via& via : request.vias()) {
    const auto h = branch_loop_hash(via.branch);
    if (h && *h == hash && identity.is_own_sent_by(via)) {
      return true;
    }
  }
  return false;
}

std::string with_route_shard(std::string value, std::uint8_t shard) {
  std::string param = ";";
  param += kShardParam;
  param += '=';
  param += std::to_string(shard);
  if (!value.empty() && value.back() == '>') {
    value.insert(value.size() - 1, param);
  } else {
    value += param;  // a bare URI
  }
  return value;
}

std::optional<std::uint8_t> route_shard(const sip::Uri& uri) {
  const auto text = uri.params.get(kShardParam);
  if (!text || text->empty() || text->size() > 3) {
    return std::nullopt;
  }
  const auto value = parse_decimal(*text, 255);
  if (!value) {
    return std::nullopt;
  }
  return static_cast<std::uint8_t>(*value);
}

namespace {

/// A Route of ours is looked at when it leads the list; a request needs at most a few (one per
/// Record-Route entry of ours, two with RFC 5658, more only on a spiral). Bounds the work done
/// for a request with a long forged Route list before any core sees it.
constexpr std::size_t kMaxOwnRoutesLooked = 8;

std::optional<std::uint8_t> shard_of_own_uri(const sip::Uri& uri, const ProxyIdentity& identity) {
  if (const auto shard = route_shard(uri)) {
    return shard;
  }
  // Topology hiding (topology.h) re-encodes a whole Record-Route value of ours as "pc-rr";
  // the original, with its pc-shard, is inside.
  const auto hidden = uri.params.get(kRecordRouteParam);
  if (!hidden || hidden->empty()) {
    return std::nullopt;
  }
  const auto plain = identity.codec().decode(*hidden);
  if (!plain) {
    return std::nullopt;
  }
  const auto original = sip::parse_uri(*plain);
  if (!original) {
    return std::nullopt;
  }
  return route_shard(*original);
}

}  // namespace

std::optional<std::uint8_t> dialog_shard(const sip::SipMessage& request, const ProxyIdentity& identity) {
  if (!request.is_request()) {
    return std::nullopt;
  }
  const sip::Uri& ruri = request.request_uri();
  if (ruri.has_lr() && identity.is_own_uri(ruri)) {
    if (const auto shard = shard_of_own_uri(ruri, identity)) {
      return shard;
    }
  }
  const auto& routes = request.route();
  if (!routes) {
    return std::nullopt;  // the core answers 400 (RoutePreprocessor), wherever it runs
  }
  for (std::size_t i = 0; i < routes->size() && i < kMaxOwnRoutesLooked; ++i) {
    const sip::Uri& uri = (*routes)[i].uri;
    if (!identity.is_own_uri(uri)) {
      break;
    }
    if (const auto shard = shard_of_own_uri(uri, identity)) {
      return shard;
    }
  }
  return std::nullopt;
}

}  // namespace portcullis::proxy
