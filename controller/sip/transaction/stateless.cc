#include "controller/sip/transaction/stateless.h"

#include <array>

#include "controller/sip/parser/headers.h"

namespace portcullis::sip {

namespace {

// Appends text with every control byte (CR and LF above all) replaced by a space, so caller
// supplied reasons / tags / values cannot inject header lines.
void append_clean(std::string& out, std::string_view text) {
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    out.push_back((u < 0x20 || u == 0x7f) ? ' ' : c);
  }
}

void append_header(std::string& out, std::string_view name, std::string_view value) {
  out.append(name);
  out.append(": ");
  out.append(value);
  out.append("\r\n");
}

// Every field with this id, by value, under its canonical name (values are already unfolded).
void copy_all(std::string& out, const SipMessage& msg, HeaderId id) {
  for (const HeaderField& f : msg.headers()) {
    if (f.id == id) {
      append_header(out, header_canonical_name(id), f.value);
    }
  }
}

std::string_view value_of(const SipMessage& msg, HeaderId id) {
  const HeaderField* f = msg.find(id);
  return f != nullptr ? f->value : std::string_view{};
}

void fnv1a(std::uint64_t& h, std::string_view s) {
  for (const char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ULL;
  }
  h ^= 0xff;  // field separator
  h *= 1099511628211ULL;
}

// The request-side part shared by the non-2xx ACK and CANCEL (RFC 3261 §17.1.1.3, §9.1).
std::string make_hop_request(const SipMessage& invite, std::string_view method,
                             std::string_view to_value) {
  std::string out;
  out.reserve(512);
  out.append(method);
  out.push_back(' ');
  out.append(invite.request_uri_text());
  out.append(" SIP/2.0\r\n");
  append_header(out, "Via", invite.vias().front().text);
  copy_all(out, invite, HeaderId::kRoute);
  append_header(out, "Max-Forwards", "70");
  append_header(out, "From", value_of(invite, HeaderId::kFrom));
  append_header(out, "To", to_value);
  append_header(out, "Call-ID", invite.call_id());
  out.append("CSeq: ");
  out.append(std::to_string(invite.cseq().number));
  out.push_back(' ');
  out.append(method);
  out.append("\r\n");
  append_header(out, "Content-Length", "0");
  out.append("\r\n");
  return out;
}

}  // namespace

std::string_view transport_name(TransportProtocol t) noexcept {
  switch (t) {
    case TransportProtocol::kUdp: return "UDP";
    case TransportProtocol::kTcp: return "TCP";
    case TransportProtocol::kTls: return "TLS";
    case TransportProtocol::kSctp: return "SCTP";
    case TransportProtocol::kWs: return "WS";
    case TransportProtocol::kWss: return "WSS";
  }
  return "UDP";
}

std::string_view state_name(TransactionState s) noexcept {
  switch (s) {
    case TransactionState::kCalling: return "Calling";
    case TransactionState::kTrying: return "Trying";
    case TransactionState::kProceeding: return "Proceeding";
    case TransactionState::kCompleted: return "Completed";
    case TransactionState::kConfirmed: return "Confirmed";
    case TransactionState::kAccepted: return "Accepted";
    case TransactionState::kTerminated: return "Terminated";
  }
  return "?";
}

std::string_view txn_error_name(TxnError e) noexcept {
  switch (e) {
    case TxnError::kNone: return "none";
    case TxnError::kUnknownTransaction: return "unknown transaction";
    case TxnError::kWrongKind: return "wrong transaction kind";
    case TxnError::kWrongState: return "wrong transaction state";
    case TxnError::kInvalidMessage: return "invalid message";
    case TxnError::kDuplicate: return "duplicate transaction";
    case TxnError::kLimitReached: return "transaction limit reached";
  }
  return "?";
}

std::string_view default_reason_phrase(std::uint16_t status) noexcept {
  switch (status) {
    case 100: return "Trying";
    case 180: return "Ringing";
    case 181: return "Call Is Being Forwarded";
    case 182: return "Queued";
    case 183: return "Session Progress";
    case 200: return "OK";
    case 202: return "Accepted";
    case 300: return "Multiple Choices";
    case 301: return "Moved Permanently";
    case 302: return "Moved Temporarily";
    case 305: return "Use Proxy";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 407: return "Proxy Authentication Required";
    case 408: return "Request Timeout";
    case 413: return "Request Entity Too Large";
    case 415: return "Unsupported Media Type";
    case 416: return "Unsupported URI Scheme";
    case 420: return "Bad Extension";
    case 423: return "Interval Too Brief";
    case 480: return "Temporarily Unavailable";
    case 481: return "Call/Transaction Does Not Exist";
    case 482: return "Loop Detected";
    case 483: return "Too Many Hops";
    case 484: return "Address Incomplete";
    case 486: return "Busy Here";
    case 487: return "Request Terminated";
    case 488: return "Not Acceptable Here";
    case 500: return "Server Internal Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Server Time-out";
    case 505: return "Version Not Supported";
    case 513: return "Message Too Large";
    case 600: return "Busy Everywhere";
    case 603: return "Decline";
    case 604: return "Does Not Exist Anywhere";
    case 606: return "Not Acceptable";
    default: break;
  }
  switch (status / 100) {
    case 1: return "Session Progress";
    case 2: return "OK";
    case 3: return "Redirection";
    case 4: return "Client Error";
    case 5: return "Server Error";
    default: return "Global Failure";
  }
}

std::string stateless_to_tag(const SipMessage& request) {
  std::uint64_t h = 14695981039346656037ULL;
  fnv1a(h, request.call_id());
  fnv1a(h, request.from().tag());
  const Via& top = request.vias().front();
  fnv1a(h, top.branch.empty() ? top.text : top.branch);
  fnv1a(h, std::to_string(request.cseq().number));
  static constexpr std::array<char, 16> kHex = {'0', '1', '2', '3', '4', '5', '6', '7',
                                                '8', '9', 'a', 'b', 'c', 'd', 'e', 'f'};
  std::string tag(16, '0');
  for (std::size_t i = 0; i < 16; ++i) {
    tag[15 - i] = kHex[(h >> (4 * i)) & 0xf];
  }
  return tag;
}

std::string make_response(const SipMessage& request, std::uint16_t status, std::string_view reason,
                          std::string_view to_tag, std::span<const ExtraHeader> extra) {
  std::string out;
  out.reserve(512);
  out.append("SIP/2.0 ");
  out.append(std::to_string(status));
  out.push_back(' ');
  append_clean(out, reason.empty() ? default_reason_phrase(status) : reason);
  out.append("\r\n");
  // RFC 3261 §8.2.6.2: Via fields in the same order, values unchanged.
  copy_all(out, request, HeaderId::kVia);
  append_header(out, "From", value_of(request, HeaderId::kFrom));
  out.append("To: ");
  out.append(value_of(request, HeaderId::kTo));
  if (request.to().tag().empty() && status > 100) {
    // §8.2.6.2: a response to a request without a To tag MUST carry one (except 100, §17.2.1).
    out.append(";tag=");
    if (to_tag.empty() || !is_token(to_tag)) {
      out.append(stateless_to_tag(request));  // a tag is a token (§25.1); never inject
    } else {
      out.append(to_tag);
    }
  }
  out.append("\r\n");
  append_header(out, "Call-ID", request.call_id());
  append_header(out, "CSeq", value_of(request, HeaderId::kCSeq));
  if (status == 100) {
    // §8.2.6.1: a 100 (Trying) copies the Timestamp header.
    copy_all(out, request, HeaderId::kTimestamp);
  }
  for (const ExtraHeader& h : extra) {
    append_clean(out, h.name);
    out.append(": ");
    append_clean(out, h.value);
    out.append("\r\n");
  }
  append_header(out, "Content-Length", "0");
  out.append("\r\n");
  return out;
}

std::string make_non_2xx_ack(const SipMessage& invite, const SipMessage& response) {
  return make_hop_request(invite, "ACK", value_of(response, HeaderId::kTo));
}

std::string make_cancel(const SipMessage& invite) {
  return make_hop_request(invite, "CANCEL", value_of(invite, HeaderId::kTo));
}

Peer response_peer(const SipMessage& request, const Peer& from) {
  if (is_reliable(from.transport)) {
    return from;  // §18.2.2: over the connection the request arrived on
  }
  const Via& top = request.vias().front();
  if (top.has_rport) {
    return from;  // RFC 3581 §4: source address and source port
  }
  // §18.2.2: the "received" address (the source) and the sent-by port.
  Peer to = from;
  to.endpoint = net::Endpoint(from.endpoint.address(), top.port.value_or(5060));
  return to;
}

}  // namespace portcullis::sip
