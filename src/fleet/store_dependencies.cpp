#include "fleet/sqlite_store.hpp"
#include "fleet/store.hpp"
#include "fleet/store_internal.hpp"
#include "fleet/store_plans.hpp"

#include "fleetd/error.hpp"
#include "fleet/dependency_graph.hpp"
#include "fleet/json_text.hpp"
#include "fleet/text.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <map>
#include <vector>

namespace fleet {

using namespace store_detail;

caf::error sqlite_store::insert_dependencies(const std::string& batch_id, const std::vector<task>& tasks,
                                            int64_t first_seq) {
  for (size_t i = 0; i < tasks.size(); ++i)
    for (const auto& id : tasks[i].after) {
      if (auto err = stmts_->insert_dependency.execute(batch_id, first_seq + static_cast<int64_t>(i), id))
        return err;
      if (db_.changes() != 1) // validate_dependencies let it pass: not to be stored half-linked
        return caf::make_error(errc::invalid_task, fmt::format("task {} (id {}): \"after\" names {}, which is not a "
                                                               "task of this batch",
                                                               i, quoted_input(tasks[i].id), quoted_input(id)));
    }
  return caf::none;
}

caf::error sqlite_store::move_part_dependencies(const std::string& upload_id, int64_t first, int64_t first_seq,
                                               const std::string& batch_id) {
  auto err = stmts_->move_part_dependencies.execute(upload_id, first, first_seq, batch_id);
  if (!err)
    return caf::none;
  auto& unknown = stmts_->unknown_dependency;
  unknown.rebind(upload_id, first, batch_id);
  auto row = unknown.step();
  if (!row || !*row) {
    unknown.reset();
    return err;
  }
  auto found = caf::make_error(errc::invalid_task,
                               fmt::format("task {} (id {}): \"after\" names {}, which is not a task of this batch",
                                           unknown.column_int64(0), quoted_input(unknown.column_text(1)),
                                           quoted_input(unknown.column_text(2))));
  unknown.reset();
  return found;
}

caf::expected<int64_t> sqlite_store::count_edges(int64_t first_seq, int64_t last_seq) {
  auto& count = stmts_->count_batch_edges;
  count.rebind(first_seq, last_seq);
  if (auto err = step_to_row(count, caf::make_error(errc::database_error, "count(*) gave no row")))
    return err;
  auto n = count.column_int64(0);
  count.reset();
  return n;
}

caf::error sqlite_store::link_dependencies(int64_t first_seq, int64_t last_seq) {
  auto n = count_edges(first_seq, last_seq);
  if (!n)
    return n.error();
  if (*n == 0)
    return caf::none;
  dependencies_stored_ = true;
  if (auto err = check_batch_edges(*n))
    return err;
  if (auto err = stmts_->block_dependents.execute(first_seq, last_seq))
    return err;
  if (auto err = stmts_->count_dependents.execute(first_seq, last_seq))
    return err;
  // An upload's chunks were checked one by one: the whole graph is seen only here.
  std::vector<dependency_edge> edges;
  edges.reserve(static_cast<size_t>(*n));
  auto& all = stmts_->batch_edges;
  all.rebind(first_seq, last_seq);
  if (auto err = all.each_row([&] {
        edges.push_back({static_cast<uint32_t>(all.column_int64(0) - first_seq),
                         static_cast<uint32_t>(all.column_int64(1) - first_seq)});
      }))
    return err;
  auto cycle = find_dependency_cycle(static_cast<size_t>(last_seq - first_seq + 1), edges);
  if (cycle.empty())
    return caf::none;
  auto id_of = db_.prepare("SELECT task_id FROM tasks WHERE seq = ?1");
  if (!id_of)
    return id_of.error();
  std::vector<std::string> ids;
  for (auto position : cycle) {
    id_of->rebind(first_seq + position);
    if (auto err = step_to_row(*id_of, caf::make_error(errc::database_error, "a task of the cycle is gone")))
      return err;
    ids.push_back(id_of->column_text(0));
    id_of->reset();
  }
  return dependency_cycle_error(ids);
}

caf::expected<int64_t> sqlite_store::settle_dependents(int64_t seq, const std::string& batch_id,
                                                      const std::string& task_id, task_disposition next, int64_t at) {
  if (next == task_disposition::succeeded) {
    if (auto err = stmts_->unblock_dependents.execute(seq, at))
      return err;
    released_ = released_ || db_.changes() > 0;
    return 0;
  }
  if (next != task_disposition::failed && next != task_disposition::cancelled)
    return 0;
  auto cause = next == task_disposition::failed ? "failed" : "cancelled";
  auto error = fmt::format("not run: task {}, which it runs after, {}", quoted_input(task_id),
                           next == task_disposition::failed ? "failed" : "was cancelled");
  if (auto err = stmts_->skip_dependents.execute(seq, error, at))
    return err;
  auto skipped = db_.changes();
  if (skipped == 0)
    return 0;
  if (auto err = log_event(at, event_kind::tasks_skipped, batch_id, task_id,
                           dump_json({{"skipped", skipped}, {"dependency", cause}})))
    return err;
  return skipped;
}

caf::expected<int64_t> sqlite_store::replay_with_dependencies(const std::string& batch_id,
                                                             const std::vector<std::string>& named, int64_t now,
                                                             const batch_range_row& range) {
  replay_reads reads;
  reads.failed = [&]() -> caf::expected<std::vector<failed_task_row>> {
    auto st = db_.prepare("SELECT seq, waiting_on > 0, task_id FROM tasks WHERE state = 'failed' AND seq BETWEEN ?1 AND ?2");
    if (!st)
      return st.error();
    st->rebind(range.first_seq, range.last_seq);
    std::vector<failed_task_row> rows;
    if (auto err = st->each_row([&] { rows.push_back({st->column_int64(0), st->column_int64(1) != 0, 0, st->column_text(2)}); }))
      return err;
    return rows;
  };
  reads.named = [&](const std::string& id) -> caf::expected<failed_task_row> {
    auto st = db_.prepare("SELECT seq, waiting_on > 0, dependents FROM tasks WHERE batch_id = ?1 AND task_id = ?2");
    if (!st)
      return st.error();
    st->rebind(batch_id, id);
    if (auto err = step_to_row(*st, caf::make_error(errc::invalid_task, "the task is gone")))
      return err;
    failed_task_row row{st->column_int64(0), st->column_int64(1) != 0, st->column_int64(2), id};
    st->reset();
    return row;
  };
  auto seqs_of = [](sqlite::statement& st, int64_t seq) -> caf::expected<std::vector<int64_t>> {
    st.rebind(seq);
    std::vector<int64_t> out;
    if (auto err = st.each_row([&] { out.push_back(st.column_int64(0)); }))
      return err;
    return out;
  };
  reads.skipped_below = [&](int64_t seq) { return seqs_of(stmts_->skipped_below, seq); };
  reads.dependents_of = [&](int64_t seq) { return seqs_of(stmts_->dependents_of, seq); };
  reads.dependencies_of = [&](int64_t seq) -> caf::expected<std::vector<dependency_row>> {
    auto& deps = stmts_->dependencies_of;
    deps.rebind(seq);
    std::vector<dependency_row> out;
    if (auto err = deps.each_row([&] { out.push_back({deps.column_int64(0), deps.column_text(1), deps.column_text(2)}); }))
      return err;
    return out;
  };
  auto plan = plan_replay(batch_id, named, reads);
  if (!plan)
    return plan.error();
  int64_t replayed = 0;
  for (auto seq : *plan) {
    if (auto err = stmts_->log_replayed_seq.execute(seq, now, requester_))
      return err;
    if (auto err = stmts_->replay_task_seq.execute(seq, now))
      return err;
    replayed += db_.changes();
  }
  if (auto err = stmts_->reblock_replayed.execute(range.first_seq, range.last_seq))
    return err;
  return replayed;
}

} // namespace fleet
