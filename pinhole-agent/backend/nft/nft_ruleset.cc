#include "pinhole-agent/backend/nft/nft_ruleset.h"

#include <array>
#include <cstring>
#include <stdexcept>

#include <arpa/inet.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_nat.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter_ipv4.h>
#include <net/if.h>

#include "pinhole-agent/backend/nft/nft_encoding.h"

namespace portcullis::agent::nft {

namespace {

constexpr std::uint8_t kUdataRuleComment = 0;  // NFTNL_UDATA_RULE_COMMENT
constexpr std::uint8_t kProtoUdp = 17;
constexpr std::uint8_t kProtoTcp = 6;

// ct state bits as the `ct state` expression loads them (NF_CT_STATE_BIT).
constexpr std::uint32_t kCtStateInvalid = 1u << 0;
constexpr std::uint32_t kCtStateEstablished = 1u << 1;
constexpr std::uint32_t kCtStateRelated = 1u << 2;
constexpr std::uint32_t kCtStateNew = 1u << 3;

// Header offsets.
constexpr std::uint32_t kIpv4Saddr = 12;
constexpr std::uint32_t kIpv4Daddr = 16;
constexpr std::uint32_t kIpv6Saddr = 8;
constexpr std::uint32_t kIpv6Daddr = 24;
constexpr std::uint32_t kUdpSport = 0;
constexpr std::uint32_t kUdpDport = 2;

/// The register a concatenation field at byte `offset` is loaded into. nft uses the legacy 128-bit
/// NFT_REG_1 for the first field and 32-bit registers after it; both address the same storage.
std::uint32_t concat_reg(std::uint32_t offset) {
  return offset == 0 ? static_cast<std::uint32_t>(NFT_REG_1) : NFT_REG32_00 + offset / 4;
}

struct Field {
  std::uint32_t base;  // NFT_PAYLOAD_NETWORK_HEADER / NFT_PAYLOAD_TRANSPORT_HEADER
  std::uint32_t offset;
  std::uint32_t len;
};

/// Builds one rule expression by expression. Expressions are owned by an ExprPtr until the rule
/// takes them.
class RuleBuilder {
 public:
  RuleBuilder(const std::string& table, const std::string& chain) : rule_(nftnl_rule_alloc()) {
    if (!rule_) {
      throw std::bad_alloc();
    }
    nftnl_rule_set_str(rule_.get(), NFTNL_RULE_TABLE, table.c_str());
    nftnl_rule_set_str(rule_.get(), NFTNL_RULE_CHAIN, chain.c_str());
    nftnl_rule_set_u32(rule_.get(), NFTNL_RULE_FAMILY, NFPROTO_INET);
  }

  RuleBuilder& meta_load(std::uint32_t key, std::uint32_t dreg = NFT_REG_1) {
    ExprPtr e = alloc("meta");
    nftnl_expr_set_u32(e.get(), NFTNL_EXPR_META_KEY, key);
    nftnl_expr_set_u32(e.get(), NFTNL_EXPR_META_DREG, dreg);
    return add(std::move(e));
  }

  RuleBuilder& cmp(std::uint32_t op, const void* data, std::uint32_t len,
                   std::uint32_t sreg = NFT_REG_1) {
    ExprPtr e = alloc("cmp");
    nftnl_expr_set_u32(e.get(), NFTNL_EXPR_CMP_SREG, sreg);
    nftnl_expr_set_u32(e.get(), NFTNL_EXPR_CMP_OP, op);
    nftnl_expr_set(e.get(), NFTNL_EXPR_CMP_DATA, data, len);
    return add(std::move(e));
  }

  RuleBuilder& interface(std::uint32_t meta_key, const std::string& name) {
    // Exact name match: the kernel compares the whole IFNAMSIZ buffer, NUL padded.
    std::array<char, IFNAMSIZ> buf{};
    std::strncpy(buf.data(), name.c_str(), buf.size() - 1);
    meta_load(meta_key);
    return cmp(NFT_CMP_EQ, buf.data(), buf.size());
  }

  RuleBuilder& l4proto(std::uint32_t op, std::uint8_t proto) {
    meta_load(NFT_META_L4PROTO);
    return cmp(op, &proto, 1);
  }

  RuleBuilder& nfproto(std::uint8_t family) {
    meta_load(NFT_META_NFPROTO);
    return cmp(NFT_CMP_EQ, &family, 1);
  }

  RuleBuilder& ct_state_any(std::uint32_t bits) {
    ExprPtr ct = alloc("ct");
    nftnl_expr_set_u32(ct.get(), NFTNL_EXPR_CT_KEY, NFT_CT_STATE);
    nftnl_expr_set_u32(ct.get(), NFTNL_EXPR_CT_DREG, NFT_REG_1);
    add(std::move(ct));
    const std::uint32_t zero = 0;
    ExprPtr bw = alloc("bitwise");
    nftnl_expr_set_u32(bw.get(), NFTNL_EXPR_BITWISE_SREG, NFT_REG_1);
    nftnl_expr_set_u32(bw.get(), NFTNL_EXPR_BITWISE_DREG, NFT_REG_1);
    nftnl_expr_set_u32(bw.get(), NFTNL_EXPR_BITWISE_LEN, sizeof(std::uint32_t));
    nftnl_expr_set(bw.get(), NFTNL_EXPR_BITWISE_MASK, &bits, sizeof(bits));
    nftnl_expr_set(bw.get(), NFTNL_EXPR_BITWISE_XOR, &zero, sizeof(zero));
    add(std::move(bw));
    return cmp(NFT_CMP_NEQ, &zero, sizeof(zero));
  }

  /// Loads the fields of a concatenation into consecutive registers starting at NFT_REG_1.
  RuleBuilder& concat(std::initializer_list<Field> fields) {
    std::uint32_t offset = 0;
    for (const Field& f : fields) {
      ExprPtr e = alloc("payload");
      nftnl_expr_set_u32(e.get(), NFTNL_EXPR_PAYLOAD_BASE, f.base);
      nftnl_expr_set_u32(e.get(), NFTNL_EXPR_PAYLOAD_OFFSET, f.offset);
      nftnl_expr_set_u32(e.get(), NFTNL_EXPR_PAYLOAD_LEN, f.len);
      nftnl_expr_set_u32(e.get(), NFTNL_EXPR_PAYLOAD_DREG, concat_reg(offset));
      add(std::move(e));
      offset += static_cast<std::uint32_t>(padded_len(f.len));
    }
    return *this;
  }

  RuleBuilder& lookup(const SetSpec& set, bool map_to_reg1 = false) {
    ExprPtr e = alloc("lookup");
    nftnl_expr_set_u32(e.get(), NFTNL_EXPR_LOOKUP_SREG, NFT_REG_1);
    if (map_to_reg1) {
      nftnl_expr_set_u32(e.get(), NFTNL_EXPR_LOOKUP_DREG, NFT_REG_1);
    }
    nftnl_expr_set_str(e.get(), NFTNL_EXPR_LOOKUP_SET, set.name.c_str());
    nftnl_expr_set_u32(e.get(), NFTNL_EXPR_LOOKUP_SET_ID, set.id);
    return add(std::move(e));
  }

  /// dnat/snat to the address in NFT_REG_1 and the port in the next 32-bit register (map data
  /// ipv4_addr . inet_service).
  RuleBuilder& nat(std::uint32_t type) {
    ExprPtr e = alloc("nat");
    nftnl_expr_set_u32(e.get(), NFTNL_EXPR_NAT_TYPE, type);
    nftnl_expr_set_u32(e.get(), NFTNL_EXPR_NAT_FAMILY, NFPROTO_IPV4);
    nftnl_expr_set_u32(e.get(), NFTNL_EXPR_NAT_REG_ADDR_MIN, NFT_REG_1);
    nftnl_expr_set_u32(e.get(), NFTNL_EXPR_NAT_REG_PROTO_MIN, concat_reg(4));
    return add(std::move(e));
  }

  RuleBuilder& masquerade(std::uint16_t port_min, std::uint16_t port_max) {
    const std::uint16_t min_be = htons(port_min);
    const std::uint16_t max_be = htons(port_max);
    immediate_data(NFT_REG_1, &min_be, sizeof(min_be));
    immediate_data(NFT_REG_2, &max_be, sizeof(max_be));
    ExprPtr e = alloc("masq");
    nftnl_expr_set_u32(e.get(), NFTNL_EXPR_MASQ_REG_PROTO_MIN, NFT_REG_1);
    nftnl_expr_set_u32(e.get(), NFTNL_EXPR_MASQ_REG_PROTO_MAX, NFT_REG_2);
    nftnl_expr_set_u32(e.get(), NFTNL_EXPR_MASQ_FLAGS, NF_NAT_RANGE_PROTO_SPECIFIED);
    return add(std::move(e));
  }

  RuleBuilder& masquerade() { return add(alloc("masq")); }

  RuleBuilder& immediate_data(std::uint32_t dreg, const void* data, std::uint32_t len) {
    ExprPtr e = alloc("immediate");
    nftnl_expr_set_u32(e.get(), NFTNL_EXPR_IMM_DREG, dreg);
    nftnl_expr_set(e.get(), NFTNL_EXPR_IMM_DATA, data, len);
    return add(std::move(e));
  }

  RuleBuilder& ct_set_mark_from_reg1() {
    ExprPtr e = alloc("ct");
    nftnl_expr_set_u32(e.get(), NFTNL_EXPR_CT_KEY, NFT_CT_MARK);
    nftnl_expr_set_u32(e.get(), NFTNL_EXPR_CT_SREG, NFT_REG_1);
    return add(std::move(e));
  }

  RuleBuilder& counter() { return add(alloc("counter")); }

  RuleBuilder& dynset(std::uint32_t op, const SetSpec& set, std::uint64_t timeout_ms = 0) {
    ExprPtr e = alloc("dynset");
    nftnl_expr_set_u32(e.get(), NFTNL_EXPR_DYNSET_SREG_KEY, NFT_REG_1);
    nftnl_expr_set_u32(e.get(), NFTNL_EXPR_DYNSET_OP, op);
    nftnl_expr_set_str(e.get(), NFTNL_EXPR_DYNSET_SET_NAME, set.name.c_str());
    nftnl_expr_set_u32(e.get(), NFTNL_EXPR_DYNSET_SET_ID, set.id);
    if (timeout_ms != 0) {
      nftnl_expr_set_u64(e.get(), NFTNL_EXPR_DYNSET_TIMEOUT, timeout_ms);
    }
    return add(std::move(e));
  }

  RuleBuilder& log_group(const std::string& prefix, std::uint16_t group) {
    ExprPtr e = alloc("log");
    nftnl_expr_set_str(e.get(), NFTNL_EXPR_LOG_PREFIX, prefix.c_str());
    nftnl_expr_set_u16(e.get(), NFTNL_EXPR_LOG_GROUP, group);
    return add(std::move(e));
  }

  RuleBuilder& verdict(std::uint32_t v) {
    ExprPtr e = alloc("immediate");
    nftnl_expr_set_u32(e.get(), NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
    nftnl_expr_set_u32(e.get(), NFTNL_EXPR_IMM_VERDICT, v);
    return add(std::move(e));
  }

  RulePtr build(const std::string& comment) {
    if (auto udata = encode_comment(comment.substr(0, kMaxUserdata), kUdataRuleComment)) {
      nftnl_rule_set_data(rule_.get(), NFTNL_RULE_USERDATA, udata->data(),
                          static_cast<std::uint32_t>(udata->size()));
    }
    return std::move(rule_);
  }

 private:
  static ExprPtr alloc(const char* name) {
    ExprPtr e(nftnl_expr_alloc(name));
    if (!e) {
      throw std::bad_alloc();
    }
    return e;
  }

  RuleBuilder& add(ExprPtr e) {
    nftnl_rule_add_expr(rule_.get(), e.release());  // the rule owns it from here
    return *this;
  }

  RulePtr rule_;
};

const SetSpec& find_set(const std::vector<SetSpec>& sets, const char* name) {
  for (const SetSpec& s : sets) {
    if (s.name == name) {
      return s;
    }
  }
  throw std::logic_error(std::string("no set spec named ") + name);
}

struct FamilyLayout {
  std::uint8_t nfproto;
  std::uint32_t saddr;
  std::uint32_t daddr;
  std::uint32_t addr_len;
  const char* pin;
  const char* latch;
};

constexpr FamilyLayout kV4{NFPROTO_IPV4, kIpv4Saddr, kIpv4Daddr, 4, kPin4, kLatch4};
constexpr FamilyLayout kV6{NFPROTO_IPV6, kIpv6Saddr, kIpv6Daddr, 16, kPin6, kLatch6};

void add_pinhole_rules(const NftBackendConfig& config, const std::string& table,
                       const std::vector<SetSpec>& sets, const FamilyLayout& f,
                       std::vector<RuleSpec>& out) {
  const std::string chain = "filter_fwd";
  const Field saddr{NFT_PAYLOAD_NETWORK_HEADER, f.saddr, f.addr_len};
  const Field daddr{NFT_PAYLOAD_NETWORK_HEADER, f.daddr, f.addr_len};
  const Field sport{NFT_PAYLOAD_TRANSPORT_HEADER, kUdpSport, 2};
  const Field dport{NFT_PAYLOAD_TRANSPORT_HEADER, kUdpDport, 2};
  const SetSpec& pin = find_set(sets, f.pin);
  const SetSpec& latch = find_set(sets, f.latch);

  // Stateless per-packet checks in both directions, before any established accept: deleting the
  // element closes the hole for the very next packet, whatever conntrack holds.
  //
  // IPv4 pinholes also need the private endpoint's binding (`. @bind_out4`, a key-existence
  // lookup in the map): a pinhole learned by a latch is created by the kernel and unknown to the
  // agent until NFLOG is wired, so releasing its binding cannot delete it; without this check it
  // would let the private host keep sending to the latched remote (masqueraded) until
  // latched_pinhole_timeout. With it every v4 pinhole dies with its binding's mappings.
  const bool v4 = f.nfproto == NFPROTO_IPV4;
  std::string d = std::string("pinhole check (remote -> private) @") + f.pin + (v4 ? " . @bind_out4" : "");
  {
    RuleBuilder r(table, chain);
    r.l4proto(NFT_CMP_EQ, kProtoUdp).nfproto(f.nfproto).concat({saddr, sport, daddr, dport}).lookup(pin);
    if (v4) {
      r.concat({daddr, dport}).lookup(find_set(sets, kBindOut4));
    }
    out.push_back({chain, d, r.counter().verdict(NF_ACCEPT).build(d)});
  }
  d = std::string("pinhole check (private -> remote) @") + f.pin + (v4 ? " . @bind_out4" : "");
  {
    RuleBuilder r(table, chain);
    r.l4proto(NFT_CMP_EQ, kProtoUdp).nfproto(f.nfproto).concat({daddr, dport, saddr, sport}).lookup(pin);
    if (v4) {
      r.concat({saddr, sport}).lookup(find_set(sets, kBindOut4));
    }
    out.push_back({chain, d, r.counter().verdict(NF_ACCEPT).build(d)});
  }
  // One-shot latch: the first packet from the signalled remote address learns its source port
  // into the pinhole set and consumes the latch, in the packet path; NFLOG tells the agent.
  d = std::string("one-shot latch @") + f.latch + " -> @" + f.pin;
  out.push_back({chain, d,
                 RuleBuilder(table, chain)
                     .l4proto(NFT_CMP_EQ, kProtoUdp)
                     .nfproto(f.nfproto)
                     .concat({saddr, daddr, dport})
                     .lookup(latch)
                     .concat({saddr, sport, daddr, dport})
                     .dynset(NFT_DYNSET_OP_ADD, pin,
                             static_cast<std::uint64_t>(config.latched_pinhole_timeout.count()))
                     .concat({saddr, daddr, dport})
                     .dynset(NFT_DYNSET_OP_DELETE, latch)
                     .log_group(config.nflog_prefix, config.nflog_group)
                     .verdict(NF_ACCEPT)
                     .build(d)});
}

}  // namespace

std::vector<SetSpec> set_specs(const NftBackendConfig& config) {
  const std::uint32_t endpoint4 = concat_type({kTypeIpv4Addr, kTypeInetService});
  std::vector<SetSpec> sets;
  std::uint32_t id = 1;
  auto add = [&](SetSpec s) {
    s.id = id++;
    sets.push_back(std::move(s));
  };
  // Maps are read only by the control plane and lookups; pin/latch sets are also written by the
  // latch rule (dynset), which needs NFT_SET_EVAL ("flags dynamic").
  add({kBindIn4, endpoint4, 8, true, endpoint4, 8, NFT_SET_MAP | NFT_SET_TIMEOUT,
       config.binding_set_size, 0});
  add({kBindOut4, endpoint4, 8, true, endpoint4, 8, NFT_SET_MAP | NFT_SET_TIMEOUT,
       config.binding_set_size, 0});
  add({kBindMark4, endpoint4, 8, true, kTypeMark, 4, NFT_SET_MAP | NFT_SET_TIMEOUT,
       config.binding_set_size, 0});
  add({kPin4,
       concat_type({kTypeIpv4Addr, kTypeInetService, kTypeIpv4Addr, kTypeInetService}), 16, false,
       0, 0, NFT_SET_TIMEOUT | NFT_SET_EVAL, config.pinhole_set_size, 0});
  add({kLatch4, concat_type({kTypeIpv4Addr, kTypeIpv4Addr, kTypeInetService}), 12, false, 0, 0,
       NFT_SET_TIMEOUT | NFT_SET_EVAL, config.latch_set_size, 0});
  if (config.ipv6) {
    add({kPin6,
         concat_type({kTypeIpv6Addr, kTypeInetService, kTypeIpv6Addr, kTypeInetService}), 40,
         false, 0, 0, NFT_SET_TIMEOUT | NFT_SET_EVAL, config.pinhole_set_size, 0});
    add({kLatch6, concat_type({kTypeIpv6Addr, kTypeIpv6Addr, kTypeInetService}), 36, false, 0, 0,
         NFT_SET_TIMEOUT | NFT_SET_EVAL, config.latch_set_size, 0});
  }
  return sets;
}

SetPtr make_set(const std::string& table, const SetSpec& spec) {
  SetPtr s(nftnl_set_alloc());
  if (!s) {
    throw std::bad_alloc();
  }
  nftnl_set_set_str(s.get(), NFTNL_SET_TABLE, table.c_str());
  nftnl_set_set_str(s.get(), NFTNL_SET_NAME, spec.name.c_str());
  nftnl_set_set_u32(s.get(), NFTNL_SET_FAMILY, NFPROTO_INET);
  nftnl_set_set_u32(s.get(), NFTNL_SET_FLAGS, spec.flags);
  nftnl_set_set_u32(s.get(), NFTNL_SET_KEY_TYPE, spec.key_type);
  nftnl_set_set_u32(s.get(), NFTNL_SET_KEY_LEN, spec.key_len);
  if (spec.is_map) {
    nftnl_set_set_u32(s.get(), NFTNL_SET_DATA_TYPE, spec.data_type);
    nftnl_set_set_u32(s.get(), NFTNL_SET_DATA_LEN, spec.data_len);
  }
  nftnl_set_set_u32(s.get(), NFTNL_SET_DESC_SIZE, spec.size);
  nftnl_set_set_u32(s.get(), NFTNL_SET_ID, spec.id);
  return s;
}

std::vector<ChainSpec> chain_specs() {
  // Priorities as in nft: dstnat = -100, filter = 0, srcnat = 100. mark_pre runs after DNAT so it
  // sees the private (post-DNAT) destination of inbound packets.
  return {
      {"nat_pre", "nat", NF_INET_PRE_ROUTING, NF_IP_PRI_NAT_DST, NF_ACCEPT},
      {"mark_pre", "filter", NF_INET_PRE_ROUTING, NF_IP_PRI_NAT_DST + 10, NF_ACCEPT},
      {"nat_post", "nat", NF_INET_POST_ROUTING, NF_IP_PRI_NAT_SRC, NF_ACCEPT},
      {"filter_fwd", "filter", NF_INET_FORWARD, NF_IP_PRI_FILTER, NF_DROP},
  };
}

ChainPtr make_chain(const std::string& table, const ChainSpec& spec) {
  ChainPtr c(nftnl_chain_alloc());
  if (!c) {
    throw std::bad_alloc();
  }
  nftnl_chain_set_str(c.get(), NFTNL_CHAIN_TABLE, table.c_str());
  nftnl_chain_set_str(c.get(), NFTNL_CHAIN_NAME, spec.name.c_str());
  nftnl_chain_set_u32(c.get(), NFTNL_CHAIN_FAMILY, NFPROTO_INET);
  nftnl_chain_set_str(c.get(), NFTNL_CHAIN_TYPE, spec.type.c_str());
  nftnl_chain_set_u32(c.get(), NFTNL_CHAIN_HOOKNUM, spec.hook);
  nftnl_chain_set_s32(c.get(), NFTNL_CHAIN_PRIO, spec.priority);
  nftnl_chain_set_u32(c.get(), NFTNL_CHAIN_POLICY, spec.policy);
  return c;
}

std::vector<RuleSpec> make_rules(const NftBackendConfig& config, const std::string& table,
                                 const std::vector<SetSpec>& sets) {
  std::vector<RuleSpec> out;
  const Field saddr4{NFT_PAYLOAD_NETWORK_HEADER, kIpv4Saddr, 4};
  const Field daddr4{NFT_PAYLOAD_NETWORK_HEADER, kIpv4Daddr, 4};
  const Field sport{NFT_PAYLOAD_TRANSPORT_HEADER, kUdpSport, 2};
  const Field dport{NFT_PAYLOAD_TRANSPORT_HEADER, kUdpDport, 2};

  // nat_pre: inbound DNAT public ip.port -> private ip.port.
  for (const std::string& wan : config.wan_interfaces) {
    const std::string d = "binding DNAT from " + wan + " via @bind_in4";
    out.push_back({"nat_pre", d,
                   RuleBuilder(table, "nat_pre")
                       .interface(NFT_META_IIFNAME, wan)
                       .l4proto(NFT_CMP_EQ, kProtoUdp)
                       .nfproto(NFPROTO_IPV4)
                       .concat({daddr4, dport})
                       .lookup(find_set(sets, kBindIn4), true)
                       .nat(NFT_NAT_DNAT)
                       .build(d)});
  }

  // mark_pre: copy the binding id into ct mark on the first packet, in either direction.
  {
    std::string d = "ct mark from @bind_mark4 (inbound, post-DNAT destination)";
    out.push_back({"mark_pre", d,
                   RuleBuilder(table, "mark_pre")
                       .ct_state_any(kCtStateNew)
                       .l4proto(NFT_CMP_EQ, kProtoUdp)
                       .nfproto(NFPROTO_IPV4)
                       .concat({daddr4, dport})
                       .lookup(find_set(sets, kBindMark4), true)
                       .ct_set_mark_from_reg1()
                       .build(d)});
    d = "ct mark from @bind_mark4 (outbound, private source)";
    out.push_back({"mark_pre", d,
                   RuleBuilder(table, "mark_pre")
                       .ct_state_any(kCtStateNew)
                       .l4proto(NFT_CMP_EQ, kProtoUdp)
                       .nfproto(NFPROTO_IPV4)
                       .concat({saddr4, sport})
                       .lookup(find_set(sets, kBindMark4), true)
                       .ct_set_mark_from_reg1()
                       .build(d)});
  }

  // nat_post: endpoint-independent SNAT for bindings, then masquerade for everything else with
  // ports kept out of the binding pool. IPv4 only: no NAT66.
  for (const std::string& wan : config.wan_interfaces) {
    std::string d = "binding SNAT to " + wan + " via @bind_out4";
    out.push_back({"nat_post", d,
                   RuleBuilder(table, "nat_post")
                       .interface(NFT_META_OIFNAME, wan)
                       .l4proto(NFT_CMP_EQ, kProtoUdp)
                       .nfproto(NFPROTO_IPV4)
                       .concat({saddr4, sport})
                       .lookup(find_set(sets, kBindOut4), true)
                       .nat(NFT_NAT_SNAT)
                       .build(d)});
    for (std::uint8_t proto : {kProtoUdp, kProtoTcp}) {
      d = std::string("masquerade ") + (proto == kProtoUdp ? "udp" : "tcp") + " to " + wan +
          " ports " + std::to_string(config.masquerade_port_min) + "-" +
          std::to_string(config.masquerade_port_max);
      out.push_back({"nat_post", d,
                     RuleBuilder(table, "nat_post")
                         .interface(NFT_META_OIFNAME, wan)
                         .nfproto(NFPROTO_IPV4)
                         .l4proto(NFT_CMP_EQ, proto)
                         .masquerade(config.masquerade_port_min, config.masquerade_port_max)
                         .build(d)});
    }
    d = "masquerade other IPv4 to " + wan;
    out.push_back({"nat_post", d,
                   RuleBuilder(table, "nat_post")
                       .interface(NFT_META_OIFNAME, wan)
                       .nfproto(NFPROTO_IPV4)
                       .masquerade()
                       .build(d)});
  }

  // filter_fwd (policy drop).
  {
    const std::string d = "drop ct state invalid";
    out.push_back({"filter_fwd", d,
                   RuleBuilder(table, "filter_fwd")
                       .ct_state_any(kCtStateInvalid)
                       .verdict(NF_DROP)
                       .build(d)});
  }
  add_pinhole_rules(config, table, sets, kV4, out);
  if (config.ipv6) {
    add_pinhole_rules(config, table, sets, kV6, out);
  }
  for (const std::string& lan : config.lan_interfaces) {
    for (const std::string& wan : config.wan_interfaces) {
      const std::string d = "accept non-UDP " + lan + " -> " + wan;
      out.push_back({"filter_fwd", d,
                     RuleBuilder(table, "filter_fwd")
                         .interface(NFT_META_IIFNAME, lan)
                         .interface(NFT_META_OIFNAME, wan)
                         .l4proto(NFT_CMP_NEQ, kProtoUdp)
                         .verdict(NF_ACCEPT)
                         .build(d)});
    }
  }
  {
    const std::string d = "accept established/related non-UDP";
    out.push_back({"filter_fwd", d,
                   RuleBuilder(table, "filter_fwd")
                       .ct_state_any(kCtStateEstablished | kCtStateRelated)
                       .l4proto(NFT_CMP_NEQ, kProtoUdp)
                       .verdict(NF_ACCEPT)
                       .build(d)});
  }
  return out;
}

}  // namespace portcullis::agent::nft
