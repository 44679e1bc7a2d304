// Keys the media layer sends to agents: FCP group ids and natural keys. Hashes only (SHA-256
// hex), so no raw SIP string (Call-ID, tags) ever reaches an agent, a log line on the agent or a
// kernel object, and the lengths are bounded (group_id <= 32 bytes, natural_key <= 64 bytes,
// fcp_types.h). Fields are length-prefixed before hashing so ("ab","c") and ("a","bc") differ.
#pragma once

#include <cstddef>
#include <initializer_list>
#include <string>
#include <string_view>

namespace portcullis::media {

/// Lowercase hex SHA-256 of `data` (64 characters).
std::string sha256_hex(std::string_view data);

/// SHA-256 hex of the length-prefixed concatenation of `fields`.
std::string hash_fields(std::initializer_list<std::string_view> fields);

/// FCP group id of a call: the first 32 hex digits (128 bits) of hash_fields({call_id, from_tag}).
std::string group_id_for(std::string_view call_id, std::string_view from_tag);

}  // namespace portcullis::media
