#include "controller/media/media_keys.h"

#include <openssl/evp.h>

#include <array>

namespace portcullis::media {

std::string sha256_hex(std::string_view data) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), md.data(), &len, EVP_sha256(), nullptr) != 1) {
    len = 0;  // cannot happen with the built-in SHA-256; an empty key is refused by the agent
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(static_cast<std::size_t>(len) * 2);
  for (unsigned int i = 0; i < len; ++i) {
    out.push_back(kHex[md[i] >> 4]);
    out.push_back(kHex[md[i] & 0x0f]);
  }
  return out;
}

std::string hash_fields(std::initializer_list<std::string_view> fields) {
  std::string buf;
  for (std::string_view f : fields) {
    buf += std::to_string(f.size());
    buf.push_back(':');
    buf.append(f);
  }
  return sha256_hex(buf);
}

std::string group_id_for(std::string_view call_id, std::string_view from_tag) {
  return hash_fields({"group", call_id, from_tag}).substr(0, 32);
}

}  // namespace portcullis::media
