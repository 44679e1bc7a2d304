// Test support for the transaction layer: a FakeClock-driven harness in the style of
// reSIProcate's TFSM scripts (inject wire / TU events, advance time, expect exact output), and
// SIP messages written as text.
#pragma once

#include <catch2/catch.hpp>

#include <chrono>
#include <deque>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/time/fake_clock.h"
#include "controller/sip/message/sip_message.h"
#include "controller/sip/transaction/transaction_layer.h"

namespace portcullis::sip::test {

using namespace std::chrono_literals;

inline net::Endpoint ep(std::string_view text) { return net::Endpoint::parse(text).value(); }

inline const Peer kUacUdp{TransportProtocol::kUdp, ep("192.0.2.10:5060"), 0};
inline const Peer kUacTcp{TransportProtocol::kTcp, ep("192.0.2.10:40001"), 7};
inline const Peer kNextHopUdp{TransportProtocol::kUdp, ep("198.51.100.20:5060"), 0};
inline const Peer kNextHopTcp{TransportProtocol::kTcp, ep("198.51.100.20:5060"), 9};

inline SipMessage parse(std::string text) {
  auto parsed = SipMessage::parse(std::move(text));
  INFO("parse error: " << (parsed ? "" : parsed.error().reason));
  REQUIRE(parsed.ok());
  return std::move(parsed).value();
}

inline std::string first_line(std::string_view bytes) {
  return std::string(bytes.substr(0, bytes.find("\r\n")));
}

/// Fluent description of a test request (designated initializers trip GCC's
/// -Wmissing-field-initializers).
struct Req {
  std::string method_ = "INVITE";
  std::string branch_ = "z9hG4bKclient1";
  std::string via_host_ = "192.0.2.10:5060";
  std::string via_transport_ = "UDP";
  std::string via_params_;  // e.g. ";rport"
  std::string to_tag_;
  std::uint32_t cseq_ = 1;

  Req& method(std::string v) { method_ = std::move(v); return *this; }
  Req& branch(std::string v) { branch_ = std::move(v); return *this; }
  Req& via_host(std::string v) { via_host_ = std::move(v); return *this; }
  Req& via_transport(std::string v) { via_transport_ = std::move(v); return *this; }
  Req& via_params(std::string v) { via_params_ = std::move(v); return *this; }
  Req& to_tag(std::string v) { to_tag_ = std::move(v); return *this; }
  Req& cseq(std::uint32_t v) { cseq_ = v; return *this; }
};

/// A request as a UAC (192.0.2.10) would send it.
inline std::string request_text(const Req& s = Req()) {
  std::string out = s.method_ + " sip:bob@example.com SIP/2.0\r\n";
  out += "Via: SIP/2.0/" + s.via_transport_ + " " + s.via_host_ +
         (s.branch_.empty() ? std::string() : ";branch=" + s.branch_) + s.via_params_ + "\r\n";
  out += "Max-Forwards: 70\r\n";
  out += "Route: <sip:proxy.example.com;lr>\r\n";
  out += "From: Alice <sip:alice@example.com>;tag=fromtag1\r\n";
  out += "To: Bob <sip:bob@example.com>" +
         (s.to_tag_.empty() ? std::string() : ";tag=" + s.to_tag_) + "\r\n";
  out += "Call-ID: call-1@192.0.2.10\r\n";
  out += "CSeq: " + std::to_string(s.cseq_) + " " + s.method_ + "\r\n";
  out += "Contact: <sip:alice@192.0.2.10>\r\n";
  out += "Content-Length: 0\r\n\r\n";
  return out;
}

/// A response to `request` (text) with the given To tag.
inline std::string response_text(const std::string& request, std::uint16_t status,
                                 std::string_view to_tag = "totag1") {
  const SipMessage req = parse(request);
  return make_response(req, status, {}, to_tag);
}

/// The TFSM-style script driver.
class Script {
 public:
  explicit Script(TransactionConfig config = {}) : layer_(clock_, config) {}

  TransactionLayer& layer() { return layer_; }
  FakeClock& clock() { return clock_; }
  Clock::TimePoint start() const { return start_; }
  /// Milliseconds since the script started.
  std::int64_t elapsed_ms() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(clock_.now() - start_).count();
  }

  // ---- events ----
  void wire(std::string text, const Peer& from) {
    layer_.receive(parse(std::move(text)), from);
    collect();
  }
  TransactionId tu_send(std::string text, const Peer& to) {
    auto r = layer_.send_request(parse(std::move(text)), to);
    REQUIRE(r.ok());
    collect();
    return *r;
  }
  void tu_respond(TransactionId txn, std::uint16_t status, std::string_view to_tag = "uastag") {
    auto r = layer_.respond(txn, status, {}, to_tag);
    REQUIRE(r.ok());
    collect();
  }
  void tu_send_response(TransactionId txn, std::string text) {
    auto r = layer_.send_response(txn, parse(std::move(text)));
    REQUIRE(r.ok());
    collect();
  }
  /// Advances the fake clock by d and fires due timers.
  void advance(Clock::Duration d) {
    clock_.advance(d);
    layer_.advance(clock_.now());
    collect();
  }
  /// Advances to the next timer deadline (if any, and not beyond `limit` from start).
  bool advance_to_next(Clock::Duration limit) {
    const auto next = layer_.next_deadline();
    if (!next || *next - start_ > limit) {
      return false;
    }
    advance(*next - clock_.now());
    return true;
  }
  void collect() {
    for (auto& a : layer_.take_actions()) {
      out_.push_back(Stamped{std::move(a), elapsed_ms()});
    }
  }

  // ---- expectations ----
  template <class T>
  T expect() {
    INFO("expected output at t=" << elapsed_ms() << "ms, queue size " << out_.size());
    REQUIRE(!out_.empty());
    INFO("next action index " << out_.front().action.index());
    REQUIRE(std::holds_alternative<T>(out_.front().action));
    T a = std::get<T>(std::move(out_.front().action));
    last_at_ms_ = out_.front().at_ms;
    out_.pop_front();
    return a;
  }
  SendAction expect_send(TransactionId txn, std::string_view start_line) {
    SendAction s = expect<SendAction>();
    CHECK(s.txn == txn);
    CHECK(first_line(s.bytes) == start_line);
    return s;
  }
  RequestAction expect_request(TransactionId txn, Method method) {
    RequestAction r = expect<RequestAction>();
    CHECK(r.txn == txn);
    REQUIRE(r.request != nullptr);
    CHECK(r.request->method() == method);
    return r;
  }
  ResponseAction expect_response(TransactionId txn, std::uint16_t status) {
    ResponseAction r = expect<ResponseAction>();
    CHECK(r.txn == txn);
    REQUIRE(r.response != nullptr);
    CHECK(r.response->status_code() == status);
    return r;
  }
  void expect_timeout(TransactionId txn, TimerName timer) {
    TimeoutAction t = expect<TimeoutAction>();
    CHECK(t.txn == txn);
    CHECK(t.timer == timer);
  }
  void expect_terminated(TransactionId txn) {
    TerminatedAction t = expect<TerminatedAction>();
    CHECK(t.txn == txn);
  }
  void expect_nothing() {
    INFO("unexpected output at t=" << elapsed_ms() << "ms, first index "
                                   << (out_.empty() ? -1 : static_cast<int>(out_.front().action.index())));
    CHECK(out_.empty());
  }
  /// When the last expected action was produced, in ms since start.
  std::int64_t last_at_ms() const { return last_at_ms_; }

  /// Runs timers until `limit` and returns the times (ms) at which `txn` sent something; stops
  /// at termination. Other output is kept for later expectations only if it is not a send.
  std::vector<std::int64_t> send_times_until(TransactionId txn, Clock::Duration limit) {
    std::vector<std::int64_t> times;
    while (advance_to_next(limit)) {
      while (!out_.empty() && std::holds_alternative<SendAction>(out_.front().action)) {
        CHECK(std::get<SendAction>(out_.front().action).txn == txn);
        times.push_back(out_.front().at_ms);
        out_.pop_front();
      }
      if (!out_.empty()) {
        break;  // something else (timeout / terminated) for the caller to expect
      }
    }
    return times;
  }

 private:
  struct Stamped {
    Action action;
    std::int64_t at_ms = 0;
  };
  FakeClock clock_;
  Clock::TimePoint start_ = clock_.now();
  TransactionLayer layer_;
  std::deque<Stamped> out_;
  std::int64_t last_at_ms_ = 0;
};

}  // namespace portcullis::sip::test
