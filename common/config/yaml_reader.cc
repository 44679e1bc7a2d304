#include "common/config/yaml_reader.h"

#include <fstream>

#include <algorithm>
#include <charconv>

#include <yaml-cpp/yaml.h>

#include "common/base/text.h"

namespace portcullis::config {

struct YamlReader::State {
  std::string file;
  YAML::Node doc;
  std::vector<ConfigError> errors;
};

std::string ConfigError::to_string() const {
  std::string s = file;
  if (line > 0) {
    s += ":" + std::to_string(line);
  }
  s += ": ";
  if (!key.empty()) {
    s += key + ": ";
  }
  s += message;
  return s;
}

std::optional<std::chrono::nanoseconds> parse_duration(std::string_view text) {
  std::size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') {
    ++digits;
  }
  if (digits == 0 || digits > 12) {
    return std::nullopt;
  }
  const auto n = parse_decimal(text.substr(0, digits), 999'999'999'999ULL);
  if (!n) {
    return std::nullopt;
  }
  const std::string_view unit = text.substr(digits);
  const auto v = static_cast<std::int64_t>(*n);
  using namespace std::chrono;
  // Bounded above so every unit fits in int64 nanoseconds (~292 years).
  if (unit == "ms") {
    return duration_cast<nanoseconds>(milliseconds(v));
  }
  if (unit == "s" && v <= 9'000'000'000LL) {
    return duration_cast<nanoseconds>(seconds(v));
  }
  if (unit == "m" && v <= 150'000'000LL) {
    return duration_cast<nanoseconds>(minutes(v));
  }
  if (unit == "h" && v <= 2'500'000LL) {
    return duration_cast<nanoseconds>(hours(v));
  }
  if (unit == "d" && v <= 100'000LL) {
    return duration_cast<nanoseconds>(hours(24 * v));
  }
  return std::nullopt;
}

namespace {

Result<std::shared_ptr<YamlReader::State>> parse(const std::string& text, const std::string& name) {
  auto state = std::make_shared<YamlReader::State>();
  state->file = name;
  try {
    state->doc = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    ConfigError err{name, e.mark.is_null() ? 0 : e.mark.line + 1, "(yaml)", e.msg};
    return unexpected(invalid_argument(err.to_string()));
  }
  return state;
}

std::string describe(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map: return "a mapping";
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Null: return "empty";
    default: return "'" + log_excerpt(n.Scalar(), 40) + "'";
  }
}

}  // namespace

Result<YamlReader> YamlReader::load_string(const std::string& text, const std::string& name) {
  auto s = parse(text, name);
  if (!s.ok()) {
    return unexpected(std::move(s).error());
  }
  return YamlReader(std::move(*s));
}

Result<YamlReader> YamlReader::load_file(const std::string& path) {
  std::string text;
  {
    FILE* f = std::fopen(path.c_str(), "rb");
    if (f == nullptr) {
      return unexpected(invalid_argument(path + ": cannot open the file"));
    }
    char buf[4096];
    std::size_t n = 0;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) {
      text.append(buf, n);
      if (text.size() > 4 * 1024 * 1024) {
        std::fclose(f);
        return unexpected(invalid_argument(path + ": larger than 4 MiB; not a config file"));
      }
    }
    std::fclose(f);
  }
  return load_string(text, path);
}

YamlMap YamlReader::root() {
  auto node = std::make_shared<YAML::Node>(state_->doc);
  if (node->IsNull()) {
    *node = YAML::Node(YAML::NodeType::Map);
  }
  YamlMap m(state_, node, "", 1);
  if (!node->IsMap()) {
    m.error_here("the document must be a mapping of keys");
    *node = YAML::Node(YAML::NodeType::Map);
  }
  return m;
}

const std::vector<ConfigError>& YamlReader::errors() const { return state_->errors; }

std::string YamlReader::error_text() const {
  std::vector<ConfigError> sorted = state_->errors;
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const ConfigError& a, const ConfigError& b) { return a.line < b.line; });
  std::string out;
  for (const ConfigError& e : sorted) {
    out += e.to_string();
    out += '\n';
  }
  return out;
}

YamlMap::YamlMap(std::shared_ptr<YamlReader::State> s, std::shared_ptr<YAML::Node> node, std::string path,
                 int line)
    : state_(std::move(s)), node_(std::move(node)), path_(std::move(path)),
      used_(std::make_shared<std::set<std::string>>()), line_(line) {}

int YamlMap::line() const noexcept {
  if (line_ > 0) {
    return line_;
  }
  const YAML::Mark m = node_->Mark();
  return m.is_null() ? 0 : m.line + 1;
}

std::string YamlMap::key_path(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }

bool YamlMap::has(const std::string& key) const {
  return node_->IsMap() && (*node_)[key].IsDefined() && !(*node_)[key].IsNull();
}

std::optional<YAML::Node> YamlMap::child(const std::string& key) {
  used_->insert(key);
  if (!node_->IsMap()) {
    return std::nullopt;
  }
  const YAML::Node& self = *node_;
  YAML::Node c = self[key];
  if (!c.IsDefined() || c.IsNull()) {
    return std::nullopt;
  }
  return c;
}

int YamlMap::line_of(const std::string& key) const {
  if (node_->IsMap()) {
    const YAML::Node& self = *node_;
    const YAML::Node c = self[key];
    if (c.IsDefined() && !c.Mark().is_null()) {
      return c.Mark().line + 1;
    }
  }
  return line();
}

void YamlMap::error(const std::string& key, const std::string& message) {
  state_->errors.push_back({state_->file, line_of(key), key_path(key), message});
}

void YamlMap::error_here(const std::string& message) {
  state_->errors.push_back({state_->file, line(), path_.empty() ? "(top level)" : path_, message});
}

void YamlMap::finish() {
  if (!node_->IsMap()) {
    return;
  }
  for (const auto& kv : *node_) {
    const std::string k = kv.first.Scalar();
    if (used_->count(k) == 0) {
      const YAML::Mark m = kv.first.Mark();
      state_->errors.push_back({state_->file, m.is_null() ? line() : m.line + 1, key_path(k), "unknown key"});
    }
  }
}

std::optional<std::string> YamlMap::string(const std::string& key, StringLimits limits) {
  const auto c = child(key);
  if (!c) {
    if (limits.required) {
      error(key, "is required");
    }
    return std::nullopt;
  }
  if (!c->IsScalar()) {
    error(key, "must be a string, not " + describe(*c));
    return std::nullopt;
  }
  std::string v = c->Scalar();
  if (limits.non_empty && v.empty()) {
    error(key, "must not be empty");
    return std::nullopt;
  }
  if (v.size() > limits.max_bytes) {
    error(key, "must be at most " + std::to_string(limits.max_bytes) + " bytes");
    return std::nullopt;
  }
  return v;
}

std::optional<std::uint64_t> YamlMap::uint(const std::string& key, IntLimits limits) {
  const auto c = child(key);
  if (!c) {
    if (limits.required) {
      error(key, "is required");
    }
    return std::nullopt;
  }
  const std::string range = std::to_string(limits.min) + ".." + std::to_string(limits.max);
  if (!c->IsScalar()) {
    error(key, "must be an integer " + range + ", not " + describe(*c));
    return std::nullopt;
  }
  const auto v = parse_decimal(c->Scalar(), UINT64_MAX);
  if (!v || *v < limits.min || *v > limits.max) {
    error(key, "must be " + range + " (got " + describe(*c) + ")");
    return std::nullopt;
  }
  return v;
}

std::optional<bool> YamlMap::boolean(const std::string& key, bool required) {
  const auto c = child(key);
  if (!c) {
    if (required) {
      error(key, "is required");
    }
    return std::nullopt;
  }
  const std::string v = c->IsScalar() ? c->Scalar() : "";
  if (v == "true") {
    return true;
  }
  if (v == "false") {
    return false;
  }
  error(key, "must be true or false (got " + describe(*c) + ")");
  return std::nullopt;
}

namespace {
std::string duration_text(std::chrono::nanoseconds d) {
  using namespace std::chrono;
  if (d % hours(1) == nanoseconds::zero() && d >= hours(1)) {
    return std::to_string(duration_cast<hours>(d).count()) + "h";
  }
  if (d % minutes(1) == nanoseconds::zero() && d >= minutes(1)) {
    return std::to_string(duration_cast<minutes>(d).count()) + "m";
  }
  if (d % seconds(1) == nanoseconds::zero()) {
    return std::to_string(duration_cast<seconds>(d).count()) + "s";
  }
  return std::to_string(duration_cast<milliseconds>(d).count()) + "ms";
}
}  // namespace

std::optional<std::chrono::nanoseconds> YamlMap::duration(const std::string& key, DurationLimits limits) {
  const auto c = child(key);
  if (!c) {
    if (limits.required) {
      error(key, "is required");
    }
    return std::nullopt;
  }
  const std::string range = duration_text(limits.min) + ".." + duration_text(limits.max);
  const auto d = c->IsScalar() ? parse_duration(c->Scalar()) : std::nullopt;
  if (!d) {
    error(key, "must be a duration with a unit, e.g. 15s, 500ms, 5m, 12h (got " + describe(*c) + ")");
    return std::nullopt;
  }
  if (*d < limits.min || *d > limits.max) {
    error(key, "must be " + range + " (got " + c->Scalar() + ")");
    return std::nullopt;
  }
  return d;
}

std::optional<YamlMap> YamlMap::map(const std::string& key, bool required) {
  const auto c = child(key);
  if (!c) {
    if (required) {
      error(key, "is required");
    }
    return std::nullopt;
  }
  if (!c->IsMap()) {
    error(key, "must be a mapping, not " + describe(*c));
    return std::nullopt;
  }
  int key_line = 0;
  for (const auto& kv : *node_) {
    if (kv.first.Scalar() == key && !kv.first.Mark().is_null()) {
      key_line = kv.first.Mark().line + 1;
    }
  }
  return YamlMap(state_, std::make_shared<YAML::Node>(*c), key_path(key), key_line);
}

std::optional<std::vector<std::string>> YamlMap::string_list(const std::string& key, bool required) {
  const auto c = child(key);
  if (!c) {
    if (required) {
      error(key, "is required");
    }
    return std::nullopt;
  }
  std::vector<std::string> out;
  if (c->IsScalar()) {
    out.push_back(c->Scalar());
    return out;
  }
  if (!c->IsSequence()) {
    error(key, "must be a list of strings, not " + describe(*c));
    return std::nullopt;
  }
  for (std::size_t i = 0; i < c->size(); ++i) {
    const YAML::Node item = (*c)[i];
    if (!item.IsScalar()) {
      state_->errors.push_back({state_->file, item.Mark().is_null() ? line_of(key) : item.Mark().line + 1,
                                key_path(key) + "[" + std::to_string(i) + "]", "must be a string"});
      return std::nullopt;
    }
    out.push_back(item.Scalar());
  }
  return out;
}

std::optional<std::vector<YamlMap>> YamlMap::map_list(const std::string& key, bool required) {
  const auto c = child(key);
  if (!c) {
    if (required) {
      error(key, "is required");
    }
    return std::nullopt;
  }
  if (!c->IsSequence()) {
    error(key, "must be a list, not " + describe(*c));
    return std::nullopt;
  }
  std::vector<YamlMap> out;
  for (std::size_t i = 0; i < c->size(); ++i) {
    const YAML::Node item = (*c)[i];
    const std::string p = key_path(key) + "[" + std::to_string(i) + "]";
    if (!item.IsMap()) {
      state_->errors.push_back({state_->file, item.Mark().is_null() ? line_of(key) : item.Mark().line + 1, p,
                                "must be a mapping, not " + describe(item)});
      continue;
    }
    out.push_back(YamlMap(state_, std::make_shared<YAML::Node>(item), p));
  }
  return out;
}

bool file_readable(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return in.good();
}

}  // namespace portcullis::config
