// agent_e2e_client: the "controller" of the agent end-to-end namespace test (run.sh). Speaks FCP
// over gRPC like a real controller, for what portcullisctl (an operator tool) cannot do:
//
//   info                       AgentInfo from GetCapabilities: agent_id, state_epoch, instance_id
//   probe                      one GetCapabilities; prints OK or the status code (TLS checks)
//   hold --owner O --token T [--private IP:PORT --remote IP:PORT] [--adopt] [--lifetime S]
//                              opens a Session claiming O (or, with --adopt, without claims and then
//                              Adopt), optionally reserves a LIVENESS_SESSION binding and enables
//                              one exact remote, then heartbeats until the stream ends or SIGTERM
//   bad --owner O --token T --binding ID
//                              malformed requests the CLI cannot produce; one line per case:
//                              "case=<name> code=<CODE> reason=<REASON>"
//
// Connection: --agent HOST:PORT, --ca FILE [--cert FILE --key FILE] (no --cert = a TLS client
// without a certificate), or --insecure. Output lines are key=value for the script to grep.
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>

#include <grpcpp/grpcpp.h>

#include "fcp/v1/fcp.grpc.pb.h"

namespace {

namespace pb = ::portcullis::fcp::v1;

constexpr const char* kErrorDetailKey = "fcp-error-detail-bin";
std::atomic<bool> g_stop{false};

struct Options {
  std::string agent = "127.0.0.1:7443";
  std::string ca, cert, key;
  bool insecure = false;
  std::string command;
  std::map<std::string, std::string> values;
  bool adopt = false;
};

[[noreturn]] void die(const std::string& message) {
  std::fprintf(stderr, "agent_e2e_client: %s\n", message.c_str());
  std::exit(2);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    die("cannot read " + path);
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string value(const Options& o, const std::string& name) {
  const auto it = o.values.find(name);
  if (it == o.values.end()) {
    die(o.command + " needs " + name);
  }
  return it->second;
}

const char* code_name(grpc::StatusCode c) {
  static const char* kNames[] = {"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED",
                                 "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED",
                                 "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL",
                                 "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"};
  const auto i = static_cast<std::size_t>(c);
  return i < std::size(kNames) ? kNames[i] : "?";
}

std::string reason_of(const grpc::ClientContext& ctx) {
  const auto& md = ctx.GetServerTrailingMetadata();
  const auto it = md.find(kErrorDetailKey);
  pb::ErrorDetail d;
  if (it == md.end() || !d.ParseFromArray(it->second.data(), static_cast<int>(it->second.size()))) {
    return "-";
  }
  return pb::ErrorReason_Name(d.reason()).substr(std::strlen("ERROR_REASON_"));
}

std::string hex(const std::string& bytes) {
  std::string out;
  char buf[3];
  for (const char c : bytes) {
    std::snprintf(buf, sizeof buf, "%02x", static_cast<unsigned char>(c));
    out += buf;
  }
  return out;
}

std::string agent_text(const pb::AgentInfo& a) {
  char epoch[17];
  std::snprintf(epoch, sizeof epoch, "%016llx", static_cast<unsigned long long>(a.state_epoch()));
  return "agent_id=" + a.agent_id() + " state_epoch=" + epoch + " instance_id=" + hex(a.instance_id());
}

pb::Endpoint endpoint(const std::string& text) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos) {
    die("want IPv4:PORT, got " + text);
  }
  in_addr a{};
  if (inet_pton(AF_INET, text.substr(0, colon).c_str(), &a) != 1) {
    die("want IPv4:PORT, got " + text);
  }
  pb::Endpoint e;
  e.set_ip(std::string(reinterpret_cast<const char*>(&a), 4));
  e.set_port(static_cast<std::uint32_t>(std::stoul(text.substr(colon + 1))));
  return e;
}

std::string endpoint_text(const pb::Endpoint& e) {
  if (e.ip().size() != 4) {
    return "?";
  }
  char buf[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, e.ip().data(), buf, sizeof buf);
  return std::string(buf) + ":" + std::to_string(e.port());
}

class Client {
 public:
  explicit Client(const Options& o) : o_(o) {
    std::shared_ptr<grpc::ChannelCredentials> creds;
    if (o.insecure) {
      creds = grpc::InsecureChannelCredentials();
    } else {
      grpc::SslCredentialsOptions ssl;
      ssl.pem_root_certs = read_file(o.ca);
      if (!o.cert.empty()) {
        ssl.pem_cert_chain = read_file(o.cert);
        ssl.pem_private_key = read_file(o.key);
      }
      creds = grpc::SslCredentials(ssl);
    }
    stub_ = pb::FirewallControl::NewStub(grpc::CreateChannel(o.agent, creds));
  }

  int run() {
    if (o_.command == "info") {
      return info();
    }
    if (o_.command == "probe") {
      return probe();
    }
    if (o_.command == "hold") {
      return hold();
    }
    if (o_.command == "bad") {
      return bad();
    }
    die("unknown command '" + o_.command + "'");
  }

 private:
  static void deadline(grpc::ClientContext& ctx, int seconds = 5) {
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(seconds));
  }

  pb::WriteMeta meta() {
    pb::WriteMeta m;
    m.set_request_id("e2e-" + std::to_string(::getpid()) + "-" + std::to_string(++request_seq_));
    m.set_owner(value(o_, "--owner"));
    m.set_fencing_token(std::stoull(value(o_, "--token")));
    return m;
  }

  int info() {
    grpc::ClientContext ctx;
    deadline(ctx);
    pb::GetCapabilitiesResponse resp;
    const grpc::Status st = stub_->GetCapabilities(&ctx, {}, &resp);
    if (!st.ok()) {
      std::printf("error code=%s reason=%s message=%s\n", code_name(st.error_code()), reason_of(ctx).c_str(),
                  st.error_message().c_str());
      return 1;
    }
    std::printf("%s\n", agent_text(resp.agent()).c_str());
    return 0;
  }

  int probe() {
    grpc::ClientContext ctx;
    deadline(ctx, 3);
    pb::GetCapabilitiesResponse resp;
    const grpc::Status st = stub_->GetCapabilities(&ctx, {}, &resp);
    if (st.ok()) {
      std::printf("probe OK %s\n", agent_text(resp.agent()).c_str());
      return 0;
    }
    std::printf("probe code=%s reason=%s message=%s\n", code_name(st.error_code()), reason_of(ctx).c_str(),
                st.error_message().c_str());
    return 1;
  }

  int hold() {
    grpc::ClientContext ctx;
    auto stream = stub_->Session(&ctx);
    pb::SessionRequest hello;
    auto* h = hello.mutable_hello();
    h->set_protocol_version("fcp.v1");
    h->set_controller_instance("agent-e2e-" + std::to_string(::getpid()));
    if (!o_.adopt) {
      auto* claim = h->add_owners();
      claim->set_owner(value(o_, "--owner"));
      claim->set_fencing_token(std::stoull(value(o_, "--token")));
    }
    pb::SessionResponse resp;
    if (!stream->Write(hello) || !stream->Read(&resp) || !resp.has_hello_ack()) {
      const grpc::Status st = stream->Finish();
      std::printf("session error code=%s message=%s\n", code_name(st.error_code()), st.error_message().c_str());
      return 1;
    }
    const std::string session_id = resp.hello_ack().session_id();
    std::printf("session=%s %s\n", session_id.c_str(), agent_text(resp.agent()).c_str());
    if (o_.adopt) {
      pb::AdoptRequest req;
      *req.mutable_meta() = meta();
      req.set_session_id(session_id);
      pb::AdoptResponse ar;
      grpc::ClientContext actx;
      deadline(actx);
      const grpc::Status st = stub_->Adopt(&actx, req, &ar);
      if (!st.ok()) {
        std::printf("adopt error code=%s reason=%s message=%s\n", code_name(st.error_code()),
                    reason_of(actx).c_str(), st.error_message().c_str());
        return 1;
      }
      std::printf("adopted=%llu already_bound=%llu %s\n", static_cast<unsigned long long>(ar.adopted()),
                  static_cast<unsigned long long>(ar.already_bound()), agent_text(ar.agent()).c_str());
    }
    if (o_.values.count("--private") != 0) {
      pb::ReserveBindingRequest req;
      *req.mutable_meta() = meta();
      req.set_protocol(pb::PROTOCOL_UDP);
      *req.mutable_private_endpoint() = endpoint(value(o_, "--private"));
      req.set_port_count(1);
      req.set_parity(pb::PARITY_ANY);
      const auto lifetime = o_.values.count("--lifetime") != 0 ? std::stoll(value(o_, "--lifetime")) : 600;
      req.mutable_lease()->mutable_lifetime()->set_seconds(lifetime);
      req.mutable_lease()->set_liveness(pb::LIVENESS_SESSION);
      pb::ReserveBindingResponse rr;
      grpc::ClientContext rctx;
      deadline(rctx);
      grpc::Status st = stub_->ReserveBinding(&rctx, req, &rr);
      if (!st.ok()) {
        std::printf("reserve error code=%s reason=%s\n", code_name(st.error_code()), reason_of(rctx).c_str());
        return 1;
      }
      pb::EnablePinholesRequest en;
      *en.mutable_meta() = meta();
      en.set_binding_id(rr.binding().binding_id());
      pb::Endpoint remote = endpoint(value(o_, "--remote"));
      auto* spec = en.add_remotes();
      spec->set_ip(remote.ip());
      spec->set_port(remote.port());
      pb::EnablePinholesResponse er;
      grpc::ClientContext ectx;
      deadline(ectx);
      st = stub_->EnablePinholes(&ectx, en, &er);
      if (!st.ok()) {
        std::printf("enable error code=%s reason=%s\n", code_name(st.error_code()), reason_of(ectx).c_str());
        return 1;
      }
      std::printf("binding=%s public=%s state=%s\n", er.binding().binding_id().c_str(),
                  endpoint_text(er.binding().public_endpoint()).c_str(),
                  pb::BindingState_Name(er.binding().state()).c_str());
    }
    std::fflush(stdout);
    // Heartbeats on this thread; a reader thread notices the end of the stream (GoAway, agent
    // gone). One Write in flight at a time: only this thread writes.
    std::atomic<bool> ended{false};
    std::thread reader([&] {
      pb::SessionResponse r;
      while (stream->Read(&r)) {
        if (r.has_go_away()) {
          std::printf("goaway cause=%s\n", pb::Cause_Name(r.go_away().cause()).c_str());
          std::fflush(stdout);
        }
      }
      ended = true;
    });
    const auto hb = std::chrono::milliseconds(500);
    while (!ended && !g_stop) {
      pb::SessionRequest beat;
      beat.mutable_heartbeat();
      if (!stream->Write(beat)) {
        break;
      }
      for (int i = 0; i < 5 && !ended && !g_stop; ++i) {
        std::this_thread::sleep_for(hb / 5);
      }
    }
    ctx.TryCancel();
    reader.join();
    const grpc::Status st = stream->Finish();
    std::printf("session ended code=%s message=%s\n", code_name(st.error_code()), st.error_message().c_str());
    return 0;
  }

  // One malformed request; prints its outcome.
  template <class Req, class Resp, class Call>
  void expect(const char* name, const Req& req, Call call) {
    Resp resp;
    grpc::ClientContext ctx;
    deadline(ctx);
    const grpc::Status st = (stub_.get()->*call)(&ctx, req, &resp);
    std::printf("case=%s code=%s reason=%s message=%s\n", name, code_name(st.error_code()),
                st.ok() ? "-" : reason_of(ctx).c_str(), st.error_message().c_str());
  }

  pb::ReserveBindingRequest good_reserve() {
    pb::ReserveBindingRequest r;
    *r.mutable_meta() = meta();
    r.set_protocol(pb::PROTOCOL_UDP);
    *r.mutable_private_endpoint() = endpoint("10.0.0.2:5900");
    r.set_port_count(1);
    r.set_parity(pb::PARITY_ANY);
    r.mutable_lease()->mutable_lifetime()->set_seconds(60);
    r.mutable_lease()->set_liveness(pb::LIVENESS_LIFETIME_ONLY);
    return r;
  }

  pb::EnablePinholesRequest good_enable() {
    pb::EnablePinholesRequest e;
    *e.mutable_meta() = meta();
    e.set_binding_id(value(o_, "--binding"));
    auto* s = e.add_remotes();
    *s->mutable_ip() = endpoint("198.51.100.2:7000").ip();
    s->set_port(7777);
    return e;
  }

  int bad() {
    using S = pb::FirewallControl::Stub;
    {
      auto r = good_reserve();
      r.mutable_private_endpoint()->set_ip(std::string("\x0a\x00\x00\x02\x01", 5));
      expect<pb::ReserveBindingRequest, pb::ReserveBindingResponse>("reserve_ip_5_bytes", r, &S::ReserveBinding);
    }
    {
      auto r = good_reserve();
      r.mutable_private_endpoint()->set_ip(std::string());
      expect<pb::ReserveBindingRequest, pb::ReserveBindingResponse>("reserve_ip_empty", r, &S::ReserveBinding);
    }
    {
      auto r = good_reserve();
      *r.mutable_private_endpoint() = endpoint("0.0.0.0:5900");
      expect<pb::ReserveBindingRequest, pb::ReserveBindingResponse>("reserve_ip_unspecified", r,
                                                                    &S::ReserveBinding);
    }
    {
      auto r = good_reserve();
      *r.mutable_private_endpoint() = endpoint("224.0.0.9:5900");
      expect<pb::ReserveBindingRequest, pb::ReserveBindingResponse>("reserve_ip_multicast", r,
                                                                    &S::ReserveBinding);
    }
    {
      auto r = good_reserve();
      r.mutable_private_endpoint()->set_port(0);
      expect<pb::ReserveBindingRequest, pb::ReserveBindingResponse>("reserve_port_0", r, &S::ReserveBinding);
    }
    {
      auto r = good_reserve();
      r.mutable_private_endpoint()->set_port(70000);
      expect<pb::ReserveBindingRequest, pb::ReserveBindingResponse>("reserve_port_70000", r, &S::ReserveBinding);
    }
    {
      auto r = good_reserve();
      r.mutable_lease()->mutable_lifetime()->set_seconds(-5);
      expect<pb::ReserveBindingRequest, pb::ReserveBindingResponse>("reserve_lifetime_negative", r,
                                                                    &S::ReserveBinding);
    }
    {
      auto r = good_reserve();
      r.mutable_lease()->mutable_lifetime()->set_seconds(0);
      expect<pb::ReserveBindingRequest, pb::ReserveBindingResponse>("reserve_lifetime_0", r, &S::ReserveBinding);
    }
    {
      auto r = good_reserve();
      r.mutable_lease()->clear_lifetime();
      expect<pb::ReserveBindingRequest, pb::ReserveBindingResponse>("reserve_lifetime_missing", r,
                                                                    &S::ReserveBinding);
    }
    {
      auto r = good_reserve();
      r.mutable_lease()->mutable_hard_deadline()->set_seconds(1000);  // 1970
      expect<pb::ReserveBindingRequest, pb::ReserveBindingResponse>("reserve_deadline_past", r,
                                                                    &S::ReserveBinding);
    }
    {
      auto r = good_reserve();
      r.mutable_lease()->mutable_orphan_grace()->set_seconds(-1);
      expect<pb::ReserveBindingRequest, pb::ReserveBindingResponse>("reserve_orphan_grace_negative", r,
                                                                    &S::ReserveBinding);
    }
    {
      auto r = good_reserve();
      r.set_port_count(3);
      expect<pb::ReserveBindingRequest, pb::ReserveBindingResponse>("reserve_port_count_3", r,
                                                                    &S::ReserveBinding);
    }
    {
      auto r = good_reserve();
      r.set_protocol(pb::PROTOCOL_UNSPECIFIED);
      expect<pb::ReserveBindingRequest, pb::ReserveBindingResponse>("reserve_protocol_unspecified", r,
                                                                    &S::ReserveBinding);
    }
    {
      auto r = good_reserve();
      r.mutable_lease()->set_liveness(pb::LIVENESS_SESSION);  // this caller holds no Session
      expect<pb::ReserveBindingRequest, pb::ReserveBindingResponse>("reserve_session_without_session", r,
                                                                    &S::ReserveBinding);
    }
    {
      auto e = good_enable();
      e.set_binding_id("424242");
      expect<pb::EnablePinholesRequest, pb::EnablePinholesResponse>("enable_unknown_id", e, &S::EnablePinholes);
    }
    {
      auto e = good_enable();
      e.set_binding_id("not-a-number");
      expect<pb::EnablePinholesRequest, pb::EnablePinholesResponse>("enable_garbage_id", e, &S::EnablePinholes);
    }
    {
      auto e = good_enable();
      e.mutable_remotes(0)->set_port(0);
      expect<pb::EnablePinholesRequest, pb::EnablePinholesResponse>("enable_remote_port_0", e,
                                                                    &S::EnablePinholes);
    }
    {
      auto e = good_enable();
      e.mutable_remotes(0)->set_ip(std::string(16, '\x20'));  // IPv6 remote on an IPv4 binding
      expect<pb::EnablePinholesRequest, pb::EnablePinholesResponse>("enable_remote_wrong_family", e,
                                                                    &S::EnablePinholes);
    }
    {
      auto e = good_enable();
      e.mutable_remotes(0)->set_ip(std::string("\x7f\x00\x00\x01", 4));
      expect<pb::EnablePinholesRequest, pb::EnablePinholesResponse>("enable_remote_loopback", e,
                                                                    &S::EnablePinholes);
    }
    {
      auto e = good_enable();
      for (int i = 0; i < 9; ++i) {
        auto* s = e.add_remotes();
        *s = e.remotes(0);
        s->set_port(static_cast<std::uint32_t>(8000 + i));
      }
      expect<pb::EnablePinholesRequest, pb::EnablePinholesResponse>("enable_too_many_remotes", e,
                                                                    &S::EnablePinholes);
    }
    {
      pb::RenewRequest r;
      *r.mutable_meta() = meta();
      r.set_binding_id("424242");
      r.mutable_lifetime()->set_seconds(60);
      expect<pb::RenewRequest, pb::RenewResponse>("renew_unknown_id", r, &S::Renew);
    }
    {
      pb::RenewRequest r;
      *r.mutable_meta() = meta();
      r.set_binding_id(value(o_, "--binding"));
      r.mutable_lifetime()->set_seconds(-1);
      expect<pb::RenewRequest, pb::RenewResponse>("renew_lifetime_negative", r, &S::Renew);
    }
    {
      pb::GetBindingRequest g;
      g.set_owner(value(o_, "--owner"));
      g.set_binding_id("424242");
      expect<pb::GetBindingRequest, pb::GetBindingResponse>("get_unknown_id", g, &S::GetBinding);
    }
    {
      // All or nothing: a good reserve followed by a bad enable changes nothing.
      pb::ApplyRequest a;
      *a.mutable_meta() = meta();
      auto good = good_reserve();
      good.clear_meta();
      good.set_natural_key("e2e-apply-atomic");
      *a.add_operations()->mutable_reserve() = good;
      auto* en = a.add_operations()->mutable_enable();
      en->set_natural_key("e2e-apply-atomic");
      auto* s = en->add_remotes();
      *s->mutable_ip() = endpoint("198.51.100.2:7000").ip();
      s->set_port(0);
      expect<pb::ApplyRequest, pb::ApplyResponse>("apply_good_then_bad", a, &S::Apply);
    }
    {
      pb::ReleaseRequest r;
      *r.mutable_meta() = meta();
      r.set_binding_id("424242");
      expect<pb::ReleaseRequest, pb::ReleaseResponse>("release_unknown_id_idempotent", r, &S::Release);
    }
    return 0;
  }

  const Options& o_;
  std::unique_ptr<pb::FirewallControl::Stub> stub_;
  int request_seq_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        die(a + " needs a value");
      }
      return argv[++i];
    };
    if (a == "--agent") {
      o.agent = next();
    } else if (a == "--ca") {
      o.ca = next();
    } else if (a == "--cert") {
      o.cert = next();
    } else if (a == "--key") {
      o.key = next();
    } else if (a == "--insecure") {
      o.insecure = true;
    } else if (a == "--adopt") {
      o.adopt = true;
    } else if (a.rfind("--", 0) == 0) {
      o.values[a] = next();
    } else if (o.command.empty()) {
      o.command = a;
    } else {
      die("unexpected argument '" + a + "'");
    }
  }
  if (o.command.empty() || (!o.insecure && o.ca.empty())) {
    die("usage: agent_e2e_client --agent HOST:PORT (--ca F [--cert F --key F] | --insecure) "
        "info|probe|hold|bad [...]");
  }
  std::signal(SIGTERM, [](int) { g_stop = true; });
  std::signal(SIGINT, [](int) { g_stop = true; });
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  return Client(o).run();
}
