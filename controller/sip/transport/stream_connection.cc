#include "controller/sip/transport/stream_connection.h"

#include <algorithm>
#include <string>
#include <utility>

#include "controller/sip/message/header_name.h"

namespace portcullis::sip {
namespace {

// Bytes of the in-progress message kept for answering a framing error: enough for the start line
// and the usual transaction-critical headers.
constexpr std::size_t kHeadCapture = 4096;

constexpr std::string_view kCrlf = "\r\n";

constexpr bool is_token_char(char c) noexcept {
  // RFC 3261 §25.1 token.
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         c == '-' || c == '.' || c == '!' || c == '%' || c == '*' || c == '_' || c == '+' ||
         c == '`' || c == '\'' || c == '~';
}

std::string_view status_phrase(std::uint16_t status) noexcept {
  switch (status) {
    case 400: return "Bad Request";
    case 413: return "Request Entity Too Large";
    case 414: return "Request-URI Too Long";
    case 416: return "Unsupported URI Scheme";
    case 420: return "Bad Extension";
    case 483: return "Too Many Hops";
    case 505: return "Version Not Supported";
    case 513: return "Message Too Large";
    default: return "Bad Request";
  }
}

// The header section of a framed message (up to and including the empty line), for
// RejectedMessage::bytes on stream transports.
std::string header_section(std::string_view message, std::size_t max_bytes) {
  const std::size_t end = message.find("\r\n\r\n");
  const std::size_t n = end == std::string_view::npos ? message.size() : end + 4;
  return std::string(message.substr(0, std::min(n, max_bytes)));
}

}  // namespace

StreamConnection::StreamConnection(FlowInfo flow, StreamConnectionConfig config,
                                   TransportStats& stats)
    : flow_(flow),
      config_(config),
      stats_(stats),
      framer_(FramerLimits{config.parse_limits.max_header_bytes, config.parse_limits.max_headers,
                           config.parse_limits.max_body_bytes, config.max_keepalive_bytes}) {}

void StreamConnection::update_head(std::string_view chunk) {
  // After an event the framer's unconsumed bytes are the last buffered() bytes fed so far. When
  // they all come from the current chunk we know where the next message starts.
  const std::size_t pending = framer_.buffered();
  if (pending <= chunk.size()) {
    head_.assign(chunk.substr(chunk.size() - pending, kHeadCapture));
    head_known_ = true;
  } else {
    head_.clear();
    head_known_ = false;
  }
}

void StreamConnection::on_bytes(std::string_view bytes, ReadResult& out) {
  if (closing_ || bytes.empty()) {
    return;
  }
  if (head_known_ && head_.size() < kHeadCapture) {
    head_.append(bytes.substr(0, kHeadCapture - head_.size()));
  }
  framer_.feed(bytes);
  while (auto event = framer_.next()) {
    if (auto* framed = std::get_if<FramedMessage>(&*event)) {
      update_head(bytes);
      deliver(std::move(framed->bytes), out);
      continue;
    }
    if (std::holds_alternative<KeepAlivePing>(*event)) {
      update_head(bytes);
      // RFC 5626 §4.4.1: answer a CRLFCRLF ping with a single CRLF pong.
      stats_.add(stats_.keepalive_pings);
      if (!enqueue(WriteItem{std::string(kCrlf), {}, true})) {
        closing_ = true;
        out.close = CloseReason::kWriteQueueFull;
        return;
      }
      stats_.add(stats_.keepalive_pongs);
      continue;
    }
    // RFC 4475 §3.1.2.3: a stream that cannot be framed cannot be resynchronised: close it,
    // optionally after answering a request.
    const SipError& error = std::get<FramingError>(*event).error;
    stats_.add(stats_.framing_errors);
    closing_ = true;
    out.close = CloseReason::kFramingError;
    if (config_.answer_framing_errors && !error.drop && head_known_) {
      std::string answer = framing_error_answer(head_, error);
      if (!answer.empty()) {
        // Not subject to the queue bound: the connection is closing and reads have stopped.
        queued_bytes_ += answer.size();
        queue_.push_back(WriteItem{std::move(answer), {}, true});
        stats_.add(stats_.framing_error_answers);
        out.close_after_flush = true;
      }
    }
    return;
  }
}

void StreamConnection::deliver(std::string bytes, ReadResult& out) {
  // RFC 3261 §18.3: the framer cut the message by Content-Length. Keep the header section in case
  // the parse fails (the parser consumes the buffer) so the upper layer can answer statelessly.
  std::string head = header_section(bytes, config_.parse_limits.max_header_bytes);
  auto parsed = SipMessage::parse(std::move(bytes),
                                  ParseOptions{Framing::kStream, config_.parse_limits});
  if (!parsed) {
    stats_.add(stats_.parse_errors);
    out.deliveries.emplace_back(RejectedMessage{parsed.error(), std::move(head), flow_.source,
                                                flow_.local, flow_.kind, flow_.connection});
    return;
  }
  stats_.add(stats_.messages_received);
  out.deliveries.emplace_back(ReceivedMessage{std::move(parsed).value(), flow_.source, flow_.local,
                                              flow_.kind, flow_.connection});
}

bool StreamConnection::enqueue(WriteItem&& item) {
  if (queue_.size() + 1 > config_.max_write_queue_messages ||
      queued_bytes_ + item.bytes.size() > config_.max_write_queue_bytes) {
    return false;
  }
  queued_bytes_ += item.bytes.size();
  queue_.push_back(std::move(item));
  return true;
}

std::optional<std::string_view> StreamConnection::start_write() {
  if (writing_ || queue_.empty()) {
    return std::nullopt;
  }
  writing_ = true;
  return std::string_view(queue_.front().bytes);
}

StreamConnection::WriteItem StreamConnection::complete_write() {
  writing_ = false;
  WriteItem item = std::move(queue_.front());
  queue_.pop_front();
  queued_bytes_ -= item.bytes.size();
  return item;
}

std::vector<StreamConnection::WriteItem> StreamConnection::drain() {
  std::vector<WriteItem> out;
  const std::size_t keep = writing_ ? 1 : 0;
  while (queue_.size() > keep) {
    queued_bytes_ -= queue_.back().bytes.size();
    out.push_back(std::move(queue_.back()));
    queue_.pop_back();
  }
  std::reverse(out.begin(), out.end());
  return out;
}

std::string StreamConnection::framing_error_answer(std::string_view head, const SipError& error) {
  while (!head.empty() && (head.front() == '\r' || head.front() == '\n')) {
    head.remove_prefix(1);
  }
  // Only a request is answered: "Method SP ..." (RFC 3261 §7.1), never "SIP/2.0 ..." (§18.1.2).
  std::size_t method_end = 0;
  while (method_end < head.size() && is_token_char(head[method_end])) {
    ++method_end;
  }
  if (method_end == 0 || method_end >= head.size() || head[method_end] != ' ' ||
      head.substr(0, 4) == "SIP/") {
    return {};
  }
  std::string out = "SIP/2.0 ";
  out += std::to_string(error.status);
  out += ' ';
  out += status_phrase(error.status);
  out += kCrlf;

  // Copy the complete transaction-critical lines we have (RFC 3261 §8.2.6: Via, From, To,
  // Call-ID, CSeq), with their continuation lines. Best effort: the input is broken.
  std::size_t pos = head.find(kCrlf);
  bool copying = false;
  while (pos != std::string_view::npos) {
    pos += 2;
    const std::size_t eol = head.find(kCrlf, pos);
    if (eol == std::string_view::npos || eol == pos) {
      break;  // incomplete line, or the empty line ending the headers
    }
    const std::string_view line = head.substr(pos, eol - pos);
    if (line.front() == ' ' || line.front() == '\t') {
      if (copying) {
        out += line;
        out += kCrlf;
      }
    } else {
      std::size_t name_end = 0;
      while (name_end < line.size() && line[name_end] != ':' && line[name_end] != ' ' &&
             line[name_end] != '\t') {
        ++name_end;
      }
      const HeaderId id = header_id(line.substr(0, name_end));
      copying = id == HeaderId::kVia || id == HeaderId::kFrom || id == HeaderId::kTo ||
                id == HeaderId::kCallId || id == HeaderId::kCSeq;
      if (copying) {
        out += line;
        out += kCrlf;
      }
    }
    pos = eol;
  }
  out += "Content-Length: 0\r\n\r\n";
  return out;
}

}  // namespace portcullis::sip
