#include <cerrno>
#include <cstring>

#include <catch2/catch.hpp>
#include <libnftnl/udata.h>

#include "pinhole-agent/backend/nft/nft_encoding.h"

using namespace portcullis;
using namespace portcullis::agent;
using namespace portcullis::agent::nft;

namespace {

net::Endpoint ep(const char* text) { return net::Endpoint::parse(text).value(); }
net::IpAddress ip(const char* text) { return net::IpAddress::parse(text).value(); }

}  // namespace

TEST_CASE("concat type ids match nftables", "[unit][nft]") {
  // ipv4_addr . inet_service, as nft writes it for `type ipv4_addr . inet_service`.
  CHECK(concat_type({kTypeIpv4Addr, kTypeInetService}) == ((7u << 6) | 13u));
  CHECK(concat_type({kTypeIpv4Addr}) == 7u);
  CHECK(padded_len(2) == 4);
  CHECK(padded_len(4) == 4);
  CHECK(padded_len(16) == 16);
}

TEST_CASE("endpoint keys pad the port to a register, network order", "[unit][nft]") {
  const Bytes key = encode_endpoint(ep("198.51.100.1:40000"));
  // 198.51.100.1 | 40000 = 0x9c40 | 2 bytes of padding
  const Bytes expected{198, 51, 100, 1, 0x9c, 0x40, 0, 0};
  CHECK(key == expected);
  auto back = decode_endpoint(key, net::Family::kV4);
  REQUIRE(back.ok());
  CHECK(*back == ep("198.51.100.1:40000"));

  // Wrong length or wrong family is an error, not garbage.
  CHECK_FALSE(decode_endpoint(Bytes(7, 0), net::Family::kV4).ok());
  CHECK_FALSE(decode_endpoint(Bytes(12, 0), net::Family::kV4).ok());  // trailing bytes
  CHECK_FALSE(decode_endpoint(key, net::Family::kV6).ok());
}

TEST_CASE("mark data is host order", "[unit][nft]") {
  const Bytes m = encode_mark(0x1001);
  REQUIRE(m.size() == 4);
  std::uint32_t raw = 0;
  std::memcpy(&raw, m.data(), 4);
  CHECK(raw == 0x1001u);
  CHECK(decode_mark(m).value() == 0x1001u);
  CHECK_FALSE(decode_mark(Bytes(3, 0)).ok());
}

TEST_CASE("pinhole and latch keys round-trip, IPv4 and IPv6", "[unit][nft]") {
  Pinhole p;
  p.remote = ep("198.51.100.2:7002");
  p.private_endpoint = ep("10.0.0.2:5002");
  const Bytes k4 = encode_pinhole_key(p);
  const Bytes expected{198, 51, 100, 2, 0x1b, 0x5a, 0, 0, 10, 0, 0, 2, 0x13, 0x8a, 0, 0};
  CHECK(k4 == expected);
  auto p4 = decode_pinhole_key(k4, net::Family::kV4);
  REQUIRE(p4.ok());
  CHECK(p4->remote == p.remote);
  CHECK(p4->private_endpoint == p.private_endpoint);

  Pinhole p6;
  p6.remote = ep("[2001:db8::2]:7000");
  p6.private_endpoint = ep("[2001:db8:1::2]:5000");
  const Bytes k6 = encode_pinhole_key(p6);
  CHECK(k6.size() == 40);
  auto back6 = decode_pinhole_key(k6, net::Family::kV6);
  REQUIRE(back6.ok());
  CHECK(back6->remote == p6.remote);
  CHECK(back6->private_endpoint == p6.private_endpoint);

  Latch l;
  l.remote_address = ip("198.51.100.2");
  l.private_endpoint = ep("10.0.0.2:5000");
  const Bytes lk = encode_latch_key(l);
  CHECK(lk.size() == 12);
  auto lb = decode_latch_key(lk, net::Family::kV4);
  REQUIRE(lb.ok());
  CHECK(lb->remote_address == l.remote_address);
  CHECK(lb->private_endpoint == l.private_endpoint);
  CHECK_FALSE(decode_latch_key(k4, net::Family::kV4).ok());  // 16 bytes is a pinhole, not a latch
}

TEST_CASE("element comments are nftnl_udata TLVs that libnftnl parses", "[unit][nft]") {
  auto tlv = encode_comment("b=0x1002;owner=ctl-a;gen=1", kUdataSetElemComment);
  REQUIRE(tlv.ok());
  CHECK((*tlv)[0] == NFTNL_UDATA_SET_ELEM_COMMENT);
  CHECK((*tlv)[1] == 27);  // 26 characters + NUL
  CHECK(decode_comment(*tlv, kUdataSetElemComment).value() == "b=0x1002;owner=ctl-a;gen=1");

  // Same bytes as libnftnl's own encoder, which is what nft reads back for `comment "..."`.
  nftnl_udata_buf* buf = nftnl_udata_buf_alloc(256);
  REQUIRE(buf != nullptr);
  REQUIRE(nftnl_udata_put_strz(buf, NFTNL_UDATA_SET_ELEM_COMMENT, "b=0x1002;owner=ctl-a;gen=1"));
  const auto* raw = static_cast<const std::uint8_t*>(nftnl_udata_buf_data(buf));
  CHECK(Bytes(raw, raw + nftnl_udata_buf_len(buf)) == *tlv);
  nftnl_udata_buf_free(buf);

  // Limits: 128 bytes max, no NUL inside.
  CHECK(encode_comment(std::string(128, 'x'), 0).ok());
  CHECK(encode_comment(std::string(129, 'x'), 0).error().code == ErrorCode::kInvalidArgument);
  CHECK_FALSE(encode_comment(std::string("a\0b", 3), 0).ok());

  // Other TLVs are skipped, malformed ones rejected.
  Bytes mixed{5, 2, 'h', 'i'};
  mixed.insert(mixed.end(), tlv->begin(), tlv->end());
  CHECK(decode_comment(mixed, 0).value() == "b=0x1002;owner=ctl-a;gen=1");
  CHECK_FALSE(decode_comment(Bytes{0, 10, 'a'}, 0).has_value());       // truncated
  CHECK_FALSE(decode_comment(Bytes{0, 2, 'a', 'b'}, 0).has_value());   // no NUL
  CHECK_FALSE(decode_comment(Bytes{}, 0).has_value());
}

TEST_CASE("table epoch and latch comments", "[unit][nft]") {
  CHECK(epoch_from_table_comment(table_comment_for_epoch("e-42")).value() == "e-42");
  CHECK_FALSE(epoch_from_table_comment("hello").has_value());
  CHECK(latched_timeout_from_comment(latch_comment(std::chrono::milliseconds(60000))).value() ==
        std::chrono::milliseconds(60000));
  CHECK_FALSE(latched_timeout_from_comment("lt=").has_value());
  CHECK_FALSE(latched_timeout_from_comment("lt=12x").has_value());
}

TEST_CASE("errno maps to error codes and messages name the change", "[unit][nft]") {
  CHECK(errno_to_code(EEXIST) == ErrorCode::kAlreadyExists);
  CHECK(errno_to_code(ENFILE) == ErrorCode::kResourceExhausted);
  CHECK(errno_to_code(ENOSPC) == ErrorCode::kResourceExhausted);
  CHECK(errno_to_code(EPERM) == ErrorCode::kPermissionDenied);
  CHECK(errno_to_code(ENOENT) == ErrorCode::kNotFound);
  CHECK(errno_to_code(ENOBUFS) == ErrorCode::kUnavailable);
  CHECK(errno_to_code(EINVAL) == ErrorCode::kInternal);

  const std::string what = describe_element("create", "bind_in4", "198.51.100.1:40000",
                                            "10.0.0.2:5000");
  CHECK(what == "create bind_in4 element 198.51.100.1:40000 -> 10.0.0.2:5000");
  const Error e = errno_error(EEXIST, what);
  CHECK(e.code == ErrorCode::kAlreadyExists);
  CHECK(e.message == "create bind_in4 element 198.51.100.1:40000 -> 10.0.0.2:5000: File exists");
  CHECK(errno_error(EINVAL, "x", "bad attr").message == "x: Invalid argument (bad attr)");
  CHECK(describe_element("delete", "pin4", "k") == "delete pin4 element k");
  CHECK(change_op_name(ChangeOp::kUpsert) == "upsert");
}
