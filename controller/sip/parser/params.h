// Generic parameters (RFC 3261 §25.1 generic-param / uri-parameter): ";name[=value]".
// Every view points into the text that was parsed; nothing is copied or unescaped.
#pragma once

#include <optional>
#include <string_view>
#include <vector>

namespace portcullis::sip {

struct Param {
  std::string_view name;   // as written (compare case-insensitively)
  std::string_view value;  // as written, quotes kept for quoted-string values; empty if no '='
  bool has_value = false;
};

class ParamList {
 public:
  void push_back(Param p) { items_.push_back(p); }
  const std::vector<Param>& items() const noexcept { return items_; }
  bool empty() const noexcept { return items_.empty(); }
  std::size_t size() const noexcept { return items_.size(); }
  /// First parameter with this name (ASCII case-insensitive), or nullptr.
  const Param* find(std::string_view name) const noexcept;
  bool has(std::string_view name) const noexcept { return find(name) != nullptr; }
  /// Value of the first parameter with this name; nullopt if absent (empty view if present w/o value).
  std::optional<std::string_view> get(std::string_view name) const noexcept;

 private:
  std::vector<Param> items_;
};

}  // namespace portcullis::sip
