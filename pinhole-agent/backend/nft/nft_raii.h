// RAII owners for libnftnl/libmnl objects. Every object the backend allocates is held by one of
// these until the library takes ownership (nftnl_set_elem_add, nftnl_rule_add_expr: release()).
#pragma once

#include <memory>

#include <libmnl/libmnl.h>
#include <libnftnl/batch.h>
#include <libnftnl/chain.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>

namespace portcullis::agent::nft {

template <auto Free>
struct FreeWith {
  template <class T>
  void operator()(T* p) const noexcept {
    Free(p);
  }
};

using MnlSocketPtr = std::unique_ptr<mnl_socket, FreeWith<mnl_socket_close>>;
using TablePtr = std::unique_ptr<nftnl_table, FreeWith<nftnl_table_free>>;
using ChainPtr = std::unique_ptr<nftnl_chain, FreeWith<nftnl_chain_free>>;
using RulePtr = std::unique_ptr<nftnl_rule, FreeWith<nftnl_rule_free>>;
using ExprPtr = std::unique_ptr<nftnl_expr, FreeWith<nftnl_expr_free>>;
using SetPtr = std::unique_ptr<nftnl_set, FreeWith<nftnl_set_free>>;
using SetElemPtr = std::unique_ptr<nftnl_set_elem, FreeWith<nftnl_set_elem_free>>;
using BatchPtr = std::unique_ptr<nftnl_batch, FreeWith<nftnl_batch_free>>;

}  // namespace portcullis::agent::nft
