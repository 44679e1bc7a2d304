// Test support for the proxy: a FakeResolver (NextHopResolver fake), SIP messages written as
// text, and a Harness that drives a real TransactionLayer + ProxyCore + Registrar on a FakeClock
// through a fake wire (collect SendActions, feed messages back). Nothing sleeps.
#pragma once

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/base/text.h"
#include "common/time/fake_clock.h"
#include "controller/proxy/proxy_core.h"
#include "controller/registrar/in_memory_location_store.h"
#include "controller/registrar/registrar.h"
#include "controller/sip/message/sip_message.h"
#include "controller/sip/transaction/stateless.h"

namespace portcullis::proxy::test {

using namespace std::chrono_literals;
using sip::Peer;
using sip::TransportProtocol;

inline net::Endpoint ep(std::string_view text) { return net::Endpoint::parse(text).value(); }
inline Peer udp(std::string_view endpoint) { return Peer{TransportProtocol::kUdp, ep(endpoint), 0}; }
inline Peer tcp(std::string_view endpoint, std::uint64_t conn) {
  return Peer{TransportProtocol::kTcp, ep(endpoint), conn};
}

inline sip::SipMessage parse(std::string text) {
  auto parsed = sip::SipMessage::parse(std::move(text));
  INFO("parse error: " << (parsed ? "" : parsed.error().reason));
  REQUIRE(parsed.ok());
  return std::move(parsed).value();
}

inline std::string first_line(std::string_view bytes) {
  return std::string(bytes.substr(0, bytes.find("\r\n")));
}

/// Every value of header `id`, one per field, in order.
inline std::vector<std::string> values(const sip::SipMessage& m, sip::HeaderId id) {
  std::vector<std::string> out;
  for (const sip::HeaderField& f : m.headers()) {
    if (f.id == id) {
      out.emplace_back(f.value);
    }
  }
  return out;
}
inline std::string value(const sip::SipMessage& m, sip::HeaderId id) {
  const sip::HeaderField* f = m.find(id);
  return f != nullptr ? std::string(f->value) : std::string();
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE(in.good());
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// NextHopResolver fake: a host → candidates table; IP literals resolve to themselves (port
/// 5060, transport from the URI's transport parameter). `deferred` holds callbacks until
/// complete_all(), to exercise asynchronous resolution.
class FakeResolver final : public NextHopResolver {
 public:
  void add(std::string host, std::vector<Peer> hops) { table_[lower(host)] = std::move(hops); }
  void resolve(const sip::Uri& uri, Callback done) override {
    queries.emplace_back(uri.text);
    std::vector<Peer> hops;
    if (const auto it = table_.find(lower(std::string(uri.host))); it != table_.end()) {
      hops = it->second;
    } else {
      std::string_view host = uri.host;
      if (host.size() > 2 && host.front() == '[') {
        host = host.substr(1, host.size() - 2);
      }
      if (auto ip = net::IpAddress::parse(host)) {
        Peer p;
        p.transport = iequals(uri.transport(), "tcp") ? TransportProtocol::kTcp : TransportProtocol::kUdp;
        p.endpoint = net::Endpoint(*ip, uri.port.value_or(5060));
        hops.push_back(p);
      }
    }
    if (deferred) {
      pending_.emplace_back(std::move(hops), std::move(done));
    } else {
      done(std::move(hops));
    }
  }
  void complete_all() {
    auto pending = std::move(pending_);
    pending_.clear();
    for (auto& [hops, done] : pending) {
      done(std::move(hops));
    }
  }
  std::size_t pending() const { return pending_.size(); }

  bool deferred = false;
  std::vector<std::string> queries;

 private:
  static std::string lower(std::string s) {
    for (char& c : s) {
      c = ascii_lower(c);
    }
    return s;
  }
  std::map<std::string, std::vector<Peer>> table_;
  std::vector<std::pair<std::vector<Peer>, Callback>> pending_;
};

// ---- the topology every test uses ----
// proxy: 192.0.2.10:5060 (UDP, TCP) on "wan"; with lan: 10.0.0.1:5060 (UDP) for 10.0.0.0/8.
// alice: phone 10.0.0.2 behind NAT 203.0.113.5:40000; bob: phone 10.0.0.3 behind 203.0.113.6:41000.
inline const Peer kAliceNat = udp("203.0.113.5:40000");
inline const Peer kBobNat = udp("203.0.113.6:41000");
inline const Peer kBobMobileNat = udp("198.51.100.50:42000");
inline const Peer kCarolServer = udp("198.51.100.20:5060");

inline ProxyConfig base_config() {
  ProxyConfig c;
  c.domains = {"example.com"};
  ProxyInterface wan;
  wan.name = "wan";
  wan.listeners = {Listener{TransportProtocol::kUdp, ep("192.0.2.10:5060"), {}, 0},
                   Listener{TransportProtocol::kTcp, ep("192.0.2.10:5060"), {}, 0}};
  c.interfaces = {wan};
  c.aliases = {"proxy.example.com"};
  c.branch_seed = 42;
  return c;
}

inline ProxyConfig lan_wan_config() {
  ProxyConfig c = base_config();
  ProxyInterface lan;
  lan.name = "lan";
  lan.networks = {net::Prefix::parse("10.0.0.0/8").value()};
  lan.listeners = {Listener{TransportProtocol::kUdp, ep("10.0.0.1:5060"), {}, 0}};
  c.interfaces.insert(c.interfaces.begin(), lan);
  return c;
}

inline registrar::RegistrarConfig registrar_config() {
  registrar::RegistrarConfig c;
  c.domains = {"example.com"};
  return c;
}

/// A request from a phone (or a server) as text.
struct Request {
  std::string method = "INVITE";
  std::string ruri = "sip:bob@example.com";
  std::string via = "SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bK-a1;rport";
  std::string from = "\"Alice\" <sip:alice@example.com>;tag=a-tag";
  std::string to = "<sip:bob@example.com>";
  std::string call_id = "call-1@10.0.0.2";
  std::uint32_t cseq = 1;
  std::string cseq_method;  // empty: = method
  std::string contact = "<sip:alice@10.0.0.2:5060>";
  std::optional<int> max_forwards = 70;
  std::vector<std::string> extra;  // whole lines

  std::string text() const {
    std::string m = method + " " + ruri + " SIP/2.0\r\n";
    m += "Via: " + via + "\r\n";
    if (max_forwards) {
      m += "Max-Forwards: " + std::to_string(*max_forwards) + "\r\n";
    }
    m += "From: " + from + "\r\n";
    m += "To: " + to + "\r\n";
    m += "Call-ID: " + call_id + "\r\n";
    m += "CSeq: " + std::to_string(cseq) + " " + (cseq_method.empty() ? method : cseq_method) + "\r\n";
    if (!contact.empty()) {
      m += "Contact: " + contact + "\r\n";
    }
    for (const std::string& e : extra) {
      m += e + "\r\n";
    }
    m += "Content-Length: 0\r\n\r\n";
    return m;
  }
};

/// A UAS's response to a request it received (RFC 3261 §8.2.6, plus Record-Route copied and a
/// Contact for dialog-creating responses, §12.1.1).
inline std::string answer(const sip::SipMessage& request, std::uint16_t status, std::string_view to_tag,
                          std::string_view contact = {}) {
  std::vector<std::string> rr = values(request, sip::HeaderId::kRecordRoute);
  std::vector<sip::ExtraHeader> extra;
  if (status > 100 && status < 300) {
    for (const std::string& v : rr) {
      extra.push_back({"Record-Route", v});
    }
    if (!contact.empty()) {
      extra.push_back({"Contact", contact});
    }
  }
  return sip::make_response(request, status, {}, to_tag, extra);
}

class Harness {
 public:
  explicit Harness(ProxyConfig config = base_config(), bool with_registrar = true)
      : registrar_(registrar_config(), store_, clock_),
        proxy_(std::move(config), clock_, resolver, with_registrar ? &registrar_ : nullptr) {}

  void receive(const std::string& text, const Peer& from) { proxy_.receive(parse(text), from); }

  std::vector<sip::SendAction> sends() { return proxy_.take_sends(); }

  /// Exactly the sends queued since the last call, each checked for destination; returns the
  /// parsed messages in order.
  std::vector<sip::SipMessage> expect(const std::vector<Peer>& to) {
    std::vector<sip::SendAction> s = sends();
    std::string lines;
    for (const auto& a : s) {
      lines += a.to.endpoint.to_string() + " " + first_line(a.bytes) + "\n";
    }
    INFO("sent:\n" << lines);
    REQUIRE(s.size() == to.size());
    std::vector<sip::SipMessage> out;
    for (std::size_t i = 0; i < s.size(); ++i) {
      CHECK(s[i].to == to[i]);
      out.push_back(parse(s[i].bytes));
    }
    return out;
  }

  void advance(Clock::Duration d) {
    // Step through every deadline so timers fire in order, as a real timer would drive it.
    const auto end = clock_.now() + d;
    for (;;) {
      const auto next = proxy_.next_deadline();
      if (!next || *next > end) {
        break;
      }
      if (*next > clock_.now()) {
        clock_.advance(*next - clock_.now());
      }
      proxy_.advance(clock_.now());
    }
    clock_.advance(end - clock_.now());
    proxy_.advance(clock_.now());
  }

  /// REGISTERs `user` with `contact` from `from` (through the proxy) and checks the 200.
  void register_user(const std::string& user, const std::string& contact, const Peer& from,
                     const std::string& via_host, std::vector<std::string> extra = {}) {
    Request r;
    r.method = "REGISTER";
    r.ruri = "sip:example.com";
    r.via = "SIP/2.0/" + std::string(sip::transport_name(from.transport)) + " " + via_host +
            ";branch=z9hG4bK-reg-" + user + std::to_string(++reg_count_) + ";rport";
    r.from = "<sip:" + user + "@example.com>;tag=reg-" + user;
    r.to = "<sip:" + user + "@example.com>";
    r.call_id = "reg-" + user + "-" + std::to_string(reg_count_);
    r.contact = contact;
    r.extra = std::move(extra);
    receive(r.text(), from);
    auto out = expect({from});
    CHECK(first_line(out[0].start_line()) == "SIP/2.0 200 OK");
  }

  FakeClock& clock() { return clock_; }
  ProxyCore& proxy() { return proxy_; }
  registrar::InMemoryLocationStore& store() { return store_; }

  FakeResolver resolver;

 private:
  FakeClock clock_;
  registrar::InMemoryLocationStore store_;
  registrar::Registrar registrar_;
  ProxyCore proxy_;
  int reg_count_ = 0;
};

}  // namespace portcullis::proxy::test
