// Sans-I/O parsing of DNS responses (RFC 1035 §4.1) into DnsAnswer / DnsError, with the record
// data of A (RFC 1035 §3.4.1), AAAA (RFC 3596 §2.2), SRV (RFC 2782) and NAPTR (RFC 3403 §4.1).
// CaresDnsResolver uses it on the raw answer c-ares hands back, because c-ares 1.18's own
// SRV/NAPTR parsers drop the TTLs that the cache needs. Input is untrusted: every read is bounds
// checked, compression pointers must point backwards, and names are limited to 255 octets.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "controller/sip/resolver/dns_resolver.h"

namespace portcullis::sip::resolver {

/// Interprets a complete DNS response to a query of `type` for `name`:
///  - RCODE 0 with at least one record of `type` in the answer section: the answer (records of
///    other types, e.g. a CNAME chain, are skipped; owner names are not checked because the server
///    answers for the CNAME target too);
///  - RCODE 0 without such records: kNoData; RCODE 3: kNxDomain; both carry the RFC 2308 §5
///    negative TTL when the authority section holds an SOA;
///  - any other RCODE, a truncated or malformed message, or a message that is not a response:
///    kServerFailure.
DnsResult parse_dns_response(std::span<const std::uint8_t> message, DnsType type, std::string_view name);

}  // namespace portcullis::sip::resolver
