#pragma once

// CAF 0.17 ends an actor whose handler throws, whatever its exception handler answers. For the
// fleet manager that is the end of fleetd, and at the next start the same input may throw again.
// `guarded` wraps a handler so that an exception is logged, the request (if any) is answered with
// errc::internal_error, and the actor goes on.

#include "fleetd/error.hpp"

#include <caf/atom.hpp>
#include <caf/detail/type_list.hpp>
#include <caf/detail/type_traits.hpp>
#include <caf/result.hpp>

#include <exception>
#include <string>
#include <type_traits>

namespace fleet {

/// Logs what escaped the handler of `message` and returns the error its requester gets.
caf::error report_handler_exception(const std::string& message, std::exception_ptr what);

namespace detail {

template <class T>
struct handler_result {
  using type = caf::result<T>;
};

template <class T>
struct handler_result<caf::result<T>> {
  using type = caf::result<T>;
};

template <>
struct handler_result<void> {
  using type = void;
};

/// The name of the message a handler takes: its leading atom, if it has one.
template <class... Args>
std::string message_name() {
  if constexpr (sizeof...(Args) > 0) {
    using first = std::decay_t<caf::detail::tl_head_t<caf::detail::type_list<Args...>>>;
    if constexpr (requires { { first::value } -> std::convertible_to<caf::atom_value>; })
      return caf::to_string(first::value);
  }
  return "a message";
}

template <class F, class Result, class ArgList>
struct guarded_handler;

template <class F, class Result, class... Args>
struct guarded_handler<F, Result, caf::detail::type_list<Args...>> {
  mutable F f; // called from a const operator(): CAF stores some handlers as const

  // The exact parameter types of `f`, so that CAF matches the same messages as before.
  typename handler_result<Result>::type operator()(Args... xs) const {
    try {
      if constexpr (std::is_void_v<Result>)
        f(static_cast<Args&&>(xs)...);
      else
        return f(static_cast<Args&&>(xs)...);
    } catch (...) {
      auto err = report_handler_exception(message_name<Args...>(), std::current_exception());
      if constexpr (!std::is_void_v<Result>)
        return err;
    }
  }
};

} // namespace detail

/// `f` with every exception caught at its boundary (see above).
template <class F>
auto guarded(F f) {
  using trait = caf::detail::get_callable_trait<F>;
  return detail::guarded_handler<F, typename trait::result_type, typename trait::arg_types>{std::move(f)};
}

} // namespace fleet
