// Messages per second on one core for the SIP message layer.
//   index-only: SipMessage::parse — start line, header index, eager validation of the
//               transaction-critical headers (what every received message pays);
//   full typed: parse + validate_all() + reading the typed headers a proxy/registrar uses.
// Each iteration copies the datagram into a fresh buffer, as a receive path would.
#include <string>
#include <string_view>

#include <benchmark/benchmark.h>

#include "controller/sip/message/sip_message.h"

using namespace portcullis::sip;

namespace {

constexpr std::string_view kInvite =
    "INVITE sip:bob@biloxi.example.com SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bK74bf9;rport\r\n"
    "Max-Forwards: 70\r\n"
    "From: \"Alice\" <sip:alice@atlanta.example.com>;tag=9fxced76sl\r\n"
    "To: Bob <sip:bob@biloxi.example.com>\r\n"
    "Call-ID: 3848276298220188511@atlanta.example.com\r\n"
    "CSeq: 1 INVITE\r\n"
    "Contact: <sip:alice@10.0.0.2:5060;transport=udp>\r\n"
    "Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, REFER\r\n"
    "Supported: timer, replaces\r\n"
    "User-Agent: Portcullis-Bench/1.0\r\n"
    "Content-Type: application/sdp\r\n"
    "Content-Length: 149\r\n"
    "\r\n"
    "v=0\r\n"
    "o=alice 2890844526 2890844526 IN IP4 10.0.0.2\r\n"
    "s=-\r\n"
    "c=IN IP4 10.0.0.2\r\n"
    "t=0 0\r\n"
    "m=audio 49170 RTP/AVP 0 8 101\r\n"
    "a=rtpmap:101 telephone-event/8000\r\n";

constexpr std::string_view kRegister =
    "REGISTER sip:registrar.biloxi.example.com SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 10.0.0.3:5060;branch=z9hG4bKnashds7;rport\r\n"
    "Max-Forwards: 70\r\n"
    "To: Bob <sip:bob@biloxi.example.com>\r\n"
    "From: Bob <sip:bob@biloxi.example.com>;tag=456248\r\n"
    "Call-ID: 843817637684230@998sdasdh09\r\n"
    "CSeq: 1826 REGISTER\r\n"
    "Contact: <sip:bob@10.0.0.3:5060>;expires=3600\r\n"
    "Expires: 7200\r\n"
    "User-Agent: Portcullis-Bench/1.0\r\n"
    "Content-Length: 0\r\n"
    "\r\n";

void parse_index_only(benchmark::State& state, std::string_view wire) {
  for (auto _ : state) {
    auto msg = SipMessage::parse(std::string(wire));
    if (!msg) {
      state.SkipWithError("parse failed");
      return;
    }
    benchmark::DoNotOptimize(msg->call_id().data());
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(wire.size()));
}

void parse_full(benchmark::State& state, std::string_view wire) {
  for (auto _ : state) {
    auto msg = SipMessage::parse(std::string(wire));
    if (!msg || !msg->validate_all()) {
      state.SkipWithError("parse failed");
      return;
    }
    benchmark::DoNotOptimize(msg->contact().ok());
    benchmark::DoNotOptimize(msg->content_type().ok());
    benchmark::DoNotOptimize(msg->supported().ok());
    benchmark::DoNotOptimize(msg->expires().ok());
    benchmark::DoNotOptimize(msg->request_uri().host.data());
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(wire.size()));
}

void BM_Invite_IndexOnly(benchmark::State& s) { parse_index_only(s, kInvite); }
void BM_Invite_FullTyped(benchmark::State& s) { parse_full(s, kInvite); }
void BM_Register_IndexOnly(benchmark::State& s) { parse_index_only(s, kRegister); }
void BM_Register_FullTyped(benchmark::State& s) { parse_full(s, kRegister); }

BENCHMARK(BM_Invite_IndexOnly);
BENCHMARK(BM_Invite_FullTyped);
BENCHMARK(BM_Register_IndexOnly);
BENCHMARK(BM_Register_FullTyped);

}  // namespace

BENCHMARK_MAIN();
