// Fuzz target: URI, name-addr and the typed header parsers on one arbitrary value.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "controller/sip/parser/headers.h"
#include "controller/sip/parser/name_addr.h"
#include "controller/sip/parser/uri.h"

using namespace portcullis::sip;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view value(reinterpret_cast<const char*>(data), size);
  if (auto uri = parse_uri(value); uri) {
    // Every view must lie inside the input.
    for (std::string_view part : {uri->user, uri->host, uri->host_port, uri->text}) {
      if (!part.empty() && (part.data() < value.data() || part.data() + part.size() > value.data() + value.size())) {
        std::abort();
      }
    }
    if (!uri_equivalent(*uri, *uri)) {
      std::abort();  // equivalence is reflexive
    }
    (void)unescape(uri->user);
  }
  if (auto na = parse_name_addr(value); na) {
    (void)na->unquoted_display_name();
    (void)contact_q(*na);
    (void)contact_expires(*na);
  }
  (void)parse_name_addr_list(value);
  (void)parse_via_list(value);
  (void)parse_cseq(value);
  (void)parse_contact(value);
  (void)parse_media_type(value);
  (void)parse_token_list(value);
  (void)parse_auth(value);
  (void)parse_date(value);
  (void)parse_call_id(value);
  (void)parse_max_forwards(value);
  (void)parse_content_length(value, 65535);
  (void)parse_delta_seconds(value);
  return 0;
}
