// The operator's writes on PostgreSQL: pause, cancel, replay, queues, schedules, fleetd's runs,
// clock steps and retention. Rare next to the group commit's writes, so row by row as on SQLite.

#include "fleet/pg_store.hpp"

#include "fleet/json_text.hpp"
#include "fleet/queue_settings.hpp"
#include "fleet/store_plans.hpp"
#include "fleet/store_rows.hpp"
#include "fleet/text.hpp"
#include "fleetd/error.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <map>

namespace fleet {

// -- pause, cancel, replay -----------------------------------------------------------------------

caf::expected<bool> pg_store::set_batch_paused(const std::string& batch_id, bool paused, int64_t now) {
  auto needed = check_pause(batch_id, paused);
  if (!needed || !*needed)
    return needed;
  if (auto n = changed("UPDATE tasks SET paused = $2::int WHERE batch_id = $1", batch_id, int64_t{paused ? 1 : 0}); !n)
    return n.error();
  auto at = paused ? pg::to_param(now) : pg::param{};
  if (auto n = changed("UPDATE batches SET paused_at = $2::bigint WHERE id = $1", batch_id, at); !n)
    return n.error();
  if (auto err = log_event(now, paused ? event_kind::batch_paused : event_kind::batch_resumed, batch_id, {}, {}))
    return err;
  return true;
}

caf::expected<bool> pg_store::set_fleet_paused(bool paused, int64_t now) {
  auto n = paused ? changed("INSERT INTO fleet_pause (id, paused_at) VALUES (1, $1::bigint) ON CONFLICT DO NOTHING", now)
                  : changed("DELETE FROM fleet_pause");
  if (!n)
    return n.error();
  if (*n == 0)
    return false;
  if (auto err = log_event(now, paused ? event_kind::fleet_paused : event_kind::fleet_resumed, {}, {}, {}))
    return err;
  return true;
}

caf::expected<std::optional<fleet_store::cancelled_batch>> pg_store::cancel_batch(const std::string& batch_id,
                                                                                  int64_t now) {
  auto st = status(batch_id);
  if (!st) {
    if (st.error() == errc::unknown_batch)
      return std::nullopt;
    return st.error();
  }
  if (st->status == batch_state::cancelled || st->finished_at != 0)
    return std::nullopt;
  auto logged = changed(fmt::format("INSERT INTO events (at, kind, batch_id, task_id, requested_by)"
                                    " SELECT $2::bigint, '{}', batch_id, task_id, $3 FROM tasks"
                                    " WHERE batch_id = $1 AND state IN ('pending', 'retry_wait', 'scheduled', 'blocked')"
                                    " ORDER BY seq",
                                    to_string(event_kind::task_cancelled)),
                        batch_id, now, requester_param());
  if (!logged)
    return logged.error();
  auto n = changed("UPDATE tasks SET state = 'cancelled', error = 'cancelled', finished_at = $2::bigint"
                   " WHERE batch_id = $1 AND state IN ('pending', 'retry_wait', 'scheduled', 'blocked')",
                   batch_id, now);
  if (!n)
    return n.error();
  if (auto c = changed("UPDATE batches SET cancelled = cancelled + $2::bigint, cancelled_at = $3::bigint, scheduled = 0"
                       " WHERE id = $1",
                       batch_id, *n, now);
      !c)
    return c.error();
  if (auto err = log_event(now, event_kind::batch_cancelled, batch_id, {},
                           dump_json({{"waiting_tasks_cancelled", *n}})))
    return err;
  auto finished = finish_if_done(batch_id, now);
  if (!finished)
    return finished.error();
  return cancelled_batch{*n, *finished};
}

caf::expected<fleet_store::cancelled_batch> pg_store::cancel_tasks(const std::string& batch_id,
                                                                   const std::vector<std::string>& task_ids,
                                                                   int64_t now) {
  int64_t cancelled = 0;
  int64_t delayed = 0;
  int64_t skipped = 0;
  for (const auto& id : task_ids) {
    auto state = task_state(batch_id, id);
    if (!state)
      return state.error();
    if (!waits(*state))
      continue;
    if (auto err = log_event(now, event_kind::task_cancelled, batch_id, id, {}))
      return err;
    auto n = changed("UPDATE tasks SET state = 'cancelled', error = 'cancelled', finished_at = $4::bigint"
                     " WHERE batch_id = $1 AND task_id = $2 AND state = $3",
                     batch_id, id, *state, now);
    if (!n)
      return n.error();
    cancelled += *n;
    delayed += *state == "scheduled" ? *n : 0;
    auto edges = db_.prepared("SELECT seq, dependents FROM tasks WHERE batch_id = $1 AND task_id = $2", batch_id, id);
    if (!edges)
      return edges.error();
    if (edges->rows() != 1)
      return caf::make_error(errc::database_error, "a cancelled task is gone");
    if (edges->integer(0, 1) == 0)
      continue;
    auto below = settle_dependents(edges->integer(0, 0), batch_id, id, task_disposition::cancelled, now);
    if (!below)
      return below.error();
    skipped += *below;
  }
  if (cancelled == 0)
    return cancelled_batch{0, false};
  if (auto n = changed("UPDATE batches SET cancelled = cancelled + $2::bigint, scheduled = scheduled - $3::bigint"
                       " WHERE id = $1",
                       batch_id, cancelled, delayed);
      !n)
    return n.error();
  if (skipped > 0)
    if (auto err = add_to_batch(batch_id, 0, skipped, 0))
      return err;
  auto finished = finish_if_done(batch_id, now);
  if (!finished)
    return finished.error();
  return cancelled_batch{cancelled, *finished};
}

caf::expected<int64_t> pg_store::replay(const std::string& batch_id, const std::vector<std::string>& task_ids,
                                        int64_t now) {
  if (auto err = check_replay(batch_id, task_ids))
    return err;
  auto range = read_batch_range(batch_id);
  if (!range)
    return range.error();
  auto edges = count_edges(range->first_seq, range->last_seq);
  if (!edges)
    return edges.error();
  int64_t replayed = 0;
  if (*edges > 0) {
    auto n = replay_with_dependencies(batch_id, task_ids, now, *range);
    if (!n)
      return n.error();
    replayed = *n;
  } else {
    auto replay_one = [&](const std::string& task_id) -> caf::error {
      auto logged = changed(fmt::format("INSERT INTO events (at, kind, batch_id, task_id, requested_by)"
                                        " SELECT $3::bigint, '{}', batch_id, task_id, $4 FROM tasks"
                                        " WHERE batch_id = $1 AND state = 'failed' AND ($2 = '' OR task_id = $2)"
                                        " ORDER BY seq",
                                        to_string(event_kind::task_replayed)),
                            batch_id, task_id, now, requester_param());
      if (!logged)
        return logged.error();
      auto n = changed("UPDATE tasks SET state = 'pending', replay_base = attempts - interruptions,"
                       " not_before = $3::bigint, finished_at = NULL, duration_ms = NULL, orphaned_attempts = 0,"
                       " waiting_on = 0 WHERE batch_id = $1 AND state = 'failed' AND ($2 = '' OR task_id = $2)",
                       batch_id, task_id, now);
      if (!n)
        return n.error();
      replayed += *n;
      return caf::none;
    };
    if (task_ids.empty()) {
      if (auto err = replay_one({}))
        return err;
    } else {
      for (const auto& id : task_ids)
        if (auto err = replay_one(id))
          return err;
    }
  }
  if (replayed > 0)
    if (auto n = changed("UPDATE batches SET failed = failed - $2::bigint, finished_at = NULL WHERE id = $1", batch_id,
                         replayed);
        !n)
      return n.error();
  return replayed;
}

caf::expected<int64_t> pg_store::replay_with_dependencies(const std::string& batch_id,
                                                          const std::vector<std::string>& named, int64_t now,
                                                          const batch_range_row& range) {
  auto seqs_of = [&](std::string_view sql, int64_t seq) -> caf::expected<std::vector<int64_t>> {
    auto rows = db_.prepared(sql, seq);
    if (!rows)
      return rows.error();
    std::vector<int64_t> out;
    for (int r = 0; r < rows->rows(); ++r)
      out.push_back(rows->integer(r, 0));
    return out;
  };
  replay_reads reads;
  reads.failed = [&]() -> caf::expected<std::vector<failed_task_row>> {
    auto rows = db_.prepared("SELECT seq, (waiting_on > 0)::int, task_id FROM tasks"
                             " WHERE state = 'failed' AND seq BETWEEN $1::bigint AND $2::bigint",
                             range.first_seq, range.last_seq);
    if (!rows)
      return rows.error();
    std::vector<failed_task_row> out;
    for (int r = 0; r < rows->rows(); ++r)
      out.push_back({rows->integer(r, 0), rows->integer(r, 1) != 0, 0, std::string{rows->text(r, 2)}});
    return out;
  };
  reads.named = [&](const std::string& id) -> caf::expected<failed_task_row> {
    auto one = db_.prepared("SELECT seq, (waiting_on > 0)::int, dependents FROM tasks WHERE batch_id = $1 AND task_id = $2",
                            batch_id, id);
    if (!one)
      return one.error();
    if (one->rows() != 1)
      return caf::make_error(errc::invalid_task, "the task is gone");
    return failed_task_row{one->integer(0, 0), one->integer(0, 1) != 0, one->integer(0, 2), id};
  };
  reads.skipped_below = [&](int64_t seq) {
    return seqs_of("WITH RECURSIVE below(seq) AS"
                   " (SELECT x.task_seq FROM task_deps x JOIN tasks t ON t.seq = x.task_seq"
                   "  WHERE x.after_seq = $1::bigint AND t.state = 'failed' AND t.waiting_on > 0"
                   "  UNION SELECT x.task_seq FROM task_deps x JOIN below b ON x.after_seq = b.seq"
                   "  JOIN tasks t ON t.seq = x.task_seq WHERE t.state = 'failed' AND t.waiting_on > 0)"
                   " SELECT seq FROM below",
                   seq);
  };
  reads.dependents_of = [&](int64_t seq) {
    return seqs_of("SELECT task_seq FROM task_deps WHERE after_seq = $1::bigint", seq);
  };
  reads.dependencies_of = [&](int64_t seq) -> caf::expected<std::vector<dependency_row>> {
    auto rows = db_.prepared("SELECT x.after_seq, d.state, d.task_id FROM task_deps x"
                             " JOIN tasks d ON d.seq = x.after_seq WHERE x.task_seq = $1::bigint",
                             seq);
    if (!rows)
      return rows.error();
    std::vector<dependency_row> out;
    for (int r = 0; r < rows->rows(); ++r)
      out.push_back({rows->integer(r, 0), std::string{rows->text(r, 1)}, std::string{rows->text(r, 2)}});
    return out;
  };
  auto plan = plan_replay(batch_id, named, reads);
  if (!plan)
    return plan.error();
  int64_t replayed = 0;
  for (auto seq : *plan) {
    auto logged = changed(fmt::format("INSERT INTO events (at, kind, batch_id, task_id, requested_by)"
                                      " SELECT $2::bigint, '{}', batch_id, task_id, $3 FROM tasks"
                                      " WHERE seq = $1::bigint AND state = 'failed'",
                                      to_string(event_kind::task_replayed)),
                          seq, now, requester_param());
    if (!logged)
      return logged.error();
    auto n = changed("UPDATE tasks SET state = 'pending', replay_base = attempts - interruptions,"
                     " not_before = $2::bigint, finished_at = NULL, duration_ms = NULL, orphaned_attempts = 0,"
                     " waiting_on = 0 WHERE seq = $1::bigint AND state = 'failed'",
                     seq, now);
    if (!n)
      return n.error();
    replayed += *n;
  }
  auto reblocked = changed("UPDATE tasks SET state = 'blocked', waiting_on = x.n"
                           " FROM (SELECT x.task_seq, count(*) AS n FROM task_deps x JOIN tasks d ON d.seq = x.after_seq"
                           "       WHERE x.task_seq BETWEEN $1::bigint AND $2::bigint AND d.state <> 'succeeded'"
                           "       GROUP BY x.task_seq) AS x"
                           " WHERE tasks.seq = x.task_seq AND tasks.state = 'pending'",
                           range.first_seq, range.last_seq);
  if (!reblocked)
    return reblocked.error();
  return replayed;
}

// -- queues and schedules ------------------------------------------------------------------------

caf::error pg_store::set_queue(const std::string& name, const queue_change& change, const queue_limits& in_force,
                               int64_t now) {
  auto n = changed("INSERT INTO queues (name, max_workers, rate_count, rate_interval_ms, weight, group_max_workers,"
                   " paused, created_at, updated_at)"
                   " VALUES ($1, nullif($2::int, -1), nullif($3::int, -1), nullif($4::bigint, -1), nullif($5::int, -1),"
                   " nullif($6::int, -1), nullif($7::int, -1), $8::bigint, $8::bigint)"
                   " ON CONFLICT (name) DO UPDATE SET max_workers = coalesce(EXCLUDED.max_workers, queues.max_workers),"
                   " rate_count = coalesce(EXCLUDED.rate_count, queues.rate_count),"
                   " rate_interval_ms = coalesce(EXCLUDED.rate_interval_ms, queues.rate_interval_ms),"
                   " weight = coalesce(EXCLUDED.weight, queues.weight),"
                   " group_max_workers = coalesce(EXCLUDED.group_max_workers, queues.group_max_workers),"
                   " paused = coalesce(EXCLUDED.paused, queues.paused), updated_at = EXCLUDED.updated_at",
                   name, change.max_workers, change.rate_count, change.rate_interval_ms, change.weight,
                   change.group_max_workers, static_cast<int32_t>(change.paused), now);
  if (!n)
    return n.error();
  auto detail = queue_changed_detail(name, change, in_force);
  return log_event(now, event_kind::queue_changed, {}, {}, dump_json(detail));
}

caf::error pg_store::save_schedule(const schedule_row& x) {
  auto text_or_null = [](const std::string& v) { return v.empty() ? pg::param{} : pg::param{v}; };
  auto int_or_null = [](int64_t v) { return v == 0 ? pg::param{} : pg::to_param(v); };
  std::string updates;
  std::string_view columns = schedule_columns;
  for (size_t start = 0; start < columns.size();) {
    auto end = columns.find(',', start);
    auto column = columns.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    while (!column.empty() && column.front() == ' ')
      column.remove_prefix(1);
    if (column != "name")
      updates += fmt::format("{}{} = EXCLUDED.{}", updates.empty() ? "" : ", ", column, column);
    if (end == std::string_view::npos)
      break;
    start = end + 1;
  }
  auto n = changed(fmt::format("INSERT INTO schedules ({}) VALUES ($1, $2, $3, $4::bigint, $5, $6, $7::int,"
                               " $8::bigint, $9, $10::bigint, $11::bigint, $12::bigint, $13::bigint, $14, $15::bigint,"
                               " $16::bigint, $17::bigint) ON CONFLICT (name) DO UPDATE SET {}",
                               schedule_columns, updates),
                   x.name, text_or_null(x.cron), text_or_null(x.time_zone), int_or_null(x.every_ms), x.tasks_json,
                   x.missed, static_cast<int64_t>(x.overlap), int_or_null(x.paused_at), x.source, x.created_at,
                   x.updated_at, x.handled_until, int_or_null(x.last_slot), text_or_null(x.last_batch_id), x.fired,
                   x.skipped, x.missed_slots);
  return n ? caf::none : n.error();
}

caf::expected<bool> pg_store::delete_schedule(const std::string& name) {
  auto n = changed("DELETE FROM schedules WHERE name = $1", name);
  if (!n)
    return n.error();
  return *n > 0;
}

// -- fleetd's runs and clock steps ---------------------------------------------------------------

caf::expected<int64_t> pg_store::record_run_start(int64_t now, int64_t pid, const std::string& version,
                                                  const std::string& detail) {
  // Only the active fleetd records its run (a standby does when it takes over): a run still open
  // is one that stopped leading without a clean stop.
  auto dead = db_.prepared("UPDATE fleetd_runs SET found_dead_at = $1::bigint"
                           " WHERE stopped_at IS NULL AND found_dead_at IS NULL RETURNING id, started_at",
                           now);
  if (!dead)
    return dead.error();
  for (int r = 0; r < dead->rows(); ++r) {
    auto event = nlohmann::json{{"run", dead->integer(r, 0)},
                                {"clean", false},
                                {"started_at", dead->integer(r, 1)}};
    if (auto err = log_event(now, event_kind::fleetd_stopped, {}, {}, event.dump()))
      return err;
  }
  auto holder = lease_ != nullptr ? pg::param{lease_->holder()} : pg::param{};
  auto run = db_.prepared_int("INSERT INTO fleetd_runs (started_at, pid, version, holder)"
                              " VALUES ($1::bigint, $2::bigint, $3, $4) RETURNING id",
                              now, pid, version, holder);
  if (!run)
    return run.error();
  auto event = nlohmann::json::parse(detail, nullptr, false);
  if (!event.is_object())
    event = nlohmann::json::object();
  event["run"] = *run;
  if (auto err = log_event(now, event_kind::fleetd_started, {}, {}, dump_json(event)))
    return err;
  return *run;
}

caf::error pg_store::record_run_stop(int64_t run, int64_t now, int64_t running, int64_t clock_steps_ms) {
  auto started = db_.prepared("UPDATE fleetd_runs SET stopped_at = $2::bigint WHERE id = $1::bigint RETURNING started_at",
                              run, now);
  if (!started)
    return started.error();
  int64_t started_at = started->rows() > 0 ? started->integer(0, 0) : now;
  auto event = nlohmann::json{
    {"run", run}, {"clean", true}, {"uptime_ms", now - started_at - clock_steps_ms}, {"running", running}};
  return log_event(now, event_kind::fleetd_stopped, {}, {}, event.dump());
}

caf::expected<int64_t> pg_store::record_clock_step(int64_t from, int64_t by_ms, int64_t since) {
  auto moved = changed("UPDATE tasks SET not_before = not_before + $1::bigint WHERE state = 'retry_wait'"
                       " AND (SELECT finished_at FROM attempts WHERE task_seq = tasks.seq AND attempt = tasks.attempts)"
                       " BETWEEN $2::bigint AND $3::bigint",
                       by_ms, since, from);
  if (!moved)
    return moved.error();
  auto event = nlohmann::json{{"from", from}, {"to", from + by_ms}, {"by_ms", by_ms}, {"retries_moved", *moved}};
  if (auto err = log_event(from + by_ms, event_kind::clock_stepped, {}, {}, event.dump()))
    return err;
  return *moved;
}

caf::expected<int64_t> pg_store::pull_in_future_retries(int64_t now, int64_t backoff_cap_ms) {
  auto moved = changed("UPDATE tasks SET not_before = $1::bigint + greatest($2::bigint, coalesce((SELECT backoff_ms"
                       " FROM task_policies WHERE task_seq = tasks.seq), 0)) WHERE state = 'retry_wait'"
                       " AND not_before > $1::bigint + $2::bigint AND not_before > $1::bigint + coalesce((SELECT"
                       " backoff_ms FROM task_policies WHERE task_seq = tasks.seq), 0)",
                       now, backoff_cap_ms);
  if (!moved)
    return moved.error();
  if (*moved == 0)
    return moved;
  auto event = nlohmann::json{{"found_at_start", true}, {"to", now}, {"retries_moved", *moved}};
  if (auto err = log_event(now, event_kind::clock_stepped, {}, {}, event.dump()))
    return err;
  return moved;
}

// -- retention -----------------------------------------------------------------------------------

caf::expected<fleet_store::prune_progress> pg_store::prune_step(int64_t now, const retention_policy& policy,
                                                                int64_t max_rows) {
  prune_progress out;
  if (policy.retain_finished_ms > 0) {
    auto oldest = db_.prepared("SELECT id, first_seq, last_seq, total, succeeded, failed, cancelled, finished_at"
                               " FROM batches WHERE finished_at < $1::bigint ORDER BY finished_at LIMIT 1",
                               now - policy.retain_finished_ms);
    if (!oldest)
      return oldest.error();
    if (oldest->rows() > 0 && policy.only_batch && oldest->text(0, 0) != *policy.only_batch) {
      out.more = !policy.only_batch->empty(); // its archive is not written yet: the caller writes it first
    } else if (oldest->rows() > 0) {
      auto batch_id = std::string{oldest->text(0, 0)};
      auto first = oldest->integer(0, 1);
      auto last = oldest->integer(0, 2);
      nlohmann::json detail{{"tasks", oldest->integer(0, 3)},
                            {"succeeded", oldest->integer(0, 4)},
                            {"failed", oldest->integer(0, 5)},
                            {"cancelled", oldest->integer(0, 6)},
                            {"finished_at", oldest->integer(0, 7)}};
      if (!policy.archive.empty())
        detail["archive"] = policy.archive;
      auto until = std::min(last, first + max_rows - 1);
      if (first <= last) {
        for (auto sql : {"DELETE FROM attempts WHERE task_seq >= $1::bigint AND task_seq <= $2::bigint",
                         "DELETE FROM task_policies WHERE task_seq >= $1::bigint AND task_seq <= $2::bigint",
                         "DELETE FROM task_deps WHERE after_seq BETWEEN $1::bigint AND $2::bigint"
                         " OR task_seq BETWEEN $1::bigint AND $2::bigint"})
          if (auto n = changed(sql, first, until); !n)
            return n.error();
        auto tasks = changed("DELETE FROM tasks WHERE seq >= $1::bigint AND seq <= $2::bigint AND batch_id = $3", first,
                             until, batch_id);
        if (!tasks)
          return tasks.error();
        out.tasks = *tasks;
      }
      if (until < last) {
        if (auto n = changed("UPDATE batches SET first_seq = $2::bigint WHERE id = $1", batch_id, until + 1); !n)
          return n.error();
      } else {
        if (auto n = changed("DELETE FROM batches WHERE id = $1", batch_id); !n)
          return n.error();
        if (auto err = log_event(now, event_kind::batch_pruned, batch_id, {}, dump_json(detail)))
          return err;
        out.batches = 1;
      }
      out.more = true; // the next step looks for the next batch
    }
  }
  if (policy.retain_events_ms > 0) {
    // The events' trigger lets this transaction delete, and only while the setting is on.
    if (auto err = db_.exec("SET LOCAL fleetd.pruning = 'on'"))
      return err;
    auto n = changed("DELETE FROM events WHERE id IN (SELECT id FROM events ORDER BY id LIMIT $2::bigint)"
                     " AND at < $1::bigint",
                     now - policy.retain_events_ms, max_rows);
    if (!n)
      return n.error();
    if (auto err = db_.exec("SET LOCAL fleetd.pruning = 'off'"))
      return err;
    out.events = *n;
    out.more = out.more || out.events > 0;
  }
  return out;
}

caf::expected<int64_t> pg_store::reclaim_space(int64_t) {
  return int64_t{0};
}

} // namespace fleet
