// Typed field parsers: c=, o=, m=, a=rtcp, attribute split, version increment.
#include <catch2/catch.hpp>

#include <string>

#include "controller/media/sdp/sdp_fields.h"

namespace portcullis::media::sdp {
namespace {

net::IpAddress ip(std::string_view s) { return net::IpAddress::parse(s).value(); }

TEST_CASE("parse_connection accepts IN IP4/IP6 with optional ttl and count", "[unit]") {
  struct Row {
    std::string_view text;
    std::string_view address;
    std::optional<std::uint8_t> ttl;
    std::optional<std::uint16_t> count;
  };
  const Row rows[] = {
      {"IN IP4 192.0.2.1", "192.0.2.1", std::nullopt, std::nullopt},
      {"IN IP4 233.252.0.1/127", "233.252.0.1", 127, std::nullopt},
      {"IN IP4 233.252.0.1/127/3", "233.252.0.1", 127, 3},
      {"IN IP6 2001:db8::1", "2001:db8::1", std::nullopt, std::nullopt},
      {"IN IP6 ff15::101/3", "ff15::101", std::nullopt, 3},
      {"in ip4 10.0.0.1", "10.0.0.1", std::nullopt, std::nullopt},        // liberal: case
      {"IN IP4 10.0.0.1  ", "10.0.0.1", std::nullopt, std::nullopt},      // liberal: trailing SP
      {"IN IP4 0.0.0.0", "0.0.0.0", std::nullopt, std::nullopt},          // RFC 3264 §8.4 hold
  };
  for (const auto& r : rows) {
    INFO(r.text);
    auto c = parse_connection(r.text);
    REQUIRE(c.ok());
    CHECK(c->address == ip(r.address));
    CHECK(c->ttl == r.ttl);
    CHECK(c->count == r.count);
    // Formatting re-parses to the same value.
    auto again = parse_connection(format_connection(*c));
    REQUIRE(again.ok());
    CHECK(*again == *c);
  }
}

TEST_CASE("parse_connection rejects bad input with the right kind", "[unit]") {
  struct Row {
    std::string_view text;
    SdpErrorKind kind;
  };
  const Row rows[] = {
      {"", SdpErrorKind::kMalformed},
      {"IN IP4", SdpErrorKind::kMalformed},
      {"IN IP4 192.0.2.1 extra", SdpErrorKind::kMalformed},
      {"ATM NSAP 47.0005.80.ffe100.0000.f21a.01e2.1111.2222.3333.00", SdpErrorKind::kUnsupportedNetType},
      {"IN IPX 1.2.3.4", SdpErrorKind::kUnsupportedNetType},
      {"TN RFC2543 +1-212-555-1234", SdpErrorKind::kUnsupportedNetType},
      {"IN IP4 host.example.com", SdpErrorKind::kUnsupportedAddress},
      {"IN IP6 [2001:db8::1]", SdpErrorKind::kUnsupportedAddress},
      {"IN IP4 2001:db8::1", SdpErrorKind::kMalformed},
      {"IN IP6 192.0.2.1", SdpErrorKind::kMalformed},
      {"IN IP4 300.1.2.3", SdpErrorKind::kMalformed},
      {"IN IP4 1.2.3", SdpErrorKind::kMalformed},
      {"IN IP4 233.252.0.1/256", SdpErrorKind::kMalformed},
      {"IN IP4 233.252.0.1/127/0", SdpErrorKind::kMalformed},
      {"IN IP4 233.252.0.1/127/3/4", SdpErrorKind::kMalformed},
      {"IN IP6 ff15::101/3/4", SdpErrorKind::kMalformed},
      {"IN IP4 233.252.0.1/", SdpErrorKind::kMalformed},
      {"IN IP4 233.252.0.1/-1", SdpErrorKind::kMalformed},
  };
  for (const auto& r : rows) {
    INFO(r.text);
    auto c = parse_connection(r.text);
    REQUIRE_FALSE(c.ok());
    CHECK(c.error().kind == r.kind);
  }
}

TEST_CASE("parse_origin", "[unit]") {
  SECTION("plain") {
    auto o = parse_origin("jdoe 2890844526 2890842807 IN IP4 10.47.16.5");
    REQUIRE(o.ok());
    CHECK(o->username == "jdoe");
    CHECK(o->session_id == "2890844526");
    CHECK(o->session_version == "2890842807");
    CHECK(o->address == ip("10.47.16.5"));
    CHECK(format_origin(*o) == "jdoe 2890844526 2890842807 IN IP4 10.47.16.5");
  }
  SECTION("username with spaces, FQDN address, huge numbers") {
    auto o = parse_origin("Sip Phone 1 99999999999999999999999 123456789012345678901234567890 IN IP4 pc.example.com");
    REQUIRE(o.ok());
    CHECK(o->username == "Sip Phone 1");
    CHECK(o->session_version == "123456789012345678901234567890");
    CHECK_FALSE(o->address.has_value());
    CHECK(o->address_text == "pc.example.com");
  }
  SECTION("IPv6") {
    auto o = parse_origin("- 1 1 IN IP6 2001:db8::1");
    REQUIRE(o.ok());
    CHECK(o->address == ip("2001:db8::1"));
  }
  SECTION("errors") {
    CHECK(parse_origin("- 1 1 IN IP4").error().kind == SdpErrorKind::kMalformed);
    CHECK(parse_origin("- x 1 IN IP4 10.0.0.1").error().kind == SdpErrorKind::kMalformed);
    CHECK(parse_origin("- 1 -1 IN IP4 10.0.0.1").error().kind == SdpErrorKind::kMalformed);
    CHECK(parse_origin("- 1 1 ATM NSAP x").error().kind == SdpErrorKind::kUnsupportedNetType);
  }
}

TEST_CASE("parse_media_field", "[unit]") {
  SECTION("audio with formats") {
    auto m = parse_media_field("audio 49170 RTP/AVP 0 8 97");
    REQUIRE(m.ok());
    CHECK(m->media == "audio");
    CHECK(m->port == 49170);
    CHECK_FALSE(m->port_count.has_value());
    CHECK(m->proto == "RTP/AVP");
    CHECK(m->formats == std::vector<std::string>{"0", "8", "97"});
  }
  SECTION("port count") {
    auto m = parse_media_field("audio 4000/2 RTP/AVP 0");
    REQUIRE(m.ok());
    CHECK(m->port == 4000);
    CHECK(m->port_count == std::optional<std::uint16_t>(2));
    CHECK(format_media_field(*m) == "audio 4000/2 RTP/AVP 0");
  }
  SECTION("non-RTP formats are tokens") {
    auto m = parse_media_field("application 9 UDP/DTLS/SCTP webrtc-datachannel");
    REQUIRE(m.ok());
    CHECK_FALSE(is_rtp_proto(m->proto));
    auto t38 = parse_media_field("image 0 udptl t38");
    REQUIRE(t38.ok());
    CHECK(t38->port == 0);
  }
  SECTION("rejected stream without formats is accepted") {
    CHECK(parse_media_field("video 0 RTP/AVP").ok());
  }
  SECTION("errors") {
    const std::string_view bad[] = {
        "audio",
        "audio 4000",
        "audio 65536 RTP/AVP 0",
        "audio 4294967296 RTP/AVP 0",
        "audio 18446744073709551617 RTP/AVP 0",
        "audio -1 RTP/AVP 0",
        "audio 40x0 RTP/AVP 0",
        "audio 4000/0 RTP/AVP 0",
        "audio 4000/ RTP/AVP 0",
        "audio 4000/70000 RTP/AVP 0",
        "audio 4000 RTP/AVP 4294967296",  // pjproject#2093
        "audio 4000 RTP/AVP 128",
        "audio 4000 RTP/AVP abc",
        "audio 4000 RTP//AVP 0",
        "aud(io 4000 RTP/AVP 0",
    };
    for (auto text : bad) {
      INFO(text);
      auto m = parse_media_field(text);
      REQUIRE_FALSE(m.ok());
      CHECK(m.error().kind == SdpErrorKind::kMalformed);
    }
  }
}

TEST_CASE("parse_rtcp (RFC 3605)", "[unit]") {
  auto a = parse_rtcp("53020");
  REQUIRE(a.ok());
  CHECK(a->port == 53020);
  CHECK_FALSE(a->address.has_value());
  auto b = parse_rtcp("53020 IN IP4 198.51.100.4");
  REQUIRE(b.ok());
  CHECK(b->address == ip("198.51.100.4"));
  CHECK(format_rtcp(*b) == "rtcp:53020 IN IP4 198.51.100.4");
  auto c = parse_rtcp("53020 IN IP6 2001:db8::4");
  REQUIRE(c.ok());
  CHECK(format_rtcp(*c) == "rtcp:53020 IN IP6 2001:db8::4");

  CHECK(parse_rtcp("").error().kind == SdpErrorKind::kMalformed);
  CHECK(parse_rtcp("70000").error().kind == SdpErrorKind::kMalformed);
  CHECK(parse_rtcp("5000 IN IP4").error().kind == SdpErrorKind::kMalformed);
  CHECK(parse_rtcp("5000 IN IP7 1.2.3.4").error().kind == SdpErrorKind::kUnsupportedNetType);
  CHECK(parse_rtcp("5000 IN IP4 rtcp.example.com").error().kind == SdpErrorKind::kUnsupportedAddress);
}

TEST_CASE("split_attribute, direction and ICE names", "[unit]") {
  auto a = split_attribute("rtpmap:0 PCMU/8000");
  REQUIRE(a.ok());
  CHECK(a->name == "rtpmap");
  CHECK(a->value == std::optional<std::string_view>("0 PCMU/8000"));
  auto flag = split_attribute("rtcp-mux");
  REQUIRE(flag.ok());
  CHECK_FALSE(flag->value.has_value());
  auto empty_value = split_attribute("x:");
  REQUIRE(empty_value.ok());
  CHECK(empty_value->value == std::optional<std::string_view>(""));
  CHECK_FALSE(split_attribute("").ok());
  CHECK_FALSE(split_attribute(":x").ok());
  CHECK_FALSE(split_attribute("a b:c").ok());

  CHECK(parse_direction("sendonly") == Direction::kSendOnly);
  CHECK(parse_direction("INACTIVE") == Direction::kInactive);
  CHECK_FALSE(parse_direction("sendonlyx").has_value());
  for (auto d : {Direction::kSendRecv, Direction::kSendOnly, Direction::kRecvOnly, Direction::kInactive}) {
    CHECK(parse_direction(direction_name(d)) == d);
  }
  CHECK(is_ice_attribute("candidate"));
  CHECK(is_ice_attribute("ice-ufrag"));
  CHECK(is_ice_attribute("end-of-candidates"));
  CHECK_FALSE(is_ice_attribute("rtcp-mux"));
}

TEST_CASE("increment_decimal never overflows", "[unit]") {
  CHECK(increment_decimal("0") == "1");
  CHECK(increment_decimal("9") == "10");
  CHECK(increment_decimal("2890844526") == "2890844527");
  CHECK(increment_decimal("1999") == "2000");
  CHECK(increment_decimal("18446744073709551615") == "18446744073709551616");
  CHECK(increment_decimal("007") == "008");
}

}  // namespace
}  // namespace portcullis::media::sdp
