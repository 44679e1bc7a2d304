#include "controller/sip/message/message_editor.h"

#include <charconv>
#include <functional>
#include <utility>

namespace portcullis::sip {
namespace {

constexpr std::string_view kCrlf = "\r\n";

/// True when `inner` is a view lying entirely inside `outer` (pointer comparison through
/// std::less, which gives a total order even for unrelated pointers).
bool view_inside(std::string_view outer, std::string_view inner) noexcept {
  const std::less<const char*> lt;
  const char* ob = outer.data();
  const char* oe = outer.data() + outer.size();
  const char* ib = inner.data();
  const char* ie = inner.data() + inner.size();
  return ib != nullptr && ob != nullptr && !lt(ib, ob) && !lt(oe, ie) && !lt(ie, ib);
}

std::string port_suffix(std::optional<std::uint16_t> port) {
  if (!port) {
    return {};
  }
  char digits[8];
  const auto [end, ec] = std::to_chars(digits, digits + sizeof(digits), *port);
  if (ec != std::errc{}) {
    return {};
  }
  std::string out = ":";
  out.append(digits, end);
  return out;
}

std::string splice(std::string_view text, std::size_t offset, std::size_t length,
                   std::string_view replacement) {
  std::string out;
  out.reserve(text.size() - length + replacement.size());
  out.append(text.substr(0, offset));
  out.append(replacement);
  out.append(text.substr(offset + length));
  return out;
}

}  // namespace

// One recorded edit. Field-level edits are resolved in serialize() in the order recorded; for the
// same field the last replacement wins and a removal beats any replacement.
struct MessageEditor::Edit {
  enum class Kind : std::uint8_t {
    kInsertBefore,  // new field before field `index` (index == headers.size(): at the end)
    kReplaceLine,   // field `index` is emitted as `line` (a complete field line without CRLF)
    kRemove,        // field `index` is not emitted
  };
  Kind kind;
  std::size_t index;
  std::string line;
};

MessageEditor::MessageEditor(const SipMessage& message) : message_(message) {}
MessageEditor::~MessageEditor() = default;

void MessageEditor::set_request_uri(std::string uri) {
  if (message_.is_request()) {
    request_uri_ = std::move(uri);
  }
}

void MessageEditor::set_status(std::uint16_t code, std::string reason) {
  if (message_.is_response()) {
    status_.emplace(code, std::move(reason));
  }
}

void MessageEditor::prepend_header(std::string name, std::string value) {
  std::string line = std::move(name);
  line.append(": ").append(value);
  edits_.push_back(Edit{Edit::Kind::kInsertBefore, 0, std::move(line)});
}

void MessageEditor::insert_before(HeaderId before, std::string name, std::string value) {
  const auto& headers = message_.headers();
  std::size_t at = headers.size();
  for (std::size_t i = 0; i < headers.size(); ++i) {
    if (headers[i].id == before && before != HeaderId::kOther) {
      at = i;
      break;
    }
  }
  std::string line = std::move(name);
  line.append(": ").append(value);
  edits_.push_back(Edit{Edit::Kind::kInsertBefore, at, std::move(line)});
}

void MessageEditor::append_header(std::string name, std::string value) {
  std::string line = std::move(name);
  line.append(": ").append(value);
  edits_.push_back(Edit{Edit::Kind::kInsertBefore, message_.headers().size(), std::move(line)});
}

namespace {

/// Builds a replacement line for `field` carrying `value`: if the current value is a view into
/// the raw bytes (the field was not folded), everything around it (name spelling, spacing
/// around ':') is kept; otherwise the line is rebuilt as "name: value".
std::string line_with_value(const HeaderField& field, std::string_view value) {
  if (view_inside(field.raw, field.value)) {
    const auto offset = static_cast<std::size_t>(field.value.data() - field.raw.data());
    return splice(field.raw, offset, field.value.size(), value);
  }
  std::string line(field.name);
  line.append(": ").append(value);
  return line;
}

}  // namespace

void MessageEditor::replace_value(std::size_t index, std::string value) {
  const auto& headers = message_.headers();
  if (index >= headers.size()) {
    return;
  }
  edits_.push_back(Edit{Edit::Kind::kReplaceLine, index, line_with_value(headers[index], value)});
}

void MessageEditor::remove(std::size_t index) {
  if (index >= message_.headers().size()) {
    return;
  }
  edits_.push_back(Edit{Edit::Kind::kRemove, index, {}});
}

namespace {

struct FieldView {
  bool removed = false;
  const std::string* line = nullptr;  // latest replacement line, if any
};

}  // namespace

bool MessageEditor::remove_first(HeaderId id) {
  const auto& headers = message_.headers();
  for (std::size_t i = 0; i < headers.size(); ++i) {
    if (headers[i].id != id) {
      continue;
    }
    bool removed = false;
    for (const Edit& e : edits_) {
      removed = removed || (e.kind == Edit::Kind::kRemove && e.index == i);
    }
    if (!removed) {
      remove(i);
      return true;
    }
  }
  return false;
}

std::size_t MessageEditor::remove_all(HeaderId id) {
  std::size_t n = 0;
  while (remove_first(id)) {
    ++n;
  }
  return n;
}

bool MessageEditor::pop_first_list_element(HeaderId id) {
  const auto& headers = message_.headers();
  for (std::size_t i = 0; i < headers.size(); ++i) {
    if (headers[i].id != id) {
      continue;
    }
    bool removed = false;
    const std::string* replaced_line = nullptr;
    for (const Edit& e : edits_) {
      if (e.index != i) {
        continue;
      }
      if (e.kind == Edit::Kind::kRemove) {
        removed = true;
      } else if (e.kind == Edit::Kind::kReplaceLine) {
        replaced_line = &e.line;
      }
    }
    if (removed) {
      continue;
    }
    // The field's current value: the original one, or the value part of a replacement line
    // (a previous pop on the same field).
    std::string_view value = headers[i].value;
    std::string current;
    if (replaced_line != nullptr) {
      current = *replaced_line;
      const std::size_t colon = current.find(':');
      if (colon == std::string::npos) {
        return false;
      }
      value = std::string_view(current).substr(colon + 1);
      while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) {
        value.remove_prefix(1);
      }
    }
    // RFC 3261 §7.3.1: elements are separated by top-level commas (not inside quotes or <>).
    auto parts = split_comma_list(value);
    if (!parts || parts->empty()) {
      return false;
    }
    if (parts->size() == 1) {
      remove(i);
      return true;
    }
    const std::string_view second = (*parts)[1];
    const auto offset = static_cast<std::size_t>(second.data() - value.data());
    const std::string rest(value.substr(offset));
    std::string line;
    if (replaced_line != nullptr) {
      line = std::string(headers[i].name).append(": ").append(rest);
    } else {
      line = line_with_value(headers[i], rest);
    }
    edits_.push_back(Edit{Edit::Kind::kReplaceLine, i, std::move(line)});
    return true;
  }
  return false;
}

void MessageEditor::set_body(std::string body) { body_ = std::move(body); }

void MessageEditor::rewrite_uri_host_port(std::optional<std::size_t> index, const Uri& uri,
                                          std::string_view host, std::optional<std::uint16_t> port) {
  std::string replacement(host);
  replacement.append(port_suffix(port));
  if (!index) {
    const std::string_view ruri = message_.request_uri_text();
    if (!message_.is_request() || !view_inside(ruri, uri.host_port)) {
      return;  // the Uri does not come from this message's Request-URI: nothing to locate
    }
    const auto offset = static_cast<std::size_t>(uri.host_port.data() - ruri.data());
    request_uri_ = splice(ruri, offset, uri.host_port.size(), replacement);
    return;
  }
  const auto& headers = message_.headers();
  if (*index >= headers.size()) {
    return;
  }
  const HeaderField& field = headers[*index];
  if (view_inside(field.raw, uri.host_port)) {
    // Splice the raw bytes: everything else in the field (folding included) stays verbatim.
    const auto offset = static_cast<std::size_t>(uri.host_port.data() - field.raw.data());
    edits_.push_back(Edit{Edit::Kind::kReplaceLine, *index,
                          splice(field.raw, offset, uri.host_port.size(), replacement)});
    return;
  }
  if (view_inside(field.value, uri.host_port)) {
    // The value is an unfolded copy: rebuild the field from it.
    const auto offset = static_cast<std::size_t>(uri.host_port.data() - field.value.data());
    const std::string value = splice(field.value, offset, uri.host_port.size(), replacement);
    edits_.push_back(Edit{Edit::Kind::kReplaceLine, *index, line_with_value(field, value)});
  }
}

std::string MessageEditor::serialize() const {
  const auto& headers = message_.headers();
  const std::size_t n = headers.size();

  // Resolve the edit list into per-field state (last replacement wins, removal wins).
  std::vector<FieldView> fields(n);
  for (const Edit& e : edits_) {
    if (e.index >= n) {
      continue;
    }
    if (e.kind == Edit::Kind::kRemove) {
      fields[e.index].removed = true;
    } else if (e.kind == Edit::Kind::kReplaceLine) {
      fields[e.index].line = &e.line;
    }
  }

  const std::string_view body = body_ ? std::string_view(*body_) : message_.body();

  // RFC 3261 §20.14 / §18.3: Content-Length must match the body we send. It is rewritten when
  // the body changed, and added when the original had none (a datagram whose body ran to the end:
  // the forwarded copy may travel over a stream, where Content-Length is mandatory).
  std::size_t cl_index = n;
  for (std::size_t i = 0; i < n; ++i) {
    if (headers[i].id == HeaderId::kContentLength && !fields[i].removed) {
      cl_index = i;
      break;
    }
  }
  std::string cl_text;
  {
    char digits[24];
    const auto [end, ec] = std::to_chars(digits, digits + sizeof(digits), body.size());
    if (ec == std::errc{}) {
      cl_text.assign(digits, end);
    }
  }
  std::string cl_line;
  const bool user_replaced_cl = cl_index < n && fields[cl_index].line != nullptr;
  if (cl_index < n && body_ && !user_replaced_cl) {
    cl_line = line_with_value(headers[cl_index], cl_text);
    fields[cl_index].line = &cl_line;
  }
  const bool add_cl = cl_index == n;

  std::string out;
  out.reserve(message_.message_bytes().size() + body.size() + 256);

  // Start line.
  if (request_uri_) {
    out.append(message_.method_text()).append(" ").append(*request_uri_).append(" SIP/2.0");
  } else if (status_) {
    char digits[8];
    const auto [end, ec] = std::to_chars(digits, digits + sizeof(digits), status_->first);
    out.append("SIP/2.0 ");
    if (ec == std::errc{}) {
      out.append(digits, end);
    }
    out.append(" ").append(status_->second);
  } else {
    out.append(message_.start_line());
  }
  out.append(kCrlf);

  auto emit_inserts_before = [&](std::size_t index) {
    for (const Edit& e : edits_) {
      if (e.kind == Edit::Kind::kInsertBefore && e.index == index) {
        out.append(e.line).append(kCrlf);
      }
    }
  };

  for (std::size_t i = 0; i < n; ++i) {
    emit_inserts_before(i);
    if (fields[i].removed) {
      continue;
    }
    out.append(fields[i].line != nullptr ? std::string_view(*fields[i].line) : headers[i].raw);
    out.append(kCrlf);
  }
  emit_inserts_before(n);
  if (add_cl) {
    out.append("Content-Length: ").append(cl_text).append(kCrlf);
  }
  out.append(kCrlf);
  out.append(body);
  return out;
}

}  // namespace portcullis::sip
