// portcullis-sipcheck [--json] FILE...
// Reads each FILE as one UDP datagram and prints one line per file:
//   FILE<TAB>valid
//   FILE<TAB>invalid<TAB>STATUS<TAB>reason      (a request to answer with STATUS)
//   FILE<TAB>invalid<TAB>drop<TAB>reason        (a response to discard)
// Exit 0 when it ran, whatever the verdicts; 2 for usage errors (bad option, unreadable file).
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include "controller/app/sipcheck/sipcheck.h"

namespace {

// A UDP datagram cannot exceed 65535 bytes; read a little more so the parser reports 513 for
// anything larger, but never load an arbitrarily large file.
constexpr std::size_t kMaxRead = 65536 + 1;

void usage(std::FILE* out) {
  std::fprintf(out,
               "usage: portcullis-sipcheck [--json] FILE...\n"
               "Checks each FILE as one SIP message received in a UDP datagram.\n"
               "Prints FILE<TAB>valid, FILE<TAB>invalid<TAB>STATUS<TAB>reason, or\n"
               "FILE<TAB>invalid<TAB>drop<TAB>reason for responses to discard.\n"
               "  --json   one JSON object per line instead\n"
               "Exit status: 0 when every file was checked, 2 on usage errors.\n");
}

}  // namespace

int main(int argc, char** argv) {
  bool json = false;
  std::vector<std::string> files;
  bool options_done = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg(argv[i]);
    if (!options_done && arg == "--json") {
      json = true;
    } else if (!options_done && (arg == "--help" || arg == "-h")) {
      usage(stdout);
      return 0;
    } else if (!options_done && arg == "--") {
      options_done = true;
    } else if (!options_done && arg.size() > 1 && arg[0] == '-') {
      std::fprintf(stderr, "portcullis-sipcheck: unknown option '%s'\n", argv[i]);
      usage(stderr);
      return 2;
    } else {
      files.emplace_back(arg);
    }
  }
  if (files.empty()) {
    usage(stderr);
    return 2;
  }

  int status = 0;
  for (const auto& file : files) {
    std::ifstream in(file, std::ios::binary);
    if (!in) {
      std::fprintf(stderr, "portcullis-sipcheck: cannot read '%s'\n", file.c_str());
      status = 2;
      continue;
    }
    std::string bytes(kMaxRead, '\0');
    in.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    bytes.resize(static_cast<std::size_t>(in.gcount()));
    const auto verdict = portcullis::sipcheck::check_datagram(std::move(bytes));
    if (json) {
      std::cout << portcullis::sipcheck::format_json(file, verdict) << '\n';
    } else {
      std::cout << file << '\t' << portcullis::sipcheck::format_text(verdict) << '\n';
    }
  }
  return status;
}
