#include "pinhole-agent/backend/nft/nft_backend.h"

#include <cerrno>
#include <cstdio>
#include <map>

#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <sys/utsname.h>

#include "common/log/log.h"
#include "pinhole-agent/backend/nft/nft_encoding.h"
#include "pinhole-agent/backend/nft/nft_netlink.h"
#include "pinhole-agent/backend/nft/nft_raii.h"
#include "pinhole-agent/backend/nft/nft_ruleset.h"

namespace portcullis::agent {

using nft::Bytes;

namespace {

// Newer than Debian 12's linux-libc-dev: defined here from the kernel uapi.
constexpr std::uint16_t kMsgDestroySetElem = 30;  // NFT_MSG_DESTROYSETELEM, Linux 6.3
constexpr std::uint32_t kTableFlagOwner = 0x2;    // NFT_TABLE_F_OWNER, Linux 5.12
constexpr std::uint32_t kTableFlagPersist = 0x4;  // NFT_TABLE_F_PERSIST, Linux 6.9

struct KernelVersion {
  int major = 0;
  int minor = 0;
  bool at_least(int ma, int mi) const { return major > ma || (major == ma && minor >= mi); }
};

KernelVersion running_kernel() {
  utsname u{};
  KernelVersion v;
  if (uname(&u) == 0) {
    (void)std::sscanf(u.release, "%d.%d", &v.major, &v.minor);
  }
  return v;
}

std::uint16_t nft_msg(std::uint16_t type) {
  return static_cast<std::uint16_t>((NFNL_SUBSYS_NFTABLES << 8) | type);
}

std::string hex_mark(std::uint32_t mark) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "0x%x", mark);
  return buf;
}

/// One set/map element a change touches, in kernel layout, with the text used in errors.
struct ElementOp {
  const char* set = nullptr;
  Bytes key;
  Bytes data;  // maps only
  std::chrono::milliseconds timeout{0};
  Bytes udata;
  /// What the element came from, for an error message (rendered only on failure).
  const Change* source = nullptr;
  /// Which of the change's elements: PortMapping 0 bind_in4, 1 bind_out4, 2 bind_mark4.
  int part = 0;
};

/// LazyDescription::render for element messages: "create bind_in4 element 198.51.100.1:40002 ->
/// 10.0.0.2:5002" (+ `suffix`), rebuilt from the source change only when the kernel refused it.
std::string describe_op(const void* element, const void* suffix, std::uintptr_t kind) {
  const ElementOp& op = *static_cast<const ElementOp*>(element);
  std::string key;
  std::string data;
  if (op.source != nullptr) {
    if (const auto* m = std::get_if<PortMapping>(&op.source->object)) {
      const std::string pub = m->public_endpoint.to_string();
      const std::string priv = m->private_endpoint.to_string();
      key = op.part == 0 ? pub : priv;
      data = op.part == 0 ? priv : op.part == 1 ? pub : hex_mark(m->mark);
    } else if (const auto* p = std::get_if<Pinhole>(&op.source->object)) {
      key = p->remote.to_string() + " . " + p->private_endpoint.to_string();
    } else if (const auto* l = std::get_if<Latch>(&op.source->object)) {
      key = l->remote_address.to_string() + " . " + l->private_endpoint.to_string();
    }
  }
  std::string out = nft::describe_element(nft::change_op_name(static_cast<ChangeOp>(kind)), op.set, key, data);
  if (suffix != nullptr) {
    out += static_cast<const char*>(suffix);
  }
  return out;
}

nft::LazyDescription describe(const ElementOp& op, ChangeOp kind, const char* suffix = nullptr) {
  return nft::LazyDescription{describe_op, &op, suffix, static_cast<std::uintptr_t>(kind)};
}

struct DumpedElement {
  Bytes key;
  Bytes data;
  std::uint64_t timeout_ms = 0;
  std::uint64_t expiration_ms = 0;
  Bytes udata;
};

Bytes get_bytes(nftnl_set_elem* e, std::uint16_t attr) {
  std::uint32_t len = 0;
  const auto* p = static_cast<const std::uint8_t*>(nftnl_set_elem_get(e, attr, &len));
  if (p == nullptr) {
    return {};
  }
  return Bytes(p, p + len);
}

int collect_element(nftnl_set_elem* e, void* data) {
  auto* out = static_cast<std::vector<DumpedElement>*>(data);
  DumpedElement d;
  d.key = get_bytes(e, NFTNL_SET_ELEM_KEY);
  d.data = get_bytes(e, NFTNL_SET_ELEM_DATA);
  d.timeout_ms = nftnl_set_elem_get_u64(e, NFTNL_SET_ELEM_TIMEOUT);
  d.expiration_ms = nftnl_set_elem_get_u64(e, NFTNL_SET_ELEM_EXPIRATION);
  d.udata = get_bytes(e, NFTNL_SET_ELEM_USERDATA);
  out->push_back(std::move(d));
  return 0;
}

std::chrono::milliseconds remaining(const DumpedElement& d) {
  return std::chrono::milliseconds(d.expiration_ms != 0 ? d.expiration_ms : d.timeout_ms);
}

std::string comment_of(const DumpedElement& d) {
  return nft::decode_comment(d.udata, nft::kUdataSetElemComment).value_or(std::string());
}

Status check_udp(L4Protocol p) {
  if (p != L4Protocol::kUdp) {
    return unexpected(Error(ErrorCode::kUnimplemented, "nft backend handles UDP only"));
  }
  return ok_status();
}

}  // namespace

struct NftBackend::Impl {
  NftBackendConfig config;
  mutable nft::NetlinkSocket sock;
  KernelVersion kernel;
  bool in_place_timeout_update = false;
  bool destroy_setelem = false;
  bool table_persist = false;
  std::shared_ptr<spdlog::logger> log = log::get("nft");

  Impl(NftBackendConfig c, nft::NetlinkSocket s) : config(std::move(c)), sock(std::move(s)) {}

  // --- reads ---------------------------------------------------------------------------------

  struct TableInfo {
    std::uint32_t flags = 0;
    std::optional<std::string> comment;
  };

  Result<std::optional<TableInfo>> get_table() const {
    nft::TablePtr t(nftnl_table_alloc());
    nftnl_table_set_str(t.get(), NFTNL_TABLE_NAME, config.table_name.c_str());
    std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE);
    nlmsghdr* nlh = nftnl_nlmsg_build_hdr(buf.data(), NFT_MSG_GETTABLE, NFPROTO_INET, NLM_F_ACK,
                                          sock.next_seq());
    nftnl_table_nlmsg_build_payload(nlh, t.get());
    std::optional<TableInfo> info;
    Status st = sock.request(
        nlh,
        [&](const nlmsghdr* reply) {
          if (reply->nlmsg_type != nft_msg(NFT_MSG_NEWTABLE)) {
            return;
          }
          nft::TablePtr parsed(nftnl_table_alloc());
          if (nftnl_table_nlmsg_parse(reply, parsed.get()) < 0) {
            return;
          }
          TableInfo ti;
          ti.flags = nftnl_table_get_u32(parsed.get(), NFTNL_TABLE_FLAGS);
          std::uint32_t len = 0;
          const auto* ud = static_cast<const std::uint8_t*>(
              nftnl_table_get_data(parsed.get(), NFTNL_TABLE_USERDATA, &len));
          if (ud != nullptr) {
            ti.comment = nft::decode_comment(std::span<const std::uint8_t>(ud, len),
                                             nft::kUdataTableComment);
          }
          info = std::move(ti);
        },
        "get table inet " + config.table_name);
    if (!st) {
      if (st.error().code == ErrorCode::kNotFound) {
        return std::optional<TableInfo>();
      }
      return unexpected(std::move(st).error());
    }
    return info;
  }

  Result<std::vector<DumpedElement>> dump_set(const char* name) const {
    nft::SetPtr req(nftnl_set_alloc());
    nftnl_set_set_str(req.get(), NFTNL_SET_TABLE, config.table_name.c_str());
    nftnl_set_set_str(req.get(), NFTNL_SET_NAME, name);
    std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE);
    nlmsghdr* nlh = nftnl_nlmsg_build_hdr(buf.data(), NFT_MSG_GETSETELEM, NFPROTO_INET,
                                          NLM_F_DUMP, sock.next_seq());
    nftnl_set_elems_nlmsg_build_payload(nlh, req.get());
    nft::SetPtr acc(nftnl_set_alloc());  // accumulates the elements of every reply message
    Status st = sock.request(
        nlh,
        [&](const nlmsghdr* reply) {
          if (reply->nlmsg_type == nft_msg(NFT_MSG_NEWSETELEM)) {
            (void)nftnl_set_elems_nlmsg_parse(reply, acc.get());
          }
        },
        std::string("dump set ") + name);
    if (!st) {
      return unexpected(std::move(st).error());
    }
    std::vector<DumpedElement> out;
    nftnl_set_elem_foreach(acc.get(), collect_element, &out);
    return out;
  }

  // --- writes --------------------------------------------------------------------------------

  /// `full`: key only (deletes) or key + data + timeout + userdata. `rearm`: also send
  /// NFTA_SET_ELEM_EXPIRATION = timeout; an in-place re-add with an unchanged timeout does not
  /// restart the countdown otherwise (measured on 6.18: expires stayed at 696 ms of 2 s).
  auto element_payload(const ElementOp& op, bool full, bool rearm = false) const {
    return [this, &op, full, rearm](nlmsghdr* nlh) {
      nft::SetPtr s(nftnl_set_alloc());
      nftnl_set_set_str(s.get(), NFTNL_SET_TABLE, config.table_name.c_str());
      nftnl_set_set_str(s.get(), NFTNL_SET_NAME, op.set);
      nft::SetElemPtr e(nftnl_set_elem_alloc());
      nftnl_set_elem_set(e.get(), NFTNL_SET_ELEM_KEY, op.key.data(),
                         static_cast<std::uint32_t>(op.key.size()));
      if (full) {
        if (!op.data.empty()) {
          nftnl_set_elem_set(e.get(), NFTNL_SET_ELEM_DATA, op.data.data(),
                             static_cast<std::uint32_t>(op.data.size()));
        }
        if (op.timeout.count() > 0) {
          // NFTA_SET_ELEM_TIMEOUT is in milliseconds.
          nftnl_set_elem_set_u64(e.get(), NFTNL_SET_ELEM_TIMEOUT,
                                 static_cast<std::uint64_t>(op.timeout.count()));
          if (rearm) {
            nftnl_set_elem_set_u64(e.get(), NFTNL_SET_ELEM_EXPIRATION,
                                   static_cast<std::uint64_t>(op.timeout.count()));
          }
        }
        if (!op.udata.empty()) {
          nftnl_set_elem_set(e.get(), NFTNL_SET_ELEM_USERDATA, op.udata.data(),
                             static_cast<std::uint32_t>(op.udata.size()));
        }
      }
      nftnl_set_elem_add(s.get(), e.release());  // the set owns the element now
      nftnl_set_elems_nlmsg_build_payload(nlh, s.get());
    };
  }

  /// Removes `op`'s element whether or not it exists, inside the batch. `replacing`: the first
  /// half of an upsert (its messages say "(remove old)").
  void add_remove(nft::Batch& batch, const ElementOp& op, ChangeOp kind, bool replacing) const {
    if (destroy_setelem) {
      batch.add(kMsgDestroySetElem, 0, describe(op, kind, replacing ? " (remove old)" : nullptr),
                element_payload(op, false));
      return;
    }
    // Before Linux 6.3 a delete of an absent key fails with ENOENT and aborts the transaction. A
    // non-exclusive add first makes the key present (no-op if it already is), so the delete that
    // follows always succeeds; both happen in one transaction, so packets never see the add.
    batch.add(NFT_MSG_NEWSETELEM, NLM_F_CREATE,
              describe(op, kind, replacing ? " (remove old) (ensure present)" : " (ensure present)"),
              element_payload(op, true));
    batch.add(NFT_MSG_DELSETELEM, 0, describe(op, kind, replacing ? " (remove old)" : nullptr),
              element_payload(op, false));
  }

  void add_change(nft::Batch& batch, ChangeOp kind, const ElementOp& op) const {
    // Descriptions are rendered only if the kernel refuses the message (no strings per element).
    const nft::LazyDescription what = describe(op, kind);
    switch (kind) {
      case ChangeOp::kCreate:
        batch.add(NFT_MSG_NEWSETELEM, NLM_F_CREATE | NLM_F_EXCL, what, element_payload(op, true));
        return;
      case ChangeOp::kUpsert:
        if (config.upsert_in_place && in_place_timeout_update) {
          // Re-adding an existing key re-arms its timeout in place (Linux >= 6.10); data and
          // userdata of the existing element are kept.
          batch.add(NFT_MSG_NEWSETELEM, NLM_F_CREATE, what, element_payload(op, true, true));
          return;
        }
        // Replace: remove + exclusive add in one transaction, so timeout and userdata both
        // change atomically, on every kernel.
        add_remove(batch, op, kind, /*replacing=*/true);
        batch.add(NFT_MSG_NEWSETELEM, NLM_F_CREATE | NLM_F_EXCL, what, element_payload(op, true));
        return;
      case ChangeOp::kDelete:
        add_remove(batch, op, kind, /*replacing=*/false);
        return;
    }
  }

  Result<Bytes> userdata(const std::string& text) const {
    if (text.empty()) {
      return Bytes{};
    }
    return nft::encode_comment(text, nft::kUdataSetElemComment);
  }

  Status check_timeout(ChangeOp kind, std::chrono::milliseconds t) const {
    if (kind != ChangeOp::kDelete && t.count() <= 0) {
      // A kernel element without timeout never expires: every FCP element must have a lease.
      return unexpected(invalid_argument("element timeout must be > 0"));
    }
    return ok_status();
  }

  Result<std::vector<ElementOp>> element_ops(const Change& change) const {
    std::vector<ElementOp> ops;
    ops.reserve(3);
    if (const auto* m = std::get_if<PortMapping>(&change.object)) {
      PORTCULLIS_RETURN_IF_ERROR(check_udp(m->protocol));
      PORTCULLIS_RETURN_IF_ERROR(check_timeout(change.op, m->timeout));
      if (!m->public_endpoint.address().is_v4() || !m->private_endpoint.address().is_v4()) {
        return unexpected(Error(ErrorCode::kUnimplemented,
                                "nft backend: port mappings are IPv4 only (no NAT66)"));
      }
      auto ud = userdata(m->userdata);
      if (!ud) {
        return unexpected(std::move(ud).error());
      }
      // The recovery comment rides on bind_in4 only: the three elements live and die together.
      ops.push_back({nft::kBindIn4, nft::encode_endpoint(m->public_endpoint),
                     nft::encode_endpoint(m->private_endpoint), m->timeout, std::move(*ud), &change, 0});
      ops.push_back({nft::kBindOut4, nft::encode_endpoint(m->private_endpoint),
                     nft::encode_endpoint(m->public_endpoint), m->timeout, {}, &change, 1});
      ops.push_back({nft::kBindMark4, nft::encode_endpoint(m->private_endpoint),
                     nft::encode_mark(m->mark), m->timeout, {}, &change, 2});
      return ops;
    }
    if (const auto* p = std::get_if<Pinhole>(&change.object)) {
      PORTCULLIS_RETURN_IF_ERROR(check_udp(p->protocol));
      PORTCULLIS_RETURN_IF_ERROR(check_timeout(change.op, p->timeout));
      auto set = family_set(p->remote.address(), p->private_endpoint.address(), nft::kPin4,
                            nft::kPin6);
      if (!set) {
        return unexpected(std::move(set).error());
      }
      auto ud = userdata(p->userdata);
      if (!ud) {
        return unexpected(std::move(ud).error());
      }
      ops.push_back({*set, nft::encode_pinhole_key(*p), {}, p->timeout, std::move(*ud), &change, 0});
      return ops;
    }
    const auto& l = std::get<Latch>(change.object);
    PORTCULLIS_RETURN_IF_ERROR(check_udp(l.protocol));
    PORTCULLIS_RETURN_IF_ERROR(check_timeout(change.op, l.timeout));
    auto set = family_set(l.remote_address, l.private_endpoint.address(), nft::kLatch4,
                          nft::kLatch6);
    if (!set) {
      return unexpected(std::move(set).error());
    }
    auto ud = userdata(nft::latch_comment(l.latched_timeout));
    if (!ud) {
      return unexpected(std::move(ud).error());
    }
    ops.push_back({*set, nft::encode_latch_key(l), {}, l.timeout, std::move(*ud), &change, 0});
    return ops;
  }

  Result<const char*> family_set(const net::IpAddress& a, const net::IpAddress& b, const char* v4,
                                 const char* v6) const {
    if (a.family() != b.family()) {
      return unexpected(invalid_argument("remote and private addresses differ in family"));
    }
    if (a.is_v4()) {
      return v4;
    }
    if (!config.ipv6) {
      return unexpected(Error(ErrorCode::kUnimplemented, "IPv6 is disabled in this backend"));
    }
    return v6;
  }

  // --- bootstrap -------------------------------------------------------------------------------

  /// Table + sets + chains (+ flush of existing rules) + rules, as one transaction.
  Status bootstrap_batch(std::optional<std::uint32_t> flags, const std::string& epoch,
                         bool adopting, std::uint32_t* table_seq, nft::BatchError* first) {
    nft::Batch batch(sock);
    const std::string& table = config.table_name;
    auto ud = nft::encode_comment(nft::table_comment_for_epoch(epoch), nft::kUdataTableComment);
    if (!ud) {
      return unexpected(invalid_argument("state epoch too long for the table comment: " +
                                         ud.error().message));
    }
    *table_seq = batch.add(NFT_MSG_NEWTABLE, NLM_F_CREATE, "create table inet " + table,
                           [&](nlmsghdr* nlh) {
                             nft::TablePtr t(nftnl_table_alloc());
                             nftnl_table_set_str(t.get(), NFTNL_TABLE_NAME, table.c_str());
                             nftnl_table_set_u32(t.get(), NFTNL_TABLE_FAMILY, NFPROTO_INET);
                             if (flags) {
                               nftnl_table_set_u32(t.get(), NFTNL_TABLE_FLAGS, *flags);
                             }
                             // Only stored when the table is created; an update keeps the old one.
                             nftnl_table_set_data(t.get(), NFTNL_TABLE_USERDATA, ud->data(),
                                                  static_cast<std::uint32_t>(ud->size()));
                             nftnl_table_nlmsg_build_payload(nlh, t.get());
                           });
    const std::vector<nft::SetSpec> sets = nft::set_specs(config);
    for (const nft::SetSpec& spec : sets) {
      // Without NLM_F_EXCL an identical existing set is accepted as is (its elements stay); one
      // with another definition fails with EEXIST, which we report rather than paper over.
      batch.add(NFT_MSG_NEWSET, NLM_F_CREATE, "create set " + spec.name, [&](nlmsghdr* nlh) {
        nft::SetPtr s = nft::make_set(table, spec);
        nftnl_set_nlmsg_build_payload(nlh, s.get());
      });
    }
    for (const nft::ChainSpec& spec : nft::chain_specs()) {
      batch.add(NFT_MSG_NEWCHAIN, NLM_F_CREATE, "create chain " + spec.name, [&](nlmsghdr* nlh) {
        nft::ChainPtr c = nft::make_chain(table, spec);
        nftnl_chain_nlmsg_build_payload(nlh, c.get());
      });
      if (adopting) {
        // Static rules are rebuilt from config on every start ("flush and recreate"); elements,
        // i.e. live calls, are untouched. Same transaction: no packet sees an empty chain.
        batch.add(NFT_MSG_DELRULE, 0, "flush chain " + spec.name, [&](nlmsghdr* nlh) {
          nft::RulePtr r(nftnl_rule_alloc());
          nftnl_rule_set_str(r.get(), NFTNL_RULE_TABLE, table.c_str());
          nftnl_rule_set_str(r.get(), NFTNL_RULE_CHAIN, spec.name.c_str());
          nftnl_rule_nlmsg_build_payload(nlh, r.get());
        });
      }
    }
    for (nft::RuleSpec& rule : nft::make_rules(config, table, sets)) {
      batch.add(NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND,
                "add rule " + rule.chain + " \"" + rule.description + "\"",
                [&](nlmsghdr* nlh) { nftnl_rule_nlmsg_build_payload(nlh, rule.rule.get()); });
    }
    return batch.commit(first);
  }
};

// --- NftBackend ------------------------------------------------------------------------------------

Result<std::unique_ptr<NftBackend>> NftBackend::create(NftBackendConfig config) {
  if (config.table_name.empty() || config.table_name.size() > 255) {
    return unexpected(invalid_argument("nft table name must be 1..255 characters"));
  }
  if (config.wan_interfaces.empty()) {
    return unexpected(invalid_argument("nft backend needs at least one WAN interface"));
  }
  if (config.masquerade_port_min == 0 || config.masquerade_port_min > config.masquerade_port_max) {
    return unexpected(invalid_argument("invalid masquerade port range"));
  }
  if (config.latched_pinhole_timeout.count() <= 0) {
    return unexpected(invalid_argument("latched_pinhole_timeout must be > 0"));
  }
  auto sock = nft::NetlinkSocket::open(config.socket_buffer_bytes);
  if (!sock) {
    return unexpected(std::move(sock).error());
  }
  auto impl = std::make_unique<Impl>(std::move(config), std::move(*sock));
  // Capability probe. Version checks are cheap and exact for mainline kernels; distribution
  // backports can be forced through the config overrides.
  impl->kernel = running_kernel();
  impl->in_place_timeout_update = impl->config.force_in_place_timeout_update.value_or(
      impl->kernel.at_least(6, 10));
  impl->destroy_setelem =
      impl->config.force_destroy_setelem.value_or(impl->kernel.at_least(6, 3));
  impl->table_persist = impl->kernel.at_least(6, 9);  // confirmed or corrected by bootstrap()
  impl->log->info("nft backend: kernel {}.{}, in-place timeout update {}, destroy setelem {}",
                  impl->kernel.major, impl->kernel.minor, impl->in_place_timeout_update,
                  impl->destroy_setelem);
  return std::unique_ptr<NftBackend>(new NftBackend(std::move(impl)));
}

NftBackend::NftBackend(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
NftBackend::~NftBackend() = default;

Result<BootstrapResult> NftBackend::bootstrap(const std::string& new_epoch) {
  Impl& im = *impl_;
  auto existing = im.get_table();
  if (!existing) {
    return unexpected(std::move(existing).error());
  }
  BootstrapResult result;
  result.adopted_existing = existing->has_value();
  result.state_epoch = new_epoch;

  std::optional<std::uint32_t> flags;
  if (result.adopted_existing) {
    const Impl::TableInfo& info = **existing;
    std::optional<std::string> stored;
    if (info.comment) {
      stored = nft::epoch_from_table_comment(*info.comment);
    }
    if (stored) {
      result.state_epoch = *stored;
    } else {
      im.log->warn("adopted table inet {} carries no state epoch; using the new one",
                   im.config.table_name);
    }
    im.table_persist = (info.flags & kTableFlagPersist) != 0;
    if (im.table_persist && im.config.claim_ownership) {
      // An orphaned persistent table is re-owned by sending OWNER again. If another live agent
      // owns it, the kernel refuses with EPERM: two agents must never share a table.
      flags = kTableFlagOwner | kTableFlagPersist;
    }
  } else if (im.config.claim_ownership) {
    flags = kTableFlagOwner | kTableFlagPersist;
  }

  std::uint32_t table_seq = 0;
  nft::BatchError first;
  Status st = im.bootstrap_batch(flags, result.state_epoch, result.adopted_existing, &table_seq,
                                 &first);
  if (!st && !result.adopted_existing && flags && first.seq == table_seq &&
      (first.err == EOPNOTSUPP || first.err == EINVAL)) {
    // No NFT_TABLE_F_PERSIST (Linux < 6.9). An owner-only table would vanish with the agent and
    // drop every call, so fall back to a plain table guarded by element timeouts.
    im.log->warn("kernel rejected table flags owner|persist ({}); creating a plain table",
                 st.error().message);
    im.table_persist = false;
    st = im.bootstrap_batch(std::nullopt, result.state_epoch, false, &table_seq, &first);
  } else if (st.ok() && !result.adopted_existing) {
    im.table_persist = flags.has_value();
  }
  if (!st) {
    return unexpected(std::move(st).error());
  }
  im.log->info("bootstrap: {} table inet {} (persist {}), state epoch {}",
               result.adopted_existing ? "adopted" : "created", im.config.table_name,
               im.table_persist, result.state_epoch);
  return result;
}

Status NftBackend::apply(const ChangeSet& changes) {
  if (changes.empty()) {
    return ok_status();
  }
  Impl& im = *impl_;
  // Validate and encode everything first: a bad change fails before anything is sent.
  std::vector<std::pair<ChangeOp, std::vector<ElementOp>>> encoded;
  encoded.reserve(changes.changes.size());
  for (std::size_t i = 0; i < changes.changes.size(); ++i) {
    auto ops = im.element_ops(changes.changes[i]);
    if (!ops) {
      Error e = std::move(ops).error();
      e.message = "change #" + std::to_string(i) + ": " + e.message;
      return unexpected(std::move(e));
    }
    encoded.emplace_back(changes.changes[i].op, std::move(*ops));
  }
  nft::Batch batch(im.sock);
  std::size_t messages = 0;
  for (const auto& [kind, ops] : encoded) {
    messages += ops.size() * (kind == ChangeOp::kCreate ? 1 : 2);
  }
  batch.reserve(messages);
  for (const auto& [kind, ops] : encoded) {
    for (const ElementOp& op : ops) {
      im.add_change(batch, kind, op);
    }
  }
  Status st = batch.commit();
  if (!st) {
    im.log->debug("apply failed, transaction aborted: {}", st.error().message);
  }
  return st;
}

Result<BackendState> NftBackend::snapshot() const {
  const Impl& im = *impl_;
  BackendState state;

  auto marks = im.dump_set(nft::kBindMark4);
  if (!marks) {
    return unexpected(std::move(marks).error());
  }
  std::map<net::Endpoint, std::uint32_t> mark_by_private;
  for (const DumpedElement& d : *marks) {
    auto priv = nft::decode_endpoint(d.key, net::Family::kV4);
    auto mark = nft::decode_mark(d.data);
    if (priv && mark) {
      mark_by_private[*priv] = *mark;
    }
  }

  auto ins = im.dump_set(nft::kBindIn4);
  if (!ins) {
    return unexpected(std::move(ins).error());
  }
  for (const DumpedElement& d : *ins) {
    auto pub = nft::decode_endpoint(d.key, net::Family::kV4);
    auto priv = nft::decode_endpoint(d.data, net::Family::kV4);
    if (!pub || !priv) {
      im.log->warn("snapshot: skipping malformed bind_in4 element");
      continue;
    }
    PortMapping m;
    m.public_endpoint = *pub;
    m.private_endpoint = *priv;
    if (auto it = mark_by_private.find(*priv); it != mark_by_private.end()) {
      m.mark = it->second;
    }
    m.timeout = remaining(d);
    m.userdata = comment_of(d);
    state.mappings.push_back(std::move(m));
  }

  struct FamilySets {
    const char* pin;
    const char* latch;
    net::Family family;
  };
  std::vector<FamilySets> families{{nft::kPin4, nft::kLatch4, net::Family::kV4}};
  if (im.config.ipv6) {
    families.push_back({nft::kPin6, nft::kLatch6, net::Family::kV6});
  }
  for (const FamilySets& f : families) {
    auto pins = im.dump_set(f.pin);
    if (!pins) {
      return unexpected(std::move(pins).error());
    }
    for (const DumpedElement& d : *pins) {
      auto p = nft::decode_pinhole_key(d.key, f.family);
      if (!p) {
        im.log->warn("snapshot: skipping malformed {} element", f.pin);
        continue;
      }
      p->timeout = remaining(d);
      p->userdata = comment_of(d);
      state.pinholes.push_back(std::move(*p));
    }
    auto latches = im.dump_set(f.latch);
    if (!latches) {
      return unexpected(std::move(latches).error());
    }
    for (const DumpedElement& d : *latches) {
      auto l = nft::decode_latch_key(d.key, f.family);
      if (!l) {
        im.log->warn("snapshot: skipping malformed {} element", f.latch);
        continue;
      }
      l->timeout = remaining(d);
      l->latched_timeout = nft::latched_timeout_from_comment(comment_of(d))
                               .value_or(im.config.latched_pinhole_timeout);
      state.latches.push_back(std::move(*l));
    }
  }
  return state;
}

BackendCapabilities NftBackend::capabilities() const {
  BackendCapabilities caps;
  caps.in_place_timeout_update = impl_->in_place_timeout_update;
  caps.table_persist_flag = impl_->table_persist;
  caps.ipv6 = impl_->config.ipv6;
  return caps;
}

bool NftBackend::uses_destroy_setelem() const noexcept { return impl_->destroy_setelem; }

}  // namespace portcullis::agent
