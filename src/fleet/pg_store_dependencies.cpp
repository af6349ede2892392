// A batch's dependencies on PostgreSQL: linking its edges once its tasks are stored (counts, the
// blocked state, a cycle refused), and what a task's end means for the tasks that run after it.

#include "fleet/pg_store.hpp"

#include "fleet/dependency_graph.hpp"
#include "fleet/json_text.hpp"
#include "fleet/text.hpp"
#include "fleetd/error.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace fleet {

// -- dependencies --------------------------------------------------------------------------------

caf::expected<int64_t> pg_store::count_edges(int64_t first_seq, int64_t last_seq) {
  return db_.prepared_int("SELECT count(*) FROM task_deps WHERE task_seq BETWEEN $1::bigint AND $2::bigint", first_seq,
                          last_seq);
}

caf::error pg_store::link_dependencies(int64_t first_seq, int64_t last_seq) {
  auto n = count_edges(first_seq, last_seq);
  if (!n)
    return n.error();
  if (*n == 0)
    return caf::none;
  if (auto err = check_batch_edges(*n))
    return err;
  if (auto b = changed("UPDATE tasks SET state = 'blocked', dependencies = x.n, waiting_on = x.n"
                       " FROM (SELECT task_seq, count(*) AS n FROM task_deps"
                       "       WHERE task_seq BETWEEN $1::bigint AND $2::bigint GROUP BY task_seq) AS x"
                       " WHERE tasks.seq = x.task_seq",
                       first_seq, last_seq);
      !b)
    return b.error();
  if (auto c = changed("UPDATE tasks SET dependents = x.n"
                       " FROM (SELECT after_seq, count(*) AS n FROM task_deps"
                       "       WHERE after_seq BETWEEN $1::bigint AND $2::bigint GROUP BY after_seq) AS x"
                       " WHERE tasks.seq = x.after_seq",
                       first_seq, last_seq);
      !c)
    return c.error();
  auto all = db_.prepared("SELECT task_seq, after_seq FROM task_deps WHERE task_seq BETWEEN $1::bigint AND $2::bigint",
                          first_seq, last_seq);
  if (!all)
    return all.error();
  std::vector<dependency_edge> edges;
  edges.reserve(static_cast<size_t>(all->rows()));
  for (int r = 0; r < all->rows(); ++r)
    edges.push_back({static_cast<uint32_t>(all->integer(r, 0) - first_seq),
                     static_cast<uint32_t>(all->integer(r, 1) - first_seq)});
  auto cycle = find_dependency_cycle(static_cast<size_t>(last_seq - first_seq + 1), edges);
  if (cycle.empty())
    return caf::none;
  std::vector<std::string> ids;
  for (auto position : cycle) {
    auto id = db_.prepared("SELECT task_id FROM tasks WHERE seq = $1::bigint", first_seq + position);
    if (!id)
      return id.error();
    if (id->rows() != 1)
      return caf::make_error(errc::database_error, "a task of the cycle is gone");
    ids.emplace_back(id->text(0, 0));
  }
  return dependency_cycle_error(ids);
}

caf::expected<int64_t> pg_store::settle_dependents(int64_t seq, const std::string& batch_id, const std::string& task_id,
                                                   task_disposition next, int64_t at) {
  if (next == task_disposition::succeeded) {
    auto n = changed("UPDATE tasks SET waiting_on = waiting_on - 1,"
                     " state = CASE WHEN waiting_on = 1 THEN 'pending' ELSE 'blocked' END,"
                     " not_before = CASE WHEN waiting_on = 1 THEN $2::bigint ELSE not_before END"
                     " WHERE seq IN (SELECT task_seq FROM task_deps WHERE after_seq = $1::bigint) AND state = 'blocked'",
                     seq, at);
    if (!n)
      return n.error();
    released_ = released_ || *n > 0;
    return 0;
  }
  if (next != task_disposition::failed && next != task_disposition::cancelled)
    return 0;
  auto cause = next == task_disposition::failed ? "failed" : "cancelled";
  auto error = fmt::format("not run: task {}, which it runs after, {}", quoted_input(task_id),
                           next == task_disposition::failed ? "failed" : "was cancelled");
  auto skipped = changed("WITH RECURSIVE below(seq) AS"
                         " (SELECT task_seq FROM task_deps WHERE after_seq = $1::bigint"
                         "  UNION SELECT x.task_seq FROM task_deps x JOIN below b ON x.after_seq = b.seq)"
                         " UPDATE tasks SET state = 'failed', error = $2, finished_at = $3::bigint"
                         " WHERE seq IN (SELECT seq FROM below) AND state = 'blocked'",
                         seq, error, at);
  if (!skipped)
    return skipped.error();
  if (*skipped == 0)
    return 0;
  if (auto err = log_event(at, event_kind::tasks_skipped, batch_id, task_id,
                           dump_json({{"skipped", *skipped}, {"dependency", cause}})))
    return err;
  return *skipped;
}

} // namespace fleet
