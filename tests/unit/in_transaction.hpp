#pragma once

// The store suites' way of writing: one write transaction, committed only if what ran in it
// succeeded, as the manager's writer does.

#include "fleet/store.hpp"

#include <doctest/doctest.h>

#include <type_traits>
#include <vector>

namespace fleet::test {

/// Runs `f` in one write transaction of `store`, committed only if it succeeded; its answer.
template <class F>
auto in_transaction(fleet_store& store, F f) {
  auto tx = store.transaction();
  REQUIRE_FALSE(tx.begin());
  auto out = f();
  bool failed;
  if constexpr (std::is_same_v<decltype(out), caf::error>)
    failed = static_cast<bool>(out);
  else
    failed = !out;
  if (!failed)
    REQUIRE_FALSE(tx.commit());
  return out;
}

/// Records `changes` as one group commit of `store`, which must take them.
inline void record_group(fleet_store& store, const std::vector<transition>& changes) {
  REQUIRE(in_transaction(store, [&] { return store.record(changes); }));
}

} // namespace fleet::test
