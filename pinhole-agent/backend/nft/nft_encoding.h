// Pure helpers of the nftables backend: the byte layout of set/map elements (concatenated keys),
// the nftnl_udata TLV used for element and table comments, and errno → ErrorCode mapping.
// Nothing here talks to the kernel, so all of it is unit-tested (tests/unit/pinhole-agent/nft/).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/base/error.h"
#include "common/base/result.h"
#include "common/net/ip_address.h"
#include "pinhole-agent/backend/backend.h"

namespace portcullis::agent::nft {

using Bytes = std::vector<std::uint8_t>;

// nftables datatype ids (nftables src/datatype.h). Sets carry them so `nft list` can print keys.
inline constexpr std::uint32_t kTypeIpv4Addr = 7;
inline constexpr std::uint32_t kTypeIpv6Addr = 8;
inline constexpr std::uint32_t kTypeInetService = 13;
inline constexpr std::uint32_t kTypeMark = 19;
// nftables packs concatenated types 6 bits per field, first field most significant.
inline constexpr unsigned kConcatTypeBits = 6;

/// The NFTA_SET_KEY_TYPE of a concatenation, e.g. {ipv4_addr, inet_service} → 461.
constexpr std::uint32_t concat_type(std::initializer_list<std::uint32_t> fields) {
  std::uint32_t type = 0;
  for (std::uint32_t f : fields) {
    type = (type << kConcatTypeBits) | f;
  }
  return type;
}

/// Every field of a concatenation occupies a whole number of 32-bit registers.
constexpr std::size_t padded_len(std::size_t len) { return (len + 3) / 4 * 4; }

/// Max comment length nft accepts for an element (NFTNL_UDATA_COMMENT_MAXLEN); also our userdata cap.
inline constexpr std::size_t kMaxUserdata = 128;
/// nftnl_udata TLV types (libnftnl/udata.h), duplicated so this file needs no libnftnl header.
inline constexpr std::uint8_t kUdataTableComment = 0;     // NFTNL_UDATA_TABLE_COMMENT
inline constexpr std::uint8_t kUdataSetElemComment = 0;   // NFTNL_UDATA_SET_ELEM_COMMENT

/// Appends concatenation fields in the kernel's register layout: addresses as 4 or 16 network-order
/// bytes, ports as 2 network-order bytes + 2 zero bytes, marks as a host-order u32 (the ct mark
/// register is host order).
class ConcatWriter {
 public:
  ConcatWriter& address(const net::IpAddress& a);
  ConcatWriter& port(std::uint16_t p);
  ConcatWriter& endpoint(const net::Endpoint& e) { return address(e.address()).port(e.port()); }
  ConcatWriter& mark(std::uint32_t m);
  const Bytes& bytes() const& { return bytes_; }
  Bytes bytes() && { return std::move(bytes_); }

 private:
  Bytes bytes_;
};

/// Reads fields back in the same layout; every read checks the remaining length.
class ConcatReader {
 public:
  explicit ConcatReader(std::span<const std::uint8_t> data) : data_(data) {}
  Result<net::IpAddress> address(net::Family family);
  Result<std::uint16_t> port();
  Result<net::Endpoint> endpoint(net::Family family);
  Result<std::uint32_t> mark();
  /// Fails unless every byte was consumed (catches a layout mismatch).
  Status finish() const;

 private:
  Result<std::span<const std::uint8_t>> take(std::size_t n, std::string_view what);
  std::span<const std::uint8_t> data_;
  std::size_t pos_ = 0;
};

// --- Element layouts (see README.md "Element layout") ---------------------------------------

/// bind_in4 key and bind_out4 data: public ip . public port.
Bytes encode_endpoint(const net::Endpoint& e);
Result<net::Endpoint> decode_endpoint(std::span<const std::uint8_t> data, net::Family family);
/// bind_mark4 data.
Bytes encode_mark(std::uint32_t mark);
Result<std::uint32_t> decode_mark(std::span<const std::uint8_t> data);
/// pin4/pin6 key: remote ip . remote port . private ip . private port (post-DNAT view).
Bytes encode_pinhole_key(const Pinhole& p);
Result<Pinhole> decode_pinhole_key(std::span<const std::uint8_t> data, net::Family family);
/// latch4/latch6 key: remote ip . private ip . private port.
Bytes encode_latch_key(const Latch& l);
Result<Latch> decode_latch_key(std::span<const std::uint8_t> data, net::Family family);

// --- nftnl_udata TLV (u8 type, u8 len, value) ---------------------------------------------------

/// One TLV holding `text` NUL-terminated, as nft writes comments (it rejects comments without the
/// NUL). Fails for text longer than kMaxUserdata or containing NUL.
Result<Bytes> encode_comment(std::string_view text, std::uint8_t type);
/// The comment TLV of `type` in `udata`, if present and well-formed. Other TLVs are skipped.
std::optional<std::string> decode_comment(std::span<const std::uint8_t> udata, std::uint8_t type);

/// The table comment that records the agent's state epoch ("portcullis state_epoch=<epoch>").
std::string table_comment_for_epoch(std::string_view epoch);
std::optional<std::string> epoch_from_table_comment(std::string_view comment);

/// Latch elements have no userdata in the interface; the backend records latched_timeout there so
/// snapshot() can return it ("lt=<ms>").
std::string latch_comment(std::chrono::milliseconds latched_timeout);
std::optional<std::chrono::milliseconds> latched_timeout_from_comment(std::string_view comment);

// --- Errors -------------------------------------------------------------------------------------

/// EEXIST→kAlreadyExists, ENOENT→kNotFound, ENFILE/ENOSPC/ENOMEM→kResourceExhausted,
/// EPERM/EACCES→kPermissionDenied, EBUSY→kFailedPrecondition (key present with other data),
/// transient socket errors→kUnavailable, anything else→kInternal.
ErrorCode errno_to_code(int err) noexcept;
/// "<what>: <strerror(err)>[ (<kernel extack>)]" with the mapped code.
Error errno_error(int err, std::string_view what, std::string_view extack = {});

/// "198.51.100.1:40000 -> 10.0.0.2:5000" style text of the element a change touches; used in the
/// seq → description map so a failing batch message names its change.
std::string describe_element(std::string_view op, std::string_view set, std::string_view key,
                             std::string_view data = {});

std::string_view change_op_name(ChangeOp op) noexcept;

}  // namespace portcullis::agent::nft
