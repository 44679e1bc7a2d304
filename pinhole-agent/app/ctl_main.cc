// portcullisctl: operator CLI over FCP (proto/fcp/v1). One RPC per command (watch: one Session
// stream). Human-readable tables by default, --json for one JSON object per line.
//
// Exit codes: 0 ok, 1 RPC error (prints code, ErrorDetail reason and message), 2 usage.
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "common/base/text.h"
#include "common/net/ip_address.h"
#include "fcp/v1/fcp.grpc.pb.h"

namespace {

namespace pb = ::portcullis::fcp::v1;
using portcullis::parse_decimal;
using portcullis::net::Endpoint;
using portcullis::net::IpAddress;

constexpr int kExitOk = 0;
constexpr int kExitRpc = 1;
constexpr int kExitUsage = 2;
constexpr const char* kErrorDetailKey = "fcp-error-detail-bin";

const char* kUsage = R"(usage: portcullisctl [--agent HOST:PORT] [--cert FILE --key FILE --ca FILE | --insecure]
                    [--owner OWNER --token N] [--json] [--timeout SECONDS] COMMAND [ARGS]

commands:
  list [--group G]                        bindings of --owner (all owners without --owner: admin)
  get ID                                  one binding
  reserve --private IP:PORT [--ports 1|2] [--public-port N [--exact]] [--lifetime S]
          [--idle-timeout S] [--group G] [--key NATURAL_KEY] [--tcp] [--realm R]
                                          reserve a public port (LIFETIME_ONLY lease: an operator
                                          holds no session; default lifetime 3600 s)
  enable ID --remote IP[:PORT] [--remote ...] [--latch]
                                          set the remote peers (exact IP:PORT, or IP with --latch)
  release ID | --group G                  close a binding or a whole group (idempotent)
  renew ID --lifetime S                   new lifetime from now (0 closes)
  drain [--off]                           refuse new bindings (admin); --off accepts them again
  watch [--count N]                       stream events of --owner (or every permitted owner)
                                          until Ctrl-C or N events
  caps                                    the agent's capabilities

options:
  --agent HOST:PORT   agent address (default 127.0.0.1:7443)
  --cert/--key/--ca   client certificate, key and the CA that signed the agent's certificate
  --insecure          plaintext (agents started with --insecure-lab only)
  --owner OWNER       the controller shard to act for; --token N its fencing token (default 0)
  --json              one JSON object per line instead of tables
  --timeout SECONDS   RPC deadline (default 5)

exit codes: 0 ok, 1 RPC error, 2 usage
)";

struct Options {
  std::string agent = "127.0.0.1:7443";
  std::string cert, key, ca;
  bool insecure = false;
  std::string owner;
  std::uint64_t token = 0;
  bool json = false;
  int timeout_s = 5;
  std::string command;
  std::vector<std::string> args;  // command arguments, flags included
};

[[noreturn]] void usage_error(const std::string& message) {
  std::fprintf(stderr, "portcullisctl: %s\n\n%s", message.c_str(), kUsage);
  std::exit(kExitUsage);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    usage_error("cannot read " + path);
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// Command-level flags: --name VALUE or --flag.
class Args {
 public:
  explicit Args(std::vector<std::string> a) : a_(std::move(a)) {}
  std::optional<std::string> value(const std::string& name) {
    for (std::size_t i = 0; i < a_.size(); ++i) {
      if (a_[i] == name) {
        if (i + 1 >= a_.size()) {
          usage_error(name + " needs a value");
        }
        std::string v = a_[i + 1];
        a_.erase(a_.begin() + static_cast<std::ptrdiff_t>(i), a_.begin() + static_cast<std::ptrdiff_t>(i) + 2);
        return v;
      }
    }
    return std::nullopt;
  }
  std::vector<std::string> values(const std::string& name) {
    std::vector<std::string> out;
    while (auto v = value(name)) {
      out.push_back(*v);
    }
    return out;
  }
  bool flag(const std::string& name) {
    for (std::size_t i = 0; i < a_.size(); ++i) {
      if (a_[i] == name) {
        a_.erase(a_.begin() + static_cast<std::ptrdiff_t>(i));
        return true;
      }
    }
    return false;
  }
  std::optional<std::string> positional() {
    for (std::size_t i = 0; i < a_.size(); ++i) {
      if (a_[i].rfind("--", 0) != 0) {
        std::string v = a_[i];
        a_.erase(a_.begin() + static_cast<std::ptrdiff_t>(i));
        return v;
      }
    }
    return std::nullopt;
  }
  void done() {
    if (!a_.empty()) {
      usage_error("unexpected argument '" + a_.front() + "'");
    }
  }

 private:
  std::vector<std::string> a_;
};

std::uint64_t number(const std::string& text, const char* what, std::uint64_t max) {
  const auto v = parse_decimal(text, max);
  if (!v) {
    usage_error(std::string(what) + " must be a number 0.." + std::to_string(max) + ", got '" + text + "'");
  }
  return *v;
}

std::string uuid4() {
  std::random_device rd;
  std::uint8_t b[16];
  for (auto& x : b) {
    x = static_cast<std::uint8_t>(rd());
  }
  b[6] = static_cast<std::uint8_t>((b[6] & 0x0f) | 0x40);
  b[8] = static_cast<std::uint8_t>((b[8] & 0x3f) | 0x80);
  char s[37];
  std::snprintf(s, sizeof s, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
                b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
  return s;
}

// ---- formatting ----

std::string ip_text(const std::string& raw) {
  auto a = IpAddress::from_bytes(raw);
  return a.ok() ? a->to_string() : "?";
}

std::string ep_text(const pb::Endpoint& e) {
  auto a = IpAddress::from_bytes(e.ip());
  if (!a.ok()) {
    return "-";
  }
  return Endpoint(*a, static_cast<std::uint16_t>(e.port())).to_string();
}

std::string json_escape(const std::string& s) {
  std::string out = "\"";
  for (const char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

std::string state_name(pb::BindingState s) {
  std::string n = pb::BindingState_Name(s);
  return n.substr(std::strlen("BINDING_STATE_"));
}
std::string cause_name(pb::Cause c) { return pb::Cause_Name(c).substr(std::strlen("CAUSE_")); }

long long seconds_from_now(const google::protobuf::Timestamp& t) {
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  return static_cast<long long>(t.seconds() - now);
}

std::string remotes_text(const pb::Binding& b) {
  std::string out;
  for (const auto& p : b.pinholes()) {
    if (!out.empty()) {
      out += ",";
    }
    if (p.remote().has_latch()) {
      out += ip_text(p.remote().ip()) + ":latch";
      if (p.has_latched_remote()) {
        out += "=" + std::to_string(p.latched_remote().port());
      }
    } else {
      out += Endpoint(IpAddress::from_bytes(p.remote().ip()).value_or(IpAddress()),
                      static_cast<std::uint16_t>(p.remote().port()))
                 .to_string();
    }
  }
  return out.empty() ? "-" : out;
}

std::string binding_json(const pb::Binding& b) {
  std::ostringstream o;
  o << "{\"binding_id\":" << json_escape(b.binding_id()) << ",\"owner\":" << json_escape(b.owner())
    << ",\"group_id\":" << json_escape(b.group_id()) << ",\"natural_key\":" << json_escape(b.natural_key())
    << ",\"state\":" << json_escape(state_name(b.state())) << ",\"cause\":" << json_escape(cause_name(b.cause()))
    << ",\"protocol\":" << json_escape(b.protocol() == pb::PROTOCOL_TCP ? "tcp" : "udp")
    << ",\"private\":" << json_escape(ep_text(b.private_endpoint()))
    << ",\"public\":" << json_escape(ep_text(b.public_endpoint())) << ",\"port_count\":" << b.port_count()
    << ",\"generation\":" << b.generation() << ",\"fencing_token\":" << b.fencing_token()
    << ",\"remotes\":[";
  bool first = true;
  for (const auto& p : b.pinholes()) {
    o << (first ? "" : ",") << "{\"ip\":" << json_escape(ip_text(p.remote().ip()));
    if (p.remote().has_latch()) {
      o << ",\"latch\":true";
      if (p.has_latched_remote()) {
        o << ",\"latched_port\":" << p.latched_remote().port();
      }
    } else {
      o << ",\"port\":" << p.remote().port();
    }
    o << "}";
    first = false;
  }
  o << "]";
  if (b.lease().has_expire_time()) {
    o << ",\"expires_in_s\":" << seconds_from_now(b.lease().expire_time());
  }
  o << ",\"liveness\":"
    << json_escape(b.lease().liveness() == pb::LIVENESS_SESSION ? "session" : "lifetime_only") << "}";
  return o.str();
}

void print_bindings(const std::vector<pb::Binding>& bindings, bool json) {
  if (json) {
    for (const auto& b : bindings) {
      std::printf("%s\n", binding_json(b).c_str());
    }
    return;
  }
  std::printf("%-8s %-18s %-12s %-9s %-5s %-22s %-22s %-5s %-8s %s\n", "ID", "OWNER", "GROUP", "STATE", "PROTO",
              "PRIVATE", "PUBLIC", "PORTS", "EXPIRES", "REMOTES");
  for (const auto& b : bindings) {
    const std::string expires =
        b.lease().has_expire_time() ? std::to_string(seconds_from_now(b.lease().expire_time())) + "s" : "-";
    std::printf("%-8s %-18s %-12s %-9s %-5s %-22s %-22s %-5u %-8s %s\n", b.binding_id().c_str(),
                b.owner().c_str(), b.group_id().empty() ? "-" : b.group_id().c_str(), state_name(b.state()).c_str(),
                b.protocol() == pb::PROTOCOL_TCP ? "tcp" : "udp", ep_text(b.private_endpoint()).c_str(),
                ep_text(b.public_endpoint()).c_str(), b.port_count(), expires.c_str(), remotes_text(b).c_str());
  }
}

void print_event(const pb::Event& e, bool json) {
  const std::string kind = pb::Event::Kind_Name(e.kind()).substr(std::strlen("KIND_"));
  if (json) {
    std::ostringstream o;
    o << "{\"seq\":" << e.seq() << ",\"state_epoch\":" << e.state_epoch() << ",\"kind\":" << json_escape(kind)
      << ",\"cause\":" << json_escape(cause_name(e.cause())) << ",\"owner\":" << json_escape(e.owner())
      << ",\"group_id\":" << json_escape(e.group_id()) << ",\"binding_id\":" << json_escape(e.binding_id());
    if (e.has_latched_remote()) {
      o << ",\"latched_remote\":" << json_escape(ep_text(e.latched_remote()));
    }
    o << ",\"time\":" << e.time().seconds() << ",\"detail\":" << json_escape(e.detail()) << "}";
    std::printf("%s\n", o.str().c_str());
  } else {
    std::time_t t = static_cast<std::time_t>(e.time().seconds());
    char when[32];
    std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
    std::printf("%s seq=%llu %-16s cause=%-20s owner=%s binding=%s%s%s%s\n", when,
                static_cast<unsigned long long>(e.seq()), kind.c_str(), cause_name(e.cause()).c_str(),
                e.owner().empty() ? "-" : e.owner().c_str(), e.binding_id().empty() ? "-" : e.binding_id().c_str(),
                e.has_latched_remote() ? (" remote=" + ep_text(e.latched_remote())).c_str() : "",
                e.detail().empty() ? "" : " ", e.detail().c_str());
  }
  std::fflush(stdout);
}

const char* code_name(grpc::StatusCode c) {
  static const char* kNames[] = {"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED",
                                 "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED",
                                 "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL",
                                 "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"};
  const auto i = static_cast<std::size_t>(c);
  return i < std::size(kNames) ? kNames[i] : "?";
}

int report(const grpc::Status& st, const grpc::ClientContext& ctx, bool json) {
  pb::ErrorDetail d;
  const auto& md = ctx.GetServerTrailingMetadata();
  const auto it = md.find(kErrorDetailKey);
  const bool has_detail =
      it != md.end() && d.ParseFromArray(it->second.data(), static_cast<int>(it->second.size()));
  const std::string reason = has_detail ? pb::ErrorReason_Name(d.reason()).substr(std::strlen("ERROR_REASON_")) : "";
  if (json) {
    std::ostringstream o;
    o << "{\"error\":{\"code\":" << json_escape(code_name(st.error_code())) << ",\"reason\":" << json_escape(reason)
      << ",\"field\":" << json_escape(d.field()) << ",\"message\":" << json_escape(st.error_message());
    if (d.has_retry_after()) {
      o << ",\"retry_after_s\":" << d.retry_after().seconds();
    }
    o << "}}";
    std::printf("%s\n", o.str().c_str());
  } else {
    std::fprintf(stderr, "error: %s%s%s: %s%s\n", code_name(st.error_code()), reason.empty() ? "" : " reason=",
                 reason.c_str(), st.error_message().c_str(),
                 d.has_retry_after() ? (" (retry after " + std::to_string(d.retry_after().seconds()) + "s)").c_str()
                                     : "");
  }
  return kExitRpc;
}

class Ctl {
 public:
  explicit Ctl(Options o) : o_(std::move(o)) {
    std::shared_ptr<grpc::ChannelCredentials> creds;
    if (o_.insecure) {
      creds = grpc::InsecureChannelCredentials();
    } else {
      if (o_.ca.empty() || o_.cert.empty() || o_.key.empty()) {
        usage_error("mTLS needs --cert, --key and --ca (or --insecure for a lab agent)");
      }
      grpc::SslCredentialsOptions ssl;
      ssl.pem_root_certs = read_file(o_.ca);
      ssl.pem_cert_chain = read_file(o_.cert);
      ssl.pem_private_key = read_file(o_.key);
      creds = grpc::SslCredentials(ssl);
    }
    stub_ = pb::FirewallControl::NewStub(grpc::CreateChannel(o_.agent, creds));
  }

  int run() {
    Args a(o_.args);
    const std::string& c = o_.command;
    if (c == "list") return list(a);
    if (c == "get") return get(a);
    if (c == "reserve") return reserve(a);
    if (c == "enable") return enable(a);
    if (c == "release") return release(a);
    if (c == "renew") return renew(a);
    if (c == "drain") return drain(a);
    if (c == "watch") return watch(a);
    if (c == "caps") return caps(a);
    usage_error("unknown command '" + c + "'");
  }

 private:
  void deadline(grpc::ClientContext& ctx) const {
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(o_.timeout_s));
  }
  pb::WriteMeta meta() const {
    if (o_.owner.empty()) {
      usage_error("this command changes state: --owner is required (and --token, the owner's fencing token)");
    }
    pb::WriteMeta m;
    m.set_request_id(uuid4());
    m.set_owner(o_.owner);
    m.set_fencing_token(o_.token);
    return m;
  }

  int list(Args& a) {
    const auto group = a.value("--group");
    a.done();
    std::vector<pb::Binding> all;
    std::string token;
    do {
      pb::ListBindingsRequest req;
      req.set_owner(o_.owner);
      req.set_group_id(group.value_or(""));
      req.set_page_size(1000);
      req.set_page_token(token);
      pb::ListBindingsResponse resp;
      grpc::ClientContext ctx;
      deadline(ctx);
      const grpc::Status st = stub_->ListBindings(&ctx, req, &resp);
      if (!st.ok()) {
        return report(st, ctx, o_.json);
      }
      all.insert(all.end(), resp.bindings().begin(), resp.bindings().end());
      token = resp.next_page_token();
    } while (!token.empty());
    print_bindings(all, o_.json);
    return kExitOk;
  }

  int get(Args& a) {
    const auto id = a.positional();
    if (!id) {
      usage_error("get needs a binding ID");
    }
    a.done();
    pb::GetBindingRequest req;
    req.set_owner(o_.owner);
    req.set_binding_id(*id);
    pb::GetBindingResponse resp;
    grpc::ClientContext ctx;
    deadline(ctx);
    const grpc::Status st = stub_->GetBinding(&ctx, req, &resp);
    if (!st.ok()) {
      return report(st, ctx, o_.json);
    }
    print_bindings({resp.binding()}, o_.json);
    return kExitOk;
  }

  int reserve(Args& a) {
    pb::ReserveBindingRequest req;
    const auto priv = a.value("--private");
    if (!priv) {
      usage_error("reserve needs --private IP:PORT");
    }
    auto ep = Endpoint::parse(*priv);
    if (!ep.ok()) {
      usage_error("--private: " + ep.error().message);
    }
    req.mutable_private_endpoint()->set_ip(std::string(ep->address().bytes()));
    req.mutable_private_endpoint()->set_port(ep->port());
    const auto ports = number(a.value("--ports").value_or("1"), "--ports", 2);
    if (ports == 0) {
      usage_error("--ports must be 1 or 2");
    }
    req.set_port_count(static_cast<std::uint32_t>(ports));
    req.set_parity(ports == 2 ? pb::PARITY_EVEN : pb::PARITY_ANY);
    req.set_protocol(a.flag("--tcp") ? pb::PROTOCOL_TCP : pb::PROTOCOL_UDP);
    if (const auto pp = a.value("--public-port")) {
      auto* p = req.mutable_public_port();
      p->mutable_suggested()->set_port(static_cast<std::uint32_t>(number(*pp, "--public-port", 65535)));
      p->set_mode(a.flag("--exact") ? pb::PublicPortRequest::MODE_EXACT_OR_FAIL : pb::PublicPortRequest::MODE_PREFER);
    } else if (a.flag("--exact")) {
      usage_error("--exact needs --public-port");
    }
    req.mutable_lease()->mutable_lifetime()->set_seconds(
        static_cast<std::int64_t>(number(a.value("--lifetime").value_or("3600"), "--lifetime", 10'000'000)));
    if (const auto idle = a.value("--idle-timeout")) {
      req.mutable_lease()->mutable_idle_timeout()->set_seconds(
          static_cast<std::int64_t>(number(*idle, "--idle-timeout", 10'000'000)));
    }
    // An operator holds no Session, so a session-bound binding would be refused (NO_SESSION).
    req.mutable_lease()->set_liveness(pb::LIVENESS_LIFETIME_ONLY);
    req.set_group_id(a.value("--group").value_or(""));
    req.set_natural_key(a.value("--key").value_or(""));
    req.set_realm(a.value("--realm").value_or(""));
    a.done();
    *req.mutable_meta() = meta();
    pb::ReserveBindingResponse resp;
    grpc::ClientContext ctx;
    deadline(ctx);
    const grpc::Status st = stub_->ReserveBinding(&ctx, req, &resp);
    if (!st.ok()) {
      return report(st, ctx, o_.json);
    }
    print_bindings({resp.binding()}, o_.json);
    return kExitOk;
  }

  int enable(Args& a) {
    const auto id = a.positional();
    const auto remotes = a.values("--remote");
    const bool latch = a.flag("--latch");
    a.done();
    if (!id || remotes.empty()) {
      usage_error("enable needs ID and at least one --remote IP[:PORT]");
    }
    pb::EnablePinholesRequest req;
    req.set_binding_id(*id);
    for (const std::string& r : remotes) {
      pb::RemoteSpec* spec = req.add_remotes();
      if (auto ip = IpAddress::parse(r); ip.ok()) {
        if (!latch) {
          usage_error("--remote " + r + " has no port: give IP:PORT, or --latch to learn the port");
        }
        spec->set_ip(std::string(ip->bytes()));
        spec->mutable_latch();
        continue;
      }
      auto ep = Endpoint::parse(r);
      if (!ep.ok()) {
        usage_error("--remote: " + ep.error().message);
      }
      if (latch) {
        usage_error("--latch learns the port: give --remote IP without a port");
      }
      spec->set_ip(std::string(ep->address().bytes()));
      spec->set_port(ep->port());
    }
    *req.mutable_meta() = meta();
    pb::EnablePinholesResponse resp;
    grpc::ClientContext ctx;
    deadline(ctx);
    const grpc::Status st = stub_->EnablePinholes(&ctx, req, &resp);
    if (!st.ok()) {
      return report(st, ctx, o_.json);
    }
    print_bindings({resp.binding()}, o_.json);
    return kExitOk;
  }

  int release(Args& a) {
    pb::ReleaseRequest req;
    if (const auto g = a.value("--group")) {
      req.set_group_id(*g);
    } else if (const auto id = a.positional()) {
      req.set_binding_id(*id);
    } else {
      usage_error("release needs ID or --group G");
    }
    a.done();
    *req.mutable_meta() = meta();
    pb::ReleaseResponse resp;
    grpc::ClientContext ctx;
    deadline(ctx);
    const grpc::Status st = stub_->Release(&ctx, req, &resp);
    if (!st.ok()) {
      return report(st, ctx, o_.json);
    }
    if (o_.json) {
      std::printf("{\"existed\":%s,\"released\":%d}\n", resp.existed() ? "true" : "false", resp.final_state_size());
    } else {
      std::printf(resp.existed() ? "released %d binding(s)\n" : "nothing to release (already gone)\n",
                  resp.final_state_size());
    }
    return kExitOk;
  }

  int renew(Args& a) {
    const auto id = a.positional();
    const auto lifetime = a.value("--lifetime");
    a.done();
    if (!id || !lifetime) {
      usage_error("renew needs ID and --lifetime S");
    }
    pb::RenewRequest req;
    req.set_binding_id(*id);
    req.mutable_lifetime()->set_seconds(static_cast<std::int64_t>(number(*lifetime, "--lifetime", 10'000'000)));
    *req.mutable_meta() = meta();
    pb::RenewResponse resp;
    grpc::ClientContext ctx;
    deadline(ctx);
    const grpc::Status st = stub_->Renew(&ctx, req, &resp);
    if (!st.ok()) {
      return report(st, ctx, o_.json);
    }
    print_bindings({resp.bindings().begin(), resp.bindings().end()}, o_.json);
    return kExitOk;
  }

  int drain(Args& a) {
    const bool off = a.flag("--off");
    a.done();
    pb::SetDrainingRequest req;
    req.set_mode(off ? pb::SetDrainingRequest::MODE_RESUME : pb::SetDrainingRequest::MODE_DRAIN);
    pb::SetDrainingResponse resp;
    grpc::ClientContext ctx;
    deadline(ctx);
    const grpc::Status st = stub_->SetDraining(&ctx, req, &resp);
    if (!st.ok()) {
      return report(st, ctx, o_.json);
    }
    if (o_.json) {
      std::printf("{\"draining\":%s,\"bindings\":%llu}\n", resp.draining() ? "true" : "false",
                  static_cast<unsigned long long>(resp.bindings()));
    } else {
      std::printf("%s (%llu bindings held)\n", resp.draining() ? "draining: new bindings are refused" : "accepting new bindings",
                  static_cast<unsigned long long>(resp.bindings()));
    }
    return kExitOk;
  }

  int caps(Args& a) {
    a.done();
    pb::GetCapabilitiesResponse resp;
    grpc::ClientContext ctx;
    deadline(ctx);
    const grpc::Status st = stub_->GetCapabilities(&ctx, pb::GetCapabilitiesRequest{}, &resp);
    if (!st.ok()) {
      return report(st, ctx, o_.json);
    }
    const auto& c = resp.capabilities();
    if (o_.json) {
      std::ostringstream o;
      o << "{\"agent_id\":" << json_escape(resp.agent().agent_id()) << ",\"state_epoch\":" << resp.agent().state_epoch()
        << ",\"epoch_seconds\":" << resp.agent().epoch_seconds() << ",\"max_lifetime_s\":" << c.max_lifetime().seconds()
        << ",\"session_ttl_s\":" << c.session_ttl().seconds() << ",\"pools\":[";
      for (int i = 0; i < c.pools_size(); ++i) {
        o << (i ? "," : "") << "{\"public_ip\":" << json_escape(ip_text(c.pools(i).public_ip()))
          << ",\"first_port\":" << c.pools(i).first_port() << ",\"last_port\":" << c.pools(i).last_port()
          << ",\"realm\":" << json_escape(c.pools(i).realm()) << "}";
      }
      o << "]}";
      std::printf("%s\n", o.str().c_str());
    } else {
      std::printf("agent %s  state_epoch %016llx  up %us in epoch\n", resp.agent().agent_id().c_str(),
                  static_cast<unsigned long long>(resp.agent().state_epoch()), resp.agent().epoch_seconds());
      for (const auto& p : c.pools()) {
        std::printf("pool %s ports %u..%u realm '%s'\n", ip_text(p.public_ip()).c_str(), p.first_port(),
                    p.last_port(), p.realm().c_str());
      }
      std::printf("max_lifetime %llds  session_ttl %llds  max_bindings %llu\n",
                  static_cast<long long>(c.max_lifetime().seconds()), static_cast<long long>(c.session_ttl().seconds()),
                  static_cast<unsigned long long>(c.max_bindings()));
    }
    return kExitOk;
  }

  int watch(Args& a) {
    const auto count = a.value("--count");
    const std::uint64_t max_events = count ? number(*count, "--count", UINT64_MAX) : 0;
    a.done();
    static std::atomic<bool> interrupted{false};
    std::signal(SIGINT, [](int) { interrupted = true; });
    std::signal(SIGTERM, [](int) { interrupted = true; });

    grpc::ClientContext ctx;  // no deadline: a watch runs until stopped
    auto stream = stub_->Session(&ctx);
    pb::SessionRequest hello;
    hello.mutable_hello()->set_protocol_version("fcp.v1");
    hello.mutable_hello()->set_controller_instance("portcullisctl");
    // Watch without claiming: an operator must never take an owner away from its controller.
    hello.mutable_hello()->add_watch_owners(o_.owner.empty() ? "*" : o_.owner);
    if (!stream->Write(hello)) {
      return report(stream->Finish(), ctx, o_.json);
    }
    pb::SessionResponse resp;
    if (!stream->Read(&resp) || !resp.has_hello_ack()) {
      return report(stream->Finish(), ctx, o_.json);
    }
    const auto hb = std::chrono::seconds(std::max<std::int64_t>(1, resp.hello_ack().heartbeat_interval().seconds()));
    if (!o_.json) {
      std::fprintf(stderr, "watching %s on %s (session %s); Ctrl-C to stop\n",
                   o_.owner.empty() ? "every permitted owner" : o_.owner.c_str(), o_.agent.c_str(),
                   resp.hello_ack().session_id().c_str());
    }
    std::atomic<bool> done{false};
    std::mutex write_mu;
    // Heartbeats keep the session lease; the same thread turns Ctrl-C into a cancel.
    std::thread keeper([&] {
      auto next = std::chrono::steady_clock::now() + hb;
      while (!done) {
        if (interrupted) {
          ctx.TryCancel();
          return;
        }
        if (std::chrono::steady_clock::now() >= next) {
          pb::SessionRequest beat;
          beat.mutable_heartbeat();
          std::lock_guard lock(write_mu);
          stream->Write(beat);
          next += hb;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    });
    std::uint64_t seen = 0;
    while (stream->Read(&resp)) {
      if (resp.has_event()) {
        print_event(resp.event(), o_.json);
        if (max_events != 0 && ++seen >= max_events) {
          break;
        }
      } else if (resp.has_go_away()) {
        std::fprintf(stderr, "agent sent GoAway (%s)\n", cause_name(resp.go_away().cause()).c_str());
        break;
      }
    }
    done = true;
    ctx.TryCancel();
    keeper.join();
    const grpc::Status st = stream->Finish();
    if (interrupted || (max_events != 0 && seen >= max_events) || st.ok() ||
        st.error_code() == grpc::StatusCode::CANCELLED) {
      return kExitOk;
    }
    return report(st, ctx, o_.json);
  }

  Options o_;
  std::unique_ptr<pb::FirewallControl::Stub> stub_;
};

}  // namespace

int main(int argc, char** argv) {
  Options o;
  std::vector<std::string> rest;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&](const char* name) -> std::string {
      if (i + 1 >= argc) {
        usage_error(std::string(name) + " needs a value");
      }
      return argv[++i];
    };
    if (!o.command.empty()) {
      rest.push_back(a);
    } else if (a == "--agent") {
      o.agent = next("--agent");
    } else if (a == "--cert") {
      o.cert = next("--cert");
    } else if (a == "--key") {
      o.key = next("--key");
    } else if (a == "--ca") {
      o.ca = next("--ca");
    } else if (a == "--insecure") {
      o.insecure = true;
    } else if (a == "--owner") {
      o.owner = next("--owner");
    } else if (a == "--token") {
      o.token = number(next("--token"), "--token", UINT64_MAX);
    } else if (a == "--json") {
      o.json = true;
    } else if (a == "--timeout") {
      o.timeout_s = static_cast<int>(number(next("--timeout"), "--timeout", 3600));
    } else if (a == "--help" || a == "-h") {
      std::printf("%s", kUsage);
      return kExitOk;
    } else if (a.rfind("--", 0) == 0) {
      usage_error("unknown option '" + a + "'");
    } else {
      o.command = a;
    }
  }
  if (o.command.empty()) {
    usage_error("a COMMAND is required");
  }
  // Global options may also follow the command (portcullisctl list --json): take them out of
  // the command's arguments.
  std::vector<std::string> args;
  for (std::size_t i = 0; i < rest.size(); ++i) {
    const std::string& s = rest[i];
    if (s == "--json") {
      o.json = true;
    } else if (s == "--insecure") {
      o.insecure = true;
    } else if ((s == "--owner" || s == "--token" || s == "--agent") && i + 1 < rest.size()) {
      const std::string& v = rest[++i];
      if (s == "--owner") {
        o.owner = v;
      } else if (s == "--token") {
        o.token = number(v, "--token", UINT64_MAX);
      } else {
        o.agent = v;
      }
    } else {
      args.push_back(s);
    }
  }
  o.args = std::move(args);
  return Ctl(std::move(o)).run();
}
