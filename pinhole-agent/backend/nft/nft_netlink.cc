#include "pinhole-agent/backend/nft/nft_netlink.h"

#include <algorithm>
#include <cerrno>
#include <ctime>

#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>

#include <libnftnl/common.h>

#include "pinhole-agent/backend/nft/nft_encoding.h"

namespace portcullis::agent::nft {

namespace {

// Batch pages as nft uses them: messages are written into a page and the batch grows by pages.
constexpr std::uint32_t kBatchPageSize = 128 * 1024;
constexpr std::size_t kRxBufferSize = 64 * 1024;  // > the 32 KiB netlink dump skbs
constexpr time_t kReceiveTimeoutSec = 5;           // a GET/DUMP reply never takes this long

void set_buffer(int fd, int forced_opt, int opt, int bytes) {
  // FORCE ignores net.core.{r,w}mem_max but needs CAP_NET_ADMIN; the agent has it, tests may not.
  if (setsockopt(fd, SOL_SOCKET, forced_opt, &bytes, sizeof(bytes)) != 0) {
    (void)setsockopt(fd, SOL_SOCKET, opt, &bytes, sizeof(bytes));
  }
}

struct ExtackCtx {
  std::string message;
};

int extack_attr_cb(const nlattr* attr, void* data) {
  auto* ctx = static_cast<ExtackCtx*>(data);
  if (mnl_attr_get_type(attr) == NLMSGERR_ATTR_MSG && mnl_attr_validate(attr, MNL_TYPE_STRING) >= 0) {
    ctx->message = mnl_attr_get_str(attr);
  }
  return MNL_CB_OK;
}

/// The extended-ack message of an NLMSG_ERROR, if the kernel attached one.
std::string extack_message(const nlmsghdr* nlh) {
  if ((nlh->nlmsg_flags & NLM_F_ACK_TLVS) == 0) {
    return {};
  }
  const auto* err = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(nlh));
  std::size_t offset = sizeof(nlmsgerr);
  if ((nlh->nlmsg_flags & NLM_F_CAPPED) == 0) {
    offset += err->msg.nlmsg_len - sizeof(nlmsghdr);  // the echoed request sits before the TLVs
  }
  if (offset >= mnl_nlmsg_get_payload_len(nlh)) {
    return {};
  }
  ExtackCtx ctx;
  mnl_attr_parse(nlh, static_cast<unsigned>(offset), extack_attr_cb, &ctx);
  return ctx.message;
}

int dispatch_cb(const nlmsghdr* nlh, void* data) {
  (*static_cast<const std::function<void(const nlmsghdr*)>*>(data))(nlh);
  return MNL_CB_OK;
}

}  // namespace

Result<NetlinkSocket> NetlinkSocket::open(int buffer_bytes) {
  MnlSocketPtr sock(mnl_socket_open(NETLINK_NETFILTER));
  if (!sock) {
    return unexpected(errno_error(errno, "open NETLINK_NETFILTER socket"));
  }
  if (mnl_socket_bind(sock.get(), 0, MNL_SOCKET_AUTOPID) < 0) {
    return unexpected(errno_error(errno, "bind NETLINK_NETFILTER socket"));
  }
  int on = 1;
  // Capped ACKs keep error replies small (no echo of the whole batch message); extended ACKs add
  // the kernel's own explanation, which we append to error messages.
  (void)mnl_socket_setsockopt(sock.get(), NETLINK_CAP_ACK, &on, sizeof(on));
  (void)mnl_socket_setsockopt(sock.get(), NETLINK_EXT_ACK, &on, sizeof(on));
  const int fd = mnl_socket_get_fd(sock.get());
  set_buffer(fd, SO_SNDBUFFORCE, SO_SNDBUF, buffer_bytes);
  set_buffer(fd, SO_RCVBUFFORCE, SO_RCVBUF, buffer_bytes);
  timeval tv{};
  tv.tv_sec = kReceiveTimeoutSec;
  (void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  const std::uint32_t portid = mnl_socket_get_portid(sock.get());
  // Sequence numbers only need to be unique per socket; starting at the clock (as nft does) makes
  // replies to an earlier process's socket id recognisable in traces.
  NetlinkSocket s(std::move(sock), portid, static_cast<std::uint32_t>(std::time(nullptr)));
  s.rx_.resize(kRxBufferSize);
  return s;
}

void NetlinkSocket::drain() {
  const int fd = mnl_socket_get_fd(sock_.get());
  while (recv(fd, rx_.data(), rx_.size(), MSG_DONTWAIT) > 0) {
  }
}

Result<std::vector<BatchError>> NetlinkSocket::send_batch(nftnl_batch* batch) {
  drain();
  const int iov_len = nftnl_batch_iovec_len(batch);
  std::vector<iovec> iov(static_cast<std::size_t>(iov_len));
  nftnl_batch_iovec(batch, iov.data(), static_cast<std::uint32_t>(iov_len));
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  msghdr msg{};
  msg.msg_name = &kernel;
  msg.msg_namelen = sizeof(kernel);
  msg.msg_iov = iov.data();
  msg.msg_iovlen = iov.size();
  const int fd = mnl_socket_get_fd(sock_.get());
  if (sendmsg(fd, &msg, 0) < 0) {
    return unexpected(errno_error(errno, "send nf_tables batch"));
  }

  std::vector<BatchError> errors;
  while (true) {
    const ssize_t n = recv(fd, rx_.data(), rx_.size(), MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        break;  // everything the kernel said about this batch has been read
      }
      if (errno == EINTR) {
        continue;
      }
      errors.push_back({0, errno, "netlink replies lost"});
      break;
    }
    int remaining = static_cast<int>(n);
    for (auto* nlh = reinterpret_cast<const nlmsghdr*>(rx_.data()); mnl_nlmsg_ok(nlh, remaining);
         nlh = mnl_nlmsg_next(nlh, &remaining)) {
      if (nlh->nlmsg_type != NLMSG_ERROR) {
        continue;
      }
      const auto* err = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(nlh));
      if (err->error != 0) {
        errors.push_back({nlh->nlmsg_seq, -err->error, extack_message(nlh)});
      }
    }
  }
  return errors;
}

Status NetlinkSocket::request(nlmsghdr* nlh, const std::function<void(const nlmsghdr*)>& on_message,
                              const std::string& what) {
  drain();
  const std::uint32_t seq = nlh->nlmsg_seq;
  if (mnl_socket_sendto(sock_.get(), nlh, nlh->nlmsg_len) < 0) {
    return unexpected(errno_error(errno, what));
  }
  while (true) {
    const ssize_t n = mnl_socket_recvfrom(sock_.get(), rx_.data(), rx_.size());
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return unexpected(errno_error(errno, what));
    }
    const int ret = mnl_cb_run(rx_.data(), static_cast<std::size_t>(n), seq, portid_, dispatch_cb,
                               const_cast<std::function<void(const nlmsghdr*)>*>(&on_message));
    if (ret < 0) {
      return unexpected(errno_error(errno, what));
    }
    if (ret == MNL_CB_STOP) {
      return ok_status();
    }
  }
}

// --- Batch ---------------------------------------------------------------------------------------

Batch::Batch(NetlinkSocket& sock)
    : sock_(sock), batch_(nftnl_batch_alloc(kBatchPageSize, MNL_SOCKET_BUFFER_SIZE)) {
  if (!batch_) {
    failed_ = true;
    return;
  }
  descriptions_.reserve(64);
  begin_seq_ = sock_.next_seq();
  nftnl_batch_begin(static_cast<char*>(nftnl_batch_buffer(batch_.get())), begin_seq_);
  failed_ = nftnl_batch_update(batch_.get()) < 0;
}

std::uint32_t Batch::add(std::uint16_t type, std::uint16_t flags, std::string description, PayloadFiller fill) {
  const std::uint32_t seq = add(type, flags, LazyDescription{}, fill);
  if (seq != 0) {
    descriptions_.back().text = std::move(description);
  }
  return seq;
}

std::uint32_t Batch::add(std::uint16_t type, std::uint16_t flags, LazyDescription description,
                         PayloadFiller fill) {
  if (failed_) {
    return 0;
  }
  const std::uint32_t seq = sock_.next_seq();
  nlmsghdr* nlh = nftnl_nlmsg_build_hdr(static_cast<char*>(nftnl_batch_buffer(batch_.get())), type,
                                        NFPROTO_INET, flags, seq);
  fill(nlh);
  descriptions_.push_back(Description{seq, {}, description});
  if (nftnl_batch_update(batch_.get()) < 0) {
    failed_ = true;
    return 0;
  }
  return seq;
}

Status Batch::commit(BatchError* first_error) {
  if (failed_) {
    return unexpected(resource_exhausted("could not allocate the nf_tables batch buffer"));
  }
  nftnl_batch_end(static_cast<char*>(nftnl_batch_buffer(batch_.get())), sock_.next_seq());
  if (nftnl_batch_update(batch_.get()) < 0) {
    return unexpected(resource_exhausted("could not allocate the nf_tables batch buffer"));
  }
  auto errors = sock_.send_batch(batch_.get());
  if (!errors) {
    return unexpected(std::move(errors).error());
  }
  if (errors->empty()) {
    return ok_status();
  }
  // The kernel reports every failing message; later ones are often consequences of the first
  // (e.g. a rule naming a set whose creation failed), so the lowest seq names the cause.
  const BatchError& first = *std::min_element(
      errors->begin(), errors->end(),
      [](const BatchError& a, const BatchError& b) { return a.seq < b.seq; });
  if (first_error != nullptr) {
    *first_error = first;
  }
  std::string what;
  // Appended in seq order (wrap aside): searched only on failure.
  const auto it = std::find_if(descriptions_.begin(), descriptions_.end(),
                               [&](const Description& d) { return d.seq == first.seq; });
  if (it != descriptions_.end()) {
    what = it->lazy.render != nullptr ? it->lazy.render(it->lazy.a, it->lazy.b, it->lazy.c) : it->text;
  } else if (first.seq == begin_seq_) {
    what = "commit nf_tables transaction";
  } else {
    what = "nf_tables batch (seq " + std::to_string(first.seq) + ")";
  }
  return unexpected(errno_error(first.err, what, first.extack));
}

}  // namespace portcullis::agent::nft
