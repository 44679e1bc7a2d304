// The nf_tables netlink session: one long-lived NETLINK_NETFILTER socket, atomic batches
// (NFNL_MSG_BATCH_BEGIN … END in one sendmsg) and request/dump round trips.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <type_traits>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "common/base/result.h"
#include "pinhole-agent/backend/nft/nft_raii.h"

struct nlmsghdr;

namespace portcullis::agent::nft {

/// One error the kernel reported for a batch message (identified by its sequence number).
struct BatchError {
  std::uint32_t seq = 0;
  int err = 0;
  std::string extack;  // NLMSGERR_ATTR_MSG, when the kernel gave one
};

class NetlinkSocket {
 public:
  /// Opens and binds the socket; asks for capped ACKs with extended error messages and sizes the
  /// socket buffers (forced when CAP_NET_ADMIN allows, else best effort).
  static Result<NetlinkSocket> open(int buffer_bytes);

  std::uint32_t portid() const noexcept { return portid_; }
  /// Never 0: Batch::add() uses 0 for "not added".
  std::uint32_t next_seq() noexcept {
    if (seq_ == 0) {
      ++seq_;
    }
    return seq_++;
  }

  /// Sends an already terminated batch with one sendmsg and collects what the kernel reported.
  /// The kernel processes a batch synchronously inside sendmsg and, without NLM_F_ACK, answers
  /// only failing messages, so an empty result means the transaction committed. A lost error
  /// (ENOBUFS on receive) is reported as one BatchError with err=ENOBUFS and seq 0.
  Result<std::vector<BatchError>> send_batch(nftnl_batch* batch);

  /// Sends one request (GET or DUMP) and runs `on_message` for every reply until NLMSG_DONE or the
  /// final ACK. Returns the kernel's errno as an Error whose message starts with `what`.
  Status request(nlmsghdr* nlh, const std::function<void(const nlmsghdr*)>& on_message,
                 const std::string& what);

 private:
  NetlinkSocket(MnlSocketPtr sock, std::uint32_t portid, std::uint32_t seq)
      : sock_(std::move(sock)), portid_(portid), seq_(seq) {}
  /// Discards anything left from an earlier, interrupted exchange.
  void drain();

  MnlSocketPtr sock_;
  std::uint32_t portid_ = 0;
  std::uint32_t seq_ = 0;
  std::vector<char> rx_;
};

/// A non-owning reference to a callable `void(nlmsghdr*)`, invoked before Batch::add returns.
/// Unlike std::function it never allocates (element payload lambdas capture more than the 16
/// bytes std::function stores inline, so every batch message used to cost a malloc + free).
class PayloadFiller {
 public:
  template <class F, class = std::enable_if_t<!std::is_same_v<std::decay_t<F>, PayloadFiller>>>
  PayloadFiller(F&& f) noexcept  // NOLINT(google-explicit-constructor): a function_ref
      : object_(const_cast<void*>(static_cast<const void*>(std::addressof(f)))),
        call_([](void* o, nlmsghdr* nlh) { (*static_cast<std::remove_reference_t<F>*>(o))(nlh); }) {}
  void operator()(nlmsghdr* nlh) const { call_(object_, nlh); }

 private:
  void* object_;
  void (*call_)(void*, nlmsghdr*);
};

/// A message description rendered only if the kernel refuses that message: `render(a, b, c)`.
/// Element messages describe themselves this way, so a successful batch builds no strings; the
/// pointed-to objects must outlive Batch::commit().
struct LazyDescription {
  std::string (*render)(const void* a, const void* b, std::uintptr_t c) = nullptr;
  const void* a = nullptr;
  const void* b = nullptr;
  std::uintptr_t c = 0;
};

/// A batch being built: every message gets its own sequence number and a human description, so an
/// error names the change that caused it.
class Batch {
 public:
  explicit Batch(NetlinkSocket& sock);

  /// Appends a message of `type` (family NFPROTO_INET); `fill` writes its payload. Returns the
  /// message's sequence number, or 0 if the batch buffer could not grow (commit() then fails with
  /// kResourceExhausted).
  std::uint32_t add(std::uint16_t type, std::uint16_t flags, std::string description, PayloadFiller fill);
  /// Same, with the description rendered only on failure.
  std::uint32_t add(std::uint16_t type, std::uint16_t flags, LazyDescription description, PayloadFiller fill);

  std::size_t message_count() const noexcept { return descriptions_.size(); }
  /// Expected number of messages (avoids regrowing the description table).
  void reserve(std::size_t messages) { descriptions_.reserve(messages); }

  /// Terminates and sends the batch. On failure the error is the lowest-seq failing message's:
  /// "<description>: <strerror>" with the errno mapped to an ErrorCode. `first_error` (optional)
  /// receives that message's errno and seq, for callers that retry.
  Status commit(BatchError* first_error = nullptr);

 private:
  NetlinkSocket& sock_;
  BatchPtr batch_;
  std::uint32_t begin_seq_ = 0;
  bool failed_ = false;
  struct Description {
    std::uint32_t seq = 0;
    std::string text;  // empty when `lazy` is set
    LazyDescription lazy;
  };
  /// In add order: a vector, not a map (one node allocation per message).
  std::vector<Description> descriptions_;
};

}  // namespace portcullis::agent::nft
