// Rewrite methods and rewrite_for_nat: every edit keeps the model and its lines in step (the
// result re-parses to the same model) and leaves untouched lines byte-identical.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "controller/media/sdp/sdp_rewriter.h"
#include "controller/media/sdp/session_description.h"

namespace portcullis::media::sdp {
namespace {

net::IpAddress ip(std::string_view s) { return net::IpAddress::parse(s).value(); }
net::Endpoint ep(std::string_view s) { return net::Endpoint::parse(s).value(); }

std::string sdp(std::initializer_list<std::string_view> lines) {
  std::string out;
  for (auto l : lines) {
    out += l;
    out += "\r\n";
  }
  return out;
}

SessionDescription parse_ok(const std::string& body) {
  auto sd = SessionDescription::parse(body);
  INFO((sd.ok() ? std::string() : to_error(sd.error()).to_string()));
  REQUIRE(sd.ok());
  return *sd;
}

void check_round_trip(const SessionDescription& sd) {
  auto again = SessionDescription::parse(sd.serialize());
  INFO(sd.serialize());
  REQUIRE(again.ok());
  CHECK(*again == sd);
}

const std::string kOffer = sdp({
    "v=0",
    "o=- 10 9 IN IP4 10.0.0.5",
    "s=-",
    "t=0 0",
    "m=audio 4000 RTP/AVP 0",
    "i=voice",
    "b=AS:64",
    "a=rtpmap:0 PCMU/8000",
    "m=video 0 RTP/AVP 96",
    "m=audio 4002 RTP/AVP 0",
    "c=IN IP4 10.0.0.5",
});

TEST_CASE("stream connection: insert after m=/i=, or rewrite in place", "[unit]") {
  // Stream 0 relies on no c= at all: parse would fail, so give the session one first.
  auto sd = parse_ok(sdp({"v=0", "o=- 1 1 IN IP4 10.0.0.5", "s=-", "c=IN IP4 10.0.0.5", "t=0 0", "m=audio 4000 RTP/AVP 0",
                          "i=voice", "b=AS:64", "m=audio 4002 RTP/AVP 0", "c=IN IP4 10.0.0.6", "c=IN IP4 10.0.0.7", "a=x"}));
  sd.media(0).set_connection(ip("203.0.113.1"));
  sd.media(1).set_connection(ip("2001:db8::1"));
  CHECK(sd.serialize() == sdp({"v=0", "o=- 1 1 IN IP4 10.0.0.5", "s=-", "c=IN IP4 10.0.0.5", "t=0 0",
                               "m=audio 4000 RTP/AVP 0", "i=voice", "c=IN IP4 203.0.113.1", "b=AS:64",
                               "m=audio 4002 RTP/AVP 0", "c=IN IP6 2001:db8::1", "a=x"}));
  REQUIRE(sd.media(1).connections().size() == 1);
  CHECK(sd.effective_connection(0)->address == ip("203.0.113.1"));
  check_round_trip(sd);
}

TEST_CASE("session connection: inserted before b=/t=, rewritten in place", "[unit]") {
  auto sd = parse_ok(kOffer.substr(0, 0) + sdp({"v=0", "o=- 1 1 IN IP4 10.0.0.5", "s=-", "i=x", "b=CT:1", "t=0 0",
                                                "m=audio 4000 RTP/AVP 0", "c=IN IP4 10.0.0.5"}));
  sd.set_connection(ip("203.0.113.9"));
  CHECK(sd.lines()[4] == Line{'c', "IN IP4 203.0.113.9"});
  CHECK(sd.lines()[5] == Line{'b', "CT:1"});
  sd.set_connection(ip("2001:db8::9"));
  CHECK(sd.lines()[4] == Line{'c', "IN IP6 2001:db8::9"});
  CHECK(sd.lines().size() == 7);
  check_round_trip(sd);
}

TEST_CASE("port, port count, rtcp, direction edits", "[unit]") {
  auto sd = parse_ok(sdp({"v=0", "o=- 1 1 IN IP4 10.0.0.5", "c=IN IP4 10.0.0.5", "m=audio  4000/2  RTP/AVP  0 8",
                          "a=rtcp:4001 IN IP4 10.0.0.5", "a=sendonly"}));
  auto& m = sd.media(0);
  m.set_port(50000);
  CHECK(m.lines()[0].value == "audio 50000/2 RTP/AVP 0 8");  // normalised spacing on a changed line
  m.set_port_count(std::nullopt);
  CHECK(m.lines()[0].value == "audio 50000 RTP/AVP 0 8");
  m.set_port_count(uint16_t{0});  // 0 is not a valid count: treated as "absent"
  CHECK_FALSE(m.port_count().has_value());
  m.set_port_count(uint16_t{3});
  CHECK(m.lines()[0].value == "audio 50000/3 RTP/AVP 0 8");
  check_round_trip(sd);

  m.set_rtcp(50001);
  CHECK(m.lines()[1].value == "rtcp:50001");
  CHECK(sd.stream(0).rtcp_address == ip("10.0.0.5"));
  m.set_rtcp(50001, ip("2001:db8::2"));
  CHECK(m.lines()[1].value == "rtcp:50001 IN IP6 2001:db8::2");
  check_round_trip(sd);
  m.strip_rtcp();
  CHECK_FALSE(m.rtcp().has_value());
  CHECK(sd.stream(0).rtcp_port == std::optional<std::uint16_t>(50001));  // implicit port+1
  m.set_rtcp(7);  // appended when absent
  CHECK(m.lines().back().value == "rtcp:7");
  check_round_trip(sd);

  CHECK(sd.stream(0).on_hold);
  m.set_direction(Direction::kSendRecv);
  CHECK_FALSE(sd.stream(0).on_hold);
  m.set_direction(std::nullopt);
  CHECK_FALSE(m.direction().has_value());
  sd.set_direction(Direction::kInactive);
  CHECK(sd.stream(0).direction == Direction::kInactive);
  CHECK(sd.lines().back() == Line{'a', "inactive"});
  sd.set_direction(std::nullopt);
  CHECK_FALSE(sd.direction().has_value());
  check_round_trip(sd);
}

TEST_CASE("origin address and version bump (RFC 3264 §8)", "[unit]") {
  auto sd = parse_ok(sdp({"v=0", "o=Sip Phone 123 999 IN IP4 10.0.0.5", "c=IN IP4 10.0.0.5"}));
  sd.bump_version();
  CHECK(sd.origin().session_version == "1000");
  CHECK(sd.lines()[1].value == "Sip Phone 123 1000 IN IP4 10.0.0.5");
  sd.set_origin_address(ip("2001:db8::1"));
  CHECK(sd.lines()[1].value == "Sip Phone 123 1000 IN IP6 2001:db8::1");
  check_round_trip(sd);

  auto big = parse_ok(sdp({"v=0", "o=- 1 18446744073709551615 IN IP4 pc.example.com", "c=IN IP4 10.0.0.5"}));
  big.bump_version();
  CHECK(big.origin().session_version == "18446744073709551616");
  check_round_trip(big);
}

TEST_CASE("strip_ice removes every ICE line at every level and nothing else", "[unit]") {
  const std::vector<std::string_view> keep = {"v=0", "o=- 1 1 IN IP4 10.0.0.5", "c=IN IP4 10.0.0.5",
                                              "a=group:BUNDLE 0", "m=audio 4000 RTP/AVP 0", "a=mid:0",
                                              "a=rtcp-mux", "a=candidate-like:not ICE"};
  auto sd = parse_ok(sdp({"v=0", "o=- 1 1 IN IP4 10.0.0.5", "c=IN IP4 10.0.0.5", "a=ice-lite", "a=group:BUNDLE 0",
                          "a=ice-options:trickle ice2", "a=ice-ufrag:u", "a=ice-pwd:p", "m=audio 4000 RTP/AVP 0",
                          "a=ice-ufrag:u2", "a=candidate:1 1 UDP 1 10.0.0.5 4000 typ host", "a=mid:0",
                          "a=ICE-PWD:p2", "a=remote-candidates:1 192.0.2.1 5000", "a=rtcp-mux", "a=ice-mismatch",
                          "a=ice-pacing:50", "a=end-of-candidates", "a=candidate-like:not ICE"}));
  CHECK(sd.has_ice());
  CHECK(sd.media(0).has_ice());
  sd.strip_ice();
  CHECK_FALSE(sd.has_ice());
  CHECK_FALSE(sd.stream(0).has_ice);
  std::string expected;
  for (auto l : keep) {
    expected += std::string(l) + "\r\n";
  }
  CHECK(sd.serialize() == expected);
  check_round_trip(sd);
}

TEST_CASE("rewrite_for_nat validates before changing anything", "[unit]") {
  const auto original = parse_ok(kOffer.substr(0, 0) +
                                 sdp({"v=0", "o=- 1 1 IN IP4 10.0.0.5", "c=IN IP4 10.0.0.5", "m=audio 4000 RTP/AVP 0",
                                      "m=video 0 RTP/AVP 96", "m=audio 4002 RTP/AVP 0"}));
  CHECK(original.streams_needing_binding() == std::vector<std::size_t>{0, 2});
  struct Row {
    const char* name;
    std::vector<PublicBinding> bindings;
    ErrorCode code;
  };
  const PublicBinding b0{0, ep("203.0.113.1:40000"), std::nullopt};
  const PublicBinding b2{2, ep("203.0.113.1:40002"), std::nullopt};
  const std::vector<Row> rows = {
      {"missing binding for an active stream", {b0}, ErrorCode::kFailedPrecondition},
      {"no bindings at all", {}, ErrorCode::kFailedPrecondition},
      {"binding for a rejected stream", {b0, b2, {1, ep("203.0.113.1:40004"), std::nullopt}}, ErrorCode::kInvalidArgument},
      {"binding for a stream that does not exist", {b0, b2, {3, ep("203.0.113.1:40004"), std::nullopt}}, ErrorCode::kInvalidArgument},
      {"two bindings for one stream", {b0, b2, b0}, ErrorCode::kInvalidArgument},
  };
  for (const auto& r : rows) {
    INFO(r.name);
    SessionDescription sd = original;
    auto result = rewrite_for_nat(sd, r.bindings);
    REQUIRE_FALSE(result.ok());
    CHECK(result.error().code == r.code);
    CHECK(sd == original);
  }
  SessionDescription sd = original;
  REQUIRE(rewrite_for_nat(sd, {b0, b2}).ok());
  CHECK(sd.connection()->address == ip("203.0.113.1"));
  CHECK(sd.media(0).port() == 40000);
  CHECK(sd.media(1).port() == 0);
  CHECK(sd.media(2).port() == 40002);
  CHECK(sd.origin().session_version == "2");
  check_round_trip(sd);
}

TEST_CASE("rewrite_for_nat options", "[unit]") {
  const auto original = parse_ok(sdp({"v=0", "o=- 1 1 IN IP4 10.0.0.5", "c=IN IP4 10.0.0.5", "m=audio 4000 RTP/AVP 0",
                                      "a=candidate:1 1 UDP 1 10.0.0.5 4000 typ host"}));
  SessionDescription sd = original;
  NatRewriteOptions options;
  options.strip_ice = false;
  options.rewrite_origin = false;
  options.bump_version = false;
  REQUIRE(rewrite_for_nat(sd, {{0, ep("203.0.113.1:40000"), std::nullopt}}, options).ok());
  CHECK(sd.serialize() == sdp({"v=0", "o=- 1 1 IN IP4 10.0.0.5", "c=IN IP4 203.0.113.1", "m=audio 40000 RTP/AVP 0",
                               "a=candidate:1 1 UDP 1 10.0.0.5 4000 typ host"}));
  SessionDescription rejected_only = parse_ok(sdp({"v=0", "o=- 1 1 IN IP4 10.0.0.5", "m=audio 0 RTP/AVP 0"}));
  const SessionDescription before = rejected_only;
  REQUIRE(rewrite_for_nat(rejected_only, {}).ok());
  CHECK(rejected_only == before);  // nothing changed: version kept
}

TEST_CASE("rewrite_for_nat bumps the version only when something changed", "[unit]") {
  SECTION("re-applying the same bindings is a no-op") {
    auto sd = parse_ok(sdp({"v=0", "o=- 1 5 IN IP4 10.0.0.5", "c=IN IP4 10.0.0.5", "m=audio 4000 RTP/AVP 0",
                            "a=rtcp:4001", "m=video 4002 RTP/AVP 96", "a=rtcp-mux"}));
    const std::vector<PublicBinding> bindings = {{0, ep("203.0.113.1:40000"), ep("203.0.113.1:40001")},
                                                 {1, ep("203.0.113.2:40002"), std::nullopt}};
    REQUIRE(rewrite_for_nat(sd, bindings).ok());
    CHECK(sd.origin().session_version == "6");
    const SessionDescription once = sd;
    REQUIRE(rewrite_for_nat(sd, bindings).ok());
    CHECK(sd == once);
  }
  SECTION("all streams rejected: ICE is still stripped, and that is a change") {
    auto sd = parse_ok(sdp({"v=0", "o=- 1 5 IN IP4 10.0.0.5", "m=audio 0 RTP/AVP 0",
                            "a=candidate:1 1 UDP 1 10.0.0.5 4000 typ host"}));
    REQUIRE(rewrite_for_nat(sd, {}).ok());
    CHECK_FALSE(sd.has_ice());
    CHECK(sd.origin().session_version == "6");
    CHECK(sd.origin().address_text == "10.0.0.5");  // no binding: no public address to show
  }
}

}  // namespace
}  // namespace portcullis::media::sdp
