// YamlReader: typed, validating access to a YAML config file with errors that name the file,
// line and key ("agent.yaml:12: pools[0].ports.first: must be 1024..65535"), so an operator can
// fix a config without reading code. Errors accumulate: one run reports every bad key. Unknown
// keys are errors too (a typo must not silently fall back to a default).
//
// Usage:
//   auto doc = config::YamlReader::load_file("agent.yaml");
//   if (!doc.ok()) ... doc.error().message is "agent.yaml:3: (yaml): ..."
//   config::YamlMap root = doc->root();
//   auto id = root.string("id", config::StringLimits(/*required=*/true));
//   auto ttl = root.duration("session_ttl", {1s, 1h});
//   root.finish();                       // unknown keys
//   if (!doc->errors().empty()) ...      // every error, in file order
//
// Not thread-safe; used once at start-up.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/base/result.h"

namespace YAML {
class Node;
}

namespace portcullis::config {

struct ConfigError {
  std::string file;
  int line = 0;  // 1-based; 0 = unknown
  std::string key;
  std::string message;
  /// "file:line: key: message"
  std::string to_string() const;
};

// Limits take constructors, not designated initializers, so partial lists stay warning-free
// under -Wmissing-field-initializers.
struct IntLimits {
  IntLimits(std::uint64_t lo = 0, std::uint64_t hi = UINT64_MAX, bool req = false) : min(lo), max(hi), required(req) {}
  std::uint64_t min;
  std::uint64_t max;
  bool required;
};
struct DurationLimits {
  DurationLimits(std::chrono::nanoseconds lo = std::chrono::nanoseconds(0),
                 std::chrono::nanoseconds hi = std::chrono::hours(24 * 365), bool req = false)
      : min(lo), max(hi), required(req) {}
  std::chrono::nanoseconds min;
  std::chrono::nanoseconds max;
  bool required;
};
struct StringLimits {
  StringLimits(bool req = false, bool nonempty = false, std::size_t max = 4096)
      : required(req), non_empty(nonempty), max_bytes(max) {}
  bool required;
  bool non_empty;
  std::size_t max_bytes;
};

/// Parses "250ms", "15s", "5m", "12h", "1d" (a unit is mandatory; no fractions).
std::optional<std::chrono::nanoseconds> parse_duration(std::string_view text);

class YamlMap;

class YamlReader {
 public:
  /// Parse errors come back as one ConfigError-formatted message.
  static Result<YamlReader> load_file(const std::string& path);
  static Result<YamlReader> load_string(const std::string& text, const std::string& name);

  /// The top-level mapping (an empty document is an empty map; a non-map is an error).
  YamlMap root();
  const std::vector<ConfigError>& errors() const;
  /// All errors, one per line, sorted by line.
  std::string error_text() const;

  struct State;

 private:
  explicit YamlReader(std::shared_ptr<State> s) : state_(std::move(s)) {}
  std::shared_ptr<State> state_;
};

/// A mapping at a dotted path ("pools[0].ports"). Cheap to copy.
class YamlMap {
 public:
  bool has(const std::string& key) const;
  std::optional<std::string> string(const std::string& key, StringLimits limits = {});
  std::optional<std::uint64_t> uint(const std::string& key, IntLimits limits = {});
  std::optional<bool> boolean(const std::string& key, bool required = false);
  std::optional<std::chrono::nanoseconds> duration(const std::string& key, DurationLimits limits = {});
  std::optional<YamlMap> map(const std::string& key, bool required = false);
  /// A sequence of scalars; a single scalar is accepted as a one-element list.
  std::optional<std::vector<std::string>> string_list(const std::string& key, bool required = false);
  /// A sequence of mappings.
  std::optional<std::vector<YamlMap>> map_list(const std::string& key, bool required = false);

  /// Records an error at `key`'s line (the map's line when the key is absent).
  void error(const std::string& key, const std::string& message);
  /// Records an error for the whole map.
  void error_here(const std::string& message);
  /// Reports every key that no accessor asked for as "unknown key".
  void finish();

  const std::string& path() const noexcept { return path_; }
  int line() const noexcept;
  /// Full key path of a child, e.g. "pools[0].ports.first".
  std::string key_path(const std::string& key) const;

 private:
  friend class YamlReader;
  YamlMap(std::shared_ptr<YamlReader::State> s, std::shared_ptr<YAML::Node> node, std::string path,
          int line = 0);
  std::optional<YAML::Node> child(const std::string& key);
  int line_of(const std::string& key) const;

  std::shared_ptr<YamlReader::State> state_;
  std::shared_ptr<YAML::Node> node_;
  std::string path_;
  std::shared_ptr<std::set<std::string>> used_;
  /// Line of the key that introduced this map ("agent:"), where "is required" errors point.
  int line_ = 0;
};

/// Stores an optional value read from the file into a config field, converting durations and numbers:
///   assign_if(m->duration("timeout", {1s, 1h}), cfg.timeout);   // leaves the default when absent/invalid
template <class T, class U>
void assign_if(std::optional<T> value, U& out) {
  if (value) {
    if constexpr (requires { std::chrono::duration_cast<U>(*value); }) {
      out = std::chrono::duration_cast<U>(*value);
    } else {
      out = static_cast<U>(*value);
    }
  }
}

/// True when `path` can be opened for reading (TLS files named in a config).
bool file_readable(const std::string& path);

}  // namespace portcullis::config
