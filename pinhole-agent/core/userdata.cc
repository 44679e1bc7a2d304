// Recovery metadata kept with each kernel element (nftables-notes §3.7). Bounded by construction:
// owner and group are validated to <= 32 bytes of a safe charset before they get here, and all
// numbers are hex, so the text never exceeds kMaxUserdataBytes (style P3: bounded ids in kernel
// objects, never SIP strings).
#include <charconv>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "pinhole-agent/core/pinhole_manager.h"

namespace portcullis::agent {
namespace {

void append_hex(std::string& out, std::uint64_t v) {
  char buf[17];
  const auto res = std::to_chars(buf, buf + sizeof(buf), v, 16);
  out.append(buf, res.ptr);
}

std::optional<std::uint64_t> parse_hex(std::string_view s) {
  if (s.empty() || s.size() > 16) {
    return std::nullopt;
  }
  std::uint64_t v = 0;
  const auto res = std::from_chars(s.data(), s.data() + s.size(), v, 16);
  if (res.ec != std::errc() || res.ptr != s.data() + s.size()) {
    return std::nullopt;
  }
  return v;
}

bool safe_name(std::string_view s, std::size_t max) {
  if (s.size() > max) {
    return false;
  }
  for (const char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == ':' || c == '/' || c == '@' || c == '-';
    if (!ok) {
      return false;
    }
  }
  return true;
}

}  // namespace

std::string encode_userdata(const BindingUserdata& u) {
  std::string out;
  out.reserve(kMaxUserdataBytes);
  out += "b=";
  append_hex(out, u.id);
  out += ";o=";
  out += u.owner;
  out += ";t=";
  append_hex(out, u.fencing_token);
  if (!u.group_id.empty()) {
    out += ";g=";
    out += u.group_id;
  }
  out += ";x=";
  append_hex(out, static_cast<std::uint64_t>(u.hard_deadline_s < 0 ? 0 : u.hard_deadline_s));
  out += ";v=";
  append_hex(out, u.generation);
  if (u.lifetime_only) {
    out += ";l=1";
  }
  return out;
}

std::optional<BindingUserdata> decode_userdata(std::string_view text) {
  if (text.size() > kMaxUserdataBytes) {
    return std::nullopt;
  }
  BindingUserdata u;
  bool have_b = false;
  bool have_o = false;
  bool have_t = false;
  bool have_x = false;
  while (!text.empty()) {
    const std::size_t semi = text.find(';');
    const std::string_view item = text.substr(0, semi);
    text = semi == std::string_view::npos ? std::string_view{} : text.substr(semi + 1);
    const std::size_t eq = item.find('=');
    if (eq == std::string_view::npos || eq == 0) {
      return std::nullopt;
    }
    const std::string_view key = item.substr(0, eq);
    const std::string_view value = item.substr(eq + 1);
    if (key == "b") {
      const auto v = parse_hex(value);
      if (!v || *v == 0 || *v > 0xffffffffu) {
        return std::nullopt;
      }
      u.id = static_cast<BindingId>(*v);
      have_b = true;
    } else if (key == "o") {
      if (value.empty() || !safe_name(value, kMaxOwnerBytes)) {
        return std::nullopt;
      }
      u.owner = std::string(value);
      have_o = true;
    } else if (key == "t") {
      const auto v = parse_hex(value);
      if (!v) {
        return std::nullopt;
      }
      u.fencing_token = *v;
      have_t = true;
    } else if (key == "g") {
      if (!safe_name(value, kMaxGroupBytes)) {
        return std::nullopt;
      }
      u.group_id = std::string(value);
    } else if (key == "x") {
      const auto v = parse_hex(value);
      if (!v || *v > static_cast<std::uint64_t>(INT64_MAX)) {
        return std::nullopt;
      }
      u.hard_deadline_s = static_cast<std::int64_t>(*v);
      have_x = true;
    } else if (key == "v") {
      const auto v = parse_hex(value);
      if (!v) {
        return std::nullopt;
      }
      u.generation = *v;
    } else if (key == "l") {
      u.lifetime_only = value == "1";
    }
    // Unknown keys are skipped: a newer agent may add fields.
  }
  if (!have_b || !have_o || !have_t || !have_x) {
    return std::nullopt;
  }
  return u;
}

}  // namespace portcullis::agent
