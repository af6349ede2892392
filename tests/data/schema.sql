CREATE UNIQUE INDEX batches_by_client_key ON batches (client_key) WHERE client_key IS NOT NULL;
CREATE INDEX batches_finished ON batches (finished_at) WHERE finished_at IS NOT NULL;
CREATE INDEX batches_unfinished ON batches (created_at) WHERE finished_at IS NULL;
CREATE INDEX events_by_batch ON events (batch_id, id);
CREATE INDEX fleetd_runs_open ON fleetd_runs (id) WHERE stopped_at IS NULL AND found_dead_at IS NULL;
CREATE INDEX task_deps_by_task ON task_deps (task_seq, after_seq);
CREATE INDEX tasks_blocked_by_batch ON tasks (batch_id) WHERE state = 'blocked';
CREATE INDEX tasks_failed ON tasks (seq) WHERE state = 'failed';
CREATE INDEX tasks_failed_by_time ON tasks (finished_at, seq) WHERE state = 'failed';
CREATE INDEX tasks_retry_due ON tasks (not_before) WHERE state = 'retry_wait';
CREATE INDEX tasks_runnable ON tasks (queue, priority DESC, seq, task_group) WHERE state = 'pending' AND paused = 0;
CREATE INDEX tasks_running ON tasks (seq) WHERE state = 'running';
CREATE INDEX tasks_scheduled_by_batch ON tasks (batch_id, not_before) WHERE state = 'scheduled';
CREATE INDEX tasks_scheduled_due ON tasks (not_before) WHERE state = 'scheduled';
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
CREATE TABLE "batches" (
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
  scheduled    INTEGER NOT NULL DEFAULT 0,   -- its tasks in state `scheduled` (waiting for run_at)
  CHECK (succeeded + failed + cancelled <= total)
);
CREATE TABLE config_overrides (
  name       TEXT PRIMARY KEY,
  value      NOT NULL,                       -- an integer or a real, by field
  updated_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE events (
  id       INTEGER PRIMARY KEY,
  at       INTEGER NOT NULL,
  kind     TEXT NOT NULL,
  batch_id TEXT,
  task_id  TEXT,
  detail   TEXT
, requested_by TEXT);
CREATE TABLE fleet_pause (
  id        INTEGER PRIMARY KEY CHECK (id = 1),
  paused_at INTEGER NOT NULL
);
CREATE TABLE "fleet_totals" (
  id          INTEGER PRIMARY KEY CHECK (id = 1),
  batches     INTEGER NOT NULL,
  tasks       INTEGER NOT NULL,
  succeeded   INTEGER NOT NULL,
  failed      INTEGER NOT NULL,
  cancelled   INTEGER NOT NULL,
  retries     INTEGER NOT NULL,
  duration_ms INTEGER NOT NULL,
  scheduled   INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE fleetd_runs (
  id            INTEGER PRIMARY KEY,
  started_at    INTEGER NOT NULL,
  pid           INTEGER NOT NULL,
  version       TEXT NOT NULL,
  stopped_at    INTEGER,                   -- a clean stop; NULL while it runs or if it died
  found_dead_at INTEGER                    -- the next start found it had not stopped cleanly
);
CREATE TABLE queues (
  name              TEXT PRIMARY KEY CHECK (length(name) BETWEEN 1 AND 64),
  max_workers       INTEGER CHECK (max_workers BETWEEN 0 AND 100000),
  rate_count        INTEGER CHECK (rate_count BETWEEN 0 AND 1000000),
  rate_interval_ms  INTEGER CHECK (rate_interval_ms BETWEEN 0 AND 86400000),
  weight            INTEGER CHECK (weight BETWEEN 1 AND 1000),
  group_max_workers INTEGER CHECK (group_max_workers BETWEEN 0 AND 100000),
  paused            INTEGER CHECK (paused IN (0, 1)),
  created_at        INTEGER NOT NULL,
  updated_at        INTEGER NOT NULL,
  CHECK ((rate_count IS NULL) = (rate_interval_ms IS NULL))
) WITHOUT ROWID;
CREATE TABLE schedules (
  name          TEXT PRIMARY KEY,
  cron          TEXT,                     -- 5 fields, macros expanded; NULL for an interval
  time_zone     TEXT,                     -- IANA name the cron expression is read in; NULL: UTC
  every_ms      INTEGER CHECK (every_ms IS NULL OR every_ms >= 1000),
  tasks         TEXT NOT NULL,            -- the batch template: a JSON array of task objects
  missed        TEXT NOT NULL DEFAULT 'skip' CHECK (missed = 'skip' OR missed = 'once'),
  overlap       INTEGER NOT NULL DEFAULT 1 CHECK (overlap = 0 OR overlap = 1),
  paused_at     INTEGER,                  -- NULL unless paused
  source        TEXT NOT NULL CHECK (source = 'runtime' OR source = 'config'),
  created_at    INTEGER NOT NULL,
  updated_at    INTEGER NOT NULL,
  handled_until INTEGER NOT NULL,         -- every slot up to this time fired, was skipped or missed
  last_slot     INTEGER,                  -- the slot of the last firing
  last_batch_id TEXT,                     -- the batch of the last firing or run (may be pruned since)
  fired         INTEGER NOT NULL DEFAULT 0,
  skipped       INTEGER NOT NULL DEFAULT 0, -- overlap=false, or the submit was refused (a limit)
  missed_slots  INTEGER NOT NULL DEFAULT 0, -- passed while fleetd was down, not run
  CHECK ((cron IS NULL) <> (every_ms IS NULL))
);
CREATE TABLE task_deps (
  after_seq INTEGER NOT NULL REFERENCES tasks(seq),
  task_seq  INTEGER NOT NULL REFERENCES tasks(seq),
  PRIMARY KEY (after_seq, task_seq)
) WITHOUT ROWID;
CREATE TABLE task_policies (
  task_seq    INTEGER PRIMARY KEY REFERENCES tasks(seq),
  timeout_ms  INTEGER CHECK (timeout_ms IS NULL OR timeout_ms >= 1),      -- each attempt's deadline
  max_retries INTEGER CHECK (max_retries IS NULL OR max_retries >= 0),    -- retries after the first attempt
  backoff_ms  INTEGER CHECK (backoff_ms IS NULL OR backoff_ms >= 0),      -- the first retry's backoff
  retry       INTEGER CHECK (retry IS NULL OR retry = 0 OR retry = 1)     -- 0: never retried; 1: retried
                                                                          -- even with retry_failed_tasks off
);
CREATE TABLE "tasks" (
  seq               INTEGER PRIMARY KEY,     -- submission order: FIFO within a priority
  batch_id          TEXT NOT NULL REFERENCES batches(id),
  task_id           TEXT NOT NULL,
  type              TEXT NOT NULL,
  data              TEXT NOT NULL,           -- JSON, as submitted
  priority          INTEGER NOT NULL DEFAULT 0,
  state             TEXT NOT NULL DEFAULT 'pending'
                    CHECK (state = 'pending' OR state = 'running' OR state = 'retry_wait'
                           OR state = 'scheduled' OR state = 'blocked' OR state = 'succeeded'
                           OR state = 'failed' OR state = 'cancelled'),
  paused            INTEGER NOT NULL DEFAULT 0,  -- 1 while its batch is paused
  attempts          INTEGER NOT NULL DEFAULT 0,  -- attempts started, interrupted ones included
  interruptions     INTEGER NOT NULL DEFAULT 0,  -- attempts cut short by a crash, a shutdown or a lost node
  orphaned_attempts INTEGER NOT NULL DEFAULT 0,  -- of those, lost to a crash or a lost node (not a
                                                 -- drain); at fleet.max-interruptions the task fails
                                                 -- for good, so a task that kills fleetd cannot loop
  replay_base       INTEGER NOT NULL DEFAULT 0,  -- attempts that counted against max_retries before
                                                 -- the last replay (a replay starts a new series)
  not_before        INTEGER NOT NULL DEFAULT 0,  -- earliest start of the next attempt: the task's
                                                 -- run_at (scheduled) or its retry (retry_wait)
  result            TEXT,                    -- JSON of the successful attempt
  error             TEXT,                    -- error of the last failed attempt
  started_at        INTEGER,
  finished_at       INTEGER,
  duration_ms       INTEGER,                 -- of the attempt that finished the task
  dependencies      INTEGER NOT NULL DEFAULT 0 CHECK (dependencies >= 0), -- tasks it runs after (task_deps)
  waiting_on        INTEGER NOT NULL DEFAULT 0 CHECK (waiting_on >= 0),   -- of those, not succeeded yet: it is
                                                 -- `blocked` while above 0; a task that ended `failed`
                                                 -- with it above 0 was skipped (a dependency failed)
  dependents        INTEGER NOT NULL DEFAULT 0 CHECK (dependents >= 0),   -- tasks that run after it
  progress          REAL CHECK (progress IS NULL OR (progress >= 0 AND progress <= 1)), -- the latest
                                                 -- report of its attempt (0..1; NULL: none), stored
                                                 -- at most about once a second, not per report
  progress_note     TEXT, queue TEXT NOT NULL DEFAULT 'default', task_group TEXT,                    -- the note of that report
  UNIQUE (batch_id, task_id)
);
CREATE TABLE upload_parts (
  upload_id TEXT NOT NULL REFERENCES uploads(id),
  first     INTEGER NOT NULL,                -- position of the part's first task in the batch
  tasks     INTEGER NOT NULL CHECK (tasks > 0),
  body      BLOB NOT NULL,
  PRIMARY KEY (upload_id, first)
);
CREATE TABLE uploads (
  id         TEXT PRIMARY KEY,
  created_at INTEGER NOT NULL,
  tasks      INTEGER NOT NULL DEFAULT 0      -- tasks staged so far
);
CREATE TRIGGER events_append_only_delete BEFORE DELETE ON events WHEN NOT fleet_pruning()
BEGIN SELECT RAISE(ABORT, 'events are append-only: only fleetd''s pruner deletes old ones (fleet.retain-events)'); END;
CREATE TRIGGER events_append_only_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
CREATE TRIGGER fleet_totals_batch_counted
AFTER UPDATE OF succeeded, failed, cancelled, retries, duration_ms, scheduled ON batches BEGIN
  UPDATE fleet_totals SET succeeded = succeeded + NEW.succeeded - OLD.succeeded,
    failed = failed + NEW.failed - OLD.failed, cancelled = cancelled + NEW.cancelled - OLD.cancelled,
    retries = retries + NEW.retries - OLD.retries, duration_ms = duration_ms + NEW.duration_ms - OLD.duration_ms,
    scheduled = scheduled + NEW.scheduled - OLD.scheduled
  WHERE id = 1;
END;
CREATE TRIGGER fleet_totals_batch_deleted AFTER DELETE ON batches BEGIN
  UPDATE fleet_totals SET batches = batches - 1, tasks = tasks - OLD.total,
    succeeded = succeeded - OLD.succeeded, failed = failed - OLD.failed,
    cancelled = cancelled - OLD.cancelled, retries = retries - OLD.retries,
    duration_ms = duration_ms - OLD.duration_ms, scheduled = scheduled - OLD.scheduled
  WHERE id = 1;
END;
CREATE TRIGGER fleet_totals_batch_inserted AFTER INSERT ON batches BEGIN
  UPDATE fleet_totals SET batches = batches + 1, tasks = tasks + NEW.total,
    succeeded = succeeded + NEW.succeeded, failed = failed + NEW.failed,
    cancelled = cancelled + NEW.cancelled, retries = retries + NEW.retries,
    duration_ms = duration_ms + NEW.duration_ms, scheduled = scheduled + NEW.scheduled
  WHERE id = 1;
END;
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
  scheduled,
  retries,
  round(1.0 * min(succeeded + failed + cancelled, total) / total, 4) AS progress,
  created_at,
  started_at,
  finished_at,
  finished_at - created_at AS wall_ms,
  duration_ms AS work_ms
FROM batches;
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
ORDER BY minute
