// RFC 4475 conformance: every torture message gets the verdict expectations.tsv gives it.
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "controller/app/sipcheck/sipcheck.h"

using portcullis::sipcheck::check_datagram;
using portcullis::sipcheck::format_text;
using portcullis::sipcheck::VerdictKind;

namespace {

const std::filesystem::path kDir = PORTCULLIS_RFC4475_DIR;

struct Row {
  std::string file;
  std::string section;
  std::string verdict;
  std::string handling;
  std::size_t bytes = 0;
};

std::vector<std::string> split_tabs(const std::string& line) {
  std::vector<std::string> out;
  std::stringstream ss(line);
  std::string field;
  while (std::getline(ss, field, '\t')) {
    out.push_back(field);
  }
  return out;
}

std::vector<Row> load_expectations() {
  std::ifstream in(kDir / "expectations.tsv");
  REQUIRE(in.good());
  std::vector<Row> rows;
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    if (line.empty()) {
      continue;
    }
    const auto f = split_tabs(line);
    REQUIRE(f.size() >= 6);
    rows.push_back({f[0], f[1], f[3], f[4], std::stoul(f[5])});
  }
  return rows;
}

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  REQUIRE(in.good());
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

bool starts_with(const std::string& s, std::string_view prefix) { return s.rfind(prefix, 0) == 0; }

}  // namespace

TEST_CASE("every RFC 4475 torture message gets its expected verdict", "[conformance]") {
  const auto rows = load_expectations();
  REQUIRE(rows.size() == 50);
  std::size_t valid = 0;
  std::size_t rejected = 0;
  std::size_t dropped = 0;
  for (const auto& row : rows) {
    const std::string bytes = read_file(kDir / row.file);
    INFO(row.file << " (RFC 4475 §" << row.section << ", " << row.verdict << "): " << row.handling);
    REQUIRE(bytes.size() == row.bytes);  // the archive is bit-exact; catch a mangled checkout
    const auto v = check_datagram(bytes);
    INFO("portcullis: " << format_text(v));

    if (row.verdict == "NO VERDICT") {
      continue;  // must merely not crash (ASan/UBSan would fail the run)
    }
    if (starts_with(row.verdict, "VALID")) {
      // VALID, VALID SYNTAX / <what a higher layer does>, VALID (spec-bug tolerance), ...
      CHECK(v.kind == VerdictKind::kValid);
      ++valid;
    } else if (row.verdict == "INVALID (response)") {
      CHECK(v.kind == VerdictKind::kDrop);
      ++dropped;
    } else {
      // INVALID, INVALID (framing), INVALID (liberal accept permitted), APP-LAYER REJECT:
      // Portcullis is a security element, so it takes the strict choice and rejects them all.
      REQUIRE(v.kind == VerdictKind::kInvalid);
      if (row.handling.find("505") != std::string::npos) {
        CHECK(v.status == 505);
      } else if (row.handling.find("501") != std::string::npos) {
        CHECK((v.status == 501 || v.status == 400));  // RFC 4475 §3.1.2.18 allows either
      } else {
        CHECK(v.status == 400);
      }
      CHECK_FALSE(v.reason.empty());
      ++rejected;
    }
  }
  CHECK(valid + rejected + dropped == 49);
}

TEST_CASE("the corrected baddn variant is still rejected for its display names", "[conformance]") {
  const auto bytes = read_file(kDir / "variants" / "baddn-with-terminating-crlf.dat");
  const auto v = check_datagram(bytes);
  INFO(format_text(v));
  REQUIRE(v.kind == VerdictKind::kInvalid);
  CHECK(v.status == 400);
}

TEST_CASE("every prefix of every torture message is handled without crashing", "[conformance]") {
  // Truncation is the commonest real-world corruption of a datagram. Each prefix must give some
  // verdict; sanitizers catch any read past the end.
  for (const auto& entry : std::filesystem::directory_iterator(kDir)) {
    if (entry.path().extension() != ".dat") {
      continue;
    }
    const std::string bytes = read_file(entry.path());
    for (std::size_t n = 0; n <= bytes.size(); ++n) {
      const auto v = check_datagram(bytes.substr(0, n));
      if (v.kind == VerdictKind::kInvalid) {
        CHECK(v.status >= 400);
        CHECK(v.status <= 699);
      }
    }
  }
}
