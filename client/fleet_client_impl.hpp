#pragma once

// Inside the client library only: the state a fleet_client shares with its uploads.

#include "fleetd/client.hpp"
#include "fleetd/error.hpp"

#include <caf/scoped_actor.hpp>
#include <fmt/format.h>

#include <iterator>
#include <optional>
#include <vector>

namespace fleet {

namespace client_detail {

inline constexpr auto query = caf::message_priority::high;

/// What a task adds to a message, about: its strings and a little framing.
inline size_t task_bytes(const task& t) {
  return t.id.size() + t.type.size() + t.data.size() + 32;
}

/// `tasks` cut into runs of at most `max_tasks` tasks and `max_bytes` bytes (a bigger task alone).
/// The cuts are found first, so that each run is built with the room it needs, and a list that
/// fits in one run is passed on as it is: growing runs one task at a time cost the client a fifth
/// of its CPU in a 100,000-task submit.
inline std::vector<std::vector<task>> split_tasks(std::vector<task> tasks, size_t max_tasks, size_t max_bytes) {
  std::vector<std::vector<task>> out;
  if (tasks.empty())
    return out;
  std::vector<size_t> ends;
  size_t bytes = 0;
  size_t count = 0;
  for (size_t i = 0; i < tasks.size(); ++i) {
    auto size = task_bytes(tasks[i]);
    if (count > 0 && (count >= max_tasks || bytes + size > max_bytes)) {
      ends.push_back(i);
      bytes = 0;
      count = 0;
    }
    bytes += size;
    ++count;
  }
  if (ends.empty()) {
    out.push_back(std::move(tasks));
    return out;
  }
  ends.push_back(tasks.size());
  out.reserve(ends.size());
  size_t begin = 0;
  for (auto end : ends) {
    auto first = tasks.begin() + static_cast<std::ptrdiff_t>(begin);
    auto last = tasks.begin() + static_cast<std::ptrdiff_t>(end);
    out.emplace_back(std::make_move_iterator(first), std::make_move_iterator(last));
    begin = end;
  }
  return out;
}

} // namespace client_detail

struct fleet_client::impl {
  impl(caf::actor_system& sys, fleet_api_actor manager, duration timeout)
    : self(sys), manager(std::move(manager)), timeout(timeout) {
  }

  /// Queries go `high`: CAF serves a mailbox's urgent messages first, so a status does not wait
  /// behind the hundreds of worker outcomes a busy manager has queued.
  template <class T, caf::message_priority Priority = caf::message_priority::normal, class... Ts>
  caf::expected<T> ask(Ts&&... xs) {
    caf::expected<T> out{caf::make_error(errc::unreachable, "no reply")};
    self->template request<Priority>(manager, timeout, std::forward<Ts>(xs)...)
      .receive([&](T& value) { out = std::move(value); },
               [&](caf::error& err) { out = explain(std::move(err)); });
    return out;
  }

  /// CAF's transport errors in words a fleet user understands; fleet errors unchanged.
  caf::error explain(caf::error err) const {
    if (err == caf::sec::request_timeout)
      return caf::make_error(errc::unreachable,
                             fmt::format("fleetd did not answer within {} ms", timeout.count()));
    if (err == caf::sec::request_receiver_down)
      return caf::make_error(errc::unreachable, "fleetd went away before answering");
    return err;
  }

  caf::scoped_actor self;
  fleet_api_actor manager;
  duration timeout;
  std::optional<submit_limits> limits; ///< fleetd's, once asked
};

} // namespace fleet
