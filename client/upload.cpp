#include "fleetd/client.hpp"
#include "client/fleet_client_impl.hpp"

#include <deque>
#include <utility>

namespace fleet {

using client_detail::split_tasks;

struct fleet_client::upload::state {
  using handle = decltype(std::declval<caf::scoped_actor&>()->request(
    std::declval<fleet_api_actor&>(), std::declval<duration>(), upload_chunk_atom::value, std::string{},
    std::vector<task>{}));

  fleet_client::impl* client;
  std::string id;
  size_t max_bytes;
  std::deque<std::pair<size_t, handle>> in_flight; ///< (the first task's position, the request)
  size_t sent = 0;                                 ///< tasks sent so far
  caf::error failure;

  /// Two messages in flight: fleetd stores one while the next crosses the wire and is checked.
  static constexpr size_t window = 2;

  void await_oldest() {
    auto [first, rh] = std::move(in_flight.front());
    in_flight.pop_front();
    std::move(rh).receive([](int64_t) {},
                          [&](caf::error& err) {
                            if (failure)
                              return;
                            // Validation counts tasks within the chunk: say where the chunk starts.
                            if (err.category() == error_category)
                              failure = caf::make_error(static_cast<errc>(err.code()),
                                                        fmt::format("in the chunk starting at task {}: {}", first,
                                                                    error_text(err)));
                            else
                              failure = client->explain(std::move(err));
                          });
  }

  void await_all() {
    while (!in_flight.empty())
      await_oldest();
  }
};

fleet_client::upload::upload(std::unique_ptr<state> s) : state_(std::move(s)) {
}

fleet_client::upload::upload(upload&&) noexcept = default;
fleet_client::upload& fleet_client::upload::operator=(upload&&) noexcept = default;

fleet_client::upload::~upload() {
  // Unanswered requests would stay in the client's mailbox.
  if (state_)
    state_->await_all();
}

const std::string& fleet_client::upload::id() const {
  return state_->id;
}

caf::error fleet_client::upload::add(std::vector<task> tasks) {
  auto& s = *state_;
  for (auto& part : split_tasks(std::move(tasks), SIZE_MAX, s.max_bytes)) {
    if (s.failure)
      break;
    auto n = part.size();
    s.in_flight.emplace_back(s.sent, s.client->self->request(s.client->manager, s.client->timeout,
                                                              upload_chunk_atom::value, s.id, std::move(part)));
    s.sent += n;
    if (s.in_flight.size() >= state::window)
      s.await_oldest();
  }
  return s.failure;
}

caf::expected<std::string> fleet_client::upload::seal(const std::string& key) {
  auto& s = *state_;
  s.await_all();
  if (s.failure)
    return s.failure;
  return s.client->ask<std::string>(upload_seal_atom::value, s.id, key);
}

caf::expected<fleet_client::upload> fleet_client::open_upload() {
  auto fleet_limits = limits();
  if (!fleet_limits)
    return fleet_limits.error();
  auto id = impl_->ask<std::string>(upload_open_atom::value);
  if (!id)
    return id.error();
  auto s = std::make_unique<upload::state>();
  s->client = impl_.get();
  s->id = std::move(*id);
  s->max_bytes = fleet_limits->max_message_bytes / 4;
  return upload{std::move(s)};
}

} // namespace fleet
