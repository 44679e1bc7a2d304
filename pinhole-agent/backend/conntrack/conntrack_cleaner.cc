#include "pinhole-agent/backend/conntrack/conntrack_cleaner.h"

#include <cerrno>
#include <cstring>
#include <string>
#include <unordered_set>
#include <vector>

#include <arpa/inet.h>
#include <sys/socket.h>

#include <libnetfilter_conntrack/libnetfilter_conntrack.h>

#include "common/log/log.h"

namespace portcullis::agent {

namespace {

struct ConntrackDeleter {
  void operator()(nf_conntrack* ct) const noexcept { nfct_destroy(ct); }
};
using ConntrackPtr = std::unique_ptr<nf_conntrack, ConntrackDeleter>;

struct FilterDumpDeleter {
  void operator()(nfct_filter_dump* f) const noexcept { nfct_filter_dump_destroy(f); }
};

Error ct_error(int err, const std::string& what) {
  ErrorCode code = ErrorCode::kInternal;
  switch (err) {
    case EPERM:
    case EACCES:
      code = ErrorCode::kPermissionDenied;
      break;
    case ENOMEM:
    case ENOSPC:
      code = ErrorCode::kResourceExhausted;
      break;
    case EAGAIN:
    case EINTR:
    case ENOBUFS:
      code = ErrorCode::kUnavailable;
      break;
    default:
      break;
  }
  return Error(code, what + ": " + std::strerror(err));
}

int collect_cb(enum nf_conntrack_msg_type /*type*/, nf_conntrack* ct, void* data) {
  // STOLEN: the library does not free `ct`; we own it from here (deleted after the dump, since
  // the handle cannot run a second query from inside this callback).
  static_cast<std::vector<ConntrackPtr>*>(data)->emplace_back(ct);
  return NFCT_CB_STOLEN;
}

struct MarkCollector {
  const std::unordered_set<std::uint32_t>* marks;
  std::vector<ConntrackPtr>* entries;
};

int collect_marked_cb(enum nf_conntrack_msg_type /*type*/, nf_conntrack* ct, void* data) {
  const auto* c = static_cast<MarkCollector*>(data);
  if (!nfct_attr_is_set(ct, ATTR_MARK) || c->marks->count(nfct_get_attr_u32(ct, ATTR_MARK)) == 0) {
    return NFCT_CB_CONTINUE;  // not ours: the library frees it
  }
  c->entries->emplace_back(ct);
  return NFCT_CB_STOLEN;
}

}  // namespace

std::size_t NetfilterConntrackCleaner::flush_marks(const std::vector<std::uint32_t>& marks) {
  if (marks.size() <= 1) {
    return ConntrackCleaner::flush_marks(marks);
  }
  const std::unordered_set<std::uint32_t> wanted(marks.begin(), marks.end());
  std::vector<ConntrackPtr> entries;
  MarkCollector collector{&wanted, &entries};
  nfct_callback_register(handle_.get(), NFCT_T_ALL, collect_marked_cb, &collector);
  std::uint32_t family = AF_UNSPEC;
  const int dumped = nfct_query(handle_.get(), NFCT_Q_DUMP, &family);
  const int dump_errno = errno;
  nfct_callback_unregister(handle_.get());
  if (dumped < 0 && dump_errno != ENOENT) {
    log::get("conntrack")->warn("dump conntrack for {} marks: {}", marks.size(), std::strerror(dump_errno));
    return marks.size();
  }
  std::size_t deleted = 0;
  std::unordered_set<std::uint32_t> failed;
  for (const ConntrackPtr& ct : entries) {
    if (nfct_query(handle_.get(), NFCT_Q_DESTROY, ct.get()) == 0) {
      ++deleted;
    } else if (errno != ENOENT) {
      failed.insert(nfct_get_attr_u32(ct.get(), ATTR_MARK));
    }
  }
  log::get("conntrack")->debug("flush {} marks in one dump: {} of {} entries deleted", marks.size(), deleted,
                               entries.size());
  return failed.size();
}

Result<std::size_t> NetfilterConntrackCleaner::delete_flows(const std::vector<FlowTuple>& tuples) {
  for (const FlowTuple& t : tuples) {
    if (!t.source.address().is_v4() || !t.destination.address().is_v4()) {
      return unexpected(Error(ErrorCode::kUnimplemented, "conntrack delete by tuple: IPv4 only"));
    }
  }
  ConntrackPtr ct(nfct_new());
  if (!ct) {
    return unexpected(ct_error(ENOMEM, "allocate conntrack tuple"));
  }
  std::size_t deleted = 0;
  for (const FlowTuple& t : tuples) {
    nfct_set_attr_u8(ct.get(), ATTR_L3PROTO, AF_INET);
    nfct_set_attr_u32(ct.get(), ATTR_IPV4_SRC, htonl(t.source.address().v4_host_order()));
    nfct_set_attr_u32(ct.get(), ATTR_IPV4_DST, htonl(t.destination.address().v4_host_order()));
    nfct_set_attr_u8(ct.get(), ATTR_L4PROTO, static_cast<std::uint8_t>(t.protocol));
    nfct_set_attr_u16(ct.get(), ATTR_PORT_SRC, htons(t.source.port()));
    nfct_set_attr_u16(ct.get(), ATTR_PORT_DST, htons(t.destination.port()));
    if (nfct_query(handle_.get(), NFCT_Q_DESTROY, ct.get()) == 0) {
      ++deleted;
    } else if (errno != ENOENT) {  // ENOENT: no such flow, which is the goal
      return unexpected(ct_error(errno, "delete conntrack flow " + t.source.to_string() + " -> " +
                                            t.destination.to_string()));
    }
  }
  return deleted;
}

void NetfilterConntrackCleaner::HandleCloser::operator()(nfct_handle* h) const noexcept {
  nfct_close(h);
}

NetfilterConntrackCleaner::~NetfilterConntrackCleaner() = default;

Result<std::unique_ptr<NetfilterConntrackCleaner>> NetfilterConntrackCleaner::create() {
  std::unique_ptr<nfct_handle, HandleCloser> h(nfct_open(CONNTRACK, 0));
  if (!h) {
    return unexpected(ct_error(errno, "open ctnetlink handle"));
  }
  return std::unique_ptr<NetfilterConntrackCleaner>(new NetfilterConntrackCleaner(std::move(h)));
}

Result<std::size_t> NetfilterConntrackCleaner::flush_mark(std::uint32_t mark, std::uint32_t mask) {
  // Why not NFCT_Q_FLUSH_FILTER: in libnetfilter_conntrack 1.0.9 (Debian 12) it sends the delete
  // without the mark attributes and takes the address family from the first byte of the filter
  // struct, i.e. of the mark. Measured: flushing mark 0x1002 deleted *every* IPv4 entry, mark
  // 0x1001 deleted nothing. Dump-by-mark (filtered in the kernel) + per-entry delete is exact.
  std::unique_ptr<nfct_filter_dump, FilterDumpDeleter> filter(nfct_filter_dump_create());
  if (!filter) {
    return unexpected(ct_error(ENOMEM, "allocate conntrack dump filter"));
  }
  nfct_filter_dump_mark m{mark, mask};
  nfct_filter_dump_set_attr(filter.get(), NFCT_FILTER_DUMP_MARK, &m);

  std::vector<ConntrackPtr> entries;
  nfct_callback_register(handle_.get(), NFCT_T_ALL, collect_cb, &entries);
  const int dumped = nfct_query(handle_.get(), NFCT_Q_DUMP_FILTER, filter.get());
  const int dump_errno = errno;
  nfct_callback_unregister(handle_.get());
  if (dumped < 0 && dump_errno != ENOENT) {
    return unexpected(ct_error(dump_errno, "dump conntrack entries by mark"));
  }

  std::size_t deleted = 0;
  for (const ConntrackPtr& ct : entries) {
    if (nfct_query(handle_.get(), NFCT_Q_DESTROY, ct.get()) == 0) {
      ++deleted;
    } else if (errno != ENOENT) {  // ENOENT: expired or deleted meanwhile, which is the goal
      return unexpected(ct_error(errno, "delete conntrack entry with mark " +
                                            std::to_string(mark) + " after " +
                                            std::to_string(deleted) + " deletions"));
    }
  }
  log::get("conntrack")->debug("flush mark {:#x}/{:#x}: {} of {} entries deleted", mark, mask,
                               deleted, entries.size());
  return deleted;
}

}  // namespace portcullis::agent
