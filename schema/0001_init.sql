-- fleetd's database, version 1: every table with every column, each index beside its table with
-- the reason it exists, the audit views last.
--
-- Conventions. Times are milliseconds since the Unix epoch (UTC). A task's `seq` is its place in
-- submission order and the cursor of every paged read. State CHECKs are OR chains, not `IN (...)`:
-- SQLite builds a temporary b-tree for an IN list each time a statement runs, which cost the hot
-- path about a third of the writer's time per task (docs/BENCHMARKS.md).
--
-- Append-only from here: a released database is never rewritten by hand. A change to the schema is
-- a new file NNNN_what.sql with the next number, run once in one transaction by
-- src/fleet/migrations.cpp, with a test that migrates a database of the previous version.
-- tests/data/schema.sql is the schema a fresh database must have; a change shows up there.

-- A new file is created with PRAGMA auto_vacuum = INCREMENTAL (by migrate(): SQLite takes it only
-- before the first table and outside a write transaction), so that space freed by deleted rows goes
-- back to the file system a step at a time (PRAGMA incremental_vacuum), without a full VACUUM that
-- would stop the writer.

-- One row per submitted batch. The counters are kept by the writer as tasks finish, so that a
-- status is one row; the state (pending, processing, completed, failed, partial, cancelled) is
-- derived from them and never stored (src/fleet/batch_state.cpp, and the view batch_summary).
CREATE TABLE batches (
  id           TEXT PRIMARY KEY,
  created_at   INTEGER NOT NULL,
  started_at   INTEGER,                      -- first attempt of any task
  finished_at  INTEGER,                      -- every task succeeded, failed or cancelled
  cancelled_at INTEGER,                      -- cancel_batch accepted it
  paused_at    INTEGER,                      -- NULL unless paused: no new attempt starts
  total        INTEGER NOT NULL CHECK (total > 0),
  succeeded    INTEGER NOT NULL DEFAULT 0,   -- the seed API calls this count "completed"
  failed       INTEGER NOT NULL DEFAULT 0,
  cancelled    INTEGER NOT NULL DEFAULT 0,
  retries      INTEGER NOT NULL DEFAULT 0,   -- failed attempts that were scheduled again
  duration_ms  INTEGER NOT NULL DEFAULT 0,   -- sum over succeeded and failed tasks
  first_seq    INTEGER,                      -- the seq range of its tasks (inserted together by the
  last_seq     INTEGER,                      -- one writer): results are paged by seq within it
  client_key   TEXT,                         -- the client's idempotency key, if it sent one
  CHECK (succeeded + failed + cancelled <= total)
);
-- fleet.max-pending-batches counts the unfinished batches at every submit: this keeps that count
-- proportional to the unfinished ones, not to every batch ever stored.
CREATE INDEX batches_unfinished ON batches (created_at) WHERE finished_at IS NULL;
-- Idempotent submit: a second submit with the same key returns the batch that has it.
CREATE UNIQUE INDEX batches_by_client_key ON batches (client_key) WHERE client_key IS NOT NULL;

-- One row per task. `state` is where the task is; `paused` is separate from it (a paused batch's
-- waiting tasks keep their state and leave the runnable index, so the tasks behind them run).
CREATE TABLE tasks (
  seq               INTEGER PRIMARY KEY,     -- submission order: FIFO within a priority
  batch_id          TEXT NOT NULL REFERENCES batches(id),
  task_id           TEXT NOT NULL,
  type              TEXT NOT NULL,
  data              TEXT NOT NULL,           -- JSON, as submitted
  priority          INTEGER NOT NULL DEFAULT 0,
  state             TEXT NOT NULL DEFAULT 'pending'
                    CHECK (state = 'pending' OR state = 'running' OR state = 'retry_wait'
                           OR state = 'succeeded' OR state = 'failed' OR state = 'cancelled'),
  paused            INTEGER NOT NULL DEFAULT 0,  -- 1 while its batch is paused
  attempts          INTEGER NOT NULL DEFAULT 0,  -- attempts started, interrupted ones included
  interruptions     INTEGER NOT NULL DEFAULT 0,  -- attempts cut short by a crash, a shutdown or a lost node
  orphaned_attempts INTEGER NOT NULL DEFAULT 0,  -- of those, lost to a crash or a lost node (not a
                                                 -- drain); at fleet.max-interruptions the task fails
                                                 -- for good, so a task that kills fleetd cannot loop
  replay_base       INTEGER NOT NULL DEFAULT 0,  -- attempts that counted against max_retries before
                                                 -- the last replay (a replay starts a new series)
  not_before        INTEGER NOT NULL DEFAULT 0,  -- earliest start of the next attempt (retry_wait)
  result            TEXT,                    -- JSON of the successful attempt
  error             TEXT,                    -- error of the last failed attempt
  started_at        INTEGER,
  finished_at       INTEGER,
  duration_ms       INTEGER,                 -- of the attempt that finished the task
  UNIQUE (batch_id, task_id)
);
-- The next runnable task: highest priority first, then submission order.
CREATE INDEX tasks_runnable ON tasks (priority DESC, seq) WHERE state = 'pending' AND paused = 0;
-- The next retry that becomes due.
CREATE INDEX tasks_retry_due ON tasks (not_before) WHERE state = 'retry_wait';
-- Tasks left running by a process that died, found at start-up.
CREATE INDEX tasks_running ON tasks (seq) WHERE state = 'running';
-- Dead letters (tasks that failed for good) in seq order, without reading the succeeded ones.
CREATE INDEX tasks_failed ON tasks (seq) WHERE state = 'failed';
-- The status page's recent failures, newest failure first with no sort. Failed tasks only, so the
-- hot path pays for it only when a task fails for good.
CREATE INDEX tasks_failed_by_time ON tasks (finished_at, seq) WHERE state = 'failed';

-- One row per attempt of a task, the history that max_retries counts.
CREATE TABLE attempts (
  task_seq    INTEGER NOT NULL REFERENCES tasks(seq),
  attempt     INTEGER NOT NULL,              -- 1-based, in start order
  worker_id   TEXT NOT NULL,
  node        TEXT,                          -- the fleet-node that ran it; NULL: fleetd's own workers
  started_at  INTEGER NOT NULL,
  finished_at INTEGER,                       -- NULL while it runs
  outcome     TEXT CHECK (outcome = 'succeeded' OR outcome = 'failed' OR outcome = 'timed_out'
                          OR outcome = 'cancelled' OR outcome = 'interrupted'),
  error       TEXT,
  PRIMARY KEY (task_seq, attempt)
) WITHOUT ROWID;

-- The audit trail: one row per change of state, never updated or deleted (the triggers below).
-- `kind` is one of these (src/fleet/event_kind.hpp); `detail` is JSON or NULL:
--   batch_submitted       a batch was stored                 {"tasks": N} (+ "upload": ID if uploaded)
--   batch_finished        its last task ended                NULL
--   batch_cancelled       cancel_batch took it               {"waiting_tasks_cancelled": N}
--   batch_paused          pause of one batch                 NULL
--   batch_resumed         resume of one batch                NULL
--   task_failed           a task failed for good             {"attempt", "outcome", "error"}
--   task_retry_scheduled  a failed attempt will be retried   {"attempt", "outcome", "error", "not_before"}
--   task_retry_due        a retry's wait ended               NULL
--   task_cancelled        a task ended by a cancel           NULL, or as task_failed for a running one
--   task_replayed         an operator replayed a dead letter NULL
--   attempt_interrupted   an attempt was lost (crash, drain, lost node); the task runs again
--                                                            {"attempt", "outcome", "error"}
--   fleet_paused          no attempt starts, fleet-wide      NULL
--   fleet_resumed                                            NULL
--   config_updated        update_config or scale_workers     {field: new value, ...}
--   workers_autoscaled    the autoscaler changed the size    {"from", "to", "waiting", "running"}
--   node_joined           a fleet-node joined                {"node", "types", "capacity"}
--   node_dropped          a fleet-node left or was lost      {"node", "reason", "interrupted"}
--   api_request           a change asked through the HTTP API, after it was made
--                                                            {"token", "scope", "peer", "method", "path", "status", ...}
CREATE TABLE events (
  id       INTEGER PRIMARY KEY,
  at       INTEGER NOT NULL,
  kind     TEXT NOT NULL,
  batch_id TEXT,
  task_id  TEXT,
  detail   TEXT
);
-- A batch's story in order (docs/AUDIT.md).
CREATE INDEX events_by_batch ON events (batch_id, id);
CREATE TRIGGER events_append_only_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
CREATE TRIGGER events_append_only_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;

-- Batches too big for one message, uploaded in chunks: each chunk is stored as one part, and the
-- seal moves every part to `tasks` in one transaction, so a batch is never half visible. An upload
-- survives a restart; an unsealed one expires after 24 hours.
CREATE TABLE uploads (
  id         TEXT PRIMARY KEY,
  created_at INTEGER NOT NULL,
  tasks      INTEGER NOT NULL DEFAULT 0      -- tasks staged so far
);
-- A part is one row, not one row per task: staging 10,000 tasks is one insert. Its body is binary
-- (src/fleet/upload_part.hpp), read by the seal through fleetd's table-valued function
-- upload_rows(body) in about half the time JSON took; only fleetd's connections know that function.
-- A task id repeated across parts is refused by the seal (tasks' UNIQUE), not by the part.
CREATE TABLE upload_parts (
  upload_id TEXT NOT NULL REFERENCES uploads(id),
  first     INTEGER NOT NULL,                -- position of the part's first task in the batch
  tasks     INTEGER NOT NULL CHECK (tasks > 0),
  body      BLOB NOT NULL,
  PRIMARY KEY (upload_id, first)
);

-- Configuration changed at runtime (update_config, scale_workers), one row per field. On restart
-- these values win over the config file; a field never changed at runtime follows the file.
CREATE TABLE config_overrides (
  name       TEXT PRIMARY KEY,
  value      NOT NULL,                       -- an integer or a real, by field
  updated_at INTEGER NOT NULL
) WITHOUT ROWID;

-- One row while the whole fleet is paused: no attempt starts.
CREATE TABLE fleet_pause (
  id        INTEGER PRIMARY KEY CHECK (id = 1),
  paused_at INTEGER NOT NULL
);

-- Fleet-wide sums of the batch counters, kept by triggers, so that stats() reads one row however
-- many batches there are. The triggers fire once per batch row written, not per task.
CREATE TABLE fleet_totals (
  id          INTEGER PRIMARY KEY CHECK (id = 1),
  batches     INTEGER NOT NULL,
  tasks       INTEGER NOT NULL,
  succeeded   INTEGER NOT NULL,
  failed      INTEGER NOT NULL,
  cancelled   INTEGER NOT NULL,
  retries     INTEGER NOT NULL,
  duration_ms INTEGER NOT NULL
);
INSERT INTO fleet_totals VALUES (1, 0, 0, 0, 0, 0, 0, 0);

CREATE TRIGGER fleet_totals_batch_inserted AFTER INSERT ON batches BEGIN
  UPDATE fleet_totals SET batches = batches + 1, tasks = tasks + NEW.total,
    succeeded = succeeded + NEW.succeeded, failed = failed + NEW.failed,
    cancelled = cancelled + NEW.cancelled, retries = retries + NEW.retries,
    duration_ms = duration_ms + NEW.duration_ms
  WHERE id = 1;
END;
CREATE TRIGGER fleet_totals_batch_counted
AFTER UPDATE OF succeeded, failed, cancelled, retries, duration_ms ON batches BEGIN
  UPDATE fleet_totals SET succeeded = succeeded + NEW.succeeded - OLD.succeeded,
    failed = failed + NEW.failed - OLD.failed, cancelled = cancelled + NEW.cancelled - OLD.cancelled,
    retries = retries + NEW.retries - OLD.retries, duration_ms = duration_ms + NEW.duration_ms - OLD.duration_ms
  WHERE id = 1;
END;
CREATE TRIGGER fleet_totals_batch_deleted AFTER DELETE ON batches BEGIN
  UPDATE fleet_totals SET batches = batches - 1, tasks = tasks - OLD.total,
    succeeded = succeeded - OLD.succeeded, failed = failed - OLD.failed,
    cancelled = cancelled - OLD.cancelled, retries = retries - OLD.retries,
    duration_ms = duration_ms - OLD.duration_ms
  WHERE id = 1;
END;

-- Views for the questions operators ask most (docs/AUDIT.md). Read-only conveniences: fleetd
-- itself never reads them.

-- One row per batch with the status batch_status reports (the rules of derive_state), and whether
-- it is paused. `succeeded` is what the API calls "completed".
CREATE VIEW batch_summary AS
SELECT
  id,
  CASE
    WHEN cancelled_at IS NOT NULL THEN 'cancelled'
    WHEN succeeded + failed + cancelled >= total THEN
      CASE WHEN succeeded = total THEN 'completed' WHEN failed = total THEN 'failed' ELSE 'partial' END
    WHEN started_at IS NOT NULL THEN 'processing'
    ELSE 'pending'
  END AS status,
  paused_at IS NOT NULL AS paused,
  total,
  succeeded,
  failed,
  cancelled,
  total - succeeded - failed - cancelled AS unfinished,
  retries,
  round(1.0 * min(succeeded + failed + cancelled, total) / total, 4) AS progress,
  created_at,
  started_at,
  finished_at,
  finished_at - created_at AS wall_ms,
  duration_ms AS work_ms
FROM batches;

-- Every attempt of every task, oldest first within a task.
CREATE VIEW task_history AS
SELECT
  t.batch_id,
  t.task_id,
  t.type,
  t.state AS task_state,
  a.attempt,
  coalesce(a.node, 'local') AS node,
  a.worker_id,
  a.started_at,
  a.finished_at,
  a.finished_at - a.started_at AS duration_ms,
  a.outcome,
  a.error
FROM tasks t JOIN attempts a ON a.task_seq = t.seq;

-- Per task type: tasks that ended failed, and attempts that failed or timed out (retried or not).
CREATE VIEW failures_by_type AS
SELECT
  t.type,
  count(DISTINCT CASE WHEN t.state = 'failed' THEN t.seq END) AS failed_tasks,
  count(*) AS failed_attempts,
  sum(a.outcome = 'timed_out') AS timed_out_attempts,
  max(a.finished_at) AS last_failure_at
FROM attempts a JOIN tasks t ON t.seq = a.task_seq
WHERE a.outcome IN ('failed', 'timed_out')
GROUP BY t.type;

-- Tasks finished per minute (UTC), by outcome.
CREATE VIEW throughput_per_minute AS
SELECT
  strftime('%Y-%m-%d %H:%M', finished_at / 1000, 'unixepoch') AS minute,
  count(*) AS finished,
  sum(state = 'succeeded') AS succeeded,
  sum(state = 'failed') AS failed,
  sum(state = 'cancelled') AS cancelled
FROM tasks
WHERE finished_at IS NOT NULL
GROUP BY finished_at / 60000
ORDER BY minute;
