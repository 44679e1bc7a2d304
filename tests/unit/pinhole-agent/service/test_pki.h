// Test PKI generated at test time with the OpenSSL C API (no keys are ever committed): a CA, a
// server certificate for 127.0.0.1/localhost, and client certificates with SAN URI identities.
#pragma once

#include <string>
#include <vector>

namespace portcullis::testing {

struct PemPair {
  std::string cert;  // PEM certificate
  std::string key;   // PEM private key
  std::string cert_path;
  std::string key_path;
};

class TestPki {
 public:
  /// Creates a fresh temp dir and a CA in it.
  TestPki();
  ~TestPki();
  TestPki(const TestPki&) = delete;
  TestPki& operator=(const TestPki&) = delete;

  /// Server certificate: CN `cn`, SAN IP:127.0.0.1, DNS:localhost.
  PemPair issue_server(const std::string& cn = "edge-1");
  /// Client certificate: CN `cn`, SAN URI `uri` (omitted when empty).
  PemPair issue_client(const std::string& cn, const std::string& uri);
  /// A CA nobody trusts, to issue rogue client certificates.
  static TestPki& rogue();

  const std::string& ca_pem() const noexcept { return ca_.cert; }
  const std::string& ca_path() const noexcept { return ca_.cert_path; }
  const std::string& dir() const noexcept { return dir_; }

 private:
  struct Impl;
  PemPair issue(const std::string& name, const std::string& cn, const std::string& san, bool server);
  std::string dir_;
  PemPair ca_;
  Impl* impl_;
  int serial_ = 1;
};

std::string read_file(const std::string& path);

}  // namespace portcullis::testing
