#include <set>

#include <catch2/catch.hpp>
#include <linux/netfilter/nf_tables.h>

#include "pinhole-agent/backend/nft/nft_encoding.h"
#include "pinhole-agent/backend/nft/nft_ruleset.h"

using namespace portcullis::agent;
using namespace portcullis::agent::nft;

TEST_CASE("set specs: layouts and unique ids", "[unit][nft]") {
  NftBackendConfig cfg;
  cfg.wan_interfaces = {"wan0"};
  const auto sets = set_specs(cfg);
  REQUIRE(sets.size() == 7);
  std::set<std::uint32_t> ids;
  for (const SetSpec& s : sets) {
    ids.insert(s.id);
    CHECK((s.flags & NFT_SET_TIMEOUT) != 0);  // every element is leased
    CHECK(s.key_len % 4 == 0);
  }
  CHECK(ids.size() == sets.size());
  CHECK(sets[0].name == "bind_in4");
  CHECK(sets[0].is_map);
  CHECK(sets[0].data_len == 8);
  CHECK(sets[2].name == "bind_mark4");
  CHECK(sets[2].data_type == kTypeMark);
  CHECK(sets[3].name == "pin4");
  CHECK(sets[3].key_len == 16);
  CHECK((sets[3].flags & NFT_SET_EVAL) != 0);  // written by the latch rule's dynset
  CHECK(sets[5].name == "pin6");
  CHECK(sets[5].key_len == 40);

  cfg.ipv6 = false;
  CHECK(set_specs(cfg).size() == 5);
}

TEST_CASE("rules: one DNAT/SNAT per WAN, forward pinhole checks before accepts", "[unit][nft]") {
  NftBackendConfig cfg;
  cfg.wan_interfaces = {"wan0", "wan1"};
  cfg.lan_interfaces = {"lan0"};
  cfg.ipv6 = false;
  const auto sets = set_specs(cfg);
  const auto rules = make_rules(cfg, "portcullis", sets);
  int dnat = 0;
  int snat = 0;
  std::vector<std::string> fwd;
  for (const RuleSpec& r : rules) {
    REQUIRE(r.rule != nullptr);
    if (r.chain == "nat_pre") {
      ++dnat;
    }
    if (r.description.rfind("binding SNAT", 0) == 0) {
      ++snat;
    }
    if (r.chain == "filter_fwd") {
      fwd.push_back(r.description);
    }
  }
  CHECK(dnat == 2);
  CHECK(snat == 2);
  REQUIRE(fwd.size() == 7);  // + one non-UDP accept per (lan, wan) pair
  CHECK(fwd[0] == "drop ct state invalid");
  CHECK(fwd[1].find("pinhole check") == 0);
  CHECK(fwd[2].find("pinhole check") == 0);
  CHECK(fwd[3].find("one-shot latch") == 0);
  CHECK(fwd.back() == "accept established/related non-UDP");
}
