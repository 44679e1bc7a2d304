// Fuzz target: one UDP datagram through the whole message layer — parse, every lazy accessor,
// strict validation, then an edit + serialize whose output must parse again.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "controller/sip/message/message_editor.h"
#include "controller/sip/message/sip_message.h"

using namespace portcullis::sip;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string bytes(reinterpret_cast<const char*>(data), size);
  auto parsed = SipMessage::parse(std::move(bytes), {});
  if (!parsed) {
    const auto& e = parsed.error();
    if (!e.drop && (e.status < 400 || e.status > 699)) {
      std::abort();  // a rejection must carry an answerable status
    }
    return 0;
  }
  const SipMessage& msg = *parsed;
  // Touch every lazily parsed header; the results (value or error) must be stable.
  (void)msg.contact();
  (void)msg.route();
  (void)msg.record_route();
  (void)msg.path();
  (void)msg.content_type();
  (void)msg.expires();
  (void)msg.min_expires();
  (void)msg.require();
  (void)msg.proxy_require();
  (void)msg.supported();
  (void)msg.unsupported();
  (void)msg.allow();
  (void)msg.authorization();
  (void)msg.proxy_authorization();
  (void)msg.www_authenticate();
  (void)msg.proxy_authenticate();
  (void)msg.date();
  const bool strict_ok = msg.validate_all().ok();
  if (msg.validate_all().ok() != strict_ok) {
    std::abort();  // validation must be deterministic (cached results)
  }

  // A proxy-style edit: push a Via, pop nothing, rewrite the body length. The output must be a
  // message the parser accepts again, with the same Call-ID and CSeq.
  MessageEditor editor(msg);
  editor.prepend_header("Via", "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKfuzz");
  editor.set_body(std::string(msg.body()));
  auto again = SipMessage::parse(editor.serialize(), {});
  if (!again) {
    // Limits may be crossed by the added Via; anything else is an editor bug.
    if (again.error().status != 513) {
      std::abort();
    }
    return 0;
  }
  if (again->call_id() != msg.call_id() || again->cseq().number != msg.cseq().number ||
      again->vias().size() != msg.vias().size() + 1 || again->body() != msg.body()) {
    std::abort();
  }
  return 0;
}
