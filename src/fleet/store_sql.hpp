#pragma once

// The SQL fleetd runs, one named constant per prepared statement: the store prepares these, and the
// query-plan tests EXPLAIN exactly these. Values are always bound as parameters (?1, ?2, ...).

#include "fleet/event_kind.hpp"
#include "fleet/transitions.hpp"

#include <fmt/format.h>

#include <string>

namespace fleet::sql {

/// The rows of a task's dependencies (`tasks` is the task's row, ?1 its seq in dependency_results).
inline const std::string dependency_rows_of_task =
  " FROM task_deps x JOIN tasks d ON d.seq = x.after_seq WHERE x.task_seq = tasks.seq";
inline const std::string dependency_rows_of_seq = " FROM task_deps x JOIN tasks d ON d.seq = x.after_seq WHERE x.task_seq = ?1";
/// The results of those rows as one JSON object, a result that is not JSON as a string.
inline const std::string dependency_object = "SELECT json_group_object(d.task_id, CASE WHEN json_valid(d.result)"
                                             " THEN json(d.result) ELSE d.result END)";
/// Their size in bytes as stored.
inline const std::string dependency_bytes = "SELECT ifnull(sum(length(CAST(d.result AS BLOB))), 0)";

/// The columns next_runnable reads, in its order, for every read of the runnable index.
/// A task's policy comes along (task_policies, a rowid lookup; -1 or 0 where the fleet's applies),
/// how many tasks it runs after, its queue and group, and for a task with dependencies their
/// results as one object up to max_inline_dependency_bytes (tasks without never read task_deps).
/// Every read is of one queue.
inline const std::string runnable_columns =
  "SELECT seq, batch_id, task_id, type, data, priority, attempts, interruptions, replay_base, not_before,"
  " orphaned_attempts, ifnull(p.timeout_ms, 0), ifnull(p.max_retries, -1), ifnull(p.backoff_ms, -1),"
  " ifnull(p.retry, -1), dependencies, queue, task_group,"
  " CASE WHEN dependencies > 0 AND (" + dependency_bytes + dependency_rows_of_task + ") <= "
  + std::to_string(max_inline_dependency_bytes) + " THEN (" + dependency_object + dependency_rows_of_task + ") END"
  " FROM tasks LEFT JOIN task_policies p ON p.task_seq = seq";
inline const std::string runnable_select = runnable_columns + " WHERE state = 'pending' AND paused = 0";

/// A running task's row in runnable_select's columns: an attempt held for its node (recovery).
inline const std::string held_task = runnable_columns + " WHERE seq = ?1 AND state = 'running'";

inline const std::string load_config = "SELECT name, value FROM config_overrides ORDER BY name";
inline const std::string delete_config = "DELETE FROM config_overrides WHERE name = ?1";
inline const std::string save_config = "INSERT INTO config_overrides (name, value, updated_at) VALUES (?1, ?2, ?3)"
    " ON CONFLICT (name) DO UPDATE SET value = ?2, updated_at = ?3";
inline const std::string insert_batch = "INSERT INTO batches (id, created_at, total) VALUES (?1, ?2, ?3)";
/// ?6 when it may start, ?7 now: a task that may not start yet waits as `scheduled`
/// ?8 the queue, ?9 the group (NULL for none)
inline const std::string insert_task = "INSERT INTO tasks (batch_id, task_id, type, data, priority, not_before, state,"
    " queue, task_group)"
    " VALUES (?1, ?2, ?3, ?4, ?5, max(?6, ?7), CASE WHEN ?6 > ?7 THEN 'scheduled' ELSE 'pending' END, ?8, nullif(?9, ''))";
/// ?1 the task's seq; a field at its "the fleet's" value (0 or -1) is stored as NULL
inline const std::string insert_policy = "INSERT INTO task_policies (task_seq, timeout_ms, max_retries, backoff_ms, retry)"
    " VALUES (?1, nullif(?2, 0), nullif(?3, -1), nullif(?4, -1), nullif(?5, -1))";
inline const std::string set_batch_range = "UPDATE batches SET first_seq = ?2, last_seq = ?3, scheduled = ?4 WHERE id = ?1";
/// Through tasks_scheduled_by_batch
inline const std::string count_scheduled = "SELECT count(*) FROM tasks WHERE batch_id = ?1 AND state = 'scheduled'";
inline const std::string open_upload = "INSERT INTO uploads (id, created_at) VALUES (?1, ?2)";
inline const std::string upload_size = "SELECT tasks FROM uploads WHERE id = ?1";
inline const std::string stage_part = "INSERT INTO upload_parts (upload_id, first, tasks, body) VALUES (?1, ?2, ?3, ?4)";
inline const std::string count_upload = "UPDATE uploads SET tasks = tasks + ?2 WHERE id = ?1";
inline const std::string upload_parts = "SELECT first, tasks FROM upload_parts WHERE upload_id = ?1 ORDER BY first";
/// One row, its tasks in order; ?4 now (the start times as in insert_task)
inline const std::string move_part = "INSERT INTO tasks (batch_id, task_id, type, data, priority, not_before, state,"
    " queue, task_group)"
    " SELECT ?3, id, type, data, priority, max(starts, ?4), CASE WHEN starts > ?4 THEN 'scheduled' ELSE 'pending' END,"
    " queue, task_group"
    " FROM (SELECT t.id, t.type, t.data, t.priority, t.queue, t.task_group,"
    "       CASE WHEN t.run_at <> 0 THEN t.run_at ELSE ?4 + t.delay_ms END AS starts"
    "       FROM upload_parts c, upload_rows(c.body) t WHERE c.upload_id = ?1 AND c.first = ?2)";
/// The policies of the part's tasks that have one, after move_part: ?3 the seq of the part's first
/// task (the part's tasks have consecutive seqs in position order)
inline const std::string move_part_policies = "INSERT INTO task_policies (task_seq, timeout_ms, max_retries, backoff_ms, retry)"
    " SELECT ?3 + t.position, t.timeout_ms, t.max_retries, t.backoff_ms, t.retry"
    " FROM upload_parts c, upload_rows(c.body) t WHERE c.upload_id = ?1 AND c.first = ?2"
    " AND (t.timeout_ms IS NOT NULL OR t.max_retries IS NOT NULL OR t.backoff_ms IS NOT NULL OR t.retry IS NOT NULL)";
/// The part's first task whose id an earlier part of the batch has
inline const std::string staged_duplicate = "SELECT c.first + t.position, t.id FROM upload_parts c, upload_rows(c.body) t"
    " WHERE c.upload_id = ?1 AND c.first = ?2"
    " AND EXISTS (SELECT 1 FROM tasks WHERE batch_id = ?3 AND task_id = t.id)"
    " ORDER BY t.position LIMIT 1";
inline const std::string drop_upload_parts = "DELETE FROM upload_parts WHERE upload_id = ?1";
inline const std::string drop_upload = "DELETE FROM uploads WHERE id = ?1";
/// The results of task ?1's dependencies: their size in bytes as stored, and (when that is at most
/// ?2) the results by task id as one object. The object is not built above ?2
/// (max_dependency_object_bytes at most).
inline const std::string dependency_results = "SELECT bytes, CASE WHEN bytes <= ?2 THEN (" + dependency_object
                                              + dependency_rows_of_seq + ") END FROM (" + dependency_bytes
                                              + " AS bytes" + dependency_rows_of_seq + ")";
inline const std::string batch_range = "SELECT first_seq, last_seq, succeeded + failed + cancelled FROM batches WHERE id = ?1";
/// ?2 the queue
inline const std::string next_runnable = runnable_select + " AND queue = ?2 ORDER BY priority DESC, seq LIMIT ?1";
/// The rest of a priority after a position; ?4 the queue
inline const std::string runnable_same_priority = runnable_select + " AND queue = ?4 AND priority = ?2 AND seq > ?3"
    " ORDER BY priority DESC, seq LIMIT ?1";
/// Then the priorities below it; ?3 the queue
inline const std::string runnable_lower_priority = runnable_select + " AND queue = ?3 AND priority < ?2"
    " ORDER BY priority DESC, seq LIMIT ?1";
/// A group's runnable tasks (of queue ?2, group ?3) at one priority (?4), seq from ?5 to ?6, through
/// tasks_runnable: the tasks of other groups are passed over in the index, their rows not read
inline const std::string group_runnable_at = runnable_select + " AND queue = ?2 AND task_group = ?3"
    " AND priority = ?4 AND seq BETWEEN ?5 AND ?6 ORDER BY priority DESC, seq LIMIT ?1";
/// Then those of the priorities strictly between ?4 (above) and ?5 (below)
inline const std::string group_runnable_between = runnable_select + " AND queue = ?2 AND task_group = ?3"
    " AND priority < ?4 AND priority > ?5 ORDER BY priority DESC, seq LIMIT ?1";
/// Runnable tasks by queue, through tasks_runnable
inline const std::string pending_by_queue = "SELECT queue, count(*) FROM tasks WHERE state = 'pending' AND paused = 0"
    " GROUP BY queue";
/// Each part through an index, so that its cost follows the queues and the tasks that are not
/// runnable, not the tasks: the runnable index's distinct queues a seek each, the other unfinished
/// states through their partial indexes, and paused batches' pending tasks through the batches
/// not finished (CROSS JOIN: SQLite walks the batches first). PostgreSQL reads it alike.
inline const std::string queues_with_unfinished_tasks = "WITH RECURSIVE runnable(queue) AS ("
    " SELECT (SELECT min(queue) FROM tasks WHERE state = 'pending' AND paused = 0)"
    " UNION ALL SELECT (SELECT min(queue) FROM tasks WHERE state = 'pending' AND paused = 0"
    " AND queue > runnable.queue) FROM runnable WHERE runnable.queue IS NOT NULL)"
    " SELECT queue FROM runnable WHERE queue IS NOT NULL"
    " UNION SELECT queue FROM tasks WHERE state = 'retry_wait'"
    " UNION SELECT queue FROM tasks WHERE state = 'scheduled'"
    " UNION SELECT queue FROM tasks WHERE state = 'blocked'"
    " UNION SELECT queue FROM tasks WHERE state = 'running'"
    " UNION SELECT t.queue FROM batches b CROSS JOIN tasks t"
    " WHERE t.batch_id = b.id AND b.finished_at IS NULL AND b.paused_at IS NOT NULL AND t.state = 'pending'";
/// What was set at runtime, NULL where the config file's value applies
inline const std::string stored_queues = "SELECT name, ifnull(max_workers, -1), ifnull(rate_count, -1),"
    " ifnull(rate_interval_ms, -1), ifnull(weight, -1), ifnull(group_max_workers, -1), ifnull(paused, -1)"
    " FROM queues ORDER BY name";
/// ?2.. the fields set (-1: unchanged), ?8 now
inline const std::string set_queue = "INSERT INTO queues (name, max_workers, rate_count, rate_interval_ms, weight,"
    " group_max_workers, paused, created_at, updated_at)"
    " VALUES (?1, nullif(?2, -1), nullif(?3, -1), nullif(?4, -1), nullif(?5, -1), nullif(?6, -1), nullif(?7, -1), ?8, ?8)"
    " ON CONFLICT (name) DO UPDATE SET max_workers = ifnull(nullif(?2, -1), max_workers),"
    " rate_count = ifnull(nullif(?3, -1), rate_count), rate_interval_ms = ifnull(nullif(?4, -1), rate_interval_ms),"
    " weight = ifnull(nullif(?5, -1), weight), group_max_workers = ifnull(nullif(?6, -1), group_max_workers),"
    " paused = ifnull(nullif(?7, -1), paused), updated_at = ?8";
inline const std::string log_due_retries = fmt::format("INSERT INTO events (at, kind, batch_id, task_id)"
    " SELECT ?1, '{}', batch_id, task_id FROM tasks"
    " WHERE state = 'retry_wait' AND not_before <= ?1",
    to_string(event_kind::task_retry_due));
inline const std::string promote_due_retries = "UPDATE tasks SET state = 'pending' WHERE state = 'retry_wait' AND not_before <= ?1";
/// The delayed tasks that the next promotion makes pending, by batch: ?1 now, ?2 the slice's size
inline const std::string due_scheduled_by_batch = "SELECT batch_id, count(*) FROM (SELECT batch_id FROM tasks"
    " WHERE state = 'scheduled' AND not_before <= ?1 ORDER BY not_before, seq LIMIT ?2) GROUP BY batch_id";
/// The same slice (one transaction, one order)
inline const std::string promote_due_scheduled = "UPDATE tasks SET state = 'pending' WHERE seq IN (SELECT seq FROM tasks"
    " WHERE state = 'scheduled' AND not_before <= ?1 ORDER BY not_before, seq LIMIT ?2)";
inline const std::string count_promoted = "UPDATE batches SET scheduled = scheduled - ?2 WHERE id = ?1";
/// The earliest retry or delayed start, each through its partial index
inline const std::string next_due = "SELECT min(due) FROM (SELECT min(not_before) AS due FROM tasks WHERE state = 'retry_wait'"
    " UNION ALL SELECT min(not_before) FROM tasks WHERE state = 'scheduled')";
/// Through tasks_scheduled_by_batch
inline const std::string batch_next_scheduled = "SELECT min(not_before) FROM tasks WHERE batch_id = ?1 AND state = 'scheduled'";
inline const std::string insert_attempt = "INSERT INTO attempts (task_seq, attempt, worker_id, started_at, node) VALUES (?1, ?2, ?3, ?4, ?5)";
inline const std::string insert_whole_attempt = "INSERT INTO attempts (task_seq, attempt, worker_id, started_at, finished_at, outcome,"
    " error, node) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
inline const std::string start_task = "UPDATE tasks SET state = 'running', attempts = ?2,"
    " started_at = coalesce(started_at, ?3), progress = NULL, progress_note = NULL WHERE seq = ?1";
inline const std::string save_progress = "UPDATE tasks SET progress = ?2, progress_note = nullif(?3, '')"
    " WHERE seq = ?1 AND state = 'running'";
inline const std::string start_batch = "UPDATE batches SET started_at = ?2 WHERE id = ?1 AND started_at IS NULL";
inline const std::string end_attempt = "UPDATE attempts SET finished_at = ?3, outcome = ?4, error = ?5"
    " WHERE task_seq = ?1 AND attempt = ?2";
/// The writer looks at task_deps only for a task that has dependents.
inline const std::string task_dependents = "SELECT dependents FROM tasks WHERE seq = ?1";
/// Whether any batch stored has dependencies: until one has, no end looks for dependents.
inline const std::string any_dependency = "SELECT EXISTS (SELECT 1 FROM task_deps)";
inline const std::string count_batch = "UPDATE batches SET succeeded = succeeded + ?2, failed = failed + ?3,"
    " cancelled = cancelled + ?4, retries = retries + ?5, duration_ms = duration_ms + ?6"
    " WHERE id = ?1";
inline const std::string finish_batch = "UPDATE batches SET finished_at = ?2 WHERE id = ?1 AND finished_at IS NULL"
    " AND succeeded + failed + cancelled >= total";
inline const std::string insert_event = "INSERT INTO events (at, kind, batch_id, task_id, detail, requested_by)"
                                        " VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
inline const std::string batch_row = "SELECT total, succeeded, failed, cancelled, created_at, started_at, finished_at,"
    " cancelled_at, paused_at, scheduled, client_key FROM batches WHERE id = ?1";
inline const std::string batch_results = "SELECT seq, task_id, state, result, error, attempts, duration_ms FROM tasks"
    " WHERE seq > ?2 AND seq <= ?3 AND +batch_id = ?1" // + : walk the seq range, not the id index
    " AND state IN ('succeeded', 'failed', 'cancelled') ORDER BY seq LIMIT ?4";
/// ?3 the requester ('' for none)
inline const std::string log_cancelled = fmt::format("INSERT INTO events (at, kind, batch_id, task_id, requested_by)"
    " SELECT ?2, '{}', batch_id, task_id, nullif(?3, '') FROM tasks"
    " WHERE batch_id = ?1 AND state IN ('pending', 'retry_wait', 'scheduled', 'blocked')",
    to_string(event_kind::task_cancelled));
inline const std::string cancel_waiting = "UPDATE tasks SET state = 'cancelled', error = 'cancelled', finished_at = ?2"
    " WHERE batch_id = ?1 AND state IN ('pending', 'retry_wait', 'scheduled', 'blocked')";
inline const std::string cancel_batch = "UPDATE batches SET cancelled = cancelled + ?2, cancelled_at = ?3, scheduled = 0 WHERE id = ?1";
inline const std::string totals = "SELECT batches, tasks, succeeded, failed, cancelled, retries, duration_ms, scheduled"
    " FROM fleet_totals WHERE id = 1";
inline const std::string running_count = "SELECT count(*) FROM tasks WHERE state = 'running'";
/// Walks the partial index batches_unfinished
inline const std::string unfinished_batches = "SELECT count(*) FROM batches WHERE finished_at IS NULL";
inline const std::string batch_for_key = "SELECT id FROM batches WHERE client_key = ?1";
inline const std::string set_batch_key = "UPDATE batches SET client_key = ?2 WHERE id = ?1";
/// Through tasks_failed, whatever the batch
inline const std::string dead_letters = "SELECT seq, batch_id, task_id, type, attempts, error, finished_at FROM tasks"
    " WHERE state = 'failed' AND seq > ?1 AND (?2 = '' OR batch_id = ?2) ORDER BY seq LIMIT ?3";
inline const std::string task_state = "SELECT state FROM tasks WHERE batch_id = ?1 AND task_id = ?2";
/// A task's seq and how many tasks depend on it
inline const std::string task_edges = "SELECT seq, dependents FROM tasks WHERE batch_id = ?1 AND task_id = ?2";
/// One waiting task of a cancel_tasks: ?3 its state as read (the update finds it only in it)
inline const std::string cancel_task = "UPDATE tasks SET state = 'cancelled', error = 'cancelled', finished_at = ?4"
    " WHERE batch_id = ?1 AND task_id = ?2 AND state = ?3";
/// ?2 tasks cancelled, ?3 of them delayed ones
inline const std::string count_cancelled_tasks = "UPDATE batches SET cancelled = cancelled + ?2, scheduled = scheduled - ?3"
    " WHERE id = ?1";
/// ?2 '' for every failed task of the batch; ?4 the requester ('' for none)
inline const std::string log_replayed = fmt::format("INSERT INTO events (at, kind, batch_id, task_id, requested_by)"
    " SELECT ?3, '{}', batch_id, task_id, nullif(?4, '')"
    " FROM tasks WHERE batch_id = ?1 AND state = 'failed' AND (?2 = '' OR task_id = ?2)",
    to_string(event_kind::task_replayed));
inline const std::string replay_tasks = "UPDATE tasks SET state = 'pending', replay_base = attempts - interruptions, not_before = ?3,"
    " finished_at = NULL, duration_ms = NULL, orphaned_attempts = 0, waiting_on = 0"
    " WHERE batch_id = ?1 AND state = 'failed' AND (?2 = '' OR task_id = ?2)";
inline const std::string reopen_batch = "UPDATE batches SET failed = failed - ?2, finished_at = NULL WHERE id = ?1";
/// Every task of the batch, so that retries and requeued ones stay out too
// -- dependencies (store_dependencies.cpp) --------------------------------------------------------

/// One edge of a submitted task: ?2 the task's seq runs after the task ?3 of batch ?1
inline const std::string insert_dependency = "INSERT INTO task_deps (after_seq, task_seq)"
    " SELECT seq, ?2 FROM tasks WHERE batch_id = ?1 AND task_id = ?3";
/// The edges of a moved part's tasks (?3 the seq of its first task, ?4 the batch): an id that is no
/// task of the batch gives a NULL after_seq, which the table refuses
inline const std::string move_part_dependencies = "INSERT INTO task_deps (after_seq, task_seq)"
    " SELECT (SELECT d.seq FROM tasks d WHERE d.batch_id = ?4 AND d.task_id = a.value), ?3 + t.position"
    " FROM upload_parts c, upload_rows(c.body) t, json_each(t.after) a"
    " WHERE c.upload_id = ?1 AND c.first = ?2 AND t.after IS NOT NULL";
/// The first id of a part's "after" lists that names no task of batch ?3
inline const std::string unknown_dependency = "SELECT c.first + t.position, t.id, a.value"
    " FROM upload_parts c, upload_rows(c.body) t, json_each(t.after) a"
    " WHERE c.upload_id = ?1 AND c.first = ?2 AND t.after IS NOT NULL"
    " AND NOT EXISTS (SELECT 1 FROM tasks d WHERE d.batch_id = ?3 AND d.task_id = a.value)"
    " ORDER BY t.position LIMIT 1";
/// Through task_deps_by_task: the edges of the batch whose seqs are ?1..?2
inline const std::string batch_edges = "SELECT task_seq, after_seq FROM task_deps WHERE task_seq BETWEEN ?1 AND ?2";
inline const std::string count_batch_edges = "SELECT count(*) FROM task_deps WHERE task_seq BETWEEN ?1 AND ?2";
inline const std::string block_dependents = "UPDATE tasks SET state = 'blocked', dependencies = x.n, waiting_on = x.n"
    " FROM (SELECT task_seq, count(*) AS n FROM task_deps WHERE task_seq BETWEEN ?1 AND ?2 GROUP BY task_seq) AS x"
    " WHERE tasks.seq = x.task_seq";
inline const std::string count_dependents = "UPDATE tasks SET dependents = x.n"
    " FROM (SELECT after_seq, count(*) AS n FROM task_deps WHERE after_seq BETWEEN ?1 AND ?2 GROUP BY after_seq) AS x"
    " WHERE tasks.seq = x.after_seq";
/// Task ?1 succeeded at ?2: a dependent waiting only on it becomes pending
inline const std::string unblock_dependents = "UPDATE tasks SET waiting_on = waiting_on - 1,"
    " state = CASE WHEN waiting_on = 1 THEN 'pending' ELSE 'blocked' END,"
    " not_before = CASE WHEN waiting_on = 1 THEN ?2 ELSE not_before END"
    " WHERE seq IN (SELECT task_seq FROM task_deps WHERE after_seq = ?1) AND state = 'blocked'";
/// Task ?1 failed for good or was cancelled: the blocked tasks below it end failed, error ?2, at ?3
inline const std::string skip_dependents = "WITH RECURSIVE below(seq) AS"
    " (SELECT task_seq FROM task_deps WHERE after_seq = ?1"
    "  UNION SELECT x.task_seq FROM task_deps x JOIN below b ON x.after_seq = b.seq)"
    " UPDATE tasks SET state = 'failed', error = ?2, finished_at = ?3"
    " WHERE seq IN (SELECT seq FROM below) AND state = 'blocked'";
/// The tasks a replay of task ?1 brings back: those below it that it skipped (failed while blocked)
inline const std::string skipped_below = "WITH RECURSIVE below(seq) AS"
    " (SELECT x.task_seq FROM task_deps x JOIN tasks t ON t.seq = x.task_seq"
    "  WHERE x.after_seq = ?1 AND t.state = 'failed' AND t.waiting_on > 0"
    "  UNION SELECT x.task_seq FROM task_deps x JOIN below b ON x.after_seq = b.seq"
    "  JOIN tasks t ON t.seq = x.task_seq WHERE t.state = 'failed' AND t.waiting_on > 0)"
    " SELECT seq FROM below";
/// A task's dependencies with their states
inline const std::string dependencies_of = "SELECT x.after_seq, d.state, d.task_id FROM task_deps x"
    " JOIN tasks d ON d.seq = x.after_seq WHERE x.task_seq = ?1";
/// The tasks that run after task ?1
inline const std::string dependents_of = "SELECT task_seq FROM task_deps WHERE after_seq = ?1";
inline const std::string log_replayed_seq = fmt::format("INSERT INTO events (at, kind, batch_id, task_id, requested_by)"
    " SELECT ?2, '{}', batch_id, task_id, nullif(?3, '') FROM tasks WHERE seq = ?1 AND state = 'failed'",
    to_string(event_kind::task_replayed));
inline const std::string replay_task_seq = "UPDATE tasks SET state = 'pending', replay_base = attempts - interruptions,"
    " not_before = ?2, finished_at = NULL, duration_ms = NULL, orphaned_attempts = 0, waiting_on = 0"
    " WHERE seq = ?1 AND state = 'failed'";
/// The replayed tasks of a batch (?1..?2 its seqs) whose dependencies have not all succeeded wait again
inline const std::string reblock_replayed = "UPDATE tasks SET state = 'blocked', waiting_on = x.n"
    " FROM (SELECT x.task_seq, count(*) AS n FROM task_deps x JOIN tasks d ON d.seq = x.after_seq"
    "       WHERE x.task_seq BETWEEN ?1 AND ?2 AND d.state <> 'succeeded' GROUP BY x.task_seq) AS x"
    " WHERE tasks.seq = x.task_seq AND tasks.state = 'pending'";
/// A page of a batch's tasks by seq (as batch_results): each with its state, progress and what it runs after
inline const std::string batch_tasks = "SELECT seq, task_id, state, attempts, progress, progress_note,"
    " CASE WHEN dependencies > 0 THEN"
    " (SELECT json_group_array(d.task_id) FROM task_deps x JOIN tasks d ON d.seq = x.after_seq"
    "  WHERE x.task_seq = tasks.seq) END FROM tasks"
    " WHERE seq > ?2 AND seq <= ?3 AND +batch_id = ?1 ORDER BY seq LIMIT ?4";
/// Through tasks_blocked_by_batch
inline const std::string count_blocked = "SELECT count(*) FROM tasks WHERE batch_id = ?1 AND state = 'blocked'";

inline const std::string pause_tasks = "UPDATE tasks SET paused = ?2 WHERE batch_id = ?1";
inline const std::string pause_batch = "UPDATE batches SET paused_at = ?2 WHERE id = ?1";
inline const std::string fleet_paused = "SELECT count(*) FROM fleet_pause";
inline const std::string pause_fleet = "INSERT OR IGNORE INTO fleet_pause (id, paused_at) VALUES (1, ?1)";
inline const std::string resume_fleet = "DELETE FROM fleet_pause";
/// The columns of batch_row, then the id
inline const std::string recent_batches = "SELECT total, succeeded, failed, cancelled, created_at, started_at, finished_at,"
    " cancelled_at, paused_at, scheduled, client_key, id FROM batches ORDER BY rowid DESC LIMIT ?1";
/// The columns of dead_letters, the latest failure first
inline const std::string recent_failures = "SELECT seq, batch_id, task_id, type, attempts, error, finished_at FROM tasks"
    " WHERE state = 'failed' ORDER BY finished_at DESC, seq DESC LIMIT ?1";

// -- retention (src/fleet/store_retention.cpp) ------------------------------------

/// Through batches_finished: the oldest finished batch, if it finished before ?1
inline const std::string oldest_finished = "SELECT id, first_seq, last_seq, total, succeeded, failed, cancelled,"
    " finished_at FROM batches WHERE finished_at < ?1 ORDER BY finished_at LIMIT 1";
/// A slice of the batch's tasks' attempts (the primary key's prefix) and then the tasks
inline const std::string prune_attempts = "DELETE FROM attempts WHERE task_seq >= ?1 AND task_seq <= ?2";
inline const std::string prune_policies = "DELETE FROM task_policies WHERE task_seq >= ?1 AND task_seq <= ?2";
/// The edges of the slice's tasks, either way (a slice may end between a task and its dependent)
inline const std::string prune_dependencies = "DELETE FROM task_deps WHERE after_seq BETWEEN ?1 AND ?2"
    " OR task_seq BETWEEN ?1 AND ?2";
inline const std::string prune_tasks = "DELETE FROM tasks WHERE seq >= ?1 AND seq <= ?2 AND batch_id = ?3";
inline const std::string prune_batch_progress = "UPDATE batches SET first_seq = ?2 WHERE id = ?1";
inline const std::string prune_batch = "DELETE FROM batches WHERE id = ?1";
/// Only the oldest ?2 events are looked at: a pass never scans the young ones
inline const std::string prune_events = "DELETE FROM events WHERE id IN (SELECT id FROM events ORDER BY id LIMIT ?2)"
    " AND at < ?1";

} // namespace fleet::sql
