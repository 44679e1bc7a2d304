// TLS transport tests. A throwaway CA, server and client certificate are generated at test time
// with the OpenSSL C API and written to a temporary directory (never committed).
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>

#include <boost/asio/io_context.hpp>

#include "controller/sip/transport/stream_transport.h"
#include "tests/unit/controller/sip/transport/test_util.h"

namespace portcullis::sip {
namespace {

using namespace testing;

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;
using BioPtr = std::unique_ptr<BIO, BioFree>;

void check(bool ok, const char* what) {
  if (!ok) {
    throw std::runtime_error(std::string("OpenSSL: ") + what);
  }
}

PkeyPtr make_key() {
  // P-256: fast to generate, fine for a throwaway test PKI.
  PkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  check(key != nullptr, "EC key generation");
  return key;
}

void add_ext(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  check(ext != nullptr, "extension");
  check(X509_add_ext(cert, ext, -1) == 1, "add extension");
  X509_EXTENSION_free(ext);
}

/// A certificate for `key` named `cn`, signed by issuer/issuer_key (self-signed if null).
X509Ptr make_cert(EVP_PKEY* key, const char* cn, long serial, X509* issuer, EVP_PKEY* issuer_key,
                  bool is_ca, const char* san, const char* eku) {
  X509Ptr cert(X509_new());
  check(cert != nullptr, "X509_new");
  check(X509_set_version(cert.get(), 2) == 1, "version");
  check(ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), serial) == 1, "serial");
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 24 * 3600);
  check(X509_set_pubkey(cert.get(), key) == 1, "pubkey");
  X509_NAME* name = X509_get_subject_name(cert.get());
  check(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                   reinterpret_cast<const unsigned char*>(cn), -1, -1, 0) == 1,
        "CN");
  X509* signer = issuer != nullptr ? issuer : cert.get();
  check(X509_set_issuer_name(cert.get(), X509_get_subject_name(signer)) == 1, "issuer");
  if (is_ca) {
    add_ext(cert.get(), signer, NID_basic_constraints, "critical,CA:TRUE");
    add_ext(cert.get(), signer, NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    add_ext(cert.get(), signer, NID_basic_constraints, "critical,CA:FALSE");
    add_ext(cert.get(), signer, NID_key_usage, "critical,digitalSignature");
    add_ext(cert.get(), signer, NID_ext_key_usage, eku);
    if (san != nullptr) {
      add_ext(cert.get(), signer, NID_subject_alt_name, san);
    }
  }
  add_ext(cert.get(), signer, NID_subject_key_identifier, "hash");
  check(X509_sign(cert.get(), issuer_key != nullptr ? issuer_key : key, EVP_sha256()) > 0, "sign");
  return cert;
}

void write_cert(const std::filesystem::path& path, X509* cert) {
  BioPtr bio(BIO_new_file(path.c_str(), "w"));
  check(bio != nullptr, "open cert file");
  check(PEM_write_bio_X509(bio.get(), cert) == 1, "write cert");
}

void write_key(const std::filesystem::path& path, EVP_PKEY* key) {
  BioPtr bio(BIO_new_file(path.c_str(), "w"));
  check(bio != nullptr, "open key file");
  check(PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) == 1,
        "write key");
}

/// The throwaway PKI, generated once per test binary and removed at exit.
struct TestPki {
  TestPki() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "portcullis-tls-XXXXXX").string();
    check(mkdtemp(tmpl.data()) != nullptr, "mkdtemp");
    dir = tmpl;
    PkeyPtr ca_key = make_key();
    X509Ptr ca = make_cert(ca_key.get(), "Portcullis Test CA", 1, nullptr, nullptr, true, nullptr,
                           nullptr);
    PkeyPtr server_key = make_key();
    X509Ptr server = make_cert(server_key.get(), "localhost", 2, ca.get(), ca_key.get(), false,
                               "DNS:localhost,IP:127.0.0.1", "serverAuth");
    PkeyPtr client_key = make_key();
    X509Ptr client = make_cert(client_key.get(), "client.test", 3, ca.get(), ca_key.get(), false,
                               "DNS:client.test", "clientAuth");
    ca_file = (dir / "ca.pem").string();
    server_cert = (dir / "server.pem").string();
    server_key_file = (dir / "server.key").string();
    client_cert = (dir / "client.pem").string();
    client_key_file = (dir / "client.key").string();
    write_cert(ca_file, ca.get());
    write_cert(server_cert, server.get());
    write_key(server_key_file, server_key.get());
    write_cert(client_cert, client.get());
    write_key(client_key_file, client_key.get());
  }
  ~TestPki() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }

  std::filesystem::path dir;
  std::string ca_file;
  std::string server_cert;
  std::string server_key_file;
  std::string client_cert;
  std::string client_key_file;
};

const TestPki& pki() {
  static const TestPki instance;
  return instance;
}

TlsConfig server_tls(bool mutual) {
  TlsConfig tls;
  tls.certificate_chain_file = pki().server_cert;
  tls.private_key_file = pki().server_key_file;
  tls.ca_file = pki().ca_file;
  tls.require_client_certificate = mutual;
  return tls;
}

TlsConfig client_tls(bool with_cert) {
  TlsConfig tls;
  if (with_cert) {
    tls.certificate_chain_file = pki().client_cert;
    tls.private_key_file = pki().client_key_file;
  }
  tls.ca_file = pki().ca_file;
  return tls;
}

/// A TLS server and a client-only TLS transport on one io_context.
struct TlsFixture {
  TlsFixture(bool mutual, bool client_cert) {
    StreamConfig sc;
    sc.kind = TransportKind::kTls;
    sc.listen.push_back(loopback_any_port());
    sc.tls = server_tls(mutual);
    sc.handshake_timeout = std::chrono::milliseconds(2000);
    auto s = StreamTransport::create(ioc.get_executor(), sc);
    REQUIRE(s.ok());
    server = *s;
    server->set_callbacks(server_rx.callbacks());
    REQUIRE(server->start().ok());
    endpoint = server->local_endpoints().at(0);

    StreamConfig cc;
    cc.kind = TransportKind::kTls;
    cc.tls = client_tls(client_cert);
    cc.handshake_timeout = std::chrono::milliseconds(2000);
    auto c = StreamTransport::create(ioc.get_executor(), cc);
    REQUIRE(c.ok());
    client = *c;
    client->set_callbacks(client_rx.callbacks());
    REQUIRE(client->start().ok());
  }
  ~TlsFixture() {
    client->stop();
    server->stop();
    run_to_completion(ioc);
  }

  asio::io_context ioc;
  Recorder server_rx;
  Recorder client_rx;
  std::shared_ptr<StreamTransport> server;
  std::shared_ptr<StreamTransport> client;
  net::Endpoint endpoint;
};

TEST_CASE("TLS: handshake, request and response both ways", "[unit][transport][tls]") {
  const bool mutual = GENERATE(false, true);
  // Verify the server by its DNS name (SNI sent) or by its address (IP SAN, no SNI).
  const std::string server_name = GENERATE(std::string("localhost"), std::string());
  TlsFixture f(mutual, true);

  SendResult sent;
  f.client->send(OutboundMessage{f.endpoint, TransportKind::kTls, request("tls1"), kNoConnection,
                                 server_name},
                 sent.callback());
  REQUIRE(run_until(f.ioc, [&] { return f.server_rx.messages.size() == 1 && sent.done; }));
  CHECK(sent.ok);
  const ReceivedMessage& in = f.server_rx.messages[0];
  CHECK(in.kind == TransportKind::kTls);
  CHECK(in.message.call_id() == "tls1");

  f.server->send(OutboundMessage{in.source, TransportKind::kTls, response("tls1"), in.connection, {}});
  REQUIRE(run_until(f.ioc, [&] { return f.client_rx.messages.size() == 1; }));
  CHECK(f.client_rx.messages[0].message.status_code() == 200);
  CHECK(f.client_rx.messages[0].kind == TransportKind::kTls);

  // Keep-alive over TLS works like over TCP, and the connection is reused for a second request.
  f.client->send(OutboundMessage{f.endpoint, TransportKind::kTls, "\r\n\r\n", kNoConnection, {}});
  f.client->send(OutboundMessage{f.endpoint, TransportKind::kTls, request("tls2", "INFO", 2),
                                 kNoConnection, {}});
  REQUIRE(run_until(f.ioc, [&] { return f.server_rx.messages.size() == 2; }));
  CHECK(f.server->stats().keepalive_pongs == 1);
  CHECK(f.client->stats().connections_opened == 1);
  CHECK(f.server->stats().connections_accepted == 1);
  CHECK(f.server->stats().closed_count(CloseReason::kHandshakeFailed) == 0);
}

TEST_CASE("TLS: mutual TLS rejects a client without a certificate", "[unit][transport][tls]") {
  TlsFixture f(true, false);
  SendResult sent;
  f.client->send(OutboundMessage{f.endpoint, TransportKind::kTls, request("nocert"), kNoConnection,
                                 "localhost"},
                 sent.callback());
  REQUIRE(run_until(f.ioc, [&] {
    return f.server->stats().closed_count(CloseReason::kHandshakeFailed) == 1 && sent.done &&
           f.client_rx.closed.size() == 1;
  }));
  // With TLS 1.2 the client's handshake fails. With TLS 1.3 the client finishes its side before
  // the server checks its (missing) certificate, so its write may succeed; the server's alert
  // then ends the connection. Either way nothing reaches the server's upper layer.
  CHECK(f.client->connection_count() == 0);
  CHECK(f.server_rx.messages.empty());
  CHECK(f.server->connection_count() == 0);
}

TEST_CASE("TLS: the client checks the server's host name", "[unit][transport][tls]") {
  TlsFixture f(false, false);
  SendResult sent;
  f.client->send(OutboundMessage{f.endpoint, TransportKind::kTls, request("badname"), kNoConnection,
                                 "wrong.example.com"},
                 sent.callback());
  REQUIRE(run_until(f.ioc, [&] { return sent.done && f.client_rx.closed.size() == 1; }));
  CHECK_FALSE(sent.ok);
  CHECK(f.client->stats().closed_count(CloseReason::kHandshakeFailed) == 1);
  CHECK(f.server_rx.messages.empty());
}

TEST_CASE("TLS: configuration errors are reported at create()", "[unit][transport][tls]") {
  asio::io_context ioc;
  StreamConfig config;
  config.kind = TransportKind::kTls;
  config.listen.push_back(loopback_any_port());
  SECTION("no TlsConfig") {
    CHECK_FALSE(StreamTransport::create(ioc.get_executor(), config).ok());
  }
  SECTION("missing certificate file") {
    TlsConfig tls = server_tls(false);
    tls.certificate_chain_file = (pki().dir / "missing.pem").string();
    config.tls = tls;
    auto r = StreamTransport::create(ioc.get_executor(), config);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == ErrorCode::kInvalidArgument);
  }
  SECTION("key does not match the certificate") {
    TlsConfig tls = server_tls(false);
    tls.private_key_file = pki().client_key_file;
    config.tls = tls;
    CHECK_FALSE(StreamTransport::create(ioc.get_executor(), config).ok());
  }
  SECTION("mutual TLS without a CA") {
    TlsConfig tls = server_tls(true);
    tls.ca_file.clear();
    config.tls = tls;
    CHECK_FALSE(StreamTransport::create(ioc.get_executor(), config).ok());
  }
}

}  // namespace
}  // namespace portcullis::sip
