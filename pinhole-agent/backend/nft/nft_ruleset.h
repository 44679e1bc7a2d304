// The static part of the owned table: set/map definitions, base chains and their rules, built as
// libnftnl objects. The layout is the one validated in /work/shared/docs/nft-lab (see README.md).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "pinhole-agent/backend/nft/nft_backend.h"
#include "pinhole-agent/backend/nft/nft_raii.h"

namespace portcullis::agent::nft {

inline constexpr char kBindIn4[] = "bind_in4";
inline constexpr char kBindOut4[] = "bind_out4";
inline constexpr char kBindMark4[] = "bind_mark4";
inline constexpr char kPin4[] = "pin4";
inline constexpr char kLatch4[] = "latch4";
inline constexpr char kPin6[] = "pin6";
inline constexpr char kLatch6[] = "latch6";

struct SetSpec {
  std::string name;
  std::uint32_t key_type = 0;
  std::uint32_t key_len = 0;
  bool is_map = false;
  std::uint32_t data_type = 0;
  std::uint32_t data_len = 0;
  std::uint32_t flags = 0;  // NFT_SET_*
  std::uint32_t size = 0;
  std::uint32_t id = 0;  // NFTA_SET_ID: lets rules in the same batch reference a new set
};

std::vector<SetSpec> set_specs(const NftBackendConfig& config);
SetPtr make_set(const std::string& table, const SetSpec& spec);

struct ChainSpec {
  std::string name;
  std::string type;  // "nat" or "filter"
  std::uint32_t hook = 0;
  std::int32_t priority = 0;
  std::uint32_t policy = 0;  // NF_ACCEPT / NF_DROP
};

std::vector<ChainSpec> chain_specs();
ChainPtr make_chain(const std::string& table, const ChainSpec& spec);

struct RuleSpec {
  std::string chain;
  std::string description;  // also stored as the rule's comment
  RulePtr rule;
};

/// Every rule of every chain, in order (rules are appended).
std::vector<RuleSpec> make_rules(const NftBackendConfig& config, const std::string& table,
                                 const std::vector<SetSpec>& sets);

}  // namespace portcullis::agent::nft
