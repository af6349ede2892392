// The writes of a group commit on PostgreSQL: attempts that start and end, batch counters,
// progress, due retries and delayed tasks, and the recovery of attempts a dead fleetd left open.
// Each kind of row is one statement per group, its rows bound as arrays (pg_array.hpp).

#include "fleet/pg_store.hpp"

#include "fleet/event_kind.hpp"
#include "fleet/json_codec.hpp"
#include "fleet/json_text.hpp"
#include "fleet/pg_array.hpp"
#include "fleet/pg_cells.hpp"
#include "fleet/store_plans.hpp"
#include "fleet/store_rows.hpp"
#include "fleetd/error.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <map>
#include <set>
#include <utility>

namespace fleet {

caf::expected<fleet_store::milestones> pg_store::record(const std::vector<transition>& changes) {
  // As on SQLite, an attempt that starts and ends within the group is written as one row.
  auto deferred = starts_ended_within(changes);
  std::vector<const attempt_started*> starts; // still running at the end of the group
  // The ends in order, split into rounds in which each task ends once: a task requeued and
  // started again within the group ends twice, and one UPDATE cannot set a row twice.
  std::vector<std::vector<std::pair<const attempt_ended*, const attempt_started*>>> rounds;
  std::map<int64_t, size_t> rounds_of_task;
  for (const auto& change : changes) {
    if (auto x = std::get_if<attempt_started>(&change)) {
      if (deferred.count({x->seq, x->attempt}) == 0)
        starts.push_back(x);
      continue;
    }
    const auto& end = std::get<attempt_ended>(change);
    auto i = deferred.find({end.seq, end.attempt});
    auto round = rounds_of_task[end.seq]++;
    if (round >= rounds.size())
      rounds.resize(round + 1);
    rounds[round].emplace_back(&end, i == deferred.end() ? nullptr : i->second);
  }
  std::map<std::string, batch_delta> deltas;
  // Every new attempt row at once: those still running and those already over.
  {
    pg::array seqs, attempts, workers, started, nodes, finished, outcomes, errors;
    auto add = [&](const attempt_started& s, const attempt_ended* e) {
      seqs.add(s.seq);
      attempts.add(s.attempt);
      workers.add(s.worker_id);
      started.add(s.at);
      s.node.empty() ? nodes.add_null() : nodes.add(s.node);
      if (e == nullptr) {
        finished.add_null();
        outcomes.add_null();
        errors.add_null();
      } else {
        finished.add(e->at);
        outcomes.add(to_string(e->outcome));
        e->error.empty() ? errors.add_null() : errors.add(e->error);
      }
      deltas[s.batch_id].note_start(s.at);
    };
    for (const auto& round : rounds)
      for (const auto& [end, start] : round)
        if (start != nullptr)
          add(*start, end);
    for (auto* s : starts)
      add(*s, nullptr);
    if (!seqs.empty()) {
      auto res = db_.prepared("INSERT INTO attempts (task_seq, attempt, worker_id, started_at, node, finished_at,"
                              " outcome, error, epoch)"
                              " SELECT s, a, w, st, n, f, o, e, $9::bigint FROM unnest($1::bigint[], $2::int[],"
                              " $3::text[], $4::bigint[], $5::text[], $6::bigint[], $7::text[], $8::text[])"
                              " AS x(s, a, w, st, n, f, o, e)",
                              seqs, attempts, workers, started, nodes, finished, outcomes, errors, epoch());
      if (!res)
        return res.error();
    }
  }
  for (const auto& round : rounds)
    if (auto err = record_ends(round, deltas))
      return err;
  // The starts last: a task that ended here and started again runs now.
  if (!starts.empty()) {
    pg::array seqs, attempts, at;
    for (auto* s : starts) {
      seqs.add(s->seq);
      attempts.add(s->attempt);
      at.add(s->at);
    }
    auto res = db_.prepared("UPDATE tasks SET state = 'running', attempts = x.a, started_at = coalesce(started_at, x.t),"
                            " progress = NULL, progress_note = NULL"
                            " FROM unnest($1::bigint[], $2::int[], $3::bigint[]) AS x(s, a, t) WHERE seq = x.s",
                            seqs, attempts, at);
    if (!res)
      return res.error();
  }
  milestones out;
  if (auto err = apply_deltas(deltas, out))
    return err;
  return out;
}

caf::error pg_store::record_ends(const std::vector<std::pair<const attempt_ended*, const attempt_started*>>& ends,
                                 std::map<std::string, batch_delta>& deltas) {
  // The ends of attempts that started in an earlier group.
  pg::array open_seqs, open_attempts, open_at, open_outcomes, open_errors;
  // Every task's new state.
  pg::array seqs, states, results, errors, not_before, finished, durations, interrupted, attempts, started, orphaned;
  // The audit events of those that did not succeed.
  pg::array event_at, event_kinds, event_batches, event_tasks, event_details;
  for (const auto& [e, start] : ends) {
    const auto& x = *e;
    if (start == nullptr) {
      open_seqs.add(x.seq);
      open_attempts.add(x.attempt);
      open_at.add(x.at);
      open_outcomes.add(to_string(x.outcome));
      x.error.empty() ? open_errors.add_null() : open_errors.add(x.error);
    }
    auto terminal = is_terminal(x.next);
    seqs.add(x.seq);
    states.add(task_state_after(x.next));
    x.next == task_disposition::succeeded ? results.add(x.result) : results.add_null();
    x.error.empty() ? errors.add_null() : errors.add(x.error);
    not_before.add(next_not_before(x));
    terminal ? finished.add(x.at) : finished.add_null();
    terminal ? durations.add(x.duration_ms) : durations.add_null();
    interrupted.add(int64_t{x.outcome == attempt_outcome::interrupted ? 1 : 0});
    attempts.add(x.attempt);
    start != nullptr ? started.add(start->at) : started.add_null();
    orphaned.add(int64_t{x.orphaned ? 1 : 0});
    deltas[x.batch_id].note_end(x);
    // Successful attempts are audited by their `attempts` row; the event log keeps the rest.
    if (x.next == task_disposition::succeeded)
      continue;
    event_at.add(x.at);
    event_kinds.add(to_string(*event_of(x.next)));
    event_batches.add(x.batch_id);
    event_tasks.add(x.task_id);
    event_details.add(attempt_end_detail(x));
  }
  if (!open_seqs.empty()) {
    auto res = db_.prepared("UPDATE attempts SET finished_at = x.f, outcome = x.o, error = x.e"
                            " FROM unnest($1::bigint[], $2::int[], $3::bigint[], $4::text[], $5::text[])"
                            " AS x(s, a, f, o, e) WHERE task_seq = x.s AND attempt = x.a",
                            open_seqs, open_attempts, open_at, open_outcomes, open_errors);
    if (!res)
      return res.error();
    if (res->affected() != static_cast<int64_t>(open_seqs.size())) {
      auto missing = db_.prepared("SELECT x.s, x.a FROM unnest($1::bigint[], $2::int[]) AS x(s, a) WHERE NOT EXISTS"
                                  " (SELECT 1 FROM attempts WHERE task_seq = x.s AND attempt = x.a) LIMIT 1",
                                  open_seqs, open_attempts);
      if (!missing)
        return missing.error();
      if (missing->rows() > 0)
        for (const auto& [e, start] : ends)
          if (start == nullptr && e->seq == missing->integer(0, 0) && e->attempt == missing->integer(0, 1))
            return end_without_start(*e);
      return caf::make_error(errc::database_error, fmt::format("{} attempt ends were recorded for {} attempts",
                                                               open_seqs.size(), res->affected()));
    }
  }
  // Every task's new state in one statement; only the tasks with dependents come back (RETURNING
  // a row per task would send a group's worth of rows for the few that have any).
  auto res = db_.prepared("WITH ended AS (UPDATE tasks SET state = x.st, result = x.r, error = x.e, not_before = x.nb,"
                          " finished_at = x.f, duration_ms = x.d, interruptions = interruptions + x.i,"
                          " attempts = greatest(attempts, x.a), started_at = coalesce(started_at, x.sa),"
                          " orphaned_attempts = orphaned_attempts + x.o"
                          " FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::bigint[],"
                          " $7::bigint[], $8::int[], $9::int[], $10::bigint[], $11::int[])"
                          " AS x(s, st, r, e, nb, f, d, i, a, sa, o)"
                          " WHERE seq = x.s RETURNING seq, dependents)"
                          " SELECT (SELECT count(*) FROM ended), seq FROM ended WHERE dependents > 0"
                          " UNION ALL SELECT (SELECT count(*) FROM ended), NULL WHERE NOT EXISTS"
                          " (SELECT 1 FROM ended WHERE dependents > 0)",
                          seqs, states, results, errors, not_before, finished, durations, interrupted, attempts,
                          started, orphaned);
  if (!res)
    return res.error();
  auto updated = res->rows() > 0 ? res->integer(0, 0) : 0;
  if (updated != static_cast<int64_t>(seqs.size()))
    return caf::make_error(errc::database_error,
                           fmt::format("{} attempt ends were recorded for {} tasks", seqs.size(), updated));
  if (!event_at.empty()) {
    auto ev = db_.prepared("INSERT INTO events (at, kind, batch_id, task_id, detail, requested_by)"
                           " SELECT a, k, b, t, d, $6 FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[],"
                           " $5::text[]) WITH ORDINALITY AS x(a, k, b, t, d, n) ORDER BY n",
                           event_at, event_kinds, event_batches, event_tasks, event_details, requester_param());
    if (!ev)
      return ev.error();
  }
  std::set<int64_t> with_dependents;
  for (int r = 0; r < res->rows(); ++r)
    if (!res->is_null(r, 1))
      with_dependents.insert(res->integer(r, 1));
  if (with_dependents.empty())
    return caf::none;
  for (const auto& [e, start] : ends) {
    if (with_dependents.count(e->seq) == 0 || !is_terminal(e->next))
      continue;
    auto skipped = settle_dependents(e->seq, e->batch_id, e->task_id, e->next, e->at);
    if (!skipped)
      return skipped.error();
    deltas[e->batch_id].failed += *skipped;
  }
  return caf::none;
}

caf::error pg_store::apply_deltas(const std::map<std::string, batch_delta>& deltas, milestones& out) {
  pg::array start_ids, start_at, count_ids, succeeded, failed, cancelled, retries, durations, end_ids, end_at;
  for (const auto& [batch_id, d] : deltas) {
    if (d.first_start > 0) {
      start_ids.add(batch_id);
      start_at.add(d.first_start);
    }
    if (d.succeeded + d.failed + d.cancelled + d.retries + d.duration_ms > 0) {
      count_ids.add(batch_id);
      succeeded.add(d.succeeded);
      failed.add(d.failed);
      cancelled.add(d.cancelled);
      retries.add(d.retries);
      durations.add(d.duration_ms);
    }
    if (d.terminal) {
      end_ids.add(batch_id);
      end_at.add(d.at);
    }
  }
  std::set<std::string> started_now, finished_now;
  if (!start_ids.empty()) {
    auto res = db_.prepared("UPDATE batches SET started_at = x.t FROM unnest($1::text[], $2::bigint[]) AS x(b, t)"
                            " WHERE id = x.b AND started_at IS NULL RETURNING id",
                            start_ids, start_at);
    if (!res)
      return res.error();
    for (int r = 0; r < res->rows(); ++r)
      started_now.emplace(res->text(r, 0));
  }
  if (!count_ids.empty()) {
    auto res = db_.prepared("UPDATE batches SET succeeded = succeeded + x.s, failed = failed + x.f,"
                            " cancelled = cancelled + x.c, retries = retries + x.r, duration_ms = duration_ms + x.d"
                            " FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[],"
                            " $6::bigint[]) AS x(b, s, f, c, r, d) WHERE id = x.b",
                            count_ids, succeeded, failed, cancelled, retries, durations);
    if (!res)
      return res.error();
  }
  if (!end_ids.empty()) {
    auto res = db_.prepared("WITH done AS (UPDATE batches SET finished_at = x.t"
                            " FROM unnest($1::text[], $2::bigint[]) AS x(b, t)"
                            " WHERE id = x.b AND finished_at IS NULL AND succeeded + failed + cancelled >= total"
                            " RETURNING id, finished_at)"
                            " INSERT INTO events (at, kind, batch_id, requested_by)"
                            " SELECT finished_at, $3, id, $4 FROM done ORDER BY id RETURNING batch_id",
                            end_ids, end_at, std::string{to_string(event_kind::batch_finished)},
                            requester_param());
    if (!res)
      return res.error();
    for (int r = 0; r < res->rows(); ++r)
      finished_now.emplace(res->text(r, 0));
  }
  for (const auto& [batch_id, d] : deltas) {
    if (started_now.count(batch_id) > 0)
      out.push_back({batch_id, false});
    if (finished_now.count(batch_id) > 0)
      out.push_back({batch_id, true});
  }
  return caf::none;
}

caf::expected<bool> pg_store::finish_if_done(const std::string& batch_id, int64_t at) {
  auto n = changed("UPDATE batches SET finished_at = $2::bigint WHERE id = $1 AND finished_at IS NULL"
                   " AND succeeded + failed + cancelled >= total",
                   batch_id, at);
  if (!n)
    return n.error();
  if (*n == 0)
    return false;
  if (auto err = log_event(at, event_kind::batch_finished, batch_id, {}, {}))
    return err;
  return true;
}

caf::error pg_store::add_to_batch(const std::string& batch_id, int64_t succeeded, int64_t failed, int64_t cancelled) {
  auto n = changed("UPDATE batches SET succeeded = succeeded + $2::bigint, failed = failed + $3::bigint,"
                   " cancelled = cancelled + $4::bigint WHERE id = $1",
                   batch_id, succeeded, failed, cancelled);
  return n ? caf::none : n.error();
}

caf::error pg_store::save_progress(const std::vector<progress_report>& reports) {
  // The latest report of each task (one UPDATE sets a row once).
  std::map<int64_t, const progress_report*> latest;
  for (const auto& r : reports)
    latest[r.seq] = &r;
  if (latest.empty())
    return caf::none;
  pg::array seqs, progress, notes;
  for (const auto& [seq, r] : latest) {
    seqs.add(seq);
    progress.add(r->progress);
    r->note.empty() ? notes.add_null() : notes.add(r->note);
  }
  auto res = db_.prepared("UPDATE tasks SET progress = x.p, progress_note = x.n"
                          " FROM unnest($1::bigint[], $2::float8[], $3::text[]) AS x(s, p, n)"
                          " WHERE seq = x.s AND state = 'running'",
                          seqs, progress, notes);
  return res ? caf::none : res.error();
}

caf::expected<fleet_store::promotion> pg_store::promote_due(int64_t now, int64_t slice) {
  promotion out;
  auto logged = changed(fmt::format("INSERT INTO events (at, kind, batch_id, task_id)"
                                    " SELECT $1::bigint, '{}', batch_id, task_id FROM tasks"
                                    " WHERE state = 'retry_wait' AND not_before <= $1::bigint ORDER BY seq",
                                    to_string(event_kind::task_retry_due)),
                        now);
  if (!logged)
    return logged.error();
  auto retries = changed("UPDATE tasks SET state = 'pending' WHERE state = 'retry_wait' AND not_before <= $1::bigint",
                         now);
  if (!retries)
    return retries.error();
  out.promoted = *retries;
  // Delayed tasks leave no event when they become due (their row keeps the time).
  auto by_batch = db_.prepared("WITH due AS (UPDATE tasks SET state = 'pending' WHERE seq IN (SELECT seq FROM tasks"
                               " WHERE state = 'scheduled' AND not_before <= $1::bigint ORDER BY not_before, seq"
                               " LIMIT $2::bigint) RETURNING batch_id)"
                               " SELECT batch_id, count(*) FROM due GROUP BY batch_id",
                               now, slice);
  if (!by_batch)
    return by_batch.error();
  if (by_batch->rows() == 0)
    return out;
  pg::array ids, counts;
  int64_t promoted = 0;
  for (int r = 0; r < by_batch->rows(); ++r) {
    auto n = by_batch->int64(r, 1);
    if (!n)
      return n.error();
    ids.add(by_batch->text(r, 0));
    counts.add(*n);
    promoted += *n;
  }
  auto counted = db_.prepared("UPDATE batches SET scheduled = scheduled - x.n"
                              " FROM unnest($1::text[], $2::bigint[]) AS x(b, n) WHERE id = x.b",
                              ids, counts);
  if (!counted)
    return counted.error();
  out.promoted += promoted;
  out.more = promoted == slice;
  return out;
}

// -- recovery ------------------------------------------------------------------------------------

caf::error pg_store::record_unrecorded_starts(const std::vector<start_journal::entry>& starts, int64_t now,
                                              int32_t max_interruptions, recovery& out) {
  auto read = [&](int64_t seq) -> caf::expected<std::optional<journal_task_row>> {
    auto task = db_.prepared("SELECT batch_id, task_id, state, attempts, orphaned_attempts FROM tasks"
                             " WHERE seq = $1::bigint",
                             seq);
    if (!task)
      return task.error();
    if (task->rows() == 0)
      return std::optional<journal_task_row>{};
    return std::optional<journal_task_row>{journal_task_row{std::string{task->text(0, 0)}, std::string{task->text(0, 1)},
                                                            std::string{task->text(0, 2)}, task->integer(0, 3),
                                                            task->integer(0, 4)}};
  };
  auto lost = plan_unrecorded_starts(starts, now, max_interruptions, read, out);
  if (!lost)
    return lost.error();
  auto done = record(*lost);
  return done ? caf::none : done.error();
}

caf::expected<recovery> pg_store::recover_interrupted(int64_t now, int32_t max_interruptions,
                                                      const std::vector<start_journal::entry>& starts,
                                                      const std::vector<stopped_orphan>& orphans,
                                                      bool hold_node_attempts) {
  recovery out;
  if (auto err = record_unrecorded_starts(starts, now, max_interruptions, out))
    return err;
  auto running = db_.prepared("SELECT t.seq, t.batch_id, t.task_id, t.attempts, t.orphaned_attempts, a.worker_id,"
                              " a.node, a.started_at, b.cancelled_at IS NOT NULL"
                              " FROM tasks t JOIN batches b ON b.id = t.batch_id"
                              " LEFT JOIN attempts a ON a.task_seq = t.seq AND a.attempt = t.attempts"
                              " WHERE t.state = 'running' ORDER BY t.seq");
  if (!running)
    return running.error();
  std::vector<open_attempt_row> rows;
  for (int r = 0; r < running->rows(); ++r) {
    pg::cells c{*running, r};
    rows.push_back({c.i64(0), c.text(1), c.text(2), c.i32(3), c.i64(4), c.text(5), c.text(6),
                    c.null(7) ? 0 : c.i64(7), c.text(8) == "t"});
    if (c.error)
      return c.error;
  }
  auto held = take_held(rows, hold_node_attempts);
  if (!held.empty()) {
    std::vector<int64_t> seqs;
    for (const auto& h : held)
      seqs.push_back(h.seq);
    auto tasks = running_tasks(seqs);
    if (!tasks)
      return tasks.error();
    if (tasks->size() != held.size())
      return caf::make_error(errc::database_error, "recovery: a held attempt's task is no longer running");
    for (size_t i = 0; i < held.size(); ++i)
      out.held.push_back({std::move((*tasks)[i]), held[i].attempt, std::move(held[i].worker_id),
                          std::move(held[i].node), held[i].started_at});
  }
  auto [ends, events] = plan_interrupted(rows, now, max_interruptions, orphans, out);
  if (auto done = record(ends); !done)
    return done.error();
  for (const auto& e : events)
    if (auto err = log_event(now, event_kind::orphan_stopped, e.batch_id, e.task_id, orphan_stopped_detail({}, *e.orphan)))
      return err;
  return out;
}

} // namespace fleet
