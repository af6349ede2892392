#include "fleet/store_rows.hpp"

#include "fleetd/error.hpp"

#include <fmt/format.h>

#include <iterator>
#include <limits>

namespace fleet {

caf::error unknown_batch(const std::string& id) {
  return caf::make_error(errc::unknown_batch, fmt::format("batch {} not found", id));
}

caf::error apply_stored_setting(config_update& out, const std::string& name, config_value value) {
  if (name == "retry_failed_tasks")
    if (auto i = std::get_if<int64_t>(&value))
      value = *i != 0;
  if (auto err = set_field(out, name, value))
    return caf::make_error(errc::invalid_config,
                           "the configuration stored in the database is invalid: " + error_text(err));
  return caf::none;
}

caf::error stored_setting_not_a_number(const std::string& name) {
  return caf::make_error(errc::invalid_config, fmt::format("the stored setting {} is not a number", name));
}

batch_status to_batch_status(const batch_row& row, std::string batch_id) {
  batch_counts counts;
  counts.total = row.total;
  counts.succeeded = row.succeeded;
  counts.failed = row.failed;
  counts.cancelled = row.cancelled;
  counts.started = row.started;
  counts.cancel_requested = row.cancel_requested;
  batch_status out;
  out.batch_id = std::move(batch_id);
  out.status = derive_state(counts);
  out.total = counts.total;
  out.completed = counts.succeeded;
  out.failed = counts.failed;
  out.cancelled = counts.cancelled;
  out.progress = progress(counts);
  out.created_at = row.created_at;
  out.started_at = row.started_at;
  out.finished_at = row.finished_at;
  out.paused = row.paused;
  out.scheduled = row.scheduled;
  out.key = row.key;
  return out;
}

fleet_stats to_stats(const store_totals& sums, int64_t running) {
  fleet_stats out;
  out.total_batches = sums.batches;
  out.total_tasks = sums.tasks;
  out.completed_tasks = sums.succeeded;
  out.failed_tasks = sums.failed;
  out.cancelled_tasks = sums.cancelled;
  out.retries = sums.retries;
  out.running_tasks = running;
  out.scheduled_tasks = sums.scheduled;
  out.pending_tasks = sums.unfinished() - running - sums.scheduled;
  return out;
}

result_summary to_result_summary(const store_totals& sums) {
  return make_summary(sums.succeeded + sums.failed, sums.succeeded, static_cast<double>(sums.duration_ms));
}

results_page_builder::results_page_builder(int64_t cursor, int64_t limit, size_t max_bytes)
  : limit_(limit), max_bytes_(max_bytes) {
  page_.next_cursor = cursor;
}

bool results_page_builder::add(int64_t seq, task_result r) {
  if (full_)
    return false;
  bytes_ += r.task_id.size() + r.result.size() + r.error.size() + 32;
  if (bytes_ > max_bytes_ && !page_.items.empty()) {
    full_ = true;
    return false;
  }
  page_.next_cursor = seq;
  page_.items.push_back(std::move(r));
  return true;
}

results_page results_page_builder::finish() {
  page_.done = !full_ && (limit_ < 0 || static_cast<int64_t>(page_.items.size()) < limit_);
  return std::move(page_);
}

caf::error results_too_big(const std::string& batch_id, size_t max_bytes) {
  return caf::make_error(errc::invalid_batch,
                         fmt::format("the results of batch {} are more than one answer carries ({} bytes): page "
                                     "through them (batch_results with cursor and limit)",
                                     batch_id, max_bytes));
}

namespace {

/// Appends what `part` read; its error otherwise.
caf::error append(runnable_list& out, caf::expected<runnable_list> part) {
  if (!part)
    return part.error();
  std::move(part->begin(), part->end(), std::back_inserter(out));
  return caf::none;
}

constexpr auto last_seq = std::numeric_limits<int64_t>::max();
constexpr auto lowest_priority = std::numeric_limits<int32_t>::min();

} // namespace

caf::expected<runnable_list> runnable_after(size_t limit, const run_position& after, const read_priority& same,
                                            const read_priorities& lower) {
  runnable_list out;
  out.reserve(limit);
  if (auto err = append(out, same(after.priority, after.seq + 1, last_seq, static_cast<int64_t>(limit))))
    return err;
  if (out.size() < limit)
    if (auto err = append(out, lower(after.priority, lowest_priority, static_cast<int64_t>(limit - out.size()))))
      return err;
  return out;
}

caf::expected<runnable_list> runnable_between(size_t limit, const run_position& from, const run_position& up_to,
                                              const read_priority& at, const read_priorities& between) {
  runnable_list out;
  if (from.priority < up_to.priority || (from.priority == up_to.priority && from.seq > up_to.seq))
    return out; // `from` comes after `up_to`
  auto left = [&] { return static_cast<int64_t>(limit - out.size()); };
  if (auto err = append(out, at(from.priority, from.seq, from.priority == up_to.priority ? up_to.seq : last_seq,
                                left())))
    return err;
  if (from.priority == up_to.priority || out.size() >= limit)
    return out;
  if (auto err = append(out, between(from.priority, up_to.priority, left())))
    return err;
  if (out.size() >= limit)
    return out;
  if (auto err = append(out, at(up_to.priority, 0, up_to.seq, left())))
    return err;
  return out;
}

} // namespace fleet
