// fcp_bench: load generator for the pinhole agent over FCP (gRPC), and a UDP packet
// generator/sink for forwarding measurements. Run by bench/agent_bench.sh; never timed in CI.
//
//   fcp_bench [conn] cycle --count N --concurrency C
//       N reserve+enable+release cycles (3 unary RPCs each) from C threads, one in flight per
//       thread. Prints cycles/s and the latency of reserve+enable (p50/p99/max) and release.
//   fcp_bench [conn] apply --count N --batch B --concurrency C
//       N bindings through the Apply RPC: per batch one Apply with B reserves + B enables
//       (natural keys), then one Apply with B releases. ops = operations in Apply requests.
//   fcp_bench [conn] fill --count N --batch B --concurrency C [--first I]
//       create N bindings (reserve+enable, Apply batches of B) and keep them; binding i uses
//       private 10.64.0.0+i/50000 : 2000+i%50000 and remote 198.51.100.2:(1024+i%60000).
//   fcp_bench [conn] hold --private IP:PORT --remote IP:PORT --public-port P
//       one binding with an exact public port (the forwarding flow); prints its public endpoint
//   fcp_bench udp-flood --from IP:PORT --to IP:PORT --seconds S [--size BYTES]
//   fcp_bench udp-sink --bind IP:PORT --seconds S
//       blast UDP datagrams (sendmmsg) / count them; print packets and packets/s.
//
// conn: --agent HOST:PORT and --insecure, or --ca/--cert/--key for mTLS. --owner-prefix NAME
// (default "bench"); each thread acts for its own owner NAME/t<k> with fencing token 1.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <grpcpp/grpcpp.h>

#include "fcp/v1/fcp.grpc.pb.h"

namespace {

namespace pb = ::portcullis::fcp::v1;
using Clock = std::chrono::steady_clock;

struct Options {
  std::string agent = "127.0.0.1:7443";
  std::string ca, cert, key;
  bool insecure = false;
  std::string mode;
  std::map<std::string, std::string> values;
};

[[noreturn]] void die(const std::string& message) {
  std::fprintf(stderr, "fcp_bench: %s\n", message.c_str());
  std::exit(2);
}

std::string opt(const Options& o, const std::string& name, const std::string& fallback = "") {
  const auto it = o.values.find(name);
  if (it != o.values.end()) {
    return it->second;
  }
  if (fallback.empty()) {
    die(o.mode + " needs " + name);
  }
  return fallback;
}

std::uint64_t num(const Options& o, const std::string& name, const std::string& fallback = "") {
  return std::stoull(opt(o, name, fallback));
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

sockaddr_in sockaddr_of(const std::string& text) {
  const auto colon = text.rfind(':');
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  if (colon == std::string::npos || inet_pton(AF_INET, text.substr(0, colon).c_str(), &sa.sin_addr) != 1) {
    die("want IPv4:PORT, got " + text);
  }
  sa.sin_port = htons(static_cast<std::uint16_t>(std::stoul(text.substr(colon + 1))));
  return sa;
}

pb::Endpoint endpoint(std::uint32_t host_order_ip, std::uint32_t port) {
  pb::Endpoint e;
  const std::uint32_t be = htonl(host_order_ip);
  e.set_ip(std::string(reinterpret_cast<const char*>(&be), 4));
  e.set_port(port);
  return e;
}

pb::Endpoint endpoint(const std::string& text) {
  const sockaddr_in sa = sockaddr_of(text);
  return endpoint(ntohl(sa.sin_addr.s_addr), ntohs(sa.sin_port));
}

/// The i-th binding's private endpoint and remote: unique, never on a configured network.
pb::Endpoint private_of(std::uint64_t i) {
  return endpoint(0x0A400000u + static_cast<std::uint32_t>(i / 50000), 2000 + static_cast<std::uint32_t>(i % 50000));
}
pb::Endpoint remote_of(std::uint64_t i) {
  return endpoint(0xC6336402u, 1024 + static_cast<std::uint32_t>(i % 60000));  // 198.51.100.2
}

struct Percentiles {
  double p50 = 0, p99 = 0, max = 0;
};
Percentiles percentiles(std::vector<double> v) {
  Percentiles p;
  if (v.empty()) {
    return p;
  }
  std::sort(v.begin(), v.end());
  p.p50 = v[v.size() / 2];
  p.p99 = v[std::min(v.size() - 1, v.size() * 99 / 100)];
  p.max = v.back();
  return p;
}

double us_since(Clock::time_point t) {
  return std::chrono::duration<double, std::micro>(Clock::now() - t).count();
}

class Bench {
 public:
  explicit Bench(const Options& o) : o_(o) {
    std::shared_ptr<grpc::ChannelCredentials> creds;
    if (o.insecure) {
      creds = grpc::InsecureChannelCredentials();
    } else {
      grpc::SslCredentialsOptions ssl;
      ssl.pem_root_certs = read_file(o.ca);
      ssl.pem_cert_chain = read_file(o.cert);
      ssl.pem_private_key = read_file(o.key);
      creds = grpc::SslCredentials(ssl);
    }
    // One channel per thread (own HTTP/2 connection) so the client side is not the bottleneck.
    const auto threads = o.values.count("--concurrency") != 0 ? num(o, "--concurrency") : 1;
    for (std::uint64_t i = 0; i < threads; ++i) {
      grpc::ChannelArguments args;
      args.SetInt("grpc.channel_id", static_cast<int>(i));  // distinct channels, not shared subchannels
      stubs_.push_back(pb::FirewallControl::NewStub(grpc::CreateCustomChannel(o.agent, creds, args)));
    }
    prefix_ = opt(o, "--owner-prefix", "bench");
  }

  int run() {
    if (o_.mode == "cycle") {
      return cycle();
    }
    if (o_.mode == "apply") {
      return apply();
    }
    if (o_.mode == "fill") {
      return fill();
    }
    if (o_.mode == "hold") {
      return hold();
    }
    die("unknown mode " + o_.mode);
  }

 private:
  pb::WriteMeta meta(std::size_t thread) {
    pb::WriteMeta m;
    m.set_request_id("b" + std::to_string(::getpid()) + "-" + std::to_string(request_seq_.fetch_add(1)));
    m.set_owner(prefix_ + "/t" + std::to_string(thread));
    m.set_fencing_token(1);
    return m;
  }

  static void deadline(grpc::ClientContext& ctx) {
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  }

  bool check(const grpc::Status& st, const char* what) {
    if (st.ok()) {
      return true;
    }
    if (errors_.fetch_add(1) < 5) {
      std::fprintf(stderr, "%s: %d %s\n", what, static_cast<int>(st.error_code()), st.error_message().c_str());
    }
    return false;
  }

  pb::ReserveBindingRequest reserve_req(std::uint64_t i) {
    pb::ReserveBindingRequest r;
    r.set_protocol(pb::PROTOCOL_UDP);
    *r.mutable_private_endpoint() = private_of(i);
    r.set_port_count(1);
    r.set_parity(pb::PARITY_ANY);
    r.mutable_lease()->mutable_lifetime()->set_seconds(3600);
    r.mutable_lease()->set_liveness(pb::LIVENESS_LIFETIME_ONLY);
    return r;
  }

  int cycle() {
    const std::uint64_t n = num(o_, "--count");
    const std::size_t c = stubs_.size();
    std::vector<std::vector<double>> create_us(c), release_us(c);
    const auto start = Clock::now();
    std::vector<std::thread> threads;
    for (std::size_t t = 0; t < c; ++t) {
      threads.emplace_back([&, t] {
        auto& stub = *stubs_[t];
        for (std::uint64_t i = t; i < n; i += c) {
          const auto t0 = Clock::now();
          pb::ReserveBindingRequest rr = reserve_req(i);
          *rr.mutable_meta() = meta(t);
          pb::ReserveBindingResponse rresp;
          grpc::ClientContext c1;
          deadline(c1);
          if (!check(stub.ReserveBinding(&c1, rr, &rresp), "reserve")) {
            continue;
          }
          pb::EnablePinholesRequest er;
          *er.mutable_meta() = meta(t);
          er.set_binding_id(rresp.binding().binding_id());
          const pb::Endpoint remote = remote_of(i);
          auto* spec = er.add_remotes();
          spec->set_ip(remote.ip());
          spec->set_port(remote.port());
          pb::EnablePinholesResponse eresp;
          grpc::ClientContext c2;
          deadline(c2);
          check(stub.EnablePinholes(&c2, er, &eresp), "enable");
          create_us[t].push_back(us_since(t0));
          const auto t1 = Clock::now();
          pb::ReleaseRequest rel;
          *rel.mutable_meta() = meta(t);
          rel.set_binding_id(rresp.binding().binding_id());
          pb::ReleaseResponse relresp;
          grpc::ClientContext c3;
          deadline(c3);
          check(stub.Release(&c3, rel, &relresp), "release");
          release_us[t].push_back(us_since(t1));
        }
      });
    }
    for (auto& th : threads) {
      th.join();
    }
    const double secs = us_since(start) / 1e6;
    std::vector<double> all_create, all_release;
    for (std::size_t t = 0; t < c; ++t) {
      all_create.insert(all_create.end(), create_us[t].begin(), create_us[t].end());
      all_release.insert(all_release.end(), release_us[t].begin(), release_us[t].end());
    }
    const Percentiles pc = percentiles(all_create);
    const Percentiles pr = percentiles(all_release);
    std::printf("cycle concurrency=%zu cycles=%llu seconds=%.2f cycles_per_s=%.0f rpcs_per_s=%.0f "
                "reserve_enable_us p50=%.0f p99=%.0f max=%.0f release_us p50=%.0f p99=%.0f errors=%llu\n",
                c, static_cast<unsigned long long>(n), secs, n / secs, 3 * n / secs, pc.p50, pc.p99, pc.max,
                pr.p50, pr.p99, static_cast<unsigned long long>(errors_.load()));
    return errors_ == 0 ? 0 : 1;
  }

  /// One Apply with `ops` built by `fill_ops`; returns the RPC latency in µs (or -1 on error).
  double apply_once(std::size_t t, const std::function<void(pb::ApplyRequest&)>& fill_ops) {
    pb::ApplyRequest req;
    *req.mutable_meta() = meta(t);
    fill_ops(req);
    pb::ApplyResponse resp;
    grpc::ClientContext ctx;
    deadline(ctx);
    const auto t0 = Clock::now();
    const bool ok = check(stubs_[t]->Apply(&ctx, req, &resp), "apply");
    return ok ? us_since(t0) : -1;
  }

  void add_creates(pb::ApplyRequest& req, std::uint64_t first, std::uint64_t count, const std::string& group) {
    for (std::uint64_t i = first; i < first + count; ++i) {
      pb::ReserveBindingRequest r = reserve_req(i);
      r.set_natural_key("k" + std::to_string(i));
      r.set_group_id(group);
      *req.add_operations()->mutable_reserve() = std::move(r);
    }
    for (std::uint64_t i = first; i < first + count; ++i) {
      auto* e = req.add_operations()->mutable_enable();
      e->set_natural_key("k" + std::to_string(i));
      const pb::Endpoint remote = remote_of(i);
      auto* spec = e->add_remotes();
      spec->set_ip(remote.ip());
      spec->set_port(remote.port());
    }
  }

  int apply() {
    const std::uint64_t n = num(o_, "--count");
    const std::uint64_t b = num(o_, "--batch");
    const std::size_t c = stubs_.size();
    std::vector<std::vector<double>> create_us(c), release_us(c);
    std::atomic<std::uint64_t> next{0};
    const auto start = Clock::now();
    std::vector<std::thread> threads;
    for (std::size_t t = 0; t < c; ++t) {
      threads.emplace_back([&, t] {
        while (true) {
          const std::uint64_t first = next.fetch_add(b);
          if (first >= n) {
            return;
          }
          const std::uint64_t count = std::min(b, n - first);
          const double cu = apply_once(t, [&](pb::ApplyRequest& req) { add_creates(req, first, count, ""); });
          if (cu >= 0) {
            create_us[t].push_back(cu);
          }
          const double ru = apply_once(t, [&](pb::ApplyRequest& req) {
            for (std::uint64_t i = first; i < first + count; ++i) {
              req.add_operations()->mutable_release()->set_natural_key("k" + std::to_string(i));
            }
          });
          if (ru >= 0) {
            release_us[t].push_back(ru);
          }
        }
      });
    }
    for (auto& th : threads) {
      th.join();
    }
    const double secs = us_since(start) / 1e6;
    std::vector<double> ac, ar;
    for (std::size_t t = 0; t < c; ++t) {
      ac.insert(ac.end(), create_us[t].begin(), create_us[t].end());
      ar.insert(ar.end(), release_us[t].begin(), release_us[t].end());
    }
    const Percentiles pc = percentiles(ac);
    const Percentiles pr = percentiles(ar);
    std::printf("apply concurrency=%zu batch=%llu bindings=%llu seconds=%.2f ops_per_s=%.0f cycles_per_s=%.0f "
                "apply_create_us p50=%.0f p99=%.0f apply_release_us p50=%.0f p99=%.0f errors=%llu\n",
                c, static_cast<unsigned long long>(b), static_cast<unsigned long long>(n), secs, 3 * n / secs,
                n / secs, pc.p50, pc.p99, pr.p50, pr.p99, static_cast<unsigned long long>(errors_.load()));
    return errors_ == 0 ? 0 : 1;
  }

  int fill() {
    const std::uint64_t n = num(o_, "--count");
    const std::uint64_t b = num(o_, "--batch");
    const std::uint64_t base = num(o_, "--first", "0");
    // Time budget: stop starting batches after this long and report what was created.
    const double max_seconds = std::stod(opt(o_, "--max-seconds", "1e9"));
    const std::size_t c = stubs_.size();
    std::atomic<std::uint64_t> next{0};
    std::atomic<std::uint64_t> created{0};
    const auto start = Clock::now();
    std::vector<std::thread> threads;
    for (std::size_t t = 0; t < c; ++t) {
      threads.emplace_back([&, t] {
        while (errors_ == 0 && us_since(start) / 1e6 < max_seconds) {
          const std::uint64_t first = next.fetch_add(b);
          if (first >= n) {
            return;
          }
          const std::uint64_t count = std::min(b, n - first);
          if (apply_once(t, [&](pb::ApplyRequest& req) {
                add_creates(req, base + first, count, "g" + std::to_string((base + first) / b));
              }) >= 0) {
            created += count;
          }
        }
      });
    }
    for (auto& th : threads) {
      th.join();
    }
    const double secs = us_since(start) / 1e6;
    if (created != n) {
      std::printf("fill stopped by --max-seconds %.0f: created=%llu of %llu\n", max_seconds,
                  static_cast<unsigned long long>(created.load()), static_cast<unsigned long long>(n));
    }
    std::printf("fill concurrency=%zu batch=%llu bindings=%llu first=%llu seconds=%.2f bindings_per_s=%.0f "
                "ops_per_s=%.0f errors=%llu\n",
                c, static_cast<unsigned long long>(b), static_cast<unsigned long long>(created.load()),
                static_cast<unsigned long long>(base), secs, created / secs, 2 * created / secs,
                static_cast<unsigned long long>(errors_.load()));
    return errors_ == 0 ? 0 : 1;
  }

  int hold() {
    pb::ReserveBindingRequest r;
    *r.mutable_meta() = meta(0);
    r.set_protocol(pb::PROTOCOL_UDP);
    *r.mutable_private_endpoint() = endpoint(opt(o_, "--private"));
    r.set_port_count(1);
    r.set_parity(pb::PARITY_ANY);
    r.mutable_public_port()->mutable_suggested()->set_port(static_cast<std::uint32_t>(num(o_, "--public-port")));
    r.mutable_public_port()->set_mode(pb::PublicPortRequest::MODE_EXACT_OR_FAIL);
    r.mutable_lease()->mutable_lifetime()->set_seconds(3600);
    r.mutable_lease()->set_liveness(pb::LIVENESS_LIFETIME_ONLY);
    pb::ReserveBindingResponse rr;
    grpc::ClientContext c1;
    deadline(c1);
    if (!check(stubs_[0]->ReserveBinding(&c1, r, &rr), "reserve")) {
      return 1;
    }
    pb::EnablePinholesRequest e;
    *e.mutable_meta() = meta(0);
    e.set_binding_id(rr.binding().binding_id());
    const pb::Endpoint remote = endpoint(opt(o_, "--remote"));
    auto* spec = e.add_remotes();
    spec->set_ip(remote.ip());
    spec->set_port(remote.port());
    pb::EnablePinholesResponse er;
    grpc::ClientContext c2;
    deadline(c2);
    if (!check(stubs_[0]->EnablePinholes(&c2, e, &er), "enable")) {
      return 1;
    }
    std::printf("hold binding=%s public_port=%u\n", er.binding().binding_id().c_str(),
                er.binding().public_endpoint().port());
    return 0;
  }

  const Options& o_;
  std::vector<std::unique_ptr<pb::FirewallControl::Stub>> stubs_;
  std::string prefix_;
  std::atomic<std::uint64_t> request_seq_{0};
  std::atomic<std::uint64_t> errors_{0};
};

int udp_flood(const Options& o) {
  const sockaddr_in from = sockaddr_of(opt(o, "--from"));
  const sockaddr_in to = sockaddr_of(opt(o, "--to"));
  const double seconds = std::stod(opt(o, "--seconds"));
  const std::size_t size = num(o, "--size", "64");
  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&from), sizeof from) != 0 ||
      ::connect(fd, reinterpret_cast<const sockaddr*>(&to), sizeof to) != 0) {
    die(std::string("udp-flood socket: ") + std::strerror(errno));
  }
  constexpr int kBatch = 64;
  std::vector<char> payload(size, 'x');
  iovec iov{payload.data(), payload.size()};
  mmsghdr msgs[kBatch]{};
  for (auto& m : msgs) {
    m.msg_hdr.msg_iov = &iov;
    m.msg_hdr.msg_iovlen = 1;
  }
  std::uint64_t sent = 0;
  const auto start = Clock::now();
  const auto end = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  while (Clock::now() < end) {
    const int n = ::sendmmsg(fd, msgs, kBatch, 0);
    if (n > 0) {
      sent += static_cast<std::uint64_t>(n);
    }
  }
  const double secs = us_since(start) / 1e6;
  std::printf("udp-flood sent=%llu seconds=%.2f pps=%.0f\n", static_cast<unsigned long long>(sent), secs, sent / secs);
  ::close(fd);
  return 0;
}

int udp_sink(const Options& o) {
  const sockaddr_in at = sockaddr_of(opt(o, "--bind"));
  const double seconds = std::stod(opt(o, "--seconds"));
  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  const int one = 1;
  const int rcvbuf = 8 << 20;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&at), sizeof at) != 0) {
    die(std::string("udp-sink bind: ") + std::strerror(errno));
  }
  timeval tv{0, 100'000};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  constexpr int kBatch = 64;
  std::vector<std::vector<char>> bufs(kBatch, std::vector<char>(2048));
  std::vector<iovec> iovs(kBatch);
  mmsghdr msgs[kBatch]{};
  for (int i = 0; i < kBatch; ++i) {
    iovs[i] = {bufs[i].data(), bufs[i].size()};
    msgs[i].msg_hdr.msg_iov = &iovs[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }
  std::uint64_t got = 0;
  Clock::time_point first{}, last{};
  const auto end = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  while (Clock::now() < end) {
    const int n = ::recvmmsg(fd, msgs, kBatch, MSG_WAITFORONE, nullptr);
    if (n > 0) {
      if (got == 0) {
        first = Clock::now();
      }
      got += static_cast<std::uint64_t>(n);
      last = Clock::now();
    }
  }
  const double secs = got > 1 ? std::chrono::duration<double>(last - first).count() : 0;
  std::printf("udp-sink received=%llu seconds=%.2f pps=%.0f\n", static_cast<unsigned long long>(got), secs,
              secs > 0 ? got / secs : 0.0);
  ::close(fd);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--insecure") {
      o.insecure = true;
    } else if (a.rfind("--", 0) == 0) {
      if (i + 1 >= argc) {
        die(a + " needs a value");
      }
      const std::string v = argv[++i];
      if (a == "--agent") {
        o.agent = v;
      } else if (a == "--ca") {
        o.ca = v;
      } else if (a == "--cert") {
        o.cert = v;
      } else if (a == "--key") {
        o.key = v;
      } else {
        o.values[a] = v;
      }
    } else if (o.mode.empty()) {
      o.mode = a;
    } else {
      die("unexpected argument '" + a + "'");
    }
  }
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  if (o.mode == "udp-flood") {
    return udp_flood(o);
  }
  if (o.mode == "udp-sink") {
    return udp_sink(o);
  }
  if (o.mode.empty() || (!o.insecure && o.ca.empty())) {
    die("usage: fcp_bench (--insecure | --ca F --cert F --key F) --agent HOST:PORT cycle|apply|fill|hold ... "
        "| udp-flood | udp-sink");
  }
  return Bench(o).run();
}
