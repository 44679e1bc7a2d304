// RFC 4475 torture messages, read in place from the shared test data (never copied into the
// repository). Each file gets the verdict from expectations.tsv as the message layer applies it:
// parse() + validate_all() accept the VALID rows, answer 400/505 for INVALID rows and drop the
// "(response)" rows.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <sstream>
#include <string>

#include "controller/sip/message/sip_message.h"
#include "controller/sip/message/stream_framer.h"
#include "tests/unit/controller/sip/message/test_messages.h"

namespace portcullis::sip {
namespace {

enum class Verdict { kAccept, kReject400, kReject505, kDrop, kNoCrash };

struct Expectation {
  const char* file;
  Verdict verdict;
};

// From expectations.tsv: "VALID*" rows and syntax-valid rows (whose rejection happens above the
// parser: 416, 420, 415, 483 ...) are accepted; "INVALID (liberal accept permitted)" rows are
// rejected, because Portcullis is a strict element; insuf.dat is a 400 (missing Call-ID/From/To).
constexpr Expectation kExpectations[] = {
    {"wsinv.dat", Verdict::kAccept},       {"intmeth.dat", Verdict::kAccept},
    {"esc01.dat", Verdict::kAccept},       {"escnull.dat", Verdict::kAccept},
    {"esc02.dat", Verdict::kAccept},       {"lwsdisp.dat", Verdict::kAccept},
    {"longreq.dat", Verdict::kAccept},     {"dblreq.dat", Verdict::kAccept},
    {"semiuri.dat", Verdict::kAccept},     {"transports.dat", Verdict::kAccept},
    {"mpart01.dat", Verdict::kAccept},     {"unreason.dat", Verdict::kAccept},
    {"noreason.dat", Verdict::kAccept},    {"badinv01.dat", Verdict::kReject400},
    {"clerr.dat", Verdict::kReject400},    {"ncl.dat", Verdict::kReject400},
    {"scalar02.dat", Verdict::kReject400}, {"scalarlg.dat", Verdict::kDrop},
    {"quotbal.dat", Verdict::kReject400},  {"ltgtruri.dat", Verdict::kReject400},
    {"lwsruri.dat", Verdict::kReject400},  {"lwsstart.dat", Verdict::kReject400},
    {"trws.dat", Verdict::kReject400},     {"escruri.dat", Verdict::kReject400},
    {"baddate.dat", Verdict::kReject400},  {"regbadct.dat", Verdict::kReject400},
    {"badaspec.dat", Verdict::kReject400}, {"baddn.dat", Verdict::kReject400},
    {"badvers.dat", Verdict::kReject505},  {"mismatch01.dat", Verdict::kReject400},
    {"mismatch02.dat", Verdict::kReject400}, {"bigcode.dat", Verdict::kDrop},
    {"badbranch.dat", Verdict::kAccept},   {"insuf.dat", Verdict::kReject400},
    {"unkscm.dat", Verdict::kAccept},      {"novelsc.dat", Verdict::kAccept},
    {"unksm2.dat", Verdict::kAccept},      {"bext01.dat", Verdict::kAccept},
    {"invut.dat", Verdict::kAccept},       {"regaut01.dat", Verdict::kAccept},
    {"multi01.dat", Verdict::kReject400},  {"mcl01.dat", Verdict::kReject400},
    {"bcast.dat", Verdict::kAccept},       {"zeromf.dat", Verdict::kAccept},
    {"cparam01.dat", Verdict::kAccept},    {"cparam02.dat", Verdict::kAccept},
    {"regescrt.dat", Verdict::kAccept},    {"sdp01.dat", Verdict::kAccept},
    {"inv2543.dat", Verdict::kAccept},     {"test.dat", Verdict::kNoCrash},
    {"variants/baddn-with-terminating-crlf.dat", Verdict::kReject400},
};

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

/// parse() then validate_all(): the full strict verdict.
Result<void, SipError> strict_verdict(std::string bytes) {
  auto parsed = SipMessage::parse(std::move(bytes));
  if (!parsed) {
    return unexpected(parsed.error());
  }
  return parsed->validate_all();
}

std::string describe(const Result<void, SipError>& r) {
  if (r) {
    return "accepted";
  }
  std::ostringstream os;
  os << (r.error().drop ? "drop " : "answer ") << r.error().status << " (" << r.error().reason << ")";
  return os.str();
}

}  // namespace

TEST_CASE("RFC 4475 torture messages get their expected verdicts", "[unit][rfc4475]") {
  const std::filesystem::path dir = PORTCULLIS_RFC4475_DIR;
  if (!std::filesystem::exists(dir / "expectations.tsv")) {
    WARN("RFC 4475 test data not found at " << dir.string() << "; skipping");
    return;
  }

  // Every .dat file in the directory must have an expectation, so a new file is not skipped.
  std::set<std::string> known;
  for (const Expectation& e : kExpectations) {
    known.insert(e.file);
  }
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() == ".dat") {
      INFO(entry.path().filename().string());
      CHECK(known.count(entry.path().filename().string()) == 1);
    }
  }

  for (const Expectation& e : kExpectations) {
    const std::string bytes = read_file(dir / e.file);
    REQUIRE_FALSE(bytes.empty());
    const auto r = strict_verdict(bytes);
    INFO(e.file << ": " << describe(r));
    switch (e.verdict) {
      case Verdict::kAccept:
        CHECK(r.ok());
        break;
      case Verdict::kReject400:
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().status == 400);
        CHECK_FALSE(r.error().drop);
        break;
      case Verdict::kReject505:
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().status == 505);
        CHECK_FALSE(r.error().drop);
        break;
      case Verdict::kDrop:
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().drop);
        break;
      case Verdict::kNoCrash:
        SUCCEED(describe(r));
        break;
    }
  }
}

TEST_CASE("RFC 4475 specifics: folding, trailing datagram octets, RFC 2543 body", "[unit][rfc4475]") {
  const std::filesystem::path dir = PORTCULLIS_RFC4475_DIR;
  if (!std::filesystem::exists(dir / "wsinv.dat")) {
    WARN("RFC 4475 test data not found; skipping");
    return;
  }
  SECTION("wsinv: mixed compact/long names, folding, LWS before ':'") {
    auto m = SipMessage::parse(read_file(dir / "wsinv.dat"));
    REQUIRE(m.ok());
    CHECK(m->method() == Method::kInvite);
    CHECK(m->vias().size() == 3);
    CHECK(m->vias()[0].transport == "UDP");
    CHECK(m->vias()[0].host == "192.0.2.2");
    CHECK(m->vias()[1].transport == "TCP");
    CHECK(m->vias()[2].branch == "z9hG4bK30239");
    CHECK(m->max_forwards() == std::optional<std::uint8_t>(68));
    CHECK(m->cseq().number == 9);
    CHECK(m->call_id() == "wsinv.ndaksdj@192.0.2.1");
    CHECK(m->to().tag() == "1918181833n");
    CHECK(m->from().tag() == "98asjd8");
    CHECK(m->content_length() == std::optional<std::uint32_t>(150));
    CHECK(m->body().size() == 150);
    const HeaderField* nf = m->find("newfangledheader");
    REQUIRE(nf != nullptr);
    CHECK(nf->value == "newfangled value continued newfangled value");
    CHECK(nf->raw == "NewFangledHeader:   newfangled value\r\n continued newfangled value");
    const HeaderField* subject = m->find(HeaderId::kSubject);
    REQUIRE(subject != nullptr);
    CHECK(subject->value.empty());
    CHECK(m->validate_all().ok());
  }
  SECTION("dblreq: the second request is noise after Content-Length 0") {
    const std::string bytes = read_file(dir / "dblreq.dat");
    auto m = SipMessage::parse(bytes);
    REQUIRE(m.ok());
    CHECK(m->method() == Method::kRegister);
    CHECK(m->body().empty());
    CHECK(m->wire() == bytes);
    CHECK(m->message_bytes() == bytes.substr(0, bytes.find("\r\n\r\n") + 4));
  }
  SECTION("inv2543: no Content-Length, body runs to the end of the datagram") {
    const std::string bytes = read_file(dir / "inv2543.dat");
    auto m = SipMessage::parse(bytes);
    REQUIRE(m.ok());
    CHECK_FALSE(m->content_length().has_value());
    CHECK_FALSE(m->max_forwards().has_value());
    CHECK(m->body() == bytes.substr(bytes.find("\r\n\r\n") + 4));
  }
  SECTION("mpart01: binary body with NUL and bare LF is opaque") {
    auto m = SipMessage::parse(read_file(dir / "mpart01.dat"));
    REQUIRE(m.ok());
    CHECK(m->body().size() == *m->content_length());
    CHECK(m->body().find('\0') != std::string_view::npos);
  }
  SECTION("noreason and unreason responses") {
    auto m = SipMessage::parse(read_file(dir / "noreason.dat"));
    REQUIRE(m.ok());
    CHECK(m->status_code() == 100);
    CHECK(m->reason_phrase().empty());
    CHECK(m->method() == Method::kInvite);
    auto u = SipMessage::parse(read_file(dir / "unreason.dat"));
    REQUIRE(u.ok());
    CHECK(u->status_code() == 200);
    CHECK(u->reason_phrase().substr(0, 16) == "= 2**3 * 5**2 \xD0\xBD");
  }
  SECTION("every file also frames on a stream without crashing") {
    for (const Expectation& e : kExpectations) {
      StreamFramer framer;
      framer.feed(read_file(dir / e.file));
      for (int i = 0; i < 8; ++i) {
        auto ev = framer.next();
        if (!ev) {
          break;
        }
        if (auto* fm = std::get_if<FramedMessage>(&*ev)) {
          auto m = SipMessage::parse(std::move(fm->bytes), testing::stream_options());
          (void)m;
        }
      }
    }
    SUCCEED();
  }
}

}  // namespace portcullis::sip
