#include "fleet/sqlite_store.hpp"
#include "fleet/store.hpp"
#include "fleet/store_internal.hpp"

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
  if (static_cast<size_t>(*n) > max_dependencies_per_batch)
    return caf::make_error(errc::invalid_batch,
                           fmt::format("the batch's tasks name {} dependencies in all, more than {}: the graph is "
                                       "too big for one batch",
                                       *n, max_dependencies_per_batch));
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
  return caf::make_error(errc::invalid_batch,
                         fmt::format("the dependencies form a cycle, so none of its tasks could ever start: {}",
                                     describe_cycle(ids)));
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

namespace {

struct replay_candidate {
  bool skipped = false; ///< failed without running: a dependency of it had failed or was cancelled
  bool named = false;
  bool kept_back = false; ///< a dependency outside the replay failed or was cancelled
  std::string task_id;
};

} // namespace

caf::expected<int64_t> sqlite_store::replay_with_dependencies(const std::string& batch_id,
                                                             const std::vector<std::string>& named, int64_t now,
                                                             const batch_range_row& range) {
  std::map<int64_t, replay_candidate> set; // by seq: events in submission order
  auto read_failed = db_.prepare("SELECT seq, waiting_on > 0, task_id FROM tasks"
                                 " WHERE state = 'failed' AND seq BETWEEN ?1 AND ?2");
  if (!read_failed)
    return read_failed.error();
  if (named.empty()) {
    read_failed->rebind(range.first_seq, range.last_seq);
    if (auto err = read_failed->each_row([&] {
          set[read_failed->column_int64(0)] = {read_failed->column_int64(1) != 0, true, false,
                                               read_failed->column_text(2)};
        }))
      return err;
  } else {
    auto one = db_.prepare("SELECT seq, waiting_on > 0, dependents FROM tasks WHERE batch_id = ?1 AND task_id = ?2");
    if (!one)
      return one.error();
    auto& below = stmts_->skipped_below;
    for (const auto& id : named) {
      one->rebind(batch_id, id);
      if (auto err = step_to_row(*one, caf::make_error(errc::invalid_task, "the task is gone")))
        return err;
      auto seq = one->column_int64(0);
      auto dependents = one->column_int64(2);
      set[seq] = {one->column_int64(1) != 0, true, false, id};
      one->reset();
      if (dependents == 0)
        continue;
      below.rebind(seq);
      if (auto err = below.each_row([&] { set.try_emplace(below.column_int64(0), replay_candidate{true, false, false, {}}); }))
        return err;
    }
  }
  // A skipped task comes back only if every dependency it has succeeded or comes back too;
  // one that stays out keeps its skipped dependents out with it.
  std::vector<int64_t> kept_back;
  auto& deps = stmts_->dependencies_of;
  for (auto& [seq, c] : set) {
    if (!c.skipped)
      continue;
    deps.rebind(seq);
    std::string blocker;
    if (auto err = deps.each_row([&] {
          auto state = deps.column_text(1);
          if ((state == "failed" || state == "cancelled") && set.count(deps.column_int64(0)) == 0 && blocker.empty())
            blocker = fmt::format("task {} {}", quoted_input(deps.column_text(2)),
                                  state == "failed" ? "failed" : "was cancelled");
        }))
      return err;
    if (blocker.empty())
      continue;
    if (c.named)
      return caf::make_error(errc::invalid_task,
                             fmt::format("task {} of batch {} did not run because {}, which is not replayed with it: "
                                         "replay that task (or the whole batch)",
                                         quoted_input(c.task_id), batch_id, blocker));
    c.kept_back = true;
    kept_back.push_back(seq);
  }
  auto& dependents = stmts_->dependents_of;
  while (!kept_back.empty()) {
    auto seq = kept_back.back();
    kept_back.pop_back();
    dependents.rebind(seq);
    std::vector<int64_t> below;
    if (auto err = dependents.each_row([&] { below.push_back(dependents.column_int64(0)); }))
      return err;
    for (auto d : below) {
      auto i = set.find(d);
      if (i == set.end() || !i->second.skipped || i->second.kept_back)
        continue;
      if (i->second.named)
        return caf::make_error(errc::invalid_task,
                               fmt::format("task {} of batch {} runs after a task that stays failed: replay the task "
                                           "that failed first (or the whole batch)",
                                           quoted_input(i->second.task_id), batch_id));
      i->second.kept_back = true;
      kept_back.push_back(d);
    }
  }
  int64_t replayed = 0;
  for (const auto& [seq, c] : set) {
    if (c.kept_back)
      continue;
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
