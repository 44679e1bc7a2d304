#include "pinhole-agent/backend/nft/nft_encoding.h"

#include <cerrno>
#include <charconv>
#include <cstring>

namespace portcullis::agent::nft {

namespace {

constexpr std::string_view kEpochPrefix = "portcullis state_epoch=";
constexpr std::string_view kLatchPrefix = "lt=";

std::string_view family_name(net::Family f) { return f == net::Family::kV4 ? "IPv4" : "IPv6"; }

}  // namespace

// --- ConcatWriter / ConcatReader -----------------------------------------------------------------

ConcatWriter& ConcatWriter::address(const net::IpAddress& a) {
  const std::string_view raw = a.bytes();
  bytes_.insert(bytes_.end(), raw.begin(), raw.end());  // 4 or 16: already register aligned
  return *this;
}

ConcatWriter& ConcatWriter::port(std::uint16_t p) {
  bytes_.push_back(static_cast<std::uint8_t>(p >> 8));
  bytes_.push_back(static_cast<std::uint8_t>(p & 0xff));
  bytes_.push_back(0);  // inet_service is 2 bytes; the concatenation pads it to a 32-bit register
  bytes_.push_back(0);
  return *this;
}

ConcatWriter& ConcatWriter::mark(std::uint32_t m) {
  std::uint8_t raw[4];
  std::memcpy(raw, &m, sizeof(m));  // host order, as `ct mark set` reads the register
  bytes_.insert(bytes_.end(), raw, raw + 4);
  return *this;
}

Result<std::span<const std::uint8_t>> ConcatReader::take(std::size_t n, std::string_view what) {
  if (data_.size() - pos_ < n) {
    return unexpected(invalid_argument("element too short for " + std::string(what) + ": " +
                                       std::to_string(data_.size()) + " bytes"));
  }
  auto out = data_.subspan(pos_, n);
  pos_ += n;
  return out;
}

Result<net::IpAddress> ConcatReader::address(net::Family family) {
  const std::size_t n = family == net::Family::kV4 ? 4 : 16;
  auto raw = take(n, std::string(family_name(family)) + " address");
  if (!raw) {
    return unexpected(std::move(raw).error());
  }
  return net::IpAddress::from_bytes(
      std::string_view(reinterpret_cast<const char*>(raw->data()), raw->size()));
}

Result<std::uint16_t> ConcatReader::port() {
  auto raw = take(4, "port");
  if (!raw) {
    return unexpected(std::move(raw).error());
  }
  return static_cast<std::uint16_t>(((*raw)[0] << 8) | (*raw)[1]);
}

Result<net::Endpoint> ConcatReader::endpoint(net::Family family) {
  auto a = address(family);
  if (!a) {
    return unexpected(std::move(a).error());
  }
  auto p = port();
  if (!p) {
    return unexpected(std::move(p).error());
  }
  return net::Endpoint(*a, *p);
}

Result<std::uint32_t> ConcatReader::mark() {
  auto raw = take(4, "mark");
  if (!raw) {
    return unexpected(std::move(raw).error());
  }
  std::uint32_t m = 0;
  std::memcpy(&m, raw->data(), sizeof(m));
  return m;
}

Status ConcatReader::finish() const {
  if (pos_ != data_.size()) {
    return unexpected(invalid_argument("element has " + std::to_string(data_.size() - pos_) +
                                       " unexpected trailing bytes"));
  }
  return ok_status();
}

// --- Element layouts -----------------------------------------------------------------------------

Bytes encode_endpoint(const net::Endpoint& e) { return ConcatWriter().endpoint(e).bytes(); }

Result<net::Endpoint> decode_endpoint(std::span<const std::uint8_t> data, net::Family family) {
  ConcatReader r(data);
  auto e = r.endpoint(family);
  if (!e) {
    return e;
  }
  PORTCULLIS_RETURN_IF_ERROR(r.finish());
  return e;
}

Bytes encode_mark(std::uint32_t mark) { return ConcatWriter().mark(mark).bytes(); }

Result<std::uint32_t> decode_mark(std::span<const std::uint8_t> data) {
  ConcatReader r(data);
  auto m = r.mark();
  if (!m) {
    return m;
  }
  PORTCULLIS_RETURN_IF_ERROR(r.finish());
  return m;
}

Bytes encode_pinhole_key(const Pinhole& p) {
  return ConcatWriter().endpoint(p.remote).endpoint(p.private_endpoint).bytes();
}

Result<Pinhole> decode_pinhole_key(std::span<const std::uint8_t> data, net::Family family) {
  ConcatReader r(data);
  auto remote = r.endpoint(family);
  if (!remote) {
    return unexpected(std::move(remote).error());
  }
  auto priv = r.endpoint(family);
  if (!priv) {
    return unexpected(std::move(priv).error());
  }
  PORTCULLIS_RETURN_IF_ERROR(r.finish());
  Pinhole p;
  p.protocol = L4Protocol::kUdp;
  p.remote = *remote;
  p.private_endpoint = *priv;
  return p;
}

Bytes encode_latch_key(const Latch& l) {
  return ConcatWriter().address(l.remote_address).endpoint(l.private_endpoint).bytes();
}

Result<Latch> decode_latch_key(std::span<const std::uint8_t> data, net::Family family) {
  ConcatReader r(data);
  auto remote = r.address(family);
  if (!remote) {
    return unexpected(std::move(remote).error());
  }
  auto priv = r.endpoint(family);
  if (!priv) {
    return unexpected(std::move(priv).error());
  }
  PORTCULLIS_RETURN_IF_ERROR(r.finish());
  Latch l;
  l.protocol = L4Protocol::kUdp;
  l.remote_address = *remote;
  l.private_endpoint = *priv;
  return l;
}

// --- udata TLV -----------------------------------------------------------------------------------

Result<Bytes> encode_comment(std::string_view text, std::uint8_t type) {
  if (text.size() > kMaxUserdata) {
    return unexpected(invalid_argument("userdata is " + std::to_string(text.size()) +
                                       " bytes; at most " + std::to_string(kMaxUserdata)));
  }
  if (text.find('\0') != std::string_view::npos) {
    return unexpected(invalid_argument("userdata must not contain NUL bytes"));
  }
  Bytes out;
  out.reserve(text.size() + 3);
  out.push_back(type);
  out.push_back(static_cast<std::uint8_t>(text.size() + 1));  // <= 129, fits the u8 length
  out.insert(out.end(), text.begin(), text.end());
  out.push_back(0);
  return out;
}

std::optional<std::string> decode_comment(std::span<const std::uint8_t> udata, std::uint8_t type) {
  std::size_t pos = 0;
  while (udata.size() - pos >= 2) {
    const std::uint8_t t = udata[pos];
    const std::size_t len = udata[pos + 1];
    if (udata.size() - pos - 2 < len) {
      return std::nullopt;  // truncated TLV: not ours or corrupt
    }
    if (t == type) {
      if (len == 0 || udata[pos + 2 + len - 1] != 0) {
        return std::nullopt;  // nft also rejects comments without the terminating NUL
      }
      return std::string(reinterpret_cast<const char*>(udata.data() + pos + 2), len - 1);
    }
    pos += 2 + len;
  }
  return std::nullopt;
}

std::string table_comment_for_epoch(std::string_view epoch) {
  return std::string(kEpochPrefix) + std::string(epoch);
}

std::optional<std::string> epoch_from_table_comment(std::string_view comment) {
  if (comment.substr(0, kEpochPrefix.size()) != kEpochPrefix) {
    return std::nullopt;
  }
  return std::string(comment.substr(kEpochPrefix.size()));
}

std::string latch_comment(std::chrono::milliseconds latched_timeout) {
  return std::string(kLatchPrefix) + std::to_string(latched_timeout.count());
}

std::optional<std::chrono::milliseconds> latched_timeout_from_comment(std::string_view comment) {
  if (comment.substr(0, kLatchPrefix.size()) != kLatchPrefix) {
    return std::nullopt;
  }
  const std::string_view digits = comment.substr(kLatchPrefix.size());
  std::int64_t ms = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), ms);
  if (ec != std::errc() || end != digits.data() + digits.size() || ms < 0) {
    return std::nullopt;
  }
  return std::chrono::milliseconds(ms);
}

// --- Errors --------------------------------------------------------------------------------------

ErrorCode errno_to_code(int err) noexcept {
  switch (err) {
    case 0:
      return ErrorCode::kOk;
    case EEXIST:
      return ErrorCode::kAlreadyExists;
    case ENOENT:
      return ErrorCode::kNotFound;
    case ENFILE:  // the set reached its `size`
    case ENOSPC:
    case ENOMEM:
      return ErrorCode::kResourceExhausted;
    case EPERM:  // no CAP_NET_ADMIN, or the table is owned by another live process
    case EACCES:
      return ErrorCode::kPermissionDenied;
    case EBUSY:  // non-exclusive add of a map key that holds different data
      return ErrorCode::kFailedPrecondition;
    case EAGAIN:
    case EINTR:
    case ENOBUFS:  // netlink socket overrun: replies were lost, retry
    case ETIMEDOUT:
    case ECONNREFUSED:
      return ErrorCode::kUnavailable;
    default:
      return ErrorCode::kInternal;
  }
}

Error errno_error(int err, std::string_view what, std::string_view extack) {
  std::string msg(what);
  msg += ": ";
  msg += std::strerror(err);
  if (!extack.empty()) {
    msg += " (";
    msg += extack;
    msg += ")";
  }
  return Error(errno_to_code(err), std::move(msg));
}

std::string describe_element(std::string_view op, std::string_view set, std::string_view key,
                             std::string_view data) {
  std::string out;
  out.reserve(op.size() + set.size() + key.size() + data.size() + 16);
  out.append(op).append(" ").append(set).append(" element ").append(key);
  if (!data.empty()) {
    out.append(" -> ").append(data);
  }
  return out;
}

std::string_view change_op_name(ChangeOp op) noexcept {
  switch (op) {
    case ChangeOp::kCreate:
      return "create";
    case ChangeOp::kUpsert:
      return "upsert";
    case ChangeOp::kDelete:
      return "delete";
  }
  return "?";
}

}  // namespace portcullis::agent::nft
