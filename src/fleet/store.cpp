#include "fleet/store.hpp"
#include "fleet/store_internal.hpp"

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

using namespace store_detail;

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

} // namespace


caf::error validate_synchronous(const std::string& mode) {
  if (mode == "off" || mode == "normal" || mode == "full")
    return caf::none;
  return caf::make_error(errc::invalid_config,
                         fmt::format("synchronous must be off, normal or full (got \"{}\")", mode));
}


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

} // namespace fleet
