#include "fleet/store.hpp"

#include "fleet/error.hpp"
#include "fleet/json_text.hpp"
#include "fleet/migrations.hpp"
#include "fleet/upload_rows.hpp"
#include "fleet/validation.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <map>
#include <set>
#include <utility>

namespace fleet {

std::string to_string(attempt_outcome x) {
  switch (x) {
    case attempt_outcome::succeeded: return "succeeded";
    case attempt_outcome::failed: return "failed";
    case attempt_outcome::timed_out: return "timed_out";
    case attempt_outcome::cancelled: return "cancelled";
    case attempt_outcome::interrupted: return "interrupted";
  }
  return "unknown";
}

std::string poison_error(int64_t lost, const std::string& reason) {
  return fmt::format("given up after {} lost attempts (fleet.max-interruptions): fleetd or the task's node "
                     "went down during each, as a task that crashes them makes happen; the last: {}",
                     lost, reason);
}

attempt_ended lost_attempt_end(int64_t seq, std::string batch_id, std::string task_id, int32_t attempt, int64_t at,
                               int64_t duration_ms, int64_t lost, int32_t max_interruptions, std::string reason) {
  attempt_ended end;
  end.seq = seq;
  end.batch_id = std::move(batch_id);
  end.task_id = std::move(task_id);
  end.attempt = attempt;
  end.at = at;
  end.duration_ms = std::max<int64_t>(0, duration_ms);
  end.outcome = attempt_outcome::interrupted;
  end.orphaned = true;
  if (lost >= max_interruptions) {
    end.next = task_disposition::failed;
    end.error = poison_error(lost, reason);
  } else {
    end.next = task_disposition::requeue;
    end.error = std::move(reason);
  }
  return end;
}

namespace {

/// attempts.node: NULL for fleetd's own workers, which run nearly every attempt of a local fleet.
void bind_node(sqlite::statement& st, int index, const std::string& node) {
  if (node.empty())
    st.bind(index, nullptr);
  else
    st.bind(index, node);
}

const char* state_name(task_disposition x) {
  switch (x) {
    case task_disposition::succeeded: return "succeeded";
    case task_disposition::failed: return "failed";
    case task_disposition::retry: return "retry_wait";
    case task_disposition::cancelled: return "cancelled";
    case task_disposition::requeue: return "pending";
  }
  return "failed";
}


/// Steps a statement that yields at most one row: none once the row is ready to read (the caller
/// resets after reading), else `if_none` (or SQLite's error), with the statement reset.
caf::error step_to_row(sqlite::statement& st, caf::error if_none) {
  auto row = st.step();
  if (!row)
    return row.error();
  if (!*row) {
    st.reset();
    return if_none;
  }
  return caf::none;
}

std::string damaged_advice(const std::string& path) {
  return fmt::format("fleetd writes nothing into a damaged file. Restore it from a backup, or keep what can "
                     "still be read: sqlite3 {0} .recover | sqlite3 {0}.recovered, then start fleetd on the "
                     "recovered file",
                     path);
}

caf::error quick_check(sqlite::database& db, const std::string& path) {
  auto st = db.prepare("PRAGMA quick_check(5)");
  if (!st)
    return st.error();
  std::vector<std::string> problems;
  if (auto err = st->each_row([&] { problems.push_back(st->column_text(0)); }))
    return caf::make_error(errc::database_damaged,
                           fmt::format("database {} cannot be checked ({}): {}", path, error_text(err),
                                       damaged_advice(path)));
  if (problems.size() == 1 && problems[0] == "ok")
    return caf::none;
  return caf::make_error(errc::database_damaged,
                         fmt::format("database {} is damaged (PRAGMA quick_check: {}): {}", path,
                                     fmt::join(problems, "; "), damaged_advice(path)));
}

caf::error unknown_batch(const std::string& id) {
  return caf::make_error(errc::unknown_batch, fmt::format("batch {} not found", id));
}

} // namespace

caf::error validate_synchronous(const std::string& mode) {
  if (mode == "off" || mode == "normal" || mode == "full")
    return caf::none;
  return caf::make_error(errc::invalid_config,
                         fmt::format("synchronous must be off, normal or full (got \"{}\")", mode));
}

struct fleet_store::statements {
  sqlite::statement load_config;
  sqlite::statement save_config;
  sqlite::statement insert_batch;
  sqlite::statement insert_task;
  sqlite::statement set_batch_range;
  sqlite::statement open_upload;
  sqlite::statement upload_size;
  sqlite::statement stage_part;
  sqlite::statement count_upload;
  sqlite::statement max_seq;
  sqlite::statement upload_parts;
  sqlite::statement move_part;
  sqlite::statement staged_duplicate;
  sqlite::statement drop_upload_parts;
  sqlite::statement drop_upload;
  sqlite::statement batch_range;
  sqlite::statement next_runnable;
  sqlite::statement runnable_same_priority;
  sqlite::statement runnable_lower_priority;
  sqlite::statement log_due_retries;
  sqlite::statement promote_due_retries;
  sqlite::statement next_retry_due;
  sqlite::statement insert_attempt;
  sqlite::statement insert_whole_attempt;
  sqlite::statement start_task;
  sqlite::statement start_batch;
  sqlite::statement end_attempt;
  sqlite::statement end_task;
  sqlite::statement count_batch;
  sqlite::statement finish_batch;
  sqlite::statement insert_event;
  sqlite::statement batch_row;
  sqlite::statement batch_results;
  sqlite::statement log_cancelled;
  sqlite::statement cancel_waiting;
  sqlite::statement cancel_batch;
  sqlite::statement totals;
  sqlite::statement running_count;
  sqlite::statement unfinished_batches;
  sqlite::statement batch_for_key;
  sqlite::statement set_batch_key;
  sqlite::statement dead_letters;
  sqlite::statement task_state;
  sqlite::statement log_replayed;
  sqlite::statement replay_tasks;
  sqlite::statement reopen_batch;
  sqlite::statement pause_tasks;
  sqlite::statement pause_batch;
  sqlite::statement fleet_paused;
  sqlite::statement pause_fleet;
  sqlite::statement resume_fleet;
  sqlite::statement recent_batches;
  sqlite::statement recent_failures;
};

caf::expected<std::unique_ptr<fleet_store>> fleet_store::open(const store_options& opts) {
  if (auto err = validate_synchronous(opts.synchronous))
    return err;
  auto db = sqlite::database::open(opts.path);
  if (!db)
    return db.error();
  // A 64 MiB page cache (the default is 2 MiB): the indexes that a million-task batch writes into
  // stay in memory, which makes its submit about a quarter faster (docs/BENCHMARKS.md).
  auto pragmas = fmt::format("PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON; "
                             "PRAGMA synchronous = {}; PRAGMA cache_size = -65536;",
                             opts.synchronous);
  if (auto err = db->exec(pragmas))
    return err;
  int64_t check_ms = -1;
  if (opts.check_integrity) {
    auto start = std::chrono::steady_clock::now();
    if (auto err = quick_check(*db, opts.path))
      return err;
    check_ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start)
                 .count();
  }
  if (auto err = migrate(*db))
    return err;
  if (auto err = db->exec("PRAGMA journal_mode = WAL"))
    return err;
  if (opts.max_size_mib > 0) {
    auto page_size = db->query_int("PRAGMA page_size");
    if (!page_size)
      return page_size.error();
    auto pages = opts.max_size_mib * (int64_t{1} << 20) / *page_size;
    if (auto err = db->exec(fmt::format("PRAGMA max_page_count = {}", pages)))
      return err;
  }
  auto store = with_statements(std::move(*db));
  if (store)
    (*store)->integrity_check_ms_ = check_ms;
  return store;
}

caf::expected<std::unique_ptr<fleet_store>> fleet_store::open_reader() const {
  auto db = sqlite::database::open(db_.filename(), false);
  if (!db)
    return db.error();
  // WAL: this connection reads the last commit while the writer's connection writes the next.
  if (auto err = db->exec("PRAGMA busy_timeout = 5000; PRAGMA query_only = ON;"))
    return err;
  return with_statements(std::move(*db));
}

caf::expected<std::unique_ptr<fleet_store>> fleet_store::with_statements(sqlite::database db) {
  // The columns next_runnable reads, in its order, for every read of the runnable index.
  const std::string runnable_select = "SELECT seq, batch_id, task_id, type, data, priority, attempts,"
                                      " interruptions, replay_base, not_before, orphaned_attempts"
                                      " FROM tasks WHERE state = 'pending' AND paused = 0";
  if (auto err = register_upload_rows(db.handle()))
    return err;
  std::unique_ptr<statements> s;
  try {
  s = std::make_unique<statements>(statements{
#define FLEET_PREPARE(sql)                                                                         \
  [&]() -> sqlite::statement {                                                                     \
    auto st = db.prepare(sql);                                                                     \
    if (!st)                                                                                       \
      throw st.error();                                                                            \
    return std::move(*st);                                                                         \
  }()
    // load_config
    FLEET_PREPARE("SELECT name, value FROM config_overrides ORDER BY name"),
    // save_config
    FLEET_PREPARE("INSERT INTO config_overrides (name, value, updated_at) VALUES (?1, ?2, ?3)"
                  " ON CONFLICT (name) DO UPDATE SET value = ?2, updated_at = ?3"),
    // insert_batch
    FLEET_PREPARE("INSERT INTO batches (id, created_at, total) VALUES (?1, ?2, ?3)"),
    // insert_task
    FLEET_PREPARE("INSERT INTO tasks (batch_id, task_id, type, data, priority, not_before)"
                  " VALUES (?1, ?2, ?3, ?4, ?5, ?6)"),
    // set_batch_range
    FLEET_PREPARE("UPDATE batches SET first_seq = ?2, last_seq = ?3 WHERE id = ?1"),
    // open_upload
    FLEET_PREPARE("INSERT INTO uploads (id, created_at) VALUES (?1, ?2)"),
    // upload_size
    FLEET_PREPARE("SELECT tasks FROM uploads WHERE id = ?1"),
    // stage_part
    FLEET_PREPARE("INSERT INTO upload_parts (upload_id, first, tasks, body) VALUES (?1, ?2, ?3, ?4)"),
    // count_upload
    FLEET_PREPARE("UPDATE uploads SET tasks = tasks + ?2 WHERE id = ?1"),
    // max_seq
    FLEET_PREPARE("SELECT coalesce(max(seq), 0) FROM tasks"),
    // upload_parts
    FLEET_PREPARE("SELECT first, tasks FROM upload_parts WHERE upload_id = ?1 ORDER BY first"),
    // move_part: one row, its tasks in order
    FLEET_PREPARE("INSERT INTO tasks (batch_id, task_id, type, data, priority, not_before)"
                  " SELECT ?3, t.id, t.type, t.data, t.priority, ?4"
                  " FROM upload_parts c, upload_rows(c.body) t WHERE c.upload_id = ?1 AND c.first = ?2"),
    // staged_duplicate: the part's first task whose id an earlier part of the batch has
    FLEET_PREPARE("SELECT c.first + t.position, t.id FROM upload_parts c, upload_rows(c.body) t"
                  " WHERE c.upload_id = ?1 AND c.first = ?2"
                  " AND EXISTS (SELECT 1 FROM tasks WHERE batch_id = ?3 AND task_id = t.id)"
                  " ORDER BY t.position LIMIT 1"),
    // drop_upload_parts
    FLEET_PREPARE("DELETE FROM upload_parts WHERE upload_id = ?1"),
    // drop_upload
    FLEET_PREPARE("DELETE FROM uploads WHERE id = ?1"),
    // batch_range
    FLEET_PREPARE("SELECT first_seq, last_seq, succeeded + failed + cancelled FROM batches WHERE id = ?1"),
    // next_runnable
    FLEET_PREPARE(runnable_select + " ORDER BY priority DESC, seq LIMIT ?1"),
    // runnable_same_priority: the rest of a priority after a position
    FLEET_PREPARE(runnable_select + " AND priority = ?2 AND seq > ?3 ORDER BY priority DESC, seq LIMIT ?1"),
    // runnable_lower_priority: then the priorities below it
    FLEET_PREPARE(runnable_select + " AND priority < ?2 ORDER BY priority DESC, seq LIMIT ?1"),
    // log_due_retries
    FLEET_PREPARE(fmt::format("INSERT INTO events (at, kind, batch_id, task_id)"
                              " SELECT ?1, '{}', batch_id, task_id FROM tasks"
                              " WHERE state = 'retry_wait' AND not_before <= ?1",
                              to_string(event_kind::task_retry_due))),
    // promote_due_retries
    FLEET_PREPARE("UPDATE tasks SET state = 'pending' WHERE state = 'retry_wait' AND not_before <= ?1"),
    // next_retry_due
    FLEET_PREPARE("SELECT min(not_before) FROM tasks WHERE state = 'retry_wait'"),
    // insert_attempt
    FLEET_PREPARE("INSERT INTO attempts (task_seq, attempt, worker_id, started_at, node) VALUES (?1, ?2, ?3, ?4, ?5)"),
    // insert_whole_attempt
    FLEET_PREPARE("INSERT INTO attempts (task_seq, attempt, worker_id, started_at, finished_at, outcome,"
                  " error, node) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"),
    // start_task
    FLEET_PREPARE("UPDATE tasks SET state = 'running', attempts = ?2,"
                  " started_at = coalesce(started_at, ?3) WHERE seq = ?1"),
    // start_batch
    FLEET_PREPARE("UPDATE batches SET started_at = ?2 WHERE id = ?1 AND started_at IS NULL"),
    // end_attempt
    FLEET_PREPARE("UPDATE attempts SET finished_at = ?3, outcome = ?4, error = ?5"
                  " WHERE task_seq = ?1 AND attempt = ?2"),
    // end_task
    FLEET_PREPARE("UPDATE tasks SET state = ?2, result = ?3, error = ?4, not_before = ?5,"
                  " finished_at = ?6, duration_ms = ?7, interruptions = interruptions + ?8,"
                  " attempts = max(attempts, ?9), started_at = coalesce(started_at, ?10),"
                  " orphaned_attempts = orphaned_attempts + ?11 WHERE seq = ?1"),
    // count_batch
    FLEET_PREPARE("UPDATE batches SET succeeded = succeeded + ?2, failed = failed + ?3,"
                  " cancelled = cancelled + ?4, retries = retries + ?5, duration_ms = duration_ms + ?6"
                  " WHERE id = ?1"),
    // finish_batch
    FLEET_PREPARE("UPDATE batches SET finished_at = ?2 WHERE id = ?1 AND finished_at IS NULL"
                  " AND succeeded + failed + cancelled >= total"),
    // insert_event
    FLEET_PREPARE("INSERT INTO events (at, kind, batch_id, task_id, detail) VALUES (?1, ?2, ?3, ?4, ?5)"),
    // batch_row
    FLEET_PREPARE("SELECT total, succeeded, failed, cancelled, created_at, started_at, finished_at,"
                  " cancelled_at, paused_at FROM batches WHERE id = ?1"),
    // batch_results
    FLEET_PREPARE("SELECT seq, task_id, state, result, error, attempts, duration_ms FROM tasks"
                  " WHERE seq > ?2 AND seq <= ?3 AND +batch_id = ?1" // + : walk the seq range, not the id index
                  " AND state IN ('succeeded', 'failed', 'cancelled') ORDER BY seq LIMIT ?4"),
    // log_cancelled
    FLEET_PREPARE(fmt::format("INSERT INTO events (at, kind, batch_id, task_id)"
                              " SELECT ?2, '{}', batch_id, task_id FROM tasks"
                              " WHERE batch_id = ?1 AND state IN ('pending', 'retry_wait')",
                              to_string(event_kind::task_cancelled))),
    // cancel_waiting
    FLEET_PREPARE("UPDATE tasks SET state = 'cancelled', error = 'cancelled', finished_at = ?2"
                  " WHERE batch_id = ?1 AND state IN ('pending', 'retry_wait')"),
    // cancel_batch
    FLEET_PREPARE("UPDATE batches SET cancelled = cancelled + ?2, cancelled_at = ?3 WHERE id = ?1"),
    // totals
    FLEET_PREPARE("SELECT batches, tasks, succeeded, failed, cancelled, retries, duration_ms"
                  " FROM fleet_totals WHERE id = 1"),
    // running_count
    FLEET_PREPARE("SELECT count(*) FROM tasks WHERE state = 'running'"),
    // unfinished_batches (walks the partial index batches_unfinished)
    FLEET_PREPARE("SELECT count(*) FROM batches WHERE finished_at IS NULL"),
    // batch_for_key
    FLEET_PREPARE("SELECT id FROM batches WHERE client_key = ?1"),
    // set_batch_key
    FLEET_PREPARE("UPDATE batches SET client_key = ?2 WHERE id = ?1"),
    // dead_letters: through tasks_failed, whatever the batch
    FLEET_PREPARE("SELECT seq, batch_id, task_id, type, attempts, error, finished_at FROM tasks"
                  " WHERE state = 'failed' AND seq > ?1 AND (?2 = '' OR batch_id = ?2) ORDER BY seq LIMIT ?3"),
    // task_state
    FLEET_PREPARE("SELECT state FROM tasks WHERE batch_id = ?1 AND task_id = ?2"),
    // log_replayed: ?3 '' for every failed task of the batch
    FLEET_PREPARE(fmt::format("INSERT INTO events (at, kind, batch_id, task_id) SELECT ?3, '{}', batch_id, task_id"
                              " FROM tasks WHERE batch_id = ?1 AND state = 'failed' AND (?2 = '' OR task_id = ?2)",
                              to_string(event_kind::task_replayed))),
    // replay_tasks
    FLEET_PREPARE("UPDATE tasks SET state = 'pending', replay_base = attempts - interruptions, not_before = ?3,"
                  " finished_at = NULL, duration_ms = NULL, orphaned_attempts = 0"
                  " WHERE batch_id = ?1 AND state = 'failed' AND (?2 = '' OR task_id = ?2)"),
    // reopen_batch
    FLEET_PREPARE("UPDATE batches SET failed = failed - ?2, finished_at = NULL WHERE id = ?1"),
    // pause_tasks: every task of the batch, so that retries and requeued ones stay out too
    FLEET_PREPARE("UPDATE tasks SET paused = ?2 WHERE batch_id = ?1"),
    // pause_batch
    FLEET_PREPARE("UPDATE batches SET paused_at = ?2 WHERE id = ?1"),
    // fleet_paused
    FLEET_PREPARE("SELECT count(*) FROM fleet_pause"),
    // pause_fleet
    FLEET_PREPARE("INSERT OR IGNORE INTO fleet_pause (id, paused_at) VALUES (1, ?1)"),
    // resume_fleet
    FLEET_PREPARE("DELETE FROM fleet_pause"),
    // recent_batches: the columns of batch_row, then the id
    FLEET_PREPARE("SELECT total, succeeded, failed, cancelled, created_at, started_at, finished_at,"
                  " cancelled_at, paused_at, id FROM batches ORDER BY rowid DESC LIMIT ?1"),
    // recent_failures: the columns of dead_letters, the latest failure first
    FLEET_PREPARE("SELECT seq, batch_id, task_id, type, attempts, error, finished_at FROM tasks"
                  " WHERE state = 'failed' ORDER BY finished_at DESC, seq DESC LIMIT ?1"),
#undef FLEET_PREPARE
  });
  } catch (caf::error& err) {
    return std::move(err);
  }
  return std::unique_ptr<fleet_store>(new fleet_store(std::move(db), std::move(s)));
}

fleet_store::fleet_store(sqlite::database db, std::unique_ptr<statements> stmts)
  : db_(std::move(db)), stmts_(std::move(stmts)) {
}

fleet_store::~fleet_store() {
  stmts_.reset(); // statements before the connection
}

caf::expected<config_update> fleet_store::load_config_overrides() {
  auto& st = stmts_->load_config;
  st.rebind();
  config_update out;
  for (;;) {
    auto row = st.step();
    if (!row)
      return row.error();
    if (!*row)
      break;
    auto name = st.column_text(0);
    config_value value;
    switch (st.column_type(1)) {
      case sqlite::statement::kind::integer:
        value = st.column_int64(1);
        break;
      case sqlite::statement::kind::real:
        value = st.column_double(1);
        break;
      default:
        st.reset();
        return caf::make_error(errc::invalid_config,
                               fmt::format("the stored setting {} is not a number", name));
    }
    // Booleans are stored as 0/1.
    if (name == "retry_failed_tasks")
      if (auto i = std::get_if<int64_t>(&value))
        value = *i != 0;
    if (auto err = set_field(out, name, value)) {
      st.reset();
      return caf::make_error(errc::invalid_config,
                             "the configuration stored in the database is invalid: " + error_text(err));
    }
  }
  st.reset();
  return out;
}

caf::error fleet_store::save_config_overrides(const config_update& update, int64_t now) {
  nlohmann::json detail = nlohmann::json::object();
  for (const auto& [field, value] : set_fields(update)) {
    auto& st = stmts_->save_config;
    st.rebind(std::string{field.name});
    std::visit([&](auto x) { st.bind(2, x); }, value);
    st.bind(3, now);
    if (auto err = st.run())
      return err;
    std::visit([&](auto x) { detail[field.name] = x; }, value);
  }
  return log_event(now, event_kind::config_updated, {}, {}, dump_json(detail));
}

caf::expected<int64_t> fleet_store::unfinished_batches() {
  auto& st = stmts_->unfinished_batches;
  st.rebind();
  if (auto err = step_to_row(st, caf::make_error(errc::database_error, "count(*) gave no row")))
    return err;
  auto n = st.column_int64(0);
  st.reset();
  return n;
}

caf::error fleet_store::insert_batch(const std::string& batch_id, const std::vector<task>& tasks,
                                     int64_t now) {
  if (auto err = stmts_->insert_batch.execute(batch_id, now, static_cast<int64_t>(tasks.size())))
    return err;
  int64_t first_seq = 0;
  for (const auto& t : tasks) {
    if (auto err = stmts_->insert_task.execute(batch_id, t.id, t.type, t.data, t.priority, now))
      return err;
    if (first_seq == 0)
      first_seq = db_.last_insert_rowid();
  }
  if (auto err = stmts_->set_batch_range.execute(batch_id, first_seq, db_.last_insert_rowid()))
    return err;
  return log_event(now, event_kind::batch_submitted, batch_id, {},
                   dump_json({{"tasks", tasks.size()}}));
}

caf::expected<std::vector<runnable_task>> fleet_store::next_runnable(size_t limit,
                                                                     const std::optional<run_position>& after) {
  std::vector<runnable_task> out;
  out.reserve(limit);
  auto read_into = [&](sqlite::statement& st) {
    return st.each_row([&] {
      runnable_task r;
      r.seq = st.column_int64(0);
      r.batch_id = st.column_text(1);
      r.spec.id = st.column_text(2);
      r.spec.type = st.column_text(3);
      r.spec.data = st.column_text(4);
      r.spec.priority = static_cast<int32_t>(st.column_int64(5));
      r.attempts = static_cast<int32_t>(st.column_int64(6));
      r.interruptions = static_cast<int32_t>(st.column_int64(7));
      r.replay_base = static_cast<int32_t>(st.column_int64(8));
      r.ready_at = st.column_int64(9);
      r.orphaned = static_cast<int32_t>(st.column_int64(10));
      out.push_back(std::move(r));
    });
  };
  if (!after) {
    stmts_->next_runnable.rebind(static_cast<int64_t>(limit));
    if (auto err = read_into(stmts_->next_runnable))
      return err;
    return out;
  }
  stmts_->runnable_same_priority.rebind(static_cast<int64_t>(limit), after->priority, after->seq);
  if (auto err = read_into(stmts_->runnable_same_priority))
    return err;
  if (out.size() < limit) {
    stmts_->runnable_lower_priority.rebind(static_cast<int64_t>(limit - out.size()), after->priority);
    if (auto err = read_into(stmts_->runnable_lower_priority))
      return err;
  }
  return out;
}

caf::expected<int64_t> fleet_store::promote_due_retries(int64_t now) {
  if (auto err = stmts_->log_due_retries.execute(now))
    return err;
  if (auto err = stmts_->promote_due_retries.execute(now))
    return err;
  return db_.changes();
}

caf::expected<caf::optional<int64_t>> fleet_store::next_retry_due() {
  auto& st = stmts_->next_retry_due;
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

caf::error fleet_store::record_start(const attempt_started& x, std::map<std::string, batch_delta>& deltas) {
  auto& ia = stmts_->insert_attempt;
  ia.rebind(x.seq, x.attempt, x.worker_id, x.at);
  bind_node(ia, 5, x.node);
  if (auto err = ia.run())
    return err;
  if (auto err = stmts_->start_task.execute(x.seq, x.attempt, x.at))
    return err;
  deltas[x.batch_id].note_start(x.at);
  return caf::none;
}

caf::error fleet_store::mark_batch_started(const std::string& batch_id, int64_t at) {
  if (auto err = stmts_->start_batch.execute(batch_id, at))
    return err;
  if (db_.changes() > 0)
    milestones_.push_back({batch_id, false});
  return caf::none;
}

caf::error fleet_store::record_end(const attempt_ended& x, const attempt_started* start,
                                   std::map<std::string, batch_delta>& deltas) {
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
      return err;
    deltas[x.batch_id].note_start(start->at);
  } else {
    auto& ea = stmts_->end_attempt;
    ea.rebind(x.seq, x.attempt, x.at, to_string(x.outcome));
    bind_error(ea, 5);
    if (auto err = ea.run())
      return err;
  }
  auto terminal = x.next == task_disposition::succeeded || x.next == task_disposition::failed
                  || x.next == task_disposition::cancelled;
  auto& et = stmts_->end_task;
  et.rebind(x.seq, state_name(x.next));
  if (x.next == task_disposition::succeeded)
    et.bind(3, x.result);
  else
    et.bind(3, nullptr);
  bind_error(et, 4);
  // A waiting task's not_before is when it may (retry) or could (requeue) start: its queue wait
  // is measured from there.
  et.bind(5, x.next == task_disposition::retry     ? x.not_before
             : x.next == task_disposition::requeue ? x.at
                                                   : int64_t{0});
  if (terminal) {
    et.bind(6, x.at);
    et.bind(7, x.duration_ms);
  } else {
    et.bind(6, nullptr);
    et.bind(7, nullptr);
  }
  et.bind(8, int64_t{x.outcome == attempt_outcome::interrupted ? 1 : 0});
  et.bind(9, x.attempt);
  if (start != nullptr)
    et.bind(10, start->at);
  else
    et.bind(10, nullptr);
  et.bind(11, int64_t{x.orphaned ? 1 : 0});
  if (auto err = et.run())
    return err;
  auto& delta = deltas[x.batch_id];
  delta.at = std::max(delta.at, x.at);
  switch (x.next) {
    case task_disposition::succeeded: ++delta.succeeded; break;
    case task_disposition::failed: ++delta.failed; break;
    case task_disposition::cancelled: ++delta.cancelled; break;
    case task_disposition::retry: ++delta.retries; break;
    case task_disposition::requeue: break;
  }
  if (x.next == task_disposition::succeeded || x.next == task_disposition::failed)
    delta.duration_ms += x.duration_ms;
  delta.terminal = delta.terminal || terminal;
  // Successful attempts are audited by their `attempts` row; the event log keeps the rest.
  if (x.next == task_disposition::succeeded)
    return caf::none;
  nlohmann::json detail{{"attempt", x.attempt}, {"outcome", to_string(x.outcome)}};
  if (!x.error.empty())
    detail["error"] = x.error;
  if (x.next == task_disposition::retry)
    detail["not_before"] = x.not_before;
  return log_event(x.at, *event_of(x.next), x.batch_id, x.task_id, dump_json(detail));
}

caf::error fleet_store::apply_deltas(const std::map<std::string, batch_delta>& deltas) {
  for (const auto& [batch_id, d] : deltas) {
    // Once per batch and group, not per attempt: the batch's row is read once.
    if (d.first_start > 0)
      if (auto err = mark_batch_started(batch_id, d.first_start))
        return err;
    if (d.succeeded + d.failed + d.cancelled + d.retries + d.duration_ms > 0)
      if (auto err = stmts_->count_batch.execute(batch_id, d.succeeded, d.failed, d.cancelled, d.retries,
                                                 d.duration_ms))
        return err;
    if (!d.terminal)
      continue;
    if (auto err = stmts_->finish_batch.execute(batch_id, d.at))
      return err;
    if (db_.changes() == 0)
      continue;
    milestones_.push_back({batch_id, true});
    if (auto err = log_event(d.at, event_kind::batch_finished, batch_id, {}, {}))
      return err;
  }
  return caf::none;
}

caf::error fleet_store::record(const std::vector<transition>& changes) {
  // Attempts whose start and end share this commit are written once.
  std::set<std::pair<int64_t, int32_t>> ended;
  for (const auto& change : changes)
    if (auto x = std::get_if<attempt_ended>(&change))
      ended.emplace(x->seq, x->attempt);
  std::map<std::pair<int64_t, int32_t>, const attempt_started*> deferred;
  std::map<std::string, batch_delta> deltas;
  for (const auto& change : changes) {
    if (auto x = std::get_if<attempt_started>(&change)) {
      if (ended.count({x->seq, x->attempt}) > 0) {
        deferred.emplace(std::make_pair(x->seq, x->attempt), x);
        continue;
      }
      if (auto err = record_start(*x, deltas))
        return err;
      continue;
    }
    const auto& end = std::get<attempt_ended>(change);
    auto i = deferred.find({end.seq, end.attempt});
    if (auto err = record_end(end, i == deferred.end() ? nullptr : i->second, deltas))
      return err;
  }
  return apply_deltas(deltas);
}

caf::error fleet_store::record(const attempt_started& x) {
  return record(std::vector<transition>{x});
}

caf::error fleet_store::record(const attempt_ended& x) {
  return record(std::vector<transition>{x});
}

caf::error fleet_store::open_upload(const std::string& upload_id, int64_t now) {
  return stmts_->open_upload.execute(upload_id, now);
}

caf::expected<int64_t> fleet_store::upload_size(const std::string& upload_id) {
  auto& st = stmts_->upload_size;
  st.rebind(upload_id);
  if (auto err = step_to_row(st, caf::make_error(errc::unknown_batch,
                                                 fmt::format("upload {} not found", upload_id))))
    return err;
  auto n = st.column_int64(0);
  st.reset();
  return n;
}

caf::expected<int64_t> fleet_store::stage_chunk(const std::string& upload_id,
                                                const std::vector<upload_part>& chunk) {
  auto before = upload_size(upload_id);
  if (!before)
    return before.error();
  int64_t n = 0;
  for (const auto& part : chunk) {
    if (auto err = stmts_->stage_part.execute(upload_id, *before + part.offset, part.tasks,
                                               sqlite::blob_view{part.body}))
      return err;
    n += part.tasks;
  }
  if (auto err = stmts_->count_upload.execute(upload_id, n))
    return err;
  return *before + n;
}

caf::error fleet_store::move_staged_part(const std::string& upload_id, int64_t first, int64_t tasks,
                                         const std::string& batch_id, int64_t now) {
  auto err = stmts_->move_part.execute(upload_id, first, batch_id, now);
  if (!err) {
    // The batch's total counts what the parts' rows say they hold.
    if (db_.changes() != tasks)
      return damaged_part_error(fmt::format("the part at position {} holds {} tasks instead of {}",
                                            first, db_.changes(), tasks));
    return caf::none;
  }
  // Chunks are checked one by one when they arrive; a repeat across chunks shows here.
  auto& dup = stmts_->staged_duplicate;
  dup.rebind(upload_id, first, batch_id);
  auto row = dup.step();
  if (!row || !*row) {
    dup.reset();
    return err;
  }
  auto found = duplicate_task_id_error(dup.column_int64(0), dup.column_text(1));
  dup.reset();
  return found;
}

caf::expected<int64_t> fleet_store::seal_upload(const std::string& upload_id,
                                                const std::string& batch_id, int64_t now) {
  auto n = upload_size(upload_id);
  if (!n)
    return n.error();
  if (*n == 0)
    return caf::make_error(errc::invalid_batch, "batch is empty: submit at least one task");
  auto& ms = stmts_->max_seq;
  ms.rebind();
  auto row = ms.step();
  if (!row)
    return row.error();
  auto max_seq = ms.column_int64(0);
  ms.reset();
  if (auto err = stmts_->insert_batch.execute(batch_id, now, *n))
    return err;
  auto& parts = stmts_->upload_parts;
  parts.rebind(upload_id);
  std::vector<std::pair<int64_t, int64_t>> firsts_and_sizes;
  if (auto err = parts.each_row([&] {
        firsts_and_sizes.emplace_back(parts.column_int64(0), parts.column_int64(1));
      }))
    return err;
  for (auto [first, tasks] : firsts_and_sizes)
    if (auto err = move_staged_part(upload_id, first, tasks, batch_id, now))
      return err;
  if (auto err = stmts_->set_batch_range.execute(batch_id, max_seq + 1, db_.last_insert_rowid()))
    return err;
  if (auto err = stmts_->drop_upload_parts.execute(upload_id))
    return err;
  if (auto err = stmts_->drop_upload.execute(upload_id))
    return err;
  if (auto err = log_event(now, event_kind::batch_submitted, batch_id, {},
                           dump_json({{"tasks", *n}, {"upload", upload_id}})))
    return err;
  return *n;
}

caf::expected<int64_t> fleet_store::expire_uploads(int64_t older_than) {
  auto err = db_.exec(fmt::format("DELETE FROM upload_parts WHERE upload_id IN"
                                  " (SELECT id FROM uploads WHERE created_at < {0});"
                                  "DELETE FROM uploads WHERE created_at < {0};",
                                  older_than));
  if (err)
    return err;
  return db_.changes();
}

caf::expected<std::string> fleet_store::batch_for_key(const std::string& key) {
  auto& st = stmts_->batch_for_key;
  st.rebind(key);
  auto row = st.step();
  if (!row)
    return row.error();
  std::string id = *row ? st.column_text(0) : std::string{};
  st.reset();
  return id;
}

caf::error fleet_store::set_batch_key(const std::string& batch_id, const std::string& key) {
  return stmts_->set_batch_key.execute(batch_id, key);
}

caf::error fleet_store::discard_upload(const std::string& upload_id) {
  if (auto err = stmts_->drop_upload_parts.execute(upload_id))
    return err;
  return stmts_->drop_upload.execute(upload_id);
}

namespace {

/// A batch_status from the current row of a statement that selects batch_row's columns.
batch_status read_batch_status(sqlite::statement& st, std::string batch_id) {
  batch_counts counts;
  counts.total = st.column_int64(0);
  counts.succeeded = st.column_int64(1);
  counts.failed = st.column_int64(2);
  counts.cancelled = st.column_int64(3);
  counts.started = !st.column_is_null(5);
  counts.cancel_requested = !st.column_is_null(7);
  batch_status out;
  out.batch_id = std::move(batch_id);
  out.status = derive_state(counts);
  out.total = counts.total;
  out.completed = counts.succeeded;
  out.failed = counts.failed;
  out.cancelled = counts.cancelled;
  out.progress = progress(counts);
  out.created_at = st.column_int64(4);
  out.started_at = st.column_int64(5);
  out.finished_at = st.column_int64(6);
  out.paused = !st.column_is_null(8);
  return out;
}

dead_letter read_dead_letter(sqlite::statement& st) {
  dead_letter d;
  d.batch_id = st.column_text(1);
  d.task_id = st.column_text(2);
  d.type = st.column_text(3);
  d.attempts = static_cast<int32_t>(st.column_int64(4));
  d.error = st.column_text(5);
  d.failed_at = st.column_int64(6);
  return d;
}

} // namespace

caf::expected<dead_letter_page> fleet_store::dead_letters(const std::string& batch_id, int64_t cursor,
                                                          int64_t limit) {
  auto& st = stmts_->dead_letters;
  st.rebind(cursor, batch_id, limit);
  dead_letter_page out;
  out.next_cursor = cursor;
  auto read = st.each_row([&] {
    out.next_cursor = st.column_int64(0);
    out.items.push_back(read_dead_letter(st));
  });
  if (read)
    return read;
  out.done = static_cast<int64_t>(out.items.size()) < limit;
  return out;
}

caf::expected<int64_t> fleet_store::replay(const std::string& batch_id, const std::vector<std::string>& task_ids,
                                           int64_t now) {
  auto st = status(batch_id);
  if (!st)
    return st.error();
  if (st->status == batch_state::cancelled)
    return caf::make_error(errc::invalid_batch, fmt::format("batch {} was cancelled: nothing to replay", batch_id));
  auto& ts = stmts_->task_state;
  for (const auto& id : task_ids) {
    ts.rebind(batch_id, id);
    auto row = ts.step();
    if (!row)
      return row.error();
    auto state = *row ? ts.column_text(0) : std::string{};
    ts.reset();
    if (state.empty())
      return caf::make_error(errc::invalid_task, fmt::format("batch {} has no task \"{}\"", batch_id, id));
    if (state != "failed")
      return caf::make_error(errc::invalid_task,
                             fmt::format("task \"{}\" of batch {} is {}, not failed: only failed tasks are replayed",
                                         id, batch_id, state));
  }
  int64_t replayed = 0;
  auto replay_one = [&](const std::string& task_id) -> caf::error {
    if (auto err = stmts_->log_replayed.execute(batch_id, task_id, now))
      return err;
    if (auto err = stmts_->replay_tasks.execute(batch_id, task_id, now))
      return err;
    replayed += db_.changes();
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
  if (replayed > 0)
    if (auto err = stmts_->reopen_batch.execute(batch_id, replayed))
      return err;
  return replayed;
}

caf::expected<bool> fleet_store::set_batch_paused(const std::string& batch_id, bool paused, int64_t now) {
  auto st = status(batch_id);
  if (!st)
    return st.error();
  if (st->status == batch_state::cancelled || st->finished_at != 0)
    return caf::make_error(errc::invalid_batch,
                           fmt::format("batch {} has finished ({}): nothing to {}", batch_id,
                                       to_string(st->status), paused ? "pause" : "resume"));
  if (st->paused == paused)
    return false;
  if (auto err = stmts_->pause_tasks.execute(batch_id, paused))
    return err;
  auto& pb = stmts_->pause_batch;
  pb.rebind(batch_id);
  if (paused)
    pb.bind(2, now);
  else
    pb.bind(2, nullptr);
  if (auto err = pb.run())
    return err;
  if (auto err = log_event(now, paused ? event_kind::batch_paused : event_kind::batch_resumed, batch_id, {}, {}))
    return err;
  return true;
}

caf::expected<bool> fleet_store::fleet_paused() {
  auto& st = stmts_->fleet_paused;
  st.rebind();
  auto row = st.step();
  if (!row)
    return row.error();
  auto paused = st.column_int64(0) > 0;
  st.reset();
  return paused;
}

caf::expected<bool> fleet_store::set_fleet_paused(bool paused, int64_t now) {
  auto err = paused ? stmts_->pause_fleet.execute(now) : stmts_->resume_fleet.execute();
  if (err)
    return err;
  if (db_.changes() == 0)
    return false;
  if (auto err = log_event(now, paused ? event_kind::fleet_paused : event_kind::fleet_resumed, {}, {}, {}))
    return err;
  return true;
}

std::vector<fleet_store::batch_milestone> fleet_store::take_milestones() {
  return std::exchange(milestones_, {});
}

caf::expected<std::optional<int64_t>> fleet_store::cancel_batch(const std::string& batch_id, int64_t now) {
  auto st = status(batch_id);
  if (!st) {
    if (st.error() == errc::unknown_batch)
      return std::nullopt;
    return st.error();
  }
  if (st->status == batch_state::cancelled || st->finished_at != 0)
    return std::nullopt;
  if (auto err = stmts_->log_cancelled.execute(batch_id, now))
    return err;
  if (auto err = stmts_->cancel_waiting.execute(batch_id, now))
    return err;
  auto n = db_.changes();
  if (auto err = stmts_->cancel_batch.execute(batch_id, n, now))
    return err;
  if (auto err = log_event(now, event_kind::batch_cancelled, batch_id, {},
                           dump_json({{"waiting_tasks_cancelled", n}})))
    return err;
  if (auto err = stmts_->finish_batch.execute(batch_id, now))
    return err;
  if (db_.changes() > 0) {
    milestones_.push_back({batch_id, true});
    if (auto err = log_event(now, event_kind::batch_finished, batch_id, {}, {}))
      return err;
  }
  return n;
}

caf::error fleet_store::record_unrecorded_starts(const std::vector<start_journal::entry>& starts, int64_t now,
                                                 int32_t max_interruptions, recovery& out) {
  auto task = db_.prepare("SELECT batch_id, task_id, state, attempts, orphaned_attempts FROM tasks WHERE seq = ?1");
  if (!task)
    return task.error();
  std::set<std::pair<int64_t, int32_t>> seen;
  std::vector<transition> lost;
  for (const auto& e : starts) {
    if (!seen.emplace(e.seq, e.attempt).second)
      continue;
    task->rebind(e.seq);
    auto row = task->step();
    if (!row)
      return row.error();
    // Only a start that never reached the database: the task still waits, at an earlier attempt.
    if (!*row || task->column_text(2) != "pending" || task->column_int64(3) >= e.attempt) {
      task->reset();
      continue;
    }
    attempt_started start{e.seq, task->column_text(0), task->column_text(1), e.attempt, "unrecorded",
                          std::min(e.started_at, now), {}};
    auto end = lost_attempt_end(e.seq, start.batch_id, start.task_id, e.attempt, now, now - start.at,
                                task->column_int64(4) + 1, max_interruptions,
                                "fleetd stopped during the attempt, before its start was recorded");
    task->reset();
    if (end.next == task_disposition::failed)
      out.failed.push_back(end);
    else
      ++out.unrecorded;
    lost.emplace_back(std::move(start));
    lost.emplace_back(std::move(end));
  }
  return record(lost);
}

caf::expected<recovery> fleet_store::recover_interrupted(int64_t now, int32_t max_interruptions,
                                                         const std::vector<start_journal::entry>& starts) {
  recovery out;
  if (auto err = record_unrecorded_starts(starts, now, max_interruptions, out))
    return err;
  // Few rows (at most the attempts that were running), through the partial index tasks_running.
  auto running = db_.prepare("SELECT t.seq, t.batch_id, t.task_id, t.attempts, t.orphaned_attempts,"
                             " coalesce(a.started_at, ?1) FROM tasks t"
                             " LEFT JOIN attempts a ON a.task_seq = t.seq AND a.attempt = t.attempts"
                             " WHERE t.state = 'running'");
  if (!running)
    return running.error();
  running->rebind(now);
  std::vector<transition> ends;
  auto read = running->each_row([&] {
    auto end = lost_attempt_end(running->column_int64(0), running->column_text(1), running->column_text(2),
                                static_cast<int32_t>(running->column_int64(3)), now,
                                now - running->column_int64(5), running->column_int64(4) + 1, max_interruptions,
                                "fleetd stopped during the attempt");
    if (end.next == task_disposition::failed)
      out.failed.push_back(end);
    else
      ++out.requeued;
    ends.emplace_back(std::move(end));
  });
  if (read)
    return read;
  if (auto err = record(ends))
    return err;
  take_milestones(); // the manager is not running yet: nobody waits for these batches
  return out;
}

caf::error fleet_store::log_event(int64_t at, event_kind kind, const std::string& batch_id,
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
  return st.run();
}

caf::expected<batch_status> fleet_store::status(const std::string& batch_id) {
  auto& st = stmts_->batch_row;
  st.rebind(batch_id);
  if (auto err = step_to_row(st, unknown_batch(batch_id)))
    return err;
  auto out = read_batch_status(st, batch_id);
  st.reset();
  return out;
}

caf::expected<std::vector<batch_status>> fleet_store::recent_batches(int64_t limit) {
  auto& st = stmts_->recent_batches;
  st.rebind(limit);
  std::vector<batch_status> out;
  if (auto err = st.each_row([&] { out.push_back(read_batch_status(st, st.column_text(9))); }))
    return err;
  return out;
}

caf::expected<std::vector<dead_letter>> fleet_store::recent_failures(int64_t limit) {
  auto& st = stmts_->recent_failures;
  st.rebind(limit);
  std::vector<dead_letter> out;
  if (auto err = st.each_row([&] { out.push_back(read_dead_letter(st)); }))
    return err;
  return out;
}

caf::expected<fleet_store::batch_range_row> fleet_store::read_batch_range(const std::string& batch_id) {
  auto& st = stmts_->batch_range;
  st.rebind(batch_id);
  if (auto err = step_to_row(st, unknown_batch(batch_id)))
    return err;
  batch_range_row out{st.column_int64(0), st.column_int64(1), st.column_int64(2)};
  st.reset();
  return out;
}

caf::expected<results_page> fleet_store::results(const std::string& batch_id, int64_t cursor, int64_t limit,
                                                 size_t max_bytes) {
  auto range = read_batch_range(batch_id);
  if (!range)
    return range.error();
  auto& st = stmts_->batch_results;
  st.rebind(batch_id, std::max(cursor, range->first_seq - 1), range->last_seq, limit);
  results_page out;
  out.next_cursor = cursor;
  size_t bytes = 0;
  bool full = false;
  auto read = st.each_row([&] {
    if (full)
      return;
    task_result r;
    r.task_id = st.column_text(1);
    r.success = st.column_text(2) == "succeeded";
    r.result = st.column_text(3);
    r.error = st.column_text(4);
    r.attempts = static_cast<int32_t>(st.column_int64(5));
    r.duration_ms = st.column_int64(6);
    bytes += r.task_id.size() + r.result.size() + r.error.size() + 32;
    // A page holds at least one result, and stops once it holds max_bytes of them.
    if (bytes > max_bytes && !out.items.empty()) {
      full = true;
      return;
    }
    out.next_cursor = st.column_int64(0);
    out.items.push_back(std::move(r));
  });
  if (read)
    return read;
  out.done = !full && (limit < 0 || static_cast<int64_t>(out.items.size()) < limit);
  return out;
}

caf::expected<std::vector<task_result>> fleet_store::results(const std::string& batch_id, size_t max_bytes) {
  auto page = results(batch_id, 0, -1, max_bytes);
  if (!page)
    return page.error();
  if (!page->done)
    return caf::make_error(errc::invalid_batch,
                           fmt::format("the results of batch {} are more than one answer carries ({} bytes): page "
                                       "through them (batch_results with cursor and limit)",
                                       batch_id, max_bytes));
  return std::move(page->items);
}

caf::expected<int64_t> fleet_store::finished_count(const std::string& batch_id) {
  auto range = read_batch_range(batch_id);
  if (!range)
    return range.error();
  return range->finished;
}

caf::expected<fleet_store::totals> fleet_store::read_totals() {
  auto& st = stmts_->totals;
  st.rebind();
  auto row = st.step();
  if (!row)
    return row.error();
  totals out;
  out.batches = st.column_int64(0);
  out.tasks = st.column_int64(1);
  out.succeeded = st.column_int64(2);
  out.failed = st.column_int64(3);
  out.cancelled = st.column_int64(4);
  out.retries = st.column_int64(5);
  out.duration_ms = st.column_int64(6);
  st.reset();
  return out;
}

caf::expected<fleet_stats> fleet_store::stats() {
  auto sums = read_totals();
  if (!sums)
    return sums.error();
  auto& rc = stmts_->running_count;
  rc.rebind();
  auto running = rc.step();
  if (!running)
    return running.error();
  fleet_stats out;
  out.total_batches = sums->batches;
  out.total_tasks = sums->tasks;
  out.completed_tasks = sums->succeeded;
  out.failed_tasks = sums->failed;
  out.cancelled_tasks = sums->cancelled;
  out.retries = sums->retries;
  out.running_tasks = rc.column_int64(0);
  rc.reset();
  out.pending_tasks = sums->unfinished() - out.running_tasks;
  return out;
}

caf::expected<int64_t> fleet_store::unfinished_tasks() {
  auto sums = read_totals();
  if (!sums)
    return sums.error();
  return sums->unfinished();
}

caf::expected<result_summary> fleet_store::result_totals() {
  auto sums = read_totals();
  if (!sums)
    return sums.error();
  return make_summary(sums->succeeded + sums->failed, sums->succeeded,
                      static_cast<double>(sums->duration_ms));
}

} // namespace fleet
