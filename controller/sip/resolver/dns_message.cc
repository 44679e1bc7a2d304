#include "controller/sip/resolver/dns_message.h"

#include <algorithm>
#include <array>
#include <optional>

namespace portcullis::sip::resolver {
namespace {

// RFC 1035 §4.1.1 header layout and the codes used below.
constexpr std::size_t kHeaderSize = 12;
constexpr std::uint16_t kClassIn = 1;
constexpr std::uint16_t kTypeSoa = 6;
constexpr unsigned kRcodeNoError = 0;
constexpr unsigned kRcodeNxDomain = 3;
// RFC 1035 §2.3.4: names are at most 255 octets on the wire.
constexpr std::size_t kMaxNameOctets = 255;
// More jumps than a 255-octet name can need means a pointer loop.
constexpr int kMaxPointerJumps = 128;

class Reader {
 public:
  explicit Reader(std::span<const std::uint8_t> msg) : msg_(msg) {}

  bool has(std::size_t n) const noexcept { return pos_ <= msg_.size() && msg_.size() - pos_ >= n; }
  std::size_t pos() const noexcept { return pos_; }
  void seek(std::size_t p) noexcept { pos_ = p; }

  std::optional<std::uint8_t> u8() {
    if (!has(1)) {
      return std::nullopt;
    }
    return msg_[pos_++];
  }
  std::optional<std::uint16_t> u16() {
    if (!has(2)) {
      return std::nullopt;
    }
    const auto v = static_cast<std::uint16_t>((msg_[pos_] << 8) | msg_[pos_ + 1]);
    pos_ += 2;
    return v;
  }
  std::optional<std::uint32_t> u32() {
    if (!has(4)) {
      return std::nullopt;
    }
    const std::uint32_t v = (std::uint32_t{msg_[pos_]} << 24) | (std::uint32_t{msg_[pos_ + 1]} << 16) |
                            (std::uint32_t{msg_[pos_ + 2]} << 8) | std::uint32_t{msg_[pos_ + 3]};
    pos_ += 4;
    return v;
  }
  // RFC 1035 §3.3: <character-string> = length octet + bytes.
  std::optional<std::string> character_string() {
    const auto len = u8();
    if (!len || !has(*len)) {
      return std::nullopt;
    }
    std::string s(reinterpret_cast<const char*>(msg_.data() + pos_), *len);
    pos_ += *len;
    return s;
  }

  // RFC 1035 §4.1.4: a sequence of labels, possibly ending in a pointer to an earlier name.
  // Returns the lower-cased dotted name ("" for the root).
  std::optional<std::string> name() {
    std::string out;
    std::size_t cursor = pos_;
    std::optional<std::size_t> resume;  // where reading continues after the first pointer
    std::size_t octets = 1;             // the root label
    for (int jumps = 0;;) {
      if (cursor >= msg_.size()) {
        return std::nullopt;
      }
      const std::uint8_t len = msg_[cursor];
      if ((len & 0xC0) == 0xC0) {
        if (cursor + 1 >= msg_.size() || ++jumps > kMaxPointerJumps) {
          return std::nullopt;
        }
        const std::size_t target = (std::size_t{len & 0x3Fu} << 8) | msg_[cursor + 1];
        if (!resume) {
          resume = cursor + 2;
        }
        if (target >= cursor) {  // only backward pointers: no loops, no forward references
          return std::nullopt;
        }
        cursor = target;
        continue;
      }
      if ((len & 0xC0) != 0) {  // 0x40 / 0x80: extended label types, not supported
        return std::nullopt;
      }
      if (len == 0) {
        pos_ = resume ? *resume : cursor + 1;
        return out;
      }
      octets += len + 1u;
      if (octets > kMaxNameOctets || cursor + 1 + len > msg_.size()) {
        return std::nullopt;
      }
      if (!out.empty()) {
        out += '.';
      }
      for (std::size_t i = 0; i < len; ++i) {
        char c = static_cast<char>(msg_[cursor + 1 + i]);
        if (c >= 'A' && c <= 'Z') {
          c = static_cast<char>(c - 'A' + 'a');
        }
        out += c;
      }
      cursor += 1 + len;
    }
  }

 private:
  std::span<const std::uint8_t> msg_;
  std::size_t pos_ = 0;
};

DnsError malformed(std::string_view what) {
  return DnsError{DnsErrorKind::kServerFailure, "malformed DNS response: " + std::string(what), std::nullopt};
}

}  // namespace

DnsResult parse_dns_response(std::span<const std::uint8_t> message, DnsType type, std::string_view name) {
  Reader r(message);
  if (!r.has(kHeaderSize)) {
    return unexpected(malformed("short header"));
  }
  r.u16();  // id: c-ares matched it already
  const std::uint16_t flags = *r.u16();
  const std::uint16_t qdcount = *r.u16();
  const std::uint16_t ancount = *r.u16();
  const std::uint16_t nscount = *r.u16();
  r.u16();  // arcount: additional records are not used
  if ((flags & 0x8000u) == 0) {
    return unexpected(malformed("not a response"));
  }
  const unsigned rcode = flags & 0x000Fu;

  for (std::uint16_t i = 0; i < qdcount; ++i) {
    if (!r.name() || !r.u16() || !r.u16()) {
      return unexpected(malformed("question"));
    }
  }

  DnsAnswer answer;
  answer.name = canonical_dns_name(name);
  answer.type = type;
  const auto wanted = static_cast<std::uint16_t>(type);

  // Answer section (RFC 1035 §4.1.3).
  for (std::uint16_t i = 0; i < ancount; ++i) {
    const auto owner = r.name();
    const auto rtype = r.u16();
    const auto rclass = r.u16();
    const auto ttl_raw = r.u32();
    const auto rdlength = r.u16();
    if (!owner || !rdlength || !r.has(*rdlength)) {
      return unexpected(malformed("answer record"));
    }
    const std::size_t rdata_end = r.pos() + *rdlength;
    // RFC 2181 §8: a TTL with the top bit set is treated as zero.
    const std::uint32_t ttl = (*ttl_raw & 0x80000000u) != 0 ? 0 : *ttl_raw;
    if (*rtype != wanted || *rclass != kClassIn) {
      r.seek(rdata_end);
      continue;
    }
    switch (type) {
      case DnsType::kA: {
        if (*rdlength != 4) {
          return unexpected(malformed("A rdata"));
        }
        std::array<std::uint8_t, 4> b{};
        for (auto& x : b) {
          x = *r.u8();
        }
        answer.addresses.push_back({net::IpAddress::v4_bytes(b), ttl});
        break;
      }
      case DnsType::kAaaa: {
        if (*rdlength != 16) {
          return unexpected(malformed("AAAA rdata"));
        }
        std::array<std::uint8_t, 16> b{};
        for (auto& x : b) {
          x = *r.u8();
        }
        answer.addresses.push_back({net::IpAddress::v6_bytes(b), ttl});
        break;
      }
      case DnsType::kSrv: {
        // RFC 2782: Priority, Weight, Port, Target (uncompressed in theory; accept pointers).
        SrvRecord srv;
        const auto prio = r.u16();
        const auto weight = r.u16();
        const auto port = r.u16();
        const auto target = r.name();
        if (!prio || !weight || !port || !target || r.pos() != rdata_end) {
          return unexpected(malformed("SRV rdata"));
        }
        srv.priority = *prio;
        srv.weight = *weight;
        srv.port = *port;
        srv.target = *target;
        srv.ttl = ttl;
        answer.srv.push_back(std::move(srv));
        break;
      }
      case DnsType::kNaptr: {
        // RFC 3403 §4.1: ORDER, PREFERENCE, FLAGS, SERVICES, REGEXP, REPLACEMENT.
        NaptrRecord n;
        const auto order = r.u16();
        const auto pref = r.u16();
        auto nflags = r.character_string();
        auto service = r.character_string();
        auto regexp = r.character_string();
        auto replacement = r.name();
        if (!order || !pref || !nflags || !service || !regexp || !replacement || r.pos() != rdata_end) {
          return unexpected(malformed("NAPTR rdata"));
        }
        n.order = *order;
        n.preference = *pref;
        n.flags = std::move(*nflags);
        n.service = std::move(*service);
        n.regexp = std::move(*regexp);
        n.replacement = std::move(*replacement);
        n.ttl = ttl;
        answer.naptr.push_back(std::move(n));
        break;
      }
    }
    if (r.pos() != rdata_end) {
      return unexpected(malformed("rdata length"));
    }
  }

  if (rcode == kRcodeNoError && !answer.empty()) {
    return answer;
  }
  if (rcode != kRcodeNoError && rcode != kRcodeNxDomain) {
    return unexpected(DnsError{DnsErrorKind::kServerFailure, "RCODE " + std::to_string(rcode), std::nullopt});
  }

  // Negative answer: look for the SOA in the authority section (RFC 2308 §3, §5).
  DnsError error{rcode == kRcodeNxDomain ? DnsErrorKind::kNxDomain : DnsErrorKind::kNoData,
                 std::string(answer.name) + " " + std::string(dns_type_name(type)), std::nullopt};
  for (std::uint16_t i = 0; i < nscount; ++i) {
    const auto owner = r.name();
    const auto rtype = r.u16();
    const auto rclass = r.u16();
    const auto ttl_raw = r.u32();
    const auto rdlength = r.u16();
    if (!owner || !rdlength || !r.has(*rdlength)) {
      break;  // the negative answer stands; only the caching hint is lost
    }
    const std::size_t rdata_end = r.pos() + *rdlength;
    if (*rtype == kTypeSoa && *rclass == kClassIn) {
      // SOA rdata: MNAME, RNAME, SERIAL, REFRESH, RETRY, EXPIRE, MINIMUM (RFC 1035 §3.3.13).
      if (r.name() && r.name() && r.u32() && r.u32() && r.u32() && r.u32()) {
        if (const auto minimum = r.u32(); minimum && r.pos() == rdata_end) {
          const std::uint32_t soa_ttl = (*ttl_raw & 0x80000000u) != 0 ? 0 : *ttl_raw;
          error.negative_ttl = std::min(soa_ttl, *minimum);
        }
      }
      break;
    }
    r.seek(rdata_end);
  }
  return unexpected(std::move(error));
}

}  // namespace portcullis::sip::resolver
