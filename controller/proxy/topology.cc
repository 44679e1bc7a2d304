#include "controller/proxy/topology.h"

#include <random>

namespace portcullis::proxy {
namespace {

constexpr std::uint64_t kFnvOffset = 0xcbf29ce484222325ULL;
constexpr std::uint64_t kFnvPrime = 0x100000001b3ULL;

std::uint64_t fnv1a(std::string_view s, std::uint64_t h = kFnvOffset) {
  for (const char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= kFnvPrime;
  }
  return h;
}

std::uint64_t splitmix64(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

constexpr char kHex[] = "0123456789abcdef";

int hex_value(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  return -1;
}

/// XOR with a keystream derived from (key, nonce).
std::string crypt(std::uint64_t key, std::uint32_t nonce, std::string_view in) {
  std::uint64_t state = key ^ (static_cast<std::uint64_t>(nonce) * 0x9e3779b97f4a7c15ULL);
  std::string out(in);
  std::uint64_t word = 0;
  for (std::size_t i = 0; i < out.size(); ++i) {
    if (i % 8 == 0) {
      word = splitmix64(state);
    }
    out[i] = static_cast<char>(static_cast<unsigned char>(out[i]) ^ static_cast<unsigned char>(word >> (8 * (i % 8))));
  }
  return out;
}

}  // namespace

std::optional<std::string> scrub_sdp_addresses(std::string_view body, const std::function<bool(std::string_view)>& is_private,
                                               std::string_view replacement) {
  std::string out;
  out.reserve(body.size());
  bool changed = false;
  std::size_t pos = 0;
  while (pos < body.size()) {
    std::size_t eol = body.find('\n', pos);
    const std::size_t next = eol == std::string_view::npos ? body.size() : eol + 1;
    std::string_view line = body.substr(pos, next - pos);
    std::string_view content = line;
    while (!content.empty() && (content.back() == '\n' || content.back() == '\r')) {
      content.remove_suffix(1);
    }
    const std::string_view ending = line.substr(content.size());
    const bool addr_line = content.starts_with("o=") || content.starts_with("c=") || content.starts_with("a=rtcp:");
    const auto last_space = content.rfind(' ');
    if (addr_line && last_space != std::string_view::npos) {
      std::string_view addr = content.substr(last_space + 1);
      std::string_view suffix;
      if (const auto slash = addr.find('/'); slash != std::string_view::npos) {
        suffix = addr.substr(slash);
        addr = addr.substr(0, slash);
      }
      if (is_private(addr)) {
        out += content.substr(0, last_space + 1);
        out += replacement;
        out += suffix;
        out += ending;
        changed = true;
        pos = next;
        continue;
      }
    }
    out += line;
    pos = next;
  }
  if (!changed) {
    return std::nullopt;
  }
  return out;
}

TopologyCodec::TopologyCodec(std::string_view key) {
  if (key.empty()) {
    std::random_device rd;
    key_ = (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
  } else {
    key_ = fnv1a(key);
  }
}

std::string TopologyCodec::encode(std::string_view plain) const {
  // Deterministic nonce: a keyed hash of the plaintext, also the integrity check on decode.
  const auto nonce = static_cast<std::uint32_t>(fnv1a(plain, key_ ^ kFnvOffset));
  const std::string cipher = crypt(key_, nonce, plain);
  std::string out;
  out.reserve(8 + 2 * cipher.size());
  for (int shift = 28; shift >= 0; shift -= 4) {
    out += kHex[(nonce >> shift) & 0xf];
  }
  for (const char c : cipher) {
    const auto b = static_cast<unsigned char>(c);
    out += kHex[b >> 4];
    out += kHex[b & 0xf];
  }
  return out;
}

std::optional<std::string> TopologyCodec::decode(std::string_view token) const {
  if (token.size() < 8 || token.size() % 2 != 0 || token.size() > 4096) {
    return std::nullopt;
  }
  std::uint32_t nonce = 0;
  for (std::size_t i = 0; i < 8; ++i) {
    const int v = hex_value(token[i]);
    if (v < 0) {
      return std::nullopt;
    }
    nonce = (nonce << 4) | static_cast<std::uint32_t>(v);
  }
  std::string cipher;
  cipher.reserve((token.size() - 8) / 2);
  for (std::size_t i = 8; i < token.size(); i += 2) {
    const int hi = hex_value(token[i]);
    const int lo = hex_value(token[i + 1]);
    if (hi < 0 || lo < 0) {
      return std::nullopt;
    }
    cipher += static_cast<char>((hi << 4) | lo);
  }
  std::string plain = crypt(key_, nonce, cipher);
  if (static_cast<std::uint32_t>(fnv1a(plain, key_ ^ kFnvOffset)) != nonce) {
    return std::nullopt;  // not ours (or another key)
  }
  return plain;
}

std::string TopologyCodec::hide_call_id(std::string_view call_id) const {
  const auto at = call_id.rfind('@');
  if (at == std::string_view::npos || call_id.substr(at + 1).starts_with(kCallIdPrefix)) {
    return std::string(call_id);
  }
  std::string out(call_id.substr(0, at + 1));
  out += kCallIdPrefix;
  out += encode(call_id.substr(at + 1));
  return out;
}

std::string TopologyCodec::reveal_call_id(std::string_view call_id) const {
  const auto at = call_id.rfind('@');
  if (at == std::string_view::npos) {
    return std::string(call_id);
  }
  const std::string_view host = call_id.substr(at + 1);
  if (!host.starts_with(kCallIdPrefix)) {
    return std::string(call_id);
  }
  auto plain = decode(host.substr(kCallIdPrefix.size()));
  if (!plain) {
    return std::string(call_id);
  }
  return std::string(call_id.substr(0, at + 1)) + *plain;
}

}  // namespace portcullis::proxy
