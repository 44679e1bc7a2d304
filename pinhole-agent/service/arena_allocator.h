// ArenaMessageAllocator: request and response of one unary RPC on one protobuf Arena.
//
// With the default allocator gRPC's callback API news the request and the response, and every
// nested message and repeated element of them (a Binding is ~10 sub-messages; an Apply response
// with 250 bindings thousands) is one more malloc + free on the mutation executor. Here each RPC
// gets one holder object that embeds the arena's first block, so a typical unary RPC costs a
// single allocation, and everything is freed at once when gRPC releases the holder after the RPC
// is done. Big messages (Apply) grow the arena in a few large blocks.
#pragma once

#include <cstddef>

#include <google/protobuf/arena.h>
#include <grpcpp/support/message_allocator.h>

namespace portcullis::agent::service {

template <class Request, class Response, std::size_t kInitialBlockBytes = 4096>
class ArenaMessageAllocator final : public grpc::MessageAllocator<Request, Response> {
 public:
  grpc::MessageHolder<Request, Response>* AllocateMessages() override { return new Holder(); }

 private:
  class Holder final : public grpc::MessageHolder<Request, Response> {
   public:
    Holder() : arena_(options()) {
      this->set_request(google::protobuf::Arena::CreateMessage<Request>(&arena_));
      this->set_response(google::protobuf::Arena::CreateMessage<Response>(&arena_));
    }
    void Release() override { delete this; }

   private:
    google::protobuf::ArenaOptions options() {
      google::protobuf::ArenaOptions o;
      o.initial_block = initial_block_;
      o.initial_block_size = sizeof initial_block_;
      o.start_block_size = 16 * 1024;  // blocks after the embedded one
      o.max_block_size = 256 * 1024;
      return o;
    }
    // Declared before arena_: the arena is built on it and destroyed first.
    alignas(std::max_align_t) char initial_block_[kInitialBlockBytes];
    google::protobuf::Arena arena_;
  };
};

}  // namespace portcullis::agent::service
