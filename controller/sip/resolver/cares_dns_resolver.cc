#include "controller/sip/resolver/cares_dns_resolver.h"

#include <ares.h>

#include <algorithm>
#include <cstring>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <boost/asio/post.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>

#include "common/log/log.h"
#include "controller/sip/resolver/dns_message.h"

namespace portcullis::sip::resolver {
namespace asio = boost::asio;

namespace {

constexpr int kClassIn = 1;        // RFC 1035 §3.2.4
constexpr std::size_t kMaxNameLength = 253;  // RFC 1035 §2.3.4, in text form without the root dot

void init_cares_library_once() {
  static std::once_flag once;
  std::call_once(once, [] { ares_library_init(ARES_LIB_INIT_ALL); });
}

DnsError error_from_status(int status) {
  const std::string text = ares_strerror(status);
  switch (status) {
    case ARES_ENOTFOUND:
      return {DnsErrorKind::kNxDomain, text, std::nullopt};
    case ARES_ENODATA:
      return {DnsErrorKind::kNoData, text, std::nullopt};
    case ARES_ETIMEOUT:
      return {DnsErrorKind::kTimeout, text, std::nullopt};
    case ARES_ESERVFAIL:
    case ARES_EREFUSED:
    case ARES_ENOTIMP:
    case ARES_EFORMERR:
    case ARES_EBADRESP:
    case ARES_ECONNREFUSED:
      return {DnsErrorKind::kServerFailure, text, std::nullopt};
    case ARES_EBADNAME:
      return {DnsErrorKind::kBadName, text, std::nullopt};
    default:
      return {DnsErrorKind::kInternal, text, std::nullopt};
  }
}

// A name c-ares can put on the wire: 1..253 octets, labels 1..63, no NUL.
bool valid_query_name(std::string_view name) {
  if (name.empty() || name.size() > kMaxNameLength || name.find('\0') != std::string_view::npos) {
    return false;
  }
  std::size_t label = 0;
  for (const char c : name) {
    if (c == '.') {
      if (label == 0) {
        return false;
      }
      label = 0;
    } else if (++label > 63) {
      return false;
    }
  }
  return label != 0;
}

}  // namespace

struct CaresDnsResolver::Impl {
  struct Entry {
    DnsCallback callback;
    std::optional<DnsResult> result;  // set once answered; delivered by drain()
    std::unique_ptr<asio::steady_timer> deadline;
  };
  // Handed to ares_query() as its `arg`; freed in on_answer (c-ares calls back exactly once).
  struct QueryContext {
    Impl* impl;
    DnsQueryId id;
    DnsType type;
    std::string name;
  };
  struct Watch {
    explicit Watch(const asio::any_io_executor& ex) : descriptor(ex) {}
    asio::posix::stream_descriptor descriptor;
    bool want_read = false;
    bool want_write = false;
    bool read_armed = false;
    bool write_armed = false;
    bool closed = false;
  };

  Impl(asio::any_io_executor ex, CaresConfig cfg) : executor(std::move(ex)), config(std::move(cfg)), timer(executor) {}

  ~Impl() {
    alive.reset();  // handlers still queued on the executor see an expired token
    destroying = true;
    if (channel != nullptr) {
      // Runs every outstanding callback with ARES_EDESTRUCTION and closes the sockets (our
      // sock_state callback releases the descriptors before c-ares closes them).
      ares_destroy(channel);
    }
    for (auto& [fd, w] : watches) {
      release_watch(*w);
    }
  }

  Status init() {
    init_cares_library_once();
    ares_options opts{};
    int mask = 0;
    // ares_query() never applies search domains; NOALIASES ignores HOSTALIASES from the environment.
    opts.flags = ARES_FLAG_NOSEARCH | ARES_FLAG_NOALIASES;
    mask |= ARES_OPT_FLAGS;
    opts.timeout = static_cast<int>(std::max<std::int64_t>(1, config.attempt_timeout.count()));
    mask |= ARES_OPT_TIMEOUTMS;
    opts.tries = std::max(1, config.tries);
    mask |= ARES_OPT_TRIES;
    opts.sock_state_cb = &Impl::sock_state_trampoline;
    opts.sock_state_cb_data = this;
    mask |= ARES_OPT_SOCK_STATE_CB;
    if (!config.use_system_config || !config.servers.empty()) {
      // Everything resolv.conf could provide is given here, so c-ares has no reason to read it;
      // the servers are set right after with ares_set_servers_ports (ports other than 53).
      opts.nservers = 0;
      opts.servers = nullptr;
      mask |= ARES_OPT_SERVERS;
      opts.ndomains = 0;
      opts.domains = nullptr;
      mask |= ARES_OPT_DOMAINS;
      opts.nsort = 0;
      opts.sortlist = nullptr;
      mask |= ARES_OPT_SORTLIST;
      opts.ndots = 1;
      mask |= ARES_OPT_NDOTS;
      static char kLookups[] = "b";  // DNS only, never /etc/hosts
      opts.lookups = kLookups;
      mask |= ARES_OPT_LOOKUPS;
    }
    if (const int rc = ares_init_options(&channel, &opts, mask); rc != ARES_SUCCESS) {
      channel = nullptr;
      return unexpected(internal_error(std::string("ares_init_options: ") + ares_strerror(rc)));
    }
    if (!config.servers.empty()) {
      std::vector<ares_addr_port_node> nodes(config.servers.size());
      for (std::size_t i = 0; i < nodes.size(); ++i) {
        const net::Endpoint& ep = config.servers[i];
        ares_addr_port_node& n = nodes[i];
        n.next = i + 1 < nodes.size() ? &nodes[i + 1] : nullptr;
        const std::string_view bytes = ep.address().bytes();
        if (ep.address().is_v4()) {
          n.family = AF_INET;
          std::memcpy(&n.addr.addr4, bytes.data(), 4);
        } else {
          n.family = AF_INET6;
          std::memcpy(&n.addr.addr6, bytes.data(), 16);
        }
        n.udp_port = ep.port();
        n.tcp_port = ep.port();
      }
      if (const int rc = ares_set_servers_ports(channel, nodes.data()); rc != ARES_SUCCESS) {
        return unexpected(internal_error(std::string("ares_set_servers_ports: ") + ares_strerror(rc)));
      }
    }
    return ok_status();
  }

  DnsQueryId query(std::string_view raw_name, DnsType type, DnsCallback callback) {
    const DnsQueryId id = next_id++;
    Entry& entry = entries[id];
    entry.callback = std::move(callback);
    std::string name = canonical_dns_name(raw_name);
    if (!valid_query_name(name)) {
      complete(id, unexpected(DnsError{DnsErrorKind::kBadName, "cannot query '" + name + "'", std::nullopt}));
      return id;
    }
    if (ares_in_flight >= config.max_in_flight) {
      complete(id, unexpected(DnsError{DnsErrorKind::kOverloaded,
                                       std::to_string(ares_in_flight) + " DNS queries in flight", std::nullopt}));
      return id;
    }
    entry.deadline = std::make_unique<asio::steady_timer>(executor, config.query_timeout);
    entry.deadline->async_wait([this, id, token = std::weak_ptr<int>(alive)](boost::system::error_code ec) {
      if (token.expired() || ec) {
        return;
      }
      complete(id, unexpected(DnsError{DnsErrorKind::kTimeout, "query deadline exceeded", std::nullopt}));
    });
    ++ares_in_flight;
    auto* ctx = new QueryContext{this, id, type, name};  // owned by c-ares until on_answer
    ares_query(channel, ctx->name.c_str(), kClassIn, static_cast<int>(type), &Impl::on_answer, ctx);
    after_cares_call();
    return id;
  }

  void cancel(DnsQueryId id) {
    // c-ares 1.18 cannot cancel one query; it runs to its own timeout and its answer is dropped.
    entries.erase(id);
  }

  static void on_answer(void* arg, int status, int /*timeouts*/, unsigned char* abuf, int alen) {
    std::unique_ptr<QueryContext> ctx(static_cast<QueryContext*>(arg));
    Impl& self = *ctx->impl;
    if (status == ARES_EDESTRUCTION || self.destroying) {
      return;
    }
    --self.ares_in_flight;
    if (abuf != nullptr && alen > 0 &&
        (status == ARES_SUCCESS || status == ARES_ENODATA || status == ARES_ENOTFOUND)) {
      // The raw answer, so we keep TTLs and the SOA negative TTL (RFC 2308).
      self.complete(ctx->id, parse_dns_response(std::span<const std::uint8_t>(abuf, static_cast<std::size_t>(alen)),
                                                ctx->type, ctx->name));
    } else {
      self.complete(ctx->id, unexpected(error_from_status(status)));
    }
  }

  // Records the result of a query (first one wins) and schedules delivery on the executor.
  void complete(DnsQueryId id, DnsResult result) {
    const auto it = entries.find(id);
    if (it == entries.end() || it->second.result) {
      return;  // cancelled, or already completed (deadline vs late answer)
    }
    it->second.result = std::move(result);
    ready.push_back(id);
    if (!drain_posted) {
      drain_posted = true;
      asio::post(executor, [this, token = std::weak_ptr<int>(alive)] {
        if (!token.expired()) {
          drain(token);
        }
      });
    }
  }

  void drain(const std::weak_ptr<int>& token) {
    drain_posted = false;
    std::vector<DnsQueryId> batch;
    batch.swap(ready);
    for (const DnsQueryId id : batch) {
      if (token.expired()) {
        return;  // a callback destroyed the resolver
      }
      const auto it = entries.find(id);
      if (it == entries.end()) {
        continue;  // cancelled after completion: no callback (DnsResolver contract)
      }
      DnsCallback cb = std::move(it->second.callback);
      DnsResult result = std::move(*it->second.result);
      entries.erase(it);
      cb(std::move(result));
    }
  }

  static void sock_state_trampoline(void* data, ares_socket_t fd, int readable, int writable) {
    static_cast<Impl*>(data)->on_sock_state(fd, readable != 0, writable != 0);
  }

  void on_sock_state(int fd, bool readable, bool writable) {
    if (!readable && !writable) {
      // c-ares is about to close fd: stop watching it first so the reactor forgets it.
      if (const auto it = watches.find(fd); it != watches.end()) {
        release_watch(*it->second);
        watches.erase(it);
      }
      return;
    }
    auto& w = watches[fd];
    if (!w) {
      w = std::make_shared<Watch>(executor);
      boost::system::error_code ec;
      w->descriptor.assign(fd, ec);
      if (ec) {
        log::get("dns")->error("cannot watch c-ares socket {}: {}", fd, ec.message());
        watches.erase(fd);
        return;  // the query times out through the c-ares timer instead
      }
    }
    w->want_read = readable;
    w->want_write = writable;
    if (!destroying) {
      arm(w, fd);
    }
  }

  void release_watch(Watch& w) {
    if (w.closed) {
      return;
    }
    w.closed = true;
    boost::system::error_code ec;
    w.descriptor.cancel(ec);
    w.descriptor.release();  // c-ares owns and closes the fd
  }

  void arm(const std::shared_ptr<Watch>& w, int fd) {
    if (w->want_read && !w->read_armed) {
      w->read_armed = true;
      w->descriptor.async_wait(asio::posix::stream_descriptor::wait_read,
                               [this, w, fd, token = std::weak_ptr<int>(alive)](boost::system::error_code ec) {
                                 if (token.expired()) {
                                   return;
                                 }
                                 w->read_armed = false;
                                 if (w->closed || ec) {
                                   return;
                                 }
                                 ares_process_fd(channel, fd, ARES_SOCKET_BAD);
                                 after_cares_call();
                                 if (!w->closed) {
                                   arm(w, fd);
                                 }
                               });
    }
    if (w->want_write && !w->write_armed) {
      w->write_armed = true;
      w->descriptor.async_wait(asio::posix::stream_descriptor::wait_write,
                               [this, w, fd, token = std::weak_ptr<int>(alive)](boost::system::error_code ec) {
                                 if (token.expired()) {
                                   return;
                                 }
                                 w->write_armed = false;
                                 if (w->closed || ec) {
                                   return;
                                 }
                                 ares_process_fd(channel, ARES_SOCKET_BAD, fd);
                                 after_cares_call();
                                 if (!w->closed) {
                                   arm(w, fd);
                                 }
                               });
    }
  }

  // After anything that may have changed c-ares' timeouts: re-arm the single timer.
  void after_cares_call() {
    timeval tv{};
    timeval* next = ares_timeout(channel, nullptr, &tv);
    if (next == nullptr) {
      timer.cancel();
      return;
    }
    const auto wait = std::chrono::seconds(next->tv_sec) + std::chrono::microseconds(next->tv_usec);
    timer.expires_after(std::chrono::duration_cast<asio::steady_timer::duration>(wait));
    timer.async_wait([this, token = std::weak_ptr<int>(alive)](boost::system::error_code ec) {
      if (token.expired() || ec) {
        return;
      }
      // Lets c-ares retransmit or give up on queries whose try timed out.
      ares_process_fd(channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
      after_cares_call();
    });
  }

  asio::any_io_executor executor;
  CaresConfig config;
  ares_channel channel = nullptr;
  asio::steady_timer timer;
  std::shared_ptr<int> alive = std::make_shared<int>(0);
  bool destroying = false;
  bool drain_posted = false;
  DnsQueryId next_id = 1;
  std::size_t ares_in_flight = 0;
  std::unordered_map<DnsQueryId, Entry> entries;
  std::vector<DnsQueryId> ready;
  std::unordered_map<int, std::shared_ptr<Watch>> watches;
};

Result<std::unique_ptr<CaresDnsResolver>> CaresDnsResolver::create(asio::any_io_executor executor,
                                                                   CaresConfig config) {
  if (config.servers.empty() && !config.use_system_config) {
    return unexpected(invalid_argument("CaresConfig: no DNS servers and use_system_config is off"));
  }
  if (config.max_in_flight == 0 || config.query_timeout.count() <= 0 || config.attempt_timeout.count() <= 0) {
    return unexpected(invalid_argument("CaresConfig: max_in_flight and timeouts must be positive"));
  }
  for (const auto& s : config.servers) {
    if (s.port() == 0) {
      return unexpected(invalid_argument("CaresConfig: DNS server port 0"));
    }
  }
  auto impl = std::make_unique<Impl>(std::move(executor), std::move(config));
  PORTCULLIS_RETURN_IF_ERROR(impl->init());
  return std::unique_ptr<CaresDnsResolver>(new CaresDnsResolver(std::move(impl)));
}

CaresDnsResolver::CaresDnsResolver(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
CaresDnsResolver::~CaresDnsResolver() = default;

DnsQueryId CaresDnsResolver::query(std::string_view name, DnsType type, DnsCallback callback) {
  return impl_->query(name, type, std::move(callback));
}

void CaresDnsResolver::cancel(DnsQueryId id) { impl_->cancel(id); }

std::size_t CaresDnsResolver::in_flight() const noexcept { return impl_->ares_in_flight; }

std::size_t CaresDnsResolver::pending_callbacks() const noexcept { return impl_->entries.size(); }

}  // namespace portcullis::sip::resolver
