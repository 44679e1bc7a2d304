#include "controller/sip/message/header_name.h"

#include <catch2/catch.hpp>

#include <string>

namespace portcullis::sip {

TEST_CASE("header_id: long names, any case", "[unit]") {
  CHECK(header_id("Via") == HeaderId::kVia);
  CHECK(header_id("VIA") == HeaderId::kVia);
  CHECK(header_id("MaX-fOrWaRdS") == HeaderId::kMaxForwards);
  CHECK(header_id("call-id") == HeaderId::kCallId);
  CHECK(header_id("CSEQ") == HeaderId::kCSeq);
  CHECK(header_id("www-authenticate") == HeaderId::kWwwAuthenticate);
  CHECK(header_id("P-Asserted-Identity") == HeaderId::kPAssertedIdentity);
  CHECK(header_id("Min-SE") == HeaderId::kMinSE);
  CHECK(header_id("Flow-Timer") == HeaderId::kFlowTimer);
}

TEST_CASE("header_id: every canonical name maps back to its id", "[unit]") {
  for (std::size_t i = 1; i < static_cast<std::size_t>(HeaderId::kCount); ++i) {
    const auto id = static_cast<HeaderId>(i);
    const std::string_view name = header_canonical_name(id);
    INFO(i << " " << name);
    REQUIRE_FALSE(name.empty());
    CHECK(header_id(name) == id);
    std::string upper(name);
    for (char& c : upper) {
      c = (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
    }
    CHECK(header_id(upper) == id);
  }
  CHECK(header_canonical_name(HeaderId::kOther).empty());
  CHECK(header_canonical_name(HeaderId::kCount).empty());
  CHECK(header_canonical_name(HeaderId::kCallId) == "Call-ID");
  CHECK(header_canonical_name(HeaderId::kWwwAuthenticate) == "WWW-Authenticate");
}

TEST_CASE("header_id: compact forms (RFC 3261 §7.3.3 and later)", "[unit]") {
  struct Compact {
    const char* name;
    HeaderId id;
  };
  const Compact table[] = {
      {"v", HeaderId::kVia},          {"V", HeaderId::kVia},
      {"f", HeaderId::kFrom},         {"t", HeaderId::kTo},
      {"i", HeaderId::kCallId},       {"m", HeaderId::kContact},
      {"l", HeaderId::kContentLength}, {"L", HeaderId::kContentLength},
      {"c", HeaderId::kContentType},  {"e", HeaderId::kContentEncoding},
      {"k", HeaderId::kSupported},    {"s", HeaderId::kSubject},
      {"o", HeaderId::kEvent},        {"u", HeaderId::kAllowEvents},
      {"r", HeaderId::kReferTo},      {"b", HeaderId::kReferredBy},
      {"x", HeaderId::kSessionExpires},
      // Compact forms of headers without an id stay kOther.
      {"a", HeaderId::kOther},        {"j", HeaderId::kOther},
      {"y", HeaderId::kOther},        {"z", HeaderId::kOther},
  };
  for (const Compact& c : table) {
    INFO(c.name);
    CHECK(header_id(c.name) == c.id);
  }
}

TEST_CASE("header_id: unknown and near-miss names are kOther", "[unit]") {
  CHECK(header_id("") == HeaderId::kOther);
  CHECK(header_id("Vias") == HeaderId::kOther);
  CHECK(header_id("Vi") == HeaderId::kOther);
  CHECK(header_id("Call_ID") == HeaderId::kOther);
  CHECK(header_id("C%6Fntact") == HeaderId::kOther);  // RFC 4475 §3.1.1.5: not Contact
  CHECK(header_id("X-Content-Length") == HeaderId::kOther);
  CHECK(header_id("Proxy-Authorizations") == HeaderId::kOther);
  CHECK(header_id(std::string(300, 'a')) == HeaderId::kOther);
}

TEST_CASE("header classes: single-instance and list headers", "[unit]") {
  for (const HeaderId id : {HeaderId::kFrom, HeaderId::kTo, HeaderId::kCallId, HeaderId::kCSeq,
                            HeaderId::kMaxForwards, HeaderId::kContentLength,
                            HeaderId::kContentType, HeaderId::kExpires, HeaderId::kDate}) {
    CHECK(header_is_single_instance(id));
    CHECK_FALSE(header_is_list(id));
  }
  for (const HeaderId id : {HeaderId::kVia, HeaderId::kContact, HeaderId::kRoute,
                            HeaderId::kRecordRoute, HeaderId::kSupported, HeaderId::kAllow}) {
    CHECK(header_is_list(id));
    CHECK_FALSE(header_is_single_instance(id));
  }
  // Several fields allowed, but never split on commas (RFC 3261 §7.3.1).
  CHECK_FALSE(header_is_list(HeaderId::kAuthorization));
  CHECK_FALSE(header_is_single_instance(HeaderId::kAuthorization));
  CHECK_FALSE(header_is_list(HeaderId::kOther));
  CHECK_FALSE(header_is_single_instance(HeaderId::kOther));
}

}  // namespace portcullis::sip
