#include "tests/unit/pinhole-agent/service/test_pki.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

namespace portcullis::testing {

namespace {

void check(bool ok, const char* what) {
  if (!ok) {
    throw std::runtime_error(std::string("openssl: ") + what);
  }
}

EVP_PKEY* new_key() {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  check(key != nullptr, "EVP_EC_gen");
  return key;
}

void add_ext(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  check(ext != nullptr, "X509V3_EXT_conf_nid");
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

X509* make_cert(EVP_PKEY* key, const std::string& cn, X509* issuer, EVP_PKEY* issuer_key, int serial) {
  X509* cert = X509_new();
  check(cert != nullptr, "X509_new");
  X509_set_version(cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), serial);
  X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert), 24 * 3600);
  X509_set_pubkey(cert, key);
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn.c_str()),
                             -1, -1, 0);
  X509_set_issuer_name(cert, issuer != nullptr ? X509_get_subject_name(issuer) : name);
  (void)issuer_key;
  return cert;
}

void write_pem(const std::string& path, X509* cert, EVP_PKEY* key) {
  FILE* f = std::fopen(path.c_str(), "w");
  check(f != nullptr, "fopen");
  if (cert != nullptr) {
    PEM_write_X509(f, cert);
  }
  if (key != nullptr) {
    PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr);
  }
  std::fclose(f);
}

}  // namespace

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct TestPki::Impl {
  EVP_PKEY* ca_key = nullptr;
  X509* ca_cert = nullptr;
  ~Impl() {
    X509_free(ca_cert);
    EVP_PKEY_free(ca_key);
  }
};

TestPki::TestPki() : impl_(new Impl) {
  std::string tmpl = (std::filesystem::temp_directory_path() / "portcullis-pki-XXXXXX").string();
  check(mkdtemp(tmpl.data()) != nullptr, "mkdtemp");
  dir_ = tmpl;
  impl_->ca_key = new_key();
  impl_->ca_cert = make_cert(impl_->ca_key, "portcullis test CA", nullptr, nullptr, serial_++);
  add_ext(impl_->ca_cert, impl_->ca_cert, NID_basic_constraints, "critical,CA:TRUE");
  add_ext(impl_->ca_cert, impl_->ca_cert, NID_key_usage, "critical,keyCertSign,cRLSign");
  add_ext(impl_->ca_cert, impl_->ca_cert, NID_subject_key_identifier, "hash");
  check(X509_sign(impl_->ca_cert, impl_->ca_key, EVP_sha256()) > 0, "X509_sign CA");
  ca_.cert_path = dir_ + "/ca.pem";
  write_pem(ca_.cert_path, impl_->ca_cert, nullptr);
  ca_.cert = read_file(ca_.cert_path);
}

TestPki::~TestPki() {
  delete impl_;
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

TestPki& TestPki::rogue() {
  static TestPki pki;
  return pki;
}

PemPair TestPki::issue(const std::string& name, const std::string& cn, const std::string& san, bool server) {
  EVP_PKEY* key = new_key();
  X509* cert = make_cert(key, cn, impl_->ca_cert, impl_->ca_key, serial_++);
  add_ext(cert, impl_->ca_cert, NID_basic_constraints, "critical,CA:FALSE");
  add_ext(cert, impl_->ca_cert, NID_key_usage, "critical,digitalSignature,keyEncipherment");
  add_ext(cert, impl_->ca_cert, NID_ext_key_usage, server ? "serverAuth" : "clientAuth");
  add_ext(cert, impl_->ca_cert, NID_authority_key_identifier, "keyid:always");
  if (!san.empty()) {
    add_ext(cert, impl_->ca_cert, NID_subject_alt_name, san);
  }
  check(X509_sign(cert, impl_->ca_key, EVP_sha256()) > 0, "X509_sign");
  PemPair out;
  out.cert_path = dir_ + "/" + name + ".crt";
  out.key_path = dir_ + "/" + name + ".key";
  write_pem(out.cert_path, cert, nullptr);
  write_pem(out.key_path, nullptr, key);
  out.cert = read_file(out.cert_path);
  out.key = read_file(out.key_path);
  X509_free(cert);
  EVP_PKEY_free(key);
  return out;
}

PemPair TestPki::issue_server(const std::string& cn) {
  return issue("server-" + std::to_string(serial_), cn, "IP:127.0.0.1,DNS:localhost", true);
}

PemPair TestPki::issue_client(const std::string& cn, const std::string& uri) {
  return issue("client-" + std::to_string(serial_), cn, uri.empty() ? "" : "URI:" + uri, false);
}

}  // namespace portcullis::testing
