// Hand-built DNS wire format (RFC 1035 §4.1) for tests: responses with A, AAAA, SRV, NAPTR and SOA
// records, and the question parser the test DNS server needs. Deliberately independent of
// controller/sip/resolver/dns_message.cc, so the two check each other.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace portcullis::sip::resolver::test {

using Bytes = std::vector<std::uint8_t>;

inline void put16(Bytes& b, std::uint16_t v) {
  b.push_back(static_cast<std::uint8_t>(v >> 8));
  b.push_back(static_cast<std::uint8_t>(v & 0xFF));
}
inline void put32(Bytes& b, std::uint32_t v) {
  put16(b, static_cast<std::uint16_t>(v >> 16));
  put16(b, static_cast<std::uint16_t>(v & 0xFFFF));
}
/// Uncompressed name: "a.b" -> 1 'a' 1 'b' 0.
inline void put_name(Bytes& b, std::string_view name) {
  while (!name.empty()) {
    const auto dot = name.find('.');
    const std::string_view label = name.substr(0, dot);
    b.push_back(static_cast<std::uint8_t>(label.size()));
    b.insert(b.end(), label.begin(), label.end());
    name = dot == std::string_view::npos ? std::string_view{} : name.substr(dot + 1);
  }
  b.push_back(0);
}
inline void put_string(Bytes& b, std::string_view s) {
  b.push_back(static_cast<std::uint8_t>(s.size()));
  b.insert(b.end(), s.begin(), s.end());
}

struct Question {
  std::uint16_t id = 0;
  std::string name;
  std::uint16_t type = 0;
  Bytes raw_question;  // QNAME QTYPE QCLASS as received, echoed back
};

/// Parses a query (no compression expected in questions). nullopt if malformed.
inline std::optional<Question> parse_question(const std::uint8_t* data, std::size_t size) {
  if (size < 12) {
    return std::nullopt;
  }
  Question q;
  q.id = static_cast<std::uint16_t>((data[0] << 8) | data[1]);
  std::size_t pos = 12;
  while (pos < size && data[pos] != 0) {
    const std::size_t len = data[pos];
    if (len > 63 || pos + 1 + len > size) {
      return std::nullopt;
    }
    if (!q.name.empty()) {
      q.name += '.';
    }
    q.name.append(reinterpret_cast<const char*>(data + pos + 1), len);
    pos += 1 + len;
  }
  if (pos + 5 > size) {
    return std::nullopt;
  }
  q.type = static_cast<std::uint16_t>((data[pos + 1] << 8) | data[pos + 2]);
  q.raw_question.assign(data + 12, data + pos + 5);
  return q;
}

/// Builds a response to `q`. Records are appended with the add_* helpers; owner names of answer
/// records are a compression pointer to the question name (offset 12).
class ResponseBuilder {
 public:
  ResponseBuilder(const Question& q, unsigned rcode = 0) : question_(q), rcode_(rcode) {}

  ResponseBuilder& add_a(std::uint32_t ttl, std::array<std::uint8_t, 4> ip) {
    Bytes rdata(ip.begin(), ip.end());
    answers_.push_back(record(1, ttl, rdata));
    return *this;
  }
  ResponseBuilder& add_aaaa(std::uint32_t ttl, std::array<std::uint8_t, 16> ip) {
    Bytes rdata(ip.begin(), ip.end());
    answers_.push_back(record(28, ttl, rdata));
    return *this;
  }
  /// `compress_suffix`: write the target as its first label + a pointer to the question name
  /// (target must then be "<label>.<question name>").
  ResponseBuilder& add_srv(std::uint32_t ttl, std::uint16_t prio, std::uint16_t weight, std::uint16_t port,
                           std::string_view target, bool compress_suffix = false) {
    Bytes rdata;
    put16(rdata, prio);
    put16(rdata, weight);
    put16(rdata, port);
    if (compress_suffix) {
      const std::string_view label = target.substr(0, target.find('.'));
      put_string(rdata, label);
      put16(rdata, 0xC00C);
    } else {
      put_name(rdata, target);
    }
    answers_.push_back(record(33, ttl, rdata));
    return *this;
  }
  ResponseBuilder& add_naptr(std::uint32_t ttl, std::uint16_t order, std::uint16_t pref, std::string_view flags,
                             std::string_view service, std::string_view regexp, std::string_view replacement) {
    Bytes rdata;
    put16(rdata, order);
    put16(rdata, pref);
    put_string(rdata, flags);
    put_string(rdata, service);
    put_string(rdata, regexp);
    put_name(rdata, replacement);
    answers_.push_back(record(35, ttl, rdata));
    return *this;
  }
  /// An SOA in the authority section (RFC 2308 negative caching).
  ResponseBuilder& add_soa(std::uint32_t ttl, std::uint32_t minimum) {
    Bytes rdata;
    put_name(rdata, "ns.test");
    put_name(rdata, "hostmaster.test");
    put32(rdata, 1);     // serial
    put32(rdata, 3600);  // refresh
    put32(rdata, 600);   // retry
    put32(rdata, 86400); // expire
    put32(rdata, minimum);
    Bytes rr;
    put_name(rr, "test");
    put16(rr, 6);
    put16(rr, 1);
    put32(rr, ttl);
    put16(rr, static_cast<std::uint16_t>(rdata.size()));
    rr.insert(rr.end(), rdata.begin(), rdata.end());
    authority_.push_back(rr);
    return *this;
  }
  /// A CNAME record in the answer section (must be skipped by the parser).
  ResponseBuilder& add_cname(std::uint32_t ttl, std::string_view target) {
    Bytes rdata;
    put_name(rdata, target);
    answers_.push_back(record(5, ttl, rdata));
    return *this;
  }

  Bytes build() const {
    Bytes b;
    put16(b, question_.id);
    put16(b, static_cast<std::uint16_t>(0x8180 | (rcode_ & 0xF)));  // QR, RD, RA
    put16(b, 1);
    put16(b, static_cast<std::uint16_t>(answers_.size()));
    put16(b, static_cast<std::uint16_t>(authority_.size()));
    put16(b, 0);
    b.insert(b.end(), question_.raw_question.begin(), question_.raw_question.end());
    for (const auto& rr : answers_) {
      b.insert(b.end(), rr.begin(), rr.end());
    }
    for (const auto& rr : authority_) {
      b.insert(b.end(), rr.begin(), rr.end());
    }
    return b;
  }

 private:
  static Bytes record(std::uint16_t type, std::uint32_t ttl, const Bytes& rdata) {
    Bytes rr;
    put16(rr, 0xC00C);  // owner: pointer to the question name
    put16(rr, type);
    put16(rr, 1);  // IN
    put32(rr, ttl);
    put16(rr, static_cast<std::uint16_t>(rdata.size()));
    rr.insert(rr.end(), rdata.begin(), rdata.end());
    return rr;
  }

  Question question_;
  unsigned rcode_;
  std::vector<Bytes> answers_;
  std::vector<Bytes> authority_;
};

/// A query as a client would send it (for parser tests).
inline Question make_question(std::uint16_t id, std::string_view name, std::uint16_t type) {
  Bytes b(12, 0);
  b[0] = static_cast<std::uint8_t>(id >> 8);
  b[1] = static_cast<std::uint8_t>(id & 0xFF);
  b[5] = 1;  // QDCOUNT
  put_name(b, name);
  put16(b, type);
  put16(b, 1);
  return *parse_question(b.data(), b.size());
}

}  // namespace portcullis::sip::resolver::test
