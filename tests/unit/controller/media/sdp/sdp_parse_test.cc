// SessionDescription::parse: valid inputs, every error kind, limits, hostile bytes, and the query
// API the media layer uses.
#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <vector>

#include "controller/media/sdp/session_description.h"

namespace portcullis::media::sdp {
namespace {

net::IpAddress ip(std::string_view s) { return net::IpAddress::parse(s).value(); }

// Joins lines with CRLF (the wire form).
std::string sdp(std::initializer_list<std::string_view> lines, std::string_view eol = "\r\n") {
  std::string out;
  for (auto l : lines) {
    out += l;
    out += eol;
  }
  return out;
}

const std::string kBasic = sdp({
    "v=0",
    "o=alice 2890844526 2890844526 IN IP4 10.0.0.5",
    "s=-",
    "c=IN IP4 10.0.0.5",
    "t=0 0",
    "m=audio 4000 RTP/AVP 0 8",
    "a=rtpmap:0 PCMU/8000",
});

// Parses a copy held in an exactly-sized heap buffer, so ASan flags any read past the end.
Result<SessionDescription, SdpError> parse_exact(std::string_view body, const SdpLimits& limits = {}) {
  auto buf = std::make_unique<char[]>(body.size() + 1);  // +1: never 0-sized
  std::copy(body.begin(), body.end(), buf.get());
  return SessionDescription::parse(std::string_view(buf.get(), body.size()), limits);
}

TEST_CASE("parse a basic offer", "[unit]") {
  auto sd = parse_exact(kBasic);
  REQUIRE(sd.ok());
  CHECK(sd->origin().username == "alice");
  CHECK(sd->origin().address == ip("10.0.0.5"));
  REQUIRE(sd->connection().has_value());
  CHECK(sd->connection()->address == ip("10.0.0.5"));
  REQUIRE(sd->media_count() == 1);
  const auto& m = sd->media(0);
  CHECK(m.media() == "audio");
  CHECK(m.port() == 4000);
  CHECK(m.proto() == "RTP/AVP");
  CHECK(m.formats() == std::vector<std::string>{"0", "8"});
  CHECK(m.connections().empty());
  CHECK(m.attribute("rtpmap") == std::optional<std::string_view>("0 PCMU/8000"));
  CHECK_FALSE(m.attribute("fmtp").has_value());
  CHECK(sd->lines().size() == 5);
  CHECK(m.lines().size() == 2);
  CHECK(sd->serialize() == kBasic);
}

TEST_CASE("parse accepts the liberal forms RFC 8866 implementations accept", "[unit]") {
  struct Row {
    const char* name;
    std::string body;
    std::size_t media;
  };
  const std::vector<Row> rows = {
      {"bare LF line endings (RFC 8866 §5)",
       sdp({"v=0", "o=- 1 1 IN IP4 10.0.0.5", "s=-", "c=IN IP4 10.0.0.5", "t=0 0", "m=audio 4000 RTP/AVP 0"}, "\n"),
       1},
      {"mixed endings", "v=0\r\no=- 1 1 IN IP4 10.0.0.5\ns=-\r\nc=IN IP4 10.0.0.5\nt=0 0\r\nm=audio 4000 RTP/AVP 0\n", 1},
      {"no ending on the last line", "v=0\r\no=- 1 1 IN IP4 10.0.0.5\r\nc=IN IP4 10.0.0.5\r\nm=audio 4000 RTP/AVP 0", 1},
      {"trailing empty lines", kBasic + "\r\n\r\n", 1},
      {"no s= and no t=", sdp({"v=0", "o=- 1 1 IN IP4 10.0.0.5", "c=IN IP4 10.0.0.5", "m=audio 4000 RTP/AVP 0"}), 1},
      {"session lines out of order", sdp({"v=0", "o=- 1 1 IN IP4 10.0.0.5", "s=-", "t=0 0", "c=IN IP4 10.0.0.5", "a=x", "b=AS:1", "m=audio 4000 RTP/AVP 0"}), 1},
      {"rejected stream without c=",
       sdp({"v=0", "o=- 1 1 IN IP4 10.0.0.5", "s=-", "t=0 0", "m=audio 4000 RTP/AVP 0", "c=IN IP4 10.0.0.5", "m=video 0 RTP/AVP 96"}),
       2},
      {"several media-level c= (layered multicast)",
       sdp({"v=0", "o=- 1 1 IN IP4 10.0.0.5", "s=-", "t=0 0", "m=video 51372 RTP/AVP 99", "c=IN IP4 233.252.0.1/127", "c=IN IP4 233.252.0.2/127"}),
       1},
      {"FQDN in o=", sdp({"v=0", "o=- 1 1 IN IP4 pc33.example.com", "s=-", "c=IN IP4 10.0.0.5", "t=0 0"}), 0},
      {"session-level a=rtcp kept verbatim", sdp({"v=0", "o=- 1 1 IN IP4 10.0.0.5", "s=-", "a=rtcp:junk", "c=IN IP4 10.0.0.5"}), 0},
      {"repeated identical direction", sdp({"v=0", "o=- 1 1 IN IP4 10.0.0.5", "c=IN IP4 10.0.0.5", "m=audio 1 RTP/AVP 0", "a=sendonly", "a=sendonly"}), 1},
      {"unknown attributes and UTF-8 text", sdp({"v=0", "o=- 1 1 IN IP4 10.0.0.5", "s=Gr\xc3\xbc\xc3\x9f" "e", "c=IN IP4 10.0.0.5", "a=x-foo", "a=x-bar:1 2 3"}), 0},
      {"sixteen media (default limit)",
       [] {
         std::string s = sdp({"v=0", "o=- 1 1 IN IP4 10.0.0.5", "c=IN IP4 10.0.0.5"});
         for (int i = 0; i < 16; ++i) {
           s += "m=audio " + std::to_string(4000 + 2 * i) + " RTP/AVP 0\r\n";
         }
         return s;
       }(),
       16},
  };
  for (const auto& r : rows) {
    INFO(r.name);
    auto sd = parse_exact(r.body);
    INFO((sd.ok() ? std::string() : to_error(sd.error()).to_string()));
    REQUIRE(sd.ok());
    CHECK(sd->media_count() == r.media);
    // Serialising normalises to CRLF; that re-parses to the same model.
    auto again = parse_exact(sd->serialize());
    REQUIRE(again.ok());
    CHECK(*again == *sd);
  }
}

TEST_CASE("parse → serialize is byte-identical for CRLF input", "[unit]") {
  const std::string body = sdp({
      "v=0",
      "o=Sip Phone 1 2 3 IN IP4 10.0.0.5",
      "s= spaces kept ",
      "i=info",
      "u=http://example.com/",
      "e=alice@example.com",
      "p=+1 555",
      "c=in ip4 10.0.0.5",
      "b=CT:128",
      "t=0 0",
      "r=7d 1h 0 25h",
      "z=2882844526 -1h",
      "k=prompt",
      "a=x-anything:goes here",
      "m=audio 4000/2 RTP/AVP 0 8",
      "i=media info",
      "c=IN IP4 10.0.0.6  ",
      "b=AS:64",
      "k=clear:x",
      "a=rtcp:4001   IN IP4 10.0.0.6",
      "a=rtcp-mux",
  });
  auto sd = parse_exact(body);
  REQUIRE(sd.ok());
  CHECK(sd->serialize() == body);
}

struct ErrorRow {
  const char* name;
  std::string body;
  SdpErrorKind kind;
  std::uint32_t line;
};

TEST_CASE("parse reports each error kind with its line", "[unit]") {
  const std::string head = sdp({"v=0", "o=- 1 1 IN IP4 10.0.0.5", "s=-"});  // lines 1..3
  const std::vector<ErrorRow> rows = {
      {"empty body", "", SdpErrorKind::kMissingVersion, 0},
      {"only empty lines", "\r\n\n", SdpErrorKind::kMissingVersion, 0},
      {"o= first", sdp({"o=- 1 1 IN IP4 10.0.0.5", "v=0"}), SdpErrorKind::kMissingVersion, 1},
      {"uppercase V", sdp({"V=0"}), SdpErrorKind::kMissingVersion, 1},
      {"v=1", sdp({"v=1"}), SdpErrorKind::kUnsupportedVersion, 1},
      {"v=00", sdp({"v=00"}), SdpErrorKind::kUnsupportedVersion, 1},
      {"v= twice", head + sdp({"v=0"}), SdpErrorKind::kMalformed, 4},
      {"no '='", head + sdp({"hello"}), SdpErrorKind::kMalformed, 4},
      {"space before '='", head + sdp({"a =x"}), SdpErrorKind::kMalformed, 4},
      {"single char line", head + sdp({"a"}), SdpErrorKind::kMalformed, 4},
      {"empty type", head + sdp({"=x"}), SdpErrorKind::kMalformed, 4},
      {"unknown type letter", head + sdp({"q=foo"}), SdpErrorKind::kUnknownLineType, 4},
      {"uppercase type", head + sdp({"A=foo"}), SdpErrorKind::kMalformed, 4},
      {"NUL inside a line", head + std::string("a=x\0y\r\n", 7), SdpErrorKind::kMalformed, 4},
      {"CR inside a line", head + "a=x\ry\r\n", SdpErrorKind::kMalformed, 4},
      {"empty line in the middle", head + "\r\n" + sdp({"t=0 0"}), SdpErrorKind::kMalformed, 4},
      {"missing o=", sdp({"v=0", "s=-"}), SdpErrorKind::kMalformed, 0},
      {"duplicate o=", head + sdp({"o=- 1 1 IN IP4 10.0.0.5"}), SdpErrorKind::kMalformed, 4},
      {"duplicate s=", head + sdp({"s=again"}), SdpErrorKind::kMalformed, 4},
      {"bad o= version", sdp({"v=0", "o=- 1 v2 IN IP4 10.0.0.5"}), SdpErrorKind::kMalformed, 2},
      {"duplicate session c=", head + sdp({"c=IN IP4 10.0.0.5", "c=IN IP4 10.0.0.6"}), SdpErrorKind::kMalformed, 5},
      {"t= inside media", head + sdp({"c=IN IP4 10.0.0.5", "m=audio 4000 RTP/AVP 0", "t=0 0"}), SdpErrorKind::kMalformed, 6},
      {"port overflow (pjproject#2093)", head + sdp({"c=IN IP4 10.0.0.5", "m=audio 4294967296 RTP/AVP 0"}), SdpErrorKind::kMalformed, 5},
      {"payload type overflow (pjproject#2093)", head + sdp({"c=IN IP4 10.0.0.5", "m=audio 4000 RTP/AVP 4294967296"}), SdpErrorKind::kMalformed, 5},
      {"port > 65535", head + sdp({"c=IN IP4 10.0.0.5", "m=audio 65536 RTP/AVP 0"}), SdpErrorKind::kMalformed, 5},
      {"non-numeric port", head + sdp({"c=IN IP4 10.0.0.5", "m=audio $port RTP/AVP 0"}), SdpErrorKind::kMalformed, 5},
      {"unknown nettype", head + sdp({"c=ATM NSAP 47.0005"}), SdpErrorKind::kUnsupportedNetType, 4},
      {"unknown addrtype", head + sdp({"c=IN E164 +15551234"}), SdpErrorKind::kUnsupportedNetType, 4},
      {"unknown o= nettype", sdp({"v=0", "o=- 1 1 TN RFC2543 +1555"}), SdpErrorKind::kUnsupportedNetType, 2},
      {"FQDN in c=", head + sdp({"c=IN IP4 media.example.com"}), SdpErrorKind::kUnsupportedAddress, 4},
      {"bad IPv4", head + sdp({"c=IN IP4 10.0.0.256"}), SdpErrorKind::kMalformed, 4},
      {"missing c=", head + sdp({"t=0 0", "m=audio 4000 RTP/AVP 0", "a=sendrecv"}), SdpErrorKind::kMissingConnection, 5},
      {"missing c= on second stream",
       head + sdp({"m=audio 4000 RTP/AVP 0", "c=IN IP4 10.0.0.5", "m=video 4002 RTP/AVP 96"}), SdpErrorKind::kMissingConnection, 6},
      {"conflicting directions", head + sdp({"a=sendonly", "a=recvonly"}), SdpErrorKind::kMalformed, 5},
      {"conflicting media directions",
       head + sdp({"c=IN IP4 10.0.0.5", "m=audio 4000 RTP/AVP 0", "a=inactive", "a=sendrecv"}), SdpErrorKind::kMalformed, 7},
      {"duplicate a=rtcp",
       head + sdp({"c=IN IP4 10.0.0.5", "m=audio 4000 RTP/AVP 0", "a=rtcp:4001", "a=rtcp:4003"}), SdpErrorKind::kMalformed, 7},
      {"bad a=rtcp port", head + sdp({"c=IN IP4 10.0.0.5", "m=audio 4000 RTP/AVP 0", "a=rtcp:99999"}), SdpErrorKind::kMalformed, 6},
      {"a=rtcp without value", head + sdp({"c=IN IP4 10.0.0.5", "m=audio 4000 RTP/AVP 0", "a=rtcp"}), SdpErrorKind::kMalformed, 6},
      {"a=rtcp unknown addrtype",
       head + sdp({"c=IN IP4 10.0.0.5", "m=audio 4000 RTP/AVP 0", "a=rtcp:4001 IN IPX 1"}), SdpErrorKind::kUnsupportedNetType, 6},
      {"attribute name not a token", head + sdp({"a=:value"}), SdpErrorKind::kMalformed, 4},
  };
  for (const auto& r : rows) {
    INFO(r.name);
    auto sd = parse_exact(r.body);
    REQUIRE_FALSE(sd.ok());
    CHECK(sdp_error_kind_name(sd.error().kind) == sdp_error_kind_name(r.kind));
    CHECK(sd.error().line == r.line);
    CHECK_FALSE(sd.error().message.empty());
  }
}

TEST_CASE("parse enforces limits", "[unit]") {
  SECTION("too many media") {
    SdpLimits limits;
    limits.max_media = 2;
    std::string body = kBasic + sdp({"m=video 4002 RTP/AVP 96"});
    CHECK(parse_exact(body, limits).ok());
    body += sdp({"m=text 4004 RTP/AVP 98"});
    auto sd = parse_exact(body, limits);
    REQUIRE_FALSE(sd.ok());
    CHECK(sd.error().kind == SdpErrorKind::kTooManyMedia);
    CHECK(sd.error().line == 9);
  }
  SECTION("default media limit is 16") {
    std::string s = sdp({"v=0", "o=- 1 1 IN IP4 10.0.0.5", "c=IN IP4 10.0.0.5"});
    for (int i = 0; i < 17; ++i) {
      s += "m=audio 4000 RTP/AVP 0\r\n";
    }
    CHECK(parse_exact(s).error().kind == SdpErrorKind::kTooManyMedia);
  }
  SECTION("too many lines") {
    SdpLimits limits;
    limits.max_lines = 7;
    CHECK(parse_exact(kBasic, limits).ok());
    auto sd = parse_exact(kBasic + "a=one-more\r\n", limits);
    REQUIRE_FALSE(sd.ok());
    CHECK(sd.error().kind == SdpErrorKind::kTooManyLines);
    CHECK(sd.error().line == 8);
  }
  SECTION("line too long") {
    SdpLimits limits;
    limits.max_line_length = 50;  // the o= line is 46 bytes
    auto sd = parse_exact(kBasic + "a=" + std::string(48, 'x') + "\r\n", limits);
    REQUIRE(sd.ok());
    sd = parse_exact(kBasic + "a=" + std::string(49, 'x') + "\r\n", limits);
    REQUIRE_FALSE(sd.ok());
    CHECK(sd.error().kind == SdpErrorKind::kLineTooLong);
    CHECK(sd.error().line == 8);
  }
  SECTION("body too large") {
    SdpLimits limits;
    limits.max_bytes = kBasic.size();
    CHECK(parse_exact(kBasic, limits).ok());
    auto sd = parse_exact(kBasic + "a=x\r\n", limits);
    REQUIRE_FALSE(sd.ok());
    CHECK(sd.error().kind == SdpErrorKind::kTooLarge);
    CHECK(sd.error().line == 0);
  }
  SECTION("to_error maps limits to resource-exhausted") {
    CHECK(to_error({SdpErrorKind::kTooLarge, "x", 0}).code == ErrorCode::kResourceExhausted);
    const Error e = to_error({SdpErrorKind::kMissingConnection, "no c=", 5});
    CHECK(e.code == ErrorCode::kInvalidArgument);
    CHECK(e.message == "SDP missing_connection at line 5: no c=");
  }
}

const std::string kRich = sdp({
    "v=0",
    "o=- 4611731400430051336 2 IN IP4 10.0.0.5",
    "s=-",
    "c=IN IP4 10.0.0.5",
    "t=0 0",
    "a=ice-ufrag:abcd",
    "a=ice-pwd:0123456789abcdefghijklmn",
    "a=recvonly",
    "m=audio 4000 RTP/AVP 0 101",
    "a=rtcp:4005 IN IP4 10.0.0.6",
    "a=candidate:1 1 udp 2122260223 10.0.0.5 4000 typ host",
    "a=sendrecv",
    "m=video 4002 RTP/SAVPF 96",
    "c=IN IP6 2001:db8::6",
    "a=rtcp-mux",
    "m=audio 4004/2 RTP/AVP 0",
    "c=IN IP4 0.0.0.0",
    "m=text 0 RTP/AVP 98",
    "m=application 5000 UDP/DTLS/SCTP webrtc-datachannel",
    "a=inactive",
    "m=audio 65535 RTP/AVP 0",
});

TEST_CASE("stream queries", "[unit]") {
  auto parsed = parse_exact(kRich);
  REQUIRE(parsed.ok());
  const auto& sd = *parsed;
  REQUIRE(sd.media_count() == 6);
  CHECK(sd.has_ice());
  CHECK(sd.direction() == Direction::kRecvOnly);
  CHECK(sd.streams_needing_binding() == std::vector<std::size_t>{0, 1, 2, 4, 5});

  const StreamInfo a = sd.stream(0);
  CHECK(a.address == ip("10.0.0.5"));  // session-level c=
  CHECK(a.port == 4000);
  CHECK(a.port_count == 1);
  CHECK(a.rtcp_port == std::optional<std::uint16_t>(4005));  // RFC 3605 a=rtcp
  CHECK(a.rtcp_address == ip("10.0.0.6"));
  CHECK_FALSE(a.rtcp_mux);
  CHECK(a.direction == Direction::kSendRecv);  // media-level overrides session recvonly
  CHECK_FALSE(a.on_hold);
  CHECK(a.has_ice);
  CHECK(sd.media(0).has_ice());

  const StreamInfo v = sd.stream(1);
  CHECK(v.address == ip("2001:db8::6"));  // media-level c=
  CHECK(v.rtcp_mux);
  CHECK(v.rtcp_port == std::optional<std::uint16_t>(4002));  // RFC 5761: RTCP on the RTP port
  CHECK(v.rtcp_address == ip("2001:db8::6"));
  CHECK(v.direction == Direction::kRecvOnly);  // inherited from session level
  CHECK_FALSE(v.on_hold);
  CHECK_FALSE(sd.media(1).has_ice());
  CHECK(v.has_ice);  // session-level ICE applies

  const StreamInfo h = sd.stream(2);
  CHECK(h.port_count == 2);
  CHECK(h.rtcp_port == std::optional<std::uint16_t>(4005));  // port + 1
  CHECK(h.on_hold);  // c=0.0.0.0

  const StreamInfo r = sd.stream(3);
  CHECK(r.rejected);
  CHECK(r.port == 0);

  const StreamInfo d = sd.stream(4);
  CHECK_FALSE(d.rtcp_port.has_value());  // not RTP
  CHECK(d.direction == Direction::kInactive);
  CHECK(d.on_hold);

  const StreamInfo top = sd.stream(5);
  CHECK_FALSE(top.rtcp_port.has_value());  // 65535 + 1 does not exist

  CHECK(sd.streams().size() == 6);
  CHECK(sd.streams()[1] == v);
  CHECK(sd.serialize() == kRich);
}

TEST_CASE("session-level sendonly means hold for every stream without its own direction", "[unit]") {
  auto sd = parse_exact(sdp({"v=0", "o=- 1 1 IN IP4 10.0.0.5", "c=IN IP4 10.0.0.5", "a=sendonly",
                             "m=audio 4000 RTP/AVP 0", "m=audio 4002 RTP/AVP 0", "a=sendrecv"}));
  REQUIRE(sd.ok());
  CHECK(sd->stream(0).on_hold);
  CHECK(sd->stream(0).direction == Direction::kSendOnly);
  CHECK_FALSE(sd->stream(1).on_hold);
  CHECK(sd->effective_direction(1) == Direction::kSendRecv);
}

TEST_CASE("every byte prefix of a valid SDP parses or fails cleanly", "[unit]") {
  for (const std::string* body : {&kBasic, &kRich}) {
    for (std::size_t n = 0; n <= body->size(); ++n) {
      const std::string_view prefix(body->data(), n);
      auto sd = parse_exact(prefix);
      if (sd.ok()) {
        auto again = parse_exact(sd->serialize());
        REQUIRE(again.ok());
        CHECK(*again == *sd);
      } else {
        CHECK(sd.error().line <= 25);
      }
    }
  }
}

TEST_CASE("single-byte corruptions never crash and round-trip when accepted", "[unit]") {
  const std::string replacements("\0\n\r =/:9a\xff", 10);
  for (std::size_t i = 0; i < kRich.size(); ++i) {
    for (char c : replacements) {
      std::string mutated = kRich;
      mutated[i] = c;
      auto sd = parse_exact(mutated);
      if (sd.ok()) {
        auto again = parse_exact(sd->serialize());
        REQUIRE(again.ok());
        CHECK(*again == *sd);
      }
    }
  }
}

}  // namespace
}  // namespace portcullis::media::sdp
