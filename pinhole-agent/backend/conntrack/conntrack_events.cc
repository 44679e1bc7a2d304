#include "pinhole-agent/backend/conntrack/conntrack_events.h"

#include <array>
#include <cerrno>
#include <cstring>
#include <string>

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <libnetfilter_conntrack/libnetfilter_conntrack.h>
#include <libnfnetlink/libnfnetlink.h>

#include "common/log/log.h"

namespace portcullis::agent {

namespace {

Error open_error(int err, const std::string& what) {
  const ErrorCode code =
      (err == EPERM || err == EACCES) ? ErrorCode::kPermissionDenied : ErrorCode::kUnavailable;
  return Error(code, what + ": " + std::strerror(err));
}

net::IpAddress address_of(const nf_conntrack* ct, std::uint8_t family, nf_conntrack_attr v4, nf_conntrack_attr v6) {
  if (family == AF_INET) {
    return net::IpAddress::v4(ntohl(nfct_get_attr_u32(ct, v4)));
  }
  std::array<std::uint8_t, 16> b{};
  std::memcpy(b.data(), nfct_get_attr(ct, v6), b.size());
  return net::IpAddress::v6_bytes(b);
}

/// The agent's flows only: a non-zero mark, UDP (the only protocol bindings carry), IPv4/IPv6.
bool to_flow_event(const nf_conntrack* ct, FlowEvent::Kind kind, FlowEvent* out) {
  if (!nfct_attr_is_set(ct, ATTR_MARK) || nfct_get_attr_u32(ct, ATTR_MARK) == 0 ||
      !nfct_attr_is_set(ct, ATTR_ORIG_L4PROTO) || nfct_get_attr_u8(ct, ATTR_ORIG_L4PROTO) != IPPROTO_UDP ||
      !nfct_attr_is_set(ct, ATTR_ORIG_L3PROTO)) {
    return false;
  }
  const std::uint8_t family = nfct_get_attr_u8(ct, ATTR_ORIG_L3PROTO);
  if (family != AF_INET && family != AF_INET6) {
    return false;
  }
  out->kind = kind;
  out->mark = nfct_get_attr_u32(ct, ATTR_MARK);
  out->protocol = L4Protocol::kUdp;
  out->original_source = net::Endpoint(address_of(ct, family, ATTR_ORIG_IPV4_SRC, ATTR_ORIG_IPV6_SRC),
                                       ntohs(nfct_get_attr_u16(ct, ATTR_ORIG_PORT_SRC)));
  out->original_destination = net::Endpoint(address_of(ct, family, ATTR_ORIG_IPV4_DST, ATTR_ORIG_IPV6_DST),
                                            ntohs(nfct_get_attr_u16(ct, ATTR_ORIG_PORT_DST)));
  out->reply_source = net::Endpoint(address_of(ct, family, ATTR_REPL_IPV4_SRC, ATTR_REPL_IPV6_SRC),
                                    ntohs(nfct_get_attr_u16(ct, ATTR_REPL_PORT_SRC)));
  return true;
}

struct DrainContext {
  std::vector<FlowEvent>* out;
  std::size_t max_events;
  std::size_t added = 0;
  std::uint64_t ignored = 0;
};

int event_cb(enum nf_conntrack_msg_type type, nf_conntrack* ct, void* data) {
  auto* c = static_cast<DrainContext*>(data);
  FlowEvent e;
  const FlowEvent::Kind kind = type == NFCT_T_DESTROY ? FlowEvent::Kind::kDestroy : FlowEvent::Kind::kNew;
  if ((type == NFCT_T_NEW || type == NFCT_T_DESTROY) && to_flow_event(ct, kind, &e)) {
    c->out->push_back(e);
    ++c->added;
  } else {
    ++c->ignored;
  }
  // Stop at the batch limit: ctnetlink sends one event per datagram, so nothing queued is lost;
  // the socket stays readable and the caller drains again.
  return c->added >= c->max_events ? NFCT_CB_STOP : NFCT_CB_CONTINUE;
}

struct DumpContext {
  std::vector<FlowEvent>* out;
  std::size_t max_flows;
  bool truncated = false;
};

int dump_cb(enum nf_conntrack_msg_type /*type*/, nf_conntrack* ct, void* data) {
  auto* c = static_cast<DumpContext*>(data);
  if (c->out->size() >= c->max_flows) {
    c->truncated = true;
    return NFCT_CB_CONTINUE;  // keep reading so the dump ends cleanly
  }
  FlowEvent e;
  if (to_flow_event(ct, FlowEvent::Kind::kNew, &e)) {
    c->out->push_back(e);
  }
  return NFCT_CB_CONTINUE;
}

bool attach_kernel_filter(int fd) {
  nfct_filter* filter = nfct_filter_create();
  if (filter == nullptr) {
    return false;
  }
  nfct_filter_add_attr_u32(filter, NFCT_FILTER_L4PROTO, IPPROTO_UDP);
  // Negative logic: reject mark == 0 (under the full mask), accept every other mark.
  nfct_filter_dump_mark zero{0, 0xffffffff};
  nfct_filter_add_attr(filter, NFCT_FILTER_MARK, &zero);
  nfct_filter_set_logic(filter, NFCT_FILTER_MARK, NFCT_FILTER_LOGIC_NEGATIVE);
  const int rc = nfct_filter_attach(fd, filter);
  nfct_filter_destroy(filter);
  return rc == 0;
}

}  // namespace

void ConntrackEventListener::HandleCloser::operator()(nfct_handle* h) const noexcept { nfct_close(h); }

ConntrackEventListener::ConntrackEventListener(Handle events, Handle dump, ConntrackEventOptions options)
    : events_(std::move(events)), dump_(std::move(dump)), options_(options) {}

ConntrackEventListener::~ConntrackEventListener() = default;

Result<std::unique_ptr<ConntrackEventListener>> ConntrackEventListener::create(
    const ConntrackEventOptions& options) {
  Handle events(nfct_open(CONNTRACK, NF_NETLINK_CONNTRACK_NEW | NF_NETLINK_CONNTRACK_DESTROY));
  if (!events) {
    return unexpected(open_error(errno, "open ctnetlink event socket"));
  }
  Handle dump(nfct_open(CONNTRACK, 0));
  if (!dump) {
    return unexpected(open_error(errno, "open ctnetlink dump handle"));
  }
  const int fd = nfct_fd(events.get());
  const int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
    return unexpected(open_error(errno, "make the ctnetlink event socket non-blocking"));
  }
  // Bounded: a burst beyond this is lost (ENOBUFS) and repaired by a dump, never queued forever.
  nfnl_rcvbufsiz(nfct_nfnlh(events.get()), static_cast<unsigned int>(options.receive_buffer_bytes));
  std::unique_ptr<ConntrackEventListener> l(
      new ConntrackEventListener(std::move(events), std::move(dump), options));
  if (options.kernel_filter) {
    l->stats_.kernel_filter_attached = attach_kernel_filter(fd);
    if (!l->stats_.kernel_filter_attached) {
      log::get("conntrack")->warn("ctnetlink BSF filter not attached ({}); filtering events in user space",
                                  std::strerror(errno));
    }
  }
  return l;
}

int ConntrackEventListener::fd() const noexcept { return nfct_fd(events_.get()); }

DrainResult ConntrackEventListener::drain(std::vector<FlowEvent>& out, std::size_t max_events) {
  DrainResult r;
  if (max_events == 0) {
    r.more = true;
    return r;
  }
  DrainContext c{&out, max_events};
  nfct_callback_register(events_.get(), static_cast<nf_conntrack_msg_type>(NFCT_T_NEW | NFCT_T_DESTROY),
                         event_cb, &c);
  // nfct_catch reads datagrams until recv fails: EAGAIN = drained; ENOBUFS = the kernel dropped
  // events for this socket (its buffer was full); 0 = our callback stopped at the batch limit.
  for (;;) {
    const int rc = nfct_catch(events_.get());
    const int err = errno;
    if (rc >= 0) {
      r.more = c.added >= max_events;
      break;
    }
    if (err == ENOBUFS) {
      r.overrun = true;
      ++stats_.overruns;
      continue;  // the socket is usable again; read what was queued
    }
    if (err != EAGAIN && err != EWOULDBLOCK && err != EINTR) {
      log::get("conntrack")->warn("ctnetlink event socket: {}", std::strerror(err));
    }
    break;
  }
  nfct_callback_unregister(events_.get());
  r.events = c.added;
  stats_.events += c.added;
  stats_.ignored += c.ignored;
  return r;
}

Result<std::vector<FlowEvent>> ConntrackEventListener::dump_flows() {
  std::vector<FlowEvent> flows;
  DumpContext c{&flows, options_.max_dump_flows};
  nfct_callback_register(dump_.get(), NFCT_T_ALL, dump_cb, &c);
  std::uint32_t family = AF_UNSPEC;
  const int rc = nfct_query(dump_.get(), NFCT_Q_DUMP, &family);
  const int err = errno;
  nfct_callback_unregister(dump_.get());
  ++stats_.dumps;
  if (rc < 0 && err != ENOENT) {
    return unexpected(open_error(err, "dump conntrack for a resync"));
  }
  if (c.truncated) {
    log::get("conntrack")->warn("resync dump truncated at {} flows", options_.max_dump_flows);
  }
  return flows;
}

}  // namespace portcullis::agent
