// Hostile inputs: every prefix of valid values, embedded NULs, byte mutations, huge values.
// The assertion that matters most is the absence of crashes and ASan/UBSan reports; each case
// also checks the verdict where it is known.
#include <catch2/catch.hpp>

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "controller/sip/parser/headers.h"

namespace portcullis::sip {
namespace {

enum class Kind { kUri, kNameAddr, kNameAddrList, kSplit, kVia, kCSeq, kMaxForwards, kContentLength,
                  kDelta, kContact, kMediaType, kTokenList, kAuth, kDate, kCallId };

// Parses `text` with the parser for `kind`; returns whether it was accepted. Every view of an
// accepted result is checked to lie inside `text` (zero-copy and bounds).
bool run(Kind kind, std::string_view text) {
  const char* lo = text.data();
  const char* hi = text.data() + text.size();
  auto inside = [&](std::string_view v) {
    if (!v.empty()) {
      CHECK(v.data() >= lo);
      CHECK(v.data() + v.size() <= hi);
    }
  };
  auto check_uri = [&](const Uri& u) {
    inside(u.text);
    inside(u.user);
    inside(u.password);
    inside(u.host);
    inside(u.host_port);
    inside(u.opaque);
    inside(u.telephone_subscriber);
    for (const Param& p : u.params.items()) {
      inside(p.name);
      inside(p.value);
    }
    for (const UriHeader& h : u.headers) {
      inside(h.name);
      inside(h.value);
    }
  };
  auto check_na = [&](const NameAddr& na) {
    inside(na.display_name);
    check_uri(na.uri);
    for (const Param& p : na.params.items()) {
      inside(p.name);
      inside(p.value);
    }
    (void)na.unquoted_display_name();
  };
  switch (kind) {
    case Kind::kUri: {
      auto r = parse_uri(text);
      if (r) {
        check_uri(*r);
        (void)unescape(r->user);
        CHECK(uri_equivalent(*r, *r));
      }
      return r.ok();
    }
    case Kind::kNameAddr: {
      auto r = parse_name_addr(text);
      if (r) {
        check_na(*r);
      }
      return r.ok();
    }
    case Kind::kNameAddrList: {
      auto r = parse_name_addr_list(text);
      if (r) {
        for (const auto& na : *r) {
          check_na(na);
        }
      }
      return r.ok();
    }
    case Kind::kSplit: {
      auto r = split_comma_list(text);
      if (r) {
        for (auto v : *r) {
          inside(v);
        }
      }
      return r.ok();
    }
    case Kind::kVia: {
      auto r = parse_via_list(text);
      if (r) {
        for (const Via& v : *r) {
          inside(v.text);
          inside(v.host);
          inside(v.branch);
          inside(v.received);
          inside(v.maddr);
        }
      }
      return r.ok();
    }
    case Kind::kCSeq: {
      auto r = parse_cseq(text);
      if (r) {
        inside(r->method);
      }
      return r.ok();
    }
    case Kind::kMaxForwards:
      return parse_max_forwards(text).ok();
    case Kind::kContentLength:
      return parse_content_length(text, 65535).ok();
    case Kind::kDelta:
      return parse_delta_seconds(text).ok();
    case Kind::kContact: {
      auto r = parse_contact(text);
      if (r) {
        for (const auto& na : r->contacts) {
          check_na(na);
          (void)contact_expires(na);
          (void)contact_q(na);
        }
      }
      return r.ok();
    }
    case Kind::kMediaType:
      return parse_media_type(text).ok();
    case Kind::kTokenList:
      return parse_token_list(text).ok();
    case Kind::kAuth: {
      auto r = parse_auth(text);
      if (r) {
        for (const auto& p : r->params) {
          inside(p.value);
        }
        inside(r->token68);
      }
      return r.ok();
    }
    case Kind::kDate:
      return parse_date(text).ok();
    case Kind::kCallId:
      return parse_call_id(text).ok();
  }
  return false;
}

struct Sample {
  Kind kind;
  std::string_view text;
};

const std::vector<Sample>& samples() {
  static const std::vector<Sample> kSamples = {
      {Kind::kUri, "sips:alice:pw@[2001:db8::1]:5061;transport=tls;lr;maddr=192.0.2.1?Subject=a%20b&x=y"},
      {Kind::kUri, "sip:user;par=u%40example.net@example.com"},
      {Kind::kUri, "tel:+1-201-555-0123;ext=1234;phone-context=x"},
      {Kind::kUri, "soap.beep://192.0.2.103:3002"},
      {Kind::kNameAddr, "\"J Rosenberg \\\\\\\"\"   <sip:jdrosen@example.com>  ;  tag = 98asjd8"},
      {Kind::kNameAddr, "token1~` token2'+_ <sip:mundane@example.com>;tag=_token~1'+`*%!-."},
      {Kind::kNameAddr, "sip:+19725552222@gw1.example.net;unknownparam"},
      {Kind::kNameAddrList, "<sip:a@b;lr>, \"x, y\" <sip:c@[::1]:5060>;p=\"q\", sip:d@e"},
      {Kind::kSplit, "a, \"b,c\" <d,e>, f"},
      {Kind::kVia, "SIP  / 2.0  / TCP  spindle.example.com : 5060 ; branch = z9hG4bK9ikj8 ; received=2001:db8::1 ,"
                   " SIP/2.0/UDP [::1];rport=5060;ttl=3;maddr=h"},
      {Kind::kCSeq, "0009  INVITE"},
      {Kind::kMaxForwards, "0068"},
      {Kind::kContentLength, "00150"},
      {Kind::kDelta, "3600"},
      {Kind::kContact, "<sip:a@b>;q=0.5;expires=60, sip:c@d;q=1"},
      {Kind::kMediaType, "multipart/mixed ; boundary=\"7a9c\""},
      {Kind::kTokenList, "a, b ,c"},
      {Kind::kAuth, "Digest realm=\"x\", nonce=\"y\\\"z\", qop=auth"},
      {Kind::kAuth, "Basic QWxhZGRpbjpvcGVu=="},
      {Kind::kDate, "Sat, 13 Nov 2010 23:29:00 GMT"},
      {Kind::kCallId, "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{"},
  };
  return kSamples;
}

TEST_CASE("every prefix of a valid value is handled without reading past it", "[unit][hostile]") {
  for (const Sample& s : samples()) {
    CAPTURE(s.text);
    REQUIRE(run(s.kind, s.text));
    for (std::size_t n = 0; n < s.text.size(); ++n) {
      // Copy into an exact-size heap buffer so ASan flags any read past the prefix.
      auto buf = std::make_unique<char[]>(n == 0 ? 1 : n);
      std::copy_n(s.text.data(), n, buf.get());
      (void)run(s.kind, std::string_view(buf.get(), n));
    }
  }
}

TEST_CASE("a NUL byte anywhere in a value is rejected (outside quoted-pair)", "[unit][hostile]") {
  for (const Sample& s : samples()) {
    for (std::size_t i = 0; i <= s.text.size(); ++i) {
      std::string mutated(s.text);
      mutated.insert(i, 1, '\0');
      CAPTURE(s.text, i);
      const bool after_backslash = i > 0 && s.text[i - 1] == '\\';
      if (s.kind == Kind::kSplit || after_backslash) {
        (void)run(s.kind, mutated);  // split_comma_list does not validate characters
        continue;
      }
      // Leading/trailing NULs are not LWS; inside quoted strings a bare NUL is not qdtext.
      CHECK_FALSE(run(s.kind, mutated));
    }
  }
}

TEST_CASE("random byte mutations do not crash", "[unit][hostile]") {
  std::mt19937 rng(4475);  // fixed seed: reproducible
  const std::string_view alphabet = "<>\"\\;,:=@?%&[]/ \t\r\n\x00\xff.+-09aZ*";
  for (const Sample& s : samples()) {
    for (int round = 0; round < 300; ++round) {
      std::string mutated(s.text);
      const int edits = 1 + static_cast<int>(rng() % 4);
      for (int e = 0; e < edits && !mutated.empty(); ++e) {
        const std::size_t pos = rng() % mutated.size();
        const char ch = alphabet[rng() % alphabet.size()];
        switch (rng() % 3) {
          case 0: mutated[pos] = ch; break;
          case 1: mutated.insert(pos, 1, ch); break;
          default: mutated.erase(pos, 1); break;
        }
      }
      auto buf = std::make_unique<char[]>(mutated.size() + 1);
      std::copy_n(mutated.data(), mutated.size(), buf.get());
      (void)run(s.kind, std::string_view(buf.get(), mutated.size()));
    }
  }
  SUCCEED();
}

TEST_CASE("huge numbers and huge values", "[unit][hostile]") {
  const std::string digits(5000, '9');
  CHECK_FALSE(parse_cseq(digits + " INVITE").ok());
  CHECK_FALSE(parse_max_forwards(digits).ok());
  CHECK(parse_content_length(digits, 65535).error().status == 513);
  CHECK(parse_delta_seconds(digits).value() == 4294967295u);
  CHECK_FALSE(parse_uri("sip:a@b:" + digits).ok());
  CHECK_FALSE(parse_via_list("SIP/2.0/UDP h:" + digits).ok());
  CHECK_FALSE(parse_via_list("SIP/2.0/UDP h;rport=" + digits).ok());
  CHECK_FALSE(parse_via_list("SIP/2.0/UDP h;ttl=" + digits).ok());

  // Long but valid: no recursion, linear scans.
  const std::string long_user(100000, 'a');
  auto u = parse_uri("sip:" + long_user + "@example.com");
  REQUIRE(u.ok());
  CHECK(u->user.size() == long_user.size());

  std::string quotes = "\"";
  quotes += std::string(100000, '\\');  // 50000 quoted-pairs "\\"
  quotes += "\" <sip:a@b>";
  CHECK(parse_name_addr(quotes).ok());

  std::string many_commas(100000, ',');
  CHECK_FALSE(split_comma_list(many_commas).ok());
  CHECK_FALSE(parse_token_list(many_commas).ok());
  CHECK_FALSE(parse_via_list(many_commas).ok());

  std::string many_params = "<sip:a@b>";
  for (int i = 0; i < 10000; ++i) {
    many_params += ";p";
  }
  CHECK_FALSE(parse_name_addr(many_params).ok());  // bounded parameter count

  std::string many_angles(50000, '<');
  CHECK_FALSE(parse_name_addr(many_angles).ok());
  CHECK_FALSE(split_comma_list(many_angles).ok());
}

}  // namespace
}  // namespace portcullis::sip
