#include "fleet/store.hpp"

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

} // namespace fleet
