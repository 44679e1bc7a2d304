// Fuzz target: the TCP/TLS stream framer fed in chunks. The first input byte picks the chunk
// size, so the fuzzer explores every way a stream can be split; the framed messages must be the
// same as when the whole stream arrives at once.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "controller/sip/message/sip_message.h"
#include "controller/sip/message/stream_framer.h"

using namespace portcullis::sip;

namespace {

std::vector<std::string> frame(std::string_view stream, std::size_t chunk) {
  StreamFramer framer;
  std::vector<std::string> events;
  for (std::size_t off = 0; off < stream.size(); off += chunk) {
    framer.feed(stream.substr(off, chunk));
    while (auto ev = framer.next()) {
      if (auto* m = std::get_if<FramedMessage>(&*ev)) {
        (void)SipMessage::parse(m->bytes, {.framing = Framing::kStream, .limits = {}});
        events.push_back("M" + m->bytes);
      } else if (std::holds_alternative<KeepAlivePing>(*ev)) {
        events.emplace_back("P");
      } else {
        events.emplace_back("E");
        return events;
      }
    }
  }
  return events;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) {
    return 0;
  }
  const std::size_t chunk = 1 + data[0] % 64;
  const std::string_view stream(reinterpret_cast<const char*>(data) + 1, size - 1);
  const auto split = frame(stream, chunk);
  const auto whole = frame(stream, stream.size() + 1);
  if (split != whole) {
    std::abort();  // framing must not depend on how TCP segmented the bytes
  }
  return 0;
}
