#include "fleet/store.hpp"

#include "fleetd/error.hpp"

#include <fmt/format.h>

namespace fleet {

store_transaction::backend::~backend() = default;

store_reader::~store_reader() = default;

caf::expected<std::vector<task_result>> store_reader::results(const std::string& batch_id, size_t max_bytes) {
  auto page = results(batch_id, 0, -1, max_bytes);
  if (!page)
    return page.error();
  if (!page->done)
    return results_too_big(batch_id, max_bytes);
  return std::move(page->items);
}

caf::expected<int64_t> store_reader::unfinished_tasks() {
  auto sums = totals();
  if (!sums)
    return sums.error();
  return sums->unfinished();
}

caf::expected<result_summary> store_reader::result_totals() {
  auto sums = totals();
  if (!sums)
    return sums.error();
  return to_result_summary(*sums);
}

fleet_store::~fleet_store() = default;

caf::error fleet_store::record(const attempt_started& x) {
  auto done = record(std::vector<transition>{x});
  return done ? caf::none : done.error();
}

caf::error fleet_store::record(const attempt_ended& x) {
  auto done = record(std::vector<transition>{x});
  return done ? caf::none : done.error();
}

caf::error fleet_store::check_replay(const std::string& batch_id, const std::vector<std::string>& task_ids) {
  auto st = status(batch_id);
  if (!st)
    return st.error();
  if (st->status == batch_state::cancelled)
    return caf::make_error(errc::invalid_batch, fmt::format("batch {} was cancelled: nothing to replay", batch_id));
  for (const auto& id : task_ids) {
    auto state = task_state(batch_id, id);
    if (!state)
      return state.error();
    if (state->empty())
      return caf::make_error(errc::invalid_task, fmt::format("batch {} has no task \"{}\"", batch_id, id));
    if (*state != "failed")
      return caf::make_error(errc::invalid_task,
                             fmt::format("task \"{}\" of batch {} is {}, not failed: only failed tasks are replayed",
                                         id, batch_id, *state));
  }
  return caf::none;
}

caf::expected<bool> fleet_store::check_pause(const std::string& batch_id, bool paused) {
  auto st = status(batch_id);
  if (!st)
    return st.error();
  if (st->status == batch_state::cancelled || st->finished_at != 0)
    return caf::make_error(errc::invalid_batch, fmt::format("batch {} has finished ({}): nothing to {}", batch_id,
                                                            to_string(st->status), paused ? "pause" : "resume"));
  return st->paused != paused;
}

} // namespace fleet
