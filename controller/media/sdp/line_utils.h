// Internal helpers over Line vectors shared by the parser, the queries and the rewriter.
// Not part of the public API.
#pragma once

#include <optional>
#include <string_view>
#include <vector>

#include "common/base/text.h"
#include "controller/media/sdp/sdp_fields.h"

namespace portcullis::media::sdp::detail {

/// The attribute name of an a= line (up to the first ':'); nullopt for other line types.
inline std::optional<std::string_view> attribute_name(const Line& line) noexcept {
  if (line.type != 'a') {
    return std::nullopt;
  }
  const std::string_view v = line.value;
  return v.substr(0, v.find(':'));
}

inline bool is_attribute(const Line& line, std::string_view name) noexcept {
  const auto n = attribute_name(line);
  return n && iequals(*n, name);
}

/// The first direction attribute among `lines`. The parser rejects conflicting ones.
inline std::optional<Direction> find_direction(const std::vector<Line>& lines) noexcept {
  for (const auto& l : lines) {
    if (l.type != 'a' || l.value.find(':') != std::string::npos) {
      continue;
    }
    if (auto d = parse_direction(l.value)) {
      return d;
    }
  }
  return std::nullopt;
}

inline bool is_direction_line(const Line& l) noexcept {
  return l.type == 'a' && l.value.find(':') == std::string::npos && parse_direction(l.value).has_value();
}

inline bool any_ice(const std::vector<Line>& lines) noexcept {
  for (const auto& l : lines) {
    const auto n = attribute_name(l);
    if (n && is_ice_attribute(*n)) {
      return true;
    }
  }
  return false;
}

inline std::optional<std::string_view> find_attribute(const std::vector<Line>& lines,
                                                      std::string_view name) noexcept {
  for (const auto& l : lines) {
    const auto n = attribute_name(l);
    if (n && iequals(*n, name)) {
      const std::string_view v = l.value;
      return n->size() < v.size() ? v.substr(n->size() + 1) : std::string_view{};
    }
  }
  return std::nullopt;
}

}  // namespace portcullis::media::sdp::detail
