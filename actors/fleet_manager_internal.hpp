#pragma once

// Helpers shared by the files of the fleet manager's state (fleet_manager*.cpp); not a public header.

#include "fleetd/error.hpp"
#include "fleet/store.hpp"
#include "fleet/transitions.hpp"

#include <caf/typed_response_promise.hpp>
#include <fmt/format.h>

#include <chrono>
#include <cstdint>
#include <exception>

namespace fleet::manager_detail {

/// A write job that writes nothing: its commit tells that everything posted before it is stored.
inline caf::error nothing_to_write(fleet_store&) {
  return caf::none;
}

/// What `f` (a user's code: `who`) returns (an expected), or the text of what it threw as
/// errc::worker_failed.
template <class F>
auto catching(F f, const char* who = "the execution hook") -> decltype(f()) {
  try {
    return f();
  } catch (...) {
    return caf::make_error(errc::worker_failed,
                           fmt::format("{} threw: {}", who, exception_text(std::current_exception())));
  }
}

/// A continuation that answers `rp` with `value()` once the write committed, or with its error.
template <class T, class Value>
auto reply_when_stored(caf::typed_response_promise<T> rp, Value value) {
  return [rp, value](caf::error err) mutable {
    if (err)
      rp.deliver(std::move(err));
    else
      rp.deliver(value());
  };
}

} // namespace fleet::manager_detail
