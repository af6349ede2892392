#include "fleet/sqlite_store.hpp"
#include "fleet/store.hpp"
#include "fleet/store_internal.hpp"
#include "fleet/store_plans.hpp"
#include "fleet/store_rows.hpp"
#include "fleet/store_sql.hpp"

#include "fleetd/error.hpp"
#include "fleet/json_codec.hpp"
#include "fleet/json_text.hpp"
#include "fleet/validation.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <map>
#include <set>
#include <utility>

namespace fleet {

using namespace store_detail;

caf::expected<int64_t> sqlite_reader::unfinished_batches() {
  auto& st = reads_->unfinished_batches;
  st.rebind();
  if (auto err = step_to_row(st, caf::make_error(errc::database_error, "count(*) gave no row")))
    return err;
  auto n = st.column_int64(0);
  st.reset();
  return n;
}

caf::error sqlite_store::insert_batch(const std::string& batch_id, const std::vector<task>& tasks,
                                     int64_t now) {
  auto total = static_cast<int64_t>(tasks.size());
  return store_batch(batch_id, total, now, {}, [&]() -> caf::expected<int64_t> {
    int64_t seq = 0;
    int64_t first_seq = 0;
    for (const auto& t : tasks) {
      if (auto err = stmts_->insert_task.execute(batch_id, t.id, t.type, t.data, t.priority, start_time(t, now), now,
                                                 t.queue.empty() ? default_queue : t.queue, t.group))
        return err;
      seq = db_.last_insert_rowid();
      if (first_seq == 0)
        first_seq = seq;
      if (t.policy.empty())
        continue;
      const auto& p = t.policy;
      if (auto err = stmts_->insert_policy.execute(seq, p.timeout_ms, p.max_retries, p.backoff_ms,
                                                   static_cast<int32_t>(p.retry)))
        return err;
    }
    if (auto err = insert_dependencies(batch_id, tasks, first_seq))
      return err;
    return seq;
  });
}

caf::error sqlite_store::store_batch(const std::string& batch_id, int64_t total, int64_t now,
                                    const std::string& upload_id,
                                    const std::function<caf::expected<int64_t>()>& insert_tasks) {
  if (auto err = stmts_->insert_batch.execute(batch_id, now, total))
    return err;
  auto last_seq = insert_tasks();
  if (!last_seq)
    return last_seq.error();
  if (auto err = link_dependencies(*last_seq - total + 1, *last_seq))
    return err;
  // One writer inserts the batch's tasks in one go, each seq the largest so far + 1: they are the
  // `total` seqs up to the last one.
  auto& cs = stmts_->count_scheduled;
  cs.rebind(batch_id);
  if (auto err = step_to_row(cs, caf::make_error(errc::database_error, "count(*) gave no row")))
    return err;
  auto scheduled = cs.column_int64(0);
  cs.reset();
  if (auto err = stmts_->set_batch_range.execute(batch_id, *last_seq - total + 1, *last_seq, scheduled))
    return err;
  nlohmann::json detail{{"tasks", total}};
  if (scheduled > 0)
    detail["scheduled"] = scheduled;
  if (!upload_id.empty())
    detail["upload"] = upload_id;
  return log_event(now, event_kind::batch_submitted, batch_id, {}, dump_json(detail));
}

caf::expected<bool> sqlite_reader::begin_reads() {
  if (auto err = db_.exec("BEGIN"))
    return err;
  return true;
}

caf::error sqlite_reader::end_reads() {
  return db_.exec("COMMIT"); // a read transaction: nothing to write, and its snapshot goes
}

caf::expected<std::vector<runnable_task>> sqlite_reader::next_runnable(const std::string& queue, size_t limit,
                                                                     const std::optional<run_position>& after) {
  auto read = [&](sqlite::statement& st, int64_t n) -> caf::expected<runnable_list> {
    runnable_list rows;
    rows.reserve(static_cast<size_t>(n));
    auto err = st.each_row([&] { rows.push_back(read_runnable(sqlite_row{st})); });
    if (err)
      return err;
    return rows;
  };
  if (!after) {
    reads_->next_runnable.rebind(static_cast<int64_t>(limit), queue);
    return read(reads_->next_runnable, static_cast<int64_t>(limit));
  }
  // The statements of the hot path keep their shapes: the rest of a priority reads `seq > ?3`
  // (the walk asks from after->seq + 1 to the end), the priorities below have no lower bound.
  auto same = [&](int32_t priority, int64_t first, int64_t, int64_t n) {
    reads_->runnable_same_priority.rebind(n, priority, first - 1, queue);
    return read(reads_->runnable_same_priority, n);
  };
  auto lower = [&](int32_t above, int32_t, int64_t n) {
    reads_->runnable_lower_priority.rebind(n, above, queue);
    return read(reads_->runnable_lower_priority, n);
  };
  return runnable_after(limit, *after, same, lower);
}

caf::expected<dependency_results> sqlite_reader::dependency_results(int64_t seq, int64_t max_bytes) {
  auto& st = reads_->dependency_results;
  st.rebind(seq, std::min(max_bytes, max_dependency_object_bytes));
  auto row = st.step();
  if (!row)
    return row.error();
  if (!*row)
    return caf::make_error(errc::database_error, fmt::format("no dependency results for task {}", seq));
  fleet::dependency_results out;
  out.bytes = st.column_int64(0);
  if (!st.column_is_null(1))
    out.object = st.column_text(1);
  st.reset();
  return out;
}

caf::expected<sqlite_store::promotion> sqlite_store::promote_due(int64_t now, int64_t slice) {
  promotion out;
  if (auto err = stmts_->log_due_retries.execute(now))
    return err;
  if (auto err = stmts_->promote_due_retries.execute(now))
    return err;
  out.promoted = db_.changes();
  // Delayed tasks leave no event when they become due: their row keeps the time (not_before),
  // and their first attempt's start shows when they ran.
  std::vector<std::pair<std::string, int64_t>> by_batch;
  auto& due = stmts_->due_scheduled_by_batch;
  due.rebind(now, slice);
  if (auto err = due.each_row([&] { by_batch.emplace_back(due.column_text(0), due.column_int64(1)); }))
    return err;
  if (by_batch.empty())
    return out;
  if (auto err = stmts_->promote_due_scheduled.execute(now, slice))
    return err;
  auto promoted = db_.changes();
  int64_t counted = 0;
  for (const auto& [batch_id, n] : by_batch) {
    if (auto err = stmts_->count_promoted.execute(batch_id, n))
      return err;
    counted += n;
  }
  if (counted != promoted)
    return caf::make_error(errc::database_error,
                           fmt::format("promoting delayed tasks: {} counted by batch, {} made pending", counted,
                                       promoted));
  out.promoted += promoted;
  out.more = promoted == slice;
  return out;
}

caf::expected<caf::optional<int64_t>> sqlite_reader::next_due() {
  auto& st = reads_->next_due;
  st.rebind();
  auto row = st.step();
  if (!row)
    return row.error();
  caf::optional<int64_t> due;
  if (*row && !st.column_is_null(0))
    due = st.column_int64(0);
  st.reset();
  return due;
}

caf::error sqlite_store::start_stored_twice(const attempt_started& x, caf::error err) {
  auto stored = db_.prepare("SELECT worker_id, started_at FROM attempts WHERE task_seq = ?1 AND attempt = ?2");
  if (!stored)
    return err;
  stored->rebind(x.seq, x.attempt);
  auto row = stored->step();
  if (!row || !*row)
    return err;
  return attempt_already_stored(x, stored->column_text(0), stored->column_int64(1));
}

caf::error sqlite_store::record_start(const attempt_started& x, std::map<std::string, batch_delta>& deltas) {
  auto& ia = stmts_->insert_attempt;
  ia.rebind(x.seq, x.attempt, x.worker_id, x.at);
  bind_node(ia, 5, x.node);
  if (auto err = ia.run())
    return start_stored_twice(x, std::move(err));
  if (auto err = stmts_->start_task.execute(x.seq, x.attempt, x.at))
    return err;
  deltas[x.batch_id].note_start(x.at);
  return caf::none;
}

caf::error sqlite_store::save_progress(const std::vector<progress_report>& reports) {
  for (const auto& r : reports)
    if (auto err = stmts_->save_progress.execute(r.seq, r.progress, r.note))
      return err;
  return caf::none;
}

caf::error sqlite_store::mark_batch_started(const std::string& batch_id, int64_t at, milestones& out) {
  if (auto err = stmts_->start_batch.execute(batch_id, at))
    return err;
  if (db_.changes() > 0)
    out.push_back({batch_id, false});
  return caf::none;
}

caf::expected<int64_t> sqlite_store::dependents_count(int64_t seq) {
  auto& st = stmts_->task_dependents;
  st.rebind(seq);
  auto row = st.step();
  if (!row)
    return row.error();
  auto n = *row ? st.column_int64(0) : 0;
  st.reset();
  return n;
}

caf::error sqlite_store::record_attempt_end(const attempt_ended& x, const attempt_started* start) {
  auto bind_error = [&](auto& st, int index) {
    if (x.error.empty())
      st.bind(index, nullptr);
    else
      st.bind(index, x.error);
  };
  if (start != nullptr) {
    // Started and ended within one group commit: one complete row instead of insert + update.
    auto& wa = stmts_->insert_whole_attempt;
    wa.rebind(x.seq, x.attempt, start->worker_id, start->at, x.at, to_string(x.outcome));
    bind_error(wa, 7);
    bind_node(wa, 8, start->node);
    if (auto err = wa.run())
      return start_stored_twice(*start, std::move(err));
    return caf::none;
  }
  auto& ea = stmts_->end_attempt;
  ea.rebind(x.seq, x.attempt, x.at, to_string(x.outcome));
  bind_error(ea, 5);
  if (auto err = ea.run())
    return err;
  if (db_.changes() != 1)
    return end_without_start(x);
  return caf::none;
}

caf::error sqlite_store::record_end_settling_dependents(const attempt_ended& x, const attempt_started* start,
                                                       std::map<std::string, batch_delta>& deltas) {
  if (auto err = record_attempt_end(x, start))
    return err;
  task_end_writer::row row{&x, start};
  if (auto err = task_ends_->write({&row, 1}))
    return err;
  auto dependents = dependents_count(x.seq);
  if (!dependents)
    return dependents.error();
  if (*dependents > 0) {
    auto skipped = settle_dependents(x.seq, x.batch_id, x.task_id, x.next, x.at);
    if (!skipped)
      return skipped.error();
    deltas[x.batch_id].failed += *skipped;
  }
  return count_task_end(row, deltas);
}

caf::error sqlite_store::apply_deltas(const std::map<std::string, batch_delta>& deltas, milestones& out) {
  for (const auto& [batch_id, d] : deltas) {
    // Once per batch and group, not per attempt: the batch's row is read once.
    if (d.first_start > 0)
      if (auto err = mark_batch_started(batch_id, d.first_start, out))
        return err;
    if (d.succeeded + d.failed + d.cancelled + d.retries + d.duration_ms > 0)
      if (auto err = stmts_->count_batch.execute(batch_id, d.succeeded, d.failed, d.cancelled, d.retries,
                                                 d.duration_ms))
        return err;
    if (!d.terminal)
      continue;
    auto finished = finish_if_done(batch_id, d.at);
    if (!finished)
      return finished.error();
    if (*finished)
      out.push_back({batch_id, true});
  }
  return caf::none;
}

caf::expected<bool> sqlite_store::finish_if_done(const std::string& batch_id, int64_t at) {
  if (auto err = stmts_->finish_batch.execute(batch_id, at))
    return err;
  if (db_.changes() == 0)
    return false;
  if (auto err = log_event(at, event_kind::batch_finished, batch_id, {}, {}))
    return err;
  return true;
}

caf::expected<sqlite_store::milestones> sqlite_store::record(const std::vector<transition>& changes) {
  // Attempts whose start and end share this commit are written once, as the end comes.
  auto deferred = starts_ended_within(changes);
  std::map<std::string, batch_delta> deltas;
  // Ends whose attempts rows are written and whose tasks are not yet, written together. Whatever
  // else comes for one of their tasks, and an end written alone (it may write events), writes
  // them first: each task's rows and the events are written in the group's order.
  std::vector<task_end_writer::row> ends;
  auto write_ends = [&]() -> caf::error {
    if (ends.empty())
      return caf::none;
    auto err = record_task_ends(ends, deltas);
    ends.clear();
    return err;
  };
  auto holds = [&](int64_t seq) {
    return std::any_of(ends.begin(), ends.end(), [seq](const auto& r) { return r.end->seq == seq; });
  };
  for (const auto& change : changes) {
    if (auto x = std::get_if<attempt_started>(&change)) {
      if (deferred.count({x->seq, x->attempt}) > 0)
        continue;
      if (holds(x->seq))
        if (auto err = write_ends())
          return err;
      if (auto err = record_start(*x, deltas))
        return err;
      continue;
    }
    const auto& end = std::get<attempt_ended>(change);
    auto i = deferred.find({end.seq, end.attempt});
    auto start = i == deferred.end() ? nullptr : i->second;
    // A task that ends for good may have dependents, settled as it ends.
    auto alone = is_terminal(end.next) && dependencies_stored_;
    if (alone || ends.size() == task_end_writer::max_rows || holds(end.seq))
      if (auto err = write_ends())
        return err;
    if (alone) {
      if (auto err = record_end_settling_dependents(end, start, deltas))
        return err;
      continue;
    }
    if (auto err = record_attempt_end(end, start))
      return err;
    ends.push_back({&end, start});
  }
  if (auto err = write_ends())
    return err;
  milestones out;
  if (auto err = apply_deltas(deltas, out))
    return err;
  return out;
}

caf::error sqlite_store::record_task_ends(std::span<const task_end_writer::row> rows,
                                          std::map<std::string, batch_delta>& deltas) {
  if (auto err = task_ends_->write(rows))
    return err;
  for (const auto& r : rows)
    if (auto err = count_task_end(r, deltas))
      return err;
  return caf::none;
}

caf::error sqlite_store::count_task_end(const task_end_writer::row& r, std::map<std::string, batch_delta>& deltas) {
  const auto& x = *r.end;
  auto& delta = deltas[x.batch_id];
  if (r.start != nullptr)
    delta.note_start(r.start->at);
  delta.note_end(x);
  // Successful attempts are audited by their `attempts` row; the event log keeps the rest.
  if (x.next == task_disposition::succeeded)
    return caf::none;
  return log_event(x.at, *event_of(x.next), x.batch_id, x.task_id, attempt_end_detail(x));
}

caf::error sqlite_store::record_unrecorded_starts(const std::vector<start_journal::entry>& starts, int64_t now,
                                                 int32_t max_interruptions, recovery& out) {
  auto task = db_.prepare("SELECT batch_id, task_id, state, attempts, orphaned_attempts FROM tasks WHERE seq = ?1");
  if (!task)
    return task.error();
  auto read = [&](int64_t seq) -> caf::expected<std::optional<journal_task_row>> {
    task->rebind(seq);
    auto row = task->step();
    if (!row)
      return row.error();
    std::optional<journal_task_row> out;
    if (*row)
      out = journal_task_row{task->column_text(0), task->column_text(1), task->column_text(2), task->column_int64(3),
                             task->column_int64(4)};
    task->reset();
    return out;
  };
  auto lost = plan_unrecorded_starts(starts, now, max_interruptions, read, out);
  if (!lost)
    return lost.error();
  auto done = record(*lost);
  return done ? caf::none : done.error();
}

caf::expected<recovery> sqlite_store::recover_interrupted(int64_t now, int32_t max_interruptions,
                                                         const std::vector<start_journal::entry>& starts,
                                                         const std::vector<stopped_orphan>& orphans,
                                                         bool hold_node_attempts) {
  recovery out;
  if (auto err = record_unrecorded_starts(starts, now, max_interruptions, out))
    return err;
  // Few rows (at most the attempts that were running), through the partial index tasks_running.
  auto running = db_.prepare("SELECT t.seq, t.batch_id, t.task_id, t.attempts, t.orphaned_attempts, a.worker_id,"
                             " a.node, a.started_at, b.cancelled_at IS NOT NULL"
                             " FROM tasks t JOIN batches b ON b.id = t.batch_id"
                             " LEFT JOIN attempts a ON a.task_seq = t.seq AND a.attempt = t.attempts"
                             " WHERE t.state = 'running' ORDER BY t.seq");
  if (!running)
    return running.error();
  std::vector<open_attempt_row> rows;
  auto read = running->each_row([&] {
    rows.push_back({running->column_int64(0), running->column_text(1), running->column_text(2),
                    static_cast<int32_t>(running->column_int64(3)), running->column_int64(4), running->column_text(5),
                    running->column_text(6), running->column_int64(7), running->column_int64(8) != 0});
  });
  if (read)
    return read;
  auto held = take_held(rows, hold_node_attempts);
  if (!held.empty()) {
    auto task = db_.prepare(sql::held_task);
    if (!task)
      return task.error();
    for (auto& h : held) {
      task->rebind(h.seq);
      auto row = task->step();
      if (!row)
        return row.error();
      if (!*row)
        return caf::make_error(errc::database_error, fmt::format("recovery: task {} is no longer running", h.seq));
      out.held.push_back({read_runnable(sqlite_row{*task}), h.attempt, std::move(h.worker_id), std::move(h.node),
                          h.started_at});
      task->reset();
    }
  }
  auto [ends, events] = plan_interrupted(rows, now, max_interruptions, orphans, out);
  // Its milestones go unused: the manager is not running yet, nobody waits for these batches.
  if (auto done = record(ends); !done)
    return done.error();
  for (const auto& e : events)
    if (auto err = log_event(now, event_kind::orphan_stopped, e.batch_id, e.task_id, orphan_stopped_detail({}, *e.orphan)))
      return err;
  return out;
}

caf::error sqlite_store::log_event(int64_t at, event_kind kind, const std::string& batch_id,
                                  const std::string& task_id, const std::string& detail_json) {
  auto& st = stmts_->insert_event;
  st.rebind(at, std::string{to_string(kind)});
  auto text_or_null = [&](int index, const std::string& value) {
    if (value.empty())
      st.bind(index, nullptr);
    else
      st.bind(index, value);
  };
  text_or_null(3, batch_id);
  text_or_null(4, task_id);
  text_or_null(5, detail_json);
  text_or_null(6, requester_);
  return st.run();
}

} // namespace fleet
