// Dialog shard affinity (ProxyConfig::route_shard, loop_detection.h): the pc-shard parameter a
// sharded core writes into its Record-Route values, read back from untrusted Route headers, and
// the record-routes of real call flows through ProxyCore — plain, RFC 5658 doubled, and under
// topology hiding in both directions.
#include "controller/proxy/loop_detection.h"
#include "tests/unit/controller/proxy/proxy_harness.h"

namespace portcullis::proxy::test {
namespace {

using sip::HeaderId;

std::optional<std::uint8_t> shard_of_uri(const std::string& text) {
  auto uri = sip::parse_uri(text);
  REQUIRE(uri.ok());
  return route_shard(*uri);
}

/// An in-dialog BYE from bob (on the WAN) whose request line and Route are as given.
std::string bye(const std::string& ruri, const std::vector<std::string>& routes) {
  Request r;
  r.method = "BYE";
  r.ruri = ruri;
  r.via = "SIP/2.0/UDP 198.51.100.20:5060;branch=z9hG4bK-b1";
  r.from = "<sip:bob@biloxi.example>;tag=b-tag";
  r.to = "<sip:alice@example.com>;tag=a-tag";
  r.contact.clear();
  for (const std::string& route : routes) {
    r.extra.push_back("Route: " + route);
  }
  return r.text();
}

TEST_CASE("shard affinity: pc-shard is written into our Record-Route value and read back", "[unit]") {
  CHECK(with_route_shard("<sip:192.0.2.10:5060;lr>", 0) == "<sip:192.0.2.10:5060;lr;pc-shard=0>");
  CHECK(with_route_shard("<sip:192.0.2.10:5060;transport=tcp;lr;pc-flow=udp~10.0.0.2~5060>", 255) ==
        "<sip:192.0.2.10:5060;transport=tcp;lr;pc-flow=udp~10.0.0.2~5060;pc-shard=255>");
  CHECK(with_route_shard("sip:192.0.2.10;lr", 7) == "sip:192.0.2.10;lr;pc-shard=7");
  for (int shard : {0, 1, 2, 63, 254, 255}) {
    const std::string value = with_route_shard("<sip:192.0.2.10:5060;lr>", static_cast<std::uint8_t>(shard));
    auto na = sip::parse_name_addr(value);
    REQUIRE(na.ok());
    CHECK(route_shard(na->uri) == std::optional<std::uint8_t>(static_cast<std::uint8_t>(shard)));
  }
  CHECK(shard_of_uri("sip:192.0.2.10;lr;PC-SHARD=3") == std::optional<std::uint8_t>(3));  // names: any case
  CHECK(shard_of_uri("sip:192.0.2.10;lr;pc-shard=007") == std::optional<std::uint8_t>(7));
}

TEST_CASE("shard affinity: a malformed pc-shard from the wire reads as no shard", "[unit]") {
  CHECK_FALSE(shard_of_uri("sip:192.0.2.10;lr").has_value());
  // (";pc-shard=" with an empty value does not even parse as a URI.)
  for (const char* bad : {"256", "999", "1000", "0001", "-1", "+1", "1a", "0x1", "%31",
                          "18446744073709551617", "99999999999999999999999999"}) {
    INFO("pc-shard=" << bad);
    CHECK_FALSE(shard_of_uri(std::string("sip:192.0.2.10;lr;pc-shard=") + bad).has_value());
  }
  CHECK_FALSE(shard_of_uri("sip:192.0.2.10;lr;pc-shard").has_value());  // no value
}

TEST_CASE("shard affinity: only a leading Route of ours, or our strict-routed R-URI, names the shard",
          "[unit]") {
  const ProxyConfig config = base_config();
  const ProxyIdentity identity(config);
  const std::string ours = "<sip:192.0.2.10:5060;lr;pc-shard=3>";
  const std::string ours_plain = "<sip:192.0.2.10:5060;lr>";
  const std::string foreign = "<sip:198.51.100.99:5060;lr;pc-shard=5>";

  CHECK(dialog_shard(parse(bye("sip:bob@198.51.100.20", {ours})), identity) == std::optional<std::uint8_t>(3));
  // RFC 5658 pair: the first of ours without a shard, the second with one.
  CHECK(dialog_shard(parse(bye("sip:bob@198.51.100.20", {ours_plain + ", " + ours})), identity) ==
        std::optional<std::uint8_t>(3));
  // Our alias spelling names us too.
  CHECK(dialog_shard(parse(bye("sip:bob@198.51.100.20", {"<sip:proxy.example.com;lr;pc-shard=1>"})), identity) ==
        std::optional<std::uint8_t>(1));
  // Someone else's parameter, or ours behind someone else's Route, is not ours to act on.
  CHECK_FALSE(dialog_shard(parse(bye("sip:bob@198.51.100.20", {foreign})), identity).has_value());
  CHECK_FALSE(dialog_shard(parse(bye("sip:bob@198.51.100.20", {foreign, ours})), identity).has_value());
  CHECK_FALSE(dialog_shard(parse(bye("sip:bob@198.51.100.20", {})), identity).has_value());
  CHECK_FALSE(dialog_shard(parse(bye("sip:bob@198.51.100.20", {ours_plain})), identity).has_value());
  // A malformed Route: no shard (the core that handles it answers 400).
  CHECK_FALSE(dialog_shard(parse(bye("sip:bob@198.51.100.20", {"<sip:192.0.2.10;lr;pc-shard=3"})), identity)
                  .has_value());
  // A malformed value on ours: no shard, whatever follows.
  CHECK_FALSE(
      dialog_shard(parse(bye("sip:bob@198.51.100.20", {"<sip:192.0.2.10:5060;lr;pc-shard=300>"})), identity)
          .has_value());
  // §16.4: the previous hop was a strict router and put our Record-Route URI in the R-URI.
  CHECK(dialog_shard(parse(bye("sip:192.0.2.10:5060;lr;pc-shard=2", {"<sip:bob@198.51.100.20>"})), identity) ==
        std::optional<std::uint8_t>(2));
  // Only the leading run of ours, and at most a few of them, are looked at.
  std::vector<std::string> many(8, ours_plain);
  many.push_back(ours);
  CHECK_FALSE(dialog_shard(parse(bye("sip:bob@198.51.100.20", many)), identity).has_value());
  many.erase(many.begin());
  CHECK(dialog_shard(parse(bye("sip:bob@198.51.100.20", many)), identity) == std::optional<std::uint8_t>(3));
  // Responses have no dialog owner by Route (their branch names their shard).
  const sip::SipMessage response =
      parse(sip::make_response(parse(bye("sip:bob@198.51.100.20", {ours})), 200, {}, "t", {}));
  CHECK_FALSE(dialog_shard(response, identity).has_value());
}

TEST_CASE("shard affinity: a sharded core stamps both of its Record-Route entries, an unsharded one none",
          "[unit]") {
  for (const bool sharded : {true, false}) {
    ProxyConfig config = base_config();
    if (sharded) {
      config.route_shard = 3;
    }
    Harness h(config);
    h.resolver.add("biloxi.example", {kCarolServer});
    Request r;
    r.ruri = "sip:carol@biloxi.example";
    r.to = "<sip:carol@biloxi.example>";
    h.receive(r.text(), kAliceNat);  // behind a NAT: her flow token, so two entries (RFC 5658)
    auto out = h.expect({kAliceNat, kCarolServer});
    const auto rr = values(out[1], HeaderId::kRecordRoute);
    REQUIRE(rr.size() == 2);
    INFO(rr[0] << " / " << rr[1]);
    if (sharded) {
      CHECK(rr[0] == "<sip:192.0.2.10:5060;lr;pc-shard=3>");
      CHECK(rr[1] == "<sip:192.0.2.10:5060;lr;pc-flow=udp~203.0.113.5~40000;pc-shard=3>");
    } else {
      CHECK(rr[0] == "<sip:192.0.2.10:5060;lr>");
      CHECK(rr[1] == "<sip:192.0.2.10:5060;lr;pc-flow=udp~203.0.113.5~40000>");
    }

    // Carol (UAS) routes her BYE along the Record-Route as received (§12.1.1): it names the
    // shard, and the stamped route still pops and still leads to alice's flow.
    h.receive(answer(out[1], 200, "c-tag", "<sip:carol@198.51.100.20:5060>"), kCarolServer);
    auto ok = h.expect({kAliceNat});
    CHECK(values(ok[0], HeaderId::kRecordRoute) == rr);
    Request b;
    b.method = "BYE";
    b.ruri = "sip:alice@10.0.0.2:5060";
    b.via = "SIP/2.0/UDP 198.51.100.20:5060;branch=z9hG4bK-c9";
    b.from = "<sip:carol@biloxi.example>;tag=c-tag";
    b.to = "<sip:bob@example.com>;tag=a-tag";
    b.contact.clear();
    b.extra = {"Route: " + rr[0] + ", " + rr[1]};
    const sip::SipMessage carol_bye = parse(b.text());
    CHECK(dialog_shard(carol_bye, h.proxy().identity()) ==
          (sharded ? std::optional<std::uint8_t>(3) : std::nullopt));
    h.receive(b.text(), kCarolServer);
    auto fwd = h.expect({kAliceNat});
    CHECK(fwd[0].start_line() == "BYE sip:alice@10.0.0.2:5060 SIP/2.0");
    CHECK(fwd[0].find(HeaderId::kRoute) == nullptr);
  }
}

TEST_CASE("shard affinity: topology hiding keeps the shard on both sides and hides the LAN", "[unit]") {
  ProxyConfig cfg = lan_wan_config();
  cfg.interfaces[0].hide_topology = true;
  cfg.topology_key = "test-key";
  cfg.route_shard = 1;
  Harness h(cfg);
  h.resolver.add("biloxi.example", {kCarolServer});
  const Peer alice_lan = udp("10.0.0.2:5060");

  SECTION("LAN caller: both route sets name the shard, the WAN sees no LAN address") {
    Request r;
    r.ruri = "sip:carol@biloxi.example";
    r.to = "<sip:carol@biloxi.example>";
    r.via = "SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bK-l1;rport";
    h.receive(r.text(), alice_lan);
    auto out = h.expect({alice_lan, kCarolServer});
    const sip::SipMessage& fwd = out[1];
    const auto rr = values(fwd, HeaderId::kRecordRoute);
    REQUIRE(rr.size() == 2);
    CHECK(rr[0] == "<sip:192.0.2.10:5060;lr;pc-shard=1>");
    CHECK(rr[1].starts_with("<sip:192.0.2.10:5060;lr;pc-rr="));
    CHECK(rr[1].ends_with(";pc-shard=1>"));
    for (const auto& h2 : fwd.headers()) {
      CHECK(h2.value.find("10.0.0.") == std::string_view::npos);
    }

    // Carol's route set (the Record-Route in order) names shard 1, also from the hidden entry alone.
    CHECK(dialog_shard(parse(bye(std::string("sip:alice@192.0.2.10:5060"), {rr[0] + ", " + rr[1]})),
                       h.proxy().identity()) == std::optional<std::uint8_t>(1));
    const std::string hidden_without_outer = rr[1].substr(0, rr[1].size() - std::string(";pc-shard=1>").size()) + ">";
    CHECK(dialog_shard(parse(bye("sip:alice@192.0.2.10:5060", {hidden_without_outer})), h.proxy().identity()) ==
          std::optional<std::uint8_t>(1));

    // Alice gets the LAN-facing entry back decoded, with its shard: her BYE (route set reversed,
    // §12.1.2) starts with it.
    h.receive(answer(fwd, 200, "c-tag", "<sip:carol@198.51.100.20:5060>"), kCarolServer);
    auto ok = h.expect({alice_lan});
    const auto alice_rr = values(ok[0], HeaderId::kRecordRoute);
    CHECK(alice_rr == std::vector<std::string>{"<sip:192.0.2.10:5060;lr;pc-shard=1>",
                                               "<sip:10.0.0.1:5060;lr;pc-flow=udp~10.0.0.2~5060;pc-shard=1>"});
    Request ab;
    ab.method = "BYE";
    ab.ruri = "sip:carol@198.51.100.20:5060";
    ab.via = "SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bK-l2;rport";
    ab.to = "<sip:carol@biloxi.example>;tag=c-tag";
    ab.cseq = 2;
    ab.contact.clear();
    ab.extra = {"Route: " + alice_rr[1] + ", " + alice_rr[0]};
    CHECK(dialog_shard(parse(ab.text()), h.proxy().identity()) == std::optional<std::uint8_t>(1));
    h.receive(ab.text(), alice_lan);
    auto b = h.expect({kCarolServer});
    CHECK(b[0].start_line() == "BYE sip:carol@198.51.100.20:5060 SIP/2.0");
    CHECK(b[0].find(HeaderId::kRoute) == nullptr);
    CHECK_FALSE(std::string(b[0].call_id()).find("10.0.0.") != std::string::npos);
  }

  SECTION("WAN caller: the LAN-facing entry is re-encoded on the way out, the WAN's first entry names the shard") {
    h.register_user("alice", "<sip:alice@10.0.0.2:5060>", alice_lan, "10.0.0.2:5060");
    Request r;
    r.ruri = "sip:alice@example.com";
    r.to = "<sip:alice@example.com>";
    r.from = "<sip:carol@biloxi.example>;tag=c-tag";
    r.via = "SIP/2.0/UDP 198.51.100.20:5060;branch=z9hG4bK-w1";
    r.contact = "<sip:carol@198.51.100.20:5060>";
    h.receive(r.text(), kCarolServer);
    auto out = h.expect({kCarolServer, alice_lan});
    const auto rr = values(out[1], HeaderId::kRecordRoute);
    REQUIRE(rr.size() == 2);
    for (const std::string& v : rr) {
      CHECK(v.find(";pc-shard=1") != std::string::npos);
    }
    h.receive(answer(out[1], 200, "a-tag", "<sip:alice@10.0.0.2:5060>"), alice_lan);
    auto ok = h.expect({kCarolServer});
    for (const auto& h2 : ok[0].headers()) {
      CHECK(h2.value.find("10.0.0.") == std::string_view::npos);
    }
    auto carol_rr = values(ok[0], HeaderId::kRecordRoute);
    REQUIRE(carol_rr.size() == 2);
    // Carol is the UAC: her route set is the Record-Route reversed (§12.1.2).
    std::reverse(carol_rr.begin(), carol_rr.end());
    CHECK(dialog_shard(parse(bye("sip:alice@192.0.2.10:5060", {carol_rr[0] + ", " + carol_rr[1]})),
                       h.proxy().identity()) == std::optional<std::uint8_t>(1));
    // The re-encoded LAN-facing entry still carries the shard inside its token.
    CHECK(carol_rr[1].find("pc-rr=") != std::string::npos);
    CHECK(dialog_shard(parse(bye("sip:alice@192.0.2.10:5060", {carol_rr[1]})), h.proxy().identity()) ==
          std::optional<std::uint8_t>(1));
  }
}

}  // namespace
}  // namespace portcullis::proxy::test
