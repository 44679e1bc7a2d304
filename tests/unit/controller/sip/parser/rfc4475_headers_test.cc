// Runs the typed header parsers over the header fields of the RFC 4475 torture messages (read
// from the shared test data, never copied into the repo) and checks which fields each message
// gets rejected for. Framing, start-line and cross-header checks belong to the message layer.
#include <catch2/catch.hpp>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "common/base/text.h"
#include "controller/sip/parser/headers.h"

#ifndef PORTCULLIS_RFC4475_DIR
#error "PORTCULLIS_RFC4475_DIR must point at the RFC 4475 torture messages"
#endif

namespace portcullis::sip {
namespace {

struct Field {
  std::string name;
  std::string value;  // unfolded: each CRLF + WSP continuation becomes one space
};

struct Message {
  std::string start_line;
  std::vector<Field> fields;
};

std::string read_file(const std::string& name) {
  std::ifstream in(std::string(PORTCULLIS_RFC4475_DIR) + "/" + name, std::ios::binary);
  REQUIRE(in.good());
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Just enough framing for the test: header section up to the first empty line, folding undone
// the way the message layer does it.
Message split_headers(const std::string& raw) {
  Message m;
  const std::size_t end = raw.find("\r\n\r\n");
  const std::string head = raw.substr(0, end == std::string::npos ? raw.size() : end);
  std::vector<std::string> lines;
  std::size_t pos = 0;
  while (pos <= head.size()) {
    std::size_t eol = head.find("\r\n", pos);
    if (eol == std::string::npos) {
      eol = head.size();
    }
    lines.push_back(head.substr(pos, eol - pos));
    pos = eol + 2;
  }
  m.start_line = lines.empty() ? "" : lines[0];
  for (std::size_t i = 1; i < lines.size(); ++i) {
    const std::string& line = lines[i];
    if (!line.empty() && (line[0] == ' ' || line[0] == '\t') && !m.fields.empty()) {
      m.fields.back().value += " " + line;
      continue;
    }
    const std::size_t colon = line.find(':');
    if (colon == std::string::npos) {
      continue;  // test.dat "Foobar roobar": the message layer's problem
    }
    Field f;
    f.name = line.substr(0, colon);
    while (!f.name.empty() && (f.name.back() == ' ' || f.name.back() == '\t')) {
      f.name.pop_back();
    }
    f.value = line.substr(colon + 1);
    m.fields.push_back(std::move(f));
  }
  for (Field& f : m.fields) {
    const std::size_t b = f.value.find_first_not_of(" \t");
    const std::size_t e = f.value.find_last_not_of(" \t");
    f.value = b == std::string::npos ? "" : f.value.substr(b, e - b + 1);
  }
  return m;
}

bool is(const std::string& name, std::string_view full, std::string_view compact = {}) {
  return iequals(name, full) || (!compact.empty() && iequals(name, compact));
}

// Returns the canonical name of the field if its typed parser rejects it, "" if it parses or
// is not a field this layer types. Also asserts the error shape.
std::string check_field(const Field& f) {
  auto verdict = [&](const auto& result, std::string_view canonical) -> std::string {
    if (result.ok()) {
      return "";
    }
    CHECK(result.error().status >= 400);
    CHECK_FALSE(result.error().reason.empty());
    return std::string(canonical);
  };
  const std::string_view v = f.value;
  if (is(f.name, "Via", "v")) return verdict(parse_via_list(v), "Via");
  if (is(f.name, "From", "f")) return verdict(parse_name_addr(v), "From");
  if (is(f.name, "To", "t")) return verdict(parse_name_addr(v), "To");
  if (is(f.name, "Contact", "m")) return verdict(parse_contact(v), "Contact");
  if (is(f.name, "Route")) return verdict(parse_name_addr_list(v), "Route");
  if (is(f.name, "Record-Route")) return verdict(parse_name_addr_list(v), "Record-Route");
  if (is(f.name, "Call-ID", "i")) return verdict(parse_call_id(v), "Call-ID");
  if (is(f.name, "CSeq")) return verdict(parse_cseq(v), "CSeq");
  if (is(f.name, "Max-Forwards")) return verdict(parse_max_forwards(v), "Max-Forwards");
  if (is(f.name, "Content-Length", "l")) return verdict(parse_content_length(v, 65535), "Content-Length");
  if (is(f.name, "Content-Type", "c")) return verdict(parse_media_type(v), "Content-Type");
  if (is(f.name, "Require") || is(f.name, "Proxy-Require") || is(f.name, "Supported", "k") ||
      is(f.name, "Allow")) {
    return verdict(parse_token_list(v), f.name);
  }
  if (is(f.name, "Expires")) return verdict(parse_delta_seconds(v), "Expires");
  if (is(f.name, "Authorization") || is(f.name, "Proxy-Authorization") || is(f.name, "WWW-Authenticate") ||
      is(f.name, "Proxy-Authenticate")) {
    return verdict(parse_auth(v), "Authorization");
  }
  if (is(f.name, "Date")) return verdict(parse_date(v), "Date");
  return "";
}

// Request-URI as a strict splitter would cut it: after "METHOD SP", up to " SIP/".
std::string check_request_uri(const std::string& start_line) {
  if (start_line.rfind("SIP/", 0) == 0) {
    return "";  // a response
  }
  const std::size_t sp = start_line.find(' ');
  const std::size_t version = start_line.rfind(" SIP/");
  if (sp == std::string::npos || version == std::string::npos || version < sp) {
    return "Request-URI";
  }
  return parse_uri(std::string_view(start_line).substr(sp + 1, version - sp - 1)).ok() ? "" : "Request-URI";
}

struct TortureCase {
  const char* file;
  std::set<std::string> rejected;  // fields this layer must reject; empty: every field parses
};

TEST_CASE("RFC 4475 torture messages: typed header verdicts", "[unit][rfc4475]") {
  const TortureCase c = GENERATE(values<TortureCase>({
      // §3.1.1 valid messages: every typed field must parse.
      {"wsinv.dat", {}}, {"intmeth.dat", {}}, {"esc01.dat", {}}, {"escnull.dat", {}}, {"esc02.dat", {}},
      {"lwsdisp.dat", {}}, {"longreq.dat", {}}, {"dblreq.dat", {}}, {"semiuri.dat", {}}, {"transports.dat", {}},
      {"mpart01.dat", {}}, {"unreason.dat", {}}, {"noreason.dat", {}},
      // §3.1.2 invalid messages: the fields at fault.
      {"badinv01.dat", {"Via", "Contact"}},
      {"clerr.dat", {}},  // framing: Content-Length larger than the body
      {"ncl.dat", {"Content-Length"}},
      {"scalar02.dat", {"CSeq", "Max-Forwards"}},  // Expires / expires clamp instead
      {"scalarlg.dat", {"CSeq"}},
      {"quotbal.dat", {"To"}},
      {"ltgtruri.dat", {"Request-URI"}},
      {"lwsruri.dat", {"Request-URI"}},
      {"lwsstart.dat", {"Request-URI"}},  // strict splitter; a liberal one may accept
      {"trws.dat", {}},
      {"escruri.dat", {}},  // headers in a Request-URI are grammatical; policy is above us
      {"baddate.dat", {"Date"}},
      {"regbadct.dat", {"Contact"}},
      {"badaspec.dat", {"To"}},
      {"baddn.dat", {"From", "To"}},
      {"variants/baddn-with-terminating-crlf.dat", {"From", "To"}},
      {"badvers.dat", {}}, {"mismatch01.dat", {}}, {"mismatch02.dat", {}}, {"bigcode.dat", {}},
      // §3.2 / §3.3 / §3.4: syntactically valid, rejected (if at all) by policy.
      {"badbranch.dat", {}}, {"insuf.dat", {}}, {"unkscm.dat", {}}, {"novelsc.dat", {}}, {"unksm2.dat", {}},
      {"bext01.dat", {}}, {"invut.dat", {}}, {"regaut01.dat", {}}, {"multi01.dat", {}}, {"mcl01.dat", {}},
      {"bcast.dat", {}}, {"zeromf.dat", {}}, {"cparam01.dat", {}}, {"cparam02.dat", {}}, {"regescrt.dat", {}},
      {"sdp01.dat", {}}, {"inv2543.dat", {}},
  }));
  CAPTURE(c.file);
  const Message m = split_headers(read_file(c.file));
  std::set<std::string> rejected;
  const std::string ruri = check_request_uri(m.start_line);
  if (!ruri.empty()) {
    rejected.insert(ruri);
  }
  std::size_t typed = 0;
  for (const Field& f : m.fields) {
    CAPTURE(f.name, f.value);
    const std::string bad = check_field(f);
    if (!bad.empty()) {
      rejected.insert(bad);
    }
    ++typed;
  }
  CHECK(typed >= 3);
  CHECK(rejected == c.rejected);
}

TEST_CASE("RFC 4475 test.dat (no verdict) must not crash", "[unit][rfc4475]") {
  const Message m = split_headers(read_file("test.dat"));
  for (const Field& f : m.fields) {
    (void)check_field(f);
  }
  SUCCEED();
}

TEST_CASE("RFC 4475 field values: spot checks of extracted views", "[unit][rfc4475]") {
  SECTION("semiuri.dat Request-URI user part") {
    auto u = parse_uri("sip:user;par=u%40example.net@example.com");
    REQUIRE(u.ok());
    CHECK(unescape(u->user) == "user;par=u@example.net");
  }
  SECTION("esc01.dat To user") {
    auto na = parse_name_addr("sip:%75se%72@example.com");
    REQUIRE(na.ok());
    CHECK(unescape(na->uri.user) == "user");
  }
  SECTION("escnull.dat: %00 users stay distinct") {
    auto a = parse_name_addr("<sip:%00@host5.example.com>");
    auto b = parse_name_addr("<sip:%00%00@host5.example.com>");
    REQUIRE(a.ok());
    REQUIRE(b.ok());
    CHECK(unescape(a->uri.user) == std::string(1, '\0'));
    CHECK(unescape(b->uri.user) == std::string(2, '\0'));
    CHECK_FALSE(uri_equivalent(a->uri, b->uri));
  }
  SECTION("esc01.dat Contact params are not recursively unescaped") {
    auto na = parse_name_addr("<sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31>");
    REQUIRE(na.ok());
    REQUIRE(na->uri.params.size() == 2);
    CHECK(unescape(na->uri.params.items()[0].name) == "lr");
    CHECK(unescape(na->uri.params.items()[1].value) == "value%41");
  }
}

}  // namespace
}  // namespace portcullis::sip
