// Golden rewrite tests (rtpengine style): tests/golden/sdp/NAME.in holds rewrite directives and
// an input SDP, NAME.out the exact expected output. See tests/golden/sdp/README.md.
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "common/base/text.h"
#include "controller/media/sdp/sdp_rewriter.h"
#include "controller/media/sdp/session_description.h"

namespace portcullis::media::sdp {
namespace {

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  REQUIRE(in.good());
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Files are LF for readability; the wire form is CRLF.
std::string to_crlf(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '\r') {
      continue;
    }
    if (c == '\n') {
      out += "\r\n";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::vector<std::string> words(const std::string& line) {
  std::istringstream in(line);
  std::vector<std::string> out;
  std::string w;
  while (in >> w) {
    out.push_back(w);
  }
  return out;
}

net::IpAddress addr(const std::string& s) {
  auto a = net::IpAddress::parse(s);
  INFO("address " << s);
  REQUIRE(a.ok());
  return *a;
}

std::uint16_t port(const std::string& s) {
  auto p = parse_decimal(s, 65535);
  INFO("port " << s);
  REQUIRE(p.has_value());
  return static_cast<std::uint16_t>(*p);
}

std::optional<Direction> direction(const std::string& s) {
  if (s == "none") {
    return std::nullopt;
  }
  auto d = parse_direction(s);
  INFO("direction " << s);
  REQUIRE(d.has_value());
  return d;
}

struct Case {
  std::vector<std::vector<std::string>> directives;
  std::string sdp;
};

Case split_case(const std::string& text) {
  Case c;
  std::size_t pos = 0;
  while (pos < text.size() && text[pos] == '#') {
    const std::size_t nl = text.find('\n', pos);
    const std::string line = text.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
    pos = nl == std::string::npos ? text.size() : nl + 1;
    if (line.rfind("##", 0) == 0) {
      continue;
    }
    c.directives.push_back(words(line.substr(1)));
  }
  c.sdp = to_crlf(text.substr(pos));
  return c;
}

void run_case(const std::filesystem::path& in_path) {
  const Case c = split_case(read_file(in_path));
  auto out_path = in_path;
  out_path.replace_extension(".out");
  const std::string expected = to_crlf(read_file(out_path));

  auto parsed = SessionDescription::parse(c.sdp);
  INFO("parse error: " << (parsed.ok() ? std::string() : to_error(parsed.error()).to_string()));
  REQUIRE(parsed.ok());
  // Untouched input round-trips byte-identically.
  REQUIRE(parsed->serialize() == c.sdp);
  SessionDescription sd = *parsed;

  std::vector<PublicBinding> bindings;
  NatRewriteOptions options;
  for (const auto& d : c.directives) {
    REQUIRE(!d.empty());
    INFO("directive: " << d[0]);
    const std::string& op = d[0];
    if (op == "bind") {
      REQUIRE((d.size() == 3 || d.size() == 4));
      PublicBinding b;
      b.stream = port(d[1]);
      auto rtp = net::Endpoint::parse(d[2]);
      REQUIRE(rtp.ok());
      b.rtp = *rtp;
      if (d.size() == 4) {
        auto rtcp = net::Endpoint::parse(d[3]);
        REQUIRE(rtcp.ok());
        b.rtcp = *rtcp;
      }
      bindings.push_back(b);
    } else if (op == "option") {
      REQUIRE(d.size() == 2);
      if (d[1] == "no-strip-ice") {
        options.strip_ice = false;
      } else if (d[1] == "no-origin") {
        options.rewrite_origin = false;
      } else if (d[1] == "no-bump") {
        options.bump_version = false;
      } else {
        FAIL("unknown option " << d[1]);
      }
    } else if (op == "session-connection") {
      REQUIRE(d.size() == 2);
      sd.set_connection(addr(d[1]));
    } else if (op == "session-direction") {
      REQUIRE(d.size() == 2);
      sd.set_direction(direction(d[1]));
    } else if (op == "origin-address") {
      REQUIRE(d.size() == 2);
      sd.set_origin_address(addr(d[1]));
    } else if (op == "bump-version") {
      sd.bump_version();
    } else if (op == "strip-ice") {
      sd.strip_ice();
    } else if (op == "expect-bindings") {
      std::vector<std::size_t> want;
      for (std::size_t i = 1; i < d.size(); ++i) {
        want.push_back(port(d[i]));
      }
      CHECK(parsed->streams_needing_binding() == want);
    } else if (op == "expect-hold") {
      REQUIRE(d.size() == 2);
      CHECK(parsed->stream(port(d[1])).on_hold);
    } else if (op == "stream") {
      REQUIRE(d.size() >= 3);
      const std::size_t i = port(d[1]);
      REQUIRE(i < sd.media_count());
      MediaDescription& m = sd.media(i);
      const std::string& what = d[2];
      if (what == "connection" && d.size() == 4) {
        m.set_connection(addr(d[3]));
      } else if (what == "port" && d.size() == 4) {
        m.set_port(port(d[3]));
      } else if (what == "port-count" && d.size() == 4) {
        m.set_port_count(d[3] == "none" ? std::nullopt : std::optional<std::uint16_t>(port(d[3])));
      } else if (what == "rtcp" && (d.size() == 4 || d.size() == 5)) {
        m.set_rtcp(port(d[3]), d.size() == 5 ? std::optional<net::IpAddress>(addr(d[4])) : std::nullopt);
      } else if (what == "strip-rtcp" && d.size() == 3) {
        m.strip_rtcp();
      } else if (what == "direction" && d.size() == 4) {
        m.set_direction(direction(d[3]));
      } else {
        FAIL("bad stream directive " << what);
      }
    } else {
      FAIL("unknown directive " << op);
    }
  }
  if (!bindings.empty()) {
    auto r = rewrite_for_nat(sd, bindings, options);
    INFO("rewrite error: " << (r.ok() ? std::string() : r.error().to_string()));
    REQUIRE(r.ok());
  }

  const std::string actual = sd.serialize();
  CHECK(actual == expected);

  // A rewritten SDP re-parses to the same model.
  auto reparsed = SessionDescription::parse(actual);
  REQUIRE(reparsed.ok());
  CHECK(*reparsed == sd);
}

std::vector<std::filesystem::path> golden_inputs() {
  std::vector<std::filesystem::path> out;
  for (const auto& e : std::filesystem::directory_iterator(PORTCULLIS_GOLDEN_DIR)) {
    if (e.path().extension() == ".in") {
      out.push_back(e.path());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

TEST_CASE("golden SDP rewrites", "[unit][golden]") {
  const auto inputs = golden_inputs();
  REQUIRE(inputs.size() >= 15);
  for (const auto& p : inputs) {
    DYNAMIC_SECTION(p.stem().string()) {
      run_case(p);
    }
  }
}

}  // namespace
}  // namespace portcullis::media::sdp
