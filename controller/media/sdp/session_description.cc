// Serializer, queries and rewrite operations of the SDP model.
#include "controller/media/sdp/session_description.h"

#include <algorithm>
#include <iterator>

#include "controller/media/sdp/line_utils.h"

namespace portcullis::media::sdp {

namespace {

void append_lines(const std::vector<Line>& lines, std::string& out) {
  for (const auto& l : lines) {
    out.push_back(l.type);
    out.push_back('=');
    out += l.value;
    out += "\r\n";  // RFC 8866 §5: CRLF on output
  }
}

std::size_t lines_size(const std::vector<Line>& lines) {
  std::size_t n = 0;
  for (const auto& l : lines) {
    n += l.value.size() + 4;
  }
  return n;
}

// Replaces the first line matching `pred` with `replacement` and removes the other matches;
// appends `replacement` (or inserts it at `insert_at`) when nothing matches. A nullopt
// replacement removes every match.
template <class Pred>
void replace_all(std::vector<Line>& lines, Pred pred, const std::optional<Line>& replacement,
                 std::size_t insert_at) {
  auto first = std::find_if(lines.begin(), lines.end(), pred);
  if (first == lines.end()) {
    if (replacement) {
      lines.insert(lines.begin() + static_cast<std::ptrdiff_t>(std::min(insert_at, lines.size())), *replacement);
    }
    return;
  }
  std::size_t keep = static_cast<std::size_t>(std::distance(lines.begin(), first));
  if (replacement) {
    *first = *replacement;
    ++keep;
  }
  const auto tail_begin = lines.begin() + static_cast<std::ptrdiff_t>(keep);
  lines.erase(std::remove_if(tail_begin, lines.end(), pred), lines.end());
}

bool is_type(const Line& l, char type) noexcept { return l.type == type; }

}  // namespace

// ---------------------------------------------------------------------------------------------
// MediaDescription

bool MediaDescription::rtcp_mux() const noexcept {
  return std::any_of(lines_.begin(), lines_.end(), [](const Line& l) { return detail::is_attribute(l, "rtcp-mux"); });
}

std::optional<Direction> MediaDescription::direction() const noexcept { return detail::find_direction(lines_); }

bool MediaDescription::has_ice() const noexcept { return detail::any_ice(lines_); }

std::optional<std::string_view> MediaDescription::attribute(std::string_view name) const noexcept {
  return detail::find_attribute(lines_, name);
}

void MediaDescription::set_port(std::uint16_t port) {
  field_.port = port;
  lines_.front().value = format_media_field(field_);
}

void MediaDescription::set_port_count(std::optional<std::uint16_t> count) {
  // RFC 8866 §5.14: the count is at least 1.
  field_.port_count = (count && *count == 0) ? std::nullopt : count;
  lines_.front().value = format_media_field(field_);
}

void MediaDescription::set_connection(const net::IpAddress& address) {
  const Connection c{address, std::nullopt, std::nullopt};
  // RFC 8866 §5: media section order is m= i= c= b= k= a=; a new c= goes after m= and i=.
  std::size_t insert_at = 1;
  while (insert_at < lines_.size() && lines_[insert_at].type == 'i') {
    ++insert_at;
  }
  replace_all(lines_, [](const Line& l) { return is_type(l, 'c'); }, Line{'c', format_connection(c)}, insert_at);
  connections_.assign(1, c);
}

void MediaDescription::set_rtcp(std::uint16_t port, std::optional<net::IpAddress> address) {
  const RtcpAttribute r{port, address};
  replace_all(lines_, [](const Line& l) { return detail::is_attribute(l, "rtcp"); }, Line{'a', format_rtcp(r)},
              lines_.size());
  rtcp_ = r;
}

void MediaDescription::strip_rtcp() {
  replace_all(lines_, [](const Line& l) { return detail::is_attribute(l, "rtcp"); }, std::nullopt, 0);
  rtcp_.reset();
}

void MediaDescription::set_direction(std::optional<Direction> direction) {
  std::optional<Line> line;
  if (direction) {
    line = Line{'a', std::string(direction_name(*direction))};
  }
  replace_all(lines_, detail::is_direction_line, line, lines_.size());
}

void MediaDescription::strip_ice() {
  lines_.erase(std::remove_if(lines_.begin(), lines_.end(),
                              [](const Line& l) {
                                const auto n = detail::attribute_name(l);
                                return n && is_ice_attribute(*n);
                              }),
               lines_.end());
}

// ---------------------------------------------------------------------------------------------
// SessionDescription

std::string SessionDescription::serialize() const {
  std::size_t size = lines_size(lines_);
  for (const auto& m : media_) {
    size += lines_size(m.lines_);
  }
  std::string out;
  out.reserve(size);
  append_lines(lines_, out);
  for (const auto& m : media_) {
    append_lines(m.lines_, out);
  }
  return out;
}

std::optional<Direction> SessionDescription::direction() const noexcept { return detail::find_direction(lines_); }

bool SessionDescription::has_ice() const noexcept {
  return detail::any_ice(lines_) ||
         std::any_of(media_.begin(), media_.end(), [](const MediaDescription& m) { return m.has_ice(); });
}

std::optional<std::string_view> SessionDescription::attribute(std::string_view name) const noexcept {
  return detail::find_attribute(lines_, name);
}

std::optional<Connection> SessionDescription::effective_connection(std::size_t i) const {
  const auto& m = media_[i];
  if (!m.connections_.empty()) {
    return m.connections_.front();
  }
  return connection_;
}

Direction SessionDescription::effective_direction(std::size_t i) const {
  // RFC 8866 §6.7: a media-level direction overrides the session-level one; sendrecv default.
  if (auto d = media_[i].direction()) {
    return *d;
  }
  return direction().value_or(Direction::kSendRecv);
}

StreamInfo SessionDescription::stream(std::size_t i) const {
  const auto& m = media_[i];
  StreamInfo s;
  s.index = i;
  s.media = m.field_.media;
  s.proto = m.field_.proto;
  s.port = m.field_.port;
  s.port_count = m.field_.port_count.value_or(1);
  s.rejected = m.is_rejected();
  if (auto c = effective_connection(i)) {
    s.address = c->address;
  }
  s.rtcp_mux = m.rtcp_mux();
  if (m.is_rtp()) {
    if (m.rtcp_) {
      s.rtcp_port = m.rtcp_->port;  // RFC 3605 §2.1
    } else if (s.rtcp_mux) {
      s.rtcp_port = s.port;  // RFC 5761 §5.1.1
    } else if (s.port < 65535) {
      s.rtcp_port = static_cast<std::uint16_t>(s.port + 1);  // RFC 3550 §11
    }
    s.rtcp_address = (m.rtcp_ && m.rtcp_->address) ? m.rtcp_->address : s.address;
  }
  s.direction = effective_direction(i);
  // RFC 3264 §8.4: hold is sendonly (or inactive); RFC 2543-era UAs use c=0.0.0.0.
  s.on_hold = s.direction == Direction::kSendOnly || s.direction == Direction::kInactive ||
              (s.address && s.address->is_unspecified());
  s.has_ice = m.has_ice() || detail::any_ice(lines_);
  return s;
}

std::vector<StreamInfo> SessionDescription::streams() const {
  std::vector<StreamInfo> out;
  out.reserve(media_.size());
  for (std::size_t i = 0; i < media_.size(); ++i) {
    out.push_back(stream(i));
  }
  return out;
}

std::vector<std::size_t> SessionDescription::streams_needing_binding() const {
  std::vector<std::size_t> out;
  for (std::size_t i = 0; i < media_.size(); ++i) {
    if (!media_[i].is_rejected()) {
      out.push_back(i);
    }
  }
  return out;
}

void SessionDescription::set_connection(const net::IpAddress& address) {
  const Connection c{address, std::nullopt, std::nullopt};
  // RFC 8866 §5 session order: v o s i u e p c b t r z k a. Insert before the first b/t/r/z/k/a.
  std::size_t insert_at = lines_.size();
  for (std::size_t i = 1; i < lines_.size(); ++i) {
    const char t = lines_[i].type;
    if (t == 'b' || t == 't' || t == 'r' || t == 'z' || t == 'k' || t == 'a') {
      insert_at = i;
      break;
    }
  }
  replace_all(lines_, [](const Line& l) { return is_type(l, 'c'); }, Line{'c', format_connection(c)}, insert_at);
  connection_ = c;
}

void SessionDescription::set_origin_address(const net::IpAddress& address) {
  origin_.addrtype = address.is_v4() ? "IP4" : "IP6";
  origin_.address_text = address.to_string();
  origin_.address = address;
  replace_all(lines_, [](const Line& l) { return is_type(l, 'o'); }, Line{'o', format_origin(origin_)}, 1);
}

void SessionDescription::bump_version() {
  // RFC 3264 §8: "the version in the origin field MUST increment by one".
  origin_.session_version = increment_decimal(origin_.session_version);
  replace_all(lines_, [](const Line& l) { return is_type(l, 'o'); }, Line{'o', format_origin(origin_)}, 1);
}

void SessionDescription::set_direction(std::optional<Direction> direction) {
  std::optional<Line> line;
  if (direction) {
    line = Line{'a', std::string(direction_name(*direction))};
  }
  replace_all(lines_, detail::is_direction_line, line, lines_.size());
}

void SessionDescription::strip_ice() {
  lines_.erase(std::remove_if(lines_.begin(), lines_.end(),
                              [](const Line& l) {
                                const auto n = detail::attribute_name(l);
                                return n && is_ice_attribute(*n);
                              }),
               lines_.end());
  for (auto& m : media_) {
    m.strip_ice();
  }
}

}  // namespace portcullis::media::sdp
